"""Checks for lesson 11 (evaluation): the validation loop, regression metrics, scaling, early stopping."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.checks.verdict import Verdict, as_number, call_learner, correct, number_pair, wrong


def _close(a: float, b: float, tol: float = 1e-4) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


class _Probe(nn.Module):
    """A small model with Dropout that records, on each forward pass, its mode and whether grad is on."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.linear = nn.Linear(2, 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(1, 2, generator=generator))
            self.linear.bias.fill_(0.5)
        self.dropout = nn.Dropout(p=0.5)
        self.calls: list[tuple[bool, bool]] = []  # (training, output requires grad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(self.dropout(x))
        self.calls.append((self.training, out.requires_grad))
        return out


def _probe_data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(10, 2, generator=generator)
    y = torch.randn(10, 1, generator=generator)
    return x, y


def validation_loss(fn: Callable | None) -> Verdict:
    """Check ``fn(model, loss_fn, loader) -> float``: the mean loss per mini-batch, in eval mode, without grad."""
    x, y = _probe_data()
    loader = DataLoader(TensorDataset(x, y), batch_size=4)  # batches of 4, 4 and 2
    model, loss_fn = _Probe(), nn.MSELoss()
    model.train()
    result, verdict = call_learner(fn, model, loss_fn, loader)
    if verdict is not None:
        return verdict
    with torch.no_grad():
        model.eval()
        batch_losses = [loss_fn(model.linear(xb), yb).item() for xb, yb in loader]
    expected = sum(batch_losses) / len(batch_losses)
    if not model.calls:
        return wrong(
            "model_not_called", "your function never called the model. Loop over the loader: loss_fn(model(x), y)."
        )
    if any(training for training, _ in model.calls):
        return wrong(
            "no_eval",
            "the model was still in training mode when you called it, so Dropout dropped inputs at random and "
            "the loss changes from call to call. Call model.eval() before the loop.",
        )
    if any(requires_grad for _, requires_grad in model.calls):
        return wrong(
            "no_grad",
            "the model's output requires grad: autograd built a graph you never use (memory and time wasted). "
            "Put the loop inside `with torch.no_grad():`.",
        )
    value = as_number(result)
    if value is None:
        return wrong("not_a_number", f"return one number (a float, e.g. with .item()), got {type(result).__name__}.")
    if _close(value, expected):
        return correct(f"mean validation loss {expected:.4f}, in eval mode and without a graph.")
    if _close(value, sum(batch_losses)):
        return wrong(
            "sum_not_mean",
            f"you returned the sum of the batch losses ({value:.4f}); divide by the number of batches (expected {expected:.4f}).",
        )
    if _close(value, batch_losses[-1]):
        return wrong(
            "last_batch",
            f"you returned the last batch's loss ({value:.4f}); average the losses of all batches (expected {expected:.4f}).",
        )
    return wrong("other", f"expected the mean of the per-batch losses, {expected:.4f}; got {value:.4f}.")


def _regression_data() -> tuple[torch.Tensor, torch.Tensor]:
    y_true = torch.tensor([3.0, -0.5, 2.0, 7.0, 4.5, 1.0])
    y_pred = torch.tensor([2.5, 0.0, 2.0, 9.0, 3.0, 2.5])
    return y_true, y_pred


def regression_metrics(fn: Callable | None) -> Verdict:
    """Check ``fn(y_true, y_pred) -> (mae, r2)`` computed by hand on 1-D tensors."""
    y_true, y_pred = _regression_data()
    result, verdict = call_learner(fn, y_true.clone(), y_pred.clone())
    if verdict is not None:
        return verdict
    numbers = number_pair(result, ("mae", "r2"))
    if isinstance(numbers, Verdict):
        return numbers
    mae, r2 = numbers
    err = y_true - y_pred
    ss_res = float((err**2).sum())
    expected_mae = float(err.abs().mean())
    expected_r2 = 1 - ss_res / float(((y_true - y_true.mean()) ** 2).sum())
    if not _close(mae, expected_mae):
        guesses = {
            "squared_error": (
                float((err**2).mean()),
                "that is the mean *squared* error; MAE takes the absolute value: (y_true - y_pred).abs().mean().",
            ),
            "rmse": (
                math.sqrt(float((err**2).mean())),
                "that is the root mean squared error; MAE is the mean of the absolute errors.",
            ),
            "no_abs": (
                float(err.mean()),
                "without .abs() positive and negative errors cancel out; take the absolute value first.",
            ),
            "sum_not_mean": (float(err.abs().sum()), "that is the sum of the absolute errors; take the mean."),
        }
        for mistake, (value, hint) in guesses.items():
            if _close(mae, value) or _close(mae, -value):
                return wrong(mistake, f"MAE: got {mae:.4f}, expected {expected_mae:.4f}: {hint}")
        return wrong("mae_other", f"MAE: got {mae:.4f}, expected {expected_mae:.4f} = mean of |y_true - y_pred|.")
    if not _close(r2, expected_r2):
        denominators = {
            "wrong_denominator": [
                float(((y_true - y_pred.mean()) ** 2).sum()),  # mean of the predictions
                float((y_true**2).sum()),  # not centred
            ],
        }
        for d in denominators["wrong_denominator"]:
            if _close(r2, 1 - ss_res / d):
                return wrong(
                    "wrong_denominator",
                    f"R²: got {r2:.4f}, expected {expected_r2:.4f}. The denominator is the spread of the *targets* "
                    "around *their* mean: ((y_true - y_true.mean())**2).sum().",
                )
        if _close(r2, ss_res / float(((y_true - y_true.mean()) ** 2).sum())):
            return wrong(
                "missing_one_minus", f"R²: got {r2:.4f}, expected {expected_r2:.4f}: R² is 1 minus that ratio."
            )
        if _close(r2, 1 - float(((y_pred - y_true) ** 2).sum()) / float(((y_pred - y_pred.mean()) ** 2).sum())):
            return wrong(
                "swapped_arguments", "R²: you swapped y_true and y_pred; the mean and spread are those of y_true."
            )
        return wrong("r2_other", f"R²: got {r2:.4f}, expected {expected_r2:.4f} = 1 - SS_res / SS_tot.")
    return correct(f"MAE {expected_mae:.4f} and R² {expected_r2:.4f}, as sklearn.metrics computes them.")


def _scaling_data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    x_train = torch.randn(20, 3, generator=generator) * torch.tensor([1.0, 10.0, 0.1]) + torch.tensor([5.0, -3.0, 0.0])
    x_val = torch.randn(8, 3, generator=generator) * torch.tensor([2.0, 5.0, 0.3]) + torch.tensor([7.0, 0.0, 1.0])
    return x_train, x_val


def standardize(fn: Callable | None) -> Verdict:
    """Check ``fn(x_train, x_val) -> (x_train_scaled, x_val_scaled)`` using the training statistics only."""
    x_train, x_val = _scaling_data()
    result, verdict = call_learner(fn, x_train.clone(), x_val.clone())
    if verdict is not None:
        return verdict
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return wrong("not_a_pair", f"return two tensors, (x_train_scaled, x_val_scaled); got {type(result).__name__}.")
    try:
        train_s, val_s = (torch.as_tensor(v, dtype=torch.float32) for v in result)
    except Exception:
        return wrong("not_tensors", "return two tensors (or arrays) of numbers.")
    if train_s.shape != x_train.shape or val_s.shape != x_val.shape:
        return wrong(
            "wrong_shape",
            f"expected shapes {tuple(x_train.shape)} and {tuple(x_val.shape)}, got {tuple(train_s.shape)} and {tuple(val_s.shape)}.",
        )

    def scaled(x: torch.Tensor, ref: torch.Tensor, unbiased: bool) -> torch.Tensor:
        return (x - ref.mean(0)) / ref.std(0, unbiased=unbiased)

    def matches(ref_train: torch.Tensor, ref_val: torch.Tensor) -> bool:
        return any(
            torch.allclose(train_s, scaled(x_train, ref_train, u), atol=1e-4)
            and torch.allclose(val_s, scaled(x_val, ref_val, u), atol=1e-4)
            for u in (False, True)
        )

    x_all = torch.cat([x_train, x_val])
    if matches(x_train, x_train):
        return correct("both parts scaled with the mean and standard deviation of the training part only.")
    if matches(x_all, x_all):
        return wrong(
            "leakage",
            "you computed the mean and standard deviation on all the data, validation included: the validation set "
            "leaked into the preprocessing. Compute them on x_train only, then apply them to both parts.",
        )
    if matches(x_train, x_val):
        return wrong(
            "val_own_stats",
            "the validation part was scaled with its own statistics; use the training mean and std for both parts.",
        )
    if torch.allclose(train_s, x_train - x_train.mean(0), atol=1e-4):
        return wrong("no_std", "you subtracted the mean but did not divide by the standard deviation.")
    if any(
        torch.allclose(train_s, (x_train - x_train.mean()) / x_train.std(unbiased=u), atol=1e-4) for u in (False, True)
    ):
        return wrong(
            "wrong_axis",
            "you used one mean and std for the whole tensor; compute them per feature (column) with dim=0.",
        )
    return wrong("other", "expected (x - mean) / std with the mean and std of each column of x_train.")


def best_epoch(fn: Callable | None) -> Verdict:
    """Check ``fn(history) -> int``: the epoch (counted from 1) with the lowest validation loss."""
    history = {
        "train_loss": [1.0, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1],
        "val_loss": [1.1, 0.7, 0.5, 0.45, 0.5, 0.6, 0.8],
    }
    result, verdict = call_learner(fn, {k: list(v) for k, v in history.items()})
    if verdict is not None:
        return verdict
    try:
        value = int(result) if not isinstance(result, bool) and float(result) == int(result) else None
    except (TypeError, ValueError):
        value = None
    if value is None:
        return wrong("not_an_int", f"return an epoch number (an int), got {result!r}.")
    if value == 4:
        return correct("epoch 4 has the lowest validation loss: stop there, before the model starts to overfit.")
    if value == 7:
        return wrong(
            "training_data",
            "you chose the epoch with the lowest *training* loss. The training loss keeps falling as the model "
            "memorises the data; choose by the validation loss.",
        )
    if value == 3:
        return wrong(
            "zero_based", "off by one: Python indices start at 0 but epochs are counted from 1. Add 1 to the index."
        )
    return wrong("other", f"expected 4, the epoch with the lowest val_loss; got {value}.")


__all__ = ["best_epoch", "regression_metrics", "standardize", "validation_loss"]
