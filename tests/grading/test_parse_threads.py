"""autograde grades submissions in a thread pool, and CPython 3.11's ast.parse is not safe in two threads at once
(its AST builder's recursion depth lives in state the threads share: "SystemError: AST constructor recursion depth
mismatch" came at random from the sandboxed grading of one submission). Every parse goes through one lock."""

from __future__ import annotations

import ast
import threading
import time
from pathlib import Path

from tools.grading import aliases

ROOT = Path(__file__).resolve().parents[2]


def test_cells_are_parsed_one_thread_at_a_time(monkeypatch):
    inside, most, real = [0], [0], ast.parse

    def slow_parse(source, *args, **kwargs):  # holds the parse open long enough for the other thread to arrive
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.2)
        inside[0] -= 1
        return real(source, *args, **kwargs)

    monkeypatch.setattr(aliases.ast, "parse", slow_parse)
    threads = [threading.Thread(target=aliases.parse_cell, args=(f"x = {i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1


def test_the_grading_tools_parse_only_through_the_lock():
    calls = [
        (path.name, line)
        for path in sorted((ROOT / "tools" / "grading").glob("*.py"))
        for line in path.read_text().splitlines()
        if "ast.parse(" in line and "``ast.parse" not in line
    ]
    assert calls == [("aliases.py", "        return ast.parse(source)")]
