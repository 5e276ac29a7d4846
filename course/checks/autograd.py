"""Checks for lesson 03, autograd.

Use in a notebook::

    from course.checks import autograd as check
    check.make_parameter(make_parameter)

Each check returns a :class:`~course.checks.verdict.Verdict` and never raises.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch

from course.checks.verdict import Verdict, call_learner, correct, wrong
from course.data import make_linear_data
from course.device import get_device

START = (0.5, -0.5)  # where the checks start: away from the minimum, the same for every learner
LEAF_VALUE = 0.5  # the value make_parameter is asked for

LEAF_IN_PLACE = "a leaf Variable that requires grad is being used in an in-place operation"


def _parameter_verdict(w: object, value: float, device: torch.device, dtype: torch.dtype) -> Verdict | None:
    """What is wrong with ``w`` as a parameter holding ``value`` on ``device`` in ``dtype`` (None: nothing)."""
    if not isinstance(w, torch.Tensor):
        return wrong(
            "not_a_tensor", f"expected a torch.Tensor, got {type(w).__name__}. Build it with torch.tensor(...)."
        )
    if not w.requires_grad:
        return wrong(
            "no_requires_grad",
            "the tensor does not require gradients, so backward() will never fill its .grad: pass "
            "requires_grad=True when you create it (or call .requires_grad_() after moving it).",
        )
    if not w.is_leaf:
        made_by = type(w.grad_fn).__name__ if w.grad_fn is not None else "an operation"
        return wrong(
            "non_leaf",
            f"with device={device} and dtype={dtype} your tensor is not a leaf: it is the result of an operation "
            f"({made_by}), typically .to(device) or .to(dtype) applied after requires_grad=True, and its .grad "
            "stays None. Create it directly with torch.tensor(value, dtype=dtype, device=device, requires_grad=True).",
        )
    if w.dtype != dtype:
        return wrong("wrong_dtype", f"asked for dtype={dtype}, got {w.dtype}: pass dtype=dtype.")
    if w.device.type != device.type:
        return wrong("wrong_device", f"asked for device={device}, got {w.device}: pass device=device.")
    if w.numel() != 1:
        return wrong("wrong_value", f"the parameter should hold one number; got shape {tuple(w.shape)}.")
    if device.type != "meta" and not math.isclose(float(w.detach().reshape(-1)[0]), value, abs_tol=1e-12):
        return wrong("wrong_value", f"the parameter should hold {value}; got {float(w.detach().reshape(-1)[0])}.")
    return None


def make_parameter(fn: Callable[..., Any] | object) -> Verdict:
    """Check a learner's ``make_parameter(value, device, dtype)``: a leaf that requires grad, where asked."""
    cases = [
        (LEAF_VALUE, torch.device("cpu"), torch.float64),
        (LEAF_VALUE, torch.device("meta"), torch.float32),  # the meta device: a second device on every machine
    ]
    for value, device, dtype in cases:
        w, verdict = call_learner(fn, value, device, dtype)
        if verdict is not None:
            return verdict
        verdict = _parameter_verdict(w, value, device, dtype)
        if verdict is not None:
            return verdict
    return correct(
        "a leaf that requires grad, created with the right dtype on the right device: backward() fills its .grad."
    )


def _make_params(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.tensor(START[0], device=device, requires_grad=True)
    b = torch.tensor(START[1], device=device, requires_grad=True)
    return a, b


def _set_grads(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Give a and b known gradients through a real backward pass; return them."""
    loss = (a - 2.0) ** 2 + 3.0 * (b + 1.0) ** 2
    loss.backward()
    return float(a.grad), float(b.grad)


def _raised_verdict(verdict: Verdict, a: torch.Tensor) -> Verdict:
    """Turn the errors the lesson shows into their named mistakes (``a`` is the parameter passed in)."""
    if verdict.mistake != "raised":
        return verdict
    if LEAF_IN_PLACE in verdict.message:
        return wrong(
            "outside_no_grad",
            "the in-place update ran while autograd was recording, and PyTorch refuses to change a leaf that "
            "requires grad. Put the update inside `with torch.no_grad():`.",
        )
    if "NoneType" in verdict.message and a.grad is None:
        return wrong(
            "no_backward",
            f"{verdict.message}: .grad was None because loss.backward() never ran. Call it before the update.",
        )
    if "NoneType" in verdict.message:
        return wrong(
            "outside_no_grad",
            f"{verdict.message}: `a = a - lr * a.grad` outside torch.no_grad() rebinds a to a non-leaf result, "
            "whose .grad is None. Update in place inside `with torch.no_grad():` (a -= lr * a.grad).",
        )
    return verdict


def _returned_params(result: object) -> tuple[torch.Tensor, torch.Tensor] | Verdict:
    if not isinstance(result, tuple | list) or len(result) != 2 or not all(isinstance(t, torch.Tensor) for t in result):
        return wrong("not_a_pair", f"return the two parameters: return a, b (got {type(result).__name__}).")
    return result[0], result[1]


def _param_verdict(new: torch.Tensor, old: torch.Tensor, name: str) -> Verdict | None:
    """Is the returned parameter still the same leaf that requires grad?"""
    if new.grad_fn is not None:
        return wrong(
            "outside_no_grad",
            f"{name} came back as the result of an operation ({type(new.grad_fn).__name__}), a non-leaf: the update "
            f"ran outside torch.no_grad() and rebound {name}. Do it in place inside `with torch.no_grad():`.",
        )
    if new is not old:
        return wrong(
            "not_in_place",
            f"{name} is a new tensor (requires_grad={new.requires_grad}), not the parameter you were given: "
            f"whoever holds {name} (a model, an optimizer) never sees the change. Update it in place: {name} -= ...",
        )
    return None


def _run_on_params(fn: object, a: torch.Tensor, b: torch.Tensor, *args: Any) -> Verdict | None:
    """Call ``fn(a, b, *args) -> (a, b)``; a verdict if it raised or did not update ``a`` and ``b`` in place."""
    with warnings.catch_warnings():  # reading .grad of a non-leaf warns; the verdict explains it instead
        warnings.simplefilter("ignore")
        result, verdict = call_learner(fn, a, b, *args)
        if verdict is not None:
            return _raised_verdict(verdict, a)
        params = _returned_params(result)
        if isinstance(params, Verdict):
            return params
        for new, old, name in zip(params, (a, b), "ab", strict=True):
            found = _param_verdict(new, old, name)
            if found is not None:
                return found
    return None


def update(fn: Callable[..., Any] | object) -> Verdict:
    """Check a learner's ``update(a, b, lr) -> (a, b)``: one in-place step against ``.grad``, then zero it."""
    device, lr = get_device(), 0.1
    a, b = _make_params(device)
    grad_a, grad_b = _set_grads(a, b)
    problem = _run_on_params(fn, a, b, lr)
    if problem is not None:
        return problem
    values = (float(a.detach()), float(b.detach()))
    expected = (START[0] - lr * grad_a, START[1] - lr * grad_b)
    if all(math.isclose(v, s + lr * g, abs_tol=1e-6) for v, s, g in zip(values, START, (grad_a, grad_b), strict=True)):
        return wrong("wrong_sign", "a and b moved with their gradients, uphill: subtract lr * grad, do not add it.")
    if not all(math.isclose(v, e, abs_tol=1e-6) for v, e in zip(values, expected, strict=True)):
        return wrong(
            "wrong_step",
            f"from {START} with gradients ({grad_a:.1f}, {grad_b:.1f}) and lr={lr} expected "
            f"({expected[0]:.2f}, {expected[1]:.2f}), got ({values[0]:.4f}, {values[1]:.4f}).",
        )
    for t, name in ((a, "a"), (b, "b")):
        if t.grad is not None and bool(torch.any(t.grad != 0)):
            return wrong(
                "no_zero_grad",
                f"{name}.grad still holds the old gradient, and the next backward() would add to it: "
                f"call {name}.grad.zero_() after the update.",
            )
    return correct(f"one step from {START} gives ({values[0]:.2f}, {values[1]:.2f}), gradients zeroed.")


def _tensors(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    split = make_linear_data()
    x = torch.as_tensor(split.x_train, dtype=torch.float32, device=device)
    y = torch.as_tensor(split.y_train, dtype=torch.float32, device=device)
    return x, y


def _reference_train(
    x: torch.Tensor, y: torch.Tensor, lr: float, epochs: int, sign: float = 1.0, zero: bool = True
) -> tuple[float, float]:
    """Batch descent with autograd (``sign=-1``: moves uphill; ``zero=False``: gradients accumulate)."""
    a, b = _make_params(x.device)
    for _ in range(epochs):
        loss = torch.mean((a + b * x - y) ** 2)
        loss.backward()
        with torch.no_grad():
            a -= sign * lr * a.grad
            b -= sign * lr * b.grad
        if zero:
            a.grad.zero_()
            b.grad.zero_()
    return float(a.detach()), float(b.detach())


def train(fn: Callable[..., Any] | object) -> Verdict:
    """Check a learner's ``train(a, b, x, y, lr, epochs) -> (a, b)``: batch descent with autograd."""
    device, lr, epochs = get_device(), 0.1, 20
    x, y = _tensors(device)
    a, b = _make_params(device)
    problem = _run_on_params(fn, a, b, x.clone(), y.clone(), lr, epochs)
    if problem is not None:
        return problem
    values = (float(a.detach()), float(b.detach()))
    if not all(math.isfinite(v) for v in values):
        return wrong("diverges", "a and b became inf or nan: check the sign of the update and the learning rate.")
    variants = [
        ("correct", _reference_train(x, y, lr, epochs)),
        ("no_zero_grad", _reference_train(x, y, lr, epochs, zero=False)),
        ("wrong_sign", _reference_train(x, y, lr, epochs, sign=-1.0)),
        ("wrong_sign", _reference_train(x, y, lr, epochs, sign=-1.0, zero=False)),
    ]
    messages = {
        "no_zero_grad": "the gradients accumulated: backward() adds to .grad, so each step used the sum of every "
        "gradient so far. Zero them after each update with a.grad.zero_() and b.grad.zero_().",
        "wrong_sign": "a and b moved with their gradients, uphill: subtract lr * grad inside torch.no_grad().",
    }
    for name, expected in variants:
        if all(math.isclose(v, e, rel_tol=1e-4, abs_tol=1e-5) for v, e in zip(values, expected, strict=True)):
            if name == "correct":
                return correct(f"{epochs} epochs from {START} end at a = {values[0]:.4f}, b = {values[1]:.4f}.")
            return wrong(name, messages[name])
    expected = variants[0][1]
    if values == START:
        return wrong(
            "no_update", "a and b never changed: call loss.backward(), then update them inside torch.no_grad()."
        )
    return wrong(
        "other",
        f"after {epochs} epochs expected a = {expected[0]:.4f}, b = {expected[1]:.4f}; got a = {values[0]:.4f}, "
        f"b = {values[1]:.4f}. Each epoch: prediction, MSE loss, loss.backward(), update in torch.no_grad(), zero grads.",
    )
