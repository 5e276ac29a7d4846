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

from course.checks.vocabulary import MISTAKES

_FIX = "Leave nn.Linear's default initialisation (random weights and biases)."
_NONE = "(weights 0, biases 0 or below): its ReLU gives 0 whatever the input and passes no gradient back"
DEAD = f"every hidden layer starts dead {_NONE}, so no hidden layer ever learns and only the output bias does. {_FIX}"
ZERO = (
    "hidden layer {} starts dead "
    + _NONE
    + ", so it and the layers before it get no gradient and never learn, and the "
    f"output can never depend on the input. {_FIX}"
)
COPIES = (
    "hidden layer {} starts with its units alike (one value for all its weights, one for all its biases) and the layer "
    "after it with one value for all its weights: those units get identical gradients and stay copies of one another "
    f"(but for rounding), as if the layer had one unit. {_FIX}"
)


def _one_value(tensor: torch.Tensor | None) -> bool:  # no bias: all 0
    return tensor is None or bool(tensor.min() == tensor.max())


def start(layers: list[nn.Linear]) -> dict[int, tuple[bool, bool, bool]]:
    """Per layer (by id, in module order), before the check sets its weights: one weight value, one bias value, dead
    (weights 0, biases 0 or below)."""
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


def noting(calls: list[int], flow: list[tuple], nodes: list) -> Callable[..., None]:
    """A forward hook (with_kwargs=True) for each nn.Linear: its id in ``calls`` as it runs, its input (given by
    position or by keyword) and output in ``flow``, the autograd node that made the output in ``nodes``."""
    copy = lambda t: t.detach().clone() if torch.is_tensor(t) else None  # noqa: E731 (forward may change it after)

    def hook(module: nn.Module, args: tuple, kwargs: dict, output: object) -> None:  # None: the output is left as is
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
    return "", "" if again is None else f"nn.Linear({again.in_features}, {again.out_features})"


TIED = (
    "two nn.Linear layers hold one Parameter, or two over the same numbers (as b.weight = a.weight, b.weight = "
    "nn.Parameter(a.weight.data) or b.weight.data = a.weight.data make them): the two places share their weights and "
    "learn as one layer. Leave each nn.Linear the weight and bias it makes itself."
)
UNUSED = (
    "{} gets no gradient from the output: forward never runs it (it runs another layer in its place, or the same one "
    "twice through F.linear or .forward, or skips it), so it never learns. Run each nn.Linear once, in order, a ReLU "
    "after each hidden one."
)


def _gradients(output: object, layers: list[nn.Module]) -> list:
    """Per layer, whether its parameters that require grad get a gradient from ``output`` (None: none require it; []
    if the output is not a tensor with a graph). By backward(), as training does (torch.autograd.grad misses a
    reentrant checkpoint's), each parameter's .grad put back after."""
    asked = [[p for p in layer.parameters() if p.requires_grad] for layer in layers]
    kept = {p: p.grad for ps in asked for p in ps}
    try:
        for p in kept:
            p.grad = None
        output.sum().backward(retain_graph=True)  # asked twice: cut, then unused
        got = [any(p.grad is not None for p in ps) if ps else None for ps in asked]
    except Exception:  # not a tensor, no graph: nothing to say here
        got = []
    for p, grad in kept.items():
        p.grad = grad
    return got


def unused(output: object, layers: list[nn.Module]) -> str:
    """The first of ``layers`` whose parameters (those that require grad) get no gradient from ``output`` while
    another's do, as "nn.Linear(4, 4)"; "" if none (or the output has no graph)."""
    got = _gradients(output, layers)
    late = next((layer for layer, g in zip(layers, got, strict=False) if g is False), None)
    return f"nn.Linear({late.in_features}, {late.out_features})" if late is not None and any(got) else ""


CUT = (
    "forward's output has no graph back to the weights ({}): the loss could not reach them, so backward() would give "
    "them no gradient and training would change nothing. Compute forward with autograd on, from the layers' own "
    "parameters: no torch.no_grad(), .detach() or .data inside forward."
)


def cut(output: object, layers: list[nn.Module], nodes: list) -> str:
    """Why no parameter of ``layers`` that requires grad gets a gradient from a floating-point ``output`` (:data:`CUT`,
    naming torch.no_grad() where a layer ran without a graph, .detach() or .data where the output has none, .data on
    the weights otherwise); "" where one does, none requires grad, or the output is not such a tensor."""
    if not (torch.is_tensor(output) and output.is_floating_point()) or not any(
        p.requires_grad for m in layers for p in m.parameters()
    ):
        return ""
    if output.requires_grad and any(_gradients(output, layers)):
        return ""
    if nodes and all(node is None for node in nodes) and not output.requires_grad:
        return CUT.format("forward ran under torch.no_grad()")
    return CUT.format(
        "its output was .detach()ed or taken as .data"
        if not output.requires_grad
        else "forward used the weights through .data or .detach()"
    )


def shared_message(kind: str) -> str:
    """What the shared_layer guard says of :func:`repeats`' "layer" or "parameter", or of an :func:`unused` layer."""
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
CHANGED = {
    "": "the layer sizes are right but the output is not: a ReLU after each hidden layer, none after the last.",
    "before": f"the layer sizes are right, but forward changes the input before the first nn.Linear (a scaling, a "
    f"normalisation, ...): {_LAYERS}. Pass x to the first layer as it is.",
    "between": f"the layer sizes are right, but between two nn.Linear layers forward computes more than a ReLU, or "
    f"something else (another activation, a layer norm, a scaling, ...): {_LAYERS}. Put only a ReLU between them.",
    "after": "the layer sizes and the ReLUs are right, but forward changes the output after the last nn.Linear (an "
    "activation, a scaling, ...): return that layer's output as it is, so the output can take any value.",
}
NO_LINEAR = (" Your model holds no nn.Linear layer: the exercise asks for nn.Linear layers, not weights of your own "
             "(nn.Parameter used with F.linear or @).")  # fmt: skip


class Noisy(nn.Module):
    """A ReLU that adds noise: a forward that is random."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) + 0.01 * torch.randn_like(x)
