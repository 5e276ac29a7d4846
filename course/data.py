"""The data sets the lessons use, with their train/validation splits."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Split(NamedTuple):
    """Training and validation parts of a data set, features as columns ``(N, n_features)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value}. For an 80/20 split pass 0.8.")


def make_linear_data(
    n: int = 100,
    a: float = 1.0,
    b: float = 2.0,
    noise: float = 0.1,
    train_fraction: float = 0.8,
    seed: int = 42,
) -> Split:
    """Points on the line ``y = a + b x`` plus Gaussian noise, shuffled and split (lesson 02).

    ``x`` is uniform in [0, 1). With the defaults this is exactly the lesson's recipe:
    NumPy seed 42, 100 points, the first 80 shuffled indices for training.

    Example:
        >>> data = make_linear_data()
        >>> data.x_train.shape, data.x_val.shape
        ((80, 1), (20, 1))
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer of at least 2 (one point for each split), got {n!r}.")
    if noise < 0:
        raise ValueError(f"noise is a standard deviation and cannot be negative, got {noise}.")
    _check_fraction("train_fraction", train_fraction)
    n_train = int(round(n * train_fraction))
    if not 0 < n_train < n:
        raise ValueError(f"train_fraction={train_fraction} leaves an empty split of {n} points; use more points or a fraction nearer 0.5.")
    rng = np.random.RandomState(seed)  # the legacy stream, same numbers as np.random.seed(seed)
    x = rng.rand(n, 1)
    y = a + b * x + noise * rng.randn(n, 1)
    idx = np.arange(n)
    rng.shuffle(idx)
    train, val = idx[:n_train], idx[n_train:]
    return Split(x[train], y[train], x[val], y[val])
