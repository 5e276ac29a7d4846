"""fit's contract: every argument checked before the first epoch, and a run stopped in the middle says what it left.

A mistake found only mid-run leaves the model half trained; an interrupted run must not lose the
epochs it finished; a NaN gradient from a finite loss is not the learning rate's fault.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.training import fit, make_train_step, train_epoch
from tools.notebooks import run_cells

X = torch.linspace(-1, 1, 32).reshape(16, 2)
Y = X.sum(1, keepdim=True)
LOADER = DataLoader(TensorDataset(X, Y), batch_size=4)


def parts(model=None, lr=0.1):
    torch.manual_seed(0)
    model = nn.Linear(2, 1) if model is None else model
    return model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=lr)


def unchanged(model, before):
    return all(torch.equal(value, before[key]) for key, value in model.state_dict().items())


def refused_before_training(call, model, error, match):
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(error, match=match):
        call()
    assert unchanged(model, before), "the model was trained before the mistake was found"


# ----------------------------------------------------------------------------- 1: ReduceLROnPlateau's mode


@pytest.mark.parametrize("val_loader", [None, LOADER])
def test_a_plateau_scheduler_watching_for_a_rise_is_refused(val_loader):
    model, loss_fn, opt = parts()
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0)
    refused_before_training(
        lambda: fit(model, loss_fn, opt, LOADER, 3, val_loader=val_loader, scheduler=scheduler, progress=False),
        model,
        ValueError,
        r"mode='max'.*fit passes it the .*loss.*mode='min'",
    )


def test_a_plateau_scheduler_in_min_mode_still_trains():
    model, loss_fn, opt = parts()
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", patience=0)
    history = fit(model, loss_fn, opt, LOADER, 3, scheduler=scheduler, progress=False)
    assert history["lr"] == [0.1] * 3  # the loss falls: no cut


# ----------------------------------------------------------------------------- 2a: loaders with no batch


EMPTY = {
    "a list": [],
    "an empty dataset": DataLoader(TensorDataset(X[:0], Y[:0]), batch_size=4),
    "drop_last on a small dataset": DataLoader(TensorDataset(X[:3], Y[:3]), batch_size=4, drop_last=True),
}


@pytest.mark.parametrize("name", ["train_loader", "val_loader"])
@pytest.mark.parametrize("kind", EMPTY)
def test_a_loader_with_no_batch_is_refused_before_training(name, kind):
    model, loss_fn, opt = parts()
    loaders = {"train_loader": LOADER, "val_loader": LOADER} | {name: EMPTY[kind]}
    refused_before_training(
        lambda: fit(model, loss_fn, opt, loaders["train_loader"], 3, val_loader=loaders["val_loader"], progress=False),
        model,
        ValueError,
        rf"{name} yielded no batches.*found before training",
    )


def test_no_epoch_to_train_needs_no_batch():
    model, loss_fn, opt = parts()
    assert fit(model, loss_fn, opt, [], 0, val_loader=[], progress=False) == {
        "train_loss": [],
        "lr": [],
        "val_loss": [],
    }


# ----------------------------------------------------------------------------- 2b: BatchNorm and a last batch of 1


def batchnorm():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))


@pytest.mark.parametrize(
    "batch_size, samples, fix", [(4, 9, r"drop_last=True.*\(e\.g\. 5\)"), (1, 5, r"batch size of at least 2")]
)
def test_a_last_batch_of_one_sample_that_batchnorm_cannot_take_is_refused_before_training(batch_size, samples, fix):
    model, loss_fn, opt = parts(batchnorm())
    loader = DataLoader(TensorDataset(X[:samples], Y[:samples]), batch_size=batch_size, shuffle=True)
    refused_before_training(
        lambda: fit(model, loss_fn, opt, loader, 3, progress=False), model, ValueError, r"1 sample.*" + fix
    )
    refused_before_training(lambda: train_epoch(model, loss_fn, opt, loader), model, ValueError, fix)


def test_batchnorm_with_a_last_batch_it_can_take_still_trains():
    images = torch.randn(9, 3, 2, 2)  # one image still has 4 values per channel
    model = nn.Sequential(nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 1))
    model, loss_fn, opt = parts(model)
    assert len(fit(model, loss_fn, opt, DataLoader(TensorDataset(images, torch.zeros(9, 1)), batch_size=4), 2,
                   progress=False)["train_loss"]) == 2  # fmt: skip
    model, loss_fn, opt = parts(batchnorm())
    loader = DataLoader(TensorDataset(X[:9], Y[:9]), batch_size=4, drop_last=True)
    assert len(fit(model, loss_fn, opt, loader, 2, progress=False)["train_loss"]) == 2


def test_a_failure_after_updates_says_the_model_was_changed_and_how_to_go_on():
    model, loss_fn, opt = parts(batchnorm())
    batches = [(X[:4], Y[:4]), (X[4:8], Y[4:8]), (X[8:9], Y[8:9])]  # a list: its batches are not known ahead
    with pytest.raises(ValueError, match=r"1 sample.*BatchNorm") as info:
        fit(model, loss_fn, opt, batches, 3, progress=False)
    note = " ".join(info.value.__notes__)
    assert "epoch 1 of 3, at batch 3" in note and "2 batch(es) of epoch 1" in note, note
    assert "start over" in note and "exc.history" in note
    assert info.value.history == {"train_loss": [], "lr": []}


# ----------------------------------------------------------------------------- 2c: interrupted


class Interrupting:
    """A loader that stands for 'Interrupt kernel' when its batch ``at`` (counting from 1 over all epochs) is due."""

    def __init__(self, at):
        self.at, self.count = at, 0

    def __iter__(self):
        for batch in LOADER:
            self.count += 1
            if self.count == self.at:
                raise KeyboardInterrupt
            yield batch


def test_an_interrupt_keeps_going_and_hands_over_the_finished_epochs():
    model, loss_fn, opt = parts()
    given = {"train_loss": [], "lr": [], "mine": []}
    with pytest.raises(KeyboardInterrupt) as info:
        fit(model, loss_fn, opt, Interrupting(at=10), 5, val_loader=LOADER, history=given, progress=False)
    note = " ".join(info.value.__notes__)
    assert "epoch 3 of 5, at batch 2" in note and "2 full epoch(s) and 1 batch(es) of epoch 3" in note, note
    assert "history=exc.history, start_epoch=2" in note and "sys.last_value" in note
    history = info.value.history
    assert {k: len(v) for k, v in history.items()} == {"train_loss": 2, "lr": 2, "mine": 0, "val_loss": 2}
    resumed = fit(model, loss_fn, opt, LOADER, 5, val_loader=LOADER, history=history, start_epoch=2, progress=False)
    assert resumed["train_loss"][:2] == history["train_loss"] and len(resumed["train_loss"]) == 5


def test_in_jupyter_an_interrupted_run_shows_the_note_and_its_history_stays_reachable():
    cells = run_cells(
        "import torch\nfrom torch import nn\nfrom course.training import fit\n"
        "class Stops:\n    count = 0\n    def __iter__(self):\n        for _ in range(3):\n"
        "            Stops.count += 1\n"
        "            if Stops.count == 5:\n                raise KeyboardInterrupt  # 'Interrupt kernel'\n"
        "            yield torch.ones(4, 1), torch.ones(4, 1)\n"
        "model = nn.Linear(1, 1)\n"
        "fit(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), Stops(), 3, progress=False)",
        "import sys\nprint(sys.last_value.history)",
        allow_errors=True,
    )
    error = next(o for o in cells[0].outputs if o.output_type == "error")
    assert error.ename == "KeyboardInterrupt" and "fit stopped in epoch 2 of 3, at batch 2" in "".join(error.traceback)
    assert cells[1].outputs[0].text.startswith("{'train_loss': [")


def test_an_interrupt_during_validation_counts_the_epoch_trained_but_not_finished():
    model, loss_fn, opt = parts()
    with pytest.raises(KeyboardInterrupt) as info:
        fit(model, loss_fn, opt, LOADER, 3, val_loader=Interrupting(at=2), progress=False)
    note = " ".join(info.value.__notes__)
    assert "epoch 1 of 3, during validation" in note and "1 full epoch(s)" in note, note
    assert info.value.history == {"train_loss": [], "lr": [], "val_loss": []}


def test_an_interrupt_before_any_update_says_nothing_changed():
    model, loss_fn, opt = parts()
    with pytest.raises(KeyboardInterrupt) as info:
        fit(model, loss_fn, opt, Interrupting(at=1), 3, progress=False)
    assert "unchanged" in " ".join(info.value.__notes__)


def test_an_error_before_any_update_adds_no_note_but_still_hands_over_the_history():
    model, loss_fn, opt = parts()
    with pytest.raises(ValueError, match=r"expects 2") as info:
        fit(model, loss_fn, opt, [(torch.ones(4, 3), torch.ones(4, 1))], 3, history={"mine": [1.0]}, progress=False)
    assert not hasattr(info.value, "__notes__") and info.value.history == {"mine": [1.0], "train_loss": [], "lr": []}


# ----------------------------------------------------------------------------- 3: progress


@pytest.mark.parametrize("progress", ["False", 2, "no", 0.0])
def test_progress_that_is_not_a_bool_is_refused(progress, capsys):
    model, loss_fn, opt = parts()
    refused_before_training(
        lambda: fit(model, loss_fn, opt, LOADER, 2, progress=progress), model, TypeError, r"progress=False"
    )
    assert "fit" not in capsys.readouterr().err


@pytest.mark.parametrize("progress", [False, np.bool_(False), None, 0])
def test_progress_false_in_its_forms_shows_no_bar(progress, capsys):
    model, loss_fn, opt = parts()
    fit(model, loss_fn, opt, LOADER, 2, progress=progress)
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- 4: a NaN gradient from a finite loss


def rmse(pred, y):
    return torch.sqrt(((pred - y) ** 2).mean())


@pytest.mark.parametrize("lr", [1e-2, 1e-9])
def test_a_nan_gradient_of_a_finite_loss_is_not_blamed_on_the_learning_rate(lr):
    model, _, opt = parts(lr=lr)
    nn.init.zeros_(model.weight), nn.init.zeros_(model.bias)  # fits the zero targets exactly: sqrt at 0
    loader = DataLoader(TensorDataset(X, torch.zeros(16, 1)), batch_size=4)
    with pytest.raises(
        FloatingPointError, match=r"the loss is finite \(0 on this batch\) but its gradient is not.*sqrt"
    ) as info:
        fit(model, rmse, opt, loader, 2, progress=False)
    assert "lower the learning rate" not in str(info.value)
    assert bool(torch.isfinite(model.weight).all())


def test_a_step_after_a_nan_gradient_names_both_causes():
    model, _, opt = parts()
    nn.init.zeros_(model.weight), nn.init.zeros_(model.bias)
    step = make_train_step(model, rmse, opt)
    with pytest.raises(FloatingPointError, match=r"made the weights NaN or inf \(weight, bias\).*gradient.*sqrt"):
        step(X, torch.zeros(16, 1))  # loss 0, gradient NaN: the weights become NaN, and the step says so
    with pytest.raises(FloatingPointError, match=r"gradient was NaN or inf although its loss was finite.*sqrt"):
        step(X, torch.zeros(16, 1))  # a learner who goes on anyway


# ----------------------------------------------------------------------------- 5: optimizers that need a closure


class NeedsClosure(torch.optim.SGD):
    def step(self, closure):
        return super().step(closure)


@pytest.mark.parametrize("make", [lambda p: torch.optim.LBFGS(p), lambda p: NeedsClosure(p, lr=0.1)])
def test_an_optimizer_whose_step_needs_a_closure_is_refused_up_front(make):
    model = parts()[0]
    opt = make(model.parameters())
    torch.optim.lr_scheduler.StepLR(opt, step_size=1)  # wraps opt.step: its signature then shows self
    match = r"step\(\) without a closure"
    refused_before_training(lambda: fit(model, nn.MSELoss(), opt, LOADER, 2, progress=False), model, TypeError, match)
    refused_before_training(lambda: train_epoch(model, nn.MSELoss(), opt, LOADER), model, TypeError, match)
    with pytest.raises(TypeError, match=match):
        make_train_step(model, nn.MSELoss(), opt)


class _Augmented(torch.utils.data.Dataset):
    """33 pictures with random noise added as each is read: every read draws from torch's, NumPy's and Python's
    random streams."""

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(1)
        self.x, self.y = torch.randn(33, 3, 4, 4, generator=generator), torch.randn(33, 1, generator=generator)

    def __len__(self) -> int:
        return 33

    def __getitem__(self, i: int) -> tuple:
        import random

        noise = 0.1 * torch.randn(3, 4, 4) + float(np.random.rand()) + random.random()
        return self.x[i] + noise, self.y[i]


def test_the_one_sample_check_draws_no_random_number_training_would_draw():
    # BatchNorm2d accepts one 4x4 picture, so the check lets training go on: on the same random streams as without it
    import random

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 1))
    loader = DataLoader(_Augmented(), batch_size=16, shuffle=True)  # 33 = 16 + 16 + 1
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    fit(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.01), loader, 1, progress=False)
    after = (torch.rand(1).item(), float(np.random.rand()), random.random())
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    for x, _ in loader:  # what one epoch draws: the shuffle and the 33 reads, nothing more
        model(x)
    assert after == (torch.rand(1).item(), float(np.random.rand()), random.random())


def test_an_exception_that_takes_no_attribute_goes_on_as_it_was():
    class BadRecord(Exception):  # refuses attributes of its own (history); Python's own dunders it takes
        def __setattr__(self, name: str, value: object) -> None:
            if not name.startswith("__"):
                raise AttributeError(f"BadRecord takes no attribute {name}")
            super().__setattr__(name, value)

    def batches():
        yield torch.ones(4, 3), torch.zeros(4, 1)
        raise BadRecord(17)

    class Loader:
        def __iter__(self):
            return batches()

    model = nn.Linear(3, 1)
    with pytest.raises(BadRecord):
        fit(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), Loader(), 2, progress=False)


# ----------------------------------------------------------------------------- a OneCycleLR inside a wrapper


def _wrapped(kind, opt):
    sched = torch.optim.lr_scheduler
    if kind == "SequentialLR":  # the OneCycleLR starts at milestone 2: 8 epochs step it 6 times
        inner = [sched.LinearLR(opt, total_iters=2), sched.OneCycleLR(opt, max_lr=0.1, total_steps=3)]
        return sched.SequentialLR(opt, inner, milestones=[2])
    return sched.ChainedScheduler([sched.ExponentialLR(opt, 0.9), sched.OneCycleLR(opt, max_lr=0.1, total_steps=3)])


@pytest.mark.parametrize("kind", ["SequentialLR", "ChainedScheduler"])
def test_a_one_cycle_schedule_too_short_inside_a_wrapper_is_refused_before_training(kind):
    model, loss_fn, opt = parts()
    scheduler = _wrapped(kind, opt)
    refused_before_training(
        lambda: fit(model, loss_fn, opt, LOADER, 8, scheduler=scheduler, progress=False),
        model,
        ValueError,
        rf"OneCycleLR \(inside {kind}\) was built for total_steps=3 and has 3 left.*"
        + ("6 more times.*total_steps=6" if kind == "SequentialLR" else "8 more times.*total_steps=8"),
    )


@pytest.mark.parametrize(("milestone", "total"), [(2, 6), (9, 1)])
def test_a_one_cycle_schedule_that_lasts_inside_a_sequence_trains_every_epoch(milestone, total, recwarn):
    # 8 epochs: from milestone 2 it is stepped 6 times; from milestone 9 never (a later run may reach it)
    model, loss_fn, opt = parts()
    sched = torch.optim.lr_scheduler
    inner = [sched.ConstantLR(opt, factor=0.5, total_iters=2), sched.OneCycleLR(opt, max_lr=0.1, total_steps=total)]
    scheduler = sched.SequentialLR(opt, inner, milestones=[milestone])
    assert len(fit(model, loss_fn, opt, LOADER, 8, scheduler=scheduler, progress=False)["lr"]) == 8
    assert not [w for w in recwarn if "total_steps" in str(w.message)]


def test_a_one_cycle_schedule_cut_by_a_later_milestone_is_neither_refused_nor_warned(recwarn):
    model, loss_fn, opt = parts()
    sched = torch.optim.lr_scheduler
    inner = [sched.OneCycleLR(opt, max_lr=0.1, total_steps=50), sched.ConstantLR(opt, factor=0.1, total_iters=1)]
    scheduler = sched.SequentialLR(opt, inner, milestones=[3])
    assert len(fit(model, loss_fn, opt, LOADER, 8, scheduler=scheduler, progress=False)["lr"]) == 8
    assert not [w for w in recwarn if "total_steps" in str(w.message)]


def test_the_history_records_the_rate_of_the_first_parameter_group():
    # the documented choice: one float per epoch (plots and checkpoints read plain floats), group 0's rate
    frozen, trained = nn.Linear(2, 1), nn.Linear(2, 1)
    opt = torch.optim.SGD([{"params": frozen.parameters(), "lr": 0.0}, {"params": trained.parameters(), "lr": 0.1}])
    model = nn.ModuleList([frozen, trained])
    model.forward = lambda x: frozen(x) + trained(x)
    history = fit(model, nn.MSELoss(), opt, LOADER, 2, progress=False)
    assert history["lr"] == [0.0, 0.0] and "the first parameter group" in " ".join(fit.__doc__.split())


def test_a_frozen_dataclass_exception_reaches_the_caller_unchanged():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Refused(Exception):  # a learner's own exception: frozen, it takes no attribute, not even __traceback__
        code: int

    raised = Refused(7)

    def loss_fn(pred, target):
        raise raised

    model = nn.Linear(2, 1)
    with pytest.raises(Refused) as caught:
        fit(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1), LOADER, 2, progress=False)
    assert caught.value is raised
    with pytest.raises(Refused) as caught:  # with the progress bar too (its context closes the bar on the way out)
        fit(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1), LOADER, 2, progress=True)
    assert caught.value is raised


# ----------------------------------------------------------------------------- resuming with the scheduler's state


def stepped_run(epochs, start_epoch=0, history=None, steps=0):
    """fit with a StepLR that has stepped ``steps`` times before (a fresh one: 0)."""
    model, loss_fn, opt = parts()
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(steps):
        opt.step(), scheduler.step()
    return fit(
        model,
        loss_fn,
        opt,
        LOADER,
        epochs,
        scheduler=scheduler,
        history=history,
        start_epoch=start_epoch,
        progress=False,
    )


def test_resuming_with_a_fresh_scheduler_warns_that_its_schedule_restarts():
    done = {"train_loss": [1.0] * 3, "lr": [0.1, 0.1, 0.05]}
    with pytest.warns(
        UserWarning,
        match=r"start_epoch=3.*StepLR has stepped 0 time.*load_checkpoint\(path, model, optimizer, scheduler\)",
    ):
        stepped_run(5, start_epoch=3, history=done)


def test_resuming_with_the_scheduler_in_step_or_starting_over_does_not_warn(recwarn):
    stepped_run(5, start_epoch=3, history={"train_loss": [1.0] * 3, "lr": [0.1, 0.1, 0.05]}, steps=3)
    stepped_run(2, steps=4)  # a fit from 0 with a scheduler stepped before: its schedule goes on, as it should
    assert not [w for w in recwarn if "scheduler" in str(w.message)]


def test_fit_docstring_resumes_with_the_scheduler():
    assert "load_checkpoint(path, model, optimizer, scheduler)" in " ".join(fit.__doc__.split())


class NoRate(torch.optim.Optimizer):
    """A custom optimizer whose only hyperparameter is ``step_size``: there is no "lr" to record."""

    def __init__(self, params, step_size=0.1):
        super().__init__(params, {"step_size": step_size})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["step_size"])


def test_an_optimizer_without_a_learning_rate_trains_and_records_no_rate():
    model, loss_fn, _ = parts()
    history = fit(model, loss_fn, NoRate(model.parameters()), LOADER, 2, progress=False)
    assert len(history["train_loss"]) == 2 and history["train_loss"][1] < history["train_loss"][0]
    assert len(history["lr"]) == 2 and all(np.isnan(history["lr"]))
