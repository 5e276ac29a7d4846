"""Review round 10 (api3 items 1, 2, 4, 5): ±1 targets, complex data, and a batch of one sample squeezed away."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn
from torch.nn import functional
from torch.utils.data import DataLoader, TensorDataset

from course.loss_checks import loss_of
from course.loss_values import check_values
from course.training import evaluate, fit, predict
from tests.unit.clear_errors import assert_clear_error

torch.manual_seed(0)
X = torch.randn(16, 2)
Y01 = (X[:, :1] > 0).float()
SIGNED = [
    nn.SoftMarginLoss(),
    nn.HingeEmbeddingLoss(),
    functional.soft_margin_loss,
    functional.hinge_embedding_loss,
    functools.partial(functional.hinge_embedding_loss, margin=2.0),
]
SIGNED_IDS = ["SoftMarginLoss", "HingeEmbeddingLoss", "soft_margin_loss", "hinge_embedding_loss", "partial"]


def _fit(loss_fn, y, x=X, model=None, epochs=2, batch_size=8):
    model = model or nn.Linear(x.shape[1], 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size)
    return fit(model, loss_fn, optimizer, loader, epochs, progress=False)


@pytest.mark.parametrize("loss_fn", SIGNED, ids=SIGNED_IDS)
def test_zero_one_targets_for_a_plus_minus_one_loss_are_refused_in_fit(loss_fn):
    assert_clear_error(lambda: _fit(loss_fn, Y01), ValueError, r"-1 or \+1.*\{0, 1\}.*y = 2 \* y - 1")


def test_soft_margin_loss_names_bce_with_logits_as_the_other_fix():
    assert_clear_error(lambda: _fit(nn.SoftMarginLoss(), Y01), ValueError, r"nn\.BCEWithLogitsLoss\(\)")


@pytest.mark.parametrize(
    ("y", "words"),
    [
        (torch.tensor([[1.0], [2.0]]), r"\{1, 2\}.*torch\.where\(y == 2, 1\.0, -1\.0\)"),
        (torch.tensor([[0.0], [0.0]]), r"all 0"),
        (torch.tensor([[0.0], [0.5], [1.0]]), r"range from 0 to 1"),
        (torch.tensor([[0], [1]]), r"\{0, 1\}.*y = 2 \* y\.float\(\) - 1"),
        (torch.tensor([[False], [True]]), r"\{0, 1\}.*y = 2 \* y\.float\(\) - 1"),
    ],
    ids=["1-2", "all-zero", "graded", "long", "bool"],
)
def test_other_targets_for_a_plus_minus_one_loss_are_refused_with_their_own_fix(y, words):
    with pytest.raises(ValueError, match=words):
        check_values(torch.zeros(len(y), 1), y, nn.HingeEmbeddingLoss())


@pytest.mark.parametrize("loss_fn", SIGNED, ids=SIGNED_IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.long])
def test_plus_minus_one_targets_pass(loss_fn, dtype):
    y = (2 * Y01 - 1).to(dtype)
    if dtype == torch.long and loss_fn in (SIGNED[0], SIGNED[2]):  # SoftMarginLoss takes float targets only
        y = y.float()
    assert len(_fit(loss_fn, y)["train_loss"]) == 2
    check_values(torch.zeros(2, 1), torch.tensor([[1.0], [1.0]]), loss_fn)  # one class only: still -1/+1
    check_values(torch.zeros(2, 1), torch.tensor([[float("nan")], [1.0]]), loss_fn)  # NaN: blamed elsewhere


def test_float_zero_one_targets_for_bce_still_pass():
    assert len(_fit(nn.BCEWithLogitsLoss(), Y01)["train_loss"]) == 2
    assert len(_fit(nn.MSELoss(), Y01)["train_loss"]) == 2


@pytest.mark.parametrize(
    "loss_fn",
    [nn.MSELoss(), nn.L1Loss(), nn.SmoothL1Loss(), nn.HuberLoss(), nn.BCEWithLogitsLoss(), nn.SoftMarginLoss()],
    ids=lambda f: type(f).__name__,
)
def test_complex_targets_for_a_torch_loss_are_refused_with_a_fix(loss_fn):
    y = Y01.to(torch.complex64)
    assert_clear_error(lambda: _fit(loss_fn, y), TypeError, r"targets y are torch\.complex64.*y\.real")
    assert_clear_error(lambda: loss_of(torch.zeros(2, 1), loss_fn, y[:2]), TypeError, r"y\.real")


def test_complex_targets_for_a_loss_of_ones_own_that_fails_are_explained():
    def loss(out, y):
        return functional.mse_loss(out, y)

    assert_clear_error(lambda: _fit(loss, Y01.to(torch.complex64)), TypeError, r"targets y are torch\.complex64")


def test_complex_predictions_for_a_real_loss_are_explained():
    assert_clear_error(
        lambda: loss_of(torch.zeros(2, 1, dtype=torch.complex64), nn.MSELoss(), torch.zeros(2, 1)),
        TypeError,
        r"model's output is torch\.complex64.*real",
    )


def test_complex_features_are_explained_in_fit_evaluate_and_predict():
    x = X.to(torch.complex64)
    loader = DataLoader(TensorDataset(x, Y01), batch_size=8)
    words = r"complex.*x\.real.*torch\.cat\(\[x\.real, x\.imag\], dim=1\)"
    assert_clear_error(lambda: _fit(nn.MSELoss(), Y01, x=x), TypeError, words)
    assert_clear_error(lambda: evaluate(nn.Linear(2, 1), nn.MSELoss(), loader), TypeError, words)
    assert_clear_error(lambda: predict(nn.Linear(2, 1), x), TypeError, words)


def test_a_complex_model_with_complex_data_still_trains():
    model = nn.Linear(2, 1, dtype=torch.complex64)
    x, y = X.to(torch.complex64), Y01.to(torch.complex64)

    def loss(out, target):
        return ((out - target).abs() ** 2).mean()

    assert len(_fit(loss, y, x=x, model=model)["train_loss"]) == 2


class _Squeezed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze()


@pytest.mark.parametrize("run", ["fit", "evaluate"])
def test_a_squeeze_that_drops_a_one_sample_batch_names_squeeze_minus_one(run):
    x, y = torch.randn(9, 2), torch.randn(9)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)  # the last batch holds one sample
    model = _Squeezed()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    if run == "fit":
        call = lambda: fit(model, nn.MSELoss(), optimizer, loader, 1, progress=False)  # noqa: E731
    else:
        call = lambda: evaluate(model, nn.MSELoss(), loader)  # noqa: E731
    assert_clear_error(call, ValueError, r"batch of one sample.*\.squeeze\(\) in forward.*out\.squeeze\(-1\)")
    with pytest.raises(ValueError) as info:
        call()
    assert "y = y.view(1)" not in str(info.value)


def test_a_scalar_target_with_one_prediction_keeps_its_own_fix():
    with pytest.raises(ValueError, match=r"batch_size=None"):
        loss_of(torch.zeros(1), nn.MSELoss(), torch.tensor(1.0))
