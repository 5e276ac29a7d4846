"""Checks for lesson 03 (autograd): a parameter that gets its gradient, an SGD step, a training loop's bugs.

A parameter is made three times, once on the ``meta`` device (present on every machine), so a missing device or
dtype shows; the step and the loop are judged by the caller's own tensors afterwards, so a rebound name shows, and
run twice with other numbers, so a hard-coded rate, count or data set shows. Each wrong program is the right one
with one ``variant``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import any_item
from course.checks.values import as_number, close, describe
from course.data import make_linear_data

START = tuple(float(v) for v in np.random.RandomState(42).randn(2))  # lesson 02's start: a, b
CASES = ((-1.25, "cpu", torch.float64), (0.75, "cpu", torch.float32), (2.0, "meta", torch.float32))  # not 0.5
NO_ZERO = "the gradients were never zeroed, so the next backward() adds to them: call p.grad.zero_() after the update."
REPLACED = "the list holds new tensors, but the parameters never changed: update each in place, p -= lr * p.grad."
NO_GRAPH = (
    "the loss had no graph: a = a - lr * a.grad in torch.no_grad() made a new a that needs no grad (update in place, "
    "a -= lr * a.grad), or the loss itself was computed in torch.no_grad() (or torch.inference_mode())."
)
RETAINED = "retain_graph=True hides the error, but each step reuses the first loss's gradients: compute it every epoch."
NOT_A_TENSOR = "return the tensor itself, one torch tensor (not a list, a tuple or a number)."
FROZEN = (
    "a parameter no longer requires grad (requires_grad_(False), requires_grad = False or detach_()), so the next "
    "backward() fails or leaves it out: leave requires_grad alone and update inside torch.no_grad() instead."
)
RATES = (0.05, 0.3)  # the step is taken twice, each time with fresh parameters
DTYPE, DEVICE = "pass dtype=dtype: the parameter needs the dtype asked for.", "pass device=device: it must live there."
NO_RETURN = "your function returned None: end it with `return a, b`, the parameters it updated, as the exercise asks."
NOT_A_PAIR = "return the pair a, b (the parameters your loop updated), got {}."
COPIES = "you returned the right a, b, but the caller's tensors never changed: you trained copies (a.detach().clone(), \
torch.tensor(...)). Update the a and b you were given in place, a -= lr * a.grad, as the exercise asks."
REBOUND = (
    "you returned the right a, b, but the caller's tensors never changed: a = a - lr * a.grad makes a new tensor, and "
    "your loop made that one trainable (requires_grad_(), retain_grad() or a new tensor) and trained it instead. "
    "Update the a and b you were given in place, a -= lr * a.grad inside torch.no_grad(), as the exercise asks."
)
INFERENCE = (
    "the parameter was created inside torch.inference_mode(), so it is an inference tensor: outside inference mode "
    "PyTorch refuses to update it in place (a -= lr * a.grad and optimizer.step() raise), and autograd records nothing "
    "for an operation on inference tensors alone (a * a has no grad_fn, so its backward() fails). Create it outside "
    "torch.inference_mode(); only the evaluation after training belongs in it."
)
GRAD_NONE = "'NoneType' object has no attribute ...: a .grad was used before any backward() filled it"


def _used_on_a_gradient(name: str | None) -> bool:
    """Whether ``name`` is what code looks up on a .grad: ``data`` or an in-place method (``zero_``, ``fill_``)."""
    return name is not None and (name == "data" or name.endswith("_") and not name.startswith("_"))


def before_backward(run: Callable[[], Any], *params: torch.Tensor) -> Any:
    """``run()``, where a gradient's attribute looked up on None while every one of ``params`` still has no .grad
    (zeroed before the first backward(), ``a.grad.zero_()`` or ``a.grad.data.zero_()``) raises one same
    AttributeError, which a mistake can name; any other error (``losses.append`` on None too) goes on as it was."""
    try:
        return run()
    except AttributeError as exc:
        if not _used_on_a_gradient(exc.name) or exc.obj is not None or any(p.grad is not None for p in params):
            raise
        raise AttributeError(GRAD_NONE) from None


def _facts(t: object, device: str, dtype: torch.dtype) -> dict | str:
    """What matters about the parameter made for one case (its type's name if not a tensor); meta has no value."""
    if not isinstance(t, torch.Tensor):
        return type(t).__name__
    facts = dict(requires_grad=t.requires_grad, leaf=t.is_leaf, dtype=t.dtype == dtype, device=t.device.type == device)
    facts["trainable"] = not t.is_inference()  # an inference tensor: no in-place update outside inference mode
    return {**facts, "value": "no data" if t.device.type == "meta" else t.detach().cpu().reshape(-1).tolist()}


def _lacks(fact: str) -> object:
    return lambda got: not all(facts[fact] for facts in got)


make_parameter = Exercise(
    name="make_parameter",
    reference=lambda value, device, dtype: torch.tensor(value, dtype=dtype, device=device, requires_grad=True),
    observe=lambda make, args: [_facts(make(v, torch.device(d), t), d, t) for v, d, t in CASES],
    guards=[
        Guard("not_a_tensor", any_item(lambda facts: isinstance(facts, str)), lambda v, d, t: v, NOT_A_TENSOR),
        Guard("not_backpropagatable", _lacks("trainable"), lambda v, d, t: torch.inference_mode()(torch.tensor)(
            v, dtype=t, device=d, requires_grad=True), INFERENCE),
        Guard("no_requires_grad", _lacks("requires_grad"), lambda v, d, t: torch.tensor(v, dtype=t, device=d)),
        Guard("non_leaf", _lacks("leaf"), lambda v, d, t: torch.tensor(v, requires_grad=True).to(d, t)),
        Guard("wrong_dtype", _lacks("dtype"), lambda v, d, t: torch.tensor(v, device=d, requires_grad=True), DTYPE),
        Guard("wrong_device", _lacks("device"), lambda v, d, t: torch.tensor(v, dtype=t, requires_grad=True), DEVICE),
    ],
    alternatives=[lambda v, d, t: torch.full((1,), v, dtype=t, device=d).requires_grad_()],
    explain=lambda got, _: "the parameter should hold the one number asked for: " + "; ".join(
        f"asked for {case[0]}, it holds {facts['value']}" for case, facts in zip(CASES, got, strict=True)),
    success="a leaf that requires grad, with the right dtype on the right device: backward() fills its .grad.",
)  # fmt: skip


def _parameters() -> list[torch.Tensor]:
    """Three leaves of different shapes, each holding a gradient from a real backward()."""
    w0, w1, w2 = (torch.tensor(v, requires_grad=True) for v in (0.5, [1.0, -2.0, 0.5], [[0.1, 0.2], [0.3, 0.4]]))
    ((w0 - 2) ** 2 + 3 * (w1**2).sum() + (w2 * torch.tensor([[1.0, 2.0], [3.0, 4.0]])).sum()).backward()
    return [w0, w1, w2]


def _after_step(step: object, params: list, lr: float) -> list[tuple]:
    """Each of the caller's parameters after the step: its value, its gradient ("zero" if cleared), still listed,
    still a leaf that requires grad (the next backward() reaches it)."""
    originals = list(params)
    step(params, lr)
    grads = ["zero" if p.grad is None or not p.grad.any() else p.grad.clone() for p in originals]
    kept = [i < len(params) and params[i] is p for i, p in enumerate(originals)]
    trained = [p.is_leaf and p.requires_grad for p in originals]
    return list(zip([p.detach().clone() for p in originals], grads, kept, trained, strict=True))


def _sgd_step(params: list[torch.Tensor], lr: float, variant: str = "") -> list[torch.Tensor]:
    """The right step, a known mistake ("rebound": replaced outside no_grad; "regraded": replaced, then made to
    require grad again; "frozen"), or "to_none": right too."""
    with torch.enable_grad() if variant in ("outside_no_grad", "rebound") else torch.no_grad():
        for i, p in enumerate(params):
            if variant == "frozen":  # then updated in place, as in no_grad
                p.requires_grad_(False)
            if variant in ("replaced", "rebound", "regraded"):  # a new tensor in the list, the caller's unchanged
                params[i] = p - lr * (p.grad if p.is_leaf else None)  # a non-leaf has no .grad (and warns if asked)
                if variant == "regraded":  # the new tensor made a leaf that requires grad: trained on
                    params[i].requires_grad_()
            elif variant == "not_in_place":
                (p - lr * p.grad).grad.zero_()  # the new tensor has no .grad
            elif variant != "no_update":
                p -= (-1.0 if variant == "wrong_sign" else 1.0) * lr * p.grad
    for p in () if variant in ("no_zero_grad", "replaced", "rebound", "regraded") else params:
        p.grad = None if variant == "to_none" else p.grad.zero_()
    return params  # what _train rebinds a and b to


def _step_explained(got: list, expected: list) -> str:
    if close(got[0], expected[0]):
        return (
            f"right with lr = {RATES[0]} but not with lr = {RATES[1]}: step by the lr passed in, never a fixed number."
        )
    moves = [
        f"parameter {i} {'moved right' if close(g[0], e[0]) else 'did not move by -lr * its gradient'}, "
        f"its gradient {'was' if isinstance(g[1], str) else 'was not'} cleared"
        for i, (g, e) in enumerate(zip(got[0], expected[0], strict=False))
    ]
    if not all(kept for _, _, kept, _ in got[0]):
        moves.insert(0, "the list itself changed (leave the caller's list as it is)")
    return "; ".join(moves) + ". Update every parameter in place inside torch.no_grad(), then zero every gradient."


sgd_step = Exercise(
    name="sgd_step", reference=_sgd_step, pure=False,
    inputs=lambda: (_parameters(), RATES[0], _parameters(), RATES[1]),
    observe=lambda step, args: [_after_step(step, *args[:2]), _after_step(step, *args[2:])],
    guards=[Guard("froze_parameters", any_item(lambda run: not all(trained for *_, trained in run)),
                  partial(_sgd_step, variant="frozen"), FROZEN)],
    mistakes=[
        *(Mistake(m, partial(_sgd_step, variant=m)) for m in ("outside_no_grad", "no_update", "not_in_place")),
        Mistake("not_in_place", partial(_sgd_step, variant="replaced"), REPLACED),
        Mistake("no_zero_grad", partial(_sgd_step, variant="no_zero_grad"), NO_ZERO),
        Mistake("wrong_sign", partial(_sgd_step, variant="wrong_sign")),
    ],
    alternatives=[partial(_sgd_step, variant="to_none")],
    explain=_step_explained,
    success="each parameter moved against its gradient in place, and its gradient was cleared for the next backward().",
)  # fmt: skip


def _train(a, b, x, y, lr, epochs, variant: str = ""):
    """The right loop (a fresh loss each epoch, backward(), an SGD step), a known mistake, or "zero_first": right
    too, the gradients set to None at the start of each epoch instead of zeroed after the step."""
    if variant == "copies":  # the right loop on copies: the caller's a and b never change
        a, b = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    loss = torch.mean((a + b * x - y) ** 2)
    for _ in range(epochs):
        if variant == "zero_first":
            a.grad = b.grad = None
        if variant == "zeroed_before_backward":  # a.grad is still None in the first epoch
            a.grad.zero_(), b.grad.zero_()
        if variant not in ("loss_outside_loop", "retained_graph"):
            loss = torch.mean((a + b * x - y) ** 2)
        loss.backward(retain_graph=variant == "retained_graph")
        a, b = _sgd_step([a, b], lr, "no_zero_grad" if variant == "zero_first" else variant)  # "replaced" rebinds
    return None if variant == "no_return" else (a, b)


def _train_inputs() -> tuple:
    """Twice a, b, x, y, lr, epochs: the lesson's start and 80 points for 20 epochs, then other ones."""
    a, b, a2, b2 = (torch.tensor(v, requires_grad=True) for v in (*START, 1.5, 0.5))
    x, y, x2, y2 = (torch.tensor(v, dtype=torch.float32) for v in make_linear_data())  # training, then validation
    return a, b, x, y, 0.1, 20, a2, b2, x2, y2, 0.05, 7


def _returned(value: object) -> object:
    """What a run returned: None, a pair of numbers (tensors or floats, or one tensor or array of two), or what it
    is instead, described."""
    if isinstance(value, torch.Tensor | np.ndarray) and math.prod(value.shape) == 2:  # torch.stack([a, b]), any shape
        value = tuple(value.reshape(-1))
    pair = [as_number(v) for v in value] if isinstance(value, tuple | list) and len(value) == 2 else [None]
    return None if value is None else tuple(pair) if None not in pair else describe(value)


def _rebound(ab: tuple, before: list, returned: object) -> bool:
    """Whether the caller's ``ab`` took part in a backward() but kept their values (``before``) while the run returned
    other numbers: it trained new tensors, a = a - lr * a.grad made trainable again (copies never get a .grad)."""
    kept = all(torch.equal(p.detach(), v) for p, v in zip(ab, before, strict=True))
    other = isinstance(returned, tuple) and not close(returned, tuple(v.item() for v in before))
    return kept and other and any(p.grad is not None for p in ab)


def _trained(fit: object, args: tuple) -> list[dict]:
    """The caller's a and b after each run (the loop must update them in place), what the run returned, and whether
    it trained other tensors than the caller's after theirs took part in a backward() (:func:`_rebound`)."""
    runs = []
    for probe in (args[:6], args[6:]):
        before = [p.detach().clone() for p in probe[:2]]
        runs.append((probe[:2], before, _returned(before_backward(partial(fit, *probe), *probe[:2]))))
    return [{"a, b": tuple(p.detach().clone() for p in ab), "returned": out, "rebound": _rebound(ab, before, out)}
            for ab, before, out in runs]  # fmt: skip


def _loop_explained(got: list, expected: list) -> str:
    runs = (
        f"after 20 epochs from ({START[0]:.4f}, {START[1]:.4f})",
        "right for the lesson's data but not for others (use the arguments, never fixed numbers): after 7 epochs of "
        "lr 0.05 from (1.5, 0.5) on 20 points,",
    )
    where, run, right = next(case for case in zip(runs, got, expected, strict=True) if not close(*case[1:]))
    (a, b), (a_right, b_right) = run["a, b"], right["a, b"]
    if close(run["a, b"], right["a, b"]):
        return f"{where} a and b end right, but train returned {describe(run['returned'])}: return a, b."
    if close(run["returned"], right["returned"]):  # other tensors trained, by whatever means
        return REBOUND if run["rebound"] else COPIES
    return f"{where} expected a = {a_right:.4f}, b = {b_right:.4f}; got a = {a:.4f}, b = {b:.4f}."


train = Exercise(
    name="train", inputs=_train_inputs, reference=_train, observe=_trained, pure=False,
    guards=[
        Guard("returned_none", any_item(lambda run: run["returned"] is None), partial(_train, variant="no_return"),
              NO_RETURN),
        Guard("not_a_pair", any_item(lambda run: isinstance(run["returned"], str)), lambda *args: 0.5,
              lambda got, _: NOT_A_PAIR.format(next(r["returned"] for r in got if isinstance(r["returned"], str)))),
    ],
    mistakes=[
        *(Mistake(m, partial(_train, variant=m)) for m in ("loss_outside_loop", "wrong_sign", "outside_no_grad")),
        Mistake("zeroed_before_backward", partial(_train, variant="zeroed_before_backward")),
        Mistake("loss_outside_loop", partial(_train, variant="retained_graph"), RETAINED),
        Mistake("no_zero_grad", partial(_train, variant="no_zero_grad"), NO_ZERO),
        Mistake("no_update", partial(_train, variant="no_update")),  # zeroed before the update, or never updated
        *(Mistake("not_in_place", partial(_train, variant=m)) for m in ("not_in_place", "rebound")),  # a = a - ...
        Mistake("not_in_place", partial(_train, variant="replaced"), NO_GRAPH),
        Mistake("not_in_place", partial(_train, variant="regraded"), REBOUND),
        Mistake("not_in_place", partial(_train, variant="copies"), COPIES),
    ],
    alternatives=[partial(_train, variant="zero_first"), lambda *args: torch.stack(_train(*args))],
    explain=_loop_explained,
    success="the a and b you were given end where full-batch gradient descent takes them, and are returned: on the "
    "lesson's data and on other data, epochs and learning rate.",
)  # fmt: skip
