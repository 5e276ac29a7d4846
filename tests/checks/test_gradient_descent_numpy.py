"""Each known mistake of lesson 02 gets its own diagnosis; right answers pass; junk never raises."""

from __future__ import annotations

import numpy as np
import pytest

from course.checks import gradient_descent_numpy as check


def right_gradients(a, b, x, y):
    error = a + b * x - y
    return 2 * np.mean(error), 2 * np.mean(error * x)


def stub(*args):
    raise NotImplementedError  # your code here


def make_epoch(grad_scale=1.0, sign=1.0, shuffle=True, one_batch=False, whole_data=False, update=True):
    """A mini-batch epoch with one chosen mistake switched on."""

    def epoch(a, b, x, y, lr, batch_size, rng):
        order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            bx, by = (x, y) if whole_data else (x[idx], y[idx])
            grad_a, grad_b = right_gradients(a, b, bx, by)
            if update:
                a = a - sign * lr * grad_scale * grad_a
                b = b - sign * lr * grad_scale * grad_b
            if one_batch:
                break
        return a, b

    return epoch


def sum_epoch(a, b, x, y, lr, batch_size, rng):
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        error = a + b * x[idx] - y[idx]
        a, b = a - lr * 2 * np.sum(error), b - lr * 2 * np.sum(error * x[idx])
    return a, b


JUNK = ["0.1", [1, 2, 3], np.zeros((3, 3)), lambda *args: "ab", lambda *args: (1, 2, 3), 42, float("nan")]


# --- gradients --------------------------------------------------------------------------------------------------


def test_gradients_right_answer_passes():
    assert check.gradients(right_gradients).passed


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (lambda a, b, x, y: tuple(-g for g in right_gradients(a, b, x, y)), "wrong_sign"),
        (lambda a, b, x, y: tuple(g / 2 for g in right_gradients(a, b, x, y)), "missing_factor_2"),
        (lambda a, b, x, y: (np.sum(a + b * x - y), np.sum((a + b * x - y) * x)), "sum_not_mean"),
        (lambda a, b, x, y: (2 * np.sum(a + b * x - y), 2 * np.sum((a + b * x - y) * x)), "sum_not_mean"),
        (lambda a, b, x, y: right_gradients(a, b, x, y)[::-1], "swapped"),
        (lambda a, b, x, y: (right_gradients(a, b, x, y)[0],) * 2, "missing_x"),
        (lambda a, b, x, y: (1.0, 2.0), "other"),
        (lambda a, b, x, y: None, "not_a_pair"),
        (lambda a, b, x, y: 1 / 0, "raised"),
    ],
)
def test_gradients_mistakes_are_named(fn, mistake):
    assert check.gradients(fn).mistake == mistake


def test_gradients_placeholder_is_not_attempted():
    assert check.gradients(None).status == "not_attempted"
    assert check.gradients(stub).status == "not_attempted"


@pytest.mark.parametrize("junk", JUNK)
def test_gradients_junk_never_raises(junk):
    assert not check.gradients(junk).passed


# --- learning rates ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lr", [0.9, 1.5, 1e6, np.float64(2.0)])
def test_diverging_learning_rates_pass(lr):
    assert check.learning_rate_that_diverges(lr).passed


@pytest.mark.parametrize(
    "lr, mistake",
    [
        (0.1, "converges"),
        (0.7, "converges"),
        (0, "not_positive"),
        (-1.0, "not_positive"),
        ("big", "not_a_number"),
        (True, "not_a_number"),
        (float("inf"), "not_a_number"),
    ],
)
def test_diverges_mistakes_are_named(lr, mistake):
    assert check.learning_rate_that_diverges(lr).mistake == mistake


@pytest.mark.parametrize("lr", [0.55, 0.6, 0.7])
def test_learning_rates_within_budget_pass(lr):
    assert check.learning_rate_within_budget(lr).passed


@pytest.mark.parametrize(
    "lr, mistake",
    [
        (0.1, "too_slow"),
        (0.01, "too_slow"),
        (0.785, "zigzags"),
        (0.9, "diverges"),
        (10.0, "diverges"),
        (-0.5, "not_positive"),
    ],
)
def test_budget_mistakes_are_named(lr, mistake):
    assert check.learning_rate_within_budget(lr).mistake == mistake


@pytest.mark.parametrize("func", [check.learning_rate_that_diverges, check.learning_rate_within_budget])
def test_learning_rate_placeholder_and_junk(func):
    assert func(None).status == "not_attempted"
    assert func(...).status == "not_attempted"
    for junk in ["0.1", [1, 2, 3], np.zeros((3, 3)), lambda lr: lr, float("nan"), {"lr": 1.0}]:
        assert func(junk).mistake == "not_a_number"


def test_descend_reproduces_the_lesson_start():
    a, b, losses = check.descend(0.1, 1000)
    best = check.least_squares(*check._train_data())
    assert abs(a - best[0]) < 1e-4 and abs(b - best[1]) < 1e-4
    assert losses == sorted(losses, reverse=True)


# --- mini-batch epoch -------------------------------------------------------------------------------------------


def test_minibatch_right_answer_passes():
    assert check.minibatch_epoch(make_epoch()).passed


def test_minibatch_shuffle_with_rng_shuffle_also_passes():
    def epoch(a, b, x, y, lr, batch_size, rng):
        order = np.arange(len(x))
        rng.shuffle(order)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            grad_a, grad_b = right_gradients(a, b, x[idx], y[idx])
            a, b = a - lr * grad_a, b - lr * grad_b
        return a, b

    assert check.minibatch_epoch(epoch).passed


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (make_epoch(sign=-1.0), "wrong_sign"),
        (make_epoch(grad_scale=0.5), "missing_factor_2"),
        (sum_epoch, "sum_not_mean"),
        (make_epoch(update=False), "no_update"),
        (make_epoch(shuffle=False), "no_shuffle"),
        (make_epoch(one_batch=True), "one_update_per_epoch"),
        (make_epoch(whole_data=True), "whole_data_gradient"),
        (make_epoch(grad_scale=1.01), "other"),
        (lambda *args: 1 / 0, "raised"),
        (lambda *args: "ab", "not_a_pair"),
    ],
)
def test_minibatch_mistakes_are_named(fn, mistake):
    assert check.minibatch_epoch(fn).mistake == mistake


def test_minibatch_placeholder_and_junk():
    assert check.minibatch_epoch(None).status == "not_attempted"
    assert check.minibatch_epoch(stub).status == "not_attempted"
    for junk in JUNK:
        assert not check.minibatch_epoch(junk).passed
