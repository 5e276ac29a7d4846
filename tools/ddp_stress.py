"""Run lesson 15's two-process training job many times, in parallel, and count failures.

    python -m tools.ddp_stress --runs 30 --parallel 2

A run fails when torchrun exits non-zero or any process prints "terminate called" (the abort at
interpreter shutdown that ddp_train.py avoids). Run it beside `make test` to measure under load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebooks"))
import ddp_train  # noqa: E402


def one_run(index: int) -> tuple[int, bool, float, str]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = ddp_train.launch(2, "--out", out, timeout=300)
        failed = result.returncode != 0 or "terminate called" in result.stderr
        return index, failed, time.perf_counter() - start, result.stderr[-2000:] if failed else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    failures = 0
    with ThreadPoolExecutor(args.parallel) as pool:
        for index, failed, seconds, stderr in pool.map(one_run, range(args.runs)):
            failures += failed
            print(f"run {index + 1:3d}: {'FAILED' if failed else 'ok'} in {seconds:.1f} s", flush=True)
            if failed:
                print(stderr)
    print(f"{failures} failed, {args.runs - failures} passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
