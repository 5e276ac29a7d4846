"""What a notebook can leave behind that runs later, out of the probes' watches: a torch mode entered by hand (it sees
every later torch call, the grader's reading of the results too), nn.Module's global hooks, the grad mode, saved-tensor
hooks, a thread still running. The audit finds each and nothing once it is undone; the probes set the modes aside and
encode their results with torch's dispatch off; the scan flags the code that leaves them."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import sys
import sysconfig
import textwrap
import threading
import types

import pytest

pytest.importorskip("nbgrader", reason='the grading tests need nbgrader: pip install -e ".[teach]"')
import torch  # noqa: E402
from torch.overrides import TorchFunctionMode  # noqa: E402
from torch.utils._device import DeviceContext  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from tools.grading import audit, audit_state, sandbox, scan, wire  # noqa: E402
from tools.grading.watch import as_written, settled  # noqa: E402

TORCH_ITEMS = ("torch", "thread")  # what the audit's lines about these start with


class Later(TorchFunctionMode):  # the reviewer's: rewrites what the grader reads once its watch is over
    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        return [42.0] * len(out) if func is torch.Tensor.tolist and isinstance(out, list) else out


class Dispatched(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def entered(make):
    def do():
        context = make()
        context.__enter__()
        return lambda: context.__exit__(None, None, None)

    return do


def registered(register):
    return lambda: register(lambda *args: None).remove


def grad_off():
    torch.set_grad_enabled(False)
    return lambda: torch.set_grad_enabled(True)


def cell_thread():  # a thread a notebook cell starts, still waiting when the cells are over
    space: dict = {"threading": threading}
    source = "def start():\n    done = threading.Event()\n    thread = threading.Thread(target=done.wait)\n"
    exec(compile(source + "    thread.start()\n    return done, thread", "/tmp/ipykernel_1/3.py", "exec"), space)
    done, thread = space["start"]()

    def undo():
        done.set()
        thread.join()

    return undo


def forged_device(on_class=False):  # review 11: torch's own DeviceContext given a __torch_function__ of the notebook's
    torch.set_default_device("cpu")
    ctx, real = torch._GLOBAL_DEVICE_CONTEXT.device_context, DeviceContext.__torch_function__
    if on_class:
        DeviceContext.__torch_function__ = Later.__torch_function__
    else:  # an instance's: functools.wraps(...)(ctx) is update_wrapper, which copies the __dict__
        functools.wraps(types.SimpleNamespace(__torch_function__=types.MethodType(Later.__torch_function__, ctx)))(ctx)
    return lambda: (torch.set_default_device(None), setattr(DeviceContext, "__torch_function__", real))


module = torch.nn.modules.module
LEFT = {
    "torch's DeviceContext given a __torch_function__": (forged_device, "torch's DeviceContext"),
    "DeviceContext's class given a __torch_function__": (lambda: forged_device(True), "torch's DeviceContext"),
    "a TorchFunctionMode entered by hand": (entered(Later), "torch function mode left active (Later)"),
    "a TorchDispatchMode entered by hand": (entered(Dispatched), "torch dispatch mode left active (Dispatched)"),
    "a global forward pre-hook": (registered(module.register_module_forward_pre_hook), "_global_forward_pre_hooks"),
    "a global forward hook": (registered(module.register_module_forward_hook), "_global_forward_hooks"),
    "a global backward hook": (registered(module.register_module_full_backward_hook), "_global_backward_hooks"),
    "the grad mode switched off": (grad_off, "torch's grad mode"),
    "inference mode entered by hand": (entered(torch.inference_mode), "torch's inference mode"),
    "saved-tensor hooks entered by hand": (
        entered(lambda: torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t)),
        "saved-tensor hooks",
    ),
    "a thread still running": (cell_thread, "thread started by the notebook's code is still running"),
}


@pytest.mark.parametrize("do, expected", LEFT.values(), ids=list(LEFT))
def test_what_the_cells_leave_active_is_found_and_nothing_once_undone(do, expected):
    before = audit.snapshot()
    undo = do()
    try:
        found = audit.audit(before)
    finally:
        undo()
    assert any(expected in item for item in found), found
    assert [item for item in audit.audit(before) if item.startswith(TORCH_ITEMS)] == []


PACKAGES = sysconfig.get_paths()["purelib"]


@pytest.mark.parametrize(
    "where, flagged",
    [
        (f"{PACKAGES}/zmq/utils/garbage.py", False),  # the kernel's own (pyzmq's garbage collector, started lazily)
        (f"{PACKAGES}/tqdm/_monitor.py", True),  # a library's: tqdm's monitor thread reads the student's bars
        ("/tmp/ipykernel_1/3.py", True),  # a cell's
    ],
)
def test_a_thread_left_running_is_judged_by_the_code_it_runs(where, flagged):
    space: dict = {"threading": threading}
    exec(compile("def run(done):\n    done.wait()", where, "exec"), space)
    before, done = audit.snapshot(), threading.Event()
    thread = threading.Thread(target=space["run"], args=(done,))
    thread.start()
    try:
        found = [item for item in audit.audit(before) if item.startswith("thread")]
    finally:
        done.set()
        thread.join()
    assert bool(found) == flagged, found


def test_a_default_device_is_no_mode_left():
    before = audit.snapshot()
    torch.set_default_device("cpu")  # torch's own DeviceContext, a function mode: honest
    try:
        assert [item for item in audit.audit(before) if item.startswith(TORCH_ITEMS)] == []
    finally:
        torch.set_default_device(None)


def test_a_probe_that_sets_the_default_device_itself_runs_again_and_again():  # review 10b: no nested DeviceContext
    probe = "def p(inputs, ns):\n    return ns['f']()\n"
    torch.set_default_device("cpu")
    try:
        for _ in range(3):
            out = json.loads(wire.run_probe("p", probe, "{}", {"f": lambda: (torch.set_default_device("cpu"), 1)[1]}))
            assert out.get("ok"), out
    finally:
        torch.set_default_device(None)


PROBE = "def p(inputs, ns):\n    import torch\n    return torch.ones(3)"
ENTERING = "def p(inputs, ns):\n    ns['mode'].__enter__()\n    return ns['make']()"  # the student's code enters it


def test_a_probe_sets_the_modes_left_aside_and_puts_them_back():
    mode = Later()
    mode.__enter__()
    try:
        text = wire.run_probe("p", PROBE, "{}", {})
        assert torch._C._len_torch_function_stack() == 1 and torch._C._get_function_stack_at(0) is mode
    finally:
        mode.__exit__(None, None, None)
    assert wire.decode(json.loads(text)["value"]).tolist() == [1.0, 1.0, 1.0], "the mode left never ran in the probe"


def test_a_mode_entered_in_a_probe_does_not_run_when_its_result_is_encoded():
    mode = Later()
    try:
        text = wire.run_probe("p", ENTERING, "{}", {"mode": mode, "make": lambda: torch.ones(2)})
        assert torch._C._len_torch_function_stack() == 1, "left active, for the audit to report"
    finally:
        while torch._C._len_torch_function_stack():
            torch._C._pop_torch_function_stack()
    assert wire.decode(json.loads(text)["value"]).tolist() == [1.0, 1.0]


def test_the_sandbox_compiles_in_the_kernels_own_thread():
    # torch.compile's compile pool and the tqdm monitor of its progress bar would be threads left running
    assert sandbox.environment("/tmp/home")["TORCHINDUCTOR_COMPILE_THREADS"] == "1"


MODULES = {"torch", "nn", "np"}
ATTACKS = {
    "from torch.overrides import TorchFunctionMode\nclass M(TorchFunctionMode):\n    pass",
    "import torch.utils._python_dispatch as d\nclass M(d.TorchDispatchMode):\n    pass",
    "class M(torch.overrides.TorchFunctionMode):\n    pass",
    "m = make()\nm.__enter__()",
    "torch.no_grad().__exit__(None, None, None)",
    "with torch.overrides._pop_mode_temporarily():\n    pass",
    "import torch.overrides as o\nmode = o._pop_mode()",
    "from torch.overrides import _pop_mode_temporarily",
    "from torch.overrides import _get_current_function_mode_stack as stack",
    "from torch import _C",
    "modes = torch.utils._python_dispatch._get_current_dispatch_mode_stack()",
    "torch.nn.modules.module.register_module_forward_pre_hook(lambda m, i: None)",
    "from torch.nn.modules.module import register_module_full_backward_hook",
    "nn.modules.register_module_forward_hook(hook)",
}


@pytest.mark.parametrize("code", sorted(ATTACKS))
def test_modes_global_hooks_and_contexts_entered_by_hand_are_flagged(code):
    assert "introspection" in {f.category for f in scan.scan_cell(code, "cell", MODULES)}


HONEST = [
    "with torch.no_grad():\n    y = model(x)\nwith torch.enable_grad(), torch.inference_mode(False):\n    pass",
    "torch.set_default_device('cpu')\ntorch.set_grad_enabled(True)",
    "class Timer:\n    def __enter__(self):\n        return self\n    def __exit__(self, *exc):\n        return False",
    "from tqdm import tqdm\nfor epoch in tqdm(range(3)):\n    pass",
    "model.register_forward_hook(print)\nhandle = model.register_forward_pre_hook(print)",
    # review 10b: a context manager that delegates to the one it wraps, by attribute or by super()
    "class Evaluating:\n    def __enter__(self):\n        return self.inner.__enter__()\n"
    "    def __exit__(self, *exc):\n        return self.inner.__exit__(*exc)",
    "class Counted(torch.no_grad):\n    def __enter__(self):\n        return super().__enter__()",
]


@pytest.mark.parametrize("code", HONEST)
def test_honest_contexts_and_hooks_are_not_flagged(code):
    assert scan.scan_cell(code, "cell", MODULES) == []


@pytest.fixture
def auditor(monkeypatch):  # as in the kernel (jobs.PRE): one module of audit_state's and audit's source, which the
    module = types.ModuleType("__grading_audit__")  # probes' helpers reach through __grading__
    for source in (audit_state, audit):
        exec(compile(inspect.getsource(source), "<grader audit>", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, "__grading__", types.SimpleNamespace(auditor=module))
    yield module
    torch.set_default_device(None)
    while torch._C._len_torch_function_stack():
        torch._C._pop_torch_function_stack()


def popping(back=True):  # review 11: the mode on top (the grader's watch) popped by an ExitStack, a dummy pushed back
    torch.set_default_device("cpu")  # (with no dummy, the watch's exit pops torch's DeviceContext instead)
    with contextlib.ExitStack() as off:  # its exit pops whatever mode is on top
        off.push(TorchFunctionMode())
    value = torch.ones(2).tolist()  # (read before the dummy, which answers no torch call)
    if back:
        contextlib.ExitStack().enter_context(TorchFunctionMode())
    return value


def between_calls(stacks=[]):  # noqa: B006  review 11: a mode entered at the end of one call, closed in the next
    while stacks:
        stacks.pop().close()
    stacks.append(contextlib.ExitStack())
    stacks[-1].enter_context(type("Swap", (Later,), {})())
    return torch.ones(2)


def in_device_block():
    with torch.device("cpu"):
        return torch.ones(2)


def p(inputs, ns):  # shipped as a probe, with the helpers, as a grader ships it
    class Watch(TorchFunctionMode):  # the grader's own mode, as 02's
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    found = []
    for _ in range(3):
        with as_written(), Watch():
            found.append(settled(ns["f"]()))
    return found


WATCHED = "from torch.overrides import TorchFunctionMode\n"
WATCHED += "\n".join(textwrap.dedent(inspect.getsource(f)) for f in (settled, as_written, p))
CALLS = {  # the student's function, and whether it changes torch's modes (the honest ones, as h_*.txt of review 11)
    "popped": (popping, True),
    "popped, none back": (functools.partial(popping, False), True),
    "between calls": (between_calls, True),
    "forged": (lambda: (forged_device(), torch.ones(2))[1], True),
    "default device": (lambda: (torch.set_default_device("cpu"), torch.ones(2))[1], False),
    "device block": (in_device_block, False),
    "device block, default device": (lambda: (torch.set_default_device("cpu"), in_device_block())[1], False),
    "no_grad, inference_mode": (torch.no_grad()(torch.inference_mode()(lambda: torch.ones(2) * 2)), False),
}


@pytest.mark.parametrize("student, changes", CALLS.values(), ids=list(CALLS))
def test_a_mode_a_watched_call_changes_is_flagged_and_its_result_not_read(auditor, student, changes):
    before = auditor.snapshot()
    result = json.loads(wire.run_probe("p", WATCHED, "{}", {"f": student}))
    found = [item for item in auditor.audit(before) if item.startswith("torch")]
    assert result["ok"] is not changes and "mode" in result.get("error", "mode"), result
    assert any("during a call" in item or "DeviceContext" in item for item in found) if changes else not found, found
