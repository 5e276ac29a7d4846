"""Lesson 07's checks on the answers reviewers wrote, beyond the declarations' generated tests (review 4 on)."""

from __future__ import annotations

import copy
from functools import partial

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from course.checks import models as check
from tests.checks.test_models import logistic

REVIEW4 = {  # an answer, the exercise, its diagnosis and words of the message
    "frozen_for_good": (lambda model, x: torch.no_grad()(model.eval().requires_grad_(False))(x), "froze_parameters",
                        "silently stops learning"),
    "frozen_then_restored": (lambda model, x: [model.eval().requires_grad_(False), model(x), model.requires_grad_(True)][1],
                             "no_grad", "nothing was recorded"),  # nothing recorded, but only as the model was frozen
    "first_layer_only": (lambda model, x: torch.no_grad()(model.eval()[0])(x), "model_not_called", "never called"),
    "weights_times_zero": (logistic(lambda x, w, b: x @ w.T * 0 + b), "constant_output", "whatever x holds"),
    "zeros_for_x": (logistic(lambda x, w, b: torch.zeros_like(x) @ w.T + b), "constant_output", "whatever x holds"),
    "softmax_of_one": (lambda n: nn.Sequential(nn.Linear(n, 1), nn.Softmax(dim=1)), "softmax_one_output", "softmax"),
    "softmax_then_sigmoid": (logistic(lambda x, w, b: torch.softmax(x @ w.T + b, 1)), "softmax_one_output", "softmax"),
    "standardised_inside": (logistic(lambda x, w, b: ((x - x.mean(0)) / x.std(0)) @ w.T + b), "batch_dependent",
                            "other examples in the batch"),
    "softmax_over_batch": (lambda n: nn.Sequential(nn.Linear(n, 1), nn.Softmax(dim=0)), "batch_dependent", "batch"),
}  # fmt: skip


@pytest.mark.parametrize(("answer", "mistake", "words"), REVIEW4.values(), ids=REVIEW4)
def test_review4_predict_and_logistic_model_name_what_happened(answer, mistake, words):
    exercise = check.predict_function if mistake in ("froze_parameters", "no_grad", "model_not_called") else None
    verdict = (exercise or check.logistic_model)(answer)
    assert verdict.mistake == mistake and words in verdict.message, verdict


class _DropoutLogistic(nn.Module):
    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.drop, self.linear = nn.Dropout(0.2), nn.Linear(n_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(self.drop(x)))


def test_review5_a_dropout_in_logistic_regression_is_named_not_blamed_on_the_batch():
    verdict = check.logistic_model(_DropoutLogistic)
    assert verdict.mistake == "random_output" and "Dropout" in verdict.message, verdict


def test_review5_layers_switched_to_eval_one_by_one_leave_the_model_in_training_mode():
    def predict(model, x):
        for layer in model.children():
            layer.eval()
        with torch.no_grad():
            return model(x)

    verdict = check.predict_function(predict)
    assert verdict.mistake == "no_eval" and "model.training is True" in verdict.message, verdict


class _WithConstant(nn.Module):  # a constant tensor attribute (not trained): fine, unlike a trainable plain tensor
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = (nn.Parameter(torch.randn(1)) for _ in range(3))
        self.eps = torch.tensor(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a + self.b * x + self.c * x**2 + self.eps


def test_review6_a_constant_tensor_attribute_is_no_unregistered_parameter():
    assert check.quadratic_class(_WithConstant).passed


class _QuadraticThroughAList(nn.Module):  # the same Parameter objects kept in a plain list, for a polynomial loop
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = (nn.Parameter(torch.randn(1)) for _ in range(3))
        self.coefficients = [self.a, self.b, self.c]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(coef * x**power for power, coef in enumerate(self.coefficients))


class _QuadraticInTheClassBody(nn.Module):  # class attributes: nn.Module registers none of them
    a, b, c = (nn.Parameter(torch.randn(1)) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a + self.b * x + self.c * x**2


def test_review8_a_quadratic_reading_its_parameters_through_a_list_passes():
    assert check.quadratic_class(_QuadraticThroughAList).passed


def test_review8_parameters_in_the_class_body_are_named_not_blamed_on_an_error():
    verdict = check.quadratic_class(_QuadraticInTheClassBody)
    assert verdict.mistake == "unregistered_parameter" and "class attributes" in verdict.message, verdict


def _predict_in_float64(model, x):
    model.eval().double()
    with torch.no_grad():
        return model(x.double())


def _predict_then_halve(model, x):
    model.eval()
    with torch.no_grad():
        out = model(x)
        [parameter.mul_(0.5) for parameter in model.parameters()]
    return out


@pytest.mark.parametrize("answer", [_predict_in_float64, _predict_then_halve])
def test_review8_a_predict_that_changes_the_callers_model_is_told_so(answer):
    verdict = check.predict_function(answer)
    assert verdict.mistake == "mutated_input" and "changed the model it was given" in verdict.message, verdict


def test_review8_a_predict_that_puts_the_mode_back_still_passes():  # the mode is the exercise's business, not a change
    assert check.predict_function(lambda model, x: (model.eval(), torch.no_grad()(model)(x), model.train())[1]).passed


def test_review8_moving_a_copy_of_the_model_is_named():
    verdict = check.run_on_device(lambda model, x, device: copy.deepcopy(model).to(device)(x.to(device)))
    assert verdict.mistake == "moved_a_copy" and "moves the model itself, in place" in verdict.message, verdict


def test_review8_a_default_device_set_inside_is_named_and_put_back():
    def run_on(model, x, device):
        torch.set_default_device(device)
        return model.to(device)(x.to(device))

    verdict = check.run_on_device(run_on)
    assert verdict.mistake == "default_device_changed" and "to_empty" not in verdict.message, verdict
    assert torch.empty(1).device.type == "cpu"


def test_review8_a_squeezed_logistic_output_names_the_squeeze():
    class Squeezed(nn.Module):
        def __init__(self, n_features):
            super().__init__()
            self.linear = nn.Linear(n_features, 1)

        def forward(self, x):
            return torch.sigmoid(self.linear(x)).squeeze(1)

    verdict = check.logistic_model(Squeezed)
    assert verdict.mistake == "wrong_shape" and ".squeeze()" in verdict.message, verdict


def test_review9_run_on_device_that_also_casts_or_freezes_the_model_is_told_so():
    def cast(model, x, device):
        model.to(device, torch.float64)
        return model(x.to(device, torch.float64))

    verdict = check.run_on_device(cast)
    assert verdict.mistake == "mutated_input" and "dtype" in verdict.message, verdict
    verdict = check.run_on_device(lambda model, x, device: model.to(device).requires_grad_(False)(x.to(device)))
    assert verdict.mistake == "froze_parameters" and "requires_grad_(False)" in verdict.message, verdict


class _Clamped(check._WithSigmoid):  # review 10: probabilities clamped; past the bounds the gradient is 0
    def __init__(self, n_features: int, low: float = 0.01) -> None:
        super().__init__(n_features)
        self.low = low

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).clamp(self.low, 1 - self.low)


def test_review10_a_logistic_model_that_clamps_its_probabilities_is_told_so():
    verdict = check.logistic_model(_Clamped)
    assert verdict.mistake == "clamped_output" and "gradient" in verdict.message, verdict
    # a clamp at float32's precision (Keras's epsilon) changes p only past a score of 16: no fault
    assert check.logistic_model(lambda n: _Clamped(n, low=1e-7)).passed
    verdict = check.logistic_model(check._WithSigmoid(3))  # a model, not the function that builds one
    assert verdict.mistake == "instance_not_class" and "make_logistic_regression" in verdict.message, verdict


REVIEW10 = {  # run_on_device: an answer, its diagnosis and words of the message
    "cpu_named": (lambda model, x, device: model.to("cpu")(x.to("cpu")), "ignored_argument", "device"),
    "nothing_moved": (lambda model, x, device: model(x), "ignored_argument", "device"),
    "by_hand": (lambda model, x, device: nn.functional.linear(x.to(device), model.to(device).weight, model.bias),
                "model_not_called", "model(x)"),
}  # fmt: skip


@pytest.mark.parametrize(("answer", "mistake", "words"), REVIEW10.values(), ids=REVIEW10)
def test_review10_run_on_device_names_a_device_typed_in_and_a_model_never_called(answer, mistake, words):
    verdict = check.run_on_device(answer)
    assert verdict.mistake == mistake and words in verdict.message and "forward(x)" not in verdict.message, verdict


def _dropout_off_for_good(model, x):
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    model.eval()
    with torch.no_grad():
        return model(x)


def _dropout_replaced(model, x):
    model[2] = nn.Identity()
    with torch.no_grad():
        return model.eval()(x)


@pytest.mark.parametrize("answer", [_dropout_off_for_good, _dropout_replaced], ids=["p set to 0", "Identity"])
def test_review11_a_predict_that_removes_the_callers_dropout_is_told_so(answer):
    verdict = check.predict_function(answer)
    assert verdict.mistake == "mutated_input" and "a Dropout's p set to 0" in verdict.message, verdict


class _ClampedScore(check._WithSigmoid):  # review 11: the score clamped before the sigmoid
    def __init__(self, n_features: int, bound: float = 15.0) -> None:
        super().__init__(n_features)
        self.bound = bound

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x).clamp(-self.bound, self.bound))


class _SigmoidInFloat32(check._WithSigmoid):  # right: a float32 sigmoid rounds to 1 past a score of 16.6
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x).float())


@pytest.mark.parametrize("answer", [
    lambda n: _ClampedScore(n, 10.0), lambda n: _ClampedScore(n, 12.0), lambda n: _ClampedScore(n, 15.0),
    lambda n: _Clamped(n, low=1e-5), lambda n: _Clamped(n, low=1e-6)],
    ids=["score 10", "score 12", "score 15", "p 1e-5", "p 1e-6"])  # fmt: skip
def test_review11_a_clamp_beyond_the_scores_shown_is_caught(answer):
    verdict = check.logistic_model(answer)
    assert verdict.mistake == "clamped_output", verdict


@pytest.mark.parametrize("answer", [
    check._WithSigmoid, _SigmoidInFloat32, lambda n: nn.Sequential(nn.Linear(n, 1), nn.Sigmoid()).double(),
    lambda n: _Clamped(n, low=1e-7), lambda n: _ClampedScore(n, 20.0)],
    ids=["float64 copy", "float32 sigmoid", "float64", "p 1e-7", "score 20"])  # fmt: skip
def test_review11_a_sigmoid_that_saturates_in_float32_is_no_clamp(answer):
    assert check.logistic_model(answer).passed


def test_review11_a_logistic_model_with_extra_parameters_or_no_bias_is_told_which():
    verdict = check.logistic_model(lambda n: nn.Sequential(nn.Linear(n, 4), nn.Linear(4, 1), nn.Sigmoid()))
    assert "23 extra parameters" in verdict.message and "a layer too many" in verdict.message, verdict
    verdict = check.logistic_model(lambda n: nn.Sequential(nn.Linear(n, 1, bias=False), nn.Sigmoid()))
    assert verdict.mistake == "no_bias" and "no bias" in verdict.message, verdict


def _scaled_in_place(x, w, b):  # review 10b: forward divides the caller's batch itself
    x /= 10.0
    return x @ w.T + b


def _clamped_in_place(x, w, b):
    return x.clamp_(-3, 3) @ w.T + b


@pytest.mark.parametrize("answer", [logistic(_scaled_in_place), logistic(_clamped_in_place)], ids=["div", "clamp"])
def test_review10b_a_forward_that_changes_its_input_in_place_is_told_so(answer):
    verdict = check.logistic_model(answer)
    assert verdict.mistake == "mutated_input" and "in place" in verdict.message, verdict
    assert "random" not in verdict.message and "stop at a bound" not in verdict.message, verdict


def _train_after(model, x):  # review 10b: a model handed over in eval mode comes back in training mode
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train()
    return out


def _mode_restored(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train(was_training)
    return out


def test_review10b_predict_may_leave_the_mode_as_it_likes_as_the_statement_says():  # lesson 11's predict restores it
    assert check.predict_function(_train_after).passed and check.predict_function(_mode_restored).passed


@pytest.mark.parametrize(
    "answer",
    [
        type("R", (check._WithSigmoid,), {"forward": lambda self, x: torch.sigmoid(self.linear(x)).round()}),
        type("T", (check._WithSigmoid,), {"forward": lambda self, x: (torch.sigmoid(self.linear(x)) > 0.5).float()}),
        type("D", (check._WithSigmoid,), {"forward": lambda self, x: torch.sigmoid(self.linear(x)).round(decimals=2)}),
    ],
    ids=["round", "threshold", "two_decimals"],
)
def test_review10b_a_logistic_model_that_rounds_its_probabilities_is_told_to_keep_them(answer):
    verdict = check.logistic_model(answer)
    assert verdict.mistake == "rounded" and "probabilities" in verdict.message, verdict
    assert ".detach()" not in verdict.message, verdict


def _rounding(decimals, dtype=torch.float32, scaled=False):  # refix 10, 5: forward rounds its probabilities
    after = (
        (lambda p: torch.round(p * 10**decimals) / 10**decimals) if scaled else (lambda p: p.round(decimals=decimals))
    )
    return lambda n: check._WithSigmoid(n, after=after).to(dtype)


ROUNDED = {  # an answer and the decimals its probabilities are rounded to
    "5 decimals": (_rounding(5), 5), "6 decimals": (_rounding(6), 6),
    "float64, 4 decimals": (_rounding(4, torch.float64), 4), "float64, 8 decimals": (_rounding(8, torch.float64), 8),
    "round(p * 10**3) / 10**3": (_rounding(3, scaled=True), 3),
    "float64, round(p * 10**7) / 10**7": (_rounding(7, torch.float64, scaled=True), 7),
}  # fmt: skip


@pytest.mark.parametrize(("answer", "decimals"), ROUNDED.values(), ids=ROUNDED)
def test_refix10_a_logistic_model_rounding_to_some_decimals_is_told_it_rounds(answer, decimals):
    verdict = check.logistic_model(answer)
    assert verdict.mistake == "rounded" and f"to {decimals} decimals" in verdict.message, verdict
    assert "print" in verdict.message and ".detach()" not in verdict.message, verdict


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_refix10_a_detached_output_is_still_not_backpropagatable_not_rounded(dtype):
    verdict = check.logistic_model(lambda n: check._WithSigmoid(n, after=torch.Tensor.detach).to(dtype))
    assert verdict.mistake == "not_backpropagatable" and ".detach()" in verdict.message, verdict


class _QuadraticSqueezingInPlace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = (nn.Parameter(torch.randn(1)) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.squeeze_(1)  # the caller's x loses its column
        return (self.a + self.b * x + self.c * x**2).unsqueeze(1)


class _QuadraticClampingInPlace(_QuadraticSqueezingInPlace):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.clamp_(-10, 10)  # the caller's large x change
        return self.a + self.b * x + self.c * x**2


@pytest.mark.parametrize("answer", [_QuadraticSqueezingInPlace, _QuadraticClampingInPlace], ids=["squeeze_", "clamp_"])
def test_learn11c_a_quadratic_changing_its_input_in_place_is_named(answer):
    verdict = check.quadratic_class(answer)
    assert verdict.mistake == "mutated_input" and "in place" in verdict.message, verdict


def test_a_model_called_with_its_input_as_a_keyword_runs_on_the_device():
    verdict = check.run_on_device(lambda model, x, device: model.to(device)(input=x.to(device)))
    assert verdict.passed, verdict


def _hidden(activation, width, bias=True):  # learn E: a hidden layer between the features and the sigmoid
    return lambda n: nn.Sequential(nn.Linear(n, width, bias), activation(), nn.Linear(width, 1, bias), nn.Sigmoid())


@pytest.mark.parametrize("width", [2, 4, 5, 8])
@pytest.mark.parametrize("activation", [nn.ReLU, nn.Tanh, nn.LeakyReLU], ids=["ReLU", "Tanh", "LeakyReLU"])
def test_learnE_a_logistic_model_with_a_hidden_layer_is_told_it_is_more_not_clamped(activation, width):
    verdict = check.logistic_model(_hidden(activation, width))
    assert verdict.mistake == "extra_layer" and "more than logistic regression" in verdict.message, verdict
    assert "bound" not in verdict.message and "clamp" not in verdict.message, verdict


def test_learnE_a_hidden_layer_without_biases_is_more_than_logistic_regression_too():
    verdict = check.logistic_model(_hidden(nn.ReLU, 1, bias=False))  # n + 1 parameters, as many as logistic regression
    assert verdict.mistake == "extra_layer", verdict
    parametrized = lambda n: parametrize.register_parametrization(nn.Linear(n, 1), "weight", nn.Identity())  # noqa: E731
    assert check.logistic_model(lambda n: nn.Sequential(parametrized(n), nn.Sigmoid())).passed  # one layer all the same


class _LayerInAList(nn.Module):  # learn E: the layer kept where parameters() never sees it
    def __init__(self, n_features: int, container: type = list) -> None:
        super().__init__()
        self.layers = [nn.Linear(n_features, 1)] if container is list else {0: nn.Linear(n_features, 1)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.layers[0](x))


@pytest.mark.parametrize("container", [list, dict])
def test_learnE_a_logistic_layer_in_a_plain_list_or_dict_is_told_it_is_unregistered(container):
    verdict = check.logistic_model(partial(_LayerInAList, container=container))
    assert verdict.mistake == "plain_list" and "parameters() misses them" in verdict.message, verdict
    assert "not sigmoid(w · x + b)" not in verdict.message, verdict


def _moved_through_data(model, x, device):  # learn E: moves each parameter's tensor (CPU <-> GPU allows it)
    for p in model.parameters():
        p.data = p.data.to(device)
    return model(x.to(device))


def test_learnE_a_move_through_p_data_is_told_why_the_meta_check_cannot_take_it():
    verdict = check.run_on_device(_moved_through_data)
    assert verdict.mistake == "wrong_device" and "raised" not in verdict.message, verdict
    assert "meta" in verdict.message and ".data" in verdict.message and "model.to(device)" in verdict.message, verdict
