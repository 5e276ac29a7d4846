"""Each known mistake of lesson 03 gets its own diagnosis; right answers pass; junk never raises."""

from __future__ import annotations

import pytest
import torch

from course.checks import autograd as check

DEVICE = torch.device("cpu")  # conftest.py pins COURSE_DEVICE=cpu
JUNK = ["w", 0.5, [0.5], lambda *args: "ab", lambda *args: (1, 2), lambda *args: None, 42]


def stub(*args):
    raise NotImplementedError  # your code here


# --- make_parameter ---------------------------------------------------------------------------------------------


def test_make_parameter_right_answers_pass():
    assert check.make_parameter(lambda v, d, t: torch.tensor(v, dtype=t, device=d, requires_grad=True)).passed
    assert check.make_parameter(lambda v, d, t: torch.tensor(v).to(d, t).requires_grad_()).passed
    assert check.make_parameter(lambda v, d, t: torch.full((1,), v, dtype=t, device=d, requires_grad=True)).passed


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (lambda v, d, t: torch.tensor(v, requires_grad=True).to(d, t), "non_leaf"),
        (lambda v, d, t: torch.tensor(v, dtype=t, requires_grad=True).to(d), "non_leaf"),
        (lambda v, d, t: torch.tensor(v, device=d, requires_grad=True).to(t), "non_leaf"),
        (lambda v, d, t: torch.tensor(v, dtype=t, device=d, requires_grad=True) * 1, "non_leaf"),
        (lambda v, d, t: torch.tensor(v, dtype=t, device=d), "no_requires_grad"),
        (lambda v, d, t: torch.tensor(v, requires_grad=True).to(d, t).detach(), "no_requires_grad"),
        (lambda v, d, t: torch.tensor(v, device=d, requires_grad=True), "wrong_dtype"),
        (lambda v, d, t: torch.tensor(v, dtype=t, requires_grad=True), "wrong_device"),
        (lambda v, d, t: torch.tensor([v, v], dtype=t, device=d, requires_grad=True), "wrong_value"),
        (lambda v, d, t: torch.tensor(1.0, dtype=t, device=d, requires_grad=True), "wrong_value"),
        (lambda v, d, t: v, "not_a_tensor"),
        (lambda v, d, t: 1 / 0, "raised"),
    ],
)
def test_make_parameter_mistakes_are_named(fn, mistake):
    assert check.make_parameter(fn).mistake == mistake


def test_make_parameter_placeholder_and_junk():
    assert check.make_parameter(None).status == "not_attempted"
    assert check.make_parameter(stub).status == "not_attempted"
    for junk in JUNK:
        assert not check.make_parameter(junk).passed


# --- update -----------------------------------------------------------------------------------------------------


def right_update(a, b, lr):
    with torch.no_grad():
        a -= lr * a.grad
        b -= lr * b.grad
    a.grad.zero_()
    b.grad.zero_()
    return a, b


def update_set_to_none(a, b, lr):
    with torch.no_grad():
        a -= lr * a.grad
        b -= lr * b.grad
    a.grad, b.grad = None, None
    return a, b


def update_rebinds(a, b, lr):  # attempt 1 of the lesson, without the zeroing
    a = a - lr * a.grad
    b = b - lr * b.grad
    return a, b


def update_rebinds_then_zeroes(a, b, lr):  # attempt 1 of the lesson
    a = a - lr * a.grad
    b = b - lr * b.grad
    a.grad.zero_()
    return a, b


def update_in_place_outside_no_grad(a, b, lr):  # attempt 2 of the lesson
    a -= lr * a.grad
    b -= lr * b.grad
    return a, b


def update_new_tensors_in_no_grad(a, b, lr):
    with torch.no_grad():
        a = a - lr * a.grad
        b = b - lr * b.grad
    return a, b


def update_uphill(a, b, lr):
    with torch.no_grad():
        a += lr * a.grad
        b += lr * b.grad
    a.grad.zero_()
    b.grad.zero_()
    return a, b


def update_no_zero(a, b, lr):
    with torch.no_grad():
        a -= lr * a.grad
        b -= lr * b.grad
    return a, b


def update_no_lr(a, b, lr):
    with torch.no_grad():
        a -= a.grad
        b -= b.grad
    a.grad.zero_()
    b.grad.zero_()
    return a, b


def test_update_right_answers_pass():
    assert check.update(right_update).passed
    assert check.update(update_set_to_none).passed


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (update_rebinds, "outside_no_grad"),
        (update_rebinds_then_zeroes, "outside_no_grad"),
        (update_in_place_outside_no_grad, "outside_no_grad"),
        (update_new_tensors_in_no_grad, "not_in_place"),
        (update_uphill, "wrong_sign"),
        (update_no_zero, "no_zero_grad"),
        (update_no_lr, "wrong_step"),
        (lambda a, b, lr: a, "not_a_pair"),
        (lambda a, b, lr: 1 / 0, "raised"),
    ],
)
def test_update_mistakes_are_named(fn, mistake):
    assert check.update(fn).mistake == mistake


def test_update_placeholder_and_junk():
    assert check.update(None).status == "not_attempted"
    assert check.update(stub).status == "not_attempted"
    for junk in JUNK:
        assert not check.update(junk).passed


# --- train ------------------------------------------------------------------------------------------------------


def make_train(sign=1.0, zero=True, in_no_grad=True, backward=True, rebind=False):
    """A training loop with one chosen mistake switched on."""

    def train(a, b, x, y, lr, epochs):
        for _ in range(epochs):
            loss = torch.mean((a + b * x - y) ** 2)
            if backward:
                loss.backward()
            if rebind:
                a = a - lr * a.grad
                b = b - lr * b.grad
            elif in_no_grad:
                with torch.no_grad():
                    a -= sign * lr * a.grad
                    b -= sign * lr * b.grad
            else:
                a -= sign * lr * a.grad
                b -= sign * lr * b.grad
            if zero:
                a.grad.zero_()
                b.grad.zero_()
        return a, b

    return train


def test_train_right_answer_passes():
    assert check.train(make_train()).passed


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (make_train(zero=False), "no_zero_grad"),
        (make_train(sign=-1.0), "wrong_sign"),
        (make_train(sign=-1.0, zero=False), "wrong_sign"),
        (make_train(in_no_grad=False), "outside_no_grad"),
        (make_train(rebind=True), "outside_no_grad"),
        (make_train(rebind=True, zero=False), "outside_no_grad"),
        (make_train(backward=False), "no_backward"),
        (make_train(sign=0.5), "other"),
        (lambda a, b, x, y, lr, epochs: (a, b), "no_update"),
        (lambda a, b, x, y, lr, epochs: 1 / 0, "raised"),
    ],
)
def test_train_mistakes_are_named(fn, mistake):
    assert check.train(fn).mistake == mistake


def test_train_placeholder_and_junk():
    assert check.train(None).status == "not_attempted"
    assert check.train(stub).status == "not_attempted"
    for junk in JUNK:
        assert not check.train(junk).passed
