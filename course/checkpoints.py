"""Checkpoints: save everything needed to resume training, verified, and load it back all or nothing.

:func:`save_checkpoint` stores the state of the model, optimizer and scheduler, the epoch, the history and every
random state, in a file sealed with a checksum and written atomically (:mod:`course.checkpoint_file`).
:func:`load_checkpoint` verifies it and that all in it fits what you load it into, and only then changes anything.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parameter import is_lazy

from course.checkpoint_file import CheckpointError, read_sealed, write_sealed
from course.checkpoint_path import as_path, save_path, unexpanded
from course.device import model_device
from course.divergence import state_copy
from course.epochs import check_saved_epoch
from course.history import plain_history
from course.lower_rates import ADVICE as _RATES
from course.parts import built_before_change, check_model, check_optimizer, check_scheduler, wrong_order
from course.repro import rng_state, set_rng_state
from course.scalars import number_held
from course.updates import note_restored
from course.weights import nan_or_inf, trained_weights

_ENTRIES = {"model": dict, "optimizer": (dict, type(None)), "scheduler": (dict, type(None)), "epoch": int,
            "history": dict, "rng": dict, "kinds": dict}  # fmt: skip
_MOMENTS = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf", "momentum_buffer", "square_avg", "acc_delta",
            "grad_avg", "sum", "ax", "prev", "step_size", "variance"}  # fmt: skip
_ORDER = ("the path, then the model, optimizer and scheduler: save_checkpoint(path, model, optimizer, scheduler, "
          "epoch, history), load_checkpoint(path, model, optimizer, scheduler)")  # fmt: skip


def _param_names(model: nn.Module, optimizer: Any) -> list[list[str]] | None:  # '?': a tensor not the model's
    names = {id(t): name for name, t in (*model.named_parameters(), *model.named_buffers())}
    return None if optimizer is None else [[names.get(id(p), "?") for p in g["params"]] for g in optimizer.param_groups]


def _check_parts(path: object, model: object, optimizer: object, scheduler: object, verb: str) -> Path:
    """The path (first: a model in its place is the swap named), the model, the optimizer and scheduler if any."""
    path = as_path(path, wrong_order("path", path, _ORDER) if isinstance(path, nn.Module) else "")  # a model: swapped
    check_model(model, _ORDER)
    model_device(model)  # one real device: a meta model has no weights to save, nor keeps those loaded
    if optimizer is not None:
        check_optimizer(optimizer, model, training=False, scheduler=scheduler)  # frozen, or set by the scheduler: fine
    if isinstance(scheduler, (int, float, np.number)) and not isinstance(scheduler, bool):  # (path, m, o, 3)
        fix = "the epoch comes back in ckpt['epoch']" if verb == "loaded" else f"pass it by name, epoch={scheduler:g}"
        raise TypeError(f"{verb[:4]}_checkpoint's 4th argument is the scheduler, got the number {scheduler}: {fix}.")
    check_scheduler(scheduler, optimizer)
    if scheduler is not None and optimizer is None:
        raise ValueError(
            f"a scheduler cannot be {verb} without its optimizer: the scheduler's state says which learning rate it set, "
            f"but that rate lives in the optimizer's state. Pass both, {verb[:4]}_checkpoint(path, model, optimizer, scheduler)."
        )
    return path


def _check_held(model: nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
    """Refuse an optimizer that trains tensors the model does not hold: the file would not keep their values."""
    trained = [p for group in getattr(optimizer, "param_groups", ()) for p in group["params"]]
    mine = {id(t) for t in (*model.parameters(), *model.buffers())}
    if not (other := [p for p in trained if id(p) not in mine]):
        return
    none = len(other) == len(trained)  # another model's tensors, or the loss's (a temperature): both causes named
    if not none and (changed := built_before_change(model, optimizer, sure=True)):  # the model changed since
        raise ValueError(f"nothing was saved: {changed}, and train with it before saving.")
    shapes, why = ", ".join(str(tuple(p.shape)) for p in other[:3]), "and "
    if none:
        why = ("and holds none of this model's parameters. If it was built for another model, build it from this one, "
               "torch.optim.SGD(model.parameters(), lr=...). If they are tensors of the loss (a temperature): ")  # fmt: skip
    raise ValueError(
        f"nothing was saved: the optimizer trains {len(other)} tensor(s) that are not the model's (shapes {shapes}), "
        f"{why}a checkpoint keeps only the model's weights, so their trained values would be lost. Register each on "
        "the model as a parameter, e.g. in __init__, self.temperature = nn.Parameter(torch.ones(1)), then build the "
        "optimizer from model.parameters()."
    )


def _diverged(model: nn.Module, weights: Mapping[str, Any], optimizer_state: Any) -> list[str]:
    """What holds NaN, or inf where training allows none (:func:`course.weights.trained_weights`): divergence."""
    trained = {name for name, _ in trained_weights(model)}
    bad = [name for name, v in weights.items() if isinstance(v, torch.Tensor) and nan_or_inf(v, name in trained)]
    states = optimizer_state["state"].items() if isinstance(optimizer_state, Mapping) else ()
    bad += [f"the optimizer's {key} of parameter {index}" for index, state in states for key, value in state.items()
            if isinstance(value, torch.Tensor) and nan_or_inf(value, False)]  # fmt: skip
    return bad


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
    """Save everything needed to resume training, atomically and with a checksum; return the path.

    The file holds the model's, optimizer's and scheduler's ``state_dict`` (and their kinds), the number of epochs
    done, the history (as Python floats), and the states of the random number generators: torch, NumPy, Python's
    ``random``, and ``generator`` if given (pass your DataLoader's generator so the shuffling order resumes
    exactly). It loads with ``torch.load(path, weights_only=True)``; :func:`load_checkpoint` also verifies it.

    Example:
        >>> import tempfile, pathlib
        >>> model = nn.Linear(1, 1)
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> path = save_checkpoint(folder / "ckpt.pt", model, epoch=3, history={"train_loss": [0.3, 0.2, 0.1]})
        >>> sorted(torch.load(path, weights_only=True))
        ['epoch', 'history', 'kinds', 'model', 'optimizer', 'param_names', 'rng', 'scheduler']
    """
    path = _check_parts(path, model, optimizer, scheduler, "saved")
    if lazy := [name for name, p in model.named_parameters() if is_lazy(p)]:
        raise ValueError(f"nothing was saved: {lazy[0]} has no values yet (a lazy layer makes its weights at the first "
                         "forward pass): run the model once, model(x[:1]), or train it, before saving.")  # fmt: skip
    _check_held(model, optimizer)
    epoch = number_held(epoch)  # a 0-d tensor or array: the number it holds
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        late = " The history comes after the epoch: pass it by name, history=history." * isinstance(epoch, Mapping)
        raise ValueError(f"epoch should be the number of epochs done, a non-negative integer; got {epoch!r}.{late}")
    history = plain_history(history)  # once: values given as an iterator (map, generator) are used up by reading
    check_saved_epoch(epoch, history)
    path = save_path(path)
    kinds = {k: p if p is None else type(p).__name__ for k, p in (("optimizer", optimizer), ("scheduler", scheduler))}  # fmt: skip
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "kinds": kinds,
        "param_names": _param_names(model, optimizer),  # the optimizer's state goes by position: names tell whose
        "epoch": int(epoch),
        "history": history,
        "rng": rng_state(generator),
    }
    if diverged := _diverged(model, checkpoint["model"], checkpoint["optimizer"]):
        raise ValueError(
            f"nothing was saved: {', '.join(diverged[:5])} hold(s) NaN or inf, so the training diverged and this state cannot "
            "resume it. Keep the last checkpoint saved before it diverged (save an earlier state), and resume from there with a "
            "lower learning rate. A mask holding inf on purpose is saved if it is frozen, p.requires_grad_(False), or a "
            "buffer, self.register_buffer('mask', m)."
        )
    write_sealed(checkpoint, path)  # refuses what load_checkpoint could not read back, e.g. a custom extra state
    return path


def _model_misfit(model: nn.Module, saved: Mapping[str, Any]) -> str | None:
    mine = model.state_dict()
    missing, unexpected = sorted(set(mine) - set(saved)), sorted(set(saved) - set(mine))
    both = [k for k in sorted(set(mine) & set(saved)) if all(isinstance(d[k], torch.Tensor) for d in (mine, saved))
            and not is_lazy(mine[k])]  # fmt: skip  # a lazy layer takes the file's shape, as load_state_dict does
    shapes = [f"{k} is {tuple(saved[k].shape)} in the file but {tuple(mine[k].shape)} in your model" for k in both
              if saved[k].shape != mine[k].shape]  # fmt: skip
    problems = [f"missing {missing}"] * bool(missing) + [f"unexpected {unexpected}"] * bool(unexpected) + shapes
    for wrapper, extra, less in (("_orig_mod.", unexpected, missing), ("module.", unexpected, missing),
                                 ("_orig_mod.", missing, unexpected), ("module.", missing, unexpected)):  # fmt: skip
        if extra and sorted(wrapper + key for key in less) == extra:  # torch.compile's or DataParallel's wrapper
            inner, wrap = f"model.{wrapper[:-1]}", "torch.compile" if wrapper == "_orig_mod." else "nn.DataParallel"
            fix = (f"your model is wrapped: load into {inner}", f"the file's model was wrapped: save {inner}, the "
                   f"model it wraps, or load into {wrap}(model), wrapped alike")[extra is unexpected]  # fmt: skip
            problems.append(f"every key of one is the other's with the prefix '{wrapper}', {fix}")
    return "the model's weights do not fit (" + "; ".join(problems) + ")" if problems else None


def _missing(name: str) -> str:
    return (
        f"the checkpoint holds no {name} state, so the {name} cannot be restored: save it with "
        f"save_checkpoint(..., {name}={name}), or do not pass {'an' if name[0] in 'aeiou' else 'a'} {name} to load_checkpoint"
    )


def _unwrapped(names: list[str]) -> list[str]:  # torch.compile's or DataParallel's prefix: the model's advice names it
    return [name.removeprefix("_orig_mod.").removeprefix("module.") for name in names]


def _optimizer_misfit(optimizer: torch.optim.Optimizer, checkpoint: Mapping[str, Any], model: nn.Module) -> str | None:
    saved, kind, names = checkpoint["optimizer"], checkpoint["kinds"].get("optimizer"), checkpoint.get("param_names")
    if saved is None:
        return _missing("optimizer")
    if kind != type(optimizer).__name__:
        return f"the file holds the state of the optimizer {kind}, but you passed {type(optimizer).__name__}"
    params = [p for group in optimizer.param_groups for p in group["params"]]
    sizes = [len(group["params"]) for group in optimizer.param_groups]
    if sizes != [len(group["params"]) for group in saved["param_groups"]]:
        return f"the optimizer's parameter groups hold {sizes} parameters, the file's {[len(g['params']) for g in saved['param_groups']]}"
    mine = _param_names(model, optimizer)  # older files have none: their state is checked by its shapes only
    if wrong := [i for i, group in enumerate(names or ()) if _unwrapped(group) != _unwrapped(mine[i])]:  # same sizes
        return (f"the optimizer's parameter group {wrong[0]} holds {mine[wrong[0]]}, but the file's group {wrong[0]} held "
                f"{names[wrong[0]]}: their state and learning rate would go to other parameters, without an error. "
                "Build the optimizer with the same parameters in each group, in the order they were saved")  # fmt: skip
    for index, state in [(i, s) for i, s in saved["state"].items() if not is_lazy(params[i])]:  # a lazy one loads
        for name, value in state.items():  # _MOMENTS: not LBFGS's flat vectors, nor Adafactor's row/column factors
            if name in _MOMENTS and isinstance(value, torch.Tensor) and value.shape != params[index].shape:
                return f"the optimizer's {name} for parameter {index} is {tuple(value.shape)}, the parameter {tuple(params[index].shape)}"
    return None


def _misfits(
    checkpoint: Mapping[str, Any], model: nn.Module, optimizer: Any, scheduler: Any, generator: Any
) -> list[str]:
    """Everything in the file that does not fit what it is loaded into (empty when all fits)."""
    kinds = checkpoint["kinds"]
    problems = [_model_misfit(model, checkpoint["model"])]
    if generator is not None and checkpoint["rng"].get("generator") is None:
        problems.append(_missing("generator"))
    if optimizer is not None:
        problems.append(_optimizer_misfit(optimizer, checkpoint, model))
    if scheduler is not None and checkpoint["scheduler"] is None:
        problems.append(_missing("scheduler"))
    elif scheduler is not None and kinds.get("scheduler") != type(scheduler).__name__:
        problems.append(
            f"the file holds the scheduler {kinds.get('scheduler')}, but you passed {type(scheduler).__name__}"
        )
    return [problem for problem in problems if problem]


def _snapshot(model: nn.Module, optimizer: Any, scheduler: Any, generator: Any) -> tuple:
    return (
        {key: state_copy(value) for key, value in model.state_dict().items()},
        copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None,
        copy.deepcopy(scheduler.state_dict()) if scheduler is not None else None,
        rng_state(generator),
    )


def _apply(parts: tuple, model: nn.Module, optimizer: Any, scheduler: Any, generator: Any) -> None:
    weights, optimizer_state, scheduler_state, rng = parts
    set_rng_state(rng, generator)  # checks every part before changing any: first, so a misfit changes nothing
    model.load_state_dict(weights)
    if optimizer is not None:
        optimizer.load_state_dict(optimizer_state)
    if scheduler is not None:
        scheduler.load_state_dict(scheduler_state)


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    *,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """Verify and restore a checkpoint saved by :func:`save_checkpoint`; return ``{"epoch": ..., "history": ...}``.

    Checks the file's SHA-256 seal, loads it with ``torch.load(weights_only=True)`` (no arbitrary code runs), then
    restores the model, the optimizer and the scheduler when given, every random number generator, and the
    DataLoader's ``generator`` when given. All or nothing: if anything does not fit (other weights' shapes, an
    optimizer or scheduler of another kind, optimizer groups of other parameters than saved, a state the file lacks),
    a ``CheckpointError`` says what, and nothing has changed. The optimizer's settings (``lr`` included) come from the
    file, as ``load_state_dict`` sets them: change them after loading. Resume with ``fit(..., history=ckpt["history"], start_epoch=ckpt["epoch"])``.

    Example:
        >>> import tempfile, pathlib
        >>> path = save_checkpoint(pathlib.Path(tempfile.mkdtemp()) / "ckpt.pt", nn.Linear(1, 1), epoch=2)
        >>> ckpt = load_checkpoint(path, nn.Linear(1, 1))
        >>> ckpt["epoch"], ckpt["history"]
        (2, {})
    """
    path = _check_parts(path, model, optimizer, scheduler, "loaded")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator should be the DataLoader's torch.Generator (or None), got "
                        f"{type(generator).__name__}.")  # fmt: skip
    if path.is_dir():
        raise IsADirectoryError(f"'{path}' is a folder, not a checkpoint file: pass the file's path, e.g. "
                                f"'{path / 'checkpoint.pt'}'.")  # fmt: skip
    if not path.exists():  # a pipe or a device: read_sealed names it
        raise FileNotFoundError(f"no checkpoint file at '{path}'."
                                + (unexpanded(path) or " Check the path, or save one first with save_checkpoint."))  # fmt: skip
    checkpoint = read_sealed(path, _ENTRIES)  # a dict of these entries, each of its type
    problems = _misfits(checkpoint, model, optimizer, scheduler, generator)
    diverged = [] if problems else _diverged(model, checkpoint["model"], checkpoint["optimizer"] if optimizer else None)
    if diverged:
        raise CheckpointError(f"'{path.name}' holds NaN or inf in {', '.join(diverged[:5])}: the training had "
                              "diverged when it was saved, so nothing was loaded. Load an earlier checkpoint, then, "
                              "as loading restores the optimizer's learning rate, set a lower one after loading: "
                              "for g in optimizer.param_groups: g['lr'] = ..."
                              + _RATES * bool(checkpoint["scheduler"]))  # fmt: skip
    if problems:
        raise CheckpointError(f"'{path.name}' does not fit, so nothing was loaded: " + "; ".join(problems) + ".")
    before = _snapshot(model, optimizer, scheduler, generator)
    try:
        parts = (checkpoint["model"], checkpoint["optimizer"], checkpoint["scheduler"], checkpoint["rng"])
        _apply(parts, model, optimizer, scheduler, generator)
    except BaseException as exc:  # whatever a custom scheduler raises, or an interrupt: put everything back
        _apply(before, model, optimizer, scheduler, generator)
        if not isinstance(exc, Exception):
            raise
        raise CheckpointError(f"'{path.name}' does not fit, so nothing was loaded: {exc}") from None
    note_restored(scheduler)  # fit from epoch 0 with it (history and start_epoch forgotten) is warned about
    return {"epoch": checkpoint["epoch"], "history": checkpoint["history"]}
