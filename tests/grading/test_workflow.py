"""The teacher's commands: `make autograde` runs the sandboxed grader, plain `nbgrader autograde` is off."""

from __future__ import annotations

import subprocess

import pytest

pytest.importorskip("nbgrader", reason='the grading tests need nbgrader: pip install -e ".[teach]"')

from tests.grading import scripted  # noqa: E402

COURSE = scripted.ROOT / "assignments"


def dry_run(*args: str) -> str:
    done = subprocess.run(["make", "-n", *args], cwd=scripted.ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_plain_nbgrader_autograde_is_switched_off():
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(COURSE)).load_config()
    (guard,) = config.Autograde.sanitize_preprocessors
    with pytest.raises(RuntimeError, match="make autograde"):
        guard()
    assert config.Execute.timeout > 0 and config.GradingSandbox.memory_mb > 0


def test_make_autograde_grades_in_the_sandbox_unless_told_otherwise():
    command = dry_run("autograde", "A=01_tensors", "TIMEOUT=30")
    assert '-m tools.grading autograde "01_tensors"' in command and "--timeout 30" in command
    assert "--unsandboxed" not in command
    assert "--unsandboxed" in dry_run("autograde", "UNSANDBOXED=1")
    assert "tools.grading export" in dry_run("grades")
    assert 'tools.grading accept "01_tensors" "alice"' in dry_run("accept", "A=01_tensors", "STUDENT=alice")


def test_every_assignment_has_a_grader_and_the_guide_lists_it():
    guide = (scripted.ROOT / "TEACHING.md").read_text()
    for name in scripted.NAMES:
        assert (scripted.GRADERS / f"{name}.py").is_file()
        assert f"`{name}`" in guide
