"""The one engine every exercise check runs on. An :class:`Exercise` declares its probe inputs, the right program
(or value), the known mistakes (each the *wrong program* or value, with the message that explains it), the right
alternatives and how to compare. Called on a learner's answer it returns a :class:`Verdict`, one line to read:

1. a placeholder (``None``, ``...``, a dict or list of only ``...``, a stub raising a bare ``NotImplementedError``) is
   *not attempted*; a template with some ``...`` left, or a stub the answer calls, is named (one with a message is
   an error the answer raised);
2. the answer is observed on fresh probe inputs, in a worker thread with a time limit; an answer that changed a
   global setting after any call (gradient tracking off, the default dtype or device: put back at once) is told so
   first, then one that called backward() on the inputs it was given, or changed them (a model's weights, dtype or
   device too) in a way the right program does not;
3. guards (form checks: "return a tensor") are tried, then the reference: equal means *correct*, unless the
   answer called a library function the exercise asks the learner to write (``library``: "by hand"), or a result
   the right program lets backward() run from has another gradient (part of it detached, or not finite), or
   backward() from it fails;
4. otherwise the first mistake whose wrong program gives the same observation names the mistake;
5. otherwise a fallback message says what was expected and what came.

A check never raises (``KeyboardInterrupt`` aside) and answers within ``TIME_LIMIT`` seconds (code written to delay
it can: README, "How to study"); the verdict's ``mistake`` names the diagnosis, so tests can assert which one was found.
"""

from __future__ import annotations

import builtins
import contextlib
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch.utils._device import DeviceContext

from course.checks import probes, runner, values
from course.checks.calls import Calls, Library, qualified
from course.checks.leftovers import put_back, settings
from course.checks.library_names import names_restored, remember
from course.checks.runner import Watched, run_limited
from course.checks.values import Raised, close, safe_text
from course.checks.verdicts import Message, Verdict, left_verdict
from course.checks.verdicts import changed_inputs as _changed_inputs
from course.checks.verdicts import gradient_fault as _gradient_fault
from course.checks.verdicts import wrong as _wrong
from course.checks.vocabulary import MISTAKES, SAVED_TENSOR_CHANGED
from course.repro import preserved_rng

TIME_LIMIT = 10.0  # seconds a check may take, learner's code included
_PLACEHOLDER = "replace the placeholder (None or ...) with your answer, then run this cell again."
_STUB = "the function still raises NotImplementedError: write its body, then run the cell again."
_OTHER_STUB = "your code calls {}, which still raises NotImplementedError: write its body and run its cell first."
_UNFILLED = "the placeholder ... is still there for {}: replace each with your answer, then run this cell again."
# what a check relies on: learner code that replaces a name here is told so, and the name is put back
_TRUSTED = (
    builtins,
    math,
    np,
    torch,
    torch.Tensor,
    torch.nn.Module,
    torch.nn.functional,
    values,
    probes,
    DeviceContext,
)
remember(*_TRUSTED[1:])  # as imported; not builtins, whose input() the kernel replaces at each cell


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
    pure: bool = True  # False: the answer trains what it is given (a .grad left, its result's gradient: its business)
    grad_left_ok: bool = False  # the answer may read gradients it made itself (dead units: a zero gradient)
    library: Sequence[Library] = ()

    def __call__(self, *answers: object) -> Verdict:
        answer = answers[0] if len(answers) == 1 else answers
        left = values.placeholders(answer)  # a template's keys (or items) still at ...
        if not answers or any(a is None or a is Ellipsis for a in answers) or left and len(left) == len(answer):
            return Verdict("not_attempted", _PLACEHOLDER)  # the placeholders a notebook ships
        if left:  # named, and nothing about their answers
            return _wrong("unreadable", message=_UNFILLED.format(", ".join(left)))
        if self.kind == "function" and not callable(answer):
            return _wrong("not_callable", answer)
        import torch._dynamo  # noqa: F401  (an optimizer's first step or a matmul on meta imports it: seconds, here)

        with preserved_rng():
            outcome = run_limited(self._judge_with_trusted_names, answer, limit=TIME_LIMIT)
        if outcome.timed_out:
            return _wrong("timeout", message=f"{MISTAKES['timeout']} (limit {TIME_LIMIT:g} s)")
        if outcome.exited:
            return _wrong("exited")
        if type(outcome.error) is _Stub:  # the answer's own, or one it calls: then named, not "not attempted"
            name = runner.other_stub(outcome.error.args[0], answers)
            return _wrong("raised", message=_OTHER_STUB.format(name)) if name else Verdict("not_attempted", _STUB)
        if outcome.error is not None:
            return _wrong("unreadable", Raised(type(outcome.error).__name__, safe_text(outcome.error)))
        return outcome.value

    def _judge_with_trusted_names(self, answer: Any) -> Verdict:
        """:meth:`_judge`, after which every trusted name the learner's code replaced is put back and named, then the
        settings and torch modes it left changed, whenever its code ran (the check
        reads a result's own methods, and calls the answer again for the gradient, after its first look)."""
        with names_restored(*_TRUSTED, sys.modules[__name__]) as replaced:
            start = settings()
            # each call puts back the settings it changed; a model handed in is left as it is for isinstance to see
            called = self.kind == "function" and not isinstance(answer, torch.nn.Module)
            watched = Watched(answer) if called else answer
            try:
                verdict = self._judge(watched)
            except Exception as exc:  # the replacement may have broken the check itself
                verdict = exc
            left = getattr(watched, "left", set()) | put_back(start)
        if replaced:
            return _wrong("patched_library", message=MISTAKES["patched_library"].replace("{got}", ", ".join(replaced)))
        if late := left_verdict(left):  # the verdict (or an error of the check) came with it in force
            return late
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
            if isinstance(exc, NotImplementedError) and (code := runner.stub_code(exc)):
                raise _Stub(code) from None
            return Raised(type(exc).__name__, safe_text(exc))

    def _own(self, program: Any, args: tuple | None = None) -> Any:
        """What the check's own program (the reference or a mistake) gives; its warnings are not the learner's."""
        with warnings.catch_warnings(action="ignore"):
            return self.observation(self._materialise(program), args)

    def _judge(self, watched: Any) -> Verdict:
        """The verdict on the answer ``watched`` (a function's in a :class:`Watched`)."""
        args, start, function = self.inputs(), settings(), self.kind == "function"
        owned = runner.parameters_of(args)  # the parameter objects of each model given, before the answer runs
        ungraded = [leaf for leaf in probes.leaves(args) if leaf.grad is None] if function and self.pure else []
        with Calls(self.library) if self.library else contextlib.nullcontext() as calls:  # only where one is banned
            got = self.observation(watched, args)
        if left := self._state_left(getattr(watched, "left", set()) | put_back(start), ungraded):
            return left
        expected, mutated = self._own(self.reference), self._mutated(args, owned) if function else []
        changed = _changed_inputs(mutated, trains=not self.pure)
        if isinstance(got, Raised):  # a call after one that changed what it was given may fail for that change
            return self._named_mistake(got, expected) or changed or _wrong("raised", got, expected)
        if got is None:
            return _wrong("returned_none")
        if any(not isinstance(arg, torch.nn.Module) for arg in mutated):
            return changed
        for guard in self.guards:
            if _holds(guard.when, got):
                return _wrong(guard.id, got, expected, guard.message)
        if mutated:  # only models: after the guards, which may say how the exercise's own model was changed
            return changed
        if self.same(got, expected):
            return self._right_value(watched, calls, expected)
        return self._named_mistake(got, expected) or _wrong("other", got, expected, self.explain)

    def _right_value(self, answer: Any, calls: Calls | None, expected: Any) -> Verdict:
        """The verdict on an answer that gives the right observation: correct, unless the number came from a library
        function the exercise asks the learner to write, or a result's gradient is not the right program's."""
        used = [entry for entry in self.library if calls.ran(entry.function)]
        if used:
            return _wrong(used[0].id, message=MISTAKES[used[0].id].replace("{got}", qualified(used[0].function)))
        if self.kind == "function" and self.pure and (fault := self._gradient_verdict(answer)):
            return fault
        return Verdict("correct", self.success(expected) if callable(self.success) else self.success)

    def _state_left(self, left: set[str], ungraded: list[torch.Tensor]) -> Verdict | None:
        """The verdict on what the answer left changed for the code after it, or None: the settings it changed after
        any call (already put back: :func:`~course.checks.leftovers.put_back`), or .grad left filled on its inputs."""
        if not self.grad_left_ok and any(leaf.grad is not None for leaf in ungraded):
            left = left | ({"backward_inside"} if not self._reference_effects()[0] else set())
        return left_verdict(left)

    def _reference_effects(self) -> tuple[bool, list[set[str]]]:
        """What the right program does to fresh probe inputs: whether it runs backward() into them (a training step
        does), and how it changes each (:func:`runner.how_changed`: a training step's model's values, a model moved)."""
        args = self.inputs()
        backward_ran, owned = runner.backward_watch(probes.leaves(args)), runner.parameters_of(args)
        self._own(self.reference, args)
        return bool(backward_ran), runner.changes(args, self.inputs(), owned)

    def _mutated(self, args: tuple, owned: list) -> list:
        """The models, tensors, arrays and lists given that the answer changed in a way the right program does not (a
        model trained or moved where it does so; never one cast to float64 or given new parameter objects)."""
        kinds = runner.changes(args, self.inputs(), owned)
        own = self._reference_effects()[1] if any(kinds) else kinds
        return [arg for arg, mine, right in zip(args, kinds, own, strict=False) if mine - right]

    def _gradient_verdict(self, answer: Any) -> Verdict | None:
        """The verdict on a result the answer gets right from which backward() fails, or whose gradient is not the
        right program's (:func:`_gradient_fault`), on probe inputs nudged off the kinks where right formulas differ."""
        args, own_args = probes.nudged(self.inputs()), probes.nudged(self.inputs())
        with warnings.catch_warnings(action="ignore"):  # the learner saw its warnings on the first run
            got = self.observation(answer, args)
        try:
            got = runner.gradients(got, args)
        except RuntimeError as exc:  # a freed graph is not raised: the guards name it
            error = Raised(type(exc).__name__, safe_text(exc))
            return _wrong("backward_fails", error, message=SAVED_TENSOR_CHANGED if "inplace" in error.message else None)
        return _gradient_fault(got, runner.gradients(self._own(self.reference, own_args), own_args))

    def _named_mistake(self, got: Any, expected: Any) -> Verdict | None:
        for mistake in self.mistakes:
            other = self._own(mistake.wrong)
            raised = isinstance(got, Raised) or isinstance(other, Raised)  # then both, or an object equal to all
            if (type(got) is type(other) and got == other) if raised else _holds(self.same, got, other):
                return _wrong(mistake.id, got, expected, mistake.message)
        return None
