"""Each check of lesson 07 recognises the right answer, the placeholder, junk, and every known mistake."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course.checks import models as check

CHECKS = [check.quadratic_class, check.predict_function, check.run_on_data_device, check.logistic_model]


def stub(*args):
    raise NotImplementedError  # your code here


class StubModel(nn.Module):
    def __init__(self):
        super().__init__()
        raise NotImplementedError  # your code here

    def forward(self, x):
        raise NotImplementedError  # your code here


@pytest.mark.parametrize("fn", CHECKS, ids=lambda f: f.__name__)
def test_placeholders_are_not_attempted(fn):
    assert fn(None).status == "not_attempted"
    assert fn(...).status == "not_attempted"
    assert fn(stub).status == "not_attempted"


def test_stub_class_is_not_attempted():
    assert check.quadratic_class(StubModel).status == "not_attempted"


JUNK = ["a string", 3, lambda *a: "a string", lambda *a: torch.zeros(2, 2), lambda *a: 1 / 0, nn.Linear(1, 1)]


@pytest.mark.parametrize("fn", CHECKS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "junk", JUNK, ids=["string", "int", "returns_string", "returns_matrix", "raises", "linear_layer"]
)
def test_junk_never_raises(fn, junk):
    verdict = fn(junk)
    assert verdict.status == "wrong"
    assert verdict.message


def test_checks_leave_the_global_random_stream_alone():
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    for fn in CHECKS:
        fn(lambda *a: nn.Linear(1, 1))
    assert torch.equal(before, torch.random.get_rng_state())


# quadratic_class ------------------------------------------------------------------------------


class Quadratic(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.randn(1))
        self.b = nn.Parameter(torch.randn(1))
        self.c = nn.Parameter(torch.randn(1))

    def forward(self, x):
        return self.a + self.b * x + self.c * x**2


class Unregistered(Quadratic):
    def __init__(self):
        super().__init__()
        del self.c
        self.c = torch.randn(1, requires_grad=True)  # forgot nn.Parameter


class FlatOutput(Quadratic):
    def forward(self, x):
        x = x.squeeze(1)
        return self.a + self.b * x + self.c * x**2


class Reduced(Quadratic):
    def forward(self, x):
        return (self.a + self.b * x + self.c * x**2).mean()


class NoSquare(Quadratic):
    def forward(self, x):
        return self.a + self.b * x + self.c * x


class NoSuper(nn.Module):
    def __init__(self):
        self.a = nn.Parameter(torch.randn(1))  # AttributeError: no super().__init__()


class NotAModule:
    def __init__(self):
        self.a = torch.randn(1)


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, x):
        return self.linear(x)


class VectorParams(Quadratic):
    def __init__(self):
        super().__init__()
        self.c = nn.Parameter(torch.randn(3))


def test_quadratic_class_correct():
    assert check.quadratic_class(Quadratic).passed


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (Unregistered, "unregistered_parameter"),
        (FlatOutput, "wrong_output_shape"),
        (Reduced, "wrong_output_shape"),
        (NoSquare, "wrong_values"),
        (NoSuper, "raised"),
        (NotAModule, "not_a_module"),
        (Nested, "wrong_parameters"),
        (VectorParams, "wrong_parameter_shape"),
        (Quadratic(), "instance_not_class"),
    ],
)
def test_quadratic_class_mistakes(answer, mistake):
    assert check.quadratic_class(answer).mistake == mistake


def test_unregistered_parameter_names_the_attribute():
    assert "self.c = nn.Parameter" in check.quadratic_class(Unregistered).message


# predict_function -----------------------------------------------------------------------------


def predict(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def predict_forward(model, x):
    model.eval()
    with torch.no_grad():
        return model.forward(x)


def predict_train_mode(model, x):
    with torch.no_grad():
        return model(x)


def predict_with_grad(model, x):
    model.eval()
    return model(x)


def predict_flat(model, x):
    model.eval()
    with torch.no_grad():
        return model(x).squeeze(1)


def test_predict_function_correct():
    assert check.predict_function(predict).passed

    def inference_mode(model, x):
        model.eval()
        with torch.inference_mode():
            return model(x)

    assert check.predict_function(inference_mode).passed


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (predict_forward, "called_forward_directly"),
        (predict_train_mode, "train_mode"),
        (predict_with_grad, "tracks_gradients"),
        (predict_flat, "wrong_output_shape"),
        (lambda model, x: torch.zeros(10, 1), "called_forward_directly"),
    ],
)
def test_predict_function_mistakes(answer, mistake):
    assert check.predict_function(answer).mistake == mistake


# run_on_data_device ---------------------------------------------------------------------------


def test_run_on_data_device_correct():
    def run_on(model, x):
        model.to(x.device)
        return model(x)

    assert check.run_on_data_device(run_on).passed


def test_run_on_data_device_mismatch():
    verdict = check.run_on_data_device(lambda model, x: model(x))
    assert verdict.mistake == "device_mismatch"
    assert "model.to(x.device)" in verdict.message


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (lambda model, x: model.to("cpu")(x), "device_mismatch"),
        (lambda model, x: model.to(x.device).forward(x), "called_forward_directly"),
        (lambda model, x: model.to(x.device)(x).sum(), "wrong_output_shape"),
        (lambda model, x: model.to(x.device) and None, "not_a_tensor"),
    ],
)
def test_run_on_data_device_mistakes(answer, mistake):
    assert check.run_on_data_device(answer).mistake == mistake


# logistic_model -------------------------------------------------------------------------------


def test_logistic_model_correct():
    assert check.logistic_model(lambda n: nn.Sequential(nn.Linear(n, 1), nn.Sigmoid())).passed


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (lambda n: nn.Sequential(nn.Linear(n, 2), nn.Sigmoid()), "wrong_output_shape"),
        (lambda n: nn.Sequential(nn.Linear(n, 1), nn.Sigmoid(), nn.Flatten(0)), "wrong_output_shape"),
        (lambda n: nn.Sequential(nn.Linear(n, 1)), "no_sigmoid"),
        (lambda n: nn.Sequential(nn.Linear(1, n), nn.Sigmoid()), "wrong_input_size"),
        (lambda n: nn.Sequential(nn.Linear(5, 1), nn.Sigmoid()), "wrong_input_size"),
        (lambda n: nn.Sequential(nn.Linear(n, 4), nn.Linear(4, 1), nn.Sigmoid()), "wrong_parameter_count"),
        (lambda n: "model", "not_a_module"),
    ],
)
def test_logistic_model_mistakes(answer, mistake):
    assert check.logistic_model(answer).mistake == mistake
