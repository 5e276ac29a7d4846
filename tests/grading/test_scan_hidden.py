"""Code the scan once could not read: the code the timing magics run, cells it cannot parse, and the modules that run
a function in other threads or processes, out of the probes' hooks."""

from __future__ import annotations

import pytest

pytest.importorskip("nbgrader", reason='the grading tests need nbgrader: pip install -e ".[teach]"')

from tools.grading import scan  # noqa: E402

MODULES = {"torch", "nn", "np", "course", "DataLoader"}
HIDDEN = {
    # IPython hands the body of %%time (or the line of %time, %timeit, the setup of %%timeit) to the magic as a
    # string, run in the notebook's namespace
    "%%time\nimport sys\n\ndef f():\n    sys.settrace(None)": ("kernel", 5),
    "%time sys.setprofile(None)": ("kernel", 1),
    "%timeit -n1 -r1 g = standardize.__globals__": ("introspection", 1),
    "%%timeit -n1 import sys\nsys.settrace(None)": ("kernel", 2),
    "%%timeit -n1 -r1 sys.setprofile(None)\nx = 1": ("kernel", 1),
    "%%time\nget_ipython().display_pub.register_hook(print)": ("kernel", 2),
    "%%time\ntorch.allclose = lambda *a, **k: True": ("monkeypatch", 2),
    "%%time\n%time import threading": ("process", 2),
    "%%time\n\n\nimport os\nos.system('ls')": ("process", 5),
    "from __future__ import barry_as_FLUFL\n%time 1 <> 0": ("unparsed", 2),  # the same cell's flag comes first
    "get_ipython().run_cell_magic('time', '', code)": ("kernel", 1),
    "from __future__ import barry_as_FLUFL": ("kernel", 1),  # later cells that do not parse may run
    # the allowed magics other than time/timeit expand {code} and $names in their line (IPython's var_expand)
    "%xmode {get_ipython().user_ns.update(quiet=__import__('sys').settrace) or 'Context'}": ("kernel", 1),
    "%precision $digits": ("kernel", 1),
    "%pprint {print(1)}": ("kernel", 1),
    "%matplotlib {backend}": ("kernel", 1),
    "x = 1\nget_ipython().run_line_magic('xmode', mode)": ("kernel", 2),
    # code the timeit module runs, given as text: scanned as the cell's own; text the scan cannot read
    "import timeit\ntimeit.timeit(\"__import__('sys').settrace(None)\", number=1)": ("dynamic_code", 2),
    "import timeit\nt = timeit.repeat('x', setup='import sys; sys.setprofile(None)')": ("kernel", 2),
    "from timeit import Timer\nt = Timer(stmt='import os; os.system(\"ls\")')": ("process", 2),
    "import timeit\ntimeit.timeit(code, number=1)": ("dynamic_code", 2),
    "import timeit\ntimeit.timeit('pass', setup=f'{a}', number=1)": ("dynamic_code", 2),
    "import timeit\ntimeit.main(['-n', '1', 'import sys'])": ("dynamic_code", 2),
    # threads and processes: joblib (scikit-learn's), its names reached through scikit-learn, parallel jobs
    "from joblib import Parallel, delayed": ("process", 1),
    "import joblib": ("process", 1),
    "from sklearn.utils.parallel import Parallel": ("process", 1),
    "from sklearn.utils import parallel": ("process", 1),
    "import sklearn\np = sklearn.utils.parallel.Parallel": ("process", 2),
    "from sklearn.model_selection._validation import Parallel": ("process", 1),
    "import sklearn.utils.validation as v\nv.joblib.Parallel(n_jobs=2)": ("process", 2),
    "from sklearn.model_selection import cross_val_score\ns = cross_val_score(m, x, y, n_jobs=2)": ("process", 2),
    "from scipy.optimize import differential_evolution\nr = differential_evolution(f, b, workers=-1)": ("process", 2),
    "options = {'n_jobs': 4}": ("process", 1),
    "from tqdm.contrib.concurrent import thread_map": ("process", 1),
    "import anyio": ("process", 1),
    "import tornado.ioloop": ("process", 1),
    "import psutil": ("process", 1),
    "import pexpect": ("process", 1),
    "from logging.handlers import QueueListener": ("process", 1),
    "import logging.config": ("network", 1),
    "import socketserver": ("network", 1),
    # tracers take the probes' hook over
    "import trace": ("kernel", 1),
    "import coverage": ("kernel", 1),
    "import debugpy": ("kernel", 1),
    # the kernel's message session (it sends every result out of the kernel), reached through the output streams
    # or IPython's exit/quit (``exit._ip`` is the shell): only the streams' write and flush are for students
    "import sys\n_session = sys.stdout.session": ("kernel", 2),
    "import sys\n\nsys.stdout.session.send = print": ("kernel", 3),
    "from sys import stderr\nstderr.pub_thread.schedule(print)": ("kernel", 2),
    "import sys\nout = sys.stdout\nout.session.send = print": ("kernel", 3),
    'import sys\nsession = getattr(sys.stderr, "session")': ("kernel", 2),
    "import sys\nsys.stdout.write = print": ("kernel", 2),
    "shell = exit._ip": ("kernel", 1),
    "x = 1\nkernel = quit._ip.kernel": ("kernel", 2),
    "leave = [exit]": ("kernel", 1),
    "import sys\ndef hook(out):\n    out.session.send = print\nhook(sys.stdout)": ("kernel", 3),
    "import sys\nsys.stdout\n_.session.send = print": ("kernel", 3),  # the last output, IPython's _
    "import operator, sys\nsession = operator.attrgetter('session')([sys.stderr][0])": ("kernel", 2),
    # a module passed to a function, or kept as a value: its members are reached through a name the scan does not
    # follow, so the module used as a value is flagged, and the dangerous members whatever they are reached from
    "import os\ndef run(o, command):\n    return o.system(command)\nrun(os, 'id')": ("process", 3),
    "def run(o, command):\n    return o.system(command)": ("process", 2),
    "import os\ndef listing(o):\n    return o.listdir('/')\nlisting(os)": ("filesystem", 4),
    "import sys\ndef hook(s):\n    return s.getprofile(), s.setprofile\nhook(sys)": ("kernel", 3),
    "def hook(s, work):\n    list(map(s.setprofile, [None]))": ("kernel", 2),
    "import sys\ndef _set(where, value):\n    where.prefix = value\n_set(sys, '/tmp')": ("kernel", 4),
    "def _set(where, value):\n    where.prefix = value": ("kernel", 2),
    "def patch(module, value):\n    module.allclose = value": ("monkeypatch", 2),
    "def patch(module, value):\n    module.allclose = value\npatch(torch, print)": ("monkeypatch", 3),
    "import os\ndef run(command, o=os):\n    return o.popen(command)": ("filesystem", 2),
    "import sys\nmodules = [sys][0].modules": ("kernel", 2),
    "import json\ndef f(j):\n    j.dumps = print\nf(json)": ("kernel", 4),
    "import torch.nn.modules.module as mm\ndef p(m):\n    m.Module.eval = print\np(mm)": ("monkeypatch", 4),
    # autograd run ahead of time: traced or compiled into code torch.fx generates (no autograd in the later call)
    "from torch.fx.experimental.proxy_tensor import make_fx": ("dynamic_code", 1),
    "import torch.fx\ng = torch.fx.symbolic_trace(model)": ("dynamic_code", 1),
    "x = 1\ng = torch.fx.experimental.proxy_tensor.make_fx(f)(a)": ("dynamic_code", 2),
    "from functorch.compile import aot_function, make_boxed_func": ("dynamic_code", 1),
    "import functorch\nf = functorch.compile.aot_function(g, fw_compiler=keep)": ("dynamic_code", 2),
    "from functorch import make_fx": ("dynamic_code", 1),
    "import functorch\ng = functorch.make_fx(f)(a)": ("dynamic_code", 2),
    "from torch.export import export": ("dynamic_code", 1),
    "x = 1\nprogram = torch.export.export(model, (x,))": ("dynamic_code", 2),
    "from torch._inductor.compile_fx import compile_fx": ("dynamic_code", 1),
    "import operator\nfx = operator.attrgetter('fx')(torch)": ("dynamic_code", 2),
    # torch.utils' private modules: a loop over the columns hidden in torch's own code (tree_map)
    "from torch.utils._pytree import tree_map": ("introspection", 1),
    "from torch.utils import _pytree": ("introspection", 1),
    "x = 1\nm = torch.utils._pytree.tree_map(np.mean, columns)": ("introspection", 2),
}


@pytest.mark.parametrize("code, expected", HIDDEN.items(), ids=list(HIDDEN))
def test_hidden_code_is_flagged_on_its_line(code, expected):
    found = {(f.category, f.line) for f in scan.scan_cell(code, "standardize", MODULES)}
    assert expected in found, found


HONEST = [
    "%time x = torch.ones(3)\n%timeit -n 10 x.mean()\n%matplotlib inline",
    "%%time\ny = torch.ones(3).mean()\nprint(y)",
    "%%timeit -n 2 -r 1 z = torch.ones(9)\nz.std()",
    "%%time\n%time w = torch.zeros(2)",
    "%timeit -q -o torch.ones(3).sum()",
    "from __future__ import annotations\nfrom __future__ import division, print_function",
    "async def f():\n    return 1\n\nawait f()",  # top-level await: IPython runs it, and Python's parser reads it
    "t = torch.trace(torch.eye(2))\nfrom torch import trace",
    "from tqdm.notebook import tqdm\nfrom tqdm.auto import trange",
    "from sklearn.linear_model import LogisticRegression\nmodel = LogisticRegression(n_jobs=None)",
    "from sklearn.model_selection import train_test_split\nfrom sklearn.preprocessing import StandardScaler",
    "import logging\nlogging.basicConfig(level=logging.INFO)",
    "model = nn.DataParallel(nn.Linear(2, 1))",
    "%matplotlib inline\n%xmode Context\n%precision 3\n%pprint",
    "import timeit\nt = timeit.timeit(lambda: torch.ones(3).sum(), number=10)",
    "import timeit\n\ndef f():\n    return 1\n\nt = timeit.repeat(f, number=3)\ntimeit.Timer('x.sum()', globals={'x': 1})",
    # an honest syntax error: the kernel refuses it too, and the cell's tests fail on their own
    'print "a typo"',
    "x = 1\ndef f(\n",
    "%%time\n1 <> 0",
    "",
    # the output streams' own methods, exit() called, a module aliased, parameters' attributes that are not a library's
    "import sys\nsys.stdout.write('x')\nsys.stdout.flush()\nsys.stderr.flush()\nprint(1, file=sys.stderr)",
    "import sys\nif sys.stdout.isatty() or sys.stdout.encoding:\n    pass",
    "if False:\n    exit()\n    quit()",
    "import numpy\nimport sys\nnumbers = numpy\nroot = sys.prefix",
    "def update(stats, x):\n    stats.total = x.sum()\n    stats.count = len(x)\n    stats.path = 'x'",
    "class Scaler:\n    def fit(self, x):\n        self.mean, self.std = x.mean(0), x.std(0)\n        self.linear = 1",
    "if hasattr(torch, 'compile'):\n    relu = getattr(nn, 'ReLU', None)",
    # torch.compile (compiled functions run as written under the grader's watch), torch.func, torch.utils' public parts
    "@torch.compile\ndef f(x):\n    return x.mean(dim=0)\ng = torch.compile(f, backend='aot_eager', dynamic=True)",
    "from torch.func import grad, vmap\nfrom torch.utils.data import DataLoader, TensorDataset",
    "import torch.utils.checkpoint\ny = torch.utils.checkpoint.checkpoint(f, x, use_reentrant=False)",
]


def test_a_shell_command_is_still_flagged_and_still_parsed():
    found = {f.category for f in scan.scan_cell("!pip install tqdm\nx = 1", "cell", MODULES)}
    assert "process" in found and "unparsed" not in found


@pytest.mark.parametrize("code", ["assert 1 <> 0", "x = 1\ndef f(\n", "%%time\n1 <> 0"])
def test_a_cell_that_does_not_parse_is_flagged_after_a_flagged_cell(code):
    # after `from __future__ import barry_as_FLUFL` (flagged `kernel`) the kernel runs `1 <> 0`: the scan cannot read it
    assert "unparsed" in {f.category for f in scan.scan_cell(code, "cell", MODULES, after=True)}


def _notebook_findings(name: str, cells: dict[str, str], tmp_path) -> set[str]:
    """The categories the scan of a whole submission (cells replaced from the solution) flags."""
    import nbformat

    from tests.grading import scripted
    from tools.grading import autograde, submission

    nb = scripted.solution(name)
    for gid, code in cells.items():
        scripted.find_cell(nb, gid).source = code
    nbformat.write(nb, tmp_path / f"{name}.ipynb")
    prepared = submission.prepare(scripted.source(name), tmp_path / f"{name}.ipynb")
    return {f.category for f in autograde.findings(prepared)}


def test_a_notebook_flags_a_cell_that_does_not_parse_only_after_a_flagged_one(tmp_path):
    column = "def to_column(values):\n    return torch.as_tensor(values, dtype=torch.float32).reshape(-1, 1)\n"
    typo = "def standardize(x):\n    print 'x'\n"
    honest = _notebook_findings("01_tensors", {"to_column": column, "standardize": typo}, tmp_path)
    assert honest == set(), "an honest syntax error: the kernel refuses the cell too"
    barry = "from __future__ import barry_as_FLUFL\n" + column
    flagged = _notebook_findings("01_tensors", {"to_column": barry, "standardize": "assert 1 <> 0"}, tmp_path)
    assert flagged == {"kernel", "unparsed"}
