"""The sandbox each submission runs in: bubblewrap (``bwrap``), or nothing when the teacher opts out.

Inside, the student's kernel sees a new root made of: the system's programs and libraries and the
Python environment (read-only), the ``course`` package (read-only), the runner script (read-only),
and size-limited scratch space (``/tmp``, the working folder). Nothing else of the teacher's machine
exists there: not the course folder, not ``source/``, the gradebook or other students' files, not
the teacher's home. There is no network (a new, empty network namespace), no other process to see
(a new PID namespace; every process in it is killed when the run ends), no terminal to type into
(a new session), no capabilities, and no new user namespaces. The runner sets the memory and
file-size limits; the grader kills the whole sandbox at the wall-clock limit.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

RUNNER = Path(__file__).resolve().with_name("runner.py")
PYTHON = os.path.abspath(sys.executable)  # the venv's python (a symlink: keep its path, the venv is found by it)
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "nsswitch.conf", "passwd", "group", "localtime")
INSTALL_HINT = (
    "Install bubblewrap, the sandbox `make autograde` runs each submission in:\n"
    "  Debian/Ubuntu: sudo apt-get install bubblewrap     Fedora: sudo dnf install bubblewrap\n"
    "  (or `make sandbox`, which does it for you when run as root on Debian/Ubuntu)"
)


@dataclass(frozen=True)
class Limits:
    """Per-submission limits: wall clock (s), address space and file size (MiB), scratch space (MiB)."""

    wall_seconds: float = 900
    memory_mb: int = 4096
    file_mb: int = 256
    scratch_mb: int = 512


@dataclass
class Outcome:
    """What came back from one run: the runner's report (raw text, untrusted) and how the process ended."""

    report: str | None
    exit_code: int | None
    killed: bool
    stderr: str


def environment(home: str) -> dict[str, str]:
    """The environment of the runner and the kernel: the canonical one of the course, nothing of the teacher's."""
    return {
        "PATH": f"{Path(PYTHON).parent}:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "COURSE_DEVICE": "cpu",
        # torch.compile compiles in the kernel's own thread: it leaves no compile pool, nor the monitor thread of its
        # progress bar, running (the audit reports every thread left running: it runs out of the probes' watches)
        "TORCHINDUCTOR_COMPILE_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONSAFEPATH": "1",  # the working folder is not on sys.path: a torch.py written there is never imported
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_RUNTIME_DIR": f"{home}/runtime",
        "IPYTHONDIR": f"{home}/ipython",
        "MPLCONFIGDIR": f"{home}/matplotlib",
        "NBGRADER_EXECUTION": "autograde",
    }


def _system_binds() -> list[str]:
    args: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def _python_dirs(package: Path) -> list[str]:
    dirs = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(os.path.realpath(PYTHON)).parent.parent}
    dirs = {d for d in dirs if not any(str(d).startswith(s + "/") for s in SYSTEM_DIRS)}
    args = []
    for path in sorted(dirs):
        args += ["--ro-bind", str(path), str(path)]
    return [*args, "--ro-bind", str(package), str(course_package())]  # at the path Python imports it from


def bwrap_command(package: Path, limits: Limits, isolate_user: bool = True) -> list[str]:
    """The ``bwrap`` command line that starts the runner in a fresh sandbox.

    ``package`` is the folder bound read-only as the ``course`` package (the installed one, or a copy).
    """
    scratch = str(limits.scratch_mb * 2**20)
    user = ["--unshare-user", "--disable-userns", "--uid", "1000", "--gid", "1000"] if isolate_user else []
    env = [arg for key, value in environment("/tmp/home").items() for arg in ("--setenv", key, value)]
    return [
        "bwrap",
        "--unshare-all",
        *user,
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--hostname",
        "grading",
        # /tmp first: the binds below may live under /tmp (a course cloned there) and must stay visible
        *("--size", scratch, "--tmpfs", "/tmp"),
        *_system_binds(),
        *_python_dirs(package),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        *("--size", scratch, "--tmpfs", "/dev/shm"),
        *("--dir", "/tmp/home", "--dir", "/tmp/work", "--chdir", "/tmp/work"),
        *("--ro-bind", str(RUNNER), "/opt/grading/runner.py"),
        "--clearenv",
        *env,
        PYTHON,
        "/opt/grading/runner.py",
    ]


def course_package() -> Path:
    """The folder of the installed ``course`` package (bound read-only into every sandbox), found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("course")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the course package is not installed: run `make setup`")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _hidden_probe() -> str:
    """A path the sandbox must hide: the current folder (the course folder), or a file in it if it holds a bound one."""
    here = Path.cwd()
    bound = [Path(sys.prefix).resolve(), course_package()]
    if not any(here == path or here in path.parents for path in bound):
        return str(here)
    entries = [p for p in sorted(here.iterdir()) if p.is_file()]
    return str(entries[0]) if entries else "/nonexistent"


@functools.cache
def check(package: Path | None = None) -> tuple[tuple[str, ...] | None, str]:
    """The working sandbox command (``None`` if there is none) and a line saying why not.

    A trial run checks that the sandbox starts, imports the course package, and hides the current
    folder (the course folder).
    """
    if sys.platform != "linux":
        return None, f"bubblewrap needs Linux; this is {sys.platform}. See TEACHING.md, 'Grading on macOS or Windows'."
    if shutil.which("bwrap") is None:
        return None, "bubblewrap (bwrap) is not installed.\n" + INSTALL_HINT
    package, problem = package or course_package(), ""
    probe = (
        "import importlib.util, os; assert importlib.util.find_spec('course'), 'no course package'; "
        f"assert not os.path.exists({_hidden_probe()!r}), 'the course folder is visible'"
    )
    for isolate_user in (True, False):
        command = bwrap_command(package, Limits(), isolate_user)
        trial = [*command[:-1], "-c", probe]
        done = subprocess.run(trial, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if done.returncode == 0:
            return tuple(command), ""
        problem = (done.stderr or done.stdout).strip()[-500:]
    return None, f"bubblewrap is installed but cannot start a sandbox here: {problem}"


def run(job: dict, command: list[str] | None, limits: Limits) -> Outcome:
    """Run one job: in the sandbox ``command``, or (``None``, the teacher opted out) as a plain subprocess."""
    with tempfile.TemporaryDirectory(prefix="grading-") as scratch:
        if command is None:  # unsandboxed: same runner, same limits, own scratch folder
            home = Path(scratch, "home")
            home.mkdir()
            argv, env, cwd = [PYTHON, str(RUNNER)], environment(str(home)), scratch
        else:
            home = Path("/tmp/home")
            argv, env, cwd = command, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, scratch
        # the runner empties the kernel's home before a restarted kernel starts: settings or kernel specs a
        # cell wrote there (IPython start-up files, a kernel.json) must not run before the grader's set-up
        payload = json.dumps({**job, "memory_mb": limits.memory_mb, "file_mb": limits.file_mb, "home": str(home)})
        out_path, err_path = Path(scratch, "report.json"), Path(scratch, "stderr.txt")
        with open(out_path, "w+b") as out, open(err_path, "w+b") as err:
            process = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=out, stderr=err, cwd=cwd, env=env, start_new_session=True
            )
            killed = False
            try:
                process.stdin.write(payload.encode())
                process.stdin.close()
            except BrokenPipeError:  # it ended before reading the job: its stderr says why
                pass
            try:
                process.wait(timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                killed = True
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            out.seek(0)
            err.seek(0)
            report = out.read(64 * 2**20).decode("utf-8", "replace") or None
            stderr = err.read(1_000_000).decode("utf-8", "replace")[-4000:]
    return Outcome(report=report, exit_code=process.returncode, killed=killed, stderr=stderr)
