"""Checks for lesson 11 (evaluation): a validation loss, R² by hand, scaling without leakage, early stopping.

Use in a notebook::

    from course.checks import evaluation as check
    check.validation_loss(validation_loss)

The validation probe is a model with Dropout that starts in training mode and records, at every
forward pass, its mode and whether autograd recorded a graph; its loader has a short last batch
(4, 4 and 2 samples), so the mean over samples and the mean of the batch means differ.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.values import as_number

# --- exercise 1: fix a validation function --------------------------------------------------------------


def _val_inputs() -> tuple:
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(10, 2, generator=generator), torch.randn(10, 1, generator=generator)
    model = nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 1))  # a new module starts in training mode
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[0.8, -0.6]]))
        model[1].bias.fill_(0.5)
    model.seen = []  # (training, output requires grad) at every forward pass
    model.register_forward_hook(lambda module, args, out: model.seen.append((model.training, out.requires_grad)))
    return model, nn.MSELoss(), DataLoader(TensorDataset(x, y), batch_size=4)


def _observe_val(fn: object, args: tuple) -> dict:
    result, seen = fn(*args), args[0].seen
    number = as_number(result)
    return {
        "called": bool(seen),
        "eval": not any(training for training, _ in seen),
        "no_grad": not any(grad for _, grad in seen),
        "loss": number if number is not None else type(result).__name__,
    }


def _val(average: str = "samples", eval_mode: bool = True, no_grad: bool = True) -> object:
    """validation_loss as it should be, or with one mistake: a right or a wrong program."""

    def validation_loss(model, loss_fn, loader):
        if eval_mode:
            model.eval()
        with torch.set_grad_enabled(not no_grad):
            losses = [(loss_fn(model(x), y).item(), len(x)) for x, y in loader]
        total = sum(loss * n for loss, n in losses)
        return {
            "samples": total / sum(n for _, n in losses),
            "batches": sum(loss for loss, _ in losses) / len(losses),
            "sum": sum(loss for loss, _ in losses),
            "last": losses[-1][0],
            "full batches": total / (len(losses) * loader.batch_size),
        }[average]

    return validation_loss


def _all_at_once(model: nn.Module, loss_fn: object, loader: DataLoader) -> float:
    model.eval()
    with torch.no_grad():
        x, y = loader.dataset.tensors
        return loss_fn(model(x), y).item()


validation_loss = Exercise(
    name="validation_loss",
    lesson="11",
    inputs=_val_inputs,
    reference=_val(),
    observe=_observe_val,
    guards=[
        Guard("model_not_called", lambda got: not got["called"], example=lambda model, loss_fn, loader: 0.5),
        Guard("no_eval", lambda got: not got["eval"], example=_val(eval_mode=False)),
        Guard("no_grad", lambda got: not got["no_grad"], example=_val(no_grad=False)),
        Guard("not_a_number", lambda got: isinstance(got["loss"], str), example=lambda *args: str(_val()(*args))),
    ],
    mistakes=[
        Mistake("mean_of_batch_means", _val("batches")),
        Mistake("sum_not_mean", _val("sum")),
        Mistake("last_loss_only", _val("last")),
        Mistake("wrong_total", _val("full batches"), "the last batch is short: divide by the number of samples."),
    ],
    alternatives=[_all_at_once],
    explain=lambda got, expected: (
        f"expected the mean loss over the samples, {expected['loss']:.4f}; got {got['loss']:.4f}."
    ),
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
    lesson="11",
    inputs=lambda: (torch.tensor([3.0, -0.5, 2.0, 7.0, 4.5, 1.0]), torch.tensor([2.5, 0.0, 2.0, 9.0, 3.0, 2.5])),
    reference=_r2,
    observe=_number,
    guards=[Guard("not_a_number", lambda got: isinstance(got, str), example=lambda y_true, y_pred: [0.5])],
    mistakes=[
        Mistake("missing_one_minus", lambda y_true, y_pred: 1 - _r2(y_true, y_pred)),
        Mistake("wrong_denominator", lambda y_true, y_pred: _r2(y_true, y_pred, centre=y_pred.mean())),
        Mistake("not_centred", lambda y_true, y_pred: _r2(y_true, y_pred, centre=0.0)),
        Mistake("mean_over_sum", lambda y_true, y_pred: _r2(y_true, y_pred, res="mean")),
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
    out = fn(*args)
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        return out
    n = len(args[0])
    if out[0].shape == args[0].shape and torch.allclose(out[0].std(0, unbiased=False), torch.ones(1), atol=1e-4):
        return tuple(t * math.sqrt((n - 1) / n) for t in out)
    return tuple(out)


def _tensor_pair(got: object) -> bool:
    return isinstance(got, tuple) and all(isinstance(t, torch.Tensor) for t in got)


standardize = Exercise(
    name="standardize",
    lesson="11",
    inputs=_scaling_inputs,
    reference=_scale,
    observe=_observe_scaled,
    guards=[
        Guard("not_a_pair", lambda got: not isinstance(got, (tuple, list)) or len(got) != 2, example=lambda a, b: a),
        Guard("not_a_tensor", lambda got: not _tensor_pair(got), example=lambda a, b: (a.numpy(), b.numpy())),
    ],
    mistakes=[
        Mistake("leakage", lambda a, b: _scale(a, b, stats=torch.cat([a, b]))),
        Mistake("leakage", lambda a, b: _scale(a, b, stats=torch.cat([a, b]), ddof=0)),
        Mistake("own_statistics", lambda a, b: (_scale(a, b)[0], _scale(b, b)[0])),
        Mistake("no_std", lambda a, b: (a - a.mean(0), b - a.mean(0))),
        Mistake(
            "wrong_axis",
            lambda a, b: _scale(a, b, dim=None),
            "one mean and std for the whole tensor mixes the features: use dim=0.",
        ),
    ],
    alternatives=[
        lambda a, b: ((a - a.mean(0)) / a.std(0, unbiased=False), (b - a.mean(0)) / a.std(0, unbiased=False))
    ],
    explain=lambda got, _: "expected (x - mean) / std for both parts, with the mean and std of each column of x_train.",
    success="each column scaled with the mean and standard deviation of the training part only.",
)

# --- exercise 4: predict when early stopping stops ------------------------------------------------------
HISTORY = {
    "train_loss": [0.95, 0.60, 0.44, 0.38, 0.33, 0.29, 0.26, 0.23, 0.21, 0.19, 0.17, 0.16],
    "val_loss": [0.90, 0.62, 0.48, 0.50, 0.48, 0.55, 0.47, 0.52, 0.51, 0.53, 0.60, 0.58],
}
PATIENCE = 3


def _pair_of_epochs(answer: object, args: tuple) -> object:
    numbers = [as_number(a) for a in answer] if isinstance(answer, (tuple, list)) and len(answer) == 2 else None
    return tuple(numbers) if numbers and None not in numbers else ("not a pair", type(answer).__name__)


early_stopping = Exercise(
    name="early_stopping",
    kind="value",
    lesson="11",
    reference=lambda: (6, 3),
    observe=_pair_of_epochs,
    guards=[Guard("not_a_pair", lambda got: got[0] == "not a pair", example=lambda: 6)],
    mistakes=[
        Mistake("tie_is_improvement", lambda: (10, 7)),
        Mistake("patience_off_by_one", lambda: (11, 7)),
        Mistake("no_early_stop", lambda: (12, 7)),
        Mistake("zero_based", lambda: (5, 2)),
        Mistake("training_data", lambda: (12, 12)),
        Mistake("restored_last", lambda: (6, 6)),
    ],
    explain=lambda got, _: (
        f"({got[0]:g}, {got[1]:g}) is not it: walk through the validation losses epoch by epoch, "
        "counting the epochs since the best one so far; stop when that count reaches 3."
    ),
    success="the lowest validation loss is at epoch 3; epochs 4, 5 and 6 do not beat it (a tie is no "
    "improvement), so training stops after epoch 6 and the weights of epoch 3 are restored.",
)

__all__ = ["early_stopping", "r_squared", "standardize", "validation_loss"]
