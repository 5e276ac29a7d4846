"""Pictures of tensor shapes: how broadcasting stretches two operands to one shape (lesson 01)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from course.plots import _inputs as check

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


MOST_CELLS = 12  # per side: each cell is drawn and labelled


def _grid(ax: Axes, values: np.ndarray, solid: np.ndarray, title: str, color: str) -> None:
    """Draw ``values`` as a grid of labelled cells; cells where ``solid`` is False are pale copies."""
    rows, cols = values.shape
    for (row, col), value in np.ndenumerate(values):
        alpha = 0.85 if solid[row, col] else 0.25
        ax.add_patch(_cell(col, rows - 1 - row, color, alpha))
        ax.text(col + 0.5, rows - 0.5 - row, f"{value:g}", ha="center", va="center", fontsize=11)
    ax.set(xlim=(-0.1, cols + 0.1), ylim=(-0.1, rows + 0.1), aspect="equal", title=title)
    ax.axis("off")


def _cell(x: float, y: float, color: str, alpha: float) -> object:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 1, 1, facecolor=color, edgecolor="black", alpha=alpha)


def _difference(a: float, b: float) -> float:
    """``a - b`` to the digits the operands show (``:g``, 6 significant): the float error of a value they show
    exactly (3.9 in float32 is 3.9000001) is no digit of its own, and no digit they show is lost (1e-05 - 0)."""
    if not (math.isfinite(a - b) and (a or b)):
        return a - b + 0.0
    return round(a - b, 5 - math.floor(math.log10(max(abs(a), abs(b))))) + 0.0  # + 0.0: no -0


def plot_broadcast(column: Sequence[float], vector: Sequence[float]) -> Figure:
    """Draw ``column - vector`` for a column ``(N, 1)`` and a vector ``(M,)``: both stretch to ``(N, M)``.

    Solid cells hold the values each tensor really has; pale cells are the copies broadcasting
    pretends are there (no memory is used for them). The third panel is the result.

    Example:
        >>> fig = plot_broadcast([1.1, 1.9, 3.2], [1.0, 2.0, 3.0])
        >>> [ax.get_title().splitlines()[0] for ax in fig.axes]
        ['column, shape (3, 1)', 'vector, shape (3,)', 'column - vector, shape (3, 3)']
        >>> plot_broadcast([], [1.0])
        Traceback (most recent call last):
        ValueError: column and vector need at least one value each, e.g. plot_broadcast([1, 2], [1, 2]).
    """
    col, vec = check.array("column", column), check.array("vector", vector)
    if col.size == 0 or vec.size == 0:
        raise ValueError("column and vector need at least one value each, e.g. plot_broadcast([1, 2], [1, 2]).")
    if not (col.ndim == 1 or (col.ndim == 2 and col.shape[1] == 1)):
        raise ValueError(f"column should have shape (N, 1) (or (N,), read as one), got shape {col.shape}.")
    if vec.ndim != 1:
        raise ValueError(f"vector should have shape (M,), got shape {vec.shape}; flatten it first, v.reshape(-1).")
    col = col.reshape(-1)
    if max(len(col), len(vec)) > MOST_CELLS:
        raise ValueError(
            f"column has {len(col)} values and vector {len(vec)}; the picture writes every cell, so each may have "
            f"at most {MOST_CELLS}. Draw a slice, e.g. column[:4], vector[:4]."
        )
    import matplotlib.pyplot as plt

    n, m = len(col), len(vec)
    fig, axes = plt.subplots(1, 3, figsize=(3.2 * 3, 3.4))
    stretched_col, stretched_vec = np.repeat(col[:, None], m, axis=1), np.repeat(vec[None, :], n, axis=0)
    first_column, first_row = np.arange(m)[None, :] == 0, np.arange(n)[:, None] == 0
    _grid(
        axes[0],
        stretched_col,
        np.broadcast_to(first_column, (n, m)),
        f"column, shape ({n}, 1)\nstretched along the columns",
        "C0",
    )
    _grid(
        axes[1],
        stretched_vec,
        np.broadcast_to(first_row, (n, m)),
        f"vector, shape ({m},)\nread as a row (1, {m}), stretched down",
        "C1",
    )
    _grid(
        axes[2],
        np.array([[_difference(a, b) for b in vec.tolist()] for a in col.tolist()]),
        np.ones((n, m), bool),
        f"column - vector, shape ({n}, {m})\nevery pair",
        "C2",
    )
    fig.tight_layout()
    return fig
