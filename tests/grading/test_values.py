"""How the graders read the student's results: inside the watch (lazy values), by their real type (NumPy numbers),
as numbers where the visible tests compute with any; copied, so nothing the student keeps changes them later."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tools.grading import scan, spec, watch, wire


class Lazy(float):
    """A float whose value is computed when it is read (``float(value)``), as a cheat defers its work."""

    def __new__(cls, thunk):
        value = float.__new__(cls, 0.0)
        value.thunk = thunk
        return value

    def __float__(self):
        return self.thunk()


class Deferred(torch.Tensor):
    """A tensor subclass that doubles its data when torch reads it."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        args = [a.as_subclass(torch.Tensor) * 2 if isinstance(a, Deferred) else a for a in args]
        return func(*args, **(kwargs or {}))


def test_settled_runs_deferred_work_now_and_leaves_plain_values():
    ran = []
    value = (Lazy(lambda: ran.append(1) or 2.5), [torch.ones(2).as_subclass(Deferred)], {"k": Lazy(lambda: 1.0)})
    got = watch.settled(value)
    assert ran == [1], "the deferred work runs inside the call to settled"
    assert type(got) is tuple and type(got[0]) is float and got[0] == 2.5
    assert type(got[1]) is list and type(got[1][0]) is torch.Tensor and got[1][0].tolist() == [2.0, 2.0]
    assert type(got[2]) is dict and type(got[2]["k"]) is float


def test_settled_copies_plain_values_and_leaves_other_objects_as_they_are():
    weight = torch.ones(2, requires_grad=True)
    model = torch.nn.Linear(1, 1)
    got = watch.settled((weight, model, np.float32(1.5), True, None, np.ones(2)))
    assert got[1] is model and type(got[2]) is np.float32 and got[3] is True and got[4] is None
    assert got[0] is not weight and got[0].requires_grad and got[0].is_leaf and got[0].tolist() == [1.0, 1.0]
    with torch.no_grad():
        weight.mul_(5)  # what the student's code keeps (a finalizer, a hook) changes later: the values judged stay
    got[5][0] = 3.0
    assert got[0].tolist() == [1.0, 1.0] and type(got[5]) is np.ndarray


class LazyNumber(np.float32):
    """A NumPy number whose methods would run the student's deferred work."""

    def __float__(self):
        raise AssertionError("a method of the student's ran")

    item = __array__ = __float__


def test_a_numpy_number_of_a_subclass_is_read_as_the_number_it_holds_without_running_its_methods():
    assert type(watch.settled(LazyNumber(1.5))) is np.float32 and watch.settled(LazyNumber(1.5)) == 1.5
    back = wire.loads(json.dumps(wire.encode(LazyNumber(2.5))))
    assert type(back) is np.float32 and back == 2.5, "no Python float: the task's type check sees a NumPy number"


@pytest.mark.parametrize("kind", [np.float32, np.float16, np.int64, np.uint8, np.bool_, np.longdouble])
def test_a_numpy_number_comes_back_as_its_own_type(kind):
    back = wire.loads(json.dumps(wire.encode(kind(1))))
    assert type(back) is kind and back == 1
    assert not isinstance(wire.loads(json.dumps(wire.encode(np.float32(0.5)))), float), "np.float32 is no float"


def test_a_forged_numpy_number_is_refused_or_kept_as_a_plain_value():
    assert isinstance(wire.decode({"__scalar__": {"type": "numpy.uint8", "value": 300}}), wire.Opaque)
    assert wire.decode({"__scalar__": {"type": "numpy.save", "value": 1}}) == 1
    assert type(wire.decode({"__scalar__": {"type": "os.system", "value": 2.0}})) is float


def test_real_reads_any_number_the_visible_tests_compute_with():
    assert [spec.real(v) for v in (1, 2.5, np.float32(0.5), torch.tensor([3.0]), np.array(4.0))] == [1, 2.5, 0.5, 3, 4]
    assert [spec.real(v) for v in ("1", None, torch.ones(2), [1.0])] == [None] * 4


def test_same_tells_answers_apart():
    assert spec.same((0.0, 0.0), (0.0, 0.0)) and spec.same(torch.tensor([float("nan")]), torch.tensor([float("nan")]))
    assert not spec.same((0.0, 1.0), (0.0, 0.0)) and not spec.same(torch.ones(2), torch.zeros(2))


@pytest.mark.parametrize(
    "code",
    [
        "nodes = loss.grad_fn.next_functions",
        "nodes = getattr(node, 'next_functions')",
        "import operator\nwalk = operator.attrgetter('grad_fn.next_functions')",
    ],
)
def test_walking_autograds_graph_by_hand_is_flagged(code):
    assert "introspection" in {f.category for f in scan.scan_cell(code, "mse_gradients", {"torch", "operator"})}


def test_reading_grad_fn_alone_is_not_flagged():
    assert scan.scan_cell("print(loss.grad_fn)\nassert loss.grad_fn is not None", "cell", {"torch"}) == []


def test_the_same_input_twice_may_differ_in_the_last_bits():
    # honest training run twice on a busy machine: a library's threads may add in another order (a flaky 03 grade)
    history = [0.52341, 0.31127, 0.2000001]
    again = [0.52341, 0.31127 + 3e-9, 0.2000001 - 2e-9]
    spec.computed(history, [0.9, 0.8, 0.7], again, "train_model", "record the losses")
    tensor = torch.tensor([[0.25, -1.5]])
    spec.computed(tensor, tensor + 1, tensor * (1 + 1e-7), "standardize", "compute it")
    spec.computed((0.5, np.float32(2.0)), (0.6, 2.0), (0.5, 2.0000002), "fit_line", "fit it")


@pytest.mark.parametrize(
    ("got", "other", "again"),
    [
        ((1.0, 0.0), (2.0, 0.0), (3.0, 0.0)),  # a count of the calls
        (0.42, 0.42, 0.42),  # a draw, seeded alike before each call
        ([0.5, 0.4], [0.5, 0.4], [0.5, 0.4]),  # a constant history
        ({"loss": 1.0}, {"loss": 2.0}, {"loss": 1.5}),  # the same input, another answer
    ],
)
def test_an_answer_not_computed_from_its_input_is_wrong(got, other, again):
    with pytest.raises(spec.Wrong):
        spec.computed(got, other, again, "f", "compute it")


def test_the_same_answer_twice_is_not_asked_of_a_function_that_keeps_torch_state():
    # an honest training of a model made at cell level goes on where it stopped: another history on the same data
    spec.computed([0.5, 0.4], [0.9, 0.8], [0.3, 0.2], "train_model", "record the losses", kept=True)
    with pytest.raises(spec.Wrong, match="a count, a draw, or state kept between calls"):
        spec.computed([0.5, 0.4], [0.9, 0.8], [0.3, 0.2], "train_model", "record the losses")


def test_torch_state_a_function_reads_from_the_notebook_is_found():
    notebook = {"torch": torch, "nn": torch.nn, "calls": [0], "gen": torch.Generator(), "pair": [torch.nn.Linear(1, 1)]}
    code = {
        "uses_model": "def f():\n    return model(1)",
        "uses_pair": "def f():\n    return [m for m in pair]",
        "uses_helper": "def helper():\n    return torch.randn(1, generator=gen)\n\ndef f():\n    return helper()",
        "counts": "def f():\n    calls[0] += 1\n    return nn.Linear(1, 1), torch.randn(1)",
        "own_model": "def f():\n    model = nn.Linear(1, 1)\n    return model",
    }
    found = {}
    for name, source in code.items():
        ns = {**notebook, "model": torch.nn.Linear(1, 1)}  # (own_model's is its own: a local name)
        exec(source, ns)
        found[name] = watch.kept_state(wire.Names(ns), "f")
    assert found == {"uses_model": True, "uses_pair": True, "uses_helper": True, "counts": False, "own_model": False}
