"""Lesson 11's checks on answers a learner writes, beyond the declarations' generated tests."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import sklearn.metrics
import torch
from sklearn.metrics import r2_score

from course.checks import evaluation as check


def colleague(model, loss_fn, loader):
    """The buggy function of exercise 1: no eval, no no_grad, the mean of the batch means."""
    losses = []
    for x, y in loader:
        losses.append(loss_fn(model(x), y).item())
    return sum(losses) / len(losses)


def validation(eval_mode=True, no_grad=True, weighted=True):
    def validation_loss(model, loss_fn, loader):
        if eval_mode:
            model.eval()
        total, count, losses = 0.0, 0, []
        with torch.set_grad_enabled(not no_grad):
            for x, y in loader:
                losses.append(loss_fn(model(x), y).item())
                total, count = total + losses[-1] * len(x), count + len(x)
        return total / count if weighted else sum(losses) / len(losses)

    return validation_loss


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (colleague, "no_eval"),
        (validation(no_grad=False, weighted=False), "no_grad"),
        (validation(weighted=False), "mean_of_batch_means"),
    ],
)
def test_the_colleagues_bugs_are_found_one_at_a_time(answer, mistake):
    assert check.validation_loss(answer).mistake == mistake


def test_the_sample_weighted_mean_passes_and_the_mean_of_batch_means_is_explained():
    assert check.validation_loss(validation()).passed
    assert "twice as much" in check.validation_loss(validation(weighted=False)).message


def test_a_validation_loss_as_text_is_not_a_number():
    verdict = check.validation_loss(lambda model, loss_fn, loader: str(validation()(model, loss_fn, loader)))
    assert verdict.mistake == "not_a_number" and "one number" in verdict.message, verdict


def test_r_squared_accepts_a_float_or_a_tensor():
    def r2(y_true, y_pred):
        return 1 - ((y_true - y_pred) ** 2).sum() / ((y_true - y_true.mean()) ** 2).sum()

    assert check.r_squared(r2).passed
    assert check.r_squared(lambda t, p: r2(t, p).item()).passed


def test_standardize_accepts_the_population_std_and_names_leakage():
    def scaled(stats_of_all=False, unbiased=True):
        def standardize(x_train, x_val):
            stats = torch.cat([x_train, x_val]) if stats_of_all else x_train
            mean, std = stats.mean(0), stats.std(0, unbiased=unbiased)
            return (x_train - mean) / std, (x_val - mean) / std

        return standardize

    assert check.standardize(scaled(unbiased=False)).passed
    assert check.standardize(scaled(stats_of_all=True, unbiased=False)).mistake == "leakage"


@pytest.mark.parametrize(
    "answer, mistake",
    [
        ((6, 3), None),
        ([6, 3], None),
        (np.array([6, 3]), None),
        ((3, 6), "swapped_pair"),
        ("6, 3", "not_a_pair"),
        (("6", "3"), "not_a_number"),
        ((6, None), "not_a_number"),
        ((6, 3, 1), "not_a_pair"),
        ((12, 12), "training_data"),
        ((12, 7), "no_early_stop"),
        ((10, 7), "tie_is_improvement"),
    ],
)
def test_early_stopping_predictions(answer, mistake):
    assert check.early_stopping(answer).mistake == mistake


def test_validation_loss_uses_the_loss_fn_it_is_given():
    def hard_coded_mse(model, loss_fn, loader):
        model.eval()
        with torch.no_grad():
            total = sum(((model(x) - y) ** 2).sum().item() for x, y in loader)
        return total / len(loader.dataset)

    assert check.validation_loss(hard_coded_mse).mistake == "other"


def test_standardize_population_std_mistakes_and_numpy_answers():
    def own_population(train, val):  # StandardScaler fitted on each part: ddof 0
        return tuple((part - part.mean(0)) / part.std(0, unbiased=False) for part in (train, val))

    def scaler_arrays(train, val):  # StandardScaler().fit(train).transform returns arrays
        mean, std = train.numpy().mean(0), train.numpy().std(0)
        return (train.numpy() - mean) / std, (val.numpy() - mean) / std

    assert check.standardize(own_population).mistake == "own_statistics"
    assert check.standardize(lambda t, v: (t / t.std(0), v / t.std(0))).mistake == "other"
    assert check.standardize(scaler_arrays).passed
    assert not check.standardize(lambda t, v: tuple((p - t.mean(0)) / t.std(0) * 1.03 for p in (t, v))).passed


def test_validation_loss_counts_the_samples_of_the_loader_it_is_given():
    def ten_samples(model, loss_fn, loader):  # the check's loader holds 10
        model.eval()
        with torch.no_grad():
            return sum(loss_fn(model(x), y).item() * len(x) for x, y in loader) / 10

    assert not check.validation_loss(ten_samples).passed


def test_validation_loss_must_leave_the_parameters_trainable():
    def freezes(model, loss_fn, loader):
        model.eval()
        model.requires_grad_(False)  # no graph, but no more training either
        return sum(loss_fn(model(x), y).item() * len(x) for x, y in loader) / len(loader.dataset)

    assert check.validation_loss(freezes).mistake == "froze_parameters"


def test_validation_loss_names_model_forward():
    def calls_forward(model, loss_fn, loader):
        model.eval()
        with torch.no_grad():
            return sum(loss_fn(model.forward(x), y).item() * len(x) for x, y in loader) / len(loader.dataset)

    assert check.validation_loss(calls_forward).mistake == "called_forward"


@pytest.mark.parametrize(
    "answer",
    [
        lambda y_true, y_pred: r2_score(y_true.numpy(), y_pred.numpy()),
        lambda y_true, y_pred: float(sklearn.metrics.r2_score(y_true, y_pred)),
    ],
)
def test_r_squared_from_scikit_learn_is_told_so(answer):
    verdict = check.r_squared(answer)
    assert verdict.mistake == "used_library" and "r2_score" in verdict.message, verdict


def test_r_squared_typed_in_from_a_message_does_not_pass():
    shown = check.r_squared.reference(*check.r_squared.inputs()[:2]).item()  # the number the success message shows
    verdict = check.r_squared(lambda y_true, y_pred: shown)
    assert not verdict.passed and "another pair" in verdict.message, verdict


def test_validation_loss_judges_eval_mode_by_the_dropout_layer():
    def dropout_off(model, loss_fn, loader):  # only the Dropout layers in eval mode: Dropout is not active
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.eval()
        with torch.no_grad():
            return sum(loss_fn(model(x), y).item() * len(x) for x, y in loader) / len(loader.dataset)

    def dropout_on(model, loss_fn, loader):  # model.eval(), then the Dropout layers back in training mode
        model.eval()
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.train()
        with torch.no_grad():
            return sum(loss_fn(model(x), y).item() * len(x) for x, y in loader) / len(loader.dataset)

    assert check.validation_loss(dropout_off).passed
    assert check.validation_loss(dropout_on).mistake == "no_eval"


def evaluates_a_copy(eval_mode=True):
    def validation_loss(model, loss_fn, loader):  # the caller's model keeps its mode
        evaluated, total = copy.deepcopy(model).train(not eval_mode), 0.0
        with torch.no_grad():
            for x, y in loader:
                total += loss_fn(evaluated(x), y).item() * len(x)
        return total / len(loader.dataset)

    return validation_loss


def sums(restore):
    def validation_loss(model, loss_fn, loader):
        model.eval()
        reduction, loss_fn.reduction, total = loss_fn.reduction, "sum", 0.0
        with torch.no_grad():
            total = sum(loss_fn(model(x), y).item() for x, y in loader)
        if restore:
            loss_fn.reduction = reduction
        return total / len(loader.dataset)

    return validation_loss


def test_review4_the_mode_of_a_copy_counts():
    assert check.validation_loss(evaluates_a_copy()).passed
    assert check.validation_loss(evaluates_a_copy(eval_mode=False)).mistake == "no_eval"


def test_review4_the_loss_function_must_be_left_as_it_came():
    assert check.validation_loss(sums(restore=True)).passed
    verdict = check.validation_loss(sums(restore=False))
    assert verdict.mistake == "mutated_input" and "loss_fn.reduction = 'sum' (it was 'mean')" in verdict.message, (
        verdict
    )


def test_review6_r_squared_through_scikit_learns_mean_squared_error_is_told_so():
    from sklearn.metrics import mean_squared_error

    verdict = check.r_squared(lambda t, p: 1 - mean_squared_error(t.numpy(), p.numpy()) / t.numpy().var())
    assert verdict.mistake == "used_library" and "mean_squared_error" in verdict.message, verdict


@pytest.mark.parametrize("answer", [
    lambda y_true, y_pred: (1 - (y_true - y_pred).var() / y_true.var()).item(),
    lambda y_true, y_pred: 1 - np.var(y_true.numpy() - y_pred.numpy()) / np.var(y_true.numpy()),
    lambda y_true, y_pred: sklearn.metrics.explained_variance_score(y_true, y_pred)])  # fmt: skip
def test_r_squared_from_the_variance_of_the_residuals_is_told_why_on_every_probe(answer):
    for y_true, y_pred in (check.r_squared.inputs()[:2], check.r_squared.inputs()[2:]):
        assert (y_true - y_pred).mean().abs() > 0.1  # centring the residuals changes R² on each probe
    verdict = check.r_squared(answer)
    assert verdict.mistake == "residual_variance" and "residuals" in verdict.message, verdict


@pytest.mark.parametrize("eps_form", [lambda t: t.std(0) + 1e-5, lambda t: torch.sqrt(t.var(0, unbiased=False) + 1e-5),
                                      lambda t: torch.sqrt(t.var(0) + 1e-8)])  # fmt: skip
def test_standardize_accepts_an_epsilon_against_a_zero_spread_in_either_form(eps_form):
    assert check.standardize(lambda t, v: tuple((p - t.mean(0)) / eps_form(t) for p in (t, v))).passed


@pytest.mark.parametrize(
    ("answer", "told"),
    [(lambda t, p: [0.5], "got a list (0.5)."), (lambda t, p: "0.5", "got '0.5'.")],
)
def test_r_squared_tells_what_the_function_returned_not_the_checks_list_of_probes(answer, told):
    verdict = check.r_squared(answer)
    assert verdict.mistake == "not_a_number" and verdict.message.endswith(told), verdict


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        (lambda t, p: sklearn.metrics.d2_tweedie_score(t.numpy(), p.numpy(), power=0), "d2_tweedie_score"),
        (lambda t, p: 1 - sklearn.metrics.mean_tweedie_deviance(t.numpy(), p.numpy()) / t.numpy().var(),
         "mean_tweedie_deviance"),
        (lambda t, p: 1 - sklearn.metrics.root_mean_squared_error(t.numpy(), p.numpy()) ** 2 / t.numpy().var(),
         "root_mean_squared_error"),
    ],
)  # fmt: skip
def test_fix_r_squared_through_any_scikit_learn_function_that_computes_it_is_told_so(answer, named):
    y_true, y_pred = check.r_squared.inputs()[:2]
    assert abs(answer(y_true, y_pred) - check.r_squared.reference(y_true, y_pred).item()) < 1e-5
    verdict = check.r_squared(answer)
    assert verdict.mistake == "used_library" and f"sklearn.metrics.{named}" in verdict.message, verdict


def test_fix10_leakage_is_told_without_a_test_part_lesson_11_does_not_have():
    def leaky(x_train, x_val):
        both = torch.cat([x_train, x_val])
        return (x_train - both.mean(0)) / both.std(0), (x_val - both.mean(0)) / both.std(0)

    verdict = check.standardize(leaky)
    assert verdict.mistake == "leakage" and "test part" not in verdict.message, verdict
    assert "training part" in verdict.message, verdict


def layers_one_by_one(model, loss_fn, loader):
    """Every layer called in turn (h = layer(h)): the model itself, model(x), never runs."""
    model.eval()
    total = 0.0
    with torch.no_grad():
        for x, y in loader:
            h = x
            for layer in model:
                h = layer(h)
            total += loss_fn(h, y).item() * len(x)
    return total / len(loader.dataset)


def test_fix11_layers_called_one_by_one_are_not_told_model_forward():
    verdict = check.validation_loss(layers_one_by_one)
    assert verdict.mistake == "called_forward", verdict  # the same mistake: the model's own call skipped
    assert "forward(x) directly" not in verdict.message and "one by one" in verdict.message, verdict
    assert "model(x)" in verdict.message, verdict


def test_fix11_model_forward_is_still_named_as_model_forward():
    def calls_forward(model, loss_fn, loader):
        model.eval()
        with torch.no_grad():
            return sum(loss_fn(model.forward(x), y).item() * len(x) for x, y in loader) / len(loader.dataset)

    verdict = check.validation_loss(calls_forward)
    assert verdict.mistake == "called_forward" and "model.forward(x)" in verdict.message, verdict
    assert "you ran the layers one by one" not in verdict.message, verdict  # the message for that case


def test_fix11_residual_variance_message_does_not_equate_var_with_the_mse():
    residuals = torch.tensor([1.0, -1.0, 2.0, -2.0])  # average 0, yet var() divides by N - 1: not the MSE
    assert residuals.mean() == 0 and not torch.isclose(residuals.var(), (residuals**2).mean())
    verdict = check.r_squared(lambda y_true, y_pred: (1 - (y_true - y_pred).var() / y_true.var()).item())
    assert verdict.mistake == "residual_variance", verdict
    assert "is the mean squared error only when" not in verdict.message, verdict
    assert "average 0" in verdict.message and "((y_true - y_pred) ** 2).sum()" in verdict.message, verdict


def test_fix13_early_stopping_says_stop_when_the_count_reaches_patience_and_names_a_bool_item():
    verdict = check.early_stopping((7, 3))
    assert "patience (3)" in verdict.message and "stop at 3" not in verdict.message, verdict
    flagged = check.early_stopping((True, 3))
    assert flagged.mistake == "not_a_number" and "not True" in flagged.message, flagged
    assert "tuple" not in flagged.message, flagged
    assert "not '6'" in check.early_stopping(("6", "3")).message


def test_alt5_standardizing_each_row_is_named_as_the_wrong_axis():
    def per_row(x_train, x_val):
        return tuple((x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True) for x in (x_train, x_val))

    verdict = check.standardize(per_row)
    assert verdict.mistake == "wrong_axis" and "each row" in verdict.message and "(dim=0)" in verdict.message, verdict
