"""Checks for lesson 01 (tensors and devices)."""

from __future__ import annotations

import numpy as np
import torch

from course.checks.verdict import Mistake, Verdict, judge

COLUMN = torch.arange(5).reshape(5, 1)


def _shape(t: object) -> tuple:
    return tuple(t.shape)


def _is_tensor(t: object) -> bool:
    return isinstance(t, torch.Tensor)


def column_vector(answer: object) -> Verdict:
    """``torch.arange(5)`` turned into a column of shape (5, 1)."""
    return judge(
        answer,
        is_correct=lambda t: _is_tensor(t) and _shape(t) == (5, 1) and torch.equal(t.long(), COLUMN),
        success="a column: shape (5, 1), one row per value.",
        mistakes=[
            Mistake("not_a_tensor", lambda t: not _is_tensor(t), "expected a tensor; start from torch.arange(5)."),
            Mistake(
                "still_flat",
                lambda t: _shape(t) == (5,),
                "the shape is still (5,): a flat vector. Add the second axis with .reshape(5, 1), .view(-1, 1) or .unsqueeze(1).",
            ),
            Mistake(
                "row_not_column",
                lambda t: _shape(t) == (1, 5),
                "the shape is (1, 5): that is a row. You added the new axis first (unsqueeze(0)); use unsqueeze(1) or reshape(-1, 1).",
            ),
            Mistake(
                "wrong_values",
                lambda t: _shape(t) == (5, 1),
                "the shape is right but the values are not 0, 1, 2, 3, 4 from top to bottom.",
            ),
        ],
        otherwise=f"expected shape (5, 1), got {_shape(answer) if _is_tensor(answer) else type(answer).__name__}.",
    )


def residuals(answer: object, y_true: torch.Tensor, y_pred: torch.Tensor) -> Verdict:
    """One error per sample, ``y_pred - y_true``, for predictions (N, 1) and targets (N,)."""
    expected = y_pred.reshape(-1) - y_true.reshape(-1)
    n = len(expected)
    return judge(
        answer,
        is_correct=lambda r: (
            _is_tensor(r) and r.numel() == n and torch.allclose(r.reshape(-1).float(), expected.float())
        ),
        success=f"{n} residuals, one per sample. Matching the shapes first is what prevents the silent (N, N) bug.",
        mistakes=[
            Mistake("not_a_tensor", lambda r: not _is_tensor(r), "expected a tensor computed from y_pred and y_true."),
            Mistake(
                "broadcast_matrix",
                lambda r: _shape(r) == (n, n),
                f"the result has shape ({n}, {n}): an (N, 1) column minus an (N,) vector broadcasts to every pair. "
                "Make both the same shape first, e.g. y_pred.squeeze(1) - y_true or y_pred - y_true.unsqueeze(1).",
            ),
            Mistake(
                "wrong_sign",
                lambda r: torch.allclose(r.reshape(-1).float(), -expected.float()),
                "the sign is flipped: the residual here is prediction minus target (y_pred - y_true).",
            ),
        ],
        otherwise=f"expected {n} values equal to y_pred - y_true, one per sample.",
    )


def independent_float_copy(answer: object, source: np.ndarray) -> Verdict:
    """A float32 tensor with ``source``'s values that does not share memory with it."""

    def shares_memory(t: torch.Tensor) -> bool:
        return t.device.type == "cpu" and np.shares_memory(t.numpy(), source)

    return judge(
        answer,
        is_correct=lambda t: (
            _is_tensor(t) and t.dtype == torch.float32 and not shares_memory(t) and np.allclose(t.numpy(), source)
        ),
        success="float32 values of your own: changing the array will not change this tensor.",
        mistakes=[
            Mistake(
                "not_a_tensor", lambda t: not _is_tensor(t), "expected a torch tensor, e.g. from torch.tensor(array)."
            ),
            Mistake(
                "shares_memory",
                lambda t: shares_memory(t),
                "this tensor shares memory with the array (torch.from_numpy or torch.as_tensor): changing one changes the "
                "other. torch.tensor(array) copies; then convert the dtype.",
            ),
            Mistake(
                "float64",
                lambda t: t.dtype == torch.float64,
                "the dtype is float64, NumPy's default. PyTorch models use float32: add .float() or dtype=torch.float32.",
            ),
            Mistake(
                "wrong_values",
                lambda t: not np.allclose(t.detach().cpu().numpy().astype(float), source),
                "the values differ from the array's.",
            ),
        ],
        otherwise="expected a float32 tensor that copies the array's values.",
    )


def matrix_product(answer: object, features: torch.Tensor, weights: torch.Tensor) -> Verdict:
    """Predictions ``features @ weights``: shape (N, 1) for features (N, k) and weights (k, 1)."""
    expected = features @ weights
    return judge(
        answer,
        is_correct=lambda t: _is_tensor(t) and _shape(t) == _shape(expected) and torch.allclose(t, expected),
        success=f"features @ weights: a ({features.shape[0]}, {features.shape[1]}) matrix times a "
        f"({weights.shape[0]}, 1) column gives {tuple(expected.shape)}.",
        mistakes=[
            Mistake(
                "elementwise",
                lambda t: _shape(t) == _shape(features * weights.T),
                f"the shape is {tuple((features * weights.T).shape)}: that is element-wise multiplication (*), which "
                "broadcasts. A matrix product sums over the shared axis: use @ or torch.matmul.",
            ),
            Mistake(
                "forgot_sum",
                lambda t: torch.allclose(t.reshape(-1), (features * weights.T).reshape(-1)),
                "those are the element-wise products before summing: the matrix product adds them along each row.",
            ),
            Mistake(
                "flat",
                lambda t: _shape(t) == (features.shape[0],),
                "the values may be right but the shape is flat (N,); keep the column (N, 1) that @ gives with a (k, 1) column.",
            ),
        ],
        otherwise=f"expected shape {tuple(expected.shape)} equal to features @ weights.",
    )
