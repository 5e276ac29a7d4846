"""Pick the device a lesson runs on, find the one a model lives on, explain a batch on another device or of another
dtype than the model's (or with ids an Embedding has no row for), and get tensors back to NumPy safely."""

from __future__ import annotations

import contextlib
import os
import re

import numpy as np
import torch
from torch import nn

from course.nested import nested_tensors

DEVICE_ENV_VAR = "COURSE_DEVICE"
DEVICE_CHOICES = ("cuda", "mps", "cpu")


def _is_available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return torch.backends.mps.is_available()
    return kind == "cpu"


def get_device() -> torch.device:
    """Return the best available device: cuda, then mps, then cpu.

    Set the environment variable ``COURSE_DEVICE`` (``cuda``, ``cuda:1``, ``mps``
    or ``cpu``) to choose one yourself: a value that is not a device raises ``ValueError``; a device
    this machine lacks raises ``RuntimeError`` (the setting is fine, the machine cannot honour it).

    Example:
        >>> import os; os.environ["COURSE_DEVICE"] = "cpu"
        >>> get_device()
        device(type='cpu')
    """
    wanted = os.environ.get(DEVICE_ENV_VAR, "").strip().lower()
    if not wanted:
        return torch.device(next(k for k in DEVICE_CHOICES if _is_available(k)))
    kind = wanted.split(":", 1)[0]
    if kind not in DEVICE_CHOICES:
        raise ValueError(
            f"{DEVICE_ENV_VAR}={wanted!r} is not a device this course knows. "
            f"Valid choices: {', '.join(DEVICE_CHOICES)} (optionally with an index, e.g. cuda:1), "
            f"or unset {DEVICE_ENV_VAR} to pick automatically."
        )
    try:  # a malformed index ('cuda:abc') is the setting's fault, whatever this machine has
        device = torch.device(wanted)
    except RuntimeError as exc:
        raise ValueError(f"{DEVICE_ENV_VAR}={wanted!r} is not a valid device string: {exc}") from None
    if not _is_available(kind):
        available = [k for k in DEVICE_CHOICES if _is_available(k)]
        raise RuntimeError(
            f"{DEVICE_ENV_VAR}={wanted!r} asks for {kind}, but it is not available on this machine. "
            f"Available here: {', '.join(available)}. Change or unset {DEVICE_ENV_VAR}."
        )
    if device.type != "cuda" and device.index:  # one CPU, one MPS device: an index above 0 names none
        raise ValueError(
            f"{DEVICE_ENV_VAR}={wanted!r}: there is only one {device.type} device, so it takes no index. "
            f"Use plain '{device.type}'."
        )
    if device.type == "cpu":
        return torch.device("cpu")  # cpu:0 is the CPU, and compares equal to it only without the index
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(
            f"{DEVICE_ENV_VAR}={wanted!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
            f"numbered from 0. Use a smaller index or plain 'cuda'."
        )
    return device


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    """``tensor.numpy()`` of a detached, dense CPU tensor; a dtype NumPy lacks widened to one that holds its values."""
    try:
        return tensor.numpy()
    except TypeError:  # a dtype NumPy lacks: bfloat16, float8, complex32 (their values fit in float32, complex64)
        if tensor.is_complex() and tensor.element_size() <= 8:
            return tensor.to(torch.complex64).numpy()
        if tensor.is_floating_point() and tensor.element_size() <= 4:
            with contextlib.suppress(RuntimeError, NotImplementedError):
                return tensor.float().numpy()
    raise TypeError(
        f"to_numpy cannot convert a tensor of dtype {tensor.dtype}: NumPy has no such type and torch cannot "
        "widen it. Convert it to a dtype NumPy knows first, e.g. tensor.to(torch.float32), or read its raw bits "
        "with tensor.view(torch.uint8)."
    )


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """Return a NumPy copy of ``tensor``, detached from autograd and moved to the CPU.

    A copy on every device: changing the array never changes the tensor (``tensor.numpy()`` of a CPU
    tensor shares its memory, so writing into it would change the tensor, or a model's weights).
    Tensors NumPy cannot take as they are come back as their values: sparse ones dense, quantized
    ones dequantized, bfloat16 and float8 as float32 and complex32 as complex64 (which hold each of
    their values exactly), conjugate or negative views resolved.

    Example:
        >>> t = torch.ones(2, requires_grad=True)
        >>> to_numpy(t * 2)
        array([2., 2.], dtype=float32)
        >>> to_numpy(t)[0] = 5.0  # the copy changes, not t
        >>> t
        tensor([1., 1.], requires_grad=True)
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(
            f"to_numpy expects a torch.Tensor, got {type(tensor).__name__}. "
            "Convert lists or arrays with torch.as_tensor(...) first, or use the value directly."
        )
    if tensor.is_meta or tensor.is_nested:
        raise ValueError(
            "to_numpy got a tensor on the meta device: it has a shape but no values. Compute it on a real device."
            if tensor.is_meta
            else "to_numpy got a nested tensor, whose rows differ in length: pad it first, t.to_padded_tensor(0.0)."
        )
    shared = tensor.device.type == "cpu"  # .cpu() copies a tensor from any other device; a CPU one stays itself
    tensor = tensor.detach().cpu()
    tensor = tensor.dequantize() if tensor.is_quantized else tensor
    tensor = tensor.to_dense() if tensor.layout != torch.strided else tensor
    array = _numpy(tensor.resolve_conj().resolve_neg())
    return array.copy() if shared else array


# PyTorch's own words when one operation meets tensors on two devices: the first from its device checks
# (c10 and ATen), the second from its Python reference implementations (the meta device takes that path).
_DEVICE_MISMATCH = re.compile(
    r"Expected all tensors to be on the same device|Tensor on device \S+ is not on the expected device \S+!"
)


def is_device_mismatch(error: BaseException) -> bool:
    """True if ``error`` is PyTorch's "tensors on different devices" error, and nothing else.

    Matches PyTorch's exact message, so another error that merely mentions a device (a CUDA
    device-side assert, an unavailable device) is not mistaken for it.

    Example:
        >>> try:
        ...     torch.ones(2) + torch.ones(2, device="meta")
        ... except RuntimeError as error:
        ...     print(is_device_mismatch(error))
        True
        >>> is_device_mismatch(RuntimeError("CUDA error: device-side assert triggered"))
        False
    """
    return isinstance(error, RuntimeError) and _DEVICE_MISMATCH.search(str(error)) is not None


def device_error(model: nn.Module, x: torch.Tensor, y: object, text: str) -> RuntimeError:
    """The error for torch's words ``text`` of tensors on different devices met in ``model`` given ``x`` (and ``y``);
    x may be a model's several inputs, nested. Example:
        >>> print(device_error(nn.Linear(1, 1), torch.ones(1, device="meta"), None, "..."))  # doctest: +ELLIPSIS
        tensors on different devices: x is on meta but the model on cpu. Move the batch to the model's device first...
    """
    devices = {p.device for p in model.parameters()} | {b.device for b in model.buffers()}
    device = next(iter(devices)) if len(devices) == 1 else None
    inputs, move = nested_tensors(x) or [x], "x, y = x.to(device), y.to(device)"  # inputs however nested: each one
    if not isinstance(x, torch.Tensor):  # the course's to_device moves each tensor of x, in its tuple, list or dict
        move = "from course.loaders import to_device, then x, y = to_device(x, device), y.to(device)"
    for name, tensor in [*(("x", part) for part in inputs), ("y", y)]:
        if device is not None and isinstance(tensor, torch.Tensor) and tensor.device != device:
            return RuntimeError(
                f"tensors on different devices: {name} is on {tensor.device} but the model on {device}. Move the batch "
                f"to the model's device first, {move} (with device = torch.device('{device}'), or "
                f"next(model.parameters()).device). torch said: {text}"
            )
    where = f"on the model's device ({device})" if device is not None else f"on {getattr(inputs[0], 'device', 'cpu')}"
    return RuntimeError(
        f"tensors on different devices met in the model or the loss: the batch is {where}, but something else is "
        f"elsewhere. torch said: {text} Create tensors inside forward() with device=x.device, and move the loss "
        "function's tensors (e.g. class weights) and the model together with .to(device)."
    )


def _mixed_dtypes(model: nn.Module, text: str) -> TypeError | None:
    """The error for a model whose floating-point parameters have several dtypes; None if they have one."""
    dtypes = sorted({str(p.dtype) for p in model.parameters() if p.is_floating_point()})
    if len(dtypes) < 2:
        return None
    one = "torch.float32" if "torch.float32" in dtypes else dtypes[0]
    return TypeError(
        f"the model's parameters have several dtypes ({', '.join(dtypes)}), e.g. a layer added or replaced after "
        "model.double() or model.half(), so its layers cannot pass their outputs on: no dtype of the data fits them "
        f"all. Convert the whole model to one dtype at once, model.to({one}), then give it data of that dtype. "
        f"torch said: {text}"
    )


# PyTorch's words when an operation meets two dtypes (a layer's input and its weights): no other dtype error is x's.
_DTYPE_MISMATCH = re.compile(
    r"same dtype|should be the same|expected scalar type|mixed dtype|share same datatype|Type promoting not supported"
    r"|Found dtype \w+ but expected|does not match weight dtype"
)
_NAMES = {torch.uint8: "Byte|unsigned char", torch.int8: "Char|signed char", torch.int16: "Short|short int",
          torch.int32: "Int|int", torch.int64: "Long|long int|long", torch.float16: "Half", torch.bfloat16: "BFloat16",
          torch.float32: "Float|float", torch.float64: "Double|double", torch.bool: "Bool|bool"}  # fmt: skip
_ANY_NAME = "|".join(f"{names}|{str(dtype)[6:]}" for dtype, names in _NAMES.items())


def is_dtype_mismatch(text: str) -> bool:  # "mat1 and mat2 must have the same dtype", not "Expected dtype int64"
    return _DTYPE_MISMATCH.search(text) is not None


def _named(dtype: torch.dtype, text: str) -> bool:
    """Whether torch's words name ``dtype`` (``Byte``, ``unsigned char``, ``torch.uint8``), or name no dtype at all."""
    names = f"{_NAMES.get(dtype, '')}|{str(dtype).removeprefix('torch.')}".strip("|")
    pattern = r"(?<![\w:])(?:c10::)?(?:{})(?:Tensor)?(?!\w)"
    return re.search(pattern.format(names), text) is not None or re.search(pattern.format(_ANY_NAME), text) is None


def dtype_error(model: nn.Module, x: torch.Tensor, y: object, text: str) -> TypeError | None:
    """The error for torch's words ``text`` of a dtype the model met given ``x`` (and ``y``); None if not theirs.
    A model whose parameters have several dtypes is told to take one, as one spread over several devices is; x (or y)
    is blamed only if torch says two dtypes met, naming x's (or y's): a model that converts x has errors of its own."""
    dtype = next((p.dtype for p in model.parameters()), None)
    takes_ids = any(isinstance(m, (nn.Embedding, nn.EmbeddingBag)) for m in model.modules())
    if "'indices'" in text and x.is_floating_point():  # torch's words for an Embedding given other than integers
        return TypeError(
            f"the features x are {x.dtype}, but the model's Embedding takes integer ids (whole numbers from 0 to "
            "num_embeddings - 1): x = x.long()."
        )
    if not is_dtype_mismatch(text):
        return None
    if (mixed := _mixed_dtypes(model, text)) is not None:
        return mixed
    ids = takes_ids and not x.is_floating_point()  # integer ids: rightly not the weights' dtype
    if dtype is not None and x.dtype != dtype and not ids and _named(x.dtype, text):
        model_fix = ", or the model with model.to(x.dtype)" if x.is_floating_point() else ""
        return TypeError(
            f"the features x are {x.dtype} but the model's parameters are {dtype}; they must match. Convert the data "
            f"once, x = x.to({dtype}) (NumPy arrays are float64 by default: torch.as_tensor(array, dtype={dtype})"
            f"){model_fix}."
        )
    wrong_y = isinstance(y, torch.Tensor) and y.is_floating_point() and y.dtype not in (dtype, None)
    if dtype is not None and wrong_y and _named(y.dtype, text):  # type: ignore[union-attr]
        return TypeError(
            f"the targets y are {y.dtype} but the model's parameters are {dtype}; the loss needs them to match. "  # type: ignore[union-attr]
            f"Convert the targets once, y = y.to({dtype})."
        )
    return None


def ids_error(model: nn.Module, x: torch.Tensor, error: IndexError) -> IndexError:
    """The error for an Embedding given by x an id outside 0 to num_embeddings - 1 (else ``error``)."""
    if "index out of range in self" not in str(error) or not isinstance(x, torch.Tensor) or not x.numel():
        return error  # features of several tensors: which one went to the table, only the model knows
    if x.is_floating_point():
        return error
    low, high = int(x.min()), int(x.max())
    kinds = (nn.Embedding, nn.EmbeddingBag)
    tables = [(f"model[{n}]" if n.isdigit() else n, m) for n, m in model.named_modules() if isinstance(m, kinds)]
    if not (short := [n for n, m in tables if low < 0 or high >= m.num_embeddings]):
        return error  # x's ids fit: the wrong ones came from elsewhere
    got, table = f"the features x hold ids from {low} to {high}, but", tables[0][1]
    if len(tables) > 1:  # which ids go to which table, only the model knows: named, not guessed
        rows = ", ".join(f"{n} (num_embeddings={m.num_embeddings})" for n, m in tables)
        return IndexError(
            f"{got} one of the model's {len(tables)} embedding tables got an id it has no row for: {rows}. Some of "
            f"x's ids do not fit {', '.join(short)}. Check which ids each table gets: each needs a row for every id "
            "it gets (num_embeddings = its largest id + 1), and the ids are numbered from 0."
        )
    fix = "number the ids from 0" if low < 0 else f"build it with num_embeddings={high + 1} or more, one row per id"
    return IndexError(
        f"{got} the model's {type(table).__name__} has rows for ids 0 to {table.num_embeddings - 1} only "
        f"(num_embeddings={table.num_embeddings}): {fix}."
    )


def model_device(model: nn.Module) -> torch.device:
    """The one device that holds all of the model's parameters and buffers (the CPU for a model without any).

    Raises a clear error if they are spread over several devices, or if the model is on the
    ``meta`` device (shapes without values, nothing to compute with).

    Example:
        >>> model_device(torch.nn.Linear(2, 1))
        device(type='cpu')
    """
    if not isinstance(model, nn.Module):
        what = f"the class {model.__name__}" if isinstance(model, type) else type(model).__name__
        raise TypeError(f"model should be a torch.nn.Module, got {what}. Build the model first, e.g. nn.Linear(2, 1).")
    devices = {t.device for t in model.parameters()} | {t.device for t in model.buffers()}
    if len(devices) > 1:
        names = ", ".join(sorted(str(d) for d in devices))
        raise RuntimeError(
            f"the model's parameters and buffers should all be on one device, but they are on {names}. "
            "Move the whole model at once with model.to(device) before training."
        )
    device = devices.pop() if devices else torch.device("cpu")
    if device.type == "meta":
        raise RuntimeError(
            "the model is on the meta device: its parameters have shapes but no values, so it cannot compute. "
            "Build it on a real device (e.g. without device='meta'), or give it storage and fresh weights with "
            "model.to_empty(device='cpu') followed by each layer's reset_parameters()."
        )
    return device
