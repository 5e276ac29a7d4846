"""Checks for lesson 14 (putting it all together): what a checkpoint holds, resuming exactly, predicting.

Example:
    >>> from course.checks import putting_it_together as check
    >>> check.predict_by_hand(None)
    ⏳ Not attempted yet: replace the placeholder (None or ...) with your answer, then run this cell again.
"""

from __future__ import annotations

import copy
import functools
import io
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.checkpoints import load_checkpoint, save_checkpoint
from course.checks.engine import Exercise, Guard, Mistake
from course.checks.values import close
from course.training import fit

# --- exercise 1: what goes in a checkpoint ----------------------------------------------------------


def _good_checkpoint(**changes: object) -> dict:
    """A complete checkpoint of a tiny run after 3 epochs; ``changes`` replace (or, with KeyError, drop) keys."""
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    model(torch.ones(3, 2)).sum().backward()
    optimizer.step()
    parts = {"model": model, "optimizer": optimizer}
    ckpt = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": 3,
        "history": {"train_loss": [0.5, 0.4, 0.3], "val_loss": [0.6, 0.5, 0.4], "lr": [0.1, 0.1, 0.1]},
    }
    for key, value in changes.items():
        if value is KeyError:
            del ckpt[key]
        else:
            ckpt[key] = parts[value] if isinstance(value, str) else value
    return ckpt


def _has_numpy(value: object) -> bool:
    if isinstance(value, Mapping):
        return any(_has_numpy(v) for v in value.values())
    return isinstance(value, np.generic) or (isinstance(value, (list, tuple)) and any(map(_has_numpy, value)))


def _loads(ckpt: Mapping) -> bool:
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    buffer.seek(0)
    try:
        torch.load(buffer, weights_only=True)
    except Exception:
        return False
    return True


def _problem(ckpt: object, args: tuple) -> str:
    """The first thing that keeps ``ckpt`` from resuming a run, or 'complete'."""
    if not isinstance(ckpt, Mapping):
        return "not_a_dict"
    model, optimizer, scheduler = (ckpt.get(key) for key in ("model", "optimizer", "scheduler"))
    history, epoch = ckpt.get("history"), ckpt.get("epoch")
    for problem, found in [  # in order: each test may rely on the ones before it
        ("whole_model", lambda: isinstance(model, nn.Module)),
        ("optimizer_object", lambda: isinstance(optimizer, torch.optim.Optimizer)),
        ("numpy_scalars", lambda: _has_numpy(ckpt)),
        ("not_loadable", lambda: not _loads(ckpt)),
        ("missing_model", lambda: not isinstance(model, Mapping) or not model),
        ("missing_optimizer", lambda: not isinstance(optimizer, Mapping) or "param_groups" not in optimizer),
        ("missing_scheduler", lambda: not isinstance(scheduler, Mapping) or "last_epoch" not in scheduler),
        ("missing_history", lambda: not isinstance(history, Mapping) or not history.get("train_loss")),
        ("missing_epoch", lambda: isinstance(epoch, bool) or not isinstance(epoch, int)),
        ("wrong_epoch", lambda: epoch != len(history["train_loss"])),
    ]:
        if found():
            return problem
    return "complete"


checkpoint_contents = Exercise(
    name="checkpoint_contents",
    kind="value",
    reference=_good_checkpoint,
    observe=_problem,
    alternatives=[functools.partial(_good_checkpoint, rng={"torch": torch.get_rng_state()}, note=["run 1"])],
    guards=[Guard("not_a_dict", lambda got: got == "not_a_dict", lambda: [1, 2])],
    mistakes=[
        Mistake(problem, functools.partial(_good_checkpoint, **changes))
        for problem, changes in [
            ("whole_model", {"model": "model"}),
            ("optimizer_object", {"optimizer": "optimizer"}),
            ("numpy_scalars", {"history": {"train_loss": [np.float64(0.5), np.float64(0.4), np.float64(0.3)]}}),
            ("not_loadable", {"extra": nn.ReLU}),
            ("missing_model", {"model": KeyError}),
            ("missing_optimizer", {"optimizer": KeyError}),
            ("missing_scheduler", {"scheduler": KeyError}),
            ("missing_history", {"history": KeyError}),
            ("missing_epoch", {"epoch": 3.0}),
            ("wrong_epoch", {"epoch": 0}),
        ]
    ],
    success="model, optimizer and scheduler states, the epoch and the history: all there, "
    "and it loads with torch.load(..., weights_only=True).",
)

# --- exercise 2: find the bug in a resume -----------------------------------------------------------

_EPOCHS, _DONE = (
    6,
    3,
)  # StepLR(step_size=2) halves the rate after epochs 2 and 4: once before the checkpoint, once after


def _parts(seed: int) -> list:
    """model, loss_fn, optimizer (SGD with momentum), scheduler, a shuffling loader (batches 10, 10, 10, 2), generator."""
    data, init = torch.Generator().manual_seed(0), torch.Generator().manual_seed(seed)
    x = torch.randn(32, 3, generator=data)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.1 * torch.randn(32, 1, generator=data)
    model = nn.Linear(3, 1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=init))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(x, y), batch_size=10, shuffle=True, generator=generator)
    return [model, nn.MSELoss(), optimizer, scheduler, loader, generator]


@functools.cache
def _saved() -> tuple[Path, bytes]:
    """A scratch folder and the bytes of a checkpoint after 3 of 6 epochs (trained and saved once)."""
    folder = Path(tempfile.mkdtemp(prefix="course-check-"))
    model, loss_fn, optimizer, scheduler, loader, generator = _parts(seed=0)
    history = fit(model, loss_fn, optimizer, loader, _DONE, scheduler=scheduler, progress=False)
    path = save_checkpoint(folder / "saved.pt", model, optimizer, scheduler, _DONE, history, generator=generator)
    return folder, path.read_bytes()


def _resume_inputs() -> tuple:
    """The checkpoint (written afresh each time: the learner's code may change the file) and parts from another seed."""
    folder, saved = _saved()
    path = folder / "resume.pt"
    path.write_bytes(saved)
    return (path, *_parts(seed=99), _EPOCHS)


def _resumed(answer, args) -> tuple:
    history, model = answer(*args), args[1]
    weights = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()
    done = len(history["train_loss"]) if isinstance(history, Mapping) and "train_loss" in history else -1
    return (done, weights)


def _resume(load=lambda path, m, o, s, g: load_checkpoint(path, m, o, s, generator=g), **fit_kwargs):
    """A resume function: ``load`` restores (or forgets) parts, then ``fit`` continues, told ``fit_kwargs``."""

    def resume(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs):
        ckpt = load(path, model, optimizer, scheduler, generator)
        told = {"history": ckpt["history"], "start_epoch": ckpt["epoch"], "scheduler": scheduler} | fit_kwargs
        return fit(model, loss_fn, optimizer, loader, epochs, progress=False, **told)

    return resume


def _by_hand(path, model, optimizer, scheduler, generator, model_too=True):
    """Load with torch.load and each part's load_state_dict: right as well (``model_too=False``: a mistake)."""
    ckpt = torch.load(path, weights_only=True)
    if model_too:
        model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    generator.set_state(ckpt["rng"]["generator"])
    return ckpt


def _forgets(**which: bool):
    def load(path, model, optimizer, scheduler, generator):
        parts = {"optimizer": optimizer, "scheduler": scheduler, "generator": generator}
        return load_checkpoint(path, model, **{k: v for k, v in parts.items() if not which.get(k)})

    return load


resume = Exercise(
    name="resume",
    inputs=_resume_inputs,
    reference=_resume(),
    observe=_resumed,
    pure=False,  # no tensor among the arguments
    same=functools.partial(close, rtol=1e-6, atol=1e-7),
    alternatives=[_resume(_by_hand)],
    mistakes=[
        Mistake("scheduler_not_restored", _resume(_forgets(scheduler=True))),
        Mistake("optimizer_not_restored", _resume(_forgets(optimizer=True))),
        Mistake("generator_not_restored", _resume(_forgets(generator=True))),
        Mistake("scheduler_not_stepped", _resume(scheduler=None)),
        Mistake("wrong_start_epoch", _resume(history=None, start_epoch=0)),
        Mistake("wrong_start_epoch", _resume(start_epoch=0)),
        Mistake("history_lost", _resume(history=None)),
        Mistake("model_not_restored", _resume(functools.partial(_by_hand, model_too=False))),
        Mistake("returned_none", lambda *args: _resume()(*args) and None),
    ],
    success="the resumed run ends with exactly the weights of a run that never stopped.",
)

# --- exercise 3: predict by hand ---------------------------------------------------------------------


def _predict_inputs() -> tuple:
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1))
    init = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(0.5 * torch.randn(parameter.shape, generator=init))
    return model, torch.linspace(-1, 1, 28).reshape(7, 4)


def _prediction(answer, args) -> tuple:
    """(form, equals the eval-mode output, requires grad, mode after a call in train mode, after one in eval mode)."""
    model, x = args
    expected = copy.deepcopy(model).eval()(x).detach()
    out = answer(model.train(), x)
    after_train = model.training
    answer(model.eval(), x.clone())
    if type(out) is not torch.Tensor or out.shape != expected.shape:
        return ("not_a_tensor" if type(out) is not torch.Tensor else "wrong_shape", False, False, False, False)
    return ("tensor", torch.allclose(out.detach(), expected), out.requires_grad, after_train, model.training)


def _predict(eval_mode=True, no_grad=True, restore=True, inference=False):
    def predict(model, x):
        was_training = model.training
        if eval_mode:
            model.eval()
        with torch.inference_mode() if inference else torch.set_grad_enabled(not no_grad):
            out = model(x)
        if restore:
            model.train(was_training if restore != "train" else True)
        return out

    return predict


predict_by_hand = Exercise(
    name="predict_by_hand",
    inputs=_predict_inputs,
    reference=_predict(),
    observe=_prediction,
    alternatives=[_predict(inference=True)],
    guards=[
        Guard(
            "not_a_tensor",
            lambda got: got[0] == "not_a_tensor",
            lambda m, x: _predict()(m, x).tolist(),
            "return the model's output, a tensor (not a list or a number).",
        ),
        Guard(
            "wrong_shape",
            lambda got: got[0] == "wrong_shape",
            lambda m, x: _predict()(m, x).reshape(-1),
            "return the model's output as it comes, one row per example: shape (N, 1).",
        ),
    ],
    mistakes=[
        Mistake("no_eval", _predict(eval_mode=False)),
        Mistake("no_grad", _predict(no_grad=False)),
        Mistake("mode_not_restored", _predict(restore=False)),
        Mistake("mode_not_restored", _predict(restore="train")),
    ],
    success="eval mode, no graph, and the model's mode is restored afterwards.",
)
