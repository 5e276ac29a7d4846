"""Pins the canonical environment for the unit tests and for every nbval kernel.

The committed notebook outputs were recorded on the CPU with one thread; kernels inherit
these variables from pytest, so every run compares like with like.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import pytest

SANITIZE = Path(__file__).resolve().parent / "tests" / "notebooks" / "sanitize.cfg"

CANONICAL_ENV = {
    "OMP_NUM_THREADS": "1",  # float reductions depend on the thread count
    "MKL_NUM_THREADS": "1",
    "COURSE_DEVICE": "cpu",  # tensor reprs gain device='cuda:0' on a GPU
    "CUDA_VISIBLE_DEVICES": "",
    "PYTHONHASHSEED": "0",
}
# The same kernels on every x86-64 machine: without these, an AVX-512 Intel, an AVX-512 AMD and an AVX2 machine
# each pick their own vectorised code (ATen's, MKL's, oneDNN's), and the last printed digit differs. Elsewhere
# (ARM) the values do not exist and torch would warn in every notebook, so they are set on x86-64 only.
X86_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "AVX2"}
if platform.machine().lower() in ("x86_64", "amd64"):
    CANONICAL_ENV |= X86_KERNELS


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from one random state: torch draws its default seed anew in each process, so a test that
    builds a model with nn.Linear's random weights would otherwise see other weights on every run."""
    import random

    import numpy as np
    import torch

    random.seed(0), np.random.seed(0), torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _close_figures():
    """Figures a test or a doctest drew are closed after it (a worker runs hundreds of tests)."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def pytest_configure(config) -> None:
    os.environ.update(CANONICAL_ENV)
    # `make portability` sets COURSE_OWN_KERNELS=1: the notebooks then run with the math kernels this CPU picks by
    # itself, and must still print what was recorded with the pinned ones (README, "How outputs are validated").
    if os.environ.get("COURSE_OWN_KERNELS") == "1":
        for name in X86_KERNELS:
            os.environ.pop(name, None)
    if getattr(config.option, "nbval_sanitize_with", "unset") is None:  # nbval opens the file relative to the cwd
        config.option.nbval_sanitize_with = str(SANITIZE)
    os.environ.pop("MPLBACKEND", None)  # Agg would remove the inline figures


# How `make test` shares the work between processes (pytest-xdist): a notebook's cells share one kernel
# and two test files share a costly module fixture, so each of those runs as one unit in one process;
# every other test is a unit of its own, so the short ones fill in around the long units. The longest
# units are collected first so that they start at once (seconds of worker time, measured).
LONGEST_FIRST = (
    "tests/grading/test_sandbox.py",  # ~55 s: every submission graded in its sandbox
    "notebooks/15_beyond_one_machine.ipynb",  # ~30 s: three torchrun jobs
    "tests/notebooks/test_notebooks.py",  # ~12 s: every hidden solution
)
SHARED_FIXTURE = {
    "tests/grading/test_sandbox.py",
    "tests/notebooks/test_notebooks.py",
}


def _unit(nodeid: str) -> str:
    """What must run in one process: a whole notebook, a file with a shared fixture, or else one test."""
    file = nodeid.split("::", 1)[0]
    return file if file in SHARED_FIXTURE or file.endswith(".ipynb") else nodeid


@pytest.hookimpl(optionalhook=True)  # a pytest without xdist has no such hook
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # keep the collection order (longest first), not "most tests first"

    class ByUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    return ByUnit(config, log)


def pytest_collection_modifyitems(config, items) -> None:
    rank = {unit: position for position, unit in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_unit(item.nodeid), len(rank)))  # stable: each file keeps its order
