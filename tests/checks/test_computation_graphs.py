"""Lesson 04's checks on answers a learner writes, beyond the declarations' generated tests."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from course.checks import computation_graphs as check
from course.checks.values import describe


@pytest.mark.parametrize("answer", [["weight", "bias"], ("bias ", "weight"), frozenset({"weight", "bias"})])
def test_parameter_boxes_accepts_any_collection_of_names(answer):
    assert check.parameter_boxes(answer).passed


def test_parameter_boxes_names_the_frozen_tensor_first():
    verdict = check.parameter_boxes({"weight", "bias", "scale", "inputs"})
    assert verdict.mistake == "frozen_counted" and "scale" in verdict.message


def count_recursively(tensor):
    seen = set()

    def visit(node):
        if node is not None and node not in seen:
            seen.add(node)
            for next_node, _ in node.next_functions:
                visit(next_node)

    visit(tensor.grad_fn)
    return len(seen)


def test_count_nodes_accepts_a_recursive_walk_and_names_the_numbers():
    assert check.count_nodes(count_recursively).passed
    verdict = check.count_nodes(lambda tensor: 3)
    assert verdict.mistake == "other" and "[3, 3, 3, 3]" in verdict.message


@pytest.mark.parametrize(
    "answer",
    [
        lambda a, b, x: torch.inference_mode()(lambda: a + b * x)(),
        lambda a, b, x: a.detach() + b.detach() * x,
    ],
    ids=["inference_mode", "detached_parameters"],
)
def test_untracked_prediction_accepts_other_right_forms(answer):
    assert check.untracked_prediction(answer).passed


def _carried(a, x, y, steps, lr=0.1, carry="detach", zero="after", form=list):
    state, losses = torch.zeros_like(y), []
    for _ in range(steps):
        if zero == "first":
            a.grad.zero_()
        kept = {"detach": state.detach(), "data": state.data}.get(carry, state)  # .data: discouraged, right here
        state = 0.5 * kept + (a.detach() if carry == "detach a" else a) * x
        loss = ((state - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            a -= lr * a.grad
        a.grad = None
        losses.append(loss.item())
    return form(losses)


train_with_data = partial(_carried, carry="data")  # the value without the graph


def test_smoothed_training_accepts_data_and_diagnoses_the_buggy_loop():
    assert check.smoothed_training(train_with_data).passed
    verdict = check.smoothed_training(partial(check._smoothed, carry="keep the bug"))
    assert verdict.mistake == "loss_outside_loop" and "state.detach()" in verdict.message


def test_untracked_prediction_names_what_came_instead_of_a_tensor():
    verdict = check.untracked_prediction(lambda a, b, x: str((a + b * x).tolist()))
    assert verdict.mistake == "not_a_tensor" and "'[[0.81" in verdict.message, verdict


@pytest.mark.parametrize("form", [lambda t: t.numpy(), lambda t: t.tolist()])
def test_review9_plain_numbers_to_plot_may_come_as_an_array_or_a_list(form):
    # the statement asks for "plain numbers" to plot: with no grad_fn, a NumPy array is them too
    assert check.untracked_prediction(lambda a, b, x: form((a + b * x).detach())).passed


@pytest.mark.parametrize(
    "form",
    [
        lambda t: tuple(t.flatten().tolist()),  # a flat tuple of floats
        lambda t: tuple(t.tolist()),  # a tuple of one-number lists
        lambda t: list(t.flatten()),  # one 0-d tensor per x
        lambda t: list(t),  # one (1,) tensor per x
        lambda t: tuple(t.flatten()),
    ],
)
def test_review11_plain_numbers_may_come_as_a_tuple_or_one_tensor_per_x(form):
    assert check.untracked_prediction(lambda a, b, x: form((a + b * x).detach())).passed


def test_review11_one_tracked_tensor_per_x_is_still_tracked():
    verdict = check.untracked_prediction(lambda a, b, x: list((a + b * x).flatten()))
    assert verdict.mistake == "still_tracked", verdict


@pytest.mark.parametrize("frozen", ["a", "b"])
def test_review9_freezing_either_parameter_is_named(frozen):
    def plot_values(a, b, x):
        {"a": a, "b": b}[frozen].requires_grad_(False)
        return (a + b * x).detach()

    def detached_in_place(a, b, x):
        {"a": a, "b": b}[frozen].detach_()
        return a + b * x

    for answer in (plot_values, detached_in_place):
        assert check.untracked_prediction(answer).mistake == "froze_parameters"


@pytest.mark.parametrize("form", [float, torch.tensor, lambda n: torch.tensor(float(n)), np.float64])
def test_review9_a_whole_count_in_another_number_type_is_a_count(form):
    assert check.count_nodes(lambda tensor: form(count_recursively(tensor))).passed
    verdict = check.count_nodes(lambda tensor: form(count_recursively(tensor)) + 0.5)
    assert verdict.mistake == "not_a_number", verdict


@pytest.mark.parametrize("answer, named", [({"w", "b"}, "'b', 'w' are not"), ({"weight", "bias", "x"}, "'x' is not")])
def test_review_unknown_names_are_named_not_called_a_missing_parameter(answer, named):
    verdict = check.parameter_boxes(answer)
    assert verdict.mistake == "other" and named in verdict.message


def test_review_a_set_of_nodes_holding_none_counts_data():
    def none_in_set(tensor):
        seen, todo = set(), [tensor.grad_fn]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)  # None included: the slip
                todo.extend(next_node for next_node, _ in getattr(node, "next_functions", ()))
        return len(seen)

    assert check.count_nodes(none_in_set).mistake == "counted_data"


def test_review_a_summed_loss_shows_its_losses_when_a_ends_the_same():
    def summed(a, x, y, steps, lr=0.1):
        return _logged(a, x, y, steps, lr, reduce=torch.sum)

    first = summed(*check.smoothed_training.inputs()[:5])[0]  # the answer's own first loss, about 5 times the mean's
    assert f"losses a list ({first:.4g}" in check.smoothed_training(summed).message


def test_review2_other_right_forms_of_names_and_counts():
    assert check.parameter_boxes({"weight": 1, "bias": 2}.keys()).passed
    assert check.count_nodes(lambda tensor: np.int64(count_recursively(tensor))).passed


def _smoothed(a, x, y, steps, lr=0.1, fixed_steps=None, fixed_lr=None):
    state, losses = torch.zeros_like(y), []
    for _ in range(fixed_steps or steps):
        state = 0.5 * state.detach() + a * x
        loss = ((state - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            a -= (fixed_lr or lr) * a.grad
        a.grad = None
        losses.append(loss.item())
    return np.array(losses)  # an array of losses is a right form too


@pytest.mark.parametrize("fixed, passes", [({}, True), ({"fixed_steps": 4}, False), ({"fixed_lr": 0.1}, False)])
def test_review2_the_smoothed_loop_uses_its_steps_and_lr(fixed, passes):
    assert check.smoothed_training(partial(_smoothed, **fixed)).passed == passes


@pytest.mark.parametrize("form", [torch.tensor, np.array, tuple])
def test_review3_the_losses_may_come_as_a_tensor_an_array_or_a_tuple(form):
    assert check.smoothed_training(partial(_carried, form=form)).passed


@pytest.mark.parametrize(
    "options, mistake, named",
    [
        ({"carry": "keep"}, "loss_outside_loop", "state"),
        ({"carry": "detach a"}, "detached_too_much", "a.detach()"),
        ({"zero": "first"}, "zeroed_before_backward", "None"),
    ],
)
def test_review3_the_buggy_loop_a_detached_parameter_and_zeroing_first_are_named(options, mistake, named):
    verdict = check.smoothed_training(partial(_carried, **options))
    assert verdict.mistake == mistake and named in verdict.message, verdict


def _count_leaves_once(tensor):
    """Counts a leaf once but an inner node once per path reaching it: right on a tree-shaped graph only."""
    count, leaves, todo = 0, set(), [tensor.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or (type(node).__name__ == "AccumulateGrad" and node.variable in leaves):
            continue
        leaves.update([node.variable] if type(node).__name__ == "AccumulateGrad" else [])
        count += 1
        todo.extend(parent for parent, _ in node.next_functions)
    return count


def test_review5_an_inner_node_reached_by_two_paths_counts_once():
    verdict = check.count_nodes(_count_leaves_once)
    assert not verdict.passed and verdict.message.endswith("count each node once."), verdict


@pytest.mark.parametrize("decimals", [1, 2, 3])
def test_review8_rounded_values_are_not_the_prediction(decimals):
    verdict = check.untracked_prediction(lambda a, b, x: (a + b * x).detach().round(decimals=decimals))
    assert not verdict.passed and verdict.mistake in ("rounded", "other"), verdict


@pytest.mark.parametrize(
    "answer",
    [
        lambda a, b, x: torch.tensor((a + b * x).tolist(), requires_grad=True),
        lambda a, b, x: (a + b * x).detach().requires_grad_(),
    ],
    ids=["new_tensor", "requires_grad_"],
)
def test_fix_a_new_leaf_that_asks_for_gradients_is_not_said_to_have_a_grad_fn(answer):
    out = answer(*check.untracked_prediction.inputs())
    assert out.grad_fn is None and out.requires_grad  # what the answer gives: a leaf, no graph behind it
    verdict = check.untracked_prediction(answer)
    assert verdict.mistake == "new_leaf_requires_grad", verdict
    assert "still has a grad_fn" not in verdict.message and ".numpy()" in verdict.message, verdict


@pytest.mark.parametrize("decimals", [1, 2, 3, 4, 5, 6])
def test_fix_a_prediction_rounded_to_any_decimals_is_named(decimals):
    for answer in (
        lambda a, b, x: (a + b * x).detach().round(decimals=decimals),
        lambda a, b, x: np.round((a + b * x).detach().numpy(), decimals),
        lambda a, b, x: [[round(v, decimals) for v in row] for row in (a + b * x).tolist()],
    ):
        verdict = check.untracked_prediction(answer)
        assert verdict.mistake == "rounded" and f"{decimals} decimal" in verdict.message, verdict


def _logged(a, x, y, steps, lr=0.1, log=lambda loss: loss.item(), reduce=torch.mean):
    state, losses = torch.zeros_like(y), []
    for _ in range(steps):
        state = 0.5 * state.detach() + a * x
        loss = reduce((state - y) ** 2)
        loss.backward()
        with torch.no_grad():
            a -= lr * a.grad
        a.grad = None
        losses.append(log(loss))
    return losses


@pytest.mark.parametrize("decimals", [1, 2, 3, 4, 5, 6])
def test_fix_losses_rounded_to_any_decimals_are_named(decimals):
    for log in (lambda loss: round(loss.item(), decimals), lambda loss: loss.round(decimals=decimals).item()):
        verdict = check.smoothed_training(partial(_logged, log=log))
        assert verdict.mistake == "rounded" and f"{decimals} decimal" in verdict.message, verdict


@pytest.mark.parametrize(
    "answer",
    [
        lambda a, b, x: (a.double() + b.double() * x.double()).detach(),
        lambda a, b, x: (b * x + a).detach(),
        lambda a, b, x: torch.addcmul(a, b, x).detach(),
        lambda a, b, x: a.item() + b.item() * x.numpy().astype(np.float64),
    ],
    ids=["float64", "reordered", "addcmul", "numpy_float64"],
)
def test_fix_right_predictions_in_other_precisions_are_not_called_rounded(answer):
    assert check.untracked_prediction(answer).passed


def test_fix_right_losses_in_double_precision_are_not_called_rounded():
    def in_float64(a, x, y, steps, lr=0.1):
        weight = a.detach().double().requires_grad_()
        losses = _logged(weight, x.double(), y.double(), steps, lr)
        with torch.no_grad():
            a.copy_(weight)
        return losses

    assert check.smoothed_training(in_float64).passed


def test_fix_a_near_miss_shows_the_digits_where_it_differs():
    def off_in_the_fifth_digit(a, x, y, steps, lr=0.1):
        losses = _logged(a, x, y, steps, lr)
        return [*losses[:2], losses[2] + 3.5e-5, *losses[3:]] if steps == 4 else losses  # beyond close(), not shown

    args = check.smoothed_training.inputs()[:5]
    assert describe(off_in_the_fifth_digit(*args)) == describe(_logged(*check.smoothed_training.inputs()[:5]))
    verdict = check.smoothed_training(off_in_the_fifth_digit)
    got, expected = verdict.message.split(" losses ")[1].split("; expected ")
    assert verdict.mistake == "other" and got != expected.split(", ", 1)[1].removesuffix(
        ". Change only how state is carried."
    ), verdict

    def off_in_one_value(a, b, x):
        values = (a + b * x).detach()
        values[3] += 3e-5
        return values

    right = (lambda a, b, x: (a + b * x).detach())(*check.untracked_prediction.inputs())
    assert describe(off_in_one_value(*check.untracked_prediction.inputs())) == describe(right)
    verdict = check.untracked_prediction(off_in_one_value)
    expected, got = verdict.message.removeprefix("expected ").split(", the values of a + b * x")[0], verdict.message
    assert verdict.mistake == "other" and expected not in got.split("; got ")[1], verdict


@pytest.mark.parametrize(
    "answer",
    [
        lambda a, b, x: [(a + b * xi).item() for xi in x],
        lambda a, b, x: np.array([(a + b * xi).item() for xi in x]),
        lambda a, b, x: (a + b * x).detach().squeeze(),
        lambda a, b, x: (a + b * x).detach().flatten().tolist(),
        lambda a, b, x: (a + b * x).detach().view(-1).numpy(),
    ],
    ids=["list_of_items", "array_of_items", "squeeze", "flat_list", "flat_array"],
)
def test_review10_flat_values_plot_the_same_and_pass(answer):
    assert check.untracked_prediction(answer).passed


@pytest.mark.parametrize(
    "answer, named",
    [
        (lambda a, b, x: [(b + a * xi).item() for xi in x], "a list"),
        (lambda a, b, x: np.array([(b + a * xi).item() for xi in x]), "a float64 NumPy array of shape (4,)"),
    ],
    ids=["list", "array"],
)
def test_review10_wrong_values_are_described_as_the_learner_gave_them(answer, named):
    verdict = check.untracked_prediction(answer)
    assert verdict.mistake == "other" and f"got {named}" in verdict.message, verdict
    assert "tensor of shape (4,)" not in verdict.message, verdict


def test_review10_a_row_of_values_is_still_the_wrong_shape():
    assert not check.untracked_prediction(lambda a, b, x: (a + b * x).detach().T).passed


@pytest.mark.parametrize(
    "answer, named",
    [({"Weight", "Bias"}, ["case-sensitive", "'weight'", "'bias'"]), ({"weight", "Bias"}, ["'bias', not 'Bias'"])],
)
def test_review10_names_in_another_case_are_told_names_are_case_sensitive(answer, named):
    verdict = check.parameter_boxes(answer)
    assert not verdict.passed and all(word in verdict.message for word in named), verdict


def test_review10_one_unknown_name_is_told_in_the_singular():
    verdict = check.parameter_boxes({"weight", "bias", "x"})
    assert "'x' is not a variable of the exercise" in verdict.message, verdict
    verdict = check.parameter_boxes({"w", "b"})
    assert "'b', 'w' are not variables of the exercise" in verdict.message, verdict


def test_review11_one_new_leaf_per_x_is_told_it_is_a_new_leaf_not_that_it_has_a_grad_fn():
    for answer in (
        lambda a, b, x: [(a + b * xi).detach().requires_grad_() for xi in x],
        lambda a, b, x: [torch.tensor((a + b * xi).item(), requires_grad=True) for xi in x],
    ):
        verdict = check.untracked_prediction(answer)
        assert verdict.mistake == "new_leaf_requires_grad", verdict


@pytest.mark.parametrize(
    "log", [lambda loss: loss, lambda loss: loss.reshape(1), lambda loss: [loss]], ids=["tensor", "1d", "nested"]
)
def test_fix2_losses_kept_with_their_graphs_are_named(log):
    verdict = check.smoothed_training(partial(_logged, log=log))
    assert verdict.mistake == "returns_tensor" and "loss.item()" in verdict.message, verdict
    assert "graph" in verdict.message and "memory" in verdict.message, verdict


def test_fix2_losses_stacked_into_one_tensor_with_its_graph_are_named():
    def stacked(a, x, y, steps, lr=0.1):
        return torch.stack(_logged(a, x, y, steps, lr, log=lambda loss: loss))

    assert check.smoothed_training(stacked).mistake == "returns_tensor"


@pytest.mark.parametrize(
    "log", [lambda loss: loss.detach(), lambda loss: loss.detach().clone()], ids=["detach", "clone"]
)
def test_fix2_detached_losses_hold_no_graph_and_pass(log):  # values only, as a tensor of losses does
    assert check.smoothed_training(partial(_logged, log=log)).passed


def smoothed_without_emptying_grad(a, x, y, steps, lr=0.1):
    """alt5: the state detached right, but a.grad = None dropped from the template: the gradients pile up."""
    state, losses = torch.zeros_like(y), []
    for _ in range(steps):
        state = 0.5 * state.detach() + a * x
        loss = ((state - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            a -= lr * a.grad
        losses.append(loss.item())
    return losses


def test_alt5_a_grad_never_emptied_is_named_not_the_state():
    verdict = check.smoothed_training(smoothed_without_emptying_grad)
    assert verdict.mistake == "no_zero_grad" and "a.grad = None" in verdict.message, verdict
    assert "how state is carried" not in verdict.message, verdict
