"""The epochs of a run, checked: how many, the history it continues, and a scheduler that lasts them.

``fit`` counts epochs from the very first one: resuming passes the history and the epoch of a
checkpoint. Each list of the history holds one value per epoch, so entry i is always epoch i + 1;
a scheduler must last every epoch still to train, and keep the learning rate usable after each step.
"""

from __future__ import annotations

import math
import numbers

import torch

from course.parts import History, bad_learning_rate, plain_history, wrong_order

RECORDED = ("train_loss", "lr", "val_loss")  # the lists fit itself keeps; any other is the user's, left alone


def check_epochs(epochs: object, start_epoch: object) -> None:
    """Check ``fit``'s ``epochs`` and ``start_epoch``.

    Example:
        >>> check_epochs(3, 5)
        Traceback (most recent call last):
        ValueError: start_epoch=5 is past epochs=3. epochs is the total to reach, counted from the first epoch ever...
    """
    for name, value in (("epochs", epochs), ("start_epoch", start_epoch)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:  # NumPy ints are Integral
            shown = repr(value) if value is None or isinstance(value, (numbers.Number, str)) else type(value).__name__
            raise ValueError(f"{name} should be a non-negative integer, got {shown}.{wrong_order(name, value)}")
    if start_epoch > epochs:
        raise ValueError(
            f"start_epoch={start_epoch} is past epochs={epochs}. epochs is the total to reach, counted from the "
            f"first epoch ever: to train 5 more epochs after a checkpoint at epoch {start_epoch}, pass "
            f"epochs={start_epoch + 5}."
        )


def continued_history(history: object, epochs: object, start_epoch: object, validating: bool) -> History:
    """A checked copy of the history ``fit`` continues: every list holds one value per epoch, ``start_epoch`` of them.

    A list ``fit`` records (``train_loss``, ``lr``, ``val_loss``) of another length is refused (its
    values would be drawn at the wrong epochs). A quantity ``fit`` records but the history lacks
    (``val_loss`` when the first run had no validation, or everything without a history) gets NaN
    for the epochs before, which plots leave out: entry i is always epoch i + 1. Any other list is
    the user's own (a metric appended after each call): kept as it is, never padded nor refused.

    Example:
        >>> continued_history({"train_loss": [0.5], "lr": [0.1]}, 3, 1, validating=True)
        {'train_loss': [0.5], 'lr': [0.1], 'val_loss': [nan]}
    """
    result = plain_history(history)
    check_epochs(epochs, start_epoch)
    for key, values in result.items():
        if key in RECORDED and len(values) != start_epoch:
            raise ValueError(
                f"the history holds {len(values)} epoch(s) of {key} but start_epoch={start_epoch}; every list must "
                "hold one value per epoch done, or entries would be drawn at the wrong epochs. When resuming, pass "
                "both from the checkpoint: history=ckpt['history'], start_epoch=ckpt['epoch']."
            )
    for key in ("train_loss", "val_loss", "lr") if validating else ("train_loss", "lr"):
        result.setdefault(key, [math.nan] * start_epoch)
    return result


def check_saved_epoch(epoch: int, history: object) -> None:
    """Refuse a checkpoint's ``epoch`` that is not the number of values in the lists ``fit`` records.

    Resuming from it would misalign the history (and ``fit`` would refuse it only then).

    Example:
        >>> check_saved_epoch(2, {"train_loss": [0.3, 0.2, 0.1]})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: epoch=2 but the history holds 3 value(s) of train_loss: the epoch to save is the number of epochs...
    """
    for key, values in plain_history(history).items():
        if key in RECORDED and len(values) != epoch:
            raise ValueError(
                f"epoch={epoch} but the history holds {len(values)} value(s) of {key}: the epoch to save is the "
                "number of epochs done, the length of the history. After the epoch counted e from 0, save "
                f"epoch=e + 1 (here epoch={len(values)}), so that resuming continues the history where it stopped."
            )


def check_scheduler_steps(scheduler: object, steps: int) -> None:
    """Raise a ``ValueError`` if ``scheduler`` has a total number of steps (``OneCycleLR``) below ``steps`` more.

    ``fit`` steps its scheduler once per epoch, so it needs one step per epoch still to train.

    Example:
        >>> opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
        >>> check_scheduler_steps(torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=2), 5)
        Traceback (most recent call last):
        ValueError: the scheduler OneCycleLR was built for total_steps=2 and has 2 left, but fit steps it once per epoch, 5 more times...
    """
    total = getattr(scheduler, "total_steps", None)
    if not isinstance(total, numbers.Integral):
        return
    left = total - scheduler.last_epoch
    if steps > left:
        raise ValueError(
            f"the scheduler {type(scheduler).__name__} was built for total_steps={total} and has {left} left, but fit "
            f"steps it once per epoch, {steps} more times (torch would fail after {left} epochs). Build it with "
            "total_steps=epochs (fit steps it per epoch, not per batch), or train fewer epochs."
        )


def check_scheduled_lr(optimizer: torch.optim.Optimizer, scheduler: object, epoch: int) -> None:
    """After ``scheduler.step()`` at the end of ``epoch`` (counting from 1): a ``ValueError`` if it broke the rate.

    Example:
        >>> opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
        >>> sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: -1.0 if e else 1.0)
        >>> opt.step(), sched.step()
        (None, None)
        >>> check_scheduled_lr(opt, sched, 1)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: the scheduler LambdaLR set the learning rate to -0.1 after epoch 1: it must stay a finite ...
    """
    if (lr := bad_learning_rate(optimizer)) is not None:
        raise ValueError(
            f"the scheduler {type(scheduler).__name__} set the learning rate to {lr} after epoch {epoch}: it must "
            "stay a finite number of at least 0 (a negative one climbs the loss, NaN destroys the weights). Fix "
            "the scheduler's settings (its lr_lambda, gamma or milestones); training stopped before using that rate."
        )


def step_scheduler(
    scheduler: object, optimizer: torch.optim.Optimizer, metric: float, epoch: int, last: bool = False
) -> None:
    """Step ``scheduler`` at the end of ``epoch`` (counting from 0), then check the learning rate it set.

    ``ReduceLROnPlateau`` gets ``metric`` (the loss it watches); every other scheduler steps blind.
    After the ``last`` epoch the rate is not checked: it is never used (a schedule may overshoot
    below 0 at its very end, ``OneCycleLR(anneal_strategy="linear")``); a later ``fit`` checks it.

    Example:
        >>> opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
        >>> sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        >>> opt.step()
        >>> step_scheduler(sched, opt, 0.3, 0)
        >>> opt.param_groups[0]["lr"]
        0.05
    """
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metric)
    else:
        scheduler.step()
    if not last:
        check_scheduled_lr(optimizer, scheduler, epoch + 1)


def pad_history(history: History, epochs: int) -> None:
    """Give each list ``fit`` records NaN up to ``epochs`` values: a quantity not recorded this epoch is a gap.

    The user's own lists (any other key) are left alone.

    Example:
        >>> history = {"train_loss": [0.5, 0.4], "val_loss": [0.6], "val_mae": [0.1]}
        >>> pad_history(history, 2)
        >>> history
        {'train_loss': [0.5, 0.4], 'val_loss': [0.6, nan], 'val_mae': [0.1]}
    """
    for key in RECORDED:
        if key in history:
            history[key].extend([math.nan] * (epochs - len(history[key])))
