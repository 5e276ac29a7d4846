"""Pictures of gradient descent: how the learning rate shapes the path and the loss curve (lesson 02)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from course.plots import _inputs as check
from course.plots.curves import below_log_top, log_axis

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Run = tuple[Sequence[Sequence[float]], Sequence[float]]  # the (a, b) path, the loss per epoch


MOST_RUNS = 8  # columns of 2.6 inches each


def _checked(a_grid: object, b_grid: object, surface: object, runs: object) -> tuple[np.ndarray, ...]:
    grids = check.grids(("a_grid", "b_grid", "surface"), a_grid, b_grid, surface)
    if grids[2].max() <= max(grids[2].min(), 1e-3):
        raise ValueError(
            f"surface should rise above its lowest value and above 1e-3 to have contour lines; it runs from "
            f"{grids[2].min():g} to {grids[2].max():g}. Widen the grid or check the loss."
        )
    example = "{'lr = 0.1': (path, losses)}"
    check.mapping("runs", runs, example, most=MOST_RUNS, titled=True)
    for title, run in runs.items():
        if isinstance(run, (str, Mapping)) or not isinstance(run, Sequence) or len(run) != 2:
            raise TypeError(
                f"runs[{title!r}] should be a pair (path of (a, b) points, losses per epoch), e.g. {example}."
            )
    return grids


def _losses(name: str, losses: object) -> np.ndarray:
    """Losses for a log axis: NaN or inf (a run that diverged) become gaps, not shifted points."""
    values = below_log_top(name, check.positive(name, check.line(name, losses)))
    return np.where(np.isfinite(values), values, np.nan)


def plot_learning_rates(a_grid: object, b_grid: object, surface: object, runs: Mapping[str, Run]) -> Figure:
    """One column per run: its descent path on the loss surface (top) and its loss per epoch (bottom).

    ``runs`` maps a title (say ``"lr = 0.1"``) to ``(path, losses)``. A black square marks each start,
    a star the lowest point of the grid. Paths that leave the grid are cut at its edge; the loss axis is
    logarithmic, so a loss that grows a millionfold still fits (a loss that became NaN or inf is not drawn;
    the axis ends at 1e200, past which float64 ticks overflow: a loss that grows beyond leaves the top; a run's losses
    wholly beyond are refused).

    Example:
        >>> a, b = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
        >>> runs = {"slow": ([(1, 1), (0.9, 0.9)], [2.0, 1.6]), "fast": ([(1, 1), (0, 0)], [2.0, 0.1])}
        >>> fig = plot_learning_rates(a, b, a**2 + b**2, runs)
        >>> [ax.get_title() for ax in fig.axes[:2]]
        ['slow', 'fast']
        >>> plot_learning_rates(a, b, a**2 + b**2, runs={})
        Traceback (most recent call last):
        ValueError: runs should be a non-empty dict, e.g. {'lr = 0.1': (path, losses)}; got an empty one.
    """
    a_grid, b_grid, surface = _checked(a_grid, b_grid, surface, runs)
    checked = {
        title: (check.path(f"runs[{title!r}] path", p), _losses(f"runs[{title!r}] losses", ls))
        for title, (p, ls) in runs.items()
    }
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(runs), figsize=(2.6 * len(runs), 5.0), squeeze=False)
    levels = np.geomspace(max(surface.min(), 1e-3), surface.max(), 8)
    lowest = np.unravel_index(np.argmin(surface), surface.shape)
    for column, (title, (points, losses)) in enumerate(checked.items()):
        top, bottom = axes[0, column], axes[1, column]
        top.contour(a_grid, b_grid, surface, levels=levels, cmap="viridis", linewidths=0.8)
        top.plot(points[:, 0], points[:, 1], ".-", color="C3", markersize=3, linewidth=0.8)
        top.plot(*points[0], "ks", markersize=5)
        top.plot(a_grid[lowest], b_grid[lowest], "k*", markersize=9)
        top.set(xlim=(a_grid.min(), a_grid.max()), ylim=(b_grid.min(), b_grid.max()), title=title, xlabel="a")
        bottom.plot(np.arange(1, len(losses) + 1), losses, color="C3", **check.marks(losses))
        log_axis(bottom, losses)
        bottom.set(xlabel="epoch")
    axes[0, 0].set_ylabel("b")
    axes[1, 0].set_ylabel("training loss")
    fig.tight_layout()
    return fig
