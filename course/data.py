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
        raise ValueError(
            f"train_fraction={train_fraction} leaves an empty split of {n} points; use more points or a fraction nearer 0.5."
        )
    rng = np.random.RandomState(seed)  # the legacy stream, same numbers as np.random.seed(seed)
    x = rng.rand(n, 1)
    y = a + b * x + noise * rng.randn(n, 1)
    idx = np.arange(n)
    rng.shuffle(idx)
    train, val = idx[:n_train], idx[n_train:]
    return Split(x[train], y[train], x[val], y[val])


def load_breast_cancer_split(test_fraction: float = 0.2, seed: int = 42) -> tuple:
    """scikit-learn's breast-cancer data (lesson 12), split and standardised, as float32 tensors.

    A stratified split (``sklearn.model_selection.train_test_split``, ``random_state=seed``),
    then each feature scaled with the mean and standard deviation of the *training* part only.
    Returns ``(x_train, y_train, x_test, y_test)``: features ``(N, 30)``, targets ``(N, 1)``
    with 1 for benign and 0 for malignant, as scikit-learn codes them. No download needed.

    Example:
        >>> x_train, y_train, x_test, y_test = load_breast_cancer_split()
        >>> tuple(x_train.shape), tuple(y_test.shape), x_train.dtype
        ((455, 30), (114, 1), torch.float32)
        >>> round(x_train.mean().item(), 4) == 0.0
        True
    """
    _check_fraction("test_fraction", test_fraction)
    import torch
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)

    def features(part: np.ndarray) -> torch.Tensor:
        return torch.tensor((part - mean) / std, dtype=torch.float32)

    def targets(part: np.ndarray) -> torch.Tensor:
        return torch.tensor(part, dtype=torch.float32).reshape(-1, 1)

    return features(x_train), targets(y_train), features(x_test), targets(y_test)
