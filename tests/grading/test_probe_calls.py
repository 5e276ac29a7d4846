"""Every call of the student's functions that a probe reads for points is guarded as the watched ones are (its value
read by ``settled``): a torch mode entered at the end of one call and left active into the grader's reading (closed at
the start of the next call, so the audit after the probe finds nothing) stops the probe, and the audit reports it; the
solutions' calls, under the same guard, are read as before. The auditor that keeps that record, and the grader's wire,
are modules of the kernel (``__grading__``, ``__grading_audit__``): the scan flags a cell that reaches them."""

from __future__ import annotations

import contextlib
import functools
import json

import numpy as np
import pytest
import torch
import torch.utils.checkpoint

pytest.importorskip("nbgrader", reason='the grading tests need nbgrader: pip install -e ".[teach]"')
from torch.overrides import TorchFunctionMode  # noqa: E402

from tests.grading import scripted  # noqa: E402
from tests.grading.test_torch_state import auditor  # noqa: E402, F401  (the fixture: the kernel's auditor)
from tools.grading import local, scan, spec, wire  # noqa: E402

# the probes that call the student's function (theirs: the function's name) without a watch of their own: every
# call whose value (or what the probe reads after it) is judged; the watched probes for comparison
UNWATCHED = [
    ("01_tensors", "to_column", "to_column"),
    ("01_tensors", "move_batch", "move_batch"),
    ("03_training_loop", "train_step", "train_step"),
    ("03_training_loop", "evaluate", "evaluate"),
    ("04_data_evaluation", "standardize", "standardize"),
    ("04_data_evaluation", "accuracy", "accuracy"),
    ("04_data_evaluation", "make_loader", "make_loader"),
]
WATCHED = [("01_tensors", "fit_line", "fit_line"), ("02_gradients", "mse_gradients", "mse_gradients")]


class Passing(TorchFunctionMode):  # a mode that changes nothing: what it could rewrite is beside the point here
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def between_calls(function):
    """``function``, entering a mode (``contextlib.ExitStack().enter_context``) at the end of each call and closing it
    at the start of the next: active while the grader reads between the calls, gone after the probe's last call."""
    stacks: list[contextlib.ExitStack] = []

    @functools.wraps(function)
    def student(*args, **kwargs):
        while stacks:
            stacks.pop().close()
        value = function(*args, **kwargs)
        stacks.append(contextlib.ExitStack())
        stacks[-1].enter_context(Passing())
        return value

    student.close = lambda: [stacks.pop().close() for _ in list(stacks)]
    return student


@functools.cache
def solved(name: str) -> tuple[dict, spec.Grader]:
    """The solution's namespace (its cells run here once) and the assignment's grader."""
    namespace, errors = local.run_cells(scripted.solution(name))
    assert not errors, errors
    return namespace, spec.load(scripted.GRADERS / f"{name}.py")


def probe(auditor, name: str, probe: str, namespace: dict, kept=("torch",)) -> tuple[dict, list[str], dict]:  # noqa: F811
    """The probe run as in the kernel (its shipped source, its inputs as JSON), the audit's items after it (those that
    start with one of ``kept``: torch's), and the secrets its checks decide with."""
    grader = solved(name)[1]
    inputs, secrets = grader.make_inputs(np.random.default_rng(0))
    before = auditor.snapshot()
    result = wire.run_probe(probe, grader.probes[probe].source, grader.encoded_inputs(inputs, 0)[probe], namespace)
    return json.loads(result), [item for item in auditor.audit(before) if item.startswith(kept)], secrets


@pytest.mark.parametrize(
    "name, which, function", UNWATCHED + WATCHED, ids=[f"{n}/{p}" for n, p, _ in UNWATCHED + WATCHED]
)
def test_a_mode_left_between_the_calls_of_a_probe_stops_it(auditor, name, which, function):  # noqa: F811
    namespace = dict(solved(name)[0])
    namespace[function] = student = between_calls(namespace[function])
    try:
        result, found, _ = probe(auditor, name, which, namespace)
    finally:
        student.close()
    assert result["ok"] is False and "mode" in result["error"], result  # (before: read, and full marks)
    assert any("during a call of the notebook's code" in item for item in found), found


@pytest.mark.parametrize("name, which, function", UNWATCHED, ids=[f"{n}/{p}" for n, p, _ in UNWATCHED])
def test_the_solutions_calls_are_read_under_the_guard(auditor, name, which, function):  # noqa: F811
    namespace, grader = solved(name)
    result, found, secrets = probe(auditor, name, which, namespace)
    assert result["ok"] is True and found == [], (result, found)
    points = scripted.points(scripted.source(name))
    verdicts = grader.decide({which: spec.probe_result("ok", json.dumps(result))}, secrets, points)
    judged = [v for v in verdicts if grader.checks[v.grade_id].needs == (which,)]
    assert judged and all(v.points == v.max_points for v in judged), judged


GRADERS_MODULES = [  # imported (under any name), or named as text for sys.modules, importlib, __import__
    "import __grading__ as g\ng.auditor.NOTED.clear()",
    "import numpy, __grading_audit__",
    "from __grading_audit__ import NOTED\nNOTED.clear()",
    "from __grading__ import auditor as a\na.modes_kept = lambda graders=True: None",
    "import __grading__.auditor",
    "import sys\nsys.modules['__grading__'].auditor.NOTED.clear()",
    "import sys\nsys.modules.get('__grading_audit__').NOTED.clear()",
    "import importlib\nauditor = importlib.import_module('__grading_audit__')",
    "auditor = __import__(f'__grading_audit__')",
]
NOT_THE_GRADERS = [  # names and words that only look like it
    "grading = {'notes': 'graded'}\nprint('the __grading__ module is the grader', grading)",
    "import numpy as grading\n_grading_step = 1",
]


@pytest.mark.parametrize("code", GRADERS_MODULES)
def test_a_cell_that_reaches_the_graders_own_modules_is_flagged_kernel(code):
    found = scan.scan_cell(code, "cell", {"torch", "np"})
    assert any(f.category == "kernel" and "the grader's own module" in f.what for f in found), found


@pytest.mark.parametrize("code", NOT_THE_GRADERS)
def test_names_that_only_look_like_the_graders_are_not_flagged(code):
    assert scan.scan_cell(code, "cell", {"torch", "np"}) == []


class Shown(dict):  # review 11: a table of the grader's model that answers with values of the student's choosing
    pass


ALTERED = {  # what a call of the student's may do to the grader's model besides its work (each after the work)
    "parameters_subclass": lambda model: setattr(model, "_parameters", Shown(model._parameters)),
    "parameters_copy": lambda model: setattr(model, "_parameters", dict(model._parameters)),
    "buffers_subclass": lambda model: setattr(model, "_buffers", Shown(model._buffers)),
    "parameter_swapped": lambda model: model._parameters.update(bias=torch.nn.Parameter(model.bias.detach().clone())),
    "class_swapped": lambda model: setattr(model, "__class__", torch.nn.Linear),
}


def altering(function, alter):
    @functools.wraps(function)
    def student(model, *args):
        value = function(model, *args)
        alter(model)
        return value

    return student


@pytest.mark.parametrize("alter", ALTERED.values(), ids=ALTERED)
@pytest.mark.parametrize("which", ["train_step", "evaluate"])
def test_a_call_that_alters_the_graders_model_stops_the_probe(auditor, which, alter):  # noqa: F811
    namespace = dict(solved("03_training_loop")[0])
    namespace[which] = altering(namespace[which], alter)
    result, found, _ = probe(auditor, "03_training_loop", which, namespace, kept=("torch", "the grader's model"))
    assert result["ok"] is False and "the grader's model" in result["error"], result  # (before: read, full marks)
    assert any(item.startswith("the grader's model") for item in found), found


def test_a_step_through_checkpoint_earns_full_marks(auditor):  # noqa: F811  review 11: its forward runs twice a call
    def train_step(model, loss_fn, optimizer, x, y):
        model.train()
        loss = loss_fn(torch.utils.checkpoint.checkpoint(model, x, use_reentrant=False), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss.item()

    namespace, grader = solved("03_training_loop")
    result, found, secrets = probe(auditor, "03_training_loop", "train_step", dict(namespace, train_step=train_step))
    assert result["ok"] is True and found == [], (result, found)
    points = scripted.points(scripted.source("03_training_loop"))
    verdicts = grader.decide({"train_step": spec.probe_result("ok", json.dumps(result))}, secrets, points)
    judged = [v for v in verdicts if grader.checks[v.grade_id].needs == ("train_step",)]
    assert judged and all(v.points == v.max_points for v in judged), judged
