"""``make grades``: nbgrader's CSV export, plus the grader's ``flags`` and ``points_on_hold`` per submission.

The columns are nbgrader's (``assignment, duedate, timestamp, student_id, last_name, first_name,
email, raw_score, late_submission_penalty, score, max_score``) followed by ``flags`` (every tamper
signal and malformed-submission report, ``; ``-separated, empty when clean) and ``points_on_hold``
(what the checks found for a flagged submission, given only by ``make accept`` after review).
"""

from __future__ import annotations

import csv
from pathlib import Path

from tools.grading import record

COLUMNS = [
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
    "flags",
    "points_on_hold",
]


def _row(gradebook, course: Path, assignment, student) -> dict:
    from nbgrader.api import MissingEntry

    row = {
        "assignment": assignment.name,
        "duedate": assignment.duedate or "",
        "student_id": student.id,
        "last_name": student.last_name or "",
        "first_name": student.first_name or "",
        "email": student.email or "",
        "max_score": assignment.max_score,
        "flags": "",
        "points_on_hold": 0.0,
    }
    try:
        submission = gradebook.find_submission(assignment.name, student.id)
    except MissingEntry:
        return {**row, "timestamp": "", "raw_score": 0.0, "late_submission_penalty": 0.0, "score": 0.0}
    penalty = submission.late_submission_penalty or 0.0
    row.update(
        timestamp=submission.timestamp or "",
        raw_score=submission.score,
        late_submission_penalty=penalty,
        score=max(0.0, submission.score - penalty),
    )
    report = record.read_report(course, assignment.name, student.id)
    if report is None:
        row["flags"] = "not_sandboxed: graded without tools/grading (no grading report)"
    else:
        manual = any(grade.manual_score is not None for nb in submission.notebooks for grade in nb.grades)
        row["flags"] = "; ".join(report.get("flags", []))
        row["points_on_hold"] = 0.0 if manual else report.get("points_on_hold", 0.0)
    return row


def export(course: Path, to: Path) -> int:
    """Write the CSV to ``to``; returns the number of rows."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook, open(to, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        rows = 0
        for assignment in gradebook.assignments:
            for student in gradebook.students:
                writer.writerow(_row(gradebook, course, assignment, student))
                rows += 1
    return rows
