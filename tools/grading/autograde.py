"""``make autograde``: grade every submission in its own sandbox, in parallel, and record the results.

For each assignment: draw fresh inputs (one secret seed per run, the same for every student), then
for each submission, in a pool of ``jobs`` workers: rebuild the notebook from the source and the
student's cells (:mod:`~tools.grading.submission`), scan the student's cells
(:mod:`~tools.grading.scan`), run the notebook and the probes in a sandbox
(:mod:`~tools.grading.sandbox`), and decide every test cell's points outside it
(:mod:`~tools.grading.spec`). The main process alone writes the gradebook and the files.
"""

from __future__ import annotations

import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from tools.grading import aliases, jobs, record, sandbox, scan, spec, submission

MAX_FLAGS = 12


class Refused(Exception):
    """Grading cannot start (no sandbox, no grader, assignment not released); the message says what to do."""


@dataclass
class Settings:
    """How to grade: per-cell time limit, grace after an interrupt, per-submission limits, parallel jobs."""

    timeout: float = 60
    grace: float = 5
    limits: sandbox.Limits = field(default_factory=sandbox.Limits)
    jobs: int = 2
    seed: int | None = None
    unsandboxed: bool = False
    max_restarts: int = 3
    package: Path | None = None  # the course package to bind read-only (default: the one installed)


@dataclass
class Assignment:
    """What every submission of one assignment is graded against."""

    name: str
    source: nbformat.NotebookNode
    grader: spec.Grader
    points: dict[str, float]
    seed: int
    secrets: dict
    inputs: dict[str, str]


def load_assignment(course: Path, name: str, seed: int | None) -> Assignment:
    """The source notebook, its grader and this run's fresh inputs."""
    path = course / "graders" / f"{name}.py"
    if not path.is_file():
        raise Refused(f"no hidden checks for {name}: write {path.relative_to(course)} (see TEACHING.md)")
    source = nbformat.read(course / "source" / name / f"{name}.ipynb", as_version=4)
    points = {
        cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"]["points"])
        for cell in source.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }
    grader = spec.load(path)
    seed = secrets.randbits(63) if seed is None else seed  # too many to try, whatever reaches the kernel
    inputs, hidden = grader.make_inputs(np.random.default_rng(seed))
    return Assignment(name, source, grader, points, seed, hidden, grader.encoded_inputs(inputs, seed))


def findings(prepared: submission.Prepared) -> list[scan.Finding]:
    """The scan of every cell the student wrote (solution cells and added cells); a cell that does not parse is
    flagged only after a flagged cell (barry_as_FLUFL), as the kernel runs it then, and refuses it otherwise."""
    codes = [cell.source for cell in prepared.notebook.cells if cell.cell_type == "code"]
    modules = aliases.imported_names(codes)
    found = []
    for cell, role in zip(prepared.notebook.cells, prepared.roles, strict=True):
        if role.kind in ("solution", "extra") and cell.cell_type == "code":
            found += scan.scan_cell(cell.source, role.label, modules, after=bool(found))
    return found


def _comments(prepared: submission.Prepared, found: list[scan.Finding]) -> dict[str, str]:
    comments: dict[str, list[str]] = {}
    for item in found:
        comments.setdefault(item.label, []).append(f"Flagged for review: {item}")
    for note in prepared.notes:
        for role in prepared.roles:
            if role.grade_id and f"{role.grade_id!r}" in note and role.kind == "solution":
                comments.setdefault(role.grade_id, []).append(note)
    return {key: "\n".join(lines) for key, lines in comments.items()}


def grade_one(course: Path, task: Assignment, student: str, command: list[str] | None, settings: Settings):
    """Grade one submission (runs in a worker thread); returns the report, the notebook and the comments."""
    started = time.monotonic()
    folder = course / "submitted" / student / task.name
    report = record.Report(
        task.name,
        student,
        sum(task.points.values()),
        seed=task.seed,
        sandbox="none (UNSANDBOXED=1)" if command is None else "bubblewrap",
    )
    path = folder / f"{task.name}.ipynb"
    prepared = (
        submission.prepare(task.source, path)
        if path.is_file()
        else submission.Prepared(None, malformed=f"no {task.name}.ipynb in the submission")
    )
    if prepared.notebook is None:
        report.flags.append(f"malformed: {prepared.malformed}")
        report.verdicts = [spec.Verdict(g, 0.0, p, "the submission could not be read") for g, p in task.points.items()]
        return report, None, {}
    found = findings(prepared)
    steps = jobs.build(prepared, task.grader, task.inputs)
    job = {
        "steps": steps.steps,
        "timeout": settings.timeout,
        "grace": settings.grace,
        "deadline": max(30.0, settings.limits.wall_seconds - 15),
        "max_restarts": settings.max_restarts,
    }
    outcome = sandbox.run(job, command, settings.limits)
    steps_report, report.cpu_seconds = jobs.parse_report(outcome.report, len(steps.steps))
    if outcome.killed or outcome.exit_code != 0:  # the runner ends with 0 after writing its report
        steps_report = None
    if steps_report is None:
        why = "killed at the time limit" if outcome.killed else f"exit code {outcome.exit_code}"
        report.notes.append(f"no report came back from the sandbox ({why}): {outcome.stderr[-300:]}")
        report.flags.append(f"no_result: the submission's run ended without a report ({why})")
        results = {}
    else:
        results = jobs.probe_results(steps, steps_report)
        altered, status = jobs.audit_findings(steps, steps_report)
        if altered is None and status in ("ok", "error"):
            report.flags.append("audit_missing: the kernel did not report its state after the student's cells")
        elif altered is None:
            report.notes.append(f"the kernel's state could not be checked after the student's cells ({status})")
        report.flags += [f"kernel_altered: {item}" for item in (altered or [])]
        report.flags += jobs.forged_results(steps, steps_report)
    report.flags[:0] = [str(item) for item in found]
    if len(report.flags) > MAX_FLAGS:
        report.flags[MAX_FLAGS:] = [f"... and {len(report.flags) - MAX_FLAGS} more"]
    report.notes += prepared.notes
    report.verdicts = task.grader.decide(results, task.secrets, task.points)
    notebook = jobs.graded_notebook(prepared, steps, steps_report, report.verdicts)
    report.seconds = round(time.monotonic() - started, 2)
    return report, notebook, _comments(prepared, found)


def _crashed(task: Assignment, student: str, error: Exception) -> record.Report:
    report = record.Report(task.name, student, sum(task.points.values()), seed=task.seed)
    report.flags.append(f"grader_error: {type(error).__name__}: {error}"[:300])
    report.verdicts = [
        spec.Verdict(g, 0.0, p, "the grader could not grade this submission") for g, p in task.points.items()
    ]
    return report


def submissions(course: Path, assignment: str, student: str) -> dict[str, list[str]]:
    """Assignment -> the students with a folder for it in submitted/ (glob patterns allowed)."""
    found: dict[str, list[str]] = {}
    for folder in sorted(course.glob(f"submitted/{student}/{assignment}")):
        if folder.is_dir() and (course / "source" / folder.name / f"{folder.name}.ipynb").is_file():
            found.setdefault(folder.name, []).append(folder.parent.name)
    return found


def _gradebook(course: Path):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{course / 'gradebook.db'}")


def _check_released(course: Path, names: list[str]) -> None:
    from nbgrader.api import MissingEntry

    with _gradebook(course) as gradebook:
        for name in names:
            try:
                gradebook.find_assignment(name)
            except MissingEntry as missing:
                raise Refused(f"{name} is not in the gradebook yet: run `make assignments A={name}` first") from missing


def autograde(
    course: Path, assignment: str = "*", student: str = "*", settings: Settings | None = None, out=sys.stdout
) -> list[record.Report]:
    """Grade the matching submissions of ``course`` (the nbgrader course folder); returns their reports."""
    settings = settings or Settings()
    command = None
    if not settings.unsandboxed:
        found, why = sandbox.check(settings.package)
        if found is None:
            raise Refused(
                f"{why}\nmake autograde refuses to run students' code without a sandbox. "
                "To grade anyway, on a machine you can afford to lose: make autograde UNSANDBOXED=1"
            )
        package = settings.package or sandbox.course_package()
        command = sandbox.bwrap_command(package, settings.limits, "--unshare-user" in found)
    found = submissions(course, assignment, student)
    if not found:
        print(f"No submissions matching submitted/{student}/{assignment}/ (see TEACHING.md, step 3).", file=out)
        return []
    _check_released(course, list(found))
    tasks = {name: load_assignment(course, name, settings.seed) for name in found}
    reports = []
    with ThreadPoolExecutor(max_workers=max(1, settings.jobs)) as pool, _gradebook(course) as gradebook:
        futures = {
            pool.submit(grade_one, course, tasks[name], who, command, settings): (name, who)
            for name, students in found.items()
            for who in students
        }
        for future in as_completed(futures):
            name, who = futures[future]
            try:
                report, notebook, comments = future.result()
            except Exception as error:  # noqa: BLE001  (one submission the grader chokes on must not stop the rest)
                report, notebook, comments = _crashed(tasks[name], who, error), None, {}
            folder = course / "submitted" / who / name
            withdraw = record.carry_acceptance(course, report, folder)
            record.write_files(course, report, notebook, folder)
            record.write_gradebook(gradebook, report, folder, comments, withdraw)
            reports.append(report)
            held = f" (on hold: {report.earned:g})" if report.flags else ""
            seconds = f"{report.seconds:.1f} s, {report.cpu_seconds:.1f} s CPU in the sandbox"
            print(f"{name}  {who}: {report.score:g}/{report.max_score:g}{held}  ({seconds})", file=out)
            for line in report.flags:
                print(f"    flag: {line}", file=out)
            for line in report.notes:
                print(f"    note: {line}", file=out)
    return reports
