"""The Makefile keeps the README's set-up promises: Python 3.11+, the CPU-only switch, students' JupyterLab."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CANONICAL_ENV

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def fake_python(tmp_path: Path, version: str) -> Path:
    """An executable that answers --version like an old Python and fails the version check."""
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\n[ \"$1\" = --version ] && echo 'Python {version}' && exit 0\nexit 1\n")
    script.chmod(0o755)
    return script


def test_an_old_python_is_refused_with_the_fix(tmp_path):
    result = make("python-version", f"PYTHON={fake_python(tmp_path, '3.10.4')}")
    assert result.returncode != 0
    assert "needs Python 3.11 or newer" in result.stdout and "is Python 3.10.4" in result.stdout
    assert "make lab PYTHON=python3.11" in result.stdout


def test_a_venv_left_by_an_old_python_is_rebuilt(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake_python(venv / "bin", "3.9.18")
    result = make("python-version", f"VENV={venv}", f"PYTHON={sys.executable}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Rebuilding" in result.stdout and "Python 3.9.18" in result.stdout and not venv.exists()


def test_a_venv_whose_python_is_gone_is_rebuilt(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(tmp_path / "a-python-that-was-uninstalled")
    result = make("python-version", f"VENV={venv}", f"PYTHON={sys.executable}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Rebuilding" in result.stdout and "no longer runs" in result.stdout and not venv.exists()


def test_torch_cpu_is_not_ignored_once_the_default_build_is_installed(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    variables = make("-p", "-n", "python-version").stdout.splitlines()
    (venv / Path(next(v for v in variables if v.startswith("STAMP := ")).split()[-1]).name).touch()  # set up before
    planned = make("-n", "setup", f"VENV={venv}", "TORCH=cpu").stdout
    assert "--force-reinstall --no-deps" in planned and "torch.version.cuda" in planned, planned


def test_torch_cpu_installs_the_same_pinned_torch_from_the_cpu_index(tmp_path):
    venv = tmp_path / "venv"  # a fresh folder, so make plans the whole install
    cpu = make("-n", f"{venv}/.installed-dev-x", f"VENV={venv}", f"STAMP={venv}/.installed-dev-x", "TORCH=cpu").stdout
    default = make("-n", f"{venv}/.installed-dev-x", f"VENV={venv}", f"STAMP={venv}/.installed-dev-x").stdout
    pinned = next(line for line in (ROOT / "pyproject.toml").read_text().splitlines() if '"torch==' in line)
    version = pinned.split("==")[1].split('"')[0]
    assert f'install "torch=={version}" --index-url https://download.pytorch.org/whl/cpu' in cpu
    assert "--index-url" not in default and 'install -e ".[dev]"' in default
    assert make("python-version", "TORCH=cuda").returncode != 0


def test_students_jupyterlab_hides_the_grading_tools():
    plan = make("-n", "lab").stdout
    assert 'JUPYTER_CONFIG_PATH="' in plan and '@jupyter/nbgrader": true' in plan
    assert '"nbgrader.server_extensions.formgrader": false' in plan


def test_doctor_has_a_make_target():
    assert "-m course doctor" in make("-n", "doctor").stdout


def test_notebooks_are_recorded_in_the_environment_the_tests_compare_in():
    printed = make("-s", "--eval=show-canonical: ; @echo $(CANONICAL)", "show-canonical").stdout.split()
    assert dict(pair.split("=", 1) for pair in printed) == CANONICAL_ENV
