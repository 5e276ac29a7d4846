"""The autograd a call of the student's code runs, for the grader of 02_gradients (Task 1 asks for the gradients
without autograd, Task 2 with it): :func:`watched` is shipped whole into the probes (``grader.helper(watched)``),
after :func:`~tools.grading.probe_call.as_written` and :func:`~tools.grading.probe_call.settled`, which it calls.
"""

from tools.grading.probe_call import as_written, settled  # (shipped before it: the probes' helpers)


def watched(function, *arguments):  # noqa: C901  (shipped whole into the probes)
    """``function(*arguments)``, called ONCE under a profile hook: its value, and the autograd it ran.

    The judged value comes from this same call: a function that behaves otherwise watched (or remembers an earlier
    call) is judged on what it does watched. ``losses``: each loss given to torch.autograd.backward or grad (where
    Tensor.backward and torch.func.grad end); ``used``: for each, whether a gradient it gave (a ``.grad`` read after
    it, autograd.grad's result) went into a torch computation before the next; ``engine``: C autograd engine calls;
    ``forward``: forward-mode autodiff, torch.func's differentiating transforms (not vmap); ``graph``: reads of
    ``grad_fn`` (whose nodes give gradients); ``traced``: calls of code generated from a traced graph (torch.fx's
    ``<eval_with_key>``, inductor's files: make_fx, aot_function, torch.export write autograd's backward out as plain
    operations, then run with no autograd during the call); ``unwatched``: the hook switched off or replaced;
    ``lost``: the record rewritten. The value is read inside the watch (:func:`settled`), lazy work too; compiled
    functions run as written (so no honest code of the student's runs as generated code).
    """
    import sys
    import threading

    import torch
    from torch._functorch import eager_transforms
    from torch.autograd import forward_ad
    from torch.overrides import TorchFunctionMode

    entries = {torch.autograd.backward.__code__: "tensors", torch.autograd.grad.__code__: "outputs"}
    returning = {torch.autograd.grad.__code__, eager_transforms.grad_impl.__code__}
    files = {forward_ad.__file__, eager_transforms.__file__}  # (torch.func's grad, jacrev, jvp... end there)
    fx, inductor = "<eval_with_key>", "/torchinductor_"  # the code torch.fx generates, and inductor's files
    import torch._decomp.decompositions as decompositions  # autograd's formulas in Python: mse_loss_backward, ...

    formulas, torch_files = decompositions.__file__, torch.__file__.rpartition("/")[0]
    wrapping = (formulas.rpartition("/")[0], torch_files + "/_prims_common/")  # between a formula and its caller
    printing = torch._tensor_str.__file__  # print(tensor) asks forward_ad whether the tensor is a dual one
    forward_c = {"_make_dual", "_enter_dual_level", "_grad_increment_nesting", "_jvp_increment_nesting"}
    seen = {"losses": [], "engine": 0, "forward": 0, "traced": 0, "unwatched": False}
    reads = [0, 0]  # the mode's own counts (nodes read, autograd's backward formulas called: aten's mse_loss_backward),
    # apart: torch.compile replays what a mode writes, never what the hook writes
    passes = []  # each backward pass: [whether a gradient it gave went into a computation, the gradients read since]

    class Graph(TorchFunctionMode):  # a tensor's attributes are read through the mode too: grad_fn, grad among them
        def __torch_function__(self, func, types, args=(), kwargs=None):
            result, owner = func(*args, **(kwargs or {})), getattr(func, "__self__", None)
            reads[0] += owner is torch.Tensor.grad_fn and result is not None  # a node
            op = getattr(func, "_qualified_op_name", None) or getattr(func, "_name", None)  # an operator of torch.ops
            reads[1] += isinstance(op, str) and "_backward" in op.partition("::")[2]  # autograd's derivative formula
            if passes and owner in (torch.Tensor.grad, torch.Tensor._grad) and isinstance(result, torch.Tensor):
                passes[-1].append(result)  # a gradient read: used once it goes into a computation (not zeroed)
            elif passes and len(passes[-1]) > 1 and getattr(func, "__name__", "") not in ("zero_", "detach_"):
                given = [*args, *(kwargs or {}).values(), *(t for v in args if isinstance(v, list | tuple) for t in v)]
                passes[-1][0] |= any(v is g for v in given for g in passes[-1][1:])
            return result

    def loss_value(given):
        given = given[0] if isinstance(given, (tuple, list)) and given else given
        count = reads[0]  # the watch's own read of grad_fn is not the student's
        try:
            return float(torch.Tensor.item(given.detach())) if given.grad_fn is not None else None
        except Exception:  # noqa: BLE001  (not a one-number tensor in a graph: not a loss)
            return None
        finally:
            reads[0] = count

    def note(frame, event, arg):
        if event == "c_call":
            name = getattr(arg, "__name__", "")
            seen["engine"] += name == "run_backward"
            seen["forward"] += name in forward_c
            seen["unwatched"] |= name in ("setprofile", "settrace")
        elif event == "call" and frame.f_code in entries:
            passes.append([False])
            seen["losses"].append(loss_value(frame.f_locals.get(entries[frame.f_code])))
        elif event == "return" and frame.f_code in returning:
            passes[-1] += [g for g in (arg if isinstance(arg, tuple | list) else [arg]) if isinstance(g, torch.Tensor)]
        elif event == "call" and frame.f_code.co_filename in files:
            seen["forward"] += getattr(getattr(frame.f_back, "f_code", None), "co_filename", None) != printing
        elif event == "call" and (frame.f_code.co_filename.startswith(fx) or inductor in frame.f_code.co_filename):
            seen["traced"] += 1
        elif event == "call" and frame.f_code.co_filename == formulas and "_backward" in frame.f_code.co_name:
            caller = frame.f_back
            while caller is not None and caller.f_code.co_filename.startswith(wrapping):
                caller = caller.f_back
            outside = caller is not None and not caller.f_code.co_filename.startswith(torch_files)
            reads[1] += outside  # called by the student's code, not by a compile's tracing

    with as_written():
        threading.setprofile(note)  # threads the call starts are watched too
        sys.setprofile(note)
        try:
            with Graph():
                value = settled(function(*arguments))
        finally:
            hooked, switched = sys.getprofile(), seen.get("unwatched")  # before the hook sees its own removal
            sys.setprofile(None)
            threading.setprofile(None)
    record = {
        key: seen.get(key, start) for key, start in (("losses", []), ("engine", 0), ("forward", 0), ("traced", 0))
    }
    lost = set(seen) != {"losses", "engine", "forward", "traced", "unwatched"}
    unwatched = switched is not False or hooked is not note  # (the hooks came off first, whatever the record)
    used = [p[0] for p in passes]
    return value, {
        **record,
        "graph": reads[0],
        "formulas": reads[1],
        "used": used,
        "unwatched": unwatched and not lost,
        "lost": lost,
    }
