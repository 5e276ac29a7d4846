"""Lesson 08's checks on the answers reviewers wrote, beyond the declarations' generated tests (review 9 on)."""

from __future__ import annotations

from torch import nn

from course.checks import nonlinearity_and_mlps as check


def test_review9_a_clipped_step_that_casts_the_model_to_float64_is_told_so():
    def clipped_step(model, optimizer, x, y, max_norm):
        model.double()  # the caller's model: its next float32 batch fails on the dtype
        optimizer.zero_grad()
        loss = nn.MSELoss()(model(x.double()), y.double())
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        return loss.item()

    verdict = check.clipped_step(clipped_step)
    assert verdict.mistake == "mutated_input" and "changed the model it was given" in verdict.message, verdict
