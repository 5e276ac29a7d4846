"""Checks for lesson 04, dynamic computation graphs: which boxes a graph has, walking it, untracked tensors, backward twice.

Each check builds its own small graphs (with a private generator, so the notebook's random
stream is untouched), runs the learner's answer on them and, when the answer is wrong,
compares it with the answers that typical mistakes produce to say which mistake it was.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from course.checks.verdict import Mistake, Verdict, call_learner, correct, is_placeholder, judge, not_attempted, wrong

__all__ = ["backward_twice", "count_nodes", "parameter_boxes", "untracked_prediction"]

# The scenario of the "which boxes?" exercise, as the notebook shows it.
BOX_PARAMETERS = frozenset({"weight", "bias"})
BOX_FROZEN = frozenset({"scale"})
BOX_DATA = frozenset({"inputs", "targets"})
BOX_OUTPUT = frozenset({"out"})


def _generator(seed: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def _names(answer: object) -> frozenset[str] | None:
    """A set of stripped names from a set, list or tuple of strings; ``None`` for anything else."""
    if not isinstance(answer, (set, frozenset, list, tuple)) or not all(isinstance(n, str) for n in answer):
        return None
    return frozenset(n.strip() for n in answer)


def parameter_boxes(answer: set[str]) -> Verdict:
    """Check the set of variable names that get a blue (parameter) box in the exercise's graph.

    Example:
        >>> parameter_boxes({"weight", "bias"}).passed
        True
        >>> parameter_boxes({"weight", "bias", "scale"}).mistake
        'frozen_counted'
    """
    if is_placeholder(answer):
        return not_attempted()
    names = _names(answer)
    if names is None:
        return wrong(
            "not_names",
            f"expected a set of variable names as strings, like {{'weight'}}; got {type(answer).__name__}. "
            "Write the names in quotes inside curly braces.",
        )
    mistakes = [
        Mistake(
            "frozen_counted",
            lambda n: bool(n & BOX_FROZEN),
            "`scale` had requires_grad switched off (requires_grad_(False)), so autograd does not track it: "
            "a frozen tensor gets no box. Remove it from your set.",
        ),
        Mistake(
            "data_counted",
            lambda n: bool(n & BOX_DATA),
            "`inputs` and `targets` are data: they do not require grad, so the graph does not draw them. "
            "Only tensors with requires_grad=True get a blue box.",
        ),
        Mistake(
            "output_counted",
            lambda n: bool(n & BOX_OUTPUT),
            "`out` is the tensor backward starts from: it is drawn, but as the green output box, not as a blue parameter box.",
        ),
        Mistake(
            "missing_parameter",
            lambda n: not BOX_PARAMETERS <= n,
            "a parameter is missing: every tensor created with requires_grad=True (and not frozen later) "
            "that the computation uses gets a blue box.",
        ),
    ]
    return judge(
        names,
        lambda n: n == BOX_PARAMETERS,
        "only `weight` and `bias` require grad; the frozen `scale` and the data get no box.",
        mistakes,
        otherwise=f"expected the names of the tensors that require grad, got {sorted(names)}. "
        "Look at which tensors were created with requires_grad=True.",
    )


def _reachable(tensor: torch.Tensor) -> tuple[list[object], int, int]:
    """The distinct nodes behind ``tensor`` in visiting order, how many paths reach them, how many ``None`` entries."""
    order: list[object] = []
    seen: set[object] = set()
    visits, nones = 0, 0
    todo = [tensor.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is None:
            nones += 1
            continue
        visits += 1
        if fn in seen:
            continue
        seen.add(fn)
        order.append(fn)
        todo.extend(next_fn for next_fn, _ in fn.next_functions)
    return order, visits, nones


def _count_graphs() -> list[torch.Tensor]:
    """Three small graphs: linear regression with data, a leaf used twice, a frozen parameter."""
    g = _generator(4)
    a = torch.randn(1, generator=g).requires_grad_()
    b = torch.randn(1, generator=g).requires_grad_()
    c = torch.randn(1, generator=g)  # frozen
    x = torch.linspace(0, 1, 6).reshape(-1, 1)
    y = 1 + 2 * x
    return [((a + b * x - y) ** 2).mean(), (a * a + a).sum(), (b * x + c).sum()]


def count_nodes(fn: Callable[[torch.Tensor], int]) -> Verdict:
    """Check ``fn(tensor)``: the number of distinct backward nodes (AccumulateGrad included) behind ``tensor``.

    Example:
        >>> def count(t):
        ...     seen, todo = set(), [t.grad_fn]
        ...     while todo:
        ...         f = todo.pop()
        ...         if f is not None and f not in seen:
        ...             seen.add(f)
        ...             todo.extend(n for n, _ in f.next_functions)
        ...     return len(seen)
        >>> count_nodes(count).passed
        True
    """
    if is_placeholder(fn):
        return not_attempted()
    graphs = _count_graphs()
    answers = []
    for tensor in graphs:
        result, problem = call_learner(fn, tensor)
        if problem is not None:
            return problem
        if isinstance(result, bool) or not isinstance(result, int):
            return wrong(
                "not_an_int",
                f"expected a whole number (len(...) of your set), got {type(result).__name__}. Return an int.",
            )
        answers.append(result)
    expected, with_data, with_repeats, no_accumulate, nones_per_graph = [], [], [], [], []
    for tensor in graphs:
        order, visits, nones = _reachable(tensor)
        expected.append(len(order))
        with_data.append(len(order) + nones)
        with_repeats.append(visits)
        nones_per_graph.append(nones)
        no_accumulate.append(sum(type(node).__name__ != "AccumulateGrad" for node in order))
    mistakes = [
        Mistake(
            "counted_data",
            lambda r: r in (with_data, [v + n for v, n in zip(with_repeats, nones_per_graph, strict=True)]),
            "you counted the `None` entries of next_functions. A `None` stands for an input that needs no gradient "
            "(the data x, a frozen parameter): it is not a node. Skip `None` before counting.",
        ),
        Mistake(
            "counted_shared_twice",
            lambda r: r == with_repeats,
            "you counted a node once per path that reaches it: in `a * a + a` the AccumulateGrad of `a` is reached "
            "three times but is one node. Keep a set of the nodes already seen.",
        ),
        Mistake(
            "forgot_root",
            lambda r: r == [e - 1 for e in expected],
            "one node short on every graph: count the starting node `tensor.grad_fn` too.",
        ),
        Mistake(
            "no_accumulate_grad",
            lambda r: r == no_accumulate,
            "you left out the AccumulateGrad nodes. They are nodes too: the ones that store a leaf's gradient in .grad.",
        ),
    ]
    return judge(
        answers,
        lambda r: r == expected,
        f"your function counts {expected} nodes on the check's three graphs, as it should.",
        mistakes,
        otherwise=f"on the check's three graphs your function gave {answers}, expected {expected}. "
        "Start from tensor.grad_fn, follow next_functions, skip None, count each node once.",
    )


def untracked_prediction(prediction: torch.Tensor, a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> Verdict:
    """Check that ``prediction`` equals ``a + b * x`` but is not tracked by autograd, and ``a``, ``b`` still are.

    Example:
        >>> a, b = torch.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)
        >>> x = torch.zeros(3, 1)
        >>> untracked_prediction((a + b * x).detach(), a, b, x).passed
        True
        >>> untracked_prediction(a + b * x, a, b, x).mistake
        'still_tracked'
    """
    if is_placeholder(prediction):
        return not_attempted()
    if not isinstance(prediction, torch.Tensor):
        return wrong(
            "not_a_tensor", f"expected a tensor, got {type(prediction).__name__}. Keep the result a torch tensor."
        )
    if not all(isinstance(t, torch.Tensor) for t in (a, b, x)):
        return wrong("other", "pass the lesson's tensors a, b and x as the other arguments, as in the check cell.")
    if not (a.requires_grad and b.requires_grad):
        return wrong(
            "froze_parameters",
            "a or b no longer requires grad: you switched off the parameters themselves, so training would stop. "
            "Leave them alone (a.requires_grad_(True) to undo) and detach only the result, or compute it under torch.no_grad().",
        )
    if prediction.requires_grad or prediction.grad_fn is not None:
        return wrong(
            "still_tracked",
            "the prediction still has a grad_fn, so it is part of the graph. "
            "Compute it inside `with torch.no_grad():`, or call .detach() on the result.",
        )
    with torch.no_grad():
        expected = a + b * x
    if prediction.shape != expected.shape:
        return wrong(
            "wrong_shape", f"expected shape {tuple(expected.shape)}, got {tuple(prediction.shape)}. Compute a + b * x."
        )
    if not torch.allclose(prediction.to(expected.dtype).cpu(), expected.cpu()):
        return wrong(
            "wrong_values", "the values differ from a + b * x with the current a and b. Compute the same prediction."
        )
    return correct("the prediction has the right values, no grad_fn, and a and b still require grad.")


def _twice_problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = _generator(5)
    a = torch.randn(1, generator=g).requires_grad_()
    x = torch.linspace(0, 1, 5)
    loss = ((a * x - 2 * x) ** 2).mean()
    (once,) = torch.autograd.grad(loss, a, retain_graph=True)
    return a, loss, once


def backward_twice(fn: Callable[[torch.Tensor], None]) -> Verdict:
    """Check ``fn(loss)``: two backward passes through the same graph, so the gradients add up.

    Example:
        >>> def twice(loss):
        ...     loss.backward(retain_graph=True)
        ...     loss.backward()
        >>> backward_twice(twice).passed
        True
    """
    if is_placeholder(fn):
        return not_attempted()
    a, loss, once = _twice_problem()
    _, problem = call_learner(fn, loss)
    if problem is not None:
        if problem.mistake == "raised" and "second time" in problem.message:
            return wrong(
                "no_retain_graph",
                "the second backward failed: the first one freed the graph's saved values. "
                "Pass retain_graph=True to the first backward (the last one may free it).",
            )
        return problem
    if a.grad is None:
        return wrong("no_backward", "the parameter has no .grad after your function: call loss.backward() (twice).")
    if torch.allclose(a.grad, once):
        return wrong(
            "backward_once",
            "the gradient is that of one backward pass: call backward twice (without zeroing in between), "
            "so the two gradients add up.",
        )
    if torch.allclose(a.grad, 2 * once):
        return correct("two backward passes, the gradients added up to twice the single gradient.")
    return wrong(
        "other",
        f"expected the gradient to be twice the single one ({2 * once.item():.4f}), got {a.grad.reshape(-1)[0].item():.4f}.",
    )
