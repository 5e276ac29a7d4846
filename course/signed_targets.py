"""Targets of the losses that take the class as a sign, -1 or +1: 0/1 labels they train on without a word.

Given a label 0, ``nn.SoftMarginLoss`` gives that sample a constant loss, log 2, and no gradient;
``nn.HingeEmbeddingLoss`` adds both of its terms, max(margin, x): a loss never below the margin, and no gradient
below it; ``nn.MarginRankingLoss`` and ``nn.CosineEmbeddingLoss`` (three tensors, called through
``functools.partial``) a constant loss and no gradient. The mirror mistake, -1/+1 labels for binary cross-entropy,
is :mod:`course.loss_values`'s concern.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.nn import functional

# Losses of a sign per target: (module, function, how many tensors come before the target, what a label 0 does).
# MarginRankingLoss and CosineEmbeddingLoss take (x1, x2, target): loss_fn(pred, y) calls one only through
# functools.partial, and y is its target only after one tensor given in the partial, partial(F.margin_ranking_loss,
# x1), not when the partial gives the target itself (target=...). A function around one cannot be told.
_SIGNED = (
    (nn.SoftMarginLoss, functional.soft_margin_loss, 1, "gives its sample a constant loss, log 2, and no gradient"),
    (nn.HingeEmbeddingLoss, functional.hinge_embedding_loss, 1,
     "adds both terms, max(margin, x): a loss never below the margin, and no gradient below it"),
    (nn.MarginRankingLoss, functional.margin_ranking_loss, 2,
     "gives its pair a constant loss, the margin, and no gradient"),
    (nn.CosineEmbeddingLoss, functional.cosine_embedding_loss, 2, "gives its pair the loss 0 and no gradient"),
)  # fmt: skip


def _signed(loss_fn: object) -> tuple[str, str, object] | None:
    """The name of this loss, what a label 0 does and the target a partial gives it (None: y is the target), if it
    takes -1/+1 targets and ``loss_fn(pred, y)`` reaches them (also behind ``functools.partial``), else None."""
    given, keywords = 0, {}  # the tensors and keywords the partials give, before pred and y
    while isinstance(loss_fn, functools.partial):
        given, keywords, loss_fn = given + len(loss_fn.args), {**loss_fn.keywords, **keywords}, loss_fn.func
    for module, function, before, harm in _SIGNED:
        if isinstance(loss_fn, module) or loss_fn is function:
            name = type(loss_fn).__name__ if isinstance(loss_fn, module) else function.__name__
            if "target" in keywords:  # partial(F.margin_ranking_loss, target=t): pred and y are the two inputs
                return (name, harm, keywords["target"]) if given + 1 == before - 1 else None
            return (name, harm, None) if given + 1 == before else None
    return None


def check_signs(target: object, loss_fn: object) -> None:
    """Refuse targets other than -1 and +1 for a loss that reads the class as a sign (a ``ValueError`` naming the fix).

    ``SoftMarginLoss`` and ``HingeEmbeddingLoss`` (modules, functions, ``functools.partial`` of them; the three-tensor
    ``MarginRankingLoss`` and ``CosineEmbeddingLoss`` when ``target`` is the loader's y or the partial's own) take -1 or
    +1 per target: given 0/1 labels they train without an error, but class 0 teaches nothing (a constant loss, no
    gradient) or, for HingeEmbeddingLoss, only to stay below the margin. NaN is left to the checks of a loss that is
    not finite. Example:
        >>> check_signs(torch.tensor([0.0, 1.0]), nn.SoftMarginLoss())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: SoftMarginLoss expects targets -1 or +1 (the class as a sign), but they hold the values {0, 1}...
    """
    if (signed := _signed(loss_fn)) is None:
        return
    name, harm, given = signed
    y = "y" if given is None else "target"  # the partial's own target=..., the same for every batch
    target = target if given is None else given
    if not isinstance(target, torch.Tensor) or target.is_complex() or not target.numel():
        return
    values = target.detach().unique()
    values = values[~values.isnan()] if values.is_floating_point() else values
    if not values.numel() or bool(((values == 1) | (values == -1)).all()):
        return
    low, high = (f"{v:g}" for v in (float(values.min()), float(values.max())))
    they = "they" if given is None else "the targets your functools.partial gives (target=..., for every batch)"
    as_float = y if target.is_floating_point() else f"{y}.float()"
    if values.numel() == 1:
        fix = f"{they} are all {low}: check how the labels were made"
    elif values.numel() == 2 and (low, high) == ("0", "1"):
        fix = f"{they} hold the values {{0, 1}}: map them to {{-1, +1}}, {y} = 2 * {as_float} - 1"
    elif values.numel() == 2:
        fix = f"{they} hold the values {{{low}, {high}}}: map them to {{-1, +1}}, {y} = torch.where({y} == {high}, 1.0, -1.0)"
    else:
        fix = f"{they} range from {low} to {high}: it takes a class as a sign, not a value to fit (MSELoss fits values)"
    soft = name in ("SoftMarginLoss", "soft_margin_loss")
    other = " (or keep 0/1 targets and use nn.BCEWithLogitsLoss(), the same loss for them)" if soft else ""
    raise ValueError(
        f"{name} expects targets -1 or +1 (the class as a sign), but {fix}{other}. Any other label trains without an "
        f"error, but wrongly: a label 0 {harm}."
    )
