"""Checks for lesson 09 (the training pipeline): model sizes, the order of a step, a buggy step, data as tensors.

A model is judged by a copy's outputs on fresh rows and its gradients; a train step (:func:`_probe`, in
:mod:`course.checks.step_probe`) by each loss."""

import copy
import io
import warnings
from functools import partial

import numpy as np
import torch
from torch import nn

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import _is_affine, flat_parameters, graph_nodes, randomised, tag_is
from course.checks.step_probe import COPIED, _order, _probe, steps_watched
from course.checks.values import as_number, close, describe, safe_text
from course.checks.vocabulary import LAYERS_ONLY


class _Written(nn.Module):
    """X @ W + b written out, W and b started at zero (right), or with a fault: "bias only" (the same numbers whatever
    X holds), "first two" (X's third column unused), "detached" (no gradient to W), "plain tensor" (W unregistered)."""

    def __init__(self, fault: str = "") -> None:
        super().__init__()
        self.fault, W = fault, torch.zeros(2 if fault == "first two" else 3, 2, requires_grad=True)
        self.W, self.b = W if fault == "plain tensor" else nn.Parameter(W), nn.Parameter(torch.zeros(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = {"bias only": 0 * x, "first two": x[:, :2]}.get(self.fault, x)
        return x @ (self.W.detach() if self.fault == "detached" else self.W) + self.b


def _fault(probe: nn.Module, dtype: torch.dtype) -> tuple[str, str]:
    """(what keeps ``probe`` from being one trainable linear map of all 3 columns, or "ok"; the weights forward uses
    that parameters() misses, the rows aside), on copies of fresh rows (x.clamp_ changes none), parameters anew."""
    nn.Module.zero_grad(probe)  # .grad = None: a trained model's copy keeps its old gradients
    params = list(probe.parameters())
    fresh = 2 * torch.randn(64, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)  # never shown
    with torch.enable_grad():
        out = probe(given := fresh.to(dtype, copy=True))
        values, used = out.detach().double(), graph_nodes(out.grad_fn)  # its AccumulateGrads: the weights it used
        out.sum().backward() if out.requires_grad else None
    with torch.no_grad():
        moved = torch.stack([probe((fresh + step).to(dtype)).double() - values for step in torch.eye(3).double()])
        alone = probe(fresh[:16].to(dtype, copy=True)).double()  # a row's output must not depend on the other rows
    rtol = 1e-4 if dtype in (torch.float32, torch.float64) else 3e-2  # half precision rounds more
    per_row = alone.shape == values[:16].shape and torch.allclose(alone, values[:16], rtol=rtol, atol=rtol)
    lost = [v for v in (n.variable for n in used if hasattr(n, "variable")) if all(v is not p for p in params) and not
            (v.shape == given.shape and torch.allclose(v.detach().double(), given.double()))]  # fmt: skip
    faults = {"unregistered": bool(lost), "fixed": not params or bool((values - values[0]).abs().max() < 1e-9),
        "frozen": not all(p.requires_grad for p in params), "no_gradient": any(p.grad is None for p in params),
        "not_linear": not per_row or not all(_is_affine(column, fresh, rtol) for column in values.T),
        "ignored_feature": bool((moved == 0).flatten(1).all(1).any()),  # one column of X changed: nothing did
        "narrow": bool(torch.linalg.matrix_rank(moved[:, 0].reshape(3, -1), rtol=rtol) < 2)}  # slopes  # fmt: skip
    return next(filter(faults.get, faults), "ok"), ", ".join(f"{type(w).__name__} {tuple(w.shape)}" for w in lost)


def _model_io(model: object, args: tuple) -> tuple:
    """("not a model", what), ("fails", first Linear's sizes, error), ("shape", output's shape, last out_features);
    else (fault, unregistered weights) or ("ok",) of a copy with new parameters, in training, then eval mode."""
    if not isinstance(model, nn.Module):
        return ("not a model", f"the class {model.__name__}" if isinstance(model, type) else type(model).__name__)
    scripted = isinstance(model, torch.jit.ScriptModule)  # a deep copy's gradients reach the original's parameters
    try:  # judged instead of the model: its parameters are drawn anew
        with warnings.catch_warnings(action="ignore", category=DeprecationWarning):  # torch.jit's, not theirs
            probe = torch.jit.load(io.BytesIO(model.save_to_buffer())) if scripted else copy.deepcopy(model)
    except Exception as exc:
        return ("uncopyable", f"{type(exc).__name__}: {safe_text(exc)}")
    dtype = next((p.dtype for p in probe.parameters() if p.is_floating_point()), torch.float32)
    try:
        with torch.no_grad():
            out = probe(args[0].to(dtype))  # also gives a LazyLinear its weights
    except Exception as exc:
        linear, error = next((m for m in model.modules() if isinstance(m, nn.Linear)), None), safe_text(exc)
        return ("fails", linear and (linear.in_features, linear.out_features), f"{type(exc).__name__}: {error}")
    if type(out) is not torch.Tensor or out.shape != (5, 2):
        last = next((m.out_features for m in reversed(list(model.modules())) if isinstance(m, nn.Linear)), None)
        return ("shape", tuple(out.shape) if type(out) is torch.Tensor else describe(out), last)
    try:
        faults = [_fault(randomised(probe.train(mode), seed=3), dtype) for mode in (True, False)]
        return next((fault for fault in faults if fault[0] != "ok"), ("ok",))
    except Exception as exc:
        return ("fails on other rows", f"{type(exc).__name__}: {safe_text(exc)}")


_LINEAR = "The exercise asks for a linear model, such as nn.Linear(3, 2)."
_KEEP = ("keep layers in nn.ModuleList (or nn.Sequential), not a plain list, dict or global; make a Parameter once, in "
         "__init__ (one made in forward is new at each call)", "wrap a plain tensor in nn.Parameter")  # fmt: skip
_EXPLAIN = {
    "fails": "model(X) raised {}", "shape": "model(X) should give 2 predictions per row of X, (5, 2); it gave {}.",
    "uncopyable": "copy.deepcopy(model) raised {}: the check tests a copy (nn.Linear and nn.Parameter copy).",
    "fails on other rows": "model(X) ran, but on 64 other rows it raised {}: a model should work for any rows.",
}  # fmt: skip
model_sizes = Exercise(  # X has 3 columns and y 2, so in and out sizes cannot be confused
    name="model_sizes", kind="value", reference=lambda: nn.Linear(3, 2), observe=_model_io,
    inputs=lambda: (torch.randn(5, 3, generator=torch.Generator().manual_seed(0)),),
    guards=[
        Guard("not_a_model", tag_is("not a model"), lambda: nn.Linear, lambda got, _: f"{got[1]} is not a model."),
        Guard("swapped_sizes", lambda got: got[:2] == ("fails", (2, 3)), lambda: nn.Linear(2, 3)),
        Guard("wrong_input_size", lambda got: got[0] == "fails" and got[1][0] != 3, lambda: nn.Linear(64, 2)),
        Guard("wrong_output_size", lambda got: got[0] == "shape" and got[1] == (5, got[2]), lambda: nn.Linear(3, 1)),
        Guard("unregistered_parameter", tag_is("unregistered"), lambda: _Written("plain tensor"), lambda got, _: "the "
              f"forward pass uses weights model.parameters() misses ({got[1]}), so no optimizer updates them: "
              f"{_KEEP['Parameter' not in got[1]]}."),
        Guard("no_learnable_map", tag_is("fixed"), lambda: _Written("bias only")),
        Guard("froze_parameters", tag_is("frozen"), lambda: nn.Linear(3, 2).requires_grad_(False),
              f"some parameters have requires_grad switched off, so no optimizer could train them. {_LINEAR}"),
        Guard("not_backpropagatable", tag_is("no_gradient"), lambda: _Written("detached"), "no gradient reaches some "
              f"parameters (a .detach() or torch.no_grad() in forward, or a parameter forward never uses). {_LINEAR}"),
        Guard("extra_layer", tag_is("not_linear"), lambda: nn.Sequential(nn.Linear(3, 2), nn.Sigmoid()),
              "the outputs are not a linear function of each row of X (X @ W.T + b): something else changes them, "
              f"such as an activation (ReLU, Sigmoid), a hidden layer with one, or Dropout or BatchNorm. {_LINEAR}"),
        Guard("ignored_feature", tag_is("ignored_feature"), lambda: _Written("first two"), "the output does not "
              f"change when one column of X does: a linear model weighs every feature. {_LINEAR}"),
        Guard("extra_layer", tag_is("narrow"), lambda: nn.Sequential(nn.Linear(3, 1), nn.Linear(1, 2)), "the two "
              "outputs move together (a layer of 1 unit in between squeezes each row to one number): they cannot fit "
              f"two targets that vary each on its own. {_LINEAR}"),
    ],
    alternatives=[lambda: nn.Sequential(nn.Linear(3, 2)), lambda: nn.Linear(3, 2).double(), lambda: nn.LazyLinear(2),
                  lambda: nn.Linear(3, 2).apply(lambda m: nn.init.zeros_(m.weight)),  # a zero start trains too
                  lambda: nn.Linear(3, 2, bias=False), _Written,  # linear layers in a row: one linear map
                  lambda: nn.Sequential(nn.Linear(3, 8), nn.Linear(8, 2))],
    explain=lambda got, _: _EXPLAIN.get(got[0], _EXPLAIN["shape"]).format(got[2] if got[0] == "fails" else got[1]),
    success="3 features in (the columns of X), 2 outputs out (the columns of y), every weight trainable: a linear map.",
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
    mistakes=[Mistake("predicted_zero_first_stuck", lambda: {**ORDERS, "A": "stuck"}),
              Mistake("predicted_step_before_backward_learns", lambda: {**ORDERS, "B": "learns"}),
              Mistake("predicted_zero_between_learns", lambda: {**ORDERS, "C": "learns"}),
              Mistake("predicted_zero_after_forward_stuck", lambda: {**ORDERS, "D": "stuck"})],
    explain=lambda got, expected: " and ".join(k for k in "ABCD" if got[k] != expected[k])
    + " are not right yet. For each, ask: when step() runs, what does .grad hold?",
    success="A and D learn, B and C never move: step() must see the gradients of this step's backward().",
)  # fmt: skip


def _observe_factory(factory: object, args: tuple) -> tuple:
    """(the first fault found, or "ok"; the loss each call returned; the parameters after two steps)."""
    model, log = args[0], args[0].log
    with steps_watched(args[2]) as copies:  # an optimizer over copies (copy.deepcopy), in the factory or the step
        if not callable(step := factory(*args[:3])):
            return ("not_a_step",)
        initial, calls = flat_parameters(model), []
        for call in range(2):
            torch.manual_seed(call)  # the same Dropout masks for every program
            start = len(model.eval().log)  # each step starts in eval mode, as after an evaluation between two steps
            try:
                calls.append((step(*args[3:]), log[start:]))
            except RuntimeError as exc:  # backward() from a loss of outputs made under torch.no_grad(): cut, named so
                if "cut" in log[start:] and "does not require grad" in str(exc):
                    return ("cut",)
                raise
    (returned, logs), params = zip(*calls, strict=True), flat_parameters(model)
    right = None if factory is _REFERENCE else _observe_factory(_REFERENCE, _probe())
    updates_right, orders = right is not None and torch.allclose(params, right[2]), [_order(events) for events in logs]
    forwards, numbers = [event for event in log if event.startswith("forward")], [*map(as_number, returned)]
    before = [events[: events.index("step")] if "step" in events else events for events in logs]  # the training part
    faults = [
        ("copy", "copy" in log and not updates_right), ("uses_globals", not forwards),
        ("unused_optimizer", "step" not in log and not torch.equal(params, initial)),
        ("stepped_copy", "step" not in log and bool(copies)),  # only an optimizer over copies stepped
        ("cut", "cut" in log and "backward" not in log),  # a loss made from a detached output: no backward reached
        *[(order, True) for order in orders if order != "ok" and not updates_right],  # zeroed some way: it worked
        ("no_train", any("forward in eval" in events for events in before)),
        ("top_in_eval", any("call in eval" in events for events in before)),  # the layers alone set to train
        ("forward_twice", not updates_right and any(sum(e.startswith("forward") for e in ev) > 1 for ev in before)),
        ("called_forward", sum(event.startswith("call") for event in log) != len(forwards)),
        ("returns_tensor", any(isinstance(r, torch.Tensor) for r in returned)),
        ("returned_none", any(r is None for r in returned)), ("not_a_number", any(n is None for n in numbers)),
        ("loss_after_step", updates_right and any(e.startswith("forward") for e in logs[0][len(before[0]):])
         and not close(numbers, right[1])),  # the loss of a forward pass after the step returned
        ("state_across_calls", updates_right and any(close(numbers, [*np.cumsum(right[1]) / d]) for d in (1, [1, 2]))),
    ]  # fmt: skip
    return (next((fault for fault, found in faults if found), "ok"), numbers, params)


def _factory(order: str = "fbsz", train: bool = True, call: bool = True, item: bool | str | None = True) -> object:
    """A train-step factory: f(orward), b(ackward), B(ackward keeping the graph), s(tep), z(ero_grad), in order."""

    def train_step(model, loss_fn, optimizer, seen, x, y):  # the first four bound below
        model.train() if train else None
        for action in order:
            if action == "f":
                loss = loss_fn(model(x) if call else model.forward(x), y)
            elif action in "bB":
                loss.backward(retain_graph=action == "B")
            else:
                (optimizer.step if action == "s" else optimizer.zero_grad)()
        seen.append(loss_fn(model(x), y).item() if item == "after" else loss.item())  # "after": not the one it used
        return {"total": sum(seen), False: loss, None: None}.get(item, seen[-1])  # "total": of every call's loss

    return lambda model, loss_fn, optimizer: partial(train_step, model, loss_fn, optimizer, [])


_REFERENCE, _numbers = _factory(), lambda numbers: ", ".join(f"{number:.4g}" for number in numbers)  # each call's
_FAULTS = dict(  # what each fault looks like, as a wrong program
    not_a_step=lambda model, loss_fn, optimizer: 0.5,
    uses_globals=lambda model, *rest: _REFERENCE(nn.Linear(2, 1), *rest),  # trains another model than the one given
    copy=lambda model, *rest: _REFERENCE(copy.deepcopy(model), *rest),  # the same, with a copy of the one given
    cut=lambda model, loss_fn, opt: _REFERENCE(model, lambda out, y: loss_fn(out.detach(), y).requires_grad_(), opt),
    unused_optimizer=lambda model, loss_fn, _: _REFERENCE(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1)),
    stepped_copy=lambda model, loss_fn, optimizer: _REFERENCE(model, loss_fn, copy.deepcopy(optimizer)),
    no_backward=_factory("fsz"), no_step=_factory("fbz"), no_zero_grad=_factory("fbs"),
    step_before_backward=_factory("fsbz"), zero_grad_before_step=_factory("fbzs"), backward_twice=_factory("fBbsz"),
    step_twice=_factory("fbssz"), no_train=_factory(train=False), loss_after_step=_factory(item="after"),
    top_in_eval=lambda model, *rest: lambda x, y: ([layer.train() for layer in model.children()],  # the layers only
                                                   _factory(train=False)(model, *rest)(x, y))[1],
    forward_twice=_factory("ffbsz"), state_across_calls=_factory(item="total"),  # an output unused; a running total
    called_forward=_factory(call=False), returns_tensor=_factory(item=False), returned_none=_factory(item=None),
    not_a_number=lambda *parts: lambda x, y: [_REFERENCE(*parts)(x, y)],  # the updates are right, the result is not
)  # fmt: skip
_IDS = {"copy": "uses_globals", "cut": "not_backpropagatable", "top_in_eval": "no_train",  # not ids: the id named
        "stepped_copy": "unused_optimizer"}  # fmt: skip
_MESSAGES = {  # state_across_calls: a running total outgrows every loss, a running mean none
    "copy": "your step trained a copy of the model it was given (copy.deepcopy), so the caller's model never changed: "
    "train the model passed to the factory itself, with the optimizer passed along with it.",
    "cut": "the loss was cut off the model (model(x) ran in torch.no_grad(), or its output was detached): backward() "
    "reaches no parameter, so it fails, and loss.requires_grad_() only hides the error. Compute it with gradients on.",
    "no_train": "the Dropout layer ran in eval mode while training: call model.train() inside train_step, at every "
    "step (it sets every layer's mode; model.training = True sets only the outer model's flag).",
    "top_in_eval": LAYERS_ONLY.format("training", "eval", False, "train"),
    "stepped_copy": COPIED.format("the model's", "clones or a copy of the model"),
    "not_a_number": "train_step should return the loss as one number, loss.item(); it returned something else.",
    "state_across_calls": lambda got, expected: f"train_step returned {_numbers(got[1])} for losses of "
    f"{_numbers(expected[1])}: a running {'total' if got[1][-1] > max(expected[1]) else 'mean'} of the losses, not "
    "this step's loss. Return this step's loss.item(), and keep no losses from one call to the next.",
}  # fmt: skip
train_step_factory = Exercise(
    name="train_step_factory", inputs=_probe, reference=_REFERENCE, observe=_observe_factory,
    guards=[Guard(_IDS.get(f, f), tag_is(f), wrong, _MESSAGES.get(f)) for f, wrong in _FAULTS.items()],
    alternatives=[_factory("zfbs"), _factory("fzbs")],
    explain=lambda got, expected: f"the updates are right, but train_step returned {_numbers(got[1])} for losses of "
    f"{_numbers(expected[1])}: return this step's loss.item() as it is." if close(got[2], expected[2]) else "the order "
    "is right, but after two steps the parameters differ from those of one optimizer.step() on the gradients of "
    "loss_fn(model(x), y): train with the model, loss_fn and optimizer you are given, and change nothing in between "
    "(no other loss, no clipping or scaling of the gradients).",
    success="train mode, model(x), loss, backward, step, zero_grad, and a float returned: every bug fixed.",
)  # fmt: skip

TENSORS = "return two torch tensors: torch.from_numpy(...) or torch.tensor(...) converts an array."
FLOAT = {"X": "nn.Linear's weights are float32, so model(X) fails with 'mat1 and mat2 must have the same dtype'",
         True: "nothing fails, but nn.MSELoss silently computes a float64 loss (twice the memory, slow on a GPU)",
         False: "nothing fails, but the targets lost digits (rounded, or cut to whole numbers)"}  # fmt: skip
to_tensors = Exercise(  # arrays reshaped in place (y.shape = ...): the engine names it (mutated_input)
    name="to_tensors", reference=lambda X, y: (torch.Tensor(X), torch.Tensor(y).reshape(-1, 1)),
    inputs=lambda: (np.random.RandomState(0).randn(50, 3), np.random.RandomState(1).randn(50)),  # as in the lesson
    guards=[Guard("not_a_pair", lambda got: not isinstance(got, (tuple, list)) or len(got) != 2, lambda X, y: X),
            Guard("not_a_tensor", lambda got: not all(map(torch.is_tensor, got)), lambda X, y: (X, y), TENSORS),
            Guard("wrong_dtype", lambda got: {got[0].dtype, got[1].dtype} != {torch.float32},
                  lambda X, y: (torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1)), lambda got, _: "; ".join(
                  f"{n} is {t.dtype}: {FLOAT['X'] if n == 'X' else FLOAT[t.dtype == torch.float64]}" for n, t in
                  zip("Xy", got, strict=True) if t.dtype != torch.float32) + ". Convert both to float32: .float()."),
            Guard("shape_mismatch", lambda got: got[1].ndim == 1, lambda X, y: (torch.Tensor(X), torch.Tensor(y)))],
    mistakes=[Mistake("target_row", lambda X, y: (torch.Tensor(X), torch.Tensor(y).reshape(1, -1))),
              Mistake("features_flattened", lambda X, y: (torch.Tensor(X).reshape(-1, 1), torch.Tensor(y)[:, None]))],
    alternatives=[lambda X, y: (torch.from_numpy(X).float(), torch.from_numpy(y).float().unsqueeze(1)),
                  lambda X, y: (torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32).view(50, 1)),
                  lambda X, y: (torch.as_tensor(X.astype(np.float32)), torch.as_tensor(y.astype(np.float32))[:, None])],
    explain=lambda got, _: f"expected X (50, 3) and y (50, 1); got {tuple(got[0].shape)} and {tuple(got[1].shape)}."
    if (got[0].shape, got[1].shape) != ((50, 3), (50, 1)) else "the shapes are right, but the values are not the "
    "arrays' values: convert them as they are; only the dtype and the shape of y change.",
    success="float32 features of shape (N, 3) and a float32 target column (N, 1): no broadcasting, no dtype clash.",
)  # fmt: skip
