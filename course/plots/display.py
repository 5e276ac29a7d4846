"""Display a figure as a PNG that carries alt text, the description a screen reader reads aloud."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from course.images import png_with_alt

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def show(fig: Figure, alt: str) -> None:
    """Show ``fig`` as a PNG with ``alt`` as its alternative text, then close it.

    JupyterLab and nbconvert read the text from the output's metadata (``image/png`` -> ``alt``).
    Outside a notebook only the figure's text summary is printed.

    Example:
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> _ = ax.plot([0, 1], [0, 1])
        >>> show(fig, "A straight line from (0, 0) to (1, 1).")
        <Figure size 640x480 with 1 Axes>
    """
    from IPython import get_ipython
    from IPython.display import display
    from matplotlib.figure import Figure as MplFigure

    if not isinstance(fig, MplFigure):
        raise TypeError(
            f"show() needs a matplotlib Figure, got {type(fig).__name__}; pass plt.gcf() or the fig of plt.subplots()."
        )
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError(
            "show() needs alt text: one sentence that says what the figure shows, for readers who cannot see it."
        )
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    text = repr(fig)
    plt.close(fig)
    if get_ipython() is None:  # a plain Python session: no rich display, print the summary
        print(text)
        return
    data, metadata = png_with_alt(buffer.getvalue(), alt.strip(), text)
    display(data, raw=True, metadata=metadata)
