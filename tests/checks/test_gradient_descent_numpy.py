"""Lesson 02's checks, beyond the generated tests: the lesson's numbers, the learning-rate boundaries, messages."""

from decimal import Decimal
from fractions import Fraction
from functools import partial

import numpy as np
import pytest
import torch

from course.checks import gradient_descent_numpy as check


def test_descent_reproduces_the_lesson_from_its_seeded_start():
    assert check.START == pytest.approx((0.49671415, -0.1382643), abs=1e-8)
    a, b, losses = check.descend(0.1, 1000)
    assert (round(a, 8), round(b, 8)) == (1.02354094, 1.96896411)


@pytest.mark.parametrize("lr, mistake", [(0.796, None), (0.805, None), (0.795, "too_small"), (0.806, "diverges")])
def test_the_largest_stable_rate_to_two_decimals(lr, mistake):
    verdict = check.largest_stable_rate(lr)
    assert verdict.mistake == mistake, verdict


@pytest.mark.parametrize("lr, mistake", [(0.47, None), (0.77, None), (0.45, "too_slow"), (0.78, "zigzags")])
def test_the_budget_boundaries(lr, mistake):
    assert check.learning_rate_within_budget(lr).mistake == mistake


def test_an_unknown_mistake_is_shown_with_the_numbers():
    verdict = check.gradients(lambda a, b, x, y: (1.0, 2.0))
    assert verdict.mistake == "other" and "(1.000000, 2.000000)" in verdict.message


def test_an_epoch_that_shuffles_with_the_global_generator_is_told_to_use_rng():
    def global_rng(a, b, x, y, lr, batch_size, rng):
        order = np.random.permutation(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            error = a + b * x[idx] - y[idx]
            a, b = a - lr * 2 * np.mean(error), b - lr * 2 * np.mean(error * x[idx])
        return a, b

    verdict = check.minibatch_epoch(global_rng)
    assert verdict.mistake == "other" and "not np.random" in verdict.message


def _epoch(a, b, x, y, lr, batch_size, rng, divide_by_batch_size=False, rate=None):
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        count, error = batch_size if divide_by_batch_size else len(idx), a + b * x[idx] - y[idx]
        step = lr if rate is None else rate
        a, b = a - step * 2 * np.sum(error) / count, b - step * 2 * np.sum(error * x[idx]) / count
    return np.array([a, b])  # an array of two numbers is a pair too


def test_review_forms_and_mistakes_of_gradients_and_epochs():
    assert check.gradients(lambda a, b, x, y: np.array(check._gradients(a, b, x, y))).passed
    assert check.minibatch_epoch(_epoch).passed
    assert check.minibatch_epoch(partial(_epoch, divide_by_batch_size=True)).mistake == "wrong_total"
    assert not check.minibatch_epoch(partial(_epoch, rate=0.1)).passed  # the lesson's lr, not the argument


def test_review2_a_count_or_an_answer_hard_coded_for_the_lessons_80_points_is_wrong():
    verdict = check.gradients(lambda a, b, x, y: (2 * np.sum(a + b * x - y) / 80, 2 * np.sum((a + b * x - y) * x) / 80))
    assert verdict.mistake == "hard_coded_count" and "len(x)" in verdict.message
    assert not check.gradients(lambda a, b, x, y: check._gradients(*check.START, check.X, check.Y)).passed
    assert check.gradients(lambda a, b, x, y: torch.tensor(check._gradients(a, b, x, y))).passed
    each_row = check.gradients(lambda a, b, x, y: (2 * np.mean(a + b * x - y, axis=1), 0.0))
    assert each_row.mistake == "not_a_pair" and "one number" in each_row.message


@pytest.mark.parametrize("fixed", [{"count": 80}, {"size": 32}, {"rate": 0.05}])
def test_review2_an_epoch_uses_its_arguments_not_the_probes_numbers(fixed):
    def epoch(a, b, x, y, lr, batch_size, rng):
        n, size, rate = fixed.get("count", len(x)), fixed.get("size", batch_size), fixed.get("rate", lr)
        order = rng.permutation(n)
        for start in range(0, n, size):
            idx = order[start : start + size]
            error = a + b * x[idx] - y[idx]
            a, b = a - rate * 2 * np.mean(error), b - rate * 2 * np.mean(error * x[idx])
        return a, b

    assert not check.minibatch_epoch(epoch).passed


def _slip(a, b, x, y, lr, batch_size, rng, slip=""):
    order, a0, b0, grads = rng.permutation(len(x)), a, b, []
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        error = a + b * x[idx] - y[idx]
        count = len(x) if slip == "len(x)" else len(idx)
        grad_a, grad_b = 2 * np.sum(error) / count, 2 * np.sum(error * x[idx]) / count
        if slip == "a first":
            a = a - lr * grad_a
            grad_b = 2 * np.mean((a + b * x[idx] - y[idx]) * x[idx])
        if slip == "averaged":
            grads.append((grad_a, grad_b))
            continue
        a, b = (a if slip == "a first" else a - lr * grad_a), b - lr * grad_b
    if slip == "averaged":
        grad_a, grad_b = np.mean(grads, axis=0)
        a, b = a - lr * grad_a, b - lr * grad_b
    return (a0, b0) if slip == "unchanged" else (a, b)


@pytest.mark.parametrize(
    "slip, mistake, named",
    [
        ("len(x)", "wrong_total", "len(x)"),
        ("a first", "sequential_update", "same a and b"),
        ("unchanged", "no_update", "as they went in"),
        ("averaged", "one_update_per_epoch", "averaged"),
    ],
)
def test_review3_common_epoch_slips_get_their_own_message(slip, mistake, named):
    verdict = check.minibatch_epoch(partial(_slip, slip=slip))
    assert verdict.mistake == mistake and named in verdict.message, verdict


def test_review3_a_typed_in_start_is_told_to_use_a_and_b():
    verdict = check.gradients(lambda a, b, x, y: check._gradients(*check.START, x, y))
    assert verdict.mistake == "ignored_argument" and "len(x)" not in verdict.message, verdict


def test_review4_an_exact_number_is_a_learning_rate_too():
    assert check.largest_stable_rate(Fraction(4, 5)).passed and check.largest_stable_rate(Decimal("0.80")).passed
    assert check.largest_stable_rate(Fraction(81, 100)).mistake == "diverges"
    assert check.largest_stable_rate(Decimal("sNaN")).mistake == "not_a_number"


def _epoch_until(a, b, x, y, lr, batch_size, rng, stop=0):
    """The right epoch, except that its loop over the starts ends at len(x) - stop."""
    order = rng.permutation(len(x))
    for start in range(0, len(x) - stop, batch_size):
        batch = order[start : start + batch_size]
        error = a + b * x[batch] - y[batch]
        a, b = a - lr * 2 * np.mean(error), b - lr * 2 * np.mean(error * x[batch])
    return a, b


def test_review10_an_epoch_that_stops_one_short_is_named():
    x, y = np.linspace(0, 1, 49).reshape(-1, 1), np.linspace(1, 3, 49).reshape(-1, 1)  # 3 batches of 16, then 1
    right, short = (_epoch_until(0.5, -0.1, x, y, 0.1, 16, np.random.default_rng(0), stop) for stop in (0, 1))
    assert right != short  # the last point is a batch of its own, which len(x) - 1 never reaches
    verdict = check.minibatch_epoch(partial(_epoch_until, stop=1))
    assert verdict.mistake == "skipped_last_batch" and "len(x) - 1" in verdict.message, verdict
    assert check.minibatch_epoch(_epoch_until).passed


def test_review10_an_epoch_that_shuffles_x_alone_in_place_is_told_both():
    def shuffles_x_in_place(a, b, x, y, lr, batch_size, rng):
        rng.shuffle(x)
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            error = a + b * xb - yb
            a, b = a - lr * 2 * np.mean(error), b - lr * 2 * np.mean(error * xb)
        return a, b

    verdict = check.minibatch_epoch(shuffles_x_in_place)
    assert verdict.mistake == "shuffled_apart", verdict
    assert "lost its y" in verdict.message and "in place" in verdict.message, verdict


def test_review10_an_epoch_that_shuffles_both_in_place_the_same_way_is_told_it_changed_them():
    def shuffles_both_in_place(a, b, x, y, lr, batch_size, rng):
        order = rng.permutation(len(x))
        x[:], y[:] = x[order], y[order]
        return _epoch_until(a, b, x, y, lr, batch_size, np.random.default_rng(0))

    assert check.minibatch_epoch(shuffles_both_in_place).mistake == "mutated_input"


def _finite_difference(a, b, x, y, h=1e-4):
    loss = lambda a, b: np.mean((a + b * x - y) ** 2)  # noqa: E731
    return (loss(a + h, b) - loss(a, b)) / h, (loss(a, b + h) - loss(a, b)) / h


@pytest.mark.parametrize("h", [1e-4, 1e-3, 1e-2])
def test_review10_a_finite_difference_is_told_it_is_not_exact_and_not_that_it_hard_codes(h):
    verdict = check.gradients(partial(_finite_difference, h=h))
    assert verdict.mistake == "other", verdict
    assert "hard-coded" not in verdict.message and "never fixed numbers" not in verdict.message, verdict
    if h < 1e-2:  # within 1% of the gradients: told it is close, not exact
        assert "finite difference" in verdict.message and "not exact" in verdict.message, verdict


def test_review10_gradients_right_only_at_the_lessons_start_are_told_to_use_the_arguments():
    right = check._gradients(*check.START, check.X, check.Y)
    verdict = check.gradients(lambda a, b, x, y: right)
    assert verdict.mistake in ("other", "ignored_argument") and "never fixed numbers" in verdict.message, verdict


def _formula(a, b, x, y):
    error = a + b * x - y
    return 2 * np.mean(error), 2 * np.mean(error * x)


@pytest.mark.parametrize("decimals", [1, 2, 3, 4])
def test_review11_rounded_gradients_are_told_they_are_rounded_not_a_finite_difference(decimals):
    verdict = check.gradients(lambda a, b, x, y: tuple(round(float(g), decimals) for g in _formula(a, b, x, y)))
    assert verdict.mistake == "other", verdict
    assert f"rounded to {decimals} decimal" in verdict.message and "unrounded" in verdict.message, verdict
    assert "finite difference" not in verdict.message and "approximation" not in verdict.message, verdict


def test_review11_gradients_rounded_by_numpy_are_told_they_are_rounded():
    verdict = check.gradients(lambda a, b, x, y: np.round(np.array(_formula(a, b, x, y)), 3))
    assert verdict.mistake == "other" and "rounded to 3 decimals" in verdict.message, verdict


def _difference(a, b, x, y, h, only_a=False):
    loss = lambda a, b: np.mean((a + b * x - y) ** 2)  # noqa: E731
    grad_b = _formula(a, b, x, y)[1] if only_a else (loss(a, b + h) - loss(a, b)) / h
    return (loss(a + h, b) - loss(a, b)) / h, grad_b


@pytest.mark.parametrize("h", [1e-2, 3e-3, 1e-4, -1e-2, -1e-4])  # h < 0: a backward difference
def test_review11_a_forward_or_backward_difference_up_to_a_step_of_1e_2_is_named(h):
    verdict = check.gradients(partial(_difference, h=h))
    assert verdict.mistake == "other", verdict
    assert "finite difference" in verdict.message and f"h = {h:g}" in verdict.message, verdict


def test_review11_a_finite_difference_for_a_alone_is_named():
    verdict = check.gradients(partial(_difference, h=1e-2, only_a=True))
    assert "finite difference" in verdict.message and "h = 0.01" in verdict.message, verdict


@pytest.mark.parametrize("h", [1e-5, 1e-6, 1e-8])
def test_review11_a_central_or_small_step_difference_passes(h):
    loss = lambda a, b, x, y: np.mean((a + b * x - y) ** 2)  # noqa: E731
    assert check.gradients(partial(_difference, h=h)).passed
    central = lambda a, b, x, y: (  # noqa: E731
        (loss(a + h, b, x, y) - loss(a - h, b, x, y)) / (2 * h),
        (loss(a, b + h, x, y) - loss(a, b - h, x, y)) / (2 * h),
    )
    assert check.gradients(central).passed


def test_review11_a_near_miss_in_float16_is_not_called_a_finite_difference():
    verdict = check.gradients(lambda a, b, x, y: _formula(*(np.asarray(v, np.float16) for v in (a, b, x, y))))
    assert verdict.mistake == "other" and "close" in verdict.message, verdict
    assert "finite difference" not in verdict.message and "rounded" not in verdict.message, verdict


@pytest.mark.parametrize(
    "form",
    [
        lambda g: g,
        lambda g: tuple(float(v) for v in g),
        lambda g: [np.float64(v) for v in g],
        lambda g: np.array(g),
        lambda g: tuple(v * (1 + 1e-12) for v in g),  # float noise
        lambda g: tuple(np.float32(v) for v in g),
    ],
)
def test_review11_right_gradients_in_any_form_pass(form):
    assert check.gradients(lambda a, b, x, y: form(_formula(a, b, x, y))).passed


def test_review11_a_rounded_epoch_is_told_it_is_rounded():
    verdict = check.minibatch_epoch(lambda *args: tuple(round(float(v), 2) for v in check._epoch(*args)))
    assert verdict.mistake == "other" and "rounded to 2 decimals" in verdict.message, verdict


def _shuffles_in_place(a, b, x, y, lr, batch_size, rng, which="x"):
    for name in which:  # each its own rng.shuffle: its own order
        rng.shuffle({"x": x, "y": y}[name])
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        error = a + b * xb - yb
        a, b = a - lr * 2 * np.mean(error), b - lr * 2 * np.mean(error * xb)
    return a, b


@pytest.mark.parametrize(
    "which, named, changed",
    [
        ("x", "rng.shuffle(x)) without y", "the caller's x changed"),
        ("y", "rng.shuffle(y)) without x", "the caller's y changed"),
        ("xy", "x and y in place, each in its own order", "the caller's x and y changed"),
        ("yx", "x and y in place, each in its own order", "the caller's x and y changed"),
    ],
)
def test_review11_an_epoch_that_shuffles_in_place_is_told_which_array_changed(which, named, changed):
    verdict = check.minibatch_epoch(partial(_shuffles_in_place, which=which))
    assert verdict.mistake == "shuffled_apart", verdict
    assert named in verdict.message and changed in verdict.message, verdict
    if which == "y":
        assert "shuffle(x)" not in verdict.message and "caller's x" not in verdict.message, verdict


def _matrix_gradients(a, b, x, y, shape=(1, 2)):
    """The gradients as the matrix formula gives them: 2 (Xw - y)^T X / n, a (1, 2) row, or its transpose."""
    design, w = np.hstack([np.ones_like(x), x]), np.array([[a], [b]])
    row = 2 * (design @ w - y).T @ design / len(x)
    return row.reshape(shape)


@pytest.mark.parametrize(
    "form",
    [
        _matrix_gradients,
        partial(_matrix_gradients, shape=(2, 1)),
        lambda *args: torch.from_numpy(_matrix_gradients(*args)),
    ],
    ids=["row", "column", "tensor_row"],
)
def test_review12_gradients_as_any_array_of_two_elements_pass(form):
    verdict = check.gradients(form)
    assert verdict.passed, verdict


def test_review12_an_epoch_as_a_1_by_2_array_passes_and_three_numbers_are_no_pair():
    assert check.minibatch_epoch(lambda *args: np.array([check._epoch(*args)])).passed
    verdict = check.gradients(lambda a, b, x, y: np.array([*check._gradients(a, b, x, y), 0.0]).reshape(1, 3))
    assert verdict.mistake == "not_a_pair" and "shape (1, 3)" in verdict.message, verdict


def test_review12_success_texts_state_what_was_observed_not_how_it_was_written():
    verdict = check.minibatch_epoch(partial(check._epoch, variant="reordered"))  # walked in another way
    assert verdict.passed and "a and b end where" in verdict.message and "updates of" not in verdict.message, verdict


@pytest.mark.parametrize(
    "lr, shown", [(0.805, "0.805"), (0.8055, "0.8055"), (0.796, "0.796"), (0.8, "0.8"), (0.8000001, "0.8000001")]
)
def test_fix2_the_largest_stable_rate_says_what_was_given(lr, shown):
    verdict = check.largest_stable_rate(lr)
    assert verdict.passed and verdict.message.startswith(f"{shown}:") and "0.80" in verdict.message, verdict
    assert "0.81" in verdict.message, verdict  # the rate that diverges, named as such
    assert not verdict.message.startswith("0.80:"), verdict  # not the answer quoted whatever was typed


def test_fix2_an_exact_largest_stable_rate_is_shown_as_a_number():
    for lr in (Fraction(4, 5), Decimal("0.80")):
        verdict = check.largest_stable_rate(lr)
        assert verdict.passed and "Fraction" not in verdict.message and "Decimal" not in verdict.message, verdict
