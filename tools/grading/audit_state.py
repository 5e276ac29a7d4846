"""torch's global state and the kernel's threads, for the audit (:mod:`tools.grading.audit`, shipped with it).

What a cell can leave active that runs in later code, the probes' included, out of their watches: a torch mode entered
by hand (a ``TorchFunctionMode`` sees every later torch call, the grader's reading of the results too), nn.Module's
global hooks (``register_module_forward_pre_hook``: they run in every model's forward), the grad and inference modes,
the saved-tensor hooks, and a thread still running (a probe's watch reaches the threads started while it watches; one
that existed before, such as the monitor thread of a tqdm progress bar, runs unwatched). In the kernel this source runs
in the audit's own namespace, before the audit's (``tools.grading.jobs.PRE``); torch's functions that read that state
are taken at the snapshot, before any student code.

The probes' watched calls of the student's functions are compared too, not only at cell and probe ends: a torch mode
entered at the end of one call and left at the start of the next is active while the grader reads the results between
them, and a mode popped inside a call (``contextlib.ExitStack().push(mode)``, then ``close()``: the grader's own watch)
leaves the rest of the call unwatched. :func:`watched_call` (``as_written`` in :mod:`tools.grading.watch`) keeps torch's
mode stacks, by identity, as the call found them and compares them when it is over, as :func:`modes_kept`
(``settled``) does as soon as the call has returned, before its value is read: any mode added, removed or replaced
(torch's own ``DeviceContext`` excepted, where ``torch.set_default_device`` set it: honest) stops the probe and is
noted for the audit. Nor is a ``DeviceContext`` honest that holds a ``__torch_function__`` of the notebook's (copied
onto it by ``functools.update_wrapper``), or whose class's is not torch's: the audit reports it wherever it stands.
"""

from __future__ import annotations

import builtins as _builtins
import sys as _sys
import types as _types
from typing import Any

__builtins__ = dict(vars(_builtins))  # its own copy, as the audit's
_FRAMES = _sys._current_frames  # the live threads, by ident, as the interpreter knows them (not threading's list)
_TORCH: dict[str, Any] = {}  # torch's own functions, read at the first snapshot
MODULE = "torch.nn.modules.module"  # where nn.Module's global hooks live (``_global_forward_pre_hooks``...)
# the kernel's own packages: a thread that runs their code only (pyzmq's garbage collector, started the first time
# the kernel sends a large message) is the kernel's (a cell that uses them directly is flagged by the scan)
KERNEL = ("/zmq/", "/ipykernel/", "/jupyter_client/", "/tornado/", "/IPython/")
NOTED: list[str] = []  # what changed in torch's modes, or a grader's model, during the probes' calls (audit reports)
_WATCHING: list[list[tuple[str, Any]]] = []  # torch's modes as each watched call open now found them


def torch_bases(kinds: dict[int, tuple[str, Any]]) -> dict[str, tuple[Any, dict]]:
    """``kinds`` (by identity: a label, a class or an object) and torch's classes they inherit from, labelled by module
    and name, which the audit watches too (``nn.ZeroPad1d``'s forward is ``_ConstantPadNd``'s, in no namespace of
    torch.nn): label -> (the object, its ``__mro__`` where a class, which ``__bases__`` reassigned changes)."""
    found = dict(kinds)
    for base in [base for _, cls in kinds.values() if isinstance(cls, type) for base in cls.__mro__[1:]]:
        where = str(getattr(base, "__module__", ""))
        if where.startswith("torch") and id(base) not in found:
            found[id(base)] = (f"{where}.{base.__qualname__}", base)
    return {label: (k, {"__mro__": k.__mro__} if isinstance(k, type) else {}) for label, k in found.values()}


def _functions() -> dict[str, Any]:
    torch = _sys.modules.get("torch")
    if torch is not None and not _TORCH:
        import torch.nn.modules.module
        import torch.utils._device

        C = torch._C
        infra = (C._get_dispatch_mode, tuple(C._TorchDispatchModeKey.__members__.values()))  # fake, proxy...
        stacks = {"function": (C._len_torch_function_stack, C._get_function_stack_at)}
        stacks["dispatch"] = (C._len_torch_dispatch_stack, C._get_dispatch_stack_at)
        device = torch.utils._device.DeviceContext  # set_default_device's: its own __torch_function__, its record
        modes = {"stacks": stacks, "infra": infra, "device": device, "default": torch._GLOBAL_DEVICE_CONTEXT}
        modes["device_function"] = type.__dict__["__dict__"].__get__(device).get("__torch_function__")
        _TORCH.update(modes, grad=torch.is_grad_enabled, inference=torch.is_inference_mode_enabled)
        _TORCH.update(saved=C._autograd._top_saved_tensors_default_hooks, module=_sys.modules[MODULE])
    return _TORCH


def _modes(found: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every torch mode active now: (function or dispatch, the mode)."""
    modes = [(kind, at(i)) for kind, (count, at) in found["stacks"].items() for i in range(count())]
    get, keys = found["infra"]
    return modes + [("dispatch", mode) for mode in map(get, keys) if mode is not None]


def _global_hooks(found: dict[str, Any]) -> dict[str, int]:
    space = dict(vars(found["module"]))  # (the module torch's functions read, whatever sys.modules says now)
    hooks = {name: value for name, value in space.items() if name.startswith("_global_") and isinstance(value, dict)}
    return {f"{name}[{key!r}]": id(hook) for name, value in hooks.items() for key, hook in list(dict.items(value))}


def kernel_state() -> dict[str, Any]:
    """torch's modes, global module hooks, grad and inference modes, saved-tensor hooks; the live threads."""
    state: dict[str, Any] = {"threads": sorted(_FRAMES())}
    found = _functions()
    if found:
        state["modes"] = [id(mode) for _, mode in _modes(found)]
        state["hooks"], state["grad"], state["inference"] = _global_hooks(found), found["grad"](), found["inference"]()
        state["saved"] = [id(hook) for hook in found["saved"](False) or ()]
    return state


def _name(obj: Any) -> str:
    return str(type.__dict__["__qualname__"].__get__(type(obj)))  # (not what the object says of itself)


def _kernels(frame: Any, roots: tuple[str, ...]) -> bool:
    """Whether a thread's frames (``frame`` and those below it) run the kernel's own code, and the standard library's
    only: not a library's (tqdm's monitor thread), a pool's idle worker (what it is given runs there), nor a cell's."""
    kernel = False
    while frame is not None:
        name = frame.f_code.co_filename
        kernel |= any(part in name for part in KERNEL)
        if not name.startswith(roots) or "-packages/" in name and not any(part in name for part in KERNEL):
            return False
        frame = frame.f_back
    return kernel


def state_changed(before: dict[str, Any], roots: tuple[str, ...]) -> list[str]:
    """What the notebook left active since :func:`kernel_state` (empty when nothing); ``roots``: where the code of
    Python and its libraries lives."""
    now, found, altered, frames = kernel_state(), _TORCH, [], _FRAMES()
    for ident in sorted(set(frames) - set(before.get("threads", []))):
        if _kernels(frames[ident], roots):
            continue
        active = getattr(_sys.modules.get("threading"), "_active", {})
        thread = dict.get(active, ident) if isinstance(active, dict) else None
        what = (
            "unknown"
            if thread is None
            else f"{object.__getattribute__(thread, '__dict__').get('_name')}: {_name(thread)}"
        )
        altered.append(
            f"thread started by the notebook's code is still running ({what}): it runs out of the probes' watches"
        )
    if not found or "modes" not in before:
        return altered
    for kind, mode in _modes(found):
        if id(mode) not in before["modes"] and type(mode) is not found["device"]:  # set_default_device's is honest
            altered.append(f"torch {kind} mode left active ({_name(mode)}): it sees every later torch call")
    altered += [item for item in _forged_devices(_modes(found), found) + NOTED if item not in altered]
    hooks = {key.partition("[")[0] for key, ident in now["hooks"].items() if before["hooks"].get(key) != ident}
    altered += [f"{MODULE}.{name}: a global hook is registered (it runs in every model)" for name in sorted(hooks)]
    for key, what in (("grad", "grad mode"), ("inference", "inference mode")):
        if now[key] != before[key]:
            altered.append(f"torch's {what} is left {'on' if now[key] else 'off'} (changed for every later cell)")
    if now["saved"] != before["saved"]:
        altered.append("torch's saved-tensor hooks are left installed (saved_tensors_hooks entered by hand)")
    return altered


def _namespace(obj: Any) -> dict:
    try:
        return dict(object.__getattribute__(obj, "__dict__"))
    except (AttributeError, TypeError):
        return {}


FORGED = "torch's DeviceContext (torch.set_default_device's) runs a __torch_function__ of the notebook's"


def _forged_devices(modes: list[tuple[str, Any]], found: dict[str, Any]) -> list[str]:
    """A ``DeviceContext`` given a ``__torch_function__`` of its own (``functools.wraps(...)(ctx)`` copies one into
    its ``__dict__``), or whose class's is not torch's: it rewrites every torch call, and passes for torch's own."""
    own = type.__dict__["__dict__"].__get__(found["device"]).get("__torch_function__")
    devices = [mode for _, mode in modes if type(mode) is found["device"]]
    forged = own is not found["device_function"] or any("__torch_function__" in _namespace(m) for m in devices)
    return [f"{FORGED}: it rewrites the grader's torch calls"] if devices and forged else []


def _graders(mode: Any, kind: str) -> bool:
    """A mode of the grader's own (its watch: a class defined in a probe's code), as the class says, not the mode."""
    name = f"__torch_{kind}__"
    for klass in type.__dict__["__mro__"].__get__(type(mode)):
        method = type.__dict__["__dict__"].__get__(klass).get(name)
        if method is not None:
            kept = type(method) is _types.FunctionType and name not in _namespace(mode)
            return kept and method.__code__.co_filename.startswith("<probe ")
    return False


def modes_changed(before: list[tuple[str, Any]] | None, graders: bool) -> list[str]:
    """What changed in torch's modes since ``before`` (a watched call's start; None: a probe's, where torch's own
    ``DeviceContext`` alone is active): any mode added, removed or moved (``graders``: the grader's watch, entered
    since, excepted), a ``DeviceContext`` not the one ``torch.set_default_device`` set, or one forged."""
    found = _functions()
    if not found:
        return []
    now, device = _modes(found), found["device"]
    changed = _forged_devices(now, found)

    def others(modes: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        return [(k, m) for k, m in modes if type(m) is not device and not (graders and _graders(m, k))]

    was, left = others(before or []), others(now)
    for (kind, mode), how in [(item, "added") for item in left] + [(item, "removed") for item in was]:
        if not any(mode is other for _, other in (was if how == "added" else left)):
            changed.append(f"torch {kind} mode {how} during a call of the notebook's code ({_name(mode)})")
    if not changed and [id(m) for _, m in left] != [id(m) for _, m in was]:
        changed.append("torch's modes reordered during a call of the notebook's code")
    default = getattr(found["default"], "device_context", None)  # where set_default_device keeps its own
    if [id(mode) for _, mode in now if type(mode) is device] != ([] if default is None else [id(default)]):
        changed.append("torch's DeviceContext moved during a call of the notebook's code, not by set_default_device")
    return changed


def modes_kept(graders: bool = True) -> None:
    """Stop the probe (a RuntimeError) if torch's modes changed since the watched call open now began (or, with none
    open, since the probe began), noting what changed for the audit: called before a call's value is read."""
    changed = modes_changed(_WATCHING[-1] if _WATCHING else None, graders)
    NOTED.extend(item for item in changed if item not in NOTED)
    if changed:
        raise RuntimeError(
            f"{changed[0]}; the grader reads no result while torch's modes are not as the call found them: enter a "
            "mode in a with block that ends inside the function, and leave torch's own (set_default_device's) alone"
        )


def note(item: str) -> None:
    """Note for the audit what a call of the notebook's code changed that a probe found (a model of the grader's
    altered: ``model_held`` in :mod:`tools.grading.probe_call`)."""
    if item not in NOTED:
        NOTED.append(item)


class watched_call:  # noqa: N801  (used as a function: ``with watched_call(inner):``)
    """Around a watched call of the student's code (``inner``: another context, entered inside): torch's modes are
    kept as the call finds them, for :func:`modes_kept`, and compared when the call is over."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __enter__(self) -> Any:
        found = _functions()
        _WATCHING.append(_modes(found) if found else [])
        try:
            return self.inner.__enter__()
        except BaseException:
            _WATCHING.pop()
            raise

    def __exit__(self, kind: Any, error: Any, trace: Any) -> Any:
        try:
            out = self.inner.__exit__(kind, error, trace)
            if kind is None:
                modes_kept(graders=False)  # the grader's own watch is over too
            return out
        finally:
            _WATCHING.pop()
