"""One call that makes a lesson reproducible."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (and any accelerator); return a seeded ``torch.Generator``.

    Pass the returned generator to ``DataLoader(generator=...)`` or ``random_split`` so
    shuffling and splitting are reproducible too.

    Example:
        >>> first = torch.rand(2, generator=seed_everything(42))
        >>> again = torch.rand(2, generator=seed_everything(42))
        >>> torch.equal(first, again)
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed_everything expects an integer seed, got {type(seed).__name__} ({seed!r}).")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(
            f"seed must be between 0 and 2**32 - 1, got {seed}. Pick a small non-negative integer such as 42."
        )
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA and MPS device
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
