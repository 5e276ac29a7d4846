"""Checks for lesson 00 (start here): a first tensor."""

import torch

from course.checks.engine import Exercise, Guard, Mistake

FLOATS = (
    "the values are right but they are floats: write 1, 2, 3 without decimal points, in torch.tensor (lowercase: "
    "torch.Tensor makes floats from a list), to get integers."
)
NESTED = "the values are right but the shape is (1, 3), one row of a matrix: pass a flat list, [1, 2, 3]."
NOT_A_TENSOR = "this is {got}, not a tensor. Wrap the list: torch.tensor([1, 2, 3])."
first_tensor = Exercise(
    name="first_tensor",
    kind="value",
    reference=lambda: torch.tensor([1, 2, 3]),
    guards=[Guard("not_a_tensor", lambda got: not isinstance(got, torch.Tensor), lambda: [1, 2, 3], NOT_A_TENSOR)],
    mistakes=[
        Mistake("wrong_dtype", lambda: torch.tensor([1.0, 2.0, 3.0]), FLOATS),
        Mistake("wrong_shape", lambda: torch.tensor([[1, 2, 3]]), NESTED),
    ],
    success="a 1-D tensor of three integers: torch.tensor picks torch.int64 for Python integers.",
)
