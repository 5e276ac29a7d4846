"""Values a loss takes without an error but silently misreads: labels outside [0, 1], raw scores for NLLLoss.

``nn.BCEWithLogitsLoss`` trains on labels {1, 2} or {-1, 1} without a word (0/1 labels for a loss of -1/+1 targets:
:mod:`course.signed_targets`), ``nn.NLLLoss`` on raw scores drives its loss towards minus infinity, ``nn.KLDivLoss``
on probabilities below 0. Shapes are :mod:`course.loss_checks`'s concern. The targets' range is checked on every batch
(a comparison of the targets, small next to a forward pass); the log-probabilities once per pass, on its first batch
(a logsumexp over the predictions), as is a model ending in the sigmoid or softmax its loss applies again
(:func:`check_last_layer`). A loss that is not connected to the parameters the optimizer trains (rebuilt from a
number) trains nothing without a word: :class:`StepWatch` tells, after backward and the step.
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import nn
from torch.nn import functional
from torch.nn.parameter import is_lazy

from course.signed_targets import check_signs

_BINARY_FUNCTIONS = {functional.binary_cross_entropy_with_logits, functional.binary_cross_entropy}


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

    Binary cross-entropy needs targets in [0, 1] (``BCEWithLogitsLoss`` trains on labels {1, 2} without a word),
    class probabilities too, in rows that each sum to 1 (``CrossEntropyLoss``'s targets of the predictions' shape,
    ``KLDivLoss``'s: a row of zeros gives cross-entropy 0), ``SoftMarginLoss``'s and ``HingeEmbeddingLoss``'s -1
    or +1 (:func:`course.signed_targets.check_signs`): checked on every batch. ``NLLLoss`` needs log-probabilities,
    whose exp sums to 1 over the classes (on raw scores the loss falls without end), ``KLDivLoss`` log-probabilities
    too, never above 0 (on probabilities it falls below 0): checked when ``first`` (a pass's first batch). The losses
    are recognised as modules, functions or ``functools.partial`` of them; a function wrapping them cannot be.

    Example:
        >>> check_values(torch.zeros(2, 1), torch.tensor([[1.0], [2.0]]), nn.BCEWithLogitsLoss())
        Traceback (most recent call last):
        ValueError: BCEWithLogitsLoss expects targets between 0 and 1 (class labels 0 or 1, or probabilities), but they hold the values {1, 2}: map {1, 2} to {0, 1}, y = (y == 2).float().
    """
    check_signs(target, loss_fn)  # SoftMarginLoss, HingeEmbeddingLoss: -1 or +1, of any dtype
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor) or not target.is_floating_point():
        if first and isinstance(pred, torch.Tensor) and _is(loss_fn, (nn.NLLLoss,), {functional.nll_loss}):
            _check_log_probabilities(pred)
        return
    if first and _is(loss_fn, (nn.KLDivLoss,), {functional.kl_div}):
        _check_kl_input(pred)
    binary = _is(loss_fn, (nn.BCEWithLogitsLoss, nn.BCELoss), _BINARY_FUNCTIONS)
    soft = target.shape == pred.shape and _is(loss_fn, (nn.CrossEntropyLoss,), {functional.cross_entropy})
    what = "class labels 0 or 1, or probabilities" if binary else "class probabilities"
    if (binary or soft) and target.numel() and _outside(target.detach()):
        raise _out_of_range(target, loss_fn, what)
    if (soft or _is(loss_fn, (nn.KLDivLoss,), {functional.kl_div})) and target.ndim and target.numel():
        _check_rows(target.detach(), loss_fn, kl=not soft)


def _outside(target: torch.Tensor) -> bool:
    if torch.equal(target, target.clamp(0, 1)):  # two cheap ops, one sync: this runs on every batch
        return False
    return bool(((target < 0) | (target > 1)).any())  # NaN differs from itself: not out of range, blamed later


def _log_target(loss_fn: object) -> bool:  # KLDivLoss(log_target=True) takes log-probabilities as targets
    while isinstance(loss_fn, functools.partial) and "log_target" not in loss_fn.keywords:
        loss_fn = loss_fn.func
    return bool(
        loss_fn.keywords["log_target"] if isinstance(loss_fn, functools.partial) else getattr(loss_fn, "log_target", 0)
    )


def _check_rows(target: torch.Tensor, loss_fn: object, kl: bool) -> None:
    """Refuse probability rows whose sums are not 1 (to 1e-2: rows rounded in bfloat16, then cast, stay well inside):
    soft CrossEntropyLoss targets, classes along dim 1 (an all-zero row gives a loss of 0 and no gradient, a multi-hot
    row trains silently); KLDivLoss's (N, C) targets only (other shapes may hold distributions over several dims), an
    all-zero row allowed there (it adds exactly 0: a padding mask)."""
    if kl and target.ndim != 2:
        return
    log, classes = kl and _log_target(loss_fn), int(target.ndim > 1)
    total = (target.float().exp() if log else target.float()).sum(classes)
    wrong = ((total - 1).abs() > 1e-2) & ((total != 0) if kl else True)
    if not wrong.any():  # NaN is not: blamed later
        return
    place = tuple(wrong.nonzero()[0].tolist())
    row = (f"row {place[0] if len(place) == 1 else place}" if place else "the target") + ("'s exp" if log else "")
    seen = total[~total.isnan()]
    where = f"{row} sums to {total[place].item():g} (from {seen.min().item():g} to {seen.max().item():g})"
    rows = f"y = y / y.sum(dim={classes}, keepdim=True)"
    multi = "for several labels per sample (multi-label), use nn.BCEWithLogitsLoss() with 0/1 targets"
    if not kl:
        raise ValueError(
            f"{_name(loss_fn)} reads targets of the predictions' shape {tuple(target.shape)} as class probabilities, "
            f"each row (over dim {classes}) summing to 1, but {where}: a row of zeros gives a loss of 0 and no "
            "gradient, a row summing to 2 counts its sample twice, without an error. For one class per sample pass "
            f"class indices, y = y.argmax(dim={classes}), or one-hot rows; for probabilities divide each row by its "
            f"sum, {rows} (a row of zeros has no class: give it one or leave the sample out); {multi}."
        )
    raise ValueError(
        f"{_name(loss_fn)} compares probability distributions, so its targets should be rows of "
        f"{'log-probabilities whose exp sums' if log else 'probabilities summing'} to 1 (over dim {classes}), but "
        f"{where}: the loss is then no divergence, and training goes wrong without an error. Divide each row by its sum, {rows} (log-probabilities: y = y - y.logsumexp(dim={classes}, "
        f"keepdim=True)); {multi} and raw scores."
    )


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


def _check_kl_input(pred: torch.Tensor) -> None:
    """KLDivLoss's input: log-probabilities, never above 0 (its targets are probabilities, or log ones: log_target)."""
    if not pred.is_floating_point() or pred.numel() == 0:
        return
    if (high := pred.detach().max().item()) > 0:  # NaN is not: blamed later
        classes = 1 if pred.ndim > 1 else 0
        raise ValueError(
            f"KLDivLoss expects log-probabilities as its input (the model's outputs), which are never above 0, but "
            f"they reach {high:.3g}: probabilities (a softmax) or raw scores, on which the loss falls below 0 and "
            f"training goes the wrong way without an error. End the model with nn.LogSoftmax(dim={classes}) (over the "
            f"classes) instead of nn.Softmax, or return F.log_softmax(scores, dim={classes}) from forward."
        )


_SHAPE_ONLY = (nn.Flatten, nn.Unflatten, nn.Identity, nn.modules.dropout._DropoutNd)  # none undoes a squashing


def _last_module(model: object, after: list[str]) -> object:
    """The module that gives the model's output, as far as the structure tells: the last of nested nn.Sequential but
    for shape-only modules (named in ``after``, in order); None if the model only reshapes."""
    if isinstance(model, _SHAPE_ONLY):
        after.insert(0, type(model).__name__)
        return None
    if isinstance(model, nn.Sequential) and type(model).forward is nn.Sequential.forward:
        return next((last for module in reversed(model) if (last := _last_module(module, after)) is not None), None)
    return model


def check_last_layer(model: object, loss_fn: object) -> None:
    """Refuse a model that ends in the sigmoid or softmax its loss applies itself (a ``ValueError`` naming the fix).

    ``BCEWithLogitsLoss`` applies a sigmoid, ``CrossEntropyLoss`` a log-softmax: after an ``nn.Sigmoid`` or
    ``nn.Softmax`` layer they train without an error, but on squashed scores. Seen from the structure only (the
    last module of a nested ``nn.Sequential``, past a trailing ``Flatten``, ``Unflatten``, ``Identity`` or dropout):
    a sigmoid applied in ``forward`` cannot be. Example:
        >>> check_last_layer(nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), nn.BCEWithLogitsLoss())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: the model ends with nn.Sigmoid, but BCEWithLogitsLoss applies the sigmoid itself...
    """
    after: list[str] = []
    last, name = _last_module(model, after), _name(loss_fn)
    layer, undo = f"nn.{type(last).__name__}", "which does not undo it" if len(after) == 1 else "which do not undo it"
    ends = f"ends with {layer}" + (f" (then only {', '.join(after)}, {undo})" if after else "")
    if isinstance(last, nn.Sigmoid) and _is(
        loss_fn, (nn.BCEWithLogitsLoss,), {functional.binary_cross_entropy_with_logits}
    ):
        raise ValueError(
            f"the model {ends}, but {name} applies the sigmoid itself: it takes raw scores (logits), "
            "so the sigmoid is applied twice, the loss can never reach 0 and training goes wrong without an error. "
            f"Drop the {layer} layer (the loss applies it; use torch.sigmoid(model(x)) to read probabilities), or "
            "keep it and use nn.BCELoss() instead."
        )
    if isinstance(last, (nn.Softmax, nn.Softmax2d)) and _is(
        loss_fn, (nn.CrossEntropyLoss,), {functional.cross_entropy}
    ):
        raise ValueError(
            f"the model {ends}, but {name} applies (log-)softmax itself: it takes raw scores (logits), "
            "so softmax is applied twice, the loss can never reach 0 and its gradients shrink, without an error. "
            f"Drop the {layer} layer (the loss applies it; use torch.softmax(model(x), dim=1) to read probabilities), "
            "or end the model with nn.LogSoftmax(dim=1) instead and use nn.NLLLoss()."
        )


NOT_TRAINED = (
    "the loss is not connected to what the optimizer trains: backward() gave none of its tensors a gradient (nor "
    "changed them in place), so the optimizer's steps change nothing (the weights were left as they were). Compute the "
    "loss from the model's output with torch operations only: no .item(), .detach(), .numpy() or torch.tensor(...) on "
    "the way (torch.tensor(loss.item(), requires_grad=True) is a new tensor of its own, cut off from the model); and "
    "build the optimizer from this model's parameters, not another model's."
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

    def check_pass(self, why: str = "") -> None:
        """After a pass: a ``ValueError`` naming the fix if none of its steps trained anything (``why``, when the
        caller can tell more: a model without parameters), a warning if at least half of them did not (a masked loss
        may rightly skip a batch, not most: the others never train)."""
        if not self.trained:
            raise ValueError(
                f"no tensor the optimizer holds received a gradient in this pass: {why}" if why else NOT_TRAINED
            )
        if self.idle and 2 * self.idle >= self.steps:
            warnings.warn(
                f"{self.idle} of this pass's {self.steps} steps trained nothing, so their batches never train the "
                f"model. On those steps {NOT_TRAINED}",
                UserWarning,
                stacklevel=4,  # at the call of train_epoch or fit
            )
