"""From a prepared submission to the runner's job, and from the runner's report back to a notebook.

The job is a list of steps for one kernel: a snapshot of the kernel's machinery (the audit's
"before"), every code cell of the graded notebook, the audit, then one step per probe. The report
that comes back is untrusted data: :func:`parse_report` keeps only what has the expected form, and
:func:`graded_notebook` copies only plain outputs (text, PNG images, errors) into the autograded
notebook, whose cells and metadata come from the grader, never from the kernel.
"""

from __future__ import annotations

import ast
import copy
import inspect
import json
from dataclasses import dataclass, field
from typing import Any

import nbformat

from tools.grading import audit, audit_state, wire
from tools.grading.aliases import parse_cell
from tools.grading.spec import Grader, ProbeResult, Verdict, probe_result
from tools.grading.submission import Prepared

STATUSES = {"ok", "error", "timeout", "unresponsive", "died", "not_run"}
# Before any student code: the grader's code becomes a module of its own, holding what it needs (IPython's
# display, the notebook's globals); the later steps reach it by `import`, never through a name the notebook
# could redefine (a global `exec`, `globals` or `display`).
PRE = """\
def __grading_setup__():
    import sys, types
    from IPython import get_ipython
    from IPython.display import display
    wire, auditor = types.ModuleType("__grading__"), types.ModuleType("__grading_audit__")
    exec(compile({wire!r}, "<grader wire>", "exec"), wire.__dict__)  # named: a probe tells its code from the student's
    exec(compile({state!r}, "<grader audit>", "exec"), auditor.__dict__)  # torch's state, threads: the audit's
    exec(compile({audit!r}, "<grader audit>", "exec"), auditor.__dict__)
    wire.DISPLAY, wire.NAMESPACE, wire.auditor = display, get_ipython().user_ns, auditor
    wire.PUBLISHER = get_ipython().display_pub
    sys.modules["__grading__"] = wire
    try:  # tqdm's bars start no monitor thread (it would run, unwatched, what a bar holds; the audit reports threads)
        import tqdm.std
        tqdm.std.tqdm.monitor_interval = 0
    except ImportError:
        pass
__grading_setup__()
del __grading_setup__
{imports}
import __grading__
__grading__.before = __grading__.auditor.snapshot()"""
PRE_TIMEOUT = 300  # starting the kernel's libraries is not the student's time
AUDIT = "import __grading__\n__grading__.report()"
PROBE = "import __grading__\n__grading__.probe({name!r}, {source!r}, {inputs!r})"


@dataclass
class Steps:
    """The job's steps and, for each, what it is: ("pre"|"cell"|"wire"|"audit"|"probe", cell index or name)."""

    steps: list[dict] = field(default_factory=list)
    kinds: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, kind: str, key: Any, code: str, replay: bool, timeout: float | None = None) -> None:
        self.steps.append({"code": code, "replay": replay, **({"timeout": timeout} if timeout else {})})
        self.kinds.append((kind, key))


def library_imports(prepared: Prepared) -> str:
    """The import statements of the read-only cells (the teacher's), to run before the snapshot."""
    lines = ["import json", "import numpy", "import torch"]
    for cell, role in zip(prepared.notebook.cells, prepared.roles, strict=True):
        if role.kind == "locked" and cell.cell_type == "code":
            try:
                tree = parse_cell(cell.source)
            except SyntaxError:
                continue
            lines += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(dict.fromkeys(lines))


def build(prepared: Prepared, grader: Grader, inputs: dict[str, str]) -> Steps:
    """The runner's steps for one submission (``inputs``: each probe's inputs as JSON text)."""
    steps = Steps()
    source = {
        "wire": inspect.getsource(wire),
        "audit": inspect.getsource(audit),
        "state": inspect.getsource(audit_state),
    }
    steps.add("pre", None, PRE.format(**source, imports=library_imports(prepared)), replay=True, timeout=PRE_TIMEOUT)
    for index, cell in enumerate(prepared.notebook.cells):
        if cell.cell_type == "code":
            is_test = bool(cell.metadata.get("nbgrader", {}).get("grade"))
            steps.add("cell", index, cell.source, replay=not is_test)
    steps.add("audit", None, AUDIT, replay=False)
    for name, probe in grader.probes.items():  # each probe runs the student's code again: audited again after it
        steps.add("probe", name, PROBE.format(name=name, source=probe.source, inputs=inputs[name]), replay=False)
        steps.add("audit", name, AUDIT, replay=False)
    return steps


def _step(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("status") not in STATUSES:
        return {"status": "not_run", "outputs": [], "result": None, "results": 0, "reason": "no report for this step"}
    result = raw.get("result")
    return {
        "status": raw["status"],
        "outputs": raw.get("outputs") if isinstance(raw.get("outputs"), list) else [],
        "result": result if isinstance(result, str) else None,
        "results": raw["results"] if type(raw.get("results")) is int else 0,
        "exit": raw.get("exit") if isinstance(raw.get("exit"), int) else None,
        "reason": str(raw.get("reason", ""))[:200],
        "seconds": raw.get("seconds") if isinstance(raw.get("seconds"), (int, float)) else 0.0,
    }


def parse_report(text: str | None, count: int) -> tuple[list[dict[str, Any]] | None, float]:
    """One entry per step from the runner's report (``None`` when nothing readable came back), and its CPU seconds."""
    try:
        data = json.loads(text) if text else None
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        return None, 0.0
    steps = [_step(raw) for raw in data["steps"][:count]]
    cpu = data.get("cpu") if isinstance(data.get("cpu"), (int, float)) else 0.0
    return steps + [_step(None)] * (count - len(steps)), float(cpu)


def trusted_result(step: dict[str, Any]) -> str | None:
    """A probe's or audit's result, if it is the only one its step sent and the step ended normally.

    The grader's code sends exactly one result, as its last act; a step that sent two, or one and then
    failed, carries a result sent by the student's code (IPython's ``display`` is a builtin): ignored.
    """
    return step["result"] if step["status"] == "ok" and step["results"] == 1 else None


def forged_results(steps: Steps, report: list[dict]) -> list[str]:
    """The steps that sent grading results the grader's own code did not (flags: ``forged_result``)."""
    found = []
    for (kind, key), step in zip(steps.kinds, report, strict=True):
        expected = 1 if kind in ("probe", "audit") else 0
        if step["results"] > expected or (expected and step["results"] and step["status"] == "error"):
            what = {"cell": f"code cell {key}", "probe": f"the probe {key}"}.get(kind, f"the {kind} step")
            how = (
                f"{step['results']} grading results" if step["results"] > expected else "a grading result, then failed"
            )
            found.append(f"forged_result: {what} sent {how} (the grader's code sends {expected}, as its last act)")
    return found


def probe_results(steps: Steps, report: list[dict]) -> dict[str, ProbeResult]:
    """Each probe's outcome."""
    return {
        key: probe_result(step["status"], trusted_result(step))
        for (kind, key), step in zip(steps.kinds, report, strict=True)
        if kind == "probe"
    }


def audit_findings(steps: Steps, report: list[dict]) -> tuple[list[str] | None, str]:
    """What the audits found changed (``None`` if one that ran sent nothing readable), and the status of the first.

    The kernel is audited after the student's cells and again after each probe (which runs the student's
    code). No result from an audit that ran ("ok" or "error") is itself a tamper signal; an audit that could
    not run (the kernel kept dying, the time was up) is not.
    """
    found: list[str] = []
    first = None
    for (kind, _), step in zip(steps.kinds, report, strict=True):
        if kind != "audit":
            continue
        first = first or step["status"]
        if step["status"] not in ("ok", "error"):
            continue
        try:
            items = json.loads(trusted_result(step) or "null")
        except (ValueError, RecursionError):
            items = None
        if not isinstance(items, list):
            return None, step["status"]
        found += [str(item)[:200] for item in items]
    if first not in ("ok", "error"):
        return None, first or "not_run"
    return sorted(set(found)), first


def _clean(output: Any) -> nbformat.NotebookNode | None:
    """A copy of one output if it is plain: a stream, text or PNG display, or an error; else nothing."""
    if not isinstance(output, dict):
        return None
    kind = output.get("output_type")
    if kind == "stream" and output.get("name") in ("stdout", "stderr"):
        return nbformat.v4.new_output("stream", name=output["name"], text=str(output.get("text", ""))[:20_000])
    if kind == "display_data" and isinstance(output.get("data"), dict):
        data = {k: str(v)[:2_000_000] for k, v in output["data"].items() if k in ("text/plain", "image/png")}
        return nbformat.v4.new_output("display_data", data=data) if data else None
    if kind == "error":
        lines = (
            [str(line)[:2000] for line in output.get("traceback", [])][-40:]
            if isinstance(output.get("traceback"), list)
            else []
        )
        return nbformat.v4.new_output(
            "error", ename=str(output.get("ename"))[:200], evalue=str(output.get("evalue"))[:2000], traceback=lines
        )
    return None


WHAT_HAPPENED = {
    "timeout": "this cell was interrupted at the time limit; grading went on with the next cell",
    "unresponsive": "this cell ignored the interrupt at the time limit; the kernel was restarted and grading went on",
    "died": "this cell killed the kernel{exit}; the kernel was restarted and grading went on",
    "not_run": "this cell was not run: {reason}",
}


def _what_happened(step: dict) -> nbformat.NotebookNode | None:
    if step["status"] not in WHAT_HAPPENED:
        return None
    code = step.get("exit")
    exit_text = "" if code is None else (f" (signal {-code})" if code < 0 else f" (exit code {code})")
    text = WHAT_HAPPENED[step["status"]].format(exit=exit_text, reason=step.get("reason") or "see above")
    return nbformat.v4.new_output("error", ename="GradingNote", evalue=text, traceback=[f"GradingNote: {text}"])


def graded_notebook(prepared: Prepared, steps: Steps, report: list[dict] | None, verdicts: list[Verdict]):
    """The autograded notebook: the prepared cells, their (cleaned) outputs, and each test cell's verdict."""
    nb = copy.deepcopy(prepared.notebook)
    by_cell = {key: step for (kind, key), step in zip(steps.kinds, report or [], strict=False) if kind == "cell"}
    by_id = {v.grade_id: v for v in verdicts}
    count = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        step = by_cell.get(index)
        if step and step["status"] != "not_run":
            count += 1
            cell.execution_count = count
        cell.outputs = [out for out in map(_clean, (step or {}).get("outputs", [])) if out is not None]
        note = _what_happened(step) if step else None
        cell.outputs += [note] if note else []
        verdict = by_id.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
        if verdict and cell.metadata["nbgrader"].get("grade"):
            line = f"Graded on new inputs: {verdict.points:g} of {verdict.max_points:g} points"
            line += "." if verdict.points == verdict.max_points else f": {verdict.message}."
            cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=line + "\n"))
    return nb
