"""Checks of the text a figure shows: legend labels, panel titles, class names, axis labels and titles.

A figure never shows a name wrong without a word: a label the legend drops, two that read the same, a blank
one, or a title whose dollar signs matplotlib reads as math it cannot draw are refused before matplotlib sees them.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from course.images import shown


def what(value: object) -> str:
    if value is None or isinstance(value, (bool, str)):
        return repr(value)
    return type(value).__name__


def drawable_text(name: str, value: object) -> None:
    """Refuse text whose dollar signs matplotlib reads as math (an even number of ``$``) that it cannot draw: it
    would fail later, with its parser's words, when the figure is laid out or shown."""
    from matplotlib import cbook

    if not cbook.is_math_text(str(value)):
        return
    from matplotlib.mathtext import MathTextParser

    try:
        MathTextParser("path").parse(str(value))
    except ValueError as exc:
        why = str(exc).strip().splitlines()[-1][:160]
        raise ValueError(
            f"{name} {str(value)!r} holds dollar signs, which matplotlib reads as math between two $, and it cannot "
            f"draw this math ({why}). Fix the math, or write each $ as \\$ to show it as it is."
        ) from None


def text(name: str, value: object, optional: bool = False) -> None:
    if not (isinstance(value, str) or (optional and value is None)):
        raise TypeError(f"{name} should be a string, got {what(value)}.")
    if value is not None:
        drawable_text(name, value)


def names(
    name: str,
    value: object,
    count: int | None,
    example: str,
    noun: str = "names",
    legend: bool = False,
    distinct: bool = False,
) -> None:
    """``count`` labels (any number if None), strings or numbers, e.g. class or feature names: a list, tuple or 1-D
    array; with ``legend``, each labels a legend entry, so none may be one the legend drops; with ``distinct``, each
    names a row or column, so none may be blank or read as another does."""
    wanted = f"{name} should be a list of {f'{count} ' if count else ''}{noun}, e.g. {example}"
    if isinstance(value, str) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{wanted}; got {what(value)}.")
    if isinstance(value, np.ndarray) and value.ndim != 1:
        raise TypeError(f"{wanted}; got an array of shape {value.shape}.")
    if count is not None and len(value) != count:
        raise ValueError(f"{name} should hold {count} {noun}, e.g. {example}; got {len(value)}.")
    odd = [v for v in value if isinstance(v, bool) or not isinstance(v, (str, numbers.Number))]
    if odd:
        raise TypeError(f"{name} should hold only strings (or numbers), e.g. {example}; got {odd[0]!r} among them.")
    for i, v in enumerate(value):
        drawable_text(f"{name}[{i}]", v)
    if legend:
        legend_labels(name, list(value), "the name")
    elif distinct:
        titles(name, list(value), "the name")


def mapping(
    name: str, value: object, example: str, most: int | None = None, labels: bool = False, titled: bool = False
) -> None:
    """A non-empty dict of at most ``most`` entries; with ``labels``, its keys name curves in a legend, which shows
    no entry for ``None``, ``""`` or a name that starts with ``_``: those are refused (draw with ``label=str(key)``);
    with ``titled``, its keys title panels."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} should be a non-empty dict, e.g. {example}; got {what(value)}.")
    if not value:
        raise ValueError(f"{name} should be a non-empty dict, e.g. {example}; got an empty one.")
    if most is not None and len(value) > most:
        raise ValueError(f"{name} has {len(value)} entries; the figure has room for at most {most}. Draw fewer.")
    if labels:
        legend_labels(name, list(value), "a curve named")
    elif titled:
        titles(name, list(value), "a panel titled")


def legend_labels(name: str, keys: list, what: str) -> None:
    """Refuse labels that matplotlib's legend drops without a word: ``None``, and any whose ``str`` is empty or
    starts with ``_`` (a label is drawn as ``str(key)``); a blank one, an entry without a name; two that read the same
    (``'a'`` and ``'a '``), which it cannot tell apart; and math it cannot draw."""
    if hidden := [key for key in keys if key is None or str(key)[:1] in ("", "_")]:
        bare = "" if hidden[0] is None else str(hidden[0]).lstrip("_")
        fix = "a non-empty string" if hidden[0] is None or not str(hidden[0]) else "a string without the leading '_'"
        raise ValueError(
            f"{name} has {what} {hidden[0]!r}, which the legend would leave out without a word (matplotlib shows no "
            f"entry for None, '' or a name that starts with '_'): name it with {fix}, e.g. {bare or 'training'!r}."
        )
    titles(name, keys, what)


def titles(name: str, keys: list, what: str) -> None:
    """Refuse names shown as titles or labels that say nothing (``None``, blank) or that read as another does."""
    if blank := [key for key in keys if key is None or not shown(key)]:
        raise ValueError(
            f"{name} has {what} {blank[0]!r}, which the figure would show as no name at all: name it with a string "
            "that has a letter or digit, e.g. 'training'."
        )
    if twins := [(key, first) for i, key in enumerate(keys) for first in keys[:i] if shown(key) == shown(first)]:
        key, first = twins[0]
        same = f"{str(first)!r} and {str(key)!r}, which read the same" if str(key) != str(first) else repr(str(key))
        raise ValueError(f"{name} has two labels {same}: the figure could not tell them apart. Rename one.")
    for key in keys:
        drawable_text(f"{name} key", key)
