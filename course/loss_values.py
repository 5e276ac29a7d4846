"""Values a loss takes without an error but silently misreads: labels outside [0, 1], raw scores for NLLLoss.

``nn.BCEWithLogitsLoss`` trains on labels {1, 2} or {-1, 1} without a word, and ``nn.NLLLoss`` on
raw scores drives its loss towards minus infinity. Shapes are :mod:`course.loss_checks`'s concern;
these checks read the values (a device sync), so the trainer runs them once per pass, on its first batch.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


def _is(loss_fn: object, modules: tuple[type, ...], functions: set) -> bool:
    try:
        return isinstance(loss_fn, modules) or loss_fn in functions
    except TypeError:  # an unhashable callable
        return False


def _name(loss_fn: object) -> str:
    return type(loss_fn).__name__ if isinstance(loss_fn, nn.Module) else getattr(loss_fn, "__name__", "this loss")


def _out_of_range(target: torch.Tensor, loss_fn: object, what: str) -> ValueError:
    values = target.detach().unique()
    low, high = (f"{v:g}" for v in (values.min().item(), values.max().item()))
    if values.numel() == 1:
        fix = f"they are all {low}: check how the labels were made"
    elif values.numel() == 2:
        fix = f"they hold the values {{{low}, {high}}}: map {{{low}, {high}}} to {{0, 1}}, y = (y == {high}).float()"
    else:
        fix = f"they range from {low} to {high}: scale them into [0, 1], e.g. y = (y - {low}) / ({high} - {low})"
    return ValueError(f"{_name(loss_fn)} expects targets between 0 and 1 ({what}), but {fix}.")


def check_values(pred: object, target: object, loss_fn: object) -> None:
    """Refuse values a loss takes without an error but silently misreads (a ``ValueError`` naming the fix).

    Binary cross-entropy needs targets in [0, 1] (``BCEWithLogitsLoss`` trains on labels {1, 2}
    without a word), class probabilities too, and ``NLLLoss`` needs log-probabilities (at most 0:
    on raw scores the loss falls without end).

    Example:
        >>> check_values(torch.zeros(2, 1), torch.tensor([[1.0], [2.0]]), nn.BCEWithLogitsLoss())
        Traceback (most recent call last):
        ValueError: BCEWithLogitsLoss expects targets between 0 and 1 (class labels 0 or 1, or probabilities), but they hold the values {1, 2}: map {1, 2} to {0, 1}, y = (y == 2).float().
    """
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor) or not target.is_floating_point():
        if _is(loss_fn, (nn.NLLLoss,), {functional.nll_loss}) and isinstance(pred, torch.Tensor):
            _check_log_probabilities(pred)
        return
    binary = _is(loss_fn, (nn.BCEWithLogitsLoss, nn.BCELoss), {functional.binary_cross_entropy_with_logits})
    soft = _is(loss_fn, (nn.CrossEntropyLoss,), {functional.cross_entropy}) and target.shape == pred.shape
    if (binary or soft) and bool(((target < 0) | (target > 1)).any()):
        raise _out_of_range(
            target, loss_fn, "class labels 0 or 1, or probabilities" if binary else "class probabilities"
        )


def _check_log_probabilities(pred: torch.Tensor) -> None:
    if pred.is_floating_point() and bool((pred.detach() > 1e-6).any()):
        raise ValueError(
            f"NLLLoss expects log-probabilities (at most 0), but the model's outputs reach {pred.max().item():.3g}: "
            "add nn.LogSoftmax(dim=1) as its last layer, or use CrossEntropyLoss on the raw scores."
        )
