"""Matplotlib figures the lessons show, one module per kind of picture; each helper returns its ``Figure``.

``show(fig, alt)`` displays a figure with alt text a screen reader can read. matplotlib is imported
inside the functions, so ``import course`` stays cheap. Lessons import topic modules directly,
e.g. ``from course.plots.curves import plot_losses``; the common ones are re-exported here.
"""

from course.plots.curves import (
    plot_confusion_matrix,
    plot_curves,
    plot_fit,
    plot_loss_surface,
    plot_losses,
    plot_split,
)
from course.plots.display import show

__all__ = ["plot_confusion_matrix", "plot_curves", "plot_fit", "plot_loss_surface", "plot_losses", "plot_split", "show"]
