"""Matplotlib figures the lessons show. Every helper returns its ``Figure``.

matplotlib is imported inside each function, so ``import course`` stays cheap.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from course.plots import _inputs as check

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MOST_CURVES = 20  # more lines than a legend can tell apart
LOG_TOP = 1e200  # a log axis drawn higher needs ticks past float64's end (1.8e308): it stops here
LINEAR_TOP = check.AXIS_END  # a linear axis spanning more overflows its ticks and margins: it stops at +-1e300
RATE_WORDS = ({"lr"}, {"learningrate"}, {"learning", "rate"})  # a name holding one of these names a learning rate
METRIC_WORDS = {"acc", "accuracy", "auc", "f1", "precision", "recall", "score"}  # of a metric, not a loss
METRIC_NAMES = ", ".join(sorted(METRIC_WORDS))
MOST_CLASSES = 30  # one text per cell: more would not fit
PAD = (
    "pad it with float('nan') where it has no value (NaN points are left out of the line), e.g. [nan, nan, 0.65] "
    "for a validation loss recorded from epoch 3"
)


def _words(name: object) -> set[str]:
    """The words of a history's name, lower case: ``'valAcc'``, ``'val_acc'`` and ``'Val Acc'`` give val and acc."""
    return set(re.findall(r"[a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name)).lower()))


def _kind(name: object) -> str:
    """What a history's name names: a loss (it holds 'loss'), a learning rate, a metric, or other. A name with a
    number beside its lr (``'training, lr 0.1'``) labels a run made at that rate: other, not a rate."""
    if "loss" in str(name).lower():
        return "loss"
    words = _words(name)
    if any(rate <= words for rate in RATE_WORDS) and not any(word.isdigit() for word in words):
        return "rate"
    return "metric" if words & METRIC_WORDS else "other"


def _lengths(lines: Mapping[str, np.ndarray]) -> str | None:
    """The curves' lengths when they differ, e.g. ``{'train': 4, 'val': 2}``; None when all are as long."""
    lengths = {name: len(values) for name, values in lines.items()}
    return str(lengths) if len(set(lengths.values())) > 1 else None


def log_axis(ax: Axes, values: np.ndarray) -> None:
    """Put ``ax``'s y axis on a log scale that ends at LOG_TOP when ``values`` pass it: above, its ticks and margin
    would pass float64's end (matplotlib fails, or draws 1 to 10 and hides the points)."""
    finite = values[np.isfinite(values)]
    if finite.size and finite.max() > LOG_TOP:  # all above it: an empty axis, the right way up
        ax.set_ylim(min(finite.min() / 2, LOG_TOP / 1e10), LOG_TOP)
    ax.set_yscale("log")


def below_log_top(name: str, values: np.ndarray, fix: str = "rescale it (divide it by a power of ten)") -> np.ndarray:
    """Refuse values for a log axis none of which lies at or below LOG_TOP, where the axis ends: not one would show."""
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > LOG_TOP:
        raise ValueError(
            f"{name} lies wholly above 1e200 (its smallest value is {finite.min():g}), where a log axis ends (past it, "
            f"its ticks would pass float64's end, 1.8e308), so not one of its points would show: {fix}."
        )
    return values


def plot_split(x_train: object, y_train: object, x_val: object, y_val: object) -> Figure:
    """Scatter the training and validation sets side by side.

    Example:
        >>> from course.data import make_linear_data
        >>> fig = plot_split(*make_linear_data())
        >>> len(fig.axes)
        2
    """
    parts = [check.paired("x_train", x_train, "y_train", y_train), check.paired("x_val", x_val, "y_val", y_val)]
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, points, title, color in zip(axes, parts, ["Training set", "Validation set"], ["C0", "C1"], strict=True):
        ax.scatter(*points, color=color, s=15)
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
    points, (x_l, y_l) = check.paired("x", x, "y", y), check.paired("x_line", x_line, "y_line", y_line)
    check.text("title", title)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(*points, s=15, label="data")
    order = np.argsort(x_l)
    ax.plot(x_l[order], y_l[order], color="C3", label="model", **check.marks(y_l[order]))
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

    Each curve starts at x = 1 (its value i at x = i); curves of different lengths are drawn so, with a warning
    (pad one recorded from a later epoch with NaN). NaN and infinite values (a run that diverged) are left out of
    the line, and a point with no finite neighbour (a single epoch, or the first validation after NaNs) gets a dot;
    with ``log_y`` every finite value must be above zero, and the axis ends at 1e200 (a float64 run that grows to
    1e300 leaves the top of the plot; a curve wholly above it is refused). A linear axis ends at -1e300 and 1e300
    for the same reason.

    Example:
        >>> fig = plot_curves({"training": [1.0, 0.5], "validation": [1.1, 0.7]})
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['training', 'validation']
    """
    check.mapping("curves", curves, "{'training': losses}", most=MOST_CURVES, labels=True)
    lines = {name: check.line(f"curves[{name!r}]", v) for name, v in curves.items()}
    if (lengths := _lengths(lines)) is not None:
        warnings.warn(
            f"plot_curves drew curves of different lengths, {lengths}, each from x = 1 (its value i at x = i): right "
            "for runs that all start at the first epoch or step, but a curve recorded from a later one, or every few, "
            f"is drawn shifted; {PAD}.",
            stacklevel=2,
        )
    if check.flag("log_y", log_y):
        for name, values in lines.items():
            check.positive(f"curves[{name!r}]", values)
            reach = values[np.isfinite(values)].max() <= LINEAR_TOP
            linear = "draw it with log_y=False (a linear axis reaches 1e300), or " if reach else ""
            below_log_top(f"curves[{name!r}]", values, f"{linear}rescale it (divide it by a power of ten)")
    for name, value in (("xlabel", xlabel), ("ylabel", ylabel)):
        check.text(name, value)
    check.text("title", title, optional=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    finite = np.concatenate([values[np.isfinite(values)] for values in lines.values()])
    if not log_y and np.abs(finite).max() > LINEAR_TOP:  # its ticks and margins would pass float64's end
        low, high = np.clip([finite.min(), finite.max()], -LINEAR_TOP, LINEAR_TOP)
        if low == high:  # all beyond one end
            low, high = min(low, 0.0), max(high, 0.0)
        ax.set_ylim(low, high)  # before plotting, so matplotlib never computes the overflowing limits
    for i, (name, values) in enumerate(lines.items()):
        style = check.line_style(i)
        ax.plot(np.arange(1, len(values) + 1), values, style, label=str(name), **check.marks(values))
    if log_y:
        log_axis(ax, finite)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or "")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_losses(history: Mapping[str, Sequence[float]], log_y: bool = False) -> Figure:
    """Training (and validation) loss per epoch, from a history dict such as the one ``fit`` returns.

    Only losses are drawn, on one loss axis. The rule, by name (any case): a name holding ``"loss"``
    (``"train_loss"``, ``"valLoss"``) is a loss; a name with the word ``lr`` or ``learning rate`` (``"lr"``,
    ``"LR"``, ``"base_lr"``, ``"learning_rate"``, ``"learningRate"``) and no number is a learning rate, never
    drawn here, without a word (with a number, ``"training, lr 0.1"``, it labels a run); a name with a
    metric's word (``acc``, ``accuracy``, ``auc``, ``f1``, ``precision``, ``recall``, ``score``) is a metric.
    If some name holds ``"loss"``, only those are drawn; else, e.g. ``{"training": ..., "validation": ...}``,
    every name but the rates and metrics is. Whatever else is left out (metrics, other names beside losses)
    is named in a warning: draw it with ``plot_curves``. Each loss holds one value per epoch: losses of
    different lengths are refused (pad a late one with NaN).

    Example:
        >>> fig = plot_losses({"train_loss": [1.0, 0.5], "val_loss": [1.2, 0.6], "lr": [0.1, 0.1]})
        >>> fig.axes[0].get_ylabel(), [line.get_label() for line in fig.axes[0].get_lines()]
        ('loss', ['train_loss', 'val_loss'])
    """
    check.mapping("history", history, "{'train_loss': losses, 'val_loss': val_losses}")
    kinds = {name: _kind(name) for name in history}
    drawn = ("loss",) if "loss" in kinds.values() else ("loss", "other")
    losses = {name: values for name, values in history.items() if kinds[name] in drawn}
    if left := [name for name in history if name not in losses and kinds[name] != "rate"]:
        why = "whose names hold no 'loss'" if drawn == ("loss",) else f"whose names are a metric's ({METRIC_NAMES})"
        warnings.warn(
            f"plot_losses drew the losses {list(losses)} and left out {left}, {why}: draw those with plot_curves, or "
            "name a loss so (e.g. 'train_loss').",
            stacklevel=2,
        )
    if not losses:
        raise ValueError(f"history holds no loss, only {sorted(history)}; plot those with plot_curves.")
    check.mapping("history", losses, "{'train_loss': losses}", labels=True)  # each loss names a curve
    lines = {name: check.line(f"history[{name!r}]", v) for name, v in losses.items()}
    if (lengths := _lengths(lines)) is not None:  # one value per epoch each: else drawn at the wrong epochs
        raise ValueError(
            f"history's losses have different lengths, {lengths}, but each should hold one value per epoch, drawn "
            f"from epoch 1: a loss recorded from a later epoch, or every few epochs, would be drawn at the wrong "
            f"epochs. Give each loss one value per epoch: {PAD}."
        )
    return plot_curves(lines, xlabel="epoch", ylabel="loss", log_y=log_y, title="Loss per epoch")


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
    a_grid, b_grid, losses = check.grids(("a_grid", "b_grid", "losses"), a_grid, b_grid, losses)
    points = None if path is None else check.path("path", path)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    contours = ax.contourf(a_grid, b_grid, losses, levels=30, cmap="viridis")
    fig.colorbar(contours, ax=ax, label="loss")
    if points is not None:
        ax.plot(points[:, 0], points[:, 1], color="white", marker=".", markersize=3, label="descent path")
        ax.scatter(*points[-1], color="red", zorder=3, label="end")
        ax.legend()
    ax.set(xlabel="a", ylabel="b", title="Loss surface")
    fig.tight_layout()
    return fig


def _counts(matrix: object) -> np.ndarray:
    """The counts (or fractions) of a confusion matrix: finite, not negative; booleans counted as 1 and 0."""
    counts = check.numeric("matrix", matrix)
    counts = counts.astype(int) if counts.dtype == bool else counts
    check.finite("matrix", counts.reshape(-1).astype(float), "a cell would be left blank")
    if (counts < 0).any():
        raise ValueError(f"matrix holds a negative count, {counts.min():g}; a confusion matrix counts examples.")
    return counts


def plot_confusion_matrix(matrix: object, labels: Sequence[str]) -> Figure:
    """Show a confusion matrix (rows: true class, columns: predicted class) with counts: whole numbers, or, for a
    matrix of fractions (normalised by row), every cell to 2 decimals; booleans count as 1 and 0.

    Example:
        >>> fig = plot_confusion_matrix([[5, 1], [2, 7]], labels=["no", "yes"])
        >>> fig.axes[0].get_xlabel()
        'predicted'
    """
    check.names("labels", labels, None, "['neg', 'pos']", distinct=True)
    counts = _counts(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] != len(labels):
        raise ValueError(
            f"matrix must be square with one row per label; got shape {counts.shape} and {len(labels)} labels."
        )
    if not 1 <= len(labels) <= MOST_CLASSES:
        raise ValueError(f"a confusion matrix here has 1 to {MOST_CLASSES} classes, got {len(labels)}.")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(counts, cmap="Blues")
    whole = bool((counts == np.round(counts)).all())  # every cell a count (5.0 too), or fractions: 2 decimals each
    for (row, col), value in np.ndenumerate(counts):
        color = "white" if value > counts.max() / 2 else "black"
        ax.text(col, row, str(int(value)) if whole else f"{value:.2f}", ha="center", va="center", color=color)
    ticks = range(len(labels))
    ax.set(xticks=ticks, yticks=ticks, xticklabels=labels, yticklabels=labels, xlabel="predicted", ylabel="true")
    fig.tight_layout()
    return fig
