"""Checks for lesson 05 (optimizers): one training step, every group's learning rate, where ``scheduler.step()`` goes.

The probes watch what happens instead of reading code: an SGD that records, at each ``step()``, how
many backward passes have run and which gradients it finds; an optimizer with three groups at three
learning rates; and a ``step`` function that records the learning rate of every call.
"""

from __future__ import annotations

import warnings

import torch

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.values import describe

STEPS, FACTOR, EPOCHS, BATCHES = 3, 0.3, 4, 3


# --- exercise 1: one training step ------------------------------------------------------------------------
class _WatchedSGD(torch.optim.SGD):
    """SGD that records, at each ``step()``, the backward passes so far and the gradients it finds."""

    def __init__(self, params: list[torch.Tensor], lr: float) -> None:
        super().__init__(params, lr=lr)
        self.seen: list[tuple] = []
        self.backward_passes = 0
        params[0].register_hook(lambda grad: setattr(self, "backward_passes", self.backward_passes + 1))

    def step(self, closure=None):
        loss = None
        if closure is not None:  # as SGD does: the closure first, then the gradients it made
            with torch.enable_grad():
                loss = closure()
        found = [p.grad for group in self.param_groups for p in group["params"]]
        grads = tuple(None if g is None or not g.any() else g.detach().clone() for g in found)
        self.seen.append((self.backward_passes, grads))
        super().step()
        return loss


def _step_probe() -> tuple:
    generator = torch.Generator().manual_seed(5)
    a, b = (torch.randn(1, generator=generator).requires_grad_() for _ in range(2))
    x = torch.tensor([[0.0], [0.25], [0.5], [1.0], [2.0], [3.0], [3.5]])
    y = 1 + 2 * x + torch.tensor([[0.1], [-0.2], [0.0], [0.3], [-0.1], [0.2], [-0.3]])
    return a, b, _WatchedSGD([a, b], lr=0.05), x, y


def _run_steps(answer: object, args: tuple) -> dict:
    a, b, optimizer, x, y = args
    returned = [answer(a, b, optimizer, x, y) for _ in range(STEPS)]  # type: ignore[operator]
    parameters = torch.cat([a.detach(), b.detach()])
    return {
        "parameters": parameters,
        "returned": returned,
        "steps": optimizer.seen,
        "backward": optimizer.backward_passes,
    }


def _mse(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((a + b * x - y) ** 2).mean()


def _in_order(*calls: str, returns: str = "before", reduction: str = "mean") -> object:
    """A train step doing the named calls (backward, step, zero_grad) in this order after the forward pass."""

    def program(a, b, optimizer, x, y):
        loss = _mse(a, b, x, y) if reduction == "mean" else ((a + b * x - y) ** 2).sum()
        for call in calls:
            {"backward": loss.backward, "step": optimizer.step, "zero_grad": optimizer.zero_grad}[call]()
        return loss.item() if returns == "before" else _mse(a, b, x, y).item()

    return program


def _explain_steps(got: dict, expected: dict) -> str:
    if not got["steps"]:
        return "optimizer.step() never ran: let the optimizer you are given update a and b, after loss.backward()."
    (a, b), (a_ok, b_ok) = got["parameters"].tolist(), expected["parameters"].tolist()
    losses, right = (", ".join(f"{v:.4f}" for v in d["returned"]) for d in (got, expected))
    return (
        f"after {STEPS} calls a = {a:.4f}, b = {b:.4f} (expected {a_ok:.4f}, {b_ok:.4f}); returned losses {losses} "
        f"(expected {right}). Use the optimizer you are given, the mean squared error, and return loss.item()."
    )


train_step = Exercise(
    name="train_step",
    inputs=_step_probe,
    reference=_in_order("backward", "step", "zero_grad"),
    observe=_run_steps,
    pure=False,  # a train step changes a and b in place: that is its job
    guards=[
        Guard("returned_none", lambda got: None in got["returned"], example=lambda a, b, opt, x, y: None),
        Guard(
            "returns_tensor",
            lambda got: any(isinstance(value, torch.Tensor) for value in got["returned"]),
            example=lambda a, b, optimizer, x, y: _mse(a, b, x, y),
        ),
        Guard(
            "not_a_number",
            lambda got: not all(isinstance(v, float) for v in got["returned"]),
            lambda *_: "0.5",
            lambda got, _: (
                "return the loss as a Python float (loss.item()), got "
                + describe(next(v for v in got["returned"] if not isinstance(v, float)))
                + "."
            ),
        ),
    ],
    mistakes=[
        Mistake("no_zero_grad", _in_order("backward", "step")),
        Mistake("no_backward", _in_order("step", "zero_grad")),
        Mistake("no_step", _in_order("backward", "zero_grad")),
        Mistake("zero_grad_before_step", _in_order("backward", "zero_grad", "step")),
        Mistake("step_before_backward", _in_order("step", "backward", "zero_grad")),
        Mistake("step_uses_old_gradient", _in_order("step", "zero_grad", "backward")),
        Mistake("loss_after_step", _in_order("backward", "step", "zero_grad", returns="after")),
        Mistake("sum_not_mean", _in_order("backward", "step", "zero_grad", reduction="sum")),
    ],
    alternatives=[_in_order("zero_grad", "backward", "step")],
    explain=_explain_steps,
    success="backward, step, zero_grad: every step() found the fresh gradients of its own loss.",
)


# --- exercise 2: scale the learning rate of every group -------------------------------------------------------
def _groups_probe() -> tuple:
    tensors = [torch.zeros(2, requires_grad=True) for _ in range(3)]
    groups = [{"params": [tensors[0]], "lr": 0.1}, {"params": [tensors[1]], "lr": 0.01}, {"params": [tensors[2]]}]
    return torch.optim.SGD(groups, lr=0.05, momentum=0.9), FACTOR


def _scaled_rates(answer: object, args: tuple) -> list[float]:
    answer(*args)  # type: ignore[operator]
    return [group["lr"] for group in args[0].param_groups]


def _set_each(new_lr: object) -> object:
    """A program that sets every group's lr to ``new_lr(optimizer, group, factor)``."""

    def program(optimizer, factor):
        for group in optimizer.param_groups:
            group["lr"] = new_lr(optimizer, group, factor)

    return program


scale_learning_rates = Exercise(
    name="scale_learning_rates",
    inputs=_groups_probe,
    reference=_set_each(lambda optimizer, group, factor: group["lr"] * factor),
    observe=_scaled_rates,
    mistakes=[
        Mistake("groups_unchanged", lambda optimizer, factor: optimizer.defaults.update(lr=factor * 0.05)),
        Mistake("only_first_group", lambda optimizer, factor: optimizer.param_groups[0].update(lr=0.1 * factor)),
        Mistake("same_lr", _set_each(lambda optimizer, group, factor: optimizer.defaults["lr"] * factor)),
        Mistake("lr_set_to_factor", _set_each(lambda optimizer, group, factor: factor)),
    ],
    alternatives=[lambda optimizer, factor: [g.update(lr=g["lr"] * factor) for g in optimizer.param_groups]],
    explain=lambda got, expected: (
        f"the groups' learning rates became {got}; expected {expected} (each group's own rate times {FACTOR})."
    ),
    success=f"every group's own rate times {FACTOR}, changed in place: the next step() uses them.",
)


# --- exercise 3: where scheduler.step() goes ------------------------------------------------------------------
def _schedule_probe() -> tuple:
    a = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([a], lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    rates: list[float] = []

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        rates.append(optimizer.param_groups[0]["lr"])
        loss = ((a * x - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss.item()

    batches = [(torch.full((2,), i + 1.0), torch.full((2,), 2.0 * (i + 1))) for i in range(BATCHES)]
    return step, optimizer, scheduler, batches, EPOCHS, rates


def _rates_per_call(answer: object, args: tuple) -> list[float]:
    with warnings.catch_warnings():  # the scheduler's own warning is the learner's mistake, diagnosed below
        warnings.simplefilter("ignore")
        answer(*args[:5])  # type: ignore[operator]
    return args[5]


def _scheduled(where: str, all_epochs: bool = True) -> object:
    """A training loop that calls ``scheduler.step()`` at ``where``: "end", "batch", "start" or "never"."""

    def program(step, optimizer, scheduler, batches, epochs):
        for _ in range(epochs if all_epochs else 1):
            if where == "start":
                scheduler.step()
            for x, y in batches:
                step(x, y)
                if where == "batch":
                    scheduler.step()
            if where == "end":
                scheduler.step()

    return program


scheduled_training = Exercise(
    name="scheduled_training",
    inputs=_schedule_probe,
    reference=_scheduled("end"),
    observe=_rates_per_call,
    mistakes=[
        Mistake("scheduler_per_batch", _scheduled("batch")),
        Mistake("scheduler_before_optimizer", _scheduled("start")),
        Mistake("no_scheduler_step", _scheduled("never")),
        Mistake("one_epoch_only", _scheduled("end", all_epochs=False)),
    ],
    explain=lambda got, expected: (
        f"step(x, y) ran {len(got)} times at learning rates {got}; expected "
        f"{len(expected)} calls ({EPOCHS} epochs of {BATCHES} batches) at {expected}."
    ),
    success="one scheduler step per epoch: the learning rate halved every 2 epochs, as StepLR(step_size=2) says.",
)
