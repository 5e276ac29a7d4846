"""Hidden checks of assignment 04_data_evaluation: the student's functions on fresh inputs, decided outside the kernel.

See tools/grading/spec.py for how a grader is written. The probes below run in the student's kernel;
everything else runs in the teacher's grading process.
"""

from __future__ import annotations

import numpy as np
import torch

from tools.grading.probe_call import as_written, settled
from tools.grading.spec import Grader, computed, require
from tools.grading.watch import UNWATCHED, backward_watch, kept_state, require_trained_steps, reseed


def _tensor(array) -> torch.Tensor:
    return torch.tensor(np.asarray(array), dtype=torch.float32)


def _logits(rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    n = int(rng.integers(40, 60))
    logits = rng.normal(0, 2, size=(n, 1))
    logits[np.abs(logits) < 0.05] = 0.1
    logits[:4] = rng.uniform(0.05, 0.45, size=(4, 1))  # probability above 0.5, logit below 0.5 ...
    targets = (rng.uniform(size=(n, 1)) < 0.5).astype(float)
    targets[:4] = 1.0  # ... and right: thresholding the logit at 0.5 gets these four wrong
    logits[4:6], targets[4:6] = 0.0, [[0.0], [1.0]]  # probability exactly 0.5: Task 2's "above" and lesson 12's >=
    # each get one of the two right, so the tie never decides the score (its targets were once drawn at random)
    return _tensor(logits), _tensor(targets)


def _split(rng: np.random.Generator) -> tuple[dict, torch.Tensor]:
    from sklearn.datasets import load_breast_cancer

    features, labels = load_breast_cancer(return_X_y=True)
    order = rng.permutation(len(labels))
    train, rest = order[:341], order[341:]
    mean, std = features[train].mean(axis=0), features[train].std(axis=0)
    scaled = (features - mean) / std
    inputs = {
        "x_train": _tensor(scaled[train]),
        "y_train": _tensor(labels[train].reshape(-1, 1)),
        "x_query": _tensor(scaled[rest]),
    }
    return inputs, _tensor(labels[rest].reshape(-1, 1))


def make_inputs(rng: np.random.Generator) -> tuple[dict, dict]:
    """Fresh inputs for each probe; the secrets add the labels of the held-out rows."""
    columns = int(rng.integers(3, 6))

    def scattered(rows):  # columns of their own scale and offset
        return rng.normal(size=(rows, columns)) * rng.uniform(1, 10, columns) + rng.uniform(-5, 5, columns)

    x_train, x_other = scattered(int(rng.integers(12, 20))), scattered(int(rng.integers(6, 10)))
    n, batch = int(rng.integers(9, 15)), int(rng.integers(3, 6))
    n += int(n % batch == 0)  # a last, smaller batch
    logits, targets = _logits(rng)
    split, labels = _split(rng)
    inputs = {
        "standardize": {"x_train": _tensor(x_train), "x": _tensor(x_other)},
        "accuracy": {"logits": logits, "targets": targets},
        "make_loader": {"n": n, "batch_size": batch},
        "train_classifier": split,
    }
    return inputs, {**inputs, "labels": labels}


grader = Grader(make_inputs)
for helper in (backward_watch, reseed, kept_state, as_written, settled):
    grader.helper(helper)


# ------------------------------------------------------------------------------- probes (in the kernel)
@grader.probe
def standardize(inputs, ns):
    return settled(ns["standardize"](inputs["x_train"].clone(), inputs["x"].clone()))  # (as every call is read)


@grader.probe
def accuracy(inputs, ns):
    return settled(ns["accuracy"](inputs["logits"].clone(), inputs["targets"].clone()))


@grader.probe
def make_loader(inputs, ns):
    import torch

    n = inputs["n"]
    x, y = torch.arange(2.0 * n).reshape(n, 2), torch.arange(float(n)).reshape(n, 1)

    def epoch(loader):  # (read by settled: a loader of the student's runs its code as it is read)
        batches = settled([(bx.tolist(), by.flatten().tolist()) for bx, by in loader])
        return {
            "sizes": [len(by) for _, by in batches],
            "order": [v for _, by in batches for v in by],
            "pairs": all(row == [2 * v, 2 * v + 1] for bx, by in batches for row, v in zip(bx, by, strict=True)),
        }

    loader = settled(ns["make_loader"](x, y, inputs["batch_size"], torch.Generator().manual_seed(inputs["seed"])))
    first, second = epoch(loader), epoch(loader)
    again = epoch(settled(ns["make_loader"](x, y, inputs["batch_size"], torch.Generator().manual_seed(inputs["seed"]))))
    return {"first": first, "second": second, "again": again}


@grader.probe
def train_classifier(inputs, ns):  # noqa: C901  (a probe ships whole: its helpers live inside it)
    import sys
    import threading

    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    functional, losses, off, watch = torch.nn.functional.__file__, {}, [False], None  # off: the hook gone after a call
    library = torch.__file__.rsplit("/", 1)[0]  # torch's C entry counts when called from outside torch

    def count(name):
        if torch.is_grad_enabled():  # a loss computed without a graph (a monitor) trains nothing
            losses[name] = losses.get(name, 0) + 1

    def note(frame, event, arg):  # torch.nn.functional's losses (or torch's C entry of BCE), and backward passes
        code = frame.f_code
        if watch.note(frame, event, arg):
            return
        if event == "c_call" and getattr(arg, "__name__", "") == "binary_cross_entropy_with_logits":
            if not code.co_filename.startswith(library):
                count("binary_cross_entropy_with_logits")
        elif event == "call" and code.co_filename == functional:
            name = code.co_name
            if not name.startswith("_") and ("loss" in name or "entropy" in name):
                count(name)

    def train(x, y):  # the same random numbers for every call: only the data differ
        nonlocal watch
        watch = backward_watch()
        reseed(inputs["seed"])
        generator = torch.Generator().manual_seed(inputs["seed"])
        loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=generator)
        losses.clear()
        with as_written(load=True):  # a function compiled with torch.compile runs as written: its loss is seen
            threading.setprofile(note)
            sys.setprofile(note)
            try:
                model = ns["train_classifier"](loader)
            finally:
                off[0] |= sys.getprofile() is not note  # removed, or dropped after an error inside it
                sys.setprofile(None)
                threading.setprofile(None)
        return model if isinstance(model, nn.Module) else None

    def affine(model):  # whether the model (in eval mode) is x @ W.T + b of its own parameters: nn.Linear(30, 1)
        params = dict(model.named_parameters())
        shapes = {name: tuple(p.shape) for name, p in params.items()}
        matrices = [p for p in params.values() if tuple(p.shape) == (1, 30)]
        vectors = [p for p in params.values() if tuple(p.shape) == (1,)]
        if len(params) != 2 or len(matrices) != 1 or len(vectors) != 1:
            return f"its parameters are {shapes}, not one weight (1, 30) and one bias (1,)"
        x = torch.randn(64, 30) * 3
        with torch.no_grad():
            weight, bias = matrices[0].detach(), vectors[0].detach()
            want = torch.Tensor.tolist((x.to(weight.dtype) @ weight.T + bias.to(weight.dtype)).double())
            got = model(x)
        if type(got) is not torch.Tensor or tuple(got.shape) != (64, 1):
            return "its output for 64 rows is not a (64, 1) tensor"
        if not torch.allclose(got.double(), torch.tensor(want, dtype=torch.float64), rtol=1e-4, atol=1e-4):
            return "in eval mode its output is not x @ weight.T + bias of its own weight (1, 30) and bias (1,)"
        found["weight"], found["bias"] = weight.clone(), bias.clone()  # the held-out logits are judged against them
        return True

    split = inputs["x_train"], inputs["y_train"]
    model = train(*split)
    batches = -(-len(inputs["x_train"]) // 32)
    found = {"is_module": model is not None, "losses": dict(losses), "batches": batches}
    if model is not None:
        found.update(watch.into(model))
        model.eval()  # judged as predictions are made: in eval mode, without a graph
        found["affine"] = affine(model)
        with torch.no_grad():
            found["logits"] = model(inputs["x_query"])
        # again on other data (96 rows, labels flipped): a trained model changes; on the same data: the same model
        for key, data in (("other", (inputs["x_train"][:96], 1 - inputs["y_train"][:96])), ("again", split)):
            trained = train(*data)
            if trained is not None:
                trained.eval()
                with torch.no_grad():
                    found[f"{key}_logits"] = trained(inputs["x_query"])
    found.update(kept=kept_state(ns, "train_classifier"), unwatched=off[0])  # kept: the notebook's state it trains
    return found


# ------------------------------------------------------------------------------- checks (outside)
@grader.check("test_standardize", "standardize")
def _(results, secrets):
    got, given = results["standardize"], secrets["standardize"]
    x_train, x = given["x_train"].double(), given["x"].double()
    require(
        isinstance(got, torch.Tensor) and got.shape == x.shape,
        f"standardize returned {getattr(got, 'shape', type(got).__name__)}, expected shape {tuple(x.shape)}",
    )
    right = any(
        torch.allclose(got.double(), (x - x_train.mean(0)) / x_train.std(0, correction=c), rtol=1e-4, atol=1e-4)
        for c in (0, 1)
    )
    leak = any(
        torch.allclose(got.double(), (x - x.mean(0)) / x.std(0, correction=c), rtol=1e-3, atol=1e-3) for c in (0, 1)
    )
    require(not leak, "on new data the features were scaled with their own statistics, not the training ones (leakage)")
    require(right, "on new data the features are not (x - x_train.mean(0)) / x_train.std(0)")


@grader.check("test_accuracy", "accuracy")
def _(results, secrets):
    got, given = results["accuracy"], secrets["accuracy"]
    prob, t = torch.sigmoid(given["logits"].double()), given["targets"].double()  # (> and >= agree: see _logits)
    want = ((prob > 0.5).double() == t).double().mean().item()
    require(isinstance(got, float), f"accuracy returned {type(got).__name__}, expected a Python float")
    require(abs(got - want) < 1e-6, f"on {len(t)} new logits accuracy returned {got:.4f}, expected {want:.4f}")


@grader.check("test_make_loader", "make_loader")
def _(results, secrets):
    got, given = results["make_loader"], secrets["make_loader"]
    n, batch = given["n"], given["batch_size"]
    sizes = [batch] * (n // batch) + [n % batch]
    first = got["first"]
    require(
        first["sizes"] == sizes, f"{n} examples in batches of {batch} gave sizes {first['sizes']}, expected {sizes}"
    )
    require(first["pairs"] is True, "the batches do not keep each x[i] with its y[i]")
    require(sorted(first["order"]) == list(range(n)), "an epoch did not contain every example once")
    require(first["order"] != list(range(n)), "the examples come in their original order: pass shuffle=True")
    require(
        got["second"]["order"] != first["order"],
        "the second epoch has the same order as the first: shuffle every epoch",
    )
    require(
        got["again"]["order"] == first["order"],
        "the same seeded generator gave another order: pass generator=generator",
    )


def _affine(got: dict) -> None:
    affine = got.get("affine")
    why = affine if isinstance(affine, str) else "it is not x @ weight.T + bias"
    require(affine is True, f"the model train_classifier returned is not an nn.Linear(30, 1) as Task 4 asks: {why}")


@grader.check("test_classifier_outputs", "train_classifier")
def _(results, secrets):
    got, rows = results["train_classifier"], len(secrets["labels"])
    require(got["is_module"] is True, "train_classifier did not return an nn.Module")
    _affine(got)
    shape = tuple(getattr(got["logits"], "shape", ()))
    require(shape == (rows, 1), f"the model's output for {rows} rows has shape {shape}, expected ({rows}, 1)")
    # trained on other data, the same model is untrained; trained again on the same data, another is a draw
    other, again, what = got.get("other_logits"), got.get("again_logits"), "train_classifier (as its model's logits)"
    computed(got["logits"], other, again, what, "train the model on the loader", got.get("kept", False))
    require(not got.get("unwatched"), UNWATCHED.format("train_classifier"))  # the watch below counts its training
    losses, batches = got.get("losses", {}), got.get("batches", 1)
    used = ", ".join(f"{name} {count} times" for name, count in losses.items()) or "no loss of torch.nn"
    require(
        set(losses) == {"binary_cross_entropy_with_logits"} and losses["binary_cross_entropy_with_logits"] >= batches,
        f"train_classifier's training computed (with gradients on) {used}, for {batches} batches an epoch: Task 4 "
        "asks for nn.BCEWithLogitsLoss on the model's logits of every batch",
    )
    require_trained_steps(got, batches, "train_classifier", "Task 4")
    steps, bce_steps = got.get("steps", 0), got.get("bce_steps", 0)
    require(
        bce_steps >= batches,
        f"of its {steps} backward passes that left gradients on the model it returned, {bce_steps} had the gradient "
        f"of BCE-with-logits at the model's logits (another loss added changes it), for {batches} batches an epoch: "
        "Task 4 asks to train on that loss",
    )


@grader.check("test_heldout_accuracy", "train_classifier")
def _(results, secrets):
    got, labels = results["train_classifier"], secrets["labels"]
    x_query = secrets["train_classifier"]["x_query"].double()
    _affine(got)
    logits = got.get("logits")
    require(
        isinstance(logits, torch.Tensor) and logits.shape == labels.shape, "the model gave no logits of the right shape"
    )
    weight, bias = got.get("weight"), got.get("bias")
    require(  # the logits judged are those of its parameters, not of a forward that answers otherwise on these rows
        isinstance(weight, torch.Tensor)
        and torch.allclose(logits.double(), x_query @ weight.double().T + bias.double(), rtol=1e-4, atol=1e-4),
        f"on the {len(labels)} held-out rows the model's logits are not x @ weight.T + bias of its own parameters: "
        "Task 4 asks for an nn.Linear(30, 1), whose logits are its parameters' on every row",
    )
    value = ((logits > 0).float() == labels).float().mean().item()
    require(
        value >= 0.93,
        f"trained on a new split, the model's accuracy on the {len(labels)} other rows is {value:.3f}, below 0.93",
    )
