"""Review 12 of the API: one rule for inf in weights (training and checkpoints), optimizers over tensors of the loss
(temperature scaling), a partial optimizer refused only on evidence, and numbers drawn as they are."""

from __future__ import annotations

import copy

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional

matplotlib.use("Agg")

from course.checkpoints import load_checkpoint, save_checkpoint  # noqa: E402
from course.plots import plot_confusion_matrix  # noqa: E402
from course.plots.shapes import plot_broadcast  # noqa: E402
from course.training import fit, make_train_step, train_epoch  # noqa: E402

torch.manual_seed(0)
X, LABELS = torch.randn(16, 4), torch.randint(0, 2, (16,))


# ------------------------------------------------------------------- H1: inf in weights, one rule for training and saving


class Masked(nn.Module):
    """Class 2 switched off by a -inf logit offset, a parameter frozen (or, with ``trained``, trained) on purpose."""

    def __init__(self, trained: bool = False):
        super().__init__()
        self.l = nn.Linear(4, 3)
        self.offset = nn.Parameter(torch.tensor([0.0, 0.0, float("-inf")]), requires_grad=trained)

    def forward(self, x):
        return self.l(x) + self.offset


def test_a_frozen_parameter_holding_inf_as_a_mask_trains_saves_and_loads_back(tmp_path):
    model = Masked()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    fit(model, nn.CrossEntropyLoss(), optimizer, [(X, LABELS)], 2, progress=False)
    path = save_checkpoint(tmp_path / "masked.pt", model, optimizer, epoch=2)
    again = Masked()
    assert load_checkpoint(path, again, torch.optim.SGD(again.parameters(), lr=0.1))["epoch"] == 2
    assert torch.equal(again.offset, model.offset) and torch.equal(again.l.weight, model.l.weight)


def test_inf_in_a_trained_parameter_is_refused_and_told_how_to_keep_a_mask(tmp_path):
    with pytest.raises(ValueError, match=r"offset.*diverged.*requires_grad_\(False\).*register_buffer"):
        save_checkpoint(tmp_path / "c.pt", Masked(trained=True))
    assert not (tmp_path / "c.pt").exists()


def test_nan_in_a_frozen_parameter_is_still_divergence(tmp_path):
    model = Masked()
    with torch.no_grad():
        model.offset[0] = float("nan")
    with pytest.raises(ValueError, match=r"offset hold\(s\) NaN or inf.*diverged"):
        save_checkpoint(tmp_path / "c.pt", model)


# ------------------------------------------------------------- H2: an optimizer over tensors of the loss, not the model


def _plain_loop(model, loss_fn, optimizer, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model(X), LABELS).backward()
        optimizer.step()


def _calibration(frozen: bool = True):
    """A classifier (frozen for calibration unless not ``frozen``) and a learnable temperature the loss divides by."""
    torch.manual_seed(1)
    model = nn.Linear(4, 2).requires_grad_(not frozen)
    temperature = nn.Parameter(torch.ones(()))

    def loss_fn(logits, target):
        return functional.cross_entropy(logits / temperature, target)

    return model, temperature, loss_fn, torch.optim.SGD([temperature], lr=0.5)


@pytest.mark.parametrize("trainer", ["fit", "train_epoch", "train step"])
@pytest.mark.parametrize("frozen", [True, False], ids=["frozen model", "unfrozen model"])
def test_temperature_scaling_trains_the_loss_tensor_as_a_plain_loop_does(trainer, frozen):
    model, temperature, loss_fn, optimizer = _calibration(frozen)
    _plain_loop(model, loss_fn, optimizer, 1)
    expected = temperature.item()
    model, temperature, loss_fn, optimizer = _calibration(frozen)
    before = model.weight.detach().clone()
    {"fit": lambda: fit(model, loss_fn, optimizer, [(X, LABELS)], 1, progress=False),
     "train_epoch": lambda: train_epoch(model, loss_fn, optimizer, [(X, LABELS)]),
     "train step": lambda: make_train_step(model, loss_fn, optimizer)(X, LABELS)}[trainer]()  # fmt: skip
    assert temperature.item() == pytest.approx(expected) and expected != 1.0
    assert torch.equal(model.weight, before)  # the optimizer holds none of the model's weights: they stay


class ScaledMSE(nn.Module):
    """A loss with a learnable scale of its own."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))

    def forward(self, pred, target):
        return ((pred * self.scale - target) ** 2).mean()


def test_a_model_without_parameters_trains_the_parameters_of_its_loss():
    loss_fn = ScaledMSE()
    fit(nn.Identity(), loss_fn, torch.optim.SGD(loss_fn.parameters(), lr=0.1), [(X, 2 * X)], 3, progress=False)
    assert (loss_fn.scale > 1.0).all()


@pytest.mark.parametrize("trainer", ["fit", "train step"])
def test_an_optimizer_of_another_model_is_refused_after_a_pass_and_warned_at_a_step(trainer):
    model, other = nn.Linear(4, 2), nn.Linear(4, 3)  # other shapes: no evidence before the first step
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.SGD(other.parameters(), lr=0.1)
    run = {"fit": lambda: fit(model, nn.CrossEntropyLoss(), optimizer, [(X, LABELS)], 3, progress=False),
           "train step": lambda: make_train_step(model, nn.CrossEntropyLoss(), optimizer)(X, LABELS)}[trainer]  # fmt: skip
    if trainer == "fit":  # a whole pass without a gradient is the evidence (a first batch may leave a loss tensor out)
        with pytest.raises(ValueError, match=r"received a gradient in this pass: .*holds none of this"):
            run()
    else:  # one step cannot tell: it warns, naming another model's optimizer among the causes
        with pytest.warns(UserWarning, match="build the optimizer from this model's parameters, not another model's"):
            run()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_a_frozen_model_whose_optimizer_trains_nothing_is_told_to_unfreeze_it():
    model = nn.Linear(4, 2).requires_grad_(False)
    temperature = nn.Parameter(torch.ones(()))  # held, but the loss never uses it: its first batch has no graph
    with pytest.raises(ValueError, match=r"the model is frozen.*Unfreeze it before training"):
        fit(model, lambda p, t: functional.cross_entropy(p, t), torch.optim.SGD([temperature]), [(X, LABELS)], 1)


# ---------------------------------------------- H3: a partial optimizer is refused as stale only on evidence, not shapes


@pytest.mark.parametrize("shape", [(1,), ()], ids=["shaped like PReLU's weight", "0-d"])
def test_a_partial_optimizer_with_a_loss_tensor_shaped_like_an_untrained_parameter_trains(shape):
    def setup():
        torch.manual_seed(2)
        body = nn.Sequential(nn.Linear(4, 8), nn.PReLU())  # pretrained, left out of the optimizer
        model = nn.Sequential(body, nn.Linear(8, 2))
        temperature = nn.Parameter(torch.ones(shape))

        def loss_fn(logits, target):
            return functional.cross_entropy(logits / temperature, target)

        return model, temperature, loss_fn, torch.optim.SGD([*model[1].parameters(), temperature], lr=0.1)

    model, temperature, loss_fn, optimizer = setup()
    _plain_loop(model, loss_fn, optimizer, 2)
    expected = (temperature.detach().clone(), model[1].weight.detach().clone())
    model, temperature, loss_fn, optimizer = setup()
    fit(model, loss_fn, optimizer, [(X, LABELS)], 2, progress=False)
    assert torch.allclose(temperature, expected[0]) and torch.allclose(model[1].weight, expected[1])


# ------------------------------------------------------------------------------- H5 and LOW: numbers drawn as they are


def _texts(fig, index=0):
    return [t.get_text() for t in fig.axes[index].texts]


def test_the_broadcast_result_shows_the_differences_the_operands_give():
    fig = plot_broadcast([1e-5, 2.00004], [0.0, 1.0])
    assert _texts(fig, 0) == ["1e-05", "1e-05", "2.00004", "2.00004"]
    assert _texts(fig, 2) == ["1e-05", "-0.99999", "2.00004", "1.00004"]


def test_the_broadcast_result_of_float32_values_shows_no_digits_the_operands_do_not():
    fig = plot_broadcast(torch.tensor([[1.1], [3.9]]), torch.tensor([1.0, 4.0]))  # lesson 01: float32 values
    assert _texts(fig, 0) == ["1.1", "1.1", "3.9", "3.9"]
    assert _texts(fig, 2) == ["0.1", "-2.9", "2.9", "-0.1"]


@pytest.mark.parametrize(
    ("matrix", "texts"),
    [
        (np.array([[0.5, 0.5], [1.0, 0.0]]), ["0.50", "0.50", "1.00", "0.00"]),  # fractions: 2 decimals each
        (torch.tensor([[5.0, 1.0], [2.0, 7.0]]), ["5", "1", "2", "7"]),  # whole counts held as floats
        (np.eye(2, dtype=bool), ["1", "0", "0", "1"]),  # booleans: counts of 1 and 0
        (np.array([[0.996, 0.004], [0.333, 0.667]]), ["1.00", "0.00", "0.33", "0.67"]),
    ],
    ids=["fractions", "float counts", "bools", "rounded fractions"],
)
def test_confusion_matrix_cells_are_all_counts_or_all_fractions(matrix, texts):
    assert _texts(plot_confusion_matrix(matrix, ["a", "b"])) == texts


def test_saving_an_optimizer_over_a_tensor_of_the_loss_names_both_causes(tmp_path):
    model, _, _, optimizer = _calibration()  # fit trains it; a checkpoint keeps only the model's tensors
    with pytest.raises(
        ValueError, match=r"holds none of this model's param.*another model.*tensors of the loss.*Param"
    ):
        save_checkpoint(tmp_path / "c.pt", model, optimizer)
    assert not (tmp_path / "c.pt").exists()
