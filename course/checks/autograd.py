"""Checks for lesson 03 (autograd): a parameter that gets its gradient, an SGD step, a training loop's bugs."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.values import close
from course.data import make_linear_data

START = tuple(float(v) for v in np.random.RandomState(42).randn(2))  # lesson 02's start: a, b
NO_ZERO = "the gradients were never zeroed, so the next backward() adds to them: call p.grad.zero_() after the update."
CASES = ((0.5, "cpu", torch.float64), (-1.25, "meta", torch.float32))  # meta: a second device on every machine


def _facts(t: object) -> dict:
    """What matters about a parameter: a tensor, that requires grad, a leaf, its dtype, device and value."""
    if not isinstance(t, torch.Tensor):
        return {"tensor": False}
    value = "no data" if t.device.type == "meta" else t.detach().cpu().reshape(-1).tolist()
    facts = {"requires_grad": t.requires_grad, "leaf": t.is_leaf, "dtype": t.dtype, "device": t.device.type}
    return {"tensor": True, **{k: str(v) for k, v in facts.items()}, "value": value}


def _made(make: object, args: tuple) -> list[dict]:
    return [_facts(make(value, torch.device(device), dtype)) for value, device, dtype in CASES]


def _any(key: str, bad: object) -> object:
    return lambda got: any(facts.get(key, bad) == bad for facts in got)


def _mismatch(key: str, index: int) -> object:
    return lambda got: any(str(case[index]) != facts[key] for case, facts in zip(CASES, got, strict=True))


DTYPE, DEVICE = "pass dtype=dtype: the parameter needs the dtype asked for.", "pass device=device: it must live there."
REPLACED = (
    "the list holds new tensors, but the parameters themselves never changed: update each in place, p -= lr * p.grad."
)

make_parameter = Exercise(
    name="make_parameter",
    reference=lambda value, device, dtype: torch.tensor(value, dtype=dtype, device=device, requires_grad=True),
    observe=_made,
    guards=[
        Guard("not_a_tensor", _any("tensor", False), lambda v, d, t: v),
        Guard("no_requires_grad", _any("requires_grad", "False"), lambda v, d, t: torch.tensor(v, dtype=t, device=d)),
        Guard("non_leaf", _any("leaf", "False"), lambda v, d, t: torch.tensor(v, requires_grad=True).to(d, t)),
        Guard(
            "wrong_dtype", _mismatch("dtype", 2), lambda v, d, t: torch.tensor(v, device=d, requires_grad=True), DTYPE
        ),
        Guard(
            "wrong_device", _mismatch("device", 1), lambda v, d, t: torch.tensor(v, dtype=t, requires_grad=True), DEVICE
        ),
    ],
    alternatives=[lambda v, d, t: torch.full((1,), v, dtype=t, device=d).requires_grad_()],
    explain=lambda got, expected: (
        "the parameter should hold the one number asked for: "
        + "; ".join(f"asked for {case[0]}, it holds {facts['value']}" for case, facts in zip(CASES, got, strict=True))
    ),
    success="a leaf that requires grad, born with the right dtype on the right device: backward() fills its .grad.",
)


def _parameters() -> list[torch.Tensor]:
    """Three leaves of different shapes, each holding a gradient from a real backward()."""
    w0, w1 = torch.tensor(0.5, requires_grad=True), torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    w2 = torch.tensor([[0.1, 0.2], [0.3, 0.4]], requires_grad=True)
    ((w0 - 2) ** 2 + 3 * (w1**2).sum() + (w2 * torch.tensor([[1.0, 2.0], [3.0, 4.0]])).sum()).backward()
    return [w0, w1, w2]


def _after_step(step: object, args: tuple) -> list[tuple]:
    params, lr = args
    originals = list(params)  # the caller's tensors, whatever the function does to the list
    step(params, lr)
    grads = ["zero" if p.grad is None or not p.grad.any() else p.grad.clone() for p in originals]
    kept = [i < len(params) and params[i] is p for i, p in enumerate(originals)]  # still the caller's tensors
    return list(zip([p.detach().clone() for p in originals], grads, kept, strict=True))


def _sgd_step(params: list[torch.Tensor], lr: float, mistake: str = "") -> None:
    """One step on every parameter, then the gradients zeroed; ``mistake`` makes one known mistake on purpose."""
    with torch.enable_grad() if mistake == "outside_no_grad" else torch.no_grad():
        for i, p in enumerate(params):
            if mistake in ("no_update", "not_in_place", "replaced"):
                params[i] = p - lr * p.grad if mistake == "replaced" else p  # a new tensor, the old one unchanged
                if mistake == "not_in_place":
                    (p - lr * p.grad).grad.zero_()  # the new tensor has no .grad
            else:
                p -= (-1.0 if mistake == "wrong_sign" else 1.0) * lr * p.grad
    for p in () if mistake in ("no_zero_grad", "replaced") else params:
        p.grad.zero_()


def _step_then_none(params: list[torch.Tensor], lr: float) -> None:
    """Right too: set the gradients to None (what optimizer.zero_grad() does) instead of zeroing them."""
    _sgd_step(params, lr, mistake="no_zero_grad")
    for p in params:
        p.grad = None


def _step_explained(got: list, expected: list) -> str:
    notes = [
        f"parameter {i} {'moved right' if close(g[0], e[0]) else 'did not move by -lr * its gradient'}, its "
        f"gradient {'was' if isinstance(g[1], str) else 'was not'} cleared"
        for i, (g, e) in enumerate(zip(got, expected, strict=False))
    ]
    return "; ".join(notes) + ". Update every parameter in place inside torch.no_grad(), then zero every gradient."


SGD_MISTAKES = {  # what _sgd_step does wrong: (mistake id, message; None: the vocabulary's)
    "outside_no_grad": ("outside_no_grad", None),
    "no_update": ("no_update", None),
    "not_in_place": ("not_in_place", None),
    "replaced": ("not_in_place", REPLACED),
    "no_zero_grad": ("no_zero_grad", NO_ZERO),
    "wrong_sign": ("wrong_sign", None),
}

sgd_step = Exercise(
    name="sgd_step",
    inputs=lambda: (_parameters(), 0.1),
    reference=_sgd_step,
    observe=_after_step,
    mistakes=[Mistake(i, partial(_sgd_step, mistake=name), text) for name, (i, text) in SGD_MISTAKES.items()],
    alternatives=[_step_then_none],
    explain=_step_explained,
    pure=False,
    success="every parameter moved against its gradient in place, and its gradient was cleared for the next backward().",
)


def _train_inputs() -> tuple:
    split = make_linear_data()
    a, b = (torch.tensor(v, requires_grad=True) for v in START)
    x, y = (torch.tensor(v, dtype=torch.float32) for v in (split.x_train, split.y_train))
    return a, b, x, y, 0.1, 20


def _train(a, b, x, y, lr, epochs, mistake: str = ""):
    """Batch descent with autograd; ``mistake`` makes one known mistake on purpose."""
    loss = torch.mean((a + b * x - y) ** 2)
    for _ in range(epochs):
        if mistake not in ("loss_outside_loop", "retained_graph"):
            loss = torch.mean((a + b * x - y) ** 2)
        loss.backward(retain_graph=mistake == "retained_graph")
        with torch.enable_grad() if mistake == "outside_no_grad" else torch.no_grad():
            if mistake == "rebinds":
                a, b = a - lr * a.grad, b - lr * b.grad
            else:
                a -= (-1.0 if mistake == "wrong_sign" else 1.0) * lr * a.grad
                b -= (-1.0 if mistake == "wrong_sign" else 1.0) * lr * b.grad
        if mistake not in ("no_zero_grad", "loss_outside_loop", "rebinds"):
            a.grad.zero_()
            b.grad.zero_()
    return a, b


def _zeroes_first(a, b, x, y, lr, epochs):
    """Right too: clear the gradients at the start of each epoch (None first, then zeros)."""
    for _ in range(epochs):
        a.grad = b.grad = None
        torch.mean((a + b * x - y) ** 2).backward()
        with torch.no_grad():
            a -= lr * a.grad
            b -= lr * b.grad
    return a, b


def _trained(fit: object, args: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the caller's a and b end up: the loop must update them in place."""
    fit(*args)
    return args[0].detach().clone(), args[1].detach().clone()


RETAINED = (
    "retain_graph=True silences the error, but each step reuses the first loss's gradients: compute it every epoch."
)
TRAIN_MISTAKES = {  # what _train does wrong: (mistake id, message; None: the vocabulary's)
    "loss_outside_loop": ("loss_outside_loop", None),
    "retained_graph": ("loss_outside_loop", RETAINED),
    "no_zero_grad": ("no_zero_grad", NO_ZERO),
    "wrong_sign": ("wrong_sign", None),
    "outside_no_grad": ("outside_no_grad", None),
    "rebinds": ("not_in_place", None),
}

train = Exercise(
    name="train",
    inputs=_train_inputs,
    reference=_train,
    observe=_trained,
    mistakes=[Mistake(i, partial(_train, mistake=name), text) for name, (i, text) in TRAIN_MISTAKES.items()],
    alternatives=[_zeroes_first],
    explain=lambda got, expected: (
        f"after 20 epochs from ({START[0]:.4f}, {START[1]:.4f}) expected a = "
        f"{expected[0].item():.4f}, b = {expected[1].item():.4f}; got a = {got[0].item():.4f}, b = {got[1].item():.4f}."
    ),
    pure=False,
    success="a fresh loss every epoch, backward(), the update inside torch.no_grad(), then the gradients zeroed.",
)
