"""A number given as a 0-d tensor or NumPy array (``torch.tensor(50)``, ``np.array(0.1)``), read as the Python number it
holds, as NumPy's own scalars (``np.int64(50)``) are: sizes, seeds, fractions, epochs and rates take any of them."""

from __future__ import annotations

import numpy as np
import torch


def number_held(value: object) -> object:
    """The Python number a 0-d tensor or array holds (not a bool one, not on the meta device); else ``value`` as is.

    >>> number_held(torch.tensor(50)), number_held(np.array(0.5)), number_held(torch.ones(2)).shape
    (50, 0.5, torch.Size([2]))
    """
    zero_d = isinstance(value, np.ndarray) or isinstance(value, torch.Tensor) and not value.is_meta
    return value.item() if zero_d and value.ndim == 0 and value.dtype not in (bool, torch.bool) else value  # type: ignore[union-attr]
