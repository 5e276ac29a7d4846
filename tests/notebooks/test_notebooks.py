"""The lessons are committed executed, follow the course's anatomy, and their exercises work.

strict nbval (run by the same pytest command) compares every stored output; these tests
check what nbval cannot: structure, hidden solutions, and the stub state.
"""

from __future__ import annotations

import copy
import re

import nbformat
import pytest

from tools.notebooks import execute, exercises, kernel, lesson_paths, needed_cells, output_text, read, tags

LESSONS = lesson_paths()
ADDRESS = re.compile(r"at 0x[0-9a-fA-F]{6,}|/tmp/ipykernel_\d+")
REQUIRED_HEADINGS = ("Learning objectives", "Prerequisites", "Exercises", "Key points", "Further reading")
MIN_EXERCISES = {"00": 1, "15": 2}  # every other lesson has at least three
FORGET = "\n".join(
    [
        "for _name in [n for n in get_ipython().user_ns if n not in get_ipython().user_ns_hidden]:",
        "    del get_ipython().user_ns[_name]",
        "import matplotlib.pyplot as _plt; _plt.close('all'); del _plt",
    ]
)


def test_there_are_lessons():
    assert len(LESSONS) >= 2, "no lesson notebooks found in notebooks/"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_committed_as_one_clean_run(path):
    nb = read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "re-run the notebook top to bottom (make notebooks)"
    for i, cell in enumerate(code):
        for out in cell.outputs:
            if out.output_type == "error":
                assert "raises-exception" in tags(cell), f"code cell {i} stored an error without a raises-exception tag"
        assert not ADDRESS.search(output_text(cell)), f"code cell {i} output holds an address or temp path"
    # what ipykernel installs: JupyterLab rewrites any other kernelspec as soon as the lesson is opened
    assert nb.metadata.get("kernelspec") == {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_follows_the_anatomy(path):
    nb = read(path)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "start with a title"
    for heading in REQUIRED_HEADINGS:
        assert re.search(rf"^#+ .*{heading}", markdown, re.MULTILINE | re.IGNORECASE), f"missing section: {heading}"
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert "seed_everything" in setup.source and "get_device" in setup.source, (
        "first code cell seeds and picks the device"
    )


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_exercises_ship_unattempted_with_a_solution(path):
    nb = read(path)
    found = exercises(nb)
    assert len(found) >= MIN_EXERCISES.get(path.stem[:2], 3), "too few exercises"
    for ex in found:
        assert ex.check > ex.stub, f"the exercise at cell {ex.stub} needs a check cell after it"
        assert ex.solution.strip(), f"exercise at cell {ex.stub} has no <details> solution with a python block"
        assert "⏳ Not attempted yet" in output_text(nb.cells[ex.check]), (
            f"the check after the stub at cell {ex.stub} should report 'not attempted' in the committed notebook"
        )


def _solved(path) -> tuple[nbformat.NotebookNode, list]:
    nb = read(path)
    found = exercises(nb)
    for ex in found:
        nb.cells[ex.stub].source = ex.solution
    return nb, found


def _failed_together(run, parts: dict[str, tuple[nbformat.NotebookNode, list, list[int]]]) -> dict[str, list]:
    """Run each lesson's chosen cells, lesson after lesson, in one kernel: the exercises whose check did not pass.

    Before each lesson its namespace is emptied (``%reset -f`` without its garbage collection, which costs
    a third of a second): it sees nothing of the one before but the modules already imported.
    """
    cells, spans = [], {}
    for stem, (solved, found, keep) in parts.items():
        cells.append(nbformat.v4.new_code_cell(FORGET))
        spans[stem] = (found, {index: len(cells) + k for k, index in enumerate(keep)})
        cells += [copy.deepcopy(solved.cells[i]) for i in keep]
    done = run(cells)
    return {
        stem: [ex for ex in found if "✅ Correct" not in output_text(done[where[ex.check]])]
        for stem, (found, where) in spans.items()
    }


def _cells_of(found: list) -> list[int]:
    return [i for ex in found for i in (ex.stub, ex.check)]


@pytest.fixture(scope="module")
def failed_in_short() -> dict[str, list]:
    """Every lesson's solutions and checks, run with as little of their lesson as they need, in one kernel.

    First each lesson's set-up cell with its solutions and checks only (most need nothing else); then, for
    the exercises that failed, the earlier cells binding the names they read (``needed_cells``). One kernel
    start and one torch import instead of one per lesson.
    """
    lessons = {path.stem: _solved(path) for path in LESSONS}
    with kernel() as run:
        first = {
            stem: (nb, found, needed_cells(nb, _cells_of(found), follow=False)) for stem, (nb, found) in lessons.items()
        }
        failed = {stem: found for stem, found in _failed_together(run, first).items() if found}
        second = {
            stem: (lessons[stem][0], found, needed_cells(lessons[stem][0], _cells_of(found)))
            for stem, found in failed.items()
        }
        return {**{stem: [] for stem in lessons}, **_failed_together(run, second)}


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_hidden_solution_passes_its_check(path, failed_in_short):
    if not failed_in_short[path.stem]:
        return
    solved, found = _solved(path)  # a solution that needs what its lesson changed in place: run the whole lesson
    execute(solved)
    for ex in found:
        verdict = output_text(solved.cells[ex.check])
        assert "✅ Correct" in verdict, f"solution of the exercise at cell {ex.stub} gave: {verdict!r}"
