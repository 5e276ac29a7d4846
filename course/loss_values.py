"""Values a loss takes without an error but silently misreads: labels outside [0, 1], raw scores for NLLLoss.

``nn.BCEWithLogitsLoss`` trains on labels {1, 2} or {-1, 1} without a word, and ``nn.NLLLoss`` on
raw scores drives its loss towards minus infinity. Shapes are :mod:`course.loss_checks`'s concern.
The targets' range is checked on every batch (a comparison of the targets, small next to a forward
pass); the log-probabilities once per pass, on its first batch (a logsumexp over the predictions).
A loss that is not connected to the parameters the optimizer trains (rebuilt from a number) trains nothing
without a word: :class:`StepWatch` tells, after backward and the step.
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import nn
from torch.nn import functional
from torch.nn.parameter import is_lazy


def _is(loss_fn: object, modules: tuple[type, ...], functions: set) -> bool:
    while isinstance(loss_fn, functools.partial):  # functools.partial(F.nll_loss, ...); a lambda cannot be told
        loss_fn = loss_fn.func
    try:
        return isinstance(loss_fn, modules) or loss_fn in functions
    except TypeError:  # an unhashable callable
        return False


def _name(loss_fn: object) -> str:
    return type(loss_fn).__name__ if isinstance(loss_fn, nn.Module) else getattr(loss_fn, "__name__", "this loss")


def _out_of_range(target: torch.Tensor, loss_fn: object, what: str) -> ValueError:
    values = target.detach().unique()
    low, high = (f"{v:g}" for v in (values.min().item(), values.max().item()))
    if values.numel() == 1:
        fix = f"they are all {low}: check how the labels were made"
    elif values.numel() == 2:
        fix = f"they hold the values {{{low}, {high}}}: map {{{low}, {high}}} to {{0, 1}}, y = (y == {high}).float()"
    else:
        fix = f"they range from {low} to {high}: scale them into [0, 1], e.g. y = (y - {low}) / ({high} - {low})"
    return ValueError(f"{_name(loss_fn)} expects targets between 0 and 1 ({what}), but {fix}.")


def check_values(pred: object, target: object, loss_fn: object, first: bool = True) -> None:
    """Refuse values a loss takes without an error but silently misreads (a ``ValueError`` naming the fix).

    Binary cross-entropy needs targets in [0, 1] (``BCEWithLogitsLoss`` trains on labels {1, 2}
    without a word), class probabilities too: checked on every batch. ``NLLLoss`` needs
    log-probabilities, whose exp sums to 1 over the classes (on raw scores the loss falls without
    end): checked when ``first`` (the trainer's first batch of a pass). The losses are recognised as
    modules, functions or ``functools.partial`` of them; a lambda or a function wrapping them cannot be.

    Example:
        >>> check_values(torch.zeros(2, 1), torch.tensor([[1.0], [2.0]]), nn.BCEWithLogitsLoss())
        Traceback (most recent call last):
        ValueError: BCEWithLogitsLoss expects targets between 0 and 1 (class labels 0 or 1, or probabilities), but they hold the values {1, 2}: map {1, 2} to {0, 1}, y = (y == 2).float().
    """
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor) or not target.is_floating_point():
        if first and isinstance(pred, torch.Tensor) and _is(loss_fn, (nn.NLLLoss,), {functional.nll_loss}):
            _check_log_probabilities(pred)
        return
    binary = _is(
        loss_fn,
        (nn.BCEWithLogitsLoss, nn.BCELoss),
        {functional.binary_cross_entropy_with_logits, functional.binary_cross_entropy},
    )
    soft = target.shape == pred.shape and _is(loss_fn, (nn.CrossEntropyLoss,), {functional.cross_entropy})
    if (binary or soft) and target.numel() and _outside(target.detach()):
        raise _out_of_range(
            target, loss_fn, "class labels 0 or 1, or probabilities" if binary else "class probabilities"
        )


def _outside(target: torch.Tensor) -> bool:
    if torch.equal(target, target.clamp(0, 1)):  # two cheap ops, one sync: this runs on every batch
        return False
    return bool(((target < 0) | (target > 1)).any())  # NaN differs from itself: not out of range, blamed later


def _check_log_probabilities(pred: torch.Tensor) -> None:
    if not pred.is_floating_point() or pred.numel() == 0:
        return
    classes = 1 if pred.ndim > 1 else 0
    total = pred.detach().float().logsumexp(dim=classes).abs().max().item()  # 0 for log-probabilities
    if total > max(1e-3, 16 * torch.finfo(pred.dtype).eps):  # float16 and bfloat16 round more
        raise ValueError(
            f"NLLLoss expects log-probabilities, whose exp sums to 1 over the classes (dim {classes}), but the "
            f"model's outputs are {total:.3g} away from that (logsumexp over the classes should be 0): add "
            f"nn.LogSoftmax(dim={classes}) as its last layer (over the classes, not the samples), or use "
            "CrossEntropyLoss on the raw scores."
        )


NOT_TRAINED = (
    "the loss is not connected to the model's parameters: backward() gave none of the parameters the optimizer "
    "trains a gradient (nor changed them in place), so the optimizer's steps change nothing (the weights were left as "
    "they were). Compute the loss from the model's output with torch operations only: no .item(), .detach(), .numpy() "
    "or torch.tensor(...) on the way (torch.tensor(loss.item(), requires_grad=True) is a new tensor of its own, cut "
    "off from the model)."
)


def check_not_inference(optimizer: torch.optim.Optimizer) -> None:
    """A ``ValueError`` if the optimizer's parameters are inference tensors, which autograd cannot train.

    Example:
        >>> with torch.inference_mode():
        ...     model = nn.Linear(1, 1)
        >>> check_not_inference(torch.optim.SGD(model.parameters()))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: the model's parameters were created under torch.inference_mode() (inference tensors), ...
    """
    if any(not is_lazy(p) and p.is_inference() for group in optimizer.param_groups for p in group["params"]):
        raise ValueError(
            "the model's parameters were created under torch.inference_mode() (inference tensors), which autograd "
            "cannot train. Build the model outside it, then the optimizer; to keep these weights, clone them outside "
            "inference mode (model.weight = nn.Parameter(model.weight.clone()), each of them) or copy them into a "
            "model built outside it, new_model.load_state_dict(model.state_dict())."
        )


def _versions(optimizer: torch.optim.Optimizer) -> int:  # an in-place change of a tensor raises its version
    return sum(p._version for group in optimizer.param_groups for p in group["params"])


class StepWatch:
    """Backward and the optimizer's step, watched: whether a step trained anything (:data:`NOT_TRAINED` if not).

    A step trains nothing when after ``backward()`` none of the optimizer's parameters has a gradient (the
    trainer zeroes them to None before) and none changed in place across backward and the step (their version
    counters): a loss cut from the model. A masked loss may rightly give one batch ``torch.tensor(0.0,
    requires_grad=True)``, an optimizer stepped in backward hooks leaves no gradient but changes the weights:
    ``trained`` tells whether any step of a pass trained, :meth:`check_pass` refuses a pass none of whose steps
    trained and warns when at least half of them trained nothing; ``every`` (a single step, which cannot tell a
    batch ignored on purpose) warns at each step that trained nothing.

    Example:
        >>> w = nn.Parameter(torch.ones(1))
        >>> watch = StepWatch(torch.optim.SGD([w], lr=0.5))
        >>> watch.backward(torch.tensor((w * 2).item(), requires_grad=True))
        >>> watch.step(), watch.trained
        (False, False)
        >>> watch.backward(w * 2)
        >>> watch.step(), w.item()
        (True, 0.0)
    """

    def __init__(self, optimizer: torch.optim.Optimizer, every: bool = False) -> None:
        self.optimizer, self.every, self.before = optimizer, every, 0
        self.steps = self.idle = 0  # the pass's steps, and those that trained nothing

    @property
    def trained(self) -> bool:
        """Whether any step of the pass trained."""
        return self.idle < self.steps

    def backward(self, loss: torch.Tensor) -> None:
        self.before = _versions(self.optimizer)
        loss.backward()

    def step(self) -> bool:
        """``optimizer.step()``; whether this step trained (``every``: warned if not)."""
        self.optimizer.step()
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        trained = any(p.grad is not None for p in params) or _versions(self.optimizer) != self.before
        self.steps, self.idle = self.steps + 1, self.idle + (not trained)
        if self.every and not trained:
            warnings.warn(NOT_TRAINED, UserWarning, stacklevel=3)  # at the call of the course's train_step
        return trained

    def check_pass(self) -> None:
        """After a pass: a ``ValueError`` naming the fix if none of its steps trained anything, a warning if at least
        half of them did not (a masked loss may rightly skip a batch, not most: the others never train)."""
        if not self.trained:
            raise ValueError(NOT_TRAINED)
        if self.idle and 2 * self.idle >= self.steps:
            warnings.warn(
                f"{self.idle} of this pass's {self.steps} steps trained nothing, so their batches never train the "
                f"model. On those steps {NOT_TRAINED}",
                UserWarning,
                stacklevel=4,  # at the call of train_epoch or fit
            )
