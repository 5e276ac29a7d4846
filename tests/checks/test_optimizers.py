"""Lesson 05's checks on answers a learner writes, beyond the declarations' generated tests."""

from __future__ import annotations

import copy
from fractions import Fraction
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import MultiplicativeLR

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


def step_with_a_closure(a, b, optimizer, x, y):
    """Right: the closure form of lesson 05's tour, step(closure) returns the loss before the step."""

    def closure():
        optimizer.zero_grad()
        loss = ((a + b * x - y) ** 2).mean()
        loss.backward()
        return loss

    return optimizer.step(closure).item()


@pytest.mark.parametrize(
    "answer, status, mistake",
    [
        (step_by_hand, "correct", None),
        (step_with_a_closure, "correct", None),
        (step_without_zeroing, "wrong", "no_zero_grad"),
    ],
)
def test_train_step_on_learner_code(answer, status, mistake):
    verdict = check.train_step(answer)
    assert (verdict.status, verdict.mistake) == (status, mistake), verdict


def step_on_absolute_error(a, b, optimizer, x, y):
    loss = (a + b * x - y).abs().mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


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


def train_slipping(slip: str):
    def train(step, optimizer, scheduler, batches, epochs):
        for _ in range(epochs):
            for x, y in batches:
                if slip == "no step":
                    optimizer.step()  # the rates a scheduler sets, but no forward or backward pass: nothing trains
                else:
                    step(*{"first batch": batches[0], "swapped": (y, x)}[slip])
            scheduler.step()

    return train


@pytest.mark.parametrize("slip", ["no step", "first batch", "swapped"])
def test_scheduled_training_needs_step_on_every_batch(slip):
    verdict = check.scheduled_training(train_slipping(slip))
    assert verdict.mistake == "other", verdict
    assert ("ran 0 times" if slip == "no step" else "did not get each (x, y)") in verdict.message, verdict


EqualToAll = type("EqualToAll", (), {"__eq__": lambda self, other: True, "__hash__": object.__hash__})


def test_train_step_does_not_call_an_object_equal_to_all_none():
    verdict = check.train_step(lambda a, b, optimizer, x, y: EqualToAll())
    assert verdict.mistake == "not_a_number" and "EqualToAll" in verdict.message, verdict


def test_train_step_names_the_type_of_a_number_that_is_not_a_float():
    def step_numpy_float32(a, b, optimizer, x, y):
        loss = F.mse_loss(a + b * x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return np.float32(loss.item())

    verdict = check.train_step(step_numpy_float32)
    assert verdict.mistake == "not_a_number" and "float32" in verdict.message, verdict


def test_train_step_says_when_step_ran_too_often():
    def step_twice(a, b, optimizer, x, y):
        loss = F.mse_loss(a + b * x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        optimizer.step()  # nothing to apply, but not the step asked for
        return loss.item()

    verdict = check.train_step(step_twice)
    assert verdict.mistake == "other" and "step() ran 6 times" in verdict.message, verdict


def scale_by_the_probes_factor(optimizer, factor):
    for group in optimizer.param_groups:
        group["lr"] *= 0.3


def scale_and_round(optimizer, factor):
    for group in optimizer.param_groups:
        group["lr"] = round(group["lr"] * factor, 3)


def scale_momentum_too(optimizer, factor):
    for group in optimizer.param_groups:
        group["lr"] *= factor
        group["momentum"] *= factor


@pytest.mark.parametrize("answer", [scale_by_the_probes_factor, scale_and_round, scale_momentum_too])
def test_scale_learning_rates_rejects_answers_that_fit_one_probe_only(answer):
    verdict = check.scale_learning_rates(answer)
    assert not verdict.passed, verdict
    if answer is scale_by_the_probes_factor:
        assert verdict.mistake == "ignored_argument", verdict
    if answer is scale_momentum_too:
        assert "momentum changed too" in verdict.message, verdict


@pytest.mark.filterwarnings("ignore:Detected call of")  # torch's warning, which the learner sees too
def test_review9_a_rate_set_from_initial_lr_is_named_on_a_second_call_and_a_rate_must_stay_one_step_takes():
    verdict = check.scale_learning_rates(lambda opt, factor: torch.optim.lr_scheduler.LambdaLR(opt, lambda e: factor))
    assert verdict.mistake == "rate_from_initial_lr", verdict
    assert check.scale_learning_rates(lambda opt, factor: MultiplicativeLR(opt, lambda e: factor).step()).passed
    verdict = check.scale_learning_rates(scale_and_round)  # right once, then 0.0015 rounds: named since review 10
    assert verdict.mistake == "rounded" and "rounded to 3 decimals" in verdict.message, verdict
    verdict = check.scale_learning_rates(partial(check._scale, new_lr=lambda lr, _, f: Fraction(lr) * Fraction(f)))
    assert verdict.mistake == "not_a_number" and "of type Fraction" in verdict.message, verdict


def train_first_example_only(step, optimizer, scheduler, batches, epochs):
    for _ in range(epochs):
        for x, y in batches:
            step(x[:1], y[:1])
        scheduler.step()


def train_four_epochs(step, optimizer, scheduler, batches, epochs):
    for _ in range(4):  # the number of epochs the check's message once showed
        for x, y in batches:
            step(x, y)
        scheduler.step()


def train_halving_by_hand(step, optimizer, scheduler, batches, epochs):
    for epoch in range(epochs):
        for x, y in batches:
            step(x, y)
        if epoch % 2 == 1:
            for group in optimizer.param_groups:
                group["lr"] *= 0.5


@pytest.mark.parametrize("answer", [train_first_example_only, train_four_epochs, train_halving_by_hand])
def test_scheduled_training_rejects_answers_that_fit_one_probe_only(answer):
    verdict = check.scheduled_training(answer)
    assert not verdict.passed, verdict
    if answer is train_halving_by_hand:
        assert "scheduler you were given" in verdict.message, verdict


def step_with(a, b, optimizer, x, y, count=None, rate=None, order="backward step zero_grad"):
    """A train step that may type in the probe's count of points or learning rate, in any order of calls."""
    for group in optimizer.param_groups if rate is not None else ():
        group["lr"] = rate
    loss = ((a + b * x - y) ** 2).sum() / (count or len(x))
    for call in order.split():
        if call == "zero_by_hand":
            a.grad.zero_(), b.grad.zero_()
        else:
            getattr(loss if call == "backward" else optimizer, call)()
    return loss.item()


@pytest.mark.parametrize("typed", [{"count": 7}, {"rate": 0.05}])
def test_review3_train_step_uses_its_data_and_its_optimizer_rate(typed):
    assert check.train_step(partial(step_with, **typed)).mistake == "other"


def test_review3_zeroing_by_hand_before_backward_is_named_and_success_fits_every_order():
    verdict = check.train_step(partial(step_with, order="zero_by_hand backward step"))
    assert verdict.mistake == "zeroed_before_backward" and "zero_grad()" in verdict.message, verdict
    for order in ("backward step zero_grad", "zero_grad backward step"):
        verdict = check.train_step(partial(step_with, order=order))
        assert verdict.passed and "backward, step, zero_grad" not in verdict.message, verdict


def test_review3_scale_learning_rates_works_for_any_number_of_groups():
    def first_three(optimizer, factor):
        for i in range(3):
            optimizer.param_groups[i]["lr"] *= factor

    assert check.scale_learning_rates(first_three).mistake == "other"


def _epochs_then(extra_steps: int, skip_first: bool):
    def train(step, optimizer, scheduler, batches, epochs):
        for epoch in range(epochs):
            if skip_first and epoch > 0:  # the scheduler stepped before each epoch but the first: one step short
                scheduler.step()
            for x, y in batches:
                step(x, y)
            if not skip_first:
                scheduler.step()
        for _ in range(extra_steps):
            scheduler.step()

    return train


@pytest.mark.parametrize(("extra_steps", "skip_first"), [(0, True), (1, False)], ids=["one_short", "one_more"])
def test_review5_the_scheduler_counts_every_epoch_and_no_more(extra_steps, skip_first):
    verdict = check.scheduled_training(_epochs_then(extra_steps, skip_first))
    assert not verdict.passed and "the scheduler has counted" in verdict.message, verdict
    assert check.scheduled_training(_epochs_then(0, False)).passed


def _mse(a, b, x, y):
    return ((a + b * x - y) ** 2).mean()


def zeroes_one(name):
    def step(a, b, optimizer, x, y):  # review 11: one gradient emptied by hand, the other left to add up
        loss = _mse(a, b, x, y)
        loss.backward()
        optimizer.step()
        {"a": a, "b": b}[name].grad = None
        return loss.item()

    return step


def backward_twice(a, b, optimizer, x, y):
    loss = _mse(a, b, x, y)
    loss.backward(retain_graph=True)
    loss.backward()  # the gradients add up: twice this batch's
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


@pytest.mark.parametrize(("answer", "mistake", "words"), [
    (zeroes_one("a"), "zeroed_one_gradient", "optimizer.zero_grad()"),
    (zeroes_one("b"), "zeroed_one_gradient", "optimizer.zero_grad()"),
    (backward_twice, "backward_twice", "twice")], ids=["only a", "only b", "backward twice"])  # fmt: skip
def test_review11_a_step_that_empties_one_gradient_or_runs_backward_twice_is_named(answer, mistake, words):
    verdict = check.train_step(answer)
    assert verdict.mistake == mistake and words in verdict.message, verdict


@pytest.mark.parametrize("decimals", [1, 2, 3, 4])  # float32 keeps no more digits of a loss near 39
def test_review10_a_loss_rounded_to_any_decimals_is_named(decimals):
    verdict = check.train_step(lambda *args: round(check._step(*args), decimals))
    assert verdict.mistake == "rounded" and f"{decimals} decimal" in verdict.message, verdict
    assert "loss.item()" in verdict.message, verdict


@pytest.mark.parametrize("decimals", [3, 4, 6])
def test_review10_rates_rounded_to_any_decimals_are_named(decimals):
    def scale_and_round(optimizer, factor):
        for group in optimizer.param_groups:
            group["lr"] = round(group["lr"] * factor, decimals)

    verdict = check.scale_learning_rates(scale_and_round)
    assert verdict.mistake == "rounded" and f"{decimals} decimal" in verdict.message, verdict


def test_review10_rates_in_other_number_types_are_not_called_rounded():
    for new_lr in (lambda lr, _, f: float(np.float32(lr * f)), lambda lr, _, f: torch.tensor(float(lr) * f)):
        assert check.scale_learning_rates(partial(check._scale, new_lr=new_lr)).passed


def test_review10_a_used_up_iterator_is_named_and_one_epoch_still_is_told_to_loop_over_epochs():
    def loop_over_an_iterator(step, optimizer, scheduler, batches, epochs):
        batches = iter(batches)
        for _ in range(epochs):
            for x, y in batches:
                step(x, y)
            scheduler.step()

    verdict = check.scheduled_training(loop_over_an_iterator)
    assert verdict.mistake == "one_epoch_only" and "iterator" in verdict.message, verdict
    assert "loop over the epochs" not in verdict.message, verdict
    verdict = check.scheduled_training(partial(check._train, fault="one_epoch_only"))
    assert verdict.mistake == "one_epoch_only" and "loop over the epochs" in verdict.message, verdict


def scale_then_clear(optimizer, factor):
    for group in optimizer.param_groups:
        group["lr"] *= factor
    optimizer.state.clear()


def scale_by_reinit(optimizer, factor):
    groups = [dict(group, lr=group["lr"] * factor) for group in optimizer.param_groups]
    type(optimizer).__init__(optimizer, groups, **optimizer.defaults)


@pytest.mark.parametrize("answer", [scale_then_clear, scale_by_reinit], ids=["state_clear", "reinit"])
def test_review11_scaling_the_rates_must_keep_the_momentum_buffers(answer):
    verdict = check.scale_learning_rates(answer)
    assert not verdict.passed and "cleared (or changed) its momentum buffers" in verdict.message, verdict


def test_review11_scaling_in_place_in_any_loop_form_passes():
    def loop(optimizer, factor):
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] * factor

    assert check.scale_learning_rates(loop).passed
    assert check.scale_learning_rates(lambda o, f: [g.__setitem__("lr", g["lr"] * f) for g in o.param_groups]).passed


def half_loss_double_rate(a, b, optimizer, x, y):
    loss = 0.5 * ((a + b * x - y) ** 2).mean()
    loss.backward()
    for group in optimizer.param_groups:
        group["lr"] *= 2
    optimizer.step()
    for group in optimizer.param_groups:
        group["lr"] /= 2
    optimizer.zero_grad()
    return 2 * loss.item()


def update_by_hand(a, b, optimizer, x, y):
    loss = ((a + b * x - y) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    lr = optimizer.param_groups[0]["lr"]
    with torch.no_grad():
        a -= lr * a.grad
        b -= lr * b.grad
    for group in optimizer.param_groups:  # step() runs, with nothing to update
        saved, group["lr"] = group["lr"], 0.0
    optimizer.step()
    for group in optimizer.param_groups:
        group["lr"] = saved
    return loss.item()


@pytest.mark.parametrize("answer", [half_loss_double_rate, update_by_hand], ids=["half_mse", "by_hand"])
def test_review11_a_right_result_from_another_gradient_step_is_named(answer):
    verdict = check.train_step(answer)
    assert not verdict.passed and "a and b are right, but step() used a gradient" in verdict.message, verdict


def step_on_a_copy(once: bool):
    """A step on copy.deepcopy(optimizer), made at every call or once: its parameters are copies, not a and b."""
    copies = {}

    def step(a, b, optimizer, x, y):
        opt = copies.setdefault(id(optimizer), copy.deepcopy(optimizer)) if once else copy.deepcopy(optimizer)
        loss = ((a + b * x - y) ** 2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss.item()

    return step


@pytest.mark.parametrize("once", [False, True], ids=["every_call", "once"])
def test_learnD_a_step_on_a_copy_of_the_optimizer_is_told_so(once):
    verdict = check.train_step(step_on_a_copy(once))
    assert verdict.mistake == "unused_optimizer" and "copy of the optimizer" in verdict.message, verdict
    assert "never changed" not in verdict.message and "use the optimizer you are given" in verdict.message, verdict


def test_learnD_a_new_optimizer_over_a_and_b_is_not_called_a_copy():
    verdict = check.train_step(step_on_a_new_optimizer)
    assert "copy" not in verdict.message and "optimizer.step() never ran" in verdict.message, verdict


def test_learnD_a_scheduler_stepped_twice_every_second_epoch_is_told_how_it_counted():
    def twice_every_second(step, optimizer, scheduler, batches, epochs):
        for epoch in range(epochs):
            for x, y in batches:
                step(x, y)
            if epoch % 2 == 1:  # the right rates, but the count jumps by two
                scheduler.step()
                scheduler.step()

    verdict = check.scheduled_training(twice_every_second)
    assert not verdict.passed and "did not count" not in verdict.message, verdict
    assert "0, 0, 2, 2" in verdict.message and "0, 1, 2, 3" in verdict.message, verdict
    assert "once per epoch" in verdict.message, verdict


def test_learnD_a_right_step_that_also_copies_the_optimizer_passes():
    def step(a, b, optimizer, x, y):
        loss = ((a + b * x - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        copy.deepcopy(optimizer).step()  # a copy stepped too, over copies: a and b are as the given step left them
        optimizer.zero_grad()
        return loss.item()

    assert check.train_step(step).passed


def step_by(how: str):
    """A right step whose step() runs on copy.copy(optimizer) (which shares its param_groups and state, so it
    updates a and b) or as the class's step called on the given optimizer."""

    def step(a, b, optimizer, x, y):
        loss = ((a + b * x - y) ** 2).mean()
        loss.backward()
        copy.copy(optimizer).step() if how == "shallow_copy" else type(optimizer).step(optimizer)
        optimizer.zero_grad()
        return loss.item()

    return step


@pytest.mark.parametrize("how", ["shallow_copy", "class_step"])
def test_review12_a_step_of_the_given_optimizer_by_another_route_passes(how):
    verdict = check.train_step(step_by(how))
    assert verdict.passed, verdict


def step_over_clones(a, b, optimizer, x, y):
    """A new SGD over clones of a and b, given a and b's gradients: no copy of the optimizer, and a, b never move."""
    clones = [p.detach().clone().requires_grad_() for p in (a, b)]
    loss = ((a + b * x - y) ** 2).mean()
    loss.backward()
    clones[0].grad, clones[1].grad = a.grad, b.grad
    torch.optim.SGD(clones, lr=optimizer.param_groups[0]["lr"]).step()
    optimizer.zero_grad()
    return loss.item()


def test_review12_an_optimizer_over_clones_is_not_said_to_copy_the_optimizer():
    verdict = check.train_step(step_over_clones)
    assert verdict.mistake == "unused_optimizer" and "ran on a copy of the optimizer" not in verdict.message, verdict
    assert "an optimizer whose parameters are copies, not a and b" in verdict.message, verdict
    assert "built over clones" in verdict.message and "use the optimizer you are given" in verdict.message, verdict


def sum_backward_mean_reported(a, b, optimizer, x, y):
    """Backward on the sum (gradients len(x) times too large), the mean reported: the losses grow past 100, where
    float32 keeps fewer than 4 decimals, so they sit on the grid of 4 decimals by chance."""
    loss = ((a + b * x - y) ** 2).sum()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item() / len(x)


def test_learn1_losses_too_large_for_their_decimals_are_not_called_rounded():
    verdict = check.train_step(sum_backward_mean_reported)
    assert verdict.mistake == "other" and "rounded" not in verdict.message, verdict
    assert "a, b = " in verdict.message and "mean squared error" in verdict.message, verdict


def step_by_torch_func(a, b, optimizer, x, y):
    """Right (alt5 F1): the gradients from torch.func on detached a and b, written into .grad, then step()."""
    mse = lambda a_, b_: ((a_ + b_ * x - y) ** 2).mean()  # noqa: E731
    (ga, gb), loss = torch.func.grad_and_value(mse, argnums=(0, 1))(a.detach(), b.detach())
    a.grad, b.grad = ga, gb
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def step_by_formulas(factor: float = 2.0, reduce=torch.mean):
    """Lesson 02's gradients of the MSE written by hand into .grad (right with 2 and the mean; wrong otherwise)."""

    def step(a, b, optimizer, x, y):
        with torch.no_grad():
            e = a + b * x - y
            loss = (e**2).mean()
            a.grad, b.grad = (factor * reduce(term).reshape(1) for term in (e, e * x))
        optimizer.step()
        optimizer.zero_grad()
        return loss.item()

    return step


@pytest.mark.parametrize("answer", [step_by_torch_func, step_by_formulas()], ids=["torch_func", "by_hand"])
def test_alt5_right_gradients_not_from_backward_pass(answer):
    verdict = check.train_step(answer)
    assert verdict.passed, verdict


@pytest.mark.parametrize(("answer", "seen"), [
    (step_by_formulas(factor=1.0), "-5.2995, -12.0005"), (step_by_formulas(reduce=torch.sum), "-74.1933, -168.0070")],
    ids=["no_factor_2", "sum_not_mean"])  # fmt: skip
def test_alt5_wrong_gradients_written_by_hand_are_refused_and_shown(answer, seen):
    verdict = check.train_step(answer)
    assert not verdict.passed and "a and b are right" not in verdict.message, verdict
    assert f"step() found the gradients {seen}" in verdict.message, verdict
    assert "the mean squared error's are -10.5990, -24.0010" in verdict.message, verdict
