"""Checks for lesson 02 (gradient descent from scratch, in NumPy): gradients, learning rates, mini-batches.

Every check runs on the lesson's own training data (``course.data.make_linear_data()``) from the
lesson's own start (``np.random.seed(42)``, then ``np.random.randn(1)`` for a, then for b).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.values import as_number
from course.data import make_linear_data

START = tuple(float(v) for v in np.random.RandomState(42).randn(2))  # a = 0.49671415, b = -0.1382643
BUDGET_EPOCHS, BUDGET_TOLERANCE = 100, 1e-3


def _train() -> tuple[np.ndarray, np.ndarray]:
    split = make_linear_data()
    return split.x_train, split.y_train


def _gradients(a: float, b: float, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    error = a + b * x - y
    return 2 * np.mean(error), 2 * np.mean(error * x)


def descend(lr: float, epochs: int) -> tuple[float, float, list[float]]:
    """Batch gradient descent on the lesson's data from its start: final ``(a, b)`` and the loss per epoch.

    Example:
        >>> a, b, losses = descend(0.1, 1000)
        >>> f"{a:.8f} {b:.8f}", losses[-1] < losses[0]
        ('1.02354094 1.96896411', True)
    """
    (a, b), (x, y), losses = START, _train(), []
    with np.errstate(all="ignore"):
        for _ in range(epochs):
            losses.append(float(np.mean((a + b * x - y) ** 2)))
            if not math.isfinite(losses[-1]):
                break
            grad_a, grad_b = _gradients(a, b, x, y)
            a, b = a - lr * grad_a, b - lr * grad_b
    return a, b, losses


def _diverges(lr: float, epochs: int = 1000) -> bool:
    losses = descend(lr, epochs)[2]
    return not math.isfinite(losses[-1]) or losses[-1] > losses[0]


def _rate(answer: object) -> float | str:
    value = as_number(answer)
    if value is None or not math.isfinite(value):
        return "not a number"
    return value if value > 0 else "not positive"


def _largest_stable(answer: object, args: tuple) -> str:
    lr = _rate(answer)
    if isinstance(lr, str):
        return lr
    if _diverges(lr):
        return "diverges"
    return "largest to two decimals" if _diverges(lr + 0.01) else "a larger one converges too"


def _within_budget(answer: object, args: tuple) -> str:
    lr = _rate(answer)
    if isinstance(lr, str):
        return lr
    a, b, losses = descend(lr, BUDGET_EPOCHS)
    x, y = _train()
    best = np.linalg.lstsq(np.hstack([np.ones_like(x), x]), y.ravel(), rcond=None)[0]
    if max(abs(a - best[0]), abs(b - best[1])) < BUDGET_TOLERANCE:
        return "within budget"
    if _diverges(lr, BUDGET_EPOCHS):
        return "diverges"
    return "zigzags" if lr > 0.76 else "too slow"  # above 2 / (sum of the curvatures) the steep direction dominates


RATE_GUARDS = [
    Guard("not_a_number", lambda got: got == "not a number", lambda: "0.5", "a learning rate is one number, e.g. 0.1."),
    Guard("not_positive", lambda got: got == "not positive", lambda: -0.5),
]


def _versus(got: tuple, expected: tuple) -> str:
    found, right = ([as_number(v) for v in pair] for pair in (got, expected))
    return f"expected ({right[0]:.6f}, {right[1]:.6f}), got ({found[0]:.6f}, {found[1]:.6f})"


NOT_A_PAIR = Guard(
    "not_a_pair",
    lambda got: not isinstance(got, tuple | list) or len(got) != 2 or any(as_number(v) is None for v in got),
    example=lambda *args: 0.0,
)

largest_stable_rate = Exercise(
    name="largest_stable_rate",
    kind="value",
    reference=lambda: 0.80,
    observe=_largest_stable,
    guards=RATE_GUARDS,
    mistakes=[Mistake("diverges", lambda: 0.81), Mistake("too_small", lambda: 0.7)],
    success="0.80: with it the loss still shrinks over 1000 epochs; with 0.81 it grows. The limit lies in between.",
)

learning_rate_within_budget = Exercise(
    name="learning_rate_within_budget",
    kind="value",
    reference=lambda: 0.6,
    observe=_within_budget,
    guards=RATE_GUARDS,
    mistakes=[Mistake("diverges", lambda: 1.0), Mistake("zigzags", lambda: 0.79), Mistake("too_slow", lambda: 0.1)],
    success=f"within {BUDGET_TOLERANCE} of the least-squares answer after {BUDGET_EPOCHS} epochs.",
)


def _buggy_gradients(a: float, b: float, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    error = y - (a + b * x)
    return 2 * np.mean(error), 2 * np.sum(error * x)


def _scaled(scale_a: float | str, scale_b: float | str, a: float, b: float, x: np.ndarray, y: np.ndarray) -> tuple:
    """The right gradients times a factor each ("n": times the number of points, a sum instead of a mean)."""
    grads = _gradients(a, b, x, y)
    return tuple(g * (len(x) if s == "n" else s) for g, s in zip(grads, (scale_a, scale_b), strict=True))


gradients = Exercise(
    name="gradients",
    inputs=lambda: (*START, *_train()),
    reference=_gradients,
    guards=[NOT_A_PAIR],
    mistakes=[
        Mistake(
            "wrong_sign",
            _buggy_gradients,
            "both bugs are still there: the error is prediction minus target, "
            "a + b * x - y (not y - ...), and grad_b is a mean (np.mean), not a sum.",
        ),
        Mistake(
            "sum_not_mean",
            partial(_scaled, 1, "n"),
            "the signs are right now; grad_b is still a sum: the loss is a mean, so its gradients are means (np.mean).",
        ),
        Mistake(
            "wrong_sign",
            partial(_scaled, -1, -1),
            "np.mean is right now; the sign is still flipped: the error is prediction minus target, a + b * x - y.",
        ),
        Mistake("missing_factor_2", partial(_scaled, 0.5, 0.5)),
        Mistake("sum_not_mean", partial(_scaled, "n", "n")),
        Mistake("swapped", lambda a, b, x, y: _gradients(a, b, x, y)[::-1]),
        Mistake("missing_x", lambda a, b, x, y: (_gradients(a, b, x, y)[0],) * 2),
    ],
    alternatives=[lambda a, b, x, y: (2 * np.sum(a + b * x - y) / len(x), 2 * np.sum((a + b * x - y) * x) / len(x))],
    explain=lambda got, expected: (
        f"at (a, b) = ({START[0]:.4f}, {START[1]:.4f}) {_versus(got, expected)}. Start "
        "from error = a + b * x - y and apply the chain rule to mean(error²)."
    ),
    success="2 * mean(error) and 2 * mean(error * x), with error = a + b * x - y.",
)


def _epoch(a, b, x, y, lr, batch_size, rng, mistake: str = "") -> tuple[float, float]:
    """One epoch of mini-batch descent; ``mistake`` names a known mistake to make on purpose."""
    n = len(x)
    order = np.arange(n) if mistake in ("train_not_shuffled", "shuffled_apart") else rng.permutation(n)
    if mistake == "shuffled_apart":  # x and y shuffled each on its own: the pairs are lost
        x, y = x[rng.permutation(n)], y[rng.permutation(n)]
    starts = list(range(0, n - n % batch_size if mistake == "skipped_last_batch" else n, batch_size))
    scale = {"wrong_sign": -1, "missing_factor_2": 0.5, "sum_not_mean": "n"}.get(mistake, 1)
    for start in starts[:1] if mistake == "one_update_per_epoch" else starts:
        idx = order[start : start + batch_size]
        grads = _scaled(scale, scale, a, b, *((x, y) if mistake == "whole_data_gradient" else (x[idx], y[idx])))
        a, b = a - lr * grads[0], b - lr * grads[1]
    return a, b


MINIBATCH_MISTAKES = {  # id: message (None: the vocabulary's)
    "train_not_shuffled": "the points were visited in their stored order: shuffle them each epoch, "
    "order = rng.permutation(len(x)).",
    "shuffled_apart": None,
    "one_update_per_epoch": None,
    "skipped_last_batch": "the short last batch was skipped: range(0, len(x), batch_size) reaches it, and "
    "order[start:start + batch_size] simply holds fewer points.",
    "whole_data_gradient": None,
    "wrong_sign": None,
    "missing_factor_2": None,
    "sum_not_mean": None,
}


def _reorder_then_slice(a, b, x, y, lr, batch_size, rng) -> tuple[float, float]:
    """Right too: put the points in the shuffled order first, then walk through them in slices."""
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    for start in range(0, len(x), batch_size):
        grad_a, grad_b = _gradients(a, b, x[start : start + batch_size], y[start : start + batch_size])
        a, b = a - lr * grad_a, b - lr * grad_b
    return a, b


minibatch_epoch = Exercise(
    name="minibatch_epoch",
    inputs=lambda: (*START, *_train(), 0.1, 32, np.random.default_rng(1)),  # 80 points: batches of 32, 32, 16
    reference=_epoch,
    guards=[NOT_A_PAIR],
    mistakes=[Mistake(name, partial(_epoch, mistake=name), text) for name, text in MINIBATCH_MISTAKES.items()],
    alternatives=[_reorder_then_slice],
    explain=lambda got, expected: (
        f"after one epoch from ({START[0]:.4f}, {START[1]:.4f}) {_versus(got, expected)}. "
        "Shuffle with the rng you are given (order = rng.permutation(len(x)), not np.random), then make one update "
        "per slice order[start:start + batch_size], in that order."
    ),
    success="one update per batch of the shuffled order, the last, shorter batch included: 3 updates of 32, 32, 16.",
)
