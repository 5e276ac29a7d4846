"""A check stopped while the learner's code sits in a long C call harms no check after it (course/checks/stopping.py).

The stop waits for the C call to return, and CPython 3.11 keeps a process-wide "exception pending" signal up meanwhile,
on which a thread with a profile function (the library watch of lessons 06, 10, 11, 12 and 14) spun until its limit."""

from __future__ import annotations

import sys
import threading
import time

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
    time.sleep(2.0)  # the test's own thread waits in C: only the helper asks for the interpreter lock
    assert not stuck.is_alive(), "the stopped code ran on after its C call returned"


def test_a_thread_stopped_in_python_needs_no_helper():
    def loops():
        try:
            while True:
                pass
        except stopping._Stop:
            pass

    thread = threading.Thread(target=loops, name="course-check", daemon=True)
    thread.start()
    helpers = sum(t.name == stopping.HELPER for t in threading.enumerate())
    start = time.perf_counter()
    stopping.stop(thread)
    assert not thread.is_alive() and time.perf_counter() - start < stopping.GRACE
    assert sum(t.name == stopping.HELPER for t in threading.enumerate()) <= helpers  # another test's may end


def test_the_helper_leaves_no_exception_pending_for_a_profiled_thread():
    release, seen = threading.Event(), []

    def waits():
        try:
            release.wait(20)
        except stopping._Stop:
            seen.append("stopped")

    thread = threading.Thread(target=waits, name="course-check", daemon=True)
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
    assert seen == ["stopped"], "the stop stayed pending and was seen once the wait returned"
