"""Checks for lesson 09 (the training pipeline): model sizes, the order of a step, a buggy step, data as tensors.

The train-step probe is a model with Dropout that starts in eval mode and logs its forward passes,
``model(x)`` calls, ``backward``, ``step`` and ``zero_grad``; the updates are compared with SGD on
the same data, so every right form passes (``model.zero_grad()``, zeroing first or by hand).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.values import as_number, describe, safe_text


def _is(key: object, value: object) -> object:
    return lambda got: got[key] == value


# --- exercise 1: the sizes of a model, from X (64, 3) and y (64, 2) ------------------------------------
def _model_io(model: object, args: tuple) -> tuple:
    """("runs", output shape), ("fails", sizes of the first Linear, the error) or ("not a model", what it is)."""
    if not isinstance(model, nn.Module):
        return ("not a model", f"the class {model.__name__}" if isinstance(model, type) else type(model).__name__)
    first = next(iter(model.parameters()), None)
    x = args[0].to(first.dtype) if first is not None and first.is_floating_point() else args[0]
    linear = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:
        return (
            "fails",
            linear and (linear.in_features, linear.out_features),
            f"{type(exc).__name__}: {safe_text(exc)}",
        )
    return ("runs", tuple(out.shape) if isinstance(out, torch.Tensor) else describe(out))


model_sizes = Exercise(
    name="model_sizes",
    kind="value",
    lesson="09",
    inputs=lambda: (torch.randn(5, 3, generator=torch.Generator().manual_seed(0)),),
    reference=lambda: nn.Linear(3, 2),
    observe=_model_io,
    guards=[
        Guard("not_a_model", _is(0, "not a model"), lambda: nn.Linear, lambda got, _: f"{got[1]} is not a model."),
        Guard("swapped_sizes", lambda got: got[:2] == ("fails", (2, 3)), example=lambda: nn.Linear(2, 3)),
        Guard("wrong_input_size", lambda got: got[0] == "fails" and got[1][0] != 3, example=lambda: nn.Linear(64, 2)),
        Guard("wrong_output_size", lambda got: got[0] == "runs" and got[1] != (5, 2), example=lambda: nn.Linear(3, 1)),
    ],
    alternatives=[lambda: nn.Sequential(nn.Linear(3, 2)), lambda: nn.Linear(3, 2).double()],
    explain=lambda got, _: f"model(X) should give 2 predictions per row of X; it gave {got[1:]}.",
    success="3 features in (the columns of X), 2 outputs out (the columns of y): nn.Linear(3, 2).",
)

# --- exercise 2: predict which orders of the actions learn ----------------------------------------------
ORDERS = {"A": "learns", "B": "stuck", "C": "stuck", "D": "learns"}


def _prediction(answer: object, args: tuple) -> object:
    if not isinstance(answer, Mapping):
        return ("not a dict", type(answer).__name__)
    return {str(key).strip().upper(): str(value).strip().lower() for key, value in answer.items()}


def _flip(letter: str) -> dict[str, str]:
    return {**ORDERS, letter: "stuck" if ORDERS[letter] == "learns" else "learns"}


def _wrong_letters(got: dict, expected: dict) -> str:
    letters = " and ".join(k for k in sorted(ORDERS) if got.get(k) != expected[k])
    return f"{letters} are not right yet. For each, ask: when step() runs, what does .grad hold?"


step_orders = Exercise(
    name="step_orders",
    kind="value",
    lesson="09",
    reference=lambda: dict(ORDERS),
    observe=_prediction,
    guards=[
        Guard(
            "not_a_prediction",
            lambda got: set(got) != set(ORDERS) or not set(got.values()) <= {"learns", "stuck"},
            example=lambda: {"A": "yes"},
        )
    ],  # fmt: skip
    mistakes=[
        Mistake("predicted_zero_first_stuck", lambda: _flip("A")),
        Mistake("predicted_step_before_backward_learns", lambda: _flip("B")),
        Mistake("predicted_zero_between_learns", lambda: _flip("C")),
        Mistake("predicted_zero_after_forward_stuck", lambda: _flip("D")),
    ],
    explain=_wrong_letters,
    success="A and D learn, B and C never move: step() must see the gradients of this step's backward().",
)


# --- exercise 3: find the bugs in a train-step factory ----------------------------------------------------
def _logged(method: object, log: list[str], name: str) -> object:
    return lambda *args, **kwargs: (log.append(name), method(*args, **kwargs))[1]


def _probe() -> tuple:
    """Dropout then Linear(2, 1), in eval mode; a log of forward passes, model(x) calls, backward, step, zero_grad."""
    log: list[str] = []
    model = nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 1)).eval()
    model.log = log
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[0.5, -0.25]]))
        model[1].bias.fill_(0.1)
    model[1].register_forward_pre_hook(lambda *_: log.append("forward" if model.training else "forward in eval"))
    model.register_forward_pre_hook(lambda *_: log.append("call"))  # model.forward(x) skips this hook
    model[1].weight.register_hook(lambda grad: log.append("backward"))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for owner, name in ((optimizer, "step"), (optimizer, "zero_grad"), (model, "zero_grad")):
        setattr(owner, name, _logged(getattr(owner, name), log, name))
    x = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [3.0, -2.0], [0.5, 0.5], [2.0, 1.0]])
    return model, nn.MSELoss(), optimizer, x, x @ torch.tensor([[1.0], [2.0]]) - 1


def _order(log: list[str]) -> str:
    """The first thing wrong with the order of one step's actions, or "ok"."""
    if "backward" not in log or "step" not in log:
        return "no_backward" if "backward" not in log else "no_step"
    back, step = log.index("backward"), log.index("step")
    if step < back or "zero_grad" in log[back:step]:
        return "step_before_backward" if step < back else "zero_grad_before_step"
    return "ok" if "zero_grad" in log else "no_zero_grad"


def _run(factory: object, model: nn.Module, loss_fn: object, optimizer: object, x: object, y: object) -> dict:
    log, step = model.log, factory(model, loss_fn, optimizer)
    if not callable(step):
        return {"step": describe(step)}
    returned, orders = [], []
    for call in range(2):
        torch.manual_seed(call)  # the same Dropout masks for every program
        model.eval()  # as after an evaluation between two steps
        start = len(log)
        returned.append(step(x, y))
        orders.append(_order(log[start:]))
    forwards = [event for event in log if event.startswith("forward")]
    return {
        "step": "function",
        "ran": bool(forwards),
        "order": next((o for o in orders if o != "ok"), "ok"),
        "train_mode": all(event == "forward" for event in forwards),
        "model_called": log.count("call") == len(forwards),
        "returns": "tensor" if isinstance(returned[0], torch.Tensor) else type(returned[0]).__name__,
        "loss": as_number(returned[0]),
        "params": torch.cat([p.detach().reshape(-1) for p in model.parameters()]),
    }


def _observe_factory(factory: object, args: tuple) -> dict:
    got = _run(factory, *args)
    if got["step"] == "function" and torch.allclose(got["params"], _run(_factory(), *_probe())["params"]):
        got["order"] = "ok"  # the updates are right: however the gradients were zeroed, it worked
    return got


def _factory(order: str = "fbsz", train: bool = True, call: bool = True, item: bool | None = True, given: bool = True):
    """A train-step factory running f(orward), b(ackward), s(tep), z(ero_grad) in the given order."""

    def factory(model, loss_fn, optimizer):
        def train_step(x, y):
            if train:
                model.train()
            target, loss = (model if given else nn.Linear(2, 1)), None
            for action in order:
                if action == "f":
                    loss = loss_fn(target(x) if call else target.forward(x), y)
                else:
                    (loss.backward if action == "b" else optimizer.step if action == "s" else optimizer.zero_grad)()
            return None if item is None else loss.item() if item else loss

        return train_step

    return factory


def _loss_after_step(model: nn.Module, loss_fn: object, optimizer: object) -> object:
    step = _factory()(model, loss_fn, optimizer)
    return lambda x, y: (step(x, y), loss_fn(model(x), y).item())[1]


_ORDER = {"no_backward": "fsz", "no_step": "fbz", "step_before_backward": "fsbz", "zero_grad_before_step": "fbzs"}
_NO_TRAIN = "the model trained in eval mode (Dropout off): call model.train() inside train_step, at every step."
train_step_factory = Exercise(
    name="train_step_factory",
    lesson="09",
    inputs=_probe,
    reference=_factory(),
    observe=_observe_factory,
    guards=[
        Guard("not_a_step", lambda got: got["step"] != "function", example=lambda model, loss_fn, optimizer: 0.5),
        Guard("uses_globals", _is("ran", False), example=_factory(given=False)),
        *[Guard(key, _is("order", key), example=_factory(order)) for key, order in _ORDER.items()],
        Guard("no_zero_grad", _is("order", "no_zero_grad"), example=_factory("fbs")),
        Guard("no_train", _is("train_mode", False), example=_factory(train=False), message=_NO_TRAIN),
        Guard("called_forward", _is("model_called", False), example=_factory(call=False)),
        Guard("returns_tensor", _is("returns", "tensor"), example=_factory(item=False)),
        Guard("returned_none", _is("returns", "NoneType"), example=_factory(item=None)),
    ],
    alternatives=[_factory("zfbs"), _factory("fzbs")],
    mistakes=[Mistake("loss_after_step", _loss_after_step)],
    explain=lambda got, _: (
        "the steps run in a good order, but the parameters differ from one SGD step on "
        "loss_fn(model(x), y): use the model, loss_fn and optimizer the factory receives."
    ),
    success="train mode, model(x), loss, backward, step, zero_grad, and a float returned: every bug fixed.",
)


# --- exercise 4: scikit-learn's arrays as tensors nn.Linear and nn.MSELoss accept ----------------------------
def _arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    return rng.randn(7, 3), rng.randn(7)


def _f32(x: object) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32)


def _pair_of_tensors(got: object) -> bool:
    return isinstance(got, (tuple, list)) and len(got) == 2 and all(isinstance(t, torch.Tensor) for t in got)


_NOT_TENSORS = "return two torch tensors: torch.from_numpy(...) or torch.tensor(...) converts an array."
_FLOAT64 = "float64 data meets nn.Linear's float32 weights: 'mat1 and mat2 must have the same dtype'. Use .float()."
to_tensors = Exercise(
    name="to_tensors",
    lesson="09",
    inputs=_arrays,
    reference=lambda X, y: (_f32(X), _f32(y).reshape(-1, 1)),
    guards=[
        Guard("not_a_pair", lambda got: not isinstance(got, (tuple, list)) or len(got) != 2, example=lambda X, y: X),
        Guard("not_a_tensor", lambda got: not _pair_of_tensors(got), lambda X, y: (X, y), _NOT_TENSORS),
        Guard(
            "wrong_dtype",
            lambda got: got[0].dtype != torch.float32 or got[1].dtype != torch.float32,
            lambda X, y: (torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1)),
            _FLOAT64,
        ),  # fmt: skip
        Guard("shape_mismatch", lambda got: got[1].ndim == 1, example=lambda X, y: (_f32(X), _f32(y))),
    ],
    mistakes=[
        Mistake("target_row", lambda X, y: (_f32(X), _f32(y).reshape(1, -1))),
        Mistake("features_flattened", lambda X, y: (_f32(X).reshape(-1, 1), _f32(y).reshape(-1, 1))),
    ],
    alternatives=[
        lambda X, y: (torch.from_numpy(X).float(), torch.from_numpy(y).float().unsqueeze(1)),
        lambda X, y: (torch.Tensor(X), torch.Tensor(y).view(len(y), 1)),
        lambda X, y: (torch.as_tensor(X.astype(np.float32)), torch.as_tensor(y.astype(np.float32))[:, None]),
    ],
    success="float32 features of shape (N, 3) and a float32 target column (N, 1): no broadcasting, no dtype clash.",
)

__all__ = ["model_sizes", "step_orders", "to_tensors", "train_step_factory"]
