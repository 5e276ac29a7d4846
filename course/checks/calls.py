"""Which library functions a learner's answer called: the watch behind an exercise's ``library`` entries.

An exercise that asks for a formula written by hand (a loss, a metric) lists the library functions that
compute it; :class:`Calls` notes, in the thread that runs the answer, the code of every Python function
called, the C functions listed (``torch.binary_cross_entropy_with_logits``) and the operators they are as
``torch.ops.aten.<name>``, so that the right number reached through the library is told apart.
"""

from __future__ import annotations

import inspect
import itertools
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

_OP_CALLS = {torch._ops.OpOverloadPacket.__call__.__code__, torch._ops.OpOverload.__call__.__code__}
_START = threading.Thread.start.__code__  # a thread the watched code starts is watched too
# the checks' own probes set a hook of their own, chained to this one
_COURSE = os.path.join(os.path.dirname(__file__), "")
_BLINDS = "the check notes which functions your code calls (sys.setprofile): an answer may not switch that off."


@dataclass(frozen=True)
class Library:
    """A library function the exercise asks the learner to write by hand; ``example`` is an answer that calls it."""

    function: Callable[..., Any]
    example: Any
    id: ClassVar[str] = "used_library"  # one diagnosis for every library entry


class Calls:
    """The code of every Python function called in this thread (and the threads it starts) while it is active, and
    which of the library's C functions (``torch.binary_cross_entropy_with_logits``) were called: a profile hook is
    per thread. Code that replaces the hook (``sys.setprofile``) is stopped by an error, and counts as calling all."""

    def __init__(self, library: Sequence[Library]) -> None:
        self.watched = {id(entry.function): entry.function for entry in library}
        for function in [entry.function for entry in library if inspect.isbuiltin(entry.function)]:
            operator = getattr(torch.ops.aten, function.__name__, None)  # the same kernel as torch.ops.aten.<name>
            self.watched |= {} if operator is None else {id(operator): function}

    def __enter__(self) -> Calls:
        self.seen: set = set()
        self.blinded, self._done, self._before = False, False, sys.getprofile()
        sys.setprofile(self._note)
        return self

    def _adopt(self, thread: threading.Thread) -> None:
        """Watch ``thread``, which a watched thread starts, from its first line (not the process-wide
        ``threading.setprofile``: a check stopped late would hand its watch to every thread started after it)."""
        run = thread.run

        def watched_run() -> None:
            sys.setprofile(None if self._done else self._note)
            try:
                run()
            finally:
                sys.setprofile(None)

        try:
            thread.run = watched_run
        except BaseException:  # a run that cannot be replaced: what it calls is not seen
            self.blinded = True

    def _note(self, frame: Any, event: str, arg: Any) -> None:
        if self._done:  # a thread the answer started and left running: watched no longer
            return sys.setprofile(None)
        if event == "call" and frame.f_code is _START:
            self._adopt(frame.f_locals.get("self"))
        blinds = (event == "c_call" and arg is sys.setprofile) or frame.f_code is threading.setprofile.__code__
        if blinds and not self._done and not frame.f_code.co_filename.startswith(_COURSE):
            self.blinded = True  # the hook is gone once this raises: what follows is not seen
            raise RuntimeError(_BLINDS)
        if event == "call":
            self.seen.add(frame.f_code)
            if frame.f_code in _OP_CALLS:  # torch.ops.aten.X(...) or its .default: the operator is `self`
                op = frame.f_locals.get("self")
                if (packet := id(getattr(op, "overloadpacket", op))) in self.watched:
                    self.seen.add(self.watched[packet])
        elif event == "c_call" and id(arg) in self.watched:
            self.seen.add(self.watched[id(arg)])

    def __exit__(self, *exc: object) -> None:
        self._done = True
        sys.setprofile(self._before)

    def ran(self, function: Callable[..., Any]) -> bool:
        """Whether ``function`` ran (the function inside its decorators: scikit-learn wraps its metrics)."""
        code = getattr(inspect.unwrap(function), "__code__", None)
        return self.blinded or function in self.seen or (code is not None and code in self.seen)


def qualified(function: Callable[..., Any]) -> str:
    """``F.cross_entropy``, ``sklearn.metrics.r2_score``: the name a learner imports it by (no private module)."""
    if isinstance(function, torch._ops.OpOverloadPacket):  # an operator with no other name: torch.ops.aten.<name>
        return f"torch.ops.{function._qualified_op_name.replace('::', '.')}"
    public = itertools.takewhile(lambda part: not part.startswith("_"), function.__module__.split("."))
    public = function.__module__ if inspect.isbuiltin(function) else ".".join(public)  # torch._C._nn's own entries
    module = {"torch.nn.functional": "F"}.get(function.__module__, public)
    return f"{module}.{function.__name__}"
