"""Run a learner's code in a worker thread so that a check always answers, within a time limit and never raising:
code still running after ``limit`` seconds is stopped (an injected exception ends any pure-Python loop), SystemExit
and every other exception become an :class:`Outcome`, and KeyboardInterrupt (the stop button) still stops the cell."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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
