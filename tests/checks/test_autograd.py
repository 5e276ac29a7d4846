"""Lesson 03's checks, beyond the generated tests: forms the statements allow, and what the messages name."""

import contextlib
from functools import partial

import pytest
import torch

from course.checks import autograd as check


def test_a_parameter_made_as_the_lesson_fixes_it_passes_and_a_wrong_value_is_named():
    assert check.make_parameter(lambda v, d, t: torch.tensor(v).to(d, t).requires_grad_()).passed
    verdict = check.make_parameter(lambda v, d, t: torch.tensor(1.0, dtype=t, device=d, requires_grad=True))
    assert verdict.mistake == "other" and "asked for -1.25, it holds [1.0]" in verdict.message


def test_an_sgd_step_through_data_passes_and_a_step_that_stops_early_is_described():
    def through_data(params, lr):
        for p in params:
            p.data -= lr * p.grad
            p.grad.zero_()

    def stops_after_one(params, lr):
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad.zero_()
                return

    assert check.sgd_step(through_data).passed
    verdict = check.sgd_step(stops_after_one)
    assert "parameter 0 moved right" in verdict.message and "parameter 1 did not move" in verdict.message


def test_wrong_numbers_of_a_loop_are_shown():
    assert check.train(lambda a, b, x, y, lr, epochs: (a, b)).mistake == "no_update"  # the parameters never moved
    verdict = check.train(lambda a, b, x, y, lr, epochs: _loop(a, b, x, y, lr, epochs - 1))
    assert verdict.mistake == "other" and "expected a = 1.5686, b = 0.8920; got a = 1.5757" in verdict.message


def _loop(a, b, x, y, lr, epochs, slip=""):
    for _ in range(epochs):
        with torch.no_grad() if slip == "all_in_no_grad" else contextlib.nullcontext():
            loss = torch.mean((a + b * x - y) ** 2)
        loss.backward()
        if slip == "zero_before_step":
            a.grad.zero_(), b.grad.zero_()
        with torch.no_grad() if slip != "rebind_recorded" else contextlib.nullcontext():
            if slip.startswith("rebind"):
                a, b = a - lr * a.grad, b - lr * b.grad
            else:
                a -= lr * a.grad
                b -= lr * b.grad
        if slip != "rebind_recorded":
            a.grad.zero_(), b.grad.zero_()
    return a, b


@pytest.mark.filterwarnings("ignore:The .grad attribute")
@pytest.mark.parametrize(
    "slip, mistake",
    [("", None), ("zero_before_step", "no_update"), ("rebind", "not_in_place"), ("rebind_recorded", "not_in_place")],
)
def test_review_loops_that_rebind_or_zero_too_early_are_named(slip, mistake):
    assert check.train(partial(_loop, slip=slip)).mistake == mistake


def test_review_a_loss_made_in_no_grad_is_not_blamed_on_rebinding_alone():
    verdict = check.train(partial(_loop, slip="all_in_no_grad"))
    assert verdict.mistake == "not_in_place" and "loss itself was computed in torch.no_grad()" in verdict.message


def test_review_a_step_must_use_its_lr_and_a_parameter_must_be_one_tensor():
    def fixed_rate(params, lr):
        with torch.no_grad():
            for p in params:
                p -= 0.1 * p.grad
                p.grad.zero_()

    assert not check.sgd_step(fixed_rate).passed
    verdict = check.make_parameter(lambda v, d, t: (torch.tensor(v, dtype=t, device=d, requires_grad=True),))
    assert verdict.mistake == "not_a_tensor" and "not a list, a tuple" in verdict.message


def test_review2_the_lessons_value_or_the_probes_rate_hard_coded_is_wrong():
    assert not check.make_parameter(lambda v, d, t: torch.tensor(0.5, dtype=t, device=d, requires_grad=True)).passed

    def fixed_probe_rate(params, lr):
        with torch.no_grad():
            for p in params:
                p -= 0.05 * p.grad
                p.grad.zero_()

    verdict = check.sgd_step(fixed_probe_rate)
    assert verdict.mistake == "other" and "the lr passed in" in verdict.message


def test_review2_a_step_that_empties_the_list_is_told_so():
    def empties(params, lr):
        check._sgd_step(params, lr)
        params.clear()

    assert "the list itself changed" in check.sgd_step(empties).message


def test_review2_a_loop_uses_its_data_and_its_epochs():
    assert not check.train(lambda a, b, x, y, lr, epochs: _loop(a, b, x, y, lr, 20)).passed

    def lesson_data(a, b, x, y, lr, epochs):
        x, y = (torch.tensor(v, dtype=torch.float32) for v in check.make_linear_data()[:2])
        return _loop(a, b, x, y, lr, epochs)

    assert not check.train(lesson_data).passed


def _trained_loop(a, b, x, y, lr, epochs, zero="after", returns=True):
    for _ in range(epochs):
        if zero == "first":
            a.grad.zero_(), b.grad.zero_()
        if zero == "first data":
            a.grad.data.zero_(), b.grad.data.zero_()
        loss = torch.mean((a + b * x - y) ** 2)
        loss.backward()
        with torch.no_grad():
            a -= lr * a.grad
            b -= lr * b.grad
        if zero == "after":
            a.grad.zero_(), b.grad.zero_()
        if zero == "guarded first" and a.grad is not None:
            a.grad.zero_(), b.grad.zero_()
    return (a, b) if returns else None


@pytest.mark.parametrize(
    "options, mistake",
    [
        ({"returns": False}, "returned_none"),
        ({"zero": "first"}, "zeroed_before_backward"),
        ({"zero": "first data"}, "zeroed_before_backward"),
    ],
)
def test_review3_a_loop_returns_its_parameters_and_zeroing_first_is_named(options, mistake):
    verdict = check.train(partial(_trained_loop, **options))
    assert verdict.mistake == mistake, verdict
    if mistake == "zeroed_before_backward":
        assert "None" in verdict.message and "not_in_place" not in verdict.message


def test_review3_a_loop_that_returns_something_else_is_told_to_return_a_and_b():
    verdict = check.train(lambda a, b, x, y, lr, epochs: _trained_loop(a, b, x, y, lr, epochs)[::-1])
    assert verdict.mistake == "other" and "return a, b" in verdict.message, verdict
    loss = check.train(lambda a, b, x, y, lr, epochs: [_trained_loop(a, b, x, y, lr, epochs), 0.5][1])
    assert loss.mistake == "not_a_pair", loss


def test_review3_a_guarded_zero_first_passes_and_the_success_names_no_order_it_did_not_use():
    verdict = check.train(partial(_trained_loop, zero="guarded first"))
    assert verdict.passed and "then the gradients zeroed" not in verdict.message, verdict


@pytest.mark.parametrize(
    "copy",
    [lambda t: t.detach().clone().requires_grad_(), lambda t: torch.tensor(t.item(), requires_grad=True)],
    ids=["detach_clone", "tensor_of_item"],
)
def test_review4_a_loop_that_trains_copies_is_told_the_callers_tensors_never_changed(copy):
    verdict = check.train(lambda a, b, x, y, lr, epochs: _loop(copy(a), copy(b), x, y, lr, epochs))
    assert verdict.mistake == "not_in_place" and "the caller's tensors never changed" in verdict.message, verdict


def test_review8_a_default_dtype_set_inside_is_named_though_the_last_call_puts_it_back():
    def make_parameter(value, device, dtype):
        torch.set_default_dtype(dtype)  # float64 for the first probe, float32 (the default) for the last
        return torch.tensor(value, device=device, requires_grad=True)

    assert check.make_parameter(make_parameter).mistake == "default_dtype_changed"
    assert torch.get_default_dtype() == torch.float32


def _frozen_by(how: str):
    def sgd_step(params, lr):
        with contextlib.nullcontext() if how == "requires_grad_" else torch.no_grad():
            for p in params[how == "last only" :]:
                if how in ("requires_grad_", "last only"):
                    p.requires_grad_(False)
                elif how == "detach_":
                    p.detach_()
                else:
                    p.requires_grad = False
            for p in params:
                p -= lr * p.grad
                p.grad.zero_()

    return sgd_step


@pytest.mark.parametrize("how", ["requires_grad_", "detach_", "requires_grad =", "last only"])
def test_review9_a_step_that_freezes_the_parameters_is_named(how):
    verdict = check.sgd_step(_frozen_by(how))
    assert verdict.mistake == "froze_parameters" and "requires grad" in verdict.message, verdict


def test_review9_a_loop_that_calls_an_unwritten_step_names_it_and_is_attempted():
    def sgd_step(params, lr):
        raise NotImplementedError  # your code here

    def train(a, b, x, y, lr, epochs):
        for _ in range(epochs):
            torch.mean((a + b * x - y) ** 2).backward()
            sgd_step([a, b], lr)
        return a, b

    verdict = check.train(train)
    assert verdict.status == "wrong" and "calls sgd_step, which still raises" in verdict.message, verdict
    assert check.sgd_step(sgd_step).status == "not_attempted"


def _made_in_inference_mode(value, device, dtype):
    with torch.inference_mode():
        return torch.tensor(value, dtype=dtype, device=device, requires_grad=True)


def _parameter_made_in_inference_mode(value, device, dtype):
    with torch.inference_mode():
        return torch.nn.Parameter(torch.full((), value, dtype=dtype, device=device))


@pytest.mark.parametrize("make", [_made_in_inference_mode, _parameter_made_in_inference_mode])
def test_review10_a_parameter_made_in_inference_mode_cannot_train_and_is_told_so(make):
    p = make(0.5, torch.device("cpu"), torch.float32)
    with pytest.raises(RuntimeError):  # what the learner would meet: it is no parameter autograd can train
        (p * p).backward()
    verdict = check.make_parameter(make)
    assert not verdict.passed, verdict
    assert "inference_mode" in verdict.message and "outside" in verdict.message, verdict


def test_review11_what_the_inference_message_claims_is_what_torch_does():
    from course.checks.autograd import INFERENCE

    with torch.inference_mode():
        a = torch.tensor(0.5, requires_grad=True)
    (a * torch.tensor(3.0)).backward()  # mixed with a normal tensor it is recorded: backward() works
    assert a.grad is not None
    assert "nothing done with it" not in INFERENCE  # the old, false claim
    with pytest.raises(RuntimeError, match="Inplace update to inference tensor"), torch.no_grad():
        a -= 0.1 * a.grad
    with pytest.raises(RuntimeError, match="Inplace update to inference tensor"):
        torch.optim.SGD([a], lr=0.1).step()
    assert (a * a).grad_fn is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        (a * a).backward()
    assert "a -= lr * a.grad" in INFERENCE and "optimizer.step()" in INFERENCE and "a * a has no grad_fn" in INFERENCE


def test_review10_a_parameter_made_in_no_grad_still_passes():
    def made_in_no_grad(value, device, dtype):
        with torch.no_grad():
            return torch.tensor(value, dtype=dtype, device=device, requires_grad=True)

    assert check.make_parameter(made_in_no_grad).passed


def test_review10_a_loop_run_in_inference_mode_names_it():
    def all_in_inference_mode(a, b, x, y, lr, epochs):
        with torch.inference_mode():
            return _loop(a, b, x, y, lr, epochs)

    verdict = check.train(all_in_inference_mode)
    assert not verdict.passed and "inference_mode" in verdict.message, verdict


def _slipped_loop(a, b, x, y, lr, epochs, slip="append"):
    """The lesson's loop, .grad set to None after each step, with a slip that raises on None but is no .grad's."""

    def compute_loss(a, b):
        loss = torch.mean((a + b * x - y) ** 2)
        return loss if slip != "no return" else None

    losses = []
    for _ in range(epochs):
        loss = compute_loss(a, b)
        loss.backward()
        with torch.no_grad():
            a -= lr * a.grad
            b -= lr * b.grad
        a.grad = b.grad = None
        losses = losses.append(loss.item())  # None from the first epoch on: the second one raises
    return a, b


def _slipped_smoothing(a, x, y, steps, lr=0.1, slip="append"):
    """Lesson 04's fixed loop, with the same slips."""

    def compute_loss(prediction):
        loss = ((prediction - y) ** 2).mean()
        return loss if slip != "no return" else None

    state, losses = torch.zeros_like(y), []
    for _ in range(steps):
        state = 0.5 * state.detach() + a * x
        loss = compute_loss(state)
        loss.backward()
        with torch.no_grad():
            a -= lr * a.grad
        a.grad = None
        losses = losses.append(loss.item())
    return losses


@pytest.mark.parametrize("slip, attribute", [("append", "append"), ("no return", "backward")])
@pytest.mark.parametrize("lesson", ["train", "smoothed_training"])
def test_review12_an_attribute_error_on_none_that_is_no_gradients_is_reported_as_raised(lesson, slip, attribute):
    from course.checks import computation_graphs

    answer = partial(_slipped_loop if lesson == "train" else _slipped_smoothing, slip=slip)
    verdict = (check.train if lesson == "train" else computation_graphs.smoothed_training)(answer)
    assert verdict.mistake == "raised", verdict
    assert f"'NoneType' object has no attribute '{attribute}'" in verdict.message, verdict
    assert "before the first backward()" not in verdict.message and "zeroing" not in verdict.message, verdict


def test_review12_zeroing_before_the_first_backward_is_still_named_in_lesson_04():
    from course.checks import computation_graphs

    def zeroes_first(a, x, y, steps, lr=0.1):
        a.grad.fill_(0.0)
        return computation_graphs._smoothed(a, x, y, steps, lr)

    verdict = computation_graphs.smoothed_training(zeroes_first)
    assert verdict.mistake == "zeroed_before_backward" and "None" in verdict.message, verdict


def _by_hand(a, b, x, y, lr, epochs):
    """The right loop with the gradients derived by hand: no backward(), nothing zeroed."""
    with torch.no_grad():
        for _ in range(epochs):
            error = a + b * x - y
            a -= lr * 2 * error.mean()
            b -= lr * 2 * (error * x).mean()
    return a, b


def test_review12_the_success_of_train_states_what_was_verified_not_how():
    verdict = check.train(_by_hand)
    assert verdict.passed, verdict
    assert "backward()" not in verdict.message and "no_grad" not in verdict.message, verdict
    assert "end where full-batch gradient descent takes them" in verdict.message, verdict


def test_review12_a_pair_as_a_1_by_2_or_2_by_1_tensor_is_a_pair():
    for shape in ((1, 2), (2, 1)):
        verdict = check.train(
            lambda a, b, x, y, lr, epochs, s=shape: torch.stack(_by_hand(a, b, x, y, lr, epochs)).reshape(s)
        )
        assert verdict.passed, verdict


def _rebinds_then_regrads(a, b, x, y, lr, epochs):
    for _ in range(epochs):
        torch.mean((a + b * x - y) ** 2).backward()
        with torch.no_grad():
            a, b = a - lr * a.grad, b - lr * b.grad
        a.requires_grad_(), b.requires_grad_()
    return a, b


def test_review12_a_rebinding_made_trainable_again_is_told_of_the_rebinding_not_of_copies():
    verdict = check.train(_rebinds_then_regrads)
    assert verdict.mistake == "not_in_place", verdict
    assert "a = a - lr * a.grad" in verdict.message and "copies" not in verdict.message, verdict
