"""Package-wide rules: cheap, side-effect-free import; layering; pins that agree."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {  # a module may import only modules of a lower layer
    "nested": -1,  # the basement: what several ground-floor modules share
    "weights": -1,
    "pair_errors": -1,
    "checkpoint_path": -1,
    "collate_errors": -1,
    "signed_targets": -1,
    "scalars": -1,
    "device": 0,
    "repro": 0,
    "show": 0,
    "images": 0,
    "checkpoint_file": 0,
    "lower_rates": 0,
    "progress": 0,
    "parts": 0,
    "history": 0,
    "loss_checks": 0,
    "loss_values": 0,
    "loss_result": 0,
    "loaders": 0,
    "divergence": 0,
    "whole_pass": 0,
    "epochs": 1,
    "updates": 1,
    "diagnose": 1,
    "seen_batches": 1,
    "checkpoints": 2,
    "data": 1,
    "graphs": 1,
    "plots": 1,
    "training": 2,
    "doctor": 2,
    "checks": 3,  # exercise checks compare a learner's answer with the package's own reference code
}


def test_import_is_cheap_and_has_no_side_effects():
    code = (
        "import random, sys, numpy as np, torch\n"
        "before = (random.getstate(), np.random.get_state()[1].tolist(), torch.random.get_rng_state().tolist())\n"
        "import course, course.checks, course.training\n"
        "after = (random.getstate(), np.random.get_state()[1].tolist(), torch.random.get_rng_state().tolist())\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'sklearn', 'torchviz', 'graphviz'})\n"
        "print(before == after, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True []"


def imported_course_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("course.")}
    return names


def test_imports_point_down_only():
    for path in sorted((ROOT / "course").rglob("*.py")):
        rel = path.relative_to(ROOT / "course")
        top = rel.parts[0].removesuffix(".py")
        if top in ("__init__", "__main__"):
            continue
        assert top in LAYERS, f"course/{rel}: give its module a layer in LAYERS (and in README's table)"
        for used in imported_course_modules(path) - {top}:
            assert LAYERS[used] < LAYERS[top], f"course/{rel} imports course.{used}, a module at or above its layer"


def requirement_names(specs: list[str]) -> dict[str, str]:
    pins = {}
    for spec in specs:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;#]+)", spec.split("#")[0].strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_environment_yml_installs_the_package_with_its_pins():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    assert "      - -e .[dev]" in lines, "conda users get the Python packages from pyproject.toml's pins, written once"
    assert "  - python=3.11" in lines and "  - graphviz" in lines, "Python 3.11 and Graphviz's dot from conda-forge"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [s for extra in project["optional-dependencies"].values() for s in extra]
    loose = [s for s in specs if "==" not in s]
    assert not loose, f"pin exactly (a loose torch pulls a multi-GB CUDA build): {loose}"


LONGEST = 300  # lines: one idea per module (the house rule, README)


@pytest.mark.parametrize("folder", ["course", "tools/grading", "assignments/graders"])
def test_no_module_is_longer_than_the_house_rule(folder):
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / folder).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > LONGEST
    }
    assert not long, f"modules over {LONGEST} lines (split them by idea): {long}"
