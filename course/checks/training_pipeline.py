"""Checks for lesson 09 (the training pipeline): model sizes, the order of a step, a buggy step, data as tensors.

The train-step probe is a model with Dropout that starts in eval mode and logs its forward passes,
``model(x)`` calls, ``backward``, ``step`` and ``zero_grad``; the updates are compared with those of the
reference on the same data, so every right form passes (``model.zero_grad()``, zeroing first or by hand).
Its loss is a Huber loss and its optimizer SGD with momentum, so a step that brings its own MSE, its own
optimizer or an update by hand does not land on the same parameters.
"""

from __future__ import annotations

import numpy as np
import torch
import torch._dynamo  # noqa: F401  # an optimizer's first use imports it (seconds): here, not inside the time limit
from torch import nn

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import flat_parameters, randomised, tag_is
from course.checks.values import as_number, close, safe_text


def _model_io(model: object, args: tuple) -> tuple:
    """("runs", output shape), ("fixed", output shape) when the output ignores X or nothing in the model can learn,
    ("fails", sizes of the first Linear, the error) or ("not a model", what it is)."""
    if not isinstance(model, nn.Module):
        return ("not a model", f"the class {model.__name__}" if isinstance(model, type) else type(model).__name__)
    linear = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    try:
        with torch.no_grad():
            out, other = (model(x.to(dtype)) for x in (args[0], 2 * args[0] + 1))
            learns = any(p.requires_grad for p in model.parameters()) and not torch.equal(out, other)
        return ("runs" if learns else "fixed", tuple(out.shape))
    except Exception as exc:
        return (
            "fails",
            linear and (linear.in_features, linear.out_features),
            f"{type(exc).__name__}: {safe_text(exc)}",
        )


model_sizes = Exercise(  # X has 3 columns and y 2, so in and out sizes cannot be confused
    name="model_sizes", kind="value", reference=lambda: nn.Linear(3, 2), observe=_model_io,
    inputs=lambda: (torch.randn(5, 3, generator=torch.Generator().manual_seed(0)),),
    guards=[
        Guard("not_a_model", tag_is("not a model"), lambda: nn.Linear, lambda got, _: f"{got[1]} is not a model."),
        Guard("no_learnable_map", tag_is("fixed"), lambda: nn.Linear(3, 2).requires_grad_(False)),
        Guard("swapped_sizes", lambda got: got[:2] == ("fails", (2, 3)), lambda: nn.Linear(2, 3)),
        Guard("wrong_input_size", lambda got: got[0] == "fails" and got[1][0] != 3, lambda: nn.Linear(64, 2)),
        Guard("wrong_output_size", lambda got: got[0] == "runs" and got[1] != (5, 2), lambda: nn.Linear(3, 1)),
    ],
    alternatives=[lambda: nn.Sequential(nn.Linear(3, 2)), lambda: nn.Linear(3, 2).double()],
    explain=lambda got, _: f"model(X) should give 2 predictions per row of X; it gave {got[1:]}.",
    success="3 features in (the columns of X), 2 outputs out (the columns of y): nn.Linear(3, 2).",
)  # fmt: skip

ORDERS = {"A": "learns", "B": "stuck", "C": "stuck", "D": "learns"}


def _prediction(answer: object, args: tuple) -> object:
    items = answer.items() if isinstance(answer, dict) else ()
    got = {str(key).strip().upper(): str(value).strip().lower() for key, value in items}
    valid = len(got) == len(items) and set(got) == set(ORDERS) and set(got.values()) <= {"learns", "stuck"}
    return got if valid else "not a prediction"  # two spellings of one letter are no prediction either


step_orders = Exercise(
    name="step_orders", kind="value", reference=lambda: dict(ORDERS), observe=_prediction,
    guards=[Guard("not_a_prediction", lambda got: got == "not a prediction", lambda: {"A": "yes"})],
    mistakes=[
        Mistake("predicted_zero_first_stuck", lambda: {**ORDERS, "A": "stuck"}),
        Mistake("predicted_step_before_backward_learns", lambda: {**ORDERS, "B": "learns"}),
        Mistake("predicted_zero_between_learns", lambda: {**ORDERS, "C": "learns"}),
        Mistake("predicted_zero_after_forward_stuck", lambda: {**ORDERS, "D": "stuck"}),
    ],
    explain=lambda got, expected: " and ".join(k for k in "ABCD" if got[k] != expected[k])
    + " are not right yet. For each, ask: when step() runs, what does .grad hold?",
    success="A and D learn, B and C never move: step() must see the gradients of this step's backward().",
)  # fmt: skip


def _probe() -> tuple:
    """Dropout then Linear(2, 1), in eval mode; a log of forward passes, model(x) calls, backward, step, zero_grad."""
    model, log = randomised(nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 1)), seed=0).eval(), []
    model.log = log
    model[1].register_forward_pre_hook(lambda *_: log.append("forward" if model.training else "forward in eval"))
    model.register_forward_pre_hook(lambda *_: log.append("call"))  # model.forward(x) skips this hook
    model[1].weight.register_hook(lambda grad: log.append("backward"))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for owner, name in ((optimizer, "step"), (optimizer, "zero_grad"), (model, "zero_grad")):
        method = getattr(owner, name)
        setattr(owner, name, lambda *a, _method=method, _name=name, **k: (log.append(_name), _method(*a, **k))[1])
    x = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [3.0, -2.0], [0.5, 0.5], [2.0, 1.0]])
    return model, nn.HuberLoss(delta=1.0), optimizer, x, x @ torch.tensor([[1.0], [2.0]]) - 1


def _order(log: list[str]) -> str:
    """The first thing wrong with the order of one step's actions, or "ok"."""
    back, step = (log.index(action) if action in log else -1 for action in ("backward", "step"))
    faults = {
        "no_backward": back < 0, "no_step": step < 0, "step_before_backward": step < back,
        "zero_grad_before_step": "zero_grad" in log[back:step], "no_zero_grad": "zero_grad" not in log,
    }  # fmt: skip
    return next((fault for fault, found in faults.items() if found), "ok")


def _observe_factory(factory: object, args: tuple) -> tuple:
    """(the first fault found, or "ok"; the first loss returned; the parameters after two steps)."""
    model, log, step = args[0], args[0].log, factory(*args[:3])
    if not callable(step):
        return ("not_a_step",)
    initial = flat_parameters(model)
    returned, orders = [], []
    for call in range(2):
        torch.manual_seed(call)  # the same Dropout masks for every program
        model.eval()  # as after an evaluation between two steps
        start = len(log)
        returned.append(step(*args[3:]))
        orders.append(_order(log[start:]))
    params, forwards = flat_parameters(model), [event for event in log if event.startswith("forward")]
    if factory is not _REFERENCE and torch.allclose(params, _observe_factory(_REFERENCE, _probe())[2]):
        orders = []  # the updates are right: however the gradients were zeroed, it worked
    faults = [
        ("uses_globals", not forwards), ("unused_optimizer", "step" not in log and not torch.equal(params, initial)),
        *[(order, True) for order in orders if order != "ok"],
        ("no_train", not all(event == "forward" for event in forwards)),
        ("called_forward", log.count("call") != len(forwards)),
        ("returns_tensor", isinstance(returned[0], torch.Tensor)), ("returned_none", returned[0] is None),
        ("not_a_number", as_number(returned[0]) is None),
    ]  # fmt: skip
    return (next((fault for fault, found in faults if found), "ok"), as_number(returned[0]), params)


def _factory(order: str = "fbsz", train: bool = True, call: bool = True, item: bool | str | None = True) -> object:
    """A train-step factory running f(orward), b(ackward), s(tep), z(ero_grad) in the given order."""

    def factory(model, loss_fn, optimizer):
        def train_step(x, y):
            if train:
                model.train()
            for action in order:
                if action == "f":
                    loss = loss_fn(model(x) if call else model.forward(x), y)
                else:
                    (loss.backward if action == "b" else optimizer.step if action == "s" else optimizer.zero_grad)()
            if item == "after":  # the loss after the step, not the one the step used
                return loss_fn(model(x), y).item()
            return None if item is None else loss.item() if item else loss

        return train_step

    return factory


_REFERENCE = _factory()
_FAULTS = dict(  # what each fault looks like, as a wrong program
    not_a_step=lambda model, loss_fn, optimizer: 0.5,
    uses_globals=lambda model, *rest: _REFERENCE(nn.Linear(2, 1), *rest),  # trains another model than the one given
    unused_optimizer=lambda model, loss_fn, _: _REFERENCE(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1)),
    no_backward=_factory("fsz"), no_step=_factory("fbz"), no_zero_grad=_factory("fbs"),
    step_before_backward=_factory("fsbz"), zero_grad_before_step=_factory("fbzs"), no_train=_factory(train=False),
    called_forward=_factory(call=False), returns_tensor=_factory(item=False), returned_none=_factory(item=None),
    not_a_number=lambda *parts: lambda x, y: [_REFERENCE(*parts)(x, y)],  # the updates are right, the result is not
)  # fmt: skip
_MESSAGES = {
    "no_train": "the model trained in eval mode (Dropout off): call model.train() inside train_step, at every step.",
    "not_a_number": "train_step should return the loss as one number, loss.item(); it returned something else.",
}
train_step_factory = Exercise(
    name="train_step_factory", inputs=_probe, reference=_REFERENCE, observe=_observe_factory,
    guards=[Guard(f, tag_is(f), wrong, _MESSAGES.get(f)) for f, wrong in _FAULTS.items()],
    alternatives=[_factory("zfbs"), _factory("fzbs")],
    mistakes=[Mistake("loss_after_step", _factory(item="after"))],
    explain=lambda got, expected: f"the updates are right, but train_step returned {got[1]:.4g} for a loss of "
    f"{expected[1]:.4g}: return loss.item() as it is." if close(got[2], expected[2]) else "the order is right, but "
    "the updates differ from those of optimizer.step() on loss_fn(model(x), y): use the parts you are given.",
    success="train mode, model(x), loss, backward, step, zero_grad, and a float returned: every bug fixed.",
)  # fmt: skip

TENSORS = "return two torch tensors: torch.from_numpy(...) or torch.tensor(...) converts an array."
FLOAT = "nn.Linear's weights are float32; other dtypes give 'mat1 and mat2 must have the same dtype': use .float()."


def _arrays_kept(fn: object, args: tuple) -> object:
    """What ``fn`` returns, or "mutated" when it changed the shape or values of the caller's arrays."""
    copies = [array.copy() for array in args]
    got = fn(*args)
    return got if all(map(np.array_equal, args, copies)) else "mutated"  # array_equal compares the shapes too


def _reshaped_in_place(X: np.ndarray, y: np.ndarray) -> tuple:
    y.shape = (-1, 1)
    return torch.Tensor(X), torch.Tensor(y)


to_tensors = Exercise(
    name="to_tensors", reference=lambda X, y: (torch.Tensor(X), torch.Tensor(y).reshape(-1, 1)), observe=_arrays_kept,
    inputs=lambda: (np.random.RandomState(0).randn(50, 3), np.random.RandomState(1).randn(50)),  # as in the lesson
    guards=[
        Guard("mutated_input", lambda got: isinstance(got, str), _reshaped_in_place, "you reshaped the caller's "
              "y_numpy in place (y.shape = ...): it changed outside the function too; reshape the tensor instead."),
        Guard("not_a_pair", lambda got: not isinstance(got, (tuple, list)) or len(got) != 2, lambda X, y: X),
        Guard("not_a_tensor", lambda got: not all(map(torch.is_tensor, got)), lambda X, y: (X, y), TENSORS),
        Guard("wrong_dtype", lambda got: {got[0].dtype, got[1].dtype} != {torch.float32},
              lambda X, y: (torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1)),
              lambda got, _: f"you gave {got[0].dtype} and {got[1].dtype}; {FLOAT}"),
        Guard("shape_mismatch", lambda got: got[1].ndim == 1, lambda X, y: (torch.Tensor(X), torch.Tensor(y))),
    ],
    mistakes=[
        Mistake("target_row", lambda X, y: (torch.Tensor(X), torch.Tensor(y).reshape(1, -1))),
        Mistake("features_flattened", lambda X, y: (torch.Tensor(X).reshape(-1, 1), torch.Tensor(y).reshape(-1, 1))),
    ],
    alternatives=[
        lambda X, y: (torch.from_numpy(X).float(), torch.from_numpy(y).float().unsqueeze(1)),
        lambda X, y: (torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32).view(50, 1)),
        lambda X, y: (torch.as_tensor(X.astype(np.float32)), torch.as_tensor(y.astype(np.float32))[:, None]),
    ],
    explain=lambda got, _: f"expected X (50, 3) and y (50, 1); got {tuple(got[0].shape)} and {tuple(got[1].shape)}."
    if (got[0].shape, got[1].shape) != ((50, 3), (50, 1)) else "the shapes are right, but the values are not the "
    "arrays' values: convert them as they are; only the dtype and the shape of y change.",
    success="float32 features of shape (N, 3) and a float32 target column (N, 1): no broadcasting, no dtype clash.",
)  # fmt: skip
