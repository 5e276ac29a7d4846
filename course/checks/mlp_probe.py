"""What lesson 08's make_mlp check reads of an MLP's starting weights: whether training could ever tell its units apart.

It refuses two starts that cannot learn, whatever the optimizer: a dead hidden layer (weights 0, biases 0 or below:
ReLU gives 0 for every input and passes no gradient back), and a hidden layer whose units are alike (one value for all
its weights, one for all its biases) before a layer whose weights are one value (the units get identical gradients).
Starts it passes that do learn: one weight value with nn.Linear's random biases (no two units alike), alike units before
a layer of random weights (different gradients). Rarer starts that cannot learn may pass (rows equal but not one value).
Layers are taken in the order forward runs them, then any it did not run as a module (F.linear(x, layer.weight, ...)).
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

_FIX = "Leave nn.Linear's default initialisation (random weights and biases)."
_NONE = "(weights 0, biases 0 or below): its ReLU gives 0 whatever the input and passes no gradient back"
DEAD = f"every hidden layer starts dead {_NONE}, so no hidden layer ever learns and only the output bias does. {_FIX}"
ZERO = (
    "hidden layer {} starts dead "
    + _NONE
    + ", so it and the layers before it get no gradient and never learn, and the "
    f"output can never depend on the input. {_FIX}"
)
COPIES = (
    "hidden layer {} starts with its units alike (one value for all its weights, one for all its biases) and the layer "
    "after it with one value for all its weights: those units get identical gradients and stay copies of one another "
    f"(but for rounding), as if the layer had one unit. {_FIX}"
)


def _one_value(tensor: torch.Tensor | None) -> bool:  # no bias: all 0
    return tensor is None or bool(tensor.min() == tensor.max())


def start(layers: list[nn.Linear]) -> dict[int, tuple[bool, bool, bool]]:
    """Per layer (by id, in module order), before the check sets its weights: one weight value, one bias value, dead
    (weights 0, biases 0 or below)."""
    dead = lambda m: not m.weight.any() and (m.bias is None or bool(m.bias.max() <= 0))  # noqa: E731
    return {id(m): (_one_value(m.weight), _one_value(m.bias), dead(m)) for m in layers}


def cannot_learn(started: dict[int, tuple[bool, bool, bool]], calls: list[int]) -> str:
    """Why an MLP whose layers (ids) ran in the order ``calls``, with the :func:`start` ``started``, cannot learn; ""
    if it can. The last layer is the output layer, the others hidden ones."""
    order = [started[i] for i in dict.fromkeys([*calls, *started]) if i in started]  # then those not run as modules
    if len(order) > 1 and all(dead for *_, dead in order[:-1]):
        return DEAD
    if k := next((k for k, (*_, dead) in enumerate(order[:-1], 1) if dead), 0):
        return ZERO.format(k)
    alike = (k for k, (layer, after) in enumerate(pairwise(order), 1) if layer[0] and layer[1] and after[0])
    return next((COPIES.format(k) for k in alike), "")


def zeroed(model: nn.Module) -> nn.Module:
    """``model`` with every parameter 0: a start that cannot learn."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    return model
