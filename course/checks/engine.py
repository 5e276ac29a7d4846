"""The one engine every exercise check runs on: an exercise is declared as data, not programmed.

An :class:`Exercise` says how to build fresh probe inputs, what the right program (or value) is,
which known mistakes to recognise (each written as the *wrong program* or wrong value, with the
message that explains it), which forms of the answer must be accepted, and how to compare.
Calling the exercise on a learner's answer returns a :class:`~course.checks.verdict.Verdict`:

1. a placeholder (``None``, ``...``, a stub raising ``NotImplementedError``) is *not attempted*;
2. the learner's answer is observed on the probe, with a time limit, in a worker thread;
3. guards (form checks: "return a tensor") are tried, then the reference: equal means *correct*;
4. otherwise the first mistake whose wrong program gives the same observation names the mistake;
5. otherwise a fallback message says what was expected and what came.

A check never raises (``KeyboardInterrupt`` aside) and always answers within ``TIME_LIMIT`` seconds.
"""

from __future__ import annotations

import linecache
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from course.checks.runner import run_limited
from course.checks.values import Raised, close, describe, safe_text
from course.checks.verdict import Verdict, correct, is_placeholder, not_attempted, wrong
from course.checks.vocabulary import MISTAKES
from course.repro import preserved_rng

ENGINE_READY = True
TIME_LIMIT = 10.0  # seconds a check may take, learner's code included
Message = str | Callable[[Any, Any], str] | None
_LIBRARIES = tuple(os.path.dirname(module.__file__) for module in (torch, np)) + (
    os.path.dirname(os.path.dirname(__file__)),
)


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


class _Unreadable(Exception):
    """The check's own code could not read the learner's answer."""


def _fill(message: Message, mistake_id: str, got: object, expected: object) -> str:
    if callable(message):
        return message(got, expected)
    text = message if message is not None else MISTAKES[mistake_id]
    return text.replace("{got}", describe(got)).replace("{expected}", describe(expected))


def _raised_in_stub(exc: BaseException) -> bool:
    """True when NotImplementedError comes from the learner's own code (a stub), not from inside a library."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return True
    filename = tb.tb_frame.f_code.co_filename
    # torch raises from C++ with the learner's line as the last Python frame: only a `raise` line is a stub
    line = linecache.getline(filename, tb.tb_lineno, tb.tb_frame.f_globals)
    return not filename.startswith(_LIBRARIES) and ("raise" in line or not line)


class _Stub(Exception):
    """The learner's function still raises NotImplementedError."""


@dataclass(frozen=True)
class Exercise:
    """An exercise check, declared; call it on the learner's answer to get a verdict.

    Example:
        >>> double = Exercise(
        ...     name="double",
        ...     inputs=lambda: (torch.tensor([1.0, -2.0, 3.0]),),
        ...     reference=lambda x: 2 * x,
        ...     mistakes=[Mistake("wrong_sign", lambda x: -2 * x, "you negated x as well as doubling it.")],
        ...     success="2 * x doubles every element.",
        ... )
        >>> double(lambda x: x + x)
        ✅ Correct: 2 * x doubles every element.
        >>> double(lambda x: -2 * x)
        ❌ Not yet: you negated x as well as doubling it.
        >>> double(None)
        ⏳ Not attempted yet: replace the placeholder (None or ...) with your answer, then run this cell again.
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

    def __call__(self, *answers: object) -> Verdict:
        answer = answers[0] if len(answers) == 1 else answers
        if any(is_placeholder(a) for a in answers) or not answers:
            return not_attempted()
        if self.kind == "function" and not callable(answer):
            return wrong("not_callable", _fill(None, "not_callable", answer, None))
        with preserved_rng():
            outcome = run_limited(self._judge, answer, limit=TIME_LIMIT)
        if outcome.timed_out:
            return wrong("timeout", f"{MISTAKES['timeout']} (limit {TIME_LIMIT:g} s)")
        if outcome.exited:
            return wrong("exited", MISTAKES["exited"])
        if isinstance(outcome.error, _Stub):
            return not_attempted(
                "the function still raises NotImplementedError: write its body, then run the cell again."
            )
        if outcome.error is not None:
            return wrong(
                "unreadable",
                _fill(None, "unreadable", Raised(type(outcome.error).__name__, safe_text(outcome.error)), None),
            )
        return outcome.value

    # --- observing one program on fresh probe inputs --------------------------------------------------
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
        except NotImplementedError as exc:
            if _raised_in_stub(exc):
                raise _Stub() from None
            return Raised(type(exc).__name__, safe_text(exc))
        except Exception as exc:
            return Raised(type(exc).__name__, safe_text(exc))

    def expected(self) -> Any:
        return self.observation(self._materialise(self.reference))

    def _mutated(self, args: tuple) -> bool:
        pristine = self.inputs()
        for used, fresh in zip(args, pristine, strict=False):
            if type(used) is torch.Tensor and type(fresh) is torch.Tensor:
                if used.shape != fresh.shape or not torch.equal(used, fresh):
                    return True
        return False

    # --- the verdict -----------------------------------------------------------------------------------
    def _judge(self, answer: Any) -> Verdict:
        args = self.inputs()
        got = self.observation(answer, args)
        expected = self.expected()
        if isinstance(got, Raised):
            return self._named_mistake(got, expected) or wrong("raised", _fill(None, "raised", got, expected))
        if got is None:
            return wrong("returned_none", MISTAKES["returned_none"])
        if self.kind == "function" and self.pure and self._mutated(args):
            return wrong("mutated_input", MISTAKES["mutated_input"])
        for guard in self.guards:
            if _holds(guard.when, got):
                return wrong(guard.id, _fill(guard.message, guard.id, got, expected))
        if self.same(got, expected):
            return correct(self.success(expected) if callable(self.success) else self.success)
        found = self._named_mistake(got, expected)
        if found is not None:
            return found
        if self.explain is not None:
            return wrong("other", self.explain(got, expected))
        return wrong("other", _fill(None, "other", got, expected))

    def _named_mistake(self, got: Any, expected: Any) -> Verdict | None:
        for mistake in self.mistakes:
            if _same_observation(self.same, got, self.observation(self._materialise(mistake.wrong))):
                return wrong(mistake.id, _fill(mistake.message, mistake.id, got, expected))
        return None


def _holds(predicate: Callable[[Any], bool], got: Any) -> bool:
    try:
        return bool(predicate(got))
    except Exception:  # a guard that cannot read the answer has not recognised it
        return False


def _same_observation(same: Callable[[Any, Any], bool], got: Any, other: Any) -> bool:
    if isinstance(got, Raised) or isinstance(other, Raised):
        return got == other
    try:
        return bool(same(got, other))
    except Exception:
        return False
