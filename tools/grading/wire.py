"""Values as plain JSON data, both ways: the grader's fresh inputs in, the student's results out.

This module runs on both sides of the sandbox. Outside, the grader encodes the inputs it chose and
decodes what came back; inside, its source is shipped into the student's kernel (it imports only
the standard library, and torch and NumPy inside the functions), where :func:`run_probe` calls one
probe on decoded inputs and encodes the result. Only data crosses: tensors become
``{"__tensor__": {dtype, shape, device, requires_grad, values}}``, tuples ``{"__tuple__": [...]}``,
NumPy numbers ``{"__scalar__": {type, value}}`` (back as their own type: an ``np.float32`` is no Python
float), anything else is reduced to its type name (``{"__object__": "module.Class"}``). Decoding is
defensive: the data may have been forged. A probe that watches how the student's function computes reads
the result into plain values inside its watch (:func:`tools.grading.watch.settled`): reading a value of a
class of the student's (a ``float`` subclass, a tensor subclass) runs the student's code.
"""

from __future__ import annotations

import builtins as _builtins
import json
import math
import sys as _sys
from typing import Any

__builtins__ = dict(
    vars(_builtins)
)  # its own copy: a notebook that replaces `isinstance` or `str` changes nothing here
_DUMPS, _LOADS = json.dumps, json.loads  # kept when the grader's code is set up, before any student cell
MIME = "application/x.course-grading+json"  # how a probe's result leaves the kernel (a display message)
MAX_ITEMS = 200_000  # numbers per tensor or list: larger ones are reduced to their type
MAX_DEPTH = 12
DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64", "bool")


class Opaque:
    """A value the wire does not carry (a model, a loader, a forged or oversized value): only its type."""

    def __init__(self, type_name: str) -> None:
        self.type_name = str(type_name)[:200]

    def __repr__(self) -> str:
        return f"<{self.type_name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.type_name == self.type_name

    __hash__ = None  # type: ignore[assignment]


def _type_name(obj: Any) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def _encode_array(obj: Any, tag: str, device: str, requires_grad: bool) -> dict:
    dtype = str(obj.dtype).replace("torch.", "")
    if dtype not in DTYPES:
        return {"__object__": f"{tag.strip('_')} of {dtype}"}
    shape = [int(n) for n in obj.shape]
    values = None
    if device != "meta" and math.prod(shape) <= MAX_ITEMS:
        flat = obj.reshape(-1)
        values = [bool(v) if isinstance(v, bool) else float(v) for v in flat.tolist()]
    return {tag: {"dtype": dtype, "shape": shape, "device": device, "requires_grad": requires_grad, "values": values}}


def encode(obj: Any, depth: int = 0) -> Any:
    """Plain JSON data for ``obj`` (tensors, arrays, numbers, strings, tuples, lists, dicts with str keys)."""
    if depth > MAX_DEPTH:
        return {"__object__": "too deeply nested"}
    if obj is None or isinstance(obj, (bool, str)):
        return obj if not isinstance(obj, str) else obj[:10_000]
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, (list, tuple)):
        if len(obj) > MAX_ITEMS:
            return {"__object__": _type_name(obj)}
        items = [encode(item, depth + 1) for item in obj]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if isinstance(obj, dict) and all(isinstance(key, str) for key in obj):
        return {"__dict__": {key: encode(value, depth + 1) for key, value in list(obj.items())[:1000]}}
    return _encode_library(obj)


def _encode_library(obj: Any) -> Any:
    import numpy as np
    import torch

    if isinstance(obj, torch.Tensor):
        tensor = obj.detach()
        if tensor.device.type not in ("cpu", "meta"):
            tensor = tensor.cpu()
        return _encode_array(tensor, "__tensor__", obj.device.type, bool(obj.requires_grad))
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biuf":
        return _encode_array(obj, "__ndarray__", "cpu", False)
    plain = np.array(obj)[()] if isinstance(obj, np.generic) else None  # its data: no method of a subclass runs
    if plain is not None and plain.dtype.kind in "biuf":
        value = {"b": bool, "i": int, "u": int, "f": float}[plain.dtype.kind](plain.item())  # (longdouble's item())
        return {"__scalar__": {"type": _type_name(plain), "value": value}}
    return {"__object__": _type_name(obj)}


def _decode_array(spec: Any, tensor: bool) -> Any:
    import numpy as np
    import torch

    if not isinstance(spec, dict) or spec.get("dtype") not in DTYPES:
        return Opaque("unreadable array")
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(n, int) and 0 <= n <= MAX_ITEMS for n in shape):
        return Opaque("unreadable array")
    values, dtype, device = spec.get("values"), spec["dtype"], spec.get("device")
    if values is None:
        if tensor and device == "meta":
            return torch.empty(shape, dtype=getattr(torch, dtype), device="meta")
        return Opaque(f"{'tensor' if tensor else 'array'} on {str(device)[:20]}")
    if not isinstance(values, list) or len(values) != math.prod(shape):
        return Opaque("unreadable array")
    if not all(isinstance(v, (int, float)) for v in values):
        return Opaque("unreadable array")
    if not tensor:
        return np.asarray(values, dtype=np.float64).astype(dtype).reshape(shape)
    out = torch.tensor(values, dtype=torch.float64).to(getattr(torch, dtype)).reshape(shape)
    if spec.get("requires_grad") is True and out.is_floating_point():
        out.requires_grad_(True)
    return out


def _decode_scalar(type_name: str, value: int | float) -> Any:
    """A NumPy number as its own type (``np.float32``: not the Python float a task may ask for), else the value."""
    import numpy as np

    module, _, name = type_name.partition(".")
    kind = getattr(np, name, None) if module == "numpy" and name.isidentifier() else None
    if not (isinstance(kind, type) and issubclass(kind, (np.number, np.bool_))):
        return value
    try:
        with np.errstate(all="ignore"):
            return kind(value)
    except (OverflowError, ValueError, TypeError):  # forged: 300 as a uint8
        return Opaque(f"unreadable {name}")


def decode(data: Any, depth: int = 0) -> Any:
    """The value :func:`encode` described: tensors, arrays, tuples come back; the rest as :class:`Opaque`."""
    if depth > MAX_DEPTH + 2:
        return Opaque("too deeply nested")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(item, depth + 1) for item in data]
    if not isinstance(data, dict) or len(data) != 1:
        return Opaque("unreadable")
    ((tag, body),) = data.items()
    if tag == "__tuple__" and isinstance(body, list):
        return tuple(decode(item, depth + 1) for item in body)
    if tag == "__dict__" and isinstance(body, dict):
        return {str(key): decode(value, depth + 1) for key, value in body.items()}
    if tag in ("__tensor__", "__ndarray__"):
        return _decode_array(body, tag == "__tensor__")
    if tag == "__scalar__" and isinstance(body, dict) and isinstance(body.get("value"), (int, float)):
        return _decode_scalar(str(body.get("type")), body["value"])
    if tag == "__object__":
        return Opaque(str(body))
    return Opaque("unreadable")


def loads(text: str) -> Any:
    """Decode a JSON text from the kernel; anything unreadable becomes ``Opaque("unreadable")``."""
    try:
        return decode(_LOADS(text))
    except (ValueError, TypeError, RecursionError):
        return Opaque("unreadable")


class Names(dict):
    """The student's globals as the probes see them: a missing name says so, as Python would."""

    def __missing__(self, key: str) -> Any:
        raise NameError(f"name {key!r} is not defined: run the cell that defines it")


# Set in the kernel before any student code runs (tools.grading.jobs.PRE), so that no name the notebook
# defines later (a global ``exec``, ``display`` or ``globals``) stands between the grader and its results.
DISPLAY: Any = None  # IPython's display function
NAMESPACE: dict = {}  # the notebook's globals
auditor: Any = None  # tools.grading.audit, shipped like this module
PUBLISHER: Any = None  # IPython's display publisher
before: Any = None  # the audit's snapshot of the kernel before the student's cells


def emit(text: str) -> None:
    """Send ``text`` out of the kernel as a display message of type :data:`MIME` (the runner picks it up), past
    the display publisher's hooks (ipykernel's, which may rewrite or drop a message: the audit reports them)."""
    display = DISPLAY
    if display is None:
        from IPython.display import display
    local = getattr(PUBLISHER, "_thread_local", None)
    hooks = getattr(local, "hooks", None)
    kept = list(hooks) if type(hooks) is list else []
    if kept:
        list.clear(hooks)
    try:
        display({MIME: text}, raw=True)
    finally:
        if kept:  # (put back: the audit reports them)
            list.extend(hooks, kept)


def probe(name: str, source: str, inputs_json: str) -> None:
    """Run probe ``name`` on the notebook's globals and send its result (one probe step of the job)."""
    emit(run_probe(name, source, inputs_json, NAMESPACE))


def report() -> None:
    """Send what the audit found changed since the snapshot (an audit step of the job)."""
    emit(_DUMPS(auditor.audit(before)))


def run_probe(name: str, source: str, inputs_json: str, namespace: dict) -> str:
    """Run probe ``name`` (its ``source`` defines it) on decoded inputs; its result or its error as JSON text.

    The probe is called as ``probe(inputs, namespace)``, ``namespace`` being the student's globals.
    torch's generator is seeded from ``inputs["seed"]`` first, so every run draws the same numbers.
    """
    scope: dict = {}
    aside = modes_aside()  # the modes the notebook left active run nowhere in the probe (put back for the audit)
    try:
        exec(compile(source, f"<probe {name}>", "exec"), scope)  # the grader's own code, shipped with the job
        inputs = decode(_LOADS(inputs_json))
        if isinstance(inputs, dict) and isinstance(inputs.get("seed"), int):
            import torch

            torch.manual_seed(inputs["seed"])
        value = scope[name](inputs, Names(namespace))
        return _DUMPS({"ok": True, "value": encode_plain(value)})
    except BaseException as error:  # noqa: BLE001  (the student's code may raise anything, even SystemExit)
        if isinstance(error, KeyboardInterrupt):
            raise
        return _DUMPS({"ok": False, "error": describe(error)})
    finally:
        modes_back(aside)


def encode_plain(value: Any) -> Any:
    """:func:`encode`, with torch's modes set aside and torch-function dispatch off: no mode the student's code
    entered (in a cell or in the probe) and no tensor subclass's ``__torch_function__`` runs while the grader reads
    the values (``.detach()``, ``.tolist()``): a mode that swaps the answer in there, after the watch, swaps nothing."""
    torch, aside = _sys.modules.get("torch"), modes_aside()
    try:
        if torch is None:
            return encode(value)
        with torch._C.DisableTorchFunction():
            return encode(value)
    finally:
        modes_back(aside)


def modes_aside() -> list | None:
    """Take torch's active function and dispatch modes off their stacks (a ``TorchFunctionMode`` entered by hand stays
    active after its cell, and would see every torch call of a probe, its reading of the results too), but torch's own
    ``DeviceContext`` (``torch.set_default_device``), which stays: what :func:`modes_back` puts back (below the stack as
    the probe left it, whose ``DeviceContext`` is the one a ``set_default_device`` in it made), bottom first."""
    torch = _sys.modules.get("torch")
    if torch is None:
        return None
    C, kept = torch._C, getattr(_sys.modules.get("torch.utils._device"), "DeviceContext", None)
    functions = [C._pop_torch_function_stack() for _ in range(C._len_torch_function_stack())][::-1]
    dispatch = [C._pop_torch_dispatch_stack(None) for _ in range(C._len_torch_dispatch_stack())][::-1]
    for mode in functions:
        if type(mode) is kept:
            C._push_on_torch_function_stack(mode)
    return [[mode for mode in functions if type(mode) is not kept], dispatch]  # a probe may set another device


def modes_back(aside: list | None) -> None:
    """Put back what :func:`modes_aside` took off, then the modes left on the stacks since (the audit reports them)."""
    if aside is None:
        return
    C = _sys.modules["torch"]._C
    stacks = (
        (C._len_torch_function_stack, C._pop_torch_function_stack, C._push_on_torch_function_stack),
        (C._len_torch_dispatch_stack, lambda: C._pop_torch_dispatch_stack(None), C._push_on_torch_dispatch_stack),
    )
    for before, (count, pop, push) in zip(aside, stacks, strict=True):
        now = [pop() for _ in range(count())][::-1]
        for mode in before + [mode for mode in now if not any(mode is old for old in before)]:
            push(mode)


def describe(error: BaseException) -> str:
    """``Name: message`` of an exception, even one whose message cannot be read (its ``__str__`` raises)."""
    name = str(type.__dict__["__name__"].__get__(type(error)))
    try:
        message = str(error)
    except BaseException as inner:  # noqa: BLE001  (the student's exception class: its __str__ is theirs)
        if isinstance(inner, KeyboardInterrupt):
            raise
        message = "(its message could not be read: its __str__ raised an error)"
    return (f"{name}: {message}" if message else name)[:500]
