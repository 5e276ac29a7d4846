"""A check stopped while the learner's code sits in a long C call harms no check after it (course/checks/stopping.py),
and the stop button stops the learner's code as well as the cell.

The stop waits for the C call to return, and CPython 3.11 keeps a process-wide "exception pending" signal up meanwhile,
on which a thread with a profile function (the library watch of lessons 06, 10, 11, 12 and 14) spun until its limit."""

from __future__ import annotations

import ctypes
import operator
import signal
import sys
import threading
import time
from functools import partial

import pytest
import torch

from course.checks import engine, losses, stopping


def _worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "course-check"]


def test_a_library_watching_check_after_one_stuck_in_a_c_call_answers_at_once(monkeypatch):
    monkeypatch.setattr(engine, "TIME_LIMIT", 0.5)
    release = threading.Event()

    def sleeps_in_c(logits, targets):
        release.wait(20)  # a lock wait: C code, the stop stays pending until it returns
        return logits.sum()

    assert losses.class_loss(sleeps_in_c).mistake == "timeout"
    try:
        start = time.perf_counter()
        verdict = losses.class_loss(losses.class_loss.reference)
        took = time.perf_counter() - start
        assert verdict.passed, verdict.message
        assert took < 0.5, f"the check after a stuck one took {took:.2f} s"
    finally:
        release.set()


def test_the_stuck_code_is_still_stopped_when_its_c_call_returns_while_nothing_else_runs(monkeypatch):
    monkeypatch.setattr(engine, "TIME_LIMIT", 0.3)

    def sleeps_then_loops(logits, targets):
        time.sleep(1.0)  # the stop arrives here, inside C
        while True:  # back in Python with its stop pending: it must end here, not run on in the background
            pass

    before = set(_worker_threads())
    assert losses.class_loss(sleeps_then_loops).mistake == "timeout"
    [stuck] = set(_worker_threads()) - before
    time.sleep(2.0)  # the test's own thread waits in C meanwhile
    assert not stuck.is_alive(), "the stopped code ran on after its C call returned"


def test_a_thread_stopped_in_python_ends():
    def loops():
        try:
            while True:
                pass
        except stopping._Stop:
            pass

    worker = stopping.Worker(loops)
    worker.start()
    start = time.perf_counter()
    stopping.stop(worker)
    took = time.perf_counter() - start
    worker.join(5)  # on a loaded machine the stopped thread may need more than the grace period to run again
    assert not worker.answering and took < stopping.GRACE + 0.5


def test_a_stop_pending_in_c_leaves_no_signal_up_for_a_profiled_thread():
    release, seen = threading.Event(), []

    def waits():
        try:
            release.wait(20)
        except stopping._Stop:
            seen.append("stopped")
            raise

    thread = stopping.Worker(waits)
    thread.start()
    try:
        stopping.stop(thread)
        sys.setprofile(lambda *args: None)
        try:
            start = time.perf_counter()
            total = sum(torch.ones(1).item() for _ in range(1000))
            took = time.perf_counter() - start
        finally:
            sys.setprofile(None)
        assert total == 1000 and took < 1.0, f"profiled code took {took:.2f} s with a stop pending elsewhere"
    finally:
        release.set()
    thread.join(1.0)
    assert seen == ["stopped"], "the stop stays pending, for the worker alone, and is raised when its wait returns"


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="the stop button is a signal")
def test_the_stop_button_stops_the_learners_code_too(monkeypatch):
    # CPython 3.11: a join stopped by KeyboardInterrupt marks the still running worker as stopped (is_alive() False)
    started, spins = threading.Event(), [0]

    def loops(logits, targets):
        started.set()
        while True:
            spins[0] += 1

    def press_stop():
        if started.wait(30):  # only while the answer runs: an interrupt inside an import would break later tests
            time.sleep(0.2)
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    assert losses.class_loss(losses.class_loss.reference).passed  # the check's first imports, done before
    threading.Thread(target=press_stop, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        losses.class_loss(loops)
    time.sleep(0.3)
    counted = spins[0]
    time.sleep(0.3)
    assert spins[0] == counted, "the answer's loop still runs after the stop button"


def test_a_notebook_under_a_profiler_gets_its_answer_when_the_code_is_stuck_in_c(monkeypatch):
    # %prun, a debugger or coverage: the notebook's own thread has a profile or trace function, which spun on the
    # signal in the stop's own wait (join), for ever with code that never comes back from C
    monkeypatch.setattr(engine, "TIME_LIMIT", 0.3)
    release = threading.Event()

    def deadlocked(logits, targets):
        release.wait(30)
        return logits.sum()

    assert losses.class_loss(losses.class_loss.reference).passed  # its first imports, slow under a profile function
    sys.setprofile(lambda *args: None)
    try:
        start = time.perf_counter()
        verdict = losses.class_loss(deadlocked)
        took = time.perf_counter() - start
    finally:
        sys.setprofile(None)
        release.set()
    assert verdict.mistake == "timeout" and took < 2.0, f"the check answered after {took:.2f} s"


def test_a_worker_is_never_stopped_in_threadings_own_start_up_or_clean_up():
    # a stop that lands there prints a traceback ("Exception ignored in thread started by") and may leave the thread
    # listed as running; threads switched every microsecond, so that stops land everywhere
    caught, hook, unraisable = [], threading.excepthook, sys.unraisablehook
    threading.excepthook = sys.unraisablehook = caught.append
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for i in range(1000):
            worker = stopping.Worker(lambda: sum(range(2000)))
            worker.start()
            for _ in range(i % 97):
                pass
            stopping.stop(worker)
            worker.join(1.0)
            assert not worker.answering and worker.ident not in threading._active
    finally:
        sys.setswitchinterval(interval)
        threading.excepthook, sys.unraisablehook = hook, unraisable
    assert not caught, [getattr(c, "exc_type", None) for c in caught]


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="the stop button is a signal")
@pytest.mark.parametrize("at", [0, 1, 2])
def test_the_stop_button_pressed_again_inside_stop_leaves_nothing_behind(monkeypatch, at):
    # an interrupt right after stop()'s n-th call of PyThreadState_SetAsyncExc (a signal is handled before a pending
    # exception): the signal was left up (a profiled thread then spun), or the stop's own _Cleared reached the caller
    put, calls, interrupt = stopping._put, [], ctypes.pythonapi.PyErr_SetInterrupt

    def put_then_interrupt(ident, exc):
        calls.append(exc)
        if len(calls) != at + 1:
            return put(ident, exc)
        # both in C, one after the other, as a SIGINT arriving during the call would (map and operator.call are C)
        return list(map(operator.call, [partial(put, ident, exc), interrupt]))[0]

    release = threading.Event()
    worker = stopping.Worker(lambda: release.wait(10))
    worker.start()
    monkeypatch.setattr(stopping, "_put", put_then_interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            stopping.stop(worker)
        for _ in range(1000):  # a stop of this thread's own left pending would be raised here
            pass
        sys.setprofile(lambda *args: None)
        try:
            start = time.perf_counter()
            sum(1 for _ in range(10))
            took = time.perf_counter() - start
        finally:
            sys.setprofile(None)
        assert took < 0.5, f"a profiled call took {took:.2f} s: the signal was left up"
    finally:
        release.set()
    worker.join(2)
    assert not worker.answering
