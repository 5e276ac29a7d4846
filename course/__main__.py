"""Command line: ``python -m course doctor``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["doctor"]:
        asked = args in (["--help"], ["-h"], ["doctor", "--help"], ["doctor", "-h"])  # to stdout, and no error
        print("usage: python -m course doctor    (checks versions, device, Graphviz and widgets)",
              file=sys.stdout if asked else sys.stderr)  # fmt: skip
        return 0 if asked else 2
    from course.doctor import check_environment

    report = check_environment()
    print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
