"""Hidden checks of assignment 03_training_loop: the student's functions on fresh inputs, decided outside the kernel.

See tools/grading/spec.py for how a grader is written. The probes below run in the student's kernel;
everything else runs in the teacher's grading process.
"""

from __future__ import annotations

import numpy as np
import torch

from tools.grading import watch as shared
from tools.grading.probe_call import model_held
from tools.grading.spec import Grader, computed, require
from tools.grading.watch import backward_watch, kept_state, own_predictions, require_trained_steps, reseed, settled

NOISE = 0.1


def _tensor(array) -> torch.Tensor:
    return torch.tensor(np.asarray(array), dtype=torch.float32)


def _problem(rng: np.random.Generator) -> dict:
    features = int(rng.integers(2, 4))
    n = int(rng.integers(5, 9))
    return {
        "weight": _tensor(rng.normal(size=(1, features))),
        "bias": _tensor(rng.normal(size=(1,))),
        "x": _tensor(rng.normal(size=(n, features))),
        "y": _tensor(rng.normal(size=(n, 1))),
        "lr": float(rng.uniform(0.05, 0.2)),
    }


def make_inputs(rng: np.random.Generator) -> tuple[dict, dict]:
    """Fresh inputs for each probe; the secrets add the true line of the training data."""
    a, b = rng.uniform(0.5, 1.5), rng.uniform(1.5, 2.5)
    x = rng.uniform(0, 1, size=(100, 1))
    y = a + b * x + rng.normal(0, NOISE, size=x.shape)
    query = rng.uniform(0, 1, size=(200, 1))
    inputs = {
        "train_step": _problem(rng),
        "evaluate": _problem(rng),
        "train_model": {
            "x_train": _tensor(x[:80]),
            "y_train": _tensor(y[:80]),
            "x_val": _tensor(x[80:]),
            "y_val": _tensor(y[80:]),
            "x_query": _tensor(query),
        },
    }
    return inputs, {**inputs, "line": (a, b)}


grader = Grader(make_inputs)
for helper in (backward_watch, own_predictions, settled, reseed, kept_state, model_held):
    grader.helper(helper)
as_written = grader.helper(shared.as_written)


# ------------------------------------------------------------------------------- probes (in the kernel)
@grader.helper
def recorded(weight, bias, training):
    """An nn.Linear holding ``weight`` and ``bias``, in training mode or not, whose own forward records its mode and
    grad mode (no hook to remove: the record is taken inside the forward pass); with ``model_held``'s check, that
    record and the parameters, all held by the grader (what it reads after the student's calls, not through them)."""
    import torch
    from torch import nn

    class Recorded(nn.Linear):
        def forward(self, x):  # (and whether its output is in a graph: not under no_grad, nor of detached parameters)
            seen.append({"training": self.training, "grad": torch.is_grad_enabled(), "built": True})
            seen[-1]["built"] = (out := super().forward(x)).requires_grad
            return out

    model, seen = Recorded(weight.shape[1], 1).train(training), []
    with torch.no_grad():
        model.weight.copy_(weight)
        model.bias.copy_(bias)
    return model, model_held(model), seen, list(model.parameters())


@grader.probe
def train_step(inputs, ns):
    import torch
    from torch import nn

    model, kept, seen, (weight, bias) = recorded(inputs["weight"], inputs["bias"], False)
    optimizer = torch.optim.SGD([weight, bias], lr=inputs["lr"])
    losses, weights, modes = [], [], []  # modes: each call's forward passes (training mode or not)
    for _ in range(2):
        losses.append(settled(ns["train_step"](model, nn.MSELoss(), optimizer, inputs["x"], inputs["y"])))
        kept("train_step")
        weights.append(torch.cat([weight.detach().flatten(), bias.detach()]).clone())
        modes.append([s["training"] for s in seen[sum(map(len, modes)) :]])
    leftover = any(p.grad is not None and p.grad.abs().sum().item() > 0 for p in (weight, bias))
    return {"losses": losses, "weights": weights, "leftover": leftover, "modes": modes}


@grader.probe
def evaluate(inputs, ns):
    from torch import nn

    model, kept, seen, params = recorded(inputs["weight"], inputs["bias"], True)
    loss = settled(ns["evaluate"](model, nn.MSELoss(), inputs["x"], inputs["y"]))
    kept("evaluate")
    graph = [s["grad"] and ("graph" if s["built"] else "no graph") for s in seen]  # grad mode on: with a graph or not
    return {"loss": loss, "training": model.training, "grads": [p.grad is None for p in params], "graph": graph}


@grader.probe
def train_model(inputs, ns):
    import sys
    import threading

    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    watch, off = None, [False]  # off: the watch's hook was gone after a call (removed, or an error raised inside it)

    class Counted(DataLoader):  # counts the batches the training loop takes
        def __iter__(self):
            for batch in super().__iter__():
                self.served += 1
                yield batch

    def train(x, y, x_val, y_val):  # the same random numbers for every call: only the data differ
        nonlocal watch
        watch = backward_watch()
        reseed(inputs["seed"])
        generator = torch.Generator().manual_seed(inputs["seed"])
        loader = Counted(TensorDataset(x, y), batch_size=16, shuffle=True, generator=generator)
        loader.served, note = 0, watch.note  # (one bound method: the hook installed is compared with it)
        with as_written(load=True):  # a function compiled with torch.compile runs as written
            threading.setprofile(note)
            sys.setprofile(note)
            try:
                return settled(ns["train_model"](loader, x_val, y_val)), loader.served  # read inside the watch
            finally:
                off[0] |= sys.getprofile() is not note
                sys.setprofile(None)
                threading.setprofile(None)

    trained, served = train(inputs["x_train"], inputs["y_train"], inputs["x_val"], inputs["y_val"])
    sized = isinstance(trained, (tuple, list))  # "Return (model, history)": a list of two unpacks alike
    if not (sized and len(trained) == 2):
        return {"returned": f"a {type(trained).__name__}" + (f" of {len(trained)} items" if sized else "")}
    model, history = trained
    found = {"returned": "pair", "history": history, "is_module": isinstance(model, nn.Module), "batches": served}
    if found["is_module"]:
        # backward passes that left gradients on the returned model (or what it is a copy of), and steps after them
        found.update(watch.into(model))
        found["own"] = own_predictions(model, inputs["x_query"])
        with torch.no_grad():
            found["predictions"] = model(inputs["x_query"])
        with torch.enable_grad():  # the same model with grad on, as it trained: both must answer alike
            again = model(inputs["x_query"])
        found["predictions_grad"] = again.detach() if isinstance(again, torch.Tensor) else None
    # again on other data (32 rows, targets negated): a history computed from the data changes; on the same: the same
    other = train(inputs["x_train"][:32], -inputs["y_train"][:32], inputs["x_val"], -inputs["y_val"])[0]
    found["other_history"] = other[1] if isinstance(other, (tuple, list)) and len(other) == 2 else None
    again = train(inputs["x_train"], inputs["y_train"], inputs["x_val"], inputs["y_val"])[0]
    found["again_history"] = again[1] if isinstance(again, (tuple, list)) and len(again) == 2 else None
    found.update(kept=kept_state(ns, "train_model"), unwatched=off[0])  # kept: the notebook's state it trains on
    return found


# ------------------------------------------------------------------------------- checks (outside)
def _reference(given: dict) -> tuple[list[float], list[torch.Tensor]]:
    w, b = given["weight"].double().flatten(), given["bias"].double().flatten()
    x, y, losses, weights = given["x"].double(), given["y"].double(), [], []
    for _ in range(2):
        error = x @ w + b - y.flatten()
        losses.append(error.pow(2).mean().item())
        w, b = w - given["lr"] * 2 * (error[:, None] * x).mean(dim=0), b - given["lr"] * 2 * error.mean()
        weights.append(torch.cat([w, b]))
    return losses, weights


@grader.check("test_train_step_returns_loss", "train_step")
def _(results, secrets):
    loss = results["train_step"]["losses"][0]
    want = _reference(secrets["train_step"])[0][0]
    require(
        isinstance(loss, float), f"train_step returned {type(loss).__name__}, expected a Python float (loss.item())"
    )
    require(
        abs(loss - want) <= 1e-4 * max(1, want),
        f"on new data train_step returned {loss:.4f}; the loss before the update is {want:.4f}",
    )


@grader.check("test_train_step_updates", "train_step")
def _(results, secrets):
    got = results["train_step"]
    modes = got["modes"]  # each call's forward passes: at least one (torch.utils.checkpoint runs it again), training
    require(all(modes), f"train_step ran {[len(m) for m in modes]} forward passes a call: call model(x) in every call")
    require(all(map(all, modes)), f"train_step's forward passes ran with training={modes}: call model.train() first")
    want = _reference(secrets["train_step"])[1]
    for step, (found, right) in enumerate(zip(got["weights"], want, strict=True), start=1):
        require(
            torch.allclose(found.double(), right, rtol=1e-4, atol=1e-5),
            f"after {step} step(s) on new data the parameters are {found.tolist()}, expected {right.tolist()}",
        )
    require(not got["leftover"], "gradients were left after the step: call optimizer.zero_grad()")


@grader.check("test_evaluate", "evaluate")
def _(results, secrets):
    got, given = results["evaluate"], secrets["evaluate"]
    want = (
        (given["x"].double() @ given["weight"].double().T + given["bias"].double() - given["y"].double()).pow(2).mean()
    )
    require(isinstance(got["loss"], float), f"evaluate returned {type(got['loss']).__name__}, expected a Python float")
    require(
        abs(got["loss"] - want.item()) <= 1e-4 * max(1, want.item()),
        f"evaluate returned {got['loss']:.4f}, expected {want.item():.4f}",
    )
    require(got["training"] is False, "the model was left in training mode: call model.eval()")
    require(all(got["grads"]), "evaluate produced gradients: do not call backward() when evaluating")
    # no graph, as Task 2 asks: torch.no_grad(), or parameters kept out of one (the notebook's own test accepts both)
    require(got["graph"] in ([False], ["no graph"]), "evaluate built a graph: wrap the forward pass in torch.no_grad()")


@grader.check("test_history", "train_model")
def _(results, secrets):
    got = results["train_model"]
    _returned_a_pair(got)
    history = got["history"]
    require(
        isinstance(history, list) and len(history) >= 2 and all(isinstance(v, float) for v in history),
        f"history is {history!r:.80}, expected a list of at least 2 floats",
    )
    require(
        history[-1] < history[0],
        f"the validation loss did not go down on new data ({history[0]:.4f} -> {history[-1]:.4f})",
    )
    what, fix = "train_model (as its history)", "record the validation losses it measures"  # not by hand, untrained
    computed(history, got["other_history"], got["again_history"], what, fix, got.get("kept", False))
    _trained_in_a_loop(got)


def _returned_a_pair(got: dict) -> None:
    require(got["returned"] == "pair", f"train_model returned {got['returned']}, expected the pair (model, history)")


def _trained_in_a_loop(got: dict) -> None:
    """Task 3's loop: every epoch (one history entry each; one more for a loss before training) has a backward
    pass for each training batch that leaves gradients on the returned model's parameters (or on those it is a
    copy of), and the parameters change after them (the optimizer's steps)."""
    require(not got.get("unwatched"), shared.UNWATCHED.format("train_model"))  # the watch below counts its training
    per_epoch = -(-80 // 16)
    history, batches, steps = got.get("history"), got.get("batches", 0), got.get("steps", 0)
    epochs = len(history) if isinstance(history, list) else 0
    need = per_epoch * max(1, epochs - 1)
    require(
        batches >= need and (steps >= need or steps == 0),
        f"train_model took {batches} batches from the loader ({per_epoch} an epoch) for {epochs} history entries and "
        f"ran {steps} backward passes that left gradients on the model it returned: Task 3 asks for train_step on "
        "every batch of every epoch, and one validation loss per epoch",
    )
    require_trained_steps(got, need, "train_model", "Task 3")


@grader.check("test_validation_target", "train_model")
def _(results, secrets):
    got = results["train_model"]
    _returned_a_pair(got)
    require(got.get("is_module") is True, "train_model did not return an nn.Module as its model")
    _trained_in_a_loop(got)
    predictions, query = got["predictions"], secrets["train_model"]["x_query"].double()
    require(
        isinstance(predictions, torch.Tensor) and tuple(predictions.shape) == tuple(query.shape),
        f"the model's output for {len(query)} points has shape {getattr(predictions, 'shape', None)}",
    )
    again = got.get("predictions_grad")
    require(
        isinstance(again, torch.Tensor)
        and again.shape == predictions.shape
        and torch.allclose(again.double(), predictions.double(), rtol=1e-5, atol=1e-5),
        "the model answers differently with gradients on (as it trains) and off (as it predicts): one model, one line",
    )
    own = got.get("own")
    require(
        isinstance(own, list),  # (else own_predictions' sentence saying why)
        f"{own}: the model's predictions cannot be told from its parameters (Task 3 asks for an nn.Linear(1, 1))",
    )
    require(
        any(torch.allclose(predictions.double(), line, rtol=1e-4, atol=1e-4) for line in own),
        "the model's predictions are not the line its two parameters compute (weight * x + bias): Task 3 asks for "
        "the nn.Linear(1, 1) itself, whose predictions are that line (scale the data outside the model, if at all)",
    )
    a, b = secrets["line"]
    expected_mse = NOISE**2 + (predictions.double() - (a + b * query)).pow(2).mean().item()
    require(
        expected_mse < 0.015,
        f"trained on new data, the model's expected validation MSE is {expected_mse:.4f}, not below 0.015",
    )
