"""Stop a learner's code that ran past its time limit, without harming the checks after it.

The stop is an exception injected into the check's :class:`Worker` thread (``PyThreadState_SetAsyncExc``), raised at
its next Python instruction; a thread inside a long C call (``time.sleep``, a lock, a cold ``torch.compile``) raises
it as soon as that call returns. While it is pending, CPython 3.11 keeps a process-wide "an exception is pending"
signal up, on which every thread with a profile or trace function spins at its next function call: the next check
that watches library calls, or a notebook under a profiler or debugger, would not go on. So the thread that stops a
worker lowers the signal at once (it raises a stop of its own, :class:`_Cleared`: a thread that takes its own pending
exception lowers the signal), and makes only C calls while it may be up. The stop stays pending, for the worker alone:
when the worker takes the interpreter lock back, the signal goes up again and the worker raises its stop.

A stop reaches a :class:`Worker` only while it runs the learner's code (``answering``), never in threading's own
clean-up after it, where it would print a traceback.
``Thread.is_alive`` is not asked: on CPython 3.11 a ``join`` stopped by the stop button (KeyboardInterrupt) marks the
thread stopped while it runs on. Left as it is: C code that takes the interpreter lock back again and again without
running Python (a long SQL query, read row by row) raises the signal each time, so a check with a library watch that
starts meanwhile waits for it."""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable

# seconds to wait for a stopped worker to end: one running Python sees its stop within milliseconds (the next check
# then starts with it gone); one in C does not, and waiting longer would not help
GRACE = 0.05
# PyThreadState_SetAsyncExc(thread id, exception class) puts an exception pending in a thread. Called through a ctypes
# prototype of its own, so that a call is one C call (no Python frame to spin on).
_put = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)


class _Stop(BaseException):
    """Injected into a thread past its time limit (not an ``Exception``: ``except Exception`` lets it through)."""


class _Cleared(BaseException):
    """A thread's stop of its own: raising it lowers the process-wide signal."""


class Worker(threading.Thread):
    """A check's worker thread, running ``work()`` once; :func:`stop` stops it only while ``answering`` is True (from
    the start of :meth:`run`, never in threading's own start-up or clean-up); one stopped before that never runs it."""

    def __init__(self, work: Callable[[], object]) -> None:
        super().__init__(name="course-check", daemon=True)
        self.work, self.answering, self.cancelled = work, False, False

    def run(self) -> None:
        try:
            self.answering = True  # first, then cancelled is read: stop() sets them the other way round
            if not self.cancelled:
                self.work()
        except _Stop:  # one that landed after the work's own handlers
            pass
        finally:
            self.answering = False  # then no check point for a switch of threads before the thread ends


def _raised() -> None:
    """Called with a :class:`_Cleared` pending in this thread: raises it, at the latest at the loop's first jump."""
    for _ in range(10**7):
        pass


def stop(worker: Worker) -> None:
    """Stop ``worker`` if it runs the learner's code (one whose work has not begun never runs it); wait up to
    :data:`GRACE` seconds for it to end. Only C calls (attribute reads, ctypes) while the signal may be up.

    >>> def sleeps():
    ...     time.sleep(0.3)  # C code: the stop is raised when it returns
    >>> worker = Worker(sleeps)
    >>> worker.start(); stop(worker); worker.answering, worker.join(1) or worker.answering
    (True, False)
    """
    me, ident = threading.get_ident(), worker.ident or 0
    worker.cancelled = True  # first, then answering is read: Worker.run sets them the other way round
    if not worker.answering:
        return
    # until the signal is down again, only C calls in this thread (a Python call spins if it has a profile function)
    try:
        try:
            if worker.answering:  # no check point for a switch of threads between the test and the call
                _put(ident, _Stop)
            _put(me, _Cleared)
            _raised()
        except _Cleared:
            pass
        deadline = time.monotonic() + GRACE
        while worker.answering and time.monotonic() < deadline:
            time.sleep(0.001)  # asking for the lock back makes a thread running Python look at its stop
    finally:  # lowered again (a worker in C that took the lock back meanwhile raised it), inline: a Python call would
        interrupted = None  # spin. An interrupt raised first (the stop button pressed again: a signal is handled
        try:  # before a pending exception) is raised once the signal is down, this thread's own stop taken
            while True:
                try:
                    _put(me, _Cleared)
                    _raised()
                except _Cleared:
                    break
                except BaseException as exc:  # noqa: BLE001 (raised below, once the signal is down)
                    interrupted = exc
        except _Cleared:  # the one an interrupt left pending, raised at the loop's jump back
            pass
        if interrupted is not None:
            raise interrupted
