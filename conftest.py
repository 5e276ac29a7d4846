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


# The longest files first: with `--dist loadfile` workers take files in collection order, so the
# long ones start at once and the short ones fill in around them (seconds of worker time, measured).
LONGEST_FIRST = (
    "tests/grading/test_sandbox.py",  # ~40 s: every submission graded in its sandbox
    "notebooks/15_beyond_one_machine.ipynb",  # ~20 s: three torchrun jobs
    "tests/distributed/test_distributed.py",  # ~20 s: four torchrun jobs
    "tests/checks/test_declarations.py",  # ~20 s: every declared mistake, alternative and hostile answer
    "tests/notebooks/test_notebooks.py",  # ~15 s: every hidden solution
    "tests/grading/test_graders.py",  # ~10 s: scripted submissions, some waiting on time limits
)


def pytest_collection_modifyitems(config, items) -> None:
    root = Path(__file__).resolve().parent

    def rank(item) -> int:
        path = Path(str(item.fspath)).resolve()
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file's tests stay together and in order
