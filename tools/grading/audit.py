"""A look at the kernel's machinery before and after the student's cells (shipped into the kernel).

:func:`snapshot` runs first, before any student code; :func:`audit` runs after the last cell and lists what changed
in the parts of the kernel that decide how later code runs: builtins, the import system, sys hooks, signal handlers,
IPython's hooks, transformers and display hooks, the functions and classes of the libraries the probes use (every
class of torch.nn, torch.optim, torch.utils.data and torch's classes they inherit from: ``nn.Linear.forward``,
``_ConstantPadNd.forward``), what carries results out of the kernel (``json``, the kernel's message session). Its report
is a tamper *signal*, never a proof of innocence: code that knows this audit can hide from it, so the grader also scans
every student cell (:mod:`tools.grading.scan`) and decides every point outside the kernel. Who made a replacement is
judged by where its code lives (the Python installation, or a cell), never by its ``__module__``; the libraries' code the
probes use may not be replaced by anything (a ``MagicMock`` is the installation's code too); what carries results, or
runs the probes' watches (``sys.settrace``...), may not change at all.
"""

from __future__ import annotations

import builtins as _builtins
import signal as _signal
import sys as _sys
import types as _types
from typing import Any

__builtins__ = dict(vars(_builtins))  # its own copy: a notebook that replaces `id` or `isinstance` fools no one
_GETTRACE, _GETPROFILE, _GETSIGNAL = _sys.gettrace, _sys.getprofile, _signal.getsignal  # the real ones, kept
WATCHED_MODULES = ("torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.utils.data", "numpy")
WATCHED_CLASSES = (("torch", "Tensor"), ("torch.nn", "*"), ("torch.optim", "*"), ("torch.utils.data", "*"))
# what no library changes once imported: any change is flagged, whoever made it
STRICT_MODULES = ("json", "json.encoder", "json.decoder", "json.scanner", "jupyter_client.session")
_JSON = ("JSONEncoder", "JSONDecoder", "_default_encoder", "_default_decoder")
STRICT_OBJECTS = (*(("json", name) for name in _JSON), ("jupyter_client.session", "Session"))
_SYS = ("settrace", "setprofile", "gettrace", "getprofile", "_getframe", "exc_info", "addaudithook", "audit")
_PREFIXES = ("prefix", "base_prefix", "exec_prefix", "base_exec_prefix")  # the loop watch's libraries live there
_THREADING = ("settrace", "setprofile", "gettrace", "getprofile", "settrace_all_threads", "setprofile_all_threads")
STRICT_NAMES = (("sys", (*_SYS, *_PREFIXES)), ("threading", _THREADING))
SHELL_METHODS = ("run_cell", "run_ast_nodes", "run_code", "showtraceback", "showsyntaxerror", "transform_cell")
HEAPTYPE = 1 << 9  # a class made by a `class` statement (or type()), not one built into Python or a C extension
if __name__ == "tools.grading.audit":  # (in the kernel, tools.grading.jobs.PRE ran audit_state's source here first)
    from tools.grading.audit_state import kernel_state, state_changed, torch_bases


def _ids(namespace: dict) -> dict[str, int]:
    return {key: id(value) for key, value in list(namespace.items())}


def _shell() -> Any:
    ipython = _sys.modules.get("IPython")  # (the kernel's; None where IPython never ran)
    return ipython.get_ipython() if ipython is not None else None


def _namespace(obj: Any) -> dict:
    """An object's own attributes, read without its class's help (a class may fake ``__dict__``)."""
    if isinstance(obj, type):
        return dict(type.__dict__["__dict__"].__get__(obj))
    try:
        return dict(object.__getattribute__(obj, "__dict__"))
    except (AttributeError, TypeError):
        return {}


def _watched(modules: tuple, classes: tuple) -> dict[str, dict[str, Any]]:
    import sys

    found, kinds = {name: dict(vars(sys.modules[name])) for name in modules if name in sys.modules}, {}
    for module, attr in classes:  # ("torch.nn", "*"): every class the module holds
        space = dict(vars(sys.modules[module])) if module in sys.modules else {}
        names = [key for key, value in space.items() if isinstance(value, type)] if attr == "*" else [attr]
        kinds |= {id(space[n]): (f"{module}.{n}", space[n]) for n in names if n in space and id(space[n]) not in kinds}
    kinds = torch_bases(kinds)  # and torch's classes they inherit from (ZeroPad1d's forward is _ConstantPadNd's)
    return found | {label: _namespace(k) | mro for label, (k, mro) in kinds.items()}


def _strict() -> dict[str, dict[str, Any]]:
    import sys

    found = _watched(STRICT_MODULES, STRICT_OBJECTS)
    for module, names in STRICT_NAMES:
        if module in sys.modules:
            space = vars(sys.modules[module])
            found[module] = {name: space[name] for name in names if name in space}
    session = getattr(getattr(_shell(), "kernel", None), "session", None)
    if session is not None:
        found["the kernel's message session"] = {key: getattr(session, key, None) for key in ("pack", "unpack")}
    return found


def _kernel_objects() -> dict[str, Any]:
    """What sends the kernel's messages (the probes' results, the audit's report), and what reaches it."""
    kernel = getattr(_shell(), "kernel", None)
    found = {"the IPython kernel": kernel, "the kernel's message session": getattr(kernel, "session", None)}
    return found | {"sys.stdout": _sys.stdout, "sys.stderr": _sys.stderr}


def _attributes(obj: Any) -> dict[str, tuple[Any, int, int]]:
    """An object's own attributes and traits (the session's, the kernel's): value, identity, identity of its type."""
    space = _namespace(obj)
    traits = space.get("_trait_values")
    space |= traits if isinstance(traits, dict) else {}
    return {key: (value, id(value), id(type(value))) for key, value in space.items()}


def _objects_changed(before: dict[str, dict[str, tuple[int, int]]]) -> list[str]:
    """What changed in :func:`_kernel_objects`: an attribute removed, replaced by the notebook's code or a value of
    another type, added by the notebook's code or over its class's (``session.send``); not ipykernel's own counts."""
    found = []
    for label, obj in _kernel_objects().items():
        now, old, own = _attributes(obj), before.get(label, {}), _namespace(obj)
        found += [f"{label}.{key} (removed)" for key in old if key not in now]
        for key, (value, ident, kind) in now.items():
            if key not in old and (_made_here(value) or key in own and hasattr(type(obj), key)):
                found.append(f"{label}.{key} (added)")
            elif key in old and old[key][0] != ident and (_made_here(value) or old[key][1] != kind):
                found.append(f"{label}.{key}")
    return found


def _roots() -> tuple[str, ...]:
    """Where the code of Python, the libraries and the course package lives (a cell's code lives elsewhere)."""
    import os
    import sys

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    course = getattr(sys.modules.get("course"), "__file__", None)
    roots |= {os.path.dirname(os.path.dirname(course))} if isinstance(course, str) else set()
    roots |= {os.path.realpath(root) for root in roots}
    return (*(os.path.join(root, "") for root in roots), "<frozen ")


ROOTS = _roots()


def _made_here(value: Any, depth: int = 0) -> bool:
    """True for a function, class or object whose code the notebook wrote (its code's file is not a library's)."""
    import functools

    types, kind = _types, type(value)
    if depth > 6 or value is None or isinstance(value, types.ModuleType):
        return False
    if kind is types.FunctionType:
        return not value.__code__.co_filename.startswith(ROOTS)
    if kind in (types.MethodType, staticmethod, classmethod):
        return _made_here(value.__func__, depth + 1) or _made_here(getattr(value, "__self__", None), depth + 1)
    if kind is property:
        return any(_made_here(f, depth + 1) for f in (value.fget, value.fset, value.fdel))
    if kind is functools.partial:
        return any(_made_here(part, depth + 1) for part in [value.func, *value.args, *value.keywords.values()])
    if isinstance(value, (types.BuiltinFunctionType, types.MethodWrapperType)):
        return _made_here(getattr(value, "__self__", None), depth + 1)
    if isinstance(value, type):
        return _class_made_here(value, depth)
    if _class_made_here(kind, depth):
        return True
    return _made_here(_namespace(value).get("__wrapped__"), depth + 1)  # functools.lru_cache(f) and the like


def _class_made_here(cls: type, depth: int) -> bool:
    kinds, klasses = (staticmethod, classmethod, property, _types.FunctionType), cls.__mro__
    code = [
        item for k in klasses if k.__flags__ & HEAPTYPE for item in _namespace(k).values() if isinstance(item, kinds)
    ]
    if not code:  # no code of its own: only what it says of itself is left
        return cls.__flags__ & HEAPTYPE and type.__dict__["__module__"].__get__(cls) == "__main__"
    return any(_made_here(item, depth + 1) for item in code)


def snapshot() -> dict[str, Any]:
    """What the audit compares against: identities of builtins, hooks, modules, shell methods; torch's state."""
    shell = _shell()
    return {
        "builtins": _ids(vars(_builtins)),
        "modules": {name: id(module) for name, module in list(_sys.modules.items())},
        "hooks": _ids(_hooks()),
        "meta_path": [id(finder) for finder in _sys.meta_path],
        "sigint": id(_GETSIGNAL(_signal.SIGINT)),
        "watched": {label: _ids(space) for label, space in _watched(WATCHED_MODULES, WATCHED_CLASSES).items()},
        "strict": {label: _ids(space) for label, space in _strict().items()},
        "objects": {label: {k: v[1:] for k, v in _attributes(o).items()} for label, o in _kernel_objects().items()},
        "shell": {name: id(getattr(type(shell), name, None)) for name in SHELL_METHODS} if shell else {},
        "transformers": _transformers(shell),
        "grading": _grading_state(shell),
        "display_hooks": [id(hook) for hook in _display_hooks(shell)],
        "state": kernel_state(),  # torch's modes and global hooks, the grad mode, the threads
    }


def _grading_state(shell: Any) -> dict[str, int]:
    """Identities of what carries the grader's results: its own modules, the notebook's builtins, display."""
    import sys

    grader = vars(sys.modules.get("__grading__", sys))
    state = {f"grader's {key}": id(value) for key, value in grader.items() if key != "before"}
    state |= {f"grader's audit {key}": id(value) for key, value in _grading_state.__globals__.items()}
    if shell is not None:
        state["notebook's __builtins__"] = id(shell.user_ns.get("__builtins__"))
        state["IPython display publisher"] = id(getattr(shell, "display_pub", None))
        state["IPython display publisher's publish"] = id(getattr(type(shell.display_pub), "publish", None))
    return state


def _display_hooks(shell: Any) -> list:
    """ipykernel's display hooks (per thread): each may rewrite or drop any message displayed, results included."""
    hooks = getattr(getattr(getattr(shell, "display_pub", None), "_thread_local", None), "hooks", [])
    return list(hooks) if isinstance(hooks, list) else [hooks]


def _transformers(shell: Any) -> list[int]:
    lists = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")
    return [id(item) for name in lists for item in getattr(shell, name, [])]


def _changed(
    before: dict[str, int], now: dict[str, Any], label: str, strict: bool = False, replaced: bool = False
) -> list[str]:
    """Entries removed, replaced (by the notebook's own code; by anything where ``strict`` or ``replaced``: a
    library's ``MagicMock`` or ``torch.is_tensor`` put in ``torch.allclose``'s place), or added."""
    found = [f"{label}.{key} (removed)" for key in before if key not in now]
    for key, value in now.items():
        if key.strip("_") == "" or key in _REBOUND:  # IPython's `_`, `__`, `___`: the last outputs
            continue
        other = key in before and id(value) != before[key]
        if other and (strict or _made_here(value) or replaced and not _wraps(value, before[key])):
            found.append(f"{label}.{key}")
        elif key not in before and (_made_here(value) or (strict and type(value).__name__ != "module")):
            found.append(f"{label}.{key} (added)")
    return found


_REBOUND = {"Storage"}  # torch.set_default_dtype (or set_default_tensor_type) rebinds torch.Storage itself

# torch's own wrappers of the very function they replace: of torch.manual_seed on import (``inner``), of Module.__init__
# and __setstate__ when a compiled model first runs, of optimizers' methods (``disable``'s ``_fn``, the first instance's)
_TORCH_WRAPPERS = {
    "/torch/_compile.py": {"inner"},
    "/torch/_dynamo/mutation_guard.py": {"patched_init", "patched_setstate"},
    "/torch/_dynamo/eval_frame.py": {"_fn"},
    "/torch/optim/optimizer.py": {"wrapper"},
}


def _wraps(value: Any, ident: int, depth: int = 0) -> bool:
    """One of torch's own wrappers (:data:`_TORCH_WRAPPERS`) holding the original in its closure, or one that does. No
    other wrapper: ``contextlib.contextmanager(torch.allclose)`` holds it too, and is a context manager, always true."""
    if type(value) is not _types.FunctionType or _made_here(value):
        return False
    code = value.__code__
    path = code.co_filename.replace("\\", "/")
    if not any(path.endswith(end) and code.co_name in names for end, names in _TORCH_WRAPPERS.items()):
        return False
    for cell in value.__closure__ or ():
        try:
            inner = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if id(inner) == ident or depth < 4 and _wraps(inner, ident, depth + 1):
            return True
    return False


def _hooks() -> dict[str, Any]:
    threading = _sys.modules.get("threading")
    found = {"excepthook": _sys.excepthook, "displayhook": _sys.displayhook, "settrace": _GETTRACE()}
    found |= {"setprofile": _GETPROFILE(), "threading.settrace": getattr(threading, "_trace_hook", None)}
    return found | {"threading.setprofile": getattr(threading, "_profile_hook", None)}


def audit(before: dict[str, Any]) -> list[str]:
    """Every change since :func:`snapshot` that alters how the kernel runs code (empty when none)."""
    import signal
    import sys

    shell = _shell()
    altered = _changed(before["builtins"], dict(vars(_builtins)), "builtins")
    modules = dict(sys.modules)
    altered += [f"sys.modules[{k!r}]" for k, i in before["modules"].items() if k in modules and id(modules[k]) != i]
    hooks = _hooks()
    altered += _changed({k: before["hooks"][k] for k in ("excepthook", "displayhook")}, hooks, "sys")
    installed = [key for key in before["hooks"] if id(hooks[key]) != before["hooks"][key] and "set" in key]
    altered += [f"sys.{key} (a function is installed)" for key in installed]
    finders = [finder for finder in sys.meta_path if id(finder) not in before["meta_path"] and _made_here(finder)]
    altered += [f"sys.meta_path: {type(finder).__qualname__}" for finder in finders]
    handler = _GETSIGNAL(signal.SIGINT)
    if id(handler) != before["sigint"] and (handler == signal.SIG_IGN or _made_here(handler)):
        altered.append("signal handler for SIGINT")
    for kind, now in (("watched", _watched(WATCHED_MODULES, WATCHED_CLASSES)), ("strict", _strict())):
        for label, idents in before[kind].items():
            altered += _changed(idents, now.get(label, {}), label, strict=kind == "strict", replaced=True)
    altered += _objects_changed(before["objects"]) + state_changed(before["state"], ROOTS)
    grading = _grading_state(shell)
    altered += [f"{key} (replaced)" for key, ident in before["grading"].items() if grading.get(key) != ident]
    if shell is not None:
        altered += [f"IPython shell.{name}" for name in SHELL_METHODS if name in vars(shell)]
        methods = [name for name, ident in before["shell"].items() if id(getattr(type(shell), name, None)) != ident]
        altered += [f"IPython {name}" for name in methods]
        hooks = [hook for hook in _display_hooks(shell) if id(hook) not in before["display_hooks"]]
        altered += [f"IPython display publisher: a hook is registered ({type(hook).__name__})" for hook in hooks]
        if _transformers(shell) != before["transformers"]:
            altered.append("IPython input or AST transformers")
        events = getattr(getattr(shell, "events", None), "callbacks", {})
        callbacks = [event for event, cbs in events.items() for cb in cbs if _made_here(cb)]
        altered += [f"IPython event callback on {event}" for event in callbacks]
    return sorted(set(altered))
