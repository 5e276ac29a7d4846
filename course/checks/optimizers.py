"""Checks for lesson 05 (optimizers): one training step, every group's learning rate, where ``scheduler.step()`` goes.

The probes watch what happens instead of reading code. The train step's SGD notes at every ``step()`` (after a
closure has run) the backward passes so far and the gradients it finds, so each wrong order of ``backward``,
``step`` and ``zero_grad`` leaves its own trace. The optimizer to rescale has three groups at three rates, one the
default. The loop's step notes the rate and batch of every call: 4 epochs of StepLR(step_size=2) tell places apart.
"""

from __future__ import annotations

from functools import partial

import torch

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.values import describe

STEPS, FACTOR, EPOCHS, BATCHES = 3, 0.3, 4, 3
_WRONG_ORDERS = dict(no_zero_grad="backward step", no_backward="step zero_grad", no_step="backward zero_grad",
                     zero_grad_before_step="backward zero_grad step", step_before_backward="step backward zero_grad",
                     step_uses_old_gradient="step zero_grad backward")  # fmt: skip


def _step_probe() -> tuple:
    generator = torch.Generator().manual_seed(5)
    a, b = (torch.randn(1, generator=generator).requires_grad_() for _ in range(2))
    optimizer, backward, steps = torch.optim.SGD([a, b], lr=0.05), [], []
    a.register_hook(backward.append)  # a's gradient at every backward pass; at every step, a and b's (None is 0)
    optimizer.register_step_post_hook(lambda *_: steps.append((len(backward), [float(p.grad or 0) for p in (a, b)])))
    x = torch.tensor([[0.0], [0.25], [0.5], [1.0], [2.0], [3.0], [3.5]])
    y = 1 + 2 * x + torch.tensor([[0.1], [-0.2], [0.0], [0.3], [-0.1], [0.2], [-0.3]])
    return a, b, optimizer, x, y, {"parameters": (a.detach(), b.detach()), "backward": backward, "steps": steps}


def _step(a, b, optimizer, x, y, fault: str = "", calls: str = "backward step zero_grad") -> float:
    """The train step doing ``calls`` after the forward pass, or the wrong one ``fault`` (a mistake id) names."""
    loss = ((a + b * x - y) ** 2).sum() if fault == "sum_not_mean" else ((a + b * x - y) ** 2).mean()
    for call in _WRONG_ORDERS.get(fault, calls).split():
        getattr(loss if call == "backward" else optimizer, call)()
    return (((a + b * x - y) ** 2).mean() if fault == "loss_after_step" else loss).item()


def _explain_steps(got: dict, expected: dict) -> str:
    if not got["steps"]:
        return "optimizer.step() never ran: let the optimizer you are given update a and b, after loss.backward()."
    shown = [", ".join(map("{:.4f}".format, map(float, run[key])))
             for key in ("parameters", "returned") for run in (got, expected)]  # fmt: skip
    return ("after {} calls a, b = {} (expected {}), the losses returned {} (expected {}). Use the optimizer you are "
            "given, the mean squared error, and return loss.item().").format(STEPS, *shown)  # fmt: skip


train_step = Exercise(
    name="train_step", inputs=_step_probe, reference=_step, explain=_explain_steps,
    observe=lambda answer, args: {"returned": [answer(*args[:5]) for _ in range(STEPS)], **args[5]},
    pure=False,  # a train step changes a and b in place: that is its job
    guards=[
        Guard("returned_none", lambda got: None in got["returned"], lambda *args: None),
        Guard("returns_tensor", lambda got: any(map(torch.is_tensor, got["returned"])), lambda *args: torch.ones(())),
        Guard("not_a_number", lambda got: not all(isinstance(v, float) for v in got["returned"]), lambda *args: "0.5",
              lambda got, _: f"return the loss as a Python float (loss.item()), got {describe(got['returned'][0])}."),
    ],
    mistakes=[Mistake(fault, partial(_step, fault=fault))
              for fault in (*_WRONG_ORDERS, "loss_after_step", "sum_not_mean")],
    alternatives=[partial(_step, calls="zero_grad backward step")],
    success="backward, step, zero_grad: every step() found the fresh gradients of its own loss.",
)  # fmt: skip


def _call_then_read(answer, probe: tuple) -> object:
    *args, read = probe  # the probe's last item reads what the answer did
    answer(*args)
    return read()


def _scale(optimizer, factor: float, new_lr=lambda lr, default, factor: lr * factor) -> None:
    for group in optimizer.param_groups:  # each group's lr becomes new_lr(its lr, the default lr, factor)
        group["lr"] = new_lr(group["lr"], optimizer.defaults["lr"], factor)


def _groups_probe() -> tuple:
    groups = [{"params": [torch.zeros(2, requires_grad=True)], **rate} for rate in ({"lr": 0.1}, {"lr": 0.01}, {})]
    optimizer = torch.optim.SGD(groups, lr=0.05, momentum=0.9)
    return optimizer, FACTOR, lambda: [group["lr"] for group in optimizer.param_groups]


scale_learning_rates = Exercise(
    name="scale_learning_rates", inputs=_groups_probe, reference=_scale, observe=_call_then_read,
    mistakes=[
        Mistake("groups_unchanged", lambda optimizer, factor: optimizer.defaults.update(lr=factor * 0.05)),
        Mistake("only_first_group", lambda optimizer, factor: optimizer.param_groups[0].update(lr=0.1 * factor)),
        Mistake("same_lr", partial(_scale, new_lr=lambda lr, default, factor: default * factor)),
        Mistake("lr_set_to_factor", partial(_scale, new_lr=lambda lr, default, factor: factor)),
    ],
    alternatives=[lambda optimizer, factor: [g.update(lr=g["lr"] * factor) for g in optimizer.param_groups]],
    explain=lambda got, expected: f"the groups' rates became {got}; expected {expected}, each own rate times {FACTOR}.",
    success=f"every group's own rate times {FACTOR}, changed in place: the next step() uses them.",
)  # fmt: skip


def _schedule_probe() -> tuple:
    a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    optimizer, rates = torch.optim.SGD([a, b], lr=0.1), []
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    optimizer.step()  # a step before any scheduler.step(), so the scheduler never warns: the rates name that mistake
    batches = [(torch.full((2,), i + 1.0), torch.full((2,), 2.0 * (i + 1))) for i in range(BATCHES)]

    def step(x, y):  # notes the rate and the batch of every call: calling optimizer.step() instead is not training
        rates.append((optimizer.param_groups[0]["lr"], float(x[0]), float(y[0])))
        return _step(a, b, optimizer, x, y)

    return step, optimizer, scheduler, batches, EPOCHS, rates.copy


def _train(step, optimizer, scheduler, batches, epochs, fault: str = "") -> None:
    for _ in range(1 if fault == "one_epoch_only" else epochs):
        if fault == "scheduler_before_optimizer":
            scheduler.step()
        for x, y in batches:
            step(x, y)
            if fault == "scheduler_per_batch":
                scheduler.step()
        if not fault or fault == "one_epoch_only":
            scheduler.step()


def _explain_schedule(got: list, expected: list) -> str:
    rates, right = [call[0] for call in got], [call[0] for call in expected]
    if rates == right:
        return "the rates are right, but step(x, y) did not get each (x, y) of batches, in order, every epoch."
    return f"step(x, y) ran {len(got)} times at {rates}; expected {EPOCHS} epochs of {BATCHES} batches at {right}."


scheduled_training = Exercise(
    name="scheduled_training", inputs=_schedule_probe, reference=_train, observe=_call_then_read,
    mistakes=[Mistake(fault, partial(_train, fault=fault)) for fault in
              ("scheduler_per_batch", "scheduler_before_optimizer", "no_scheduler_step", "one_epoch_only")],
    explain=_explain_schedule,
    success="one scheduler step per epoch: the learning rate halved every 2 epochs, as StepLR(step_size=2) says.",
)  # fmt: skip
