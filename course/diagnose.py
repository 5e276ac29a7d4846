"""Explain a mini-batch that fails: the step's inputs, the forward pass and the loss.

Torch's own errors deep inside a model (``mat1 and mat2 shapes cannot be multiplied``) become
errors that say which tensor, which shape, dtype or device, and the fix; the loss itself is checked
by :mod:`course.loss_checks` and :mod:`course.loss_values`, a loss that stops being finite by
:mod:`course.divergence`. Nothing here costs more than one shape comparison per mini-batch while
all goes well.
"""

from __future__ import annotations

import torch
from torch import nn

from course.device import is_device_mismatch
from course.divergence import empty_batch
from course.loaders import on_meta
from course.loss_checks import loss_of
from course.loss_values import check_values


def check_tensors(x: object, y: object) -> None:
    """Raise a clear error unless the features ``x`` and targets ``y`` are tensors with values and samples.

    A step's batch must be tensors (``TypeError``), not on the meta device and not empty (a
    ``ValueError``: an empty batch's mean loss is NaN). Only attributes are read: no device sync.

    Example:
        >>> check_tensors([1.0], torch.ones(1))
        Traceback (most recent call last):
        TypeError: x should be a torch.Tensor, got list. Convert it once with torch.as_tensor(x, dtype=torch.float32).
    """
    for name, value in (("x", x), ("y", y)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"{name} should be a torch.Tensor, got {type(value).__name__}. "
                f"Convert it once with torch.as_tensor({name}, dtype=torch.float32)."
            )
        if value.is_meta:
            raise on_meta(name)
    if (empty := empty_batch(None, x)) is not None:
        raise empty


def forward_loss(model: nn.Module, loss_fn: object, x: torch.Tensor, y: object, values: bool = False) -> torch.Tensor:
    """The model's loss on one batch, checked (:func:`course.loss_checks.loss_of`); a batch of one sample explained.

    The targets are checked against the loss's range (:func:`course.loss_values.check_values`); with
    ``values``, the predictions too (a logsumexp: the trainer asks once per pass).

    Example:
        >>> forward_loss(nn.Linear(1, 1, bias=False).requires_grad_(False), nn.MSELoss(), torch.zeros(2, 1), torch.ones(2, 1))
        tensor(1.)
    """
    try:
        pred = model(x)
    except ValueError as exc:
        if "Expected more than 1 value per channel when training" not in str(exc):
            raise
        raise ValueError(
            f"a batch of {len(x)} sample reached a BatchNorm layer in training mode, which needs at least 2 to compute "
            "a mean and a variance. Drop the last, incomplete batch with DataLoader(..., drop_last=True), or choose "
            "a batch size that divides the number of samples."
        ) from None
    loss = loss_of(pred, loss_fn, y, model)
    check_values(pred, y, loss_fn, first=values)  # after the loss, so that wrong shapes are named first
    return loss


def _first_linear(model: nn.Module) -> nn.Linear | None:
    return next((m for m in model.modules() if isinstance(m, nn.Linear) and m.in_features > 0), None)


def _dtype_error(model: nn.Module, x: torch.Tensor, y: object) -> TypeError | None:
    dtype = next((p.dtype for p in model.parameters()), None)
    if dtype is not None and x.dtype != dtype:
        model_fix = ", or the model with model.to(x.dtype)" if x.is_floating_point() else ""
        return TypeError(
            f"the features x are {x.dtype} but the model's parameters are {dtype}; they must match. Convert the data "
            f"once, x = x.to({dtype}) (NumPy arrays are float64 by default: torch.as_tensor(array, dtype={dtype})"
            f"){model_fix}."
        )
    if dtype is not None and isinstance(y, torch.Tensor) and y.is_floating_point() and y.dtype != dtype:
        return TypeError(
            f"the targets y are {y.dtype} but the model's parameters are {dtype}; the loss needs them to match. "
            f"Convert the targets once, y = y.to({dtype})."
        )
    return None


def _width_error(model: nn.Module, x: torch.Tensor) -> ValueError | None:
    first = _first_linear(model)
    if first is None or (x.ndim and x.shape[-1] == first.in_features):
        return None
    if x.ndim == 0:
        return ValueError(
            f"x is a single number (shape ()), but the model takes a batch of samples, each of {first.in_features} "
            "feature(s): give it a batch shape, x = x.view(1, -1)."
        )
    if x.ndim == 1 and first.in_features == 1:
        return ValueError(
            f"the features x have shape {tuple(x.shape)}, but the model's first layer expects one feature per sample "
            "in a column, shape (N, 1): x = x.view(-1, 1) (or x.unsqueeze(1))."
        )
    return ValueError(
        f"the features x have shape {tuple(x.shape)}, {x.shape[-1]} per sample, but the model's first layer, "
        f"Linear(in_features={first.in_features}, out_features={first.out_features}), expects {first.in_features}. "
        f"Build the first layer as nn.Linear({x.shape[-1]}, ...), or pass the feature columns the model was built for."
    )


def explain(error: RuntimeError, model: nn.Module, x: torch.Tensor, y: object) -> BaseException:
    """The error to raise for a batch on which the model or the loss failed: a clearer one when we know the cause.

    Recognises tensors on different devices (by PyTorch's exact message), data of the wrong dtype
    and features whose width does not match the first layer; anything else comes back unchanged.

    Example:
        >>> model = nn.Linear(3, 1)
        >>> x = torch.ones(2, 4)
        >>> try:
        ...     model(x)
        ... except RuntimeError as error:
        ...     print(explain(error, model, x, None))
        the features x have shape (2, 4), 4 per sample, but the model's first layer, Linear(in_features=3, ...
    """
    text = str(error)
    if is_device_mismatch(error):
        return _device_error(model, x, y, text)
    found: BaseException | None = None
    if "dtype" in text or "scalar type" in text:
        found = _dtype_error(model, x, y)
    elif "shapes cannot be multiplied" in text or "need to be at least 1D" in text:
        found = _width_error(model, x)
    elif "does not require grad and does not have a grad_fn" in text:
        found = ValueError(
            "the loss is not connected to the model's parameters (it has no grad_fn), so backward() cannot compute "
            "gradients. Compute the loss from the predictions with torch operations only: no .item(), .detach(), "
            ".numpy() or torch.tensor(...) on the way."
        )
    return found or error


def _device_error(model: nn.Module, x: torch.Tensor, y: object, text: str) -> RuntimeError:
    devices = {p.device for p in model.parameters()} | {b.device for b in model.buffers()}
    device = next(iter(devices)) if len(devices) == 1 else None
    for name, tensor in (("x", x), ("y", y)):
        if device is not None and isinstance(tensor, torch.Tensor) and tensor.device != device:
            return RuntimeError(
                f"tensors on different devices: {name} is on {tensor.device} but the model on {device}. Move the "
                f"batch to the model's device first, x, y = x.to(device), y.to(device) (with device = torch.device('{device}'), "
                f"or next(model.parameters()).device). torch said: {text}"
            )
    where = f"on the model's device ({device})" if device is not None else f"on {x.device}"
    return RuntimeError(
        f"tensors on different devices met in the model or the loss: the batch is {where}, but something else is "
        f"elsewhere. torch said: {text} Create tensors inside forward() with device=x.device, and move the loss "
        "function's tensors (e.g. class weights) and the model together with .to(device)."
    )
