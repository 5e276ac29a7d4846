"""Review round 11, a second look at its API changes: each finding a test that failed before its fix.

uint8 class targets with a class ``weight`` (torch takes them) weigh ``evaluate``'s batches by torch's total weight,
not by the weights a uint8 index would pick as a mask; a ``functools.partial`` that gives a -1/+1 loss its own
``target=`` has that target checked; a complex history value, a digit grid of one-pixel-high strips and an infinite
confusion matrix are told what they are.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from course.history import plain_history
from course.plots.digits import plot_digit_confusion, plot_digit_grid
from course.signed_targets import check_signs
from course.training import evaluate, train_epoch


class _Scores(nn.Module):
    """The features as the scores, times a trainable 1: the loss of given scores."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


# ------------------------------------------------------------------------------------------- evaluate's batch weights


@pytest.mark.parametrize("batch_size", [4, 3])  # 4: as many targets as classes (a mask, silently); 3: an IndexError
def test_uint8_targets_with_class_weight_give_torchs_whole_set_loss(batch_size: int) -> None:
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 0, 3, 3, 1, 2, 3, 3, 1, 0], dtype=torch.uint8)
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5, 3.0]))
    whole = float(loss_fn(x, y))  # torch takes Byte class targets for (N, C) scores
    got = evaluate(_Scores(), loss_fn, DataLoader(TensorDataset(x, y), batch_size=batch_size))
    assert got == pytest.approx(whole, rel=1e-5)


def test_uint8_targets_with_ignore_index_255_give_torchs_whole_set_loss() -> None:
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 255, 3, 3, 1, 255, 3, 2, 1, 0], dtype=torch.uint8)
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5, 3.0]), ignore_index=255)
    got = evaluate(_Scores(), loss_fn, DataLoader(TensorDataset(x, y), batch_size=4))
    assert got == pytest.approx(float(loss_fn(x, y)), rel=1e-5)


# ----------------------------------------------------------------------------------- a partial's own -1/+1 target


@pytest.mark.parametrize("target", [torch.zeros(1, 1), torch.tensor([[0.0], [1.0], [1.0], [0.0], [1.0]])])
def test_partials_own_zero_one_target_is_refused(target: torch.Tensor) -> None:
    loss_fn = functools.partial(F.margin_ranking_loss, target=target)  # torch: a label 0 is the margin, no gradient
    with pytest.raises(ValueError, match=r"the targets your functools\.partial gives \(target=\.\.\.") as error:
        check_signs(torch.randn(5, 1), loss_fn)
    assert "-1 or +1" in str(error.value)
    model = nn.Linear(3, 1)
    loader = DataLoader(TensorDataset(torch.randn(10, 3), torch.randn(10, 1)), batch_size=5)
    with pytest.raises(ValueError, match="functools.partial gives"):
        train_epoch(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1), loader)


def test_partials_own_signed_target_still_takes_any_second_input() -> None:
    loss_fn = functools.partial(F.cosine_embedding_loss, target=torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0]))
    check_signs(torch.randn(5, 3), loss_fn)  # y is the second input: any values
    check_signs(torch.tensor([0.0, 1.0]), functools.partial(F.margin_ranking_loss, target=torch.ones(1, 1)))


# ---------------------------------------------------------------------------------------------------------- history


@pytest.mark.parametrize("value", [1 + 0j, np.complex128(1 + 2j), torch.tensor(1 + 0j)])
def test_complex_history_value_is_named(value: object) -> None:
    with pytest.raises(TypeError, match="dict of lists of numbers") as error:
        plain_history({"val_loss": [0.5, value]})
    assert "Its 'val_loss' holds a complex number" in str(error.value)


# ------------------------------------------------------------------------------------------------------------ digits


@pytest.mark.parametrize(
    ("shape", "side"), [((2, 1, 784), 28), ((2, 1, 64), 8), ((2, 1, 1, 784), 28), ((2, 784, 1), 28)]
)
def test_digit_grid_refuses_rows_of_pixels_with_a_channel(shape: tuple[int, ...], side: int) -> None:
    with pytest.raises(ValueError, match=rf"images\.reshape\(-1, {side}, {side}\)"):
        plot_digit_grid(np.zeros(shape), ["a", "b"])


def test_digit_grid_still_draws_one_channel_batches() -> None:
    fig = plot_digit_grid(np.random.default_rng(0).random((2, 1, 8, 8)), ["a", "b"])
    assert [image.get_array().shape for image in fig.axes[0].get_images()] == [(8, 8)]


def test_digit_grid_error_names_the_shape_given() -> None:
    with pytest.raises(ValueError, match=r"got shape \(0, 1, 28, 28\)"):
        plot_digit_grid(np.zeros((0, 1, 28, 28)), [])


def test_confusion_hint_not_given_for_infinite_counts() -> None:
    with pytest.raises(ValueError, match="integer counts") as error:
        plot_digit_confusion(np.full((10, 10), np.inf))
    assert "astype(int)" not in str(error.value)
    with pytest.raises(ValueError, match=r"astype\(int\)"):  # whole, finite counts as floats: the hint stays
        plot_digit_confusion(np.ones((10, 10)))


class _Scores(nn.Module):  # the features are the scores: no parameters to train, nothing random
    def forward(self, x):
        return x


@pytest.mark.parametrize(
    ("loss_fn", "first_batch"),
    [(nn.CrossEntropyLoss(), -100), (nn.CrossEntropyLoss(weight=torch.tensor([0.0, 1.0, 1.0, 1.0])), 0)],
    ids=["ignore_index", "class_weight_0"],
)
def test_a_batch_whose_every_target_is_ignored_adds_nothing_to_torchs_whole_set_loss(loss_fn, first_batch):
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(3))
    y = torch.randint(1, 4, (10,), generator=torch.Generator().manual_seed(4))
    y[:3] = first_batch  # the first batch of 3: its own mean is 0 / 0
    whole = loss_fn(x, y).item()
    assert evaluate(_Scores(), loss_fn, DataLoader(TensorDataset(x, y), batch_size=3)) == pytest.approx(whole, 1e-6)


def test_a_set_whose_every_target_is_ignored_is_still_explained():
    x, y = torch.randn(6, 4), torch.full((6,), -100)
    with pytest.raises(FloatingPointError, match="ignore_index"):
        evaluate(_Scores(), nn.CrossEntropyLoss(), DataLoader(TensorDataset(x, y), batch_size=3))
