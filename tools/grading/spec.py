"""How an assignment's hidden checks are written (one file per assignment in ``assignments/graders/``).

A grader has three parts, and only the middle one ever runs in the student's kernel:

1. ``make_inputs(rng) -> (inputs, secrets)``: fresh inputs for each probe, drawn anew for every
   grading run (they appear nowhere in the student's notebook), and the secrets kept outside (the
   held-out answers the kernel must never see).
2. probes, ``@grader.probe``: ``probe(inputs, ns)`` calls the student's functions (found in ``ns``,
   the notebook's globals) on the inputs and returns plain data. Its source is shipped into the
   kernel, so it imports what it needs inside its body and uses nothing else from its module.
3. checks, ``@grader.check(grade_id, *probes)``: ``check(results, secrets)`` decides one test cell's
   points outside the kernel, from the probes' results (``results[probe_name]``) and the secrets.
   It calls :func:`require` for each condition; the first failing one is the cell's feedback.

Example (a grader for a notebook asking for ``double(x)``)::

    grader = Grader(lambda rng: ({"double": {"x": int(rng.integers(100))}}, {}))

    @grader.probe
    def double(inputs, ns):
        return ns["double"](inputs["x"])

    @grader.check("test_double", "double")
    def _(results, secrets):
        require(results["double"] == 2 * secrets["x"], "double(x) is not 2 * x")
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tools.grading import wire

FAILURES = {
    "timeout": "did not finish within the time limit on the grader's inputs (it was interrupted)",
    "unresponsive": "ignored the interrupt at the time limit (the kernel was restarted)",
    "died": "killed the kernel while running on the grader's inputs",
    "not_run": "could not be run",
    "missing": "returned no result (the kernel did not report one)",
}


class Wrong(Exception):
    """Raised by :func:`require`: the answer is wrong, and the message says what was expected."""


def require(condition: object, message: str) -> None:
    """Fail the current check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Wrong(message)


def same(a: Any, b: Any) -> bool:
    """Whether two results are the same value (tensors, or tuples of numbers; NaN equals NaN): a check of a form
    also wants an answer computed from the input, so the same answer for two different inputs earns nothing."""
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and torch.allclose(a.double(), b.double(), rtol=0, atol=0, equal_nan=True)
    return repr(a) == repr(b)


def alike(a: Any, b: Any) -> bool:
    """Whether two results agree to float32's precision (relative 1e-4): tensors, NumPy arrays, numbers, and lists,
    tuples or dicts of them; anything else by its text. Honest code run twice on one input may differ in the last
    bits (a library's threads add in another order on a busy machine), so "the same answer" is judged by this.

    >>> alike([1.0, (2.0, 3.0)], [1.00001, (2.0, 3.0)]), alike(1.0, 1.1), alike("a", "a")
    (True, False, True)
    """
    import numpy as np
    import torch

    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(alike(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(alike(x, y) for x, y in zip(a, b, strict=True))
    numeric = (torch.Tensor, np.ndarray, np.generic, int, float)
    if isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool) and not isinstance(b, bool):
        x, y = (torch.as_tensor(np.asarray(v, dtype=float) if not isinstance(v, torch.Tensor) else v) for v in (a, b))
        return x.shape == y.shape and torch.allclose(x.double(), y.double(), rtol=1e-4, atol=1e-7, equal_nan=True)
    return repr(a) == repr(b)


def computed(got: Any, other: Any, again: Any, what: str, fix: str, kept: bool = False) -> None:
    """A form's check also wants an answer computed from the input: another answer for another input, and the same
    answer for the same input twice (the random numbers seeded alike; :func:`alike`), so a constant, a draw
    (``random.random()``) or a count of the calls fails (``what``: the function's name, ``fix``: what to do instead).
    ``kept``: the function reads torch state kept between calls (a model, an optimizer, a generator of the
    notebook's, :func:`tools.grading.watch.kept_state`): honest, it answers otherwise again, so that is not asked."""
    require(not alike(got, other), f"{what} returned {got!r:.60} for two different inputs: {fix}")
    require(
        kept or alike(got, again),
        f"{what} returned {got!r:.60}, then {again!r:.60}, for the same input (the random numbers seeded alike): "
        "another answer for the same input comes from a count, a draw, or state kept between calls",
    )


def real(value: Any) -> float | None:
    """A real number as a float: Python's, NumPy's (``np.float32``), a one-element tensor's or array's, as the
    visible tests compute with any of them; None for anything else. (A check of a form, "a Python float", looks at
    the type.)"""
    import numbers

    import torch

    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype.is_complex:
        return float(value.item())
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "biuf":
        return float(value.item())
    return float(value) if isinstance(value, numbers.Real) else None


@dataclass(frozen=True)
class Probe:
    """A probe: its name and the source text shipped into the kernel."""

    name: str
    source: str


@dataclass(frozen=True)
class Check:
    """The decision for one test cell: the probes it needs and the function that decides."""

    grade_id: str
    needs: tuple[str, ...]
    decide: Callable[[dict[str, Any], dict[str, Any]], None]


@dataclass
class ProbeResult:
    """A probe's outcome: ``status`` "ok" (``value`` holds the decoded result) or why not (``detail``)."""

    status: str
    value: Any = None
    detail: str = ""

    def describe(self, name: str) -> str:
        if self.status == "raised":
            return f"your {name} raised {self.detail} on the grader's inputs"
        return f"your {name} {FAILURES.get(self.status, self.status)}" + (f" ({self.detail})" if self.detail else "")


def probe_result(status: str, text: str | None) -> ProbeResult:
    """A probe's outcome from the runner's status for its step and the text its kernel sent (untrusted)."""
    if status not in ("ok", "error"):
        return ProbeResult(status)
    if text is None:
        return ProbeResult("missing")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return ProbeResult("missing", detail="unreadable")
    if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
        return ProbeResult("missing", detail="unreadable")
    if not data["ok"]:
        return ProbeResult("raised", detail=str(data.get("error"))[:500])
    return ProbeResult("ok", value=wire.decode(data.get("value")))


@dataclass(frozen=True)
class Verdict:
    """One test cell's points and the sentence that explains them."""

    grade_id: str
    points: float
    max_points: float
    message: str


class Grader:
    """The hidden checks of one assignment: fresh inputs, probes and checks (see the module docstring)."""

    def __init__(self, make_inputs: Callable[[np.random.Generator], tuple[dict, dict]]) -> None:
        self.make_inputs = make_inputs
        self.probes: dict[str, Probe] = {}
        self.checks: dict[str, Check] = {}
        self.helpers: list[str] = []

    def helper(self, function: Callable) -> Callable:
        """Ship ``function``'s source with every probe declared after it (decorator), for code the probes share."""
        source = textwrap.dedent(inspect.getsource(function))
        self.helpers.append("\n".join(line for line in source.splitlines() if not line.startswith("@")))
        return function

    def probe(self, function: Callable) -> Callable:
        """Register ``function`` as a probe (decorator); it runs in the student's kernel."""
        source = textwrap.dedent(inspect.getsource(function))
        source = "\n".join(line for line in source.splitlines() if not line.startswith("@"))
        self.probes[function.__name__] = Probe(function.__name__, "\n".join([*self.helpers, source]))
        return function

    def check(self, grade_id: str, *needs: str) -> Callable[[Callable], Callable]:
        """Register the decision for test cell ``grade_id`` from the results of the probes ``needs``."""

        def register(function: Callable) -> Callable:
            unknown = [name for name in needs if name not in self.probes]
            if unknown:
                raise ValueError(f"check {grade_id!r} needs unknown probes {unknown}: declare the probes first")
            self.checks[grade_id] = Check(grade_id, needs, function)
            return function

        return register

    def encoded_inputs(self, inputs: dict[str, dict], seed: int) -> dict[str, str]:
        """Each probe's inputs as JSON text, with the seed its run starts from: :func:`kernel_seed`, never ``seed``."""
        return {
            name: json.dumps(wire.encode({**inputs.get(name, {}), "seed": kernel_seed(seed, name)}))
            for name in self.probes
        }

    def decide(self, results: dict[str, ProbeResult], secrets: dict, points: dict[str, float]) -> list[Verdict]:
        """The points of every test cell in ``points``; a cell without a check gets none (and says so)."""
        verdicts = []
        for grade_id, max_points in points.items():
            check = self.checks.get(grade_id)
            if check is None:
                verdicts.append(Verdict(grade_id, 0.0, max_points, "no hidden check is declared for this cell"))
                continue
            failed = [
                results.get(n, ProbeResult("missing")).describe(n)
                for n in check.needs
                if results.get(n, ProbeResult("missing")).status != "ok"
            ]
            message = "; ".join(failed)
            if not failed:
                try:
                    check.decide({n: results[n].value for n in check.needs}, secrets)
                except Wrong as wrong:
                    message = str(wrong)
                except Exception as error:  # noqa: BLE001  (a result of an unexpected form is a wrong answer)
                    message = f"the result has an unexpected form ({type(error).__name__}: {error})"[:400]
            verdicts.append(Verdict(grade_id, 0.0 if message else max_points, max_points, message or "right"))
        return verdicts


def kernel_seed(seed: int, probe: str) -> int:
    """The seed of probe ``probe``'s random numbers in the kernel: a hash of the secret ``seed`` and the name.

    The kernel must never see ``seed`` itself: the graders are public, so from it a student could draw the
    secret inputs again (the true line behind the training data, the held-out rows). The hash tells nothing
    about ``seed`` (inverting it means hashing every possible seed), and differs from probe to probe.
    """
    digest = hashlib.sha256(f"kernel-seed:{seed}:{probe}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # 63 bits: torch.manual_seed takes it


def load(path: Path) -> Grader:
    """The ``grader`` defined by the file ``path`` (``assignments/graders/<assignment>.py``)."""
    spec = importlib.util.spec_from_file_location(f"grader_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"cannot load a grader from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    grader = getattr(module, "grader", None)
    if not isinstance(grader, Grader):
        raise TypeError(f"{path} must define `grader = Grader(make_inputs)` (see tools/grading/spec.py)")
    return grader
