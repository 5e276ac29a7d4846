"""Checks shared by the plot helpers: bad input gets an error that names the problem and the fix.

A figure never silently leaves points out: ``None``, strings, empty data, NaN where it would vanish,
values a log scale cannot show and sizes too large to draw are refused before matplotlib sees them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Mapping, MappingView, Sequence, Set

import numpy as np
import torch

from course.device import to_numpy
from course.plots._labels import legend_labels as legend_labels
from course.plots._labels import mapping as mapping
from course.plots._labels import names as names
from course.plots._labels import text as text
from course.plots._labels import what
from course.scalars import number_held

AXIS_END = 1e300  # an axis spanning more overflows float64 (1.8e308) in matplotlib's ticks and margins


def _from_tensor(name: str, tensor: torch.Tensor) -> np.ndarray:
    if tensor.is_meta:
        raise ValueError(f"{name} is a tensor on the meta device: it has a shape but no values to draw.")
    return to_numpy(tensor)


def _not_one_by_one(name: str, values: object) -> None:
    """Refuse what NumPy would turn into one object, not numbers: an iterator, a dict view, a set."""
    if isinstance(values, (Iterator, MappingView)):  # NumPy would make one object of it, not numbers
        raise TypeError(
            f"{name} should be numbers (a list, a NumPy array or a tensor), got a {type(values).__name__}, which "
            "NumPy cannot read as numbers: pass list(...) of it."
        )
    if isinstance(values, Set):
        raise TypeError(
            f"{name} should be numbers in order (a list, a NumPy array or a tensor), got a {type(values).__name__}, "
            "which keeps neither their order nor repeated values: collect them in a list instead."
        )


def numeric(name: str, values: object) -> np.ndarray:
    """``values`` (list, NumPy array or tensor, even one that requires grad) as a NumPy array of numbers."""
    if values is None or isinstance(values, (str, bytes, Mapping)):
        raise TypeError(f"{name} should be numbers (a list, a NumPy array or a tensor), got {what(values)}.")
    _not_one_by_one(name, values)
    if isinstance(values, torch.Tensor):
        values = _from_tensor(name, values)
    elif isinstance(values, np.ma.MaskedArray):  # np.asarray would drop the mask: a masked entry becomes NaN, a gap
        values = (
            values.astype(float).filled(np.nan) if values.dtype.kind in "biuf" and values.mask.any() else values.data
        )
    elif isinstance(values, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in values):
        values = [_from_tensor(f"{name}[{i}]", v) if isinstance(v, torch.Tensor) else v for i, v in enumerate(values)]
    try:
        result = np.asarray(values)
    except ValueError:
        raise ValueError(f"{name} should be a regular array of numbers; its rows differ in length.") from None
    if result.dtype.kind not in "biuf":
        flat = result.reshape(-1).tolist()
        if result.dtype.kind == "O" and flat and all(isinstance(v, numbers.Real) for v in flat):
            floats = [_as_float(v) for v in flat]  # whole numbers beyond int64, fractions, decimals
            if None not in floats:
                return np.array(floats).reshape(result.shape)
            raise ValueError(
                f"{name} holds {_short(flat[floats.index(None)])}, a number too large for a float (beyond about "
                "1.8e308): rescale the values (divide them by a power of ten)."
            )
        odd = next((v for v in flat if not isinstance(v, numbers.Real)), flat[0] if flat else None)
        raise TypeError(f"{name} should hold only numbers, but it holds {_short(odd)} (dtype {result.dtype}).")
    return result


def _as_float(value: numbers.Real) -> float | None:
    try:
        return float(value)
    except (OverflowError, ValueError):  # 10 ** 400; a signalling NaN
        return None


def _short(value: object) -> str:
    """``repr(value)``, cut short when long (a whole number of 400 digits)."""
    shown = repr(value)
    return shown if len(shown) <= 40 else f"{shown[:20]}... ({len(shown)} characters)"


def unmasked(name: str, values: object) -> None:
    """Refuse a masked array with masked entries where every point is drawn (a scatter, a grid, a path)."""
    if np.ma.is_masked(values):
        raise ValueError(
            f"{name} is a masked array with {np.ma.count_masked(values)} masked value(s), but this figure draws every "
            f"point it is given: pass only those to draw, {name}[~{name}.mask] (and the same points of the arrays "
            "that go with it)."
        )


def called(call: str, function: Callable, args: tuple, given: str, fix: str) -> object:
    """``function(*args)``; if it fails with a ``TypeError`` or ``RuntimeError`` (most often torch refusing NumPy
    arrays) or a ``ValueError`` (NumPy's arrays that do not broadcast, the grid against the data), an error of the
    same kind (``TypeError`` for torch's) that quotes it, says what ``call`` is called with (``given``) and the fix."""
    try:
        return function(*args)
    except (TypeError, RuntimeError, ValueError) as exc:
        kind = ValueError if isinstance(exc, ValueError) else TypeError
        raise kind(f"{call} failed: {str(exc).strip()[:200]}. It is called with {given}; {fix}.") from exc


def array(name: str, values: object) -> np.ndarray:
    """Like ``numeric``, as floats."""
    return numeric(name, values).astype(float)


def finite(name: str, values: np.ndarray, why: str = "a figure would silently leave them out") -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"{name} holds {bad.size} NaN or infinite value(s), the first at position {bad[0]}; {why}. "
            "Find where they come from (a diverging run, a division by zero) or leave them out yourself."
        )
    return values


def vector(name: str, values: object, *, allow_nonfinite: bool = False) -> np.ndarray:
    """One value per point: shape ``(N,)``, ``(N, 1)`` or ``(1, N)``, at least one value, finite unless allowed (a
    masked entry is then NaN, a gap)."""
    if not allow_nonfinite:
        unmasked(name, values)
    result = array(name, values)
    if result.ndim == 2 and 1 in result.shape:
        result = result.reshape(-1)
    if result.ndim != 1:
        one = " One point? Pass it in a list, [value]." if result.ndim == 0 else ""
        raise ValueError(f"{name} should be one value per point, shape (N,) or (N, 1); got shape {result.shape}.{one}")
    if result.size == 0:
        raise ValueError(f"{name} is empty; it needs at least one value to draw.")
    return result if allow_nonfinite else finite(name, result)


def line(name: str, values: object) -> np.ndarray:
    """Values for a line: NaN and inf (a run that diverged) are gaps, but some value must be finite."""
    result = vector(name, values, allow_nonfinite=True)
    if not np.isfinite(result).any():
        raise ValueError(f"{name} holds no finite value at all (only NaN or inf): there is nothing to draw.")
    return result


def marks(values: np.ndarray) -> dict[str, object]:
    """Markers for the points of a line that no segment reaches: finite, with no finite neighbour.

    A line joins each point to the next, so a lone point (a single epoch, a NaN on both sides) would
    draw nothing; ``ax.plot(x, values, **marks(values))`` puts a dot on each such point, and on no other.
    """
    finite_ = np.isfinite(values)
    padded = np.pad(finite_, 1)
    lone = np.flatnonzero(finite_ & ~padded[:-2] & ~padded[2:]).tolist()
    return {"marker": "o", "markersize": 4, "markevery": lone} if lone else {}


def line_style(index: int) -> str:
    """The style of an axis's ``index``-th line: solid while the colour cycle (10 colours by default) gives it a colour
    of its own, then dashed, dotted...: else the 11th line would look just like the 1st, and the legend too."""
    import matplotlib.pyplot as plt

    colours = len(plt.rcParams["axes.prop_cycle"].by_key().get("color", ())) or 1
    return ("-", "--", ":", "-.")[index // colours % 4]


def drawable(name: str, values: np.ndarray) -> np.ndarray:
    """Finite values an axis can span: beyond +-1e300 its ticks and margins would overflow float64."""
    big = np.flatnonzero(np.abs(values) > AXIS_END)
    if big.size:
        raise ValueError(
            f"{name} holds {values.flat[big[0]]:g} at position {big[0]}, too large to draw: an axis ends at "
            "-1e300 and 1e300. Rescale the values (divide them by a power of ten) or leave those points out."
        )
    return values


def paired(x_name: str, x: object, y_name: str, y: object, on_axes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    x_arr, y_arr = vector(x_name, x), vector(y_name, y)
    if on_axes:
        drawable(x_name, x_arr)
        drawable(y_name, y_arr)
    if len(x_arr) != len(y_arr):
        raise ValueError(f"{x_name} has {len(x_arr)} points but {y_name} has {len(y_arr)}; they must match one to one.")
    return x_arr, y_arr


def positive(name: str, values: np.ndarray) -> np.ndarray:
    """Values for a log axis: each finite one must be above zero, else it would silently vanish."""
    bad = np.flatnonzero(np.isfinite(values) & (values <= 0))
    if bad.size:
        raise ValueError(
            f"{name} holds {values[bad[0]]:g} at position {bad[0]}, which a log scale cannot show; "
            "draw it on a linear scale, or raise the values to a floor first, e.g. max(v, 1e-12)."
        )
    return values


def zero_one(name: str, values: np.ndarray) -> np.ndarray:
    odd = np.setdiff1d(np.unique(values), [0.0, 1.0])
    if odd.size:
        raise ValueError(f"{name} should hold the classes 0 and 1 only, got {odd[0]:g}; map the labels to 0/1 first.")
    return values


def _held(name: str, value: object) -> object:
    """The number a 0-d tensor or array holds (a one-element tensor's too, as ``.item()`` reads it); else ``value``."""
    if isinstance(value, torch.Tensor) and value.is_meta:
        raise ValueError(f"{name} is a tensor on the meta device: it has a shape but no value to use.")
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return number_held(value)


def real(name: str, value: object, example: str) -> float:
    value = _held(name, value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} should be a number, e.g. {example}; got {what(value)}.")
    if not math.isfinite(value):
        raise ValueError(f"{name} should be a finite number, e.g. {example}; got {value}.")
    return float(value)


def integer(name: str, value: object, low: int, high: int | None = None, why: str = "") -> int:
    value = _held(name, value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} should be a whole number, e.g. {max(low, 2)}; got {what(value)}.")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ValueError(f"{name} should be a whole number {bounds}{why}, got {value}.")
    return int(value)


def flag(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} should be True or False, got {what(value)}.")
    return bool(value)


def grids(names_: Sequence[str], *values: object) -> tuple[np.ndarray, ...]:
    """Two or more 2-D grids of one shape (from ``np.meshgrid``), at least 2x2, finite."""
    result = tuple(array(n, v) for n, v in zip(names_, values, strict=True))
    shapes = [g.shape for g in result]
    if len(set(shapes)) != 1 or result[0].ndim != 2 or min(result[0].shape) < 2:
        raise ValueError(
            f"{', '.join(names_[:-1])} and {names_[-1]} must be 2-D arrays of one shape, at least 2x2 "
            f"(use np.meshgrid); got {' and '.join(str(s) for s in shapes)}."
        )
    return tuple(drawable(n, finite(n, g.reshape(-1))).reshape(g.shape) for n, g in zip(names_, result, strict=True))


def path(name: str, value: object) -> np.ndarray:
    """A path of ``(a, b)`` points: shape ``(steps, 2)``, at least one step, finite."""
    points = array(name, value)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 1:
        raise ValueError(f"{name} should be a list of (a, b) pairs, shape (steps, 2); got shape {points.shape}.")
    bad = np.flatnonzero(~np.isfinite(points).all(axis=1))
    if bad.size:
        raise ValueError(
            f"{name} has a NaN or infinite point at step {bad[0]}, where the line would silently stop: the descent "
            f"diverged. Lower the learning rate, or draw only the steps before it, {name}[:{bad[0]}]."
        )
    return drawable(name, points)
