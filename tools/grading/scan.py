"""A static scan of every cell the student wrote, for code that alters the kernel or reaches outside it.

Flags are *signals* for the teacher, not verdicts: the scan reads the code (after IPython's own
transformations, so magics and ``!`` commands are seen as the kernel runs them), follows names to what
they stand for (:mod:`tools.grading.aliases`: ``o.system`` after ``import os as o`` is ``os.system``)
and names each use of something an assignment never needs and a tamperer always does:

=================  ==========================================================================
``kernel``         IPython/ipykernel internals, ``get_ipython()``, magics other than timing and
                   ``%matplotlib``, signal handlers, replacing ``sys`` hooks or streams
``builtins``       the ``builtins`` module, ``__builtins__``
``import_system``  ``importlib``, ``sys.modules``, ``sys.meta_path``, ``sys.path`` and friends
``filesystem``     ``open``, file functions of ``os``, ``shutil``, ``pathlib``, ``glob``, ``sqlite3``...
``process``        ``subprocess``, ``os.system``, threads, ``multiprocessing``, ``ctypes``, ``atexit``
``network``        ``socket``, ``urllib``, ``http``, ``requests``
``dynamic_code``   ``exec``, ``eval``, ``compile``, ``__import__``, ``pickle``, ``marshal``
``introspection``  frames, ``gc``, ``inspect``, ``globals()``/``vars()``, ``__dict__``, ``__globals__``...
``monkeypatch``    assigning to (or ``setattr`` on) anything reached from an imported module
``course_answer``  the course's own implementations (``course.training``, ``course.checks``...):
                   an answer cell may use only what the assignments hand out (``COURSE_GIVEN``)
=================  ==========================================================================
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from tools.grading.aliases import dotted_name, imported_names, plain_chain, python_source, resolve

MODULES = {
    "kernel": ("IPython", "ipykernel", "jupyter_client", "zmq", "signal"),
    "builtins": ("builtins", "__builtin__"),
    "import_system": ("importlib", "imp", "pkgutil", "site", "zipimport", "runpy", "pydoc"),
    "filesystem": ("shutil", "pathlib", "glob", "tempfile", "io", "fileinput", "sqlite3", "zipfile", "tarfile", "mmap"),
    "process": (
        "subprocess",
        "multiprocessing",
        "threading",
        "_thread",
        "concurrent",
        "asyncio",
        "atexit",
        "pty",
        "ctypes",
        "cffi",
        "resource",
        "sched",
    ),
    "network": ("socket", "urllib", "http", "requests", "ssl", "ftplib", "smtplib", "httpx", "aiohttp"),
    "dynamic_code": ("code", "codeop", "pickle", "marshal", "dill", "cloudpickle", "shelve", "types"),
    "introspection": ("inspect", "gc", "sys._getframe", "traceback", "dis"),
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
}
SYS_READ_OK = {"stdout", "stderr"}  # reading these is harmless (print(..., file=sys.stderr))
OS_OK = {"path", "sep", "linesep", "pathsep", "getcwd", "cpu_count", "getenv", "environ", "name", "getpid", "curdir"}
OS_PROCESS = {"system", "popen", "fork", "forkpty", "kill", "killpg", "_exit", "abort", "setsid", "nice"}
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


def borrows_an_answer(dotted: str) -> bool:
    """``course.training.fit`` does, ``course.plots.plot_losses`` and ``course`` itself do not."""
    inside = dotted.startswith("course.")
    return inside and not any(
        f"{dotted}.".startswith(f"{given}.") or given.startswith(f"{dotted}.") for given in COURSE_GIVEN
    )


@dataclass(frozen=True)
class Finding:
    """One flagged use: its category, the cell (label) and line, and what was used."""

    category: str
    label: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.category}: {self.what} (cell {self.label}, line {self.line})"


class _Scanner(ast.NodeVisitor):
    def __init__(self, label: str, aliases: dict[str, str]) -> None:
        self.label, self.aliases, self.found, self.allowed, self.judged = label, aliases, [], set(), set()

    def flag(self, category: str, node: ast.AST, what: str) -> None:
        self.found.append(Finding(category, self.label, getattr(node, "lineno", 0), what))

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
        for name in names:
            for candidate in (name, name.split(".")[0]):
                if candidate in MODULE_CATEGORY:
                    self.flag(MODULE_CATEGORY[candidate], node, f"import {name}")
                    break
        borrowed = [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else names
        for name in filter(borrows_an_answer, borrowed):
            self.flag("course_answer", node, f"import of {name}")
        if isinstance(node, ast.ImportFrom) and node.module in ("os", "sys"):
            for alias in node.names:
                self._module_attr(node.module, alias.name, node, assigned=False)

    visit_ImportFrom = visit_Import

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and dotted_name(func.value) == "get_ipython":
            magic = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
            if func.attr in ("run_line_magic", "run_cell_magic") and magic in MAGICS_OK:
                self.allowed.add(id(func.value.func))
            elif func.attr in ("system", "getoutput"):
                self.flag("process", node, "a shell command (!)")
        if isinstance(func, ast.Name) and func.id in BY_NAME and len(node.args) >= 2:
            self._by_name(func.id, node)
            self.allowed.add(id(func))
        self.generic_visit(node)

    def _by_name(self, function: str, node: ast.Call) -> None:
        target, name = resolve(node.args[0], self.aliases), node.args[1]
        constant = name.value if isinstance(name, ast.Constant) and isinstance(name.value, str) else None
        if constant is None or constant in DUNDERS or constant.startswith("__"):
            what = "<a computed name>" if constant is None else repr(constant)
            self.flag("introspection", node, f"{function}({target}, {what})")  # a name built at run time
        if function in ("setattr", "delattr") and dotted_name(node.args[0]).split(".")[0] in self.aliases:
            self.flag("monkeypatch", node, f"{function}({target}, ...)")
        elif target in ("os", "sys") and constant is not None:
            self._module_attr(target, constant, node, assigned=function != "getattr")

    def _course(self, node: ast.Name | ast.Attribute) -> None:
        """Judge the whole chain ``course.training.fit`` once, not its parts ``course.training`` and ``course``."""
        if id(node) in self.judged:
            return
        inner = node
        while isinstance(inner, ast.Attribute):
            inner = inner.value
            self.judged.add(id(inner))
        dotted = resolve(node, self.aliases)
        if borrows_an_answer(dotted):
            self.flag("course_answer", node, dotted)
        elif dotted == "course" and isinstance(node, ast.Name):  # passed around, its attributes reached later
            self.flag("course_answer", node, "the course package used as a value")

    def visit_Constant(self, node: ast.Constant) -> None:
        name = node.value.strip() if isinstance(node.value, str) else ""
        if DOTTED.fullmatch(name) and borrows_an_answer(name):  # pydoc.locate("course.training.fit")
            self.flag("course_answer", node, f"the name {name!r}")

    def visit_Name(self, node: ast.Name) -> None:
        self._course(node)
        if id(node) in self.allowed:
            return
        if node.id in CALLS and node.id not in NAMES:
            self.flag(CALLS[node.id], node, f"{node.id}()")
        elif node.id in NAMES:
            self.flag(NAMES[node.id], node, node.id)
        elif node.id.startswith("__grading"):
            self.flag("kernel", node, f"the grader's own {node.id}")
        elif node.id in BY_NAME:  # getattr passed around (reduce(getattr, ...), f = setattr): names at run time
            self.flag("introspection", node, f"{node.id} used as a value")
        elif HISTORY.fullmatch(node.id):
            self.flag("kernel", node, f"the kernel's input/output history ({node.id})")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._course(node)
        if node.attr in DUNDERS:
            self.flag("introspection", node, f".{node.attr}")
        reached = resolve(node.value, self.aliases)
        module = reached.rsplit(".", 1)[-1] if self._through_modules(node.value) else reached
        if module in ("os", "sys"):
            self._module_attr(module, node.attr, node, assigned=isinstance(node.ctx, (ast.Store, ast.Del)))
        elif module != reached and module in MODULE_CATEGORY:
            self.flag(MODULE_CATEGORY[module], node, f"{reached} (the {module} module, reached through another)")
        self.generic_visit(node)

    def _through_modules(self, node: ast.AST) -> bool:
        """``torch.os`` or ``np.sys``: a chain of attributes from an imported name, with no call on the way."""
        chain = plain_chain(node)
        return chain is not None and "." in chain and chain.split(".")[0] in self.aliases

    def _module_attr(self, module: str, attr: str, node: ast.AST, assigned: bool) -> None:
        if module == "os" and attr not in OS_OK:
            self.flag(
                "process" if attr in OS_PROCESS or attr.startswith(("exec", "spawn")) else "filesystem",
                node,
                f"os.{attr}",
            )
        elif module == "sys" and attr in SYS_ATTRS and (assigned or attr not in SYS_READ_OK):
            self.flag(SYS_ATTRS[attr], node, f"sys.{attr}")

    def _targets(self, targets: list[ast.AST], node: ast.AST) -> None:
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, (ast.Attribute, ast.Subscript)):
                    dotted = resolve(sub, self.aliases)
                    if dotted_name(sub).split(".")[0] in self.aliases and not dotted.startswith(
                        ("os.environ", "sys.stdout", "sys.stderr")
                    ):
                        self.flag("monkeypatch", node, f"assigns {dotted}")
                    elif dotted in ("sys.stdout", "sys.stderr"):
                        self.flag("kernel", node, f"replaces {dotted}")
                    break

    def visit_Assign(self, node: ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete) -> None:
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        self._targets(targets, node)
        self.generic_visit(node)

    visit_AugAssign = visit_AnnAssign = visit_Delete = visit_Assign


def scan_cell(code: str, label: str, modules: dict[str, str] | set[str]) -> list[Finding]:
    """The findings in one student cell; ``modules`` are the names imports bind in the whole notebook."""
    try:
        tree = ast.parse(python_source(code))
    except (SyntaxError, ValueError):
        return []  # it cannot run either: the kernel reports the syntax error
    known = modules if isinstance(modules, dict) else {name: name for name in modules}
    scanner = _Scanner(label, imported_names([code], known))
    scanner.visit(tree)
    return sorted(set(scanner.found), key=lambda f: (f.line, f.category, f.what))
