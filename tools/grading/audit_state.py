"""torch's global state and the kernel's threads, for the audit (:mod:`tools.grading.audit`, shipped with it).

What a cell can leave active that runs in later code, the probes' included, out of their watches: a torch mode entered
by hand (a ``TorchFunctionMode`` sees every later torch call, the grader's reading of the results too), nn.Module's
global hooks (``register_module_forward_pre_hook``: they run in every model's forward), the grad and inference modes,
the saved-tensor hooks, and a thread still running (a probe's watch reaches the threads started while it watches; one
that existed before, such as the monitor thread of a tqdm progress bar, runs unwatched). In the kernel this source runs
in the audit's own namespace, before the audit's (``tools.grading.jobs.PRE``); torch's functions that read that state
are taken at the snapshot, before any student code.
"""

from __future__ import annotations

import builtins as _builtins
import sys as _sys
from typing import Any

__builtins__ = dict(vars(_builtins))  # its own copy, as the audit's
_FRAMES = _sys._current_frames  # the live threads, by ident, as the interpreter knows them (not threading's list)
_TORCH: dict[str, Any] = {}  # torch's own functions, read at the first snapshot
MODULE = "torch.nn.modules.module"  # where nn.Module's global hooks live (``_global_forward_pre_hooks``...)
# the kernel's own packages: a thread that runs their code only (pyzmq's garbage collector, started the first time
# the kernel sends a large message) is the kernel's (a cell that uses them directly is flagged by the scan)
KERNEL = ("/zmq/", "/ipykernel/", "/jupyter_client/", "/tornado/", "/IPython/")


def _functions() -> dict[str, Any]:
    torch = _sys.modules.get("torch")
    if torch is not None and not _TORCH:
        import torch.nn.modules.module
        import torch.utils._device

        C = torch._C
        infra = (C._get_dispatch_mode, tuple(C._TorchDispatchModeKey.__members__.values()))  # fake, proxy...
        stacks = {"function": (C._len_torch_function_stack, C._get_function_stack_at)}
        stacks["dispatch"] = (C._len_torch_dispatch_stack, C._get_dispatch_stack_at)
        modes = {"stacks": stacks, "infra": infra, "device": torch.utils._device.DeviceContext}
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
    hooks = {key.partition("[")[0] for key, ident in now["hooks"].items() if before["hooks"].get(key) != ident}
    altered += [f"{MODULE}.{name}: a global hook is registered (it runs in every model)" for name in sorted(hooks)]
    for key, what in (("grad", "grad mode"), ("inference", "inference mode")):
        if now[key] != before[key]:
            altered.append(f"torch's {what} is left {'on' if now[key] else 'off'} (changed for every later cell)")
    if now["saved"] != before["saved"]:
        altered.append("torch's saved-tensor hooks are left installed (saved_tensors_hooks entered by hand)")
    return altered
