"""The data sets the lessons use, with their train/validation (and test) splits."""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
import torch

from course.repro import check_seed
from course.scalars import number_held

MOST_POINTS = 10_000_000  # x, y and the shuffled indices take 24 bytes a point: 240 MB at most


class Split(NamedTuple):
    """Training and validation parts of a data set, features as columns ``(N, n_features)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def _check_number(name: str, value: object, low: float = -math.inf) -> float:
    """``value`` as a float (a ``Fraction`` too: the data is computed in float64), once checked."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} should be a finite number, got {value!r}.")
    try:
        number, shown = float(value), str(value)
    except OverflowError:  # a whole number of 400 digits
        number, shown = math.inf, "a number beyond float64 (about 1.8e308)"
    if not (math.isfinite(number) and number >= low):
        bound = f" of at least {low:g}" if low > -math.inf else ""
        raise ValueError(f"{name} should be a finite number{bound}, got {shown}: the data would be NaN, inf or wrong.")
    return number


def _check_fraction(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} should be a number strictly between 0 and 1, e.g. 0.8; got {value!r}.")
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
    n, a, b, noise, train_fraction, seed = map(number_held, (n, a, b, noise, train_fraction, seed))
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer of at least 2 (one point for each split), got {n!r}.")
    if n > MOST_POINTS:
        raise ValueError(
            f"n={n:,} points would need {24 * n / 2**30:,.1f} GiB of memory; make_linear_data makes at most "
            f"{MOST_POINTS:,} (the lesson uses 100). Pass a smaller n."
        )
    a, b = _check_number("a", a), _check_number("b", b)
    noise = _check_number("noise", noise, low=0.0)  # a standard deviation
    _check_fraction("train_fraction", train_fraction)
    seed = check_seed(seed)
    n_train = int(round(n * train_fraction))
    if not 0 < n_train < n:
        raise ValueError(
            f"train_fraction={train_fraction} leaves an empty split of {n} points; use more points or a fraction nearer 0.5."
        )
    rng = np.random.RandomState(seed)  # the legacy stream, same numbers as np.random.seed(seed)
    x = rng.rand(n, 1)
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below, with the fix
        y = a + b * x + noise * rng.randn(n, 1)
    if not np.isfinite(y).all():
        raise ValueError(
            f"with a={a:g}, b={b:g} and noise={noise:g} the targets y = a + b x + noise overflow float64 "
            "(beyond 1.8e308 they become inf or NaN). Choose smaller a, b and noise, e.g. below 1e300."
        )
    idx = np.arange(n)
    rng.shuffle(idx)
    train, val = idx[:n_train], idx[n_train:]
    return Split(x[train], y[train], x[val], y[val])


class ThreeWaySplit(NamedTuple):
    """Training, validation and test parts of a data set, as tensors: features ``(N, n_features)``, targets ``(N, 1)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_breast_cancer_split(val_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 42) -> ThreeWaySplit:
    """scikit-learn's breast-cancer data (lesson 12) in three parts, standardised, as float32 tensors.

    Two stratified splits with ``sklearn.model_selection.train_test_split`` (``random_state=seed``):
    first the test part (``test_fraction`` of the 569 rows), then the validation part
    (``val_fraction`` of the 569 rows) from what is left. Each feature is then scaled with the mean
    and standard deviation of the *training* part only, so neither held-out part leaks into training.
    Features are ``(N, 30)``; targets ``(N, 1)``, 1 for benign and 0 for malignant, as scikit-learn
    codes them. No download needed.

    Example:
        >>> parts = load_breast_cancer_split()
        >>> [tuple(t.shape) for t in parts[::2]], parts.x_train.dtype
        ([(341, 30), (114, 30), (114, 30)], torch.float32)
        >>> round(parts.x_train.mean().item(), 4) == 0.0
        True
    """
    val_fraction, test_fraction, seed = map(number_held, (val_fraction, test_fraction, seed))
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 0.9:
        raise ValueError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction:g} leaves almost nothing to train on; "
            "keep their sum below 0.9 (the lesson uses 0.2 + 0.2)."
        )
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    seed = check_seed(seed)
    x, y = load_breast_cancer(return_X_y=True)
    n_val, n_test = round(val_fraction * len(x)), round(test_fraction * len(x))
    for name, fraction, rows in (("val_fraction", val_fraction, n_val), ("test_fraction", test_fraction, n_test)):
        if rows < 2:
            raise ValueError(
                f"{name}={fraction} gives {rows} of {len(x)} rows; each part needs at least 2 (one per class). "
                "Use a larger fraction, such as 0.2."
            )
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=n_test, random_state=seed, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=n_val, random_state=seed, stratify=y_rest
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)

    def features(part: np.ndarray) -> torch.Tensor:
        return torch.tensor((part - mean) / std, dtype=torch.float32)

    def targets(part: np.ndarray) -> torch.Tensor:
        return torch.tensor(part, dtype=torch.float32).reshape(-1, 1)

    return ThreeWaySplit(
        features(x_train), targets(y_train), features(x_val), targets(y_val), features(x_test), targets(y_test)
    )
