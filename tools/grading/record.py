"""Write one graded submission: the gradebook's scores, the autograded notebook and the grading report.

Only the grading process writes here, after the sandbox is gone; nothing the student's kernel could
reach is read back except the untrusted data the checks already judged. A submission with flags
gets no points in the gradebook until a teacher has looked at it: its scores are recorded as 0 and
marked as needing manual grading, and the points the checks found are kept in the report as
``points_on_hold`` (``make accept`` gives them; see TEACHING.md, "Reviewing flags").
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from tools.grading.spec import Verdict

REPORT = "grading.json"


@dataclass
class Report:
    """Everything decided about one submission, as written to ``autograded/<student>/<assignment>/grading.json``."""

    assignment: str
    student: str
    max_score: float
    verdicts: list[Verdict] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seed: int = 0
    sandbox: str = "bubblewrap"
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    accepted: str = ""  # the digest of the notebook a teacher accepted with `make accept`, while it is unchanged

    @property
    def earned(self) -> float:
        return sum(v.points for v in self.verdicts)

    @property
    def score(self) -> float:
        return 0.0 if self.flags else self.earned

    def to_json(self) -> str:
        data = asdict(self)
        data.update(score=self.score, points_on_hold=self.earned if self.flags else 0.0)
        return json.dumps(data, indent=1)


def read_report(course: Path, assignment: str, student: str) -> dict | None:
    """The report written for this submission, or ``None``."""
    path = course / "autograded" / student / assignment / REPORT
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def digest(submitted: Path, assignment: str) -> str:
    """The SHA-256 of the submitted notebook (empty when there is none)."""
    try:
        return hashlib.sha256((submitted / f"{assignment}.ipynb").read_bytes()).hexdigest()
    except OSError:
        return ""


def carry_acceptance(course: Path, report: Report, submitted: Path) -> bool:
    """Keep an earlier ``make accept`` for an unchanged notebook; True when the notebook changed since.

    Points released by ``make accept`` are for the notebook the teacher reviewed: a new notebook in its
    place (a resubmission) is decided afresh, so it cannot keep them with a new flag nobody has seen.
    """
    earlier = (read_report(course, report.assignment, report.student) or {}).get("accepted") or ""
    if earlier and earlier == digest(submitted, report.assignment):
        report.accepted = earlier
    return bool(earlier) and not report.accepted


def write_files(course: Path, report: Report, notebook: nbformat.NotebookNode | None, submitted: Path) -> None:
    """autograded/<student>/<assignment>/: the graded notebook, the report and the submission's timestamp."""
    folder = course / "autograded" / report.student / report.assignment
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if notebook is not None:
        nbformat.write(notebook, folder / f"{report.assignment}.ipynb")
    timestamp = submitted / "timestamp.txt"
    if timestamp.is_file():
        shutil.copyfile(timestamp, folder / "timestamp.txt")
    (folder / REPORT).write_text(report.to_json())


def _timestamp(submitted: Path):
    """The submission time nbgrader's collection wrote (``timestamp.txt``), or ``None``."""
    from nbgrader.utils import parse_utc

    try:
        return parse_utc((submitted / "timestamp.txt").read_text().strip() or None)
    except (OSError, ValueError, OverflowError):
        return None


def write_gradebook(gradebook, report: Report, submitted: Path, comments: dict[str, str], withdraw: bool) -> None:
    """Scores (0 while flagged), the flag, and one comment per solution cell, in nbgrader's gradebook.

    ``withdraw``: the notebook changed since ``make accept`` released its points, so those go.
    """
    with warnings.catch_warnings():  # nbgrader's own SQLAlchemy use warns about its session on every new submission
        warnings.simplefilter("ignore")
        _write_gradebook(gradebook, report, submitted, comments, withdraw)


def _write_gradebook(gradebook, report: Report, submitted: Path, comments: dict[str, str], withdraw: bool) -> None:
    name = report.assignment
    gradebook.update_or_create_student(report.student)
    stamp = _timestamp(submitted)
    gradebook.update_or_create_submission(name, report.student, **({"timestamp": stamp} if stamp else {}))
    notebook = gradebook.find_submission_notebook(name, name, report.student)
    verdicts = {v.grade_id: v for v in report.verdicts}
    for grade in notebook.grades:
        verdict = verdicts.get(grade.name)
        grade.auto_score = 0.0 if report.flags or verdict is None else verdict.points
        if withdraw:
            grade.manual_score = None
        grade.needs_manual_grade = bool(report.flags) or grade.manual_score is not None
    for comment in notebook.comments:
        comment.auto_comment = comments.get(comment.name)
    notebook.flagged = bool(report.flags)
    gradebook.db.commit()


def accept(gradebook, course: Path, assignment: str, student: str) -> float:
    """Give a reviewed, flagged submission the points on hold (as manual scores); returns them."""
    found = read_report(course, assignment, student)
    if found is None:
        raise FileNotFoundError(f"no grading report for {student} / {assignment}: run `make autograde A={assignment}`")
    points = {v["grade_id"]: v["points"] for v in found["verdicts"]}
    notebook = gradebook.find_submission_notebook(assignment, assignment, student)
    for grade in notebook.grades:
        grade.manual_score = points.get(grade.name, 0.0)
        grade.needs_manual_grade = False
    gradebook.db.commit()
    found["accepted"] = digest(course / "submitted" / student / assignment, assignment)
    (course / "autograded" / student / assignment / REPORT).write_text(json.dumps(found, indent=1))
    return sum(points.values())
