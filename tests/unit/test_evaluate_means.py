"""course.training.evaluate: the loss of the whole set for a plain mean and for torch's class-weighted means too."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course.training import evaluate

X, Y = torch.randn(5, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 1, 0])
BATCHES = [(X[:4], Y[:4]), (X[4:], Y[4:])]


@pytest.mark.parametrize(
    ("loss_fn", "whole"),
    [
        (nn.CrossEntropyLoss(), True),
        (nn.CrossEntropyLoss(label_smoothing=0.1), True),
        (nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 3.0])), True),
        (nn.CrossEntropyLoss(ignore_index=1), True),
    ],
)
def test_evaluate_is_the_whole_set_loss_for_plain_and_class_weighted_means(loss_fn, whole):
    torch.manual_seed(0)
    model = nn.Linear(3, 3)
    with torch.no_grad():
        expected = loss_fn(model(X), Y).item()
    assert (evaluate(model, loss_fn, BATCHES) == pytest.approx(expected, rel=1e-6)) is whole


def test_the_docstring_names_the_weighted_means():
    doc = " ".join(evaluate.__doc__.split())
    assert (
        "for torch's cross-entropy and NLL with a class ``weight`` or ``ignore_index``, the batch's total weight" in doc
    )


@pytest.mark.parametrize(
    ("reduction", "reason"),
    [("none", r"it returns one loss per sample, not a single number"), ("sum", r"its value grows with the batch size")],
)
def test_a_loss_that_does_not_average_is_refused_for_its_own_reason(reduction, reason):
    with pytest.raises(ValueError, match=rf"reduction='{reduction}': {reason}.*Use reduction='mean'") as info:
        evaluate(nn.Linear(3, 3), nn.CrossEntropyLoss(reduction=reduction), BATCHES)
    assert ("grows with the batch size" in str(info.value)) is (reduction == "sum")
