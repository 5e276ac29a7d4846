"""The promise every hostile-input test checks: the error names the fix and comes from the course's own code."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def assert_clear_error(call: Callable[[], object], error: type[BaseException], words: str) -> None:
    """``call()`` raises ``error`` with a message matching ``words``, raised by the course, not inside a library."""
    with pytest.raises(error, match=words) as info:
        call()
    last = info.traceback[-1].path.as_posix()
    assert "site-packages" not in last and "/lib/python" not in last, f"raised from inside a library: {last}"
