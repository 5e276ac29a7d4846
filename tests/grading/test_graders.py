"""The hidden checks of every assignment, decided without a kernel (tools/grading/local.py).

The same probes, wire format and decisions as `make autograde`, on trusted code executed in this
process: the solution earns full marks on several fresh draws of inputs, the blank earns nothing, and
every scripted wrong answer of submissions/<assignment>/ loses exactly the points its header says.
The sandbox, the kernel and the attacks are tested end to end in test_sandbox.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("nbgrader", reason='the grading tests need nbgrader: pip install -e ".[teach]"')
import sklearn.datasets  # noqa: E402, F401  (imported once here, so no notebook's set-up pays for it under a time limit)

from tests.grading import scripted  # noqa: E402
from tools.grading import local, spec, wire  # noqa: E402

NAMES = scripted.NAMES
# torch.compile (a scripted honest submission) imports modules that use torch.jit.script_method, deprecated in torch
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")


def grade(name: str, nb, seeds=(0,), timeout: float | None = None) -> list[dict[str, float]]:
    """The points of every test cell, once per seed of fresh inputs."""
    grader = spec.load(scripted.GRADERS / f"{name}.py")
    runs = local.grade(nb, grader, scripted.points(scripted.source(name)), seeds=seeds, timeout=timeout)
    return [{v.grade_id: v.points for v in verdicts} for verdicts in runs]


@pytest.mark.parametrize("name", NAMES)
def test_source_is_well_formed(name):
    nb = scripted.source(name)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    points = scripted.points(nb)
    assert len(points) >= 4, "several test cells, so partial work earns partial credit"
    assert sum(points.values()) == 10
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta:
            assert meta["schema_version"] == 3 and meta["grade_id"]
    text = "\n".join(cell.source for cell in nb.cells)
    assert "HIDDEN TESTS" not in text, "hidden checks live in assignments/graders/, on fresh inputs"
    assert "course.checks" not in text, "assignments do not depend on the lessons' checks"
    assert any("target" in gid or "accuracy" in gid for gid in points), "a measurable target"
    assert "course.seed_everything(" in nb.cells[1].source


@pytest.mark.parametrize("name", NAMES)
def test_every_test_cell_has_a_hidden_check(name):
    grader = spec.load(scripted.GRADERS / f"{name}.py")
    assert set(grader.checks) == set(scripted.points(scripted.source(name)))


@pytest.mark.parametrize("name", NAMES)
def test_release_hides_the_solutions(name):
    text = "\n".join(cell.source for cell in scripted.released(name).cells)
    assert "BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text


@pytest.mark.parametrize("name", NAMES)
def test_solution_earns_full_marks_on_fresh_inputs(name):
    full = scripted.points(scripted.source(name))
    assert grade(name, scripted.solution(name), seeds=(0, 1, 2)) == [full] * 3


@pytest.mark.parametrize("name", NAMES)
def test_blank_earns_nothing(name):
    assert set(grade(name, scripted.released(name))[0].values()) == {0.0}


LOCAL = scripted.scripts(run=("local", "both"))


@pytest.mark.parametrize("script", LOCAL, ids=[f"{s.assignment}/{s.name}" for s in LOCAL])
def test_scripted_submission_earns_its_points(script):
    full = scripted.points(scripted.source(script.assignment))
    want = script.expected(full)
    assert script.score == sum(want.values()), f"header score {script.score} != max minus failed cells"
    assert grade(script.assignment, script.notebook(), seeds=(3,), timeout=script.timeout) == [want]


def probed(nb, name: str, probe: str, cells: dict[str, float], seeds) -> list[list[spec.Verdict]]:
    """The verdicts of ``cells`` from ``probe`` alone, once per seed (the other probes, a training's, are not run)."""
    grader = spec.load(scripted.GRADERS / f"{name}.py")
    namespace, _ = local.run_cells(nb)
    runs = []
    for seed in seeds:
        inputs, secrets = grader.make_inputs(__import__("numpy").random.default_rng(seed))
        text = wire.run_probe(probe, grader.probes[probe].source, grader.encoded_inputs(inputs, seed)[probe], namespace)
        runs.append(grader.decide({probe: spec.probe_result("ok", text)}, secrets, cells))
    return runs


def test_a_tie_at_probability_half_never_decides_the_accuracy_cell():
    # the grader's two ties (logit 0) once had random targets: `sigmoid(logits) >= 0.5` (lesson 12's rule, where Task 2
    # says "above") earned 2 points on some draws and none on others; now it earns them on every draw, as `>` does
    script = next(s for s in scripted.scripts("04_data_evaluation") if s.name == "sigmoid_at_least_half")
    seeds, cell = range(8), {"test_accuracy": 2.0}
    for notebook in (script.notebook(), scripted.solution(script.assignment)):
        runs = probed(notebook, script.assignment, "accuracy", cell, seeds)
        assert all(verdict.points == 2 for [verdict] in runs), [v.message for [v] in runs]


def test_every_assignment_has_scripted_mistakes():
    for name in NAMES:
        assert any(0 < s.score < 10 for s in scripted.scripts(name)), f"{name}: no partial-credit submission"


def test_a_check_that_meets_an_unexpected_result_fails_without_raising():
    grader = spec.load(scripted.GRADERS / "01_tensors.py")
    forged = {name: spec.ProbeResult("ok", value={"surprise": object()}) for name in grader.probes}
    verdicts = grader.decide(
        forged,
        grader.make_inputs(__import__("numpy").random.default_rng(0))[1],
        scripted.points(scripted.source("01_tensors")),
    )
    assert all(v.points == 0 and v.message for v in verdicts)


def test_a_loop_that_loses_the_first_interrupt_is_still_stopped():
    # an interrupt that lands in a finalizer is printed and lost; the limit raises again until the block ends
    script = """from tools.grading.local import CellTimeout, limited
def loop():
    try:
        while True:
            pass
    except CellTimeout:
        pass  # lost, as in a generator's finalizer
    while True:
        pass
try:
    with limited(0.2):
        loop()
except CellTimeout:
    print("stopped")"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
    assert done.stdout.strip() == "stopped", done.stderr


def test_an_evaluation_that_builds_no_graph_without_no_grad_earns_its_points():
    # detached parameters keep the forward pass out of a graph with gradients on: what Task 2 asks (no graph), what
    # the notebook's own test accepts; the hidden check once took the points, saying "evaluate built a graph"
    script = next(s for s in scripted.scripts("03_training_loop") if s.name == "evaluate_detached_params")
    [verdict] = probed(script.notebook(), script.assignment, "evaluate", {"test_evaluate": 2.0}, seeds=(0,))[0]
    assert verdict.points == 2.0, verdict.message
