"""Checks for lesson 04 (dynamic computation graphs): which boxes, counting nodes, an untracked prediction, a carried state.

Probes: the exercise's own scenario for the boxes; three small graphs for the node count (one with
data, one with a leaf used twice, one with a frozen tensor), so each way of miscounting gives its
own numbers; fresh leaves for the prediction; and a four-step smoothed training run.
"""

from __future__ import annotations

import torch

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.values import describe

# --- exercise 1: which variables get a blue box? -----------------------------------------------------------


def _names(answer: object, args: tuple) -> object:
    """A frozenset of stripped names, or ``("not names", type)`` for anything but a collection of strings."""
    if not isinstance(answer, (set, frozenset, list, tuple)) or not all(isinstance(n, str) for n in answer):
        return ("not names", type(answer).__name__)
    return frozenset(name.strip() for name in answer)


def _holds_any(*names: str) -> object:
    return lambda got: isinstance(got, frozenset) and bool(got & set(names))


parameter_boxes = Exercise(
    name="parameter_boxes",
    kind="value",
    reference=lambda: {"weight", "bias"},
    observe=_names,
    guards=[
        Guard("not_names", lambda got: not isinstance(got, frozenset), example=lambda: "weight, bias"),
        Guard("frozen_counted", _holds_any("scale"), example=lambda: {"weight", "bias", "scale"}),
        Guard("data_drawn", _holds_any("inputs", "targets"), example=lambda: {"weight", "bias", "inputs"}),
        Guard("output_counted", _holds_any("out"), example=lambda: {"weight", "bias", "out"}),
        Guard("missing_parameter", lambda got: not {"weight", "bias"} <= got, example=lambda: {"weight"}),
    ],
    explain=lambda got, _: f"{sorted(got)} are not variables of the exercise: look at which tensors require grad.",
    success="only `weight` and `bias` require grad; the frozen `scale` and the data get no box.",
)


# --- exercise 2: count the distinct nodes -------------------------------------------------------------------
def _graphs() -> tuple:
    generator = torch.Generator().manual_seed(4)
    a, b = (torch.randn(1, generator=generator).requires_grad_() for _ in range(2))
    c = torch.randn(1, generator=generator)  # frozen: needs no gradient
    x = torch.linspace(0, 1, 6).reshape(-1, 1)
    return ((a + b * x - 1 - 2 * x) ** 2).mean(), (a * a + a).sum(), (b * x + c).sum()


def _counter(nones: bool = False, once: bool = True, root: bool = True, accumulate: bool = True) -> object:
    """A node counter that (wrongly, when a flag says so) counts None entries, repeats, the root or AccumulateGrad."""

    def count(tensor):
        seen, visits, todo = set(), 0, [tensor.grad_fn]
        while todo:
            node = todo.pop()
            if node is None:
                visits += nones
                continue
            if node in seen and once:
                continue
            if accumulate or type(node).__name__ != "AccumulateGrad":
                visits += 1
            seen.add(node)
            todo.extend(next_node for next_node, _ in node.next_functions)
        return visits - (not root)

    return count


count_nodes = Exercise(
    name="count_nodes",
    inputs=_graphs,
    reference=_counter(),
    observe=lambda answer, graphs: [answer(graph) for graph in graphs],
    guards=[
        Guard(
            "not_a_number",
            lambda got: not all(isinstance(n, int) and not isinstance(n, bool) for n in got),
            example=lambda tensor: "7",
            message="return a whole number: len(...) of the set of nodes you collected.",
        )
    ],
    mistakes=[
        Mistake("counted_data", _counter(nones=True)),
        Mistake("counted_shared_twice", _counter(once=False)),
        Mistake("forgot_root", _counter(root=False)),
        Mistake("no_accumulate_grad", _counter(accumulate=False)),
    ],
    explain=lambda got, expected: (
        f"on the check's three graphs your function gave {got}, expected {expected}. "
        "Start from tensor.grad_fn, follow next_functions, skip None, count each node once."
    ),
    success=lambda expected: f"your function counts {expected} nodes on the check's three graphs, as it should.",
)


# --- exercise 3: a prediction autograd does not track --------------------------------------------------------
def _line_probe() -> tuple:
    generator = torch.Generator().manual_seed(3)
    a, b = (torch.randn(1, generator=generator).requires_grad_() for _ in range(2))
    return a, b, torch.tensor([[0.0], [0.5], [1.0], [2.5]])


def _untracked(answer: object, args: tuple) -> dict:
    a, b, x = args
    result = answer(a, b, x)  # type: ignore[operator]
    tensor = isinstance(result, torch.Tensor)
    return {
        "values": result.detach() if tensor else result,
        "tracked": tensor and (result.requires_grad or result.grad_fn is not None),
        "a, b require grad": [a.requires_grad, b.requires_grad],
    }


def _frozen(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    a.requires_grad_(False)
    b.requires_grad_(False)
    return a + b * x


untracked_prediction = Exercise(
    name="untracked_prediction",
    inputs=_line_probe,
    reference=lambda a, b, x: (a + b * x).detach(),
    observe=_untracked,
    guards=[
        Guard("returned_none", lambda got: got["values"] is None, example=lambda a, b, x: None),
        Guard(
            "not_a_tensor",
            lambda got: not isinstance(got["values"], torch.Tensor),
            example=lambda a, b, x: [0.0],
            message=lambda got, _: f"return a torch tensor (with no grad_fn), got {describe(got['values'])}.",
        ),
    ],
    mistakes=[
        Mistake("still_tracked", lambda a, b, x: a + b * x),
        Mistake("froze_parameters", _frozen),
    ],
    alternatives=[lambda a, b, x: torch.no_grad()(lambda: a + b * x)()],
    explain=lambda got, expected: (
        f"expected {describe(expected['values'])}, the values of a + b * x, with no "
        f"grad_fn and a, b still requiring grad; got {describe(got['values'])}."
    ),
    success="the right values, no grad_fn, and a and b still require grad for training.",
)


# --- exercise 4: a state carried over from the previous step ---------------------------------------------------
def _smoothing_probe() -> tuple:
    x = torch.tensor([[0.0], [0.5], [1.0], [1.5], [3.0]])
    return torch.tensor([0.5], requires_grad=True), x, 2 * x + 0.5, 4


def _smoothed(carry: str) -> object:
    """The exercise's loop; ``carry`` says what happens to ``state``: "detach" (before or after), "retain", "reset", "cut"."""

    def train(a, x, y, steps, lr=0.1):
        state, losses = torch.zeros_like(y), []
        for _ in range(steps):
            previous = state.detach() if carry == "detach" else torch.zeros_like(y) if carry == "reset" else state
            state = 0.5 * previous + a * x
            state = state.detach() if carry == "cut" else state
            loss = ((state - y) ** 2).mean()
            loss.backward(retain_graph=carry == "retain")
            with torch.no_grad():
                a -= lr * a.grad
            a.grad = None
            losses.append(loss.item())
            state = state.detach() if carry == "detach after" else state
        return losses

    return train


smoothed_training = Exercise(
    name="smoothed_training",
    inputs=_smoothing_probe,
    reference=_smoothed("detach"),
    observe=lambda answer, args: {"losses": answer(*args), "a": args[0].detach().clone()},
    pure=False,  # the loop updates a in place: that is its job
    guards=[Guard("returned_none", lambda got: got["losses"] is None, example=lambda a, x, y, steps, lr=0.1: None)],
    mistakes=[
        Mistake("retain_graph_not_detach", _smoothed("retain")),
        Mistake("state_not_carried", _smoothed("reset")),
        Mistake("detached_too_much", _smoothed("cut")),
    ],
    alternatives=[_smoothed("detach after")],
    explain=lambda got, expected: (
        f"after 4 steps a = {got['a'].item():.4f}, expected {expected['a'].item():.4f} "
        "(losses " + ", ".join(f"{v:.4f}" for v in expected["losses"]) + "). Change only how state is carried over."
    ),
    success="state.detach() keeps the value and cuts the old graph: each backward() covers one step.",
)
