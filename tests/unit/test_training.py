"""course.training: the steps, train_epoch, fit, evaluate and predict behave as the lessons say.

Bad input and the errors it gets: tests/unit/test_bad_inputs.py; checkpoints: test_checkpoints.py."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.loaders import batch_to
from course.training import evaluate, fit, make_train_step, predict, train_epoch
from tools.notebooks import run_cells


def make_data(n: int = 48, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(n, 1, generator=g))


def make_setup(seed: int = 0):
    """A model with dropout, SGD with momentum, a scheduler and a shuffling seeded loader."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(make_data(), batch_size=8, shuffle=True, generator=generator)
    val_loader = DataLoader(make_data(16, seed=1), batch_size=8)
    return model, optimizer, scheduler, loader, val_loader, generator


def run_fit(setup, epochs, **kwargs):
    model, optimizer, scheduler, loader, val_loader, _ = setup
    return fit(
        model,
        nn.MSELoss(),
        optimizer,
        loader,
        epochs,
        val_loader=val_loader,
        scheduler=scheduler,
        progress=False,
        **kwargs,
    )


# ----------------------------------------------------------------------------- fit


def test_fit_returns_plain_float_history_with_lr_per_epoch():
    history = run_fit(make_setup(), 5)
    assert sorted(history) == ["lr", "train_loss", "val_loss"]
    assert all(len(v) == 5 and all(type(x) is float for x in v) for v in history.values())
    assert history["lr"] == pytest.approx([0.05, 0.05, 0.025, 0.025, 0.0125])
    assert history["train_loss"][-1] < history["train_loss"][0]


def hand_written_epoch(model, optimizer, loader) -> float:
    """One epoch as lesson 10 writes it: the mean of the mini-batch losses."""
    model.train()
    losses = []
    for x, y in loader:
        loss = nn.MSELoss()(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def test_fit_equals_the_hand_written_loop_exactly():
    setup = make_setup()
    model, optimizer, _, loader, _, _ = copy.deepcopy(setup)
    torch.manual_seed(5)  # dropout draws from the global generator
    hand = [hand_written_epoch(model, optimizer, loader) for _ in range(3)]
    torch.manual_seed(5)
    history = fit(setup[0], nn.MSELoss(), setup[1], setup[3], 3, progress=False)
    assert history["train_loss"] == hand
    assert all(torch.equal(a, b) for a, b in zip(setup[0].parameters(), model.parameters(), strict=True))


def test_plateau_scheduler_gets_the_validation_loss_else_the_training_loss():
    class Recorder(torch.optim.lr_scheduler.ReduceLROnPlateau):
        seen: list

        def step(self, metrics, *args, **kwargs):
            self.seen.append(metrics)
            return super().step(metrics, *args, **kwargs)

    for validate in (True, False):
        model, optimizer, _, loader, val_loader, _ = make_setup()
        scheduler = Recorder(optimizer)
        scheduler.seen = []
        history = fit(
            model,
            nn.MSELoss(),
            optimizer,
            loader,
            2,
            val_loader=val_loader if validate else None,
            scheduler=scheduler,
            progress=False,
        )
        assert scheduler.seen == history["val_loss" if validate else "train_loss"]


def test_fit_does_not_change_the_history_passed_in():
    history = {"train_loss": [1.0], "lr": [0.05]}
    model, optimizer, _, loader, _, _ = make_setup()
    new = fit(model, nn.MSELoss(), optimizer, loader, 3, history=history, start_epoch=1, progress=False)
    assert history == {"train_loss": [1.0], "lr": [0.05]}
    assert len(new["train_loss"]) == len(new["lr"]) == 3 and new["train_loss"][0] == 1.0


def test_batches_move_to_the_model_device():
    x, y = batch_to((torch.ones(2, 1), torch.ones(2)), torch.device("meta"))
    assert x.device.type == y.device.type == "meta"


def test_train_step_factory_behaviour_is_unchanged():
    model = nn.Linear(1, 1).eval()
    step = make_train_step(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    assert isinstance(step(torch.ones(4, 1), torch.ones(4, 1)), float) and model.training


# ----------------------------------------------------------------------------- progress bar


def test_progress_bar_in_a_terminal_goes_to_stderr_only(capsys):
    model, optimizer, _, loader, _, _ = make_setup()
    fit(model, nn.MSELoss(), optimizer, loader, 2)
    out, err = capsys.readouterr()
    assert out == "" and "2/2" in err
    fit(model, nn.MSELoss(), optimizer, loader, 3, progress=False, history=None, start_epoch=2)
    assert capsys.readouterr() == ("", "")


def test_progress_bar_in_a_notebook_stores_no_compared_output():
    """Run fit(progress=True) in a real kernel: the cell keeps only a widget view, which nbval never
    compares (model ids are random), so stored outputs cannot differ between runs by construction."""
    outputs = run_cells(
        "import torch\nfrom torch import nn\nfrom torch.utils.data import DataLoader, TensorDataset\n"
        "from course.training import fit\n"
        "loader = DataLoader(TensorDataset(torch.ones(8, 1), torch.ones(8, 1)), batch_size=4)\n"
        "model = nn.Linear(1, 1)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)",
        "history = fit(model, nn.MSELoss(), opt, loader, epochs=3)",
    )[1].outputs
    assert [o.output_type for o in outputs] == ["display_data"]
    assert list(outputs[0].data) == ["application/vnd.jupyter.widget-view+json"]


# ----------------------------------------------------------------------------- evaluate and predict


@pytest.mark.parametrize("start_training", [True, False])
def test_evaluate_and_predict_use_eval_mode_and_restore_the_mode(start_training):
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.9), nn.Linear(8, 1)).train(start_training)
    model[1].train(not start_training)  # a submodule in the other mode keeps it too
    loader = DataLoader(make_data(16), batch_size=8)
    assert evaluate(model, nn.MSELoss(), loader) == evaluate(model, nn.MSELoss(), loader)
    out = predict(model, torch.ones(4, 3))
    assert out.shape == (4, 1) and not out.requires_grad
    assert torch.equal(out, predict(model, torch.ones(4, 3)))  # no dropout: eval mode
    assert model.training is start_training and model[1].training is (not start_training)


def test_predict_rejects_arrays_clearly():
    with pytest.raises(TypeError, match=r"x should be a torch.Tensor.*torch.as_tensor"):
        predict(nn.Linear(1, 1), np.ones((2, 1)))


# ----------------------------------------------------------------------------- train_epoch


def test_train_epoch_is_one_epoch_of_the_hand_written_loop():
    setup = make_setup()
    model, optimizer, _, loader, _, _ = copy.deepcopy(setup)
    torch.manual_seed(5)
    hand = hand_written_epoch(model, optimizer, loader)
    torch.manual_seed(5)
    assert train_epoch(setup[0], nn.MSELoss(), setup[1], setup[3]) == hand
    assert all(torch.equal(a, b) for a, b in zip(setup[0].parameters(), model.parameters(), strict=True))


# ----------------------------------------------------------------------------- a loss that stops being finite


def test_a_nan_loss_stops_training_where_it_happened_and_puts_back_the_epochs_start():
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    calls, start_of_epoch_2 = [], {}

    def nan_on_sixth_call(pred, target):
        calls.append(1)
        if len(calls) == 5:  # epoch 2, step 1: no step of epoch 2 taken yet
            start_of_epoch_2.update(model=copy.deepcopy(model.state_dict()), opt=copy.deepcopy(optimizer.state_dict()))
        loss = nn.functional.mse_loss(pred, target)
        return loss * float("nan") if len(calls) == 6 else loss

    loader = DataLoader(make_data(32), batch_size=8)  # 4 steps per epoch: call 6 is epoch 2, step 2
    with pytest.raises(FloatingPointError, match=r"became nan at epoch 2, step 2 .*start of epoch 2") as info:
        fit(model, nan_on_sixth_call, optimizer, loader, 5, progress=False)
    assert "The batch is finite, so training diverged: lower the learning rate" in str(info.value)
    assert len(calls) == 7  # no step after call 6; call 7 computes the gradient again, at the weights put back
    for key, value in model.state_dict().items():
        assert torch.equal(value, start_of_epoch_2["model"][key])
    momentum = optimizer.state_dict()["state"][0]["momentum_buffer"]
    assert torch.equal(momentum, start_of_epoch_2["opt"]["state"][0]["momentum_buffer"])


def test_after_divergence_the_last_finite_weights_and_optimizer_state_come_back():
    """A huge learning rate makes the weights inf while the loss of that step was finite; the next loss is not.
    fit puts back the state at the start of the last epoch that began with finite weights."""
    torch.manual_seed(0)
    x = torch.randn(64, 3) * 10
    loader = DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=16)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    fit(model, nn.MSELoss(), optimizer, loader, 2, progress=False)  # two healthy epochs
    at_epoch_3 = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    optimizer.param_groups[0]["lr"] = 1e30
    with pytest.raises(
        FloatingPointError,
        match=r"became (nan|inf) at epoch 3, step \d.*put back to their finite state "
        r"at the start of epoch 3.*lower the learning rate",
    ):
        fit(model, nn.MSELoss(), optimizer, loader, 5, history=None, start_epoch=2, progress=False)
    for key, value in model.state_dict().items():
        assert torch.equal(value, at_epoch_3[0][key])
    momentum = optimizer.state_dict()["state"][0]["momentum_buffer"]
    assert torch.equal(momentum, at_epoch_3[1]["state"][0]["momentum_buffer"])
    assert optimizer.param_groups[0]["lr"] == 1e30  # the state as it was then, with the learning rate set since


@pytest.mark.parametrize(("where", "name"), [(0, "features x"), (1, "targets y")])
def test_nan_in_the_data_is_blamed_on_the_data(where, name):
    data = list(make_data(16).tensors)
    data[where] = data[where].clone()
    data[where][3, 0] = float("nan")
    model = nn.Linear(3, 1)
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(
        FloatingPointError, match=rf"at epoch 1, step 1 .*in the {name}, 1 of \d+ values are NaN or inf.*will not help"
    ):
        fit(
            model,
            nn.MSELoss(),
            torch.optim.SGD(model.parameters(), lr=0.1),
            DataLoader(TensorDataset(*data), batch_size=8),
            2,
            progress=False,
        )
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_evaluate_weights_each_batch_by_its_size_as_lesson_11_teaches():
    model = nn.Linear(3, 1)
    data = make_data(20)  # batches of 8, 8 and 4: the mean of the batch means would differ
    loss_fn = nn.MSELoss()
    with torch.no_grad():
        all_at_once = loss_fn(model(data.tensors[0]), data.tensors[1]).item()
        batch_means = [loss_fn(model(x), y).item() for x, y in DataLoader(data, batch_size=8)]
    assert evaluate(model, loss_fn, DataLoader(data, batch_size=8)) == pytest.approx(all_at_once, rel=1e-6)
    assert abs(sum(batch_means) / len(batch_means) - all_at_once) > 1e-3  # so the test can tell them apart


def test_resuming_with_validation_added_keeps_each_epoch_at_its_index():  # NaN where not recorded
    model, optimizer, _, loader, val_loader, _ = make_setup()
    first = fit(model, nn.MSELoss(), optimizer, loader, 2, progress=False)
    resumed = run_fit((model, optimizer, None, loader, val_loader, None), 4, history=first, start_epoch=2)
    assert {k: len(v) for k, v in resumed.items()} == {"train_loss": 4, "lr": 4, "val_loss": 4}
    assert np.isnan(resumed["val_loss"][:2]).all() and np.isfinite(resumed["val_loss"][2:]).all()
    again = fit(model, nn.MSELoss(), optimizer, loader, 5, history=resumed, start_epoch=4, progress=False)
    assert len(again["val_loss"]) == 5 and np.isnan(again["val_loss"][4])


def test_a_step_on_a_bad_batch_leaves_the_weights_as_they_were():
    model = nn.Linear(3, 1)
    step, before = make_train_step(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1)), model.state_dict()
    before = copy.deepcopy(before)
    with pytest.raises(FloatingPointError, match=r"step was skipped, so the weights did not change"):
        step(torch.full((4, 3), float("nan")), torch.ones(4, 1))
    assert all(torch.equal(value, before[key]) for key, value in model.state_dict().items())
    step(torch.ones(4, 3), torch.ones(4, 1))  # one update, then weights as after a step that diverged
    with torch.no_grad():
        model.weight.fill_(float("inf"))  # the next loss says so
    with pytest.raises(FloatingPointError, match=r"weights are NaN or inf: an earlier step diverged.*rebuild"):
        step(torch.ones(4, 3), torch.ones(4, 1))


class TimeMajorGRU(nn.Module):
    """Takes x as (T, N, F), PyTorch's default layout for recurrent layers: len(x) is the sequence's length."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn, self.head = nn.GRU(3, 4), nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[1][-1])


def time_major(items):
    return torch.stack([x for x, _ in items], dim=1), torch.stack([y for _, y in items])


def test_evaluate_weights_each_batch_by_its_targets_not_by_the_length_of_time_major_features():
    torch.manual_seed(0)
    xs, ys = torch.randn(10, 5, 3), torch.randn(10, 1)  # 10 sequences of 5 steps: batches of 8 and 2
    model, loss_fn = TimeMajorGRU(), nn.MSELoss()
    loader = DataLoader(TensorDataset(xs, ys), batch_size=8, collate_fn=time_major)
    with torch.no_grad():
        whole = loss_fn(model(xs.transpose(0, 1)), ys).item()
        batch_means = [loss_fn(model(x), y).item() for x, y in loader]
    assert evaluate(model, loss_fn, loader) == pytest.approx(whole, rel=1e-6)
    assert abs(sum(batch_means) / len(batch_means) - whole) > 1e-3  # so the test can tell them apart


def test_evaluate_counts_a_sample_with_a_scalar_target_once():
    x, y = torch.tensor([[0.0], [0.0], [0.0]]), torch.tensor([1.0, 1.0, 4.0])
    model = nn.Sequential(nn.Linear(1, 1), nn.Flatten(0))  # one sample (1,) -> a prediction of shape (1,)
    with torch.no_grad():
        model[0].weight.zero_(), model[0].bias.zero_()
    loader = DataLoader(TensorDataset(x, y), batch_size=None)  # samples one at a time: x (1,), y ()
    loss_fn = lambda p, t: ((p.view(()) - t) ** 2).mean()  # noqa: E731
    assert evaluate(model, loss_fn, loader) == pytest.approx((1 + 1 + 16) / 3)
