"""The function calls a watched call of the student's code makes, for 01's no-loop check: :func:`call_watch`, shipped
whole into the probe (``grader.helper``).

A call counts when the student's code makes it: from its own frames (or text it compiles and runs: ``exec``,
``timeit``), directly or through a builtin that calls back (``map(np.mean, columns)``, ``Tensor.apply_``). Inside a
library's function, only the calls of what the student's code handed a library count (``np.mean`` given to
``np.apply_along_axis``, ``tree_map`` or SciPy's ``labeled_comprehension``, or held by an ``np.vectorize`` it calls),
at any depth: a library's own work (NumPy's array printer, ``pprint``, ipykernel's output stream, whose flushes every
0.2 s change its path at random) is not the student's, and its number may grow with the data. What the profile cannot
see called from C (a builtin, a ufunc, ``operator.methodcaller``, a lazy iterator such as ``map``: not torch's
functions, which the probe's mode counts) makes every call inside the libraries count, from then on, but those of the
output streams' ``write`` and ``flush``.
"""


def call_watch(own, hidden):  # noqa: C901  (shipped whole into the probes: ``grader.helper(call_watch)``)
    """A profile hook for ``sys.setprofile`` and its count: returns ``(profile, reset, total)``. ``own(frame)`` tells
    the student's frames; ``hidden`` holds the code of the probe's own frames that pass a call on (its
    ``TorchFunctionMode``'s ``__torch_function__``): a call made from one is made by the frame that called it. The walk
    up from a library's frame stops at any other frame of the grader's (the probe's call of the student's function)."""
    import functools
    import itertools
    import sys
    import types

    lazy = (map, filter, zip, enumerate, reversed, types.GeneratorType, type(iter(int, 1)))
    lazy += tuple(kind for kind in vars(itertools).values() if isinstance(kind, type))
    state = {"count": 0, "codes": set(), "all": False, "streams": set()}  # codes: of functions handed to a library

    def torch_made(value):  # a function of torch's (C): the probe's TorchFunctionMode counts each call
        owner = getattr(value, "__objclass__", None) or type(getattr(value, "__self__", None))
        module = getattr(value, "__module__", None) or getattr(owner, "__module__", None)
        return isinstance(module, str) and module.split(".")[0] == "torch"

    def gather(value, depth=0):  # the code of the functions in ``value``; True if it holds one unseen when called
        kind, codes = type(value), state["codes"]
        if value is None or kind in (int, float, str, bytes, bool):
            return False
        if depth > 6:
            return True  # nested deeper than any library looks: unseen
        if kind is types.FunctionType:
            codes.add(value.__code__)
            return False
        if kind in (types.MethodType, staticmethod, classmethod):
            return gather(value.__func__, depth + 1)
        if kind is functools.partial:
            return any([gather(v, depth + 1) for v in (value.func, *value.args, *value.keywords.values())])
        if kind in (list, tuple, set, frozenset, dict):
            items = list(value.values() if kind is dict else value)
            return len(items) > 256 or any([gather(item, depth + 1) for item in items])
        if isinstance(value, type):
            codes.update(f.__code__ for f in (vars(value).get("__init__"),) if type(f) is types.FunctionType)
            return False
        if isinstance(value, lazy):
            return True
        return callable(value) and not torch_made(value) and held(value, depth)

    def held(value, depth):  # a callable object: True if what it runs is unseen
        inner = getattr(value, "_implementation", None)  # a NumPy function: its Python implementation runs
        if type(inner) is types.FunctionType:
            return gather(inner, depth + 1)
        call = next((vars(kind)["__call__"] for kind in type(value).__mro__ if "__call__" in vars(kind)), None)
        if type(call) is not types.FunctionType:
            return True  # a builtin, a ufunc, operator.methodcaller...: called from C, unseen
        state["codes"].add(call.__code__)  # an object of a Python class (np.vectorize): its call, and what it holds
        space = getattr(value, "__dict__", None)
        return type(space) is dict and gather(list(space.values()), depth + 1)

    def handed(frame):  # a library function the student's code called: the callables it was given
        code = frame.f_code
        flags = code.co_flags
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount + bool(flags & 4) + bool(flags & 8)]
        try:
            unseen = gather([frame.f_locals.get(name) for name in names])
        except Exception:  # noqa: BLE001  (an object of the student's that raises when looked at: unseen)
            unseen = True
        state["all"] |= unseen

    def text(frame):  # code compiled from a string (exec, timeit), neither frozen (the imports') nor the grader's
        name = getattr(frame, "f_code", None) and frame.f_code.co_filename
        return isinstance(name, str) and name.startswith("<") and not name.startswith(("<frozen", "<probe", "<grader"))

    def reached(frame):  # a library's frame, walked up: True if the student's code called it, None if an output stream
        while frame is not None:
            if own(frame):
                return True
            code = frame.f_code
            if code in state["streams"]:
                return None  # ipykernel's write and flush: their path changes at random
            if code not in hidden and code.co_filename.startswith(("<probe", "<grader")):
                return False  # the grader's own call of the student's function: not the student's work
            frame = frame.f_back
        return False

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in hidden:
            return  # the probe's mode: what it calls is called by its caller
        if event not in ("call", "c_call"):
            return
        by = frame if event == "c_call" else frame.f_back
        while by is not None and by.f_code in hidden:
            by = by.f_back
        if own(by) or text(by) and reached(by) is True:  # (text: code the student's compiled, exec or timeit)
            state["count"] += 1
            if event == "call" and not own(frame):
                handed(frame)
        elif state["all"] or event == "call" and frame.f_code in state["codes"]:
            state["count"] += reached(by) is True

    def reset():
        state.update(count=0, all=False)
        state["codes"].clear()
        names = ("write", "flush", "writelines")  # the streams' methods, and their own (IPython's tee of write)
        found = [getattr(at, n, None) for s in (sys.stdout, sys.stderr) for at in (s, type(s)) for n in names]
        found = [getattr(f, "__func__", f) for f in found]
        state["streams"] = {f.__code__ for f in found if type(f) is types.FunctionType}

    return profile, reset, lambda: state["count"]
