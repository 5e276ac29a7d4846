"""The probe of lesson 14's resume exercise: a small run (SGD with momentum, StepLR, a shuffling loader, its last
batch short), its checkpoint, the same run never stopped, and what an answer's resumed run gives (its history's
epochs, losses, rates and first fault of form; what was restored at its first batch; its final weights) and what to
say of each fault."""

from __future__ import annotations

import copy
import io
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from course.checkpoints import save_checkpoint
from course.checks.probes import flat_parameters, randomised
from course.checks.values import close, safe_text
from course.epochs import RECORDED
from course.training import fit

EPOCHS, DONE = 6, 3  # StepLR(step_size=2) halves the rate after epochs 2 and 4: once on each side of the checkpoint
AGAIN = 8, 5  # a second run, stopped after 5 of 8 epochs: 6 and 3 typed into an answer do not fit it
# an epoch's loss in each form a history may hold it, and what each is: fit's mean of the batch losses and the mean
# over the samples (the last batch is short) are both the run's
FORMS = {"mean": "right", "samples": "right", "sum": "summed", "last": "last_batch"}


def fresh_path() -> Path:
    """Where one run's checkpoint goes, in a folder of its own, made when the run starts: an answer may delete it."""
    return Path(tempfile.gettempdir()) / f"course-check-{uuid.uuid4().hex}" / "resume.pt"


def parts(seed: int) -> list:
    """model, loss_fn, SGD with momentum, StepLR, a shuffling loader (batches 10, 10, 10, 2) and its generator."""
    model = randomised(nn.Linear(3, 1), seed)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)
    data = TensorDataset(*torch.randn(32, 4, generator=torch.Generator().manual_seed(0)).split([3, 1], dim=1))
    loader = DataLoader(data, batch_size=10, shuffle=True, generator=generator)
    return [model, nn.MSELoss(), optimizer, optim.lr_scheduler.StepLR(optimizer, 2, gamma=0.5), loader, generator]


@cache
def saved(done: int) -> tuple[bytes, list]:
    """A probe checkpoint's bytes and its train losses: the run of seed 0 after ``done`` epochs."""
    model, loss_fn, optimizer, scheduler, loader, generator = parts(seed=0)
    history = fit(model, loss_fn, optimizer, loader, done, scheduler=scheduler, progress=False)
    with tempfile.TemporaryDirectory(prefix="course-check-") as folder:
        saved = save_checkpoint(Path(folder) / "r.pt", model, optimizer, scheduler, done, history, generator=generator)
        return saved.read_bytes(), history["train_loss"]


def epochs_by_hand(model: nn.Module, loss_fn: Callable, optimizer: optim.Optimizer, scheduler: Any, loader: Iterable,
                   start: int, epochs: int) -> dict[str, list[float]]:  # fmt: skip
    """Epochs ``start`` to ``epochs`` trained as fit trains them (a step per batch, the scheduler's after each epoch),
    in a loop of one's own: per epoch the rate it used ("lr") and its loss in each of the :data:`FORMS`."""
    run: dict[str, list[float]] = {"lr": [], **{form: [] for form in FORMS}}
    for _ in range(start, epochs):
        run["lr"].append(optimizer.param_groups[0]["lr"])
        losses, sizes = [], []
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            sizes.append(len(yb))
        over_samples = sum(loss * size for loss, size in zip(losses, sizes, strict=True)) / sum(sizes)
        for form, value in zip(FORMS, (sum(losses) / len(losses), over_samples, sum(losses), losses[-1]), strict=True):
            run[form].append(value)
        scheduler.step()
    return run


@cache
def unbroken(epochs: int) -> dict[str, list[float]]:
    """The run of seed 0 (the checkpoints' run) never stopped, ``epochs`` epochs: :func:`epochs_by_hand`'s record."""
    model, loss_fn, optimizer, scheduler, loader, _ = parts(seed=0)
    return epochs_by_hand(model, loss_fn, optimizer, scheduler, loader, 0, epochs)


def _form(losses: list | tuple, done: int, epochs: int) -> str:
    """What the losses after the first ``done`` are: the never-stopped run's (:data:`FORMS`), or "made_up"."""
    truth, resumed = unbroken(epochs), list(losses[done:])
    return next((what for form, what in FORMS.items() if close(resumed, truth[form][done:], 1e-5, 1e-6)), "made_up")


def _rates(rates: object, done: int, epochs: int) -> str:
    """What the rates after the first ``done`` are: those the run used ("right"), each the rate after that epoch's
    scheduler.step(), the next epoch's ("after_step"), or "made_up"."""
    truth = {"right": unbroken(epochs)["lr"], "after_step": unbroken(epochs + 1)["lr"][1:]}
    resumed = list(rates[done:]) if isinstance(rates, list | tuple) else None
    return next((what for what, rate in truth.items() if close(resumed, rate[done:], 1e-6, 1e-9)), "made_up")


def history_fault(history: Mapping, epochs: int) -> tuple:
    """The first fault of the form of a history of ``epochs`` epochs, or (): ("no_lr",); ("not_a_list", key, type);
    ("length", key, its length, epochs) for a list not one value per epoch when the lists disagree (all of one other
    length: the epochs run are wrong, told apart); ("value", key, index, type, grad_fn) for a value not a float."""
    lists = {safe_text(key, 30): values for key, values in history.items()}
    if "lr" not in lists:
        return ("no_lr",)
    if wrong := next(((key, type(values).__name__) for key, values in lists.items()
                      if not isinstance(values, list | tuple)), None):  # fmt: skip
        return ("not_a_list", *wrong)
    if len(set((lengths := {key: len(values) for key, values in lists.items()}).values())) > 1:
        return next(("length", key, n, epochs) for key, n in lengths.items() if n != epochs)
    for key, values in lists.items():
        plain = [isinstance(value, float | int) and not isinstance(value, bool) for value in values]  # np.float64 too
        if (at := next((i for i, ok in enumerate(plain) if not ok), None)) is not None:
            graph = getattr(values[at], "grad_fn", None) if isinstance(values[at], torch.Tensor) else None
            return ("value", key, at, type(values[at]).__name__, "" if graph is None else type(graph).__name__)
    return ()


def faults(got: object) -> list[tuple]:
    """The history faults (:func:`history_fault`) of the runs observed, first run first."""
    return [run[4] for run in got if isinstance(run, tuple) and len(run) == 7 and run[4]]


def fault_message(got: tuple, expected: object) -> str:
    """What to say of the first run's history fault (:func:`history_fault`); ``expected`` unused (a guard's message)."""
    fault = faults(got)[0]
    if fault[0] == "no_lr":
        return ("the returned history has no 'lr' list: the checkpoint's history holds the learning rate of each "
                "epoch, and fit adds each resumed epoch's. Keep ckpt['history'] and append "
                "optimizer.param_groups[0]['lr'] at the start of each epoch, or return what fit returns.")  # fmt: skip
    if fault[0] == "not_a_list":
        return f"history['{fault[1]}'] is a {fault[2]}, not a list: keep one value per epoch in a list, as fit does."
    if fault[0] == "length":
        key, n, epochs = fault[1:]
        said = f"history['{key}'] holds {n} value(s) after {epochs} epochs, not one per epoch"
        if key not in RECORDED:
            return (f"{said}: entry i of every list is epoch i + 1, so a list that misses epochs is drawn at the "
                    "wrong ones. fit records only 'train_loss', 'lr' and 'val_loss': a list of your own you fill "
                    "every epoch yourself, or leave out (the exercise asks only for the run's history).")  # fmt: skip
        what = {"lr": "the rate the epoch trains with, optimizer.param_groups[0]['lr'] at its start",
                "train_loss": "the epoch's mean batch loss"}.get(key, "the epoch's value")  # fmt: skip
        return (f"{said}: every list must hold one value per epoch, and the course's save_checkpoint refuses such a "
                f"history ('epoch={epochs} but the history holds {n} value(s) of {key}'), as fit refuses to resume "
                f"from it. Append one value to history['{key}'] each epoch ({what}), or return what fit returns.")  # fmt: skip
    where = f"history['{fault[1]}'][{fault[2]}]"
    if fault[4]:
        return (f"{where} is a tensor with grad_fn={fault[4]}, not a float: store loss.item() (a float): a tensor "
                "keeps its whole graph alive (that of every batch added into it) for as long as the history holds it. Add "
                "loss.item() to the epoch's total, as fit does.")  # fmt: skip
    return (f"{where} is a {fault[3]}, not a Python float: fit's history holds plain floats in every list (store "
            "loss.item(), or float(...)), and the lesson keeps the history so.")  # fmt: skip


def rates_message(got: tuple) -> str:
    """What to say of resumed epochs whose rates are not the run's, the weights and losses being right."""
    start = "the final weights and the losses are right, but history['lr'] after the checkpoint "
    if any(run[3] == "after_step" for run in got):
        return (f"{start}holds each epoch's rate read after scheduler.step(): that is the next epoch's rate. Record "
                "optimizer.param_groups[0]['lr'] at the start of the epoch, before scheduler.step(), as fit does: "
                "history['lr'][i] is the rate epoch i + 1 trained with.")  # fmt: skip
    return (f"{start}does not hold the rates the resumed epochs trained with: record optimizer.param_groups[0]['lr'] "
            "at the start of each epoch, as fit does, or return what fit returns.")  # fmt: skip


def _same(got: object, saved: object) -> bool:  # equal states: tensors bit for bit, dicts and lists item by item
    if isinstance(saved, Mapping):
        return isinstance(got, Mapping) and got.keys() == saved.keys() and all(_same(got[k], saved[k]) for k in saved)
    if isinstance(saved, torch.Tensor):
        return isinstance(got, torch.Tensor) and got.shape == saved.shape and torch.equal(got, saved)
    return got == saved


def _steps_past(state: Mapping, saved: Mapping) -> int | None:
    """How many steps past the checkpoint's a scheduler's state is (0: the checkpoint's), or None: another state."""
    ahead = state["last_epoch"] - saved["last_epoch"] if isinstance(state.get("last_epoch"), int) else -1
    rest = [{key: s[key] for key in s if key not in ("last_epoch", "_step_count", "_last_lr")} for s in (state, saved)]
    stepped = ahead > 0 and state.get("_step_count") == saved["_step_count"] + ahead and _same(*rest)
    return 0 if _same(state, saved) else ahead if stepped else None


def _settings(groups: list, saved: list, at: Mapping, steps: int | None) -> tuple:
    """(name, value, the checkpoint's) for each setting of the checkpoint's param_groups but params (the rate: its
    StepLR's, ``steps`` past its state ``at``) that the optimizer's ``groups`` do not hold, once per name."""
    lr = at["base_lrs"][0] * at["gamma"] ** ((at["last_epoch"] + (steps or 0)) // at["step_size"])
    wrong = {key: (group.get(key, "missing"), want) for group, saved_group in zip(groups, saved, strict=False)
             for key, want in (saved_group | {"lr": lr}).items()
             if key != "params" and not close(group.get(key, "missing"), want, 1e-9, 1e-12)}  # fmt: skip
    wrong |= {"the number of param_groups": (len(groups), len(saved))} if len(groups) != len(saved) else {}
    return tuple((safe_text(key, 30), *values) for key, values in wrong.items())


def _watch(args: tuple, done: int) -> Callable[[], tuple]:
    """Hooks on the probe's model: at its first call, what of the checkpoint the parts hold (the batch: the restored
    generator's first); after it, (): nothing seen, or the parts seen restored, the rate seen and the run's, the
    settings not the checkpoint's, the scheduler's steps past it then, its last_epoch at the end, done and epochs."""
    model, optimizer, scheduler, loader, epochs = args[1], args[3], args[4], args[5], args[-1]
    ckpt, seen = torch.load(io.BytesIO(saved(done)[0]), weights_only=True), {}
    (generator := torch.Generator()).set_state(ckpt["rng"]["generator"])
    first = next(iter(DataLoader(loader.dataset, loader.batch_size, shuffle=True, generator=generator)))[0]

    def hook(module: nn.Module, inputs: tuple) -> None:
        if not seen:
            try:
                seen.update(model=_same(module.state_dict(), ckpt["model"]), generator=_same(inputs[0], first),
                            states=copy.deepcopy((optimizer.state_dict(), scheduler.state_dict())))  # fmt: skip
            except Exception:  # the answer's parts are not the probe's kind: nothing seen
                seen["broken"] = True

    handle = model.register_forward_pre_hook(hook)

    def restored() -> tuple:
        handle.remove()
        if not seen or "broken" in seen:
            return ()
        steps, (kept, _) = _steps_past(seen["states"][1], ckpt["scheduler"]), seen["states"]
        seen.update(optimizer=_same(kept["state"], ckpt["optimizer"]["state"]), scheduler=steps is not None)
        parts = tuple(part for part in ("model", "optimizer", "generator", "scheduler") if seen[part] is True)
        wrong = _settings(kept["param_groups"], ckpt["optimizer"]["param_groups"], ckpt["scheduler"], steps)
        lr, end = next(iter(kept["param_groups"]), {}).get("lr"), getattr(scheduler, "last_epoch", None)
        return parts, lr, unbroken(epochs)["lr"][done], wrong, steps, end, done, epochs

    return restored


def loop_message(got: tuple) -> str | None:
    """What to say of resumed runs whose final weights are not the run's though every part was seen restored (a known
    mistake's too: a part restored, then stepped or left, may run as one never restored): the optimizer's settings
    seen not the checkpoint's, or the training loop; None when a part was not seen restored."""
    runs = [run[5] for run in got if isinstance(run, tuple) and len(run) == 7]
    if not runs or any(len(run) != 8 or len(run[0]) != 4 for run in runs):
        return None
    steps, end, done, epochs = runs[0][4:]
    start = ("the final weights are not those of a run that never stopped{}: at your first batch the model's weights "
             "and the optimizer's state{} were the checkpoint's, the batch was the one the run drew next (the loader's "
             "generator was restored) and the scheduler" + (f" was {'one step' if steps == 1 else f'{steps} steps'} "
             f"past the checkpoint's (its last_epoch {done + steps} where the checkpoint's is {done}: an extra "
             "scheduler.step() after restoring, before the first batch)" if steps else "'s state was the checkpoint's"
             ))  # fmt: skip
    if wrong := next((run[3] for run in runs if run[3]), ()):
        said = ", ".join(f"{key} {safe_text(value, 20)} where the checkpoint's " + ("scheduler so stepped gives "
                         if steps and key == "lr" else "is ") + safe_text(want, 20)
                         for key, value, want in wrong)  # fmt: skip
        return (start.format("", "") + f", but the optimizer's settings were not the checkpoint's: {said}. They are "
                "its param_groups, in optimizer.state_dict() with its state: load the whole of it (load_checkpoint "
                "does) and change none of them after; the scheduler sets the rate itself.")  # fmt: skip
    rate = next((f" Your first resumed batch trained with a learning rate of {safe_text(lr, 20)} where the run used "
                 f"{safe_text(right, 20)}." for _, lr, right, *_ in runs if lr != right), "")  # fmt: skip
    return (start.format(", yet everything was restored from the checkpoint", " and settings") + ". The scheduler "
            + ("ended at the run's epoch." if end == epochs else f"ended at epoch {safe_text(end, 20)} where the run's "
            f"ends at {epochs}: over the {epochs - done} epochs after the checkpoint it was " + ("never stepped: "
            "another (built anew) or none was. Step the one you restored: fit(..., scheduler=scheduler), or its step()."
            if end == done else f"stepped {'more' if isinstance(end, int) and end > epochs else 'less'} often than "
            "once per epoch.")) + " So the "
            "difference comes from your training loop itself." + rate + " Call fit with history=ckpt['history'] and "
            "start_epoch=ckpt['epoch'], or train as fit does: optimizer.zero_grad() before each backward(), "
            "optimizer.step() after it, and scheduler.step() once at the end of each epoch, after its batches."
            )  # fmt: skip


def judged(got: object) -> object:
    """The observation without what the probe saw restored (index 5 of each run), which no verdict compares."""
    return tuple(run[:5] + run[6:] if isinstance(run, tuple) and len(run) == 7 else run for run in got) if (
        isinstance(got, tuple)) else got  # fmt: skip


def resumed_once(answer: Callable, args: tuple, done: int) -> tuple | None:
    """(epochs in the returned history, starts with the checkpoint's, what the resumed epochs' losses are, what their
    rates are, the history's first fault of form (() if none), what :func:`_watch` saw restored, final weights),
    resumed from a pristine file in a new folder, removed after; "not_a_history" first when no list
    history["train_loss"] came back; ("check_failed", why, a token equal to nothing) when the check's own file could
    not be written: no program can match it."""
    try:
        args[0].parent.mkdir(parents=True, exist_ok=True)
        args[0].write_bytes(saved(done)[0])
    except Exception as exc:
        return ("check_failed", f"{type(exc).__name__}: {safe_text(exc)}", object())
    restored = _watch(args, done)
    try:
        history = answer(*args)
    finally:
        shutil.rmtree(args[0].parent, ignore_errors=True)
        seen = restored()
    losses = history.get("train_loss") if isinstance(history, Mapping) else None
    if not isinstance(losses, list | tuple):
        return None if history is None else ("not_a_history", False, "", "", (), seen, flat_parameters(args[1]))
    starts, rates = close(list(losses[:done]), saved(done)[1]), _rates(history.get("lr"), done, args[-1])
    fault = history_fault(history, args[-1])
    return (len(losses), starts, _form(losses, done, args[-1]), rates, fault, seen, flat_parameters(args[1]))


def resumed(answer: Callable, args: tuple) -> tuple | None:
    """The run of the probe's arguments, then a second one stopped at another epoch; None when the first gave None."""
    first = resumed_once(answer, args, DONE)
    return first and (first, resumed_once(answer, (fresh_path(), *parts(seed=98), AGAIN[0]), AGAIN[1]))
