"""Grade a notebook in this process, without a kernel or a sandbox: for testing graders on trusted code.

The same probes (their shipped source text), the same wire format and the same decisions as
``make autograde``, minus the kernel: each code cell is executed with ``exec`` in one namespace, so
a grader's checks can be tried on the solution and on scripted wrong answers in a fraction of a
second. Never use it on a student's submission: their code would run here, unsandboxed, unlimited.
"""

from __future__ import annotations

import contextlib
import io
import signal
import threading
from collections.abc import Iterator

import nbformat
import numpy as np

from tools.grading import wire
from tools.grading.aliases import python_source
from tools.grading.spec import Grader, Verdict, probe_result


class CellTimeout(KeyboardInterrupt):
    """Raised inside a cell or a probe that ran past the time limit (like the kernel's interrupt)."""


@contextlib.contextmanager
def limited(seconds: float | None) -> Iterator[None]:
    """Raise :class:`CellTimeout` in the block after ``seconds``, and again every quarter second until the block
    ends (main thread only; ``None``: no limit): an interrupt that lands in a finalizer (a generator closed, a
    ``__del__``) is printed and lost, not raised, so one alone can leave a loop running for ever."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise CellTimeout(f"interrupted after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.25)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_cells(notebook: nbformat.NotebookNode, timeout: float | None = None) -> tuple[dict, dict[int, str]]:
    """Execute every code cell but the test cells in one namespace; returns it and the errors by cell index."""
    namespace: dict = {"__name__": "__main__"}
    errors = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                with limited(timeout):
                    exec(compile(python_source(cell.source), f"<cell {index}>", "exec"), namespace)
            except (Exception, CellTimeout) as error:  # a failing cell is part of what is graded
                errors[index] = f"{type(error).__name__}: {error}"
    return namespace, errors


def grade(
    notebook: nbformat.NotebookNode,
    grader: Grader,
    points: dict[str, float],
    seeds: tuple[int, ...] = (0,),
    timeout: float | None = None,
) -> list[list[Verdict]]:
    """Every test cell's verdict for ``notebook`` (already prepared), once per seed of fresh inputs.

    The cells run once; the probes run once per seed. The test cells themselves are not run:
    points come from the probes, as in ``make autograde``.
    """
    import torch

    state = torch.get_rng_state(), np.random.get_state()
    try:
        namespace, _ = run_cells(notebook, timeout)
        return [_decide(namespace, grader, points, seed, timeout) for seed in seeds]
    finally:
        torch.set_rng_state(state[0])
        np.random.set_state(state[1])


def _decide(namespace: dict, grader: Grader, points: dict[str, float], seed: int, timeout: float | None):
    inputs, secrets = grader.make_inputs(np.random.default_rng(seed))
    encoded = grader.encoded_inputs(inputs, seed)
    results = {}
    for name, probe in grader.probes.items():
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                with limited(timeout):
                    text = wire.run_probe(name, probe.source, encoded[name], namespace)
            results[name] = probe_result("ok", text)
        except CellTimeout:
            results[name] = probe_result("timeout", None)
    return grader.decide(results, secrets, points)
