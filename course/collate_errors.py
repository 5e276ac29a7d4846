"""A DataLoader that cannot batch its Dataset's items (default_collate), told what differs among them and the fix."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

_COLLATE = f"data{os.sep}_utils{os.sep}collate.py"  # where default_collate runs
# The DataLoader's own words when it cannot stack the items of a batch (default_collate).
_NOT_COLLATABLE = re.compile(
    r"default_collate: batch must contain [^\n]*found [^\n]*|stack expects each tensor to be equal size[^\n]*"
    r"|each element in list of batch should be of equal size"
)


def _kind(item: object) -> str:
    """An item's kind in words: 'None', 'an int', 'a Tensor'."""
    name = type(item).__name__
    return "None" if item is None else f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def _items_differ(exc: BaseException) -> str | None:
    """What differs among the items default_collate failed to batch (kinds, or dicts' keys), or its last words when a
    worker ran it; None for an error it did not raise (the Dataset's own code)."""
    frames, tb = [], exc.__traceback__
    while tb is not None:
        frames += [tb.tb_frame.f_locals.get("batch")] * tb.tb_frame.f_code.co_filename.endswith(_COLLATE)
        tb = tb.tb_next
    for items in [i for i in reversed(frames) if isinstance(i, (list, tuple))]:  # the innermost batch first
        if len(kinds := sorted({_kind(item) for item in items})) > 1:
            return f"some items hold {' where others hold '.join(kinds)}"
        if len(keys := sorted({f"[{', '.join(sorted(map(repr, i)))}]" for i in items if isinstance(i, Mapping)})) > 1:
            return f"its items' dicts have different keys, {' and '.join(keys)}"  # repr: the key 1 is not '1'
    text = str(exc.args[0]) if exc.args else ""  # a KeyError's str() would quote it
    if frames or (_COLLATE in text and "DataLoader worker" in text):
        last = (text.strip().splitlines() or [""])[-1]  # a worker's traceback ends in "KeyError: 'x'"
        said = last if last.startswith(f"{type(exc).__name__}:") else f"{type(exc).__name__}: {last}"
        return f"default_collate failed ({said.rstrip(': ')})"
    return None


def not_collatable(exc: BaseException, name: str) -> Exception | None:
    """The error to raise for ``exc``, met while ``name`` made a batch: what its items differ in (kinds, keys,
    sizes) and the fix; None for an error default_collate did not raise (the Dataset's own code): raise it as it is."""
    found = _NOT_COLLATABLE.search(str(exc))
    if found is None and (differ := _items_differ(exc)) is not None:
        return TypeError(
            f"{name} could not batch its Dataset's items: {differ}. Make __getitem__ return the same kind of "
            "value, with the same keys, for every item (e.g. always a tensor, torch.as_tensor(x, "
            "dtype=torch.float32)), or pass the DataLoader a collate_fn that builds a batch from such items."
        )
    if found is None or isinstance(exc, (KeyError, AttributeError)):
        return None
    kind = TypeError if isinstance(exc, TypeError) else ValueError  # an object, or items of two shapes
    return kind(
        f"{name} could not batch its Dataset's items: {found.group(0)}. Make __getitem__ return tensors "
        "(or numbers) of one shape for every item, e.g. (torch.as_tensor(features, dtype=torch.float32), "
        "torch.as_tensor(target)), or pass the DataLoader a collate_fn that builds a batch from items of "
        "different sizes (e.g. torch.nn.utils.rnn.pad_sequence)."
    )
