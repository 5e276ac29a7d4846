"""What the probes read of the student's work, unit by unit: the function calls 01's loop watch counts
(tools/grading/call_watch.py) and the line 03 reads from a model's parameters (tools/grading/watch.py)."""

from __future__ import annotations

import sys
import types

import pytest

pytest.importorskip("nbgrader", reason='the grading tests need nbgrader: pip install -e ".[teach]"')
import torch  # noqa: E402
from torch import nn  # noqa: E402

from tests.grading import scripted  # noqa: E402
from tests.grading.test_graders import grade  # noqa: E402
from tools.grading import local  # noqa: E402
from tools.grading.watch import own_predictions  # noqa: E402

STREAM = """
import io
import random


class Stream(io.TextIOBase):
    def __init__(self):
        self.draw = random.Random(0)

    def write(self, text):
        for _ in range(self.draw.randint(0, 6)):
            self._schedule_flush()
        return len(text)

    def _schedule_flush(self):
        pass
"""


def _library_stream() -> type:
    """An output stream of a library's Python code whose write takes a longer path now and then, as ipykernel's does
    when no flush is pending (one every 0.2 s): here at random, seeded."""
    space: dict = {}
    exec(compile(STREAM, f"{sys.prefix}/lib/site-packages/fake_kernel/iostream.py", "exec"), space)
    return space["Stream"]


def test_what_the_output_stream_runs_is_not_counted_as_the_students(monkeypatch):
    # a print in standardize: the calls inside the stream's write were counted as the student's, so the three sized
    # calls' counts differed at random ("a loop", 8/10); only what the student's code calls, or hands a library, counts
    monkeypatch.setattr(local, "io", types.SimpleNamespace(StringIO=_library_stream()))
    nb = next(s for s in scripted.scripts("01_tensors") if s.name == "honest_scaler_print").notebook()
    full = scripted.points(scripted.source("01_tensors"))
    assert grade("01_tensors", nb, seeds=(0, 1, 2)) == [full] * 3


def test_what_a_library_runs_counts_once_handed_a_builtin_but_not_the_output_stream(monkeypatch):
    # len handed to a library's function: its calls are unseen from C, so every call inside the libraries counts from
    # then on (the library's own loop, called per item), but never those of the output stream's write (at random)
    from tools.grading.call_watch import call_watch

    library, student = {}, {}
    code = "def each(f, items):\n    return [keep(f(item)) for item in items]\n\ndef keep(value):\n    return value\n"
    exec(compile(code, f"{sys.prefix}/lib/site-packages/fake_lib/each.py", "exec"), library)
    exec(compile("def work(each, items):\n    print(each(len, items))\n", "<cell 1>", "exec"), student)
    profile, reset, total = call_watch(lambda frame: frame.f_code.co_filename.startswith("<cell "), set())
    monkeypatch.setattr(sys, "stdout", _library_stream()())
    counts = {}
    for n in (2, 2, 2, 5):
        reset()
        sys.setprofile(profile)
        try:
            student["work"](library["each"], [[0]] * n)
        finally:
            sys.setprofile(None)
        counts.setdefault(n, set()).add(total())
    assert len(counts[2]) == 1, "the same work, the same count, whatever the stream did"
    assert counts[5] != counts[2], "the library's per-item calls count once it was handed a builtin"


def _line_model() -> nn.Linear:
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(2.0), model.bias.fill_(-1.0)
    return model


class Answering(torch.Tensor):  # a parameter whose own dispatch answers matmul and F.linear with another line
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.nn.functional.linear, torch.Tensor.matmul):
            return 3 + 5 * args[0]
        return super().__torch_function__(func, types, args, kwargs)


def test_a_parameter_of_a_tensor_subclass_is_read_as_plain_numbers():
    model, x = _line_model(), torch.linspace(0, 1, 5)[:, None]
    model.weight = nn.Parameter(model.weight.detach().clone().as_subclass(Answering))
    assert not torch.allclose(model(x).detach().double(), (2 * x - 1).double())  # it answers for itself
    lines = own_predictions(model, x)
    assert isinstance(lines, list) and torch.allclose(lines[0], (2 * x - 1).double())


def test_a_layer_holding_buffers_is_not_read_from_parameters():
    # BatchNorm's running statistics, written after training, decide its eval output: no backward pass sets them
    model, x = nn.Sequential(_line_model(), nn.BatchNorm1d(1)).eval(), torch.linspace(0, 1, 5)[:, None]
    found = own_predictions(model, x)
    assert isinstance(found, str) and "BatchNorm1d holds buffers" in found and "running_mean" in found
    assert isinstance(own_predictions(nn.Sequential(_line_model(), nn.Tanh()), x), list)  # no buffers: read


def test_a_forward_replaced_on_a_private_base_is_not_run(monkeypatch):
    base = nn.ZeroPad1d.__mro__[1]  # _ConstantPadNd, whose forward ZeroPad1d runs
    monkeypatch.setattr(base, "forward", lambda self, z: 3 + 5 * z)
    model, x = nn.Sequential(_line_model(), nn.ZeroPad1d(0), nn.ReLU()), torch.linspace(0, 1, 5)[:, None]
    lines = own_predictions(model, x)
    switched = torch.relu(3 + 5 * (2 * x - 1)).double()  # what the replaced forward makes of the Linear's line
    assert isinstance(lines, list) and not any(torch.allclose(line, switched) for line in lines)
    monkeypatch.undo()
    found = own_predictions(model, x)
    assert isinstance(found, list) and torch.allclose(found[0], torch.relu(2 * x - 1).double())
