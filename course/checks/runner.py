"""Run a learner's code in a worker thread so that a check always answers, within a time limit and never raising:
code still running after ``limit`` seconds is told to stop (an injected exception; a loop that catches it goes on), SystemExit
and every other exception become an :class:`Outcome`, and KeyboardInterrupt (the stop button) still stops the cell;
what the code changes for the code after it is put back: after each call the global settings, grad mode, the default
dtype and device and the torch modes entered (:class:`Watched`, :mod:`course.checks.leftovers`); what it does to
the inputs it was given is seen: how it changed them (:func:`how_changed`), a backward() into them
(:func:`backward_watch`), the gradients its result sends back into them (:func:`gradients`)."""

from __future__ import annotations

import inspect
import linecache
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import CodeType, FunctionType
from typing import Any

import numpy as np
import torch

from course.checks.leftovers import put_back, settings
from course.checks.probes import freed, leaves
from course.checks.stopping import Worker, _Stop, stop
from course.checks.values import changed, tensors_in

# a NotImplementedError raised in these folders (torch, NumPy, the course) is not the learner's stub
_LIBRARIES = tuple(
    os.path.join(os.path.dirname(p), "") for p in (torch.__file__, np.__file__, os.path.dirname(__file__))
)


@dataclass(frozen=True)
class Outcome:
    """What running the code gave: its value, or the exception it raised, or that it timed out or exited."""

    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False
    exited: bool = False


def run_limited(fn: Callable[..., Any], *args: Any, limit: float) -> Outcome:
    """Call ``fn(*args)`` in a worker thread and wait at most ``limit`` seconds for it.

    >>> run_limited(lambda x: x + 1, 1, limit=1.0).value, run_limited(exit, limit=1.0).exited
    (2, True)
    """
    box: dict[str, Any] = {}  # the Outcome's fields, as the worker sets them

    def target() -> None:
        before = settings()
        try:
            box["value"] = fn(*args)
        except SystemExit:
            box["exited"] = True
        except _Stop:
            box["timed_out"] = True
            return  # past the limit: the default dtype may be another cell's now
        except BaseException as exc:  # reported as an outcome, never raised in the worker
            box["error"] = exc
        if "late" not in box:  # what a __del__ or hook of the code changed after fn's own checks (the dtype is global)
            put_back(before)

    thread = Worker(target)  # stopped only while it runs fn or puts back, never in threading's start-up or clean-up
    try:
        thread.start()
        thread.join(limit)
    except BaseException:  # the stop button: stop the learner's code too, then stop the cell
        stop(thread)
        raise
    if thread.is_alive() or "timed_out" in box:
        box["late"] = True
        stop(thread)
        return Outcome(timed_out=True)
    if issubclass(type(box.get("error")), KeyboardInterrupt):  # its type: isinstance would ask its __class__
        raise box["error"]
    return Outcome(**box)


class Watched:
    """A learner's callable, called as it is, whose every call then puts back the settings it changed
    (:func:`~course.checks.leftovers.put_back`) and notes them in ``left``: a change undone by a later call (the
    default dtype of the last probe) is still seen, and the check's own code after a call runs with the settings it
    expects."""

    def __init__(self, answer: Callable[..., Any]) -> None:
        self.answer, self.left = answer, set()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        before = settings()
        try:
            result = self.answer(*args, **kwargs)
        except _Stop:  # past the time limit: the check has answered, and the (global) dtype may be another cell's now
            raise
        except BaseException:
            self.left |= put_back(before)
            raise
        self.left |= put_back(before)
        return result


def stub_code(exc: BaseException) -> CodeType | None:
    """The code of the learner's function whose `raise` line raised ``exc`` (a stub), or None: raised in a library,
    or with a message (``NotImplementedError("only matrices")`` is an error raised on purpose; a stub is bare)."""
    if exc.args:
        return None
    tb = exc.__traceback__  # caught, so it holds at least the frame that caught it
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    # torch raises from C++ with the learner's line as the last Python frame: only a `raise` line is a stub
    line = linecache.getline(code.co_filename, tb.tb_lineno, tb.tb_frame.f_globals)
    return code if not code.co_filename.startswith(_LIBRARIES) and ("raise" in line or not line) else None


def other_stub(code: CodeType, answers: tuple) -> str | None:
    """The name of the stub ``code`` (:func:`stub_code`) when it is not the answer's own (a function given, one
    defined inside it, a method of the class given or of the object's class) but a function the answer calls.

    >>> def sgd_step(params, lr): raise NotImplementedError
    >>> other_stub(sgd_step.__code__, (lambda a, b: sgd_step([a, b], 0.1),)), other_stub(sgd_step.__code__, (sgd_step,))
    ('sgd_step', None)
    """
    try:  # an answer that cannot be read is taken for the stub itself, as before stubs were told apart
        given = [inspect.unwrap(a.func if isinstance(a, partial) else getattr(a, "__func__", a)) for a in answers]
        functions = [a for a in given if isinstance(a, FunctionType)]
        for cls in [a if isinstance(a, type) else type(a) for a in given if not isinstance(a, FunctionType)]:
            functions += [getattr(v, "__func__", getattr(v, "fget", v)) for c in cls.__mro__ for v in vars(c).values()]
        own, todo = set(), [function.__code__ for function in functions if isinstance(function, FunctionType)]
        while todo:  # with the functions defined inside them
            if (mine := todo.pop()) not in own:
                own.add(mine)
                todo += [c for c in mine.co_consts if isinstance(c, CodeType)]
    except BaseException as exc:  # a SystemExit from a hostile attribute too; a real interrupt goes on
        if issubclass(type(exc), KeyboardInterrupt):
            raise
        return None
    return None if code in own or not own else code.co_qualname.rsplit("<locals>.", 1)[-1]


def how_changed(used: object, fresh: object) -> set[str]:
    """How code changed the input ``used`` it was given, against a fresh copy (see :func:`values.changed`): the
    "dtype" or "device" of a tensor, an array or a model's tensors, else its "values" (a list's items too); for a
    tuple (a probe's parts) how each item changed, named by its place.

    >>> how_changed(torch.nn.Linear(2, 1).double(), torch.nn.Linear(2, 1)), how_changed([1, 2], [1, 3])
    ({'dtype'}, {'values'})
    """
    if not changed(used, fresh):
        return set()
    if type(used) is tuple and type(fresh) is tuple and len(used) == len(fresh):  # a probe's parts: each its own
        pairs = enumerate(zip(used, fresh, strict=True))
        return {f"{kind} of item {i}" for i, pair in pairs for kind in how_changed(*pair)}
    used, fresh = ([*x.state_dict().values()] if isinstance(x, torch.nn.Module) else [x] for x in (used, fresh))
    found = {kind for u, f in zip(used, fresh, strict=False) for kind in ("dtype", "device")
             if getattr(u, kind, None) != getattr(f, kind, None)}  # fmt: skip
    return found or {"values"}


def parameters_of(args: tuple) -> list:
    """For each input, the parameter objects of a model (None for anything else): :func:`replaced` compares them."""
    return [list(arg.parameters()) if isinstance(arg, torch.nn.Module) else None for arg in args]


def replaced(used: object, before: list | None) -> set[str]:
    """{"replaced"} if the model ``used`` no longer holds the parameter objects ``before`` (new ``nn.Parameter``
    objects put in their place, where ``model.to`` keeps them), else an empty set."""
    if before is None or not isinstance(used, torch.nn.Module):
        return set()
    now = list(used.parameters())
    return (
        {"replaced"} if len(now) != len(before) or any(a is not b for a, b in zip(now, before, strict=False)) else set()
    )


def changes(args: tuple, fresh: tuple, owned: list) -> list[set[str]]:
    """How code changed each input it was given: :func:`how_changed` against ``fresh`` copies, and :func:`replaced`
    against the parameter objects ``owned`` before it ran (:func:`parameters_of`)."""
    return [
        how_changed(used, new) | replaced(used, before) for used, new, before in zip(args, fresh, owned, strict=False)
    ]


def backward_watch(leaves: list[torch.Tensor]) -> list:
    """A list that grows each time a backward() accumulates a gradient into one of ``leaves``."""
    accumulated: list = []
    for leaf in leaves:
        leaf.register_post_accumulate_grad_hook(accumulated.append)
    return accumulated


def _grad(total: torch.Tensor, found: list[torch.Tensor]) -> tuple:
    """``torch.autograd.grad`` of ``total``, once only where the graph allows one pass (a compiled function's, whose
    backward owns its buffers), or backward() where only that works (a reentrant checkpoint inside)."""
    try:
        return torch.autograd.grad(total, found, allow_unused=True, retain_graph=True)
    except RuntimeError as exc:
        if "donated buffers" in str(exc):
            return torch.autograd.grad(total, found, allow_unused=True)
        if "use_reentrant=True" not in str(exc):
            raise
    kept = [leaf.grad for leaf in found]
    try:
        for leaf in found:
            leaf.grad = None
        total.backward(retain_graph=True)
        return tuple(leaf.grad for leaf in found)
    finally:
        for leaf, grad in zip(found, kept, strict=True):
            leaf.grad = grad


def gradients(observation: object, args: tuple) -> list[list[torch.Tensor] | None]:
    """For each tensor of ``observation`` (:func:`~course.checks.values.tensors_in`), the gradient of a weighted sum of it with
    respect to each leaf behind ``args`` (zeros where none reaches); None where no gradient reaches any of them, or
    its graph was freed (:func:`~course.checks.probes.freed`). Any other error of backward() (a saved tensor changed in place) is raised.

    >>> a = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> gradients([(a**2).sum(), a.detach()], (a,))
    [[tensor([2., 4.])], None]
    """
    found, result = [leaf for leaf in leaves(args) if leaf.device.type != "meta"], []
    for out in tensors_in(observation):
        grads = [None]
        # a graph already freed has nothing to compare (the guards name it); any other error of backward() is raised
        if found and out.requires_grad and out.is_floating_point() and out.device.type != "meta" and not freed(out):
            weights = torch.linspace(1, 2, out.numel(), dtype=out.dtype, device=out.device).reshape(out.shape)
            grads = _grad((out * weights).sum(), found)
        reached = any(g is not None for g in grads)
        result.append(
            [torch.zeros_like(x) if g is None else g for x, g in zip(found, grads, strict=True)] if reached else None
        )
    return result
