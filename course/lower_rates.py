"""Lower every learning rate of an optimizer and its scheduler by one factor, whatever the scheduler's kind.

After a divergence, resume from the last good checkpoint at a lower rate: setting ``group['lr']`` is not enough with a
scheduler, which computes the rate again at each step from rates of its own, kept in places that differ by kind:
``base_lrs`` (StepLR, LambdaLR, CosineAnnealingLR...), ``max_lrs`` (CyclicLR), the groups' ``initial_lr``,
``max_lr`` and ``min_lr`` (OneCycleLR), ``eta_min`` and ``min_lrs`` (the lowest rates), and the schedulers inside
SequentialLR and ChainedScheduler. :func:`lower_rates` divides them all, so the schedule goes on, a tenth as high.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from course.scalars import number_held

_GROUP_RATES = ("lr", "initial_lr", "max_lr", "min_lr")  # OneCycleLR keeps its rates in the groups
_SCHEDULER_RATES = ("base_lrs", "max_lrs", "min_lrs", "eta_min", "_last_lr")
ADVICE = ("; a scheduler computes the rate again at each step from rates of its own, and would set the old one back: "
          "lower them all after loading, from course.lower_rates import lower_rates; "
          "lower_rates(optimizer, scheduler, by=10)")  # fmt: skip  # load_checkpoint's advice after a divergence


def _divided(value: Any, by: float, seen: set[int]) -> Any:
    if isinstance(value, torch.Tensor):  # a tensor rate (capturable, compiled): changed in place, as it is shared,
        return value if id(value) in seen or seen.add(id(value)) else value.div_(by)  # once: groups share lr=tensor
    if isinstance(value, (list, tuple)):
        return type(value)(_divided(v, by, seen) for v in value)
    value = (
        number_held(value) if isinstance(value, np.ndarray) else value
    )  # a new float: a shared array is lowered once
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)  # NumPy's too: SGD(lr=np.float32(0.1))
    return float(value) / by if real else value


def _lower_scheduler(scheduler: Any, by: float, seen: set[int]) -> None:
    if scheduler is None or id(scheduler) in seen:
        return
    seen.add(id(scheduler))
    for name in _SCHEDULER_RATES:
        if name in vars(scheduler):
            setattr(scheduler, name, _divided(getattr(scheduler, name), by, seen))
    for inner in getattr(scheduler, "_schedulers", ()):  # SequentialLR, ChainedScheduler
        _lower_scheduler(inner, by, seen)


def lower_rates(optimizer: torch.optim.Optimizer, scheduler: Any | None = None, by: float = 10) -> None:
    """Divide every learning rate by ``by``: the optimizer's groups' and those the scheduler computes them from.

    Call it after loading a checkpoint, as loading restores the rates saved: the training then goes on where it was,
    on the same schedule, with every rate ``by`` times lower. Works for every ``torch.optim.lr_scheduler`` class.

    Example:
        >>> from torch import nn
        >>> optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)
        >>> scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
        >>> lower_rates(optimizer, scheduler, by=10)
        >>> optimizer.param_groups[0]["lr"], scheduler.base_lrs
        (0.01, [0.01])
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer should be a torch.optim optimizer, got {type(optimizer).__name__}.")
    by = number_held(by)  # a 0-d tensor or array: the number it holds
    if isinstance(by, bool) or not isinstance(by, numbers.Real) or not math.isfinite(by) or by <= 1:
        raise ValueError(f"by should be the number to divide the rates by, greater than 1 (e.g. 10), got {by!r}.")
    by = float(by)  # NumPy's numbers too: a rate stays a Python float, which a checkpoint can hold
    schedulers = (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if scheduler is not None and not isinstance(scheduler, schedulers):
        raise TypeError(
            f"scheduler should be a torch.optim.lr_scheduler scheduler or None, got {type(scheduler).__name__}."
        )
    if scheduler is not None and getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError("scheduler drives another optimizer than the one given: pass the optimizer it was built with.")
    seen: set[int] = set()  # the schedulers and tensor rates done: each is lowered once
    for group in optimizer.param_groups:
        for key in _GROUP_RATES:
            if key in group:
                group[key] = _divided(group[key], by, seen)
    _lower_scheduler(scheduler, by, seen)
