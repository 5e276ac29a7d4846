"""The lessons are committed executed, follow the course's anatomy, and their exercises work.

strict nbval (run by the same pytest command) compares every stored output; these tests
check what nbval cannot: structure, hidden solutions, and the stub state.
"""

from __future__ import annotations

import copy
import re

import nbformat
import pytest

from tools.notebooks import execute, exercises, lesson_paths, output_text, read, tags

LESSONS = lesson_paths()
ADDRESS = re.compile(r"at 0x[0-9a-fA-F]{6,}|/tmp/ipykernel_\d+")
REQUIRED_HEADINGS = ("Learning objectives", "Prerequisites", "Exercises", "Key points", "Further reading")
MIN_EXERCISES = {"00": 1, "15": 2}  # every other lesson has at least three


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


def _passed_alone(solved: nbformat.NotebookNode, found: list) -> bool:
    """Run only the set-up cell and each solution with its check; True if every check says correct.

    Most solutions need nothing else from their lesson, and this costs one kernel start instead of the
    whole lesson. A solution that uses the lesson's variables fails here and is then run in full.
    """
    setup = next(i for i, cell in enumerate(solved.cells) if cell.cell_type == "code")
    keep = [setup, *(i for ex in found for i in (ex.stub, ex.check))]
    short = copy.deepcopy(solved)
    short.cells = [solved.cells[i] for i in keep]
    execute(short, allow_errors=True)
    return all("✅ Correct" in output_text(short.cells[keep.index(ex.check)]) for ex in found)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_hidden_solution_passes_its_check(path):
    nb = read(path)
    found = exercises(nb)
    solved = copy.deepcopy(nb)
    for ex in found:
        solved.cells[ex.stub].source = ex.solution
    if _passed_alone(solved, found):
        return
    execute(solved)
    for ex in found:
        verdict = output_text(solved.cells[ex.check])
        assert "✅ Correct" in verdict, f"solution of the exercise at cell {ex.stub} gave: {verdict!r}"
