"""Checks for lesson 00 (start here)."""

from __future__ import annotations

import torch

from course.checks.verdict import Mistake, Verdict, judge


def _values(t: object) -> list:
    return torch.as_tensor(t).flatten().tolist()


def first_tensor(answer: object) -> Verdict:
    """The integers 1, 2, 3 as a one-dimensional tensor."""
    return judge(
        answer,
        is_correct=lambda t: (
            isinstance(t, torch.Tensor) and t.shape == (3,) and t.dtype == torch.int64 and t.tolist() == [1, 2, 3]
        ),
        success="torch.tensor([1, 2, 3]) is a 1-D tensor of three integers (dtype torch.int64).",
        mistakes=[
            Mistake(
                "not_a_tensor",
                lambda t: not isinstance(t, torch.Tensor),
                f"this is a {type(answer).__name__}, not a tensor. Wrap the list: torch.tensor([1, 2, 3]).",
            ),
            Mistake(
                "wrong_values",
                lambda t: _values(t) != [1, 2, 3],
                "the tensor should hold exactly 1, 2, 3 in that order.",
            ),
            Mistake(
                "floats",
                lambda t: t.dtype.is_floating_point,
                "the values are right but they are floats: write 1, 2, 3 without decimal points to get integers.",
            ),
            Mistake(
                "wrong_shape",
                lambda t: tuple(t.shape) != (3,),
                "the values are right but the shape is not (3,): pass a flat list, not a nested one.",
            ),
        ],
    )
