"""Runs one submission's steps in a Jupyter kernel, inside the sandbox; reports what happened as JSON.

Started by :mod:`tools.grading.sandbox` as ``python runner.py`` with the job (JSON) on stdin; the
report goes to stdout (the kernel's own stdout goes nowhere). It needs only the standard library and jupyter_client
(the kernel has the course's environment). It trusts nothing it gets back from the kernel: the
report is data for the grader outside, which validates it again.

Each step (a cell, a probe) gets ``timeout`` seconds of its own time: the time it ran or slept, not the time
it stood waiting for a CPU that other processes held (Linux's per-thread run-queue wait), so a busy machine
(``--jobs``, other work) does not fail a student's code that an idle one would pass. A step is charged at least
a quarter of its wall time (processes the student started cannot stretch its limit further), and none runs past
the submission's own deadline. A step still running is interrupted; one that ignores the interrupt for ``grace`` seconds, or that kills the kernel (a segfault, ``os._exit``, the
memory limit), costs only itself: the kernel is restarted, the earlier steps marked ``replay`` are run
again silently to rebuild the state, and the run goes on with the next step.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import resource
import shutil
import sys
import time
from typing import Any

KEEP_MIME = ("text/plain", "image/png")
MAX_TEXT = 20_000  # characters of text per output
MAX_OUTPUTS = 30  # outputs per step
MAX_IMAGE = 1_500_000  # characters of base64 per image


def set_limits(memory_mb: int, file_mb: int) -> None:
    """Address-space and file-size limits, inherited by the kernel; no core files."""
    for which, mb in ((resource.RLIMIT_AS, memory_mb), (resource.RLIMIT_FSIZE, file_mb)):
        if mb:
            resource.setrlimit(which, (mb * 2**20, mb * 2**20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Kernel:
    """One kernel and its client; :meth:`run` executes code and gathers its outputs until idle or timeout."""

    def __init__(self) -> None:
        from jupyter_client import KernelManager

        self.manager = KernelManager(kernel_name="python3", transport="ipc", ip=f"/tmp/kernel-{time.time_ns()}")
        self.manager.start_kernel(extra_arguments=["--HistoryManager.hist_file=:memory:"], stdout=open(os.devnull, "w"))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    def waited(self) -> float:
        """Seconds the kernel's main thread has stood runnable while other processes held the CPUs (0 where
        ``/proc/PID/schedstat`` is missing: then every step's time is wall-clock time)."""
        process = getattr(self.manager.provisioner, "process", None)
        try:
            with open(f"/proc/{process.pid}/schedstat") as stats:  # on-CPU ns, run-queue wait ns, time slices
                return int(stats.read().split()[1]) / 1e9
        except (AttributeError, OSError, ValueError, IndexError):
            return 0.0

    def exit_code(self) -> int | None:
        process = getattr(self.manager.provisioner, "process", None)
        return None if process is None else process.poll()

    def stop(self) -> None:
        try:
            self.client.stop_channels()
            self.manager.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001  (a dead or stuck kernel: nothing left to stop)
            pass

    def run(self, code: str, timeout: float, grace: float, wall: float | None = None) -> dict[str, Any]:
        """Run ``code``: interrupted after ``timeout`` seconds of its own time (at least a quarter of the wall time:
        processes the student started cannot stretch it further), or ``wall`` seconds of wall time."""
        started, waited = time.monotonic(), self.waited()
        wall_ends = started + (float("inf") if wall is None else wall)
        msg_id = self.client.execute(code, allow_stdin=False, stop_on_error=False)
        step: dict[str, Any] = {"status": "ok", "outputs": [], "result": None, "results": 0}
        grace_ends = None  # set when the step is interrupted
        while True:
            if not self.manager.is_alive():
                step.update(status="died", exit=self.exit_code())
                break
            now = time.monotonic()
            own = max(now - started - (self.waited() - waited), (now - started) / 4)
            if grace_ends is None and (own > timeout or now > wall_ends):
                self.manager.interrupt_kernel()
                grace_ends, step["status"] = time.monotonic() + grace, "timeout"
            elif grace_ends is not None and time.monotonic() > grace_ends:
                step["status"] = "unresponsive"
                break
            try:
                msg = self.client.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id and collect(msg, step):
                break
        step["seconds"] = round(time.monotonic() - started, 3)
        return step


def _stream(content: dict, outputs: list) -> None:
    text = str(content.get("text", ""))[:MAX_TEXT]
    if outputs and outputs[-1].get("output_type") == "stream" and outputs[-1]["name"] == content.get("name"):
        outputs[-1]["text"] = (outputs[-1]["text"] + text)[:MAX_TEXT]
    elif len(outputs) < MAX_OUTPUTS:
        outputs.append({"output_type": "stream", "name": str(content.get("name")), "text": text})


def _display(content: dict, step: dict) -> None:
    data = content.get("data", {})
    if "application/x.course-grading+json" in data:  # counted: a result the grader did not send is a forgery
        step["results"] = step.get("results", 0) + 1
        text = data["application/x.course-grading+json"]
        step["result"] = text[:20_000_000] if isinstance(text, str) else None
        return
    kept = {k: str(v)[: MAX_IMAGE if k == "image/png" else MAX_TEXT] for k, v in data.items() if k in KEEP_MIME}
    if kept and len(step["outputs"]) < MAX_OUTPUTS:
        step["outputs"].append({"output_type": "display_data", "data": kept, "metadata": {}})


def _error(content: dict, step: dict) -> None:
    if step["status"] == "ok":
        step["status"] = "error"
    if len(step["outputs"]) < MAX_OUTPUTS:
        traceback = [str(line)[:2000] for line in content.get("traceback", [])][-40:]
        ename, evalue = str(content.get("ename"))[:200], str(content.get("evalue"))[:MAX_TEXT]
        step["outputs"].append({"output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback})


def collect(msg: dict, step: dict) -> bool:
    """Add one iopub message to the step; True when the kernel went idle (the step is over)."""
    kind, content = msg.get("msg_type"), msg.get("content", {})
    if kind == "status":
        return content.get("execution_state") == "idle"
    if kind == "stream":
        _stream(content, step["outputs"])
    elif kind in ("display_data", "execute_result"):
        _display(content, step)
    elif kind == "error":
        _error(content, step)
    elif kind == "clear_output" and not content.get("wait"):
        step["outputs"].clear()
    return False


def replay(kernel: Kernel, steps: list[dict], done: list[dict], job: dict) -> bool:
    """Rebuild a fresh kernel's state by running the earlier replayable steps again, silently."""
    for spec, report in zip(steps, done, strict=False):
        if spec.get("replay") and report["status"] in ("ok", "error"):
            again = kernel.run(spec["code"], spec.get("timeout", job["timeout"]), job["grace"])
            if again["status"] not in ("ok", "error"):
                return False
    return True


def empty(home: str | None) -> None:
    """Remove everything in the kernel's home folder (``home``, the job's), where a cell may have written files
    that a new kernel would read when it starts: IPython's start-up files and settings, Jupyter's kernel specs."""
    if not home or not os.path.isdir(home):
        return
    for folder, folders, _ in os.walk(home):  # a folder the cell made read-only would keep its files
        for name in folders:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(folder, name), 0o700, follow_symlinks=False)
    for entry in os.listdir(home):
        path = os.path.join(home, entry)
        with contextlib.suppress(OSError):
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
    if os.listdir(home):
        raise RuntimeError("the kernel's home could not be emptied: files a cell left there would run at start-up")


def start(home: str | None = None) -> Kernel | str:
    """A fresh kernel (its home emptied first: if it cannot be, none starts), or why it could not start."""
    try:
        empty(home)
        return Kernel()
    except Exception as error:  # noqa: BLE001  (reported as the reason the remaining steps did not run)
        return f"the kernel could not start ({type(error).__name__}: {str(error)[:200]})"


def execute(job: dict) -> dict[str, Any]:
    """Run every step of ``job``; the report lists each step's status, outputs, result and seconds."""
    started = time.monotonic()
    steps, done, restarts = job["steps"], [], 0
    kernel = start()
    broken = kernel if isinstance(kernel, str) else None
    for spec in steps:
        left = job["deadline"] - (time.monotonic() - started)
        if broken or left <= 0:
            reason = broken or "the submission used up its time limit"
            done.append({"status": "not_run", "outputs": [], "result": None, "seconds": 0, "reason": reason})
            continue
        step = kernel.run(spec["code"], min(spec.get("timeout", job["timeout"]), left), job["grace"], wall=left)
        done.append(step)
        if step["status"] in ("died", "unresponsive"):
            kernel.stop()
            restarts += 1
            kernel = (
                start(job.get("home"))
                if restarts <= job["max_restarts"]
                else "the kernel had to be restarted too often"
            )
            if isinstance(kernel, str):
                broken = kernel
            elif not replay(kernel, steps, done[:-1], job):
                broken = "the kernel could not be brought back to this point"
    if not isinstance(kernel, str):
        kernel.stop()
    used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in used)
    return {"steps": done, "restarts": restarts, "seconds": round(time.monotonic() - started, 3), "cpu": round(cpu, 2)}


def _not_dumpable() -> None:
    """Close /proc/<runner>/fd to the kernel (same user id): it must not write the runner's report itself."""
    import ctypes

    PR_SET_DUMPABLE = 4
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def main() -> None:
    job = json.loads(sys.stdin.read())
    sys.stdin.close()
    _not_dumpable()
    set_limits(job["memory_mb"], job["file_mb"])
    report = execute(job)
    json.dump(report, sys.stdout)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
