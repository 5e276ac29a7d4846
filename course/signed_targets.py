"""Targets of the losses that take the class as a sign, -1 or +1: 0/1 labels they train on without a word.

``nn.SoftMarginLoss`` given a label 0 gives that sample a constant loss, log 2, and no gradient;
``nn.HingeEmbeddingLoss`` adds both of its terms for it, and its loss falls below 0. The mirror mistake, -1/+1
labels for binary cross-entropy, is :mod:`course.loss_values`'s concern.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.nn import functional

# Losses of a sign per target. MarginRankingLoss and CosineEmbeddingLoss take three tensors: loss_fn(pred, y) cannot
# call them, and a function around one cannot be told from another loss.
_SIGNED = (nn.SoftMarginLoss, nn.HingeEmbeddingLoss, nn.MarginRankingLoss, nn.CosineEmbeddingLoss)
_SIGNED_FUNCTIONS = (functional.soft_margin_loss, functional.hinge_embedding_loss, functional.margin_ranking_loss,
                     functional.cosine_embedding_loss)  # fmt: skip


def _signed(loss_fn: object) -> str | None:
    """The name of this loss if it takes -1/+1 targets (also behind ``functools.partial``), else None."""
    while isinstance(loss_fn, functools.partial):
        loss_fn = loss_fn.func
    if isinstance(loss_fn, _SIGNED):
        return type(loss_fn).__name__
    return next((f.__name__ for f in _SIGNED_FUNCTIONS if loss_fn is f), None)


def check_signs(target: object, loss_fn: object) -> None:
    """Refuse targets other than -1 and +1 for a loss that reads the class as a sign (a ``ValueError`` naming the fix).

    ``SoftMarginLoss`` and ``HingeEmbeddingLoss`` (modules, functions, ``functools.partial`` of them) take -1 or +1
    per target: given 0/1 labels they train without an error, but class 0 teaches nothing (SoftMarginLoss) or pushes
    the loss below 0 (HingeEmbeddingLoss). NaN is left to the checks of a loss that is not finite. Example:
        >>> check_signs(torch.tensor([0.0, 1.0]), nn.SoftMarginLoss())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: SoftMarginLoss expects targets -1 or +1 (the class as a sign), but they hold the values {0, 1}...
    """
    if not isinstance(target, torch.Tensor) or target.is_complex() or not target.numel():
        return
    if (name := _signed(loss_fn)) is None:
        return
    values = target.detach().unique()
    values = values[~values.isnan()] if values.is_floating_point() else values
    if not values.numel() or bool(((values == 1) | (values == -1)).all()):
        return
    low, high = (f"{v:g}" for v in (float(values.min()), float(values.max())))
    y = "y" if target.is_floating_point() else "y.float()"
    if values.numel() == 1:
        fix = f"they are all {low}: check how the labels were made"
    elif values.numel() == 2 and (low, high) == ("0", "1"):
        fix = f"they hold the values {{0, 1}}: map them to {{-1, +1}}, y = 2 * {y} - 1"
    elif values.numel() == 2:
        fix = f"they hold the values {{{low}, {high}}}: map them to {{-1, +1}}, y = torch.where(y == {high}, 1.0, -1.0)"
    else:
        fix = f"they range from {low} to {high}: it takes a class as a sign, not a value to fit (MSELoss fits values)"
    soft = "soft" in name.lower()
    other = " (or keep 0/1 targets and use nn.BCEWithLogitsLoss(), the same loss for them)" if soft else ""
    harm = (
        "gives its sample a constant loss, log 2, and no gradient"
        if soft
        else "adds both terms: the loss falls below 0"
    )
    raise ValueError(
        f"{name} expects targets -1 or +1 (the class as a sign), but {fix}{other}. Any other label trains without an "
        f"error, but wrongly: a label 0 {harm}."
    )
