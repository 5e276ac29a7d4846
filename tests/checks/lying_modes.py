"""Torch modes that hostile answers enter and leave on: one that makes the check's own comparisons agree."""

from __future__ import annotations

from torch.overrides import TorchFunctionMode


class SaysEqual(TorchFunctionMode):
    """Answers ``torch.allclose`` and ``torch.equal`` with True, whatever they compare; runs every other call."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("allclose", "equal"):
            return True
        return func(*args, **(kwargs or {}))
