"""The verdict of an exercise check: one line a learner reads, and the id of the mistake it found.

A check never raises on a learner's answer (see :mod:`course.checks.engine`). It returns a
:class:`Verdict` whose text says *correct*, *not attempted yet*, or *not yet* with a diagnosis.
The ``mistake`` field names the diagnosis, so tests can assert which one was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


def is_placeholder(answer: object) -> bool:
    """True for the stub values a notebook ships with: ``None`` and ``...``."""
    return answer is None or answer is Ellipsis
