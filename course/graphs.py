"""Autograd graphs drawn with torchviz, with names that stay the same from run to run."""

from __future__ import annotations

import re
import shutil
import sys
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch

from course.images import png_with_alt, shown

INSTALL_HINT = (
    "Graphviz's `dot` program is not installed, so the picture cannot be drawn. "
    "Install it (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz; "
    "conda: conda install -c conda-forge graphviz) and restart the kernel."
)

_NODE = re.compile(r"^\t(\d+) \[label=(\"(?:[^\"\\]|\\.)*\"|\S+?)(?: fillcolor=(\w+))?(?: \w+=\S+)*\]\s*$", re.DOTALL)
_EDGE = re.compile(r"^\t(\d+) -> (\d+)(.*)$", re.DOTALL)
MOST_OPERATIONS = 1000  # nodes of an autograd graph, each a box: more cannot be read in one picture
_KIND_BY_COLOR = {"lightblue": "leaf", "darkolivegreen1": "output", "darkolivegreen3": "base", "orange": "saved"}


@dataclass
class AutogradGraph:
    """An autograd graph: shows as a picture in Jupyter, as a stable text summary elsewhere."""

    nodes: dict[str, str]  # stable id -> label
    kinds: dict[str, str]  # stable id -> "leaf", "output", "operation", ...
    edges: list[tuple[str, str]]  # (from, to), in the direction gradients are *not* flowing
    dot_source: str = field(repr=False)

    def display_names(self) -> dict[str, str]:
        """Readable unique names: ``AccumulateGrad(a)`` for a leaf's accumulator, ``MulBackward0 #2`` for repeats."""
        names = dict(self.nodes)
        for src, dst in self.edges:
            if self.nodes[dst] == "AccumulateGrad" and self.kinds[src] == "leaf":
                names[dst] = f"AccumulateGrad({self.nodes[src]})"
        seen: dict[str, int] = {}
        for node, label in names.items():
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:
                names[node] = f"{label} #{seen[label]}"
        return names

    def _summary_lines(self) -> list[str]:
        names = self.display_names()
        inputs: dict[str, list[str]] = {n: [] for n in self.nodes}
        for src, dst in self.edges:
            inputs[dst].append(names[src])
        lines = [f"Autograd graph: {len(self.nodes)} nodes, {len(self.edges)} edges"]
        for node, name in names.items():
            text = f"  [{self.kinds[node]}] {name}"
            if inputs[node]:
                text += " <- " + ", ".join(inputs[node])
            lines.append(text)
        return lines

    def summary(self) -> str:
        """The graph as text, one node a line with the nodes it comes from: print it next to the picture."""
        return "\n".join(self._summary_lines())

    def alt_text(self) -> str:
        """One sentence describing the picture for a screen reader: its leaves, operations and output."""
        names = self.display_names()
        by_kind = {
            kind: [names[n] for n in self.nodes if self.kinds[n] == kind] for kind in ("leaf", "operation", "output")
        }
        operations = [name for name in by_kind["operation"] if not name.startswith("AccumulateGrad")]
        return (
            f"Autograd graph with {len(self.nodes)} nodes. Leaves: {', '.join(by_kind['leaf']) or 'none'}. "
            f"Operations: {', '.join(operations) or 'none'}. Output: {', '.join(by_kind['output']) or 'none'}."
        )

    def __repr__(self) -> str:
        text = self.summary()
        return text if shutil.which("dot") is not None else text + "\n" + INSTALL_HINT

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> tuple[dict, dict]:
        """The picture (PNG, with alt text) when Graphviz is installed, and the text summary always."""
        data: dict[str, str] = {"text/plain": repr(self)}
        if shutil.which("dot") is None:
            return data, {}
        import graphviz

        return png_with_alt(graphviz.Source(self.dot_source).pipe(format="png"), self.alt_text(), data["text/plain"])


def _label_text(raw: str) -> str:
    text = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw  # graphviz's \" and \\ as written
    parts = [p.strip() for p in text.split("\n") if p.strip()]
    return " ".join(parts)


def _checked(tensor: object, params: object) -> dict[str, torch.Tensor]:
    """Check show_graph's arguments; return ``params`` as a new dict."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"show_graph expects the tensor at the end of a computation, got {type(tensor).__name__}.")
    if tensor.grad_fn is None and tensor.requires_grad:
        raise ValueError(
            "This tensor is a leaf: you created it, no operation made it, so it has no graph yet. "
            "Compute something from it and draw that, e.g. show_graph((a * 2).sum(), params={'a': a})."
        )
    if tensor.grad_fn is None:
        raise ValueError(
            "This tensor has no autograd graph (its grad_fn is None): nothing that requires grad went into it. "
            "Create a parameter with requires_grad=True and compute from it, outside torch.no_grad()."
        )
    checked, names = _as_dict(params), {}
    for key, value in checked.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"params[{key!r}] should be a tensor, got {type(value).__name__}.")
        if value.grad_fn is not None and value is not tensor:  # torchviz draws no box for it: the name would vanish
            raise ValueError(
                f"params[{key!r}] was computed by an operation (its grad_fn is {type(value.grad_fn).__name__}), but "
                "only tensors you created, the leaves (parameters), get a named box: an intermediate result is drawn "
                f"as the box of the operation that made it, {type(value.grad_fn).__name__}. Leave {key!r} out of "
                "params (name the output with name=...)."
            )
        _check_named(key, value, names.setdefault(id(value), key))
    _distinct_names(list(checked))
    return checked


def _distinct_names(keys: list) -> None:
    """Refuse a blank name, a box that would show none, and two names that read the same (``'a'``, ``'a '``)."""
    if blank := [key for key in keys if not shown(key)]:
        raise ValueError(
            f"params has the name {blank[0]!r}, which would leave its box with no name: name it with a string that "
            "has a letter or digit, e.g. 'w'."
        )
    if twins := [(first, key) for i, key in enumerate(keys) for first in keys[:i] if shown(key) == shown(first)]:
        raise ValueError(
            f"params has the names {twins[0][0]!r} and {twins[0][1]!r}, which read the same in the picture, for two "
            "tensors: nobody could tell their boxes apart. Rename one."
        )


def _as_dict(params: object) -> dict:
    """``params`` as a new dict: a dict, an ``nn.ParameterDict``, or (name, tensor) pairs
    (``model.named_parameters()``)."""
    if params is None or isinstance(params, (Mapping, torch.nn.ParameterDict)):
        return dict(params.items()) if params is not None else {}
    listed = isinstance(params, Iterable) and not isinstance(params, (str, bytes, torch.Tensor))
    pairs = list(params) if listed else None  # type: ignore[call-overload]
    if pairs is None or not all(isinstance(p, (tuple, list)) and len(p) == 2 and torch.is_tensor(p[1]) for p in pairs):
        raise TypeError(f"params should be a dict of names to tensors, e.g. {{'a': a}} or dict(model.named_parameters()); "
                        f"got {type(params).__name__}.")  # fmt: skip
    return dict(pairs)


def _check_named(key: object, value: torch.Tensor, first: object) -> None:
    """Refuse a second name ``key`` for a tensor already named ``first``: its one box can show one name."""
    if first != key:  # torchviz keeps the last name: the first would vanish
        second = f"name={key!r}" if value.grad_fn is not None else f"params[{key!r}]"  # the output, or a leaf
        raise ValueError(
            f"params[{first!r}] and {second} name the same tensor, which gets one box, so it can show only one name. "
            "Keep one of the two."
        )


def _memory(t: torch.Tensor) -> tuple | None:
    """Where ``t``'s values lie (None for a tensor without memory of its own: on the meta device, sparse, nested...):
    a view shares it exactly."""
    try:
        ptr = t.untyped_storage().data_ptr() if t.layout == torch.strided and not (t.is_meta or t.is_nested) else 0
        return (t.device, ptr, t.storage_offset(), tuple(t.shape), t.stride()) if ptr else None
    except (NotImplementedError, RuntimeError):  # a tensor subclass without storage
        return None


def _graph_size(root: object, params: Mapping[str, torch.Tensor]) -> int:
    """How many operations the graph that ends in ``root`` holds; a clear error past ``MOST_OPERATIONS``. Warns of
    the tensors in ``params`` that require grad but that the graph never reaches: their names would vanish unsaid."""
    seen, todo = {root}, [root]
    while todo:
        for child, _ in getattr(todo.pop(), "next_functions", ()):
            if child is not None and child not in seen:
                if len(seen) >= MOST_OPERATIONS:
                    raise ValueError(
                        f"this graph holds more than {MOST_OPERATIONS} operations, too many boxes for a picture anyone "
                        "can read. Draw a smaller computation, e.g. a loop of a few steps instead of hundreds."
                    )
                seen.add(child)
                todo.append(child)
    leaves = [node.variable for node in seen if hasattr(node, "variable")]  # AccumulateGrad: a leaf's box
    named = {id(v) for v in params.values()}  # a copy next to its leaf, named too: a constant (w * w.detach())
    used, memory = {id(leaf) for leaf in leaves}, {_memory(leaf) for leaf in leaves if id(leaf) not in named} - {None}
    if copies := [k for k, v in params.items() if v.grad_fn is None and id(v) not in used and _memory(v) in memory]:
        raise ValueError(
            f"params {copies} are detached copies of tensors this graph holds (they share their memory, as those of "
            "model.state_dict() or p.detach() do), not those tensors, so their names would name no box. Pass the "
            "tensors themselves, e.g. params=dict(model.named_parameters())."
        )
    if unused := [
        key for key, value in params.items() if value.requires_grad and value.grad_fn is None and id(value) not in used
    ]:
        warnings.warn(  # not an error: dict(model.named_parameters()) may name layers this output never reached
            f"params {unused} require grad but have no box in this graph: autograd's graph of this output never "
            "reaches them (not used for it, or used inside a torch.utils.checkpoint with use_reentrant=True, whose "
            "backward hides them). A whole model's parameters named for a part of it is fine; otherwise, is one a "
            "tensor from an earlier run of a cell, since replaced?",
            stacklevel=3,
        )
    return len(seen)


def show_graph(
    tensor: torch.Tensor, params: Mapping[str, torch.Tensor] | None = None, name: str | None = None
) -> AutogradGraph:
    """Draw the autograd graph that produced ``tensor``.

    ``params`` names the tensors that require gradients (``{"a": a, "b": b}``), so their boxes say ``a (1)``
    instead of an empty label; only such leaves have a box of their own, so an intermediate result (``h = a * 2``)
    in ``params`` is refused, as is a second name for one tensor; ``name`` labels the output box (``name="loss"``,
    a name of its own: not one of ``params``). Graphs of more than ``MOST_OPERATIONS`` (1000) operations are
    refused: too big to read. Node ids are numbered in the order torchviz meets them, so two runs give the same
    graph, text and picture. A frozen tensor (``requires_grad=False``) in ``params`` gets no box, as autograd records
    nothing for it (lesson 04 draws one so).

    Example:
        >>> a = torch.ones(1, requires_grad=True)
        >>> show_graph((2 * a).sum(), params={"a": a})
        Autograd graph: 5 nodes, 4 edges
          [output] () <- SumBackward0
          [operation] SumBackward0 <- MulBackward0
          [operation] MulBackward0 <- AccumulateGrad(a (1))
          [leaf] a (1)
          [operation] AccumulateGrad(a (1)) <- a (1)
    """
    params = _checked(tensor, params)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name labels the output box, so it should be a string such as 'loss'; got {name!r}.")
    if name is not None and not shown(name):
        raise ValueError(f"name={name!r} would leave the output box with no name: name it, e.g. name='loss'.")
    named_so = [key for key in params if name is not None and shown(key) == shown(name)]  # 'loss ' reads as 'loss'
    if named_so and params[named_so[0]] is not tensor:  # the leaf would lose its name to the output
        same = "" if named_so[0] == name else f" ({named_so[0]!r}, which reads the same)"
        raise ValueError(
            f"name={name!r} is already the name of a tensor in params{same}, and name labels the output box: one name "
            f"for two boxes. Give the output a name of its own, e.g. name={'output' if name == 'loss' else 'loss'!r}."
        )
    for key in [key for key, value in params.items() if value is tensor] if name is not None else ():
        _check_named(name, tensor, key)  # the output already named in params: name gives it a second name
    if name is not None:
        params[name] = tensor
    size = _graph_size(tensor.grad_fn, params)
    from torchviz import make_dot

    limit = sys.getrecursionlimit()
    try:  # torchviz walks the graph by recursion, one call per step of its longest chain
        sys.setrecursionlimit(limit + size + 100)
        with warnings.catch_warnings():  # torchviz 0.0.3 compares versions with the deprecated distutils
            warnings.simplefilter("ignore", DeprecationWarning)
            dot = make_dot(tensor, params={str(k).replace("\\", "\\\\"): v for k, v in params.items()})  # \\ draws \
    finally:
        sys.setrecursionlimit(limit)
    stable: dict[str, str] = {}

    def node_id(raw: str) -> str:
        return stable.setdefault(raw, f"n{len(stable)}")

    nodes: dict[str, str] = {}
    kinds: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    body: list[str] = []
    for line in dot.body:
        if (edge := _EDGE.match(line)) is not None:
            src, dst = node_id(edge.group(1)), node_id(edge.group(2))
            edges.append((src, dst))
            body.append(f"\t{src} -> {dst}{edge.group(3)}")
        elif (node := _NODE.match(line)) is not None:
            key = node_id(node.group(1))
            nodes[key] = _label_text(node.group(2))
            kind = _KIND_BY_COLOR.get(node.group(3) or "", "operation")
            kinds[key] = "leaf" if kinds.get(key) == "leaf" else kind  # a leaf a custom Function saved: drawn again
            body.append(f"\t{key}" + line[len(node.group(1)) + 1 :])
        else:
            raise RuntimeError(f"show_graph could not read this line of torchviz's output: {line!r}")
    dot.body = body
    return AutogradGraph(nodes=nodes, kinds=kinds, edges=edges, dot_source=dot.source)
