"""Good input the course refused (round 2 of the API review), and the few mistakes it let through or misnamed."""

from __future__ import annotations

import functools
import math
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional
from torch.optim import lr_scheduler
from torch.utils.data import DataLoader, TensorDataset

from course.checkpoints import load_checkpoint, save_checkpoint
from course.training import evaluate, fit, make_train_step, train_epoch
from tests.unit.clear_errors import assert_clear_error

torch.manual_seed(0)
X, Y = torch.randn(32, 3), torch.randn(32, 1)
LOADER = DataLoader(TensorDataset(X, Y), batch_size=8)


def fitted(make_scheduler, epochs, loss_fn=None, loader=LOADER, val_loader=None):
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = make_scheduler(optimizer) if make_scheduler else None
    loss_fn = loss_fn or nn.MSELoss()
    return fit(model, loss_fn, optimizer, loader, epochs, scheduler=scheduler, val_loader=val_loader, progress=False)


@pytest.mark.parametrize(
    "make",
    [
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=5, anneal_strategy="linear"),
        lambda o: lr_scheduler.LambdaLR(o, lambda e: 1 - e / 4),
    ],
)
def test_a_negative_rate_after_the_last_epoch_is_never_used(make):  # F1
    assert len(fitted(make, 5)["train_loss"]) == 5


def test_a_negative_rate_mid_training_is_still_refused():
    make = functools.partial(lr_scheduler.LambdaLR, lr_lambda=lambda e: 1 - e / 2)
    assert_clear_error(lambda: fitted(make, 5), ValueError, "after epoch 3.*training stopped before using")


def test_a_schedule_ending_at_exactly_zero_is_not_refused_by_rounding():  # F2
    make = functools.partial(lr_scheduler.LinearLR, start_factor=0.3, end_factor=0.0, total_iters=3)
    assert fitted(make, 5)["lr"][-1] == pytest.approx(0.0, abs=1e-12)


def test_fit_epoch_by_epoch_keeps_the_users_own_metric():  # F3
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = None
    for epoch in range(4):
        history = fit(
            model, nn.MSELoss(), optimizer, [(X, Y)], epoch + 1, history=history, start_epoch=epoch, progress=False
        )
        history.setdefault("val_mae", []).append(float(epoch))
    assert history["val_mae"] == [0.0, 1.0, 2.0, 3.0]
    assert len(history["train_loss"]) == 4


def test_kl_divergence_batchmean_is_a_mean():  # F4
    x, target = torch.randn(10, 3), torch.softmax(torch.randn(10, 4), dim=1)
    model = nn.Sequential(nn.Linear(3, 4), nn.LogSoftmax(dim=1))
    loader = DataLoader(TensorDataset(x, target), batch_size=4)
    loss_fn = nn.KLDivLoss(reduction="batchmean")
    with torch.no_grad():
        whole = loss_fn(model(x), target).item()
    assert evaluate(model, loss_fn, loader) == pytest.approx(whole, rel=1e-5)
    history = fit(
        model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1), loader, 1, val_loader=loader, progress=False
    )
    assert len(history["val_loss"]) == 1


class WithExtraState(nn.Linear):
    def __init__(self):
        super().__init__(3, 1)

    def get_extra_state(self):
        return {"version": 2, "scale": torch.ones(2)}

    def set_extra_state(self, state):
        self.state = state


def test_a_dict_extra_state_trains_and_loads(tmp_path):  # F5
    model = WithExtraState()
    train_epoch(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), [(X, Y)])
    loaded = load_checkpoint(save_checkpoint(tmp_path / "c.pt", model), WithExtraState())
    assert loaded["epoch"] == 0


QUANTILES = torch.tensor([0.1, 0.5, 0.9])


def quantile_loss(pred, target, q=QUANTILES):
    error = target - pred  # (N, 1) against (N, 3): one error per quantile, on purpose
    return torch.maximum(q * error, (q - 1) * error).mean()


def gaussian_nll(pred, target):
    mean, log_var = pred[:, :1], pred[:, 1:]
    return (log_var + (target - mean) ** 2 / log_var.exp()).mean()


@pytest.mark.parametrize(("loss_fn", "columns"), [(quantile_loss, 3), (gaussian_nll, 2)])
def test_more_prediction_columns_on_purpose_are_not_refused(loss_fn, columns):  # F6
    model = nn.Linear(3, columns)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        history = fit(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.01), LOADER, 2, progress=False)
    assert all(math.isfinite(v) for v in history["train_loss"])


def test_a_hand_written_loss_that_stretches_gets_a_warning():
    model = nn.Linear(3, 2)
    with pytest.warns(UserWarning, match="stretch"):
        make_train_step(model, lambda p, t: ((p - t) ** 2).mean(), torch.optim.SGD(model.parameters(), lr=0.1))(X, Y)


def test_a_known_elementwise_loss_behind_partial_still_refuses_the_stretch():
    model = nn.Linear(3, 2)
    loss_fn = functools.partial(functional.mse_loss, reduction="mean")
    step = make_train_step(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1))
    assert_clear_error(lambda: step(X, Y), ValueError, "stretch the targets")


def classification(model, loss_fn=None):
    labels = torch.randint(0, 4, (32,))
    return fit(
        model, loss_fn or nn.NLLLoss(), torch.optim.SGD(model.parameters(), lr=0.1), [(X, labels)], 1, progress=False
    )


class SmoothedLog(nn.Module):
    def forward(self, scores):
        return torch.log(torch.softmax(100 * scores, dim=1) + 1e-5)  # confident: the largest is about +1e-5


def test_nll_on_smoothed_log_probabilities_is_not_refused():  # F7
    assert len(classification(nn.Sequential(nn.Linear(3, 4), SmoothedLog()))["train_loss"]) == 1


class Shifted(nn.Module):
    def forward(self, scores):
        return -torch.sigmoid(scores)  # at most 0, but not log-probabilities: their exp does not sum to 1


@pytest.mark.parametrize("last", [nn.LogSoftmax(dim=0), Shifted()])
def test_nll_on_scores_that_are_not_log_probabilities_is_refused(last):  # F7, S2
    model = nn.Sequential(nn.Linear(3, 4), last)
    assert_clear_error(lambda: classification(model), ValueError, "LogSoftmax\\(dim=1\\)")


@pytest.mark.parametrize(
    "loss_fn",
    [functools.partial(functional.binary_cross_entropy_with_logits, reduction="mean"), nn.BCEWithLogitsLoss()],
)
def test_bce_targets_outside_0_1_are_refused_on_any_batch(loss_fn):  # S1 (a lambda cannot be recognised)
    good, bad = torch.ones(8, 1), torch.full((8, 1), 2.0)
    loader = [(X[:8], good), (X[8:16], bad)]
    model = nn.Linear(3, 1)
    assert_clear_error(
        lambda: train_epoch(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1), loader),
        ValueError,
        "between 0 and 1",
    )


def test_save_checkpoint_refuses_an_epoch_that_disagrees_with_the_history(tmp_path):  # S7
    history = {"train_loss": [0.3, 0.2, 0.1], "lr": [0.1] * 3}
    assert_clear_error(
        lambda: save_checkpoint(tmp_path / "c.pt", nn.Linear(1, 1), epoch=2, history=history),
        ValueError,
        "epoch=2.*3",
    )


def test_a_model_passed_as_the_loss_is_named():  # R2
    model = nn.Linear(3, 1)
    assert_clear_error(
        lambda: fit(model, model, torch.optim.SGD(model.parameters(), lr=0.1), LOADER, 1, progress=False),
        TypeError,
        "swapped",
    )


def test_a_loss_module_with_parameters_still_works():
    class Weighted(nn.Module):
        def __init__(self):
            super().__init__()
            self.log_var = nn.Parameter(torch.zeros(()))

        def forward(self, pred, target):
            return ((pred - target) ** 2).mean() * self.log_var.exp() + self.log_var

    assert len(fitted(None, 1, Weighted())["train_loss"]) == 1


def test_nan_at_the_first_step_is_not_blamed_on_the_learning_rate():
    model = nn.Linear(3, 4)
    labels = torch.full((32,), -100)  # every target ignored: the mean is over no sample
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError) as info:
        fit(model, nn.CrossEntropyLoss(), opt, [(X, labels)], 1, progress=False)
    assert "every target of this batch equals the loss's ignore_index (-100)" in str(info.value)
    assert "lower the learning rate" not in str(info.value)
    with pytest.raises(FloatingPointError) as info:
        make_train_step(model, nn.CrossEntropyLoss(), opt)(X, labels)
    assert "lower the learning rate" not in str(info.value)


def test_a_one_cycle_schedule_built_per_batch_is_trained_with_a_warning_naming_total_steps_epochs():
    per_batch = functools.partial(lr_scheduler.OneCycleLR, max_lr=0.1, epochs=3, steps_per_epoch=len(LOADER))
    with pytest.warns(UserWarning, match=r"OneCycleLR has 12 of its total_steps=12 left.*3 times.*total_steps=epochs"):
        assert len(fitted(per_batch, 3)["train_loss"]) == 3  # warned, not refused: a later run may resume to the end
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a schedule that lasts exactly the epochs to train: no warning
        fitted(functools.partial(lr_scheduler.OneCycleLR, max_lr=0.1, total_steps=3), 3)


def masked_mse(pred, target):
    """Targets below 0 are missing: a batch without any left rightly gives a constant loss of 0."""
    if not (mask := target >= 0).any():
        return torch.tensor(0.0, requires_grad=True)
    return ((pred[mask] - target[mask]) ** 2).mean()


def test_a_masked_loss_may_skip_a_batch_while_the_others_train():
    y = Y[:12].clone()
    y[:4] = -1  # the first batch holds nothing to learn from
    model = nn.Linear(3, 1)
    before, loader = model.weight.detach().clone(), [(X[i : i + 4], y[i : i + 4]) for i in (0, 4, 8)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one step of three trained nothing: not warned
        train_epoch(model, masked_mse, torch.optim.SGD(model.parameters(), lr=0.1), loader)
    assert not torch.equal(model.weight, before)
    with pytest.warns(UserWarning, match="not connected.*nor changed them in place"):  # one step alone cannot tell
        make_train_step(model, masked_mse, torch.optim.SGD(model.parameters(), lr=0.1))(X[:4], y[:4])
    assert_clear_error(  # every step trained nothing: refused, naming the fix
        lambda: fit(model, masked_mse, torch.optim.SGD(model.parameters()), [(X[:4], y[:4])], 1, progress=False),
        ValueError,
        r"not connected.*\.item\(\)",
    )


@pytest.mark.parametrize("trainer", ["fit", "train step"])
def test_an_optimizer_stepped_in_backward_hooks_trains(trainer):
    model = nn.Linear(3, 1)
    steppers = {p: torch.optim.SGD([p], lr=0.1) for p in model.parameters()}

    def step(p):  # the optimizer runs as each gradient arrives, and frees it: none is left after backward()
        steppers[p].step()
        steppers[p].zero_grad()

    for p in model.parameters():
        p.register_post_accumulate_grad_hook(step)
    before, idle = model.weight.detach().clone(), torch.optim.SGD(model.parameters(), lr=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if trainer == "fit":
            fit(model, nn.MSELoss(), idle, LOADER, 1, progress=False)
        else:
            make_train_step(model, nn.MSELoss(), idle)(X, Y)
    assert not torch.equal(model.weight, before)


def test_an_optimizer_built_before_weight_norm_is_told_to_be_rebuilt(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    nn.utils.parametrizations.weight_norm(model[0])  # replaces the weight the optimizer holds by two new tensors
    with pytest.raises(ValueError, match=r"built before the model changed.*Rebuild it") as info:
        save_checkpoint(tmp_path / "c.pt", model, optimizer)
    assert "nn.Parameter" not in str(info.value)
    save_checkpoint(tmp_path / "c.pt", model, torch.optim.SGD(model.parameters(), lr=0.1))


@pytest.mark.parametrize("trainer", ["fit", "train_epoch", "train step"])
@pytest.mark.parametrize("change", ["layer replaced", "weight_norm"])
def test_an_optimizer_built_before_the_model_changed_is_refused_before_training(trainer, change):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    if change == "layer replaced":
        model[2] = nn.Linear(4, 1)  # the optimizer still holds the old head's tensors
    else:
        nn.utils.parametrizations.weight_norm(model[0])
    before = [p.detach().clone() for p in model.parameters()]
    run = {"fit": lambda: fit(model, nn.MSELoss(), optimizer, LOADER, 1, progress=False),
           "train_epoch": lambda: train_epoch(model, nn.MSELoss(), optimizer, LOADER),
           "train step": lambda: make_train_step(model, nn.MSELoss(), optimizer)(X, Y)}[trainer]  # fmt: skip
    with pytest.raises(ValueError, match=r"built before the model changed.*Rebuild it.*before training"):
        run()
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))


def test_an_optimizer_over_part_of_the_model_still_trains():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    head = model[2].weight.detach().clone()
    fit(model, nn.MSELoss(), torch.optim.SGD(model[2].parameters(), lr=0.1), LOADER, 1, progress=False)
    assert not torch.equal(model[2].weight, head)


def test_a_loss_cut_from_the_model_on_most_batches_is_warned_of():
    def cut_but_last(pred, target):  # trains only on the short last batch of each pass
        loss = ((pred - target) ** 2).mean()
        return loss if len(pred) < 8 else torch.tensor(loss.item(), requires_grad=True)

    loader = DataLoader(TensorDataset(X[:30], Y[:30]), batch_size=8)  # batches of 8, 8, 8 and 6
    with pytest.warns(UserWarning, match=r"^3 of this pass's 4 steps trained nothing.*not connected") as record:
        fit(
            model := nn.Linear(3, 1),
            cut_but_last,
            torch.optim.SGD(model.parameters(), lr=0.1),
            loader,
            2,
            progress=False,
        )
    assert len(record) == 2 and record[0].filename == __file__  # once per epoch, at the call of fit


@pytest.mark.parametrize("trainer", ["fit", "train_epoch"])
def test_a_lazy_model_with_its_optimizer_built_before_the_first_forward_trains(trainer):
    model = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.Linear(4, 1))  # torch trains it so: the layer keeps its
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # parameter objects when the first forward makes them
    if trainer == "fit":
        fit(model, nn.MSELoss(), optimizer, LOADER, 2, progress=False)
    else:
        train_epoch(model, nn.MSELoss(), optimizer, LOADER)
    assert not nn.parameter.is_lazy(model[0].weight) and torch.isfinite(model[0].weight).all()


@pytest.mark.parametrize("trainer", ["fit", "train step"])
def test_a_partial_optimizer_with_a_tensor_of_its_own_still_trains(trainer):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))  # the first layer trainable but not trained
    temperature = torch.ones(1, requires_grad=True)  # a learnable tensor of the loss, outside the model

    def loss_fn(pred, target):
        return ((pred / temperature - target) ** 2).mean()

    optimizer = torch.optim.SGD([*model[2].parameters(), temperature], lr=0.01)
    if trainer == "fit":
        fit(model, loss_fn, optimizer, LOADER, 1, progress=False)
    else:
        make_train_step(model, loss_fn, optimizer)(X, Y)
    assert not torch.equal(temperature, torch.ones(1))
