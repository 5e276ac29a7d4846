"""Put back the names of trusted modules and classes that a learner's code replaced, deleted or added while a check
ran (a ``torch.allclose = lambda *a, **k: True`` would fool the check and break the rest of the notebook), and name
them; a library's own lazy work is not the learner's and stays."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import FunctionType, ModuleType
from typing import Any

from course.checks.runner import _LIBRARIES
from course.checks.stopping import _Stop

_GONE = object()  # a deleted name's value
# names the libraries rebind themselves: builtins._ is the last result shown; copyreg caches a class's __slotnames__;
# torch.set_default_dtype rebinds torch.Storage; a warning raised in a module adds its __warningregistry__;
# torch.compile's first run marks nn.Module (and wraps its __init__, __setstate__: _TORCH_WRAPPERS)
_CACHES = {"_", "__slotnames__", "Storage", "__warningregistry__", "___needs_generation_tag_patch"}
_TORCH_WRAPPERS = {
    ("torch._dynamo.mutation_guard", "patched_init"),
    ("torch._dynamo.mutation_guard", "patched_setstate"),
}


_FIRST: dict[int, tuple[object, dict[str, Any]]] = {}  # each owner's names when the course was imported


def remember(*owners: object) -> None:
    """Keep the names of ``owners`` as they are now (before any learner code ran): :func:`names_restored` puts back
    those that an earlier cell replaced too (a ``torch.allclose`` replaced before the check would fool it)."""
    for owner in owners:
        _FIRST.setdefault(id(owner), (owner, dict(vars(owner))))


@contextmanager
def names_restored(*owners: object) -> Iterator[list[str]]:
    """Put back every name of the modules or classes ``owners`` that the code run inside replaced, deleted or added;
    the list it yields names them once the block ends. A library's own lazy work is left alone: a submodule imported, or a
    function wrapped around the original (``__wrapped__``, as torch._dynamo does to ``torch.manual_seed``).

    >>> import math
    >>> with names_restored(math) as replaced:
    ...     math.isclose = lambda *args, **kwargs: True
    >>> replaced, math.isclose(1, 2)
    (['math.isclose'], False)
    """
    replaced: list[str] = []
    for owner in owners:  # replaced since the course was imported (names added since then stay)
        first = _FIRST.get(id(owner), (None, {}))[1]
        _put_back([(owner, {**vars(owner), **first})], replaced)
    saved = [(owner, dict(vars(owner))) for owner in owners]
    try:
        yield replaced
    except _Stop:  # stopped past its time limit: the check has answered and the test may have moved on, so
        raise  # putting back what was true back then could undo later changes
    except BaseException:
        _put_back(saved, replaced)
        raise
    _put_back(saved, replaced)


def _put_back(saved: list[tuple[Any, dict[str, Any]]], replaced: list[str]) -> None:
    for owner, before in saved:
        for name, value in list(vars(owner).items()):
            if name not in before and name not in _CACHES and not isinstance(value, ModuleType):
                delattr(owner, name)
                replaced.append(f"{owner.__name__}.{name}")
        for name, value in before.items():
            now = vars(owner).get(name, _GONE)
            if now is not value and not _wraps(now, value) and name not in _CACHES:
                setattr(owner, name, value)
                replaced.append(f"{owner.__name__}.{name}")


def _wraps(now: Any, value: Any) -> bool:
    """Whether ``now`` is a library's own wrapper of ``value``: ``__wrapped__`` on a function of torch, NumPy or the
    course (``functools.wraps`` in a notebook sets it too), or torch's (:data:`_TORCH_WRAPPERS`)."""
    if getattr(now, "__wrapped__", None) is value:
        return isinstance(now, FunctionType) and now.__code__.co_filename.startswith(_LIBRARIES)
    if type(now) is not FunctionType or (now.__module__, now.__code__.co_name) not in _TORCH_WRAPPERS:
        return False
    try:
        return any(cell.cell_contents is value for cell in now.__closure__ or ())
    except ValueError:  # an empty cell: not torch's wrapper
        return False
