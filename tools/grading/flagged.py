"""What the static scan (:mod:`tools.grading.scan`) flags, as tables: each category, and the modules, calls,
names, attributes and ``os``/``sys`` members that fall in it, things an assignment never needs and a tamperer
always does:

=================  ==========================================================================
``kernel``         IPython/ipykernel internals, ``get_ipython()``, magics other than ``MAGICS_OK`` (and
                   those with ``{`` or ``$`` in their line: IPython runs it, var_expand), signal handlers,
                   ``faulthandler``, profilers (``torch.profiler``), tracers (``trace``, ``coverage``, debuggers), ``__future__`` imports that change the syntax,
                   replacing ``sys`` hooks or streams, any member of ``sys.stdout``/``sys.stderr`` but
                   ``STREAM_OK`` (``sys.stdout.session`` sends every result), ``exit``/``quit`` but called
                   (``exit._ip`` is the shell), ``sys`` or ``json`` (the grader's result format) reached
                   through another module
``builtins``       the ``builtins`` module, ``__builtins__``
``import_system``  ``importlib``, ``sys.modules``, ``sys.meta_path``, ``sys.path`` and friends
``filesystem``     ``open``, file functions of ``os``, NumPy and torch (``np.fromfile``, ``torch.save``...),
                   ``shutil``, ``pathlib``, ``glob``, ``sqlite3``...
``process``        ``subprocess``, ``os.system``, threads, ``multiprocessing``, ``ctypes``, ``atexit``,
                   thread and process pools (``joblib``, ``sklearn.utils.parallel``, ``n_jobs=2``...),
                   DataLoader workers (``num_workers``)
``network``        ``socket``, ``urllib``, ``http``, ``requests``
``dynamic_code``   ``exec``, ``eval``, ``compile``, ``__import__``, ``pickle``, ``marshal``, TorchScript,
                   ``timeit`` given code that is not written out (text is scanned as the cell's own), autograd
                   traced ahead of time into torch.fx code (``torch.fx``, ``make_fx``, ``functorch.compile``, ``torch.export``)
``introspection``  frames, ``gc``, ``inspect``, ``globals()``/``vars()``, ``__dict__``, ``__globals__``,
                   autograd's graph walked by hand (``next_functions``), a context entered by hand (``__enter__``),
                   torch's private machinery (``model._forward_hooks``, ``torch._C``, ``torch.overrides._*``, ``torch.utils._*``...),
                   its global module hooks (``register_module_forward_hook``...) and modes (a class of
                   ``TorchFunctionMode``), a name looked up at run time (``getattr``, ``operator.attrgetter``)
                   that is built or a ``__dunder__``
(any)              ``from module import *`` of a module not in ``STAR_OK``: in the module's category; a
                   module used as a value (``run(os)``: its members then reached through a parameter), in
                   its category (``monkeypatch`` for a library's); ``ANY_ROOT`` members reached from anything
``monkeypatch``    assigning to (or ``setattr`` on) anything reached from an imported module, or to a
                   ``__dunder__`` of anything (``x.__class__ = ...``), or to a parameter's attribute named as
                   a library's function (``m.allclose = v``); ``unittest.mock`` (``mock.patch``),
                   ``functools.update_wrapper`` (it sets attributes on what it is given; ``@functools.wraps`` on a
                   decorator's own function is not flagged: what it would change in a library the audit sees)
``unparsed``       a cell (or code a timing magic runs) that does not parse as Python after an earlier flag
                   (``from __future__ import barry_as_FLUFL``, flagged ``kernel``): the kernel may then run
                   it; otherwise it raises SyntaxError there too, and the cell's tests fail on their own
``course_answer``  the course's own implementations (``course.training``, ``course.checks``...):
                   an answer cell may use only what the assignments hand out (``COURSE_GIVEN``)
=================  ==========================================================================
"""

from __future__ import annotations

import functools
import os as _os
import re

from tools.grading.audit import WATCHED_MODULES

MODULES = {
    "kernel": (
        *("IPython", "ipykernel", "jupyter_client", "zmq", "signal", "faulthandler", "cProfile", "profile", "pdb"),
        *("bdb", "debugpy", "pydevd", "coverage"),
        "trace",  # the standard library's tracer: it takes sys.settrace over, like a debugger or coverage
    ),
    "builtins": ("builtins", "__builtin__"),
    "import_system": ("importlib", "imp", "pkgutil", "site", "zipimport", "runpy", "pydoc"),
    "filesystem": ("shutil", "pathlib", "glob", "tempfile", "io", "fileinput", "sqlite3", "zipfile", "tarfile", "mmap"),
    "process": (
        *("subprocess", "multiprocessing", "threading", "_thread", "concurrent", "asyncio", "atexit", "pty"),
        *("ctypes", "cffi", "resource", "sched"),
        # what runs a function in other threads or processes, out of the probes' hooks (joblib is scikit-learn's)
        *("joblib", "loky", "sklearn.utils.parallel", "multiprocess", "billiard", "pathos", "dask", "ray", "anyio"),
        *("tornado", "trio", "gevent", "eventlet", "greenlet", "execnet", "xdist", "pexpect", "ptyprocess"),
        *("psutil", "terminado"),
    ),
    "network": (
        *("socket", "urllib", "http", "requests", "ssl", "ftplib", "smtplib", "httpx", "aiohttp", "urllib3", "h11"),
        *("httpcore", "socketserver", "xmlrpc", "wsgiref", "websocket", "prometheus_client", "jupyter_server"),
        "logging.config",  # logging.config.listen() serves in a thread of its own
    ),
    "dynamic_code": (
        *("code", "codeop", "pickle", "marshal", "dill", "cloudpickle", "shelve", "types", "numba"),
        "functorch.compile",  # aot_function, aot_module: autograd's graphs traced ahead of time, run as torch.fx code
    ),
    "introspection": ("inspect", "gc", "sys._getframe", "traceback", "dis"),
    "monkeypatch": ("mock", "unittest.mock"),
}
MODULE_CATEGORY = {name: category for category, names in MODULES.items() for name in names}
CALLS = {
    "open": "filesystem",
    "exec": "dynamic_code",
    "eval": "dynamic_code",
    "compile": "dynamic_code",
    "__import__": "dynamic_code",
    "globals": "introspection",
    "locals": "introspection",
    "vars": "introspection",
    "get_ipython": "kernel",
    "breakpoint": "kernel",
}
NAMES = {"__builtins__": "builtins", "__import__": "dynamic_code", "__IPYTHON__": "kernel", "get_ipython": "kernel"}
NAMES |= {"exit": "kernel", "quit": "kernel"}  # IPython's: ``exit._ip`` is the shell; ``exit()`` itself is no harm
DUNDERS = {
    "__globals__",
    "__code__",
    "__closure__",
    "__subclasses__",
    "__bases__",
    "__base__",
    "__mro__",
    "__dict__",
    "__builtins__",
    "__getattribute__",
    "__setattr__",
    "__delattr__",
    "__module__",
    "__loader__",
    "__spec__",
    "__self__",
    "__func__",
    "__defaults__",
    "__kwdefaults__",
    "__reduce__",
    "__reduce_ex__",
    "f_globals",
    "f_locals",
    "f_back",
    "f_builtins",
    "gi_frame",
    "tb_frame",
    "cr_frame",
    "co_code",
    "next_functions",  # autograd's graph walked by hand, its nodes called: gradients without backward()
    "__enter__",  # a context entered by hand stays active after the cell (a torch mode, no_grad, saved-tensor hooks)
    "__exit__",
}
SYS_ATTRS = {
    "modules": "import_system",
    "meta_path": "import_system",
    "path_hooks": "import_system",
    "path_importer_cache": "import_system",
    "path": "import_system",
    "excepthook": "kernel",
    "displayhook": "kernel",
    "settrace": "kernel",
    "setprofile": "kernel",
    "addaudithook": "kernel",
    "_getframe": "introspection",
    "_current_frames": "introspection",
    "stdout": "kernel",
    "stderr": "kernel",
    "stdin": "kernel",
    "__stdout__": "kernel",
    "__stderr__": "kernel",
    **{prefix: "kernel" for prefix in ("prefix", "base_prefix", "exec_prefix", "base_exec_prefix")},  # the watch's
}
# modules a student imports by name, never reaches through another (``torch.hub.json``, ``getattr(torch, "sys")``):
# the module is then bound to a name the scan cannot follow (the reach itself is flagged)
REACHED = {
    **{name: category for name, category in MODULE_CATEGORY.items() if name != "trace"},  # torch.trace: a function
    "os": "filesystem",
    "sys": "kernel",
    "json": "kernel",
    "codecs": "filesystem",
    "serialization": "filesystem",
    "hub": "network",
    "distributed": "network",
    "operator": "introspection",
    "jit": "dynamic_code",  # TorchScript: loops and autograd run in C++, out of the probes' watch
    "cpp_extension": "dynamic_code",
    "profiler": "kernel",  # torch.profiler(with_stack=True) takes the profile hook over
    **dict.fromkeys(("fx", "export", "_export", "_inductor"), "dynamic_code"),  # autograd traced into generated code
}
# modules flagged but for a few harmless members, judged where they are used (``traceback.print_exc()``)
HARMLESS = {
    "IPython.display": {"display", "clear_output", "HTML", "Markdown", "Image"},
    "types": {"SimpleNamespace", "MappingProxyType"},
    "traceback": {"print_exc", "format_exc", "print_exception", "format_exception", "format_exception_only"},
}
STAR_OK = {"math", "cmath", "statistics", "random", "typing"}  # ``from math import *``; other star imports hide names
# file I/O of NumPy and torch: these names anywhere (``x.tofile``), these on numpy or torch (``torch.save``)
FILE_ANY = {"fromfile", "tofile", "savetxt", "loadtxt", "genfromtxt", "memmap", "open_memmap", "savez"}
FILE_ANY |= {"savez_compressed", "fromregex", "from_file", "DataSource", "read_csv", "to_csv"}
FILE_LIBRARY = {"save", "load", "load_state_dict_from_url", "download_url_to_file"}
LIBRARIES = {"numpy", "np", "torch"}
# torch's machinery behind hooks, the autograd engine and dispatch: a student never needs it, a forger does
PRIVATE = re.compile(r"_\w*_hooks?(_\w*)?|_C|_VF|_execution_engine|_dynamo|_functorch|_python_dispatch|_ops")
# torch's modes, which see every later torch call (the grader's own too), and its global hooks on every module; any
# private name of torch.overrides (``_pop_mode_temporarily`` switches the grader's mode off, as torch._C does)
MODES = {"TorchFunctionMode", "TorchDispatchMode", "BaseTorchFunctionMode", "BaseTorchDispatchMode"}
GLOBAL_HOOKS = re.compile(r"register_module_\w+|_pop_mode\w*|_push_mode\w*|_\w*(function|dispatch)_(mode|stack)\w*")
PRIVATE_MODULES = ("torch.overrides", "torch.utils")  # torch.utils._pytree.tree_map: a loop in torch's own code
# names reached from a module that run a function in other threads or processes (``sklearn.utils.Parallel``,
# re-exported by many modules), and the keywords that ask a library for parallel jobs (scikit-learn's, SciPy's)
THREADED = {"Parallel", "delayed", "parallel_backend", "parallel_config", "register_parallel_backend", "Thread"}
THREADED |= {"ThreadPool", "ThreadPoolExecutor", "ProcessPoolExecutor", "QueueListener", "start_new_thread"}
TRACERS = {"make_fx", "aot_function", "aot_module", "aot_module_simplified", "symbolic_trace"}  # functorch.make_fx
MEMBERS = dict.fromkeys(THREADED, "process") | dict.fromkeys(TRACERS, "dynamic_code")  # flagged by name, from a module
JOBS = ("n_jobs", "workers")
# ``from __future__ import barry_as_FLUFL`` changes how the kernel compiles every later cell (``1 <> 0``); these
# change nothing in Python 3 (or only annotations)
FUTURE_OK = {"annotations", "division", "absolute_import", "print_function", "unicode_literals", "generator_stop"}
FUTURE_OK |= {"with_statement", "generators", "nested_scopes"}
TIMED = {"time", "timeit"}  # the magics that run code given to them: that code is scanned as the cell's own
TIMEIT_CODE = {"timeit.timeit", "timeit.repeat", "timeit.Timer", "timeit.main"}  # the timeit module's, given code
PATCHERS = {"update_wrapper"}  # functools' setattr by another name: update_wrapper(torch, fake, ("allclose",))
GETTERS = {"operator.attrgetter", "operator.methodcaller", "operator.itemgetter"}  # getattr by another name
SYS_READ_OK = {"stdout", "stderr", "prefix", "base_prefix", "exec_prefix", "base_exec_prefix"}  # harmless to read
STREAMS, STREAM_OK = ("sys.stdout", "sys.stderr"), {"write", "writelines", "flush", "isatty", "encoding"}
OS_OK = {"path", "sep", "linesep", "pathsep", "getcwd", "cpu_count", "getenv", "environ", "name", "getpid", "curdir"}
OS_PROCESS = {"system", "popen", "fork", "forkpty", "kill", "killpg", "_exit", "abort", "setsid", "nice"}
OS_PROCESS |= {name for name in dir(_os) if name.startswith(("exec", "spawn", "posix_spawn"))}
# os's and sys's dangerous members, judged whatever they are reached from (``o.system`` where ``o`` is a parameter
# given ``os``), but for the names honest objects share (``model.modules()``, ``self.path``, ``proc.stdout``)
ANY_ROOT = {name: kind for name, kind in SYS_ATTRS.items() if name not in {"modules", "path", "stdin"} | SYS_READ_OK}
ANY_ROOT |= dict.fromkeys(OS_PROCESS, "process")  # and what leads to the kernel's messages (``stream.session``)
ANY_ROOT |= dict.fromkeys(("session", "pub_thread", "_ip", "display_pub", "iopub_socket", "iopub_thread"), "kernel")
MODULE_VALUES = {*WATCHED_MODULES, *MODULE_CATEGORY, *HARMLESS, "os", "sys", "json"}  # modules with a dot in the name
BY_NAME = ("getattr", "setattr", "delattr", "hasattr")
HISTORY = re.compile(r"In|Out|_ih|_oh|_dh|_i{1,3}|_i?\d+")  # IPython's history: the grader's own steps are in it
DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")  # a module path written as text
MAGICS_OK = {"matplotlib", "time", "timeit", "xmode", "precision", "pprint"}
COURSE_GIVEN = (  # set-up, data and drawing: what the released notebooks use, and nothing that answers a task
    "course.seed_everything",
    "course.repro.seed_everything",
    "course.get_device",
    "course.device.get_device",
    "course.doctor",
    "course.show_graph",
    "course.warnings_as_text",
    "course.to_numpy",
    "course.device.to_numpy",
    "course.data.make_linear_data",
    "course.plots",
)


def harmless(dotted: str) -> bool:
    """``types.SimpleNamespace``, or a module of ``HARMLESS`` itself (its members judged where used)."""
    module, _, member = dotted.rpartition(".")
    return dotted in HARMLESS or member in HARMLESS.get(module, ())


def star_category(module: str) -> str | None:
    """``from sys import *`` binds names the scan cannot follow (``settrace``): the module's category."""
    first = module.split(".")[0]
    if module in STAR_OK:
        return None
    return REACHED.get(module) or REACHED.get(first) or ("filesystem" if module in LIBRARIES else "introspection")


def reached_by_name(part: str) -> set[str]:
    """What ``operator.attrgetter("part")`` may reach: a dunder or torch's machinery, a module, ``ANY_ROOT``."""
    found = {"introspection"} if part in DUNDERS or part.startswith("__") or torch_machinery("", part) else set()
    category = REACHED.get(part) or ANY_ROOT.get(part) or (SYS_ATTRS.get(part) if part not in SYS_READ_OK else None)
    if part in FILE_ANY or part in FILE_LIBRARY:
        category = "filesystem"
    return found | {category} - {None}


def torch_machinery(reached: str, attr: str) -> bool:
    """``reached.attr`` is torch's private machinery, a global module hook or a mode's stack: ``model._forward_hooks``,
    ``torch._C``, ``register_module_forward_hook``, ``torch.overrides._pop_mode_temporarily`` (whatever the root)."""
    private = reached in PRIVATE_MODULES and attr.startswith("_") and not attr.startswith("__")
    return private or bool(PRIVATE.fullmatch(attr) or GLOBAL_HOOKS.fullmatch(attr))


def os_or_sys(module: str, attr: str, assigned: bool) -> str | None:
    """The category of ``os.attr`` or ``sys.attr`` (``assigned``: ``sys.stdout = ...``), None when harmless."""
    if module == "os" and attr not in OS_OK:
        return "process" if attr in OS_PROCESS else "filesystem"
    if module == "sys" and attr in SYS_ATTRS and (assigned or attr not in SYS_READ_OK):
        return SYS_ATTRS[attr]
    return None


def borrows_an_answer(dotted: str) -> bool:
    """``course.training.fit`` does, ``course.plots.plot_losses`` and ``course`` itself do not."""
    inside = dotted.startswith("course.")
    return inside and not any(
        f"{dotted}.".startswith(f"{given}.") or given.startswith(f"{dotted}.") for given in COURSE_GIVEN
    )


@functools.cache
def library_functions() -> frozenset[str]:
    """The public functions of the libraries the probes use (``torch.allclose``), but for the names arrays have
    (``mean``, ``std``: a student's own object may hold them too). Read once, from the libraries installed."""
    import importlib

    found: set[str] = set()
    for name in WATCHED_MODULES:
        space = vars(importlib.import_module(name))
        found |= {
            key for key, value in space.items() if key[0] != "_" and callable(value) and not isinstance(value, type)
        }
    return frozenset(found - set(dir(importlib.import_module("numpy").ndarray)))


def parameter_attribute(attr: str) -> str | None:
    """The category of assigning ``attr`` of a function's parameter (the parameter may be a module it was given)."""
    if attr in ANY_ROOT or attr in SYS_READ_OK - {"stdout", "stderr"}:  # p.settrace = f, where.prefix = "/tmp"
        return ANY_ROOT.get(attr, "kernel")
    return "monkeypatch" if attr in library_functions() else None
