"""An optimizer's updates, checked: the settings that steer them, and weights an update broke.

Before training (:func:`check_training`, with the parts' checks), a setting that would make every update wrong is
refused, naming the fix: a learning rate that is no real number (None, a string, True, a tensor of several values);
``maximize=True``, which climbs the loss as a negative rate does; any other setting that is NaN (a ``weight_decay``
of NaN makes every weight NaN at the first update); a scheduler not at the epoch fit starts from is warned about. Each
epoch records its rate (NaN for an optimizer without one). After the updates, weights NaN or inf though the loss was
finite are named, with the cause read from the last step's gradients and the optimizer's settings: a gradient NaN
where the loss has an infinite slope (torch.sqrt at 0), else a setting, else a rate too high. Before the first step
that trains, its gradients tell an optimizer that trains nothing it should (another model's, or one built before a
layer was replaced): refused before it steps (:func:`check_grads`).
"""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

from course.parts import built_before_change, check_parts, trains_nothing
from course.weights import trained_weights

if TYPE_CHECKING:
    from course.divergence import LastFinite


def _group(optimizer: torch.optim.Optimizer, index: int) -> str:
    return f" in parameter group {index}" if len(optimizer.param_groups) > 1 else ""


def check_rate_type(group: Mapping, index: int = 0, where: str = "") -> None:
    """A ``TypeError`` naming the fix if the learning rate of the ``index``-th parameter group is no real number
    (``where`` names the group to the learner); torch would fail later, or take True for 1.0. Example:
        >>> check_rate_type({"lr": "0.1"})
        Traceback (most recent call last):
        TypeError: the optimizer's learning rate is '0.1' (str): it must be a real number of at least 0, a float such as 0.01. Set optimizer.param_groups[0]["lr"] = 0.01 (a number, without quotes), or build the optimizer with lr=0.01, e.g. torch.optim.SGD(model.parameters(), lr=0.01).
    """
    lr = group.get("lr", 0.0)
    one = isinstance(lr, torch.Tensor) and lr.numel() == 1 and not (lr.is_complex() or lr.dtype == torch.bool)
    if one or (isinstance(lr, numbers.Real) and not isinstance(lr, bool)):
        return
    shown = "None" if lr is None else f"{lr!r:.40} ({type(lr).__name__})"
    if isinstance(lr, torch.Tensor):
        shown = f"a tensor of shape {tuple(lr.shape)} ({lr.dtype})"
    raise TypeError(
        f"the optimizer's learning rate is {shown}{where}: it must be a real number of at least 0, a float such as "
        f'0.01. Set optimizer.param_groups[{index}]["lr"] = 0.01 (a number, without quotes), or build the optimizer with '
        "lr=0.01, e.g. torch.optim.SGD(model.parameters(), lr=0.01)."
    )


def _numbers(value: object) -> list[torch.Tensor]:
    """A setting's numbers as float tensors: one, or each of a tuple such as Adam's betas (a bool, a string: none)."""
    if isinstance(value, (tuple, list)):
        return [number for item in value for number in _numbers(item)]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return [torch.tensor(float(value))]
    return [value.detach().float()] if isinstance(value, torch.Tensor) and value.is_floating_point() else []


def _odd_setting(group: Mapping, test: object = torch.isnan) -> str | None:
    """The first setting of a parameter group (its rate and parameters left out) with a value that ``test`` finds."""
    odd = (key for key in group if key not in ("params", "lr"))
    return next((key for key in odd if any(bool(test(n).any()) for n in _numbers(group[key]))), None)


def check_training(model: object, loss_fn: object, optimizer: object) -> None:
    """The parts' checks for training (:func:`course.parts.check_parts`), and the optimizer's settings: a learning
    rate that is a real number, no ``maximize=True``, no setting that is NaN. Example:
        >>> model = nn.Linear(1, 1)
        >>> check_training(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1, maximize=True))
        Traceback (most recent call last):
        ValueError: the optimizer has maximize=True: each step climbs the loss instead of descending it, as a negative learning rate would, so training makes the model worse. Build it with maximize=False (the default), e.g. torch.optim.SGD(model.parameters(), lr=0.01).
    """
    groups = list(enumerate(optimizer.param_groups)) if isinstance(optimizer, torch.optim.Optimizer) else []
    for index, group in groups:  # first: the parts' check of the rate's value would fail on one that is no number
        check_rate_type(group, index, _group(optimizer, index))
    check_parts(model, loss_fn, optimizer, training=True)
    for index, group in groups:
        where = _group(optimizer, index)
        if group.get("maximize"):
            raise ValueError(
                f"the optimizer has maximize=True{where}: each step climbs the loss instead of descending it, as a "
                "negative learning rate would, so training makes the model worse. Build it with maximize=False (the "
                f"default), e.g. torch.optim.{type(optimizer).__name__}(model.parameters(), lr=0.01)."
            )
        if (nan := _odd_setting(group)) is not None:
            raise ValueError(
                f"the optimizer's {nan} is {group[nan]!r:.40}{where}: a NaN setting makes every weight NaN at the first "
                f"update, whatever the learning rate. Make it a finite number: build the optimizer again, leaving {nan} "
                f"at its default, or set optimizer.param_groups[{index}][{nan!r}] to a finite value."
            )


_RESTORED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # scheduler: its last_epoch as a checkpoint left it


def note_restored(scheduler: object) -> None:
    """Remember that ``load_checkpoint`` restored ``scheduler``, at the ``last_epoch`` it has now (one that cannot be
    weakly referenced is not remembered), for :func:`check_resumed_schedule`."""
    if isinstance(done := getattr(scheduler, "last_epoch", None), int):
        with contextlib.suppress(TypeError):
            _RESTORED[scheduler] = done


def check_resumed_schedule(scheduler: object, start_epoch: int) -> None:
    """Warn if ``fit`` starts at ``start_epoch`` with a scheduler not at that epoch: resumed with one that has not
    stepped once per epoch done (a fresh one would restart its schedule), or started at epoch 0 with one restored by
    ``load_checkpoint`` and not stepped since (its rates would be later epochs', ``ReduceLROnPlateau``'s those its
    losses set, the history counting from epoch 1: history and start_epoch were forgotten). ``fit`` steps every
    scheduler once per epoch, so its ``last_epoch`` is the epochs done (``OneCycleLR``'s and ``ReduceLROnPlateau``'s
    too); one stepped before a fit from 0 (an earlier fit, by hand) goes on with its schedule, as it should. A new
    schedule may start there on purpose: no error.
    Example:
        >>> opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     check_resumed_schedule(torch.optim.lr_scheduler.StepLR(opt, 2), start_epoch=3)
        >>> print(caught[0].message)  # doctest: +ELLIPSIS
        fit resumes at start_epoch=3, but the scheduler StepLR has stepped 0 time(s) (its last_epoch), not 3: ...
    """
    done = getattr(scheduler, "last_epoch", None)  # a ChainedScheduler keeps none: not checked
    if not isinstance(done, int) or isinstance(done, bool) or done == start_epoch:
        return
    name, resume = type(scheduler).__name__, "ckpt = load_checkpoint(path, model, optimizer, scheduler), then fit("
    if start_epoch:
        warnings.warn(
            f"fit resumes at start_epoch={start_epoch}, but the scheduler {name} has stepped {done} "
            f"time(s) (its last_epoch), not {start_epoch}: fit steps it once per epoch, so its learning rates would be "
            f"those of {'a schedule started over' if done == 0 else 'other epochs'}. To resume from a checkpoint, load "
            f"the scheduler with the rest, {resume}..., scheduler=scheduler, history=ckpt['history'], start_epoch="
            "ckpt['epoch']). A new schedule started at this epoch on purpose may ignore this warning.",
            stacklevel=3,
        )
    elif _RESTORED.get(scheduler) == done:
        rates = (  # ReduceLROnPlateau's rate follows the losses, not the epochs
            "its rate does not depend on the epoch count: it goes on from the restored rate, best loss and count of "
            f"epochs without improvement, and its last_epoch from {done}"
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
            else f"its learning rates would be those of epochs {done + 1} on"
        )
        warnings.warn(
            f"fit starts at epoch 1 (start_epoch=0), but the scheduler {name} was restored by load_checkpoint after "
            f"{done} step(s) (its last_epoch): {rates}, while the history counts from epoch 1. To resume, pass what "
            "the checkpoint saved: "
            f"{resume}..., scheduler=scheduler, history=ckpt['history'], start_epoch=ckpt['epoch']), with epochs the "
            "total to reach; to start over, build a new optimizer and scheduler.",
            stacklevel=3,
        )


def recorded_rate(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate ``fit`` records for an epoch: the first parameter group's; NaN for an optimizer without one
    (a custom optimizer whose step size has another name, or without parameter groups). Example:
        >>> recorded_rate(torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1))
        0.1
    """
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not all(isinstance(group, Mapping) for group in groups):
        raise TypeError(
            f"optimizer should be a torch.optim.Optimizer, got {type(optimizer).__name__}: build one after the model, "
            "e.g. torch.optim.SGD(model.parameters(), lr=0.1)."
        )
    return float(groups[0]["lr"]) if groups and "lr" in groups[0] else math.nan


def _dense(t: torch.Tensor) -> torch.Tensor:  # a sparse gradient (nn.Embedding(sparse=True)) by its stored values
    return t.coalesce().values() if t.is_sparse else t


def _not_finite(tensors: list[tuple[str, torch.Tensor | None]], broken: object = None) -> str:
    """The names of the tensors that hold NaN or inf (or what ``broken`` finds in a tensor that does), three at most,
    then how many more, or "" (checked at each step: one synchronisation when all are finite, on one device)."""
    floats = [(name, _dense(t)) for name, t in tensors if t is not None and t.is_floating_point()]
    if len({t.device for _, t in floats}) == 1 and bool(
        torch.stack([torch.isfinite(t).all() for _, t in floats]).all()
    ):
        return ""
    bad = [name for name, t in floats if not torch.isfinite(t).all() and (broken is None or broken(t))]
    return ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")


def _updated_off(p: torch.Tensor) -> bool:
    """A parameter a step broke: NaN, or inf where its gradient moved it (an inf a mask holds on purpose gets none)."""
    moved = p.grad is not None and not p.grad.is_sparse and bool((p.isinf() & (p.grad != 0)).any())
    return bool(p.isnan().any()) or moved or (p.grad is not None and p.grad.is_sparse)


def _broken(model: nn.Module) -> str:
    """The trained parameters an update made NaN or inf (:func:`trained_weights`)."""
    return _not_finite(trained_weights(model), _updated_off)


def check_grads(model: nn.Module, optimizer: torch.optim.Optimizer, trained: bool = False) -> None:
    """Between ``backward()`` and the optimizer's step, till a step of the call has ``trained``: a ``ValueError``, the
    weights unchanged, if the gradients show the optimizer trains nothing it should. None of the tensors it holds got
    one, and it holds no trainable parameter of the model nor a tensor that may be the loss's
    (:func:`course.parts.trains_nothing`; a pass that never trains is refused at its end); or the tensors it holds that
    are not the model's got none while parameters of the model it does not hold, of the very same shapes, did (it was built before a layer was replaced: :func:`course.parts.built_before_change`). A tensor of
    the loss that a batch leaves out (a term used later, a head used in turn) is not evidence of either."""
    if trained:  # the hot path: one test per step
        return
    tensors = [p for group in optimizer.param_groups for p in group["params"]]
    if not any(p.grad is not None for p in tensors):  # tensors not the model's may be a loss's, unused by this batch
        if why := trains_nothing(model, optimizer):
            own = " If it holds tensors the loss should train (a temperature), compute the loss with them."
            raise ValueError(f"no tensor the optimizer holds received a gradient (from the first step on): {why}{own}")
        return
    held, mine = {id(p) for p in tensors}, {id(t) for t in (*model.parameters(), *model.buffers())}
    stale = [p for p in tensors if id(p) not in mine and p.requires_grad and p.grad is None]
    new = [p for p in model.parameters() if p.grad is not None and id(p) not in held]
    if stale and sorted(p.shape for p in stale) == sorted(p.shape for p in new):  # a layer replaced by its like
        why = built_before_change(model, optimizer, sure=True)
        raise ValueError(f"{why}. (Told by the gradients, before the optimizer's step: the weights did not change.)")


_SLOPE = (
    "so the step made the weights NaN whatever the learning rate: a lower one will not help. The model's forward or "
    "the loss has a point where its slope is infinite or undefined: torch.sqrt at 0 (an RMSE on a perfect fit, a "
    "distance between equal points), x ** 0.5 or a log at 0. Keep its argument away from there, e.g. torch.sqrt(s + "
    "1e-8), wherever it is computed (for an RMSE: train on the MSE and report its square root)."
)


def update_cause(model: nn.Module, optimizer: torch.optim.Optimizer) -> str:
    """Why the last step made weights NaN or inf though its loss was finite, read from its gradients (still there)
    and the optimizer's settings: a gradient NaN or inf, else a setting NaN or inf, else the rate. Example:
        >>> model = nn.Linear(1, 1)
        >>> model(torch.ones(1, 1)).sum().backward()
        >>> update_cause(model, torch.optim.SGD(model.parameters(), lr=1e38))  # doctest: +ELLIPSIS
        'The gradient was finite, so the update itself overflowed: the learning rate (1e+38) is too high ...'
    """
    if grads := _not_finite([(name, p.grad) for name, p in model.named_parameters()]):
        return f"The step's gradient was NaN or inf ({grads}) though its loss was finite, " + _SLOPE
    for index, group in enumerate(optimizer.param_groups):
        if (odd := _odd_setting(group)) is not None:
            return (
                f"The gradient was finite, but the optimizer's {odd} is {group[odd]!r:.40}{_group(optimizer, index)}: "
                "a setting that is not a finite number breaks the update whatever the learning rate. Make it finite."
            )
    rates = [float(group["lr"]) for group in optimizer.param_groups if "lr" in group]
    shown = f"the learning rate ({max(rates):g})" if rates else "the optimizer's step size"
    return (
        f"The gradient was finite, so the update itself overflowed: {shown} is too high for these gradients. Lower "
        "the learning rate (divide it by 10, or more), or standardise the features; check any setting you changed too "
        "(eps=0 in Adam divides 0 by 0 where a gradient is 0)."
    )


def finish_step(model: nn.Module, optimizer: torch.optim.Optimizer, value: float) -> None:
    """End a training step whose loss ``value`` was finite: a ``FloatingPointError`` if it left a weight NaN or inf,
    naming it and the cause read from the step's gradients (a step keeps no copy: the weights stay as it left them);
    else zero the gradients."""
    if names := _broken(model):
        raise FloatingPointError(
            f"the step made the weights NaN or inf ({names}) though its loss ({value:.4g}) was finite. "
            f"{update_cause(model, optimizer)} A step keeps no copy of the weights to put back: rebuild the model and "
            "the optimizer, running their cells again (or load a checkpoint); fit and train_epoch put back the last "
            "finite weights themselves."
        )
    optimizer.zero_grad()


def finish_pass(keeper: LastFinite, epoch: int | None, step: int) -> None:
    """End a pass whose every loss was finite, by zeroing the gradients; but if a weight is NaN or inf, the last step
    (``step``) broke it: put the model and optimizer back to the start of the pass (``keeper``) and raise a
    ``FloatingPointError`` naming the weights and the cause, read from that step's gradients before putting back."""
    if not (names := _broken(keeper.model)):
        keeper.optimizer.zero_grad()
        return
    try:  # read from the last step's gradients, before putting back; an earlier step may have done it
        cause = update_cause(keeper.model, keeper.optimizer)
    except Exception:  # noqa: BLE001 the weights go back whatever the cause's reading met
        cause = ""
    where = f"epoch {epoch + 1}" if epoch is not None else "this epoch"
    raise FloatingPointError(
        f"the weights became NaN or inf ({names}) during {where} ({step} steps), though every loss was finite; "
        f"training stopped. {keeper.restore()} At the last step: {cause or 'the cause could not be read.'}"
        + (_EARLIER if step > 1 else "")
    )


_EARLIER = (
    " If that step's gradient was finite, an earlier one may have broken them: a gradient NaN where the loss has an "
    "infinite slope (torch.sqrt at 0) breaks weights whatever the rate."
)
