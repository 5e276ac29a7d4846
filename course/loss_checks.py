"""The loss of a mini-batch, checked: predictions and targets that pair up, a scalar, and torch's errors explained.

A loss silently broadcasts predictions against targets of another shape, and stretches one target over several
predictions; both give a wrong number without an error, so :func:`check_pair` refuses them (for any loss: class
indices, the one case where shapes rightly differ, are integers), and scores of a single class. (Values a loss
misreads without an error are :mod:`course.loss_values`'s.) When the loss itself fails (class indices of the wrong
shape or dtype, probabilities out of range), :func:`explain_loss` says what the targets or predictions should be.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional

# Losses that compare each prediction with the target in the same place: a target shape that differs is a bug.
_ELEMENTWISE = (
    nn.MSELoss,
    nn.L1Loss,
    nn.SmoothL1Loss,
    nn.HuberLoss,
    nn.BCELoss,
    nn.BCEWithLogitsLoss,
    nn.KLDivLoss,
    nn.SoftMarginLoss,
    nn.PoissonNLLLoss,
)
_ELEMENTWISE_FUNCTIONS = {
    functional.mse_loss,
    functional.l1_loss,
    functional.smooth_l1_loss,
    functional.huber_loss,
    functional.binary_cross_entropy,
    functional.binary_cross_entropy_with_logits,
    functional.kl_div,
}
# Losses of class indices: their targets rightly have another shape than the scores, (N,) for (N, C).
_CLASS_INDICES = (nn.CrossEntropyLoss, nn.NLLLoss)
_CLASS_INDEX_FUNCTIONS = {functional.cross_entropy, functional.nll_loss}
_OUT_OF_BOUNDS = re.compile(r"Target (-?\d+) is out of bounds")


def _is(loss_fn: object, modules: tuple[type, ...], functions: set) -> bool:
    """Whether ``loss_fn`` is one of these losses, also behind ``functools.partial`` (a lambda cannot be told)."""
    while isinstance(loss_fn, functools.partial):
        loss_fn = loss_fn.func
    try:
        return isinstance(loss_fn, modules) or loss_fn in functions
    except TypeError:  # an unhashable callable
        return False


def check_scalar(loss: object) -> torch.Tensor:
    """``loss`` as a scalar if it holds one value (``backward()`` takes ``()`` or ``(1,)``); else a ``ValueError``.

    Example:
        >>> check_scalar(torch.ones(3))
        Traceback (most recent call last):
        ValueError: the loss must be a scalar tensor, got (3,). Use a loss with reduction='mean' or 'sum', ...
    """
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(
            f"the loss must be a scalar tensor, got {shape}. Use a loss with reduction='mean' or 'sum', "
            "or reduce it yourself with .mean()."
        )
    return loss.reshape(())  # a view: backward() still reaches the graph


def _stretches(pred: torch.Tensor, target: torch.Tensor, loss_fn: object) -> bool | None:
    """True if the loss would compare one target with several predictions (the shapes broadcast to pred's).

    None when it may or may not: a hand-written loss given a floating-point target of the predictions'
    rank (or a single number) stretches it if it compares element by element, ``((p - y) ** 2).mean()``,
    but not if it uses the extra columns on purpose (quantiles, a mean and a variance): the shapes and
    even the values are the same in both, so nothing can tell them apart.
    """
    if _is(loss_fn, _CLASS_INDICES, _CLASS_INDEX_FUNCTIONS):
        return target.ndim == 0 and target.is_floating_point()
    if _is(loss_fn, _ELEMENTWISE, _ELEMENTWISE_FUNCTIONS):
        return True
    return None if target.is_floating_point() and target.ndim in (0, pred.ndim) else False


def _last_layer(model: object) -> str:
    layers = [] if not isinstance(model, nn.Module) else [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:  # no model known, or none with a Linear layer
        return "Make the model's output match the targets (its last layer's out_features)"
    last = layers[-1]
    return (
        f"The model's last layer, Linear(in_features={last.in_features}, out_features={last.out_features}), gives "
        f"{last.out_features} value(s) per sample: build it with out_features = the number of target columns"
    )


def _reshape(pred: torch.Tensor, target: torch.Tensor) -> str:
    view = ", ".join(["-1", *map(str, pred.shape[1:])]) if pred.ndim > 1 else str(pred.numel())
    if target.ndim == 0 and pred.numel() == 1:
        return (
            f"give the target the prediction's shape, y = y.view({view}) (a loader with batch_size=None yields one "
            "sample at a time: build its data set with targets of shape (N, 1), TensorDataset(x, y.view(-1, 1)))"
        )
    return f"give the targets the predictions' shape, y = y.view({view})"


def check_pair(pred: object, target: object, loss_fn: object = None, model: nn.Module | None = None) -> None:
    """Raise a clear error unless the model's output is a tensor whose samples pair up with the targets.

    Predictions of shape (N, 1) against targets of shape (N,) broadcast to (N, N): every
    prediction is compared with every target, and the loss is silently wrong. So is a batch of
    N predictions with another number of targets, or one target stretched over several
    predictions ((N, 2) against (N, 1)), whatever the loss. Class indices, integer targets of
    ``nn.CrossEntropyLoss``-like losses, rightly have another shape than the scores (one column per
    class: a single column, whose loss is always 0, is refused). A loss comparing
    element by element (``nn.MSELoss()``, also behind ``functools.partial``) also refuses shapes that
    do not broadcast. The ``model``, if given, is named in the message. Limit: a hand-written loss
    (a function or lambda the course does not know) given more prediction columns than target
    columns only gets a ``UserWarning``, since it may use them on purpose (quantiles, a mean and a
    variance per sample) and nothing tells that apart from a loss that stretches the targets.

    Example:
        >>> check_pair(torch.zeros(4, 1), torch.zeros(4))
        Traceback (most recent call last):
        ValueError: the predictions have shape (4, 1) but the targets (4,): ... y = y.view(-1, 1), or make the model's ...
    """
    if not isinstance(pred, torch.Tensor):
        raise TypeError(
            f"the model returned a {type(pred).__name__}, not a tensor: forward() should return a tensor of "
            "predictions (if it computes several things, return only the predictions)."
        )
    _refuse_one_class(pred, target, loss_fn)
    if not isinstance(target, torch.Tensor) or pred.shape == target.shape:
        return
    p, t = tuple(pred.shape), tuple(target.shape)
    if pred.ndim and target.ndim and p[0] != t[0]:
        raise ValueError(
            f"the model gave {p[0]} predictions but {t[0]} target(s) came with them (shapes {p} and {t}): each "
            "sample needs its own target. Check that features and targets have the same length, e.g. TensorDataset(x, y) "
            "with len(x) == len(y)."
        )
    try:
        both = torch.broadcast_shapes(pred.shape, target.shape)
    except RuntimeError:
        if _is(loss_fn, _ELEMENTWISE, _ELEMENTWISE_FUNCTIONS):
            raise _mismatch(pred, target, model) from None
        return  # another loss may take such shapes (CrossEntropyLoss does), or says so itself
    if both != pred.shape:
        view = ", ".join(["-1", *map(str, p[1:])])
        raise ValueError(
            f"the predictions have shape {p} but the targets {t}: the loss would broadcast them to {tuple(both)} "
            "and compare every prediction with every target, silently giving a wrong loss. Give the targets the "
            f"predictions' shape, y = y.view({view}), or make the model's output match the targets."
        )
    stretches = _stretches(pred, target, loss_fn)
    if stretches is False:
        return
    if pred.numel() == target.numel():
        raise ValueError(
            f"the predictions have shape {p} but the target {t}: one value each, but of different shapes, which the "
            f"loss would broadcast (torch only warns): {_reshape(pred, target)}."
        )
    if stretches is None:  # a hand-written loss: only a warning, it may use the extra columns on purpose
        warnings.warn(
            f"the predictions have shape {p} but the targets {t}: a loss comparing them element by element would "
            f"stretch each target over {pred.numel() // target.numel()} predictions and be silently wrong. If your "
            "loss uses the extra columns on purpose (quantiles, a mean and a variance), all is well; otherwise "
            f"{_last_layer(model)[0].lower()}{_last_layer(model)[1:]}.",
            UserWarning,
            stacklevel=2,
        )
        return
    raise ValueError(
        f"the predictions have shape {p} but the targets {t}: the loss would stretch the targets to {p}, "
        "comparing one target with several predictions, silently giving a wrong loss. "
        f"{_last_layer(model)}, or give the targets the predictions' shape."
    )


def _mismatch(pred: torch.Tensor, target: torch.Tensor, model: nn.Module | None) -> ValueError:
    """The error for predictions and targets whose shapes cannot be compared element by element."""
    fix = _reshape(pred, target) if pred.numel() == target.numel() else f"{_last_layer(model)}"
    return ValueError(
        f"the predictions have shape {tuple(pred.shape)} but the targets {tuple(target.shape)}: this loss compares "
        f"each prediction with the target in the same place, so they need the same shape. {fix[0].upper()}{fix[1:]}."
    )


def _classes(pred: torch.Tensor, y: torch.Tensor, text: str) -> BaseException | None:
    """Errors of losses that take class indices (CrossEntropyLoss, NLLLoss)."""
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
    return None


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
        >>> pred, y = torch.zeros(4, 3), torch.zeros(4, 1, dtype=torch.long)
        >>> try:
        ...     nn.CrossEntropyLoss()(pred, y)
        ... except RuntimeError as error:
        ...     print(explain_loss(error, pred, y))
        this loss expects class indices of shape (4,), one integer class per sample, but the targets have shape (4, 1): ...
    """
    if not isinstance(y, torch.Tensor):
        return error
    text = str(error)
    binary = isinstance(loss_fn, (nn.BCELoss, nn.BCEWithLogitsLoss))
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
    if "must match the size of tensor" in text and _broadcasts(pred, y) is False:
        return _mismatch(pred, y, model)
    return _classes(pred, y, text) or error


def _broadcasts(pred: torch.Tensor, y: torch.Tensor) -> bool:
    try:
        torch.broadcast_shapes(pred.shape, y.shape)
    except RuntimeError:
        return False
    return True


def loss_of(pred: object, loss_fn: Callable, y: object, model: nn.Module | None = None) -> torch.Tensor:
    """``loss_fn(pred, y)``, checked: predictions and targets that pair up, a scalar, and the loss's own errors explained.

    ``model``, if given, is only named in the messages (its last layer's out_features).

    Example:
        >>> loss_of(torch.zeros(2, 1), nn.MSELoss(), torch.ones(2, 1))
        tensor(1.)
    """
    check_pair(pred, y, loss_fn, model)
    try:
        loss = loss_fn(pred, y)
    except (RuntimeError, IndexError) as exc:
        raise explain_loss(exc, pred, y, loss_fn, model) from None
    return check_scalar(loss)
