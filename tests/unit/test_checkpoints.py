"""course.checkpoints: what a checkpoint holds, exact resuming, damage always detected, all-or-nothing loading,
saves that a crash or a kill cannot half-write."""

from __future__ import annotations

import copy
import getpass
import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course import checkpoint_file
from course.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from course.repro import rng_state
from course.training import fit

DAMAGED = r"'c.pt' is not a course checkpoint, or damaged: "


def make_setup(seed: int = 0):
    """A model with dropout, SGD with momentum, a scheduler and a shuffling seeded loader."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 3, generator=g)
    data = TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(48, 1, generator=g))
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(data, batch_size=8, shuffle=True, generator=generator)
    return model, optimizer, scheduler, loader, generator


def run_fit(setup, epochs, **kwargs):
    model, optimizer, scheduler, loader, _ = setup
    return fit(model, nn.MSELoss(), optimizer, loader, epochs, scheduler=scheduler, progress=False, **kwargs)


def trained_checkpoint(tmp_path, epochs=2):
    setup = make_setup()
    history = run_fit(setup, epochs)
    model, optimizer, scheduler, _, generator = setup
    return save_checkpoint(tmp_path / "c.pt", model, optimizer, scheduler, epochs, history, generator=generator)


def everything(model, optimizer=None, scheduler=None, generator=None):
    """A deep copy of all that loading may change: to prove that a failed load changed nothing."""
    return copy.deepcopy(
        (model.state_dict(), optimizer and optimizer.state_dict(), scheduler and scheduler.state_dict())
    ) + (rng_state(generator),)


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return a == b


# ----------------------------------------------------------------------------- what a checkpoint holds


def test_checkpoint_loads_with_weights_only_and_holds_plain_values(tmp_path):
    model, optimizer, scheduler, _, generator = make_setup()
    history = {"train_loss": [np.float64(0.5), np.float32(0.25)], "lr": [0.05, 0.05]}  # numpy scalars get converted
    path = save_checkpoint(tmp_path / "c.pt", model, optimizer, scheduler, 2, history, generator=generator)
    raw = torch.load(path, weights_only=True)
    assert sorted(raw) == ["epoch", "history", "kinds", "model", "optimizer", "param_names", "rng", "scheduler"]
    assert raw["epoch"] == 2 and all(type(v) is float for v in raw["history"]["train_loss"])
    assert raw["kinds"] == {"optimizer": "SGD", "scheduler": "StepLR"}
    assert sorted(raw["rng"]) == ["cuda", "generator", "numpy", "python", "torch"]
    assert path.read_bytes()[-91:-64] == checkpoint_file.SEAL  # the checksum sits in the zip archive's comment


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


def test_resuming_gives_exactly_the_parameters_of_training_that_never_stopped(tmp_path):
    straight = make_setup()
    history_straight = run_fit(straight, 6)
    first = make_setup()
    history = run_fit(first, 3)
    save_checkpoint(tmp_path / "c.pt", first[0], first[1], first[2], 3, history, generator=first[4])
    torch.rand(100)  # anything random in between is undone by loading
    resumed = make_setup(seed=123)  # other initial weights and loader state: all overwritten by the checkpoint
    ckpt = load_checkpoint(tmp_path / "c.pt", resumed[0], resumed[1], resumed[2], generator=resumed[4])
    assert run_fit(resumed, 6, history=ckpt["history"], start_epoch=ckpt["epoch"]) == history_straight
    assert all(torch.equal(a, b) for a, b in zip(straight[0].parameters(), resumed[0].parameters(), strict=True))


def test_without_the_loader_generator_the_shuffling_order_differs(tmp_path):
    """The control for the test above: the loader's generator state matters."""
    straight = make_setup()
    run_fit(straight, 4)
    first = make_setup()
    save_checkpoint(tmp_path / "c.pt", first[0], first[1], first[2], 2, run_fit(first, 2))
    resumed = make_setup(seed=123)
    ckpt = load_checkpoint(tmp_path / "c.pt", resumed[0], resumed[1], resumed[2])
    run_fit(resumed, 4, history=ckpt["history"], start_epoch=ckpt["epoch"])
    assert not torch.equal(straight[0][0].weight, resumed[0][0].weight)


# ----------------------------------------------------------------------------- loading is all or nothing


def other_parts(kind: str):
    """(model, optimizer, scheduler, generator) to load into, built so that one part does not fit."""
    model = make_setup(seed=5)[0]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3)
    generator = torch.Generator().manual_seed(11)
    if kind == "wider model":
        model = nn.Sequential(nn.Linear(3, 9), nn.ReLU(), nn.Dropout(0.2), nn.Linear(9, 1))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        scheduler = None
    elif kind == "Adam":
        optimizer = torch.optim.Adam(model.parameters())
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3)
    elif kind == "two groups":
        optimizer = torch.optim.SGD([{"params": model[0].parameters()}, {"params": model[3].parameters()}], lr=0.1)
        scheduler = None
    elif kind == "ExponentialLR":
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    return model, optimizer, scheduler, generator


@pytest.mark.parametrize(
    ("saved", "kind", "words"),
    [
        (
            "all",
            "wider model",
            r"weights do not fit \(0.bias is \(8,\) in the file but \(9,\).*momentum_buffer for parameter 0",
        ),
        ("all", "Adam", r"the file holds the state of the optimizer SGD, but you passed Adam"),
        ("all", "two groups", r"parameter groups hold \[2, 2\] parameters, the file's \[4\]"),
        ("all", "ExponentialLR", r"holds the scheduler StepLR, but you passed ExponentialLR"),
        ("model only", "same", r"holds no optimizer state.*optimizer=optimizer.*holds no scheduler state"),
        ("no generator", "same", r"holds no generator state.*save_checkpoint\(\.\.\., generator=generator\)"),
    ],
)
def test_a_checkpoint_that_does_not_fit_changes_nothing_and_says_what(tmp_path, saved, kind, words):
    model, optimizer, scheduler, loader, generator = make_setup()
    run_fit((model, optimizer, scheduler, loader, generator), 1)  # so the optimizer has momentum buffers
    parts = {
        "all": (optimizer, scheduler, generator),
        "model only": (None, None, generator),
        "no generator": (optimizer, scheduler, None),
    }[saved]
    save_checkpoint(tmp_path / "c.pt", model, parts[0], parts[1], 2, generator=parts[2])
    target = other_parts(kind)
    before = everything(*target)
    with pytest.raises(CheckpointError, match=r"'c.pt' does not fit, so nothing was loaded: .*" + words):
        load_checkpoint(tmp_path / "c.pt", *target[:3], generator=target[3])
    assert same(everything(*target), before)


@pytest.mark.parametrize(
    ("raised", "caught", "words"),
    [
        (
            RuntimeError("something unforeseen"),
            CheckpointError,
            r"does not fit, so nothing was loaded: something unforeseen",
        ),
        (KeyboardInterrupt(), KeyboardInterrupt, r"^$"),  # an interrupt stays an interrupt, after the rollback
    ],
)
def test_a_failure_while_restoring_puts_everything_back(tmp_path, monkeypatch, raised, caught, words):
    path = trained_checkpoint(tmp_path)
    model, optimizer, scheduler, _, generator = make_setup(seed=5)
    before = everything(model, optimizer, scheduler, generator)
    calls = []

    original = torch.optim.lr_scheduler.StepLR.load_state_dict

    def fails_once(self, state_dict):  # the scheduler is restored last: everything before it was already loaded
        calls.append(1)
        if len(calls) == 1:
            raise raised
        return original(self, state_dict)

    monkeypatch.setattr(torch.optim.lr_scheduler.StepLR, "load_state_dict", fails_once)
    with pytest.raises(caught, match=words):
        load_checkpoint(path, model, optimizer, scheduler, generator=generator)
    assert same(everything(model, optimizer, scheduler, generator), before)
    assert len(calls) == 2  # the failed restore, then the one that put the scheduler back


# ----------------------------------------------------------------------------- saving rejects what it cannot restore


def test_save_rejects_what_is_not_an_optimizer_or_a_scheduler_before_writing(tmp_path):
    model, optimizer, scheduler, _, _ = make_setup()
    other = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)
    cases = [
        ((model, model), TypeError, r"optimizer should be a torch.optim.Optimizer, got a model \(Sequential\)"),
        ((model, list(model.parameters())), TypeError, r"got list"),
        ((model, optimizer, optimizer), TypeError, r"scheduler should be a learning-rate scheduler.*got SGD"),
        ((model, other), ValueError, r"holds none of this model's parameters"),
        ((model, optimizer, torch.optim.lr_scheduler.StepLR(other, 1)), ValueError, r"built for another optimizer"),
        ((nn.Linear,), TypeError, r"model is the class Linear"),
        ((model, optimizer, scheduler, -1), ValueError, r"epoch should be the number of epochs done"),
        ((model, optimizer, scheduler, 2, [0.5, 0.4]), TypeError, r"history should be a dict of lists"),
    ]
    for args, error, words in cases:
        with pytest.raises(error, match=words):
            save_checkpoint(tmp_path / "c.pt", *args)
    with pytest.raises(TypeError, match=r"generator should be a torch.Generator"):
        save_checkpoint(tmp_path / "c.pt", model, generator=np.random.default_rng(0))
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_paths_that_cannot_hold_a_checkpoint_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"the folder '.*missing' does not exist.*mkdir\(parents=True"):
        save_checkpoint(tmp_path / "missing" / "c.pt", nn.Linear(1, 1))
    with pytest.raises(IsADirectoryError, match=r"is a folder; pass a file path"):
        save_checkpoint(tmp_path, nn.Linear(1, 1))
    with pytest.raises(FileNotFoundError, match=r"no checkpoint file at"):
        load_checkpoint(tmp_path / "nothing.pt", nn.Linear(1, 1))
    with pytest.raises(TypeError, match=r"optimizer should be a torch.optim.Optimizer, got a model"):
        load_checkpoint(tmp_path / "nothing.pt", nn.Linear(1, 1), nn.Linear(1, 1))


@pytest.mark.parametrize("function", [save_checkpoint, load_checkpoint])
@pytest.mark.parametrize("as_str", [False, True])
def test_the_model_and_the_path_swapped_are_named_with_the_right_order(tmp_path, function, as_str):
    path = str(tmp_path / "c.pt") if as_str else tmp_path / "c.pt"
    with pytest.raises(
        TypeError, match=rf"path got a model \(Linear\): the arguments are swapped.*{function.__name__}\(path, model"
    ):
        function(nn.Linear(1, 1), path)
    optimizer = torch.optim.SGD((model := nn.Linear(1, 1)).parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"model got an optimizer \(SGD\): the arguments are swapped.*the path, then"):
        function(path, optimizer, model)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("given", ["~/c.pt", f"~{getpass.getuser()}/runs/c.pt"])  # a user that exists
def test_a_path_starting_with_a_tilde_is_explained_not_a_folder_named_tilde_suggested(tmp_path, monkeypatch, given):
    monkeypatch.chdir(tmp_path)  # where no folder named '~' exists
    fix = rf"'~' is not expanded.*Path\('{given}'\)\.expanduser\(\)"
    with pytest.raises(FileNotFoundError, match=fix) as saving:
        save_checkpoint(given, nn.Linear(1, 1))
    assert "mkdir" not in str(saving.value)
    with pytest.raises(FileNotFoundError, match=r"no checkpoint file at '~.*" + fix):
        load_checkpoint(given, nn.Linear(1, 1))
    with pytest.raises(FileNotFoundError, match=fix):
        checkpoint_file.read_sealed(given)
    with pytest.raises(FileNotFoundError, match=r"cannot write the checkpoint 'c.pt'.*" + fix):
        checkpoint_file.write_sealed({}, given)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_really_named_tilde_is_still_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "~").mkdir()
    assert load_checkpoint(save_checkpoint("~/c.pt", nn.Linear(1, 1), epoch=2), nn.Linear(1, 1))["epoch"] == 2
    with pytest.raises(FileNotFoundError, match=r"no checkpoint file at '~/other.pt'. Check the path"):
        load_checkpoint("~/other.pt", nn.Linear(1, 1))


@pytest.mark.parametrize("path", ["~backup_missing.pt", "~nobody_here_at_all/model.pt"])
def test_a_name_that_starts_with_a_tilde_but_is_no_home_is_not_told_to_expand(path):
    with pytest.raises(FileNotFoundError) as error:
        load_checkpoint(path, nn.Linear(1, 1))
    assert "expanduser" not in str(error.value), error.value


@pytest.mark.parametrize("function", [save_checkpoint, load_checkpoint])
def test_a_path_given_as_a_tuple_is_no_swapped_loader(tmp_path, function):
    with pytest.raises(TypeError, match=r"path should be a file path such as 'checkpoint.pt'.*got tuple\.$") as info:
        function((str(tmp_path), "c.pt"), nn.Linear(1, 1))
    assert "swapped" not in str(info.value) and "loader" not in str(info.value)


def test_a_trained_tensor_the_model_does_not_hold_is_refused_before_saving(tmp_path):
    model, temperature = nn.Linear(1, 1), torch.ones(1, requires_grad=True)
    with pytest.raises(ValueError, match=r"nothing was saved: the optimizer trains 1 tensor.*\(1,\).*nn.Parameter"):
        save_checkpoint(tmp_path / "c.pt", model, torch.optim.Adam([*model.parameters(), temperature]))
    assert list(tmp_path.iterdir()) == []
    model.temperature = nn.Parameter(torch.full((1,), 0.25))  # registered, the optimizer built from the model: kept
    save_checkpoint(tmp_path / "c.pt", model, torch.optim.Adam(model.parameters()))
    (other := nn.Linear(1, 1)).temperature = nn.Parameter(torch.ones(1))
    load_checkpoint(tmp_path / "c.pt", other, torch.optim.Adam(other.parameters()))
    assert other.temperature.item() == 0.25


# ----------------------------------------------------------------------------- what fit leaves, saving keeps


def tiny_fit(optimizer_class, scheduler_of, epochs, frozen=False, **kwargs):
    """A model fit (or, for LBFGS, stepped with a closure) on one batch; frozen afterwards if asked."""
    torch.manual_seed(0)
    x, y = torch.randn(8, 2), torch.randn(8, 1)
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    optimizer = optimizer_class(model.parameters(), **kwargs)
    scheduler = scheduler_of(optimizer) if scheduler_of else None
    if optimizer_class is torch.optim.LBFGS:

        def closure():  # fmt: skip
            optimizer.zero_grad()
            (loss := nn.MSELoss()(model(x), y)).backward()
            return loss

        history = {}
        for _ in range(epochs):
            optimizer.step(closure)
    else:
        history = fit(model, nn.MSELoss(), optimizer, [(x, y)], epochs, scheduler=scheduler, progress=False)
    return model.requires_grad_(not frozen), optimizer, scheduler, history


def fresh_like(optimizer, scheduler_of, **kwargs):
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    new = type(optimizer)(model.parameters(), **kwargs)
    return model, new, scheduler_of(new) if scheduler_of else None


ONE_CYCLE = lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.1, total_steps=5, anneal_strategy="linear")  # noqa: E731
LINEAR_DECAY = lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1 - e / 3)  # noqa: E731


@pytest.mark.parametrize(("scheduler_of", "epochs"), [(ONE_CYCLE, 5), (LINEAR_DECAY, 4)])
def test_the_rate_below_0_that_the_last_scheduled_step_left_is_saved_and_loaded(tmp_path, scheduler_of, epochs):
    model, optimizer, scheduler, history = tiny_fit(torch.optim.SGD, scheduler_of, epochs, lr=0.1)
    lr = optimizer.param_groups[0]["lr"]
    assert lr < -0.01  # fit lets the last epoch's step overshoot: that rate is never used
    path = save_checkpoint(tmp_path / "c.pt", model, optimizer, scheduler, epochs, history)
    assert load_checkpoint(path, model, optimizer, scheduler)["epoch"] == epochs  # into the same parts, too
    other, new, new_scheduler = fresh_like(optimizer, scheduler_of, lr=0.1)
    load_checkpoint(path, other, new, new_scheduler)
    assert new.param_groups[0]["lr"] == lr and new_scheduler.get_last_lr() == [lr]
    optimizer.param_groups[0]["lr"] = -0.5  # a rate the scheduler did not set: refused, as without a scheduler
    for parts in [(optimizer, scheduler), (optimizer,)]:
        with pytest.raises(ValueError, match=r"the optimizer's learning rate is -0.5: it must be a finite number"):
            save_checkpoint(tmp_path / "d.pt", model, *parts)
    assert not (tmp_path / "d.pt").exists()


def test_a_rate_that_is_not_a_number_is_refused_even_when_the_scheduler_set_it(tmp_path):
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: float("nan") if epoch else 1.0)
    optimizer.step()
    scheduler.step()
    assert scheduler.get_last_lr()[0] != scheduler.get_last_lr()[0]
    with pytest.raises(ValueError, match=r"the optimizer's learning rate is nan: it must be a finite number"):
        save_checkpoint(tmp_path / "c.pt", model, optimizer, scheduler)


@pytest.mark.parametrize("optimizer_class", [torch.optim.LBFGS, torch.optim.Adafactor])
def test_optimizers_whose_state_is_not_shaped_like_the_parameters_load_back(tmp_path, optimizer_class):
    """LBFGS keeps flat vectors over all the parameters, Adafactor a row and a column factor of each matrix."""
    model, optimizer, _, history = tiny_fit(optimizer_class, None, 2, lr=0.01)
    path = save_checkpoint(
        tmp_path / "c.pt", model, optimizer, epoch=len(history.get("train_loss", [])), history=history
    )
    other, new, _ = fresh_like(optimizer, None, lr=0.01)
    load_checkpoint(path, other, new)
    assert same(new.state_dict(), optimizer.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters(), strict=True))


def test_an_adam_state_of_parameters_in_another_order_is_still_refused(tmp_path):
    model, optimizer, _, history = tiny_fit(torch.optim.Adam, None, 1)
    path = save_checkpoint(tmp_path / "c.pt", model, optimizer, epoch=1, history=history)
    other = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    reversed_order = torch.optim.Adam(list(other.parameters())[::-1])
    with pytest.raises(CheckpointError, match=r"group 0 holds \['1.bias', '1.weight', '0.bias', '0.weight'\], but"):
        load_checkpoint(path, other, reversed_order)
    old = torch.load(path, weights_only=True)
    del old["param_names"]  # a file saved before the names were kept: its state is checked by its shapes
    checkpoint_file.write_sealed(old, path)
    with pytest.raises(CheckpointError, match=r"the optimizer's exp_avg for parameter 0 is \(3, 2\), the parameter"):
        load_checkpoint(path, other, reversed_order)


def test_a_frozen_model_is_saved_and_loaded_with_its_optimizer(tmp_path):
    model, optimizer, _, history = tiny_fit(torch.optim.Adam, None, 2, frozen=True)  # frozen to predict or export
    path = save_checkpoint(tmp_path / "c.pt", model, optimizer, epoch=2, history=history)
    other, new, _ = fresh_like(optimizer, None)
    other.requires_grad_(False)
    assert load_checkpoint(path, other, new)["history"] == history
    assert same(new.state_dict(), optimizer.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters(), strict=True))


# ----------------------------------------------------------------------------- optimizer groups matched by name


def two_groups(model, order):
    groups = [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[1].parameters(), "lr": 0.001}]
    return torch.optim.Adam([groups[i] for i in order])


def test_parameter_groups_holding_other_parameters_than_saved_are_refused_even_with_equal_shapes(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    optimizer = two_groups(model, (0, 1))
    fit(model, nn.MSELoss(), optimizer, [(torch.randn(10, 2), torch.randn(10, 2))], 1, progress=False)
    path = save_checkpoint(tmp_path / "c.pt", model, optimizer, epoch=1)
    assert torch.load(path, weights_only=True)["param_names"] == [["0.weight", "0.bias"], ["1.weight", "1.bias"]]
    other = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    swapped = two_groups(other, (1, 0))  # the same shapes: loaded by position, Adam's state would land on other layers
    before = everything(other, swapped)
    with pytest.raises(
        CheckpointError,
        match=r"does not fit, so nothing was loaded: the optimizer's parameter group 0 holds \['1.weight', '1.bias'\], "
        r"but the file's group 0 held \['0.weight', '0.bias'\].*in the order they were saved",
    ):
        load_checkpoint(path, other, swapped)
    assert same(everything(other, swapped), before)
    same_order = two_groups(other, (0, 1))
    load_checkpoint(path, other, same_order)
    assert same(same_order.state_dict(), optimizer.state_dict())


def test_a_checkpoint_saved_without_parameter_names_still_loads(tmp_path):
    model, optimizer, scheduler, loader, generator = make_setup()
    run_fit((model, optimizer, scheduler, loader, generator), 1)
    path = save_checkpoint(tmp_path / "c.pt", model, optimizer, scheduler, 1, generator=generator)
    old = torch.load(path, weights_only=True)
    del old["param_names"]  # as written before the names were stored
    checkpoint_file.write_sealed(old, path)
    other, new, new_scheduler, _, new_generator = make_setup(seed=3)
    assert load_checkpoint(path, other, new, new_scheduler, generator=new_generator)["epoch"] == 1
    assert same(new.state_dict(), optimizer.state_dict())


@pytest.mark.parametrize("number", [3, np.int64(3), 3.0])
def test_an_epoch_given_in_the_scheduler_s_place_is_named_with_epoch_as_a_keyword(tmp_path, number):
    model, optimizer, *_ = make_setup()
    with pytest.raises(TypeError, match=r"save_checkpoint's 4th argument is the scheduler.*epoch=3\b"):
        save_checkpoint(tmp_path / "c.pt", model, optimizer, number)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TypeError, match=r"load_checkpoint's 4th argument is the scheduler.*ckpt\['epoch'\]"):
        load_checkpoint(tmp_path / "c.pt", model, optimizer, number)


def _lazy_model() -> nn.Module:
    return nn.Sequential(nn.LazyLinear(2), nn.ReLU(), nn.Linear(2, 1))


def test_a_checkpoint_loads_into_a_fresh_lazy_model_as_load_state_dict_does(tmp_path):
    torch.manual_seed(0)
    trained = _lazy_model()
    trained(torch.randn(4, 3))  # the first forward makes the lazy layer's weights
    save_checkpoint(tmp_path / "lazy.pt", trained)
    fresh = _lazy_model()
    load_checkpoint(tmp_path / "lazy.pt", fresh)
    assert all(
        torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), trained.state_dict().values(), strict=True)
    )


def test_a_lazy_model_with_no_weights_yet_is_told_to_run_once_before_saving(tmp_path):
    with pytest.raises(ValueError, match=r"no values yet.*run the model once"):
        save_checkpoint(tmp_path / "lazy.pt", _lazy_model())
    assert not (tmp_path / "lazy.pt").exists()


def test_a_checkpoint_with_momentum_loads_into_a_fresh_lazy_model_and_its_optimizer(tmp_path):
    torch.manual_seed(0)
    trained = _lazy_model()
    optimizer = torch.optim.SGD(trained.parameters(), lr=0.1, momentum=0.9)
    nn.functional.mse_loss(trained(torch.randn(4, 3)), torch.zeros(4, 1)).backward()
    optimizer.step()  # momentum buffers of the lazy layer's (now made) shapes
    save_checkpoint(tmp_path / "lazy.pt", trained, optimizer)
    fresh = _lazy_model()
    fresh_optimizer = torch.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    load_checkpoint(tmp_path / "lazy.pt", fresh, fresh_optimizer)
    assert torch.equal(fresh[0].weight, trained[0].weight)
    assert fresh_optimizer.state[fresh[0].weight]["momentum_buffer"].shape == (2, 3)
