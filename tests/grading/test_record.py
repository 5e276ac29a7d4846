"""Points a teacher released with `make accept` stay with the notebook that was reviewed, and only with it."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("nbgrader", reason='the grading tests need nbgrader: pip install -e ".[teach]"')

from tools.grading import record  # noqa: E402


def _graded(course, notebook: str, accepted: str = "") -> record.Report:
    """A submitted notebook and the report of its last grading (accepted as ``accepted`` digest, if given)."""
    submitted = course / "submitted" / "alice" / "01_tensors"
    submitted.mkdir(parents=True, exist_ok=True)
    (submitted / "01_tensors.ipynb").write_text(notebook)
    report = record.Report("01_tensors", "alice", 10.0, flags=["filesystem: open() (cell x, line 1)"])
    folder = course / "autograded" / "alice" / "01_tensors"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / record.REPORT).write_text(json.dumps({**json.loads(report.to_json()), "accepted": accepted}))
    return report


def test_regrading_the_reviewed_notebook_keeps_the_acceptance(tmp_path):
    _graded(tmp_path, "{}")
    reviewed = record.digest(tmp_path / "submitted" / "alice" / "01_tensors", "01_tensors")
    report = _graded(tmp_path, "{}", accepted=reviewed)
    assert record.carry_acceptance(tmp_path, report, tmp_path / "submitted" / "alice" / "01_tensors") is False
    assert report.accepted == reviewed != "" and f'"accepted": "{reviewed}"' in report.to_json()


def test_a_changed_notebook_loses_the_acceptance(tmp_path):
    _graded(tmp_path, "{}")
    reviewed = record.digest(tmp_path / "submitted" / "alice" / "01_tensors", "01_tensors")
    report = _graded(tmp_path, '{"changed": true}', accepted=reviewed)
    assert record.carry_acceptance(tmp_path, report, tmp_path / "submitted" / "alice" / "01_tensors") is True
    assert report.accepted == ""


def test_nothing_accepted_means_nothing_to_withdraw(tmp_path):
    report = _graded(tmp_path, "{}")
    assert record.carry_acceptance(tmp_path, report, tmp_path / "submitted" / "alice" / "01_tensors") is False
