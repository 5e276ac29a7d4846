"""A training pass checks a batch's shapes and dtypes once per signature: the rest of its batches skip those checks.

What :func:`course.loss_checks.check_pair` decides (predictions and targets that pair up, scores of one class, complex
targets) and which of :func:`course.loss_values.check_values`'s checks apply depend on the batch's signature only: the
types, shapes, dtypes, layouts and devices of the predictions and targets, and the pass's loss function. A pass keeps
the signatures whose checks passed without running the loss or warning (:class:`SeenBatches`); a later batch of the same
signature skips them. Everything that depends on values runs on every batch: the loss itself (its errors explained),
what it returns (a scalar, real, with a graph) and the checks of the targets' values (ranges, labels, row sums).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course.loss_checks import call_loss, check_pair, loss_of
from course.loss_result import check_real, check_scalar
from course.loss_values import check_values
from course.pair_errors import integer_cut

Signature = tuple
_NO_VALUES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)  # check_values reads none of their targets


def reads_values(target: torch.Tensor, loss_fn: object) -> bool:
    """Whether :func:`course.loss_values.check_values` (not ``first``) reads targets of this dtype for this loss: False
    only for losses of exactly these types (a subclass may be anything), known to have no such check, and for class
    indices given to ``nn.CrossEntropyLoss`` or ``nn.NLLLoss``; True for anything else (a loss of one's own too)."""
    kind = type(loss_fn)
    return not (kind in _NO_VALUES or (kind in (nn.CrossEntropyLoss, nn.NLLLoss) and not target.is_floating_point()))


def signature(pred: object, y: object) -> Signature | None:
    """What a batch's checks of shapes and dtypes depend on: None for anything but plain tensors (always checked)."""
    if type(pred) is not torch.Tensor or type(y) is not torch.Tensor:  # a subclass may answer anything: checked
        return None
    return (pred.shape, pred.dtype, pred.layout, pred.device, pred.requires_grad, y.shape, y.dtype, y.layout, y.device)


def paired_loss(pred: object, loss_fn: Callable, y: object, model: nn.Module | None) -> tuple[object, bool]:
    """:func:`course.loss_checks.loss_of`'s loss, and whether its pairing checks alone decided (they did not run the
    loss, nor warn): only then may a batch of the same signature skip them."""
    if not (isinstance(pred, torch.Tensor) and isinstance(y, torch.Tensor)):
        return loss_of(pred, loss_fn, y, model), False
    computed = check_pair(pred, y, loss_fn, model)  # a hand-written loss given other shapes may be run there
    loss = computed[0] if computed else call_loss(loss_fn, pred, y, pred, model)
    return integer_cut(pred, loss, model), not computed


class SeenBatches:
    """The signatures of one pass's batches (one loss function) whose checks of shapes and dtypes passed, each with
    whether the loss's checks of values apply to it. Example:
        >>> seen, pred, y = SeenBatches(), torch.zeros(2, 1, requires_grad=True), torch.ones(2, 1)
        >>> seen.loss(None, nn.MSELoss(), pred, y) is None  # not seen: the caller checks it all
        True
        >>> seen.add(pred, y, nn.MSELoss())
        >>> seen.loss(None, nn.MSELoss(), pred, y)
        tensor(1., grad_fn=<MseLossBackward0>)
    """

    def __init__(self) -> None:
        self.seen: dict[Signature, bool] = {}

    def __call__(
        self, pred: object, loss_fn: Callable, y: object, model: nn.Module | None, values: bool
    ) -> torch.Tensor:
        """The loss of predictions ``pred`` for targets ``y``, checked as :func:`course.diagnose.forward_loss` checks it
        without ``seen`` (``values``: the pass's first batch, checked in full); a batch whose signature was seen skips
        the checks of shapes and dtypes, one whose pairing the checks alone decided is remembered."""
        if not values and (loss := self.loss(model, loss_fn, pred, y)) is not None:
            return loss  # a signature seen in this pass: what depends on values checked again, not the shapes
        computed, paired = paired_loss(pred, loss_fn, y, model)
        loss = check_real(check_scalar(computed))
        check_values(pred, y, loss_fn, first=values)  # after the loss, so that wrong shapes are named first
        if paired:
            self.add(pred, y, loss_fn)
        return loss

    def loss(self, model: nn.Module | None, loss_fn: Callable, pred: object, y: object) -> torch.Tensor | None:
        """The checked loss of a batch whose signature was seen (its values checked), None for a signature not seen."""
        if (values := self.seen.get(signature(pred, y))) is None:  # type: ignore[arg-type]
            return None
        loss = check_real(check_scalar(integer_cut(pred, call_loss(loss_fn, pred, y, pred, model), model)))  # type: ignore[arg-type]
        if values:
            check_values(pred, y, loss_fn, first=False)
        return loss

    def add(self, pred: object, y: object, loss_fn: object) -> None:
        """Remember the signature of a batch that passed every check, its loss's pairing decided by the checks alone."""
        if (key := signature(pred, y)) is not None:
            self.seen[key] = reads_values(y, loss_fn)  # type: ignore[arg-type]
