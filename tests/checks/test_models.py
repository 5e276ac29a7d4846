"""Lesson 07's checks on answers a learner writes, beyond the declarations' generated tests."""

from __future__ import annotations

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
    assert check.logistic_model(NoBias).mistake == "other"
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
    assert stayed_on_cpu.mistake == "other" and "on cpu" in stayed_on_cpu.message, stayed_on_cpu
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
    assert verdict.mistake == "not_a_tensor" and "ndarray" in verdict.message, verdict


class ZeroStart(nn.Module):
    """Right: logistic regression is often started from all-zero weights, so every output is 0.5 at first."""

    def __init__(self, n_features):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x):
        return torch.sigmoid(self.linear(x))


def test_a_logistic_model_started_at_zero_passes():
    assert check.logistic_model(ZeroStart).passed


def test_a_softmax_over_one_output_is_still_named():
    verdict = check.logistic_model(lambda n: nn.Sequential(nn.Linear(n, 1), nn.Softmax(dim=1)))
    assert verdict.mistake == "softmax_one_output", verdict


def test_returning_the_class_says_to_build_an_instance():
    verdict = check.logistic_model(lambda n: ZeroStart)
    assert verdict.mistake == "not_a_model" and "instance" in verdict.message, verdict


def test_moving_only_the_output_is_named():
    verdict = check.run_on_device(lambda model, x, device: model(x).to(device))
    assert verdict.mistake == "device_mismatch" and "only its output moved" in verdict.message, verdict
