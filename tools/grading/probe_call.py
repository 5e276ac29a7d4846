"""The probes' helpers at the edges of a watched call of the student's code, shipped whole into the probes
(``grader.helper``; the graders import them from :mod:`tools.grading.watch`): :func:`as_written` is entered around the
call, :func:`settled` reads what it returned, inside the watch.

Both have torch's modes compared with those the call found, by the auditor shipped into the kernel
(:mod:`tools.grading.audit_state`, reached through ``__grading__``; where the probes run in process, in
:mod:`tools.grading.local`, there is none): a mode added, removed or replaced by the call (a mode entered at the end of
one call and left at the start of the next, the grader's watch popped inside it), or torch's own ``DeviceContext``
given a ``__torch_function__`` of the notebook's, stops the probe before the value is read, and the audit flags it.
"""


def as_written(load=False):  # (shipped whole into the probes: ``grader.helper(as_written)``)
    """A context in which functions compiled with ``torch.compile`` run as written, eagerly (``set_stance``): a probe's
    hooks then see their own code, not the code torch.compile generates (nor its guards and compiler at work).
    ``load``: even if torch.compile's machinery is not loaded yet (the call may compile: a training function's own
    optimizer loads it anyway, and a kernel restarted after a cell's time limit has not loaded it). Entered around a
    call of the student's, it keeps torch's modes as the call found them, and compares them when the call ends."""
    import contextlib
    import sys

    guard = getattr(getattr(sys.modules.get("__grading__"), "auditor", None), "watched_call", lambda inner: inner)
    if not load and "torch._dynamo" not in sys.modules:  # nothing was compiled (and importing it takes seconds)
        return guard(contextlib.nullcontext())
    import torch

    return guard(torch.compiler.set_stance("force_eager"))


def settled(value, depth=0, guard=True):  # noqa: C901  (shipped whole into the probes: ``grader.helper(settled)``)
    """``value`` read now, into a copy of its own, to be called inside a watch on what the watched call returned: a
    float, int or str of a class of the student's becomes the plain one (its ``__float__`` runs now), a NumPy number
    of a subclass the plain NumPy number it holds, a tensor or array a plain copy (a subclass's
    ``__torch_function__`` runs now), tuples, lists and dicts plain ones of settled items. Work deferred until the
    result is read (a lazy value) thus runs watched, and nothing the student's code keeps (a finalizer, a hook, a
    list of results) can change the values judged after the watch. Other objects (a model) are left as they are.
    ``guard``: torch's modes are checked as the call left them, and again once the value is read."""
    import sys

    import numpy as np
    import torch

    if guard:  # (the auditor's check: none where the probes run in process, tools.grading.local)
        check = getattr(getattr(sys.modules.get("__grading__"), "auditor", None), "modes_kept", lambda: None)
        check()  # as the call left them
        value = settled(value, depth, False)
        check()  # and once read: reading may run the student's code (a ``__float__``, a subclass's dispatch)
        return value
    if depth > 12 or value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.generic):  # its data, as the NumPy type it is stored as: no method of a subclass runs
        return np.array(value)[()]
    for kind in (float, int, str):  # (bool, the one subclass of int, cannot be subclassed: returned above)
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, torch.Tensor):
        tracked = value.requires_grad
        value = value.detach()  # a subclass's own dispatch runs here
        if not isinstance(value, torch.Tensor):
            return value
        with torch._C.DisableTorchFunctionSubclass():  # the data it now holds, without asking it again
            return torch.Tensor.as_subclass(value, torch.Tensor).clone().requires_grad_(tracked)
    if isinstance(value, np.ndarray):
        return np.array(value)  # a plain copy
    if isinstance(value, (tuple, list)):
        items = [settled(item, depth + 1, False) for item in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {key: settled(item, depth + 1, False) for key, item in list(value.items())}
    return value


def model_held(model):  # (shipped whole into the probes: ``grader.helper(model_held)``)
    """A model the grader built, held as it is now: returns ``kept(what)``, to be called after each call of the
    student's code (``what``: its name) before the probe reads the model. The probe reads the parameter tensors it
    made itself, not through ``model.weight`` (``nn.Module.__getattr__`` reads the module's own ``_parameters``, which
    the student's code can replace with a dict of its own); ``kept`` stops the probe (a RuntimeError) if any module of
    the model changed class, or its ``_parameters``, ``_buffers`` or ``_modules`` is no longer the plain dict holding
    the same tensors and modules (by identity), and notes it for the audit (``kernel_altered``)."""
    import sys

    def state(module, known, where, depth=0):  # [(what it is, the object)], read past the student's classes
        kind = type(module)
        if known is not None and not any(kind is k for k in known):
            return [(f"{where}'s class", kind)]  # not the grader's: none of its code runs here
        space = object.__getattribute__(module, "__dict__")
        found = [(f"{where}'s class", kind), (f"{where}.__dict__", space)]
        for key in ("_parameters", "_buffers", "_modules"):
            table = dict.get(space, key) if type(space) is dict else None
            found += [(f"{where}.{key}", table), (f"{where}.{key}'s class", type(table))]
            for name, value in list(dict.items(table)) if type(table) is dict else ():
                name = str.__repr__(name) if type(name) is str else "?"  # (no __repr__ of the student's runs)
                found += [(f"{where}.{key}[{name}]", value), (f"{where}.{key}[{name}]'s class", type(value))]
                if key == "_modules" and value is not None and depth < 16:
                    found += state(value, known, f"{where}.{name[1:-1]}", depth + 1)
        return found

    held = state(model, None, "model")
    known = [value for label, value in held if label.endswith("'s class") and isinstance(value, type)]

    def kept(what):
        now = state(model, known, "model")
        changed = [
            label for (label, value), (old, was) in zip(now, held, strict=False) if label != old or value is not was
        ]
        changed += [label for label, _ in (now[len(held) :] or held[len(now) :])]  # added, or gone
        if not changed:
            return
        item = f"the grader's model was altered by a call of the notebook's code ({what}: {changed[0]} changed)"
        noted = getattr(getattr(sys.modules.get("__grading__"), "auditor", None), "note", lambda item: None)
        noted(item)
        raise RuntimeError(
            f"{item}; the grader reads no result from a model whose own tables were replaced: update the parameters "
            "in place (optimizer.step()) and leave the model's _parameters, _buffers, _modules and class alone"
        )

    return kept
