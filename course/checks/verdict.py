"""Verdicts and the small toolkit every exercise check is built from.

A check never raises on a learner's answer. It returns a :class:`Verdict` whose one-line
text says *correct*, *not attempted yet*, or *not yet* with a diagnosis of the mistake.
The ``mistake`` field names the diagnosis, so unit tests can assert which one was found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from course.checks.values import as_number

Status = Literal["correct", "not_attempted", "wrong"]

_PREFIX = {"correct": "✅ Correct", "not_attempted": "⏳ Not attempted yet", "wrong": "❌ Not yet"}
PLACEHOLDER_HINT = "replace the placeholder (None or ...) with your answer, then run this cell again."


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: shows as one line in a notebook."""

    status: Status
    message: str
    mistake: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "correct"

    def __repr__(self) -> str:
        return f"{_PREFIX[self.status]}: {self.message}"

    __str__ = __repr__


def correct(message: str) -> Verdict:
    return Verdict("correct", message)


def not_attempted(message: str = PLACEHOLDER_HINT) -> Verdict:
    return Verdict("not_attempted", message)


def wrong(mistake: str, message: str) -> Verdict:
    return Verdict("wrong", message, mistake)


def number_pair(result: object, names: tuple[str, str]) -> tuple[float, float] | Verdict:
    """The two numbers of a learner's ``(first, second)`` result, or the verdict that says what is wrong.

    Example:
        >>> number_pair((0.5, 2), ("mae", "r2"))
        (0.5, 2.0)
        >>> number_pair(0.5, ("mae", "r2")).mistake
        'not_a_pair'
    """
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return wrong("not_a_pair", f"return two numbers, ({names[0]}, {names[1]}); got {type(result).__name__}.")
    first, second = (as_number(value) for value in result)
    if first is None or second is None:
        return wrong(
            "not_a_number",
            f"{names[0]} and {names[1]} should each be one number (use .item() on a one-element tensor).",
        )
    return first, second


def is_placeholder(answer: object) -> bool:
    """True for the stub values a notebook ships with: ``None`` and ``...``."""
    return answer is None or answer is Ellipsis


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: ``matches(answer)`` recognises it, ``message`` explains it."""

    id: str
    matches: Callable[[Any], bool]
    message: str

    def found_in(self, answer: object) -> bool:
        try:
            return bool(self.matches(answer))
        except Exception:  # a test that cannot read the answer has not recognised it
            return False


def judge(
    answer: object,
    is_correct: Callable[[Any], bool],
    success: str,
    mistakes: Sequence[Mistake] = (),
    otherwise: str = "this is not the expected answer. Re-read the exercise and try again.",
) -> Verdict:
    """Turn an answer into a verdict: placeholder, correct, a known mistake, or a generic miss.

    Example:
        >>> judge(4, lambda a: a == 4, "2 + 2 is 4.")
        ✅ Correct: 2 + 2 is 4.
        >>> judge(22, lambda a: a == 4, "2 + 2 is 4.", [Mistake("concat", lambda a: a == 22, "that joins the digits.")])
        ❌ Not yet: that joins the digits.
    """
    if is_placeholder(answer):
        return not_attempted()
    try:
        if is_correct(answer):
            return correct(success)
    except Exception as exc:
        return wrong("unreadable", f"the check could not use your answer ({type(exc).__name__}: {exc}). {otherwise}")
    for mistake in mistakes:
        if mistake.found_in(answer):
            return wrong(mistake.id, mistake.message)
    return wrong("other", otherwise)


def call_learner(fn: object, *args: Any, **kwargs: Any) -> tuple[Any, Verdict | None]:
    """Call a learner's function; return ``(result, None)``, or ``(None, verdict)`` when it cannot run.

    A stub that raises ``NotImplementedError`` (or a ``None`` placeholder) means not attempted;
    any other exception is reported as a wrong answer that names the error.

    Example:
        >>> call_learner(lambda x: x + 1, 1)
        (2, None)
        >>> call_learner(lambda: 1 / 0)[1].mistake
        'raised'
    """
    if is_placeholder(fn):
        return None, not_attempted()
    if not callable(fn):
        return None, wrong("not_callable", f"expected a function, got {type(fn).__name__}. Define it with def ...")
    try:
        return fn(*args, **kwargs), None
    except NotImplementedError:
        return None, not_attempted(
            "the function still raises NotImplementedError: write its body, then run the cell again."
        )
    except Exception as exc:
        return None, wrong("raised", f"your function raised {type(exc).__name__}: {exc}")
