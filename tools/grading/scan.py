"""A static scan of every cell the student wrote, for code that alters the kernel or reaches outside it.

Flags are *signals* for the teacher, not verdicts: the scan reads the code (after IPython's own
transformations, so magics and ``!`` commands are seen as the kernel runs them) and names each use
of something an assignment never needs and a tamperer always does:

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
=================  ==========================================================================
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

MODULES = {
    "kernel": ("IPython", "ipykernel", "jupyter_client", "zmq", "signal"),
    "builtins": ("builtins", "__builtin__"),
    "import_system": ("importlib", "imp", "pkgutil", "site", "zipimport", "runpy"),
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
MAGICS_OK = {"matplotlib", "time", "timeit", "xmode", "precision", "pprint"}


@dataclass(frozen=True)
class Finding:
    """One flagged use: its category, the cell (label) and line, and what was used."""

    category: str
    label: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.category}: {self.what} (cell {self.label}, line {self.line})"


def python_source(code: str) -> str:
    """The cell as the kernel runs it: IPython's transformations turn magics and ``!`` into calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(code)
    except Exception:  # noqa: BLE001  (what IPython cannot transform, the kernel cannot run either)
        return code


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
        node = node.func if isinstance(node, ast.Call) else node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _chain(node: ast.AST) -> str | None:
    """``a.b.c`` for a plain chain of names and attributes (no calls, no subscripts), else None."""
    dotted = _dotted(node)
    return dotted if dotted and ast.unparse(node) == dotted else None


class _Scanner(ast.NodeVisitor):
    def __init__(self, label: str, aliases: dict[str, str]) -> None:
        self.label, self.aliases, self.found, self.allowed = label, aliases, [], set()

    def resolve(self, node: ast.AST) -> str:
        """The dotted name with its root replaced by what it stands for: ``o.system`` is ``os.system``."""
        root, dot, rest = _dotted(node).partition(".")
        return self.aliases.get(root, root) + dot + rest

    def flag(self, category: str, node: ast.AST, what: str) -> None:
        self.found.append(Finding(category, self.label, getattr(node, "lineno", 0), what))

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
        for name in names:
            for candidate in (name, name.split(".")[0]):
                if candidate in MODULE_CATEGORY:
                    self.flag(MODULE_CATEGORY[candidate], node, f"import {name}")
                    break
        if isinstance(node, ast.ImportFrom) and node.module in ("os", "sys"):
            for alias in node.names:
                self._module_attr(node.module, alias.name, node, assigned=False)

    visit_ImportFrom = visit_Import

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and _dotted(func.value) == "get_ipython":
            magic = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
            if func.attr in ("run_line_magic", "run_cell_magic") and magic in MAGICS_OK:
                self.allowed.add(id(func.value.func))
            elif func.attr in ("system", "getoutput"):
                self.flag("process", node, "a shell command (!)")
        if isinstance(func, ast.Name) and func.id in ("setattr", "delattr", "getattr") and len(node.args) >= 2:
            self._by_name(func.id, node)
        self.generic_visit(node)

    def _by_name(self, function: str, node: ast.Call) -> None:
        target, name = self.resolve(node.args[0]), node.args[1]
        if function != "getattr" and _dotted(node.args[0]).split(".")[0] in self.aliases:
            self.flag("monkeypatch", node, f"{function}({target}, ...)")
        elif target in ("os", "sys"):
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                self._module_attr(target, name.value, node, assigned=function != "getattr")
            else:
                self.flag("introspection", node, f"{function}({target}, <a computed name>)")

    def visit_Name(self, node: ast.Name) -> None:
        if id(node) in self.allowed:
            return
        if node.id in CALLS and node.id not in NAMES:
            self.flag(CALLS[node.id], node, f"{node.id}()")
        elif node.id in NAMES:
            self.flag(NAMES[node.id], node, node.id)
        elif node.id.startswith("__grading"):
            self.flag("kernel", node, f"the grader's own {node.id}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in DUNDERS:
            self.flag("introspection", node, f".{node.attr}")
        reached = self.resolve(node.value)
        module = reached.rsplit(".", 1)[-1] if self._through_modules(node.value) else reached
        if module in ("os", "sys"):
            self._module_attr(module, node.attr, node, assigned=isinstance(node.ctx, (ast.Store, ast.Del)))
        elif module != reached and module in MODULE_CATEGORY:
            self.flag(MODULE_CATEGORY[module], node, f"{reached} (the {module} module, reached through another)")
        self.generic_visit(node)

    def _through_modules(self, node: ast.AST) -> bool:
        """``torch.os`` or ``np.sys``: a chain of attributes from an imported name, with no call on the way."""
        chain = _chain(node)
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
                    dotted = self.resolve(sub)
                    if _dotted(sub).split(".")[0] in self.aliases and not dotted.startswith(
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


def _parsed(codes: list[str]) -> list[ast.Module]:
    trees = []
    for code in codes:
        try:
            trees.append(ast.parse(python_source(code)))
        except (SyntaxError, ValueError):
            continue
    return trees


def _aliases_assigned(trees: list[ast.Module], names: dict[str, str]) -> bool:
    """Add ``m`` for ``m = torch.nn`` (and ``o, s = os, sys``); True when something new was learned."""
    learned = False
    for node in (n for tree in trees for n in ast.walk(tree) if isinstance(n, ast.Assign)):
        for target in node.targets:
            pairs = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts, strict=False))
            for name, value in pairs:
                chain = _chain(value)
                root, dot, rest = (chain or "").partition(".")
                if isinstance(name, ast.Name) and root in names and name.id not in names:
                    names[name.id], learned = names[root] + dot + rest, True
    return learned


def imported_names(codes: list[str], known: dict[str, str] | None = None) -> dict[str, str]:
    """Every name an import binds in these cells, and every name assigned one of those, with what it stands for.

    Example:
        >>> imported_names(["import os as o, sys", "from torch import nn", "layers = nn"])
        {'o': 'os', 'sys': 'sys', 'nn': 'torch.nn', 'layers': 'torch.nn'}
    """
    trees, names = _parsed(codes), dict(known or {})
    for node in (n for tree in trees for n in ast.walk(tree)):
        if isinstance(node, ast.Import):
            names |= {
                a.asname or a.name.split(".")[0]: a.name if a.asname else a.name.split(".")[0] for a in node.names
            }
        elif isinstance(node, ast.ImportFrom):
            names |= {
                a.asname or a.name: f"{node.module or ''}.{a.name}".lstrip(".") for a in node.names if a.name != "*"
            }
    while _aliases_assigned(trees, names):
        pass
    return names


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
