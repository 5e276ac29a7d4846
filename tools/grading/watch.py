"""The backward passes of a training run, for the graders of the training tasks (03, 04), and what they show.

:func:`backward_watch` is shipped whole into the probes (``grader.helper``), as :func:`own_predictions`
(:mod:`tools.grading.predictions`); :func:`require_trained_steps` decides, outside the kernel, from what the watch sent
back. The helpers at the edges of any watched call (``as_written``, ``settled``) live in
:mod:`tools.grading.probe_call`. All are imported from here too.
"""

from __future__ import annotations

from tools.grading.predictions import own_predictions  # noqa: F401  (the graders import it from here)
from tools.grading.probe_call import as_written, settled  # noqa: F401  (the graders import them from here)
from tools.grading.spec import require

NOT_HELD = (  # a check's message when the model returned is none the watch saw trained
    "no backward pass of {} left gradients on the parameters of the model it returned, nor on parameters whose "
    "values they hold or are an average of (an AveragedModel, an EMA): return the model the training trained"
)
UNWATCHED = (  # a check's message when the probe's trace or profile hook was gone after a call of the student's
    "{} switched off the grader's watch: its sys.settrace / sys.setprofile hooks were gone after the call (removed, or "
    "dropped by Python after an error raised inside them, as a RecursionError of very deep recursion does): leave the "
    "hooks alone and avoid very deep recursion"
)


def backward_watch():  # noqa: C901  (shipped whole into the probes: ``grader.helper(backward_watch)``)
    """A probe helper: ``watch.note(frame, event, arg)``, called from the probe's profile hook, sees each backward
    pass (``backward()``, ``torch.autograd.backward`` or ``.grad``): the leaf tensors it reaches, which leaves it
    left nonzero gradients on, their values then, and whether the gradient at the input of each BCE-with-logits in
    its graph is that loss's own: ``w * (sigmoid(z) - t)`` (with its ``pos_weight`` and ``weight``) times a positive
    factor per class (a class weight, the reduction). A squared error added with a zero-weighted BCE, or
    ``bce + (mse - bce)``, has another gradient there; an L2 penalty on the parameters does not change it.

    ``watch.into(model)`` gives the passes into the model's parameters, or into those whose values they hold (a
    ``copy.deepcopy`` of the best epoch's model) or lie between, coordinate by coordinate (an average of them:
    ``AveragedModel``, an EMA): how many had BCE's gradient, all, how many were followed by a change of the
    parameters (a step), how many parameters ended far from every value they held at a pass (set after training,
    by more than half the farthest they went: an L-BFGS step ends with an update no pass saw).
    """
    import torch

    entries = {torch.autograd.backward.__code__: "tensors", torch.autograd.grad.__code__: "outputs"}
    layer_call, nn = torch.nn.Module._call_impl.__code__, torch.nn

    def settings(module):  # a layer's own plain attributes (LeakyReLU's negative_slope, Softshrink's lambd, eps...)
        plain = (int, float, bool, str, tuple, type(None))
        return {k: v for k, v in vars(module).items() if k[0] != "_" and k != "training" and type(v) in plain}

    def values(t):  # a tensor's shape and values (a hash of them for a large one), read without its own methods
        flat = tuple(torch.Tensor.tolist(torch.Tensor.detach(t).double().flatten()))
        return tuple(t.shape), flat if len(flat) <= 4096 else hash(flat)

    def graph(loss):
        loss = loss[0] if isinstance(loss, (tuple, list)) and loss else loss
        found, stack, done, bce = {}, [getattr(loss, "grad_fn", None)], set(), []
        while stack:
            node = stack.pop()
            if node is None or id(node) in done:
                continue
            done.add(id(node))
            if "BinaryCrossEntropyWithLogits" in type(node).__name__:
                bce.append(node)
            variable = getattr(node, "variable", None)
            if isinstance(variable, torch.Tensor):
                found[id(variable)] = variable
            stack += [n for n, _ in node.next_functions]
        return bce, found

    def capture(node):  # BCE's gradient at its input z, and the total gradient that reaches z from the whole loss
        z, seen = node._saved_self, []
        if not z.requires_grad:
            return None
        t, pos, weight = (v if v is None else v.detach().double() for v in (node._saved_target, *saved(node)))
        pos = 1.0 if pos is None else pos
        right = torch.sigmoid(z.detach().double()) * (1 + (pos - 1) * t) - pos * t
        right = right if weight is None else right * weight
        return (right, t), seen, z.register_hook(lambda g: seen.append(g.detach().double()))

    def saved(node):
        return node._saved_pos_weight, node._saved_weight

    def bce_shaped(bce, seen):  # the gradient at z is w * (sigmoid(z) - t) times a positive factor per class
        if len(seen) != 1:
            return False
        right, t = bce
        right, got = torch.broadcast_tensors(right, seen[0])
        for rows in (t >= 0.5, t < 0.5):
            rows = torch.broadcast_to(rows, right.shape)
            r, g = right[rows], got[rows]
            big = r.abs() > 1e-3 * float(right.abs().max())
            ratio = g[big] / r[big]
            if ratio.numel() and not (ratio.min() > 0 and ratio.max() <= ratio.min() * 1.01 + 1e-12):
                return False
        return True

    def moved(grad, before):  # whether a backward pass left a nonzero gradient
        if not isinstance(grad, torch.Tensor):
            return False
        return bool(grad.abs().sum() > 0) if before is None else not torch.equal(grad, before)

    class Watch:
        def __init__(self):
            self.keep, self.known, self.passes, self.pending = {}, {}, [], []  # leaves reached (kept alive) ...
            self.layers = {}  # each module called, by identity: (it, kept alive; its settings when first called)

        def note(self, frame, event, arg):
            code = frame.f_code
            if code is layer_call:
                module = frame.f_locals.get("self") if event == "call" else None
                if isinstance(module, nn.Module) and id(module) not in self.layers:
                    self.layers[id(module)] = (module, settings(module))
                return True
            if code not in entries:
                return False
            if event == "call":
                bce, reached = graph(frame.f_locals.get(entries[code]))
                for i, t in reached.items():
                    self.keep[i] = t
                    self.known.setdefault(values(t), set()).add(i)
                grads = {i: None if t.grad is None else t.grad.detach().clone() for i, t in reached.items()}
                hooks = [capture(node) for node in bce]
                at = {i: values(t) for i, t in reached.items()}
                self.pending.append((bool(bce), [h for h in hooks if h], reached, grads, at))
            elif event == "return" and self.pending:
                any_bce, hooks, reached, grads, at = self.pending.pop()
                for _, _, handle in hooks:
                    handle.remove()
                is_bce = any_bce and bool(hooks) and all(bce_shaped(node, seen) for node, seen, _ in hooks)
                if code is torch.autograd.grad.__code__:  # gradients returned, not accumulated
                    nonzero = any(isinstance(g, torch.Tensor) and bool(g.abs().sum() > 0) for g in (arg or ()))
                    self.passes.append((is_bce, set(reached) if nonzero else set(), at))
                else:
                    self.passes.append((is_bce, {i for i, t in reached.items() if moved(t.grad, grads[i])}, at))
            return True

        def between(self, p):  # the trained leaves p lies between, coordinate by coordinate: an average of them
            shape, here = values(p)
            found = set()
            for i, t in self.keep.items():
                held = [at[i][1] for *_, at in self.passes if i in at] + [values(t)[1]]
                if tuple(t.shape) != shape or not all(isinstance(v, tuple) for v in [here, *held]):
                    continue
                if all(min(c) - 1e-6 <= h <= max(c) + 1e-6 for h, c in zip(here, zip(*held, strict=True), strict=True)):
                    found.add(i)
            return found

        def into(self, model):
            for i, t in self.keep.items():  # the values the trained leaves hold at the end
                self.known.setdefault(values(t), set()).add(i)
            origins = [
                {id(p)} if id(p) in self.keep else self.known.get(values(p), set()) or self.between(p)
                for p in model.parameters()
            ]
            into = [(b, at) for b, nonzero, at in self.passes if origins and all(o & nonzero for o in origins)]
            final = {i: values(t) for i, t in self.keep.items()}
            after = [at for _, at in into[1:]] + [final] if into else []
            updates = sum(
                any(at[i] != nxt.get(i) for o in origins for i in o if i in at)
                for (_, at), nxt in zip(into, after, strict=True)
            )
            jumps = 0  # parameters far from every value they held at a backward pass: set after training
            for p, o in zip(model.parameters(), origins, strict=True):
                seen = [at[i][1] for _, at in into for i in o if i in at and at[i][0] == tuple(p.shape)]
                if seen and isinstance(seen[0], tuple):
                    here = values(p)[1]
                    off = min(sum((a - b) ** 2 for a, b in zip(here, v, strict=True)) ** 0.5 for v in seen)
                    # how far training took it: the farthest it went from its first value
                    travel = max(sum((a - b) ** 2 for a, b in zip(seen[0], v, strict=True)) ** 0.5 for v in seen)
                    jumps += off > 0.5 * travel + 1e-3
            altered, layers = [], [model]  # the settings of the torch.nn layers own_predictions runs (in
            while layers:  # nn.Sequential) changed since they first ran, or never ran: set after training, as
                m = layers.pop()  # parameters are (a Linear's output is computed from its parameters)
                kind, now = type(m), settings(m)
                if kind is nn.Sequential:
                    layers += reversed(list(m))
                if kind is not getattr(nn, kind.__name__, None) or kind in (nn.Linear, nn.Sequential):
                    continue
                first = self.layers.get(id(m), (None, None))[1]
                keys = sorted(set(now) | set(first or {}))
                altered += [
                    f"{kind.__name__}.{k}" for k in keys if first is not None and now.get(k, ...) != first.get(k, ...)
                ]
                altered += [f"{kind.__name__} (never ran in training)"] if first is None else []
            found = {"bce_steps": sum(b for b, _ in into), "steps": len(into), "updates": updates, "jumps": jumps}
            return found | {"altered": altered}

    return Watch()


def reseed(seed):  # (shipped whole into the probes: ``grader.helper(reseed)``)
    """Seed torch's, NumPy's and Python's random numbers with ``seed`` before a call of the student's function: an
    honest answer is then the same for the same input, twice, and an answer drawn at random (``random.random()``)
    the same for two different inputs. A form's check wants both: the same twice, another for another input."""
    import random

    import numpy as np
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def kept_state(ns, name):  # (shipped whole into the probes: ``grader.helper(kept_state)``)
    """Whether the student's function ``name`` (or a function of the notebook it names, followed) reads a top-level
    name of the notebook that holds torch state it may train or draw from between calls: an nn.Module, an
    Optimizer, a torch.Generator, or a list, tuple or dict holding one. Trained again on the same data, such an
    honest function answers otherwise (a known limit: a count kept beside such state then goes unseen)."""
    import types

    import torch

    kinds = (torch.nn.Module, torch.optim.Optimizer, torch.Generator)
    first = dict.get(ns, name)
    notebook = getattr(first, "__globals__", None)  # the notebook's own globals (``ns`` is a copy)
    todo, seen = [first], set()
    while todo:
        item = todo.pop()
        if not isinstance(item, types.FunctionType) or item.__globals__ is not notebook or id(item) in seen:
            continue
        seen.add(id(item))
        codes = [item.__code__]
        while codes:
            code = codes.pop()
            codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
            for value in (notebook[n] for n in code.co_names if n in notebook):
                held = value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else []
                if isinstance(value, kinds) or any(isinstance(v, kinds) for v in held):
                    return True
                todo.append(value)
    return False


def require_trained_steps(got: dict, need: int, function: str, task: str) -> None:
    """Fail the check unless the returned model's parameters changed after the backward passes (the optimizer's
    steps; accumulating over two batches is fine) and were not set after training (``jumps``)."""
    steps, updates = got.get("steps", 0), got.get("updates", 0)
    require(steps > 0, NOT_HELD.format(function))
    require(
        2 * updates >= need,
        f"the parameters of the model {function} returned changed after {updates} of its {steps} backward passes: "
        f"{task} asks for an optimizer step after each",
    )
    altered = ", ".join(got.get("altered", []))
    require(
        not altered,
        f"settings of the layers of the model {function} returned changed after they first ran in training ({altered}):"
        " set after training, they make it another model than the one its loop trained; leave a layer's settings as "
        "created (and run every layer in training)",
    )
    require(
        got.get("jumps", 0) == 0,
        f"the parameters of the model {function} returned ended far from every value they held while it trained: "
        "either they were set after training (the model must be the one its training loop trained), or the last "
        "steps diverged (lower the learning rate)",
    )
