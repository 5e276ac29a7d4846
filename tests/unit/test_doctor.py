import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course.doctor import GRAPHVIZ_FIX, check_environment

doctor_module = importlib.import_module("course.doctor")  # `course.doctor` the attribute is the function


def run_doctor(env):
    return subprocess.run([sys.executable, "-m", "course", "doctor"], capture_output=True, text=True, env=env)


def path_without_dot(tmp_path: Path) -> str:
    """A PATH with this Python's folder but without any folder that holds `dot`."""
    keep = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "dot").exists()]
    return os.pathsep.join(keep)


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_command_line_reports_all_good_with_dot():
    result = run_doctor(os.environ)
    assert result.returncode == 0, result.stdout
    assert "dot          renders" in result.stdout and "All good" in result.stdout


def test_command_line_reports_missing_dot_with_the_fix(tmp_path):
    result = run_doctor({**os.environ, "PATH": path_without_dot(tmp_path)})
    assert result.returncode == 1
    assert "dot          not found on PATH" in result.stdout
    assert "sudo apt-get install graphviz" in result.stdout and "brew install graphviz" in result.stdout


def test_broken_dot_is_reported(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(doctor_module.shutil, "which", lambda name: str(fake))
    report = check_environment()
    assert any("cannot render" in p for p in report.problems)


def test_bad_device_setting_is_a_problem_not_a_crash(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "quantum")
    report = check_environment()
    assert not report.ok and any("COURSE_DEVICE='quantum'" in p for p in report.problems)
    assert "device       unusable" in repr(report)


def test_report_lists_versions_and_threads():
    text = repr(check_environment())
    for name in ("python", "torch", "numpy", "threads", "widgets"):
        assert any(line.startswith(name) for line in text.splitlines()), name
    assert GRAPHVIZ_FIX.startswith("install Graphviz")


def test_usage_message_for_unknown_command():
    result = subprocess.run([sys.executable, "-m", "course", "cure"], capture_output=True, text=True)
    assert result.returncode == 2 and "python -m course doctor" in result.stderr


def test_missing_widgets_are_reported_as_what_a_notebook_then_shows(monkeypatch):
    # in a notebook without ipywidgets fit's bar is not shown at all (a text bar would store timings in outputs)
    progress = importlib.import_module("course.progress")
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # `import ipywidgets` fails
    assert progress.epoch_bar(3) is None
    real = doctor_module._version
    monkeypatch.setattr(doctor_module, "_version", lambda package: None if package == "ipywidgets" else real(package))
    problem = next(p for p in check_environment().problems if p.startswith("Jupyter widgets"))
    assert "plain text" not in problem and "no progress bar in a notebook" in problem
