"""The environment report: ``course.doctor()`` in a notebook, ``python -m course doctor`` in a shell."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = (
    "torch",
    "numpy",
    "matplotlib",
    "scikit-learn",
    "torchviz",
    "graphviz",
    "jupyterlab",
    "ipywidgets",
    "nbval",
    "tqdm",
)

GRAPHVIZ_FIX = (
    "install Graphviz: Debian/Ubuntu `sudo apt-get install graphviz`, Fedora `sudo dnf install graphviz`, "
    "macOS `brew install graphviz`, conda `conda install -c conda-forge graphviz`; then restart the kernel."
)


@dataclass
class Report:
    """What the doctor found: ``lines`` to read, ``problems`` each with its fix."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __repr__(self) -> str:
        verdict = ["All good: you are ready for the course."] if self.ok else [f"{len(self.problems)} problem(s):"]
        return "\n".join(self.lines + [""] + verdict + [f"  - {p}" for p in self.problems])


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _environment() -> str:
    """Which Python this is, without printing the machine's paths: a virtual environment's folder name."""
    if sys.prefix != sys.base_prefix:
        return f"virtual environment {Path(sys.prefix).name}"
    if "CONDA_PREFIX" in os.environ:
        return f"conda environment {Path(sys.prefix).name}"
    return "system Python"


def _graphviz_status() -> tuple[str, str | None]:
    dot = shutil.which("dot")
    if dot is None:
        return "not found on PATH", f"Graphviz's `dot` program is missing, so graphs show as text only: {GRAPHVIZ_FIX}"
    try:
        run = subprocess.run([dot, "-Tsvg"], input=b"digraph { a -> b }", capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"dot on PATH (fails: {exc})", f"`dot` is on PATH but does not run: reinstall Graphviz ({GRAPHVIZ_FIX})"
    if run.returncode != 0 or b"<svg" not in run.stdout:
        return "dot on PATH (cannot render)", f"`dot` cannot render a graph: reinstall Graphviz ({GRAPHVIZ_FIX})"
    return "renders", None


def _device_status() -> tuple[str, str | None]:
    from course.device import get_device

    try:
        return str(get_device()), None
    except (RuntimeError, ValueError) as exc:
        return "unusable", str(exc)


def check_environment() -> Report:
    """Collect versions, device, threads, Graphviz and widgets, with a fix for each problem.

    Example:
        >>> report = check_environment()
        >>> any(line.startswith("torch") for line in report.lines)
        True
    """
    report = Report()
    report.lines.append(f"{'python':<13}{platform.python_version()} ({_environment()})")
    for package in PACKAGES:
        version = _version(package)
        report.lines.append(f"{package:<13}{version or 'missing'}")
        if version is None:
            report.problems.append(
                f"{package} is not installed: run `make setup` (or `pip install -e .`) in the course folder."
            )
    device, problem = _device_status()
    report.lines.append(f"{'device':<13}{device}")
    report.lines.append(f"{'threads':<13}{torch.get_num_threads()}")
    graphviz, graphviz_problem = _graphviz_status()
    report.lines.append(f"{'dot':<13}{graphviz}")
    widgets = "available" if _version("ipywidgets") and _version("jupyterlab_widgets") else "missing"
    report.lines.append(f"{'widgets':<13}{widgets}")
    if widgets == "missing":
        report.problems.append(
            "Jupyter widgets are missing, so fit shows no progress bar in a notebook (a terminal still shows its text "
            "bar): `pip install ipywidgets` (it brings jupyterlab_widgets), then restart Jupyter."
        )
    report.problems.extend(p for p in (problem, graphviz_problem) if p)
    return report


def doctor() -> Report:
    """Check the environment and return the report (it shows itself in a notebook)."""
    return check_environment()
