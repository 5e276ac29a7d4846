"""Training and validation steps, the loop, and checkpoints: the trainer the lessons build.

The module grows by concepts, each a few short functions:

- steps: :func:`make_train_step`, :func:`make_val_step` (one mini-batch each);
- the loop: :func:`fit` (epochs of mini-batches, validation, scheduler, progress bar);
- using a model: :func:`evaluate`, :func:`predict`;
- saving and resuming: :func:`save_checkpoint`, :func:`load_checkpoint`.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

Step = Callable[[torch.Tensor, torch.Tensor], float]
History = dict[str, list[float]]


# --------------------------------------------------------------------------- steps


def _check_parts(model: object, loss_fn: object, optimizer: object | None = None) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model should be a torch.nn.Module, got {type(model).__name__}.")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn should be callable (e.g. nn.MSELoss()), got {type(loss_fn).__name__}.")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer should be a torch.optim.Optimizer, got {type(optimizer).__name__}. "
            "Build one with e.g. torch.optim.SGD(model.parameters(), lr=0.1)."
        )


def _scalar_loss(loss: torch.Tensor) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(
            f"the loss must be a scalar tensor, got {shape}. Use a loss with reduction='mean' or 'sum', "
            "or reduce it yourself with .mean()."
        )
    return loss


def _train_batch(
    model: nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> float:
    """Forward, loss, backward, step, zero the gradients: the body every training loop repeats."""
    loss = _scalar_loss(loss_fn(model(x), y))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def _val_batch(model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor) -> float:
    """The loss of one mini-batch without building a graph (the caller sets eval mode)."""
    with torch.no_grad():
        return _scalar_loss(loss_fn(model(x), y)).item()


def make_train_step(model: nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer) -> Step:
    """Return ``train_step(x, y) -> float``: forward, loss, backward, step, zero the gradients.

    Example:
        >>> model = nn.Linear(1, 1)
        >>> step = make_train_step(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
        >>> isinstance(step(torch.ones(4, 1), torch.ones(4, 1)), float)
        True
    """
    _check_parts(model, loss_fn, optimizer)

    def train_step(x: torch.Tensor, y: torch.Tensor) -> float:
        model.train()
        return _train_batch(model, loss_fn, optimizer, x, y)

    return train_step


def make_val_step(model: nn.Module, loss_fn: Callable) -> Step:
    """Return ``val_step(x, y) -> float``: the loss in eval mode, without building a graph.

    Example:
        >>> model = nn.Linear(1, 1)
        >>> val_step = make_val_step(model, nn.MSELoss())
        >>> isinstance(val_step(torch.ones(4, 1), torch.ones(4, 1)), float)
        True
    """
    _check_parts(model, loss_fn)

    def val_step(x: torch.Tensor, y: torch.Tensor) -> float:
        model.eval()
        return _val_batch(model, loss_fn, x, y)

    return val_step


# --------------------------------------------------------------------------- devices and batches


def _model_device(model: nn.Module) -> torch.device:
    """The one device holding the model's parameters and buffers (CPU for a model without any)."""
    devices = {t.device for t in model.parameters()} | {t.device for t in model.buffers()}
    if len(devices) > 1:
        names = ", ".join(sorted(str(d) for d in devices))
        raise RuntimeError(
            f"the model's parameters and buffers should all be on one device, but they are on {names}. "
            "Move the whole model at once with model.to(device) before training."
        )
    return devices.pop() if devices else torch.device("cpu")


def _describe(batch: object) -> str:
    if isinstance(batch, torch.Tensor):
        return f"a single tensor of shape {tuple(batch.shape)}"
    if isinstance(batch, Mapping):
        return f"a {type(batch).__name__} with keys {sorted(map(str, batch))}"
    if isinstance(batch, (list, tuple)):
        return f"a {type(batch).__name__} of {len(batch)} item(s): {', '.join(type(b).__name__ for b in batch)}"
    return f"a {type(batch).__name__}"


def _bad_batch(batch: object) -> TypeError:
    return TypeError(
        "the loader should yield (features, targets) pairs of tensors, as DataLoader(TensorDataset(x, y)) does; "
        f"it yielded {_describe(batch)}. Make your Dataset's __getitem__ return (x, y), "
        "or build the loader from TensorDataset(features, targets)."
    )


def _batch_to(batch: object, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Unpack a ``(features, targets)`` batch and move both to ``device``."""
    if isinstance(batch, torch.Tensor):
        raise _bad_batch(batch)
    try:
        x, y = batch
        return x.to(device), y.to(device)
    except (TypeError, ValueError, AttributeError):
        raise _bad_batch(batch) from None


def _device_error(exc: RuntimeError, device: torch.device) -> RuntimeError:
    return RuntimeError(
        f"tensors on different devices met during training: the batch was moved to the model's device ({device}), "
        f"but something else is elsewhere. torch said: {exc} "
        "Create tensors inside forward() with device=x.device, and move the loss function's tensors "
        "(e.g. class weights) and the model together with .to(device)."
    )


# --------------------------------------------------------------------------- evaluate and predict


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and no_grad inside; afterwards every submodule gets its own previous mode back."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, training in modes:
            module.training = training


def evaluate(model: nn.Module, loss_fn: Callable, loader: Iterable) -> float:
    """Mean loss over the loader's mini-batches, in eval mode and without gradients.

    Each batch is moved to the model's device; the model's previous mode is restored.

    Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> loader = DataLoader(TensorDataset(torch.zeros(8, 1), torch.ones(8, 1)), batch_size=4)
        >>> model = nn.Linear(1, 1)
        >>> with torch.no_grad():
        ...     _ = model.bias.fill_(0.5)
        >>> evaluate(model, nn.MSELoss(), loader)
        0.25
        >>> model.training
        True
    """
    _check_parts(model, loss_fn)
    device = _model_device(model)
    total, steps = 0.0, 0
    with _eval_mode(model):
        for steps, batch in enumerate(loader, start=1):  # noqa: B007 (steps counts the batches)
            x, y = _batch_to(batch, device)
            try:
                total += _val_batch(model, loss_fn, x, y)
            except RuntimeError as exc:
                raise (_device_error(exc, device) if "device" in str(exc) else exc) from None
    if steps == 0:
        raise ValueError("the loader yielded no batches: check that its dataset is not empty.")
    return total / steps


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's output for ``x``, in eval mode and without gradients (``x`` moves to the model's device).

    The model's previous mode is restored afterwards.

    Example:
        >>> model = nn.Sequential(nn.Linear(2, 1), nn.Dropout(0.5))
        >>> out = predict(model, torch.ones(3, 2))
        >>> out.shape, out.requires_grad, model.training
        (torch.Size([3, 1]), False, True)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model should be a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"x should be a torch.Tensor of features, got {type(x).__name__}. "
            "Convert arrays with torch.as_tensor(x, dtype=torch.float32)."
        )
    with _eval_mode(model):
        return model(x.to(_model_device(model)))


# --------------------------------------------------------------------------- the loop


def _check_epochs(epochs: object, start_epoch: object, history: Mapping | None) -> None:
    for name, value in (("epochs", epochs), ("start_epoch", start_epoch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} should be a non-negative integer, got {value!r}.")
    if start_epoch > epochs:
        raise ValueError(
            f"start_epoch={start_epoch} is past epochs={epochs}. epochs is the total to reach, counted from the "
            f"first epoch ever: to train 5 more epochs after a checkpoint at epoch {start_epoch}, pass "
            f"epochs={start_epoch + 5}."
        )
    done = len(history.get("train_loss", [])) if history else start_epoch
    if history is not None and done != start_epoch:
        raise ValueError(
            f"the history holds {done} epoch(s) of train_loss but start_epoch={start_epoch}; they must agree. "
            f"When resuming, pass both from the checkpoint: history=ckpt['history'], start_epoch=ckpt['epoch']."
        )


def _start_history(history: Mapping[str, Sequence[float]] | None, validating: bool) -> History:
    """A fresh history dict (copies of the lists passed in, so the caller's dict is never changed)."""
    result: History = {key: list(values) for key, values in (history or {}).items()}
    for key in ("train_loss", "val_loss", "lr") if validating else ("train_loss", "lr"):
        result.setdefault(key, [])
    return result


def _train_epoch(
    model: nn.Module,
    loss_fn: Callable,
    optimizer: torch.optim.Optimizer,
    loader: Iterable,
    device: torch.device,
    epoch: int,
) -> float:
    """One pass over the loader; return the mean of the mini-batch losses (the hot path: keep it lean)."""
    model.train()
    total, step = 0.0, 0
    for step, batch in enumerate(loader, start=1):  # noqa: B007 (step counts the batches)
        x, y = _batch_to(batch, device)
        try:
            loss = _train_batch(model, loss_fn, optimizer, x, y)
        except RuntimeError as exc:
            raise (_device_error(exc, device) if "device" in str(exc) else exc) from None
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"the training loss became {loss} at epoch {epoch + 1}, step {step} (counting from 1); training stopped. "
                "Lower the learning rate (e.g. divide it by 10), check the data for NaN or inf "
                "(torch.isfinite(x).all()), or standardise the features."
            )
        total += loss
    if step == 0:
        raise ValueError("train_loader yielded no batches: check that its dataset is not empty.")
    return total / step


def _step_scheduler(scheduler: Any, metric: float) -> None:
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metric)
    else:
        scheduler.step()


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (the test tqdm.auto uses)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in shell.config


def _widget_only(bundle: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only the widget view of a display bundle, so a notebook stores no text that nbval would compare.

    Example:
        >>> _widget_only({"text/plain": " 40%|####", "application/vnd.jupyter.widget-view+json": {"model_id": "a"}})
        {'application/vnd.jupyter.widget-view+json': {'model_id': 'a'}}
    """
    return {key: value for key, value in bundle.items() if key == "application/vnd.jupyter.widget-view+json"}


def _progress_bar(epochs: int, start_epoch: int) -> Any | None:
    """A bar that counts epochs, or None.

    In a terminal: tqdm's text bar on stderr. In a notebook: tqdm's widget, displayed with NO text
    (tqdm's own display stores a text repr, and a text bar streams rates to stderr: both would make
    stored outputs depend on timing). Without ipywidgets a notebook gets no bar rather than a text one.
    """
    settings = dict(total=epochs, initial=start_epoch, desc="fit", unit="epoch", leave=True)
    if not _in_notebook():
        from tqdm.std import tqdm

        return tqdm(**settings)
    try:
        import ipywidgets  # noqa: F401
        from IPython.display import display
        from tqdm.notebook import tqdm as notebook_tqdm
    except ImportError:
        return None
    bar = notebook_tqdm(display=False, **settings)
    if getattr(bar, "container", None) is not None:  # absent when tqdm is disabled (TQDM_DISABLE=1)
        display(_widget_only(bar.container._repr_mimebundle_()), raw=True)
    return bar


def _postfix(history: History) -> dict[str, str]:
    return {key: f"{history[key][-1]:.4g}" for key in ("train_loss", "val_loss") if history.get(key)}


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
) -> History:
    """Train for ``epochs`` epochs in total; return the history of plain floats.

    Each epoch trains on every mini-batch of ``train_loader`` (moved to the model's device),
    records the mean training loss and the learning rate it used, evaluates on ``val_loader`` if
    given, then steps the scheduler (``ReduceLROnPlateau`` gets the validation loss, or the
    training loss without validation). ``epochs`` counts from the very first epoch: to resume,
    pass ``history=ckpt["history"], start_epoch=ckpt["epoch"]`` and the same ``epochs``.

    ``progress=True`` shows a bar: tqdm's text bar in a terminal, a widget (and no text output,
    so stored notebook outputs never change) in Jupyter.

    Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> _ = torch.manual_seed(0)
        >>> x = torch.rand(64, 1)
        >>> loader = DataLoader(TensorDataset(x, 2 * x + 1), batch_size=16)
        >>> model = nn.Linear(1, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.5)
        >>> history = fit(model, nn.MSELoss(), opt, loader, epochs=30, progress=False)
        >>> sorted(history), len(history["train_loss"]), history["train_loss"][-1] < 0.01
        (['lr', 'train_loss'], 30, True)
    """
    _check_parts(model, loss_fn, optimizer)
    _check_epochs(epochs, start_epoch, history)
    device = _model_device(model)
    history = _start_history(history, validating=val_loader is not None)
    bar = _progress_bar(epochs, start_epoch) if progress else None
    try:
        for epoch in range(start_epoch, epochs):
            history["lr"].append(float(optimizer.param_groups[0]["lr"]))
            history["train_loss"].append(_train_epoch(model, loss_fn, optimizer, train_loader, device, epoch))
            if val_loader is not None:
                history["val_loss"].append(evaluate(model, loss_fn, val_loader))
            _step_scheduler(scheduler, history["val_loss" if val_loader is not None else "train_loss"][-1])
            if bar is not None:
                bar.set_postfix(_postfix(history), refresh=False)
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return history


# --------------------------------------------------------------------------- checkpoints


def _rng_state(generator: torch.Generator | None) -> dict[str, Any]:
    """Every random number generator's state, as tensors and plain Python values (weights_only accepts them)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": int(version), "state": list(internal), "gauss": gauss},
        "generator": generator.get_state() if generator is not None else None,
    }


def _set_rng_state(state: Mapping[str, Any], generator: torch.Generator | None) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if generator is not None:
        if state["generator"] is None:
            raise ValueError(
                "you passed a generator to restore, but this checkpoint holds no generator state. "
                "Save it with save_checkpoint(..., generator=the_loaders_generator)."
            )
        generator.set_state(state["generator"])


def _plain_history(history: Mapping[str, Sequence[float]] | None) -> History:
    """Copy the history as lists of Python floats: NumPy scalars would make weights_only loading fail."""
    try:
        return {str(key): [float(v) for v in values] for key, values in (history or {}).items()}
    except (TypeError, ValueError, AttributeError):
        raise TypeError(
            "history should be a dict of lists of numbers, like fit() returns, e.g. {'train_loss': [0.5, 0.3]}; "
            f"got {history!r:.80}."
        ) from None


def _checkpoint_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot save the checkpoint to '{path}': the folder '{path.parent}' does not exist. "
            f"Create it first with Path('{path.parent}').mkdir(parents=True, exist_ok=True), "
            "or choose a path in an existing folder."
        )
    if path.is_dir():
        raise IsADirectoryError(
            f"'{path}' is a folder; pass a file path for the checkpoint, e.g. '{path / 'checkpoint.pt'}'."
        )
    return path


def _atomic_save(obj: object, path: Path) -> None:
    """Write to a temporary file in the same folder, flush and fsync it, then rename it over ``path``.

    A crash mid-write leaves the previous file untouched: ``os.replace`` swaps files in one step.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError, AttributeError):  # make the rename durable (POSIX; Windows cannot open folders)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    epoch: int = 0,
    history: Mapping[str, Sequence[float]] | None = None,
    *,
    generator: torch.Generator | None = None,
) -> Path:
    """Save everything needed to resume training, atomically; return the path.

    The file holds the model's, optimizer's and scheduler's ``state_dict``, the number of
    epochs done, the history (as Python floats), and the states of the random number
    generators: torch (and CUDA), NumPy, Python's ``random``, and ``generator`` if given
    (pass your DataLoader's generator so the shuffling order resumes exactly). It loads with
    ``torch.load(path, weights_only=True)``.

    Example:
        >>> import tempfile, pathlib
        >>> model = nn.Linear(1, 1)
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> path = save_checkpoint(folder / "ckpt.pt", model, epoch=3, history={"train_loss": [0.3, 0.2, 0.1]})
        >>> sorted(torch.load(path, weights_only=True))
        ['epoch', 'history', 'model', 'optimizer', 'rng', 'scheduler']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model should be a torch.nn.Module, got {type(model).__name__}.")
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"epoch should be the number of epochs done, a non-negative integer; got {epoch!r}.")
    path = _checkpoint_path(path)
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(epoch),
        "history": _plain_history(history),
        "rng": _rng_state(generator),
    }
    _atomic_save(checkpoint, path)
    return path


def _restore(name: str, target: Any, state: object) -> None:
    if target is None:
        return
    if state is None:
        raise ValueError(
            f"the checkpoint holds no {name} state, so the {name} cannot be restored. "
            f"Save it with save_checkpoint(..., {name}={name}), or do not pass a {name} to load_checkpoint."
        )
    target.load_state_dict(state)


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    *,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """Restore a checkpoint saved by :func:`save_checkpoint`; return ``{"epoch": ..., "history": ...}``.

    Loads with ``torch.load(weights_only=True)`` (no arbitrary code runs), restores the model,
    the optimizer and the scheduler when given, every random number generator, and the
    DataLoader's ``generator`` when given. Resume with
    ``fit(..., history=ckpt["history"], start_epoch=ckpt["epoch"])``.

    Example:
        >>> import tempfile, pathlib
        >>> path = save_checkpoint(pathlib.Path(tempfile.mkdtemp()) / "ckpt.pt", nn.Linear(1, 1), epoch=2)
        >>> ckpt = load_checkpoint(path, nn.Linear(1, 1))
        >>> ckpt["epoch"], ckpt["history"]
        (2, {})
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint file at '{path}'. Check the path, or save one first with save_checkpoint."
        )
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, Mapping) or not {"model", "epoch", "history", "rng"} <= set(checkpoint):
        raise ValueError(
            f"'{path}' is not a checkpoint written by save_checkpoint (expected the keys model, optimizer, "
            f"scheduler, epoch, history, rng). Load other files with torch.load(path, weights_only=True)."
        )
    model.load_state_dict(checkpoint["model"])
    _restore("optimizer", optimizer, checkpoint.get("optimizer"))
    _restore("scheduler", scheduler, checkpoint.get("scheduler"))
    _set_rng_state(checkpoint["rng"], generator)
    return {"epoch": checkpoint["epoch"], "history": checkpoint["history"]}
