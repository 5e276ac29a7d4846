"""Checks for lesson 08 (Nonlinearity and multilayer perceptrons): four exercises declared over one engine."""

from collections.abc import Callable
from itertools import pairwise

import torch
from torch import nn
from torch.nn.utils import clip_grad_norm_, clip_grad_value_

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import fixed_values, flat_parameters, unregistered_modules
from course.checks.values import as_number, describe

PER_UNIT = "return one True/False per unit (a bool tensor of shape (5,)), got {got}: reduce over the rows, .all(dim=0)."
ONE_COUNT = "return the count as one number (an int), got %s."
MLP_SIZES = ((3, [5, 4], 2), (2, [3, 4, 3], 1))  # two hidden layers, then three: a model for two only fails


def _linear(weight: list, bias: list) -> nn.Linear:
    layer = nn.Linear(len(weight[0]), len(weight))
    layer.load_state_dict({"weight": torch.tensor(weight), "bias": torch.tensor(bias)})
    return layer


def _numbers(values: list) -> str:
    return ", ".join(f"{as_number(value):g}" for value in values)


def _architecture(make: object, probes: tuple) -> object:
    """Per probe's sizes: sorted layer shapes, unregistered layers, the output once each layer holds values fixed by
    its shape (for inputs of the model's dtype)."""
    seen = []
    for n_inputs, *sizes in probes:
        model = make(n_inputs, *sizes)
        if not isinstance(model, nn.Module):
            return model
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        with torch.no_grad():
            for layer in linears:
                for offset, parameter in enumerate(layer.parameters()):  # the weight, then the bias if any
                    parameter.copy_(fixed_values(parameter.shape, float(offset)))
            output = model(torch.linspace(-2.0, 2.0, 6 * n_inputs, dtype=dtype).reshape(6, n_inputs))
        shapes = sorted((m.in_features, m.out_features, m.bias is not None) for m in linears)
        seen.append((shapes, unregistered_modules(model), output))
    return tuple(zip(*seen, strict=True))  # (shapes, unregistered, outputs), one item per probe each


def _explain_mlp(got: tuple, expected: tuple) -> str:
    for (n_inputs, hidden, n_outputs), yours, right in zip(MLP_SIZES, got[0], expected[0], strict=True):
        if yours != right:
            layers = ", ".join(f"Linear({a}, {b})" for a, b in pairwise([n_inputs, *hidden, n_outputs]))
            return f"make_mlp({n_inputs}, {hidden}, {n_outputs}) should hold {layers}, each with a bias."
    return "the layer sizes are right but the output is not: a ReLU after each hidden layer, none after the last."


def _mlp(n_inputs: int, hidden: list[int], n_outputs: int, activation: Callable = nn.ReLU, last: bool = False):
    pairs = pairwise([n_inputs, *hidden, n_outputs])
    layers = [module for n_in, n_out in pairs for module in (nn.Linear(n_in, n_out), activation())]
    return nn.Sequential(*(layers if last else layers[:-1]))


class _LoopMLP(nn.Module):  # the output layer registered first; the hidden ones in `container` (a list hides them)
    def __init__(self, n_inputs: int, hidden: list[int], n_outputs: int, container: Callable = nn.ModuleList) -> None:
        super().__init__()
        self.output = nn.Linear(hidden[-1], n_outputs)
        self.layers = container(nn.Linear(n_in, n_out) for n_in, n_out in pairwise([n_inputs, *hidden]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = nn.functional.relu(layer(x))
        return self.output(x)


def _three_steps(step: object, args: tuple) -> object:
    """The losses three calls return (three, so a missing zero_grad shows), then the parameters they leave."""
    losses = [step(*args) for _ in range(3)]
    if None in map(as_number, losses):
        return losses[0]
    return [as_number(loss) for loss in losses], flat_parameters(args[0])


def _step(order: str = "zero backward clip step", clip: Callable = clip_grad_norm_) -> Callable:
    """A training step that runs the stages of ``order`` in turn, clipping with ``clip``."""

    def step(model, optimizer, x, y, max_norm):
        loss = nn.functional.mse_loss(model(x), y)
        stages = {"zero": optimizer.zero_grad, "backward": loss.backward, "step": optimizer.step}
        stages["clip"] = lambda: clip(model.parameters(), max_norm)
        for stage in order.split():
            stages[stage]()
        return loss

    return step


dead_units = Exercise(
    name="dead_units",
    # units: alive (weights <= 0, a large bias), killed by its bias, exactly 0 everywhere (on ReLU's threshold, so
    # `<` fails where `<=` is right), on for some inputs only, <= 0 with exactly 0 twice
    inputs=lambda: (
        _linear([[-0.5, -0.25], [0.5, 0.25], [0.0, 0.0], [1.0, 0.5], [1.0, 0.0]], [3.0, -4.0, 0.0, -0.5, -1.0]),
        torch.tensor([[-1.0, 0.5], [1.0, 2.0], [0.5, -2.0], [1.0, -1.0], [-2.0, 1.5], [0.25, 0.75], [-0.5, -1.0]]),
    ),
    reference=lambda layer, x: (layer(x) <= 0).all(dim=0),
    guards=[
        Guard("not_a_tensor", lambda got: not isinstance(got, torch.Tensor), lambda layer, x: [True] * 5),
        Guard("wrong_shape", lambda got: got.shape != (5,), lambda layer, x: (layer(x) <= 0).all(dim=1), PER_UNIT),
        Guard("wrong_dtype", lambda got: got.dtype != torch.bool, lambda layer, x: layer(x)[0], PER_UNIT),
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
    success="a unit is dead when its pre-activation is <= 0 for every input: ReLU's gradient is 0 there (at exactly 0 "
    "too), so nothing can revive it.",
)

make_mlp = Exercise(
    name="make_mlp",
    inputs=lambda: MLP_SIZES,
    observe=_architecture,
    reference=_mlp,
    guards=[
        Guard("not_a_model", lambda got: not isinstance(got, tuple), lambda n_in, hidden, n_out: [n_in]),
        Guard("plain_list", lambda got: any(got[1]), lambda *sizes: _LoopMLP(*sizes, container=list)),
    ],
    mistakes=[
        Mistake("no_activation", lambda *sizes: _mlp(*sizes, activation=nn.Identity)),
        Mistake("activation_after_output", lambda *sizes: _mlp(*sizes, last=True)),
        Mistake("wrong_activation", lambda *sizes: _mlp(*sizes, activation=nn.Sigmoid)),
        Mistake("wrong_activation", lambda *sizes: _mlp(*sizes, activation=nn.Tanh)),
    ],
    alternatives=[_LoopMLP, lambda *sizes: _mlp(*sizes, activation=lambda: nn.ReLU(inplace=True))],
    explain=_explain_mlp,
    success="nn.Linear layers from n_inputs through each hidden width to n_outputs, a ReLU after each hidden layer and "
    "none after the last, so the output can take any value.",
)

count_parameters = Exercise(
    name="count_parameters",
    inputs=lambda: ([3, 5, 4, 2], [1, 32, 32, 1], [7, 1]),
    observe=lambda count, probes: [count(sizes) for sizes in probes],
    reference=lambda sizes: sum(n_in * n_out + n_out for n_in, n_out in pairwise(sizes)),
    guards=[
        Guard("not_a_number", lambda got: None in map(as_number, got), str, lambda got, _: ONE_COUNT % describe(got[0]))
    ],
    mistakes=[
        Mistake("no_biases", lambda sizes: sum(n_in * n_out for n_in, n_out in pairwise(sizes))),
        Mistake("bias_per_input", lambda sizes: sum(n_in * n_out + n_in for n_in, n_out in pairwise(sizes))),
        Mistake("counted_units", lambda sizes: sum(sizes)),
        Mistake("missed_a_layer", lambda sizes: sum(n_in * n_out + n_out for n_in, n_out in pairwise(sizes[:-1]))),
    ],
    alternatives=[
        lambda sizes: sum(p.numel() for p in _mlp(sizes[0], sizes[1:-1], sizes[-1]).parameters()),
        lambda sizes: sum((sizes[i] + 1) * sizes[i + 1] for i in range(len(sizes) - 1)),
    ],
    explain=lambda got, expected: (
        f"for the sizes {count_parameters.inputs()} your function gave {_numbers(got)}, "
        f"expected {_numbers(expected)}: n_in * n_out weights plus n_out biases for each pair of neighbouring sizes."
    ),
    success="each nn.Linear(n_in, n_out) holds n_in * n_out weights and n_out biases; add them up over the layers.",
)

clipped_step = Exercise(
    name="clipped_step",
    inputs=lambda: (
        model := _linear([[0.5, -1.0, 2.0]], [0.25]),
        torch.optim.SGD(model.parameters(), lr=0.2),
        torch.tensor([[4.0, 1.0, -2.0], [-3.0, 2.0, 5.0], [6.0, -1.0, 0.5], [1.0, 4.0, -3.0], [-2.0, -5.0, 1.0]]),
        torch.tensor([[1.0], [-2.0], [3.0], [0.5], [-1.0]]),
        2.5,  # max_norm: far below the first gradient's norm (48), and a value nobody types by accident
    ),
    observe=_three_steps,
    reference=_step(),
    guards=[Guard("not_a_number", lambda got: not isinstance(got, tuple), lambda *args: "loss")],
    mistakes=[
        Mistake("clip_misplaced", _step("zero clip backward step")),
        Mistake("clip_value_not_norm", _step(clip=clip_grad_value_)),
        Mistake("clip_per_parameter", _step(clip=lambda params, limit: [clip_grad_norm_(p, limit) for p in params])),
        Mistake("no_zero_grad", _step("backward clip step")),
        Mistake("no_step", _step("zero backward clip")),
        Mistake("ignored_argument", _step(clip=lambda params, limit: clip_grad_norm_(params, 1.0))),
    ],
    alternatives=[_step("backward clip step zero")],
    explain=lambda got, expected: (
        f"over three calls your step returned the losses {_numbers(got[0])}; expected "
        f"{_numbers(expected[0])}. Return the loss computed first; clip after loss.backward(), before optimizer.step()."
    ),
    success="backward() makes the gradients, clip_grad_norm_ shortens them to max_norm, then step() uses them.",
)
