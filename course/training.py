"""Training and validation steps, the loop, and checkpoints: the trainer the lessons build."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Step = Callable[[torch.Tensor, torch.Tensor], float]


def _check_parts(model: object, loss_fn: object, optimizer: object | None = None) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model should be a torch.nn.Module, got {type(model).__name__}.")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn should be callable (e.g. nn.MSELoss()), got {type(loss_fn).__name__}.")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer should be a torch.optim.Optimizer, got {type(optimizer).__name__}. "
            "Build one with e.g. torch.optim.SGD(model.parameters(), lr=0.1)."
        )


def _scalar_loss(loss: torch.Tensor) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(
            f"the loss must be a scalar tensor, got {shape}. Use a loss with reduction='mean' or 'sum', "
            "or reduce it yourself with .mean()."
        )
    return loss


def make_train_step(model: nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer) -> Step:
    """Return ``train_step(x, y) -> float``: forward, loss, backward, step, zero the gradients.

    Example:
        >>> model = nn.Linear(1, 1)
        >>> step = make_train_step(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
        >>> isinstance(step(torch.ones(4, 1), torch.ones(4, 1)), float)
        True
    """
    _check_parts(model, loss_fn, optimizer)

    def train_step(x: torch.Tensor, y: torch.Tensor) -> float:
        model.train()
        loss = _scalar_loss(loss_fn(model(x), y))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss.item()

    return train_step


def make_val_step(model: nn.Module, loss_fn: Callable) -> Step:
    """Return ``val_step(x, y) -> float``: the loss in eval mode, without building a graph.

    Example:
        >>> model = nn.Linear(1, 1)
        >>> val_step = make_val_step(model, nn.MSELoss())
        >>> isinstance(val_step(torch.ones(4, 1), torch.ones(4, 1)), float)
        True
    """
    _check_parts(model, loss_fn)

    def val_step(x: torch.Tensor, y: torch.Tensor) -> float:
        model.eval()
        with torch.no_grad():
            return _scalar_loss(loss_fn(model(x), y)).item()

    return val_step
