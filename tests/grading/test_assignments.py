"""The nbgrader round trip for every assignment in assignments/source/.

In temporary course directories: release the student versions of every assignment, submit the
instructor solution, the released blank and the scripted submissions of tests/grading/submissions/<assignment>/
as students, autograde them all in ONE call (a short per-cell timeout, so an infinite loop is cut
short), export the grades to CSV, and check every student's total and per-test-cell scores.

Needs the teaching extra (``pip install -e ".[teach]"``); skipped without nbgrader.
"""

from __future__ import annotations

import copy
import csv
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader", reason='the assignment tests need nbgrader: pip install -e ".[teach]"')

from nbgrader.api import Gradebook  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "assignments" / "source"
CONFIG = ROOT / "assignments" / "nbgrader_config.py"
SUBMISSIONS = Path(__file__).parent / "submissions"
BIN = Path(sys.executable).parent  # the environment running pytest: nbgrader, jupyter, alembic, the kernel's python
NAMES = sorted(p.name for p in SOURCE.iterdir() if (p / f"{p.name}.ipynb").exists())
CELL_TIMEOUT = 20  # seconds per cell while grading: every solution cell needs ~1 s, ~10 s on a loaded machine
SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


# ----------------------------------------------------------------------------------------- helpers
def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the nbgrader CLI in ``course`` with this environment's bin/ first on PATH (alembic, the kernel)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_CONFIG_DIR"] = str(course / ".jupyter")  # ignore a teacher's ~/.jupyter/nbgrader_config.py
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COURSE_DEVICE="cpu", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run(
        [str(BIN / "nbgrader"), *args, "--log-level=WARN"],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def find_cell(nb, gid: str):
    matches = [cell for cell in nb.cells if grade_id(cell) == gid]
    assert len(matches) == 1, f"expected one cell with grade_id {gid!r}, found {len(matches)}"
    return matches[0]


def points(nb) -> dict[str, float]:
    """grade_id -> points of every grade cell."""
    return {
        grade_id(c): float(c.metadata["nbgrader"]["points"])
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


class Script:
    """A scripted submission: its header (score, fails) and its cell directives (see tests/grading/submissions/README.md)."""

    def __init__(self, path: Path):
        self.name = path.stem
        self.score: float | None = None
        self.fails: list[str] = []
        self.start = "solution"
        self.actions: list[tuple[str, str, str]] = []  # (verb, grade_id, source)
        for line in path.read_text().splitlines():
            if m := re.match(r"## (cell|edit|delete) (\S+)\s*$", line):
                self.actions.append((m[1], m[2], ""))
            elif m := re.match(r"## start: (solution|blank)\s*$", line):
                self.start = m[1]
            elif self.actions:
                verb, gid, source = self.actions[-1]
                self.actions[-1] = (verb, gid, source + line + "\n")
            elif m := re.match(r"# score: (\S+)", line):
                self.score = float(m[1])
            elif m := re.match(r"# fails: (.*)", line):
                self.fails = [name.strip() for name in m[1].split(",") if name.strip()]
        assert self.score is not None, f"{path}: no '# score:' line"

    def apply(self, nb) -> None:
        for verb, gid, source in self.actions:
            cell = find_cell(nb, gid)
            if verb == "delete":
                nb.cells.remove(cell)
            else:
                cell.source = source.rstrip("\n")


def solution_notebook(source_nb, released_nb):
    """The released notebook with every solution cell filled in from the source (what a perfect student submits)."""
    nb = copy.deepcopy(released_nb)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            original = find_cell(source_nb, grade_id(cell)).source
            cell.source = "\n".join(line for line in original.splitlines() if not SOLUTION_MARKERS.match(line))
    return nb


def scripts(name: str) -> list[Script]:
    return [Script(path) for path in sorted((SUBMISSIONS / name).glob("*.txt"))]


# ----------------------------------------------------------------------------------------- the round trip
def round_trip(root: Path, names: list[str]) -> dict:
    """In course folder ``root``: release ``names``, submit every student, autograde all in one call, export."""
    config = CONFIG.read_text() + f"\n# test override: a short per-cell timeout\nc.Execute.timeout = {CELL_TIMEOUT}\n"
    (root / "nbgrader_config.py").write_text(config)
    for name in names:
        shutil.copytree(SOURCE / name, root / "source" / name)
    nbgrader(root, "generate_assignment", "*")

    results = {}
    for name in names:
        source_nb = nbformat.read(SOURCE / name / f"{name}.ipynb", as_version=4)
        released_nb = nbformat.read(root / "release" / name / f"{name}.ipynb", as_version=4)
        submissions = {"solution": solution_notebook(source_nb, released_nb), "blank": copy.deepcopy(released_nb)}
        for script in scripts(name):
            nb = solution_notebook(source_nb, released_nb) if script.start == "solution" else copy.deepcopy(released_nb)
            script.apply(nb)
            submissions[script.name] = nb
        for student, nb in submissions.items():
            folder = root / "submitted" / student / name
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{name}.ipynb")
        results[name] = {
            "name": name,
            "course": root,
            "source": source_nb,
            "released": released_nb,
            "points": points(source_nb),
            "students": set(submissions),
            "scripts": {s.name: s for s in scripts(name)},
        }

    nbgrader(root, "autograde", "*")  # every student of every assignment here, one after the other
    nbgrader(root, "export", "--to", str(root / "grades.csv"))

    with open(root / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))  # one row per (assignment, student known to the gradebook)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for name, result in results.items():
            result["totals"] = {
                row["student_id"]: float(row["score"])
                for row in rows
                if row["assignment"] == name and row["student_id"] in result["students"]
            }
            result["cells"] = {
                student: {
                    grade.name: float(grade.score) for grade in gb.find_submission_notebook(name, name, student).grades
                }
                for student in result["students"]
            }
    return results


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Every assignment graded, in two course folders worked on side by side (the machine has 2+ cores)."""
    lanes = max(1, min(2, os.cpu_count() or 1, len(NAMES)))
    groups = [NAMES[i::lanes] for i in range(lanes)]
    roots = [tmp_path_factory.mktemp("course") for _ in groups]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=lanes) as pool:
        results = {}
        for part in pool.map(round_trip, roots, groups):
            results.update(part)
    elapsed = time.perf_counter() - started
    n = sum(len(r["students"]) for r in results.values())
    print(f"\nnbgrader round trip: {len(NAMES)} assignments, {n} submissions, {elapsed:.1f} s ({lanes} lanes)")
    for name, result in sorted(results.items()):
        print(f"  {name}: {dict(sorted(result['totals'].items()))}")
    return results


@pytest.fixture(params=NAMES)
def graded(request, course):
    return course[request.param]


def autograded(graded, student):
    name = graded["name"]
    return nbformat.read(graded["course"] / "autograded" / student / name / f"{name}.ipynb", as_version=4)


# ----------------------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("name", NAMES)
def test_source_is_well_formed(name):
    nb = nbformat.read(SOURCE / name / f"{name}.ipynb", as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    grades = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(grades) >= 4, "several test cells, so partial work earns partial credit"
    assert sum(points(nb).values()) == 10
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta:
            assert meta["schema_version"] == 3 and meta["grade_id"]
    assert any("### BEGIN HIDDEN TESTS" in c.source for c in grades), "at least one hidden test"
    assert any("target" in grade_id(c) or "accuracy" in grade_id(c) for c in grades), "a measurable target"
    assert "course.seed_everything(" in nb.cells[1].source


def test_release_hides_solutions_and_hidden_tests(graded):
    text = "\n".join(cell.source for cell in graded["released"].cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "raise NotImplementedError()" in text


def test_solution_scores_full_marks(graded):
    assert graded["cells"]["solution"] == graded["points"]
    assert graded["totals"]["solution"] == sum(graded["points"].values())


def test_blank_scores_zero(graded):
    assert graded["totals"]["blank"] == 0
    assert set(graded["cells"]["blank"].values()) == {0.0}


def test_wrong_submissions_score_their_partial_marks(graded):
    assert graded["scripts"], f"no scripted submissions in tests/grading/submissions/{graded['name']}/"
    for student, script in graded["scripts"].items():
        unknown = set(script.fails) - set(graded["points"])
        assert not unknown, f"{student}: unknown test cells {unknown}"
        by_reasoning = sum(graded["points"].values()) - sum(graded["points"][gid] for gid in script.fails)
        assert script.score == by_reasoning, (
            f"{student}: header score {script.score} != max minus failed cells {by_reasoning}"
        )
        want = {gid: (0.0 if gid in script.fails else pts) for gid, pts in graded["points"].items()}
        assert graded["cells"][student] == want, f"{student}: per-cell scores"
        assert graded["totals"][student] == script.score, f"{student}: exported total"
        assert 0 < script.score < sum(graded["points"].values()), f"{student}: a partial score"


def test_every_student_is_exported(graded):
    assert set(graded["totals"]) == graded["students"], "one CSV row per submission"


def test_tampered_test_cells_are_restored(graded):
    """Edited and deleted test cells come back from the source, hidden tests included."""
    tampered = [s for s in graded["scripts"].values() if any(verb in ("edit", "delete") for verb, _, _ in s.actions)]
    assert tampered, "each assignment has a submission that edits or deletes a test cell"
    for script in tampered:
        nb = autograded(graded, script.name)
        for verb, gid, _ in script.actions:
            if verb in ("edit", "delete"):
                original = find_cell(graded["source"], gid).source
                assert original in find_cell(nb, gid).source, f"{script.name}: {gid} was not restored"
    assert any(
        verb in ("edit", "delete") and "### BEGIN HIDDEN TESTS" in find_cell(graded["source"], gid).source
        for s in tampered
        for verb, gid, _ in s.actions
    ), "at least one restored cell carries hidden tests"


def test_infinite_loop_is_stopped_by_the_timeout(graded):
    loops = [s for s in graded["scripts"] if "infinite_loop" in s]
    assert loops, f"tests/grading/submissions/{graded['name']}/ needs an infinite_loop submission"
    for student in loops:
        outputs = [out for cell in autograded(graded, student).cells for out in cell.get("outputs", [])]
        assert any(out.get("ename") == "CellTimeoutError" for out in outputs), "the looping cell was interrupted"
        # it was graded (its partial marks are checked above) and so was everyone after it
        assert student in graded["totals"] and set(graded["totals"]) == graded["students"]
