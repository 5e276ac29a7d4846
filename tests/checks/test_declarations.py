"""Tests generated from every declared exercise: the declarations are the test cases.

For each exercise of each lesson: the reference and every right alternative pass; the placeholder is
"not attempted"; every known mistake, given as the learner's answer, is diagnosed as itself; every
guard's example triggers it; every id is in the one vocabulary; and hostile answers (code that never
returns, exits, raises from ``__str__``, objects equal to everything, meta tensors, huge views) get a
verdict within the time limit and never a ✅.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from course.checks import LESSONS, Mistake, Verdict, engine, exercises
from course.checks.vocabulary import MISTAKES


def _declared(module: str) -> list:
    try:
        return exercises(module)
    except ModuleNotFoundError:
        return []


ALL = [(module, exercise) for module in LESSONS.values() for exercise in _declared(module)]
# every known wrong answer: a mistake's wrong program, or the example that triggers a guard
DIAGNOSIS_CASES = [(m, e, item) for m, e in ALL for item in (*e.mistakes, *e.guards, *e.library)]
ALTERNATIVE_CASES = [(m, e, i) for m, e in ALL for i in range(len(e.alternatives))]


def _id(case: tuple) -> str:
    module, exercise, *rest = case
    tail = "" if not rest else "/" + (rest[0].id if hasattr(rest[0], "id") else f"alternative{rest[0]}")
    return f"{module}.{exercise.name}{tail}"


def _as_answer(exercise, program):
    """What a learner would hand in: the program itself, or for a value exercise the value it builds."""
    return program() if exercise.kind == "value" and callable(program) else program


def test_every_lesson_declares_its_exercises():
    missing = [module for module in LESSONS.values() if not _declared(module)]
    assert not missing, f"check modules that declare no Exercise: {missing}"


@pytest.mark.parametrize("case", ALL, ids=[_id(c) for c in ALL])
def test_reference_passes_and_placeholder_is_not_attempted(case):
    _, exercise = case
    verdict = exercise(_as_answer(exercise, exercise.reference))
    assert verdict.passed, verdict
    assert exercise(None).status == "not_attempted"
    assert exercise(...).status == "not_attempted"
    if exercise.kind == "function":  # the notebook's stub: a body that still raises NotImplementedError
        assert exercise(_stub).status == "not_attempted", exercise(_stub)


def _stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("case", ALTERNATIVE_CASES, ids=[_id(c) for c in ALTERNATIVE_CASES])
def test_every_right_alternative_passes(case):
    _, exercise, index = case
    verdict = exercise(_as_answer(exercise, exercise.alternatives[index]))
    assert verdict.passed, verdict


@pytest.mark.parametrize("case", DIAGNOSIS_CASES, ids=[_id(c) for c in DIAGNOSIS_CASES])
def test_every_mistake_and_guard_is_diagnosed_as_itself(case):
    _, exercise, item = case
    wrong = item.wrong if isinstance(item, Mistake) else item.example
    verdict = exercise(_as_answer(exercise, wrong))
    assert verdict.mistake == item.id, verdict
    assert item.id in MISTAKES, f"{item.id!r} is not in course/checks/vocabulary.py"


# --- hostile answers ------------------------------------------------------------------------------
class EqualToEverything:
    def __eq__(self, other):
        return True

    __hash__ = None

    def __bool__(self):
        return True


class BadMessage(Exception):
    def __str__(self):
        raise RuntimeError("__str__ refuses")


class Booby:
    def __getattr__(self, name):
        raise RuntimeError(f"no attribute {name} for you")

    def __len__(self):
        raise RuntimeError("no len")

    def __float__(self):
        raise RuntimeError("no float")


class Gate:
    """What the never-ending answers wait on; each test opens it at the end, so no thread outlives its test
    (a thread that wakes while the interpreter shuts down can abort it)."""

    event = threading.Event()

    @classmethod
    def wait(cls, *args):
        cls.event.wait(60)

    @classmethod
    def open(cls):
        event, cls.event = cls.event, threading.Event()
        event.set()


class SleepyModel(nn.Module):
    def forward(self, *args):
        Gate.wait()


class ExitingModel(nn.Module):
    def forward(self, *args):
        sys.exit(0)


def _returning(make):
    return lambda *args: make()


def _raise_bad_message(*args):
    raise BadMessage()


HOSTILE_VALUES = {
    "equal_to_everything": EqualToEverything,
    "booby_trapped": Booby,
    "meta_tensor": lambda: torch.empty(3, 1, device="meta"),
    "huge_view": lambda: torch.zeros(1).expand(10**12),
    "sleepy_model": SleepyModel,
    "exiting_model": ExitingModel,
}
HOSTILE_FUNCTIONS = {
    "never_returns": Gate.wait,
    "spins_forever": lambda *args: [None for _ in iter(int, 1)],
    "calls_sys_exit": lambda *args: sys.exit(3),
    "exception_str_raises": _raise_bad_message,
    **{name: _returning(make) for name, make in HOSTILE_VALUES.items()},
}
NEVER_END = {"never_returns", "spins_forever"}
HOSTILE_CASES = [
    (m, e, name) for m, e in ALL for name in (HOSTILE_FUNCTIONS if e.kind == "function" else HOSTILE_VALUES)
]


@pytest.mark.parametrize("case", HOSTILE_CASES, ids=[f"{_id(c[:2])}/{c[2]}" for c in HOSTILE_CASES])
def test_hostile_answers_get_a_verdict_in_time_and_never_pass(case, monkeypatch):
    _, exercise, name = case
    limit = 0.05 if name in NEVER_END else 0.2  # an answer that never ends meets the limit whatever the exercise
    monkeypatch.setattr(engine, "TIME_LIMIT", limit)
    answer = HOSTILE_FUNCTIONS[name] if exercise.kind == "function" else HOSTILE_VALUES[name]()
    workers = {thread for thread in threading.enumerate() if thread.name == "course-check"}
    started, cpu_started = time.perf_counter(), time.process_time()
    verdict = exercise(answer)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    Gate.open()
    for worker in {thread for thread in threading.enumerate() if thread.name == "course-check"} - workers:
        worker.join(5)  # once its answer gave up, nothing of the check's own may go on computing (a huge view summed)
        assert not worker.is_alive(), f"a check's worker still runs after {name}"
    assert isinstance(verdict, Verdict)
    assert not verdict.passed, verdict
    assert verdict.mistake == "timeout" or name not in NEVER_END, verdict
    # An answer that never ends is a wait (no CPU): the wall clock must stop it at the limit. The others end at once,
    # and what is left is the check's own work: counted in this process's CPU time, which other processes loading
    # the machine do not lengthen (on a busy 2-core machine its wall time can pass a second), with a wall-clock bound.
    if name in NEVER_END:
        assert elapsed < limit + 1.0, f"{elapsed:.2f} s"
    else:
        assert cpu < limit + 1.0 and elapsed < limit + 10.0, f"{cpu:.2f} s of CPU, {elapsed:.2f} s in all"
    assert isinstance(str(verdict), str)


FUNCTION_CASES = [case for case in ALL if case[1].kind == "function"]


def test_keyboard_interrupt_still_stops_the_cell():
    def interrupted(*args):
        raise KeyboardInterrupt

    for _, exercise in [case for case in ALL if case[1].kind == "function"][:3]:
        with pytest.raises(KeyboardInterrupt):
            exercise(interrupted)


def test_every_vocabulary_id_is_used():
    engine_ids = {
        "not_callable",
        "raised",
        "timeout",
        "exited",
        "returned_none",
        "mutated_input",
        "unreadable",
        "other",
        "patched_library",
        "backward_inside",
        "graph_freed",
        "grad_left_off",
        "default_dtype_changed",
        "default_device_changed",
        "partly_detached",
        "gradient_not_finite",
        "backward_fails",
    }
    declared = {item.id for _, exercise in ALL for item in (*exercise.mistakes, *exercise.guards, *exercise.library)}
    assert set(MISTAKES) - declared - engine_ids == set(), "remove ids no exercise declares"


def _mutable_ids(value: object, depth: int = 0) -> set[int]:
    """The ids of the lists, dicts, tensors, arrays and modules in a probe's inputs (a few levels deep)."""
    found = {id(value)} if isinstance(value, (list, dict, set, torch.Tensor, np.ndarray, nn.Module)) else set()
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple, set)) else ()
    for item in items if depth < 4 else ():
        found |= _mutable_ids(item, depth + 1)
    return found


@pytest.mark.parametrize("case", ALL, ids=[_id(c) for c in ALL])
def test_each_run_gets_fresh_probe_inputs(case):
    # an answer that changes what it was given must not change the next run's probe (the check's own constants)
    _, exercise = case
    first, second = exercise.inputs(), exercise.inputs()
    assert not _mutable_ids(first) & _mutable_ids(second), "inputs() hands out the same object twice"
