"""Checks for lesson 02, gradient descent from scratch in NumPy.

Use in a notebook::

    from course.checks import gradient_descent_numpy as check
    check.learning_rate_that_diverges(lr_too_large)

Every check runs on the lesson's own training data (``course.data.make_linear_data()``)
and returns a :class:`~course.checks.verdict.Verdict`; none of them raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from course.checks.verdict import Verdict, as_number, call_learner, correct, is_placeholder, not_attempted, wrong
from course.data import make_linear_data

START = (0.5, -0.5)  # where the checks start descent: away from the minimum, same for every learner
BUDGET_EPOCHS = 100  # the epoch budget of `learning_rate_within_budget`
BUDGET_TOLERANCE = 1e-3  # how close to the least-squares answer that exercise must get


def _train_data() -> tuple[np.ndarray, np.ndarray]:
    split = make_linear_data()
    return split.x_train, split.y_train


def mse(a: float, b: float, x: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of the line ``a + b x`` on ``(x, y)``.

    Example:
        >>> mse(0.0, 1.0, np.array([[1.0], [2.0]]), np.array([[1.0], [3.0]]))
        0.5
    """
    return float(np.mean((a + b * x - y) ** 2))


def true_gradients(a: float, b: float, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The gradients of the MSE with respect to ``a`` and ``b`` (the lesson's formulas).

    Example:
        >>> true_gradients(0.0, 1.0, np.array([[1.0], [2.0]]), np.array([[1.0], [3.0]]))
        (-1.0, -2.0)
    """
    error = a + b * x - y
    return float(2 * np.mean(error)), float(2 * np.mean(error * x))


def least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The exact minimum ``(a, b)`` of the MSE, from the normal equations.

    Example:
        >>> least_squares(np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [3.0], [5.0]]))
        (1.0, 2.0)
    """
    design = np.hstack([np.ones_like(x), x])
    (a, b), *_ = np.linalg.lstsq(design, y.reshape(-1), rcond=None)
    return round(float(a), 12), round(float(b), 12)


def descend(lr: float, epochs: int, start: tuple[float, float] = START) -> tuple[float, float, list[float]]:
    """Batch gradient descent on the lesson's training data: final ``(a, b)`` and the loss per epoch.

    Stops early (and never warns) once the numbers overflow.

    Example:
        >>> a, b, losses = descend(0.1, 1000)
        >>> round(a, 3), round(b, 3), losses[-1] < losses[0]
        (1.024, 1.969, True)
    """
    x, y = _train_data()
    a, b = start
    losses = []
    with np.errstate(all="ignore"):
        for _ in range(epochs):
            losses.append(mse(a, b, x, y))
            if not math.isfinite(losses[-1]):
                break
            grad_a, grad_b = true_gradients(a, b, x, y)
            a, b = a - lr * grad_a, b - lr * grad_b
    return a, b, losses


def stable_limit() -> float:
    """The largest learning rate for which batch descent on the lesson's data does not diverge.

    It is ``2 / λ_max``, where ``λ_max`` is the largest eigenvalue of the MSE's (constant) Hessian.

    Example:
        >>> round(stable_limit(), 3)
        0.806
    """
    x, _ = _train_data()
    mean_x, mean_x2 = float(np.mean(x)), float(np.mean(x**2))
    hessian = 2 * np.array([[1.0, mean_x], [mean_x, mean_x2]])
    return float(2 / np.linalg.eigvalsh(hessian).max())


def _fastest_stable_rate() -> float:
    """Above ``2 / (λ_min + λ_max)`` the steep direction (zig-zag) dominates the error, not the flat one."""
    x, _ = _train_data()
    mean_x, mean_x2 = float(np.mean(x)), float(np.mean(x**2))
    eigenvalues = np.linalg.eigvalsh(2 * np.array([[1.0, mean_x], [mean_x, mean_x2]]))
    return float(2 / eigenvalues.sum())


def _finite(answer: object) -> float | None:
    """A finite real number from the answer, or None when it is not one."""
    value = as_number(answer)
    return value if value is not None and math.isfinite(value) else None


def _as_pair(result: object) -> tuple[float, float] | None:
    """Two finite floats from a learner's ``(first, second)`` result, or None."""
    if not isinstance(result, Sequence | np.ndarray) or isinstance(result, str) or len(result) != 2:
        return None
    first, second = (_finite(value) for value in result)
    if first is None or second is None:
        return None
    return first, second


def _close(found: tuple[float, float], expected: tuple[float, float], tol: float = 1e-7) -> bool:
    return all(math.isclose(f, e, rel_tol=tol, abs_tol=1e-12) for f, e in zip(found, expected, strict=True))


def _learning_rate(answer: object) -> tuple[float | None, Verdict | None]:
    if is_placeholder(answer):
        return None, not_attempted()
    lr = _finite(answer)
    if lr is None:
        return None, wrong("not_a_number", f"a learning rate is one positive number, such as 0.1; got {answer!r}.")
    if lr <= 0:
        return None, wrong(
            "not_positive",
            f"lr = {lr} is not positive: each step would move *with* the gradient (or not at all), uphill. "
            "The learning rate is a positive step size; the minus sign in the update does the rest.",
        )
    return lr, None


def learning_rate_that_diverges(lr: object) -> Verdict:
    """Correct for a learning rate that makes batch descent on the lesson's data blow up."""
    value, verdict = _learning_rate(lr)
    if verdict is not None:
        return verdict
    _, _, losses = descend(value, 1000)
    limit = stable_limit()
    if not math.isfinite(losses[-1]) or losses[-1] > losses[0]:
        return correct(
            f"with lr = {value} the loss grows instead of shrinking (anything above about {limit:.2f} diverges here): "
            "each step overshoots the minimum by more than it was away from it."
        )
    return wrong(
        "converges",
        f"with lr = {value} descent still converges (the loss goes from {losses[0]:.4f} to {losses[-1]:.4f}). "
        f"On this data steps become too large above about {limit:.2f}; try a larger learning rate.",
    )


def learning_rate_within_budget(lr: object) -> Verdict:
    """Correct for a learning rate that reaches the least-squares line (to 1e-3) in 100 epochs."""
    value, verdict = _learning_rate(lr)
    if verdict is not None:
        return verdict
    a, b, losses = descend(value, BUDGET_EPOCHS)
    x, y = _train_data()
    best = least_squares(x, y)
    distance = max(abs(a - best[0]), abs(b - best[1]))
    limit = stable_limit()
    if math.isfinite(distance) and distance < BUDGET_TOLERANCE:
        return correct(
            f"after {BUDGET_EPOCHS} epochs with lr = {value}, a = {a:.4f} and b = {b:.4f} are within "
            f"{BUDGET_TOLERANCE} of the least-squares answer."
        )
    if not math.isfinite(losses[-1]) or value >= limit:
        return wrong(
            "diverges",
            f"lr = {value} is too large: the loss blows up instead of shrinking (on this data anything above "
            f"about {limit:.2f} diverges). Pick a smaller learning rate.",
        )
    if value > _fastest_stable_rate():
        return wrong(
            "zigzags",
            f"lr = {value} is stable but so close to the limit (about {limit:.2f}) that the steps zig-zag across "
            f"the valley and settle too slowly: a and b are still {distance:.4f} away after {BUDGET_EPOCHS} epochs. "
            "Try a slightly smaller learning rate.",
        )
    return wrong(
        "too_slow",
        f"lr = {value} converges, but too slowly for the budget: after {BUDGET_EPOCHS} epochs a = {a:.4f} and "
        f"b = {b:.4f} are still {distance:.4f} away from the least-squares answer {best[0]:.4f}, {best[1]:.4f}. "
        "Try a larger learning rate.",
    )


def _step_mistake(found: tuple[float, float], start: tuple[float, float], step: tuple[float, float], n: int) -> Verdict:
    """Name what is wrong with one step that moved from ``start`` to ``found`` instead of by ``step``."""
    moved = (found[0] - start[0], found[1] - start[1])
    candidates = [
        ("no_update", 0.0, "a and b did not change: update them with a = a - lr * grad_a (same for b)."),
        ("wrong_sign", -1.0, "a and b moved *with* the gradient, uphill: subtract lr * gradient, do not add it."),
        (
            "missing_factor_2",
            0.5,
            "the step is half as long as it should be: the derivative of error² is "
            "2 · error, so the gradients carry a factor 2.",
        ),
        (
            "sum_not_mean",
            float(n),
            "the step is N times too long: the loss is the *mean* of the squared errors, "
            "so the gradients are means (np.mean), not sums.",
        ),
        (
            "sum_not_mean",
            n / 2,
            "the step is N/2 times too long: the gradients are 2 times the *mean* (np.mean), not the sum.",
        ),
    ]
    for mistake, factor, message in candidates:
        if _close(moved, (factor * step[0], factor * step[1]), tol=1e-6):
            return wrong(mistake, message)
    if _close(moved, (step[1], step[0]), tol=1e-6):
        return wrong("swapped", "the gradients of a and b are swapped: a uses mean(error), b uses mean(error * x).")
    return wrong(
        "other",
        f"from (a, b) = {start} one step should give ({start[0] + step[0]:.6f}, {start[1] + step[1]:.6f}); "
        f"yours gave ({found[0]:.6f}, {found[1]:.6f}). Compare your update with the lesson's four steps.",
    )


def gradients(fn: object) -> Verdict:
    """Check a learner's ``gradients(a, b, x, y) -> (grad_a, grad_b)`` of the MSE."""
    x, y = _train_data()
    a, b = START
    result, verdict = call_learner(fn, a, b, x.copy(), y.copy())
    if verdict is not None:
        return verdict
    found = _as_pair(result)
    if found is None:
        return wrong(
            "not_a_pair", f"return the two gradients as a pair: return grad_a, grad_b (got {type(result).__name__})."
        )
    expected = true_gradients(a, b, x, y)
    if _close(found, expected, tol=1e-6):
        return correct(f"at (a, b) = {START} the gradients are ({expected[0]:.4f}, {expected[1]:.4f}).")
    n = len(x)
    candidates = [
        (
            "wrong_sign",
            (-expected[0], -expected[1]),
            "the signs are flipped: the error is prediction - y (a + b * x - y), and the gradient keeps that sign.",
        ),
        (
            "missing_factor_2",
            (expected[0] / 2, expected[1] / 2),
            "both gradients are half the right size: the derivative of error² is 2 · error, so multiply by 2.",
        ),
        (
            "sum_not_mean",
            (expected[0] * n / 2, expected[1] * n / 2),
            "these are sums, not means: the loss is a mean, so its gradients are 2 * np.mean(...).",
        ),
        (
            "sum_not_mean",
            (expected[0] * n, expected[1] * n),
            "these are sums times 2, not means: use 2 * np.mean(...) instead of 2 * np.sum(...).",
        ),
        ("swapped", (expected[1], expected[0]), "the two gradients are swapped: return grad_a, grad_b in that order."),
        (
            "missing_x",
            (expected[0], expected[0]),
            "grad_b equals grad_a: the chain rule gives ∂ŷ/∂b = x, so grad_b = 2 * np.mean(error * x).",
        ),
    ]
    for mistake, values, message in candidates:
        if _close(found, values, tol=1e-6):
            return wrong(mistake, message)
    return wrong(
        "other",
        f"at (a, b) = {START} expected ({expected[0]:.4f}, {expected[1]:.4f}), got ({found[0]:.4f}, {found[1]:.4f}). "
        "Start from error = a + b * x - y and apply the chain rule to mean(error²).",
    )


def _reference_epoch(
    a: float,
    b: float,
    x: np.ndarray,
    y: np.ndarray,
    lr: float,
    batch_size: int,
    order: np.ndarray,
    batches: int | None = None,
    whole_data: bool = False,
) -> tuple[float, float]:
    """One epoch of mini-batch descent visiting the points in ``order`` (variants name known mistakes)."""
    starts = list(range(0, len(x), batch_size))[:batches]
    for start in starts:
        idx = order[start : start + batch_size]
        bx, by = (x, y) if whole_data else (x[idx], y[idx])
        grad_a, grad_b = true_gradients(a, b, bx, by)
        a, b = a - lr * grad_a, b - lr * grad_b
    return a, b


def minibatch_epoch(fn: Callable[..., Any] | object) -> Verdict:
    """Check a learner's ``minibatch_epoch(a, b, x, y, lr, batch_size, rng) -> (a, b)``."""
    x, y = _train_data()
    n, lr = len(x), 0.1
    start = START
    # 1. With one batch of all the points, the epoch is exactly one step of batch descent.
    result, verdict = call_learner(fn, *start, x.copy(), y.copy(), lr, n, np.random.default_rng(0))
    if verdict is not None:
        return verdict
    found = _as_pair(result)
    if found is None:
        return wrong(
            "not_a_pair", f"return the updated parameters as a pair: return a, b (got {type(result).__name__})."
        )
    grad_a, grad_b = true_gradients(*start, x, y)
    step = (-lr * grad_a, -lr * grad_b)
    if not _close(found, (start[0] + step[0], start[1] + step[1])):
        return _step_mistake(found, start, step, n)
    # 2. With batches of 16 the result must follow the shuffled order, one update per batch.
    batch_size, seed = 16, 1
    result, verdict = call_learner(fn, *start, x.copy(), y.copy(), lr, batch_size, np.random.default_rng(seed))
    if verdict is not None:
        return verdict
    found = _as_pair(result)
    if found is None:
        return wrong(
            "not_a_pair", f"return the updated parameters as a pair: return a, b (got {type(result).__name__})."
        )
    order = np.random.default_rng(seed).permutation(n)
    expected = _reference_epoch(*start, x, y, lr, batch_size, order)
    if _close(found, expected):
        return correct(
            f"one epoch is {n // batch_size} updates of batch {batch_size}; from {start} it ends at "
            f"({expected[0]:.4f}, {expected[1]:.4f})."
        )
    variants = [
        (
            "no_shuffle",
            _reference_epoch(*start, x, y, lr, batch_size, np.arange(n)),
            "the points were visited in their stored order: shuffle them each epoch with order = rng.permutation(len(x)).",
        ),
        (
            "one_update_per_epoch",
            _reference_epoch(*start, x, y, lr, batch_size, order, batches=1),
            "only the first mini-batch was used: loop over every batch, for start in range(0, len(x), batch_size).",
        ),
        (
            "whole_data_gradient",
            _reference_epoch(*start, x, y, lr, batch_size, order, whole_data=True),
            "each update used the gradient of the whole data set: compute it on the batch, x[idx] and y[idx].",
        ),
    ]
    for mistake, values, message in variants:
        if _close(found, values):
            return wrong(mistake, message)
    return wrong(
        "other",
        f"with batch_size={batch_size} the epoch should end at ({expected[0]:.6f}, {expected[1]:.6f}), yours at "
        f"({found[0]:.6f}, {found[1]:.6f}). Shuffle with order = rng.permutation(len(x)), then update once per "
        "slice order[start:start + batch_size], in that order.",
    )
