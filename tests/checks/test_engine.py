"""The engine itself, on a small declared exercise: every path to a verdict, the time limit, the RNG."""

from __future__ import annotations

import builtins
import dataclasses
import math
import random
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch

from course.checks import engine, start_here, values
from course.checks.engine import Exercise, Guard, Mistake, Verdict
from course.checks.runner import run_limited

DOUBLE = Exercise(
    name="double",
    inputs=lambda: (torch.tensor([1.0, -2.0, 3.0]),),
    reference=lambda x: 2 * x,
    guards=[Guard("not_a_tensor", lambda got: not isinstance(got, torch.Tensor), example=lambda x: [2.0])],
    mistakes=[
        Mistake("wrong_sign", lambda x: -2 * x),
        Mistake("device_mismatch", lambda x: x + torch.ones(3, device="meta")),
    ],
    alternatives=[lambda x: x + x],
    success="2 * x",
)


def stub(x):
    raise NotImplementedError


def module_without_forward(x):
    return torch.nn.Module()(x)


def inplace(x):
    return x.mul_(2)


@pytest.mark.parametrize(
    "answer, status, mistake",
    [
        (lambda x: x * 2, "correct", None),
        (lambda x: x + x, "correct", None),
        (None, "not_attempted", None),
        (stub, "not_attempted", None),
        (module_without_forward, "wrong", "raised"),  # NotImplementedError from inside torch is not a stub
        (lambda x: -2 * x, "wrong", "wrong_sign"),
        (lambda x: x + torch.ones(3, device="meta"), "wrong", "device_mismatch"),  # the same error as the wrong program
        (lambda x: [2.0, -4.0, 6.0], "wrong", "not_a_tensor"),
        (lambda x: None, "wrong", "returned_none"),
        (inplace, "wrong", "mutated_input"),
        (lambda x: sys.exit(1), "wrong", "exited"),
        (lambda x: 1 / 0, "wrong", "raised"),
        (lambda x: 3 * x, "wrong", "other"),
        (42, "wrong", "not_callable"),
    ],
)
def test_every_path_gives_its_verdict(answer, status, mistake):
    verdict = DOUBLE(answer)
    assert (verdict.status, verdict.mistake) == (status, mistake), verdict


def test_code_that_never_returns_is_stopped_within_the_limit(monkeypatch):
    monkeypatch.setattr(engine, "TIME_LIMIT", 0.3)
    started = time.perf_counter()
    verdict = DOUBLE(lambda x: [None for _ in iter(int, 1)])
    assert verdict.mistake == "timeout" and "0.3 s" in verdict.message
    assert time.perf_counter() - started < 1.0


def test_torchs_slow_lazy_imports_happen_before_the_time_limit_starts():
    # an optimizer's first step, or a matmul on meta, imports torch._dynamo: seconds under load, not the learner's
    script = """import sys
from course.checks import engine
limited, seen = engine.run_limited, []
engine.run_limited = lambda *args, **kwargs: seen.append("torch._dynamo" in sys.modules) or limited(*args, **kwargs)
double = engine.Exercise("double", lambda x: 2 * x, "ok", inputs=lambda: (1.0,))
print("torch._dynamo" in sys.modules, double(None).status, list(seen), double(lambda x: x + x).passed, seen)"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["False", "not_attempted", "[]", "True", "[True]"], done.stdout


def test_the_default_limit_is_ten_seconds():
    assert engine.TIME_LIMIT == 10.0


def test_a_check_leaves_the_random_streams_as_they_were():
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    DOUBLE(lambda x: torch.manual_seed(5) and np.random.seed(5) or random.seed(5) or x * torch.rand(3))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_keyboard_interrupt_propagates():
    def interrupted(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        DOUBLE(interrupted)


def test_runner_reports_errors_instead_of_raising():
    outcome = run_limited(lambda: 1 / 0, limit=1.0)
    assert isinstance(outcome.error, ZeroDivisionError) and not outcome.timed_out


def test_a_verdict_is_one_line_with_its_status():
    assert repr(Verdict("correct", "doubles.")) == "✅ Correct: doubles." and Verdict("correct", "x").passed
    assert repr(DOUBLE(None)).startswith("⏳ Not attempted yet: replace the placeholder")
    verdict = Verdict("wrong", "subtract the gradient.", "wrong_sign")
    assert str(verdict) == "❌ Not yet: subtract the gradient." and not verdict.passed


class _BadLen(list):
    def __len__(self):
        raise RuntimeError("no len")


class _ExitingStr(Exception):
    def __str__(self):
        raise SystemExit(1)


def _raises_exiting_str(x):
    raise _ExitingStr()


def _meta_tolist(x):
    return torch.empty(3, device="meta").tolist()  # NotImplementedError from torch's C++, on the learner's line


def test_hostile_objects_outside_the_worker_still_give_a_verdict():
    assert DOUBLE(_BadLen([1])).mistake == "not_callable"
    assert DOUBLE(_raises_exiting_str).mistake == "raised"


def test_not_implemented_from_inside_torch_is_not_a_stub():
    assert DOUBLE(_meta_tolist).mistake == "raised"


def test_hostile_answers_get_their_own_verdict():
    class Text(str):
        def __len__(self):
            raise RuntimeError("len")

    class Loud(Exception):
        def __str__(self):
            return Text("boom")

    class EqualToAll:
        def __eq__(self, other):
            return True

        __hash__ = None

    def raises_loud(x):
        raise Loud()

    def retypes(x):
        x.data = x.data.double()  # same values, another dtype: still a change to the caller's tensor
        return 2 * x

    assert DOUBLE(raises_loud).message.endswith("Loud: boom")
    unguarded = dataclasses.replace(DOUBLE, guards=())
    assert unguarded(lambda x: EqualToAll()).mistake == "other"  # not device_mismatch, whose program raises
    assert DOUBLE(retypes).mistake == "mutated_input"


def _warns_then(value: torch.Tensor, text: str) -> torch.Tensor:
    warnings.warn(text, UserWarning, stacklevel=2)
    return value


def test_only_the_learners_own_warnings_reach_the_cell():
    noisy = Exercise(
        name="noisy",
        inputs=lambda: (torch.tensor([1.0, 2.0]),),
        reference=lambda x: _warns_then(2 * x, "from the reference"),
        mistakes=[Mistake("wrong_sign", lambda x: _warns_then(-2 * x, "from a mistake"))],
        success="doubled.",
    )
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        verdict = noisy(lambda x: _warns_then(-2 * x, "from the learner"))
    assert verdict.mistake == "wrong_sign"
    assert [str(w.message) for w in shown] == ["from the learner"]


NUMPY_DOUBLE = Exercise("numpy_double", lambda x: 2 * x, "2 * x.", inputs=lambda: (np.array([1.0, -2.0, 3.0]),))


@pytest.mark.parametrize(
    "changes_its_input",
    [
        lambda x: np.multiply(x, 2, out=x),  # the right values, in the caller's array
        lambda x: (x.sort(), 2 * x)[1],  # the caller's order changed
        lambda x: (x.resize(3, 1, refcheck=False), 2 * x.ravel())[1],  # the caller's shape changed
    ],
)
def test_in_place_changes_to_numpy_inputs_are_named(changes_its_input):
    assert NUMPY_DOUBLE(changes_its_input).mistake == "mutated_input"
    assert NUMPY_DOUBLE(lambda x: 2 * x.copy()).passed


def test_arrays_of_any_dtype_are_compared():
    labels = Exercise("labels", lambda x: list(x), "a list.", inputs=lambda: (np.array(["a", "b"], dtype=object),))
    assert labels(lambda x: list(x)).passed
    assert labels(lambda x: (x.fill("c"), list(x))[1]).mistake == "mutated_input"


def _patches(owner: object, name: str, value: object) -> Callable:
    def answer(x):
        setattr(owner, name, value)
        return torch.zeros(3)  # wrong: only the replaced name could make it pass

    return answer


@pytest.mark.parametrize(
    "owner, name, value",
    [
        (torch, "allclose", lambda *args, **kwargs: True),
        (torch, "equal", lambda *args: True),
        (math, "isclose", lambda *args, **kwargs: True),
        (builtins, "isinstance", lambda *args: True),  # breaks the check's own code too
        (torch.Tensor, "shape", property(lambda self: torch.Size([3]))),
        (values, "close", lambda *args, **kwargs: True),
    ],
)
def test_an_answer_that_replaces_a_name_the_check_relies_on_is_told_and_the_name_is_put_back(owner, name, value):
    original = vars(owner).get(name)  # Tensor.shape is inherited: not in the dict before, nor after
    verdict = DOUBLE(_patches(owner, name, value))
    assert (verdict.mistake, vars(owner).get(name)) == ("patched_library", original), verdict
    assert f".{name}" in verdict.message
    assert DOUBLE(lambda x: 2 * x).passed


def test_deleting_a_library_name_is_undone_too():
    def answer(x):
        del torch.allclose
        return 2 * x

    assert DOUBLE(answer).mistake == "patched_library"
    assert torch.allclose(torch.ones(1), torch.ones(1))


def test_a_check_stopped_past_its_limit_puts_nothing_back_when_it_finally_ends(monkeypatch):
    monkeypatch.setattr(engine, "TIME_LIMIT", 0.05)
    release = threading.Event()
    assert DOUBLE(lambda x: release.wait(5)).mistake == "timeout"
    monkeypatch.undo()  # the test moves on (TIME_LIMIT is 10 again) while the stopped code still waits
    release.set()
    time.sleep(0.1)  # the stopped code ends now; it must not restore the 0.05 it saw when it started
    assert engine.TIME_LIMIT == 10.0


def test_an_answer_that_changes_a_list_it_was_given_is_told_so():
    from course.checks import nonlinearity_and_mlps as mlps

    def appends(sizes):
        total = sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False))
        sizes.append(0)  # the caller's list grows
        return total

    def rewrites(sizes):
        total = sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False))
        sizes[0] = -1
        return total

    for answer in (appends, rewrites):
        assert mlps.count_parameters(answer).mistake == "mutated_input", answer.__name__


def test_review5_a_tensor_subclass_is_named_as_such_in_the_message():
    class Marked(torch.Tensor):
        pass

    verdict = start_here.first_tensor(torch.tensor([1, 2, 3]).as_subclass(Marked))
    assert not verdict.passed and "tensor of class Marked" in verdict.message, verdict


def test_a_compiled_answer_is_not_told_it_replaced_library_names():
    # torch.compile's first run wraps nn.Module.__init__ and __setstate__ itself (torch._dynamo.mutation_guard)
    script = """import torch
from course.checks import engine
double = engine.Exercise("double", lambda x: 2 * x, "ok", inputs=lambda: (torch.ones(2),))
compiled = torch.compile(lambda x: 2 * x, backend="eager")
print(double(compiled).status, double(compiled).status, double(lambda x: 2 * x).status)"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["correct"] * 3, done.stdout


def test_a_learners_own_wrapper_of_module_init_is_still_put_back():
    original = torch.nn.Module.__init__

    def answer(x):
        def patched_init(self, *args, **kwargs):  # torch's name for its wrapper, but the learner's code
            original(self, *args, **kwargs)

        torch.nn.Module.__init__ = patched_init
        return 2 * x

    assert DOUBLE(answer).mistake == "patched_library"
    assert torch.nn.Module.__init__ is original


class _PosingAsInterrupt(BaseException):  # an exception whose __class__ claims to be KeyboardInterrupt
    @property
    def __class__(self):
        return KeyboardInterrupt


class _ClassExits(BaseException):
    @property
    def __class__(self):
        raise SystemExit(7)


class _StubWithExitingAttributes:  # a callable whose attributes exit, raising a bare NotImplementedError
    def __getattr__(self, name):
        raise SystemExit(5)

    def __call__(self, x):
        raise NotImplementedError


def _raises(error_type):
    def answer(x):
        raise error_type()

    return answer


@pytest.mark.parametrize(
    "answer",
    [_raises(_PosingAsInterrupt), _raises(_ClassExits), _StubWithExitingAttributes()],
    ids=["posing as an interrupt", "class exits", "stub with exiting attributes"],
)
def test_exceptions_that_lie_about_their_class_still_give_a_verdict(answer):
    verdict = DOUBLE(answer)
    assert isinstance(verdict, engine.Verdict) and not verdict.passed, verdict


def test_a_name_replaced_by_an_earlier_cell_is_put_back_before_the_check_trusts_it():
    original = torch.allclose
    torch.allclose = lambda *args, **kwargs: True  # an earlier cell, before this check ran
    try:
        verdict = DOUBLE(lambda x: x + 1)
    finally:
        replaced_still = torch.allclose is not original
        torch.allclose = original
    assert verdict.mistake == "patched_library" and "torch.allclose" in verdict.message, verdict
    assert not replaced_still
    assert not DOUBLE(lambda x: x + 1).passed and DOUBLE(lambda x: 2 * x).passed


@pytest.mark.parametrize(
    "value, text",
    [
        (torch.tensor([1, 2, 3]), "an int64 tensor of shape (3,)"),
        (torch.tensor([1, 2], dtype=torch.uint8), "a uint8 tensor"),
        (np.array([4, 4]), "an int64 NumPy array of shape (2,)"),
        (torch.zeros(2), "a float32 tensor"),
        (np.array([True]), "a bool NumPy array"),
        (__import__("collections").OrderedDict(a=1), "an OrderedDict of 1 items"),
    ],
)
def test_review10_describe_writes_an_before_a_vowel(value, text):
    assert values.describe(value).startswith(text), values.describe(value)


def test_the_floats_message_says_what_torch_tensor_does_with_a_list_only():
    verdict = start_here.first_tensor(torch.tensor([1.0, 2.0, 3.0]))
    assert "torch.Tensor makes floats from a list" in verdict.message, verdict
    assert torch.Tensor(torch.tensor([1, 2, 3])).dtype == torch.int64  # why "always" was wrong
