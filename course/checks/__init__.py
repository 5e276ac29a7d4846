"""Exercise self-checks, one module per lesson topic.

Use in a notebook::

    from course.checks import tensors_and_devices as check
    check.column_vector(answer)      # prints one line: correct, not attempted, or what is wrong

Each check returns a :class:`~course.checks.verdict.Verdict`.
"""

from course.checks.verdict import (
    Mistake,
    Verdict,
    as_number,
    call_learner,
    correct,
    is_placeholder,
    judge,
    not_attempted,
    wrong,
)

__all__ = [
    "Mistake",
    "Verdict",
    "as_number",
    "call_learner",
    "correct",
    "is_placeholder",
    "judge",
    "not_attempted",
    "wrong",
]
