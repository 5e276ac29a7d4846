"""The progress bar of ``fit``: a text bar in a terminal, a widget that stores no text in a notebook.

Stored notebook outputs must not depend on timing (nbval compares them), so in Jupyter the bar
is shown as tqdm's widget only, without the text version tqdm would store next to it.
"""

from __future__ import annotations

import contextlib
import numbers
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np


def in_notebook() -> bool:
    """True inside a Jupyter kernel (the test ``tqdm.auto`` uses).

    Example:
        >>> in_notebook()
        False
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in shell.config


def widget_only(bundle: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only the widget view of a display bundle, so a notebook stores no text that nbval would compare.

    Example:
        >>> widget_only({"text/plain": " 40%|####", "application/vnd.jupyter.widget-view+json": {"model_id": "a"}})
        {'application/vnd.jupyter.widget-view+json': {'model_id': 'a'}}
    """
    return {key: value for key, value in bundle.items() if key == "application/vnd.jupyter.widget-view+json"}


def check_progress(progress: object) -> None:
    """Raise a ``TypeError`` unless ``progress`` is True or False, or 1 or 0 (None counts as False): a string is
    always true.

    Example:
        >>> check_progress("False")
        Traceback (most recent call last):
        TypeError: progress should be True or False, got the string 'False' (a non-empty string is true, so the bar would show): write fit(..., progress=False (or True), without quotes).
    """
    if (
        progress is None
        or isinstance(progress, (bool, np.bool_))
        or (isinstance(progress, numbers.Integral) and progress in (0, 1))  # NumPy's integers and IntEnum too
    ):
        return  # 0 and 1 are as plain as False and True
    if isinstance(progress, str):
        got = f"the string {progress!r:.30} (a non-empty string is true, so the bar would show)"
        fix = "progress=False (or True), without quotes"
    else:
        got, fix = f"{type(progress).__name__} {progress!r:.30}", "progress=False (or True)"
    raise TypeError(f"progress should be True or False, got {got}: write fit(..., {fix}).")


def epoch_bar(epochs: int, start_epoch: int = 0) -> Any | None:
    """A bar counting epochs up to ``epochs``, starting at ``start_epoch`` (at most ``epochs``); None where none can be
    shown.

    In a terminal: tqdm's text bar on stderr. In a notebook: tqdm's widget, displayed with NO text
    (tqdm's own display stores a text repr, and a text bar streams rates to stderr: both would make
    stored outputs depend on timing). Without ipywidgets a notebook gets no bar rather than a text one.
    Call ``update()`` after each epoch, ``set_postfix(...)`` to show numbers, and ``close()`` at the end.

    Example:
        >>> import io, contextlib
        >>> with contextlib.redirect_stderr(io.StringIO()):
        ...     bar = epoch_bar(3)
        ...     bar.update()
        ...     bar.close()
        >>> bar.n, bar.total
        (1, 3)
    """
    for name, value in (("epochs", epochs), ("start_epoch", start_epoch)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"{name} should be a non-negative integer, got {value!r}: e.g. epoch_bar(10).")
    if start_epoch > epochs:  # the bar would start past its end, at n > total
        raise ValueError(f"start_epoch={start_epoch} is past epochs={epochs}: a bar counts up to epochs, so start "
                         "at most there, e.g. epoch_bar(10, start_epoch=3).")  # fmt: skip
    settings = dict(total=epochs, initial=start_epoch, desc="fit", unit="epoch", leave=True)
    if not in_notebook():
        from tqdm.std import tqdm

        return tqdm(**settings)
    try:
        import ipywidgets  # noqa: F401
        from IPython.display import display
        from tqdm.notebook import tqdm as notebook_tqdm
    except ImportError:
        return None
    bar = notebook_tqdm(display=False, **settings)
    if getattr(bar, "container", None) is not None:  # absent when tqdm is disabled (TQDM_DISABLE=1)
        display(widget_only(bar.container._repr_mimebundle_()), raw=True)
    return bar


def shown_bar(progress: object, epochs: int, start_epoch: int = 0) -> contextlib.AbstractContextManager[Any | None]:
    """:func:`epoch_bar` if ``progress`` (checked: True or False) else None, closed when the block ends, even by an error.

    Not a ``contextmanager``: an exception passing through one has its ``__traceback__`` set, which a frozen
    dataclass refuses (a learner's own exception must reach them unchanged). Example:
        >>> with shown_bar(False, 3) as bar:
        ...     print(bar)
        None
    """
    check_progress(progress)
    bar = epoch_bar(epochs, start_epoch) if progress else None
    return contextlib.nullcontext() if bar is None else contextlib.closing(bar)
