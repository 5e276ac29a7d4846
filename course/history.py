"""A training history, ``{name: [float, ...]}``, as fit returns it and a checkpoint keeps it: checked and made plain."""

from __future__ import annotations

from collections.abc import Mapping

History = dict[str, list[float]]


def plain_history(history: object) -> History:
    """A copy of ``history`` as ``{name: [float, ...]}``; a clear ``TypeError`` if it is not one.

    NumPy scalars become Python floats (``torch.load(weights_only=True)`` refuses NumPy objects).

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
    try:
        plain = {str(key): [float(v) for v in values] for key, values in history.items()}
    except (TypeError, ValueError, AttributeError):
        raise wrong from None
    if any(isinstance(values, (str, bytes)) for values in history.values()):
        raise wrong
    return plain
