"""What lesson 08's make_mlp check reads of an MLP's starting weights: whether training could ever tell its units apart.

It refuses two starts that cannot learn, whatever the optimizer: a dead hidden layer (weights 0, biases 0 or below:
ReLU gives 0 for every input and passes no gradient back), and a hidden layer whose units are alike (one value for all
its weights, one for all its biases) before a layer whose weights are one value (the units get identical gradients).
Starts it passes that do learn: one weight value with nn.Linear's random biases (no two units alike), alike units before
a layer of random weights (different gradients). Rarer starts that cannot learn may pass (rows equal but not one value).
Layers are taken in the order forward runs them, then any it did not run as a module (F.linear(x, layer.weight, ...)).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import torch
from torch import nn
from torch.nn.utils import parametrize

from course.checks.mlp_modes import linear_size
from course.checks.vocabulary import MISTAKES

_FIX = "Leave nn.Linear's default initialisation (random weights and biases)."
_NONE = "(weights 0, biases 0 or below): its ReLU gives 0 whatever the input and passes no gradient back"
DEAD = f"every hidden layer starts dead {_NONE}, so no hidden layer ever learns and only the output bias does. {_FIX}"
ZERO = (f"hidden layer {{}} starts dead {_NONE}, so it and the layers before it get no gradient and never learn, and "
        f"the output can never depend on the input. {_FIX}")  # fmt: skip
COPIES = ("hidden layer {} starts with its units alike (one value for all its weights, one for all its biases) and "
          "the layer after it with one value for all its weights: those units get identical gradients and stay copies "
          f"of one another (but for rounding), as if the layer had one unit. {_FIX}")  # fmt: skip


def _one_value(tensor: torch.Tensor | None) -> bool:  # no bias: all 0
    return tensor is None or bool(tensor.min() == tensor.max())


def start(layers: list[nn.Linear]) -> dict[int, tuple[bool, bool, bool]]:
    """Per layer (by id, in module order), before the check sets its weights: one weight value, one bias value, dead
    (weights 0, biases 0 or below); a lazy layer not yet run (no weights) is left out."""
    layers = [m for m in layers if not any(map(nn.parameter.is_lazy, m.parameters()))]
    dead = lambda m: not m.weight.any() and (m.bias is None or bool(m.bias.max() <= 0))  # noqa: E731
    return {id(m): (_one_value(m.weight), _one_value(m.bias), dead(m)) for m in layers}


def cannot_learn(started: dict[int, tuple[bool, bool, bool]], calls: list[int]) -> str:
    """Why an MLP whose layers (ids) ran in the order ``calls``, with the :func:`start` ``started``, cannot learn; ""
    if it can. The last layer is the output layer, the others hidden ones."""
    order = [started[i] for i in dict.fromkeys([*calls, *started]) if i in started]  # then those not run as modules
    if len(order) > 1 and all(dead for *_, dead in order[:-1]):
        return DEAD
    if k := next((k for k, (*_, dead) in enumerate(order[:-1], 1) if dead), 0):
        return ZERO.format(k)
    alike = (k for k, (layer, after) in enumerate(pairwise(order), 1) if layer[0] and layer[1] and after[0])
    return next((COPIES.format(k) for k in alike), "")


def zeroed(model: nn.Module) -> nn.Module:
    """``model`` with every parameter 0: a start that cannot learn."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    return model


def set_as_seen(layer: nn.Module, name: str, value: torch.Tensor) -> None:
    """Sets ``layer``'s weight or bias ``name`` to ``value`` as forward sees it: through a parametrization's
    right_inverse, or, where it has none or it gives another weight (spectral_norm, orthogonal), with the
    parametrization removed, its weight made plain."""
    if parametrize.is_parametrized(layer, name):
        try:
            setattr(layer, name, value)
            if torch.allclose(getattr(layer, name), value, rtol=1e-5, atol=1e-6):
                return
        except (NotImplementedError, RuntimeError):  # "parametrization ... does not implement right_inverse"
            pass
        parametrize.remove_parametrizations(layer, name, leave_parametrized=True)
    getattr(layer, name).copy_(value)


def random_forward(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether forward draws random numbers (a dropout, noise): two runs differ, but not two from one random state
    (a forward whose state changes at each run, as spectral_norm's does, is not random)."""

    def run(seed: int) -> object:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return model(x.clone())

    try:
        return not torch.equal(run(0), run(1)) and torch.equal(run(0), run(0))
    except Exception:  # not a tensor: other guards say so
        return False


def noting(calls: list[int], flow: list[tuple], nodes: list, owner: nn.Module | None = None) -> Callable[..., None]:
    """A forward hook (with_kwargs=True) for the nn.Linear ``owner``: its id in ``calls`` as it runs, its input (by
    position or by keyword) and output in ``flow``, the autograd node that made the output in ``nodes``; a copy of the
    layer (copy.deepcopy inside forward) carries the hook too: its runs are not noted."""
    copy = lambda t: t.detach().clone() if torch.is_tensor(t) else None  # noqa: E731 (forward may change it after)

    def hook(module: nn.Module, args: tuple, kwargs: dict, output: object) -> None:  # None: the output is left as is
        if owner is not None and module is not owner:
            return
        calls.append(id(module))
        flow.append((copy(args[0] if args else kwargs.get("input", next(iter(kwargs.values()), None))), copy(output)))
        nodes.append(output.grad_fn if torch.is_tensor(output) else None)

    return hook


def _reached(output: object) -> set:
    """The autograd nodes ``output`` was computed through (none for a tensor without a graph)."""
    todo, seen = [getattr(output, "grad_fn", None)], set()
    while todo:
        if (node := todo.pop()) is not None and node not in seen:
            seen.add(node)
            todo += [after for after, _ in node.next_functions]
    return seen


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    try:
        return a.numel() == b.numel() and bool(torch.allclose(a.flatten(), b.flatten(), rtol=1e-5, atol=1e-6))
    except Exception:  # not tensors, or of another dtype: not the same
        return False


def _feeds(run_in: torch.Tensor, out: torch.Tensor) -> bool:
    return _same(run_in, out) or _same(run_in, out.relu())


def chain(x: torch.Tensor, calls: list[int], flow: list[tuple], nodes: list, output: object) -> list[int]:
    """The runs (indices into ``calls``, ``flow`` and ``nodes``) that made ``output``: those whose output's autograd
    node ``output`` was computed through, a run that repeats an earlier one (the same layer on the same numbers) left
    out. Runs off the graph are left out: a layer run for a log (detached, under no_grad, on zeros), or again on its
    input only for a test, as l(x) * (l(x) > 0) does. Where those runs do not start from x (the output detached, the
    input scaled), from the last run whose output it is, back through the latest earlier run whose output (or its ReLU)
    is this run's input, to a run given x as it is; where no such chain shows, every run but those that repeat one."""
    reached = _reached(output)  # the graph's nodes; then whether run k repeats run j (one layer, one input)
    repeat = lambda j, k: calls[j] == calls[k] and _same(flow[j][0], flow[k][0])  # noqa: E731
    firsts = lambda runs: [k for k in runs if not any(repeat(j, k) for j in runs if j < k)]  # noqa: E731
    graphed = [k for k, node in enumerate(nodes) if node is not None and node in reached]
    if graphed and _same(flow[graphed[0]][0], x):  # from x: not a graph cut (a reentrant checkpoint runs no_grad)
        return firsts(graphed)
    if flow and all(t is not None for pair in flow for t in pair):
        found = [k for k in reversed(range(len(flow))) if _same(flow[k][1], output)][:1]
        while found and not _same(flow[found[-1]][0], x):
            back = (j for j in reversed(range(found[-1])) if _feeds(flow[found[-1]][0], flow[j][1]))
            found = found + [j] if (j := next(back, None)) is not None else []
        if found:
            return found[::-1]
    return firsts(range(len(flow)))


def _storage(p: torch.Tensor) -> tuple:  # one for two Parameters over the same numbers (b.weight.data = a.weight.data)
    return p.untyped_storage().data_ptr(), p.storage_offset(), tuple(p.stride()), tuple(p.shape)


def repeats(ids: list[int], layers: dict[int, nn.Module], places: int) -> tuple[str, str]:
    """Along a chain of layers (ids, ``layers`` by id) that should hold ``places`` layers: what two places share with
    fewer layers than places, "layer" or "parameter" (tied weights), "" if none; then, where none is shared, the
    layer run again in another place, as "nn.Linear(4, 4)" ("" if none): one layer more than the sizes ask."""
    own = {i: {_storage(p) for p in layers[i].parameters()} or {i} for i in ids}  # where its parameters' numbers lie
    groups: list[set] = []  # the layers that share a Parameter, their parameters' ids joined
    for mine in own.values():
        groups = [g for g in groups if not g & mine] + [mine.union(*(g for g in groups if g & mine))]
    group = [next(k for k, g in enumerate(groups) if g >= own[i]) for i in ids]
    if len(groups) < min(len(ids), places):
        return "layer" if len(own) < min(len(ids), places) else "parameter", ""
    again = next((layers[i] for k, i in enumerate(ids) if group[k] in group[:k]), None)
    return "", "" if again is None else "nn.Linear({}, {})".format(*linear_size(again))


TIED = ("two nn.Linear layers hold one Parameter, or two over the same numbers (as b.weight = a.weight, b.weight = "
        "nn.Parameter(a.weight.data) or b.weight.data = a.weight.data make them): the two places share their weights "
        "and learn as one layer. Leave each nn.Linear the weight and bias it makes itself.")  # fmt: skip
UNUSED = ("{} gets no gradient from the output: forward never runs it (it runs another layer in its place, or the same "
          "one twice through F.linear or .forward, or skips it), so it never learns. Run each nn.Linear once, in order,"
          " a ReLU after each hidden one.")  # fmt: skip


def _gradients(output: object, layers: list[nn.Module], each: bool = False) -> list:
    """Per layer, whether its parameters that require grad get a gradient from ``output`` (None: none require it; []
    if the output is not a tensor with a graph); ``each``: per layer, (name, got one) per such parameter. By backward(),
    as training does (torch.autograd.grad misses a reentrant checkpoint's), each parameter's .grad put back after."""
    asked = [[(n, p) for n, p in layer.named_parameters() if p.requires_grad] for layer in layers]
    kept = {p: p.grad for ps in asked for _, p in ps}
    try:
        [setattr(p, "grad", None) for p in kept]
        output.sum().backward(retain_graph=True)  # asked twice: cut, then starved
        got = [[(n, p.grad is not None) for n, p in ps] for ps in asked]
    except Exception:  # not a tensor, no graph: nothing to say here
        got = []
    [setattr(p, "grad", grad) for p, grad in kept.items()]
    return got if each else [any(g for _, g in ps) if ps else None for ps in got]


def _depends(model: nn.Module, x: torch.Tensor, params: list[torch.Tensor]) -> bool:
    """Whether ``model``'s output for ``x`` (from one random state, autograd on: forward may need it) changes when
    ``params`` change; True where a run fails (it cannot tell: not said never to run)."""
    if any(map(nn.parameter.is_lazy, params)):  # a lazy layer never run (no weights): the output cannot depend on it
        return False
    kept, run = [p.detach().clone() for p in params], lambda: model(x.clone().requires_grad_() * 1)
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        try:
            torch.manual_seed(0), (before := run()), torch.no_grad()(lambda: [p.add_(1.0) for p in params])()
            return torch.is_tensor(before) and not _same(before.detach(), torch.manual_seed(0) and run().detach())
        except Exception:  # forward failed on a run: cannot tell
            return True
        finally:
            torch.no_grad()(lambda: [p.copy_(k) for p, k in zip(params, kept, strict=True)])()


CUT = ("forward's output has no graph back to the weights ({}): the loss could not reach them, so backward() would give"
       " them no gradient and training would change nothing. Compute forward with autograd on, from the layers' own "
       "parameters: no torch.no_grad(), .detach() or .data inside forward.")  # fmt: skip


def cut(output: object, layers: list[nn.Module], nodes: list) -> str:
    """Why no parameter of ``layers`` that requires grad gets a gradient from a floating-point ``output`` (:data:`CUT`,
    naming torch.no_grad() where a layer ran without a graph, .detach() or .data where the output has none, .data on
    the weights otherwise); "" where one does, none requires grad, or the output is not such a tensor."""
    asked = any(p.requires_grad for m in layers for p in m.parameters())
    if not (asked and torch.is_tensor(output) and output.is_floating_point()) or any(_gradients(output, layers)):
        return ""
    if not output.requires_grad:  # what shows: the last layer run had no graph, the output has none, no layer ran
        also = "" if nodes else ", or forward ran under torch.no_grad()"  # as a module: not seen
        ran = "forward ran under torch.no_grad()" if nodes and nodes[-1] is None else ""
        return CUT.format(ran or f"its output was .detach()ed or taken as .data{also}")
    leaf = "its output was cut (torch.no_grad(), .detach() or .data), then made a leaf with .requires_grad_()"
    copied = "forward used the weights through .data or .detach(), or a copy of the layers"
    return CUT.format(copied if output.grad_fn else leaf)


PART = ("the {} of nn.Linear({}, {}) {} no gradient from the output, though the output depends on {}: forward {}, so "
        "training never changes {}. Compute forward with autograd on, from the layers' own parameters: no "
        "torch.no_grad(), .detach() or .data inside forward.")  # fmt: skip
_HOW = ("uses {} through .detach() or .data", "runs it under torch.no_grad()", "runs it, but what it computes is cut "
        "from the graph further on (.detach(), .data or torch.no_grad())", "uses {} through torch.no_grad(), "
        ".detach() or .data (or a copy of the layer)")  # fmt: skip


def starved(output: object, layers: list, nodes: list, calls: list[int], model: nn.Module, x: torch.Tensor) -> tuple:
    """:func:`cut`'s message, or :data:`PART` for the first layer whose parameters (some) get no gradient though
    ``model(x)`` depends on them; the layer ("nn.Linear(4, 4)") that gets none and it does not depend on; whether a
    layer learns with no run its hook noted (F.linear, @) beside one run as a module (where_changed cannot read)."""
    if message := cut(output, layers, nodes):
        return message, "", False
    got = _gradients(output, layers, each=True)
    learns = [any(g for _, g in ps) for ps in got]
    for layer, ps, some in zip(layers, got, learns, strict=False):
        if not (none := [n for n, g in ps if not g]) or not any(learns):
            continue
        shape = linear_size(layer)
        if not some and not _depends(model, x, [p for n, p in layer.named_parameters() if n in none]):
            return "", "nn.Linear({}, {})".format(*shape), False
        runs = [nodes[k] for k, i in enumerate(calls) if i == id(layer)]
        how = _HOW[0 if some else 3 if not runs else 1 if all(n is None for n in runs) else 2]
        kinds = [k for k in ("weights", "bias") if any((n == "bias") == (k == "bias") for n in none)]
        one, them = kinds == ["bias"], "it" if kinds == ["bias"] else "them"
        return PART.format(" and ".join(kinds), *shape, "gets" if one else "get", them, how.format(them), them), "", 0
    return "", "", bool(calls) and any(some and id(m) not in calls for m, some in zip(layers, learns, strict=False))


def shared_message(kind: str) -> str:
    """What the shared_layer guard says of :func:`repeats`' "layer" or "parameter", or of an unused layer."""
    return MISTAKES["shared_layer"] if kind == "layer" else TIED if kind == "parameter" else UNUSED.format(kind)


def where_changed(x: torch.Tensor, flow: list[tuple], output: object) -> str:
    """Where forward computes more than its nn.Linear layers (each run's input and output in ``flow``) with a ReLU
    between: a key of :data:`CHANGED`; "" where nothing shows, a ReLU is missing, or a layer was not seen."""
    if not flow or any(t is None for pair in flow for t in pair):
        return ""
    if not _same(flow[0][0], x):
        return "before"
    links = [(after, before.relu(), before) for (_, before), (after, _) in pairwise(flow)]
    if any(not _same(after, relu) and not _same(after, plain) for after, relu, plain in links):
        return "between"
    relus = all(_same(after, relu) for after, relu, _ in links)
    return "after" if relus and not _same(output, flow[-1][1]) else ""


_LAYERS = "the output differs from these nn.Linear layers with a ReLU between them"
CHANGED = {"": "the layer sizes are right but the output is not: a ReLU after each hidden layer, none after the last.",
    "before": f"the layer sizes are right, but forward changes the input before the first nn.Linear (a scaling, a "
    f"normalisation, ...): {_LAYERS}. Pass x to the first layer as it is.",
    "between": f"the layer sizes are right, but between two nn.Linear layers forward computes more than a ReLU, or "
    f"something else (another activation, a layer norm, a scaling, ...): {_LAYERS}. Put only a ReLU between them.",
    "after": "the layer sizes and the ReLUs are right, but forward changes the output after the last nn.Linear (an "
    "activation, a scaling, ...): return that layer's output as it is, so the output can take any value."}  # fmt: skip
NO_LINEAR = (" Your model holds no nn.Linear layer: the exercise asks for nn.Linear layers, not weights of your own "
             "(nn.Parameter used with F.linear or @).")  # fmt: skip


class Noisy(nn.Module):
    """A ReLU that adds noise: a forward that is random."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) + 0.01 * torch.randn_like(x)
