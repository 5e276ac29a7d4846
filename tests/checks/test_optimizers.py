"""The lesson-05 checks accept the right answers and name each typical mistake."""

from __future__ import annotations

import pytest
import torch

from course.checks import optimizers as check

# train_step: the right one and the typical mistakes


def step_right(a, b, optimizer, x, y):
    loss = ((a + b * x - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def step_zero_first(a, b, optimizer, x, y):
    optimizer.zero_grad()
    loss = ((a + b * x - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    return loss


def step_no_zero_grad(a, b, optimizer, x, y):
    loss = ((a + b * x - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_before_backward(a, b, optimizer, x, y):
    loss = ((a + b * x - y) ** 2).mean()
    optimizer.step()
    optimizer.zero_grad()
    loss.backward()
    return loss.item()


def step_before_backward_zero_last(a, b, optimizer, x, y):
    loss = ((a + b * x - y) ** 2).mean()
    optimizer.step()
    loss.backward()
    optimizer.zero_grad()
    return loss.item()


def step_zero_between(a, b, optimizer, x, y):
    loss = ((a + b * x - y) ** 2).mean()
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def step_no_step(a, b, optimizer, x, y):
    loss = ((a + b * x - y) ** 2).mean()
    loss.backward()
    optimizer.zero_grad()
    return loss.item()


def step_no_backward(a, b, optimizer, x, y):
    loss = ((a + b * x - y) ** 2).mean()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def step_returns_nothing(a, b, optimizer, x, y):
    loss = ((a + b * x - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def step_wrong_loss(a, b, optimizer, x, y):
    loss = ((a + b * x - y) ** 2).sum()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def step_stub(a, b, optimizer, x, y):
    raise NotImplementedError  # your code here


def test_train_step_right():
    assert check.train_step(step_right).passed
    assert check.train_step(step_zero_first).passed  # zeroing first is fine; a tensor loss is accepted


@pytest.mark.parametrize(
    ("fn", "mistake"),
    [
        (step_no_zero_grad, "no_zero_grad"),
        (step_before_backward, "step_before_backward"),
        (step_before_backward_zero_last, "step_before_backward"),
        (step_zero_between, "zero_grad_before_step"),
        (step_no_step, "no_step"),
        (step_no_backward, "no_backward"),
        (step_returns_nothing, "no_loss_returned"),
        (step_wrong_loss, "other"),
        (lambda a, b, optimizer, x, y: 1 / 0, "raised"),
        ("step", "not_callable"),
    ],
)
def test_train_step_mistakes(fn, mistake):
    assert check.train_step(fn).mistake == mistake


def test_train_step_placeholder():
    assert check.train_step(None).status == "not_attempted"
    assert check.train_step(step_stub).status == "not_attempted"


def test_train_step_without_source_still_diagnoses():
    frozen = eval("lambda a, b, optimizer, x, y: 0.0")  # no source to read: the generic diagnosis
    assert check.train_step(frozen).mistake in {"no_update", "no_backward"}


# param_groups


@pytest.fixture
def ab():
    return torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)


def test_param_groups_right(ab):
    a, b = ab
    assert check.param_groups(torch.optim.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.01}]), a, b).passed
    assert check.param_groups(torch.optim.Adam([{"params": [b], "lr": 0.01}, {"params": [a]}], lr=0.1), a, b).passed


@pytest.mark.parametrize(
    ("groups", "mistake"),
    [
        (lambda a, b: [{"params": [a], "lr": 0.01}, {"params": [b], "lr": 0.1}], "swapped_lrs"),
        (lambda a, b: [{"params": [a, b], "lr": 0.1}], "same_lr"),
        (lambda a, b: [{"params": [a]}, {"params": [b]}], "same_lr"),
        (lambda a, b: [{"params": [a], "lr": 0.1}], "missing_parameter"),
        (lambda a, b: [{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.001}], "wrong_lr"),
    ],
)
def test_param_groups_mistakes(ab, groups, mistake):
    a, b = ab
    optimizer = torch.optim.SGD(groups(a, b), lr=0.1)
    assert check.param_groups(optimizer, a, b).mistake == mistake


def test_param_groups_placeholder_and_junk(ab):
    a, b = ab
    assert check.param_groups(None, a, b).status == "not_attempted"
    assert check.param_groups("SGD", a, b).mistake == "not_an_optimizer"
    assert check.param_groups([a, b], a, b).mistake == "not_an_optimizer"


# scheduled_training


def train_right(step, optimizer, scheduler, batches, epochs):
    for _ in range(epochs):
        for x, y in batches:
            step(x, y)
        scheduler.step()


def train_per_batch(step, optimizer, scheduler, batches, epochs):
    for _ in range(epochs):
        for x, y in batches:
            step(x, y)
            scheduler.step()


def train_scheduler_first(step, optimizer, scheduler, batches, epochs):
    for _ in range(epochs):
        scheduler.step()
        for x, y in batches:
            step(x, y)


def train_no_scheduler(step, optimizer, scheduler, batches, epochs):
    for _ in range(epochs):
        for x, y in batches:
            step(x, y)


def train_once_at_end(step, optimizer, scheduler, batches, epochs):
    train_no_scheduler(step, optimizer, scheduler, batches, epochs)
    scheduler.step()


def train_one_batch_per_epoch(step, optimizer, scheduler, batches, epochs):
    for _ in range(epochs):
        step(*batches[0])
        scheduler.step()


def train_stub(step, optimizer, scheduler, batches, epochs):
    raise NotImplementedError  # your code here


def test_scheduled_training_right():
    assert check.scheduled_training(train_right).passed


@pytest.mark.parametrize(
    ("fn", "mistake"),
    [
        (train_per_batch, "scheduler_per_batch"),
        (train_scheduler_first, "scheduler_before_optimizer"),
        (train_no_scheduler, "no_scheduler_step"),
        (train_once_at_end, "wrong_scheduler_count"),
        (train_one_batch_per_epoch, "wrong_number_of_steps"),
        (lambda *args: args[99], "raised"),
        (3, "not_callable"),
    ],
)
def test_scheduled_training_mistakes(fn, mistake):
    assert check.scheduled_training(fn).mistake == mistake


def test_scheduled_training_placeholder():
    assert check.scheduled_training(None).status == "not_attempted"
    assert check.scheduled_training(train_stub).status == "not_attempted"
