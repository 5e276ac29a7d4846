"""Checks for lesson 05, optimizers: one training step, parameter groups, where ``scheduler.step()`` goes.

The checks run the learner's code on small problems of their own (a private generator keeps the
notebook's random stream untouched). When the result is wrong they replay the typical mistakes
(no ``zero_grad``, ``step`` before ``backward``, ``zero_grad`` between ``backward`` and ``step``,
a scheduler stepped per batch, swapped learning rates) and say which one it was.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Callable

import torch

from course.checks.verdict import Verdict, as_number, call_learner, correct, is_placeholder, not_attempted, wrong

__all__ = ["param_groups", "scheduled_training", "train_step"]

STEP_LR = 0.1
STEP_CALLS = 3
GROUP_LR = {"a": 0.1, "b": 0.01}
SCHEDULE_EPOCHS = 4
SCHEDULE_BATCHES = 3


def _problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fresh parameters ``a, b`` and data ``x, y`` on the line y = 1 + 2x (same numbers every call)."""
    generator = torch.Generator()
    generator.manual_seed(5)
    a = torch.randn(1, generator=generator).requires_grad_()
    b = torch.randn(1, generator=generator).requires_grad_()
    x = torch.linspace(0, 1, 10).reshape(-1, 1)
    return a, b, x, 1 + 2 * x


def _mse(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((a + b * x - y) ** 2).mean()


def _replay(order: str) -> tuple[torch.Tensor, list[float]]:
    """Run ``STEP_CALLS`` steps doing forward then the actions of ``order`` (B backward, S step, Z zero_grad)."""
    a, b, x, y = _problem()
    optimizer = torch.optim.SGD([a, b], lr=STEP_LR)
    losses = []
    for _ in range(STEP_CALLS):
        loss = _mse(a, b, x, y)
        losses.append(loss.item())
        for action in order:
            {"B": loss.backward, "S": optimizer.step, "Z": optimizer.zero_grad}[action]()
    return torch.cat([a.detach(), b.detach()]), losses


def _call_positions(fn: object) -> dict[str, int] | None:
    """Where ``backward(``, ``.step(`` and ``zero_grad(`` first appear in the function's code, comments removed."""
    try:
        source = inspect.getsource(fn)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None
    code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
    found = {}
    for name, pattern in {
        "B": r"\.backward\(",
        "S": r"\.step\(",
        "Z": r"zero_grad\(|\.grad\.zero_\(|\.grad = None",
    }.items():
        match = re.search(pattern, code)
        if match is not None:
            found[name] = match.start()
    return found


def _why_no_update(fn: object) -> Verdict:
    positions = _call_positions(fn)
    if positions is not None:
        if "B" not in positions:
            return wrong(
                "no_backward", "the parameters never moved: call loss.backward() so the optimizer has gradients to use."
            )
        if "S" not in positions:
            return wrong("no_step", "the parameters never moved: call optimizer.step() after loss.backward().")
        if positions["S"] < positions["B"]:
            return wrong(
                "step_before_backward",
                "the parameters never moved: optimizer.step() ran before loss.backward(), when the gradients were still empty. "
                "The order is: forward, loss, backward, step, zero_grad.",
            )
        if "Z" in positions and positions["B"] < positions["Z"] < positions["S"]:
            return wrong(
                "zero_grad_before_step",
                "the parameters never moved: zero_grad() between backward() and step() erases the gradients the step needs. "
                "Call optimizer.zero_grad() after optimizer.step() (or before backward()).",
            )
    return wrong(
        "no_update",
        "the parameters never moved: the step must see fresh gradients. "
        "The order is: forward, loss, loss.backward(), optimizer.step(), optimizer.zero_grad().",
    )


def train_step(fn: Callable[..., float]) -> Verdict:
    """Check ``fn(a, b, optimizer, x, y) -> float``: one step of gradient descent on the MSE of ``a + b * x``.

    Example:
        >>> def step(a, b, optimizer, x, y):
        ...     loss = ((a + b * x - y) ** 2).mean()
        ...     loss.backward()
        ...     optimizer.step()
        ...     optimizer.zero_grad()
        ...     return loss.item()
        >>> train_step(step).passed
        True
    """
    if is_placeholder(fn):
        return not_attempted()
    a, b, x, y = _problem()
    optimizer = torch.optim.SGD([a, b], lr=STEP_LR)
    start = torch.cat([a.detach(), b.detach()])
    returned = []
    for _ in range(STEP_CALLS):
        result, problem = call_learner(fn, a, b, optimizer, x, y)
        if problem is not None:
            return problem
        returned.append(result)
    found = torch.cat([a.detach(), b.detach()])
    expected, losses = _replay("BSZ")
    if torch.allclose(found, expected, atol=1e-6):
        values = [as_number(r) for r in returned]
        if any(v is None for v in values):
            return wrong(
                "no_loss_returned",
                f"the parameters are right, but the function returned {type(returned[0]).__name__}: return the loss (loss.item()).",
            )
        if not all(abs(v - w) < 1e-5 for v, w in zip(values, losses, strict=True)):  # type: ignore[operator]
            return wrong(
                "wrong_loss", "the parameters are right, but return the loss computed before the step (loss.item())."
            )
        return correct("forward, backward, step, zero_grad: three steps moved a and b exactly as SGD should.")
    if torch.allclose(found, start):
        return _why_no_update(fn)
    if torch.allclose(found, _replay("BS")[0], atol=1e-6) or torch.allclose(found, _replay("SB")[0], atol=1e-6):
        return wrong(
            "no_zero_grad",
            "the gradients were never zeroed, so each backward() added to the previous ones and the steps grew "
            "with every call. Call optimizer.zero_grad() after optimizer.step().",
        )
    if torch.allclose(found, _replay("SZB")[0], atol=1e-6):
        return wrong(
            "step_before_backward",
            "each step used the gradient of the previous call: optimizer.step() ran before loss.backward(). "
            "The order is: forward, loss, backward, step, zero_grad.",
        )
    return wrong(
        "other",
        f"after {STEP_CALLS} steps expected a = {expected[0].item():.4f}, b = {expected[1].item():.4f}; "
        f"got a = {found[0].item():.4f}, b = {found[1].item():.4f}. Use the optimizer you are given and the MSE loss.",
    )


def _lr_of(optimizer: torch.optim.Optimizer, tensor: torch.Tensor) -> float | None:
    for group in optimizer.param_groups:
        if any(p is tensor for p in group["params"]):
            return float(group["lr"])
    return None


def param_groups(optimizer: torch.optim.Optimizer, a: torch.Tensor, b: torch.Tensor) -> Verdict:
    """Check an optimizer with two parameter groups: ``a`` at learning rate 0.1, ``b`` at 0.01.

    Example:
        >>> a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
        >>> param_groups(torch.optim.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.01}]), a, b).passed
        True
        >>> param_groups(torch.optim.SGD([a, b], lr=0.1), a, b).mistake
        'same_lr'
    """
    if is_placeholder(optimizer):
        return not_attempted()
    if not isinstance(optimizer, torch.optim.Optimizer):
        return wrong(
            "not_an_optimizer",
            f"expected a torch.optim optimizer, got {type(optimizer).__name__}. Build one, e.g. torch.optim.SGD([...]).",
        )
    lr_a, lr_b = _lr_of(optimizer, a), _lr_of(optimizer, b)
    if lr_a is None or lr_b is None:
        missing = " and ".join(n for n, lr in (("a", lr_a), ("b", lr_b)) if lr is None)
        return wrong(
            "missing_parameter",
            f"{missing} is in no parameter group, so the optimizer would never update it. "
            "Give each parameter a group: [{'params': [a], 'lr': ...}, {'params': [b], 'lr': ...}].",
        )
    want_a, want_b = GROUP_LR["a"], GROUP_LR["b"]
    close = lambda u, v: abs(u - v) <= 1e-12 * max(1.0, abs(v))  # noqa: E731
    if close(lr_a, want_a) and close(lr_b, want_b):
        return correct(f"a learns at lr {want_a}, b at lr {want_b}.")
    if close(lr_a, want_b) and close(lr_b, want_a):
        return wrong("swapped_lrs", f"the learning rates are swapped: a should use {want_a} and b {want_b}.")
    if close(lr_a, lr_b):
        return wrong(
            "same_lr",
            f"both parameters use lr {lr_a}: one group (or the default lr) for both. "
            f"Put a and b in separate groups, each with its own 'lr' ({want_a} for a, {want_b} for b).",
        )
    return wrong("wrong_lr", f"found lr {lr_a} for a and {lr_b} for b; expected {want_a} for a and {want_b} for b.")


def _schedule_problem() -> tuple[Callable[[torch.Tensor, torch.Tensor], float], torch.optim.Optimizer, list, list[int]]:
    a, b, x, y = _problem()
    optimizer = torch.optim.SGD([a, b], lr=STEP_LR)
    calls = [0]

    def step(xb: torch.Tensor, yb: torch.Tensor) -> float:
        calls[0] += 1
        loss = _mse(a, b, xb, yb)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss.item()

    batches = [(x[i::SCHEDULE_BATCHES], y[i::SCHEDULE_BATCHES]) for i in range(SCHEDULE_BATCHES)]
    return step, optimizer, batches, calls


def scheduled_training(fn: Callable[..., object]) -> Verdict:
    """Check ``fn(step, optimizer, scheduler, batches, epochs)``: ``step`` per batch, ``scheduler.step()`` once per epoch.

    Example:
        >>> def train(step, optimizer, scheduler, batches, epochs):
        ...     for epoch in range(epochs):
        ...         for x, y in batches:
        ...             step(x, y)
        ...         scheduler.step()
        >>> scheduled_training(train).passed
        True
    """
    if is_placeholder(fn):
        return not_attempted()
    step, optimizer, batches, calls = _schedule_problem()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, problem = call_learner(fn, step, optimizer, scheduler, batches, SCHEDULE_EPOCHS)
    if problem is not None:
        return problem
    n_batches = SCHEDULE_EPOCHS * SCHEDULE_BATCHES
    if calls[0] != n_batches:
        return wrong(
            "wrong_number_of_steps",
            f"step(x, y) ran {calls[0]} times; with {SCHEDULE_EPOCHS} epochs of {SCHEDULE_BATCHES} batches it should run "
            f"{n_batches} times: loop over the epochs, and inside over the batches.",
        )
    if any("before `optimizer.step()`" in str(w.message) for w in caught):
        return wrong(
            "scheduler_before_optimizer",
            "scheduler.step() ran before the first optimizer.step(), so the first epoch's learning rate was skipped. "
            "Call scheduler.step() at the END of each epoch, after the loop over the batches.",
        )
    stepped = scheduler.last_epoch
    if stepped == SCHEDULE_EPOCHS:
        return correct(
            f"one scheduler step per epoch: after {SCHEDULE_EPOCHS} epochs the lr is {optimizer.param_groups[0]['lr']:g}."
        )
    if stepped == n_batches:
        return wrong(
            "scheduler_per_batch",
            f"scheduler.step() ran once per batch ({stepped} times), so the learning rate decayed {SCHEDULE_BATCHES}x too fast. "
            "Move it out of the batch loop: once per epoch, after the batches.",
        )
    if stepped == 0:
        return wrong(
            "no_scheduler_step",
            "scheduler.step() never ran, so the learning rate never changed. Call it once per epoch.",
        )
    return wrong(
        "wrong_scheduler_count",
        f"scheduler.step() ran {stepped} times in {SCHEDULE_EPOCHS} epochs; it should run once per epoch.",
    )
