"""Second look at round 11's check changes: causes told only where they hold (lessons 06, 07 and 14)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.checkpoints import load_checkpoint
from course.checks import losses, models, putting_it_together

SAFE_OFF = {  # right formulas with a safe sigmoid or softmax (never a log of a rounded 0.0), then wrong by a little
    "sigmoid_minus_0.01": (losses.binary_loss_from_logits,
                           lambda z, y: (z.clamp(min=0) - z * y - torch.sigmoid(z.abs()).log()).mean() - 0.01),
    "sigmoid_over_7": (losses.binary_loss_from_logits,
                       lambda z, y: (z.clamp(min=0) - z * y - torch.sigmoid(z.abs()).log()).sum() / 7),
    "softmax_minus_0.01": (losses.class_loss, lambda z, y: (z.max(1).values - z.softmax(1).max(1).values.log()
                                                             - z[range(len(y)), y]).mean() - 0.01),
}  # fmt: skip


@pytest.mark.parametrize("check, answer", SAFE_OFF.values(), ids=SAFE_OFF)
def test_a_loss_off_by_a_little_with_a_safe_sigmoid_is_not_told_it_has_an_epsilon(check, answer):
    verdict = check(answer)
    assert not verdict.passed and "epsilon" not in verdict.message and "compare with the lesson" in verdict.message, (
        verdict
    )


def test_a_safe_sigmoid_written_right_still_passes():
    right = losses.binary_loss_from_logits(lambda z, y: (z.clamp(min=0) - z * y - torch.sigmoid(z.abs()).log()).mean())
    assert right.passed, right


def test_an_epsilon_after_a_rounded_sigmoid_is_still_named():  # round 11's own case, with xlogy too
    def xlogy(z, y):
        p = z.sigmoid()
        return -(torch.xlogy(y, p + 1e-10) + torch.xlogy(1 - y, 1 - p + 1e-10)).mean()

    verdict = losses.binary_loss_from_logits(xlogy)
    assert not verdict.passed and "epsilon" in verdict.message and "max(z, 0)" in verdict.message, verdict


def _logistic(out):
    class Logistic(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.linear = nn.Linear(n, 1)

        def forward(self, x):
            return out(torch.sigmoid(self.linear(x)))

    return Logistic


@pytest.mark.parametrize(
    "out, words",
    [(lambda p: None, "return"), (lambda p: p.detach().numpy(), "NumPy"), (lambda p: 0.5, "a number")],
    ids=["none", "numpy", "number"],
)
def test_a_logistic_model_returning_no_tensor_is_not_told_of_a_tuple(out, words):
    verdict = models.logistic_model(_logistic(out))
    assert verdict.mistake == "wrong_shape" and "nothing alongside" not in verdict.message, verdict
    assert words in verdict.message, verdict


def test_a_logistic_model_returning_a_tuple_is_still_told_to_return_one_tensor():
    verdict = models.logistic_model(_logistic(lambda p: (p, p.logit())))
    assert verdict.mistake == "wrong_shape" and "one tensor" in verdict.message, verdict


def test_a_loop_of_ones_own_that_steps_a_new_scheduler_is_not_told_about_fit():
    def resume(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs):
        ckpt = load_checkpoint(path, model, optimizer, scheduler, generator=generator)
        fresh, history = torch.optim.lr_scheduler.StepLR(optimizer, 2, gamma=0.5), copy.deepcopy(ckpt["history"])
        for _ in range(ckpt["epoch"], epochs):
            history["lr"].append(optimizer.param_groups[0]["lr"])
            losses_seen = []
            for xb, yb in loader:
                optimizer.zero_grad()
                loss = F.mse_loss(model(xb), yb) if loss_fn is None else loss_fn(model(xb), yb)
                loss.backward()
                optimizer.step()
                losses_seen.append(loss.item())
            history["train_loss"].append(sum(losses_seen) / len(losses_seen))
            fresh.step()  # a scheduler built anew, stepped by the loop itself: no fit here
        return history

    verdict = putting_it_together.resume(resume)
    assert "never stepped" in verdict.message and "fit stepped" not in verdict.message, verdict
    assert "the one you restored" in verdict.message, verdict


@pytest.mark.parametrize("exercise", ["binary_loss_from_logits", "class_loss"])
def test_a_complex_loss_gets_its_numbers_not_a_failure_of_the_check(exercise):
    """The epsilon rule compares losses with <, which complex numbers do not have: it looks at real losses only."""
    right = getattr(losses, exercise).reference
    verdict = getattr(losses, exercise)(lambda z, y: right(z, y) + 0j)
    assert not verdict.passed and "could not use your answer" not in verdict.message, verdict
    assert "j" in verdict.message, verdict  # the numbers shown are complex: they point at the mistake
