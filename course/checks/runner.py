"""Run a learner's code in a worker thread so that a check always answers, within a time limit and never raising:
code still running after ``limit`` seconds is stopped (an injected exception ends any pure-Python loop), SystemExit
and every other exception become an :class:`Outcome`, and KeyboardInterrupt (the stop button) still stops the cell."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

_GONE = object()  # a deleted name's value
# names the libraries rebind themselves: builtins._ is the last result shown; copyreg caches a class's __slotnames__;
# torch.set_default_dtype rebinds torch.Storage; a warning raised in a module adds its __warningregistry__
_CACHES = {"_", "__slotnames__", "Storage", "__warningregistry__"}


class _Stop(BaseException):
    """Injected into a thread past its time limit (not an ``Exception``: ``except Exception`` lets it through)."""


@dataclass(frozen=True)
class Outcome:
    """What running the code gave: its value, or the exception it raised, or that it timed out or exited."""

    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False
    exited: bool = False


def _stop(thread: threading.Thread) -> None:
    if thread.ident is not None and thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(_Stop))


def run_limited(fn: Callable[..., Any], *args: Any, limit: float) -> Outcome:
    """Call ``fn(*args)`` in a worker thread and wait at most ``limit`` seconds for it.

    >>> run_limited(lambda x: x + 1, 1, limit=1.0).value, run_limited(exit, limit=1.0).exited
    (2, True)
    """
    box: dict[str, Any] = {}  # the Outcome's fields, as the worker sets them

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except SystemExit:
            box["exited"] = True
        except _Stop:
            box["timed_out"] = True
        except BaseException as exc:  # reported as an outcome, never raised in the worker
            box["error"] = exc

    thread = threading.Thread(target=target, name="course-check", daemon=True)
    thread.start()
    try:
        thread.join(limit)
    except BaseException:  # the stop button: stop the learner's code too, then stop the cell
        _stop(thread)
        raise
    if thread.is_alive() or "timed_out" in box:
        _stop(thread)
        return Outcome(timed_out=True)
    if isinstance(box.get("error"), KeyboardInterrupt):
        raise box["error"]
    return Outcome(**box)


@contextmanager
def names_restored(*owners: object) -> Iterator[list[str]]:
    """Put back every name of the modules or classes ``owners`` that the code run inside replaced, deleted or added
    (a learner's ``torch.allclose = ...`` would fool the check and break the rest of the notebook); the list it
    yields names them once the block ends. A library's own lazy work is left alone: a submodule imported, or a
    function wrapped around the original (``__wrapped__``, as torch._dynamo does to ``torch.manual_seed``).

    >>> import math
    >>> with names_restored(math) as replaced:
    ...     math.isclose = lambda *args, **kwargs: True
    >>> replaced, math.isclose(1, 2)
    (['math.isclose'], False)
    """
    saved = [(owner, dict(vars(owner))) for owner in owners]
    replaced: list[str] = []
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
            if now is not value and getattr(now, "__wrapped__", None) is not value and name not in _CACHES:
                setattr(owner, name, value)
                replaced.append(f"{owner.__name__}.{name}")
