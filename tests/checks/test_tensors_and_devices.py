"""Checks of lessons 00 and 01: each known mistake gets its own diagnosis."""

import numpy as np
import pytest
import torch

from course.checks import start_here as start
from course.checks import tensors_and_devices as tensors


@pytest.mark.parametrize(
    "answer, mistake",
    [
        ([1, 2, 3], "not_a_tensor"),
        (torch.tensor([1, 2, 4]), "wrong_values"),
        (torch.tensor([1.0, 2.0, 3.0]), "floats"),
        (torch.tensor([[1, 2, 3]]), "wrong_shape"),
    ],
)
def test_first_tensor_mistakes(answer, mistake):
    assert start.first_tensor(answer).mistake == mistake


def test_first_tensor_right_and_placeholder():
    assert start.first_tensor(torch.tensor([1, 2, 3])).passed
    assert start.first_tensor(None).status == "not_attempted"


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (torch.arange(5), "still_flat"),
        (torch.arange(5).unsqueeze(0), "row_not_column"),
        (torch.arange(5).flip(0).reshape(5, 1), "wrong_values"),
        ([[0], [1]], "not_a_tensor"),
        ("column", "not_a_tensor"),
    ],
)
def test_column_vector_mistakes(answer, mistake):
    assert tensors.column_vector(answer).mistake == mistake


def test_column_vector_right():
    assert tensors.column_vector(torch.arange(5).unsqueeze(1)).passed
    assert tensors.column_vector(torch.arange(5.0).view(-1, 1)).passed


Y_TRUE = torch.tensor([1.0, 2.0, 3.0, 4.0])
Y_PRED = torch.tensor([[1.5], [1.5], [3.5], [3.0]])


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (Y_PRED - Y_TRUE, "broadcast_matrix"),
        (Y_TRUE - Y_PRED.squeeze(1), "wrong_sign"),
        (Y_TRUE, "other"),
        (torch.ones(2, 3), "other"),
        ("nope", "not_a_tensor"),
    ],
)
def test_residual_mistakes(answer, mistake):
    assert tensors.residuals(answer, Y_TRUE, Y_PRED).mistake == mistake


def test_residuals_right_in_either_layout():
    assert tensors.residuals(Y_PRED.squeeze(1) - Y_TRUE, Y_TRUE, Y_PRED).passed
    assert tensors.residuals(Y_PRED - Y_TRUE.unsqueeze(1), Y_TRUE, Y_PRED).passed


SOURCE = np.array([0.5, 1.5, 2.5])


@pytest.mark.parametrize(
    "make, mistake",
    [
        (lambda a: torch.from_numpy(a), "shares_memory"),
        (lambda a: torch.as_tensor(a), "shares_memory"),
        (lambda a: torch.tensor(a), "float64"),
        (lambda a: torch.tensor(a * 2).float(), "wrong_values"),
        (lambda a: a.copy(), "not_a_tensor"),
    ],
)
def test_independent_copy_mistakes(make, mistake):
    source = SOURCE.copy()
    assert tensors.independent_float_copy(make(source), source).mistake == mistake


def test_independent_copy_right():
    source = SOURCE.copy()
    assert tensors.independent_float_copy(torch.tensor(source, dtype=torch.float32), source).passed
    assert tensors.independent_float_copy(torch.tensor(source).float(), source).passed


X = torch.arange(12.0).reshape(4, 3)
W = torch.tensor([[1.0], [0.0], [-1.0]])


@pytest.mark.parametrize(
    "answer, mistake",
    [(X * W.T, "elementwise"), ((X @ W).reshape(-1), "flat"), (torch.zeros(4, 1), "other"), (None, None)],
)
def test_matrix_product_mistakes(answer, mistake):
    verdict = tensors.matrix_product(answer, X, W)
    assert verdict.mistake == mistake and not verdict.passed


def test_matrix_product_right():
    assert tensors.matrix_product(X @ W, X, W).passed
    assert tensors.matrix_product(torch.matmul(X, W), X, W).passed
