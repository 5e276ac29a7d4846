"""The teacher's grading commands (run from the nbgrader course folder, ``assignments/``).

    python -m tools.grading autograde [ASSIGNMENT] [--student S] [--timeout S] [--jobs N] [--unsandboxed]
    python -m tools.grading export [--to grades.csv]
    python -m tools.grading accept ASSIGNMENT STUDENT
    python -m tools.grading check

The Makefile's teaching targets call these (``make autograde``, ``make grades``, ``make accept``,
``make sandbox``); see TEACHING.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tools.grading import autograde, export, record, sandbox


def settings_from(args: argparse.Namespace, course: Path) -> autograde.Settings:
    """Command-line options over nbgrader_config.py's values over the defaults."""
    from traitlets.config.loader import PyFileConfigLoader

    config = (
        PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
        if (course / "nbgrader_config.py").is_file()
        else {}
    )
    own = config.get("GradingSandbox", {})
    base = sandbox.Limits()
    limits = sandbox.Limits(
        wall_seconds=float(own.get("wall_seconds", base.wall_seconds)),
        memory_mb=int(args.memory_mb or own.get("memory_mb", base.memory_mb)),
        file_mb=int(own.get("file_mb", base.file_mb)),
        scratch_mb=int(own.get("scratch_mb", base.scratch_mb)),
    )
    timeout = args.timeout or config.get("Execute", {}).get("timeout", 60)
    jobs = args.jobs or int(own.get("jobs", 0)) or os.cpu_count() or 1
    return autograde.Settings(
        timeout=float(timeout),
        grace=args.grace,
        limits=limits,
        jobs=jobs,
        seed=args.seed,
        unsandboxed=args.unsandboxed,
        package=args.course_package,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.grading", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("autograde", help="grade submitted/ in sandboxes, into the gradebook")
    grade.add_argument("assignment", nargs="?", default="*")
    grade.add_argument("--student", default="*")
    grade.add_argument("--timeout", type=float, help="seconds per cell (default: nbgrader_config.py, else 60)")
    grade.add_argument("--grace", type=float, default=5.0, help="seconds a cell gets to stop after an interrupt")
    grade.add_argument("--jobs", type=int, help="submissions graded at once (default: the number of CPUs)")
    grade.add_argument("--memory-mb", type=int, help="address-space limit per process in the sandbox")
    grade.add_argument("--seed", type=int, help="reuse the fresh inputs of an earlier run (its report's seed)")
    grade.add_argument("--unsandboxed", action="store_true", help="run students' code WITHOUT a sandbox")
    grade.add_argument("--course-package", type=Path, help=argparse.SUPPRESS)
    out = commands.add_parser("export", help="grades.csv with flags")
    out.add_argument("--to", type=Path, default=Path("grades.csv"))
    ok = commands.add_parser("accept", help="give a reviewed flagged submission its points on hold")
    ok.add_argument("assignment")
    ok.add_argument("student")
    commands.add_parser("check", help="say whether a sandbox can start here")
    args = parser.parse_args(argv)
    course = Path.cwd()
    if args.command == "check":
        command, why = sandbox.check()
        print("bubblewrap sandbox: works" if command else why)
        return 0 if command else 1
    if args.command == "export":
        print(f"{export.export(course, args.to)} rows in {args.to}")
        return 0
    if args.command == "accept":
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
            points = record.accept(gradebook, course, args.assignment, args.student)
        print(f"{args.student} / {args.assignment}: {points:g} points given after review")
        return 0
    if args.unsandboxed:
        print("WARNING: grading WITHOUT a sandbox: students' code runs with your permissions.", file=sys.stderr)
    try:
        reports = autograde.autograde(course, args.assignment, args.student, settings_from(args, course))
    except autograde.Refused as refused:
        print(f"make autograde: {refused}", file=sys.stderr)
        return 2
    print(f"{len(reports)} submissions graded; scores in gradebook.db, reports in autograded/.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
