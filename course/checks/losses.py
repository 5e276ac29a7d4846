"""Checks for lesson 06 (losses): MSE with the right shapes, binary cross-entropy by hand, the safe versions.

Every exercise asks for a loss *tensor* that ``backward()`` can use, so the probe inputs require grad
and a Python number (``.item()``) is refused. Each probe is two batches: one with ordinary values and
one with extreme ones (logits of 30, 100, 1000, a logit of exactly 0), so that each unsafe formula
breaks on its own batch and is named.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from course.checks.engine import Exercise, Guard, Mistake

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_SIGN = (
    "the sign is wrong: log p is negative for p < 1, so the formula starts with a minus; this loss is never negative."
)


def _on_batches(answer: object, args: tuple) -> list:
    """The learner's loss on each (input, target) pair of the probe; a one-element tensor becomes 0-d, nan becomes inf."""
    results = []
    with warnings.catch_warnings():  # the broadcast warning belongs to a mistake the verdict names
        warnings.simplefilter("ignore")
        for inputs, targets in zip(args[::2], args[1::2], strict=True):
            result = answer(inputs, targets)  # type: ignore[operator]
            if isinstance(result, torch.Tensor) and result.numel() == 1 and result.is_floating_point():
                result = result.reshape(())
                result = torch.where(result.isnan(), torch.inf, result)  # nan or inf: both broke
            results.append(result)
    return results


def _explain(got: list, expected: list) -> str:
    yours, right = (", ".join(f"{value.item():.4f}" for value in values) for values in (got, expected))
    return f"on the check's two batches the losses should be {right}; yours are {yours}. Compare your formula with the lesson's."


def _exercise(name: str, probe: Callable[[], tuple], reference: Loss, success: str, **declared: Any) -> Exercise:
    """A loss exercise: the learner's function must return one backpropagatable number per probe batch."""
    cut_off = lambda got: not all(isinstance(r, torch.Tensor) and r.requires_grad for r in got)  # noqa: E731
    guards = [
        Guard("not_backpropagatable", cut_off, example=lambda *args: reference(*args).item()),
        Guard(
            "wrong_shape",
            lambda got: not all(r.numel() == 1 for r in got),
            example=lambda inputs, targets: reference(inputs, targets) * torch.ones(2),
            message="a loss is one number, but your function returned one value per element: average them.",
        ),
    ]
    return Exercise(name, reference, success, inputs=probe, observe=_on_batches, guards=guards,
                    explain=_explain, **declared)  # fmt: skip


def _batches(first: tuple, second: tuple, targets: torch.dtype = torch.float32) -> Callable[[], tuple]:
    """A probe of two (inputs, targets) batches; inputs (a list, or a factory) require grad."""

    def make(values: object) -> torch.Tensor:
        return (values() if callable(values) else torch.tensor(values)).requires_grad_()

    return lambda: (
        make(first[0]),
        torch.tensor(first[1], dtype=targets),
        make(second[0]),
        torch.tensor(second[1], dtype=targets),
    )


def _seeded(seed: int, *shape: int, scale: float = 1.0, low: float = 0.0) -> Callable[[], torch.Tensor]:
    return lambda: torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * scale + low


# --- exercise 1: MSE of (N, 1) predictions against (N,) targets ---------------------------------------------
regression_loss = _exercise(
    "regression_loss",
    _batches(
        (_seeded(6, 8, 1, scale=4, low=-2), [0.5, -1.0, 2.0, 0.0, 1.5, -0.5, 3.0, 1.0]),
        (_seeded(16, 5, 1, scale=4, low=-2), [1.0, 1.0, -2.0, 0.5, 0.25]),
    ),
    reference=lambda p, y: F.mse_loss(p.squeeze(1), y),
    mistakes=[
        Mistake("shape_mismatch", lambda p, y: F.mse_loss(p, y)),
        Mistake("sum_not_mean", lambda p, y: F.mse_loss(p.squeeze(1), y, reduction="sum")),
        Mistake("not_squared", lambda p, y: (p.squeeze(1) - y).abs().mean()),
        Mistake("root_of_mse", lambda p, y: F.mse_loss(p.squeeze(1), y).sqrt()),
    ],
    alternatives=[lambda p, y: torch.nn.MSELoss()(p, y.unsqueeze(1)), lambda p, y: ((p.view(-1) - y) ** 2).mean()],
    success="the shapes agree, so each prediction meets its own target.",
)


# --- exercise 2: binary cross-entropy from probabilities, by hand ---------------------------------------------
def _terms(p: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return y * p.log(), (1 - y) * (1 - p).log()


bce_by_hand = _exercise(
    "bce_by_hand",
    _batches(
        (_seeded(7, 6, scale=0.9, low=0.05), [1.0, 0.0, 1.0, 1.0, 0.0, 0.0]),
        ([0.5, 0.02, 0.99, 0.3], [0.0, 1.0, 1.0, 0.0]),
    ),
    reference=lambda p, y: F.binary_cross_entropy(p, y),
    mistakes=[
        Mistake("wrong_sign", lambda p, y: sum(_terms(p, y)).mean(), _SIGN),
        Mistake("sum_not_mean", lambda p, y: F.binary_cross_entropy(p, y, reduction="sum")),
        Mistake("swapped_terms", lambda p, y: -(y * (1 - p).log() + (1 - y) * p.log()).mean()),
        Mistake("missing_negative_term", lambda p, y: -_terms(p, y)[0].mean()),
    ],
    alternatives=[lambda p, y: -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()],
    success="your binary cross-entropy matches nn.BCELoss on both batches.",
)

# --- exercise 3: binary cross-entropy from logits, the safe way --------------------------------------------------
binary_loss_from_logits = _exercise(
    "binary_loss_from_logits",
    _batches(
        ([30.0, -2.5, 0.0, 1.5, -0.7], [0.0, 1.0, 1.0, 0.0, 0.0]), ([-100.0, 100.0, 0.7, -30.0], [0.0, 1.0, 0.0, 1.0])
    ),
    reference=lambda z, y: F.binary_cross_entropy_with_logits(z, y),
    mistakes=[
        Mistake("sigmoid_then_bce", lambda z, y: F.binary_cross_entropy(z.sigmoid(), y)),
        Mistake("log_of_sigmoid", lambda z, y: -(y * z.sigmoid().log() + (1 - y) * (1 - z.sigmoid()).log()).mean()),
        Mistake("exp_overflow", lambda z, y: ((1 - y) * z + torch.log(1 + torch.exp(-z))).mean()),
        Mistake("missing_abs", lambda z, y: (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z))).mean()),
        Mistake(
            "sigmoid_before_logits_loss",
            lambda z, y: F.binary_cross_entropy_with_logits(z.sigmoid(), y),
            "you applied a sigmoid before BCEWithLogitsLoss, which applies its own: the loss saw sigmoid(sigmoid(z)). "
            "Pass the raw logits.",
        ),
        Mistake("wrong_sign", lambda z, y: -F.binary_cross_entropy_with_logits(z, y), _SIGN),
        Mistake("sum_not_mean", lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="sum")),
    ],
    alternatives=[
        lambda z, y: (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean(),
        lambda z, y: torch.nn.BCEWithLogitsLoss()(z, y),
    ],
    success="max(z, 0) - z y + log(1 + exp(-|z|)): right even for logits of 100, where a sigmoid rounds to 1.",
)


# --- exercise 4: cross-entropy from logits and class indices, by hand and safely -----------------------------------
def _picked(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return z[torch.arange(len(y)), y]


class_loss = _exercise(
    "class_loss",
    _batches(
        (_seeded(9, 5, 4, scale=6, low=-3), [0, 3, 1, 2, 2]),
        ([[1000.0, 0.0, -5.0, 2.0], [0.5, 0.5, 0.5, 0.5], [-3.0, 4.0, 0.0, 1.0]], [1, 2, 0]),
        targets=torch.int64,
    ),
    reference=lambda z, y: F.cross_entropy(z, y),
    mistakes=[
        Mistake("unstable_softmax", lambda z, y: -_picked(z.exp() / z.exp().sum(1, keepdim=True), y).log().mean()),
        Mistake("softmax_before_cross_entropy", lambda z, y: F.cross_entropy(z.softmax(dim=1), y)),
        Mistake("missing_logsumexp", lambda z, y: -_picked(z, y).mean()),
        Mistake("all_classes", lambda z, y: (torch.logsumexp(z, dim=1, keepdim=True) - z).mean()),
        Mistake("wrong_sign", lambda z, y: -F.cross_entropy(z, y), _SIGN),
        Mistake("sum_not_mean", lambda z, y: F.cross_entropy(z, y, reduction="sum")),
    ],
    alternatives=[
        lambda z, y: -F.log_softmax(z, dim=1)[torch.arange(len(y)), y].mean(),
        lambda z, y: (torch.logsumexp(z, dim=1) - z.gather(1, y.unsqueeze(1)).squeeze(1)).mean(),
    ],
    success="log-sum-exp minus the right class's score, averaged: nn.CrossEntropyLoss's number, even with a logit of 1000.",
)
