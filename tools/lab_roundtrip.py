"""Prove that opening a lesson in JupyterLab 4 and saving it changes nothing.

Copies notebooks/[0-9][0-9]_*.ipynb (and notebooks/ddp_train.py) into a temporary folder, starts JupyterLab
from the course venv on it and drives headless Chromium with Playwright: open each notebook, wait until it
is loaded and its kernel is idle (no cell runs), press Ctrl+S, wait for the save, close it. Each saved file
is compared with the original byte for byte and as JSON. Prints one line per notebook; exits 1 if any
changed. The originals are never touched; settings, workspaces and runtime files live in the temporary folder.

Setup, once (Playwright gets its own venv, not the course venv; it drives Debian's chromium):

    apt-get install -y chromium
    python3 -m venv /tmp/pw-venv && /tmp/pw-venv/bin/pip install playwright

Run from the repository root; under a python without Playwright it re-runs itself with $LAB_ROUNDTRIP_PYTHON
(default /tmp/pw-venv/bin/python). --help lists the options (--jupyter, --chromium, --timeout, --keep).

    .venv/bin/python -m tools.lab_roundtrip                   # all lessons
    /tmp/pw-venv/bin/python -m tools.lab_roundtrip 03 14_put  # lessons whose name contains "03" or "14_put"
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
FLAGS += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Truthy once the notebook is loaded and its kernel idle, or a dialog (e.g. the kernel picker) asks something.
READY = """name => { const w = window.jupyterapp?.shell.currentWidget, s = w?.sessionContext;
  const dialog = document.querySelector('.jp-Dialog'); if (dialog) return 'dialog: ' + dialog.innerText;
  return w?.context?.path === name && w.context.isReady && s?.isReady && s.kernelDisplayStatus === 'idle'; }"""
INFO = "async () => { await window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.info; }"
CLEAN = "() => !window.jupyterapp.shell.currentWidget.context.model.dirty"


def api(base: str, token: str, path: str, method: str = "GET") -> object:
    request = urllib.request.Request(base + path, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or "null")


def start_lab(jupyter: str, work: Path, token: str, timeout: float) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dirs = ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR")
    env = os.environ | {var: str(work / var.lower()) for var in dirs}  # a stock JupyterLab: no user settings
    cmd = [jupyter, "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0"]
    cmd += [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work / 'nb'}"]
    cmd += ["--NotebookNotary.db_file=:memory:", "--LabApp.expose_app_in_browser=True"]
    cmd += ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    cmd += ["--allow-root"] if os.geteuid() == 0 else []
    lab = subprocess.Popen(cmd, env=env, stdout=(work / "lab.log").open("w"), stderr=subprocess.STDOUT)
    base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + timeout
    while time.monotonic() < deadline and lab.poll() is None:
        try:
            api(base, token, "/api/status")
            return lab, base
        except OSError:
            time.sleep(0.5)
    lab.kill()
    sys.exit(f"JupyterLab did not start within {timeout:.0f} s:\n{(work / 'lab.log').read_text()}")


def roundtrip(context, base: str, token: str, name: str, timeout_ms: float) -> None:
    """Open `name` in a fresh JupyterLab page, wait for the notebook and its kernel, Ctrl+S, close."""
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    try:
        page.goto(f"{base}/lab/tree/{name}?reset&token={token}")
        state = page.wait_for_function(READY, arg=name, polling=250).json_value()
        if state is not True:
            raise RuntimeError(" ".join(str(state).split()))
        page.evaluate(INFO)  # the kernel's info reply fills language_info; let that land before saving
        page.wait_for_timeout(1000)
        with page.expect_response(lambda r: r.request.method == "PUT" and f"/api/contents/{name}" in r.url) as saved:
            page.keyboard.press("Control+s")
        if not saved.value.ok:
            raise RuntimeError(f"save answered HTTP {saved.value.status}")
        page.wait_for_function(CLEAN, polling=250)
    finally:
        page.close()
    for session in api(base, token, "/api/sessions"):  # closing a tab leaves the kernel running
        api(base, token, f"/api/sessions/{session['id']}", "DELETE")


def differences(old: object, new: object, path: str = "") -> list[str]:
    """Paths (like cells[3].id) where two JSON values differ, with the old and new value."""
    if isinstance(old, dict) and isinstance(new, dict):
        pairs = [(f"{path}.{k}", old.get(k, "<absent>"), new.get(k, "<absent>")) for k in {**old, **new}]
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        pairs = [(f"{path}[{i}]", a, b) for i, (a, b) in enumerate(zip(old, new, strict=True))]
    elif old == new and type(old) is type(new):  # 30.0 -> 30 is a change: JavaScript has one number type
        return []
    else:
        return [f"{path.lstrip('.')}: {json.dumps(old)[:80]} -> {json.dumps(new)[:80]}"]
    return [d for where, a, b in pairs for d in differences(a, b, where)]


def compare(old: bytes, new: bytes) -> str:
    if old == new:
        return "unchanged"
    diffs = differences(json.loads(old), json.loads(new))
    if not diffs:
        at = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
        return f"CHANGED: same JSON, bytes at offset {at}: {old[at - 20 : at + 20]!r} -> {new[at - 20 : at + 20]!r}"
    groups: dict[str, list[str]] = {}  # cells[0].id, cells[1].id, ... -> cells[*].id
    for d in diffs:
        groups.setdefault(re.sub(r"\[\d+\]", "[*]", d.split(": ")[0]), []).append(d)
    return "CHANGED: " + "; ".join(g[0] + (f" (+{len(g) - 1} more {k})" if g[1:] else "") for k, g in groups.items())


def run(args: argparse.Namespace, lessons: list[Path], sync_playwright) -> int:
    with tempfile.TemporaryDirectory(prefix="lab-roundtrip-") as tmp, sync_playwright() as pw:
        work, failed = Path(tmp), 0
        (work / "nb").mkdir()
        for path in [*lessons, ROOT / "notebooks" / "ddp_train.py"]:
            shutil.copy2(path, work / "nb" / path.name)
        originals = {path.name: (work / "nb" / path.name).read_bytes() for path in lessons}  # others may edit
        token = secrets.token_hex(16)
        lab, base = start_lab(args.jupyter, work, token, args.timeout)
        browser = pw.chromium.launch_persistent_context(work / "chromium", executable_path=args.chromium, args=FLAGS)
        try:
            for name in originals:
                try:
                    roundtrip(browser, base, token, name, args.timeout * 1000)
                    verdict = compare(originals[name], (work / "nb" / name).read_bytes())
                except Exception as error:  # report it and go on with the next lesson
                    verdict = f"ERROR: could not round-trip ({type(error).__name__}: {str(error).splitlines()[0]})"
                failed += verdict != "unchanged"
                print(f"{name}: {verdict}", flush=True)
                if args.keep:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(work / "nb" / name, args.keep / name)
        finally:
            browser.close()
            lab.terminate()
            lab.wait(30)
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="check only lessons whose file name contains one of these")
    parser.add_argument("--jupyter", default=str(ROOT / ".venv" / "bin" / "jupyter"), help="the course's jupyter")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser Playwright drives")
    parser.add_argument("--timeout", type=float, default=180, help="seconds allowed for each step (default 180)")
    parser.add_argument("--keep", type=Path, help="copy the saved notebooks into this folder, to diff them")
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        python = os.environ.get("LAB_ROUNDTRIP_PYTHON", "/tmp/pw-venv/bin/python")
        if Path(python).exists() and "LAB_ROUNDTRIP_REEXEC" not in os.environ:
            os.execve(python, [python, __file__, *sys.argv[1:]], os.environ | {"LAB_ROUNDTRIP_REEXEC": "1"})
        sys.exit("Playwright is missing: create its venv as the docstring of tools/lab_roundtrip.py says.")
    lessons = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    lessons = [path for path in lessons if any(part in path.name for part in args.only or [""])]
    if not lessons:
        sys.exit(f"No lesson name contains any of {args.only}.")
    started = time.monotonic()
    failed = run(args, lessons, sync_playwright)
    print(f"{len(lessons) - failed}/{len(lessons)} unchanged in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
