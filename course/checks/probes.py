"""Probe a learner's model or loss function by what it computes, never by its class.

A check that asks for "a logistic regression" must accept ``nn.Linear``, an ``nn.Sequential`` that ends
with ``nn.Sigmoid``, or a class calling ``torch.sigmoid`` in ``forward``, and must still recognise a
softmax over one output. So these helpers feed fresh inputs to the answer and read the numbers:

- :func:`outputs`: the model's outputs as a flat float64 tensor, or ``"wrong_shape"``;
- :func:`is_affine`: whether values are an affine function ``w·x + b`` of the inputs;
- :func:`model_kind`: ``"logits"``, ``"probabilities"`` (a sigmoid of an affine score) or what else;
- :func:`loss_kind`: which binary cross-entropy a loss function computes;
- :func:`binary_accuracy`: the accuracy of a one-output classifier, whatever its output;
- :func:`evaluating`: every module in eval mode for a while, each mode restored afterwards;
- :func:`tag_is` and :func:`any_item`: guard tests that read such observations;
- :func:`randomised` and :func:`flat_parameters`: probe models whose weights owe nothing to the learner's
  random state, and all of a model's weights as one vector to compare.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from course.checks.values import as_number, close

KIND_WORDS = {  # what each kind that model_kind and loss_kind return means, for a learner's message
    "logits": "raw scores",
    "probabilities": "probabilities (a sigmoid of a linear score)",
    "constant": "the same number for every input",
    "other": "neither raw scores nor a sigmoid of a linear score",
    "other, squashed": "numbers in [0, 1], but not a sigmoid of a linear score",
    "unknown": "something other than a binary cross-entropy",
}


def outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor | str:
    """The model's outputs for ``x`` as a flat float64 CPU tensor, or ``"wrong_shape"``.

    ``x`` is first cast to the dtype and device of the model's first floating-point parameter. Anything
    other than one number per row (an error, several outputs per row, a meta tensor) is ``"wrong_shape"``.

    Example:
        >>> outputs(nn.Linear(3, 1), torch.zeros(4, 3, dtype=torch.float64)).shape
        torch.Size([4])
        >>> outputs(nn.Linear(3, 2), torch.zeros(4, 3)), outputs(nn.Linear(5, 1), torch.zeros(4, 3))
        ('wrong_shape', 'wrong_shape')
    """
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    try:
        with torch.no_grad():
            out = model(x.float() if param is None else x.to(device=param.device, dtype=param.dtype))
    except Exception:
        return "wrong_shape"
    if type(out) is not torch.Tensor or out.numel() != len(x) or out.device.type == "meta":
        return "wrong_shape"
    return out.detach().cpu().double().reshape(-1)


def is_affine(values: torch.Tensor, x: torch.Tensor, rtol: float = 1e-4) -> bool:
    """True when ``values`` (N,) equal ``x @ w + b`` (x: (N, features)) for some ``w`` and ``b``, up to ``rtol``.

    Example:
        >>> x = torch.randn(20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        >>> is_affine(x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 3, x), is_affine(x[:, 0] ** 2, x)
        (True, False)
    """
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    fitted = design @ torch.linalg.lstsq(design, values.unsqueeze(1)).solution
    return bool((fitted.squeeze(1) - values).abs().max() <= rtol * (1 + values.abs().max()))


def model_kind(model: object, n_features: int, seed: int = 12) -> str:
    """What a one-output model computes on 64 random rows of ``n_features`` features.

    ``"logits"`` (an affine score), ``"probabilities"`` (a sigmoid of an affine score), ``"constant"``,
    ``"other, squashed"`` (something else within [0, 1]), ``"other"``, or what keeps it from being
    probed: ``"not_a_model"``, ``"wrong_shape"``, ``"not_finite"``.

    Example:
        >>> model_kind(nn.Linear(3, 1), 3), model_kind(nn.Sequential(nn.Linear(3, 1), nn.Sigmoid()), 3)
        ('logits', 'probabilities')
        >>> model_kind(nn.Sequential(nn.Linear(3, 1), nn.Softmax(dim=1)), 3), model_kind("model", 3)
        ('constant', 'not_a_model')
    """
    if not isinstance(model, nn.Module):
        return "not_a_model"
    x = 2 * torch.randn(64, n_features, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    out = outputs(model, x)
    if isinstance(out, str):
        return out
    if not bool(torch.isfinite(out).all()):
        return "not_finite"
    if out.max() - out.min() < 1e-9:
        return "constant"
    squashed = bool(out.min() >= 0 and out.max() <= 1)
    if squashed and out.min() > 0 and out.max() < 1 and is_affine(torch.logit(out), x):
        return "probabilities"
    return "logits" if is_affine(out, x) else "other, squashed" if squashed else "other"


def loss_kind(loss_fn: object) -> str:
    """``"logits"`` or ``"probabilities"``: which binary cross-entropy ``loss_fn`` computes; else ``"unknown"``.

    Example:
        >>> loss_kind(nn.BCEWithLogitsLoss()), loss_kind(nn.BCELoss()), loss_kind(nn.MSELoss())
        ('logits', 'probabilities', 'unknown')
    """
    target = torch.tensor([[1.0], [0.0], [1.0]])
    for kind, inputs, right in [
        ("logits", torch.tensor([[2.0], [-1.0], [-0.5]]), nn.functional.binary_cross_entropy_with_logits),
        ("probabilities", torch.tensor([[0.8], [0.3], [0.4]]), nn.functional.binary_cross_entropy),
    ]:
        try:
            if close(as_number(loss_fn(inputs, target)), right(inputs, target).item()):
                return kind
        except Exception:
            continue
    return "unknown"


@contextmanager
def evaluating(model: object) -> Iterator[None]:
    """Every module of ``model`` in eval mode inside the block; each module's own mode restored after it.

    Unlike ``model.eval()`` then ``model.train()``, a model whose parts were in different modes gets
    each part's mode back. Anything that is not an ``nn.Module`` passes through untouched.

    Example:
        >>> model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
        >>> with evaluating(model):
        ...     print(model.training, model[1].training)
        False False
        >>> model.training, model[1].training
        (True, True)
    """
    modes = [(module, module.training) for module in model.modules()] if isinstance(model, nn.Module) else []
    try:
        for module, _ in modes:
            module.training = False
        yield
    finally:
        for module, mode in modes:
            module.training = mode


def binary_accuracy(model: object, x: torch.Tensor, y: torch.Tensor) -> tuple[str, float | None]:
    """``(model_kind, accuracy)`` of a one-output model on ``x`` with 0/1 targets ``y``, measured in eval mode.

    Outputs that look like probabilities (within [0, 1]) are thresholded at 0.5, scores at 0. The accuracy
    is ``None`` when it cannot be measured (not a model, wrong shape, not finite, a constant output).

    Example:
        >>> x = torch.tensor([[-2.0], [-1.0], [1.0], [2.0]]); y = torch.tensor([[0.0], [0.0], [1.0], [0.0]])
        >>> model = nn.Linear(1, 1)
        >>> with torch.no_grad():
        ...     _ = model.weight.fill_(1.0), model.bias.zero_()
        >>> binary_accuracy(model, x, y), binary_accuracy(nn.Sequential(model, nn.Sigmoid()), x, y)
        (('logits', 0.75), ('probabilities', 0.75))
    """
    with evaluating(model):
        kind = model_kind(model, x.shape[1])
        out = (
            outputs(model, x.clone()) if kind not in ("not_a_model", "wrong_shape", "not_finite", "constant") else kind
        )
    if isinstance(out, str):
        return (kind, None)
    threshold = 0.5 if kind in ("probabilities", "other, squashed") else 0.0
    return (kind, ((out >= threshold).double() == y.reshape(-1).double()).double().mean().item())


def tag_is(tag: str, position: int = 0) -> Callable[[Any], bool]:
    """A guard's test: the observation's item at ``position`` is ``tag`` (as the helpers above return).

    Example:
        >>> tag_is("not_a_model")(("not_a_model", "logits")), tag_is("unknown", 1)(("logits", "logits"))
        (True, False)
    """
    return lambda got: got[position] == tag


def any_item(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """A guard's test: ``test`` holds for at least one item of the observation.

    Example:
        >>> any_item(lambda v: not isinstance(v, float))((0.5, "0.5")), any_item(lambda v: v < 0)((1.0, 2.0))
        (True, False)
    """
    return lambda got: any(test(item) for item in got)


def randomised(model: nn.Module, seed: int, scale: float = 1.0) -> nn.Module:
    """``model`` with every parameter drawn anew from N(0, scale²) by its own generator, seeded with ``seed``.

    The global random state (the learner's) is neither used nor changed.

    Example:
        >>> a, b = randomised(nn.Linear(3, 1), seed=0), randomised(nn.Linear(3, 1), seed=0)
        >>> torch.equal(a.weight, b.weight), torch.equal(a.weight, randomised(nn.Linear(3, 1), seed=1).weight)
        (True, False)
    """
    init = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(scale * torch.randn(parameter.shape, generator=init))
    return model


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """Every parameter of ``model``, detached and flattened into one float64 vector, in ``parameters()`` order.

    Example:
        >>> flat_parameters(nn.Linear(3, 2)).shape  # 6 weights and 2 biases
        torch.Size([8])
    """
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()


def fixed_values(shape: torch.Size, offset: float) -> torch.Tensor:
    """Values that depend only on the shape, so any way of building the same layers gets the same numbers.

    Example:
        >>> torch.equal(fixed_values(torch.Size([2, 3]), 0.0), fixed_values(torch.Size([2, 3]), 0.0))
        True
    """
    index = torch.arange(math.prod(shape), dtype=torch.float32).reshape(shape)
    return 0.8 * torch.sin(0.7 * index + 0.37 * shape[-1] + offset)


def unregistered_modules(model: nn.Module) -> int:
    """How many layers ``model`` keeps in plain lists, tuples or dicts, where ``parameters()`` never sees them.

    Example:
        >>> class Hidden(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.layers = [nn.Linear(2, 2)]
        >>> unregistered_modules(Hidden()), unregistered_modules(nn.Sequential(nn.Linear(2, 2)))
        (1, 0)
    """
    registered = {id(m) for m in model.modules()}
    hidden = 0
    for module in model.modules():
        for value in vars(module).values():
            items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
            hidden += sum(isinstance(v, nn.Module) and id(v) not in registered for v in items)
    return hidden
