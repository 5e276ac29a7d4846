"""Explain a mini-batch that fails, and put training back on its feet when the loss stops being finite.

Torch's own errors deep inside a model (``mat1 and mat2 shapes cannot be multiplied``) become
errors that say which tensor, which shape or dtype, and the fix; the loss itself is checked by
:mod:`course.loss_checks`. A loss that becomes NaN or inf is blamed on the data when the batch
holds NaN or inf (or nothing), and the last finite weights are put back. Nothing here costs more
than one shape comparison per mini-batch while all goes well.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from course.device import is_device_mismatch
from course.loss_checks import loss_of


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


def batch_to(batch: object, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Unpack a ``(features, targets)`` batch and move both to ``device``; a clear error if it is not one.

    Example:
        >>> x, y = batch_to([torch.ones(2, 1), torch.zeros(2)], torch.device("cpu"))
        >>> x.shape, y.shape
        (torch.Size([2, 1]), torch.Size([2]))
    """
    try:
        if isinstance(batch, torch.Tensor):
            raise TypeError
        x, y = batch
        return x.to(device), y.to(device)
    except (TypeError, ValueError, AttributeError):
        raise not_a_pair(batch) from None


def check_tensors(x: object, y: object) -> None:
    """Raise a ``TypeError`` naming the fix unless the features ``x`` and targets ``y`` are tensors.

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


def forward_loss(model: nn.Module, loss_fn: object, x: torch.Tensor, y: object) -> torch.Tensor:
    """The model's loss on one batch, checked (:func:`course.loss_checks.loss_of`); a batch of one sample explained.

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
    return loss_of(pred, loss_fn, y)


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
    elif "shapes cannot be multiplied" in text or "need to be at least 1D" in text:
        found = _width_error(model, x)
    elif "does not require grad and does not have a grad_fn" in text:
        found = ValueError(
            "the loss is not connected to the model's parameters (it has no grad_fn), so backward() cannot compute "
            "gradients. Compute the loss from the predictions with torch operations only: no .item(), .detach(), "
            ".numpy() or torch.tensor(...) on the way."
        )
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


def empty_batch(number: int, x: object) -> ValueError | None:
    """The error for a batch of 0 samples (whose mean loss is NaN), or None if ``x`` holds samples.

    Example:
        >>> print(empty_batch(3, torch.ones(0, 2)))  # doctest: +ELLIPSIS
        batch 3 is empty (0 samples), so its mean loss is NaN...
    """
    if not isinstance(x, torch.Tensor) or x.ndim == 0 or len(x):
        return None
    return ValueError(
        f"batch {number} is empty (0 samples), so its mean loss is NaN. Check the loader: every batch should hold "
        "at least one sample (is a Dataset's __len__ larger than its data, or a hand-made list of batches empty?)."
    )


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

    def diverged(self, value: float, epoch: int | None, step: int, x: object, y: object) -> Exception:
        if (empty := empty_batch(step, x)) is not None:
            return empty
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


def nonfinite_validation(value: float, batch: int, x: object, y: object) -> Exception:
    """The error for a validation loss that is NaN or inf: blames the data when the batch holds NaN or inf.

    Example:
        >>> print(nonfinite_validation(float("nan"), 2, torch.tensor([float("inf")]), torch.ones(1)))
        the validation loss of batch 2 (counting from 1) is nan. The data is at fault: in the features x, 1 of 1 values are NaN or inf. Clean it (find the rows with ~torch.isfinite(x).all(dim=1)).
    """
    if (empty := empty_batch(batch, x)) is not None:
        return empty
    bad = bad_values(x, y)
    cause = (
        f"The data is at fault: {bad}. Clean it (find the rows with ~torch.isfinite(x).all(dim=1))."
        if bad
        else "The data is finite, so the model's output is not: are its weights finite? "
        "(all(torch.isfinite(p).all() for p in model.parameters()))"
    )
    return FloatingPointError(f"the validation loss of batch {batch} (counting from 1) is {value}. {cause}")
