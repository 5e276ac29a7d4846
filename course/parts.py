"""The parts of training, checked before it starts: each bad part gets an error that names the fix.

The model, the loss, the optimizer, the scheduler and the history are checked once, before the first epoch, by the
trainer (:mod:`course.training`) and the checkpoints (:mod:`course.checkpoints`): a wrong part fails at once."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping

import torch
from torch import nn

_SCHEDULERS = (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def _a_class(value: object, base: type) -> bool:
    return isinstance(value, type) and issubclass(value, base)


_TRAINER_ORDER = (
    "model, loss_fn, optimizer, then the loader: make_train_step(model, loss_fn, optimizer), train_epoch(model, loss_fn, "
    "optimizer, loader), fit(model, loss_fn, optimizer, train_loader, epochs), evaluate(model, loss_fn, loader)"
)


def wrong_order(name: str, value: object, order: str = _TRAINER_ORDER) -> str:
    """The hint for an argument that is another part of training (the arguments in the wrong ``order``), or a tensor."""
    if isinstance(value, torch.Tensor) and value.ndim == 0 and name in ("epochs", "start_epoch"):
        return f" {name} got a tensor holding one number: pass a plain int, {name}={value.item()!r:.20} (int(t))."
    if isinstance(value, torch.Tensor):  # data, which a trainer takes only as a loader
        return (
            f" {name} got a tensor of shape {tuple(value.shape)}: data goes in last, as a loader of (inputs, targets) "
            "batches: for tensors x and y, [(x, y)] (one batch) or DataLoader(TensorDataset(x, y), batch_size=32) "
            f"(mini-batches). Their order is {order}."
        )
    kinds = ((nn.modules.loss._Loss, "a loss"), (torch.optim.Optimizer, "an optimizer"), (nn.Module, "a model"))
    kind = next((k for base, k in kinds if isinstance(value, base)), None)
    if kind is None and isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping)):
        kind = "a loader"
    if kind is None:
        return ""
    return f" {name} got {kind} ({type(value).__name__}): the arguments are swapped. Their order is {order}."


def check_model(model: object, order: str = _TRAINER_ORDER) -> None:
    """Raise a ``TypeError`` naming the fix unless ``model`` is an ``nn.Module`` instance (a swap told in ``order``).

    Example:
        >>> check_model(nn.Linear)
        Traceback (most recent call last):
        TypeError: model is the class Linear, not a model: build one first, e.g. model = Linear(...).
    """
    if _a_class(model, nn.Module):
        name = model.__name__
        raise TypeError(f"model is the class {name}, not a model: build one first, e.g. model = {name}(...).")
    if isinstance(model, nn.modules.loss._Loss) or not isinstance(model, nn.Module):
        raise TypeError(
            f"model should be a torch.nn.Module, got {type(model).__name__}.{wrong_order('model', model, order)}"
        )


def check_loss_fn(loss_fn: object) -> None:
    """Raise a ``TypeError`` naming the fix unless ``loss_fn`` is a callable loss (an instance, not a class).

    Example:
        >>> check_loss_fn(nn.MSELoss)
        Traceback (most recent call last):
        TypeError: loss_fn is the class MSELoss, not a loss: add the parentheses, loss_fn = nn.MSELoss().
    """
    if _a_class(loss_fn, nn.Module):
        name = loss_fn.__name__
        raise TypeError(f"loss_fn is the class {name}, not a loss: add the parentheses, loss_fn = nn.{name}().")
    if not callable(loss_fn) or isinstance(loss_fn, torch.optim.Optimizer):
        raise TypeError(
            f"loss_fn should be callable (e.g. nn.MSELoss()), got {type(loss_fn).__name__}.{wrong_order('loss_fn', loss_fn)}"
        )
    if not (two := _takes_two(loss_fn)) or getattr(loss_fn, "__module__", None) == "builtins":  # print, max, dict
        model = isinstance(loss_fn, nn.Module) and next(loss_fn.parameters(), None) is not None
        hint = wrong_order("loss_fn", loss_fn) if model else " Define it as def loss_fn(pred, target): ..."
        name = type(loss_fn).__name__ if isinstance(loss_fn, nn.Module) else getattr(loss_fn, "__name__", "it")
        why = f"is Python's built-in {name}, not a loss such as nn.MSELoss()" if two else "cannot take two arguments"
        raise TypeError(
            f"loss_fn should take the predictions and the targets, loss_fn(pred, y), but {name} {why}.{hint}"
        )


def _takes_two(loss_fn: object) -> bool:
    """Whether ``loss_fn(pred, y)`` fits its signature (True when it cannot be read, as for some builtins)."""
    try:
        inspect.signature(loss_fn.forward if isinstance(loss_fn, nn.Module) else loss_fn).bind(None, None)
    except TypeError:
        return False
    except ValueError:  # no signature to read
        return True
    return True


def check_optimizer(optimizer: object, model: nn.Module, *, training: bool = True, scheduler: object = None) -> None:
    """Raise a clear error unless ``optimizer`` is an optimizer that may train something (:func:`trains_nothing`).
    Saving or loading a checkpoint (not ``training``) accepts frozen parameters, and a rate below 0 that the last
    step of ``scheduler`` set (fit lets the last one overshoot, as it is never used; a resumed fit checks it). Example:
        >>> check_optimizer(torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1), nn.Linear(1, 1))
        Traceback (most recent call last):
        ValueError: the optimizer holds none of this model's parameters, so training would change nothing...
    """
    check_model(model)
    build = "Build one after the model with e.g. torch.optim.SGD(model.parameters(), lr=0.1)."
    if _a_class(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer is the class {optimizer.__name__}, not an optimizer. {build}")
    if isinstance(optimizer, nn.Module) and not isinstance(optimizer, nn.modules.loss._Loss):
        raise TypeError(
            f"optimizer should be a torch.optim.Optimizer, got a model ({type(optimizer).__name__}). {build}"
        )
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer should be a torch.optim.Optimizer, got {type(optimizer).__name__}. "
            f"{wrong_order('optimizer', optimizer).strip() or build}"
        )
    held = {id(p) for p in model.parameters()} & {id(p) for group in optimizer.param_groups for p in group["params"]}
    if not (training or held) and trains_nothing(model, optimizer):  # a checkpoint of another model's optimizer
        raise ValueError(f"the optimizer holds none of this model's parameters, so training would change nothing. {_REBUILD}")  # fmt: skip
    if training and ((why := trains_nothing(model, optimizer)) or (why := built_before_change(model, optimizer))):
        raise ValueError(why if why.endswith(".") else f"{why}, before training.")
    _check_learning_rates(optimizer, None if training else scheduler)


_REBUILD = ("It was built for another model, or before the model was rebuilt or copied. Build the optimizer from this "
            "model, after creating it: torch.optim.SGD(model.parameters(), lr=...).")  # fmt: skip


def _copies(tensors: list[torch.Tensor], params: list[torch.Tensor]) -> bool:  # one shape alike is chance (T, PReLU)
    return len(tensors) >= 2 and sorted(tuple(p.shape) for p in tensors) == sorted(tuple(p.shape) for p in params)


def trains_nothing(model: nn.Module, optimizer: object = None, *, sure: bool = False) -> str:
    """Why training ``model`` with ``optimizer`` changes nothing ("" if it may): it updates no trainable parameter of
    the model. Unless ``sure`` (a step gave no tensor it holds a gradient), only on evidence, as its tensors not the
    model's may be the loss's (a temperature): none requires grad, or they copy the model's parameters' shapes."""
    params, tensors = list(model.parameters()), [p for g in getattr(optimizer, "param_groups", ()) for p in g["params"]]
    mine = {id(t) for t in (*params, *model.buffers())}
    trainable, held = [p for p in params if p.requires_grad], [p for p in tensors if id(p) in mine]
    other = [p for p in tensors if id(p) not in mine and p.requires_grad]
    if any(p.requires_grad for p in held) or (other and not sure and not _copies(other, trainable or params)):
        return ""
    why, fix = "the optimizer holds none of this model's parameters", _REBUILD
    if not params:
        why = "the model has no parameters at all"
        fix = ("Layers must be attributes of the module (self.linear = nn.Linear(...)), in nn.Sequential or "
               "nn.ModuleList (not a plain Python list), and hand-made weights must be nn.Parameter(...).")  # fmt: skip
    elif not trainable:
        why = f"the model has no trainable parameters ({len(params)} frozen, none requires grad)"
        fix = "Unfreeze the ones to train: for p in model.parameters(): p.requires_grad_(True)."
    elif held:
        why = "the optimizer holds only frozen parameters of this model (requires_grad=False)"
        fix = "Build it from the parameters to train: torch.optim.SGD(model.parameters(), lr=...)."
    return f"{why}, so training would change nothing. {fix}"


def built_before_change(model: nn.Module, optimizer: torch.optim.Optimizer, *, sure: bool = False) -> str:
    """What is wrong ("": nothing) when ``optimizer`` trains tensors that are not the model's while the model has
    trainable parameters it does not train: it was built before the model changed. Unless ``sure`` (a checkpoint,
    which could not keep those tensors anyway), only with evidence: the untrained ones are a parametrization's
    (weight_norm), or the stale ones are copies of them (a layer replaced); a partial optimizer plus a tensor of the
    loss trains, whatever its shape."""
    trained = {id(p): p for group in optimizer.param_groups for p in group["params"]}
    mine = {id(t) for t in (*model.parameters(), *model.buffers())}
    other = [p for p in trained.values() if id(p) not in mine]
    new = {name: p for name, p in model.named_parameters() if p.requires_grad and id(p) not in trained}
    parametrized = any(".original" in name or name.endswith(("_g", "_v")) for name in new)
    if not (other and new) or not (sure or parametrized or _copies(other, list(new.values()))):
        return ""
    return (
        f"the optimizer trains {len(other)} tensor(s) that are not the model's (shapes "
        f"{', '.join(str(tuple(p.shape)) for p in other[:3])}), and the model has {len(new)} trainable parameter(s) it "
        "does not train: the optimizer was built before the model changed (a parametrization such as weight_norm "
        "registered, a layer replaced) or for another model, so its steps change tensors this model does not use. "
        "Rebuild it from the model as it is now, e.g. torch.optim.SGD(model.parameters(), lr=...)"
    )


def _broken(group: Mapping) -> float | None:
    lr = float(group.get("lr", 0.0))
    if math.isfinite(lr) and lr < 0:  # a schedule ending at 0 may land a rounding error below it (LinearLR: -2e-18)
        initial = float(group.get("initial_lr", 0.0))
        lr = 0.0 if -lr <= 1e-12 * max(abs(initial) if math.isfinite(initial) else 0.0, 1.0) else lr
    return lr if not math.isfinite(lr) or lr < 0 else None


def bad_learning_rate(optimizer: torch.optim.Optimizer) -> float | None:
    """The first learning rate of ``optimizer`` that is not a finite number of at least 0, if any.

    A rate below 0 by no more than a rounding error (1e-12 of the initial rate, or of 1) counts as 0.

    Example:
        >>> opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)
        >>> opt.param_groups[0]["lr"] = -2.2e-18
        >>> bad_learning_rate(opt) is None
        True
    """
    return next((lr for group in optimizer.param_groups if (lr := _broken(group)) is not None), None)


def _scheduled(scheduler: object, index: int, lr: object) -> bool:
    """Whether the last step of ``scheduler`` set ``lr``, the rate of the ``index``-th parameter group."""
    finite = isinstance(lr, int | float | torch.Tensor) and bool(torch.isfinite(torch.as_tensor(lr)))
    return finite and isinstance(scheduler, _SCHEDULERS) and lr in scheduler.get_last_lr()[index : index + 1]


def _check_learning_rates(optimizer: torch.optim.Optimizer, scheduler: object = None) -> None:
    """Refuse a rate that is not a finite number of at least 0, unless the last step of ``scheduler`` set it."""
    for index, group in enumerate(optimizer.param_groups):
        if (lr := _broken(group)) is not None and not _scheduled(scheduler, index, group["lr"]):
            raise ValueError(
                f"the optimizer's learning rate is {lr}: it must be a finite number of at least 0, "
                "e.g. torch.optim.SGD(model.parameters(), lr=0.01)."
            )


def check_trainable(model: nn.Module, optimizer: object = None) -> None:
    """Raise a ``ValueError`` if no parameter of ``model`` requires grad, unless ``optimizer`` holds tensors of the
    loss it may train instead (a temperature: :func:`trains_nothing`). Example:
        >>> check_trainable(nn.Linear(2, 1).requires_grad_(False))
        Traceback (most recent call last):
        ValueError: the model has no trainable parameters (2 frozen, none requires grad)...
    """
    if not any(p.requires_grad for p in model.parameters()) and (why := trains_nothing(model, optimizer)):
        raise ValueError(why)


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


def check_mean_loss(loss_fn: object, who: str) -> None:
    """Raise a ``ValueError`` unless ``loss_fn`` averages over its batch, as ``who`` needs to weigh batches by size.

    A loss with ``reduction='sum'`` grows with the batch size, so a loss over a loader weighted
    by batch size would depend on it; ``'none'`` gives one loss per sample, not a number
    (``'batchmean'`` averages over the samples: accepted). A hand-written loss that sums cannot be recognised.

    Example:
        >>> check_mean_loss(nn.MSELoss(reduction="sum"), "evaluate")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: evaluate needs a loss that averages over its batch, but this one has reduction='sum'...
    """
    reduction = getattr(loss_fn, "reduction", None)
    if reduction is None:
        reduction = getattr(loss_fn, "keywords", {}).get("reduction")  # functools.partial(F.mse_loss, reduction=...)
    if reduction not in (None, "mean", "batchmean"):  # KLDivLoss's batchmean averages over the samples
        sums = reduction != "none"  # 'sum', or any other reduction that is not a mean
        why = (
            "its value grows with the batch size, so the loss over the loader would depend on it"
            if sums
            else "it returns one loss per sample, not a single number"
        )
        raise ValueError(
            f"{who} needs a loss that averages over its batch, but this one has reduction={reduction!r}: {why}. Use "
            "reduction='mean' (the default), e.g. nn.MSELoss(), for evaluating"
            + ("; train with the sum if you like." if sums else ".")
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
        check_trainable(model, optimizer)
        check_optimizer(optimizer, model)
