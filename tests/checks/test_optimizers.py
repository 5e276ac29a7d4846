"""Lesson 05's checks on answers a learner writes, beyond the declarations' generated tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course.checks import optimizers as check


def step_by_hand(a, b, optimizer, x, y):
    """Another right form: zero by hand, loss from torch.nn.functional, a NumPy float returned."""
    a.grad, b.grad = None, None
    loss = F.mse_loss(a + b * x, y)
    loss.backward()
    optimizer.step()
    return np.float64(loss.item())


def step_without_zeroing(a, b, optimizer, x, y):
    loss = F.mse_loss(a + b * x, y)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_on_a_new_optimizer(a, b, optimizer, x, y):
    loss = ((a + b * x - y) ** 2).mean()
    loss.backward()
    torch.optim.SGD([a, b], lr=0.1).step()  # not the optimizer it was given
    optimizer.zero_grad()
    return loss.item()


@pytest.mark.parametrize(
    "answer, status, mistake",
    [
        (step_by_hand, "correct", None),
        (step_without_zeroing, "wrong", "no_zero_grad"),
        (step_on_a_new_optimizer, "wrong", "other"),
    ],
)
def test_train_step_on_learner_code(answer, status, mistake):
    verdict = check.train_step(answer)
    assert (verdict.status, verdict.mistake) == (status, mistake), verdict


def step_with_a_closure(a, b, optimizer, x, y):
    """Right: the closure form of lesson 05's tour, step(closure) returns the loss before the step."""

    def closure():
        optimizer.zero_grad()
        loss = ((a + b * x - y) ** 2).mean()
        loss.backward()
        return loss

    return optimizer.step(closure).item()


def step_on_absolute_error(a, b, optimizer, x, y):
    loss = (a + b * x - y).abs().mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def test_train_step_accepts_a_closure():
    assert check.train_step(step_with_a_closure).passed


def test_train_step_says_when_the_given_optimizer_never_stepped():
    verdict = check.train_step(step_on_a_new_optimizer)
    assert verdict.mistake == "other" and "optimizer.step() never ran" in verdict.message, verdict


def test_train_step_fallback_names_the_expected_parameters():
    verdict = check.train_step(step_on_absolute_error)
    assert "expected 0.5178, 1.6331" in verdict.message, verdict


def replaced(optimizer, factor):
    """A new optimizer is not the one that trains."""
    return torch.optim.SGD([p for g in optimizer.param_groups for p in g["params"]], lr=0.05 * factor)


def test_scale_learning_rates_rejects_a_new_optimizer():
    assert check.scale_learning_rates(replaced).mistake == "groups_unchanged"


def test_scale_learning_rates_fallback_lists_the_rates():
    verdict = check.scale_learning_rates(
        lambda optimizer, factor: [g.update(lr=g["lr"] / factor) for g in optimizer.param_groups]
    )
    assert verdict.mistake == "other" and "[0.03, 0.003, 0.015]" in verdict.message, verdict


def train_unpacking(step, optimizer, scheduler, batches, epochs):
    for _ in range(epochs):
        for batch in batches:
            step(*batch)
        scheduler.step()


def test_scheduled_training_accepts_other_loops_and_never_prints_the_warning(capsys):
    assert check.scheduled_training(train_unpacking).passed
    verdict = check.scheduled_training(lambda step, opt, sched, batches, epochs: [sched.step() for _ in range(epochs)])
    assert verdict.mistake == "other" and "ran 0 times" in verdict.message, verdict
    assert capsys.readouterr() == ("", "")


def test_a_scheduler_stepped_only_after_training_is_named():
    def train_then_step(step, optimizer, scheduler, batches, epochs):
        for _ in range(epochs):
            for x, y in batches:
                step(x, y)
        scheduler.step()  # dedented one level too far

    verdict = check.scheduled_training(train_then_step)
    assert verdict.mistake == "no_scheduler_step" and "inside the epoch loop" in verdict.message, verdict


def train_without_step(step, optimizer, scheduler, batches, epochs):
    for _ in range(epochs):
        for _ in batches:
            optimizer.step()  # the rates a scheduler sets, but no forward or backward pass: nothing trains
        scheduler.step()


def train_on_the_first_batch(step, optimizer, scheduler, batches, epochs):
    x, y = batches[0]
    for _ in range(epochs):
        for _ in batches:
            step(x, y)
        scheduler.step()


def train_swapped(step, optimizer, scheduler, batches, epochs):
    for _ in range(epochs):
        for x, y in batches:
            step(y, x)
        scheduler.step()


@pytest.mark.parametrize("answer", [train_without_step, train_on_the_first_batch, train_swapped])
def test_scheduled_training_needs_step_on_every_batch(answer):
    verdict = check.scheduled_training(answer)
    assert verdict.mistake == "other", verdict
    assert ("ran 0 times" if answer is train_without_step else "did not get each (x, y)") in verdict.message, verdict
