"""Values made of several tensors: a model's inputs or outputs as a tuple, list or dict of tensors, nested (an output
may also be a dataclass).

The trainer reaches the tensors inside them one way, however deep (:func:`nested_tensors`, :func:`tensors_in`): to
move them, to count their NaN, to find the one on another device; and it names what a model returned when that is
not one tensor, with how a loss picks the predictions out of it (:func:`described`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

import torch


def _leaves(value: object, fields: bool = False) -> Iterator[object]:
    """What a tuple, list or dict holds, nested (a namedtuple is a tuple), or ``value`` itself; with ``fields``, also
    what a dataclass holds (a model may return one; the trainer moves no such input)."""
    if fields and dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = [getattr(value, field.name) for field in dataclasses.fields(value)]
    if isinstance(value, Mapping):
        for part in value.values():
            yield from _leaves(part, fields)
    elif isinstance(value, (list, tuple)):
        for part in value:
            yield from _leaves(part, fields)
    else:
        yield value


def nested_tensors(value: object) -> list[torch.Tensor]:
    """Every tensor of ``value``: itself, or those in its tuples, lists, dicts and dataclasses, however deep (anything
    else left out). Example:
        >>> [tuple(t.shape) for t in nested_tensors({"a": (torch.ones(2), None), "b": [torch.ones(1, 3)]})]
        [(2,), (1, 3)]
    """
    return [leaf for leaf in _leaves(value, fields=True) if isinstance(leaf, torch.Tensor)]


def tensors_in(value: object) -> list[torch.Tensor]:
    """The tensors of a tensor, or of a tuple, list or dict of them, nested (a model's inputs); [] if else is in it.
    Example:
        >>> len(tensors_in(((torch.ones(2), torch.ones(2)), torch.ones(2)))), tensors_in((torch.ones(2), None))
        (3, [])
    """
    leaves = list(_leaves(value))
    return leaves if leaves and all(isinstance(leaf, torch.Tensor) for leaf in leaves) else []  # type: ignore[return-value]


def described(out: object) -> tuple[str, str]:
    """What a model returned that is not one tensor, in words, and how a loss picks the predictions out of it (if they
    come first). Example:
        >>> described({"logits": torch.ones(1), "aux": torch.ones(1)})
        ("a dict with keys ['logits', 'aux']", "out['logits']")
    """
    if isinstance(out, Mapping):
        return f"a {type(out).__name__} with keys {list(out)[:5]}", f"out[{next(iter(out), 'pred')!r}]"
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of {len(out)} items", "out[0]"
    return f"a {type(out).__name__}", "out.predictions"
