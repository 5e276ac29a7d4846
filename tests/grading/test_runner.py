"""The runner's time limit charges a step with its own time: a busy machine does not fail a student's code."""

from __future__ import annotations

import os
import shutil
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
    cpu = {min(os.sched_getaffinity(0))}  # one CPU this machine lets us use, shared with two spinning hogs
    os.sched_setaffinity(kernel.manager.provisioner.process.pid, cpu)
    # each in its own session: Linux's autogroups share a CPU between sessions first, then between their processes
    hogs = [subprocess.Popen([sys.executable, "-c", HOG.format(cpu)], start_new_session=True) for _ in range(2)]
    try:
        time.sleep(0.5)  # until they spin
        waited = kernel.waited()
        step = kernel.run(SPIN.format(0.5), timeout=0.8, grace=2)  # 0.5 s of work, about 1.5 s of wall time
        counted = kernel.waited() > waited
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    if not counted:
        pytest.skip("this kernel does not count the time a thread waits for a CPU (schedstat)")
    assert step["status"] == "ok", step
    assert step["seconds"] > 1.0, "the hogs did not slow the step: the test proves nothing"


def test_sleeping_and_spinning_are_charged(kernel):
    assert kernel.run("import time\ntime.sleep(30)", timeout=0.5, grace=2)["status"] == "timeout"
    assert kernel.run(SPIN.format(30), timeout=0.5, grace=2)["status"] == "timeout"


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux's setpriv to drop root's override")
def test_a_read_only_folder_in_the_kernels_home_is_emptied_too(tmp_path):
    # a cell plants an IPython start-up file and makes its folder read-only; the sandbox has no capabilities, so
    # root cannot ignore the mode there: emptied without the override, as in the sandbox
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00.py").write_text("import builtins; builtins.print = None")
    startup.chmod(0o555)
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--inh-caps=-all"]
    code = f"from tools.grading.runner import empty; empty({str(tmp_path)!r})"
    subprocess.run([*drop, sys.executable, "-c", code], cwd=Path(__file__).parents[2], check=True, timeout=60)
    assert list(tmp_path.iterdir()) == []
