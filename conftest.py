"""Pins the canonical environment for the unit tests and for every nbval kernel.

The committed notebook outputs were recorded on the CPU with one thread; kernels inherit
these variables from pytest, so every run compares like with like.
"""

from __future__ import annotations

import os
from pathlib import Path

SANITIZE = Path(__file__).resolve().parent / "tests" / "notebooks" / "sanitize.cfg"

CANONICAL_ENV = {
    "OMP_NUM_THREADS": "1",  # float reductions depend on the thread count
    "MKL_NUM_THREADS": "1",
    "COURSE_DEVICE": "cpu",  # tensor reprs gain device='cuda:0' on a GPU
    "CUDA_VISIBLE_DEVICES": "",
    "PYTHONHASHSEED": "0",
}


def pytest_configure(config) -> None:
    os.environ.update(CANONICAL_ENV)
    if getattr(config.option, "nbval_sanitize_with", "unset") is None:  # nbval opens the file relative to the cwd
        config.option.nbval_sanitize_with = str(SANITIZE)
    os.environ.pop("MPLBACKEND", None)  # Agg would remove the inline figures
