"""What lesson 08's make_mlp check reads of an MLP's starting weights: whether training could ever tell its units apart.

Two starts cannot learn, whatever the optimizer: a hidden layer at zero (ReLU(0) passes no gradient back), and a
hidden layer whose units are alike (one value for all its weights, one for all its biases) before a layer whose weights
are one value (the units get identical gradients). Any other start can: one weight value with nn.Linear's random biases
makes no two units alike, and alike units before a layer of random weights get different gradients."""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

_FIX = "Leave nn.Linear's default initialisation (random weights and biases)."
DEAD = (
    "every hidden layer starts at zero: ReLU(0) passes no gradient back, so no hidden weight ever changes and only the "
    f"output bias moves. {_FIX}"
)
ZERO = (
    "hidden layer {} starts at zero (all its weights and biases): ReLU(0) is 0 whatever the input and passes no "
    "gradient back, so it and the layers before it never change, and the output can never depend on the input. "
    f"{_FIX}"
)
COPIES = (
    "hidden layer {} starts with its units alike (one value for all its weights, one for all its biases) and the layer "
    "after it with one value for all its weights: those units get identical gradients and stay copies of one another "
    f"(but for rounding), as if the layer had one unit. {_FIX}"
)


def _one_value(tensor: torch.Tensor | None) -> bool:  # no bias: all 0
    return tensor is None or bool(tensor.min() == tensor.max())


def start(layers: list[nn.Linear]) -> dict[int, tuple[bool, bool, bool]]:
    """Per layer (by id), before the check sets its weights: one weight value, one bias value, every parameter 0."""
    zero = lambda t: t is None or not t.any()  # noqa: E731
    return {id(m): (_one_value(m.weight), _one_value(m.bias), zero(m.weight) and zero(m.bias)) for m in layers}


def cannot_learn(started: dict[int, tuple[bool, bool, bool]], calls: list[int]) -> str:
    """Why an MLP whose layers (ids) ran in the order ``calls``, with the :func:`start` ``started``, cannot learn; ""
    if it can. The last layer run is the output layer, the others hidden ones."""
    order = [started[i] for i in dict.fromkeys(calls) if i in started]
    if len(order) > 1 and all(zero for *_, zero in order[:-1]):
        return DEAD
    if k := next((k for k, (*_, zero) in enumerate(order[:-1], 1) if zero), 0):
        return ZERO.format(k)
    alike = (k for k, (layer, after) in enumerate(pairwise(order), 1) if layer[0] and layer[1] and after[0])
    return next((COPIES.format(k) for k in alike), "")


def zeroed(model: nn.Module) -> nn.Module:
    """``model`` with every parameter 0: a start that cannot learn."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    return model
