"""`make autograde` end to end: one course folder, every kind of submission, each in its own sandbox.

In a temporary course folder: release the four assignments with nbgrader, submit the solutions, a blank,
a malformed file and the scripted submissions that need a real kernel (submissions/*/ with
``# run: sandbox`` or ``both``: attacks on the grader and honest work that crashes or hangs), grade them
all with ``python -m tools.grading autograde`` (what ``make autograde`` runs), export the grades and
check: every score, every flag, the feedback, and that no file outside the submissions' scratch space
changed (checksums), no byte left the sandbox over the network. The sandboxes get a copy of the course
package, so even a broken sandbox could not damage the real one.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader", reason='the grading tests need nbgrader: pip install -e ".[teach]"')

from tests.grading import scripted  # noqa: E402
from tools.grading import export, record, sandbox  # noqa: E402
from tools.grading.__main__ import main as grading_main  # noqa: E402

ROOT = scripted.ROOT
BIN = Path(sys.executable).parent
CELL_TIMEOUT = 6  # seconds per cell; every cell and check of these submissions needs about a second at most
SCRIPTS = [s for s in scripted.scripts(run=("sandbox", "both"))]
CHANGING = {"autograded", "feedback", "gradebook.db", "grades.csv", ".jupyter"}  # what grading itself writes

WORKS, WHY = sandbox.check()
if WORKS is None and os.environ.get("COURSE_REQUIRE_SANDBOX"):  # CI sets it: there, a missing sandbox is an error
    raise RuntimeError(f"COURSE_REQUIRE_SANDBOX is set but no sandbox works here: {WHY}")
pytestmark = pytest.mark.skipif(WORKS is None, reason=f"no sandbox here: {WHY}")


def run(args: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    environ = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "JUPYTER_CONFIG_DIR": str(cwd / ".jupyter"),
        **env,
    }
    done = subprocess.run(args, cwd=cwd, env=environ, capture_output=True, text=True, timeout=600)
    assert not check or done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def command(course: Path, *args: str) -> str:
    """Run `python -m tools.grading ARGS` in the course folder, in this process (what `make autograde` runs)."""
    here, out = Path.cwd(), io.StringIO()
    os.chdir(course)
    try:
        with contextlib.redirect_stdout(out):
            assert grading_main(list(args)) == 0, out.getvalue()
    finally:
        os.chdir(here)
    return out.getvalue()


def checksums(*folders: Path) -> dict[str, str]:
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not CHANGING & set(path.relative_to(folder).parts):
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def submit(course: Path, student: str, name: str, nb) -> None:
    folder = course / "submitted" / student / name
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{name}.ipynb")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course, package = tmp_path_factory.mktemp("course"), tmp_path_factory.mktemp("package") / "course"
    shutil.copy(ROOT / "assignments" / "nbgrader_config.py", course)
    for folder in ("source", "graders"):
        shutil.copytree(ROOT / "assignments" / folder, course / folder)
    shutil.copytree(sandbox.course_package(), package, ignore=shutil.ignore_patterns("__pycache__"))
    run([str(BIN / "nbgrader"), "generate_assignment", "*", "--log-level=WARN"], course)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    fill = {"@COURSE@": str(course), "@PORT@": str(listener.getsockname()[1])}
    for name in scripted.NAMES:
        submit(course, "solution", name, scripted.solution(name))
    (course / "submitted" / "solution" / "01_tensors" / "timestamp.txt").write_text("2025-05-01 10:00:00.000000 UTC")
    submit(course, "blank", "01_tensors", scripted.released("01_tensors"))
    for script in SCRIPTS:
        submit(course, script.name, script.assignment, script.notebook(fill))
    (course / "submitted" / "malformed" / "01_tensors").mkdir(parents=True)
    (course / "submitted" / "malformed" / "01_tensors" / "01_tensors.ipynb").write_text("my answers are on paper")
    before = checksums(course, package)
    started = time.perf_counter()
    grade = ["autograde", "--timeout", str(CELL_TIMEOUT), "--grace", "2", "--jobs", "2", "--seed", "11"]
    log = command(course, *grade, "--course-package", str(package))
    seconds = time.perf_counter() - started
    command(course, "export")
    with open(course / "grades.csv", newline="") as handle:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(handle)}
    try:
        listener.accept()
        connected = True
    except BlockingIOError:
        connected = False
    listener.close()
    count = len(list(course.glob("submitted/*/*")))
    print(f"\nsandboxed grading: {count} submissions in {seconds:.1f} s (2 jobs)\n{log}")
    return {
        "course": course,
        "rows": rows,
        "before": before,
        "after": checksums(course, package),
        "package": package,
        "connected": connected,
        "log": log,
    }


def cell_scores(course: Path, name: str, student: str) -> dict[str, float]:
    report = record.read_report(course, name, student)
    return {v["grade_id"]: v["points"] for v in report["verdicts"]}


def autograded(course: Path, name: str, student: str):
    return nbformat.read(course / "autograded" / student / name / f"{name}.ipynb", as_version=4)


def outputs(nb, gid: str) -> str:
    cell = scripted.find_cell(nb, gid)
    return "".join(str(o.get("text", "")) + str(o.get("evalue", "")) for o in cell.outputs)


@pytest.mark.parametrize("name", scripted.NAMES)
def test_solution_earns_full_marks(graded, name):
    row = graded["rows"][(name, "solution")]
    assert (float(row["score"]), row["flags"]) == (10.0, "")
    assert row["timestamp"].startswith("2025-05-01 10:00:00") or name != "01_tensors", (
        "nbgrader's timestamp.txt is kept"
    )


def test_blank_earns_zero(graded):
    row = graded["rows"][("01_tensors", "blank")]
    assert (float(row["score"]), row["flags"]) == (0.0, "")


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_each_submission_earns_its_points_and_flags(graded, script):
    full = scripted.points(scripted.source(script.assignment))
    assert cell_scores(graded["course"], script.assignment, script.name) == script.expected(full)
    row = graded["rows"][(script.assignment, script.name)]
    flags = {flag.split(":")[0] for flag in row["flags"].split("; ") if flag}
    assert set(script.flagged) <= flags, row["flags"]
    assert bool(flags) == bool(script.flagged), f"unexpected flags: {row['flags']}"
    assert float(row["score"]) == (0.0 if flags else script.score), "a flagged submission's points wait for review"
    assert float(row["points_on_hold"]) == (script.score if flags else 0.0)


def test_no_file_outside_the_scratch_space_changed(graded):
    assert graded["after"] == graded["before"]


def test_nothing_left_over_the_network(graded):
    assert not graded["connected"]


def test_the_attacks_ran_and_met_a_sandbox(graded):
    text = outputs(autograded(graded["course"], "01_tensors", "vandal"), "to_column")
    for attempt in ("gradebook", "other student", "course package", "source", "config", "network", "later"):
        assert f"{attempt} failed" in text or attempt == "later", text
    assert "course package failed: OSError" in text, "the course package is mounted read-only"


def test_a_malformed_submission_is_reported(graded):
    row = graded["rows"][("01_tensors", "malformed")]
    assert float(row["score"]) == 0 and row["flags"].startswith("malformed: not a notebook")


def test_feedback_names_the_cell_and_what_happened(graded):
    noisy = autograded(graded["course"], "01_tensors", "noisy")
    assert "killed the kernel (signal 11)" in outputs(noisy, "move_batch")
    assert "UserWarning" in outputs(noisy, "test_to_column_shape")  # the warning is shown, and costs nothing
    stuck = autograded(graded["course"], "01_tensors", "stuck")
    assert "interrupted at the time limit" in outputs(stuck, "standardize")
    assert "ignored the interrupt" in outputs(stuck, "fit_line")
    assert "Graded on new inputs: 0 of 2 points" in outputs(stuck, "test_standardize_columns")
    run(
        [str(BIN / "nbgrader"), "generate_feedback", "01_tensors", "--student", "stuck", "--log-level=WARN"],
        graded["course"],
    )
    html = (graded["course"] / "feedback" / "stuck" / "01_tensors" / "01_tensors.html").read_text()
    assert "ignored the interrupt" in html


def test_a_reviewed_flagged_submission_gets_its_points_with_make_accept(graded):
    from nbgrader.api import Gradebook

    course = graded["course"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert record.accept(gradebook, course, "01_tensors", "curious") == 10
    export.export(course, course / "accepted.csv")
    with open(course / "accepted.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if (r["assignment"], r["student_id"]) == ("01_tensors", "curious"))
    assert (float(row["score"]), float(row["points_on_hold"])) == (10.0, 0.0) and row["flags"]
    package = ("--course-package", str(graded["package"]), "--timeout", str(CELL_TIMEOUT), "--seed", "11")
    resubmitted = course / "submitted" / "curious" / "01_tensors" / "01_tensors.ipynb"
    nb = nbformat.read(resubmitted, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("changed after the review"))
    nbformat.write(nb, resubmitted)
    command(course, "autograde", "01_tensors", "--student", "curious", *package)
    assert accepted_score(course) == 0.0, "a changed notebook does not keep points a teacher released for another"


def accepted_score(course: Path) -> float:
    export.export(course, course / "accepted.csv")
    with open(course / "accepted.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if (r["assignment"], r["student_id"]) == ("01_tensors", "curious"))
    return float(row["score"])


def test_without_a_sandbox_grading_refuses(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")  # no bwrap to be found
    monkeypatch.chdir(tmp_path)
    sandbox.check.cache_clear()
    try:
        assert grading_main(["autograde"]) == 2
    finally:
        sandbox.check.cache_clear()
    message = capsys.readouterr().err
    assert "bubblewrap (bwrap) is not installed" in message and "UNSANDBOXED=1" in message
