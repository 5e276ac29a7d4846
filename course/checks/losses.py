"""Checks for lesson 06, losses: MSE with the right shapes, BCE by hand, logits and class scores.

Every check takes the learner's function, calls it on small fixed inputs (made with a private
generator, so the notebook's random stream is untouched), and compares with the library's value.
When the answer is wrong, it recomputes the known wrong answers (a broadcast ``(N, N)`` loss,
a sum instead of a mean, a flipped sign, a sigmoid or softmax too many) to say which one it is.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from course.checks.verdict import Mistake, Verdict, as_number, call_learner, judge, wrong

__all__ = ["bce_by_hand", "binary_loss_from_logits", "class_loss", "regression_loss"]

_TOL = 1e-5


def _inputs(seed: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def _close(a: float | None, b: float) -> bool:
    return a is not None and math.isfinite(a) and abs(a - b) <= _TOL * max(1.0, abs(b))


def _run(fn: object, *args: torch.Tensor) -> tuple[Any, Verdict | None]:
    """Call the learner's loss on copies of the inputs, keeping any broadcast warning out of the notebook."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call_learner(fn, *(a.clone() for a in args))


def _judge_number(
    result: object, expected: float, success: str, mistakes: list[tuple[str, float, str]], what: str
) -> Verdict:
    """Compare a loss value with the expected one, then with each known wrong value."""
    if isinstance(result, torch.Tensor) and result.numel() > 1:
        return wrong(
            "not_scalar",
            f"your function returned a tensor of shape {tuple(result.shape)}, one loss per element. "
            f"A loss is one number: average the elements (.mean(), or reduction='mean').",
        )
    value = as_number(result)
    if value is None:
        return wrong(
            "not_a_number", f"expected a scalar tensor (the {what}), got {type(result).__name__}. Return the loss."
        )
    rules = [Mistake(mid, (lambda v, w=bad: _close(v, w)), msg) for mid, bad, msg in mistakes]
    return judge(
        value,
        lambda v: _close(v, expected),
        success,
        rules,
        otherwise=f"expected {expected:.4f}, got {value:.4f}. Compare your formula with the lesson's, term by term.",
    )


def regression_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    """Check ``fn(predictions, targets)``: the mean squared error of ``(N, 1)`` predictions against ``(N,)`` targets.

    Example:
        >>> regression_loss(lambda p, y: F.mse_loss(p.squeeze(1), y)).passed
        True
        >>> regression_loss(lambda p, y: F.mse_loss(p, y)).mistake
        'shape_mismatch'
    """
    generator = _inputs(6)
    predictions = torch.randn(8, 1, generator=generator)
    targets = torch.randn(8, generator=generator)
    result, problem = _run(fn, predictions, targets)
    if problem:
        return problem
    column = predictions.squeeze(1)
    expected = F.mse_loss(column, targets).item()
    broadcast = ((predictions - targets) ** 2).mean().item()  # (8, 1) - (8,) -> (8, 8)
    return _judge_number(
        result,
        expected,
        f"the shapes agree, so each prediction meets its own target: MSE = {expected:.4f}.",
        [
            (
                "shape_mismatch",
                broadcast,
                f"you got {broadcast:.4f}, the mean over an (8, 8) grid: predictions (8, 1) and targets (8,) "
                "broadcast against each other, so every prediction was compared with every target. Make the "
                "shapes equal first: predictions.squeeze(1) (or targets.unsqueeze(1)).",
            ),
            (
                "sum_not_mean",
                F.mse_loss(column, targets, reduction="sum").item(),
                "that is the SUM of the squared errors. The mean squared error divides by the number of "
                "elements: use reduction='mean' (the default) or .mean().",
            ),
            (
                "not_squared",
                (column - targets).abs().mean().item(),
                "that is the mean ABSOLUTE error. Square the differences: ((p - y) ** 2).mean().",
            ),
            (
                "root_of_mse",
                math.sqrt(expected),
                "that is the square root of the MSE (RMSE). The loss is the mean of the squares, no root.",
            ),
        ],
        "mean squared error",
    )


def bce_by_hand(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    """Check ``fn(probabilities, targets)``: binary cross-entropy written by hand, averaged over the batch.

    Example:
        >>> bce_by_hand(lambda p, y: -(y * p.log() + (1 - y) * (1 - p).log()).mean()).passed
        True
        >>> bce_by_hand(lambda p, y: (y * p.log() + (1 - y) * (1 - p).log()).mean()).mistake
        'wrong_sign'
    """
    generator = _inputs(7)
    probabilities = torch.rand(8, generator=generator) * 0.9 + 0.05
    targets = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    result, problem = _run(fn, probabilities, targets)
    if problem:
        return problem
    p, y = probabilities, targets
    expected = F.binary_cross_entropy(p, y).item()
    per_item = -(y * p.log() + (1 - y) * (1 - p).log())
    return _judge_number(
        result,
        expected,
        f"your binary cross-entropy matches nn.BCELoss: {expected:.4f}.",
        [
            (
                "wrong_sign",
                -expected,
                f"you got {-expected:.4f}: the right size with the wrong sign. log(p) is negative for p < 1, "
                "so the formula starts with a minus: -(y log p + (1 - y) log(1 - p)). A loss to minimise "
                "is never negative here.",
            ),
            (
                "sum_not_mean",
                per_item.sum().item(),
                "that is the SUM over the batch. nn.BCELoss averages: finish with .mean().",
            ),
            (
                "swapped_terms",
                -(y * (1 - p).log() + (1 - y) * p.log()).mean().item(),
                "the two terms are swapped: y goes with log(p) (the probability of class 1), "
                "and (1 - y) with log(1 - p).",
            ),
            (
                "missing_negative_term",
                -(y * p.log()).mean().item(),
                "only the positive examples count in your loss. Add the (1 - y) * log(1 - p) term "
                "for the examples whose target is 0.",
            ),
        ],
        "binary cross-entropy",
    )


def binary_loss_from_logits(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    """Check ``fn(logits, targets)``: binary cross-entropy from raw scores with ``nn.BCEWithLogitsLoss``.

    Example:
        >>> binary_loss_from_logits(lambda z, y: F.binary_cross_entropy_with_logits(z, y)).passed
        True
        >>> binary_loss_from_logits(lambda z, y: F.binary_cross_entropy_with_logits(z.sigmoid(), y)).mistake
        'probabilities_not_logits'
    """
    generator = _inputs(8)
    logits = torch.randn(8, generator=generator) * 2
    logits[0] = 30.0  # a confident wrong answer: sigmoid(30) is exactly 1.0 in float32
    targets = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    result, problem = _run(fn, logits, targets)
    if problem:
        if problem.mistake == "raised" and "between 0 and 1" in problem.message:
            return wrong(
                "bce_on_logits",
                "nn.BCELoss expects probabilities in [0, 1] and refused the raw scores. Use "
                "nn.BCEWithLogitsLoss, which takes the logits themselves.",
            )
        return problem
    expected = F.binary_cross_entropy_with_logits(logits, targets).item()
    probabilities = logits.sigmoid()
    return _judge_number(
        result,
        expected,
        f"raw scores go straight into BCEWithLogitsLoss: {expected:.4f}, even with the logit 30.0 in the batch.",
        [
            (
                "probabilities_not_logits",
                F.binary_cross_entropy_with_logits(probabilities, targets).item(),
                "you applied a sigmoid before nn.BCEWithLogitsLoss, which applies its own: the loss saw "
                "sigmoid(sigmoid(z)). Pass the raw logits, with no sigmoid.",
            ),
            (
                "bce_after_sigmoid",
                F.binary_cross_entropy(probabilities, targets).item(),
                "you used sigmoid + nn.BCELoss. sigmoid(30.0) rounds to exactly 1.0 in float32, log(1 - 1) "
                "is clamped to -100, and that example's loss is 100 instead of 30. Use nn.BCEWithLogitsLoss "
                "on the raw logits.",
            ),
            (
                "sum_not_mean",
                F.binary_cross_entropy_with_logits(logits, targets, reduction="sum").item(),
                "that is the SUM over the batch. Keep the default reduction='mean'.",
            ),
        ],
        "binary cross-entropy",
    )


def class_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Verdict:
    """Check ``fn(logits, labels)``: cross-entropy of ``(N, C)`` raw scores against ``(N,)`` class indices.

    Example:
        >>> class_loss(lambda z, y: F.cross_entropy(z, y)).passed
        True
        >>> class_loss(lambda z, y: F.cross_entropy(z.softmax(dim=1), y)).mistake
        'softmax_before_cross_entropy'
    """
    generator = _inputs(9)
    logits = torch.randn(6, 4, generator=generator) * 2
    labels = torch.tensor([0, 3, 1, 2, 2, 0])
    result, problem = _run(fn, logits, labels)
    if problem:
        return problem
    expected = F.cross_entropy(logits, labels).item()
    return _judge_number(
        result,
        expected,
        f"raw scores and class indices into CrossEntropyLoss: {expected:.4f}.",
        [
            (
                "softmax_before_cross_entropy",
                F.cross_entropy(logits.softmax(dim=1), labels).item(),
                "you applied softmax before nn.CrossEntropyLoss, which applies log-softmax itself: the "
                "loss saw softmax twice, gets squashed towards log(C) and its gradients shrink. Pass the "
                "raw scores.",
            ),
            (
                "nll_without_log_softmax",
                F.nll_loss(logits, labels).item(),
                "nn.NLLLoss expects log-probabilities, and you gave it raw scores. Use nn.CrossEntropyLoss "
                "on the raw scores (it is log_softmax followed by NLLLoss).",
            ),
            (
                "sum_not_mean",
                F.cross_entropy(logits, labels, reduction="sum").item(),
                "that is the SUM over the batch. Keep the default reduction='mean'.",
            ),
        ],
        "cross-entropy",
    )
