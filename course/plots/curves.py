"""Matplotlib figures the lessons show. Every helper returns its ``Figure``.

matplotlib is imported inside each function, so ``import course`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _as_1d(name: str, values: object) -> np.ndarray:
    array = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=float)
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise ValueError(f"{name} should be one value per point, shape (N,) or (N, 1); got shape {array.shape}.")
    return array


def _paired(x_name: str, x: object, y_name: str, y: object) -> tuple[np.ndarray, np.ndarray]:
    x_arr, y_arr = _as_1d(x_name, x), _as_1d(y_name, y)
    if len(x_arr) != len(y_arr):
        raise ValueError(f"{x_name} has {len(x_arr)} points but {y_name} has {len(y_arr)}; they must match one to one.")
    return x_arr, y_arr


def plot_split(x_train: object, y_train: object, x_val: object, y_val: object) -> Figure:
    """Scatter the training and validation sets side by side.

    Example:
        >>> from course.data import make_linear_data
        >>> fig = plot_split(*make_linear_data())
        >>> len(fig.axes)
        2
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, (x, y), title, color in zip(
        axes, [(x_train, y_train), (x_val, y_val)], ["Training set", "Validation set"], ["C0", "C1"], strict=True
    ):
        ax.scatter(*_paired("x", x, "y", y), color=color, s=15)
        ax.set(title=title, xlabel="x", ylabel="y")
    fig.tight_layout()
    return fig


def plot_fit(x: object, y: object, x_line: object, y_line: object, title: str = "Data and fitted line") -> Figure:
    """Scatter the data points and draw the model's predictions as a line.

    Example:
        >>> fig = plot_fit([0, 1, 2], [0, 1, 2], [0, 2], [0, 2])
        >>> fig.axes[0].get_title()
        'Data and fitted line'
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(*_paired("x", x, "y", y), s=15, label="data")
    x_l, y_l = _paired("x_line", x_line, "y_line", y_line)
    order = np.argsort(x_l)
    ax.plot(x_l[order], y_l[order], color="C3", label="model")
    ax.set(title=title, xlabel="x", ylabel="y")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_curves(
    curves: Mapping[str, Sequence[float]],
    xlabel: str = "epoch",
    ylabel: str = "loss",
    log_y: bool = False,
    title: str | None = None,
) -> Figure:
    """Draw several named curves on one axis (losses per epoch, learning rates, ...).

    Example:
        >>> fig = plot_curves({"training": [1.0, 0.5], "validation": [1.1, 0.7]})
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['training', 'validation']
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves should be a non-empty dict of name -> list of values, e.g. {'training': losses}.")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in curves.items():
        values = _as_1d(f"curves[{name!r}]", values)
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    if log_y:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or "")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_losses(history: Mapping[str, Sequence[float]], log_y: bool = False) -> Figure:
    """Training (and validation) loss per epoch, from a history dict.

    Example:
        >>> fig = plot_losses({"train_loss": [1.0, 0.5], "val_loss": [1.2, 0.6]})
        >>> fig.axes[0].get_ylabel()
        'loss'
    """
    return plot_curves(history, xlabel="epoch", ylabel="loss", log_y=log_y, title="Loss per epoch")


def plot_loss_surface(
    a_grid: np.ndarray, b_grid: np.ndarray, losses: np.ndarray, path: Sequence[Sequence[float]] | None = None
) -> Figure:
    """Contour plot of a loss over two parameters, with an optional descent path of (a, b) points.

    ``a_grid`` and ``b_grid`` come from ``np.meshgrid``; ``losses`` has the same shape.

    Example:
        >>> a, b = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
        >>> fig = plot_loss_surface(a, b, a**2 + b**2, path=[(1, 1), (0.5, 0.5), (0, 0)])
        >>> fig.axes[0].get_xlabel()
        'a'
    """
    a_grid, b_grid, losses = (np.asarray(v, dtype=float) for v in (a_grid, b_grid, losses))
    if not a_grid.shape == b_grid.shape == losses.shape or a_grid.ndim != 2:
        raise ValueError(
            "a_grid, b_grid and losses must be 2-D arrays of one shape (use np.meshgrid); "
            f"got {a_grid.shape}, {b_grid.shape} and {losses.shape}."
        )
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    contours = ax.contourf(a_grid, b_grid, losses, levels=30, cmap="viridis")
    fig.colorbar(contours, ax=ax, label="loss")
    if path is not None:
        points = np.asarray(path, dtype=float)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"path should be a list of (a, b) pairs, shape (steps, 2); got shape {points.shape}.")
        ax.plot(points[:, 0], points[:, 1], color="white", marker=".", markersize=3, label="descent path")
        ax.scatter(*points[-1], color="red", zorder=3, label="end")
        ax.legend()
    ax.set(xlabel="a", ylabel="b", title="Loss surface")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix: object, labels: Sequence[str]) -> Figure:
    """Show a confusion matrix (rows: true class, columns: predicted class) with counts.

    Example:
        >>> fig = plot_confusion_matrix([[5, 1], [2, 7]], labels=["no", "yes"])
        >>> fig.axes[0].get_xlabel()
        'predicted'
    """
    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] != len(labels):
        raise ValueError(
            f"matrix must be square with one row per label; got shape {counts.shape} and {len(labels)} labels."
        )
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(counts, cmap="Blues")
    for (row, col), value in np.ndenumerate(counts):
        color = "white" if value > counts.max() / 2 else "black"
        ax.text(col, row, str(value), ha="center", va="center", color=color)
    ticks = range(len(labels))
    ax.set(xticks=ticks, yticks=ticks, xticklabels=labels, yticklabels=labels, xlabel="predicted", ylabel="true")
    fig.tight_layout()
    return fig
