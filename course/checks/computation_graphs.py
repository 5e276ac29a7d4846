"""Checks for lesson 04 (computation graphs): which boxes, counting nodes, an untracked prediction, a carried state.

The node count runs on three small graphs (one with data, one with a leaf used twice, one with a frozen tensor),
so each way of miscounting gives its own numbers; the prediction gets fresh leaves; the loop trains twice, for four
steps and then for two with another learning rate, so fixed numbers show. Both give values with more digits than a
rounding to 6 decimals keeps, so that values rounded to any number of decimals are named as rounded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Set
from functools import partial

import numpy as np
import torch

from course.checks.autograd import before_backward
from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import any_item
from course.checks.values import as_number, close, describe, tensors_in

NAMES = {"weight", "bias", "scale", "inputs", "targets", "out"}  # the exercise's variables
FROZEN = (  # its own words: the vocabulary's froze_parameters speaks of a model being evaluated
    "a or b no longer requires grad: you switched off the parameters themselves, so training would stop. Leave them "
    "alone and detach only the result, or compute it under torch.no_grad()."
)
GRAPH_KEPT = (  # lesson 03's loss_outside_loop, here through the state
    "the state carries the previous step's graph, which the first backward() freed, so the second backward() fails: "
    "carry only its value, state = 0.5 * state.detach() + a * x."
)
LOSSES_KEPT = (  # lesson 05's returns_tensor, here for a list of losses; a detached tensor holds no graph
    "the losses are kept as tensors with their graphs (a grad_fn): append loss.item(), a plain float. A loss tensor "
    "holds its whole graph, so keeping them keeps every step's graph in memory, as a running total of tensors does."
)


def _names(answer: object, _: tuple) -> object:
    """The answer as a frozenset of stripped names when it is a collection of strings; else what it is."""
    names = isinstance(answer, Set | list | tuple) and all(isinstance(name, str) for name in answer)  # dict keys too
    return frozenset(name.strip() for name in answer) if names else ("not names", type(answer).__name__)


def _unknown_names(unknown: list[str]) -> str:
    """What is wrong with names that are not the exercise's: another case of one (names are case-sensitive), or none."""
    cased = {name: right for name in unknown for right in NAMES if name.lower() == right}
    if cased:
        fixes = "; ".join(f"{right!r}, not {name!r}" for name, right in cased.items())
        return f"names are case-sensitive: write each as the code spells it: {fixes}."
    verb = "is not a variable" if len(unknown) == 1 else "are not variables"
    return f"{', '.join(map(repr, unknown))} {verb} of the exercise: which tensors require grad?"


parameter_boxes = Exercise(
    name="parameter_boxes", kind="value", reference=lambda: {"weight", "bias"}, observe=_names,
    guards=[  # after not_names, every guard reads a frozenset
        Guard("not_names", lambda got: not isinstance(got, frozenset), lambda: "weight, bias"),
        Guard("frozen_counted", lambda got: "scale" in got, lambda: {"weight", "bias", "scale"}),
        Guard("data_drawn", lambda got: bool(got & {"inputs", "targets"}), lambda: {"weight", "bias", "inputs"}),
        Guard("output_counted", lambda got: "out" in got, lambda: {"weight", "bias", "out"}),
        Guard("missing_parameter", lambda got: got <= NAMES and not {"weight", "bias"} <= got, lambda: {"weight"}),
    ],
    explain=lambda got, _: _unknown_names(sorted(got - NAMES)),
    success="only `weight` and `bias` require grad; the frozen `scale` and the data get no box.",
)  # fmt: skip


def _graphs() -> tuple:
    a, b = torch.tensor([0.3], requires_grad=True), torch.tensor([-1.2], requires_grad=True)
    x, frozen = torch.linspace(0, 1, 6).reshape(-1, 1), torch.tensor([0.7])
    shared = a * b  # a node (not a leaf) that two paths reach
    return ((a + b * x - 1 - 2 * x) ** 2).mean(), (a * a + a).sum(), (b * x + frozen).sum(), (shared * shared).sum()


def _count(tensor: torch.Tensor, fault: str = "") -> int:
    """The distinct nodes behind ``tensor``, or the count the mistake ``fault`` makes."""
    seen, count, todo = set(), 0, [tensor.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or (node in seen and fault != "counted_shared_twice"):
            count += node is None and (fault == "counted_data" or fault == "none_in_set" and node not in seen)
            seen.add(node)
            continue
        seen.add(node)
        count += fault != "no_accumulate_grad" or type(node).__name__ != "AccumulateGrad"
        todo.extend(next_node for next_node, _ in node.next_functions)
    return count - (fault == "forgot_root")


def _whole(count: object) -> object:
    """A count as an int when it is a whole number in any form (8, 8.0, np.int64(8), torch.tensor(8)); else as it is."""
    number = as_number(count)
    return int(number) if number is not None and number.is_integer() else count


count_nodes = Exercise(
    name="count_nodes", inputs=_graphs, reference=_count,
    observe=lambda answer, graphs: [_whole(answer(graph)) for graph in graphs],
    guards=[Guard("not_a_number", any_item(lambda n: type(n) is not int), lambda tensor: "7",
                  "return a whole number: len(...) of the set of nodes you collected.")],
    mistakes=[Mistake(fault, partial(_count, fault=fault))
              for fault in ("counted_data", "counted_shared_twice", "forgot_root", "no_accumulate_grad")]
             + [Mistake("counted_data", partial(_count, fault="none_in_set"))],  # None kept in the set of nodes
    explain=lambda got, expected: f"on the check's four graphs your function gave {got}, expected {expected}. "
                                  "Start from tensor.grad_fn, follow next_functions, skip None, count each node once.",
    success=lambda expected: f"your function counts {expected} nodes on the check's four graphs, as it should.",
)  # fmt: skip


def _numbers(values: object, count: int | None = None) -> torch.Tensor | None:
    """``values`` (a number, a tensor, an array, a list of numbers) as float64 numbers in a row, ``count`` of them
    when given; None when they are not numbers."""
    try:
        values = torch.from_numpy(values) if isinstance(values, np.ndarray) else values
        number = None if isinstance(values, list | tuple) else as_number(values)
        values = [number] if number is not None else values
        size = values.numel() if isinstance(values, torch.Tensor) else len(values)
        if count is not None and size != count or isinstance(values, torch.Tensor) and values.device.type == "meta":
            return None
        if isinstance(values, torch.Tensor):
            return values.detach().cpu().double().reshape(-1)
        numbers = [as_number(value) for value in values]
        return None if None in numbers else torch.tensor(numbers, dtype=torch.float64)
    except Exception:  # not numbers
        return None


def _on_grid(values: torch.Tensor, step: float, slack: torch.Tensor) -> bool:  # multiples of step, to within slack
    return bool(((values / step).round() * step - values).abs().le(slack).all())


def rounded_decimals(got: object, exact: object) -> int:
    """How many decimals (1 to 6) ``got`` is ``exact`` rounded to: every number within half a 10 ** -decimals of its
    exact value, and those float32 keeps to a quarter of that step multiples of it, where their exact values are not
    (a larger number, 749.68376 for 4 decimals, sits on that grid by chance); 0 when none."""
    exact = _numbers(exact)
    numbers = None if exact is None else _numbers(got, len(exact))
    if numbers is None:
        return 0
    slack = 2.5e-7 * exact.abs() + 1e-12  # float32 keeps 7 significant digits, not more
    for decimals in range(1, 7):
        step = 10.0**-decimals
        near, telling = bool((numbers - exact).abs().le(step / 2 + slack).all()), slack < step / 4
        on_grid = [_on_grid(values[telling], step, slack[telling]) for values in (numbers, exact)]
        if near and bool(telling.any()) and on_grid[0] and not on_grid[1]:
            return decimals
    return 0


def rounded_message(what: str, decimals: int, exact: str, verb: str = "return") -> str:
    """The message for values rounded to ``decimals`` decimals; ``exact``: what to ``verb`` instead."""
    return (f"the {what} are rounded to {decimals} decimal{'s' * (decimals > 1)}: {verb} {exact} with every digit it "
            "has (a plot or a print can round what it shows; the values themselves stay exact).")  # fmt: skip


def _shown(got: object, expected: object) -> tuple[str, str]:
    """describe() of each; when that reads the same for numbers that differ, the numbers themselves, with as many
    significant digits as it takes to tell them apart."""
    texts, right = (describe(got), describe(expected)), _numbers(expected)
    mine = None if texts[0] != texts[1] or right is None else _numbers(got, len(right))
    for digits in range(5, 18) if mine is not None else ():
        shown = tuple(", ".join(f"{n:.{digits}g}" for n in numbers.tolist()) for numbers in (mine, right))
        if shown[0] != shown[1]:
            return shown if len(right) == 1 else (f"[{shown[0]}]", f"[{shown[1]}]")
    return texts


def _untracked(out: object, a: torch.Tensor, b: torch.Tensor, exact: torch.Tensor) -> dict:
    """What matters: the values (plain numbers to plot: a NumPy array or a list of them too; flat, (N,), they plot as
    the column does), whether autograd tracks them (through a graph, or as a new leaf that requires grad), whether a
    and b still require grad, and how many decimals the values were rounded to (0: none); "given": the answer itself
    where it is not the tensor compared (a list, an array, a flat tensor), for the message, never compared."""
    given, items = out, tensors_in(out) if type(out) in (list, tuple) else [out]  # one tensor per x: judged each
    if isinstance(out, np.ndarray) or type(out) in (list, tuple):  # numbers, or those tensors stacked
        with contextlib.suppress(Exception):
            out = torch.stack(list(out)) if tensors_in(out) else torch.tensor(out)
    grads = [t.grad_fn is not None for t in items if torch.is_tensor(t) and t.requires_grad]
    tracked = torch.is_tensor(out) and bool(grads) and ("graph" if any(grads) else "new leaf")
    out = out.unsqueeze(1) if torch.is_tensor(out) and out.shape == exact.shape[:1] else out
    return {"values": out, "tracked": tracked, "a, b require grad": [a.requires_grad, b.requires_grad],
            "rounded": rounded_decimals(out, exact) if torch.is_tensor(out) else 0,
            "given": None if given is out else given}  # fmt: skip


def _same_prediction(got: dict, expected: dict) -> bool:  # all but the answer itself, which only the message shows
    return close(*({k: v for k, v in d.items() if k != "given"} for d in (got, expected)))


def _observe_prediction(answer: object, args: tuple) -> dict:
    a, b, x = args
    exact = (a + b * x).detach()  # before the answer runs: it may change a or b
    return _untracked(answer(*args), a, b, exact)


def _prediction_explained(got: dict, expected: dict) -> str:
    mine, right = _shown(got["values"] if got["given"] is None else got["given"], expected["values"])
    return f"expected {right}, the values of a + b * x, with no grad_fn and a, b still requiring grad; got {mine}."


untracked_prediction = Exercise(
    name="untracked_prediction", reference=lambda a, b, x: (a + b * x).detach(),
    inputs=lambda: (torch.tensor([0.813729], requires_grad=True), torch.tensor([-0.429137], requires_grad=True),
                    torch.tensor([[0.0], [0.53], [1.17], [2.5]])),  # values that rounding to 1 to 6 decimals changes
    observe=_observe_prediction, same=_same_prediction,
    guards=[
        Guard("returned_none", lambda got: got["values"] is None, lambda a, b, x: None),
        Guard("froze_parameters", lambda got: not all(got["a, b require grad"]),  # either one is enough
              lambda a, b, x: a.detach() + b.requires_grad_(False) * x, FROZEN),
        Guard("not_a_tensor", lambda got: not torch.is_tensor(got["values"]), lambda a, b, x: 0.5,
              lambda got, _: f"return the values as a tensor with no grad_fn (or a NumPy array), got "
                             f"{describe(got['values'])}."),
        Guard("rounded", lambda got: got["rounded"] > 0, lambda a, b, x: (a + b * x).detach().round(decimals=2),
              lambda got, _: rounded_message("values", got["rounded"], "a + b * x")),
    ],
    mistakes=[
        Mistake("still_tracked", lambda a, b, x: a + b * x),
        Mistake("new_leaf_requires_grad", lambda a, b, x: (a + b * x).detach().requires_grad_()),
    ],
    alternatives=[lambda a, b, x: torch.no_grad()(lambda: a + b * x)()],
    explain=_prediction_explained,
    success="the right values, no grad_fn, and a and b still require grad for training.",
)  # fmt: skip


def _smoothed(a, x, y, steps, lr=0.1, carry: str = "detach") -> list[float]:
    """The exercise's loop; ``carry``: "detach" the state (before or after use), "retain" the graph, "reset", "cut",
    "zero first" (a.grad zeroed before its first backward()), "no zero" (detached, a.grad never emptied), or
    anything else: the buggy loop, state kept whole."""
    state, losses = torch.zeros_like(y), []
    for _ in range(steps):
        if carry == "zero first":
            a.grad.zero_()
        kept = {"detach": state.detach(), "no zero": state.detach(), "reset": torch.zeros_like(y)}.get(carry, state)
        state = 0.5 * kept + a * x
        loss = (((state.detach() if carry == "cut" else state) - y) ** 2).mean()
        loss.backward(retain_graph=carry == "retain")
        with torch.no_grad():
            a -= lr * a.grad
        a.grad = a.grad if carry == "no zero" else None
        losses.append(loss.item())
        state = state.detach() if carry == "detach after" else state
    return losses


def _smoothed_inputs() -> tuple:
    """Twice a, x, y, steps, lr: y = 2 x + 0.5 on five points for 4 steps, then y = 1 - x on three for 2; a starts
    where the losses have more digits than a rounding to 6 decimals keeps."""
    x = torch.tensor([[0.0], [0.5], [1.0], [1.5], [3.0]])
    return (torch.tensor([0.4871], requires_grad=True), x, 2 * x + 0.5, 4, 0.1,
            torch.tensor([-0.9731], requires_grad=True), x[:3].clone(), 1 - x[:3], 2, 0.05)  # fmt: skip


def _listed(losses: object) -> object:
    """The losses as a list when they come as a 1-D array or tensor (a short one: a huge view is not listed)."""
    flat = isinstance(losses, np.ndarray | torch.Tensor) and losses.ndim == 1 and len(losses) <= 100
    return losses.tolist() if flat else losses


def _runs(train: object, args: tuple) -> list[dict]:
    """Each run's losses (a list, an array or a tensor), the caller's ``a`` after it, how many decimals the losses
    were rounded to (0: none), and whether they keep a graph (a tensor with a grad_fn among them)."""
    runs = [(before_backward(partial(train, *probe), probe[0]), probe[0]) for probe in (args[:5], args[5:])]
    fresh = _smoothed_inputs()
    exact = [_smoothed(*probe) for probe in (fresh[:5], fresh[5:])]
    return [{"losses": _listed(losses), "a": a.detach().clone(), "rounded": rounded_decimals(_listed(losses), right),
             "graph kept": any(tensor.grad_fn is not None for tensor in tensors_in(losses))}
            for (losses, a), right in zip(runs, exact, strict=True)]  # fmt: skip


def _smoothed_explained(got: list, expected: list) -> str:
    runs = ("after 4 steps with lr 0.1", "right for 4 steps with lr 0.1 but not for other data, steps and lr (use "
            "the arguments, never fixed numbers): after 2 steps with lr 0.05")  # fmt: skip
    where, run, right = next(case for case in zip(runs, got, expected, strict=True) if not close(*case[1:]))
    a, right_a = _shown(run["a"].item(), right["a"].item())
    losses, right_losses = _shown(run["losses"], right["losses"])
    return f"{where} a = {a}, losses {losses}; expected {right_a}, {right_losses}. Change only how state is carried."


smoothed_training = Exercise(
    name="smoothed_training", reference=_smoothed, pure=False,  # the loop updates a in place: that is its job
    inputs=_smoothed_inputs, observe=_runs,
    guards=[Guard("returned_none", any_item(lambda run: run["losses"] is None), lambda *args: None),
            Guard("returns_tensor", any_item(lambda run: run["graph kept"]), lambda *args: [torch.tensor(loss,
                  requires_grad=True) * 1 for loss in _smoothed(*args)], LOSSES_KEPT),
            Guard("rounded", any_item(lambda run: run["rounded"] > 0), lambda *args: [round(loss, 3) for loss in
                  _smoothed(*args)], lambda got, _: rounded_message("losses", max(run["rounded"] for run in got),
                                                             "each loss.item()"))],
    mistakes=[
        Mistake("retain_graph_not_detach", partial(_smoothed, carry="retain")),
        Mistake("state_not_carried", partial(_smoothed, carry="reset")),
        Mistake("detached_too_much", partial(_smoothed, carry="cut")),
        Mistake("loss_outside_loop", partial(_smoothed, carry="keep"), GRAPH_KEPT),
        Mistake("zeroed_before_backward", partial(_smoothed, carry="zero first")),
        Mistake("no_zero_grad", partial(_smoothed, carry="no zero"), "the gradients were never zeroed, so each "
                "backward() adds to the last ones: keep a.grad = None after each update (the state is carried right)."),
    ],
    alternatives=[partial(_smoothed, carry="detach after"), lambda *args: torch.tensor(_smoothed(*args))],
    explain=_smoothed_explained,
    success="state.detach() keeps the value and cuts the old graph: each backward() covers one step.",
)  # fmt: skip
