"""The one engine every exercise check runs on. An :class:`Exercise` declares its probe inputs, the right program
(or value), the known mistakes (each the *wrong program* or value, with the message that explains it), the right
alternatives and how to compare. Called on a learner's answer it returns a :class:`Verdict`, one line to read:

1. a placeholder (``None``, ``...``, a stub raising ``NotImplementedError``) is *not attempted*;
2. the answer is observed on fresh probe inputs, in a worker thread with a time limit; an answer that leaves
   gradient tracking switched off (``torch.set_grad_enabled(False)``) is told so first, then one that called
   backward() on the inputs it was given (where the right program does not);
3. guards (form checks: "return a tensor") are tried, then the reference: equal means *correct*, unless the
   answer called a library function the exercise asks the learner to write (``library``: "by hand");
4. otherwise the first mistake whose wrong program gives the same observation names the mistake;
5. otherwise a fallback message says what was expected and what came.

A check never raises (``KeyboardInterrupt`` aside) and answers within ``TIME_LIMIT`` seconds; the verdict's
``mistake`` names the diagnosis, so tests can assert which one was found.
"""

from __future__ import annotations

import builtins
import contextlib
import linecache
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from course.checks import probes, values
from course.checks.calls import Calls, Library, qualified
from course.checks.runner import names_restored, run_limited
from course.checks.values import Raised, close, describe, safe_text
from course.checks.vocabulary import MISTAKES
from course.repro import preserved_rng

_LEFT = ("grad_left_off", "default_dtype_changed", "backward_inside")  # what an answer can leave behind, in order
TIME_LIMIT = 10.0  # seconds a check may take, learner's code included
Message = str | Callable[[Any, Any], str] | None
# a NotImplementedError raised in these folders (torch, NumPy, the course) is not the learner's stub
_LIBRARIES = tuple(os.path.dirname(path) for path in (torch.__file__, np.__file__, os.path.dirname(__file__)))
_PLACEHOLDER = "replace the placeholder (None or ...) with your answer, then run this cell again."
_STUB = "the function still raises NotImplementedError: write its body, then run the cell again."
# what a check relies on: learner code that replaces a name here is told so, and the name is put back
_TRUSTED = (builtins, math, np, torch, torch.Tensor, torch.nn.Module, torch.nn.functional, values, probes)
_PREFIX = {"correct": "✅ Correct", "not_attempted": "⏳ Not attempted yet", "wrong": "❌ Not yet"}


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: *correct*, *not attempted yet*, or *not yet* with a diagnosis, shown as one line."""

    status: Literal["correct", "not_attempted", "wrong"]
    message: str
    mistake: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "correct"

    def __repr__(self) -> str:
        return f"{_PREFIX[self.status]}: {self.message}"

    __str__ = __repr__


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: ``wrong`` is the wrong program (or a factory of the wrong value)."""

    id: str
    wrong: Any
    message: Message = None


@dataclass(frozen=True)
class Guard:
    """A form check on the learner's observation, tried before the comparison; ``example`` triggers it."""

    id: str
    when: Callable[[Any], bool]
    example: Any
    message: Message = None


class _Stub(Exception):
    """The learner's function still raises NotImplementedError."""


def _wrong(mistake_id: str, got: object = None, expected: object = None, message: Message = None) -> Verdict:
    """The verdict naming ``mistake_id``: its own message or the vocabulary's, ``{got}``/``{expected}`` filled in."""
    if callable(message):
        return Verdict("wrong", message(got, expected), mistake_id)
    text = MISTAKES[mistake_id] if message is None else message
    return Verdict("wrong", text.replace("{got}", describe(got)).replace("{expected}", describe(expected)), mistake_id)


def _raised_in_stub(exc: BaseException) -> bool:
    tb = exc.__traceback__  # caught, so it holds at least the frame that caught it
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    # torch raises from C++ with the learner's line as the last Python frame: only a `raise` line is a stub
    line = linecache.getline(filename, tb.tb_lineno, tb.tb_frame.f_globals)
    return not filename.startswith(_LIBRARIES) and ("raise" in line or not line)


def _changed(used: object, fresh: object) -> bool:
    """Whether the probe input ``used`` no longer equals its fresh copy: a tensor or an array (values, shape, dtype),
    or a list (its length, or a number, tensor, array or list in it, also inside a tuple)."""
    if type(used) is not type(fresh):
        return False
    if type(used) in (list, tuple):  # a tuple is not changed, but a list inside it may be
        return len(used) != len(fresh) or any(_item_changed(u, f) for u, f in zip(used, fresh, strict=True))
    if type(used) not in (torch.Tensor, np.ndarray):
        return False
    if used.shape != fresh.shape or used.dtype != fresh.dtype:
        return True
    if type(used) is torch.Tensor:
        return not torch.equal(used, fresh)
    return not np.array_equal(used, fresh, equal_nan=used.dtype.kind in "fc")


def _item_changed(used: object, fresh: object) -> bool:
    if type(used) in (int, float, bool) and type(fresh) is type(used):
        return used != fresh and not (used != used and fresh != fresh)  # a NaN is still itself
    return _changed(used, fresh)


def _leaves(args: tuple) -> list[torch.Tensor]:
    """The leaves that require grad behind the probe inputs: a model's parameters, a tensor input, or the leaves it
    was computed from."""
    tensors = [arg for arg in args if isinstance(arg, torch.Tensor) and arg.requires_grad]
    found = [p for arg in args if isinstance(arg, torch.nn.Module) for p in arg.parameters()]
    found += [t for t in tensors if t.is_leaf]
    found += [node.variable for node in probes.graph_nodes(*(t.grad_fn for t in tensors)) if hasattr(node, "variable")]
    return [leaf for leaf in found if leaf.requires_grad]


def _backward_watch(args: tuple) -> list:
    """A list that grows each time a backward() accumulates a gradient into a leaf behind the probe inputs."""
    accumulated: list = []
    for leaf in _leaves(args):
        leaf.register_post_accumulate_grad_hook(accumulated.append)
    return accumulated


def _holds(test: Callable[..., Any], *args: Any) -> bool:
    try:
        return bool(test(*args))
    except Exception:  # a test that cannot read the answer has not recognised it
        return False


@dataclass(frozen=True)
class Exercise:
    """An exercise check, declared; call it on the learner's answer to get a verdict.

    >>> double = Exercise("double", reference=lambda x: 2 * x, success="2 * x doubles every element.",
    ...     inputs=lambda: (torch.tensor([1.0, -2.0, 3.0]),),
    ...     mistakes=[Mistake("wrong_sign", lambda x: -2 * x, "you negated x as well as doubling it.")])
    >>> double(lambda x: x + x)
    ✅ Correct: 2 * x doubles every element.
    >>> double(lambda x: -2 * x)
    ❌ Not yet: you negated x as well as doubling it.
    """

    name: str
    reference: Any
    success: str | Callable[[Any], str]
    kind: Literal["function", "value"] = "function"
    inputs: Callable[[], tuple] = tuple
    observe: Callable[[Any, tuple], Any] | None = None
    guards: Sequence[Guard] = ()
    mistakes: Sequence[Mistake] = ()
    alternatives: Sequence[Any] = ()
    same: Callable[[Any, Any], bool] = close
    explain: Callable[[Any, Any], str] | None = None
    pure: bool = True
    grad_left_ok: bool = False  # the answer may read gradients it made itself (dead units: a zero gradient)
    library: Sequence[Library] = ()

    def __call__(self, *answers: object) -> Verdict:
        answer = answers[0] if len(answers) == 1 else answers
        if any(a is None or a is Ellipsis for a in answers) or not answers:  # the placeholders a notebook ships
            return Verdict("not_attempted", _PLACEHOLDER)
        if self.kind == "function" and not callable(answer):
            return _wrong("not_callable", answer)
        import torch._dynamo  # noqa: F401  (an optimizer's first step or a matmul on meta imports it: seconds, here)

        with preserved_rng():
            outcome = run_limited(self._judge_with_trusted_names, answer, limit=TIME_LIMIT)
        if outcome.timed_out:
            return _wrong("timeout", message=f"{MISTAKES['timeout']} (limit {TIME_LIMIT:g} s)")
        if outcome.exited:
            return _wrong("exited")
        if isinstance(outcome.error, _Stub):
            return Verdict("not_attempted", _STUB)
        if outcome.error is not None:
            return _wrong("unreadable", Raised(type(outcome.error).__name__, safe_text(outcome.error)))
        return outcome.value

    def _judge_with_trusted_names(self, answer: Any) -> Verdict:
        """:meth:`_judge`, after which every trusted name the learner's code replaced is put back and named."""
        with names_restored(*_TRUSTED, sys.modules[__name__]) as replaced:
            try:
                verdict = self._judge(answer)
            except Exception as exc:  # the replacement may have broken the check itself
                verdict = exc
        if replaced:
            return _wrong("patched_library", message=MISTAKES["patched_library"].replace("{got}", ", ".join(replaced)))
        if isinstance(verdict, Exception):
            raise verdict
        return verdict

    def _materialise(self, program: Any) -> Any:
        """A value-kind reference or mistake is a zero-argument factory: build a fresh value."""
        return program() if self.kind == "value" and callable(program) else program

    def observation(self, answer: Any, args: tuple | None = None) -> Any:
        """What ``answer`` gives on fresh probe inputs; a :class:`Raised` when it raises."""
        args = self.inputs() if args is None else args
        try:
            if self.observe is not None:
                return self.observe(answer, args)
            return answer(*args) if self.kind == "function" else answer
        except Exception as exc:
            if isinstance(exc, NotImplementedError) and _raised_in_stub(exc):
                raise _Stub() from None
            return Raised(type(exc).__name__, safe_text(exc))

    def _own(self, program: Any) -> Any:
        """What the check's own program (the reference or a mistake) gives; its warnings are not the learner's."""
        with warnings.catch_warnings(action="ignore"):
            return self.observation(self._materialise(program))

    def _judge(self, answer: Any) -> Verdict:
        args = self.inputs()
        ungraded = (
            [leaf for leaf in _leaves(args) if leaf.grad is None]
            if self.kind == "function" and self.pure and not self.grad_left_ok
            else []
        )
        dtype = torch.get_default_dtype()
        with Calls(self.library) if self.library else contextlib.nullcontext() as calls:  # only where one is banned
            got = self.observation(answer, args)
        if left := self._state_left(dtype, ungraded):
            return _wrong(left)
        expected = self._own(self.reference)
        if isinstance(got, Raised):
            return self._named_mistake(got, expected) or _wrong("raised", got, expected)
        if got is None:
            return _wrong("returned_none")
        if self.kind == "function" and self.pure and self._mutated(args):
            return _wrong("mutated_input")
        for guard in self.guards:
            if _holds(guard.when, got):
                return _wrong(guard.id, got, expected, guard.message)
        if self.same(got, expected):
            used = [entry for entry in self.library if calls.ran(entry.function)]
            if used:  # the right number, from the function the exercise asks the learner to write
                return _wrong(used[0].id, message=MISTAKES[used[0].id].replace("{got}", qualified(used[0].function)))
            return Verdict("correct", self.success(expected) if callable(self.success) else self.success)
        return self._named_mistake(got, expected) or _wrong("other", got, expected, self.explain)

    def _state_left(self, dtype: torch.dtype, ungraded: list[torch.Tensor]) -> str | None:
        """What the answer left changed for the code after it, all put back where it is global: a mistake id, or
        None. Tracking switched off (this worker thread's mode: the check's own programs need it on), the default
        dtype (every later tensor of the notebook), .grad left filled on what it was given."""
        left = [not torch.is_grad_enabled(), torch.get_default_dtype() != dtype]
        torch.set_grad_enabled(True)
        torch.set_default_dtype(dtype)
        left.append(any(leaf.grad is not None for leaf in ungraded) and not self._runs_backward())
        return next((name for name, found in zip(_LEFT, left, strict=True) if found), None)

    def _runs_backward(self) -> bool:
        """Whether the right program itself runs backward() into the probe inputs (a training step does)."""
        args = self.inputs()
        backward_ran = _backward_watch(args)
        with warnings.catch_warnings(action="ignore"):
            self.observation(self.reference, args)
        return bool(backward_ran)

    def _mutated(self, args: tuple) -> bool:
        """Whether the answer changed a tensor or array it was given (values, shape or dtype)."""
        return any(_changed(used, fresh) for used, fresh in zip(args, self.inputs(), strict=False))

    def _named_mistake(self, got: Any, expected: Any) -> Verdict | None:
        for mistake in self.mistakes:
            other = self._own(mistake.wrong)
            raised = isinstance(got, Raised) or isinstance(other, Raised)  # then both, or an object equal to all
            if (type(got) is type(other) and got == other) if raised else _holds(self.same, got, other):
                return _wrong(mistake.id, got, expected, mistake.message)
        return None
