"""What a learner's code can leave changed for the code after it, read and put back: this thread's global settings
(grad mode, the default dtype and device, the torch function and dispatch modes entered: :func:`settings`,
:func:`put_back`).

Grad mode, the default device and the mode stacks are per thread in torch, so what a check's worker thread leaves
ends with it, but the check's own code after the learner's runs in that thread; the default dtype is process-wide."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch.overrides import _get_current_function_mode_stack as _function_modes
from torch.utils import _device
from torch.utils import _python_dispatch as _dispatch
from torch.utils._device import DeviceContext

# the global settings learner code can leave changed for every later cell, as a mistake id each (in this order);
# DEVICE_BY_HAND marks a default_device_changed made by a device context entered by hand
SETTINGS = ("mode_left_on", "grad_left_off", "default_dtype_changed", "default_device_changed")
DEVICE_BY_HAND = "device_entered_by_hand"
# a torch function or dispatch mode entered and never left: every torch call after it (the check's own comparisons
# too) goes through the learner's __torch_function__, which may answer torch.allclose with True
MODE_LEFT = (
    "your function entered a torch mode (a TorchFunctionMode or TorchDispatchMode) and never left it, so every torch "
    "call after it, the check's own comparisons too, went through that mode: nothing the check measured can be "
    "trusted. Enter it in a with-block inside your function; it is switched off now."
)
DEVICE_LEFT = (
    "your function entered a device context by hand (torch.device(...).__enter__()) and never left it, so every "
    "tensor made after it, the check's own included, landed on that device; it is switched off now. Use a with-block "
    "inside your function (with torch.device(...):), or move what you need explicitly: model.to(device), x.to(device)."
)
_DEVICE_FUNCTION = vars(DeviceContext)["__torch_function__"]  # torch's own: a device context with another is a mode


class State(NamedTuple):
    """A thread's global settings (:func:`settings`)."""

    grad: bool
    dtype: torch.dtype
    device: torch.device
    functions: list  # the torch function modes entered, torch.set_default_device's and torch.device's included
    dispatches: list  # the torch dispatch modes entered
    held: Any  # the DeviceContext torch.set_default_device made in this thread, or None
    current: Any  # torch.utils._device.CURRENT_DEVICE, process-wide, which a DeviceContext's __enter__ sets


def _among(mode: object, modes: list) -> bool:
    return any(mode is other for other in modes)


def _device_of(functions: list, held: Any) -> torch.device:
    """The default device as torch reads it (the last device context entered, then set_default_device's), read
    without calling torch (a learner's mode on the stack would see the call)."""
    found = next((mode for mode in reversed(functions) if isinstance(mode, DeviceContext)), held)
    device = getattr(found, "device", None)
    return device if isinstance(device, torch.device) else torch.device("cpu")


def settings() -> State:
    """This thread's global settings: grad mode, the default dtype and device, the torch modes entered."""
    functions, held = _function_modes(), getattr(torch._GLOBAL_DEVICE_CONTEXT, "device_context", None)
    return State(
        torch.is_grad_enabled(),
        torch.get_default_dtype(),
        _device_of(functions, held),
        functions,
        _dispatch._get_current_dispatch_mode_stack(),
        held,
        _device.CURRENT_DEVICE,
    )


def _honest_device(mode: object) -> bool:
    """Whether ``mode`` is torch's own device context, with torch's own __torch_function__."""
    return (
        type(mode) is DeviceContext
        and "__torch_function__" not in vars(mode)
        and vars(DeviceContext).get("__torch_function__") is _DEVICE_FUNCTION
    )


def put_back(before: State) -> set[str]:
    """Put back the settings ``before`` (from :func:`settings`): every torch mode and device context entered since is
    left, and the mistake ids of what had changed are returned (:data:`SETTINGS`; with :data:`DEVICE_BY_HAND` where
    a device context entered by hand changed the device). Tracking switched *on* is put back but not named: it harms
    nothing; so is a device context that leaves the device as it was (``torch.set_default_device("cpu")``).

    >>> before = settings()
    >>> torch.set_default_dtype(torch.float64); _ = torch.device("meta").__enter__()
    >>> sorted(put_back(before)), torch.get_default_dtype(), torch.empty(1).device
    (['default_device_changed', 'default_dtype_changed', 'device_entered_by_hand'], torch.float32, device(type='cpu'))
    """
    now = settings()
    new = [mode for mode in now.functions if not _among(mode, before.functions)]
    devices = [mode for mode in new if _honest_device(mode)]
    modes_left = len(devices) < len(new) or any(not _among(mode, before.dispatches) for mode in now.dispatches)
    if len(now.functions) != len(before.functions) or new:
        for _ in range(torch._C._len_torch_function_stack()):
            torch._C._pop_torch_function_stack()
        for mode in before.functions:
            torch._C._push_on_torch_function_stack(mode)
    while (stack := _dispatch._get_current_dispatch_mode_stack()) and not _among(stack[-1], before.dispatches):
        _dispatch._pop_mode(getattr(stack[-1], "_mode_key", None))
    torch._GLOBAL_DEVICE_CONTEXT.device_context, _device.CURRENT_DEVICE = before.held, before.current
    if now.dtype != before.dtype:
        torch.set_default_dtype(before.dtype)
    torch.set_grad_enabled(before.grad)
    moved = now.device != before.device
    changed = [modes_left, before.grad and not now.grad, now.dtype != before.dtype, moved]
    found = {name for name, seen in zip(SETTINGS, changed, strict=True) if seen}
    return found | ({DEVICE_BY_HAND} if moved and any(mode is not now.held for mode in devices) else set())
