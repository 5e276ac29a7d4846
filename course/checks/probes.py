"""Probe a learner's model or loss function by what it computes, never by its class: "a logistic regression" may
be ``nn.Linear`` then ``nn.Sigmoid`` or a class calling ``torch.sigmoid``, and a softmax over one output is not
one. So these helpers feed fresh inputs to the answer and read the numbers."""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable
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
_UNMEASURABLE = ("not_a_model", "wrong_shape", "not_finite", "constant")


def _outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor | str:
    """One output per row of ``x`` as float64, else "wrong_shape". Run on a float64 copy where one runs: in float32
    a sigmoid near 0 or 1 rounds too coarsely for its logit to stay affine (large weights are right too); a model
    that casts its input to float32 itself (``x.float()``) runs as it is."""
    with contextlib.suppress(Exception):
        if not isinstance(out := _run(copy.deepcopy(model).double(), x), str):
            return out
    return _run(model, x)


def _run(model: nn.Module, x: torch.Tensor) -> torch.Tensor | str:
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    try:
        with torch.no_grad():
            out = model(x.float() if param is None else x.to(device=param.device, dtype=param.dtype))
    except Exception:
        return "wrong_shape"
    if type(out) is not torch.Tensor or out.numel() != len(x) or out.device.type == "meta":
        return "wrong_shape"
    return out.detach().cpu().double().reshape(-1)


def _is_affine(values: torch.Tensor, x: torch.Tensor, rtol: float = 1e-4) -> bool:
    """Whether ``values`` (N,) equal ``x @ w + b`` for some ``w`` and ``b``, up to ``rtol``."""
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    fitted = design @ torch.linalg.lstsq(design, values.unsqueeze(1)).solution
    return bool((fitted.squeeze(1) - values).abs().max() <= rtol * (1 + values.abs().max()))


def model_kind(model: object, n_features: int, seed: int = 12) -> str:
    """What a one-output model computes on 64 random rows: a kind of :data:`KIND_WORDS`, or what keeps it from
    being probed: ``"not_a_model"``, ``"wrong_shape"`` (not one output per row), ``"not_finite"``.

        >>> model_kind(nn.Linear(3, 1), 3), model_kind(nn.Sequential(nn.Linear(3, 1), nn.Softmax(dim=1)), 3)
        ('logits', 'constant')
    """
    if not isinstance(model, nn.Module):
        return "not_a_model"
    x = 2 * torch.randn(64, n_features, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    out = _outputs(model, x)
    if isinstance(out, str):
        return out
    if not bool(torch.isfinite(out).all()):
        return "not_finite"
    if out.max() - out.min() < 1e-9:
        return "constant"
    squashed = bool(out.min() >= 0 and out.max() <= 1)
    inner = (out > 1e-9) & (out < 1 - 1e-9)  # where the logit is well measured: a sigmoid of a large score rounds
    if squashed and int(inner.sum()) > n_features + 1 and _is_affine(torch.logit(out[inner]), x[inner]):
        return "probabilities"
    return "logits" if _is_affine(out, x) else "other, squashed" if squashed else "other"


def loss_kind(loss_fn: object) -> str:
    """Which binary cross-entropy ``loss_fn`` computes, ``"logits"`` or ``"probabilities"``; else ``"unknown"``.

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


def binary_accuracy(model: object, x: torch.Tensor, y: torch.Tensor) -> tuple[str, float | None]:
    """``(model_kind, accuracy)`` of a one-output model on ``x`` with 0/1 targets ``y``, in eval mode: outputs in
    [0, 1] are thresholded at 0.5, scores at 0; the accuracy is ``None`` when it cannot be measured.

        >>> x, y = torch.tensor([[-2.0], [-1.0], [1.0], [2.0]]), torch.tensor([[0.0], [0.0], [1.0], [0.0]])
        >>> binary_accuracy(nn.Sequential(), x, y), binary_accuracy(nn.Sigmoid(), x, y)  # x itself, sigmoid(x)
        (('logits', 0.75), ('probabilities', 0.75))
    """
    modes = [(module, module.training) for module in model.modules()] if isinstance(model, nn.Module) else []
    try:  # every module in eval mode, then each one's own mode back (model.train() would not)
        for module, _ in modes:
            module.training = False
        kind = model_kind(model, x.shape[1])
        out = kind if kind in _UNMEASURABLE else _outputs(model, x.clone())
    finally:
        for module, mode in modes:
            module.training = mode
    if isinstance(out, str):
        return (kind, None)
    threshold = 0.5 if kind in ("probabilities", "other, squashed") else 0.0
    return (kind, ((out >= threshold).double() == y.reshape(-1).double()).double().mean().item())


def tag_is(tag: str, position: int = 0) -> Callable[[Any], bool]:
    """A guard's test: the observation's item at ``position`` is ``tag`` (as the helpers above return).

    >>> tag_is("unknown", 1)(("logits", "unknown"))
    True
    """
    return lambda got: got[position] == tag


def any_item(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """A guard's test: ``test`` holds for at least one item of the observation.

    >>> any_item(lambda v: v < 0)((1.0, -2.0))
    True
    """
    return lambda got: any(test(item) for item in got)


def randomised(model: nn.Module, seed: int, scale: float = 1.0) -> nn.Module:
    """``model`` with every parameter drawn anew from N(0, scale²) by a generator seeded with ``seed``: the
    global random state (the learner's) is neither used nor changed.

        >>> torch.equal(randomised(nn.Linear(3, 1), seed=0).weight, randomised(nn.Linear(3, 1), seed=0).weight)
        True
    """
    init = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(scale * torch.randn(parameter.shape, generator=init))
    return model


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """Every parameter of ``model``, detached and flattened into one float64 vector, in ``parameters()`` order.

    >>> flat_parameters(nn.Linear(3, 2)).shape  # 6 weights and 2 biases
    torch.Size([8])
    """
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()


def fixed_values(shape: torch.Size, offset: float) -> torch.Tensor:
    """Values that depend only on the shape, so any way of building the same layers gets the same numbers.

    >>> torch.equal(fixed_values(torch.Size([2, 3]), 0.0), fixed_values(torch.Size([2, 3]), 0.0))
    True
    """
    index = torch.arange(math.prod(shape), dtype=torch.float32).reshape(shape)
    return 0.8 * torch.sin(0.7 * index + 0.37 * shape[-1] + offset)


def unregistered_modules(model: nn.Module) -> int:
    """How many layers ``model`` keeps in plain lists, tuples or dicts, where ``parameters()`` never sees them.

    >>> model = nn.Sequential(nn.Linear(2, 2))
    >>> model.hidden = [nn.Linear(2, 2)]  # a plain list: not registered
    >>> unregistered_modules(model)
    1
    """
    registered = {id(m) for m in model.modules()}
    kept = [value for m in model.modules() for value in vars(m).values() if isinstance(value, (list, tuple, dict))]
    items = [item for value in kept for item in (value.values() if isinstance(value, dict) else value)]
    return sum(isinstance(item, nn.Module) and id(item) not in registered for item in items)


def graph_nodes(*roots: object) -> list:
    """Every node autograd recorded behind ``roots`` (grad_fns; None is skipped), each once, always in one order.

    >>> a = torch.ones(1, requires_grad=True)
    >>> sorted(type(node).__name__ for node in graph_nodes((a * a).sum().grad_fn))
    ['AccumulateGrad', 'MulBackward0', 'SumBackward0']
    """
    nodes, seen = list(roots)[::-1], {}  # a dict keeps the order nodes were found in
    while nodes:
        if (node := nodes.pop()) is not None and node not in seen:
            seen[node] = None
            nodes += [parent for parent, _ in reversed(node.next_functions)]
    return list(seen)


def leaves(args: tuple) -> list[torch.Tensor]:
    """The leaves that require grad behind the probe inputs: a model's parameters, a tensor input, or the leaves it
    was computed from."""
    tensors = [arg for arg in args if isinstance(arg, torch.Tensor) and arg.requires_grad]
    found = [p for arg in args if isinstance(arg, nn.Module) for p in arg.parameters()]
    found += [t for t in tensors if t.is_leaf]
    found += [node.variable for node in graph_nodes(*(t.grad_fn for t in tensors)) if hasattr(node, "variable")]
    return [leaf for leaf in found if leaf.requires_grad]


def nudged(args: tuple) -> tuple:
    """``args`` with every float tensor that requires grad moved by about ±1e-4, computed from it (gradients still
    reach its leaves): off the kinks (0 for relu, abs, clamp) where right formulas differ in gradient."""
    moved = []
    for arg in args:
        if isinstance(arg, torch.Tensor) and arg.requires_grad and arg.is_floating_point():
            index = torch.arange(arg.numel(), dtype=arg.dtype, device=arg.device).reshape(arg.shape)
            arg = arg + 1e-4 * (0.6 + 0.3 * torch.sin(index)) * (1 - 2 * (index % 2))  # both signs, never 0
        moved.append(arg)
    return tuple(moved)


def random_output(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether the same ``x`` gives another output the next time: a Dropout, or noise, inside forward."""
    try:
        return not torch.equal(model(x), model(x))
    except Exception:  # not a tensor, or not rows: other guards say so
        return False


def batch_dependent(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether the rows of ``x`` give other outputs in two halves than all together: forward mixes the batch."""
    try:
        whole, halves = model(x), torch.cat([model(half) for half in x.chunk(2)])
        return halves.shape != whole.shape or not torch.allclose(halves, whole, rtol=1e-4, atol=1e-6)
    except Exception:  # not a tensor, or not rows: other guards say so
        return False


class _Freed:
    def __repr__(self) -> str:
        return "a loss whose graph was freed"


FREED = _Freed()  # what a loss observer records instead of a loss that backward() can no longer run from


def freed(out: object) -> bool:
    """Whether backward() from ``out`` would fail because its graph was freed: a backward() or ``autograd.grad``
    inside the function that made it, without ``retain_graph=True``."""
    if not isinstance(out, torch.Tensor) or out.grad_fn is None:
        return False
    leaves = [node.variable for node in graph_nodes(out.grad_fn) if hasattr(node, "variable")]
    try:
        torch.autograd.grad(out.sum(), leaves, retain_graph=True, allow_unused=True)
    except RuntimeError as exc:
        return "second time" in str(exc)
    return False


def freeing(program: Callable[..., Any]) -> Callable[..., Any]:
    """``program``, then ``autograd.grad`` of its result with respect to its tensor inputs: a freed graph's example."""

    def freed_program(*args: Any) -> Any:
        out = program(*args)
        torch.autograd.grad(out, [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad])
        return out

    return freed_program


def eval_output(model: object, x: torch.Tensor) -> torch.Tensor | None:
    """A copy of ``model`` in eval mode run on a copy of ``x`` (the check's own data), cast to its first float
    parameter's dtype; None if it cannot be."""
    try:
        probe = copy.deepcopy(model).eval()
        param = next((p for p in probe.parameters() if p.is_floating_point()), None)
        with torch.no_grad():
            out = probe(x.clone() if param is None else x.to(dtype=param.dtype, device=param.device, copy=True))
        return out if type(out) is torch.Tensor else None
    except Exception:
        return None
