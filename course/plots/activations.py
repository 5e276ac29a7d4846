"""Figures of lesson 08: fitted curves side by side, and how the scale of activations changes layer by layer.

matplotlib is imported inside each function, so ``import course`` stays cheap. Each helper returns its ``Figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from course.plots import _inputs as check
from course.plots.curves import below_log_top, log_axis

if TYPE_CHECKING:
    from matplotlib.figure import Figure


MOST_PANELS = 6  # side by side, each 5 or 6 inches wide
MOST_CURVES = 20  # more lines than a legend can tell apart


def plot_fits(x: object, y: object, x_line: object, predictions: Mapping[str, object]) -> Figure:
    """Scatter the data once per model, side by side, each panel with that model's predictions as a line.

    ``predictions`` maps a model's name to its outputs at ``x_line`` (one value per point).

    Example:
        >>> fig = plot_fits([0, 1, 2], [0, 1, 4], [0, 1, 2], {"line": [-0.3, 1.7, 3.7], "curve": [0, 1, 4]})
        >>> [ax.get_title() for ax in fig.axes]
        ['line', 'curve']
    """
    check.mapping("predictions", predictions, "{'linear': y_linear, 'MLP': y_mlp}", most=MOST_PANELS, titled=True)
    x_data, y_data = check.paired("x", x, "y", y)
    lines = {name: check.paired("x_line", x_line, f"predictions[{name!r}]", v) for name, v in predictions.items()}
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(predictions), figsize=(5 * len(predictions), 4), sharey=True, squeeze=False)
    for ax, (name, (x_l, y_l)) in zip(axes[0], lines.items(), strict=True):
        order = np.argsort(x_l)
        ax.scatter(x_data, y_data, s=12, color="C0", alpha=0.6, label="data")
        ax.plot(x_l[order], y_l[order], color="C3", linewidth=2, label="model", **check.marks(y_l[order]))
        ax.set(title=name, xlabel="x")
        ax.legend(loc="best")
    axes[0][0].set_ylabel("y")
    fig.tight_layout()
    return fig


def _layer_curves(name: str, curves: object) -> dict[str, np.ndarray]:
    check.mapping(name, curves, "{'Kaiming': stds}", most=MOST_CURVES, labels=True)
    return {
        key: below_log_top(f"{name}[{key!r}]", check.positive(f"{name}[{key!r}]", check.line(f"{name}[{key!r}]", v)))
        for key, v in curves.items()
    }


def plot_layer_scales(
    panels: Mapping[str, Mapping[str, Sequence[float]]], ylabel: str = "std of activations"
) -> Figure:
    """One panel per title; in each, one curve per name: a value per layer (layer 1 first), on a log scale.

    NaN and infinite values (an overflow) are left out of the line; every finite value must be above zero. The axis
    ends at 1e200 (past it, float64 ticks overflow): a value beyond leaves the top (a curve wholly beyond is refused).

    Example:
        >>> fig = plot_layer_scales({"ReLU": {"too small": [1e-1, 1e-3], "Kaiming": [0.8, 0.7]}})
        >>> fig.axes[0].get_yscale(), [line.get_label() for line in fig.axes[0].get_lines()]
        ('log', ['too small', 'Kaiming'])
    """
    check.mapping("panels", panels, "{'ReLU': {'Kaiming': stds}}", most=MOST_PANELS, titled=True)
    checked = {title: _layer_curves(f"panels[{title!r}]", curves) for title, curves in panels.items()}
    check.text("ylabel", ylabel)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, (title, curves) in zip(axes[0], checked.items(), strict=True):
        for i, (name, values) in enumerate(curves.items()):
            x = np.arange(1, len(values) + 1)
            ax.plot(x, values, check.line_style(i), marker="o", markersize=3, label=str(name))
        log_axis(ax, np.concatenate(list(curves.values())))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=title, xlabel="layer", ylabel=ylabel)
        ax.legend()
    fig.tight_layout()
    return fig
