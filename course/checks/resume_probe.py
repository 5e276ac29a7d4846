"""The probe of lesson 14's resume exercise: a small run (SGD with momentum, StepLR, a shuffling loader whose last
batch is short), its checkpoint after some epochs, the losses of the same run never stopped, and what an answer's
resumed run gives: the epochs in its history, whether they start with the checkpoint's, which losses the resumed
epochs hold (the run's, in either mean form; their sum; the last batch's; others), and the final weights."""

from __future__ import annotations

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
        mean_over_samples = sum(loss * size for loss, size in zip(losses, sizes, strict=True)) / sum(sizes)
        for form, value in zip(
            FORMS, (sum(losses) / len(losses), mean_over_samples, sum(losses), losses[-1]), strict=True
        ):
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


def resumed_once(answer: Callable, args: tuple, done: int) -> tuple | None:
    """(epochs in the returned history, starts with the checkpoint's, what the resumed epochs' losses are, final
    weights), resumed from a pristine file in a new folder, removed after; "not_a_history" first when no list
    history["train_loss"] came back; ("check_failed", why, a token equal to nothing) when the check's own file could
    not be written: no program can match it."""
    try:
        args[0].parent.mkdir(parents=True, exist_ok=True)
        args[0].write_bytes(saved(done)[0])
    except Exception as exc:
        return ("check_failed", f"{type(exc).__name__}: {safe_text(exc)}", object())
    try:
        history = answer(*args)
    finally:
        shutil.rmtree(args[0].parent, ignore_errors=True)
    losses = history.get("train_loss") if isinstance(history, Mapping) else None
    if not isinstance(losses, list | tuple):
        return None if history is None else ("not_a_history", False, "", flat_parameters(args[1]))
    starts = close(list(losses[:done]), saved(done)[1])
    return (len(losses), starts, _form(losses, done, args[-1]), flat_parameters(args[1]))


def resumed(answer: Callable, args: tuple) -> tuple | None:
    """The run of the probe's arguments, then a second one stopped at another epoch; None when the first gave None."""
    first = resumed_once(answer, args, DONE)
    return first and (first, resumed_once(answer, (fresh_path(), *parts(seed=98), AGAIN[0]), AGAIN[1]))
