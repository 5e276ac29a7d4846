"""A look at the kernel's machinery before and after the student's cells (shipped into the kernel).

:func:`snapshot` runs first, before any student code; :func:`audit` runs after the last cell and
lists what changed in the parts of the kernel that decide how later code runs: builtins, the
import system, sys hooks, signal handlers, IPython's hooks and transformers, and the functions of
the libraries the probes use. Its report is a tamper *signal*, never a proof of innocence: code that
knows this audit can hide from it, which is why the grader also scans every student cell
(:mod:`tools.grading.scan`) and decides every point outside the kernel.
"""

from __future__ import annotations

from typing import Any

WATCHED_MODULES = ("torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.utils.data", "numpy", "json")
WATCHED_CLASSES = (("torch", "Tensor"), ("torch.nn", "Module"), ("torch.utils.data", "DataLoader"))
SHELL_METHODS = ("run_cell", "run_ast_nodes", "run_code", "showtraceback", "showsyntaxerror", "transform_cell")


def _ids(namespace: dict) -> dict[str, int]:
    return {key: id(value) for key, value in list(namespace.items())}


def _shell() -> Any:
    try:
        from IPython import get_ipython

        return get_ipython()
    except ImportError:
        return None


def _watched() -> dict[str, dict[str, Any]]:
    import sys

    found = {}
    for name in WATCHED_MODULES:
        if name in sys.modules:
            found[name] = dict(vars(sys.modules[name]))
    for module, cls in WATCHED_CLASSES:
        if module in sys.modules and hasattr(sys.modules[module], cls):
            found[f"{module}.{cls}"] = dict(vars(getattr(sys.modules[module], cls)))
    return found


def snapshot() -> dict[str, Any]:
    """What the audit compares against: identities of builtins, hooks, modules and shell methods."""
    import builtins
    import signal
    import sys

    shell = _shell()
    return {
        "builtins": _ids(vars(builtins)),
        "modules": {name: id(module) for name, module in list(sys.modules.items())},
        "hooks": _ids(_hooks()),
        "meta_path": [id(finder) for finder in sys.meta_path],
        "sigint": id(signal.getsignal(signal.SIGINT)),
        "watched": {label: _ids(namespace) for label, namespace in _watched().items()},
        "shell": {name: id(getattr(type(shell), name, None)) for name in SHELL_METHODS} if shell else {},
        "transformers": _transformers(shell),
        "grading": _grading_state(shell),
    }


def _grading_state(shell: Any) -> dict[str, int]:
    """Identities of what carries the grader's results: its own module, the notebook's builtins, display."""
    import sys

    grader = vars(sys.modules.get("__grading__", sys))
    state = {f"grader's {key}": id(value) for key, value in grader.items() if key != "before"}
    if shell is not None:
        state["notebook's __builtins__"] = id(shell.user_ns.get("__builtins__"))
        state["IPython display publisher"] = id(getattr(shell, "display_pub", None))
        state["IPython display publisher's publish"] = id(getattr(type(shell.display_pub), "publish", None))
    return state


def _transformers(shell: Any) -> list[int]:
    if shell is None:
        return []
    lists = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")
    return [id(item) for name in lists for item in getattr(shell, name, [])]


def _foreign(value: Any) -> bool:
    """True for a value defined in the notebook itself (a student's function, lambda or object)."""
    module = getattr(value, "__module__", None)
    if not isinstance(module, str):
        module = type(value).__module__
    return module == "__main__"


def _changed(before: dict[str, int], now: dict[str, Any], label: str) -> list[str]:
    """Entries removed, or replaced by something the notebook defined (libraries may rewrap their own)."""
    found = []
    for key, ident in before.items():
        if key not in now:
            found.append(f"{label}.{key} (removed)")
        elif id(now[key]) != ident and _foreign(now[key]):
            found.append(f"{label}.{key}")
    return found


def _hooks() -> dict[str, Any]:
    import sys

    return {
        "excepthook": sys.excepthook,
        "displayhook": sys.displayhook,
        "settrace": sys.gettrace(),
        "setprofile": sys.getprofile(),
    }


def _student_callbacks(shell: Any) -> list[str]:
    found = []
    for event, callbacks in getattr(getattr(shell, "events", None), "callbacks", {}).items():
        for callback in callbacks:
            if getattr(callback, "__module__", None) in (None, "__main__"):
                found.append(f"IPython event callback on {event}")
    return found


def audit(before: dict[str, Any]) -> list[str]:
    """Every change since :func:`snapshot` that alters how the kernel runs code (empty when none)."""
    import builtins
    import signal
    import sys

    shell = _shell()
    altered = _changed(before["builtins"], dict(vars(builtins)), "builtins")
    altered += [f"builtins.{key} (added)" for key in set(vars(builtins)) - set(before["builtins"])]
    modules = dict(sys.modules)
    altered += [
        f"sys.modules[{k!r}]" for k, ident in before["modules"].items() if k in modules and id(modules[k]) != ident
    ]
    altered += _changed(before["hooks"], _hooks(), "sys")
    altered += [
        f"sys.meta_path: {type(f).__qualname__}"
        for f in sys.meta_path
        if id(f) not in before["meta_path"] and type(f).__module__ == "__main__"
    ]
    handler = signal.getsignal(signal.SIGINT)
    if id(handler) != before["sigint"] and (handler == signal.SIG_IGN or _foreign(handler)):
        altered.append("signal handler for SIGINT")
    now = _watched()
    for label, idents in before["watched"].items():
        altered += _changed(idents, now.get(label, {}), label)
    altered += [
        f"{label}.{key} (added)"
        for label, ns in now.items()
        for key in set(ns) - set(before["watched"].get(label, ns))
        if _foreign(ns[key])
    ]
    grading = _grading_state(shell)
    altered += [f"{key} (replaced)" for key, ident in before["grading"].items() if grading.get(key) != ident]
    if shell is not None:
        altered += [f"IPython shell.{name}" for name in SHELL_METHODS if name in vars(shell)]
        altered += [
            f"IPython {name}"
            for name, ident in before["shell"].items()
            if id(getattr(type(shell), name, None)) != ident
        ]
        if _transformers(shell) != before["transformers"]:
            altered.append("IPython input or AST transformers")
        altered += _student_callbacks(shell)
    return sorted(set(altered))
