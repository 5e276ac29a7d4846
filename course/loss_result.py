"""What a loss takes and returns, checked before ``backward()``: one real, floating-point number, with a graph.

A model may return several things (a tuple, a dict) to a loss written for them, not to one of torch's losses
(:func:`check_outputs`). A loss function that returns ``(loss, metrics)`` or a dict, a Python
number (``.item()`` on the way), an integer or bool tensor (no gradient), several values (``reduction='none'``) or a
complex number is refused by :func:`check_scalar` and :func:`check_real`, each naming its own fix; :func:`no_graph`
says why a loss has no graph, :func:`all_ignored` why it is NaN on a batch of ignored targets, :func:`mean_weight`
what a batch's mean divides by (whole-set losses weigh batches by it).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from course.nested import described
from course.pair_errors import is_torch_loss, unwrapped_loss


def several_outputs(pred: object, loss_fn: object) -> TypeError:
    """The error for a model's output that is not one tensor (a tuple, a dict) given to one of torch's losses.
    Example:
        >>> print(several_outputs((torch.ones(2, 1), torch.ones(())), nn.MSELoss()))  # doctest: +ELLIPSIS
        the model returned a tuple of 2 items, not a tensor, but MSELoss takes one tensor of predictions...
    """
    what, pick = described(pred)
    base = unwrapped_loss(loss_fn)[0]
    name = type(base).__name__ if isinstance(base, nn.Module) else getattr(base, "__name__", "the loss")
    return TypeError(
        f"the model returned {what}, not a tensor, but {name} takes one tensor of predictions. Make forward() return "
        "the predictions alone, or, if the model returns more on purpose (an auxiliary output, a hidden state), give "
        f"the trainer a loss written for its output, which it hands over as it is: e.g. loss_fn = lambda out, y: "
        f"criterion({pick}, y), where criterion is the {name} you pass now."
    )


def check_outputs(out: object, loss_fn: object) -> object:
    """``out``, the model's output, unless it is not one tensor (a tuple, a dict) and ``loss_fn`` one of torch's losses,
    which take one (:func:`several_outputs`); a loss of one's own takes it as it is. Example:
        >>> check_outputs((torch.ones(2, 1), torch.zeros(())), lambda out, y: ((out[0] - y) ** 2).mean())[0].shape
        torch.Size([2, 1])
    """
    if not isinstance(out, torch.Tensor) and is_torch_loss(loss_fn):
        raise several_outputs(out, loss_fn)
    return out


_CLASS_LOSSES = ((nn.CrossEntropyLoss, nn.NLLLoss), (functional.cross_entropy, functional.nll_loss))


def _settings(loss_fn: object, kind: tuple) -> Callable[[str, object], object] | None:
    """A reader of ``loss_fn``'s settings (``setting(name, default)``) if it is one of ``kind``'s modules or functions
    (also behind ``functools.partial``, whose keywords are its settings), else None."""
    base, keywords = unwrapped_loss(loss_fn)
    if isinstance(base, kind[0]):
        return functools.partial(getattr, base)
    return keywords.get if any(base is f for f in kind[1]) else None


def mean_weight(loss_fn: object, y: torch.Tensor) -> float:
    """What ``loss_fn``'s mean over a batch of targets ``y`` divides by (up to a factor the batches share), so that
    batches weighted by it average to the loss of the whole set. Torch's cross-entropy and NLL on class indices count
    the targets that are not ``ignore_index``, each by its class ``weight``; ``KLDivLoss(reduction="batchmean")``
    counts the samples; any other mean its target values, ``y.numel()`` (time-major targets (T, N, 1): T x N). A
    function around a loss cannot be told: its batches count by their target values. Example:
        >>> mean_weight(nn.CrossEntropyLoss(weight=torch.tensor([1.0, 3.0])), torch.tensor([0, 1, 1, -100]))
        7.0
    """
    classes = _settings(loss_fn, _CLASS_LOSSES)
    if classes is not None and not (y.is_floating_point() or y.is_complex()):  # class indices (probabilities: plain)
        kept, weight = y[y != classes("ignore_index", -100)], classes("weight", None)
        # .long(): uint8 targets, which torch takes, would index the weights as a mask
        return float(weight[kept.long()].sum()) if weight is not None else float(kept.numel())  # type: ignore[index]
    kl = _settings(loss_fn, ((nn.KLDivLoss,), (functional.kl_div,)))
    if kl is not None and kl("reduction", "mean") == "batchmean":
        return float(len(y)) if y.ndim else 1.0
    return float(max(y.numel(), 1))


def all_ignored(loss_fn: object, y: object) -> str | None:
    """Why the loss is NaN on a batch whose every target is the loss's ``ignore_index``: a mean over no sample.
    None for other batches and losses (also for a function around one: it cannot be told). Example:
        >>> print(all_ignored(nn.CrossEntropyLoss(), torch.full((4,), -100)))  # doctest: +ELLIPSIS
        The batch is finite, but every target of this batch equals the loss's ignore_index (-100): ...
    """
    if (setting := _settings(loss_fn, _CLASS_LOSSES)) is None:
        return None
    index, reduction = setting("ignore_index", -100), setting("reduction", "mean")
    if not isinstance(y, torch.Tensor) or y.is_floating_point() or not y.numel() or reduction != "mean":
        return None
    if not bool((y == index).all()):
        return None
    return (
        f"The batch is finite, but every target of this batch equals the loss's ignore_index ({index}): the loss is a "
        "mean over no sample, 0 / 0, which is NaN whatever the weights, so a lower learning rate will not help. Leave "
        "out batches that hold only ignored targets (padding only), or keep them with a loss summed and divided by the "
        "targets it counts: reduction='sum', then divide by max(1, (y != ignore_index).sum())."
    )


def _not_a_tensor(loss: object) -> ValueError:
    """The error for a loss function that returned no tensor: a tuple or dict of results, a number, or else."""
    start = f"the loss must be a scalar tensor, got {type(loss).__name__}"
    if isinstance(loss, (tuple, list)):
        return ValueError(
            f"{start}: the loss function returned {len(loss)} items, e.g. (loss, metrics), but the trainer calls "
            "backward() on one number. Return the loss tensor alone (return loss, not (loss, metrics)), and compute "
            "metrics elsewhere, e.g. with evaluate() or a loop of your own after training."
        )
    if isinstance(loss, dict):
        key = next((k for k in loss if "loss" in str(k).lower()), next(iter(loss), "loss"))
        return ValueError(
            f"{start} (keys {list(loss)[:5]}): the trainer calls backward() on one number. Return the loss tensor "
            f"alone, e.g. wrap the function, loss_fn = lambda pred, y: my_loss(pred, y)[{key!r}], and compute "
            "metrics elsewhere."
        )
    if isinstance(loss, (numbers.Number, np.generic)):
        return ValueError(
            f"{start}, a number: the loss was turned into one (.item(), float(), NumPy) on the way, which cuts it off "
            "from the model, so backward() cannot reach the weights. Compute the loss with torch operations on the "
            "model's output and return that tensor."
        )
    return ValueError(f"{start}. Return the loss as a tensor, e.g. nn.MSELoss()(pred, y).")


def check_scalar(loss: object) -> torch.Tensor:
    """``loss`` as a scalar if it holds one value (``backward()`` takes ``()`` or ``(1,)``); else an error naming the
    fix: for several values, a tuple or dict of results, a number, and (gradients recorded) an integer or bool tensor.
    Example:
        >>> check_scalar(torch.ones(3))
        Traceback (most recent call last):
        ValueError: the loss must be a scalar tensor, got (3,). Use a loss with reduction='mean' or 'sum', ...
    """
    if not isinstance(loss, torch.Tensor):
        raise _not_a_tensor(loss)
    if loss.numel() != 1:
        raise ValueError(
            f"the loss must be a scalar tensor, got {tuple(loss.shape)}. Use a loss with reduction='mean' or 'sum', "
            "or reduce it yourself with .mean()."
        )
    if torch.is_grad_enabled() and not (loss.is_floating_point() or loss.is_complex()):  # evaluated, it may count
        integer = f"an integer tensor ({loss.dtype})"
        kind = "a bool tensor (torch.bool: a comparison, or .any())" if loss.dtype == torch.bool else integer
        raise TypeError(
            f"the loss is {kind}, and such tensors have no gradient, so backward() cannot train "
            "the model with it. Compute it in floating point from the model's output: no .long(), .int(), .round(), "
            "argmax or comparison on the way (a count of errors is a metric: report it, train on a loss such as "
            "nn.CrossEntropyLoss())."
        )
    return loss if loss.ndim == 0 else loss.reshape(())  # a view: backward() still reaches the graph


def check_real(loss: torch.Tensor) -> torch.Tensor:
    """``loss``, unless it is complex (a ``TypeError``): training minimises a real number.
    Example:
        >>> check_real(torch.tensor(1.0 + 0j))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        TypeError: the loss is a complex number (torch.complex64), but training minimises a real one...
    """
    if loss.is_complex():
        raise TypeError(
            f"the loss is a complex number ({loss.dtype}), but training minimises a real one (complex numbers have no "
            "order). Return a real loss: its real part, loss.real, if the imaginary part is 0 by construction, or a "
            "magnitude, e.g. ((pred - y).abs() ** 2).mean() for complex predictions."
        )
    return loss


def no_graph(model: nn.Module) -> ValueError:
    """The error for a loss without a graph (no ``grad_fn``): gradient recording off, the model frozen, or else a loss
    cut from the model.

    Example:
        >>> with torch.no_grad():
        ...     print(no_graph(nn.Linear(1, 1)))  # doctest: +ELLIPSIS
        gradient recording is off, so the loss has no graph...
    """
    if not torch.is_grad_enabled():  # also in torch.inference_mode()
        return ValueError(
            "gradient recording is off, so the loss has no graph and backward() cannot compute gradients: training "
            "was called inside torch.no_grad() or torch.inference_mode(), or after torch.set_grad_enabled(False) (a "
            "cell run earlier may have left it off). Train outside those blocks, or switch recording back on with "
            "torch.set_grad_enabled(True)."
        )
    if (params := list(model.parameters())) and not any(p.requires_grad for p in params):
        return ValueError(
            "none of the model's parameters requires grad (the model is frozen, e.g. by model.requires_grad_(False)), "
            "so the loss has no graph and backward() cannot compute gradients. Unfreeze it before training, "
            "model.requires_grad_(True) (freeze only the layers you mean to keep as they are)."
        )
    if not params:  # nothing of the model can reach the loss: tensors kept as plain attributes, layers unregistered
        return ValueError(
            "the loss has no graph (no grad_fn), so backward() cannot compute gradients, and the model has no "
            "parameters at all: hand-made weights stored as plain tensors, not nn.Parameter(...), or layers it does "
            "not register (a plain Python list, not nn.ModuleList or nn.Sequential). Make layers attributes of the "
            "module (self.linear = nn.Linear(...)) and weights nn.Parameter(...), then build the optimizer from "
            "model.parameters(). (A loss training a tensor of its own, a temperature, must compute the loss from it: "
            "no .item() or .detach().)"
        )
    return ValueError(
        "the loss is not connected to the model's parameters (it has no grad_fn), so backward() cannot compute "
        "gradients. Compute the loss from the predictions with torch operations only: no .item(), .detach(), "
        ".numpy() or torch.tensor(...) on the way."
    )
