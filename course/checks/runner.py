"""Run a learner's code so that a check always answers: with a time limit, and never raising.

The code runs in a worker thread. The check waits at most ``limit`` seconds; code still running
then is asked to stop (an exception is injected into its thread, which ends any pure-Python loop)
and the check reports a time-out. ``SystemExit`` (``exit()`` or ``sys.exit()``) and every other
exception become an :class:`Outcome`. A ``KeyboardInterrupt`` (the stop button) still stops the cell.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class _Stop(BaseException):
    """Injected into a thread that ran past its time limit (not an ``Exception``, so ``except Exception`` lets it through)."""


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

    Example:
        >>> run_limited(lambda x: x + 1, 1, limit=1.0).value
        2
        >>> import time
        >>> run_limited(time.sleep, 5, limit=0.05).timed_out
        True
        >>> run_limited(exit, limit=1.0).exited
        True
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except SystemExit:
            box["exited"] = True
        except _Stop:
            box["stopped"] = True
        except BaseException as exc:  # reported as an outcome, never raised in the worker
            box["error"] = exc

    thread = threading.Thread(target=target, name="course-check", daemon=True)
    thread.start()
    try:
        thread.join(limit)
    except BaseException:  # the stop button: stop the learner's code too, then stop the cell
        _stop(thread)
        raise
    if thread.is_alive() or "stopped" in box:
        _stop(thread)
        return Outcome(timed_out=True)
    if isinstance(box.get("error"), KeyboardInterrupt):
        raise box["error"]
    return Outcome(value=box.get("value"), error=box.get("error"), exited=box.get("exited", False))
