"""The one rule for weights that are not finite, shared by training, its divergence handling and checkpoints.

NaN is divergence anywhere; inf only in the parameters training updates (:func:`trained_weights`): a frozen parameter
or a buffer may hold inf on purpose, as a mask (``-inf`` where attention must not look). :func:`weights_diverged`
applies it to a model, :func:`nan_or_inf` to one tensor; :func:`holds_inf` tells a model holding a mask.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.parameter import is_lazy


def _module(model: object, call: str) -> nn.Module:
    """``model`` if it is a ``torch.nn.Module``; a clear ``TypeError`` naming ``call`` otherwise."""
    if not isinstance(model, nn.Module):
        what = f"the class {model.__name__}" if isinstance(model, type) else type(model).__name__
        raise TypeError(f"{call}'s model should be a torch.nn.Module, got {what}. Build the model first, e.g. "
                        "nn.Linear(2, 1).")  # fmt: skip
    return model


def trained_weights(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The parameters training updates (requires_grad), under each of their names: the weights that must stay finite,
    the rule training and checkpoints share. NaN is divergence anywhere, inf only in these: a frozen parameter or a
    buffer may hold inf on purpose, as a mask (a step, which sees the gradients, also lets a trained one keep an inf
    its gradient never moves; a checkpoint, which sees none, asks to freeze such a mask). Example:
        >>> model = nn.Linear(2, 1)
        >>> _ = model.bias.requires_grad_(False)
        >>> [name for name, _ in trained_weights(model)]
        ['weight']
    """
    model = _module(model, "trained_weights")
    return [(name, p) for name, p in model.named_parameters(remove_duplicate=False) if p.requires_grad]


def nan_or_inf(tensor: torch.Tensor, inf_too: bool = True) -> bool:
    """Whether ``tensor`` holds NaN (or, with ``inf_too``, inf); never for integers or a quantized tensor. Example:
    >>> nan_or_inf(torch.tensor([0.0, float("-inf")]), inf_too=False)
    False
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"nan_or_inf expects a torch.Tensor, got {type(tensor).__name__}: torch.as_tensor(values).")
    if not (tensor.is_floating_point() or tensor.is_complex()) or tensor.is_quantized:
        return False
    if tensor.is_meta:
        raise ValueError("nan_or_inf got a tensor on the meta device: it has a shape but no values to test.")
    tensor = tensor.to_dense() if tensor.layout != torch.strided else tensor
    tensor = tensor.float() if tensor.element_size() == 1 else tensor  # float8 has no isnan of its own
    return bool(torch.isnan(tensor).any() or (inf_too and torch.isinf(tensor).any()))


def weights_diverged(model: nn.Module) -> bool:
    """Whether the model's parameters or buffers hold NaN, or inf where training allows none (:func:`trained_weights`);
    a lazy layer's weights, not made yet, hold no value to test. Example:
        >>> model = nn.Linear(2, 1)
        >>> mask = model.bias.requires_grad_(False)
        >>> _ = mask.fill_(float("-inf"))
        >>> weights_diverged(model), weights_diverged(model.requires_grad_(True))
        (False, True)
    """
    trained = {id(p) for _, p in trained_weights(_module(model, "weights_diverged"))}
    tensors = (*model.parameters(), *model.buffers())
    return any(nan_or_inf(t, id(t) in trained) for t in tensors if not is_lazy(t))


def holds_inf(model: nn.Module) -> bool:
    """Whether the model's parameters or buffers hold NaN or inf: of a model not :func:`weights_diverged`, a mask's
    inf. Example:
        >>> model = nn.Linear(2, 1).requires_grad_(False)
        >>> _ = model.bias.fill_(float("-inf"))
        >>> weights_diverged(model), holds_inf(model)
        (False, True)
    """
    model = _module(model, "holds_inf")
    return any(nan_or_inf(t) for t in (*model.parameters(), *model.buffers()) if not is_lazy(t))
