"""The loss of a mini-batch, checked: predictions and targets that pair up, a scalar, and torch's errors explained.

A loss silently broadcasts predictions against targets of another shape, and stretches one target
over several predictions; both give a wrong number without an error, so :func:`check_pair`
refuses them. When the loss function itself fails (class indices of the wrong shape or dtype,
probabilities out of range), :func:`explain_loss` says what the targets or predictions should be.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
from torch import nn

# Losses that compare each prediction with the target in the same place: a target shape that differs is a bug.
_ELEMENTWISE = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss, nn.BCEWithLogitsLoss)
_ELEMENTWISE_FUNCTIONS = {nn.functional.mse_loss, nn.functional.l1_loss, nn.functional.smooth_l1_loss}
_OUT_OF_BOUNDS = re.compile(r"Target (-?\d+) is out of bounds")


def check_scalar(loss: object) -> torch.Tensor:
    """Return ``loss`` if it is a scalar tensor (what ``backward()`` needs); else a ``ValueError`` naming the fix.

    Example:
        >>> check_scalar(torch.ones(3))
        Traceback (most recent call last):
        ValueError: the loss must be a scalar tensor, got (3,). Use a loss with reduction='mean' or 'sum', ...
    """
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(
            f"the loss must be a scalar tensor, got {shape}. Use a loss with reduction='mean' or 'sum', "
            "or reduce it yourself with .mean()."
        )
    return loss


def _stretches(target: torch.Tensor, loss_fn: object) -> bool:
    """True if the loss would compare one floating-point target with several predictions."""
    elementwise = isinstance(loss_fn, _ELEMENTWISE) or loss_fn in _ELEMENTWISE_FUNCTIONS
    return target.is_floating_point() and (target.ndim == 0 or elementwise)


def check_pair(pred: object, target: object, loss_fn: object = None) -> None:
    """Raise a clear error unless the model's output is a tensor whose samples pair up with the targets.

    Predictions of shape (N, 1) against targets of shape (N,) broadcast to (N, N): every
    prediction is compared with every target, and the loss is silently wrong. So is a batch of
    N predictions with another number of targets, or (for ``loss_fn`` comparing element by
    element, like ``nn.MSELoss()``) one target stretched over several predictions.

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
        return  # shapes that do not broadcast: the loss says so itself (or, like CrossEntropyLoss, expects them)
    view = ", ".join(["-1", *map(str, p[1:])])
    if both != pred.shape:
        raise ValueError(
            f"the predictions have shape {p} but the targets {t}: the loss would broadcast them to {tuple(both)} "
            "and compare every prediction with every target, silently giving a wrong loss. Give the targets the "
            f"predictions' shape, y = y.view({view}), or make the model's output match the targets."
        )
    if _stretches(target, loss_fn):
        raise ValueError(
            f"the predictions have shape {p} but the targets {t}: the loss would stretch the targets to {p}, "
            "comparing one target with several predictions, silently giving a wrong loss. Make the model's output "
            "match the targets (its last layer's out_features), or give the targets the predictions' shape."
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
    if (found := _OUT_OF_BOUNDS.search(text)) is not None:
        scores = pred.shape[1] if pred.ndim > 1 else pred.shape[0]
        return ValueError(
            f"a target holds class {found.group(1)}, but the model gives {scores} scores per sample (classes 0 to "
            f"{scores - 1}): build the last layer with out_features = the number of classes, and number the "
            "classes from 0."
        )
    return None


def explain_loss(error: BaseException, pred: torch.Tensor, y: object, loss_fn: object = None) -> BaseException:
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
    return _classes(pred, y, text) or error


def loss_of(pred: object, loss_fn: Callable, y: object) -> torch.Tensor:
    """``loss_fn(pred, y)``, checked: predictions and targets that pair up, a scalar, and the loss's own errors explained.

    Example:
        >>> loss_of(torch.zeros(2, 1), nn.MSELoss(), torch.ones(2, 1))
        tensor(1.)
    """
    check_pair(pred, y, loss_fn)
    try:
        loss = loss_fn(pred, y)
    except (RuntimeError, IndexError) as exc:
        raise explain_loss(exc, pred, y, loss_fn) from None
    return check_scalar(loss)
