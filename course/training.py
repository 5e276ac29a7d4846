"""Training and validation steps, the epoch loop and ``fit``: the trainer the lessons build.

The module grows by concepts: steps (:func:`make_train_step`, :func:`make_val_step`); the loop (:func:`train_epoch`;
:func:`fit`: epochs, validation, scheduler, progress bar); using a model (:func:`evaluate`, :func:`predict`). Saving
lives in :mod:`course.checkpoints`, the bar in :mod:`course.progress`, the checks of bad input in the modules below.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from course.device import model_device
from course.diagnose import check_plain_step, check_run, check_tensors, explain, forward_loss, model_output
from course.divergence import LastFinite, nonfinite_step, nonfinite_validation
from course.epochs import UPDATED, check_schedule, continued_history, pad_history, step_scheduler, stop_noted
from course.loaders import batch_to, batches, check_loaders, no_batches, on_meta, to_device
from course.loss_result import all_ignored, mean_weight
from course.loss_values import StepWatch
from course.nested import tensors_in
from course.parts import check_mean_loss, check_model, check_parts, check_scheduler, trains_nothing
from course.progress import shown_bar
from course.seen_batches import SeenBatches
from course.updates import check_grads, check_resumed_schedule, check_training, finish_pass, finish_step, recorded_rate
from course.whole_pass import Untrained, check_every_sample, eval_mode, float_loss

Step = Callable[[torch.Tensor, torch.Tensor], float]


def make_train_step(model: nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer) -> Step:
    """Return ``train_step(x, y) -> float``: zero the gradients, forward, loss, backward, step, zero them again.
    Zeroing first keeps gradients an earlier ``backward()`` left (a look at ``.grad``) out of the step. ``x`` and ``y``
    must be on the model's device already (not moved). A NaN or inf loss raises a ``FloatingPointError`` before the step
    (weights unchanged), NaN or inf weights one after it; an empty batch a ``ValueError``, as does an optimizer that
    trains nothing of the model, told by the gradients before it steps (:func:`course.updates.check_grads`, again after
    a layer is replaced); a step that trained nothing (a loss cut from the model, or a batch ignored) warns.
    Example:
        >>> model = nn.Linear(1, 1)
        >>> step = make_train_step(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
        >>> isinstance(step(torch.ones(4, 1), torch.ones(4, 1)), float)
        True
    """
    check_training(model, loss_fn, optimizer)
    check_plain_step(optimizer, "train_step")
    watch, layout = StepWatch(optimizer, every=True), [tuple(map(id, model.parameters()))]

    def train_step(x: torch.Tensor, y: torch.Tensor) -> float:
        check_tensors(x, y)
        model.train()
        optimizer.zero_grad()
        try:
            loss = forward_loss(model, loss_fn, x, y, values=True)
            value = loss.item()
            if not math.isfinite(value):  # checked before the step, so the weights stay as they were
                raise nonfinite_step(value, model, x, y, not UPDATED.known(model, optimizer), all_ignored(loss_fn, y))
            watch.backward(loss)
        except RuntimeError as exc:
            raise explain(exc, model, x, y) from None
        same, layout[0] = layout[0] == (now := tuple(map(id, model.parameters()))), now  # a layer replaced since?
        check_grads(model, optimizer, watch.trained and same)  # till a step trains, and after the model changed
        watch.step()  # warns if it trained nothing
        UPDATED.remember(model, optimizer)  # a loss not finite at a later step may be the learning rate's fault
        finish_step(model, optimizer, value)  # zeroes the gradients, after reading them if it made weights NaN or inf
        return value

    return train_step


def _val_loss(model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor, batch: int | None) -> float:
    """The finite loss of one mini-batch (number ``batch``, values checked on the first) without building a graph."""
    try:
        with torch.no_grad():
            value = float_loss(forward_loss(model, loss_fn, x, y, values=batch in (None, 1))).item()
    except RuntimeError as exc:
        raise explain(exc, model, x, y) from None
    if not math.isfinite(value):
        raise nonfinite_validation(value, batch, model, x, y, all_ignored(loss_fn, y))
    return value


def make_val_step(model: nn.Module, loss_fn: Callable) -> Step:
    """Return ``val_step(x, y) -> float``: the loss in eval mode, without building a graph.
    As in :func:`make_train_step`, ``x`` and ``y`` must be on the model's device; a NaN or inf loss
    raises a ``FloatingPointError``, an empty batch a ``ValueError``. Example:
        >>> model = nn.Linear(1, 1)
        >>> val_step = make_val_step(model, nn.MSELoss())
        >>> isinstance(val_step(torch.ones(4, 1), torch.ones(4, 1)), float)
        True
    """
    check_parts(model, loss_fn)

    def val_step(x: torch.Tensor, y: torch.Tensor) -> float:
        check_tensors(x, y)
        model.eval()
        return _val_loss(model, loss_fn, x, y, None)

    return val_step


def evaluate(model: nn.Module, loss_fn: Callable, loader: Iterable) -> float:
    """The loss over every sample of the loader, in eval mode and without gradients.
    Each batch's loss is weighted by what its mean divides by (:func:`course.loss_result.mean_weight`): its number of
    target values, y.numel() (a short last batch counts for what it holds, time-major targets (T, N, 1) for T x N),
    or, for torch's cross-entropy and NLL with a class ``weight`` or ``ignore_index``, the batch's total weight, so
    with a loss that averages over its batch (``reduction="mean"``) this is the loss of the whole set (a function
    wrapping a weighted one cannot be told). ``"sum"`` is refused, it grows with the batch size (a hand-written sum
    goes unnoticed), as are a loss that is no float and a ``DataLoader`` whose ``drop_last=True`` leaves samples out.
    Batches move to the model's device; the model's previous mode is restored. A NaN or inf loss raises a
    ``FloatingPointError`` naming the first of the data, weights, output and loss that is not finite. An
    endless loader never ends the pass (only ``itertools``' endless iterators are refused). Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> x, y = torch.zeros(5, 1), torch.tensor([[1.0], [1.0], [1.0], [1.0], [3.0]])
        >>> model = nn.Linear(1, 1)
        >>> with torch.no_grad():
        ...     _ = model.bias.fill_(1.0)
        >>> evaluate(model, nn.MSELoss(), DataLoader(TensorDataset(x, y), batch_size=4))  # (0+0+0+0+4) / 5
        0.8
        >>> model.training
        True
    """
    check_parts(model, loss_fn)
    check_mean_loss(loss_fn, "evaluate")
    check_loaders({"loader": loader}, passes=1)
    check_every_sample(loader, "loader", "evaluate")
    return _mean_loss(model, loss_fn, loader, "loader")


def _mean_loss(model: nn.Module, loss_fn: Callable, loader: Iterable, name: str) -> float:
    """:func:`evaluate`'s loop, after its checks; ``name`` is the loader's name in the error if it yields nothing."""
    device = model_device(model)
    total, count, number, ignored = 0.0, 0, 0, None
    with eval_mode(model):
        for number, batch in enumerate(batches(loader, name), start=1):  # noqa: B007 (number counts them)
            x, y = batch_to(batch, device)
            weight = mean_weight(loss_fn, y)  # 0 where every target is ignored (or of weight 0): it adds nothing
            total, count = total + (_val_loss(model, loss_fn, x, y, number) * weight if weight else 0), count + weight
            ignored = ignored if weight else (x, y, number)
        if not count and ignored:  # every target of every batch: the loss is NaN, explained
            _val_loss(model, loss_fn, *ignored)
    if number == 0:
        raise no_batches(loader, name)
    return total / count


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's output for ``x`` (a tensor, or several as a tuple), in eval mode and without gradients.
    ``x`` moves to the model's device; the model's previous mode is restored afterwards. Example:
        >>> model = nn.Sequential(nn.Linear(2, 1), nn.Dropout(0.5))
        >>> out = predict(model, torch.ones(3, 2))
        >>> out.shape, out.requires_grad, model.training
        (torch.Size([3, 1]), False, True)
    """
    check_model(model)
    if not tensors_in(x):  # a tensor, or a tuple, list or dict of them: a model's several inputs
        raise TypeError(
            f"x should be a torch.Tensor of features, got {type(x).__name__}. "
            "Convert arrays with torch.as_tensor(x, dtype=torch.float32)."
        )
    if any(t.is_meta for t in tensors_in(x)):
        raise on_meta("x")
    x = to_device(x, model_device(model))
    with eval_mode(model):
        try:
            return model_output(model, x)
        except RuntimeError as exc:
            raise explain(exc, model, x, None) from None


def _run_epoch(
    model: nn.Module,
    loss_fn: Callable,
    optimizer: torch.optim.Optimizer,
    loader: Iterable,
    last_finite: LastFinite,
    epoch: int | None,
    untrained: Untrained | None = None,
) -> float:
    """One pass over the loader; return the mean of the mini-batch losses (the hot path: keep it lean)."""
    device = model_device(model)
    last_finite.remember(epoch)
    model.train()
    total, step, watch, seen = 0.0, 0, StepWatch(optimizer), SeenBatches()  # seen: shapes checked once each
    for step, batch in enumerate(batches(loader, "train_loader"), start=1):  # noqa: B007 (step counts the batches)
        optimizer.zero_grad()  # before the step, not after: the last step's gradients tell what broke the weights
        x, y = batch_to(batch, device)
        try:
            loss = forward_loss(model, loss_fn, x, y, values=step == 1, seen=seen)
            value = loss.item()
            if not math.isfinite(value):  # checked before the step, so the weights stay finite
                raise last_finite.diverged(value, epoch, step, x, y, all_ignored(loss_fn, y))
            watch.backward(loss)
        except RuntimeError as exc:
            raise explain(exc, model, x, y) from None
        check_grads(model, optimizer, watch.trained or last_finite.passes > 1)  # till a step trains
        if untrained is not None and untrained.left:  # fit's: till every tensor it holds has had a gradient
            untrained.update()
        watch.step()
        UPDATED.remember(model, optimizer)
        total, last_finite.updates = total + value, last_finite.updates + 1
    if step == 0:
        raise no_batches(loader, "train_loader")
    finish_pass(last_finite, epoch, step)  # zeroes the gradients; weights NaN or inf: put back, the cause named
    if not watch.trained:  # every step trained nothing: a loss cut from the model (one batch may be, on purpose)
        last_finite.updates = 0  # none changed the model: fit's note says so
    watch.check_pass("" if watch.trained else trains_nothing(model, optimizer, sure=True))  # none trained: refused
    return total / step


def train_epoch(model: nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer, loader: Iterable) -> float:
    """Train on every mini-batch of ``loader`` once (moved to the model's device); return the mean of its batch losses.
    The loop lesson 10 writes by hand: per batch, forward, loss, backward, step, zero the gradients (zeroed before the
    first batch too, so that gradients an earlier ``backward()`` left stay out of its step). A loss or weights NaN or
    inf stop it with a ``FloatingPointError`` naming the cause; model and optimizer are put back as the epoch found
    them. If no step trained anything (a loss cut from the model), a ``ValueError``; at the first step, before it
    changes anything, for an optimizer that trains nothing of the model (another model's, or built before a layer was
    replaced). An endless loader never ends the epoch (``itertools``' endless iterators are refused). Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> loader = DataLoader(TensorDataset(torch.zeros(8, 1), torch.ones(8, 1)), batch_size=4)
        >>> model = nn.Linear(1, 1)
        >>> with torch.no_grad():
        ...     _ = model.weight.fill_(0.0), model.bias.fill_(0.5)
        >>> train_epoch(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.0), loader)
        0.25
    """
    check_training(model, loss_fn, optimizer)
    check_run(model, optimizer, {"loader": loader}, 1, "train_epoch")
    keeper = LastFinite(model, optimizer, loss_fn, trained=UPDATED.known(model, optimizer))
    return _run_epoch(model, loss_fn, optimizer, loader, keeper, None)


def fit(
    model: nn.Module,
    loss_fn: Callable,
    optimizer: torch.optim.Optimizer,
    train_loader: Iterable,
    epochs: int,
    *,
    val_loader: Iterable | None = None,
    scheduler: Any | None = None,
    history: Mapping[str, Sequence[float]] | None = None,
    start_epoch: int = 0,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Train for ``epochs`` epochs in total; return the history of plain floats.
    Each epoch is :func:`train_epoch`'s pass over ``train_loader``; fit records its mean batch loss and the learning
    rate it used (the first parameter group's; NaN without one), evaluates on ``val_loader`` if given, then steps the
    scheduler (``ReduceLROnPlateau``, in mode "min", gets the validation loss, or the training loss without validation)
    and checks the rate it set for the next epoch (none after the last). ``epochs`` counts from the very first epoch: to
    resume, ``ckpt = load_checkpoint(path, model, optimizer, scheduler)`` (the scheduler too: warned if not), then
    ``fit(..., history=ckpt["history"], start_epoch=ckpt["epoch"])``, same ``epochs``. Each list fit records holds one
    value per epoch, NaN where not recorded (``val_loss`` without ``val_loader``); lists of your own (a metric appended
    after each call) are kept as they are. Every argument is checked before the first epoch, as far as it can be known
    then (an optimizer that needs a closure, a loader of length 0, a last batch of one sample for BatchNorm). If the
    loss or the weights become NaN or inf, the model and optimizer get back their state at the start of that epoch and a
    ``FloatingPointError`` says so. Any other stop in the middle (an error, or Jupyter's "Interrupt kernel": the
    ``KeyboardInterrupt`` goes on) leaves them with the training done: a note on the exception says where it stopped and
    what they hold, and ``exc.history`` is the history of the epochs finished, to go on with ``fit(...,
    history=exc.history, start_epoch=len(exc.history["lr"]))`` (in Jupyter, ``exc = sys.last_value``). An endless loader
    never ends an epoch (only ``itertools``' endless iterators are refused). ``progress=True`` shows a bar: tqdm's text
    bar in a terminal, a widget (no text output, so stored notebook outputs never change) in Jupyter; False (or None)
    shows none. Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> _ = torch.manual_seed(0)
        >>> loader = DataLoader(TensorDataset(x := torch.rand(64, 1), 2 * x + 1), batch_size=16)
        >>> opt = torch.optim.SGD((model := nn.Linear(1, 1)).parameters(), lr=0.5)
        >>> history = fit(model, nn.MSELoss(), opt, loader, epochs=30, progress=False)
        >>> sorted(history), len(history["train_loss"]), history["train_loss"][-1] < 0.01
        (['lr', 'train_loss'], 30, True)
    """
    check_training(model, loss_fn, optimizer)
    if val_loader is not None:
        check_mean_loss(loss_fn, "fit's validation (val_loader)")
        check_every_sample(val_loader, "val_loader", "fit's validation")
    check_scheduler(scheduler, optimizer)
    history = continued_history(history, epochs, start_epoch, validating=val_loader is not None)
    check_schedule(scheduler, epochs - start_epoch, validating=val_loader is not None)
    check_resumed_schedule(scheduler, start_epoch)
    check_run(model, optimizer, {"train_loader": train_loader, "val_loader": val_loader}, epochs - start_epoch, "fit")
    last_finite = LastFinite(model, optimizer, loss_fn, trained=start_epoch > 0 or UPDATED.known(model, optimizer))
    untrained = Untrained(model, optimizer)  # warned about at the end: trainable, but never given a gradient
    shown = ("train_loss", "val_loss") if val_loader is not None else ("train_loss",)  # the last is the watched one
    with shown_bar(progress, epochs, start_epoch) as bar, stop_noted(history, epochs, start_epoch, last_finite):
        for epoch in range(start_epoch, epochs):
            history["lr"].append(recorded_rate(optimizer))
            history["train_loss"].append(
                _run_epoch(model, loss_fn, optimizer, train_loader, last_finite, epoch, untrained)
            )
            if val_loader is not None:
                history["val_loss"].append(_mean_loss(model, loss_fn, val_loader, "val_loader"))
            pad_history(history, epoch + 1)
            step_scheduler(scheduler, optimizer, history[shown[-1]][-1], epoch, last=epoch + 1 == epochs)
            if bar is not None:
                bar.set_postfix({k: f"{history[k][-1]:.4g}" for k in shown}, refresh=False)
                bar.update()
    untrained.warn(epochs - start_epoch)
    return history
