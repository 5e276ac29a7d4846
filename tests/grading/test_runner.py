"""The runner's time limit charges a step with its own time: a busy machine does not fail a student's code."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("jupyter_client", reason='the grading tests need jupyter_client: pip install -e ".[teach]"')
if not Path("/proc/self/schedstat").exists() or not hasattr(os, "sched_setaffinity"):
    pytest.skip("needs Linux's /proc/PID/schedstat and CPU affinity", allow_module_level=True)

from tools.grading.runner import Kernel  # noqa: E402

SPIN = "import time\nstart = time.process_time()\nwhile time.process_time() - start < {0}:\n    pass"
HOG = "import os\nos.sched_setaffinity(0, {0})\nwhile True:\n    pass"


@pytest.fixture(scope="module")
def kernel():
    started = Kernel()
    yield started
    started.stop()


def test_a_step_starved_by_other_processes_is_not_interrupted(kernel):
    os.sched_setaffinity(kernel.manager.provisioner.process.pid, {0})  # one CPU, shared with three spinning hogs
    # each in its own session: Linux's autogroups share a CPU between sessions first, then between their processes
    hogs = [subprocess.Popen([sys.executable, "-c", HOG], start_new_session=True) for _ in range(3)]
    try:
        time.sleep(0.5)  # until they spin
        step = kernel.run(SPIN.format(0.5), timeout=0.8, grace=2)  # 0.5 s of work, 1 to 2 s of wall time
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert step["status"] == "ok", step
    assert step["seconds"] > 1.2, "the hogs did not slow the step: the test proves nothing"


def test_sleeping_and_spinning_are_charged(kernel):
    assert kernel.run("import time\ntime.sleep(30)", timeout=0.5, grace=2)["status"] == "timeout"
    assert kernel.run(SPIN.format(30), timeout=0.5, grace=2)["status"] == "timeout"
