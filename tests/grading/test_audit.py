"""The audit (shipped into the kernel) run in this process: a library attribute replaced by anything is found,
and the solutions with their probes replace none."""

from __future__ import annotations

import contextlib
import functools
import types
from unittest import mock

import pytest

pytest.importorskip("nbgrader", reason='the grading tests need nbgrader: pip install -e ".[teach]"')
import sklearn.datasets  # noqa: E402, F401
import torch  # noqa: E402

from tests.grading import scripted  # noqa: E402
from tools.grading import audit, local, spec  # noqa: E402

WATCHED = tuple(f"{m}." for m in audit.WATCHED_MODULES) + tuple(f"{m}.{c}." for m, c in audit.WATCHED_CLASSES)


def libraries(found: list[str]) -> list[str]:
    return [item for item in found if item.startswith(WATCHED)]


def through_mock():
    return mock.patch.object(torch, "allclose", mock.MagicMock(return_value=True))


@contextlib.contextmanager
def through_update_wrapper():  # functools sets the attribute: update_wrapper(torch, fake, assigned=("allclose",))
    real = torch.allclose
    functools.update_wrapper(torch, types.SimpleNamespace(allclose=torch.is_tensor), ("allclose",), ())
    try:
        yield
    finally:
        torch.allclose = real
        del torch.__wrapped__  # update_wrapper sets it too


@contextlib.contextmanager
def through_wraps():  # wraps(...)(torch) is update_wrapper(torch, ...): the audit sees it, the scan lets wraps pass
    real = torch.allclose
    functools.wraps(types.SimpleNamespace(allclose=torch.is_tensor), ("allclose",), ())(torch)
    try:
        yield
    finally:
        torch.allclose = real
        del torch.__wrapped__


@contextlib.contextmanager
def through_library_wrapper():  # a function of the installation holding the original: always-true context managers
    with mock.patch.object(torch, "allclose", contextlib.contextmanager(torch.allclose)):
        yield


@pytest.mark.parametrize(
    "patch",
    [
        through_mock,
        through_update_wrapper,
        through_wraps,
        through_library_wrapper,
        lambda: mock.patch("numpy.mean", len),
    ],
)
def test_a_library_function_replaced_by_library_code_is_found(patch):
    before = audit.snapshot()
    with patch():
        found = libraries(audit.audit(before))
    assert {"torch.allclose", "numpy.mean"} & set(found), found
    assert set(found) <= {"torch.allclose", "numpy.mean", "torch.__wrapped__ (added)"}, found
    assert libraries(audit.audit(before)) == [], "put back, nothing is left"


@pytest.mark.parametrize("name", scripted.NAMES)
def test_the_solutions_and_their_probes_replace_no_library_attribute(name):
    before = audit.snapshot()
    grader = spec.load(scripted.GRADERS / f"{name}.py")
    local.grade(scripted.solution(name), grader, scripted.points(scripted.source(name)))
    assert libraries(audit.audit(before)) == []


def test_a_compiled_model_changes_no_library_function():
    # torch.compile's first run patches nn.Module.__init__ and __setstate__ (torch._dynamo.mutation_guard)
    before = audit.snapshot()
    model = torch.compile(torch.nn.Linear(2, 1), backend="eager")
    model(torch.ones(3, 2))
    assert libraries(audit.audit(before)) == []


def test_a_default_dtype_set_by_the_student_changes_no_library_function():
    before = audit.snapshot()
    torch.set_default_dtype(torch.float64)  # torch rebinds torch.Storage itself
    try:
        assert libraries(audit.audit(before)) == []
    finally:
        torch.set_default_dtype(torch.float32)


def test_a_display_hook_is_found_and_the_grader_sends_past_it(monkeypatch):
    # a hook on ipykernel's display publisher sees, and may rewrite or drop, every message displayed: the audit's
    # report and the probes' results too
    from ipykernel.zmqshell import ZMQDisplayPublisher

    from tools.grading import wire

    shell = types.SimpleNamespace(display_pub=ZMQDisplayPublisher(), user_ns={})
    monkeypatch.setattr(audit, "_shell", lambda: shell)
    before = audit.snapshot()
    forge = lambda message: None  # noqa: E731  (drops every message: the grader's results never leave)
    shell.display_pub.register_hook(forge)
    assert "IPython display publisher: a hook is registered (function)" in audit.audit(before)
    sent = []
    monkeypatch.setattr(wire, "PUBLISHER", shell.display_pub)
    monkeypatch.setattr(wire, "DISPLAY", lambda data, raw: sent.append((data, list(shell.display_pub._hooks))))
    wire.emit("[]")
    assert sent == [({wire.MIME: "[]"}, [])], "the grader's message is sent with no hook in its way"
    assert shell.display_pub._hooks == [forge], "and the hook is put back, for the audit to report"


def _cell_function(name: str):
    """A function as a notebook cell makes it (its code's file is the kernel's, not the Python installation's)."""
    space: dict = {}
    exec(compile(f"def {name}(*args, **kwargs):\n    return None", "/tmp/ipykernel_1/2.py", "exec"), space)
    return space[name]


def _send_hooked(session, stream, kernel):
    session.send = _cell_function("send")  # every message the kernel sends, the grader's results included


def _stream_session_replaced(session, stream, kernel):
    stream.session = types.SimpleNamespace(send=_cell_function("send"))


def _stream_write_replaced(session, stream, kernel):
    stream.write = _cell_function("write")


def _kernel_session_replaced(session, stream, kernel):
    kernel.session = type("Session", (), {"send": _cell_function("send")})()


def _prefix_moved(session, stream, kernel):
    import sys

    sys.prefix = "/tmp"  # the loop watch takes the cells' files (under /tmp) for the installation's


@pytest.mark.parametrize(
    "alter, expected",
    [
        (_send_hooked, "the kernel's message session.send (added)"),
        (_stream_session_replaced, "sys.stdout.session"),
        (_stream_write_replaced, "sys.stdout.write"),
        (_kernel_session_replaced, "the IPython kernel.session"),
        (_prefix_moved, "sys.prefix"),
    ],
)
def test_the_kernels_message_session_and_streams_altered_are_found(alter, expected, monkeypatch):
    # reached as sys.stdout.session (or exit._ip.kernel.session), the session sends every message: a hook on it
    # rewrites the probes' results and the audit's report on their way out
    import sys

    from jupyter_client.session import Session

    session = Session()
    stream = types.SimpleNamespace(session=session, write=print, flush=lambda: None)
    kernel = types.SimpleNamespace(session=session)
    shell = types.SimpleNamespace(kernel=kernel, display_pub=None, user_ns={})
    monkeypatch.setattr(audit, "_shell", lambda: shell)
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setattr(sys, "prefix", sys.prefix)  # put back after the test
    before = audit.snapshot()
    assert expected not in audit.audit(before)
    alter(session, stream, kernel)
    assert expected in audit.audit(before)


def _replace_method(cls, name, method):  # a helper: no name of torch's is assigned where the scan reads it
    setattr(cls, name, method)


@pytest.mark.parametrize(
    "cls, name",
    [
        (torch.nn.Linear, "forward"),
        (torch.nn.MSELoss, "forward"),
        (torch.nn.Sequential, "__iter__"),
        (torch.optim.SGD, "step"),
        (torch.utils.data.TensorDataset, "__getitem__"),
    ],
)
def test_a_method_of_a_torch_class_replaced_is_found(cls, name, monkeypatch):
    # nn.Linear.forward replaced by the notebook: every model's predictions (the grader's reading too) are its
    monkeypatch.setattr(cls, name, vars(cls)[name])  # put back after the test
    before = audit.snapshot()
    _replace_method(cls, name, _cell_function(name))
    found = audit.audit(before)
    assert any(item.endswith(f".{cls.__name__}.{name}") for item in found), found


def test_optimizers_hooking_their_step_change_no_library_class():
    # torch.optim wraps each optimizer class's step on its first instance (and torch.compile disables a few of its
    # methods): torch's own wrappers of the very function, no change
    before = audit.snapshot()
    weight = torch.nn.Parameter(torch.ones(2))
    for kind in vars(torch.optim).values():
        if isinstance(kind, type) and issubclass(kind, torch.optim.Optimizer) and kind is not torch.optim.Optimizer:
            with contextlib.suppress(Exception):
                kind([weight])
    compiled = torch.compile(lambda w: (w * 2).sum(), backend="eager")
    optimizer = torch.optim.Adam([weight])
    compiled(weight).backward()
    optimizer.step()
    assert libraries(audit.audit(before)) == []


def test_the_grader_reads_a_linear_layer_from_its_parameters(monkeypatch):
    # own_predictions: a replaced nn.Linear.forward (a line switched on after training) is not the model's line
    from tools.grading.watch import own_predictions

    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(2.0), model.bias.fill_(-1.0)
    x = torch.linspace(0, 1, 5)[:, None]
    monkeypatch.setattr(torch.nn.Linear, "forward", lambda self, x: 3 + 5 * x)
    lines = own_predictions(model, x)
    assert lines is not None and torch.allclose(lines[0], (2 * x - 1).double())
    steps = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.ReLU())
    assert torch.allclose(own_predictions(steps, x)[0], torch.relu(steps[0].weight * x + steps[0].bias).double())


@pytest.mark.parametrize("layer", [torch.nn.ZeroPad1d, torch.nn.BatchNorm1d, torch.nn.ReflectionPad1d])
def test_a_method_inherited_from_a_private_torch_class_replaced_is_found(layer, monkeypatch):
    # nn.ZeroPad1d's forward is _ConstantPadNd's, a class no namespace of torch.nn holds: replaced there, every
    # ZeroPad1d (the grader's reading of a model's predictions too) ran the notebook's forward, unreported
    base = next(kind for kind in layer.__mro__ if "forward" in vars(kind))
    assert base is not layer and base.__name__.startswith("_")
    monkeypatch.setattr(base, "forward", vars(base)["forward"])  # put back after the test
    before = audit.snapshot()
    _replace_method(base, "forward", _cell_function("forward"))
    assert f"{base.__module__}.{base.__qualname__}.forward" in libraries(audit.audit(before))


def test_a_torch_class_given_other_bases_is_found():
    # __bases__ reassigned: ZeroPad1d takes its forward from a class of the notebook's, its own namespace unchanged
    layer, before = torch.nn.ZeroPad1d, audit.snapshot()
    bases = layer.__bases__
    own = type("Pad", bases, {"forward": _cell_function("forward")})
    try:
        layer.__bases__ = (own,)
        assert "torch.nn.ZeroPad1d.__mro__" in libraries(audit.audit(before))
    finally:
        layer.__bases__ = bases
    assert libraries(audit.audit(before)) == []
