"""Lesson 03's checks, beyond the generated tests: forms the statements allow, and what the messages name."""

import torch

from course.checks import autograd as check


def test_a_parameter_made_as_the_lesson_fixes_it_passes_and_a_wrong_value_is_named():
    assert check.make_parameter(lambda v, d, t: torch.tensor(v).to(d, t).requires_grad_()).passed
    verdict = check.make_parameter(lambda v, d, t: torch.tensor(1.0, dtype=t, device=d, requires_grad=True))
    assert verdict.mistake == "other" and "asked for 0.5, it holds [1.0]" in verdict.message


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
    verdict = check.train(lambda a, b, x, y, lr, epochs: (a, b))
    assert verdict.mistake == "other" and "got a = 0.4967, b = -0.1383" in verdict.message
