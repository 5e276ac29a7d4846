"""course.loss_checks: a one-element loss is a scalar; a classifier with one output is refused with the real fix."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn
from torch.nn import functional

from course.loss_checks import check_pair, check_scalar
from course.training import make_train_step

ONE_CLASS = (
    r"shape \(8, 1\), one score per sample, but cross-entropy needs a score per class.*nn\.Linear\(\.\.\., n_classes\)"
)


@pytest.mark.parametrize("shape", [(), (1,), (1, 1)])
def test_a_loss_of_one_value_is_a_scalar_whatever_its_shape(shape):
    loss = check_scalar(torch.full(shape, 2.5))
    assert loss.shape == () and loss.item() == 2.5


@pytest.mark.parametrize(
    "loss", [torch.ones(3), torch.ones(0), torch.ones(1, 2), 2.5], ids=["(3,)", "(0,)", "(1, 2)", "float"]
)
def test_a_loss_of_several_values_or_none_is_refused(loss):
    with pytest.raises(ValueError, match=r"the loss must be a scalar tensor.*reduction='mean'"):
        check_scalar(loss)


def test_a_train_step_with_a_loss_of_shape_1_trains_exactly_as_with_a_scalar():
    x, y = torch.linspace(0, 1, 8).view(-1, 1), torch.linspace(1, 2, 8).view(-1, 1)
    weights = []
    for loss_fn in (lambda p, t: ((p - t) ** 2).mean(0), lambda p, t: ((p - t) ** 2).mean()):
        torch.manual_seed(0)
        model = nn.Linear(1, 1)
        step = make_train_step(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1))
        losses = [step(x, y) for _ in range(3)]
        weights.append((losses, model.weight.detach().clone()))
    assert weights[0][0] == weights[1][0] and torch.equal(weights[0][1], weights[1][1])
    assert weights[0][0][0] > weights[0][0][-1]  # it did learn


CLASS_LOSSES = {
    "CrossEntropyLoss": nn.CrossEntropyLoss(),
    "NLLLoss": nn.NLLLoss(),
    "F.cross_entropy": functional.cross_entropy,
    "partial": functools.partial(functional.cross_entropy, reduction="sum"),
}


@pytest.mark.parametrize("loss_fn", CLASS_LOSSES.values(), ids=CLASS_LOSSES.keys())
@pytest.mark.parametrize("target_shape", [(8,), (8, 1)])
def test_one_output_for_class_indices_is_refused_with_one_output_per_class(loss_fn, target_shape):
    torch.manual_seed(0)
    x = torch.rand(8, 2)
    for y in ((x[:, 0] > 0.5).long(), torch.zeros(8, dtype=torch.long)):  # all zeros: torch's loss is silently 0
        model = nn.Linear(2, 1)
        step = make_train_step(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1))
        with pytest.raises(ValueError, match=ONE_CLASS) as error:
            step(x, y.view(target_shape))
        assert "broadcast" not in str(error.value) and "Pass class indices" not in str(error.value)


def test_class_indices_with_several_classes_and_other_single_outputs_are_still_accepted():
    check_pair(torch.zeros(8, 3), torch.zeros(8, dtype=torch.long), nn.CrossEntropyLoss())
    check_pair(torch.zeros(3), torch.tensor(1), nn.CrossEntropyLoss())  # one sample, unbatched: (C,) and ()
    check_pair(torch.zeros(8, 3, 4, 4), torch.zeros(8, 4, 4, dtype=torch.long), nn.CrossEntropyLoss())
    check_pair(torch.zeros(8, 1), torch.zeros(8, 1), nn.BCEWithLogitsLoss())
    check_pair(torch.zeros(8, 1), torch.zeros(8, 1), nn.MSELoss())
    with pytest.raises(ValueError, match=r"shape \(1,\), one score per sample"):
        check_pair(torch.zeros(1), torch.tensor(0), nn.CrossEntropyLoss())  # unbatched, one class
