"""Pictures of a binary classifier (lesson 12): the sigmoid and its threshold, a decision boundary, ROC and PR curves.

Each helper returns its ``Figure``; show it with ``course.plots.show(fig, alt)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from course.plots import _inputs as check

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _check_threshold(threshold: object) -> float:
    value = check.real("threshold", threshold, "0.5")
    if not 0.0 < value < 1.0:
        raise ValueError(f"threshold is a probability strictly between 0 and 1, got {threshold}; the usual one is 0.5.")
    return value


def _examples(scores: object, targets: object) -> tuple[np.ndarray, np.ndarray] | None:
    """Scores (+inf and -inf allowed: they sit at the ends of the curve) and their 0/1 targets, or None."""
    if scores is None and targets is None:
        return None
    if scores is None or targets is None:
        given, missing = ("scores", "targets") if targets is None else ("targets", "scores")
        raise ValueError(f"{given} were given without {missing}: pass both (one per example), or neither.")
    z = check.vector("scores", scores, allow_nonfinite=True)
    if np.isnan(z).any():
        raise ValueError(f"scores hold NaN at position {np.flatnonzero(np.isnan(z))[0]}; that example has no place.")
    y = check.zero_one("targets", check.vector("targets", targets))
    if len(z) != len(y):
        raise ValueError(f"scores has {len(z)} points but targets has {len(y)}; they must match one to one.")
    return z, y


def plot_sigmoid_threshold(
    threshold: float = 0.5,
    scores: object = None,
    targets: object = None,
    class_names: Sequence[str] = ("class 0", "class 1"),
) -> Figure:
    """The sigmoid curve, the decision threshold on it, and optionally examples placed on the curve by their score.

    Points with probability at or above ``threshold`` are predicted class 1; the threshold on the
    probability is the score ``log(t / (1 - t))`` on the horizontal axis (0 for ``t = 0.5``).

    Example:
        >>> fig = plot_sigmoid_threshold(0.5, scores=[-2.0, 0.5, 3.0], targets=[0, 1, 1])
        >>> fig.axes[0].get_xlabel()
        'score z (logit)'
    """
    threshold = _check_threshold(threshold)
    examples = _examples(scores, targets)
    # the examples' legend entries are the class names; without them, only "predicted <class 1>" is drawn
    check.names("class_names", class_names, 2, "['malignant', 'benign']", legend=examples is not None)
    import matplotlib.pyplot as plt

    cut = float(np.log(threshold / (1 - threshold)))
    z = np.linspace(-8, 8, 401)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.axvspan(cut, 8, color="C2", alpha=0.08, label=f"predicted {class_names[1]}")
    ax.plot(z, 1 / (1 + np.exp(-z)), color="black", label=r"$\sigma(z) = 1 / (1 + e^{-z})$")
    ax.axhline(threshold, color="C3", linestyle="--", label=f"threshold {threshold:g}")
    ax.axvline(cut, color="C3", linestyle=":", label=f"z = {cut:.2f}")
    if examples is not None:
        z_points, y_points = examples
        z_points = np.clip(z_points, -8, 8)
        for label, color in ((0, "C1"), (1, "C0")):
            chosen = y_points == label
            ax.scatter(
                z_points[chosen], 1 / (1 + np.exp(-z_points[chosen])), s=14, color=color, label=class_names[label]
            )
    ax.set(xlabel="score z (logit)", ylabel=f"probability of {class_names[1]}", xlim=(-8, 8), ylim=(-0.03, 1.03))
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def _points_and_classes(x: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    points = check.array("x", x)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"x should hold two features per point, shape (N, 2) with N >= 1; got shape {points.shape}.")
    check.drawable("x", check.finite("x", points.reshape(-1)))
    classes = check.zero_one("y", check.vector("y", y))
    if len(classes) != len(points):
        raise ValueError(f"x has {len(points)} points but y has {len(classes)} classes; they must match one to one.")
    return points, classes


def _probabilities(values: object, count: int) -> np.ndarray:
    p = check.array("probability(grid)", values).reshape(-1)
    if p.size != count:
        raise ValueError(
            f"probability(grid) should return one probability per row of its (M, 2) input, M = {count}; "
            f"got {p.size} values."
        )
    check.finite("probability(grid)", p, "part of the plane would be left blank")
    if p.min() < 0 or p.max() > 1:
        low, high = (f"{v:.3g}" if f"{v:.3g}" not in ("-0", "0", "1") else repr(float(v)) for v in (p.min(), p.max()))
        raise ValueError(
            f"probability(grid) should return probabilities from 0 to 1, got values from {low} to {high}; if the "
            "model returns scores (logits), apply torch.sigmoid to them."
        )
    return p


def plot_decision_boundary(
    probability: Callable[[np.ndarray], object],
    x: object,
    y: object,
    feature_names: Sequence[str] = ("feature 1", "feature 2"),
    threshold: float = 0.5,
    class_names: Sequence[str] = ("class 0", "class 1"),
) -> Figure:
    """Shade a 2-D feature plane by a model's probability of class 1 and draw where it crosses ``threshold``.

    ``probability`` maps an ``(M, 2)`` float64 NumPy array of points to ``M`` probabilities (wrap a
    model: ``lambda g: torch.sigmoid(model(torch.as_tensor(g, dtype=torch.float32)))``); ``x`` is ``(N, 2)``
    and ``y`` holds the 0/1 classes of those points, drawn on top. Where the probability never crosses ``threshold``
    in the plane drawn, the legend says so (no boundary; all predicted one class) instead of naming a line not drawn.

    Example:
        >>> fig = plot_decision_boundary(lambda g: 1 / (1 + np.exp(-g.sum(axis=1))), [[0, 1], [1, -2]], [1, 0])
        >>> fig.axes[0].get_xlabel()
        'feature 1'
    """
    threshold = _check_threshold(threshold)
    if isinstance(probability, torch.nn.Module):  # it takes tensors, and may give scores rather than probabilities
        raise TypeError(
            f"probability is a model ({type(probability).__name__}), but it is called with a NumPy array of points. "
            f"Wrap it in a function, e.g. lambda g: torch.sigmoid(model(torch.as_tensor(g, dtype=torch.float32))) "
            "(without torch.sigmoid if the model already ends in nn.Sigmoid)."
        )
    if not callable(probability):
        raise TypeError(
            f"probability should be a function of an (M, 2) array of points, got {check.what(probability)}."
        )
    points, classes = _points_and_classes(x, y)
    check.names("feature_names", feature_names, 2, "['radius', 'texture']")
    check.names("class_names", class_names, 2, "['malignant', 'benign']", legend=True)
    import matplotlib.pyplot as plt

    low, high = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
    g1, g2 = np.meshgrid(np.linspace(low[0], high[0], 200), np.linspace(low[1], high[1], 200))
    grid = np.column_stack([g1.ravel(), g2.ravel()])
    given = "a float64 NumPy array of shape (M, 2)"
    fix = "convert it for your model first, e.g. torch.as_tensor(grid, dtype=torch.float32)"
    p = _probabilities(check.called("probability(grid)", probability, (grid,), given, fix), len(grid)).reshape(g1.shape)
    fig, ax = plt.subplots(figsize=(6, 5))
    shading = ax.contourf(g1, g2, p, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.6)
    fig.colorbar(shading, ax=ax, label=f"probability of {class_names[1]}")
    ax.contour(g1, g2, p, levels=[threshold], colors="black", linewidths=2)
    for label, (marker, color) in enumerate((("x", "C1"), ("o", "C0"))):
        chosen = classes == label
        ax.scatter(*points[chosen].T, marker=marker, s=16, color=color, label=class_names[label])
    everywhere = class_names[1] if p.min() >= threshold else class_names[0] if p.max() < threshold else None
    boundary = f"decision boundary (p = {threshold:g})"  # the contour draws none where p never crosses it: say so
    boundary = boundary if everywhere is None else f"no {boundary} in this plane: all predicted {everywhere}"
    ax.plot([], [], color="black", linestyle="-" if everywhere is None else "none", label=boundary)
    ax.set(xlabel=feature_names[0], ylabel=feature_names[1])
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_roc_pr(targets: object, scores: object, threshold: float | None = None) -> Figure:
    """The ROC curve and the precision-recall curve of scores against 0/1 targets, side by side.

    Uses ``sklearn.metrics.roc_curve`` and ``precision_recall_curve``; the areas (``roc_auc_score``
    and ``average_precision_score``) go in the legends. ``threshold``, if given, is marked on both
    curves at the decisions ``scores >= threshold``.

    Example:
        >>> fig = plot_roc_pr([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], threshold=0.5)
        >>> [ax.get_xlabel() for ax in fig.axes]
        ['false positive rate', 'recall']
    """
    y, s = check.paired("targets", targets, "scores", scores, on_axes=False)  # the axes show rates, not scores
    if set(np.unique(check.zero_one("targets", y))) != {0.0, 1.0}:
        raise ValueError(f"targets should hold both classes, 0 and 1; all {len(y)} are {y[0]:g}.")
    if threshold is not None:
        threshold = check.real("threshold", threshold, "0.5 (a score, marked where scores >= threshold)")
    import matplotlib.pyplot as plt
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y, s)
    precision, recall, _ = precision_recall_curve(y, s)
    fig, (roc, pr) = plt.subplots(1, 2, figsize=(10, 4.2))
    roc.plot(fpr, tpr, color="C0", label=f"model (area {roc_auc_score(y, s):.3f})")
    roc.plot([0, 1], [0, 1], color="gray", linestyle="--", label="guessing (area 0.5)")
    roc.set(xlabel="false positive rate", ylabel="true positive rate (recall)", title="ROC curve")
    pr.plot(recall, precision, color="C0", label=f"model (average precision {average_precision_score(y, s):.3f})")
    pr.axhline(y.mean(), color="gray", linestyle="--", label=f"guessing (share of class 1: {y.mean():.2f})")
    pr.set(xlabel="recall", ylabel="precision", title="Precision-recall curve")
    if threshold is not None:
        chosen = s >= threshold
        tp, fp = np.sum(chosen & (y == 1)), np.sum(chosen & (y == 0))
        point_recall, point_fpr = tp / np.sum(y == 1), fp / np.sum(y == 0)
        point_precision = tp / (tp + fp) if tp + fp else 1.0  # none predicted 1: the curve's end, as sklearn's
        roc.scatter([point_fpr], [point_recall], color="C3", zorder=3, label=f"threshold {threshold:.4g}")
        pr.scatter([point_recall], [point_precision], color="C3", zorder=3, label=f"threshold {threshold:.4g}")
    for ax in (roc, pr):
        ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        ax.legend(loc="lower right" if ax is roc else "lower left", fontsize=8)
    fig.tight_layout()
    return fig
