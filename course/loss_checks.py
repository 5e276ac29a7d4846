"""The loss of a mini-batch, checked: predictions and targets that pair up, and torch's errors explained.

A loss silently broadcasts predictions against targets of another shape, or stretches one over several: :func:`check_pair`
refuses that, and scores of one class (values misread: :mod:`course.loss_values`); :func:`explain_loss` says why one fails.
"""

from __future__ import annotations

import contextlib
import functools
import re
import warnings
import weakref
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional
from torch.overrides import TorchFunctionMode

from course.nested import described, nested_tensors
from course.pair_errors import broadcast_shape, float_targets, integer_cut, lengths_error, spread_error, time_major
from course.pair_errors import complex_error as complex_targets

# Losses that compare each prediction with the target in the same place: a target shape that differs is a bug.
_ELEMENTWISE = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss, nn.BCEWithLogitsLoss,
                nn.KLDivLoss, nn.SoftMarginLoss, nn.PoissonNLLLoss)  # fmt: skip
_ELEMENTWISE_FUNCTIONS = {functional.mse_loss, functional.l1_loss, functional.smooth_l1_loss, functional.kl_div,
                          functional.huber_loss, functional.binary_cross_entropy,
                          functional.binary_cross_entropy_with_logits}  # fmt: skip
# Losses of class indices: their targets rightly have another shape than the scores, (N,) for (N, C).
_CLASS_INDICES = (nn.CrossEntropyLoss, nn.NLLLoss)
_CLASS_INDEX_FUNCTIONS = {functional.cross_entropy, functional.nll_loss}
_OUT_OF_BOUNDS = re.compile(r"Target (-?\d+) is out of bounds")
_SIZES = re.compile(r"must match the size|batch_size|size mismatch|be multiplied|input samples|target size")
_PAIRS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # a hand-written loss: the shapes it did not broadcast
# Pair, not broadcast: conversions, and the losses of class indices, (N,) for (N, C), a hand-written loss may call.
_CONVERTS = {"view_as", "reshape_as", "type_as", "to", "new_tensor", "cross_entropy", "nll_loss",
             "multi_margin_loss"}  # fmt: skip


def _is(loss_fn: object, modules: tuple[type, ...], functions: set) -> bool:
    """Whether ``loss_fn`` is one of these losses, also behind ``functools.partial`` (a lambda cannot be told)."""
    while isinstance(loss_fn, functools.partial):
        loss_fn = loss_fn.func
    return isinstance(loss_fn, modules) or any(loss_fn is function for function in functions)


def _stretches(pred: torch.Tensor, target: torch.Tensor, loss_fn: object) -> bool | None:
    """Whether the loss compares one target with several predictions; None: a hand-written loss may, on purpose."""
    if _is(loss_fn, _CLASS_INDICES, _CLASS_INDEX_FUNCTIONS):
        return target.ndim == 0 and target.is_floating_point()
    if elementwise := _is(loss_fn, _ELEMENTWISE, _ELEMENTWISE_FUNCTIONS):
        return elementwise  # below: targets of fewer dims, (N,) for (N, C), line their samples up with columns
    return None if target.ndim in (0, pred.ndim) else target.ndim < pred.ndim and len(target) > 1


class _Broadcasts(TorchFunctionMode):
    """Notes the first of the predictions' shapes (``preds``: several for a model's several outputs) that a call in a
    loss met with the targets' (``took``), and the first that a call broadcast against them, not only converted one
    (``seen``: a shape other than the targets'; one alike is no broadcast)."""

    preds: tuple[torch.Size, ...] = ()
    target, took, seen = torch.Size(), None, None

    def __torch_function__(self, func: Callable, types: object, args: tuple = (), kwargs: dict | None = None) -> object:
        shapes = {a.shape for a in (*args, *(kwargs or {}).values()) if isinstance(a, torch.Tensor)}
        if self.target in shapes and (met := [shape for shape in self.preds if shape in shapes]):
            other = [shape for shape in met if shape != self.target]  # the targets' own shape is met by any call on y
            self.took = (other or met)[0] if self.took is None else self.took
            if other and self.seen is None and getattr(func, "__name__", "") not in _CONVERTS:
                self.seen = other[0]
        return func(*args, **(kwargs or {}))


def _taken(out: object, shape: torch.Size | None) -> torch.Tensor | None:  # the predictions the loss took (a shape)
    return out if isinstance(out, torch.Tensor) else next((t for t in nested_tensors(out) if t.shape == shape), None)


def call_loss(loss_fn: Callable, out: object, y: object, pred: torch.Tensor | None, model: nn.Module | None) -> object:
    """``loss_fn(out, y)``, its errors explained (:func:`explain_loss`) as the errors of predictions ``pred``."""
    try:
        return loss_fn(out, y)
    except (RuntimeError, IndexError, ValueError) as exc:  # ValueError: F.cross_entropy's batch sizes, a loss's own
        raise explain_loss(exc, pred, y, loss_fn, model) from None


def _run(
    loss_fn: object, out: object, target: torch.Tensor, preds: tuple, model: nn.Module | None = None
) -> tuple[bool, torch.Size | None, tuple]:
    """Whether a hand-written ``loss_fn(out, target)`` broadcasts one of the predictions' shapes ``preds`` against the
    targets (others: True, not run), the one it took, and ``(its loss,)`` or ``()``; its errors are explained as about
    the one it took. Once it did not broadcast these shapes, it is not run again here (``()``)."""
    known = _is(loss_fn, _ELEMENTWISE, _ELEMENTWISE_FUNCTIONS) or _is(loss_fn, _CLASS_INDICES, _CLASS_INDEX_FUNCTIONS)
    if known or not callable(loss_fn):
        return True, None, ()
    watch, error, key = _Broadcasts(), None, (preds, target.shape)
    with contextlib.suppress(TypeError):  # a loss that cannot be weakly referenced or hashed is watched each time
        if key in (done := _PAIRS.get(loss_fn, {})):
            return False, done[key], ()
    watch.preds, watch.target = key
    with watch, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using a target size", UserWarning)  # torch's: the course says more
        try:
            loss = (loss_fn(out, target),)
        except (RuntimeError, IndexError, ValueError) as exc:  # explained outside the watch
            error = exc
    if error is not None:
        raise explain_loss(error, _taken(out, watch.took), target, loss_fn, model) from None
    with contextlib.suppress(TypeError):
        if watch.seen is None:
            _PAIRS.setdefault(loss_fn, {})[key] = watch.took
    return watch.seen is not None, watch.took if watch.seen is None else watch.seen, loss


def _refuse_broadcast(pred: torch.Tensor, target: torch.Tensor, loss_fn: object, model: nn.Module | None) -> None:
    """Refuse a loss seen broadcasting ``pred`` against ``target`` (other lengths: :func:`lengths_error`), or warn if
    it gives more prediction columns than targets, which a loss of one's own may use on purpose."""
    if pred.ndim and target.ndim and len(pred) != len(target):
        raise lengths_error(pred, target, model=model)
    both, stretches = broadcast_shape(pred.shape, target.shape), _stretches(pred, target, loss_fn)
    if both is None or (both == pred.shape and stretches is False):  # not a broadcast, or one target for one sample
        return
    if both == pred.shape and pred.numel() != target.numel() and stretches is None:  # may be on purpose: warned
        warnings.warn(str(spread_error(pred, target, both, model, warn=True)), UserWarning, stacklevel=3)
        return
    raise spread_error(pred, target, both, model)


def _time_step_paired(pred: torch.Tensor, target: torch.Tensor, loss_fn: object, model: nn.Module | None) -> tuple:
    """Other lengths: ``(loss,)`` of one's own loss of an evidently time-major output, or of one step of it (out[-1])."""
    steps = (pred.shape, pred.shape[1:])  # (T, N, ...) and one time step (N, ...), each watched against N targets
    broadcast, seen, loss = _run(loss_fn, pred, target, steps, model) if time_major(pred, target) else (True, None, ())
    if broadcast and seen == steps[1]:  # out[-1] of shape (N, 1) against targets (N,)
        raise spread_error(pred[-1], target, broadcast_shape(seen, target.shape), model)
    if broadcast:
        raise lengths_error(pred, target, model=model)
    return loss


def check_pair(pred: object, target: object, loss_fn: object = None, model: nn.Module | None = None) -> tuple:
    """Raise a clear error unless the model's output pairs up with the targets, sample by sample.

    Predictions (N, 1) against targets (N,) broadcast to (N, N), every prediction against every target: the loss is
    silently wrong. So are N predictions with another number of targets (whatever the loss does with them: a loss of
    one's own may reshape them away), and (N, 2) predictions against (N, 1) targets, or the reverse. Class indices
    (integer targets of ``nn.CrossEntropyLoss``-like losses) rightly have another shape; one column of scores is
    refused. A hand-written loss given shapes that differ is run to see what it does, once per loss and shapes
    (returned as ``(loss,)``, else ``()``; its errors explained): one that pairs them itself (``p.squeeze(1) - t``, or
    ``out[-1]`` of an evidently time-major (T, N, C) given N targets, the one other length it may take) passes; one
    that broadcasts them is refused, or warned of given more prediction columns, which it may use on purpose. Example:
        >>> check_pair(torch.zeros(4, 1), torch.zeros(4))
        Traceback (most recent call last):
        ValueError: the predictions have shape (4, 1) but the targets (4,): ... y = y.view(-1, 1), or make the model's ...
    """
    if not isinstance(pred, torch.Tensor):  # the trainer gives a tuple or dict to a loss of one's own: loss_of
        raise TypeError(f"the model returned a {type(pred).__name__}, not a tensor of predictions to check.")
    _refuse_one_class(pred, target, loss_fn)
    if (wrong := complex_targets(pred, target, "", loss_fn)) is not None:  # complex targets for a torch loss
        raise wrong
    if not isinstance(target, torch.Tensor) or pred.shape == target.shape:
        return ()
    if pred.ndim and target.ndim and len(pred) != len(target):  # refused, unless time-major for a loss of one's own
        return _time_step_paired(pred, target, loss_fn, model)
    if (both := broadcast_shape(pred.shape, target.shape)) is None:
        if _is(loss_fn, _ELEMENTWISE, _ELEMENTWISE_FUNCTIONS):
            raise spread_error(pred, target, None, model)
        return ()  # another loss may take such shapes (CrossEntropyLoss does), or says so itself
    if both == pred.shape and _stretches(pred, target, loss_fn) is False:
        return ()
    broadcast, _, loss = _run(loss_fn, pred, target, (pred.shape,), model)  # a hand-written loss: does it broadcast?
    if broadcast:
        _refuse_broadcast(pred, target, loss_fn, model)
    return loss


def _classes(pred: torch.Tensor, y: torch.Tensor, text: str) -> BaseException | None:
    """Errors of losses that take class indices (CrossEntropyLoss, NLLLoss); None for others."""
    if "target tensor expected, multi-target not supported" in text:
        return ValueError(
            f"this loss expects class indices of shape ({len(y)},), one integer class per sample, but the targets "
            f"have shape {tuple(y.shape)}: y = y.view(-1) (or y.squeeze(1))."
        )
    if "expected target dtype to be Long" in text or "expected scalar type Long" in text:
        return TypeError(
            f"this loss expects class indices as targets (integers from 0, dtype torch.long), but they are {y.dtype}: "
            f"y = y.long(). (Class probabilities instead need the predictions' shape, {tuple(pred.shape)}.)"
        )
    if "Expected floating point type for target with class probabilities" in text:
        return _probabilities_or_indices(pred, y)
    if (found := _OUT_OF_BOUNDS.search(text)) is not None:
        scores = pred.shape[1] if pred.ndim > 1 else pred.shape[0]
        return ValueError(
            f"a target holds class {found.group(1)}, but the model gives {scores} scores per sample (classes 0 to "
            f"{scores - 1}): build the last layer with out_features = the number of classes, and number the "
            "classes from 0."
        )


def _refuse_one_class(pred: torch.Tensor, y: object, loss_fn: object) -> None:
    """Refuse the scores of one class, (N, 1, ...) or (1,), for a loss of class indices: their loss is always 0."""
    indices = isinstance(y, torch.Tensor) and not y.is_floating_point() and pred.ndim > 0
    if indices and _is(loss_fn, _CLASS_INDICES, _CLASS_INDEX_FUNCTIONS) and pred.shape[min(1, pred.ndim - 1)] == 1:
        raise _probabilities_or_indices(pred, y)


def _probabilities_or_indices(pred: torch.Tensor, y: torch.Tensor) -> BaseException:
    if pred.ndim <= 1 or pred.shape[1] == 1:
        view = ", ".join(["-1", *map(str, pred.shape[1:])])
        return ValueError(
            f"the predictions have shape {tuple(pred.shape)}, one score per sample, but cross-entropy needs a score "
            "per class, shape (N, C), with class indices of shape (N,): build the last layer with out_features = "
            "the number of classes, nn.Linear(..., n_classes) (and do not squeeze or flatten its output); for two "
            f"classes scored by one output, use nn.BCEWithLogitsLoss() with float targets, y = y.float().view({view})."
        )
    return TypeError(
        f"the targets have the predictions' shape {tuple(pred.shape)}, so cross-entropy reads them as class "
        f"probabilities, which must be floating point, but they are {y.dtype}. Pass class indices of shape "
        f"({len(y)},) instead, y = y.argmax(dim=1) (from one-hot rows), or probabilities, y = y.float()."
    )


def explain_loss(
    error: BaseException, pred: torch.Tensor | None, y: object, loss_fn: object = None, model: nn.Module | None = None
) -> BaseException:
    """The error to raise when ``loss_fn(pred, y)`` failed (``pred``: the predictions it took, None if not known): a
    clearer one when we know the cause, else ``error``. Example:
        >>> print(explain_loss(RuntimeError("Target 7 is out of bounds."), torch.zeros(4, 3), torch.zeros(4).long()))
        a target holds class 7, but the model gives 3 scores per sample (classes 0 to 2): build the last layer ...
    """
    if not isinstance(y, torch.Tensor) or not isinstance(pred, torch.Tensor):
        return error
    text = str(error)
    if pred.ndim and y.ndim and len(pred) != len(y) and _SIZES.search(text):  # a loss of one's own, run on them
        return lengths_error(pred, y, text, model)
    if (floats := float_targets(y, text, pred, loss_fn)) is not None:  # a dtype or a kernel y's: or arguments swapped
        return floats
    if "all elements of input should be between 0 and 1" in text:
        return ValueError(
            "BCELoss expects probabilities between 0 and 1 as predictions, but the model's outputs leave that "
            "range: end the model with nn.Sigmoid(), or better, keep the raw scores and use nn.BCEWithLogitsLoss()."
        )
    if "all elements of target should be between 0 and 1" in text:
        return ValueError(
            "the targets should be between 0 and 1 (class 0 or 1, or a probability), but some are not: "
            "check the labels (e.g. map the classes {1, 2} to {0, 1})."
        )
    if "must match the size of tensor" in text and broadcast_shape(pred.shape, y.shape) is None:
        return spread_error(pred, y, None, model)
    return _classes(pred, y, text) or error


def _several(out: object, loss_fn: Callable, y: object, model: nn.Module | None) -> object:
    """``loss_fn(out, y)`` for a model's several outputs (a tuple, a dict), which a loss of one's own takes as they are,
    checked as :func:`check_pair` checks one: run watching every tensor in them as the predictions, one it broadcasts
    against the targets is refused (warned of given more prediction columns), and its errors are explained as about the
    one it took; an error about the tuple or dict itself gets a note of what it got."""
    preds = [t for t in nested_tensors(out) if t.ndim]  # the predictions may be any of them: all are watched
    try:
        if not (isinstance(y, torch.Tensor) and preds):
            return loss_fn(out, y)
        if all(t.shape == y.shape for t in preds):  # nothing to broadcast
            return call_loss(loss_fn, out, y, preds[0], model)
        broadcast, took, loss = _run(loss_fn, out, y, tuple(dict.fromkeys(t.shape for t in preds)), model)
        if broadcast and (taken := _taken(out, took)) is not None:
            _refuse_broadcast(taken, y, loss_fn, model)
        return loss[0] if loss else call_loss(loss_fn, out, y, _taken(out, took), model)
    except (TypeError, AttributeError) as exc:
        kinds = {type(out).__name__, *(k.__name__ for k in (tuple, list, dict) if isinstance(out, k))}
        if re.search(rf"\b({'|'.join(map(re.escape, kinds))})\b", str(exc)):  # about what the model returned
            what, pick = described(out)
            exc.add_note(
                f"(the model returned {what}, not one tensor, and the trainer hands it to the loss as it is: the loss "
                f"must take it so, e.g. picking the predictions with {pick}, or forward() must return the predictions "
                "alone.)"
            )
        raise


def loss_of(pred: object, loss_fn: Callable, y: object, model: nn.Module | None = None) -> object:
    """``loss_fn(pred, y)``, checked: predictions and targets that pair up (a model's several outputs, a tuple or a
    dict, too), and the loss's own errors explained (what it returns is :mod:`course.loss_result`'s concern). Example:
        >>> loss_of(torch.zeros(2, 1), nn.MSELoss(), torch.ones(2, 1))
        tensor(1.)
    """
    if not isinstance(pred, torch.Tensor):
        return _several(pred, loss_fn, y, model)
    computed = check_pair(pred, y, loss_fn, model)  # a hand-written loss given other shapes may be run there, once
    try:
        loss = computed[0] if computed else call_loss(loss_fn, pred, y, pred, model)
    except (TypeError, AttributeError) as exc:  # torch's losses read y.size(): a list or a number has none
        if isinstance(y, torch.Tensor):
            raise
        raise TypeError(
            f"the targets y are a {type(y).__name__}, not a tensor, and the loss cannot take them "
            f"({type(exc).__name__}: {exc}). Convert them once, y = torch.as_tensor(y, dtype=torch.float32) (class "
            "indices: dtype=torch.long)."
        ) from None
    return integer_cut(pred, loss, model)  # an integer output a float loss took: no graph, the model's fault
