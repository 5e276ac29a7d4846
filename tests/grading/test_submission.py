"""Rebuilding the notebook to grade: every read-only cell restored, odd submissions reported, not raised."""

from __future__ import annotations

import json

import nbformat
import pytest

pytest.importorskip("nbgrader", reason='the grading tests need nbgrader: pip install -e ".[teach]"')

from tests.grading import scripted  # noqa: E402
from tools.grading import jobs, spec, submission  # noqa: E402

SOURCE = scripted.source("01_tensors")
LOCKED = [scripted.grade_id(c) for c in SOURCE.cells if submission.is_locked(c)]


def prepare(tmp_path, nb) -> submission.Prepared:
    path = tmp_path / "01_tensors.ipynb"
    nbformat.write(nb, path)
    return submission.prepare(SOURCE, path)


def sources(prepared) -> dict[str, str]:
    return {
        role.grade_id: cell.source
        for cell, role in zip(prepared.notebook.cells, prepared.roles, strict=True)
        if role.grade_id
    }


def test_every_read_only_cell_comes_back_whatever_was_done_to_it(tmp_path):
    nb = scripted.solution("01_tensors")
    nb.cells.remove(scripted.find_cell(nb, "setup"))  # deleted (not a test cell)
    scripted.find_cell(nb, "data").source = "data = my_own_data()"  # edited (not a test cell)
    test = scripted.find_cell(nb, "test_move_batch")
    test.cell_type, test.source = "markdown", "pass"  # edited and turned into markdown
    nb.cells.insert(0, nb.cells.pop(nb.cells.index(scripted.find_cell(nb, "test_fit_line_target"))))  # moved
    prepared = prepare(tmp_path, nb)
    restored = sources(prepared)
    for gid in LOCKED:
        cell = scripted.find_cell(SOURCE, gid)
        assert restored[gid] == cell.source, f"{gid} was not restored"
    order = [role.grade_id for role in prepared.roles if role.grade_id]
    assert order == [scripted.grade_id(c) for c in SOURCE.cells if scripted.grade_id(c)], "the source's order"
    assert prepared.notebook.cells[order.index("test_move_batch")].cell_type == "code"
    assert any("'setup' was deleted" in note for note in prepared.notes)
    assert any("'data' was edited" in note for note in prepared.notes)


def test_the_students_own_cells_stay_where_they_were(tmp_path):
    nb = scripted.solution("01_tensors")
    at = nb.cells.index(scripted.find_cell(nb, "standardize"))
    nb.cells.insert(at, nbformat.v4.new_code_cell("helper = 41 + 1"))
    prepared = prepare(tmp_path, nb)
    index = [c.source for c in prepared.notebook.cells].index("helper = 41 + 1")
    assert prepared.roles[index].kind == "extra"
    assert prepared.roles[index + 1].grade_id == "standardize"


def test_duplicated_grade_ids_are_reported_and_graded_once(tmp_path):
    nb = scripted.solution("01_tensors")
    for gid, text in (("to_column", "print('a second try')"), ("test_move_batch", "pass")):
        twin = nbformat.from_dict(json.loads(json.dumps(scripted.find_cell(nb, gid))))
        twin.source, twin["id"] = text, f"twin-{gid}"[:64]
        nb.cells.insert(nb.cells.index(scripted.find_cell(nb, gid)) + 1, twin)
    prepared = prepare(tmp_path, nb)
    assert [r.grade_id for r in prepared.roles].count("to_column") == 1
    assert "print('a second try')" in [c.source for c in prepared.notebook.cells], "a copied solution cell still runs"
    assert "pass" not in [c.source for c in prepared.notebook.cells], "a copied read-only cell is dropped"
    assert sum("duplicate grade_id" in note for note in prepared.notes) == 2


@pytest.mark.parametrize(
    "content",
    [b"this is not a notebook", b"\xff\xfe\x00", b'{"cells": "none"}', b"[1, 2, 3]", b'{"cells": [' * 5000],
    ids=["text", "binary", "no-cell-list", "a-list", "deeply-nested"],
)
def test_malformed_submissions_are_reported_not_raised(tmp_path, content):
    path = tmp_path / "01_tensors.ipynb"
    path.write_bytes(content)
    prepared = submission.prepare(SOURCE, path)
    assert prepared.notebook is None and prepared.malformed


def test_unknown_grade_ids_and_odd_cells_run_as_the_students_own(tmp_path):
    nb = scripted.solution("01_tensors")
    odd = nbformat.v4.new_code_cell("x = 1")
    odd.metadata["nbgrader"] = {"grade_id": "test_invented", "grade": True, "points": 100}
    nb.cells.append(odd)
    nb.cells.append(nbformat.v4.new_code_cell(["y = ", "2"]))  # source as a list of lines
    prepared = prepare(tmp_path, nb)
    assert prepared.roles[-2].kind == prepared.roles[-1].kind == "extra"
    assert prepared.notebook.cells[-1].source == "y = 2"
    assert any("unknown grade_id 'test_invented'" in note for note in prepared.notes)


def test_a_forged_report_cannot_break_the_grader():
    steps = jobs.Steps()
    steps.add("probe", "to_column", "", replay=False)
    for forged in [
        '{"steps": [{"status": "ok", "result": "{\\"ok\\": true, \\"value\\": {\\"__tensor__\\": 5}}"}]}',
        '{"steps": [{"status": "bogus"}]}',
        "[]",
        "not json",
        None,
        '{"steps": [' * 10000,
    ]:
        report, _ = jobs.parse_report(forged, 1)
        results = jobs.probe_results(steps, report) if report else {}
        assert results.get("to_column", spec.ProbeResult("missing")).status in ("ok", "missing", "not_run")


def _report(*raw: dict) -> tuple[jobs.Steps, list[dict]]:
    steps = jobs.Steps()
    for kind, key in (("cell", 3), ("audit", None), ("probe", "move_batch"), ("audit", "move_batch")):
        steps.add(kind, key, "", replay=False)
    report, _ = jobs.parse_report(json.dumps({"steps": list(raw)}), len(steps.steps))
    return steps, report


OK = '{"ok": true, "value": 1.5}'
CLEAN = {"status": "ok", "result": "[]", "results": 1}


@pytest.mark.parametrize(
    "cell, probe",
    [
        ({"status": "ok", "result": OK, "results": 1}, {"status": "ok", "result": OK, "results": 2}),  # two results
        ({"status": "ok"}, {"status": "error", "result": OK, "results": 1}),  # display(...), then KeyboardInterrupt
    ],
)
def test_a_result_the_students_code_sent_is_flagged_and_ignored(cell, probe):
    steps, report = _report(cell, CLEAN, probe, CLEAN)
    assert jobs.probe_results(steps, report)["move_batch"].status == "missing"
    assert [flag.split(":")[0] for flag in jobs.forged_results(steps, report)] == ["forged_result"] * (
        1 + ("result" in cell)
    )


def test_the_kernel_is_audited_after_every_probe(tmp_path):
    honest = ({"status": "ok"}, CLEAN, {"status": "ok", "result": OK, "results": 1}, CLEAN)
    steps, report = _report(*honest)
    assert jobs.probe_results(steps, report)["move_batch"].value == 1.5
    assert jobs.forged_results(steps, report) == [] and jobs.audit_findings(steps, report) == ([], "ok")
    steps, report = _report(*honest[:3], {"status": "ok", "result": '["torch.allclose"]', "results": 1})
    assert jobs.audit_findings(steps, report) == (["torch.allclose"], "ok"), "a probe's tamper is found"
    steps, report = _report(*honest[:3], {"status": "ok"})
    assert jobs.audit_findings(steps, report) == (None, "ok"), "an audit that ran and sent nothing: audit_missing"
    grader = spec.load(scripted.GRADERS / "01_tensors.py")
    inputs = grader.encoded_inputs(grader.make_inputs(__import__("numpy").random.default_rng(0))[0], 0)
    built = jobs.build(prepare(tmp_path, scripted.released("01_tensors")), grader, inputs)
    kinds = [kind for kind, _ in built.kinds]
    assert kinds[-2:] == ["probe", "audit"] and kinds.count("audit") == kinds.count("probe") + 1
    assert all("globals()" not in step["code"] for step in built.steps), "no step looks up the notebook's names"
