"""Explain a mini-batch that fails, and put training back on its feet when the loss stops being finite.

Torch's own errors deep inside a model (``mat1 and mat2 shapes cannot be multiplied``) become
errors that say which tensor, which shape or dtype, and the fix. A loss that silently broadcasts
predictions against targets is refused. A loss that becomes NaN or inf is blamed on the data when
the batch holds NaN or inf, and the last finite weights are put back. Nothing here costs more
than one shape comparison per mini-batch while all goes well.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from course.device import is_device_mismatch


def check_scalar(loss: object) -> torch.Tensor:
    """Return ``loss`` if it is a scalar tensor (what ``backward()`` needs); else a ``ValueError`` naming the fix.

    Example:
        >>> check_scalar(torch.ones(3))
        Traceback (most recent call last):
        ValueError: the loss must be a scalar tensor, got (3,). Use a loss with reduction='mean' or 'sum', ...
    """
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(
            f"the loss must be a scalar tensor, got {shape}. Use a loss with reduction='mean' or 'sum', "
            "or reduce it yourself with .mean()."
        )
    return loss


def check_pair(pred: object, target: object) -> None:
    """Raise a ``ValueError`` if the loss would broadcast predictions and targets to a bigger shape.

    Predictions of shape (N, 1) against targets of shape (N,) broadcast to (N, N): every
    prediction is compared with every target, and the loss is silently wrong.

    Example:
        >>> check_pair(torch.zeros(4, 1), torch.zeros(4))
        Traceback (most recent call last):
        ValueError: the predictions have shape (4, 1) but the targets (4,): ... y = y.view(-1, 1), or make the model's ...
    """
    if type(pred) is not torch.Tensor or type(target) is not torch.Tensor or pred.shape == target.shape:
        return
    try:
        both = torch.broadcast_shapes(pred.shape, target.shape)
    except RuntimeError:
        return  # shapes that do not broadcast: the loss says so itself (or, like CrossEntropyLoss, expects them)
    if both != pred.shape:
        p, t = tuple(pred.shape), tuple(target.shape)
        view = ", ".join(["-1", *map(str, p[1:])])
        raise ValueError(
            f"the predictions have shape {p} but the targets {t}: the loss would broadcast them to {tuple(both)} "
            "and compare every prediction with every target, silently giving a wrong loss. Give the targets the "
            f"predictions' shape, y = y.view({view}), or make the model's output match the targets."
        )


def _describe(batch: object) -> str:
    if isinstance(batch, torch.Tensor):
        return f"a single tensor of shape {tuple(batch.shape)}"
    if isinstance(batch, Mapping):
        return f"a {type(batch).__name__} with keys {sorted(map(str, batch))}"
    if isinstance(batch, (list, tuple)):
        return f"a {type(batch).__name__} of {len(batch)} item(s): {', '.join(type(b).__name__ for b in batch)}"
    return f"a {type(batch).__name__}"


def not_a_pair(batch: object) -> TypeError:
    """The error for a loader that yields something other than ``(features, targets)`` pairs, saying what it was.

    Example:
        >>> print(not_a_pair(torch.ones(2, 3)))  # doctest: +ELLIPSIS
        the loader should yield (features, targets) pairs of tensors, ...; it yielded a single tensor of shape (2, 3)...
    """
    return TypeError(
        "the loader should yield (features, targets) pairs of tensors, as DataLoader(TensorDataset(x, y)) "
        f"does; it yielded {_describe(batch)}. Make your Dataset's __getitem__ return (x, y), "
        "or build the loader from TensorDataset(features, targets)."
    )


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
    if first is None or x.ndim == 0 or x.shape[-1] == first.in_features:
        return None
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
        device = x.device
        return RuntimeError(
            f"tensors on different devices met in the model or the loss: the batch was moved to the model's device ({device}), "
            f"but something else is elsewhere. torch said: {text} Create tensors inside forward() with "
            "device=x.device, and move the loss function's tensors (e.g. class weights) and the model together "
            "with .to(device)."
        )
    found: BaseException | None = None
    if "dtype" in text or "scalar type" in text:
        found = _dtype_error(model, x, y)
    elif "shapes cannot be multiplied" in text:
        found = _width_error(model, x)
    return found or error


def _count(tensor: object) -> str | None:
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        return None
    bad = (~torch.isfinite(tensor)).sum().item()
    return f"{bad} of {tensor.numel()} values are NaN or inf" if bad else None


def bad_values(x: object, y: object) -> str | None:
    """Say which of a batch's tensors hold NaN or inf, and how many; None if both are finite.

    Example:
        >>> bad_values(torch.tensor([[1.0], [float("nan")]]), torch.ones(2, 1))
        'in the features x, 1 of 2 values are NaN or inf'
    """
    found = [f"in the {name}, {count}" for name, t in (("features x", x), ("targets y", y)) if (count := _count(t))]
    return "; ".join(found) or None


def _finite(tensors: Iterable[object]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point())


class LastFinite:
    """The weights and optimizer state at the start of the last epoch that began finite, put back if training diverges.

    Taken once per epoch (a copy per step would slow every step down); the non-finite loss itself
    is caught before its step.

    Example:
        >>> model = nn.Linear(1, 1)
        >>> keeper = LastFinite(model, torch.optim.SGD(model.parameters(), lr=0.1))
        >>> keeper.remember(epoch=0)
        >>> with torch.no_grad():
        ...     _ = model.weight.fill_(float("inf"))
        >>> print(keeper.diverged(float("nan"), 0, 3, torch.ones(2, 1), torch.ones(2, 1)))  # doctest: +ELLIPSIS
        the training loss became nan at epoch 1, step 3 (counting from 1); training stopped. The model and ...
        >>> bool(torch.isfinite(model.weight).all())
        True
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model, self.optimizer = model, optimizer
        self.saved: tuple[dict, dict] | None = None
        self.epoch: int | None = None

    def remember(self, epoch: int | None) -> None:
        if _finite(self.model.parameters()):
            weights = {key: value.detach().clone() for key, value in self.model.state_dict().items()}
            self.saved, self.epoch = (weights, copy.deepcopy(self.optimizer.state_dict())), epoch

    def _restore(self) -> str:
        if self.saved is None:
            return (
                "The weights were already NaN or inf when this epoch began, so there was no finite state to put "
                "back: rebuild the model and the optimizer (or load a checkpoint)."
            )
        self.model.load_state_dict(self.saved[0])
        self.optimizer.load_state_dict(copy.deepcopy(self.saved[1]))
        when = f"epoch {self.epoch + 1}" if self.epoch is not None else "this epoch"
        return f"The model and optimizer were put back to their finite state at the start of {when}."

    def diverged(self, value: float, epoch: int | None, step: int, x: object, y: object) -> FloatingPointError:
        where = f"epoch {epoch + 1}, step {step}" if epoch is not None else f"step {step}"
        bad = bad_values(x, y)
        if bad:
            cause = (
                f"The batch itself is at fault: {bad}. Clean the data before training (find the rows with "
                "~torch.isfinite(x).all(dim=1)); a lower learning rate will not help."
            )
        elif self.saved is None:
            cause = "The batch is finite: the weights were NaN or inf before this training began."
        else:
            cause = (
                "The batch is finite, so training diverged: lower the learning rate (e.g. divide it by 10), "
                "or standardise the features."
            )
        return FloatingPointError(
            f"the training loss became {value} at {where} (counting from 1); training stopped. "
            f"{self._restore()} {cause}"
        )


def nonfinite_validation(value: float, batch: int, x: object, y: object) -> FloatingPointError:
    """The error for a validation loss that is NaN or inf: blames the data when the batch holds NaN or inf.

    Example:
        >>> print(nonfinite_validation(float("nan"), 2, torch.tensor([float("inf")]), torch.ones(1)))
        the validation loss of batch 2 (counting from 1) is nan. The data is at fault: in the features x, 1 of 1 values are NaN or inf. Clean it (find the rows with ~torch.isfinite(x).all(dim=1)).
    """
    bad = bad_values(x, y)
    cause = (
        f"The data is at fault: {bad}. Clean it (find the rows with ~torch.isfinite(x).all(dim=1))."
        if bad
        else "The data is finite, so the model's output is not: are its weights finite? "
        "(all(torch.isfinite(p).all() for p in model.parameters()))"
    )
    return FloatingPointError(f"the validation loss of batch {batch} (counting from 1) is {value}. {cause}")
