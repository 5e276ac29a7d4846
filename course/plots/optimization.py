"""Figures of lesson 05: optimizers' paths on a loss contour, and learning-rate schedules.

matplotlib is imported inside each function, so ``import course`` stays cheap. Each helper returns its ``Figure``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from course.plots import _inputs as check
from course.plots.curves import below_log_top, log_axis

if TYPE_CHECKING:
    from matplotlib.figure import Figure


MOST_PANELS = 16  # small contour plots, one per optimizer
MOST_CURVES = 20  # more lines than a legend can tell apart


def _pair(name: str, value: object, example: str) -> tuple[float, float]:
    if isinstance(value, torch.Tensor) and value.ndim == 1 and not value.is_meta:  # as a path's points may be
        value = value.tolist()
    if isinstance(value, (str, Mapping)) or not isinstance(value, (Sequence, np.ndarray)) or len(value) != 2:
        raise TypeError(f"{name} should be a pair of numbers, e.g. {example}; got {value!r}.")
    first, second = (check.real(f"{name}[{i}]", v, "1.5") for i, v in enumerate(value))
    return first, second


def _span(name: str, value: object) -> tuple[float, float]:
    low, high = _pair(name, value, "(-1, 2)")
    if not low < high:
        raise ValueError(f"{name} should be (low, high) with low < high, e.g. (-1, 2); got ({low:g}, {high:g}).")
    return low, high


def _inside(values: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    """Which ``values`` lie in ``span``, up to float32 rounding (1e-6 of the span's size or its edges'): a point
    computed in float32 at an edge (0.1 is 0.10000000149) is on it."""
    slack = 1e-6 * max(abs(span[0]), abs(span[1]), span[1] - span[0])
    return (span[0] - slack <= values) & (values <= span[1] + slack)


def _outside(points: np.ndarray, a_range: tuple[float, float], b_range: tuple[float, float]) -> np.ndarray:
    """Which of ``points`` fall outside the frame the ranges draw."""
    return ~(_inside(points[:, 0], a_range) & _inside(points[:, 1], b_range))


def _surface(
    loss: Callable[[np.ndarray, np.ndarray], np.ndarray], a_grid: np.ndarray, b_grid: np.ndarray
) -> np.ndarray:
    given = f"two float64 NumPy arrays of shape {a_grid.shape}, every (a, b) of the ranges from np.meshgrid"
    fix = (
        "compute the loss at every point with NumPy and plain numbers, not torch (which refuses NumPy arrays), "
        "summing over the data points one at a time, e.g. lambda a, b: sum((a + b * x - y) ** 2 for x, y in "
        "zip(xs, ys)) / len(xs) with xs, ys = x.flatten().tolist(), y.flatten().tolist()"
    )
    surface = check.array(
        "loss(a_grid, b_grid)", check.called("loss(a_grid, b_grid)", loss, (a_grid, b_grid), given, fix)
    )
    if surface.shape != a_grid.shape:
        raise ValueError(f"loss(a_grid, b_grid) should return the grid's shape {a_grid.shape}, got {surface.shape}.")
    check.finite("loss(a_grid, b_grid)", surface.reshape(-1), "the contour lines would have holes")
    if surface.max() <= max(surface.min(), 1e-3):
        raise ValueError(
            f"loss(a_grid, b_grid) should vary over the ranges and rise above 1e-3 to have contour lines; it runs "
            f"from {surface.min():g} to {surface.max():g}. Check the loss, or widen a_range and b_range."
        )
    return surface


def plot_optimizer_paths(
    loss: Callable[[np.ndarray, np.ndarray], np.ndarray],
    paths: Mapping[str, Sequence[Sequence[float]]],
    a_range: tuple[float, float],
    b_range: tuple[float, float],
    target: tuple[float, float] | None = None,
    columns: int = 3,
) -> Figure:
    """One small contour plot of ``loss(a, b)`` per optimizer, with that optimizer's path of ``(a, b)`` points.

    ``loss`` takes two NumPy grids (from ``np.meshgrid``) and returns the loss at every point; the
    contour lines are spaced logarithmically, so a long narrow valley stays readable. ``target``
    marks the minimum with a star; it must lie inside the ranges. A path may leave them (a learning rate
    too large): the frame stays on the ranges, where the loss is drawn, and the panel's title says how
    many of its points lie outside, so none vanishes unsaid.

    Example:
        >>> bowl = lambda a, b: a**2 + 10 * b**2
        >>> fig = plot_optimizer_paths(bowl, {"SGD": [(1, 1), (0.5, 0.2), (0, 0)]}, (-1, 1), (-1, 1), target=(0, 0))
        >>> [ax.get_title() for ax in fig.axes]
        ['SGD']
    """
    check.mapping("paths", paths, "{'SGD': [(0, 0), (0.1, 0.4)]}", most=MOST_PANELS, titled=True)
    if not callable(loss):
        raise TypeError(f"loss should be a function loss(a_grid, b_grid) -> losses, got {type(loss).__name__}.")
    points_of = {name: check.path(f"paths[{name!r}]", path) for name, path in paths.items()}
    a_range, b_range = _span("a_range", a_range), _span("b_range", b_range)
    target = None if target is None else _pair("target", target, "(0, 2)")
    columns = check.integer("columns", columns, 1)
    spans = {"a_range": a_range, "b_range": b_range}
    if off := [n for (n, span), v in zip(spans.items(), target or (), strict=False) if not _inside(v, span)]:
        where = " and ".join(f"{n} {spans[n]}" for n in off)
        raise ValueError(
            f"target {target} lies outside {where}, so its star would not show: widen "
            f"{'the ranges' if len(off) > 1 else off[0]} to hold it."
        )
    a_grid, b_grid = np.meshgrid(np.linspace(*a_range, 200), np.linspace(*b_range, 200))
    surface = _surface(loss, a_grid, b_grid)
    import matplotlib.pyplot as plt

    low = max(float(surface.min()), 1e-3)
    levels = np.geomspace(low, float(surface.max()), 12)
    columns = max(1, min(columns, len(paths)))
    rows = -(-len(paths) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns, 3.0 * rows), sharex=True, sharey=True)
    axes = np.atleast_1d(axes).reshape(-1)
    for ax, (name, points) in zip(axes, points_of.items(), strict=False):
        ax.contour(a_grid, b_grid, surface, levels=levels, colors="0.75", linewidths=0.7)
        ax.plot(points[:, 0], points[:, 1], color="C0", marker=".", markersize=2.5, linewidth=1)
        ax.plot(*points[0], marker="o", color="black", markersize=4)
        ax.plot(*points[-1], marker="o", color="C3", markersize=5)
        if target is not None:
            ax.plot(*target, marker="*", color="C2", markersize=11)
        outside = int(_outside(points, a_range, b_range).sum())
        note = f"\n({outside} of {len(points)} points outside the frame)" if outside else ""
        note = "\n(its only point outside the frame)" if outside == len(points) == 1 else note
        ax.set_title(f"{name}{note}", fontsize=10)
        ax.set_xlim(*a_range)
        ax.set_ylim(*b_range)
    for ax in axes[len(paths) :]:
        ax.set_visible(False)
    for ax in axes[(rows - 1) * columns :]:
        ax.set_xlabel("a (intercept)")
    for ax in axes[::columns]:
        ax.set_ylabel("b (slope)")
    fig.tight_layout()
    return fig


def plot_lr_schedules(schedules: Mapping[str, Sequence[float]]) -> Figure:
    """The learning rate used in each epoch, one staircase per scheduler, on a log scale (a linear one when a
    schedule reaches 0 or below, which a log scale cannot show, e.g. ``LinearLR`` or ``PolynomialLR`` decaying to 0).

    Epoch ``e``'s rate is a step from ``e`` to ``e + 1``, so the last epoch (or the only one) shows too.
    A log axis ends at 1e200 (past it, float64 ticks overflow): a rate beyond leaves the top (a schedule wholly beyond
    is refused).

    Example:
        >>> fig = plot_lr_schedules({"StepLR": [0.1, 0.1, 0.05, 0.05], "constant": [0.1] * 4})
        >>> fig.axes[0].get_yscale(), [line.get_label() for line in fig.axes[0].get_lines()]
        ('log', ['StepLR', 'constant'])
    """
    check.mapping("schedules", schedules, "{'StepLR': lrs}", most=MOST_CURVES, labels=True)
    lines = {name: check.vector(f"schedules[{name!r}]", v) for name, v in schedules.items()}
    if not (log := all((rates > 0).all() for rates in lines.values())):  # 0 or below: on a linear axis, +-1e300
        lines = {name: check.drawable(f"schedules[{name!r}]", rates) for name, rates in lines.items()}
    for name, rates in lines.items() if log else ():
        below_log_top(f"schedules[{name!r}]", rates)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    for i, (name, rates) in enumerate(lines.items()):
        edges = np.arange(1, len(rates) + 2)  # epoch e spans [e, e + 1]: repeat the last rate to close its step
        ax.step(edges, np.append(rates, rates[-1]), check.line_style(i), where="post", label=str(name))
    if log:
        log_axis(ax, np.concatenate(list(lines.values())))
    ax.set(xlabel="epoch", ylabel="learning rate", title="Learning rate per epoch")
    ax.legend()
    fig.tight_layout()
    return fig
