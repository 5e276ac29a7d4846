"""Pictures of gradient descent: how the learning rate shapes the path and the loss curve (lesson 02)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Run = tuple[Sequence[Sequence[float]], Sequence[float]]  # the (a, b) path, the loss per epoch


def _checked(a_grid: object, b_grid: object, surface: object, runs: object) -> tuple[np.ndarray, ...]:
    grids = tuple(np.asarray(v, dtype=float) for v in (a_grid, b_grid, surface))
    if not grids[0].shape == grids[1].shape == grids[2].shape or grids[0].ndim != 2:
        raise ValueError("a_grid, b_grid and surface must be 2-D arrays of one shape (use np.meshgrid).")
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError("runs should be a non-empty dict: title -> (path of (a, b) points, losses per epoch).")
    return grids


def plot_learning_rates(a_grid: object, b_grid: object, surface: object, runs: Mapping[str, Run]) -> Figure:
    """One column per run: its descent path on the loss surface (top) and its loss per epoch (bottom).

    ``runs`` maps a title (say ``"lr = 0.1"``) to ``(path, losses)``. A black square marks each start,
    a star the lowest point of the grid. Paths that leave the grid are cut at its edge; the loss axis is
    logarithmic, so a loss that grows a millionfold still fits.

    Example:
        >>> a, b = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
        >>> runs = {"slow": ([(1, 1), (0.9, 0.9)], [2.0, 1.6]), "fast": ([(1, 1), (0, 0)], [2.0, 0.1])}
        >>> fig = plot_learning_rates(a, b, a**2 + b**2, runs)
        >>> [ax.get_title() for ax in fig.axes[:2]]
        ['slow', 'fast']
        >>> plot_learning_rates(a, b, a**2 + b**2, runs={})
        Traceback (most recent call last):
        ValueError: runs should be a non-empty dict: title -> (path of (a, b) points, losses per epoch).
    """
    a_grid, b_grid, surface = _checked(a_grid, b_grid, surface, runs)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(runs), figsize=(2.6 * len(runs), 5.0), squeeze=False)
    levels = np.geomspace(max(surface.min(), 1e-3), surface.max(), 8)
    lowest = np.unravel_index(np.argmin(surface), surface.shape)
    for column, (title, (path, losses)) in enumerate(runs.items()):
        top, bottom = axes[0, column], axes[1, column]
        top.contour(a_grid, b_grid, surface, levels=levels, cmap="viridis", linewidths=0.8)
        points = np.asarray(path, dtype=float).reshape(-1, 2)
        top.plot(points[:, 0], points[:, 1], ".-", color="C3", markersize=3, linewidth=0.8)
        top.plot(*points[0], "ks", markersize=5)
        top.plot(a_grid[lowest], b_grid[lowest], "k*", markersize=9)
        top.set(xlim=(a_grid.min(), a_grid.max()), ylim=(b_grid.min(), b_grid.max()), title=title, xlabel="a")
        finite = np.asarray(losses, dtype=float)
        finite = finite[np.isfinite(finite)]
        bottom.plot(np.arange(1, len(finite) + 1), finite, color="C3")
        bottom.set(yscale="log", xlabel="epoch")
    axes[0, 0].set_ylabel("b")
    axes[1, 0].set_ylabel("training loss")
    fig.tight_layout()
    return fig
