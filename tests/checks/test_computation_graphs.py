"""The lesson-04 checks accept the right answers and name each typical mistake."""

from __future__ import annotations

import pytest
import torch

from course.checks import computation_graphs as check


def reachable(tensor):
    """Every backward node behind ``tensor`` (the walk a right answer does)."""
    seen, todo = set(), [tensor.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        todo.extend(next_fn for next_fn, _ in fn.next_functions)
    return seen


def count_right(tensor):
    return len(reachable(tensor))


def count_with_none(tensor):
    seen, nones, todo = set(), 0, [tensor.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is None:
            nones += 1
            continue
        if fn in seen:
            continue
        seen.add(fn)
        todo.extend(next_fn for next_fn, _ in fn.next_functions)
    return len(seen) + nones


def count_tree(tensor):
    def walk(fn):
        return 1 + sum(walk(n) for n, _ in fn.next_functions if n is not None)

    return walk(tensor.grad_fn)


def count_tree_with_none(tensor):
    def walk(fn):
        if fn is None:
            return 1
        return 1 + sum(walk(n) for n, _ in fn.next_functions)

    return walk(tensor.grad_fn)


def count_without_root(tensor):
    return count_right(tensor) - 1


def count_without_accumulate(tensor):
    return sum(type(fn).__name__ != "AccumulateGrad" for fn in reachable(tensor))


def count_stub(tensor):
    raise NotImplementedError  # your code here


# parameter_boxes


def test_boxes_right_answer_in_any_collection():
    assert check.parameter_boxes({"weight", "bias"}).passed
    assert check.parameter_boxes(["bias", "weight "]).passed


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        ({"weight", "bias", "scale"}, "frozen_counted"),
        ({"weight", "bias", "inputs"}, "data_counted"),
        ({"weight", "bias", "targets"}, "data_counted"),
        ({"weight", "bias", "out"}, "output_counted"),
        ({"weight"}, "missing_parameter"),
        ({"weight", "bias", "banana"}, "other"),
        ("weight, bias", "not_names"),
        ({1, 2}, "not_names"),
    ],
)
def test_boxes_mistakes(answer, mistake):
    assert check.parameter_boxes(answer).mistake == mistake


def test_boxes_placeholder():
    assert check.parameter_boxes(None).status == "not_attempted"
    assert check.parameter_boxes(...).status == "not_attempted"


# count_nodes


def test_count_right():
    assert check.count_nodes(count_right).passed


@pytest.mark.parametrize(
    ("fn", "mistake"),
    [
        (count_with_none, "counted_data"),
        (count_tree_with_none, "counted_data"),
        (count_tree, "counted_shared_twice"),
        (count_without_root, "forgot_root"),
        (count_without_accumulate, "no_accumulate_grad"),
        (lambda t: float(count_right(t)), "not_an_int"),
        (lambda t: 3, "other"),
        (lambda t: t.nope, "raised"),
        ("count", "not_callable"),
    ],
)
def test_count_mistakes(fn, mistake):
    assert check.count_nodes(fn).mistake == mistake


def test_count_placeholder():
    assert check.count_nodes(None).status == "not_attempted"
    assert check.count_nodes(count_stub).status == "not_attempted"


# untracked_prediction


@pytest.fixture
def params():
    a = torch.tensor([0.5], requires_grad=True)
    b = torch.tensor([-1.0], requires_grad=True)
    x = torch.linspace(0, 1, 4).reshape(-1, 1)
    return a, b, x


def test_untracked_right(params):
    a, b, x = params
    with torch.no_grad():
        pred = a + b * x
    assert check.untracked_prediction(pred, a, b, x).passed
    assert check.untracked_prediction((a + b * x).detach(), a, b, x).passed


def test_untracked_mistakes(params):
    a, b, x = params
    assert check.untracked_prediction(a + b * x, a, b, x).mistake == "still_tracked"
    assert check.untracked_prediction((a + 2 * b * x).detach(), a, b, x).mistake == "wrong_values"
    assert check.untracked_prediction((a + b * x).detach().reshape(-1), a, b, x).mistake == "wrong_shape"
    assert check.untracked_prediction([1.0, 2.0], a, b, x).mistake == "not_a_tensor"
    assert check.untracked_prediction("junk", a, b, x).mistake == "not_a_tensor"
    b.requires_grad_(False)
    assert check.untracked_prediction(a + b * x, a, b, x).mistake == "froze_parameters"


def test_untracked_placeholder_and_junk(params):
    a, b, x = params
    assert check.untracked_prediction(None, a, b, x).status == "not_attempted"
    assert check.untracked_prediction(torch.ones(4, 1), "a", b, x).status == "wrong"


# backward_twice


def twice_right(loss):
    loss.backward(retain_graph=True)
    loss.backward()


def twice_no_retain(loss):
    loss.backward()
    loss.backward()


def twice_but_zeroed(loss):
    loss.backward(retain_graph=True)
    for leaf in _leaves(loss):
        leaf.grad.zero_()
    loss.backward()


def _leaves(loss):
    out, todo = [], [loss.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is None:
            continue
        if hasattr(fn, "variable"):
            out.append(fn.variable)
        todo.extend(n for n, _ in fn.next_functions)
    return out


def test_twice_right():
    assert check.backward_twice(twice_right).passed


@pytest.mark.parametrize(
    ("fn", "mistake"),
    [
        (twice_no_retain, "no_retain_graph"),
        (twice_but_zeroed, "backward_once"),
        (lambda loss: loss.backward(), "backward_once"),
        (lambda loss: None, "no_backward"),
        (lambda loss: [loss.backward(retain_graph=True) for _ in range(3)], "other"),
        (lambda loss: 1 / 0, "raised"),
        (42, "not_callable"),
    ],
)
def test_twice_mistakes(fn, mistake):
    assert check.backward_twice(fn).mistake == mistake


def test_twice_placeholder():
    assert check.backward_twice(None).status == "not_attempted"
