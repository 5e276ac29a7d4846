"""Stop a learner's code that ran past its time limit, without harming the checks after it.

The stop is an exception injected into the worker thread (``PyThreadState_SetAsyncExc``), raised at its next Python
instruction. A thread inside a long C call (``time.sleep``, a lock, a cold ``torch.compile``) sees it only when that
call returns, and until then CPython 3.11 keeps a process-wide "an exception is pending" signal up, on which every
thread with a profile function spins without end: the next check that watches library calls would not finish. So a
stop not seen within :data:`GRACE` seconds is handed to a helper thread, which clears the process-wide signal (it
raises a stop of its own; the stopped thread's stop stays pending, for that thread alone) and then, until the stopped
thread ends, wakes every :data:`NUDGE` seconds: asking for the interpreter lock makes the stopped thread look at its
pending stop as soon as it runs Python again, even when no other thread does."""

from __future__ import annotations

import ctypes
import threading
import time

GRACE = 0.2  # seconds a stopped thread running Python needs at most to see its stop (it takes microseconds)
NUDGE = 0.05  # seconds between the helper's requests for the interpreter lock
HELPER = "course-check-stopper"  # the helper thread's name


class _Stop(BaseException):
    """Injected into a thread past its time limit (not an ``Exception``: ``except Exception`` lets it through)."""


class _Cleared(BaseException):
    """The helper's own stop: raising it takes down the process-wide signal."""


def _inject(ident: int, exc: type[BaseException]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc))


def stop(thread: threading.Thread) -> None:
    """Stop ``thread`` (a check's worker); if it is inside a C call, leave its stop pending without harming others.

    >>> def sleeps():
    ...     try:
    ...         time.sleep(0.5)  # C code: the stop is seen when it returns
    ...     except _Stop:
    ...         pass
    >>> stopped = threading.Thread(target=sleeps, daemon=True)
    >>> stopped.start(); stop(stopped); stopped.is_alive(), any(t.name == HELPER for t in threading.enumerate())
    (True, True)
    """
    if thread.ident is None or not thread.is_alive():
        return
    _inject(thread.ident, _Stop)
    thread.join(GRACE)
    if thread.is_alive():
        cleared = threading.Event()
        threading.Thread(target=_clear_then_nudge, args=(thread, cleared), name=HELPER, daemon=True).start()
        cleared.wait(1.0)  # a few microseconds: the next check starts with the signal down


def _clear_then_nudge(thread: threading.Thread, cleared: threading.Event) -> None:
    try:
        _inject(threading.get_ident(), _Cleared)
        for _ in range(10**7):  # raised at the loop's first jump back
            pass
    except _Cleared:
        cleared.set()
    while thread.is_alive():
        time.sleep(NUDGE)
