"""One call that makes a lesson reproducible."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without disturbing the random streams of Python, NumPy and torch (CPU).

    The exercise checks run inside it, so checking an answer never changes the numbers a
    lesson draws next.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> with preserved_rng():
        ...     _ = torch.rand(3)
        >>> after = torch.rand(1)
        >>> _ = torch.manual_seed(0)
        >>> torch.equal(after, torch.rand(1))
        True
    """
    python_state, numpy_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
