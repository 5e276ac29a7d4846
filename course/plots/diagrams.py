"""Diagrams drawn with matplotlib: boxes and arrows, no image files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course.plots import _inputs as check

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_BOX = {"boxstyle": "round,pad=0.4", "linewidth": 1.2}


def _box(ax: Axes, x: float, y: float, text: str, color: str) -> None:
    ax.text(x, y, text, ha="center", va="center", fontsize=9, bbox={**_BOX, "facecolor": color})


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "linewidth": 1.2})


def draw_data_parallel(world_size: int = 2, global_batch: int = 16) -> Figure:
    """Data parallelism in one picture: a global batch split across processes, gradients all-reduced.

    Example:
        >>> fig = draw_data_parallel()
        >>> [text.get_text() for text in fig.axes[0].texts][0]
        'global batch\\n16 samples'
    """
    world_size = check.integer("world_size", world_size, 1, 4, " (the picture has room for four)")
    global_batch = check.integer("global_batch", global_batch, world_size, why=", one sample or more per process")
    if global_batch % world_size:
        raise ValueError(f"global_batch must be a multiple of world_size={world_size}, got {global_batch}.")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.9 * world_size))
    ax.set_xlim(0, 1), ax.set_ylim(0, 1), ax.axis("off")
    rows = [1 - (r + 1) / (world_size + 1) for r in range(world_size)]
    _box(ax, 0.08, 0.5, f"global batch\n{global_batch} samples", "#f2f2f2")
    _box(ax, 0.68, 0.5, "all-reduce\naverage of\nthe gradients", "#ffe0b3")
    share = global_batch // world_size
    for rank, y in enumerate(rows):
        _box(ax, 0.3, y, f"rank {rank}: {share} samples\nmodel copy", "#d6e9ff")
        _box(ax, 0.5, y, f"forward, loss,\nbackward -> g{rank}", "#d6e9ff")
        _box(ax, 0.9, y, f"rank {rank}: steps\nwith the mean", "#d9f2d9")
        _arrow(ax, (0.15, 0.5), (0.22, y))
        _arrow(ax, (0.39, y), (0.42, y))
        _arrow(ax, (0.58, y), (0.62, 0.5 + (y - 0.5) * 0.3))
        _arrow(ax, (0.74, 0.5 + (y - 0.5) * 0.3), (0.83, y))
    ax.set_title(f"Data parallelism: {world_size} processes, each with a share of every batch", fontsize=10)
    return fig
