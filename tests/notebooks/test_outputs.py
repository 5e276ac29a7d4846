"""What a learner reads in the stored outputs: no machine's paths, short errors, figures with alt text."""

from __future__ import annotations

import re

import pytest

from tools.notebooks import lesson_paths, read, tags

LESSONS = lesson_paths()
# A path that starts at the root of some machine's file system (POSIX home/temp/system folders, or C:\).
ABSOLUTE_PATH = re.compile(
    r"(?<![\w.:/])(?:/(?:home|root|tmp|usr|opt|work|var|Users|private|mnt|srv|etc|__w)/|[A-Z]:\\)"
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAX_ERROR_LINES = 25


def _strings(value):
    """Every string inside a cell's outputs (text, tracebacks, text data), in order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != "image/png":
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _code_cells(path):
    return [cell for cell in read(path).cells if cell.cell_type == "code"]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_no_stored_output_holds_an_absolute_path(path):
    for index, cell in enumerate(_code_cells(path)):
        text = ANSI.sub("", "\n".join(_strings(cell.get("outputs", []))))
        found = ABSOLUTE_PATH.search(text)
        assert found is None, f"code cell {index}: {text[max(0, found.start() - 60) : found.end() + 60]!r}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_stored_errors_are_short(path):
    for index, cell in enumerate(_code_cells(path)):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                lines = "\n".join(out.traceback).splitlines()
                assert len(lines) <= MAX_ERROR_LINES, (
                    f"code cell {index}: a {len(lines)}-line error (use %xmode Minimal)"
                )
                assert "raises-exception" in tags(cell)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_figure_has_alt_text(path):
    for index, cell in enumerate(_code_cells(path)):
        for out in cell.get("outputs", []):
            if "image/png" in out.get("data", {}):
                alt = out.get("metadata", {}).get("image/png", {}).get("alt", "")
                assert len(alt.strip()) >= 15, (
                    f"code cell {index}: a figure without alt text (course.plots.show(fig, alt))"
                )
                # nbconvert's default HTML template ignores the metadata: the <img> twin carries the same text
                assert 'alt="' in out["data"].get("text/html", ""), f"code cell {index}: no <img alt> for nbconvert"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_pictures_are_drawn_on_a_stated_grey_scale(path):
    # imshow alone stretches each picture to its own min and max: a faint digit would look fully inked
    for index, cell in enumerate(_code_cells(path)):
        for call in re.findall(r"\.imshow\((.*)\)", cell.source):
            assert "vmin=" in call and "vmax=" in call, f"code cell {index}: imshow({call}) without vmin and vmax"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_each_cells_prints_are_stored_joined_as_jupyterlab_saves_them(path):
    """`make notebooks` joins a run of stream outputs (the kernel splits them by the machine's timing)."""
    for index, cell in enumerate(_code_cells(path)):
        kinds = [(o.output_type, o.get("name")) for o in cell.get("outputs", [])]
        split = [a for a, b in zip(kinds, kinds[1:], strict=False) if a == b and a[0] == "stream"]
        assert not split, f"{path.name} cell {index}: {split} stored split; run python -m tools.notebooks normalize"
