"""A training history, ``{name: [float, ...]}``, as fit returns it and a checkpoint keeps it: checked and made plain."""

from __future__ import annotations

from collections.abc import Mapping, Set

History = dict[str, list[float]]
_BOOLS = ("bool", "torch.bool")  # the dtype of NumPy's and torch's truth values


class _Complex(TypeError):
    """A complex value in a history: its own fix."""


def _number(value: object) -> float:
    """``float(value)``; a ``TypeError`` for text, a truth value or a complex number (NumPy's ``float`` would drop its
    imaginary part with only a warning), which ``float`` would pass off as a number."""
    dtype = str(getattr(value, "dtype", ""))
    if isinstance(value, complex) or "complex" in dtype:
        raise _Complex(
            "holds a complex number, but a loss or metric is a real one: record the loss of a real output "
            "(loss.item()), or, if it is complex on purpose, its size, z.abs()."
        )
    if isinstance(value, (str, bytes, bool)) or dtype in _BOOLS:
        raise TypeError
    detach = getattr(value, "detach", None)  # a tensor that requires grad: its value, without torch's warning
    return float(detach() if callable(detach) else value)  # type: ignore[arg-type]


def plain_history(history: object) -> History:
    """A copy of ``history`` as ``{name: [float, ...]}``; a clear ``TypeError`` if it is not one.

    NumPy scalars become Python floats (``torch.load(weights_only=True)`` refuses NumPy objects); strings and
    booleans are refused, not read as numbers (``"0.5"``, ``True``). Each name's values
    must come in order: a dict of them (``{epoch: loss}``) or a set is refused, not turned into its keys.

    Example:
        >>> plain_history({"train_loss": [0.5, 0.25]})
        {'train_loss': [0.5, 0.25]}
    """
    wrong = TypeError(
        "history should be a dict of lists of numbers, like the one fit() returns or ckpt['history'], "
        f"e.g. {{'train_loss': [0.5, 0.3]}}; got {type(history).__name__}: {history!r:.60}."
    )
    if history is None:
        return {}
    if not isinstance(history, Mapping):
        raise wrong
    for name, values in history.items():
        if isinstance(values, (Mapping, Set)):  # a dict's keys, a set's elements: no list of values in order
            raise TypeError(
                f"{wrong} Its '{name}' is a {type(values).__name__}, whose values have no order as a list's do. Pass "
                "a list: list(d.values()) if the dict's keys are the epochs in order, sorted by epoch otherwise."
            )
    plain: History = {}
    for key, values in history.items():
        if str(key) in plain:
            first = next(k for k in history if str(k) == str(key))
            raise ValueError(f"history names {first!r} and {key!r} are both '{key}' as text: rename one.")
        try:
            plain[str(key)] = [_number(v) for v in values]
        except OverflowError:
            raise ValueError(
                f"history's '{key}' holds a number too large for a float: pass its values as floats."
            ) from None
        except (TypeError, ValueError, AttributeError, RuntimeError) as exc:
            raise TypeError(f"{wrong} Its '{key}' {exc}" if isinstance(exc, _Complex) else str(wrong)) from None
    if any(isinstance(values, (str, bytes)) for values in history.values()):
        raise wrong
    return plain
