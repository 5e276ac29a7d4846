"""Pick the device a lesson runs on, and get tensors back to NumPy safely."""

from __future__ import annotations

import os

import numpy as np
import torch

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
    or ``cpu``) to choose one yourself.

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
    if not _is_available(kind):
        available = [k for k in DEVICE_CHOICES if _is_available(k)]
        raise RuntimeError(
            f"{DEVICE_ENV_VAR}={wanted!r} asks for {kind}, but it is not available on this machine. "
            f"Available here: {', '.join(available)}. Change or unset {DEVICE_ENV_VAR}."
        )
    try:
        device = torch.device(wanted)
    except RuntimeError as exc:
        raise ValueError(f"{DEVICE_ENV_VAR}={wanted!r} is not a valid device string: {exc}") from None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(
            f"{DEVICE_ENV_VAR}={wanted!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
            f"numbered from 0. Use a smaller index or plain 'cuda'."
        )
    return device


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """Return a NumPy copy of ``tensor``, detached from autograd and moved to the CPU.

    Example:
        >>> t = torch.ones(2, requires_grad=True)
        >>> to_numpy(t * 2)
        array([2., 2.], dtype=float32)
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(
            f"to_numpy expects a torch.Tensor, got {type(tensor).__name__}. "
            "Convert lists or arrays with torch.as_tensor(...) first, or use the value directly."
        )
    return tensor.detach().cpu().numpy()
