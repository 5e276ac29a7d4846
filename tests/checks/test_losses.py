"""Each check of lesson 06 recognises the right answer, the placeholder, junk, and every known mistake."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.checks import losses as check


def stub(*args):
    raise NotImplementedError  # your code here


CHECKS = [check.regression_loss, check.bce_by_hand, check.binary_loss_from_logits, check.class_loss]


@pytest.mark.parametrize("fn", CHECKS, ids=lambda f: f.__name__)
def test_placeholders_are_not_attempted(fn):
    assert fn(None).status == "not_attempted"
    assert fn(stub).status == "not_attempted"


JUNK = [
    "a string",
    42,
    lambda *a: "a string",
    lambda *a: torch.zeros(3, 3),
    lambda *a: 1 / 0,
    lambda *a: None,
    lambda *a: torch.tensor(float("nan")),
    lambda *a: torch.tensor([1, 2]),
]


@pytest.mark.parametrize("fn", CHECKS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("junk", JUNK)
def test_junk_never_raises(fn, junk):
    verdict = fn(junk)
    assert verdict.status == "wrong"
    assert verdict.message


# regression_loss ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        lambda p, y: nn.MSELoss()(p.squeeze(1), y),
        lambda p, y: F.mse_loss(p, y.unsqueeze(1)),
        lambda p, y: ((p.view(-1) - y) ** 2).mean(),
        lambda p, y: nn.MSELoss()(p.squeeze(1), y).item(),
    ],
)
def test_regression_loss_correct(answer):
    assert check.regression_loss(answer).passed


def test_regression_loss_shape_mismatch_is_diagnosed_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the check must swallow the broadcast warning
        verdict = check.regression_loss(lambda p, y: nn.MSELoss()(p, y))
    assert verdict.mistake == "shape_mismatch"
    assert "squeeze" in verdict.message


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (lambda p, y: nn.MSELoss(reduction="sum")(p.squeeze(1), y), "sum_not_mean"),
        (lambda p, y: (p.squeeze(1) - y).abs().mean(), "not_squared"),
        (lambda p, y: F.mse_loss(p.squeeze(1), y).sqrt(), "root_of_mse"),
        (lambda p, y: nn.MSELoss(reduction="none")(p.squeeze(1), y), "not_scalar"),
        (lambda p, y: (p.squeeze(1) - y).mean(), "other"),
    ],
)
def test_regression_loss_mistakes(answer, mistake):
    assert check.regression_loss(answer).mistake == mistake


# bce_by_hand ----------------------------------------------------------------------------------


def test_bce_by_hand_correct():
    assert check.bce_by_hand(lambda p, y: -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()).passed
    assert check.bce_by_hand(lambda p, y: nn.BCELoss()(p, y)).passed


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (lambda p, y: (y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean(), "wrong_sign"),
        (lambda p, y: -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).sum(), "sum_not_mean"),
        (lambda p, y: -(y * torch.log(1 - p) + (1 - y) * torch.log(p)).mean(), "swapped_terms"),
        (lambda p, y: -(y * torch.log(p)).mean(), "missing_negative_term"),
        (lambda p, y: -(y * torch.log(p) + (1 - y) * torch.log(1 - p)), "not_scalar"),
    ],
)
def test_bce_by_hand_mistakes(answer, mistake):
    assert check.bce_by_hand(answer).mistake == mistake


# binary_loss_from_logits ----------------------------------------------------------------------


def test_binary_loss_from_logits_correct():
    assert check.binary_loss_from_logits(lambda z, y: nn.BCEWithLogitsLoss()(z, y)).passed


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (lambda z, y: nn.BCEWithLogitsLoss()(torch.sigmoid(z), y), "probabilities_not_logits"),
        (lambda z, y: nn.BCELoss()(torch.sigmoid(z), y), "bce_after_sigmoid"),
        (lambda z, y: nn.BCELoss()(z, y), "bce_on_logits"),
        (lambda z, y: nn.BCEWithLogitsLoss(reduction="sum")(z, y), "sum_not_mean"),
    ],
)
def test_binary_loss_from_logits_mistakes(answer, mistake):
    assert check.binary_loss_from_logits(answer).mistake == mistake


# class_loss -----------------------------------------------------------------------------------


def test_class_loss_correct():
    assert check.class_loss(lambda z, y: nn.CrossEntropyLoss()(z, y)).passed
    assert check.class_loss(lambda z, y: F.nll_loss(F.log_softmax(z, dim=1), y)).passed


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (lambda z, y: nn.CrossEntropyLoss()(torch.softmax(z, dim=1), y), "softmax_before_cross_entropy"),
        (lambda z, y: nn.NLLLoss()(z, y), "nll_without_log_softmax"),
        (lambda z, y: nn.CrossEntropyLoss(reduction="sum")(z, y), "sum_not_mean"),
    ],
)
def test_class_loss_mistakes(answer, mistake):
    assert check.class_loss(answer).mistake == mistake


def test_checks_leave_the_global_random_stream_alone():
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    for fn in CHECKS:
        fn(lambda *a: torch.tensor(0.0))
    assert torch.equal(before, torch.random.get_rng_state())
