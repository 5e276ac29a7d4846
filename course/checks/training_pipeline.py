"""Checks for lesson 09, the training pipeline: model sizes, a train-step factory, the epoch loop.

Use in a notebook::

    from course.checks import training_pipeline as check
    check.model_sizes(model)

The train-step check runs the learner's factory on a small known problem next to
``course.training.make_train_step`` and compares the parameters after one and two steps.
Instrumented parts (an optimizer that logs ``step``/``zero_grad``, a gradient hook that logs
``backward``, a hook that counts ``model(x)`` calls) name the mistake when the effect is wrong.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from course.checks.verdict import Verdict, call_learner, correct, is_placeholder, not_attempted, wrong
from course.training import make_train_step

N_FEATURES, N_OUTPUTS = 3, 1  # the shapes of the model_sizes exercise: X is (64, 3), y is (64, 1)


def model_sizes(model: object, n_features: int = N_FEATURES, n_outputs: int = N_OUTPUTS) -> Verdict:
    """Check a model for inputs of shape ``(N, n_features)`` and targets of shape ``(N, n_outputs)``.

    Example:
        >>> model_sizes(nn.Linear(3, 1)).passed
        True
        >>> model_sizes(nn.Linear(1, 3)).mistake
        'swapped_sizes'
    """
    if is_placeholder(model):
        return not_attempted()
    if not isinstance(model, nn.Module):
        return wrong(
            "not_a_module",
            f"expected a model (an nn.Module such as nn.Linear(in_features, out_features)), got {type(model).__name__}.",
        )
    linear = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
    sizes = (linear.in_features, linear.out_features) if linear is not None else None
    x = torch.zeros(5, n_features)
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:
        return _size_mistake(sizes, n_features, n_outputs, f"model(X) raised {type(exc).__name__}: {exc}. ")
    if not isinstance(out, torch.Tensor):
        return wrong("not_a_tensor", f"model(X) should return a tensor, got {type(out).__name__}.")
    if tuple(out.shape) != (5, n_outputs):
        return _size_mistake(
            sizes,
            n_features,
            n_outputs,
            f"for X of shape (5, {n_features}) the model returned shape {tuple(out.shape)}. ",
        )
    return correct(
        f"{n_features} input features in, {n_outputs} output per sample out: one row of X gives one row of predictions."
    )


def _size_mistake(sizes: tuple[int, int] | None, n_in: int, n_out: int, found: str) -> Verdict:
    want = f"nn.Linear({n_in}, {n_out})"
    if sizes == (n_out, n_in):
        return wrong(
            "swapped_sizes",
            f"{found}The sizes are swapped: nn.Linear takes (in_features, out_features), so use {want}.",
        )
    if sizes is not None and sizes[0] != n_in:
        return wrong(
            "wrong_input_size",
            f"{found}in_features must be the number of columns of X ({n_in}, from X.shape[1]), "
            f"not the number of samples or anything else; you used {sizes[0]}. Use {want}.",
        )
    if sizes is not None and sizes[1] != n_out:
        return wrong(
            "wrong_output_size",
            f"{found}out_features must be the number of columns of y ({n_out}, from y.shape[1]); you used {sizes[1]}. Use {want}.",
        )
    return wrong("other", f"{found}Expected a model like {want}: X of shape (N, {n_in}) in, (N, {n_out}) out.")


# --- the train-step factory ------------------------------------------------------------------


class _LoggingSGD(torch.optim.SGD):
    """SGD that writes 'step' and 'zero_grad' into a shared event log."""

    def __init__(self, params: object, lr: float, events: list[str]) -> None:
        super().__init__(params, lr=lr)
        self.events = events

    def step(self, closure: Callable | None = None) -> object:  # type: ignore[override]
        self.events.append("step")
        return super().step(closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.events.append("zero_grad")
        super().zero_grad(set_to_none)


class _Probe(nn.Module):
    """A linear model that counts how often ``forward`` runs and how often ``model(x)`` is called."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1)
        self.forward_runs = 0
        self.calls = 0
        self.register_forward_pre_hook(self._count_call)

    def _count_call(self, module: nn.Module, args: object) -> None:
        self.calls += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.forward_runs += 1
        return self.linear(x)


def _problem() -> tuple[_Probe, torch.Tensor, torch.Tensor]:
    model = _Probe()
    with torch.no_grad():
        model.linear.weight.fill_(0.5)
        model.linear.bias.fill_(-0.25)
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    return model, x, 2 * x + 1


def _params(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def train_step_factory(factory: object, lr: float = 0.05) -> Verdict:
    """Check ``factory(model, loss_fn, optimizer) -> step``, where ``step(x, y)`` does one training step.

    Example:
        >>> train_step_factory(make_train_step).passed
        True
    """
    if is_placeholder(factory):
        return not_attempted()
    model, x, y = _problem()
    reference = copy.deepcopy(model)
    ref_step = make_train_step(reference, nn.MSELoss(), torch.optim.SGD(reference.parameters(), lr=lr))
    start = _params(model)
    expected, ref_losses = [], []
    for _ in range(2):
        ref_losses.append(ref_step(x, y))
        expected.append(_params(reference))

    events: list[str] = []
    optimizer = _LoggingSGD(model.parameters(), lr, events)
    model.linear.weight.register_hook(lambda grad: events.append("backward"))
    step, verdict = call_learner(factory, model, nn.MSELoss(), optimizer)
    if verdict is not None:
        return verdict
    if not callable(step):
        return wrong(
            "not_a_step",
            f"your factory returned {type(step).__name__}; it should return the inner function "
            "(define def train_step(x, y): ... inside it, then return train_step without calling it).",
        )
    per_call: list[list[str]] = []
    after: list[torch.Tensor] = []
    returned = []
    for _ in range(2):
        events.clear()
        out, verdict = call_learner(step, x, y)
        if verdict is not None:
            return verdict
        per_call.append(list(events))
        after.append(_params(model))
        returned.append(out)

    first = per_call[0]
    if model.forward_runs == 0:
        return wrong(
            "uses_globals",
            "your step never ran the model it was given. Use the model, loss_fn and optimizer passed to the "
            "factory (the inner function sees them), not variables from elsewhere in the notebook.",
        )
    if not torch.allclose(after[0], expected[0], atol=1e-6):
        if torch.allclose(after[0], start):
            return _no_update_mistake(first)
        return wrong(
            "wrong_update",
            "after one step the parameters differ from one SGD step on the loss. Do exactly: predictions = model(x), "
            "loss = loss_fn(predictions, y), loss.backward(), optimizer.step(), optimizer.zero_grad().",
        )
    if not torch.allclose(after[1], expected[1], atol=1e-6):
        if "zero_grad" not in first + per_call[1]:
            return wrong(
                "no_zero_grad",
                "the first step is right but the second is too large: the gradients accumulate because they are never "
                "reset. .backward() adds into .grad; call optimizer.zero_grad() once per step (after optimizer.step()).",
            )
        return wrong(
            "wrong_update", "the first step is right but the second is not. Run the same five actions on every call."
        )
    if isinstance(returned[0], torch.Tensor):
        return wrong(
            "returns_tensor",
            "the updates are right, but the step returns a tensor. Return loss.item(), a plain Python float: "
            "a kept loss tensor keeps its whole graph alive, and a float is what the loop prints and plots.",
        )
    if not isinstance(returned[0], (float, int)) or abs(float(returned[0]) - ref_losses[0]) > 1e-5:
        return wrong(
            "wrong_return",
            f"the updates are right, but the first call returned {returned[0]!r} instead of the loss "
            f"{ref_losses[0]:.4f}. Return loss.item(), the loss computed before the update.",
        )
    if model.calls < model.forward_runs:
        return wrong(
            "called_forward",
            "the numbers are right, but you called model.forward(x). Call model(x): it runs forward *and* the hooks "
            "PyTorch and other tools register on the model, which .forward() silently skips.",
        )
    return correct("forward, loss, backward, step, zero the gradients: both steps match SGD exactly.")


def _no_update_mistake(events: list[str]) -> Verdict:
    if "backward" not in events:
        return wrong(
            "no_backward",
            "the parameters did not move: your step never calls loss.backward(), so there are no gradients.",
        )
    if "step" not in events:
        return wrong(
            "no_step", "the parameters did not move: your step never calls optimizer.step(), which applies the update."
        )
    back, step = events.index("backward"), events.index("step")
    if step < back:
        return wrong(
            "step_before_backward",
            "the parameters did not move after the first step: optimizer.step() ran before loss.backward(), "
            "when there were no gradients yet. The order is backward first, then step.",
        )
    if "zero_grad" in events[back:step]:
        return wrong(
            "zero_grad_before_step",
            "the parameters never move: optimizer.zero_grad() runs between loss.backward() and optimizer.step(), "
            "so the gradients are erased before they are used. Zero them after the step (or before the forward pass).",
        )
    return wrong(
        "no_update", "the parameters did not move after a step. Check that the optimizer holds model.parameters()."
    )


# --- the epoch loop ----------------------------------------------------------------------------


class _FakeStep:
    """Stands in for a train step: records its calls and returns 1, 1/2, 1/3, ..."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y, self.calls, self.swapped = x, y, 0, False

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> float:
        if xb is self.y and yb is self.x:
            self.swapped = True
        self.calls += 1
        return 1.0 / self.calls


def training_loop(train: object, epochs: int = 7) -> Verdict:
    """Check ``train(step, x, y, epochs) -> list of floats``: one step per epoch, every loss recorded.

    Example:
        >>> def train(step, x, y, epochs):
        ...     return [step(x, y) for _ in range(epochs)]
        >>> training_loop(train).passed
        True
    """
    if is_placeholder(train):
        return not_attempted()
    x, y = torch.zeros(4, 1), torch.ones(4, 1)
    fake = _FakeStep(x, y)
    losses, verdict = call_learner(train, fake, x, y, epochs)
    if verdict is not None:
        return verdict
    if fake.swapped:
        return wrong("swapped_arguments", "you called step(y, x): the inputs come first, step(x, y).")
    if losses is None:
        return wrong("returns_nothing", "your function returns None: collect the losses in a list and return it.")
    if isinstance(losses, (float, int, torch.Tensor)):
        return wrong(
            "last_loss_only",
            "your function returns one number; return the list of all the epochs' losses (append inside the loop).",
        )
    try:
        losses = [float(v) for v in losses]
    except (TypeError, ValueError):
        return wrong("not_a_list", f"expected a list of floats, got {type(losses).__name__}.")
    if fake.calls == 2 * epochs:
        return wrong(
            "step_called_twice",
            "step ran twice per epoch (once to train and once more to print or record?). "
            "Call it once: loss = step(x, y), then use loss.",
        )
    if fake.calls != epochs:
        return wrong(
            "wrong_epoch_count",
            f"with epochs={epochs} the step ran {fake.calls} times. Use for epoch in range(epochs): exactly one step each.",
        )
    if len(losses) != epochs:
        return wrong(
            "wrong_length", f"the step ran {epochs} times but you returned {len(losses)} losses: record every one."
        )
    expected = [1.0 / k for k in range(1, epochs + 1)]
    if losses != expected:
        return wrong("wrong_values", "the list should hold the values step returned, in order, one per epoch.")
    return correct(f"{epochs} epochs, one step each, every loss recorded in order.")
