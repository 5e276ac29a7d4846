"""course.training: fit, evaluate, predict, checkpoints, and the errors they raise."""

from __future__ import annotations

import copy
import random

import nbformat
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course import training
from course.training import evaluate, fit, load_checkpoint, make_train_step, predict, save_checkpoint
from tools.notebooks import execute


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


def test_fit_equals_the_hand_written_loop_exactly():
    setup = make_setup()
    model, optimizer, _, loader, _, generator = copy.deepcopy(setup)
    hand = []
    torch.manual_seed(5)  # dropout draws from the global generator
    for _ in range(3):
        model.train()
        losses = []
        for x, y in loader:
            loss = nn.MSELoss()(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        hand.append(sum(losses) / len(losses))
    torch.manual_seed(5)
    history = fit(setup[0], nn.MSELoss(), setup[1], setup[3], 3, progress=False)
    assert history["train_loss"] == hand
    for a, b in zip(setup[0].parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b)


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
    x, y = training._batch_to((torch.ones(2, 1), torch.ones(2)), torch.device("meta"))
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
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import torch\nfrom torch import nn\nfrom torch.utils.data import DataLoader, TensorDataset\n"
            "from course.training import fit\n"
            "loader = DataLoader(TensorDataset(torch.ones(8, 1), torch.ones(8, 1)), batch_size=4)\n"
            "model = nn.Linear(1, 1)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)"
        ),
        nbformat.v4.new_code_cell("history = fit(model, nn.MSELoss(), opt, loader, epochs=3)"),
    ]
    outputs = execute(nb).cells[1].outputs
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


# ----------------------------------------------------------------------------- errors


def test_model_on_several_devices_is_reported():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1).to("meta"))
    with pytest.raises(RuntimeError, match=r"all be on one device, but they are on cpu, meta.*model.to\(device\)"):
        fit(
            model,
            nn.MSELoss(),
            torch.optim.SGD(model.parameters(), lr=0.1),
            DataLoader(make_data(8)),
            1,
            progress=False,
        )


class MakesMetaTensor(nn.Module):
    """A classic device bug: a tensor created in forward() on a fixed device."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x):
        return self.linear(x) + torch.zeros(1, device="meta")


def test_tensors_on_different_devices_during_training_are_explained():
    model = MakesMetaTensor()
    with pytest.raises(RuntimeError, match=r"different devices.*moved to the model's device \(cpu\).*device=x.device"):
        fit(
            model,
            nn.MSELoss(),
            torch.optim.SGD(model.parameters(), lr=0.1),
            DataLoader(make_data(8)),
            1,
            progress=False,
        )
    with pytest.raises(RuntimeError, match=r"different devices"):
        evaluate(model, nn.MSELoss(), DataLoader(make_data(8)))


class OnlyFeatures(torch.utils.data.Dataset):
    def __init__(self, kind: str):
        self.kind = kind

    def __len__(self):
        return 4

    def __getitem__(self, i):
        x = torch.ones(3)
        return {"tensor": x, "dict": {"x": x, "y": x[:1]}, "triple": (x, x[:1], x[:1]), "pair_of_str": ("a", "b")}[
            self.kind
        ]


@pytest.mark.parametrize(
    ("kind", "found"),
    [
        ("tensor", "a single tensor of shape (2, 3)"),
        ("dict", "a dict with keys ['x', 'y']"),
        ("triple", "a list of 3 item(s)"),
        ("pair_of_str", "a list of 2 item(s): tuple, tuple"),
    ],
)
def test_a_loader_that_does_not_yield_pairs_is_reported(kind, found):
    model = nn.Linear(3, 1)
    with pytest.raises(TypeError, match=r"should yield \(features, targets\) pairs") as info:
        fit(
            model,
            nn.MSELoss(),
            torch.optim.SGD(model.parameters(), lr=0.1),
            DataLoader(OnlyFeatures(kind), batch_size=2),
            1,
            progress=False,
        )
    assert found in str(info.value) and "__getitem__ return (x, y)" in str(info.value)


def test_a_loss_that_is_not_a_scalar_is_reported():
    model = nn.Linear(3, 1)
    with pytest.raises(ValueError, match=r"the loss must be a scalar tensor, got \(8, 1\).*reduction='mean'"):
        fit(
            model,
            nn.MSELoss(reduction="none"),
            torch.optim.SGD(model.parameters(), lr=0.1),
            DataLoader(make_data(16), batch_size=8),
            1,
            progress=False,
        )


def test_a_nan_loss_stops_training_and_says_where():
    calls = []

    def nan_on_sixth_call(pred, target):
        calls.append(1)
        loss = nn.functional.mse_loss(pred, target)
        return loss * float("nan") if len(calls) == 6 else loss

    model = nn.Linear(3, 1)
    loader = DataLoader(make_data(32), batch_size=8)  # 4 steps per epoch: call 6 is epoch 2, step 2
    with pytest.raises(FloatingPointError, match=r"became nan at epoch 2, step 2.*Lower the learning rate"):
        fit(model, nan_on_sixth_call, torch.optim.SGD(model.parameters(), lr=0.1), loader, 5, progress=False)
    assert len(calls) == 6


def test_an_infinite_loss_is_reported_too():
    model = nn.Linear(1, 1)
    loader = DataLoader(TensorDataset(torch.ones(4, 1), torch.full((4, 1), float("inf"))), batch_size=4)
    with pytest.raises(FloatingPointError, match=r"became inf at epoch 1, step 1"):
        fit(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), loader, 1, progress=False)


@pytest.mark.parametrize(
    ("epochs", "start", "history", "message"),
    [
        (3, 5, None, r"start_epoch=5 is past epochs=3.*epochs=10"),
        (
            5,
            0,
            {"train_loss": [1.0, 0.5]},
            r"holds 2 epoch\(s\) of train_loss but start_epoch=0.*start_epoch=ckpt\['epoch'\]",
        ),
        (-1, 0, None, r"epochs should be a non-negative integer, got -1"),
        (2.5, 0, None, r"epochs should be a non-negative integer, got 2.5"),
    ],
)
def test_wrong_epochs_are_reported(epochs, start, history, message):
    model = nn.Linear(3, 1)
    with pytest.raises(ValueError, match=message):
        fit(
            model,
            nn.MSELoss(),
            torch.optim.SGD(model.parameters(), lr=0.1),
            DataLoader(make_data(8)),
            epochs,
            history=history,
            start_epoch=start,
            progress=False,
        )


def test_an_empty_loader_is_reported():
    model = nn.Linear(3, 1)
    with pytest.raises(ValueError, match="yielded no batches"):
        fit(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), [], 1, progress=False)


def test_a_checkpoint_folder_that_does_not_exist_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"the folder '.*missing' does not exist.*mkdir\(parents=True"):
        save_checkpoint(tmp_path / "missing" / "ckpt.pt", nn.Linear(1, 1))
    with pytest.raises(FileNotFoundError, match=r"no checkpoint file at"):
        load_checkpoint(tmp_path / "nothing.pt", nn.Linear(1, 1))


def test_loading_a_missing_optimizer_state_is_reported(tmp_path):
    model = nn.Linear(1, 1)
    path = save_checkpoint(tmp_path / "c.pt", model)
    with pytest.raises(ValueError, match=r"holds no optimizer state.*save_checkpoint\(\.\.\., optimizer=optimizer\)"):
        load_checkpoint(path, model, torch.optim.SGD(model.parameters(), lr=0.1))


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoint_loads_with_weights_only_and_holds_plain_values(tmp_path):
    model, optimizer, scheduler, loader, val_loader, generator = make_setup()
    history = run_fit((model, optimizer, scheduler, loader, val_loader, generator), 2)
    history["train_loss"] = [np.float64(v) for v in history["train_loss"]]  # numpy scalars get converted
    path = save_checkpoint(tmp_path / "c.pt", model, optimizer, scheduler, 2, history, generator=generator)
    raw = torch.load(path, weights_only=True)
    assert sorted(raw) == ["epoch", "history", "model", "optimizer", "rng", "scheduler"]
    assert raw["epoch"] == 2 and all(type(v) is float for v in raw["history"]["train_loss"])
    assert sorted(raw["rng"]) == ["cuda", "generator", "numpy", "python", "torch"]


def test_loading_restores_every_random_generator(tmp_path):
    generator = torch.Generator().manual_seed(3)
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    np.random.randn()  # leaves a cached Gaussian in NumPy's state
    path = save_checkpoint(tmp_path / "c.pt", nn.Linear(1, 1), generator=generator)
    expected = (torch.rand(3), np.random.randn(3), random.random(), torch.rand(3, generator=generator))
    torch.rand(5), np.random.rand(5), random.random(), torch.rand(5, generator=generator)
    load_checkpoint(path, nn.Linear(1, 1), generator=generator)
    again = (torch.rand(3), np.random.randn(3), random.random(), torch.rand(3, generator=generator))
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2] == again[2] and torch.equal(expected[3], again[3])


def test_a_failure_mid_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "c.pt", nn.Linear(1, 1), epoch=1)
    before = path.read_bytes()

    def crash_mid_write(obj, file):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_mid_write)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, nn.Linear(1, 1), epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # the temporary file is gone too
    monkeypatch.undo()
    assert load_checkpoint(path, nn.Linear(1, 1))["epoch"] == 1


def test_resuming_gives_exactly_the_parameters_of_training_that_never_stopped(tmp_path):
    straight = make_setup()
    history_straight = run_fit(straight, 6)

    first = make_setup()
    history = run_fit(first, 3)
    save_checkpoint(tmp_path / "c.pt", first[0], first[1], first[2], 3, history, generator=first[5])
    torch.rand(100)  # anything random in between is undone by loading

    resumed = make_setup(seed=123)  # other initial weights and loader state: all overwritten by the checkpoint
    ckpt = load_checkpoint(tmp_path / "c.pt", resumed[0], resumed[1], resumed[2], generator=resumed[5])
    history_resumed = run_fit(resumed, 6, history=ckpt["history"], start_epoch=ckpt["epoch"])

    assert history_resumed == history_straight
    for a, b in zip(straight[0].parameters(), resumed[0].parameters(), strict=True):
        assert torch.equal(a, b)


def test_without_the_loader_generator_the_shuffling_order_differs(tmp_path):
    """The control for the test above: the loader's generator state matters."""
    straight = make_setup()
    run_fit(straight, 4)
    first = make_setup()
    history = run_fit(first, 2)
    save_checkpoint(tmp_path / "c.pt", first[0], first[1], first[2], 2, history)
    resumed = make_setup(seed=123)
    ckpt = load_checkpoint(tmp_path / "c.pt", resumed[0], resumed[1], resumed[2])
    run_fit(resumed, 4, history=ckpt["history"], start_epoch=ckpt["epoch"])
    assert not torch.equal(straight[0][0].weight, resumed[0][0].weight)
