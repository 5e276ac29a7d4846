"""Review api3, training: a loader that drops samples from an evaluation, batches weighted by their target values,
parameters the optimizer holds that never get a gradient, integer losses evaluated, and helpers given None."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from course.diagnose import check_run
from course.epochs import pad_history
from course.parts import check_loss_fn, check_optimizer
from course.training import evaluate, fit, train_epoch
from course.updates import recorded_rate
from tests.unit.clear_errors import assert_clear_error

GEN = torch.Generator().manual_seed(0)
X, Y = torch.randn(10, 3, generator=GEN), torch.randn(10, 1, generator=GEN)


def sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1)


# ----------------------------------------------------------------------------- drop_last in an evaluation


def test_evaluate_refuses_a_loader_whose_drop_last_leaves_samples_out():
    loader = DataLoader(TensorDataset(X, Y), batch_size=4, drop_last=True)  # 10 samples: 2 left out
    assert_clear_error(lambda: evaluate(nn.Linear(3, 1), nn.MSELoss(), loader), ValueError, r"drop_last=False")
    assert_clear_error(lambda: evaluate(nn.Linear(3, 1), nn.MSELoss(), loader), ValueError, r"2 of its 10 samples")


def test_fit_refuses_a_val_loader_whose_drop_last_leaves_samples_out_before_training():
    model = nn.Linear(3, 1)
    before = [p.detach().clone() for p in model.parameters()]
    val = DataLoader(TensorDataset(X, Y), batch_size=4, drop_last=True)
    with pytest.raises(ValueError, match=r"val_loader.*drop_last=False"):
        fit(model, nn.MSELoss(), sgd(model), [(X, Y)], 2, val_loader=val, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_a_drop_last_loader_whose_batches_divide_the_set_is_evaluated_and_training_may_drop():
    model = nn.Linear(3, 1)
    exact = DataLoader(TensorDataset(X, Y), batch_size=5, drop_last=True)
    with torch.no_grad():
        whole = nn.MSELoss()(model(X), Y).item()
    assert evaluate(model, nn.MSELoss(), exact) == pytest.approx(whole, rel=1e-6)
    dropping = DataLoader(TensorDataset(X, Y), batch_size=4, drop_last=True)  # training may drop a last batch
    history = fit(model, nn.MSELoss(), sgd(model), dropping, 2, val_loader=exact, progress=False)
    assert len(history["val_loss"]) == 2


# ----------------------------------------------------------------------------- batches weighted by y.numel()


def batches_of(x: torch.Tensor, y: torch.Tensor, dim: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of 4, 4 and 2 samples along ``dim`` (1 for time-major data)."""
    return [(x.narrow(dim, i, min(4, x.shape[dim] - i)), y.narrow(dim, i, min(4, y.shape[dim] - i)))
            for i in range(0, x.shape[dim], 4)]  # fmt: skip


def whole_and_evaluated(model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor, dim: int = 0):
    with torch.no_grad():
        whole = loss_fn(model(x), y).item()
    return evaluate(model, loss_fn, batches_of(x, y, dim)), whole


def test_evaluate_is_the_whole_set_mse_for_column_targets():
    torch.manual_seed(0)
    got, whole = whole_and_evaluated(nn.Linear(3, 1), nn.MSELoss(), X, Y)
    assert got == pytest.approx(whole, rel=1e-6)


def test_evaluate_is_the_whole_set_mse_for_time_major_targets():
    torch.manual_seed(0)
    xs, ys = torch.randn(5, 10, 3, generator=GEN), torch.randn(5, 10, 1, generator=GEN)  # (T, N, 1)
    got, whole = whole_and_evaluated(nn.Linear(3, 1), nn.MSELoss(), xs, ys, dim=1)
    assert got == pytest.approx(whole, rel=1e-6)


def test_evaluate_is_the_whole_set_cross_entropy_for_class_indices_and_probabilities():
    torch.manual_seed(0)
    model, classes = nn.Linear(3, 4), torch.randint(0, 4, (10,), generator=GEN)
    got, whole = whole_and_evaluated(model, nn.CrossEntropyLoss(), X, classes)
    assert got == pytest.approx(whole, rel=1e-6)
    probabilities = torch.softmax(torch.randn(10, 4, generator=GEN), dim=1)
    got, whole = whole_and_evaluated(model, nn.CrossEntropyLoss(), X, probabilities)
    assert got == pytest.approx(whole, rel=1e-6)


# ----------------------------------------------------------------------------- parameters that never get a gradient


class Detached(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first, self.last = nn.Linear(3, 2), nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.first(x).detach())


class Heads(nn.Module):
    """Two heads used in turn: each batch trains one of them."""

    def __init__(self) -> None:
        super().__init__()
        self.body, self.heads, self.calls = nn.Linear(3, 2), nn.ModuleList([nn.Linear(2, 1), nn.Linear(2, 1)]), 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.heads[self.calls % 2](self.body(x))


def test_fit_warns_about_parameters_the_optimizer_holds_that_never_got_a_gradient():
    model = Detached()
    with pytest.warns(UserWarning, match=r"2 parameter\(s\).*no gradient.*first\.weight, first\.bias") as caught:
        fit(model, nn.MSELoss(), sgd(model), [(X, Y)], 2, progress=False)
    text = str(caught[0].message)
    assert "last." not in text and "requires_grad_(False)" in text and ".detach()" in text


@pytest.mark.parametrize("kind", ["frozen", "heads in turn", "frozen, left out of the optimizer"])
def test_fit_says_nothing_of_frozen_parameters_or_heads_used_in_turn(kind):
    torch.manual_seed(0)
    model = Heads() if kind == "heads in turn" else Detached()
    if kind != "heads in turn":
        model.first.requires_grad_(False)
    params = model.last.parameters() if kind.endswith("optimizer") else model.parameters()
    loader = DataLoader(TensorDataset(X, Y), batch_size=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(model, nn.MSELoss(), torch.optim.SGD(params, lr=0.1), loader, 2, progress=False)


def test_train_epoch_and_a_fit_of_no_epoch_do_not_warn_and_nothing_trained_is_still_refused():
    model = Detached()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(model, nn.MSELoss(), sgd(model), [(X, Y)], 0, progress=False)
        train_epoch(model, nn.MSELoss(), sgd(model), [(X, Y)])
    frozen = Detached()
    opt = torch.optim.SGD(frozen.first.parameters(), lr=0.1)  # holds only the layer the forward cuts off
    with pytest.raises(ValueError, match=r"gave none of its tensors a gradient"):
        fit(frozen, nn.MSELoss(), opt, [(X, Y)], 1, progress=False)


# ----------------------------------------------------------------------------- integer losses, builtins as losses


@pytest.mark.parametrize(
    ("loss_fn", "kind"),
    [(lambda p, y: ((p - y) ** 2).mean().long(), r"an integer tensor \(torch\.int64\)"),
     (lambda p, y: ((p - y) ** 2).mean() > 0, r"a bool tensor")],
    ids=["long", "bool"],
)  # fmt: skip
def test_evaluate_refuses_a_loss_that_is_no_float(loss_fn, kind):
    assert_clear_error(lambda: evaluate(nn.Linear(3, 1), loss_fn, [(X, Y)]), TypeError, rf"{kind}.*\.float\(\)")


@pytest.mark.parametrize("builtin", [print, max, dict])
def test_a_python_builtin_is_no_loss(builtin):
    assert_clear_error(lambda: check_loss_fn(builtin), TypeError, r"Python's built-in.*nn\.MSELoss\(\)")
    check_loss_fn(F.mse_loss)
    check_loss_fn(torch.dist)


# ----------------------------------------------------------------------------- helpers given None or the wrong type


def test_pad_history_refuses_what_is_no_dict_of_lists():
    assert_clear_error(lambda: pad_history(None, 2), TypeError, r"history should be a dict of lists.*NoneType")
    assert_clear_error(lambda: pad_history({"train_loss": (1.0,)}, 2), TypeError, r"train_loss.*tuple")
    history = {"train_loss": [0.5], "mine": (1,)}
    pad_history(history, 2)
    assert history["train_loss"][1] != history["train_loss"][1] and history["mine"] == (1,)


def test_recorded_rate_refuses_what_is_no_optimizer_and_is_nan_without_groups():
    assert_clear_error(lambda: recorded_rate(None), TypeError, r"optimizer should be a torch\.optim\.Optimizer")
    assert math.isnan(recorded_rate(type("NoGroups", (), {"param_groups": []})()))


def test_check_optimizer_names_a_missing_model():
    model = nn.Linear(2, 1)
    assert_clear_error(lambda: check_optimizer(sgd(model), None), TypeError, r"model should be a torch\.nn\.Module")


def test_check_run_without_loaders_checks_nothing():
    model = nn.Linear(2, 1)
    assert check_run(model, sgd(model), {}, 1, "fit") is None
