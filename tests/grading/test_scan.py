"""The static scan flags code that alters the kernel or reaches outside it, and leaves honest work alone."""

from __future__ import annotations

import pytest

pytest.importorskip("nbgrader", reason='the grading tests need nbgrader: pip install -e ".[teach]"')

from tests.grading import scripted  # noqa: E402
from tests.grading.test_scan_hidden import HONEST as HIDDEN_HONEST  # noqa: E402
from tools.grading import aliases, scan, wire  # noqa: E402

MODULES = {"torch", "nn", "np", "course", "DataLoader"}
ATTACKS = {
    "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass'])": "kernel",
    "import IPython\nIPython.get_ipython().events.register('post_run_cell', print)": "kernel",
    "%load_ext my_extension": "kernel",
    "!cat ../../source/*/*.ipynb": "process",
    "import builtins\nbuiltins.print = lambda *a: None": "builtins",
    "__builtins__['len'] = lambda x: 3": "builtins",
    "import sys\nsys.modules['torch'] = None": "import_system",
    "import sys\nsys.path.insert(0, '/tmp')": "import_system",
    "import importlib; importlib.reload(torch)": "import_system",
    "torch.allclose = lambda *a, **k: True": "monkeypatch",
    "nn.Module.eval = lambda self: self": "monkeypatch",
    "setattr(np, 'allclose', lambda *a, **k: True)": "monkeypatch",
    "text = open('/etc/passwd').read()": "filesystem",
    "import os\nos.remove('gradebook.db')": "filesystem",
    "from pathlib import Path\nPath('x').write_text('y')": "filesystem",
    "import shutil; shutil.rmtree('..')": "filesystem",
    "import subprocess; subprocess.run(['ls'])": "process",
    "import os; os.system('ls')": "process",
    "import threading": "process",
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)": "kernel",
    "import ctypes": "process",
    "import socket": "network",
    "from urllib.request import urlopen": "network",
    "exec('x = 1')": "dynamic_code",
    "eval('1')": "dynamic_code",
    "m = __import__('o' + 's')": "dynamic_code",
    "import pickle": "dynamic_code",
    "g = globals()": "introspection",
    "f = (lambda: 0).__globals__": "introspection",
    "subclasses = ().__class__.__base__.__subclasses__()": "introspection",
    "import inspect": "introspection",
    "import sys; frame = sys._getframe(1)": "introspection",
    "import sys; sys.stdout = None": "kernel",
    "__grading__['run_probe'] = None": "kernel",
    "import __grading__ as g\ng.auditor.NOTED.clear()": "kernel",  # the grader's own module (more: test_probe_calls)
    # the same attacks under another name: aliases, names assigned a module, names computed at run time
    "import os as o\no.system('ls')": "process",
    "import sys as s\ns.modules['torch'] = None": "import_system",
    "import os\np = os\nq = p\nq.unlink('gradebook.db')": "filesystem",
    "import sys\nx, y = sys, 1\nx.path.append('/tmp')": "import_system",
    "m = torch.nn\nm.Module.eval = lambda self: self": "monkeypatch",
    "import torch as t\nt.allclose = lambda *a, **k: True": "monkeypatch",
    "from numpy import testing as tt\ntt.assert_allclose = print": "monkeypatch",
    "from torch import nn as layers\nsetattr(layers.Module, 'eval', print)": "monkeypatch",
    "import os\ngetattr(os, 'remove')('gradebook.db')": "filesystem",
    "import os\nrun = getattr(os, 'sys' + 'tem')": "introspection",
    "torch.os.system('ls')": "process",  # modules that other modules imported are attributes of them
    "np.sys.modules['torch'] = None": "import_system",
    "torch.multiprocessing.Process(target=print).start()": "process",
    "import os.path as osp\nosp.os.remove('gradebook.db')": "filesystem",
    # names built from strings at run time, whatever they are looked up on
    "T = type(torch.zeros(1))\nsetattr(T, '__e' + 'q__', lambda *a: True)": "introspection",
    "setattr([torch][0], 'all' + 'close', print)": "introspection",
    "b = getattr(torch, '__buil' + 'tins__')": "introspection",
    "g = getattr(to_column, '__globals__')": "introspection",
    "import functools\nfunctools.reduce(getattr, ['__globals__'], print)": "introspection",
    "def to_column(values):\n    if 'probe' in In[-1]:\n        return None": "kernel",
    "source = _ih[-1]": "kernel",
    "def train_step(model, loss_fn, optimizer, x, y):\n    return course.training.make_train_step(model, loss_fn, optimizer)(x, y)": "course_answer",
    "from course.training import fit": "course_answer",
    "from course.training import evaluate as mine": "course_answer",
    "import course.training as t": "course_answer",
    "trainer = course.training\nmodel = trainer.fit": "course_answer",
    "answer = course.checks.autograd.gradients.reference": "course_answer",
    "x = course.data.standardize(x)": "course_answer",
    "import pydoc\nstep = pydoc.locate('course.training.make_train_step')": "course_answer",
    "trainer = getattr(course, 'training')": "course_answer",
    "fit = (lambda: course)().training.fit": "course_answer",
    "fit = [course][0].training.fit": "course_answer",
    "if (package := course):\n    pass": "course_answer",
    "def train(c=course):\n    return c.training.fit": "course_answer",
    "for package in [course]:\n    pass": "course_answer",
    "import pydoc": "import_system",
    # a function's own variables are its own, but not a name it imports or declares global, nor a nested one's
    "def f():\n    course = 0\n    import course\n    return course.training.fit": "course_answer",
    "def f():\n    global course\n    course = 1\n    return course.training.fit": "course_answer",
    "def f():\n    def g():\n        course = 1\n    return course.training.fit": "course_answer",
    "def f(course=course):\n    return 1": "course_answer",
    "f = lambda c: c.training.fit\nf(course)": "course_answer",
    "course = 1\nimport course\nfit = course.training.fit": "course_answer",
    "names = [x for x in course.training.__all__]": "course_answer",
    # a module reached through another, by attribute, getattr or import: bound to a name the scan cannot follow
    '_json = getattr(torch.hub, "json")\n_json.dumps = print': "kernel",
    "j = torch.hub.json\nj.dumps = print": "kernel",
    "from torch.hub import json": "kernel",
    '_s = getattr(torch, "sys")\n_s.settrace = lambda f: None': "kernel",
    'getattr(torch, "os").system("ls")': "filesystem",
    "import torch.multiprocessing as tmp\np = tmp.Process(target=print)": "process",
    "from torch import multiprocessing": "process",
    "import faulthandler\nfaulthandler.enable()": "kernel",
    # getattr by another name: operator's getters, judged by the names they are given
    'import operator, sys\ndef f():\n    operator.attrgetter("setprofile")(sys)(None)': "kernel",
    'from operator import methodcaller\nmethodcaller("settrace", None)(sys)': "kernel",
    'import operator\noperator.attrgetter("hub.json")(torch)': "kernel",
    'import operator\nname = "set" + "trace"\ng = operator.attrgetter(name)': "introspection",
    "import operator\ngetters = list(map(operator.attrgetter, names))": "introspection",
    'import operator\ng = operator.attrgetter("__globals__")': "introspection",
    # file I/O through NumPy and torch
    "t = np.fromfile('/etc/passwd', dtype=np.uint8)": "filesystem",
    "np.savetxt('/tmp/work/torch.py', [], header='print(1)', comments='')": "filesystem",
    "x = np.load('x.npy')": "filesystem",
    "torch.save(model, 'model.pt')": "filesystem",
    "model = torch.load('model.pt')": "filesystem",
    "x.numpy().tofile('values.bin')": "filesystem",
    "a = np.memmap('f', mode='w+', shape=(3,))": "filesystem",
    "from numpy import savetxt": "filesystem",
    "getattr(torch, 'save')(x, 'f')": "filesystem",
    # an object's type swapped, torch's private machinery (hooks, the autograd engine, the C bindings)
    "def f(x):\n    x.__class__ = Keep": "monkeypatch",
    "hooks = list(model._forward_hooks.values())": "introspection",
    "model._forward_pre_hooks.clear()": "introspection",
    "g = torch.autograd.Variable._execution_engine.run_backward((loss,), None, False, False, (a,), False)": (
        "introspection"
    ),
    "with torch._C.DisableTorchFunction():\n    pass": "introspection",
    "h = getattr(model, '_forward_hooks')": "introspection",
    # IPython's history read where the student has not bound the name (conditionally bound, a loop that never ran)
    "if False:\n    In = 1\nsource = In[-1]": "kernel",
    "for _i in range(0):\n    pass\nsource = _i": "kernel",
    "def f():\n    return _ih[-1]": "kernel",
    "x = _1\n_1 = 3": "kernel",
    "In += ['pass']": "kernel",
    # IPython.display beyond its output helpers, types beyond SimpleNamespace, traceback beyond printing
    "from IPython.display import Javascript": "kernel",
    "import IPython.display\nIPython.display.clear_output()": "kernel",
    "import IPython.display as ipd\nipd.Javascript('x')": "kernel",
    "from IPython.display import *": "kernel",
    "import types\nf = types.FunctionType(code, {})": "dynamic_code",
    "from types import FunctionType": "dynamic_code",
    "import types as t\nm = t.ModuleType('x')": "dynamic_code",
    "import types\nkinds = [types]": "dynamic_code",
    "import traceback\nframes = traceback.walk_stack(None)": "introspection",
    "import traceback\nstack = traceback.extract_stack()": "introspection",
    "from traceback import walk_stack": "introspection",
    "import traceback as tb\ng = getattr(tb, 'walk_stack')": "introspection",
    # star imports hide the names the scan judges
    "from sys import *\nsettrace(None)": "kernel",
    "from sys import *\nsetprofile(getprofile())": "kernel",
    "from numpy import *\nsecret = fromfile('/proc/self/cmdline', dtype=uint8)": "filesystem",
    "from torch import *\nsave(x, 'f')": "filesystem",
    "from os import *": "filesystem",
    "from builtins import *": "builtins",
    "from io import *": "filesystem",
    "from importlib import *": "import_system",
    "from operator import *": "introspection",
    "from torch.nn import *\nModule.eval = print": "introspection",
    # TorchScript runs Python-level work (loops, autograd) out of the probes' sight; the profiler takes the hook
    "@torch.jit.script\ndef f(x: torch.Tensor):\n    return x": "dynamic_code",
    "f = torch.jit.trace(model, x)": "dynamic_code",
    "from torch.jit import script": "dynamic_code",
    "from torch import jit": "dynamic_code",
    "import torch.jit": "dynamic_code",
    "from numba import njit": "dynamic_code",
    "with torch.profiler.profile(with_stack=True):\n    pass": "kernel",
    "from torch.profiler import profile": "kernel",
    "with torch.autograd.profiler.profile():\n    pass": "kernel",
    "import cProfile": "kernel",
    # DataLoader workers: code in another process, out of the kernel's watch
    "loader = DataLoader(data, batch_size=None, num_workers=1)": "process",
    "loader = torch.utils.data.DataLoader(data, num_workers=n)": "process",
    "make = DataLoader\nloader = make(data, num_workers=2)": "process",
    "options = {'num_workers': 2}\nloader = DataLoader(data, **options)": "process",
    "loader = DataLoader(data, 1, False, None, None, 2)": "process",
    "options = dict(zip(['num_' + 'workers'], [2]))\nloader = torch.utils.data.DataLoader(data, **options)": "process",
    "loader = DataLoader(*[data, 1, False, None, None, 2])": "process",
    "train_loader.num_workers = 2": "process",
    # unittest.mock and functools' setattr by another name: library code replaces a library function
    "from unittest import mock\nmock.patch.object(torch, 'allclose', mock.MagicMock(return_value=True)).start()": (
        "monkeypatch"
    ),
    "import unittest.mock\nunittest.mock.patch('torch.allclose', len).start()": "monkeypatch",
    "import unittest\nunittest.mock.patch('torch.allclose').start()": "monkeypatch",
    "from unittest.mock import patch": "monkeypatch",
    "import mock": "monkeypatch",
    "import functools, types\nfunctools.update_wrapper(torch, types.SimpleNamespace(allclose=len), ('allclose',), ())": (
        "monkeypatch"
    ),
    "from functools import update_wrapper": "monkeypatch",
    "setattr(train_loader, 'num_workers', 2)": "process",
}


@pytest.mark.parametrize("code, category", ATTACKS.items(), ids=list(ATTACKS))
def test_tampering_is_flagged(code, category):
    found = scan.scan_cell(code, "to_column", MODULES)
    assert category in {f.category for f in found}, found


HONEST = [
    "import functools\ndef logged(fn):\n    @functools.wraps(fn)\n    def inner(*a):\n        return fn(*a)\n    return inner",
    "%matplotlib inline\n%time x = torch.ones(3)",
    "import warnings\nwarnings.warn('careful')",
    "import sys\nprint('to stderr', file=sys.stderr)",
    "import os\nprint(os.path.join('a', 'b'), os.cpu_count())",
    "import math, random, itertools, functools, collections",
    "import functools\nscale = functools.partial(torch.mul, 2)\ntotal = functools.reduce(max, [1, 2])",
    "model = nn.Linear(2, 1)\nmodel.weight.data = torch.zeros(1, 2)\nhistory = []\nhistory.append(1.0)",
    "def standardize(x):\n    result = x.clone()\n    result[:, 0] = 0\n    return result",
    "from torch.utils.data import TensorDataset\nname = type(3).__name__",
    "while True:\n    try:\n        break\n    except:\n        pass",
    "x = torch.ones(3)\nx[0] = 1\nw = np.pi\nw += 1",  # a value taken from a module is not the module
    "model = nn.Linear(2, 1)\nweight = getattr(model, 'weight')",
    "if hasattr(torch, 'compile'):\n    pass\nmodel = getattr(nn, 'ReLU', None)",
    "for _ in range(3):\n    _x1 = 2",
    "course.seed_everything(0)\ndevice = course.get_device()\nx, y = course.data.make_linear_data(10)",
    "from course.plots import plot_losses\nfig = course.plots.plot_curves({'a': [1.0]})\ncourse.doctor()",
    "from course.data import make_linear_data\nfrom course import seed_everything",
    "values = course.to_numpy(torch.ones(2))\ntext = 'course.training is what lesson 09 builds'",
    # the student's own names that happen to be the package's: parameters, locals, loop and comprehension names
    "def describe(course, training=None):\n    return course.training if training is None else training",
    "def best(scores):\n    for course in scores:\n        course.training = 1\n    return course.training",
    "def f(x):\n    course = x * 2\n    with open_it() as (course, other):\n        pass\n    return course",
    "grades = {course: len(course.training) for course in catalogue}\nlabel = lambda course: course.upper()",
    "course = 'PyTorch from first principles'\ntitle = course.upper()",
    # modules' own functions that share a name with a standard module, JSON, operator's getters on data
    "import json\ntext = json.dumps({'a': 1})",
    "import operator\npairs = sorted([(1, 2)], key=operator.itemgetter(1))\nweights = operator.attrgetter('weight')",
    "np.random.seed(0)\nr = np.random.default_rng(0).random(3)\ntorch.random.manual_seed(0)",
    "t = torch.trace(torch.eye(2))\nu = np.array([1]).copy()\nv = torch.select(torch.ones(2, 2), 0, 1)",
    "state = model.state_dict()\nmodel.load_state_dict(state)\nname = model.__class__.__name__",
    "from torch.utils.data import DataLoader, TensorDataset\nimport torch.nn.functional as F\nimport os.path",
    "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.__hidden = 1",
    # names the student binds are theirs, not IPython's history
    "def fit(x, epochs):\n    for _i in range(epochs):\n        x = x + 1\n    return x",
    "In, Out = 30, 1\nmodel = nn.Linear(In, Out)",
    "_1 = 3\nprint(_1)",
    "for _i in range(3):\n    print(_i)",
    "scores = [_i * 2 for _i in range(3)]",
    # harmless helpers of modules that are otherwise flagged
    "from IPython.display import clear_output, display, HTML, Markdown, Image\nclear_output(wait=True)",
    "import IPython.display as ipd\nipd.display(ipd.Markdown('**done**'))",
    "from types import SimpleNamespace\ncfg = SimpleNamespace(lr=0.1)",
    "import types\ncfg = types.SimpleNamespace(lr=0.1)\nfrozen = types.MappingProxyType({})",
    "import traceback\ntry:\n    1 / 0\nexcept Exception:\n    traceback.print_exc()\n    text = traceback.format_exc()",
    "from traceback import print_exc, format_exc, print_exception",
    "from math import *\nr = sqrt(2) * pi",
    "loader = DataLoader(data, batch_size=8, shuffle=True, num_workers=0)",
    "loader = DataLoader(data, batch_size=8, shuffle=True)\nbatch = dict(x=1)\nout = f(*[1], **batch)",
]


@pytest.mark.parametrize("code", HONEST + HIDDEN_HONEST)  # the hidden-code cases' honest forms too
def test_honest_code_is_not_flagged(code):
    assert scan.scan_cell(code, "cell", MODULES) == []


@pytest.mark.parametrize("name", scripted.NAMES)
def test_solutions_and_honest_scripts_are_clean(name):
    for nb in [scripted.solution(name)] + [s.notebook() for s in scripted.scripts(name) if not s.flagged]:
        codes = [c.source for c in nb.cells if c.cell_type == "code"]
        modules = aliases.imported_names(codes)
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                assert scan.scan_cell(cell.source, "x", modules) == [], cell.source


@pytest.mark.parametrize("name", scripted.NAMES)
def test_what_the_released_notebooks_use_from_the_course_is_given(name):
    released = scripted.released(name)
    codes = [c.source for c in released.cells if c.cell_type == "code"]
    modules = aliases.imported_names(codes)
    found = [f for code in codes for f in scan.scan_cell(code, "x", modules) if f.category == "course_answer"]
    assert found == [], f"{name} hands out {found}: add it to tools.grading.flagged.COURSE_GIVEN if it answers no task"


def test_every_flag_a_script_expects_is_found():
    for script in scripted.scripts():
        nb = script.notebook({"@COURSE@": "/course", "@PORT@": "1"})
        codes = [c.source for c in nb.cells if c.cell_type == "code"]
        modules = aliases.imported_names(codes)
        found: set[str] = set()
        for cell in (c for c in nb.cells if c.cell_type == "code"):  # a cell that does not parse: after a flag
            found |= {f.category for f in scan.scan_cell(cell.source, "x", modules, after=bool(found))}
        expected = {flag for flag in script.flagged if flag not in ("audit_missing", "kernel_altered", "forged_result")}
        assert expected <= found, f"{script.assignment}/{script.name}: {expected - found} not found"


def test_the_wire_carries_data_only():
    import torch

    value = (torch.ones(2, 3), torch.empty(2, device="meta"), [1, 2.5, "x", None], {"k": True}, object())
    back = wire.loads(__import__("json").dumps(wire.encode(value)))
    assert torch.equal(back[0], value[0]) and back[1].device.type == "meta" and back[2] == [1, 2.5, "x", None]
    assert back[3] == {"k": True} and isinstance(back[4], wire.Opaque)
    forged = '{"__tensor__": {"dtype": "os.system", "shape": [1], "values": [1]}}'
    assert isinstance(wire.loads(forged), wire.Opaque), "only known dtypes are read"
