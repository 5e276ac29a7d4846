"""Lessons teach before they use, and every "lesson NN" points at the lesson that really teaches it.

The titles of the notebooks are the source of truth: a reference must name an existing lesson, a
sentence that ties a reference to a known idea must name the lesson that teaches that idea, and a
lesson's code must not call a course helper that a later lesson builds.
"""

from __future__ import annotations

import re

import pytest

from course.checks import LESSONS as CHECK_MODULES
from tools.notebooks import lesson_paths, read

PATHS = lesson_paths()
TITLES = {path.stem[:2]: read(path).cells[0].source.splitlines()[0] for path in PATHS}
REFERENCE = re.compile(r"\b[Ll]essons? (\d\d)\b")
LISTED = re.compile(r"\b(\d\d) \(")
# Ideas whose home lesson is fixed: a sentence that cites one lesson and names the idea must cite its home.
TAUGHT_IN = {
    r"\bmake_train_step\b|train-step factory": "09",
    r"\bmake_val_step\b|validation-step factory": "11",
    r"\bpredict\b": "11",
    r"\bcheckpoints?\b": "14",
    r"\bDataLoaders?\b": "10",
    r"\bschedulers?\b": "05",
    r"\bmultilayer perceptrons?\b|\bMLPs?\b|\bactivation functions?\b": "08",
    r"\bsoftmax regression\b|\bmulti-class\b": "13",
    r"\bleakage\b|\boverfitting\b": "11",
}
# course helpers and the lesson that builds each by hand before the course hands it over.
HELPER_LESSON = {
    "make_train_step": "09",
    "train_epoch": "10",
    "make_val_step": "11",
    "evaluate": "11",
    "predict": "11",
    "fit": "14",
    "save_checkpoint": "14",
    "load_checkpoint": "14",
}
HELPER_USE = re.compile(
    r"\b(?:course\.training\.|course\.checkpoints\.)(\w+)|from course\.(?:training|checkpoints) import ([\w, ]+)"
)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?:;])\s+|\n\s*\n|\n[-*] ", text) if s.strip()]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_titles_are_numbered_like_their_files(path):
    assert TITLES[path.stem[:2]].startswith(f"# {path.stem[:2]} · "), TITLES[path.stem[:2]]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_every_reference_names_an_existing_lesson_and_the_right_one(path):
    for cell in read(path).cells:
        for sentence in _sentences(cell.source):
            cited = set(REFERENCE.findall(sentence))
            if re.search(r"\b[Ll]essons \d\d", sentence):  # a list: "Lessons 07 (models), 08 (MLPs) and 09 (...)"
                cited |= set(LISTED.findall(sentence))
            missing = cited - TITLES.keys()
            assert not missing, f"{sentence!r} cites lesson(s) {sorted(missing)} that do not exist"
            if len(cited) != 1:
                continue
            (number,) = cited
            for idea, home in TAUGHT_IN.items():
                if re.search(idea, sentence) and number != home and number != path.stem[:2]:
                    pytest.fail(
                        f"{sentence.strip()!r} cites lesson {number}, but {idea!r} is taught in {TITLES[home]!r}"
                    )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_no_course_helper_is_used_before_the_lesson_that_builds_it(path):
    lesson = path.stem[:2]
    code = "\n".join(cell.source for cell in read(path).cells if cell.cell_type == "code")
    for match in HELPER_USE.finditer(code):
        names = [match.group(1)] if match.group(1) else [n.strip() for n in match.group(2).split(",")]
        for name in names:
            home = HELPER_LESSON.get(name)
            assert home is None or home <= lesson, f"lesson {lesson} uses {name}, which lesson {home} builds"


def test_every_check_module_names_its_lesson():
    import importlib

    for number, module in CHECK_MODULES.items():
        doc = importlib.import_module(f"course.checks.{module}").__doc__ or ""
        assert doc.startswith(f"Checks for lesson {number}"), f"course/checks/{module}.py: {doc[:60]!r}"
        assert number in TITLES, f"course.checks.LESSONS names lesson {number}, which has no notebook"
