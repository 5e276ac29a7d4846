"""The parts of training, checked before it starts: each bad part gets an error that names the fix.

The model, the loss, the optimizer, the scheduler, the history, the epochs and the loaders are
checked once, before the first epoch, by the trainer (:mod:`course.training`) and by the
checkpoints (:mod:`course.checkpoints`): a wrong part fails at once, not after an epoch of work.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator, Mapping

import torch
from torch import nn

History = dict[str, list[float]]

_SCHEDULERS = (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def _a_class(value: object, base: type) -> bool:
    return isinstance(value, type) and issubclass(value, base)


def check_model(model: object) -> None:
    """Raise a ``TypeError`` naming the fix unless ``model`` is an ``nn.Module`` instance.

    Example:
        >>> check_model(nn.Linear)
        Traceback (most recent call last):
        TypeError: model is the class Linear, not a model: build one first, e.g. model = Linear(...).
    """
    if _a_class(model, nn.Module):
        raise TypeError(
            f"model is the class {model.__name__}, not a model: build one first, e.g. model = {model.__name__}(...)."
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model should be a torch.nn.Module, got {type(model).__name__}.")


def check_loss_fn(loss_fn: object) -> None:
    """Raise a ``TypeError`` naming the fix unless ``loss_fn`` is a callable loss (an instance, not a class).

    Example:
        >>> check_loss_fn(nn.MSELoss)
        Traceback (most recent call last):
        TypeError: loss_fn is the class MSELoss, not a loss: add the parentheses, loss_fn = nn.MSELoss().
    """
    if _a_class(loss_fn, nn.Module):
        raise TypeError(
            f"loss_fn is the class {loss_fn.__name__}, not a loss: add the parentheses, loss_fn = nn.{loss_fn.__name__}()."
        )
    if not callable(loss_fn):
        raise TypeError(f"loss_fn should be callable (e.g. nn.MSELoss()), got {type(loss_fn).__name__}.")


def check_optimizer(optimizer: object, model: nn.Module) -> None:
    """Raise a clear error unless ``optimizer`` is an optimizer that updates at least one of the model's parameters.

    Example:
        >>> check_optimizer(torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1), nn.Linear(1, 1))
        Traceback (most recent call last):
        ValueError: the optimizer holds none of this model's parameters, so training would change nothing...
    """
    build = "Build one after the model with e.g. torch.optim.SGD(model.parameters(), lr=0.1)."
    if _a_class(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer is the class {optimizer.__name__}, not an optimizer. {build}")
    if isinstance(optimizer, nn.Module):
        raise TypeError(
            f"optimizer should be a torch.optim.Optimizer, got a model ({type(optimizer).__name__}). {build}"
        )
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer should be a torch.optim.Optimizer, got {type(optimizer).__name__}. {build}")
    mine = {id(p) for p in model.parameters()}
    held = [p for group in optimizer.param_groups for p in group["params"] if id(p) in mine]
    if not held:
        raise ValueError(
            "the optimizer holds none of this model's parameters, so training would change nothing. It was built for "
            "another model, or before the model was rebuilt or copied. Build the optimizer from this model, after "
            "creating it: torch.optim.SGD(model.parameters(), lr=...)."
        )
    if not any(p.requires_grad for p in held):
        raise ValueError(
            "the optimizer holds only frozen parameters of this model (requires_grad=False), so training would "
            "change nothing. Build it from the parameters to train: torch.optim.SGD(model.parameters(), lr=...)."
        )
    _check_learning_rates(optimizer)


def _check_learning_rates(optimizer: torch.optim.Optimizer) -> None:
    for group in optimizer.param_groups:
        lr = float(group.get("lr", 0.0))
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(
                f"the optimizer's learning rate is {lr}: it must be a finite number of at least 0, "
                "e.g. torch.optim.SGD(model.parameters(), lr=0.01)."
            )


def check_trainable(model: nn.Module) -> None:
    """Raise a ``ValueError`` if no parameter of ``model`` requires grad (training could change nothing).

    Example:
        >>> check_trainable(nn.Linear(2, 1).requires_grad_(False))
        Traceback (most recent call last):
        ValueError: the model has no trainable parameters (2 frozen, none requires grad)...
    """
    params = list(model.parameters())
    if any(p.requires_grad for p in params):
        return
    if params:
        raise ValueError(
            f"the model has no trainable parameters ({len(params)} frozen, none requires grad), so training would "
            "change nothing. Unfreeze the ones to train: for p in model.parameters(): p.requires_grad_(True)."
        )
    raise ValueError(
        "the model has no parameters at all, so training would change nothing. Layers must be attributes of the "
        "module (self.linear = nn.Linear(...)), in nn.Sequential or nn.ModuleList (not a plain Python list), and "
        "hand-made weights must be nn.Parameter(...)."
    )


def check_scheduler(scheduler: object, optimizer: torch.optim.Optimizer | None) -> None:
    """Raise a ``TypeError`` naming the fix unless ``scheduler`` is None or a scheduler of ``optimizer``.

    Example:
        >>> check_scheduler([0.1, 0.01], None)
        Traceback (most recent call last):
        TypeError: scheduler should be a learning-rate scheduler from torch.optim.lr_scheduler (or None), got list...
    """
    example = "e.g. torch.optim.lr_scheduler.StepLR(optimizer, step_size=10)"
    if scheduler is None:
        return
    if isinstance(scheduler, type):
        raise TypeError(f"scheduler is the class {scheduler.__name__}, not a scheduler: build it, {example}.")
    if not isinstance(scheduler, _SCHEDULERS):
        raise TypeError(
            "scheduler should be a learning-rate scheduler from torch.optim.lr_scheduler (or None), "
            f"got {type(scheduler).__name__}. Build it on your optimizer, {example}."
        )
    if optimizer is not None and scheduler.optimizer is not optimizer:
        raise ValueError(
            "the scheduler was built for another optimizer, so it would change a learning rate nobody uses. "
            f"Build it on the optimizer you train with, {example}."
        )


def plain_history(history: object) -> History:
    """A copy of ``history`` as ``{name: [float, ...]}``; a clear ``TypeError`` if it is not one.

    NumPy scalars become Python floats (``torch.load(weights_only=True)`` refuses NumPy objects).

    Example:
        >>> plain_history({"train_loss": [0.5, 0.25]})
        {'train_loss': [0.5, 0.25]}
    """
    wrong = TypeError(
        "history should be a dict of lists of numbers, like the one fit() returns or ckpt['history'], "
        f"e.g. {{'train_loss': [0.5, 0.3]}}; got {type(history).__name__}: {history!r:.60}."
    )
    if history is None:
        return {}
    if not isinstance(history, Mapping):
        raise wrong
    try:
        plain = {str(key): [float(v) for v in values] for key, values in history.items()}
    except (TypeError, ValueError, AttributeError):
        raise wrong from None
    if any(isinstance(values, (str, bytes)) for values in history.values()):
        raise wrong
    return plain


def check_loader(loader: object, name: str) -> None:
    """Raise a ``TypeError`` naming the fix unless ``loader`` can be iterated.

    Example:
        >>> check_loader(None, "loader")
        Traceback (most recent call last):
        TypeError: loader should be a DataLoader (or any iterable) of (features, targets) batches, got None...
    """
    if loader is None or not isinstance(loader, Iterable):
        raise TypeError(
            f"{name} should be a DataLoader (or any iterable) of (features, targets) batches, got "
            f"{'None' if loader is None else type(loader).__name__}. Build one with "
            "DataLoader(TensorDataset(x, y), batch_size=64), or wrap tensors as a one-batch list, [(x, y)]."
        )


def no_batches(loader: object, name: str) -> ValueError:
    """The error for a loader that yielded no batches, saying why when the loader can tell.

    Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> loader = DataLoader(TensorDataset(torch.ones(3, 1), torch.ones(3, 1)), batch_size=4, drop_last=True)
        >>> print(no_batches(loader, "loader"))
        loader yielded no batches: drop_last=True drops the only, incomplete batch (3 samples, batch_size=4)...
    """
    try:
        size = len(loader.dataset)  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        size = None
    batch_size = getattr(loader, "batch_size", None)
    if getattr(loader, "drop_last", False) and size and batch_size and size < batch_size:
        return ValueError(
            f"{name} yielded no batches: drop_last=True drops the only, incomplete batch ({size} samples, "
            f"batch_size={batch_size}). Use drop_last=False, or a batch size of at most {size}."
        )
    if size == 0:
        return ValueError(f"{name} yielded no batches: its dataset is empty (0 samples). Check how it was built.")
    if isinstance(loader, Iterator):
        return ValueError(f"{name} yielded no batches: it is an iterator, used up by an earlier pass. Pass a list.")
    return ValueError(f"{name} yielded no batches: check that its dataset is not empty.")


def check_reusable(loader: object, name: str, passes: int) -> None:
    """Raise a ``TypeError`` if ``loader`` is a one-pass iterator but is needed for several ``passes``.

    Example:
        >>> check_reusable(iter([(1, 2)]), "train_loader", 3)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        TypeError: train_loader is an iterator (a generator, or iter(...)): it is used up after one pass, ...
    """
    if passes > 1 and isinstance(loader, Iterator):
        raise TypeError(
            f"{name} is an iterator (a generator, or iter(...)): it is used up after one pass, but fit goes over it "
            f"once per epoch ({passes} passes). Pass the DataLoader itself, or the batches as a list: list(batches)."
        )


def check_epochs(epochs: object, start_epoch: object, done: int | None) -> None:
    """Check ``fit``'s ``epochs`` and ``start_epoch``, and that a history of ``done`` epochs agrees with them.

    Example:
        >>> check_epochs(3, 5, None)
        Traceback (most recent call last):
        ValueError: start_epoch=5 is past epochs=3. epochs is the total to reach, counted from the first epoch ever...
    """
    for name, value in (("epochs", epochs), ("start_epoch", start_epoch)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:  # NumPy ints are Integral
            raise ValueError(f"{name} should be a non-negative integer, got {value!r}.")
    if start_epoch > epochs:
        raise ValueError(
            f"start_epoch={start_epoch} is past epochs={epochs}. epochs is the total to reach, counted from the "
            f"first epoch ever: to train 5 more epochs after a checkpoint at epoch {start_epoch}, pass "
            f"epochs={start_epoch + 5}."
        )
    if done is not None and done != start_epoch:
        raise ValueError(
            f"the history holds {done} epoch(s) of train_loss but start_epoch={start_epoch}; they must agree. "
            f"When resuming, pass both from the checkpoint: history=ckpt['history'], start_epoch=ckpt['epoch']."
        )


def check_parts(model: object, loss_fn: object, optimizer: object = None, *, training: bool = False) -> None:
    """Check the model and the loss; for ``training``, also that the optimizer trains this model's parameters.

    Example:
        >>> model = nn.Linear(1, 1)
        >>> check_parts(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), training=True)
        >>> check_parts(model, nn.MSELoss(), None, training=True)
        Traceback (most recent call last):
        TypeError: optimizer should be a torch.optim.Optimizer, got NoneType. Build one after the model with ...
    """
    check_model(model)
    check_loss_fn(loss_fn)
    if training:
        check_trainable(model)
        check_optimizer(optimizer, model)


def continued_history(history: object, epochs: object, start_epoch: object, validating: bool) -> History:
    """A checked copy of the history ``fit`` continues, with a list for each quantity it records.

    Example:
        >>> continued_history({"train_loss": [0.5], "lr": [0.1]}, 3, 1, validating=True)
        {'train_loss': [0.5], 'lr': [0.1], 'val_loss': []}
    """
    result = plain_history(history)
    check_epochs(epochs, start_epoch, len(result.get("train_loss", [])) if result else None)
    for key in ("train_loss", "val_loss", "lr") if validating else ("train_loss", "lr"):
        result.setdefault(key, [])
    return result
