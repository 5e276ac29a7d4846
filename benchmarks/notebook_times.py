"""Time every lesson notebook on one CPU core, against the floor of a notebook that only imports.

Run with `make bench`. Prints each notebook's wall time (kernel start included), its slowest cell,
and its ratio to the floor; exits 1 if a lesson breaks its budget. SYLLABUS.md: 20 s a notebook and
5 s a cell, on one core. Lesson 15 starts two training processes, each launch costing a few seconds of
Python and torch start-up; its issue gives it 30 s on two cores and no per-cell budget.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import nbformat

from tools.notebooks import execute, lesson_paths, read


class Budget(NamedTuple):
    cores: int
    notebook_s: float
    cell_s: float


DEFAULT_BUDGET = Budget(cores=1, notebook_s=20.0, cell_s=5.0)
BUDGETS = {"15": Budget(cores=2, notebook_s=30.0, cell_s=float("inf"))}


def use_cores(n: int) -> None:
    """Pin this process (and so the kernels it starts) to ``n`` cores, where the OS allows it."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(ALL_CORES)[:n])


ALL_CORES = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()


def floor_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import torch\nimport matplotlib.pyplot as plt")]
    return nb


def slowest_cell(nb: nbformat.NotebookNode) -> float:
    slowest = 0.0
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if start and end:
            slowest = max(slowest, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())
    return slowest


def timed_run(nb: nbformat.NotebookNode) -> tuple[float, float]:
    start = time.perf_counter()
    done = execute(nb)
    return time.perf_counter() - start, slowest_cell(done)


def median_run(nb: nbformat.NotebookNode, repeat: int) -> tuple[float, float]:
    runs = [timed_run(nbformat.from_dict(nb)) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per notebook; the median is reported")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lesson")
    args = parser.parse_args()
    use_cores(1)
    floor, _ = median_run(floor_notebook(), max(args.repeat, 3))
    print(f"floor (kernel start + import torch, matplotlib): {floor:.2f} s on one core\n")
    print(f"{'notebook':<34}{'cores':>6}{'seconds':>8}{'slowest cell':>14}{'x floor':>9}  budget")
    total, failures = 0.0, []
    for path in args.notebooks or lesson_paths():
        budget = BUDGETS.get(path.name[:2], DEFAULT_BUDGET)
        use_cores(budget.cores)
        seconds, slowest = median_run(read(path), args.repeat)
        total += seconds
        ok = seconds < budget.notebook_s and slowest < budget.cell_s
        if not ok:
            failures.append(path.name)
        cells = f"cells <{budget.cell_s:.0f} s" if budget.cell_s < float("inf") else "no cell budget"
        print(
            f"{path.name:<34}{budget.cores:>6}{seconds:>8.2f}{slowest:>14.2f}{seconds / floor:>9.2f}  "
            f"{'ok' if ok else 'OVER'} (<{budget.notebook_s:.0f} s, {cells})"
        )
    print(f"\n{'total':<34}{'':>6}{total:>8.2f}{'':>14}{total / floor:>9.2f}")
    if failures:
        print("over budget:", ", ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
