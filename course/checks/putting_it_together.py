"""Checks for lesson 14 (putting it all together): checkpoints, resuming, predicting.

Example:
    >>> from course.checks import putting_it_together as check
    >>> check.predict_by_hand(None)
    ⏳ Not attempted yet: replace the placeholder (None or ...) with your answer, then run this cell again.
"""

from __future__ import annotations

import contextlib
import io
import random
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.checks.verdict import Verdict, call_learner, correct, is_placeholder, not_attempted, wrong
from course.training import fit, load_checkpoint, save_checkpoint

# --------------------------------------------------------------------------- what goes in a checkpoint

_KEYS = ("model", "optimizer", "scheduler", "epoch", "history")
_CHECKPOINT_MESSAGES = {
    "not_a_dict": "a checkpoint is a dict of named parts, e.g. {{'model': model.state_dict(), ...}}; got {found}.",
    "whole_model": "'model' holds the nn.Module object itself. torch.load(weights_only=True) refuses to unpickle "
    "classes, so store model.state_dict() (a dict of tensors) instead.",
    "optimizer_object": "'optimizer' holds the optimizer object itself; weights_only loading refuses it. "
    "Store optimizer.state_dict().",
    "numpy_scalars": "the history holds NumPy scalars (np.float64/np.float32, e.g. from np.mean). "
    "torch.load(weights_only=True) rejects them: store Python floats, float(value), as fit() does.",
    "not_loadable": "torch.load(weights_only=True) cannot read this dict back ({found}). Store only tensors, "
    "state_dicts, lists, dicts and plain Python numbers and strings.",
    "missing_model": "'model' should be model.state_dict(), a dict of parameter names to tensors; found {found}.",
    "missing_optimizer": "the optimizer state is missing. Without optimizer.state_dict() the momentum buffers "
    "(and Adam's running averages) restart from zero and resumed training takes a different path. "
    "Add 'optimizer': optimizer.state_dict().",
    "missing_scheduler": "the scheduler state is missing: after resuming, the learning rate schedule would start "
    "over. Add 'scheduler': scheduler.state_dict().",
    "missing_epoch": "'epoch' should be the number of epochs done, a plain int; found {found}. Without it you "
    "cannot tell fit where to resume (start_epoch).",
    "wrong_epoch": "'epoch' is {found}, but the model has trained for {expected} epochs. Resuming from it would "
    "repeat or skip epochs: store the number of epochs done, len(history['train_loss']).",
    "missing_history": "the history is missing: store the dict fit() returned, so the loss curves continue "
    "after resuming; found {found}.",
}


def _roundtrip(checkpoint: object) -> object:
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _has_numpy_scalars(value: object) -> bool:
    if isinstance(value, np.generic):
        return True
    if isinstance(value, Mapping):
        return any(_has_numpy_scalars(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_numpy_scalars(v) for v in value)
    return False


def _checkpoint_problem(ckpt: object, epochs_done: int | None) -> tuple[str, str] | None:
    """The first thing wrong with a checkpoint dict as (mistake id, what was found), or None."""
    if not isinstance(ckpt, Mapping):
        return "not_a_dict", type(ckpt).__name__
    if isinstance(ckpt.get("model"), nn.Module):
        return "whole_model", ""
    if isinstance(ckpt.get("optimizer"), torch.optim.Optimizer):
        return "optimizer_object", ""
    if _has_numpy_scalars(ckpt):
        return "numpy_scalars", ""
    try:
        _roundtrip(ckpt)
    except Exception as exc:
        return "not_loadable", f"{type(exc).__name__}"
    model = ckpt.get("model")
    if not isinstance(model, Mapping) or not model or not all(isinstance(v, torch.Tensor) for v in model.values()):
        return "missing_model", type(model).__name__
    optimizer = ckpt.get("optimizer")
    if not isinstance(optimizer, Mapping) or "param_groups" not in optimizer:
        return "missing_optimizer", ""
    if not isinstance(ckpt.get("scheduler"), Mapping):
        return "missing_scheduler", ""
    epoch = ckpt.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        return "missing_epoch", repr(epoch)
    if epochs_done is not None and epoch != epochs_done:
        return "wrong_epoch", repr(epoch)
    history = ckpt.get("history")
    if not isinstance(history, Mapping) or not history.get("train_loss"):
        return "missing_history", type(history).__name__
    return None


def checkpoint_contents(checkpoint: object, epochs_done: int | None = None) -> Verdict:
    """Is ``checkpoint`` a dict with everything needed to resume, loadable with weights_only=True?"""
    if is_placeholder(checkpoint):
        return not_attempted()
    try:
        problem = _checkpoint_problem(checkpoint, epochs_done)
    except Exception as exc:
        return wrong("unreadable", f"the check could not read your checkpoint ({type(exc).__name__}: {exc}).")
    if problem is None:
        return correct(
            f"model, optimizer and scheduler states, the epoch and the history: all there, "
            f"and it loads with weights_only=True ({', '.join(_KEYS)})."
        )
    mistake, found = problem
    return wrong(mistake, _CHECKPOINT_MESSAGES[mistake].format(found=found, expected=epochs_done))


# --------------------------------------------------------------------------- resuming


@contextlib.contextmanager
def _own_randomness() -> Iterator[None]:
    """Run a check without disturbing the learner's random number generators."""
    torch_state, numpy_state, python_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        np.random.set_state(numpy_state)
        random.setstate(python_state)


def _parts(seed: int) -> dict[str, Any]:
    """A small regression problem: model, loss, SGD with momentum, a shuffling loader with its generator."""
    data = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, generator=data)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.1 * torch.randn(32, 1, generator=data)
    torch.manual_seed(seed)
    model = nn.Linear(3, 1)
    generator = torch.Generator().manual_seed(seed)
    return {
        "model": model,
        "loss_fn": nn.MSELoss(),
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
        "loader": DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=generator),
        "generator": generator,
    }


def _train(p: dict[str, Any], epochs: int, **kwargs: Any) -> dict[str, list[float]]:
    return fit(p["model"], p["loss_fn"], p["optimizer"], p["loader"], epochs, progress=False, **kwargs)


def _weights(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _resume_variants(path: Path, total: int) -> dict[str, torch.Tensor]:
    """Final weights of the right resume and of each known mistake, to compare the learner's with."""
    variants = {}
    for name, load_kwargs, fit_kwargs in [
        ("right", {"optimizer": True, "generator": True}, {"resume": True}),
        ("optimizer_not_restored", {"optimizer": False, "generator": True}, {"resume": True}),
        ("generator_not_restored", {"optimizer": True, "generator": False}, {"resume": True}),
        ("wrong_start_epoch", {"optimizer": True, "generator": True}, {"resume": False}),
    ]:
        p = _parts(seed=99)
        ckpt = load_checkpoint(
            path,
            p["model"],
            p["optimizer"] if load_kwargs["optimizer"] else None,
            generator=p["generator"] if load_kwargs["generator"] else None,
        )
        if fit_kwargs["resume"]:
            _train(p, total, history=ckpt["history"], start_epoch=ckpt["epoch"])
        else:
            _train(p, total)  # all `total` epochs again, from epoch 0
        variants[name] = _weights(p["model"])
    return variants


_RESUME_MESSAGES = {
    "optimizer_not_restored": "the model resumed, but the optimizer started afresh: its momentum buffers were "
    "lost. Pass the optimizer to load_checkpoint(path, model, optimizer, generator=generator).",
    "generator_not_restored": "the weights differ because the mini-batches came in another order: the loader's "
    "generator was not restored. Pass generator=generator to load_checkpoint.",
    "wrong_start_epoch": "training restarted from epoch 0 and ran all the epochs again. Resume where the "
    "checkpoint stopped: fit(..., history=ckpt['history'], start_epoch=ckpt['epoch']).",
    "no_history": "return the history dict that fit() gives back (it should continue the checkpoint's history); "
    "got {found}.",
    "history_lost": "the returned history has {found} epoch(s) of train_loss, expected {expected}: pass the "
    "checkpoint's history to fit with history=ckpt['history'].",
    "model_not_restored": "the final weights are not those of training that never stopped. Load the checkpoint into "
    "the model (load_checkpoint(path, model, optimizer, generator=generator)) before calling fit.",
}


def _call_resume(fn: Callable, p: dict[str, Any], path: Path, total: int) -> tuple[Any, Verdict | None]:
    try:
        return fn(path, p["model"], p["loss_fn"], p["optimizer"], p["loader"], p["generator"], total), None
    except NotImplementedError:
        return None, not_attempted(
            "the function still raises NotImplementedError: write its body, then run the cell again."
        )
    except ValueError as exc:
        if "start_epoch" in str(exc):
            return None, wrong("wrong_start_epoch", f"fit refused to start: {exc}")
        return None, wrong("raised", f"your function raised ValueError: {exc}")
    except Exception as exc:
        return None, wrong("raised", f"your function raised {type(exc).__name__}: {exc}")


def resume(fn: object) -> Verdict:
    """Does ``fn(path, model, loss_fn, optimizer, loader, generator, epochs)`` resume exactly from a checkpoint?"""
    if is_placeholder(fn):
        return not_attempted()
    if not callable(fn):
        return wrong("not_callable", f"expected a function, got {type(fn).__name__}. Define it with def ...")
    total, done = 4, 2
    with _own_randomness(), tempfile.TemporaryDirectory() as folder:
        first = _parts(seed=0)
        history = _train(first, done)
        path = save_checkpoint(
            Path(folder) / "checkpoint.pt",
            first["model"],
            first["optimizer"],
            epoch=done,
            history=history,
            generator=first["generator"],
        )
        learner = _parts(seed=99)
        result, verdict = _call_resume(fn, learner, path, total)
        if verdict is not None:
            return verdict
        variants = _resume_variants(path, total)
    return _judge_resume(result, _weights(learner["model"]), variants, total)


def _judge_resume(result: object, weights: torch.Tensor, variants: dict[str, torch.Tensor], total: int) -> Verdict:
    if not isinstance(result, Mapping) or "train_loss" not in result:
        return wrong("no_history", _RESUME_MESSAGES["no_history"].format(found=type(result).__name__))
    if torch.equal(weights, variants["right"]):
        if len(result["train_loss"]) != total:
            found = len(result["train_loss"])
            return wrong("history_lost", _RESUME_MESSAGES["history_lost"].format(found=found, expected=total))
        return correct("resumed training ends with exactly the weights of training that never stopped.")
    for mistake in ("optimizer_not_restored", "generator_not_restored", "wrong_start_epoch"):
        if torch.equal(weights, variants[mistake]):
            return wrong(mistake, _RESUME_MESSAGES[mistake])
    return wrong("model_not_restored", _RESUME_MESSAGES["model_not_restored"])


# --------------------------------------------------------------------------- predicting


def _dropout_model() -> nn.Module:
    with _own_randomness():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1))


def predict_by_hand(fn: object) -> Verdict:
    """Does ``fn(model, x)`` predict in eval mode, without a graph, and leave the model's mode as it was?"""
    model, x = _dropout_model(), torch.linspace(-1, 1, 24).reshape(6, 4)
    with torch.no_grad():
        expected = model.eval()(x)
    model.train()
    with _own_randomness():
        out, verdict = call_learner(fn, model, x)
    if verdict is not None:
        return verdict
    if not isinstance(out, torch.Tensor):
        return wrong("not_a_tensor", f"return the model's output tensor, got {type(out).__name__}.")
    if out.shape != expected.shape:
        return wrong(
            "wrong_shape", f"the predictions should have shape {tuple(expected.shape)}, got {tuple(out.shape)}."
        )
    if not torch.allclose(out.detach(), expected):
        return wrong(
            "train_mode",
            "the predictions are not the eval-mode ones: dropout was still active. "
            "Call model.eval() before predicting.",
        )
    if out.requires_grad:
        return wrong(
            "builds_graph",
            "the output requires grad, so a graph was built for nothing. Predict inside `with torch.no_grad():`.",
        )
    if not model.training:
        return wrong(
            "mode_not_restored",
            "the model was in training mode and your function left it in eval mode. "
            "Remember was_training = model.training and call model.train(was_training) at the end.",
        )
    model.eval()
    with _own_randomness():
        call_learner(fn, model, x)
    if model.training:
        return wrong(
            "mode_not_restored",
            "the model was in eval mode and your function switched it to training "
            "mode. Restore the mode it had: model.train(was_training).",
        )
    return correct("eval mode, no graph, and the model's mode is restored afterwards.")
