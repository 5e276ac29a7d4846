"""Figures of lesson 08: fitted curves side by side, and how the scale of activations changes layer by layer.

matplotlib is imported inside each function, so ``import course`` stays cheap. Each helper returns its ``Figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from course.plots.curves import _as_1d, _paired

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _non_empty(name: str, value: object, example: str) -> None:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{name} should be a non-empty dict, e.g. {example}; got {type(value).__name__}.")


def plot_fits(x: object, y: object, x_line: object, predictions: Mapping[str, object]) -> Figure:
    """Scatter the data once per model, side by side, each panel with that model's predictions as a line.

    ``predictions`` maps a model's name to its outputs at ``x_line`` (one value per point).

    Example:
        >>> fig = plot_fits([0, 1, 2], [0, 1, 4], [0, 1, 2], {"line": [-0.3, 1.7, 3.7], "curve": [0, 1, 4]})
        >>> [ax.get_title() for ax in fig.axes]
        ['line', 'curve']
    """
    _non_empty("predictions", predictions, "{'linear': y_linear, 'MLP': y_mlp}")
    import matplotlib.pyplot as plt

    x_data, y_data = _paired("x", x, "y", y)
    fig, axes = plt.subplots(1, len(predictions), figsize=(5 * len(predictions), 4), sharey=True, squeeze=False)
    for ax, (name, values) in zip(axes[0], predictions.items(), strict=True):
        x_l, y_l = _paired("x_line", x_line, f"predictions[{name!r}]", values)
        order = np.argsort(x_l)
        ax.scatter(x_data, y_data, s=12, color="C0", alpha=0.6, label="data")
        ax.plot(x_l[order], y_l[order], color="C3", linewidth=2, label="model")
        ax.set(title=name, xlabel="x")
        ax.legend(loc="best")
    axes[0][0].set_ylabel("y")
    fig.tight_layout()
    return fig


def plot_layer_scales(
    panels: Mapping[str, Mapping[str, Sequence[float]]], ylabel: str = "std of activations"
) -> Figure:
    """One panel per title; in each, one curve per name: a value per layer (layer 1 first), on a log scale.

    Example:
        >>> fig = plot_layer_scales({"ReLU": {"too small": [1e-1, 1e-3], "Kaiming": [0.8, 0.7]}})
        >>> fig.axes[0].get_yscale(), [line.get_label() for line in fig.axes[0].get_lines()]
        ('log', ['too small', 'Kaiming'])
    """
    _non_empty("panels", panels, "{'ReLU': {'Kaiming': stds}}")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, (title, curves) in zip(axes[0], panels.items(), strict=True):
        _non_empty(f"panels[{title!r}]", curves, "{'Kaiming': stds}")
        for name, values in curves.items():
            values = _as_1d(f"panels[{title!r}][{name!r}]", values)
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=name)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=title, xlabel="layer", ylabel=ylabel)
        ax.legend()
    fig.tight_layout()
    return fig
