"""Figures of lesson 13 (multi-class classification): digit images in a grid, a 10x10 confusion matrix.

Each helper returns its ``Figure``; show it with ``course.plots.show(fig, alt)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from course.plots import _inputs as check

if TYPE_CHECKING:
    from matplotlib.figure import Figure


MOST_IMAGES = 200  # one small axis each: more takes minutes to draw
MOST_COLUMNS = 20


def _as_images(images: object) -> tuple[np.ndarray, tuple[int, ...]]:
    """The pictures, shape (n, height, width), and the shape they were given in."""
    array = check.array("images", images)
    given = array.shape
    if array.ndim == 2 and array.shape[1] == 64:
        array = array.reshape(-1, 8, 8)
    if array.ndim == 4 and 1 in (array.shape[1], array.shape[3]):  # one channel, as a loader gives: (n, 1, h, w)
        array = array[:, 0] if array.shape[1] == 1 else array[..., 0]
    pixels = array.shape[-1] if array.ndim == 2 else max(array.shape[1:]) if array.ndim == 3 else 0
    row = array.ndim == 2 or (array.ndim == 3 and 1 in array.shape[1:])  # one row of pixels per picture: a strip
    side = math.isqrt(pixels)
    square = row and side > 1 and side * side == pixels
    if array.ndim != 3 or array.shape[0] == 0 or square:
        hint = ""
        if array.ndim == 2:
            hint = (
                f" One picture? Pass it as a stack of one, images[None], shape (1, {array.shape[0]}, {array.shape[1]})."
            )
        if square:
            hint += f" A row of {side}x{side} pixels per picture? Reshape them, images.reshape(-1, {side}, {side})."
        raise ValueError(
            f"images should be a non-empty stack of pictures, shape (n, height, width), (n, 1, height, width) or "
            f"(n, 64) for 8x8 digits; got shape {tuple(given)}.{hint}"
        )
    if len(array) > MOST_IMAGES:
        raise ValueError(
            f"got {len(array)} images; a grid here shows at most {MOST_IMAGES}, pass a slice, images[:64]."
        )
    pixels = check.finite("images", array.reshape(-1), "those pixels would be blank")
    if not math.isfinite(
        float(pixels.max()) - float(pixels.min())
    ):  # one grey scale from the smallest to the largest: it overflows
        raise ValueError(
            f"images run from {pixels.min():g} to {pixels.max():g}, a span too large for a float (beyond about "
            "1.8e308), so the grey scale would leave pictures blank: rescale them, e.g. images / abs(images).max()."
        )
    return pixels.reshape(array.shape), given


def plot_digit_grid(images: object, titles: Sequence[str], columns: int = 8) -> Figure:
    """Draw small grey-scale images in a grid, each with its title (e.g. ``"true 3, said 8"``).

    ``images`` has shape ``(n, height, width)`` (or ``(n, 1, height, width)``, one channel, as a loader gives it),
    or ``(n, 64)`` for the 8x8 digits of
    ``sklearn.datasets.load_digits``; dark is ink, as on paper, on one grey scale for the whole grid:
    white at its smallest value, black at its largest (for the digits 0 and 16, once one pixel is fully
    inked), so one grey means one value in every picture (``imshow`` alone would stretch each picture
    to its own range: a digit whose darkest pixel is 15 would look as dark as one at 16). ``titles``
    is a list, tuple or 1-D NumPy array of strings (or numbers, such as the labels).

    Example:
        >>> fig = plot_digit_grid(np.zeros((3, 64)), ["a", "b", "c"], columns=2)
        >>> len(fig.axes), fig.axes[2].get_title()
        (4, 'c')
    """
    pictures, shape = _as_images(images)
    check.names("titles", titles, None, "['true 3, said 8', ...], one per image", noun="strings")
    if len(titles) != len(pictures):
        read = (
            f" images of shape {shape} were read as {len(pictures)} images of 8x8, from its rows of 64 pixels (the "
            f"flat digits of load_digits, one a row); to draw one picture of {shape[0]}x64, pass it as shape "
            f"(1, {shape[0]}, 64), images[None]."
            if len(shape) == 2
            else ""
        )
        raise ValueError(f"got {len(pictures)} images but {len(titles)} titles; give one title per image.{read}")
    columns = check.integer("columns", columns, 1, MOST_COLUMNS)
    import matplotlib.pyplot as plt

    rows = -(-len(pictures) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, picture, title in zip(axes.flat, pictures, titles, strict=False):
        ax.imshow(picture, cmap="gray_r", vmin=pictures.min(), vmax=pictures.max())
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_digit_confusion(matrix: object, title: str = "") -> Figure:
    """A 10x10 confusion matrix (rows: true digit, columns: predicted digit); zero cells left blank.

    Example:
        >>> fig = plot_digit_confusion(np.eye(10, dtype=int) * 30, title="perfect")
        >>> fig.axes[0].get_xlabel(), len(fig.axes[0].texts)
        ('predicted digit', 10)
    """
    counts = check.numeric("matrix", matrix)
    if counts.shape != (10, 10) or counts.dtype.kind not in "iu":
        whole = counts.shape == (10, 10) and counts.dtype.kind == "f" and bool((counts == np.round(counts)).all())
        whole = whole and bool(np.isfinite(counts).all())  # inf is "whole" too, but astype(int) makes it garbage
        fix = " Make them integers: matrix.astype(int), or matrix.long() for a tensor." if whole else ""
        raise ValueError(
            f"matrix should be 10x10 integer counts (sklearn.metrics.confusion_matrix); "
            f"got shape {counts.shape}, dtype {counts.dtype}.{fix}"
        )
    if (counts < 0).any():
        raise ValueError(f"matrix holds a negative count, {counts.min()}; a confusion matrix counts examples.")
    check.text("title", title)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(counts, cmap="Blues")
    for (row, col), value in np.ndenumerate(counts):
        if value:
            color = "white" if value > counts.max() / 2 else "black"
            ax.text(col, row, str(value), ha="center", va="center", color=color, fontsize=9)
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted digit", ylabel="true digit", title=title)
    fig.tight_layout()
    return fig
