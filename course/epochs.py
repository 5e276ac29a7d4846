"""The epochs of a run, checked: how many, the history it continues, a scheduler that lasts them; and a run stopped.

``fit`` counts epochs from the very first one: resuming passes the history and the epoch of a checkpoint. Each list of
the history holds one value per epoch, so entry i is always epoch i + 1; a scheduler must last every epoch still to
train, watch the loss fall (not rise), and keep the learning rate usable after each step. A run stopped in the middle
(an error, an interrupt) says where, what the model holds, and hands over the history of its finished epochs to go on
from; :data:`UPDATED` remembers which models were trained, so a loss not finite at a first step is blamed rightly."""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings
import weakref
from collections.abc import Iterator

import torch

from course.divergence import LastFinite
from course.history import History, plain_history
from course.parts import bad_learning_rate, wrong_order

RECORDED = ("train_loss", "lr", "val_loss")  # the lists fit itself keeps; any other is the user's, left alone


class UpdateLog(weakref.WeakValueDictionary):
    """The models and optimizers the course's steps have updated, weakly (kept by id: a model may define ``__eq__``)."""

    def remember(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        if self.get(id(model)) is not model or self.get(id(optimizer)) is not optimizer:  # each step: a look is cheaper
            self[id(model)], self[id(optimizer)] = model, optimizer

    def known(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> bool:
        """Whether the weights are known to have been updated: by the course's steps, or as the optimizer's state says.

        Momentum and Adam's buffers exist only after a step (a ``step`` count above 0, where the optimizer keeps
        one). False means not known: a plain SGD stepped by hand keeps no state. Example:
            >>> model = torch.nn.Linear(1, 1)
            >>> opt = torch.optim.Adam(model.parameters())
            >>> UPDATED.known(model, opt)
            False
            >>> model(torch.ones(1, 1)).sum().backward(); opt.step()
            >>> UPDATED.known(model, opt)
            True
        """
        if self.get(id(model)) is model or self.get(id(optimizer)) is optimizer:
            return True
        state = next((s for s in optimizer.state.values() if s), None)  # Adagrad's is there from the start, at step 0
        return state is not None and ("step" not in state or _positive(state["step"]))


def _positive(step: object) -> bool:  # a custom optimizer may keep None as its step, or anything: never raises
    with contextlib.suppress(Exception):  # a tensor of several values, or of none (meta)
        return isinstance(step, (numbers.Real, torch.Tensor)) and float(step) > 0
    return False


UPDATED = UpdateLog()


def check_epochs(epochs: object, start_epoch: object) -> None:
    """Check ``fit``'s ``epochs`` and ``start_epoch``. Example:
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

    A list ``fit`` records (``train_loss``, ``lr``, ``val_loss``) of another length is refused (its values would be
    drawn at the wrong epochs). A quantity ``fit`` records but the history lacks (``val_loss`` when the first run had
    no validation, or everything without a history) gets NaN for the epochs before, which plots leave out: entry i is
    always epoch i + 1. Any other list is the user's own (a metric appended after each call): kept as it is. Example:
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
    Resuming from it would misalign the history (and ``fit`` would refuse it only then). Example:
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


def _counted(scheduler: object, steps: int, cut: bool = False) -> Iterator[tuple[object, int, int, bool]]:
    """Each scheduler with a ``total_steps`` (``OneCycleLR``) in ``scheduler``, itself or inside a ``ChainedScheduler``
    (all step together) or ``SequentialLR`` (the one at position k starts from 0 at milestone k - 1): (it, the steps
    ``steps`` more give it, the epochs before it starts, whether a later milestone ends it)."""
    if isinstance(getattr(scheduler, "total_steps", None), numbers.Integral):
        yield scheduler, steps, 0, cut
    elif isinstance(scheduler, torch.optim.lr_scheduler.ChainedScheduler):
        yield from (found for inner in scheduler._schedulers for found in _counted(inner, steps, cut))
    elif isinstance(scheduler, torch.optim.lr_scheduler.SequentialLR):
        now, marks = scheduler.last_epoch, [-math.inf, *scheduler._milestones, math.inf]
        for inner, begin, end in zip(scheduler._schedulers, marks, marks[1:], strict=False):
            last = min(now + steps, end - 1)  # the last epoch it is stepped at
            if begin <= now < end:
                yield from _counted(inner, last - now, cut or end < math.inf)
            elif now < begin <= last and isinstance(getattr(inner, "total_steps", None), numbers.Integral):
                yield inner, last - begin, begin - now, cut or end < math.inf


def check_scheduler_steps(scheduler: object, steps: int) -> None:
    """Raise a ``ValueError`` if ``scheduler`` (or one inside it, :func:`_counted`) has a total number of steps
    (``OneCycleLR``) below the ``steps`` more ``fit`` gives it, once per epoch; a warning if it has more left than
    that and no milestone ends it (built per batch, its schedule would never end). Example:
        >>> opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
        >>> check_scheduler_steps(torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=2), 5)
        Traceback (most recent call last):
        ValueError: the scheduler OneCycleLR was built for total_steps=2 and has 2 left, but fit steps it once per epoch, 5 more times...
    """
    for inner, needed, wait, cut in _counted(scheduler, steps):
        total, done = inner.total_steps, 0 if wait else inner.last_epoch  # one not started yet starts from 0
        left, inside = total - done, "" if inner is scheduler else f" (inside {type(scheduler).__name__})"
        name = type(inner).__name__ + inside
        if needed < left and not cut:  # valid when a later run resumes to the end; built per batch it never ends
            warnings.warn(
                f"the scheduler {name} has {left} of its total_steps={total} left, but fit steps it once per epoch, "
                f"{needed} times, so its schedule will not finish. If you built it per batch (steps_per_epoch="
                "len(loader)), build it with total_steps=epochs; if a later run resumes to the end, all is well.",
                stacklevel=4,
            )
        elif needed > left:
            raise ValueError(
                f"the scheduler {name} was built for total_steps={total} and has {left} left, but fit steps it once "
                f"per epoch, {needed} more times (torch would fail after {wait + left} epochs). Build it with total_steps="
                + ("epochs" if inner is scheduler else f"{done + needed}")
                + " (fit steps it per epoch, not per batch), or train fewer epochs."
            )


def check_plateau_mode(scheduler: object, validating: bool) -> None:
    """Refuse a ``ReduceLROnPlateau`` with ``mode="max"``: ``fit`` passes it a loss, which should fall. Example:
    >>> opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    >>> check_plateau_mode(torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max"), validating=True)
    Traceback (most recent call last):
    ValueError: the scheduler ReduceLROnPlateau has mode='max', but fit passes it the validation loss, which should fall...
    """
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and scheduler.mode == "max":
        watched = "the validation loss" if validating else "the training loss (there is no val_loader)"
        raise ValueError(
            f"the scheduler ReduceLROnPlateau has mode='max', but fit passes it {watched}, which should fall: every "
            "fall would count as no improvement, and the learning rate would be cut again and again while training "
            "goes well. Build it with mode='min' (the default): ReduceLROnPlateau(optimizer, mode='min', ...). To "
            "watch an accuracy instead, write the loop yourself and call scheduler.step(accuracy)."
        )


def check_schedule(scheduler: object, steps: int, validating: bool) -> None:
    """``fit``'s scheduler lasts the ``steps`` epochs to train, and watches a loss for its plateaus."""
    check_scheduler_steps(scheduler, steps)
    check_plateau_mode(scheduler, validating)


def check_scheduled_lr(optimizer: torch.optim.Optimizer, scheduler: object, epoch: int) -> None:
    """After ``scheduler.step()`` at the end of ``epoch`` (counting from 1): a ``ValueError`` if it broke the rate.
    Example:
        >>> opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
        >>> sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: -1.0 if e else 1.0)
        >>> _ = opt.step(), sched.step()
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
    below 0 at its very end, ``OneCycleLR(anneal_strategy="linear")``); a later ``fit`` checks it. Example:
        >>> opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
        >>> sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        >>> opt.step()
        >>> step_scheduler(sched, opt, 0.3, 0)
        >>> opt.param_groups[0]["lr"]
        0.05
    """
    if scheduler is not None:
        plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        scheduler.step(*((metric,) if plateau else ()))
        if not last:
            check_scheduled_lr(optimizer, scheduler, epoch + 1)


def pad_history(history: History, epochs: int) -> None:
    """Give each list ``fit`` records NaN up to ``epochs`` values: a quantity not recorded this epoch is a gap. The
    user's own lists (any other key) are left alone; a history that is no dict of lists is refused. Example:
        >>> history = {"train_loss": [0.5, 0.4], "val_loss": [0.6], "val_mae": [0.1]}
        >>> pad_history(history, 2)
        >>> history
        {'train_loss': [0.5, 0.4], 'val_loss': [0.6, nan], 'val_mae': [0.1]}
    """
    got = {k: type(v).__name__ for k, v in history.items() if k in RECORDED} if isinstance(history, dict) else None
    if got is None or set(got.values()) - {"list"}:  # plain_history(history) makes one
        raise TypeError(f"history should be a dict of lists, as fit returns, got {got or type(history).__name__}.")
    for key in RECORDED:
        if key in history:
            history[key].extend([math.nan] * (epochs - len(history[key])))


def stop_noted(history: History, epochs: int, start_epoch: int, keeper: LastFinite) -> contextlib.ExitStack:
    """Run ``fit``'s epochs: an exception (an error, an interrupt) goes on unchanged, told by :func:`note_stop`. Not a
    ``contextmanager``: it sets the ``__traceback__`` of what it re-raises, which a frozen dataclass refuses."""

    def told(kind: type | None, exc: BaseException | None, traceback: object) -> bool:
        with contextlib.suppress(Exception):  # an exception that takes no attribute (a frozen dataclass) goes on as is
            if exc is not None:
                note_stop(exc, history, epochs, start_epoch, keeper)
        return False

    (stack := contextlib.ExitStack()).push(told)
    return stack


def note_stop(exc: BaseException, history: History, epochs: int, start_epoch: int, keeper: LastFinite) -> None:
    """Tell a run stopped in the middle (an error, an interrupt): where, what the model holds, the history to go on from.

    ``exc.history`` gets the history of the epochs finished (every list ``fit`` records cut to them, the user's own
    kept as they are), and ``exc`` a note, unless nothing was trained and it is an error (an interrupt always says
    where). ``keeper`` is the run's ``LastFinite``: its ``updates`` in the epoch under way, and whether it
    ``restored`` the start of epoch ``keeper.epoch``. Example:
        >>> from types import SimpleNamespace
        >>> exc = KeyboardInterrupt()
        >>> history = {"train_loss": [0.5, 0.4], "lr": [0.1, 0.1, 0.1]}
        >>> note_stop(exc, history, 5, 0, SimpleNamespace(updates=1, restored=False, epoch=2))
        >>> exc.history
        {'train_loss': [0.5, 0.4], 'lr': [0.1, 0.1]}
        >>> print(exc.__notes__[0])  # doctest: +ELLIPSIS
        fit stopped in epoch 3 of 5, at batch 2 (counting from 1). The model and optimizer keep the training done: 2 full epoch(s) and 1 batch(es) of epoch 3...
    """
    lengths = {key: len(history[key]) for key in RECORDED if key in history}
    trained, done = lengths["train_loss"], min(lengths.values())  # epochs trained, and recorded in full
    if keeper.restored:  # put back to the start of epoch keeper.epoch + 1: what came after it is gone
        trained = done = min(done, keeper.epoch)
    exc.history = {key: values[:done] if key in RECORDED else list(values) for key, values in history.items()}
    underway = lengths["lr"] > lengths["train_loss"]  # the rate is recorded as an epoch begins
    if underway:
        where = f"in epoch {lengths['lr']} of {epochs}, at batch {keeper.updates + 1} (counting from 1)"
    else:
        where = f"in epoch {trained} of {epochs}, during validation" if done < trained else f"after epoch {trained}"
    updates = keeper.updates if underway and not keeper.restored else 0
    if trained <= start_epoch and not updates:
        if isinstance(exc, KeyboardInterrupt):
            exc.add_note(f"fit stopped {where}, before any update: the model and optimizer are unchanged.")
        return
    held = f"{trained} full epoch(s)" + (f" and {updates} batch(es) of epoch {trained + 1}" if updates else "")
    kept = f"were put back to the start of epoch {trained + 1}" if keeper.restored else "keep the training done"
    exc.add_note(
        f"fit stopped {where}. The model and optimizer {kept}: {held}. exc.history holds the "
        f"history of the {done} epoch(s) finished (in Jupyter, in the next cell: import sys; exc = sys.last_value). "
        f"To go on from here, call fit again with history=exc.history, start_epoch={done}"
        + (" (the updates of the unfinished epoch stay in the weights)" if trained > done or updates else "")
        + "; to start over, rebuild the model, the optimizer and any scheduler (or load a checkpoint)."
    )
