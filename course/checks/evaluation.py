"""Checks for lesson 11 (evaluation): a validation loss, R² by hand, scaling without leakage, early stopping.

The validation probe is a model with Dropout that starts in training mode and records, at every
forward pass, its mode and whether autograd recorded a graph; its loader has a short last batch
(4, 4 and 2 samples), so the mean over samples and the mean of the batch means differ.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import randomised, tag_is
from course.checks.values import as_number


# --- exercise 1: fix a validation function --------------------------------------------------------------
def _val_inputs() -> tuple:
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(10, 3, generator=generator).split([2, 1], dim=1)
    model = randomised(nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 1)), seed=0)  # a new module is in training mode
    model.seen = []  # (training, output requires grad) at every forward pass
    model.register_forward_hook(lambda module, args, out: model.seen.append((model.training, out.requires_grad)))
    return model, nn.MSELoss(), DataLoader(TensorDataset(x, y), batch_size=4)


def _observe_val(fn: object, args: tuple) -> tuple:
    """(the first fault found, or "ok"; the number returned)."""
    number, seen = as_number(fn(*args)), args[0].seen
    faults = dict(model_not_called=not seen, no_eval=any(s[0] for s in seen), no_grad=any(s[1] for s in seen))
    return (next((f for f, found in faults.items() if found), "not_a_number" if number is None else "ok"), number)


def _val(average: str = "samples", eval_mode: bool = True, no_grad: bool = True) -> object:
    """validation_loss as it should be, or with one mistake: a right or a wrong program."""

    def validation_loss(model, loss_fn, loader):
        model.train(not eval_mode)
        with torch.set_grad_enabled(not no_grad):
            losses, sizes = zip(*[(loss_fn(model(x), y).item(), len(x)) for x, y in loader], strict=True)
        total = sum(loss * n for loss, n in zip(losses, sizes, strict=True))
        means = dict(samples=total / sum(sizes), batches=sum(losses) / len(losses), sum=sum(losses), last=losses[-1])
        return means.get(average, total / (len(losses) * loader.batch_size))  # or divided by full batches

    return validation_loss


def _all_at_once(model: nn.Module, loss_fn: object, loader: DataLoader) -> float:
    model.eval()
    with torch.no_grad():
        return loss_fn(model(loader.dataset.tensors[0]), loader.dataset.tensors[1]).item()


_VAL_FAULTS = dict(model_not_called=lambda model, loss_fn, loader: 0.5, no_eval=_val(eval_mode=False),
                   no_grad=_val(no_grad=False), not_a_number=lambda *args: str(_val()(*args)))  # fmt: skip
validation_loss = Exercise(
    name="validation_loss",
    inputs=_val_inputs,
    reference=_val(),
    observe=_observe_val,
    guards=[Guard(fault, tag_is(fault), wrong) for fault, wrong in _VAL_FAULTS.items()],
    mistakes=[
        Mistake("mean_of_batch_means", _val("batches")),
        Mistake("sum_not_mean", _val("sum")),
        Mistake("last_loss_only", _val("last")),
        Mistake("wrong_total", _val("full batches"), "the last batch is short: divide by the number of samples."),
    ],
    alternatives=[_all_at_once],
    explain=lambda got, expected: f"expected the mean loss over the samples, {expected[1]:.4f}; got {got[1]:.4f}.",
    success="the mean loss over all validation samples, in eval mode and without a graph.",
)


# --- exercise 2: R² by hand -----------------------------------------------------------------------------
def _number(fn: object, args: tuple) -> object:
    result = fn(*args)
    number = as_number(result)
    return number if number is not None else f"a {type(result).__name__}"


def _r2(y_true: torch.Tensor, y_pred: torch.Tensor, centre: object = None, res: str = "sum") -> torch.Tensor:
    """1 - SS_res / SS_tot, or a mistaken version of it."""
    errors = (y_true - y_pred) ** 2
    ss_res = errors.sum() if res == "sum" else errors.mean()
    return 1 - ss_res / ((y_true - (y_true.mean() if centre is None else centre)) ** 2).sum()


r_squared = Exercise(
    name="r_squared",
    inputs=lambda: (torch.tensor([3.0, -0.5, 2.0, 7.0, 4.5, 1.0]), torch.tensor([2.5, 0.0, 2.0, 9.0, 3.0, 2.5])),
    reference=_r2,
    observe=_number,
    guards=[Guard("not_a_number", lambda got: isinstance(got, str), example=lambda y_true, y_pred: [0.5])],
    mistakes=[
        Mistake("missing_one_minus", lambda y_true, y_pred: 1 - _r2(y_true, y_pred)),
        Mistake("wrong_denominator", lambda y_true, y_pred: _r2(y_true, y_pred, centre=y_pred.mean())),
        Mistake("not_centred", lambda y_true, y_pred: _r2(y_true, y_pred, centre=0.0)),
        Mistake("mean_over_sum", lambda y_true, y_pred: _r2(y_true, y_pred, res="mean")),
        Mistake("unbiased_variance", lambda y_true, y_pred: 1 - ((y_true - y_pred) ** 2).mean() / y_true.var()),
        Mistake("swapped_arguments", lambda y_true, y_pred: _r2(y_pred, y_true)),
    ],
    alternatives=[lambda y_true, y_pred: 1 - ((y_true - y_pred) ** 2).mean() / y_true.var(unbiased=False)],
    success=lambda expected: f"R² = {expected:.4f}, as sklearn.metrics.r2_score computes it.",
)


# --- exercise 3: standardise with the training statistics -----------------------------------------------
def _scaling_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    x_train = torch.randn(20, 3, generator=generator) * torch.tensor([1.0, 10.0, 0.1]) + torch.tensor([5.0, -3.0, 0.0])
    x_val = torch.randn(8, 3, generator=generator) * torch.tensor([2.0, 5.0, 0.3]) + torch.tensor([7.0, 0.0, 1.0])
    return x_train, x_val


def _scale(x_train: torch.Tensor, x_val: torch.Tensor, stats: object = None, dim: object = 0, ddof: int = 1) -> tuple:
    """Scale both parts with the mean and std of ``stats`` (default: the training part)."""
    stats = x_train if stats is None else stats
    mean, std = stats.mean(dim=dim), stats.std(dim=dim, correction=ddof)
    return (x_train - mean) / std, (x_val - mean) / std


def _observe_scaled(fn: object, args: tuple) -> object:
    """The learner's pair; one scaled with the population std (ddof 0, as scikit-learn) is converted to ddof 1."""
    out, n = fn(*args), len(args[0])
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(map(torch.is_tensor, out))):
        return out
    ddof0 = out[0].shape == args[0].shape and torch.allclose(out[0].std(0, unbiased=False), torch.ones(1), atol=1e-4)
    return tuple(t * math.sqrt((n - 1) / n if ddof0 else 1) for t in out)


standardize = Exercise(
    name="standardize",
    inputs=_scaling_inputs,
    reference=_scale,
    observe=_observe_scaled,
    guards=[
        Guard("not_a_pair", lambda got: not isinstance(got, (tuple, list)) or len(got) != 2, example=lambda a, b: a),
        Guard("not_a_tensor", lambda got: not all(map(torch.is_tensor, got)), lambda a, b: (a.numpy(), b.numpy())),
    ],
    mistakes=[
        Mistake("leakage", lambda a, b: _scale(a, b, stats=torch.cat([a, b]))),
        Mistake("leakage", lambda a, b: _scale(a, b, stats=torch.cat([a, b]), ddof=0)),
        Mistake("own_statistics", lambda a, b: (_scale(a, b)[0], _scale(b, b)[0])),
        Mistake("no_std", lambda a, b: (a - a.mean(0), b - a.mean(0))),
        Mistake("wrong_axis", lambda a, b: _scale(a, b, dim=None), "one mean and std for the whole tensor: use dim=0."),
    ],
    alternatives=[lambda a, b: _scale(a, b, ddof=0)],
    explain=lambda got, _: "expected (x - mean) / std for both parts, with the mean and std of each column of x_train.",
    success="each column scaled with the mean and standard deviation of the training part only.",
)


# --- exercise 4: predict when early stopping stops (validation losses 0.90 0.62 0.48 0.50 0.48 0.55 0.47 ...) --
def _pair_of_epochs(answer: object, args: tuple) -> tuple:
    numbers = [as_number(a) for a in answer] if np.ndim(answer) == 1 and len(answer) == 2 else [None]
    return tuple(numbers) if None not in numbers else ("not a pair", type(answer).__name__)


_PAIR, _SWAP = "answer with a pair of epochs", "the pair is the wrong way round: (stop_epoch, best_epoch)."
_WRONG = dict(tie_is_improvement=(10, 7), patience_off_by_one=(11, 7), no_early_stop=(12, 7), zero_based=(5, 2),
              training_data=(12, 12), restored_last=(6, 6))  # fmt: skip
early_stopping = Exercise(
    name="early_stopping",
    kind="value",
    reference=lambda: (6, 3),
    observe=_pair_of_epochs,
    guards=[Guard("not_a_pair", tag_is("not a pair"), lambda: 6, lambda got, _: f"{_PAIR}, got a {got[1]}.")],
    mistakes=[*(Mistake(m, lambda p=p: p) for m, p in _WRONG.items()), Mistake("swapped_pair", lambda: (3, 6), _SWAP)],
    explain=lambda got, _: f"({got[0]:g}, {got[1]:g}) is not it: count the epochs since the best so far; stop at 3.",
    success="the lowest validation loss is at epoch 3; epochs 4, 5 and 6 do not beat it (a tie is no "
    "improvement), so training stops after epoch 6 and the weights of epoch 3 are restored.",
)

__all__ = ["early_stopping", "r_squared", "standardize", "validation_loss"]
