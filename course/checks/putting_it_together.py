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
from course.checks.probes import flat_parameters, randomised, tag_is
from course.checks.values import close
from course.training import fit

# --- exercise 1: what goes in a checkpoint ----------------------------------------------------------


def _good_checkpoint(**changes: object) -> dict:
    """A complete checkpoint of a tiny run after 3 epochs; ``changes`` replace keys ("model" and "optimizer": by
    the object itself) or, with KeyError, drop them."""
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    model(torch.ones(3, 2)).sum().backward()
    optimizer.step()
    ckpt = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": 3,
        "history": {"train_loss": [0.5, 0.4, 0.3], "val_loss": [0.6, 0.5, 0.4], "lr": [0.1, 0.1, 0.1]},
    }
    objects = {"model": model, "optimizer": optimizer}
    ckpt |= {key: objects[value] if isinstance(value, str) else value for key, value in changes.items()}
    return {key: value for key, value in ckpt.items() if value is not KeyError}


def _load_error(ckpt: Mapping) -> str | None:
    """Why ``torch.load(..., weights_only=True)`` cannot read ``ckpt`` back: "numpy_scalars", "not_loadable", or None."""
    buffer = io.BytesIO()
    try:
        torch.save(ckpt, buffer)
        buffer.seek(0)
        torch.load(buffer, weights_only=True)
    except Exception as exc:
        return "numpy_scalars" if "multiarray.scalar" in str(exc) else "not_loadable"
    return None


def _lacks(key: str, field: str | None = None):
    """A test: ``ckpt[key]`` is not a non-empty dict (holding ``field``)."""
    return lambda ckpt: not isinstance(ckpt.get(key), Mapping) or not ckpt[key] or (field and field not in ckpt[key])


def _holds(key: str, kind: type):
    """A test: ``ckpt[key]`` is the object itself, a ``kind``, rather than its state_dict()."""
    return lambda ckpt: isinstance(ckpt.get(key), kind)


_PROBLEMS = [  # (mistake, its test, in order: each may rely on the ones before; the changes that make it)
    ("whole_model", _holds("model", nn.Module), {"model": "model"}),
    ("optimizer_object", _holds("optimizer", torch.optim.Optimizer), {"optimizer": "optimizer"}),
    ("numpy_scalars", lambda c: _load_error(c) == "numpy_scalars", {"history": {"train_loss": [np.float64(0.5)] * 3}}),
    ("not_loadable", lambda ckpt: _load_error(ckpt) is not None, {"extra": nn.ReLU}),
    ("missing_model", _lacks("model"), {"model": KeyError}),
    ("missing_optimizer", _lacks("optimizer", "param_groups"), {"optimizer": KeyError}),
    ("missing_scheduler", _lacks("scheduler", "last_epoch"), {"scheduler": KeyError}),
    ("missing_history", _lacks("history", "train_loss"), {"history": KeyError}),
    ("missing_epoch", lambda ckpt: type(ckpt.get("epoch")) is not int, {"epoch": 3.0}),
    ("wrong_epoch", lambda ckpt: ckpt["epoch"] != len(ckpt["history"]["train_loss"]), {"epoch": 0}),
]


def _problem(ckpt: object, args: tuple) -> str:
    """The first thing that keeps ``ckpt`` from resuming a run, or 'complete'."""
    if not isinstance(ckpt, Mapping):
        return "not_a_dict"
    return next((problem for problem, found, _ in _PROBLEMS if found(ckpt)), "complete")


checkpoint_contents = Exercise(
    name="checkpoint_contents",
    kind="value",
    reference=_good_checkpoint,
    observe=_problem,
    alternatives=[functools.partial(_good_checkpoint, rng={"torch": torch.get_rng_state()}, note=["run 1"])],
    guards=[Guard("not_a_dict", lambda got: got == "not_a_dict", lambda: [1, 2])],
    mistakes=[Mistake(problem, functools.partial(_good_checkpoint, **changes)) for problem, _, changes in _PROBLEMS],
    success="model, optimizer and scheduler states, the epoch and the history: all there, "
    "and it loads with torch.load(..., weights_only=True).",
)

# --- exercise 2: find the bug in a resume -----------------------------------------------------------

# StepLR(step_size=2) halves the rate after epochs 2 and 4: once before the checkpoint, once after
_EPOCHS, _DONE = 6, 3


def _parts(seed: int) -> list:
    """model, loss_fn, optimizer (SGD with momentum), scheduler, a shuffling loader (batches 10, 10, 10, 2), generator."""
    data = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, generator=data)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.1 * torch.randn(32, 1, generator=data)
    model = randomised(nn.Linear(3, 1), seed)
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
    """(the number of epochs in the returned history, or -1; the model's final weights)."""
    history = answer(*args)
    done = len(history["train_loss"]) if isinstance(history, Mapping) and "train_loss" in history else -1
    return (done, flat_parameters(args[1]))


def _by_hand(path, model, optimizer, scheduler, generator):
    """Load with torch.load and each part's load_state_dict: right as well."""
    ckpt = torch.load(path, weights_only=True)
    for part, state in [(model, "model"), (optimizer, "optimizer"), (scheduler, "scheduler")]:
        part.load_state_dict(ckpt[state])
    generator.set_state(ckpt["rng"]["generator"])
    return ckpt


def _resume(forget=(), load=load_checkpoint, **fit_kwargs):
    """A resume function: ``load`` restores every part but those it should ``forget`` (the model: into a copy),
    then ``fit`` continues, told ``fit_kwargs`` as well."""

    def resume(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs):
        parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "generator": generator}
        parts = {k: (copy.deepcopy(v) if k == "model" else None) if k in forget else v for k, v in parts.items()}
        ckpt = load(path, parts["model"], parts["optimizer"], parts["scheduler"], generator=parts["generator"])
        told = {"history": ckpt["history"], "start_epoch": ckpt["epoch"], "scheduler": scheduler} | fit_kwargs
        return fit(model, loss_fn, optimizer, loader, epochs, progress=False, **told)

    return resume


def _resume_gap(got: tuple, expected: tuple) -> str:
    if got[0] != expected[0]:
        return f"the returned history has {got[0]} epochs; a run that never stopped has {expected[0]}."
    return (
        "the final weights are not those of a run that never stopped: restore the model, the optimizer, the "
        "scheduler and the loader's generator from the checkpoint, then fit with history and start_epoch."
    )


resume = Exercise(
    name="resume",
    inputs=_resume_inputs,
    reference=_resume(),
    observe=_resumed,
    pure=False,  # no tensor among the arguments
    same=functools.partial(close, rtol=1e-6, atol=1e-7),
    alternatives=[_resume(load=_by_hand)],
    mistakes=[
        Mistake("scheduler_not_restored", _resume(forget=("scheduler",))),
        Mistake("optimizer_not_restored", _resume(forget=("optimizer",))),
        Mistake("generator_not_restored", _resume(forget=("generator",))),
        Mistake("scheduler_not_stepped", _resume(scheduler=None)),
        Mistake("wrong_start_epoch", _resume(history=None, start_epoch=0)),
        Mistake("wrong_start_epoch", _resume(start_epoch=0)),
        Mistake("history_lost", _resume(history=None)),
        Mistake("epochs_remaining", lambda *args: _resume()(*args[:-1], args[-1] - _DONE)),
        Mistake("model_not_restored", _resume(forget=("model",))),
        Mistake("returned_none", lambda *args: _resume()(*args) and None),
    ],
    explain=_resume_gap,
    success="the resumed run ends with exactly the weights of a run that never stopped.",
)

# --- exercise 3: predict by hand ---------------------------------------------------------------------


def _predict_inputs() -> tuple:
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1))
    return randomised(model, seed=0, scale=0.5), torch.linspace(-1, 1, 28).reshape(7, 4)


def _prediction(answer, args) -> tuple:
    """(form, equals the eval-mode output, graph built, mode after a call in train mode, after one in eval mode)."""
    model, x = args
    expected = copy.deepcopy(model).eval()(x).detach()
    graphs = []  # whether autograd was recording during each forward pass (a later .detach() does not undo it)
    model.register_forward_hook(lambda *_: graphs.append(torch.is_grad_enabled()))
    out = answer(model.train(), x)
    after_train = model.training
    answer(model.eval(), x.clone())
    if type(out) is not torch.Tensor or out.shape != expected.shape:
        return ("not_a_tensor" if type(out) is not torch.Tensor else "wrong_shape", False, False, False, False)
    return ("tensor", torch.allclose(out.detach(), expected), any(graphs), after_train, model.training)


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
        Guard(tag, tag_is(tag), example, f"return the model's output as it comes: {what}.")
        for tag, example, what in [
            ("not_a_tensor", lambda m, x: _predict()(m, x).tolist(), "a tensor, not a list or a number"),
            ("wrong_shape", lambda m, x: _predict()(m, x).reshape(-1), "one row per example, shape (N, 1)"),
        ]
    ],
    mistakes=[
        Mistake("no_eval", _predict(eval_mode=False)),
        Mistake("no_grad", _predict(no_grad=False)),
        Mistake("mode_not_restored", _predict(restore=False)),
        Mistake("mode_not_restored", _predict(restore="train")),
    ],
    success="eval mode, no graph, and the model's mode is restored afterwards.",
)
