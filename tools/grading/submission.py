"""Rebuild the notebook to grade from the instructor's source and a student's submission.

The graded notebook takes every read-only cell (set-up, data, test cells: every cell the source
marks ``locked`` or ``grade``) from the source, in the source's order, whatever the student did to
it: edited, deleted, moved, duplicated or turned into markdown. From the submission it takes only
what the student may write: the solution cells (by ``grade_id``) and the cells the student added,
each kept just before the read-only or solution cell it preceded. Anything odd (a file that is not
a notebook, a duplicated ``grade_id``, an unknown one) is reported, never raised.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

MAX_BYTES = 20 * 2**20
HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)


@dataclass
class Role:
    """What a cell of the graded notebook is: ``locked`` (from the source), ``solution`` or ``extra`` (student's)."""

    kind: str
    label: str
    grade_id: str | None = None


@dataclass
class Prepared:
    """The notebook to grade, the role of each of its cells, and what was noticed on the way."""

    notebook: nbformat.NotebookNode | None
    roles: list[Role] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    malformed: str | None = None


def _text(source: object) -> str:
    if isinstance(source, list):
        return "".join(str(part) for part in source)
    return source if isinstance(source, str) else ""


def grade_id(cell: dict) -> str | None:
    """The cell's nbgrader ``grade_id``, or ``None`` (also for metadata that is not what nbgrader writes)."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return gid if isinstance(gid, str) and gid else None


def is_locked(cell: dict) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("locked") or meta.get("grade")) and not meta.get("solution")


def read_cells(path: Path) -> tuple[list[dict] | None, str | None]:
    """The submission's cells as plain dicts, or ``None`` and why it cannot be read as a notebook."""
    try:
        if path.stat().st_size > MAX_BYTES:
            return None, f"the file is larger than {MAX_BYTES // 2**20} MB"
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        return None, f"not a notebook file ({type(error).__name__}: {str(error)[:120]})"
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        return None, "not a notebook file (no list of cells)"
    return [c for c in cells if isinstance(c, dict) and c.get("cell_type") in ("code", "markdown", "raw")], None


def _student_cell(cell: dict) -> nbformat.NotebookNode:
    if cell.get("cell_type") == "code":
        return nbformat.v4.new_code_cell(_text(cell.get("source")))
    return nbformat.v4.new_markdown_cell(_text(cell.get("source")))


def _solution_cell(source_cell: nbformat.NotebookNode, text: str | None) -> nbformat.NotebookNode:
    text = text if text is not None else "# (this cell was deleted from the submission)"
    cell = nbformat.v4.new_code_cell(text) if source_cell.cell_type == "code" else nbformat.v4.new_markdown_cell(text)
    cell.metadata = copy.deepcopy(source_cell.metadata)
    return cell


def _locked_cell(source_cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cell = copy.deepcopy(source_cell)
    cell.source = HIDDEN_TESTS.sub("", cell.source)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _group(cells: list[dict], known: dict[str, nbformat.NotebookNode], notes: list[str]) -> tuple[dict, dict, list]:
    """Split the submission: the first cell of each known grade_id, the student cells before each, the tail."""
    found: dict[str, dict] = {}
    before: dict[str, list[dict]] = {}
    pending: list[dict] = []
    for cell in cells:
        gid = grade_id(cell)
        if gid in known and gid not in found:
            found[gid], before[gid], pending = cell, pending, []
            continue
        if gid in found:
            notes.append(
                f"duplicate grade_id {gid!r}: the first copy is graded"
                + (", the copy runs as your own cell" if not is_locked(known[gid]) else ", the copy was dropped")
            )
            if is_locked(known[gid]):
                continue
        elif gid is not None:
            notes.append(f"unknown grade_id {gid!r}: this cell runs as your own cell")
        pending.append(cell)
    return found, before, pending


def _restore(gid: str, source_cell: nbformat.NotebookNode, submitted: dict | None, notes: list[str]):
    """The graded version of one source cell with a grade_id, and its role."""
    if is_locked(source_cell):
        if submitted is None:
            notes.append(f"read-only cell {gid!r} was deleted: restored")
        elif (
            _text(submitted.get("source")) != source_cell.source or submitted.get("cell_type") != source_cell.cell_type
        ):
            notes.append(f"read-only cell {gid!r} was edited: restored")
        return _locked_cell(source_cell), Role("locked", gid, gid)
    if submitted is None:
        notes.append(f"solution cell {gid!r} was deleted")
    cell = _solution_cell(source_cell, None if submitted is None else _text(submitted.get("source")))
    return cell, Role("solution" if source_cell.cell_type == "code" else "markdown", gid, gid)


def prepare(source: nbformat.NotebookNode, path: Path) -> Prepared:
    """The notebook to grade for the submission at ``path`` (see the module's docstring)."""
    cells, problem = read_cells(path)
    if cells is None:
        return Prepared(notebook=None, malformed=problem)
    known = {gid: cell for cell in source.cells if (gid := grade_id(cell))}
    prepared = Prepared(notebook=nbformat.v4.new_notebook(metadata=copy.deepcopy(source.metadata)))
    found, before, tail = _group(cells, known, prepared.notes)
    extras = 0

    def add(cell: nbformat.NotebookNode, role: Role) -> None:
        prepared.notebook.cells.append(cell)
        prepared.roles.append(role)

    for gid, source_cell in [*known.items(), (None, None)]:
        for cell in before.get(gid, []) if gid else tail:
            new = _student_cell(cell)
            extras += new.cell_type == "code"
            add(new, Role("extra" if new.cell_type == "code" else "markdown", f"your cell {extras}"))
        if gid:
            add(*_restore(gid, source_cell, found.get(gid), prepared.notes))
    return prepared
