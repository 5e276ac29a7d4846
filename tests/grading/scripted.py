"""Submissions for the grading tests: the solution, the blank, and the scripted ones of submissions/.

A script (``submissions/<assignment>/<student>.txt``, format in ``submissions/README.md``) starts
from the instructor solution or the released blank and says which cells the student changed, what
it must score, which test cells fail and which flags it must raise.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "assignments" / "source"
GRADERS = ROOT / "assignments" / "graders"
SUBMISSIONS = Path(__file__).parent / "submissions"
NAMES = sorted(p.name for p in SOURCE.iterdir() if (p / f"{p.name}.ipynb").exists())
SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def find_cell(nb, gid: str):
    matches = [cell for cell in nb.cells if grade_id(cell) == gid]
    assert len(matches) == 1, f"expected one cell with grade_id {gid!r}, found {len(matches)}"
    return matches[0]


def source(name: str):
    return nbformat.read(SOURCE / name / f"{name}.ipynb", as_version=4)


def points(nb) -> dict[str, float]:
    """grade_id -> points of every test cell."""
    return {
        grade_id(c): float(c.metadata["nbgrader"]["points"])
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


def released(name: str):
    """The student version, as ``make assignments`` writes it (nbgrader's ClearSolutions, in process)."""
    from nbgrader.preprocessors import ClearSolutions

    nb, _ = ClearSolutions(code_stub={"python": STUB}).preprocess(copy.deepcopy(source(name)), {})
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def solution(name: str):
    """The released notebook with every solution cell filled in from the source (a perfect student)."""
    nb = released(name)
    original = source(name)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            text = find_cell(original, grade_id(cell)).source
            cell.source = "\n".join(line for line in text.splitlines() if not SOLUTION_MARKERS.match(line))
    return nb


class Script:
    """A scripted submission: its header (score, fails, flagged, run) and its cell directives."""

    def __init__(self, path: Path):
        self.name, self.assignment = path.stem, path.parent.name
        self.score: float | None = None
        self.fails: list[str] = []
        self.flagged: list[str] = []
        self.run, self.start, self.timeout = "local", "solution", None
        self.actions: list[list[str]] = []  # [verb, grade_id, source]
        for line in path.read_text().splitlines():
            if m := re.match(r"## (cell|edit|delete|duplicate) (\S+)\s*$", line):
                self.actions.append([m[1], m[2], ""])
            elif m := re.match(r"## start: (solution|blank)\s*$", line):
                self.start = m[1]
            elif self.actions:
                self.actions[-1][2] += line + "\n"
            elif m := re.match(r"# (score|fails|flagged|run|timeout): (.*)", line):
                self._header(m[1], m[2].strip())
        assert self.score is not None, f"{path}: no '# score:' line"

    def _header(self, key: str, value: str) -> None:
        if key in ("score", "timeout"):
            setattr(self, key, float(value))
        elif key == "run":
            assert value in ("local", "sandbox", "both"), value
            self.run = value
        else:
            setattr(self, key, [item.strip() for item in value.split(",") if item.strip()])

    def notebook(self, replace: dict[str, str] | None = None):
        """The submitted notebook; ``replace`` fills placeholders such as ``@COURSE@`` in the scripts' code."""
        nb = solution(self.assignment) if self.start == "solution" else released(self.assignment)
        for verb, gid, text in self.actions:
            for key, value in (replace or {}).items():
                text = text.replace(key, value)
            cell = find_cell(nb, gid)
            if verb == "delete":
                nb.cells.remove(cell)
            elif verb == "duplicate":
                twin = copy.deepcopy(cell)
                twin.source, twin["id"] = text.rstrip("\n"), f"copy-of-{gid}"[:64]
                nb.cells.insert(nb.cells.index(cell) + 1, twin)
            else:
                cell.source = text.rstrip("\n")
        return nb

    def expected(self, all_points: dict[str, float]) -> dict[str, float]:
        fails = list(all_points) if self.fails == ["*"] else self.fails
        unknown = set(fails) - set(all_points)
        assert not unknown, f"{self.assignment}/{self.name}: unknown test cells {unknown}"
        return {gid: 0.0 if gid in fails else pts for gid, pts in all_points.items()}


def scripts(name: str | None = None, run: tuple[str, ...] = ("local", "sandbox", "both")) -> list[Script]:
    paths = sorted(SUBMISSIONS.glob(f"{name or '*'}/*.txt"))
    return [s for s in map(Script, paths) if s.run in run]
