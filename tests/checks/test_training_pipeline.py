"""Each known mistake of lesson 09 is diagnosed by its check, with its stable id."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course.checks import training_pipeline as check
from course.training import make_train_step


def _factory(order, use_forward=False, return_tensor=False):
    """A train-step factory that runs the given actions in the given order."""

    def factory(model, loss_fn, optimizer):
        def step(x, y):
            loss = None
            for action in order:
                if action == "forward":
                    loss = loss_fn(model.forward(x) if use_forward else model(x), y)
                elif action == "backward":
                    loss.backward()
                elif action == "step":
                    optimizer.step()
                elif action == "zero_grad":
                    optimizer.zero_grad()
            return loss if return_tensor else loss.item()

        return step

    return factory


RIGHT = ["forward", "backward", "step", "zero_grad"]


# --- model_sizes ---


def test_model_sizes_correct():
    assert check.model_sizes(nn.Linear(3, 1)).passed
    assert check.model_sizes(nn.Sequential(nn.Linear(3, 1))).passed


@pytest.mark.parametrize(
    ("model", "mistake"),
    [
        (nn.Linear(1, 3), "swapped_sizes"),
        (nn.Linear(64, 1), "wrong_input_size"),
        (nn.Linear(1, 1), "wrong_input_size"),
        (nn.Linear(3, 3), "wrong_output_size"),
        (nn.Linear, "not_a_module"),
    ],
)
def test_model_sizes_mistakes(model, mistake):
    assert check.model_sizes(model).mistake == mistake


def test_model_sizes_placeholder_and_junk():
    assert check.model_sizes(None).status == "not_attempted"
    assert check.model_sizes(...).status == "not_attempted"
    for junk in ["nn.Linear(3, 1)", torch.zeros(3), 3]:
        assert check.model_sizes(junk).status == "wrong"


# --- train_step_factory ---


def test_train_step_factory_correct():
    assert check.train_step_factory(make_train_step).passed
    assert check.train_step_factory(_factory(RIGHT)).passed
    assert check.train_step_factory(_factory(["zero_grad", "forward", "backward", "step"])).passed


@pytest.mark.parametrize(
    ("order", "mistake"),
    [
        (["forward", "step", "backward", "zero_grad"], "step_before_backward"),
        (["zero_grad", "forward", "step", "backward"], "step_before_backward"),
        (["forward", "step", "backward"], "step_before_backward"),
        (["forward", "backward", "zero_grad", "step"], "zero_grad_before_step"),
        (["forward", "backward", "step"], "no_zero_grad"),
        (["forward", "step", "zero_grad"], "no_backward"),
        (["forward", "backward", "zero_grad"], "no_step"),
    ],
)
def test_train_step_factory_order_mistakes(order, mistake):
    assert check.train_step_factory(_factory(order)).mistake == mistake


def test_train_step_factory_forward_call_and_return():
    assert check.train_step_factory(_factory(RIGHT, use_forward=True)).mistake == "called_forward"
    assert check.train_step_factory(_factory(RIGHT, return_tensor=True)).mistake == "returns_tensor"


def test_train_step_factory_uses_globals_and_not_a_step():
    other = nn.Linear(1, 1)
    opt = torch.optim.SGD(other.parameters(), lr=0.1)

    def uses_globals(model, loss_fn, optimizer):
        return make_train_step(other, nn.MSELoss(), opt)

    assert check.train_step_factory(uses_globals).mistake == "uses_globals"
    assert check.train_step_factory(lambda m, f, o: 1.0).mistake == "not_a_step"


def test_train_step_factory_placeholder_and_junk():
    def stub(model, loss_fn, optimizer):
        raise NotImplementedError  # your code here

    assert check.train_step_factory(None).status == "not_attempted"
    assert check.train_step_factory(stub).status == "not_attempted"
    assert check.train_step_factory("make_train_step").status == "wrong"
    assert check.train_step_factory(lambda: None).mistake == "raised"
    assert check.train_step_factory(lambda m, f, o: lambda x: x).mistake == "raised"


# --- training_loop ---


def test_training_loop_correct():
    def train(step, x, y, epochs):
        losses = []
        for _ in range(epochs):
            losses.append(step(x, y))
        return losses

    assert check.training_loop(train).passed


@pytest.mark.parametrize(
    ("train", "mistake"),
    [
        (lambda s, x, y, e: [s(x, y) for _ in range(1, e)], "wrong_epoch_count"),
        (lambda s, x, y, e: [s(y, x) for _ in range(e)], "swapped_arguments"),
        (lambda s, x, y, e: [s(x, y) for _ in range(e)][-1], "last_loss_only"),
        (lambda s, x, y, e: [s(x, y) for _ in range(e)] and None, "returns_nothing"),
        (lambda s, x, y, e: [(s(x, y), s(x, y))[1] for _ in range(e)], "step_called_twice"),
        (lambda s, x, y, e: [s(x, y) for _ in range(e)][1:], "wrong_length"),
    ],
)
def test_training_loop_mistakes(train, mistake):
    assert check.training_loop(train).mistake == mistake


def test_training_loop_placeholder_and_junk():
    def stub(step, x, y, epochs):
        raise NotImplementedError  # your code here

    assert check.training_loop(None).status == "not_attempted"
    assert check.training_loop(stub).status == "not_attempted"
    assert check.training_loop("loop").status == "wrong"
    assert check.training_loop(lambda s, x, y, e: "losses").status == "wrong"
    assert check.training_loop(lambda s, x, y, e: 1 / 0).mistake == "raised"
