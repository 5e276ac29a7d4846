"""The loss of a mini-batch, checked: predictions and targets that pair up, and torch's errors explained.

A loss silently broadcasts predictions against targets of another shape, or stretches one over several of the other:
:func:`check_pair` refuses that, and scores of a single class (values a loss misreads: :mod:`course.loss_values`). When
the loss fails (class indices of the wrong shape or dtype, probabilities out of range), :func:`explain_loss` says why.
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


def _last_layer(model: object, pred: torch.Tensor, target: torch.Tensor) -> str:
    n = target.shape[-1] if pred.ndim == target.ndim > 1 and pred.shape[:-1] == target.shape[:-1] else 0
    want = f"out_features={n}, one per target column" if n else "out_features = the number of target columns"
    modules = reversed(list(model.modules())) if isinstance(model, nn.Module) else ()
    if (last := next((m for m in modules if isinstance(m, nn.Linear)), None)) is None:  # no model, or no Linear
        return f"Make the model's output match the targets (build its last layer with {want})"
    return (
        f"The model's last layer, Linear(in_features={last.in_features}, out_features={last.out_features}), gives "
        f"{last.out_features} value(s) per sample: build it with {want}"
    )


def _broadcast(*shapes: torch.Size) -> torch.Size | None:  # the shape they broadcast to, None if they do not
    with contextlib.suppress(RuntimeError):
        return torch.broadcast_shapes(*shapes)
    return None


def _reshape(pred: torch.Tensor, target: torch.Tensor) -> str:
    view = ", ".join(["-1", *map(str, pred.shape[1:])]) if pred.ndim > 1 else str(pred.numel())
    if target.ndim == 0 and pred.numel() == 1:
        return (
            f"give the target the prediction's shape, y = y.view({view}) (a loader with batch_size=None yields one "
            "sample at a time: build its data set with targets of shape (N, 1), TensorDataset(x, y.view(-1, 1)))"
        )
    return f"give the targets the predictions' shape, y = y.view({view})"


class _Broadcasts(TorchFunctionMode):
    """Notes whether a call in a loss broadcast the predictions and targets (their shapes), not only converted one."""

    pred, target, seen = torch.Size(), torch.Size(), False

    def __torch_function__(self, func: Callable, types: object, args: tuple = (), kwargs: dict | None = None) -> object:
        shapes = {a.shape for a in (*args, *(kwargs or {}).values()) if isinstance(a, torch.Tensor)}
        both = self.pred in shapes and self.target in shapes  # shapes that differ and broadcast: checked before
        self.seen = self.seen or (both and getattr(func, "__name__", "") not in _CONVERTS)
        return func(*args, **(kwargs or {}))


def _run(loss_fn: object, pred: torch.Tensor, target: torch.Tensor) -> tuple[bool, tuple]:
    """Whether a hand-written ``loss_fn`` broadcasts them (others: True), and ``(its loss,)`` or ``()``;
    its errors are its own. Once it did not broadcast these shapes, it is not run again here (``()``)."""
    known = _is(loss_fn, _ELEMENTWISE, _ELEMENTWISE_FUNCTIONS) or _is(loss_fn, _CLASS_INDICES, _CLASS_INDEX_FUNCTIONS)
    if known or not callable(loss_fn):
        return True, ()
    with contextlib.suppress(TypeError):  # a loss that cannot be weakly referenced or hashed is watched each time
        if (pair := (pred.shape, target.shape)) in _PAIRS.get(loss_fn, ()):
            return False, ()
    watch = _Broadcasts()
    watch.pred, watch.target = pair
    with watch, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using a target size", UserWarning)  # torch's: the course says more
        loss = (loss_fn(pred, target),)
    with contextlib.suppress(TypeError):
        if not watch.seen:
            _PAIRS.setdefault(loss_fn, set()).add(pair)
    return watch.seen, loss


def check_pair(pred: object, target: object, loss_fn: object = None, model: nn.Module | None = None) -> tuple:
    """Raise a clear error unless the model's output pairs up with the targets, sample by sample.

    Predictions (N, 1) against targets (N,) broadcast to (N, N), every prediction against every target: the loss is
    silently wrong. So are N predictions with another number of targets, and (N, 2) predictions against (N, 1)
    targets, or the reverse. Class indices (integer targets of ``nn.CrossEntropyLoss``-like losses) rightly have
    another shape; one column of scores is refused. A hand-written loss given shapes that differ is run to see what it
    does, once per loss and shapes (returned as ``(loss,)``, else ``()``; its errors are its own): one that pairs
    them itself (``p.squeeze(1) - t``, or ``out[-1]`` of (T, N, C) given N targets) passes; one that broadcasts them is
    refused, or warned of given more prediction columns, which it may use on purpose. Example:
        >>> check_pair(torch.zeros(4, 1), torch.zeros(4))
        Traceback (most recent call last):
        ValueError: the predictions have shape (4, 1) but the targets (4,): ... y = y.view(-1, 1), or make the model's ...
    """
    if not isinstance(pred, torch.Tensor):  # the trainer gives a tuple or dict to a loss of one's own, unchecked
        raise TypeError(f"the model returned a {type(pred).__name__}, not a tensor of predictions to check.")
    _refuse_one_class(pred, target, loss_fn)
    if not isinstance(target, torch.Tensor) or pred.shape == target.shape:
        return ()
    if pred.ndim and target.ndim and len(pred) != len(target):  # a loss of one's own may pair them (an RNN's out[-1])
        if (ran := _run(loss_fn, pred, target))[0]:  # torch's own losses, or one that broadcasts them: refused
            raise _lengths(pred, target)
        return ran[1]
    if (both := _broadcast(pred.shape, target.shape)) is None:
        if _is(loss_fn, _ELEMENTWISE, _ELEMENTWISE_FUNCTIONS):
            raise _spread(pred, target, None, model)
        return ()  # another loss may take such shapes (CrossEntropyLoss does), or says so itself
    stretches = _stretches(pred, target, loss_fn)
    if both == pred.shape and stretches is False:
        return ()
    broadcast, loss = _run(loss_fn, pred, target)  # a hand-written loss: does it broadcast them?
    if not broadcast:
        return loss
    if both == pred.shape and pred.numel() != target.numel() and stretches is None:  # may be on purpose: warned
        warnings.warn(str(_spread(pred, target, both, model, warn=True)), UserWarning, stacklevel=2)
        return loss
    raise _spread(pred, target, both, model)


def _lengths(pred: torch.Tensor, target: torch.Tensor, text: str = "") -> ValueError:  # text: torch's, if it failed
    fix = "Check that features and targets have the same length, e.g. TensorDataset(x, y) with len(x) == len(y)."
    if pred.ndim > 2 and pred.shape[1] == len(target):  # time-major, (T, N, ...): an RNN's without batch_first=True
        fix = "Its dimension 1 holds them: build the RNN with batch_first=True, or score out[-1] in a loss of your own."
    return ValueError(
        f"the model gave {len(pred)} predictions but {len(target)} target(s) came with them (shapes {tuple(pred.shape)} "
        f"and {tuple(target.shape)}){f' (torch said: {text})' if text else ''}: each sample needs its own target. {fix}"
    )


def _spread(
    pred: torch.Tensor, target: torch.Tensor, both: torch.Size | None, model: nn.Module | None, warn: bool = False
) -> ValueError:
    """The error (or ``warn``: the warning's text) for shapes that differ, broadcast to ``both`` (None: they do not)."""
    p, t = tuple(pred.shape), tuple(target.shape)
    start, fix = f"the predictions have shape {p} but the target", _last_layer(model, pred, target)
    if both is None:  # a loss comparing element by element cannot pair them at all
        fix = _reshape(pred, target) if pred.numel() == target.numel() else fix
        return ValueError(
            f"{start}s {t}: this loss compares each prediction with the target in the same place, so they need the "
            f"same shape. {fix[0].upper()}{fix[1:]}."
        )
    if both.numel() == pred.numel() == target.numel():  # broadcasting enlarges neither
        return ValueError(
            f"{start} {t}: one value each, but of different shapes, which the loss would broadcast (torch only "
            f"warns): {_reshape(pred, target)}."
        )
    if warn:
        return ValueError(
            f"{start}s {t}: a loss comparing them element by element would stretch each target over "
            f"{pred.numel() // target.numel()} predictions and be silently wrong. If your loss uses the extra columns "
            f"on purpose (quantiles, a mean and a variance), all is well; otherwise {fix[0].lower()}{fix[1:]}."
        )
    if both in (pred.shape, target.shape):
        one, several = ("target", "predictions") if both == pred.shape else ("prediction", "targets")
        return ValueError(
            f"{start}s {t}: the loss would stretch the {one}s to {tuple(both)}, comparing one {one} with several "
            f"{several}, silently giving a wrong loss. {fix}"
            + (", or give the targets the predictions' shape." if both == pred.shape else ".")
        )
    view = ", ".join(["-1", *map(str, p[1:])])
    return ValueError(
        f"{start}s {t}: the loss would broadcast them to {tuple(both)} and compare every prediction with every "
        f"target, silently giving a wrong loss. Give the targets the predictions' shape, y = y.view({view}), or make "
        "the model's output match the targets."
    )


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
    error: BaseException, pred: torch.Tensor, y: object, loss_fn: object = None, model: nn.Module | None = None
) -> BaseException:
    """The error to raise when ``loss_fn(pred, y)`` failed: a clearer one when we know the cause, else ``error``.
    Example:
        >>> print(explain_loss(RuntimeError("Target 7 is out of bounds."), torch.zeros(4, 3), torch.zeros(4).long()))
        a target holds class 7, but the model gives 3 scores per sample (classes 0 to 2): build the last layer ...
    """
    if not isinstance(y, torch.Tensor):
        return error
    text, binary = str(error), isinstance(loss_fn, (nn.BCELoss, nn.BCEWithLogitsLoss))
    if pred.ndim and y.ndim and len(pred) != len(y) and _SIZES.search(text):  # a loss of one's own, run on them
        return _lengths(pred, y, text)
    if not y.is_floating_point() and (binary or "Found dtype" in text or "can't be cast" in text):
        return TypeError(
            f"the targets y are {y.dtype}, but this loss needs floating-point targets like the predictions "
            f"({pred.dtype}): y = y.float()."
        )
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
    if "must match the size of tensor" in text and _broadcast(pred.shape, y.shape) is None:
        return _spread(pred, y, None, model)
    return _classes(pred, y, text) or error


def loss_of(pred: object, loss_fn: Callable, y: object, model: nn.Module | None = None) -> object:
    """``loss_fn(pred, y)``, checked: predictions and targets that pair up, and the loss's own errors explained (what it
    returns is :mod:`course.loss_result`'s concern). Example:
        >>> loss_of(torch.zeros(2, 1), nn.MSELoss(), torch.ones(2, 1))
        tensor(1.)
    """
    try:
        computed = check_pair(pred, y, loss_fn, model)  # a hand-written loss given other shapes may be run there, once
        return computed[0] if computed else loss_fn(pred, y)
    except (RuntimeError, IndexError) as exc:
        raise explain_loss(exc, pred, y, loss_fn, model) from None
    except (TypeError, AttributeError) as exc:  # torch's losses read y.size(): a list or a number has none
        if isinstance(y, torch.Tensor) or not isinstance(pred, torch.Tensor):
            raise
        raise TypeError(
            f"the targets y are a {type(y).__name__}, not a tensor, and the loss cannot take them "
            f"({type(exc).__name__}: {exc}). Convert them once, y = torch.as_tensor(y, dtype=torch.float32) (class "
            "indices: dtype=torch.long)."
        ) from None
