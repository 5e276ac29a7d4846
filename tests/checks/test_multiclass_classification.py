"""Lesson 13's checks on answers written the way learners write them, not as the declared programs.

tests/checks/test_declarations.py already proves every declared mistake, guard and alternative.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from course.checks import multiclass_classification as check


@pytest.mark.parametrize(
    "answer, passed", [(2.3, True), (torch.tensor(math.log(10)), True), (np.float64(2.30), True), (2.0, False)]
)
def test_uniform_loss_accepts_a_rounded_prediction_and_nothing_far(answer, passed):
    assert check.uniform_loss(answer).passed is passed


def test_digits_loss_diagnoses_learner_variants():
    def softmax_module(logits, labels):
        return nn.CrossEntropyLoss()(nn.Softmax(dim=1)(logits), labels.to(torch.long))

    def item_and_float(logits, labels):
        return nn.functional.cross_entropy(logits, labels.long()).tolist()

    assert check.digits_loss(softmax_module).mistake == "softmax_before_cross_entropy"
    assert check.digits_loss(item_and_float).mistake == "not_backpropagatable"
    verdict = check.digits_loss(lambda logits, labels: nn.CrossEntropyLoss()(logits, labels))
    assert verdict.mistake == "wrong_dtype" and "labels.long()" in verdict.message


def test_accuracy_diagnoses_learner_variants():
    def count_over_batch(logits, targets):
        _, predicted = torch.max(logits, 1)
        return (predicted == targets).sum().item()

    def wrong_dim_divided(logits, targets):
        return (logits.argmax(0) == targets).sum().item() / len(targets)

    assert check.accuracy(count_over_batch).mistake == "count_not_share"
    assert check.accuracy(wrong_dim_divided).mistake == "argmax_wrong_dim"
    assert check.accuracy(lambda logits, targets: logits.argmax(1) == targets).mistake == "not_a_number"


def test_per_class_accuracy_accepts_lists_and_names_the_wrong_denominator():
    def loop(predictions, targets, num_classes):
        return [float((predictions[targets == k] == k).float().mean()) for k in range(num_classes)]

    def precision(predictions, targets, num_classes):
        return [float((targets[predictions == k] == k).float().mean()) for k in range(num_classes)]

    assert check.per_class_accuracy(loop).passed
    verdict = check.per_class_accuracy(precision)
    assert verdict.mistake == "wrong_total" and "precision" in verdict.message


def test_an_error_rate_is_not_taken_for_a_flattened_argmax():
    verdict = check.accuracy(lambda logits, targets: 1 - (logits.argmax(dim=1) == targets).float().mean().item())
    assert verdict.mistake == "other"


def test_numbers_of_the_probe_typed_in_do_not_pass():
    assert not check.accuracy(lambda logits, targets: 0.625).passed
    hard_batch = check.digits_loss(
        lambda logits, labels: nn.CrossEntropyLoss(reduction="sum")(logits, labels.long()) / 7
    )
    assert not hard_batch.passed
    four_classes = check.per_class_accuracy(
        lambda p, t, c: torch.stack([(p[t == k] == k).float().mean() for k in range(4)])
    )
    assert not four_classes.passed


def test_shares_computed_in_float16_are_right():
    assert check.accuracy(lambda logits, targets: (logits.argmax(1) == targets).half().mean()).passed
    assert check.per_class_accuracy(
        lambda p, t, c: torch.stack([(p[t == k] == k).half().mean() for k in range(c)])
    ).passed


def test_an_accuracy_of_zero_everywhere_is_not_blamed_on_max_values():
    for answer in (lambda logits, targets: (logits.argmin(1) == targets).float().mean(), lambda logits, targets: 0.0):
        verdict = check.accuracy(answer)
        assert not verdict.passed and verdict.mistake != "max_values_not_indices", verdict


def _rewrapped(logits, labels):  # "fixes" 'element 0 of tensors does not require grad' with a new leaf
    return torch.tensor(nn.functional.cross_entropy(logits, labels.long()).item(), requires_grad=True)


def _no_grad_then_requires_grad(logits, labels):
    with torch.no_grad():
        loss = nn.functional.cross_entropy(logits, labels.long())
    return loss.requires_grad_()


def _detached_logsumexp(logits, labels):  # the right value, but only the target's score gets a gradient
    picked = logits[torch.arange(len(labels)), labels.long()]
    return (torch.logsumexp(logits, dim=1).detach() - picked).mean()


@pytest.mark.parametrize("answer", [_rewrapped, _no_grad_then_requires_grad])
def test_digits_loss_needs_a_gradient_to_reach_the_logits(answer):
    verdict = check.digits_loss(answer)
    assert verdict.mistake == "not_backpropagatable" and "never reaches the logits" in verdict.message, verdict


def test_digits_loss_of_the_right_value_needs_cross_entropys_gradient():
    assert check.digits_loss(_detached_logsumexp).mistake == "partly_detached"


def _bincount_without_minlength(p, t, c):
    return torch.bincount(t[p == t]) / torch.bincount(t)


def _unique_counts(p, t, c):
    return torch.unique(t[p == t], return_counts=True)[1] / torch.unique(t, return_counts=True)[1]


def _classes_predicted(p, t, c):  # a class never predicted drops out
    return [(((p == k) & (t == k)).sum() / (t == k).sum()).item() for k in sorted(set(p.tolist()))]


@pytest.mark.parametrize("answer", [_bincount_without_minlength, _unique_counts, _classes_predicted])
def test_per_class_accuracy_needs_an_entry_for_a_class_never_predicted_right(answer):
    verdict = check.per_class_accuracy(answer)
    assert verdict.mistake == "class_dropped" and "never predicted right" in verdict.message, verdict


def test_the_per_class_probes_hold_a_last_class_never_predicted_and_keep_the_statements_promise():
    (p, t, c), (p2, t2, c2) = (args := check.per_class_accuracy.inputs())[:3], args[3:]
    assert check._correct_per_class(p, t, c)[-1] == 0  # the last class: no bincount without minlength fits
    assert int(p.max()) + 1 < c  # the last class never predicted: no count guessed from the predictions fits
    assert set(p2.tolist()) == set(range(c2))  # each predicted, so counting them is not one short on both probes
    assert set(t.tolist()) == set(range(c)) and set(t2.tolist()) == set(range(c2))  # "every class appears ..."


def _negated_in_place(logits, labels):  # log_softmax saves its output for backward(), and mul_ then changes it
    nll = torch.nn.functional.log_softmax(logits, dim=1)
    nll.mul_(-1)
    return nll.gather(1, labels.long().unsqueeze(1)).mean()


def test_review9_a_loss_whose_backward_fails_is_told_so():
    verdict = check.digits_loss(_negated_in_place)
    assert verdict.mistake == "backward_fails" and "out-of-place" in verdict.message, verdict


def test_a_wrong_accuracy_is_told_per_probe_input_not_as_a_list_of_the_checks():
    verdict = check.accuracy(lambda logits, labels: (logits.argmax(1) != labels).float().mean().item())  # error rate
    assert "got a list" not in verdict.message and "expected a list" not in verdict.message, verdict
    assert "on the check's first input" in verdict.message and "on its second" in verdict.message, verdict


@pytest.mark.parametrize("answer", [2.28, 2.31, 2.32, 2, torch.tensor(2.31)])
def test_uniform_loss_refuses_what_is_not_ln10_to_the_digits_given(answer):
    verdict = check.uniform_loss(answer)
    assert not verdict.passed, verdict


@pytest.mark.parametrize(
    "answer",
    [2.303, 2.3026, 2.30259, torch.log(torch.tensor(10.0)), -math.log(0.1), torch.tensor(2.3026), np.float32(2.303)],
)
def test_uniform_loss_accepts_ln10_rounded_or_computed_in_float32(answer):
    assert check.uniform_loss(answer).passed


@pytest.mark.parametrize("answer", [2.302, 2.3025, 2.30258, np.float32(2.302)])
def test_uniform_loss_accepts_ln10_truncated_to_the_digits_given(answer):
    assert check.uniform_loss(answer).passed, check.uniform_loss(answer)


def test_uniform_loss_tells_a_near_miss_it_is_close():
    verdict = check.uniform_loss(2.31)
    assert "2.3026" in verdict.message and "close" in verdict.message, verdict


def test_accuracy_names_a_column_of_predictions_broadcast_against_the_targets():
    for answer in (lambda logits, targets: (logits.argmax(dim=1, keepdim=True) == targets).float().mean().item(),
                   lambda logits, targets: (logits.argmax(dim=1) == targets.view(-1, 1)).float().mean()):  # fmt: skip
        verdict = check.accuracy(answer)
        assert verdict.mistake == "broadcast_pairs" and "keepdim" in verdict.message, verdict


def _shares(p, t, c):
    return torch.stack([(p[t == k] == k).float().mean() for k in range(c)])


def _confusion(p, t, c):
    return torch.zeros(c, c).index_put_((t, p), torch.ones(len(t)), accumulate=True)


@pytest.mark.parametrize(
    "answer, said",
    [
        (lambda p, t, c: _confusion(p, t, c).diag() / _confusion(p, t, c).sum(dim=1, keepdim=True), "broadcast"),
        (lambda p, t, c: _shares(p, t, c).mean(), "balanced accuracy"),
        (lambda p, t, c: _shares(p, t, c).reshape(-1, 1), "shape (4, 1)"),
        (lambda p, t, c: _shares(p, t, c + 1), "shape (5,)"),
    ],
    ids=["broadcast", "balanced", "column", "one_more"],
)
def test_per_class_accuracy_says_what_shape_came_back(answer, said):
    verdict = check.per_class_accuracy(answer)
    assert verdict.mistake == "wrong_shape" and said in verdict.message, verdict
    assert "(num_classes,)" in verdict.message and "bincount" not in verdict.message


def test_per_class_accuracy_says_a_numpy_column_is_an_array():
    column = lambda p, t, c: np.array([[(p[t == k] == k).float().mean().item()] for k in range(c)])  # noqa: E731
    verdict = check.per_class_accuracy(column)
    assert verdict.mistake == "wrong_shape" and "NumPy array of shape (4, 1)" in verdict.message, verdict
    assert "tensor" not in verdict.message.partition(".")[0], verdict


@pytest.mark.parametrize("typed, value", [(0.9, 1.0), (0.2, 0.3), (2.2, 2.3), (2.29, 2.3), (np.float32(0.9), 1.0)])
def test_a_digit_below_is_not_the_value_cut_to_the_digits_given(typed, value):
    # in floats 1.0 - 0.9 is 0.09999999999999998, under 0.1; in decimal it is a whole digit: 0.9 is no cut of 1.0
    assert not check._digits_right(typed, value)


@pytest.mark.parametrize("typed, value", [(2.3, 2.38), (0.9, 0.99), (1.29, 1.299), (-2.302, -math.log(10))])
def test_a_value_cut_to_the_digits_given_is_still_taken_for_it(typed, value):
    assert check._digits_right(typed, value)


def test_uniform_loss_of_0_9_is_not_told_it_used_log_base_10():
    verdict = check.uniform_loss(0.9)  # 1 - 1/10, the chance of being wrong: log10(10) is 1.0, not 0.9
    assert verdict.mistake == "other" and "base 10" not in verdict.message, verdict
    assert "10 equal logits" in verdict.message, verdict


def test_uniform_loss_still_names_log_base_10_and_a_negative_cut_loss():
    assert check.uniform_loss(1.0).mistake == "log_base_10"
    assert check.uniform_loss(0.1).mistake == "probability_not_loss"
    assert check.uniform_loss(-2.302).mistake == "wrong_sign"  # -ln(10) cut to three decimals, toward zero


def _one_element_losses(logits, labels):  # cross-entropy by hand, each row's term kept as a column (N, 1)
    return -(nn.functional.one_hot(labels.long(), 10) * logits.log_softmax(dim=1)).sum(dim=1, keepdim=True)


@pytest.mark.parametrize(
    "answer",
    [
        lambda logits, labels: _one_element_losses(logits, labels).mean(dim=0),  # shape (1,)
        lambda logits, labels: _one_element_losses(logits, labels).mean(dim=0, keepdim=True),  # shape (1, 1)
        lambda logits, labels: nn.functional.cross_entropy(logits, labels.long()).reshape(1),
    ],
    ids=["mean_dim0", "keepdim", "reshape"],
)
def test_digits_loss_accepts_a_right_loss_of_one_element_in_any_shape(answer):
    # the statement asks for "a tensor that backward() can use": backward() runs from any one-element tensor
    assert check.digits_loss(answer).passed, check.digits_loss(answer)


def test_digits_loss_of_one_element_is_still_judged_on_its_value_and_gradient():
    summed = check.digits_loss(lambda logits, labels: _one_element_losses(logits, labels).sum(dim=0))
    assert summed.mistake == "sum_not_mean", summed
    per_sample = check.digits_loss(lambda logits, labels: _one_element_losses(logits, labels).squeeze(1))
    assert not per_sample.passed, per_sample  # N losses, not one
    detached = check.digits_loss(lambda logits, labels: _detached_logsumexp(logits, labels).reshape(1))
    assert detached.mistake == "partly_detached", detached


def _one_short(p, t, c):  # the loop stops one class short
    return torch.stack([(p[t == k] == k).float().mean() for k in range(c - 1)])


def _one_short_list(predictions, targets, num_classes):
    shares = []
    for k in range(num_classes - 1):
        shares.append(((predictions == k) & (targets == k)).sum().item() / (targets == k).sum().item())
    return shares


@pytest.mark.parametrize("answer", [_one_short, _one_short_list])
def test_per_class_accuracy_names_a_loop_that_stops_one_class_short(answer):
    verdict = check.per_class_accuracy(answer)
    assert verdict.mistake == "class_dropped", verdict
    assert "range(num_classes)" in verdict.message and "last class" in verdict.message, verdict
    assert "bincount" not in verdict.message and "never predicted right" not in verdict.message, verdict


def test_per_class_accuracy_with_the_first_class_missing_is_not_called_one_short():
    verdict = check.per_class_accuracy(lambda p, t, c: _shares(p, t, c)[1:])
    assert verdict.mistake == "class_dropped" and "last class" not in verdict.message, verdict


def _sized_by_largest_prediction(predictions, targets, num_classes):  # the class count guessed from the data
    return torch.stack([(predictions[targets == k] == k).float().mean() for k in range(int(predictions.max()) + 1)])


def _bincount_sized_by_largest_prediction(p, t, c):
    return torch.bincount(p[p == t], minlength=int(p.max()) + 1) / torch.bincount(t, minlength=int(p.max()) + 1)


def _sized_by_classes_predicted(p, t, c):
    return torch.stack([(p[t == k] == k).float().mean() for k in range(len(torch.unique(p)))])


def _sized_by_bincount_of_predictions(p, t, c):
    return torch.stack([(p[t == k] == k).float().mean() for k in range(len(torch.bincount(p)))])


@pytest.mark.parametrize(
    "answer",
    [
        _sized_by_largest_prediction,
        _bincount_sized_by_largest_prediction,
        _sized_by_classes_predicted,
        _sized_by_bincount_of_predictions,
    ],
    ids=["max_loop", "max_bincount", "unique_loop", "bincount_loop"],
)
def test_per_class_accuracy_refuses_a_class_count_guessed_from_the_predictions(answer):
    verdict = check.per_class_accuracy(answer)
    assert verdict.mistake == "class_dropped", verdict
    assert "size the result by num_classes" in verdict.message and "never predicted" in verdict.message, verdict
    assert "range(num_classes - 1)" not in verdict.message, verdict  # not taken for a loop stopping one short


def _precision_zero_by_sklearn(p, t, c):
    from sklearn.metrics import precision_score

    return precision_score(t, p, average=None, labels=range(c), zero_division=0)


def _precision_zero_by_nan_to_num(p, t, c):
    correct = torch.bincount(t[p == t], minlength=c)
    return torch.nan_to_num(correct / torch.bincount(p, minlength=c))


@pytest.mark.parametrize("answer", [_precision_zero_by_sklearn, _precision_zero_by_nan_to_num])
def test_per_class_precision_with_0_for_a_class_never_predicted_is_named_precision(answer):
    verdict = check.per_class_accuracy(answer)
    assert verdict.mistake == "wrong_total" and "precision" in verdict.message, verdict


@pytest.mark.parametrize(
    "answer",
    [
        lambda p, t, c: torch.stack([(p[t == k] == k).float().mean() for k in range(1, c)]),  # starts at class 1
        lambda p, t, c: (torch.bincount(t[p == t], minlength=c) / torch.bincount(t, minlength=c))[1:],
    ],
    ids=["loop from 1", "first share cut"],
)
def test_a_result_without_the_first_class_is_not_told_about_the_last_class(answer):
    verdict = check.per_class_accuracy(answer)
    assert verdict.mistake == "class_dropped" and "3 shares for 4 classes" in verdict.message, verdict
    assert "Class 3" not in verdict.message and "max() + 1" not in verdict.message, verdict


def test_fix13_per_class_counts_are_told_to_divide_by_each_class_size_not_all_samples():
    verdict = check.per_class_accuracy(lambda p, t, c: torch.bincount(t[p == t], minlength=c))
    assert verdict.mistake == "count_not_share" and "of that class" in verdict.message, verdict
    assert "divide by the number of samples to get" not in verdict.message, verdict
    counted = check.accuracy(lambda logits, targets: (logits.argmax(dim=1) == targets).sum())
    assert counted.mistake == "count_not_share" and "divide by the number of samples" in counted.message, counted


def test_fix13_a_loss_from_logits_data_names_data_as_what_cut_it_off():
    verdict = check.digits_loss(lambda logits, labels: nn.functional.cross_entropy(logits.data, labels.long()))
    assert verdict.mistake == "not_backpropagatable" and ".data" in verdict.message, verdict


@pytest.mark.parametrize("rows", [slice(None, 10), slice(-10, None)], ids=["first 10", "last 10"])
def test_an_accuracy_of_ten_rows_only_fails(rows):
    verdict = check.accuracy(lambda logits, targets: (logits[rows].argmax(1) == targets[rows]).float().mean().item())
    assert not verdict.passed and "0.65 on its third" in verdict.message, verdict


_F = nn.functional


@pytest.mark.parametrize("loss, mistake, named", [  # learn4: realistic losses that only got "expected ..., got ..."
    (lambda logits, labels: _F.nll_loss(logits, labels.long()), "missing_logsumexp", "log_softmax"),
    (lambda logits, labels: _F.nll_loss(logits.softmax(dim=1), labels.long()), "missing_logsumexp", "log_softmax"),
    (lambda logits, labels: _F.cross_entropy(logits, labels.long(), reduction="none"), "no_mean", "one loss per sample"),
    (lambda logits, labels: -(_F.one_hot(labels.long(), 10) * logits.log_softmax(1)).mean(), "wrong_total", "dim=1")])  # fmt: skip
def test_learn4_a_loss_through_nll_loss_unreduced_or_averaged_over_the_classes_is_named(loss, mistake, named):
    verdict = check.digits_loss(loss)
    assert verdict.mistake == mistake and named in verdict.message, verdict
