"""A loss that stops being finite: the cause named, and training put back on its feet.

A loss that becomes NaN or inf is blamed on the data when the batch holds NaN or inf (or no sample at all, or, the
weights finite, only targets equal to the loss's ignore_index); at a call's first step on a model not known to be
trained (the rate named in case it was) and in validation, on the first of the weights, the model's output (computed
again) and the loss itself that is not finite; else on a gradient that is not finite though the loss is (computed again
at the weights put back: a sqrt at 0), else on the learning rate. The loop puts back the weights and optimizer state of
the start of the last epoch that began finite. The loss is checked before its step, so a bad batch never reaches the
weights; nothing runs while the loss stays finite but one copy per epoch."""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn.parameter import is_lazy

from course.nested import nested_tensors
from course.weights import holds_inf, weights_diverged


def _count(value: object) -> str | None:  # a tensor, or tuples, lists or dicts of them, nested (inputs, outputs)
    floats = [t for t in nested_tensors(value) if t.is_floating_point()]
    bad = sum(int((~torch.isfinite(t)).sum()) for t in floats)
    return f"{bad} of {sum(t.numel() for t in floats)} values are NaN or inf" if bad else None


def bad_values(x: object, y: object) -> str | None:
    """Say which of a batch's tensors hold NaN or inf, and how many; None if both are finite.
    Example:
        >>> bad_values(torch.tensor([[1.0], [float("nan")]]), torch.ones(2, 1))
        'in the features x, 1 of 2 values are NaN or inf'
    """
    found = [f"in the {name}, {count}" for name, t in (("features x", x), ("targets y", y)) if (count := _count(t))]
    return "; ".join(found) or None


def empty_batch(number: int | None, x: object) -> ValueError | None:
    """The error for a batch of 0 samples (whose mean loss is NaN), or None if ``x`` holds samples.
    Example:
        >>> print(empty_batch(3, torch.ones(0, 2)))  # doctest: +ELLIPSIS
        batch 3 is empty (0 samples), so its mean loss is NaN...
    """
    if not isinstance(x, torch.Tensor) or x.ndim == 0 or len(x):
        return None
    return ValueError(
        f"{'the batch' if number is None else f'batch {number}'} is empty (0 samples), so its mean loss is NaN. Check "
        "the loader: every batch should hold at least one sample (is a Dataset's __len__ larger than its data, or a hand-made list of batches empty?)."
    )


_FIRST_STEP = (
    " This was the first step of this call: if the model is fresh, it came before any update, so the learning rate is "
    "not the cause; if the model was trained before (by hand, or with an optimizer since rebuilt), its weights may have "
    "grown too large: then the rate is the likely cause (divide it by 10, and rebuild the model and the optimizer)."
)
_NEVER_FINITE = "The batch is finite: the weights were NaN or inf before this training began."
_CLEAN = "Clean the data before training (find the rows with ~torch.isfinite(x).all(dim=1)); a lower learning rate will not help."
_LOSS_ITSELF = (
    "an error of 1e20 squared overflows (1e40 is beyond float32's largest value, about 3.4e38), and a mean over "
    "no sample is NaN (every target equal to ignore_index). Check the targets and the loss (KLDivLoss takes "
    "(log-probabilities, target probabilities) in that order; a log of 0 is -inf)."
)


def _cuda_devices(model: nn.Module) -> list[int]:
    """The CUDA devices the model's parameters are on: their generators, with the CPU's, are put back after a rerun."""
    return sorted({p.device.index or 0 for p in model.parameters() if p.is_cuda})


@contextlib.contextmanager
def untouched(model: nn.Module) -> Iterator[None]:
    """Run the block, then put back the model's buffers (BatchNorm's statistics) and every random state: torch's
    (Dropout's), NumPy's and Python's (a dataset's random augmentation draws from any of them)."""
    saved = {name: b.detach().clone() for name, b in model.named_buffers()}
    states = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=_cuda_devices(model)):
            yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                if name in saved and buffer.shape == saved[name].shape:
                    buffer.copy_(saved[name])


def _output(model: nn.Module, x: object) -> object:
    """The model's output on ``x`` again, without a graph and :func:`untouched` (None if it fails)."""
    try:
        with untouched(model), torch.no_grad():
            return model(x)
    except Exception:  # an output that cannot be computed again is not named
        return None


def gradient_cause(model: nn.Module, loss_fn: Callable | None, x: object, y: object) -> str | None:
    """Why finite weights and batches still gave NaN weights: the loss on ``x`` is finite but its gradient is not.

    None if the gradient is finite (or cannot be computed again). Example:
        >>> model = nn.Linear(1, 1, bias=False)
        >>> _ = nn.init.zeros_(model.weight)
        >>> rmse = lambda pred, y: torch.sqrt(((pred - y) ** 2).mean())
        >>> print(gradient_cause(model, rmse, torch.ones(2, 1), torch.zeros(2, 1)))  # doctest: +ELLIPSIS
        The batch and the weights put back are finite, and the loss is finite (0 on this batch) but its gradient is not...
    """
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        with untouched(model), torch.enable_grad():
            loss = loss_fn(model(x), y)
            grads = torch.autograd.grad(loss, params, allow_unused=True) if torch.isfinite(loss).all() else ()
    except Exception:  # a gradient that cannot be computed again is not named
        return None
    bad = sum(1 for g in grads if g is not None and not bool(torch.isfinite(g).all()))
    if not bad:
        return None
    return (
        f"The batch and the weights put back are finite, and the loss is finite ({loss.item():.4g} on this batch) but "
        f"its gradient is not (NaN or inf in {bad} of {len(params)} parameters' gradients): one step with it makes the "
        "weights NaN whatever the learning rate, so a lower one will not help. The model's forward or the loss has a "
        "point where its slope is infinite or undefined: torch.sqrt at 0 (an RMSE on a perfect fit, a distance "
        "between equal points), x ** 0.5 or a log at 0. Keep its argument away from there, e.g. torch.sqrt(s + "
        "1e-8), wherever it is computed (for an RMSE: train on the MSE and report its square root)."
    )


def finite_batch_cause(model: nn.Module, x: object) -> str:
    """Why a finite batch gave a NaN or inf loss: the weights, else the model's output (recomputed), else the loss itself
    (a mask's inf, which a frozen parameter or a buffer may hold, named with the weights). Example:
        >>> model = nn.Linear(1, 1)
        >>> with torch.no_grad():
        ...     _ = model.weight.fill_(1e20)
        >>> print(finite_batch_cause(model, torch.ones(2, 1)))  # doctest: +ELLIPSIS
        The batch, the weights and the model's output are finite, so the loss itself is the cause: an error of 1e20 squared overflows ...
    """
    if weights_diverged(model):
        return (
            "The batch is finite, but the model's weights are NaN or inf, as after a training step that diverged (a "
            "learning rate too high, or a gradient NaN where the loss has an infinite slope, as torch.sqrt at 0): "
            "retrain from a fresh model, or load a checkpoint; fit and train_epoch name the cause as it happens."
        )
    out, masked = _output(model, x), holds_inf(model)  # the weights not diverged: an inf is a mask's
    weights = "the weights (but for a mask's inf)" if masked else "the weights"
    if bad := _count(out):
        return (
            f"The batch and {weights} are finite, but the model's output is not ({bad}): a value overflowed inside the "
            f"model{', or a row of the mask all -inf made a softmax NaN' * masked}. Are some weights huge? "
            "(max(p.abs().max() for p in model.parameters()))"
        )
    if not (isinstance(out, torch.Tensor) and out.is_floating_point()):  # an output we cannot read: both named
        return f"The batch and {weights} are finite, so the model's output or the loss itself is not: " + _LOSS_ITSELF
    return f"The batch, {weights} and the model's output are finite, so the loss itself is the cause: " + _LOSS_ITSELF


def state_copy(value: object) -> object:
    """A copy of one entry of a ``state_dict``: a tensor cloned (a lazy one, with no values, kept), else deep-copied.

    Example:
        >>> state_copy({"version": 2})
        {'version': 2}
    """
    return value if is_lazy(value) else value.detach().clone() if torch.is_tensor(value) else copy.deepcopy(value)


class LastFinite:
    """The weights and optimizer state at the start of the last epoch that began finite, put back if training diverges.

    Taken once per epoch (a copy per step would slow every step down); the non-finite loss itself
    is caught before its step. The loop counts the ``updates`` of the epoch under way, undone if
    ``restored``: a run stopped in the middle can say what the model holds; ``trained``: updated before this call.

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

    def __init__(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable | None = None, trained: bool = False
    ) -> None:
        self.model, self.optimizer, self.loss_fn, self.trained = model, optimizer, loss_fn, trained
        self.saved: tuple[dict, dict] | None = None
        self.epoch: int | None = None
        self.passes = 0  # epochs begun: at step 1 of the first, this call has made no update yet
        self.updates, self.restored, self.lazy = 0, False, False

    def remember(self, epoch: int | None) -> None:  # nothing to keep while a lazy layer has no weights yet
        self.passes, self.updates = self.passes + 1, 0
        self.lazy = any(map(is_lazy, self.model.parameters()))
        if not self.lazy and not weights_diverged(self.model):  # a frozen mask may hold inf
            weights = {key: state_copy(value) for key, value in self.model.state_dict().items()}
            self.saved, self.epoch = (weights, copy.deepcopy(self.optimizer.state_dict())), epoch

    def restore(self) -> str:
        if self.saved is None:
            began = "a lazy layer had no weights yet" if self.lazy else "the weights were already NaN or inf"
            return (
                f"When this epoch began {began}, so there was no finite state to put back: rebuild the model and "
                "the optimizer (or load a checkpoint)."
            )
        self.model.load_state_dict(self.saved[0])
        self.optimizer.load_state_dict(copy.deepcopy(self.saved[1]))
        self.restored = True
        when = f"epoch {self.epoch + 1}" if self.epoch is not None else "this epoch"
        return f"The model and optimizer were put back to their finite state at the start of {when}."

    def diverged(
        self, value: float, epoch: int | None, step: int, x: object, y: object, ignored: str | None = None
    ) -> Exception:  # ignored: why the loss is NaN, if every target is the loss's ignore_index
        if (empty := empty_batch(step, x)) is not None:
            return empty
        where = f"epoch {epoch + 1}, step {step}" if epoch is not None else f"step {step}"
        bad, restored = bad_values(x, y), self.restore()  # put back first: the gradient is computed again there
        if bad:
            cause = f"The batch itself is at fault: {bad}. {_CLEAN}"
        elif self.saved is None and not self.lazy:
            cause = _NEVER_FINITE
        elif ignored:  # and the weights put back are finite
            cause = ignored
        elif step == 1 and self.passes == 1 and not self.trained:
            cause = finite_batch_cause(self.model, x) + _FIRST_STEP
        else:
            cause = gradient_cause(self.model, self.loss_fn, x, y) or (
                "The batch is finite, so training diverged: lower the learning rate (e.g. divide it by 10), "
                "or standardise the features."
            )
        return FloatingPointError(
            f"the training loss became {value} at {where} (counting from 1); training stopped. {restored} {cause}"
        )


def nonfinite_step(
    value: float, model: nn.Module, x: object, y: object, first: bool = False, ignored: str | None = None
) -> Exception:
    """The error for a training step whose loss is NaN or inf (checked before the step, so the weights did not change).

    ``first``: no step of this step function has updated the weights, and no earlier update is known: the learning
    rate is not the cause if the model is fresh, the likely one if it was trained by other means. ``ignored``: why, if
    every target of the batch is the loss's ignore_index. Example:
        >>> print(nonfinite_step(float("nan"), nn.Linear(1, 1), torch.tensor([[float("nan")]]), torch.ones(1, 1)))
        the training loss is nan; the step was skipped, so the weights did not change. The batch itself is at fault: in the features x, 1 of 1 values are NaN or inf. Clean the data before training (find the rows with ~torch.isfinite(x).all(dim=1)); a lower learning rate will not help.
    """
    if bad := bad_values(x, y):
        cause = f"The batch itself is at fault: {bad}. {_CLEAN}"
    elif ignored and not weights_diverged(model):
        cause = ignored
    elif weights_diverged(model) and first:
        cause = (
            "The batch is finite: the weights were NaN or inf before this step function's first step, so an earlier "
            "training of this model diverged (a learning rate too high, then?) or they were set so. Rebuild the model "
            "and the optimizer, running their cells again (or load a checkpoint)."
        )
    elif weights_diverged(model):
        cause = (
            "The batch is finite, but the model's weights are NaN or inf: an earlier step diverged. Either the "
            "learning rate is too high (divide it by 10), or that step's gradient was NaN or inf although its loss "
            "was finite (torch.sqrt or a log at 0 in the loss; keep it away from 0, e.g. torch.sqrt(mse + 1e-8): a "
            "lower rate will not help). Then rebuild the model and the optimizer (or load a checkpoint)."
        )
    elif first:
        cause = finite_batch_cause(model, x) + _FIRST_STEP
    else:
        cause = "The batch and the weights are finite, so the loss overflowed: lower the learning rate, or standardise the features."
    return FloatingPointError(
        f"the training loss is {value}; the step was skipped, so the weights did not change. {cause}"
    )


def nonfinite_validation(
    value: float, batch: int | None, model: nn.Module, x: object, y: object, ignored: str | None = None
) -> Exception:
    """The error for a validation loss that is NaN or inf: the data, the weights, the model's output or the loss itself.
    Example:
        >>> print(nonfinite_validation(float("nan"), 2, nn.Linear(1, 1), torch.tensor([float("inf")]), torch.ones(1)))
        the validation loss of batch 2 (counting from 1) is nan. The data is at fault: in the features x, 1 of 1 values are NaN or inf. Clean it (find the rows with ~torch.isfinite(x).all(dim=1)).
    """
    if (empty := empty_batch(batch, x)) is not None:
        return empty
    bad = bad_values(x, y)
    cause = (
        f"The data is at fault: {bad}. Clean it (find the rows with ~torch.isfinite(x).all(dim=1))."
        if bad
        else (not weights_diverged(model) and ignored) or finite_batch_cause(model, x)
    )
    which = "this batch" if batch is None else f"batch {batch} (counting from 1)"
    return FloatingPointError(f"the validation loss of {which} is {value}. {cause}")
