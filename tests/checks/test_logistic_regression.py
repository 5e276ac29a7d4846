"""What the generated tests (test_declarations.py) cannot say about lesson 12's checks."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from course.checks import logistic_regression as check


def test_promised_diagnoses():
    leaky = check.scale_features.mistakes[0].wrong
    assert check.scale_features(leaky).mistake == "leakage"
    buggy = check.fixed_setup.mistakes[0].wrong  # the lesson's buggy setup, unchanged
    assert check.fixed_setup(buggy).mistake == "sigmoid_before_logits_loss"


def test_models_are_judged_by_what_they_compute():
    class SigmoidInForward(nn.Module):  # no nn.Sigmoid module anywhere: torch.sigmoid in forward
        def __init__(self, n, score=None):
            super().__init__()
            self.score = score or nn.Linear(n, 1)

        def forward(self, x):
            return torch.sigmoid(self.score(x))

    assert check.fixed_setup(lambda n: (SigmoidInForward(n), nn.BCELoss())).passed
    assert check.validation_accuracy(SigmoidInForward(30, check._linear())).passed
    # ends with a "probability" layer, but a softmax over one output is 1 whatever the input
    softmax = check.fixed_setup(lambda n: (nn.Sequential(nn.Linear(n, 1), nn.Softmax(dim=-1)), nn.BCELoss()))
    assert softmax.mistake == "softmax_one_output"
    # a sigmoid that is not of an affine score is no logistic model
    squashed_twice = check.fixed_setup(
        lambda n: (nn.Sequential(nn.Linear(n, 1), nn.Sigmoid(), nn.Sigmoid()), nn.BCELoss())
    )
    assert not squashed_twice.passed


def test_validation_accuracy_names_the_accuracy_and_restores_the_mode():
    weak = check.validation_accuracy.mistakes[2].wrong()
    assert "0.8772" in str(check.validation_accuracy(weak))
    trained = nn.Sequential(check._linear(), nn.Dropout(0.9))  # dropout would ruin it in training mode
    trained.train()
    assert check.validation_accuracy(trained).passed
    assert trained.training and trained[1].training


def test_pick_threshold_accepts_any_threshold_with_the_same_decisions():
    # 0.86 and 0.61 decide exactly like 0.9 and 0.7 on the probe: nothing lies between
    assert check.pick_threshold(lambda p, y, k: [0.86, 0.61][k]).passed
    assert not check.pick_threshold(lambda p, y, k: [0.85, 0.61][k]).passed


def test_checks_leave_the_learners_random_numbers_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check.fixed_setup(lambda n: (nn.Linear(n, 1), nn.BCEWithLogitsLoss()))
    assert torch.equal(torch.rand(3), expected)


def test_scale_features_judges_the_spread_too():
    def scaled(x, rows, spread):
        return tuple(torch.tensor((x[r] - x[rows[0]].mean(0)) / spread(x[rows[0]]), dtype=torch.float32) for r in rows)

    assert check.scale_features(lambda x, *rows: scaled(x, rows, lambda t: t.std(0, ddof=1))).passed
    for wrong in (lambda t: t.var(0), lambda t: 2 * t.std(0), lambda t: np.abs(t).max(0), lambda t: 1.0):
        assert not check.scale_features(lambda x, *rows, w=wrong: scaled(x, rows, w)).passed


def test_scale_features_notices_x_changed_in_place():
    def in_place(x, *rows):
        x -= x[rows[0]].mean(0)
        x /= x[rows[0]].std(0)
        return tuple(torch.tensor(x[r], dtype=torch.float32) for r in rows)

    assert check.scale_features(in_place).mistake == "mutated_input"
