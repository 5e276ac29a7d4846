"""Lesson 07's checks on answers a learner writes, beyond the declarations' generated tests."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from course.checks import models as check


class IntroLab(nn.Module):
    """The intro lab's class: nn.Sequential(nn.Linear(n, 1), nn.Sigmoid()) inside a module."""

    def __init__(self, n_inputs):
        super().__init__()
        self.linear = nn.Sequential(nn.Linear(n_inputs, 1), nn.Sigmoid())

    def forward(self, x):
        return self.linear(x)


class NoBias(nn.Module):
    def __init__(self, n_inputs):
        super().__init__()
        self.linear = nn.Linear(n_inputs, 1, bias=False)

    def forward(self, x):
        return torch.sigmoid(self.linear(x))


class Flat(IntroLab):
    def forward(self, x):
        return self.linear(x).squeeze(1)  # (N,), where the exercise asks for (N, 1)


def test_logistic_model_is_judged_by_what_it_computes():
    assert check.logistic_model(IntroLab).passed
    assert check.logistic_model(lambda n: IntroLab(n).double()).passed
    assert check.logistic_model(NoBias).mistake == "no_bias"
    verdict = check.logistic_model(Flat)
    assert verdict.mistake == "wrong_shape" and "(12,)" in verdict.message, verdict


class QuadraticWithBuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = (nn.Parameter(torch.zeros(1)) for _ in range(3))
        self.register_buffer("scale", torch.ones(1))  # a buffer is registered: not a forgotten parameter

    def forward(self, x):
        return self.scale * (self.a + self.b * x + self.c * x**2)


class Unregistered(QuadraticWithBuffer):
    def __init__(self):
        super().__init__()
        del self.c
        self.c = torch.zeros(1, requires_grad=True)  # a plain tensor attribute: parameters() misses it


def test_quadratic_accepts_a_buffer_and_names_the_unregistered_tensor():
    assert check.quadratic_class(QuadraticWithBuffer).passed
    assert check.quadratic_class(Unregistered).mistake == "unregistered_parameter"


def x_not_moved(model, x, device):
    """The lesson's bug: the moved copy of x is thrown away."""
    model.to(device)
    x.to(device)
    return model(x)


def test_run_on_device_names_the_fix_from_the_exact_error():
    verdict = check.run_on_device(x_not_moved)
    assert verdict.mistake == "device_mismatch" and "x = x.to(device)" in verdict.message
    stayed_on_cpu = check.run_on_device(lambda model, x, device: model(x))
    assert stayed_on_cpu.mistake == "ignored_argument" and "on cpu" in stayed_on_cpu.message, stayed_on_cpu
    other_error = check.run_on_device(lambda model, x, device: model.to(device)(x.to(device).t()))
    assert other_error.mistake == "raised"


def test_predict_accepts_inference_mode_and_names_forward():
    def predict(model, x):
        model.eval()
        with torch.inference_mode():
            return model(x)

    assert check.predict_function(predict).passed
    assert check.predict_function(lambda model, x: model.eval().forward(x)).mistake == "called_forward"


def test_predict_names_what_came_instead_of_a_tensor():
    def predict_numpy(model, x):
        model.eval()
        with torch.no_grad():
            return model(x).numpy()

    verdict = check.predict_function(predict_numpy)
    assert verdict.mistake == "not_a_tensor" and "NumPy array" in verdict.message, verdict


class ZeroStart(check._WithSigmoid):
    """Right: logistic regression is often started from all-zero weights, so every output is 0.5 at first."""

    def __init__(self, n_features):
        super().__init__(n_features)
        nn.init.zeros_(self.linear.weight), nn.init.zeros_(self.linear.bias)


def test_a_logistic_model_started_at_zero_passes():
    assert check.logistic_model(ZeroStart).passed


def test_returning_the_class_says_to_build_an_instance():
    verdict = check.logistic_model(lambda n: ZeroStart)
    assert verdict.mistake == "not_a_model" and "instance" in verdict.message, verdict


def test_moving_only_the_output_is_named():
    verdict = check.run_on_device(lambda model, x, device: model(x).to(device))
    assert verdict.mistake == "device_mismatch" and "only its output moved" in verdict.message, verdict


def logistic(compute):  # nn.Linear(n_features, 1) as self.linear; forward: the sigmoid of compute(x, weight, bias)
    forward = lambda self, x: torch.sigmoid(compute(x, self.linear.weight, self.linear.bias))  # noqa: E731
    return type("Logistic", (check._WithSigmoid,), {"forward": forward})


ONLY_SOME_FEATURES = [  # n_features + 1 parameters, but the output depends on the last feature, or the first two only
    logistic(lambda x, w, b: w[0, 0] * x[:, -1:] + b),
    logistic(lambda x, w, b: torch.cat([x[:, :2], torch.zeros_like(x[:, 2:])], dim=1) @ w.T + b),
    partial(check._WithSigmoid, change=lambda x: x[:, :1].expand_as(x)),
]


@pytest.mark.parametrize("answer", ONLY_SOME_FEATURES)
def test_a_logistic_model_must_use_every_feature(answer):
    verdict = check.logistic_model(answer)
    assert verdict.mistake == "ignored_feature", verdict


class PlainTensors(nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.w = torch.randn(n_features, 1, requires_grad=True)  # not registered: parameters() misses it
        self.b = torch.zeros(1, requires_grad=True)

    def forward(self, x):
        return torch.sigmoid(x @ self.w + self.b)


class NoGradForward(check._WithSigmoid):
    def forward(self, x):
        with torch.no_grad():
            return super().forward(x)


class OwnParameters(PlainTensors):
    """Right: the weights as nn.Parameter, x @ w + b by hand."""

    def __init__(self, n_features):
        super().__init__(n_features)
        self.w, self.b = nn.Parameter(self.w.detach()), nn.Parameter(self.b.detach())


def test_a_logistic_model_must_be_trainable():
    assert check.logistic_model(PlainTensors).mistake == "unregistered_parameter"
    assert check.logistic_model(NoGradForward).mistake == "not_backpropagatable"
    frozen = check.logistic_model(lambda n: nn.Sequential(nn.Linear(n, 1), nn.Sigmoid()).requires_grad_(False))
    assert frozen.mistake == "not_backpropagatable", frozen
    assert check.logistic_model(OwnParameters).passed


def quadratic(forward, frozen=""):
    """A Quadratic class with a, b, c as the exercise asks and the given forward (and one frozen parameter)."""

    class Quadratic(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = (nn.Parameter(torch.randn(1), requires_grad=name != frozen) for name in "abc")

    Quadratic.forward = forward
    return Quadratic


@pytest.mark.parametrize(
    "answer",
    [
        quadratic(lambda self, x: self.a.detach() + self.b * x + self.c * x**2),
        quadratic(lambda self, x: 1.5 + self.b * x + self.c * x**2),  # the check's own value of a, typed in
        quadratic(lambda self, x: torch.no_grad()(lambda: self.a + self.b * x + self.c * x**2)()),
        quadratic(lambda self, x: self.a + self.b * x + self.c * x**2, frozen="c"),
    ],
    ids=["detached", "a_typed_in", "no_grad", "frozen"],
)
def test_the_quadratic_must_let_gradients_reach_a_b_and_c(answer):
    verdict = check.quadratic_class(answer)
    assert verdict.mistake == "not_backpropagatable", verdict


def test_predict_judges_the_calls_not_how_many():
    def row_by_row(model, x):
        model.eval()
        with torch.no_grad():
            return torch.cat([model(row.unsqueeze(0)) for row in x])

    def p_zero_in_training_mode(model, x):
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
        with torch.no_grad():
            return model(x)

    def leaves_grad_off(model, x):
        model.eval()
        torch.set_grad_enabled(False)  # never switched back on: training after this cannot learn
        return model(x)

    assert check.predict_function(row_by_row).passed
    assert check.predict_function(p_zero_in_training_mode).mistake == "no_eval"
    verdict = check.predict_function(leaves_grad_off)
    assert verdict.mistake == "grad_left_off", verdict


@pytest.mark.parametrize(
    "answer",
    [
        lambda model, x, device: model.to(device)(torch.zeros(6, 4, device=device)),  # x's values lost
        lambda model, x, device: model.to("meta")(x.to("meta")),  # the check's device typed in
        lambda model, x, device: model.to(device)(x.to(device, torch.float64)),
    ],
    ids=["zeros", "meta_typed_in", "float64"],
)
def test_run_on_device_checks_the_values_on_the_cpu_too(answer):
    assert not check.run_on_device(answer).passed


def test_run_on_device_says_when_the_given_model_never_ran():
    verdict = check.run_on_device(lambda model, x, device: nn.Linear(4, 1).to(device)(x.to(device)))
    assert verdict.mistake == "model_not_called" and "the model you were given" in verdict.message, verdict


NO_GRADIENT = {  # a forward that leaves out or detaches the bias or the weight: that parameter never trains
    "bias_left_out": (logistic(lambda x, w, b: x @ w.T), "linear.bias"),
    "bias_detached": (logistic(lambda x, w, b: x @ w.T + b.detach()), "linear.bias"),
    "weight_detached": (logistic(lambda x, w, b: x @ w.detach().T + b), "linear.weight"),
}


@pytest.mark.parametrize(("answer", "stuck"), NO_GRADIENT.values(), ids=NO_GRADIENT)
def test_a_logistic_model_must_let_gradients_reach_every_parameter(answer, stuck):
    verdict = check.logistic_model(answer)
    assert verdict.mistake == "not_backpropagatable" and f"reaches {stuck}," in verdict.message, verdict


def test_predict_names_a_mode_set_on_the_top_module_only():  # model.training = False: the Dropout inside still trains
    verdict = check.predict_function(lambda model, x: (setattr(model, "training", False), torch.no_grad()(model)(x))[1])
    assert verdict.mistake == "no_eval" and "model.eval() sets every submodule" in verdict.message, verdict


READ_BACK = {  # what copies the output off the device, or reads its values
    "cpu": torch.Tensor.cpu,
    "numpy": lambda out: torch.from_numpy(out.detach().numpy()),
    "item": lambda out: out * (out.sum().item() != 0),
}


@pytest.mark.parametrize("read", READ_BACK.values(), ids=READ_BACK)
def test_run_on_device_names_an_output_copied_off_the_device(read):
    verdict = check.run_on_device(lambda model, x, device: read(model.to(device)(x.to(device))))
    assert verdict.mistake == "wrong_device" and verdict.message.startswith("your function copied the output"), verdict


@pytest.mark.parametrize(
    "answer",
    [
        quadratic(lambda self, x: (lambda x: self.a + self.b * x + self.c * x**2)(x.clamp(-10, 10))),
        quadratic(lambda self, x: self.a + self.b * x + self.c * x**2 * (x.abs() < 5)),  # c only near 0
    ],
    ids=["x_clamped", "square_cut_off"],
)
def test_learn1_a_quadratic_right_only_for_small_x_is_not_passed(answer):
    verdict = check.quadratic_class(answer)
    assert verdict.mistake == "other" and "x = -40, 0.5, 40" in verdict.message, verdict


class ProbabilitiesAndScores(IntroLab):
    def forward(self, x):
        return self.linear(x), self.linear[0](x)  # the probabilities and the scores, both (N, 1)


def test_learn1_a_model_returning_two_tensors_is_told_to_return_one_not_to_change_its_layer():
    verdict = check.logistic_model(ProbabilitiesAndScores)
    assert verdict.mistake == "wrong_shape" and "nn.Linear" not in verdict.message, verdict
    assert "a tuple" in verdict.message and "one tensor" in verdict.message, verdict
