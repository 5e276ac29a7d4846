"""A check stopped while the learner's code sits in a long C call harms no check after it (course/checks/stopping.py),
and the stop button stops the learner's code as well as the cell.

The stop waits for the C call to return, and CPython 3.11 keeps a process-wide "exception pending" signal up meanwhile,
on which a thread with a profile function (the library watch of lessons 06, 10, 11, 12 and 14) spun until its limit."""

from __future__ import annotations

import signal
import sys
import threading
import time

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


def test_a_worker_is_never_stopped_after_its_work_ended():
    # a stop that lands in threading's own clean-up prints a traceback and may leave the thread listed as running
    caught, hook = [], threading.excepthook
    threading.excepthook = caught.append
    try:
        for i in range(200):
            worker = stopping.Worker(lambda: sum(range(2000)))
            worker.start()
            time.sleep(i % 7 * 1e-5)
            stopping.stop(worker)
            worker.join(1.0)
            assert not worker.answering and not stopping.runs(worker)
    finally:
        threading.excepthook = hook
    assert not caught, [c.exc_type for c in caught]
