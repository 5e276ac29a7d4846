"""Checks for lesson 08 (Nonlinearity and multilayer perceptrons): four exercises declared over one engine.

Probes: a ``Linear(2, 5)`` layer on 7 inputs whose units are alive, dead, off only sometimes, and
exactly 0 (on the ReLU's threshold) for every input; MLPs of sizes 3 -> 5 -> 4 -> 2 whose linear
layers the check fills with fixed values (so only the architecture decides the output); three
lists of layer sizes; a linear model whose first gradient (norm 48) is far longer than ``max_norm``
(2.5, a value nobody types by accident), over three steps, so that forgetting to zero the gradients shows.
"""

from __future__ import annotations

import torch
from torch import nn

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import fixed_values, unregistered_modules
from course.checks.values import as_number, describe


# --- Exercise 1: which units are dead? ----------------------------------------------------------------
def _dead_units_probe() -> tuple[nn.Linear, torch.Tensor]:
    layer = nn.Linear(2, 5)
    with torch.no_grad():
        # unit 0: weights <= 0 but a large bias, alive; unit 1: positive weights, a bias that kills it;
        # unit 2: exactly 0 everywhere; unit 3: on for some inputs only; unit 4: <= 0, exactly 0 twice.
        layer.weight.copy_(torch.tensor([[-0.5, -0.25], [0.5, 0.25], [0.0, 0.0], [1.0, 0.5], [1.0, 0.0]]))
        layer.bias.copy_(torch.tensor([3.0, -4.0, 0.0, -0.5, -1.0]))
    x = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.5, -2.0], [1.0, -1.0], [-2.0, 1.5], [0.25, 0.75], [-0.5, -1.0]])
    return layer, x


dead_units = Exercise(
    name="dead_units",
    inputs=_dead_units_probe,
    reference=lambda layer, x: (layer(x) <= 0).all(dim=0),
    guards=[
        Guard(
            "not_a_tensor",
            when=lambda got: not isinstance(got, torch.Tensor),
            example=lambda layer, x: (layer(x) <= 0).all(dim=0).tolist(),
        ),
        Guard(
            "wrong_shape",
            when=lambda got: got.shape != (5,),
            example=lambda layer, x: (layer(x) <= 0).all(dim=1),
            message="return one True/False per unit (shape (5,) here), got {got}. The rows of layer(x) are the "
            "inputs and the columns the units: reduce over the rows, .all(dim=0).",
        ),
        Guard(
            "wrong_dtype",
            when=lambda got: got.dtype != torch.bool,
            example=lambda layer, x: (layer(x) <= 0).all(dim=0).float(),
            message="return a boolean mask (True for a dead unit), got {got}.",
        ),
    ],
    mistakes=[
        Mistake("strict_threshold", lambda layer, x: (layer(x) < 0).all(dim=0)),
        Mistake("any_not_all", lambda layer, x: (layer(x) <= 0).any(dim=0)),
        Mistake("inverted_mask", lambda layer, x: (layer(x) > 0).any(dim=0)),
        Mistake("weights_only", lambda layer, x: (layer.weight <= 0).all(dim=1)),
    ],
    alternatives=[
        lambda layer, x: (torch.relu(layer(x)) == 0).all(dim=0),
        lambda layer, x: ~(layer(x) > 0).any(dim=0),
        lambda layer, x: layer(x).max(dim=0).values <= 0,
        lambda layer, x: (x @ layer.weight.T + layer.bias <= 0).sum(dim=0) == len(x),
    ],
    success="a unit is dead when its pre-activation is <= 0 for every input: ReLU's gradient is 0 there "
    "(at exactly 0 too), so nothing can revive it.",
)


# --- Exercise 2: build an MLP ------------------------------------------------------------------------
_MLP_PROBE_X = torch.linspace(-2.0, 2.0, 18).reshape(6, 3)


def _architecture(make: object, args: tuple) -> object:
    """The model's sorted layer shapes, its count of unregistered layers, and its output with fixed weights."""
    model = make(*args)
    if model is None or not isinstance(model, nn.Module):
        return model
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer in linears:
            layer.weight.copy_(fixed_values(layer.weight.shape, 0.0))
            if layer.bias is not None:
                layer.bias.copy_(fixed_values(layer.bias.shape, 1.0))
        output = model(_MLP_PROBE_X.clone())
    shapes = sorted((m.in_features, m.out_features, m.bias is not None) for m in linears)
    return tuple(shapes), unregistered_modules(model), output


def _mlp(n_inputs: int, hidden: list[int], n_outputs: int, activation: type = nn.ReLU, last: bool = False) -> nn.Module:
    sizes = [n_inputs, *hidden, n_outputs]
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), activation()]
    return nn.Sequential(*(layers if last else layers[:-1]))


class _ListMLP(nn.Module):
    def __init__(self, n_inputs: int, hidden: list[int], n_outputs: int) -> None:
        super().__init__()
        sizes = [n_inputs, *hidden]
        self.hidden = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        self.output = nn.Linear(sizes[-1], n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.output(x)


class _OutputFirstMLP(nn.Module):  # registered in another order than they run, relu from nn.functional
    def __init__(self, n_inputs: int, hidden: list[int], n_outputs: int) -> None:
        super().__init__()
        self.output = nn.Linear(hidden[-1], n_outputs)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip([n_inputs, *hidden[:-1]], hidden, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = nn.functional.relu(layer(x))
        return self.output(x)


def _explain_mlp(got: object, expected: tuple) -> str:
    if not isinstance(got, tuple) or got[0] != expected[0]:
        want = ", ".join(f"Linear({a}, {b})" for a, b, _ in expected[0])
        return f"the linear layers are not the ones asked for: expected {want} (with biases), one per pair of sizes."
    return "the layers have the right sizes, but the model computes something else: put nn.ReLU() after each hidden layer, nothing after the last."


make_mlp = Exercise(
    name="make_mlp",
    inputs=lambda: (3, [5, 4], 2),
    observe=_architecture,
    reference=_mlp,
    guards=[
        Guard("not_a_model", when=lambda got: not isinstance(got, tuple), example=lambda n_in, hidden, n_out: [n_in]),
        Guard("plain_list", when=lambda got: got[1] > 0, example=_ListMLP),
    ],
    mistakes=[
        Mistake("no_activation", lambda n_in, hidden, n_out: _mlp(n_in, hidden, n_out, activation=nn.Identity)),
        Mistake("activation_after_output", lambda n_in, hidden, n_out: _mlp(n_in, hidden, n_out, last=True)),
        Mistake("wrong_activation", lambda n_in, hidden, n_out: _mlp(n_in, hidden, n_out, activation=nn.Sigmoid)),
        Mistake("wrong_activation", lambda n_in, hidden, n_out: _mlp(n_in, hidden, n_out, activation=nn.Tanh)),
    ],
    alternatives=[_OutputFirstMLP, lambda n_in, hidden, n_out: _mlp(n_in, list(hidden), n_out)],
    explain=_explain_mlp,
    success="nn.Linear layers from n_inputs through each hidden width to n_outputs, a ReLU after each hidden "
    "layer and none after the last, so the output can take any value.",
)


# --- Exercise 3: count the parameters ------------------------------------------------------------------
_SIZES = ([3, 5, 4, 2], [1, 32, 32, 1], [7, 1])


def _pairs(sizes: list[int]) -> list[tuple[int, int]]:
    return list(zip(sizes[:-1], sizes[1:], strict=True))


def _explain_count(got: list, expected: list) -> str:
    counts = ", ".join(f"{as_number(n):g}" for n in got)
    sizes = ", ".join(map(str, _SIZES))
    return (
        f"for the sizes {sizes} your function gave {counts}, expected {', '.join(map(str, expected))}: "
        "n_in * n_out weights plus n_out biases for each pair of neighbouring sizes."
    )


count_parameters = Exercise(
    name="count_parameters",
    inputs=lambda: tuple(list(sizes) for sizes in _SIZES),
    observe=lambda count, probes: [count(sizes) for sizes in probes],
    reference=lambda sizes: sum(n_in * n_out + n_out for n_in, n_out in _pairs(sizes)),
    guards=[
        Guard(
            "not_a_number",
            when=lambda got: any(as_number(value) is None for value in got),
            example=lambda sizes: str(sizes),
            message=lambda got, expected: f"return the count as one number (an int), got {describe(got[0])}.",
        )
    ],
    mistakes=[
        Mistake("no_biases", lambda sizes: sum(n_in * n_out for n_in, n_out in _pairs(sizes))),
        Mistake("bias_per_input", lambda sizes: sum(n_in * n_out + n_in for n_in, n_out in _pairs(sizes))),
        Mistake("counted_units", lambda sizes: sum(sizes)),
        Mistake("missed_a_layer", lambda sizes: sum(a * b + b for a, b in _pairs(sizes[:-1]))),
    ],
    alternatives=[
        lambda sizes: sum(p.numel() for p in _mlp(sizes[0], sizes[1:-1], sizes[-1]).parameters()),
        lambda sizes: sum((sizes[i] + 1) * sizes[i + 1] for i in range(len(sizes) - 1)),
    ],
    explain=_explain_count,
    success="each nn.Linear(n_in, n_out) holds n_in * n_out weights and n_out biases; add them up over the layers.",
)


# --- Exercise 4: fix the clipped training step ----------------------------------------------------------
def _clip_probe() -> tuple[nn.Module, torch.optim.Optimizer, torch.Tensor, torch.Tensor, float]:
    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, -1.0, 2.0]]))
        model.bias.fill_(0.25)
    x = torch.tensor([[4.0, 1.0, -2.0], [-3.0, 2.0, 5.0], [6.0, -1.0, 0.5], [1.0, 4.0, -3.0], [-2.0, -5.0, 1.0]])
    y = torch.tensor([[1.0], [-2.0], [3.0], [0.5], [-1.0]])
    return model, torch.optim.SGD(model.parameters(), lr=0.2), x, y, 2.5


def _three_steps(step: object, args: tuple) -> object:
    """The losses three calls return, then the parameters they leave (the first gradient is far over max_norm)."""
    model = args[0]
    losses = [step(*args) for _ in range(3)]
    numbers = [as_number(loss) for loss in losses]
    if any(number is None for number in numbers):
        return losses[0]
    return numbers, torch.cat([p.detach().flatten() for p in model.parameters()])


def _step(clip: str = "between", zero: bool = True) -> object:
    """The step, with the clipping placed (or done) as ``clip`` says, and zeroing or not."""

    def step(model, optimizer, x, y, max_norm):
        if zero:
            optimizer.zero_grad()
        if clip == "before":
            nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        if clip == "between":
            nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        elif clip == "fixed":
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        elif clip == "value":
            nn.utils.clip_grad_value_(model.parameters(), max_norm)
        elif clip == "each":
            for p in model.parameters():
                nn.utils.clip_grad_norm_([p], max_norm)
        if clip != "no_step":
            optimizer.step()
        return loss.item()

    return step


def _step_zeroing_last(model, optimizer, x, y, max_norm):
    loss = nn.MSELoss()(model(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=max_norm)
    optimizer.step()
    optimizer.zero_grad()
    return loss


def _explain_clipped(got: tuple, expected: tuple) -> str:
    yours, right = (", ".join(f"{v:.4f}" for v in losses) for losses in (got[0], expected[0]))
    return (
        f"over three calls your step returned the losses {yours}; expected {right}. Return the loss computed "
        "before the step, and change only where clip_grad_norm_(model.parameters(), max_norm) goes: after "
        "loss.backward(), before optimizer.step()."
    )


clipped_step = Exercise(
    name="clipped_step",
    inputs=_clip_probe,
    observe=_three_steps,
    reference=_step(),
    guards=[
        Guard(
            "not_a_number",
            when=lambda got: not isinstance(got, tuple),
            example=lambda model, optimizer, x, y, max_norm: "loss",
            message="return the loss (loss.item() or the loss tensor), got {got}.",
        )
    ],
    mistakes=[
        Mistake("clip_misplaced", _step(clip="before")),
        Mistake("clip_value_not_norm", _step(clip="value")),
        Mistake("clip_per_parameter", _step(clip="each")),
        Mistake("no_zero_grad", _step(zero=False)),
        Mistake("no_step", _step(clip="no_step")),
        Mistake(
            "ignored_argument",
            _step(clip="fixed"),
            "you clipped to a fixed number: clip to the max_norm the caller passes.",
        ),
    ],
    alternatives=[_step_zeroing_last],
    explain=_explain_clipped,
    success="loss.backward() makes the gradients, clip_grad_norm_ shortens them to max_norm, then "
    "optimizer.step() uses the clipped ones.",
)
