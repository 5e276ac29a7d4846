"""Lesson 06's checks on answers a learner writes, beyond the declarations' generated tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import (
    Bernoulli,
    Binomial,
    Categorical,
    Independent,
    OneHotCategorical,
    kl,
    kl_divergence,
)

from course.checks import losses as check


def test_a_loss_of_shape_1_is_one_number_too():
    assert check.regression_loss(lambda p, y: F.mse_loss(p.squeeze(1), y).reshape(1)).passed


def test_a_number_from_item_cannot_be_backpropagated():
    verdict = check.class_loss(lambda z, y: F.cross_entropy(z, y).item())
    assert verdict.mistake == "not_backpropagatable"


def test_the_broadcast_mistake_is_named_without_printing_the_warning(capsys, recwarn):
    verdict = check.regression_loss(lambda p, y: nn.MSELoss()(p, y))
    assert verdict.mistake == "shape_mismatch"
    assert capsys.readouterr() == ("", "") and not recwarn.list


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (
            lambda z, y: -(y * torch.log(torch.sigmoid(z)) + (1 - y) * torch.log(1 - torch.sigmoid(z))).mean(),
            "log_of_sigmoid",
        ),
        (lambda z, y: F.binary_cross_entropy(torch.sigmoid(z), y), "sigmoid_then_bce"),
        (lambda z, y: nn.BCEWithLogitsLoss()(torch.sigmoid(z), y), "sigmoid_before_logits_loss"),
    ],
    ids=["naive", "bce_after_sigmoid", "double_sigmoid"],
)
def test_unsafe_binary_losses_are_named(answer, mistake):
    assert check.binary_loss_from_logits(answer).mistake == mistake


def naive_cross_entropy(logits, labels):
    probabilities = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)
    return -torch.log(probabilities[torch.arange(len(labels)), labels]).mean()


def test_cross_entropy_as_written_overflows_on_the_extreme_batch():
    verdict = check.class_loss(naive_cross_entropy)
    assert verdict.mistake == "unstable_softmax" and "logsumexp" in verdict.message


def test_the_fallback_names_both_batches():
    verdict = check.bce_by_hand(lambda p, y: (p - y).abs().mean())
    assert verdict.mistake == "other" and verdict.message.count(",") >= 2


def test_a_mean_per_class_is_not_the_mean_over_the_batch():
    verdict = check.bce_by_hand(lambda p, y: -(torch.log(p[y == 1]).mean() + torch.log(1 - p[y == 0]).mean()) / 2)
    assert verdict.mistake == "other", verdict


def test_scores_of_whole_columns_are_named():
    verdict = check.class_loss(lambda z, y: (torch.logsumexp(z, dim=1) - z[:, y]).mean())
    assert verdict.mistake == "shape_mismatch" and "torch.arange(N)" in verdict.message, verdict


@pytest.mark.parametrize(
    "answer",
    [
        lambda p, y: torch.tensor(F.mse_loss(p.squeeze(1), y).item(), requires_grad=True),  # a new leaf
        lambda p, y: F.mse_loss(p.squeeze(1), y).detach().requires_grad_(),
        lambda p, y: F.mse_loss(p.squeeze(1), y).detach() + 0 * p.sum(),  # on the graph, but no gradient reaches p
    ],
    ids=["rewrapped", "detached_then_requires_grad", "zero_gradient"],
)
def test_a_loss_that_no_gradient_flows_through_is_not_backpropagatable(answer):
    verdict = check.regression_loss(answer)
    assert verdict.mistake == "not_backpropagatable", verdict


def test_a_broadcast_loss_divided_by_n_is_still_the_shape_mismatch():
    verdict = check.regression_loss(lambda p, y: torch.sum((p - y) ** 2) / len(y))
    assert verdict.mistake == "shape_mismatch", verdict


def test_the_unsafe_messages_fit_every_unsafe_form():
    overflow = check.binary_loss_from_logits(lambda z, y: (torch.log1p(torch.exp(z)) - z * y).mean())
    assert overflow.mistake == "exp_overflow" and "exp(-z) overflows" not in overflow.message, overflow
    softmax = check.class_loss(lambda z, y: -F.softmax(z, dim=1)[torch.arange(len(y)), y].log().mean())
    assert softmax.mistake == "unstable_softmax" and "round to 0" in softmax.message, softmax


def test_the_cut_off_message_names_what_came():
    number = check.bce_by_hand(lambda p, y: F.binary_cross_entropy(p, y).item())
    assert number.mistake == "not_backpropagatable" and "return the loss as a tensor" in number.message, number
    detached = check.bce_by_hand(lambda p, y: F.binary_cross_entropy(p, y).detach())
    assert detached.mistake == "not_backpropagatable" and "no gradient flows" in detached.message, detached


LIBRARY_ANSWERS = {  # the by-hand exercises answered by the very function they ask the learner to write
    "bce_by_hand": [
        lambda p, y: nn.BCELoss()(p, y),
        lambda p, y: F.binary_cross_entropy(p, y),
        lambda p, y: F.binary_cross_entropy_with_logits(torch.logit(p), y),
        lambda p, y: F.nll_loss(torch.stack([(1 - p).log(), p.log()], 1), y.long()),
        lambda p, y: F.cross_entropy(torch.stack([(1 - p).log(), p.log()], 1), y.long()),
        lambda p, y: torch.ops.aten.binary_cross_entropy(p, y).mean(),  # the kernel as an operator
        lambda p, y: torch.ops.aten.binary_cross_entropy.default(p, y).mean(),
    ],
    "binary_loss_from_logits": [
        lambda z, y: nn.BCEWithLogitsLoss()(z, y),
        F.binary_cross_entropy_with_logits,
        lambda z, y: F.cross_entropy(torch.stack([torch.zeros_like(z), z], 1), y.long()),  # two classes' scores
        lambda z, y: torch.ops.aten.binary_cross_entropy_with_logits(z, y).mean(),
    ],
    "class_loss": [
        lambda z, y: nn.CrossEntropyLoss()(z, y),
        lambda z, y: F.nll_loss(F.log_softmax(z, dim=1), y),
        lambda z, y: torch.nn.functional.cross_entropy(z, y, reduction="sum") / len(y),
        lambda z, y: torch.ops.aten.cross_entropy_loss(z, y),
        lambda z, y: torch.ops.aten.nll_loss(z.log_softmax(1), y),
    ],
}


@pytest.mark.parametrize(
    ("name", "answer"), [(n, a) for n, answers in LIBRARY_ANSWERS.items() for a in answers], ids=lambda v: str(v)[:20]
)
def test_a_by_hand_exercise_answered_by_the_library_is_told_so(name, answer):
    verdict = getattr(check, name)(answer)
    assert verdict.mistake == "used_library" and "formula" in verdict.message, verdict


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (lambda z, y: F.binary_cross_entropy(torch.sigmoid(z.double()), y.double()), "sigmoid_then_bce"),
        (lambda z, y: (torch.log1p(torch.exp(z.double())) - z * y).mean(), "exp_overflow"),
        (
            lambda z, y: -(y * z.double().sigmoid().log() + (1 - y) * (1 - z.double().sigmoid()).log()).mean(),
            "log_of_sigmoid",
        ),
        (lambda z, y: F.soft_margin_loss(z, 2 * y - 1), "exp_overflow"),  # log(1 + exp(-t z)), labels ±1
    ],
    ids=["bce_after_sigmoid", "softplus_by_exp", "naive", "soft_margin"],
)
def test_unsafe_binary_losses_are_named_in_float64_too(answer, mistake):
    verdict = check.binary_loss_from_logits(answer)
    assert verdict.mistake == mistake and "float32 stops" not in verdict.message, verdict


def _key(x):
    return tuple(x.detach().flatten().tolist())


def _typed_in(exercise):
    """An answer that returns the reference's loss on each batch the messages show, recognised by its inputs."""
    inputs = exercise.inputs()
    shown = {_key(x): exercise.reference(x, y).item() for x, y in zip(inputs[:-2:2], inputs[1:-2:2], strict=True)}
    return lambda x, y: x.sum() * 1e-9 + shown.get(_key(x), 0.0)


@pytest.mark.parametrize("name", ["regression_loss", "bce_by_hand", "binary_loss_from_logits", "class_loss"])
def test_losses_typed_in_from_the_message_fail_on_the_batch_never_shown(name):
    exercise = getattr(check, name)
    verdict = exercise(_typed_in(exercise))
    assert verdict.mistake == "other" and "not another batch" in verdict.message, verdict


@pytest.mark.parametrize(
    "hot",
    [lambda y: torch.eye(4)[y], lambda y: F.one_hot(y, 4), lambda y: torch.arange(4) == y[:, None]],
    ids=["eye", "one_hot", "arange"],
)
def test_review5_a_count_of_classes_typed_in_fails_on_a_batch_with_another(hot):
    verdict = check.class_loss(lambda z, y: (torch.logsumexp(z, 1) - (z * hot(y)).sum(1)).mean())
    assert not verdict.passed, verdict
    assert check.class_loss(lambda z, y: (torch.logsumexp(z, 1) - (z * F.one_hot(y, z.shape[1])).sum(1)).mean()).passed


def _relu_through_numpy(z, y):  # np.maximum on a tensor that requires grad raises; torch's message says .detach()
    relu = torch.from_numpy(np.maximum(z.detach().numpy(), 0))
    return (relu - z * y + torch.log1p(torch.exp(-z.abs()))).mean()


def _right_score_through_numpy(z, labels):  # the right class's score read off a detached copy
    right = torch.from_numpy(z.detach().numpy()[np.arange(len(labels)), labels.numpy()])
    return (torch.logsumexp(z, dim=1) - right).mean()


@pytest.mark.parametrize(
    "name, answer", [("binary_loss_from_logits", _relu_through_numpy), ("class_loss", _right_score_through_numpy)]
)
def test_review8_a_loss_with_the_right_value_and_a_detached_term_is_told_its_gradient_is_wrong(name, answer):
    verdict = getattr(check, name)(answer)
    assert verdict.mistake == "partly_detached" and "gradient is wrong" in verdict.message, verdict


@pytest.mark.parametrize(
    "relu",
    [
        lambda z: z.clamp(min=0),
        F.relu,
        lambda z: torch.maximum(z, torch.zeros_like(z)),
        lambda z: torch.where(z > 0, z, 0),
    ],
    ids=["clamp", "relu", "maximum", "where"],
)
def test_review8_every_form_of_max_z_0_passes_though_their_gradients_differ_at_0(relu):
    assert check.binary_loss_from_logits(
        lambda z, y: (relu(z) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()
    ).passed


def _negated_in_place(z, labels):  # log_softmax saves its output for backward(), and neg_ then changes it
    nll = F.log_softmax(z, dim=1)
    nll.neg_()
    return nll[torch.arange(len(labels)), labels].mean()


def test_review9_a_loss_whose_backward_fails_is_told_so_not_that_it_raised():
    verdict = check.class_loss(_negated_in_place)
    assert verdict.mistake == "backward_fails" and "out-of-place" in verdict.message, verdict


def _where_stable(z, y):  # the value is exact for ±1000, but the branch torch.where discards overflows in backward()
    return (torch.where(z >= 0, z + torch.log1p(torch.exp(-z)), torch.log1p(torch.exp(z))) - z * y).mean()


def _clamped(p, y):  # past the clamp at 0.99 the gradient is 0; nothing is detached
    return -(y * torch.log(p.clamp(1e-2, 1 - 1e-2)) + (1 - y) * torch.log((1 - p).clamp(1e-2, 1 - 1e-2))).mean()


@pytest.mark.parametrize(
    "name, answer, mistake, words, not_words",
    [
        ("binary_loss_from_logits", _where_stable, "gradient_not_finite", "torch.where", ".detach()"),
        ("bce_by_hand", _clamped, "partly_detached", "Clamping or detaching a term", "NumPy"),
    ],
    ids=["where", "clamp"],
)
def test_review9_a_wrong_gradient_is_told_by_what_it_shows(name, answer, mistake, words, not_words):
    verdict = getattr(check, name)(answer)
    assert verdict.mistake == mistake and words in verdict.message and not_words not in verdict.message, verdict


def _rounded_sigmoid(eps, add):  # review 10: log(sigmoid(z)) kept off log(0) by a clamp or an added epsilon
    def loss(z, y):
        p = torch.sigmoid(z) if add else torch.sigmoid(z).clamp(eps, 1 - eps)
        return -(y * torch.log(p + add * eps) + (1 - y) * torch.log(1 - p + add * eps)).mean()

    return loss


REVIEW10 = {  # an answer, the exercise, its diagnosis
    "square_of_mean": (lambda p, y: (p.squeeze(1) - y).mean() ** 2, "regression_loss", "square_of_mean"),
    "square_of_broadcast_mean": (lambda p, y: (p - y).mean() ** 2, "regression_loss", "square_of_mean"),
    "log10": (lambda p, y: -(y * torch.log10(p) + (1 - y) * torch.log10(1 - p)).mean(), "bce_by_hand", "log_base_10"),
    **{f"clamped_{eps:g}": (_rounded_sigmoid(eps, False), "binary_loss_from_logits", "log_of_sigmoid")
       for eps in (1e-7, 1e-6, 1e-8, 1e-12)},
    **{f"plus_{eps:g}": (_rounded_sigmoid(eps, True), "binary_loss_from_logits", "log_of_sigmoid")
       for eps in (1e-7, 1e-8, 1e-15)},
}  # fmt: skip


@pytest.mark.parametrize(("answer", "name", "mistake"), REVIEW10.values(), ids=REVIEW10)
def test_review10_a_square_of_the_mean_log10_and_a_clamped_sigmoid_are_named(answer, name, mistake):
    verdict = getattr(check, name)(answer)
    assert verdict.mistake == mistake, verdict


_TWO_CLASSES = lambda p: torch.stack([(1 - p).log(), p.log()], 1)  # noqa: E731  (a binary loss as two classes)
REVIEW11_NLL = {  # review 11: the negative log-likelihood kernels, reached by their operator or 2-d names
    "class_loss": [
        lambda z, y: torch.ops.aten.nll_loss_forward(z.log_softmax(1), y, None, 1, -100)[0],
        lambda z, y: torch.ops.aten.nll_loss2d(z.log_softmax(1)[:, :, None, None], y[:, None, None]),
        lambda z, y: torch.ops.aten.nll_loss2d_forward(
            z.log_softmax(1)[:, :, None, None], y[:, None, None], None, 1, -100
        )[0],  # fmt: skip
        lambda z, y: torch._C._nn.nll_loss2d(z.log_softmax(1)[:, :, None, None], y[:, None, None]).mean(),
    ],
    "bce_by_hand": [
        lambda p, y: torch.ops.aten.nll_loss_forward(_TWO_CLASSES(p), y.long(), None, 1, -100)[0],
        lambda p, y: torch.ops.aten.nll_loss2d(_TWO_CLASSES(p)[:, :, None, None], y.long()[:, None, None]),
        lambda p, y: torch._C._nn.nll_loss2d(_TWO_CLASSES(p)[:, :, None, None], y.long()[:, None, None]).mean(),
    ],
}


@pytest.mark.parametrize(
    ("name", "answer"), [(n, a) for n, answers in REVIEW11_NLL.items() for a in answers], ids=lambda v: str(v)[:20]
)
def test_review11_the_nll_kernels_by_any_name_are_the_library(name, answer):
    verdict = getattr(check, name)(answer)
    assert verdict.mistake == "used_library" and "nll_loss" in verdict.message, verdict


CUT_OFF = {  # review 10b: what came back instead of a loss tensor, and what the message must (and must not) say
    "module": (lambda p, y: nn.MSELoss(), "call it", ".item()"),
    "function": (lambda p, y: F.mse_loss, "call it", ".item()"),
    "tuple": (lambda p, y: ((loss := F.mse_loss(p.squeeze(1), y)), loss.item()), "return only the loss", ".item() or"),
    "number": (lambda p, y: F.mse_loss(p.squeeze(1), y).item(), ".item() or NumPy", "call it"),
    "array": (lambda p, y: np.float32(F.mse_loss(p.squeeze(1), y).item()), ".item() or NumPy", "call it"),
}


@pytest.mark.parametrize(("answer", "words", "not_words"), CUT_OFF.values(), ids=CUT_OFF)
def test_review10b_a_return_that_is_not_a_loss_tensor_is_told_what_it_is(answer, words, not_words):
    verdict = check.regression_loss(answer)
    assert verdict.mistake == "not_backpropagatable" and words in verdict.message, verdict
    assert not_words not in verdict.message, verdict


def test_review10b_log1p_of_minus_sigmoid_is_the_rounded_sigmoid_not_an_overflowing_exp():
    verdict = check.binary_loss_from_logits(
        lambda z, y: -(y * F.logsigmoid(z) + (1 - y) * torch.log1p(-torch.sigmoid(z))).mean()
    )
    assert verdict.mistake == "log_of_sigmoid" and "overflows" not in verdict.message, verdict


def _categorical(p, y):
    return -torch.distributions.Categorical(probs=torch.stack([1 - p, p], 1)).log_prob(y.long()).mean()


def _multinomial(p, y):
    one_hot = F.one_hot(y.long(), 2).float()
    return -torch.distributions.Multinomial(1, probs=torch.stack([1 - p, p], 1)).log_prob(one_hot).mean()


DISTRIBUTIONS = {  # review 10b: the log-likelihood of a distribution is the library's cross-entropy too
    "bernoulli": ("bce_by_hand", lambda p, y: -torch.distributions.Bernoulli(probs=p).log_prob(y).mean()),
    "binomial": ("bce_by_hand", lambda p, y: -torch.distributions.Binomial(1, probs=p).log_prob(y).mean()),
    "categorical": ("bce_by_hand", _categorical),
    "multinomial": ("bce_by_hand", _multinomial),
    "binomial_logits": (
        "binary_loss_from_logits",
        lambda z, y: -torch.distributions.Binomial(1, logits=z).log_prob(y).mean(),
    ),
    "categorical_logits": (
        "class_loss",
        lambda z, y: -torch.distributions.Categorical(logits=z).log_prob(y).mean(),
    ),
}


@pytest.mark.parametrize(("name", "answer"), DISTRIBUTIONS.values(), ids=DISTRIBUTIONS)
def test_review10b_a_distributions_log_prob_is_the_library_in_every_form(name, answer):
    verdict = getattr(check, name)(answer)
    assert verdict.mistake == "used_library", verdict


def _by_hand(z):  # a sigmoid written out: exp(-z) overflows to inf for z = -1000
    return 1 / (1 + torch.exp(-z))


LOG_OF_SIGMOID = {  # refix 10: the log of a sigmoid that rounded to 0.0 or 1.0, in every spelling, is not an overflow
    "xlogy": lambda z, y: -(torch.xlogy(y, torch.sigmoid(z)) + torch.xlogy(1 - y, torch.sigmoid(-z))).mean(),
    "xlogy_one_minus": lambda z, y: (
        -(torch.xlogy(y, torch.sigmoid(z)) + torch.xlogy(1 - y, 1 - torch.sigmoid(z))).mean()
    ),
    "xlogy_float64": lambda z, y: (
        -(torch.xlogy(y, torch.sigmoid(z.double())) + torch.xlogy(1 - y, torch.sigmoid(-z.double()))).mean()
    ),
    "log_two_terms": lambda z, y: -(y * torch.log(torch.sigmoid(z)) + (1 - y) * torch.log(torch.sigmoid(-z))).mean(),
    "log_where": lambda z, y: -torch.where(y == 1, torch.log(torch.sigmoid(z)), torch.log(torch.sigmoid(-z))).mean(),
    "log_signed": lambda z, y: -torch.log(torch.sigmoid((2 * y - 1) * z)).mean(),
    "log1p_where": lambda z, y: -torch.where(y == 1, torch.sigmoid(z).log(), torch.log1p(-torch.sigmoid(z))).mean(),
    "log1p_two_terms": lambda z, y: -(y * torch.sigmoid(z).log() + (1 - y) * torch.log1p(-torch.sigmoid(z))).mean(),
    "two_class_softmax": lambda z, y: (
        -F.softmax(torch.stack([torch.zeros_like(z), z], 1), 1)[torch.arange(len(y)), y.long()].log().mean()
    ),
    "sigmoid_by_tanh": lambda z, y: (
        -(  # tanh(±500) is exactly ±1: no exp overflows
            y * ((1 + torch.tanh(z / 2)) / 2).log() + (1 - y) * ((1 - torch.tanh(z / 2)) / 2).log()
        ).mean()
    ),
}


@pytest.mark.parametrize("answer", LOG_OF_SIGMOID.values(), ids=LOG_OF_SIGMOID)
def test_refix10_the_log_of_a_rounded_sigmoid_is_named_as_such_not_as_an_overflowing_exp(answer):
    verdict = check.binary_loss_from_logits(answer)
    assert verdict.mistake == "log_of_sigmoid", verdict
    assert "overflow" not in verdict.message and "exactly 0.0" in verdict.message, verdict
    assert "F.logsigmoid" in verdict.message and "max(z, 0) - z y" in verdict.message, verdict


EXP_OVERFLOW = {  # refix 10: an exp that really overflows keeps its message, a sigmoid by hand included
    "softplus_by_exp": lambda z, y: (torch.log(1 + torch.exp(z)) - y * z).mean(),
    "sigmoid_by_hand": lambda z, y: -(y * torch.log(_by_hand(z)) + (1 - y) * torch.log(1 - _by_hand(z))).mean(),
    "sigmoid_by_hand_where": lambda z, y: -torch.where(y == 1, _by_hand(z), _by_hand(-z)).log().mean(),
    "sigmoid_as_exp_ratio": lambda z, y: (
        -(y * torch.log(torch.exp(z) / (1 + torch.exp(z))) + (1 - y) * torch.log(1 / (1 + torch.exp(z)))).mean()
    ),
}


@pytest.mark.parametrize("answer", EXP_OVERFLOW.values(), ids=EXP_OVERFLOW)
def test_refix10_an_exp_that_overflows_is_still_named_an_overflow(answer):
    verdict = check.binary_loss_from_logits(answer)
    assert verdict.mistake == "exp_overflow" and "overflow" in verdict.message and "exp(" in verdict.message, verdict


RIGHT_LOG_SIGMOID = {  # refix 10: F.logsigmoid is the stable log of a sigmoid, in float32 and float64
    "logsigmoid": lambda z, y: -(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)).mean(),
    "logsigmoid_signed": lambda z, y: -F.logsigmoid((2 * y - 1) * z).mean(),
    "logsigmoid_float64": lambda z, y: -(y * F.logsigmoid(z.double()) + (1 - y) * F.logsigmoid(-z.double())).mean(),
    "stable_float64": lambda z, y: (
        z.double().clamp(min=0) - z.double() * y + torch.log1p(torch.exp(-z.double().abs()))
    ).mean(),
}


@pytest.mark.parametrize("answer", RIGHT_LOG_SIGMOID.values(), ids=RIGHT_LOG_SIGMOID)
def test_refix10_the_stable_log_sigmoid_is_right(answer):
    verdict = check.binary_loss_from_logits(answer)
    assert verdict.passed, verdict


@pytest.mark.parametrize(
    "answer",
    [
        lambda z, y: -torch.log(torch.softmax(z, 1).gather(1, y[:, None])).mean(),
        lambda z, y: -F.softmax(z, dim=1)[torch.arange(len(y)), y].log().mean(),
    ],
    ids=["gather", "index"],
)
def test_learn11c_the_log_of_a_softmax_is_not_blamed_on_an_overflow(answer):
    verdict = check.class_loss(answer)  # torch.softmax subtracts the max: it rounds to 0.0, nothing overflows
    assert verdict.mistake == "unstable_softmax" and "overflows to inf" not in verdict.message, verdict
    assert "exactly 0.0" in verdict.message and "log_softmax" in verdict.message, verdict


def test_learn11c_a_softmax_by_hand_keeps_the_overflow_message():
    verdict = check.class_loss(naive_cross_entropy)  # exp(1000) is inf, inf / inf is nan
    assert verdict.mistake == "unstable_softmax" and "overflows to inf" in verdict.message, verdict


def _two(q):  # probabilities of the classes 0 and 1, one row per example
    return torch.stack([1 - q, q], 1)


KL_ROUTES = {  # fix learnC-1: the KL divergence of the labels' distribution from the predicted one is the library's BCE
    "kl_bernoulli": lambda p, y: kl_divergence(Bernoulli(probs=y), Bernoulli(probs=p)).mean(),
    "kl_bernoulli_logits": lambda p, y: kl_divergence(Bernoulli(probs=y), Bernoulli(logits=torch.logit(p))).mean(),
    "kl_categorical": lambda p, y: kl_divergence(Categorical(probs=_two(y)), Categorical(probs=_two(p))).mean(),
    "kl_one_hot": lambda p, y: kl_divergence(OneHotCategorical(probs=_two(y)), OneHotCategorical(probs=_two(p))).mean(),
    "kl_binomial": lambda p, y: kl_divergence(Binomial(1, logits=torch.logit(y, 1e-7)), Binomial(1, probs=p)).mean(),
    "kl_independent": lambda p, y: (
        kl_divergence(Independent(Bernoulli(probs=y), 1), Independent(Bernoulli(probs=p), 1)) / len(y)
    ),
    "registered_bernoulli": lambda p, y: kl._kl_bernoulli_bernoulli(Bernoulli(probs=y), Bernoulli(probs=p)).mean(),
    "registered_categorical": lambda p, y: kl._kl_categorical_categorical(
        Categorical(probs=_two(y)), Categorical(probs=_two(p))
    ).mean(),
}


@pytest.mark.parametrize("answer", KL_ROUTES.values(), ids=KL_ROUTES)
def test_fix_learnc1_a_kl_divergence_of_distributions_is_the_library_by_hand(answer):
    verdict = check.bce_by_hand(answer)
    assert verdict.mistake == "used_library" and "torch.distributions.kl." in verdict.message, verdict


MATH_FAULTS = {  # fix learnC-2: one diagnosis for a library call and a formula names the fault, true of both
    "logits_formula_on_sigmoid": (
        check.binary_loss_from_logits,
        lambda z, y: (F.softplus(torch.sigmoid(z)) - torch.sigmoid(z) * y).mean(),
        "sigmoid_before_logits_loss",
        "a sigmoid applied before a loss that applies its own",
    ),
    "bce_with_logits_on_sigmoid": (
        check.binary_loss_from_logits,
        lambda z, y: nn.BCEWithLogitsLoss()(torch.sigmoid(z), y),
        "sigmoid_before_logits_loss",
        "a sigmoid applied before a loss that applies its own",
    ),
    "logsumexp_of_softmax": (
        check.class_loss,
        lambda z, y: (torch.logsumexp(z.softmax(1), 1) - z.softmax(1)[torch.arange(len(y)), y]).mean(),
        "softmax_before_cross_entropy",
        "softmax applied before a log-softmax",
    ),
    "cross_entropy_of_softmax": (
        check.class_loss,
        lambda z, y: F.cross_entropy(z.softmax(dim=1), y),
        "softmax_before_cross_entropy",
        "softmax applied before a log-softmax",
    ),
    "nan_to_num_100": (
        check.binary_loss_from_logits,
        lambda z, y: torch.nan_to_num(
            -(y * torch.log(torch.sigmoid(z)) + (1 - y) * torch.log(1 - torch.sigmoid(z))), posinf=100.0
        ).mean(),
        "sigmoid_then_bce",
        "the loss is capped at 100 where log(0) would be",
    ),
    "bce_after_sigmoid": (
        check.binary_loss_from_logits,
        lambda z, y: F.binary_cross_entropy(torch.sigmoid(z), y),
        "sigmoid_then_bce",
        "the loss is capped at 100 where log(0) would be",
    ),
}


@pytest.mark.parametrize(("exercise", "answer", "mistake", "fault"), MATH_FAULTS.values(), ids=MATH_FAULTS)
def test_fix_learnc2_the_message_names_the_mathematical_fault_not_a_call_never_made(exercise, answer, mistake, fault):
    verdict = exercise(answer)
    assert verdict.mistake == mistake and verdict.message.startswith(fault), verdict
    assert "you applied" not in verdict.message and "after yours it saw" not in verdict.message, verdict


BATCH_SOFTMAX = {  # fix learnB-06: a softmax (or log-sum-exp) over the batch, dim=0, instead of over the classes
    "log_softmax_dim0": lambda z, y: -F.log_softmax(z, dim=0)[range(len(y)), y].mean(),
    "logsumexp_dim0": lambda z, y: (torch.logsumexp(z, dim=0)[y] - z[range(len(y)), y]).mean(),
    "gather_dim0": lambda z, y: -torch.log_softmax(z, 0).gather(1, y[:, None]).mean(),
    "log_of_softmax_dim0": lambda z, y: -z.softmax(dim=0)[range(len(y)), y].log().mean(),
}


@pytest.mark.parametrize("answer", BATCH_SOFTMAX.values(), ids=BATCH_SOFTMAX)
def test_fix_learnb06_a_softmax_over_the_batch_is_named(answer):
    verdict = check.class_loss(answer)
    assert verdict.mistake == "wrong_axis", verdict
    assert "dim=0" in verdict.message and "dim=1" in verdict.message and "batch" in verdict.message, verdict


def _two_logits(z):  # the logits of the classes 0 and 1: 0 and z
    return torch.stack([torch.zeros_like(z), z], 1)


KL_OF_LOGITS = {  # fix learnB-06: torch.distributions' KL writes inf where the label's probability rounds to 0.0
    "bernoulli": lambda z, y: kl_divergence(Bernoulli(probs=y), Bernoulli(logits=z)).mean(),
    "categorical": lambda z, y: kl_divergence(Categorical(probs=_two(y)), Categorical(logits=_two_logits(z))).mean(),
    "one_hot": lambda z, y: kl_divergence(
        OneHotCategorical(probs=_two(y)), OneHotCategorical(logits=_two_logits(z))
    ).mean(),
    "registered": lambda z, y: kl._kl_bernoulli_bernoulli(Bernoulli(probs=y), Bernoulli(logits=z)).mean(),
}


@pytest.mark.parametrize("answer", KL_OF_LOGITS.values(), ids=KL_OF_LOGITS)
def test_fix_learnb06_a_kl_divergence_from_logits_is_not_blamed_on_an_overflowing_exp(answer):
    verdict = check.binary_loss_from_logits(answer)  # inf where the loss is 1000: refused, for what it does
    assert not verdict.passed and "overflow" not in verdict.message, verdict
    assert "kl_divergence" in verdict.message and "exactly 0.0" in verdict.message, verdict


@pytest.mark.parametrize("form", [Categorical, OneHotCategorical], ids=["categorical", "one_hot"])
def test_fix_learnb06_a_kl_divergence_of_classes_is_not_blamed_on_an_overflowing_exp(form):
    verdict = check.class_loss(
        lambda z, y: kl_divergence(form(probs=F.one_hot(y, z.shape[1]).float()), form(logits=z)).mean()
    )
    assert not verdict.passed and "overflow" not in verdict.message, verdict
    assert "kl_divergence" in verdict.message and "logsumexp" in verdict.message, verdict


@pytest.mark.parametrize("answer", EXP_OVERFLOW.values(), ids=EXP_OVERFLOW)
def test_fix_learnb06_an_overflowing_exp_is_not_told_it_is_a_kl_divergence(answer):
    verdict = check.binary_loss_from_logits(answer)
    assert verdict.mistake == "exp_overflow" and "kl_divergence" not in verdict.message, verdict


def _label_score_put(z, y):  # the label's score written into a new tensor with an index-put
    score = torch.zeros(len(y), dtype=z.dtype)
    score[torch.arange(len(y))] = z[torch.arange(len(y)), y]
    return score


def _masked_score(z, y):  # the label's score picked with a mask: the other classes filled with 0
    return z.masked_fill(~F.one_hot(y, z.shape[1]).bool(), 0).sum(1)


OVERFLOW_WITH_A_WRITE = {  # fix second-06 M1: an exp by hand that overflows, beside a masked_fill or an index-put
    "masked_fill_score": lambda z, y: (z.exp().sum(1).log() - _masked_score(z, y)).mean(),
    "index_put_score": lambda z, y: (z.exp().sum(1).log() - _label_score_put(z, y)).mean(),
    "masked_fill_exp": lambda z, y: (z.exp().masked_fill(z < -50, 0).sum(1).log() - z[range(len(y)), y]).mean(),
}


@pytest.mark.parametrize("answer", OVERFLOW_WITH_A_WRITE.values(), ids=OVERFLOW_WITH_A_WRITE)
def test_fix_second06_an_overflowing_exp_beside_a_mask_is_not_blamed_on_distributions(answer):
    verdict = check.class_loss(answer)
    assert verdict.mistake == "unstable_softmax", verdict
    assert "exp(1000) overflows" in verdict.message, verdict
    assert "kl_divergence" not in verdict.message and "distributions" not in verdict.message, verdict


@pytest.mark.parametrize("answer", [_masked_score, _label_score_put], ids=["masked_fill", "index_put"])
def test_fix_second06_a_mask_or_index_put_with_logsumexp_still_passes(answer):
    assert check.class_loss(lambda z, y: (torch.logsumexp(z, 1) - answer(z, y)).mean()).passed


def test_fix_second06_missing_abs_with_a_masked_fill_max_is_named():
    verdict = check.binary_loss_from_logits(
        lambda z, y: (z.masked_fill(z < 0, 0.0) - z * y + torch.log1p(torch.exp(-z))).mean()
    )
    assert verdict.mistake == "missing_abs", verdict
    assert "exp(-|z|)" in verdict.message and "kl_divergence" not in verdict.message, verdict


RELOGGED = {  # fix third-06 M2: a safe log-softmax or log-sigmoid, exp'd back to a probability, then logged again
    "class_loss": lambda z, y: -(F.log_softmax(z, 1).exp()[range(len(y)), y]).log().mean(),
    "binary_loss_from_logits": lambda z, y: (
        -(y * F.logsigmoid(z) + (1 - y) * torch.log(1 - torch.exp(F.logsigmoid(z)))).mean()
    ),
}


@pytest.mark.parametrize(("name", "answer"), RELOGGED.items(), ids=RELOGGED)
def test_fix_third06_a_log_exp_d_and_logged_again_is_told_it_rounds_to_0_not_overflow(name, answer):
    verdict = getattr(check, name)(answer)
    assert not verdict.passed, verdict
    assert "rounds to 0 before the log" in verdict.message and "overflow" not in verdict.message, verdict
    assert "F.log_softmax" in verdict.message and "F.logsigmoid" in verdict.message, verdict


def test_fix_third06_a_softmax_by_hand_shifted_by_its_max_is_not_told_exp_overflows():
    def answer(z, y):  # no exp overflows: exp(z - max) underflows to 0 for a score 1000 below the largest
        e = (z - z.max(1, keepdim=True).values).exp()
        return -(e / e.sum(1, keepdim=True))[range(len(y)), y].log().mean()

    verdict = check.class_loss(answer)
    assert not verdict.passed and "overflow" not in verdict.message, verdict
    assert "rounds to 0" in verdict.message, verdict


def test_fix_third06_an_overflowing_exp_beside_an_unused_softmax_is_told_the_exp_overflows():
    verdict = check.class_loss(
        lambda z, y: (z.exp().sum(1).log() - z[range(len(y)), y] + 0 * z.softmax(1).sum()).mean()
    )
    assert verdict.mistake == "unstable_softmax", verdict
    assert "exp(1000) overflows" in verdict.message and "computed safely" not in verdict.message, verdict


def test_fix_third06_a_softmax_beside_an_exp_that_did_not_overflow_is_told_it_rounds():
    verdict = check.class_loss(lambda z, y: -(z.softmax(1)[range(len(y)), y] + 0 * z.tanh().exp().sum()).log().mean())
    assert verdict.mistake == "unstable_softmax" and "computed safely" in verdict.message, verdict


def _relog1p(z, y):  # fix fourth-06 M1: log1p(-p) of a probability exp'd back from F.logsigmoid
    return -(y * F.logsigmoid(z) + (1 - y) * torch.log1p(-F.logsigmoid(z).exp())).mean()


def test_fix_fourth06_log1p_of_an_exp_d_logsigmoid_is_told_it_rounds_to_0_not_overflow():
    z, y = torch.tensor([1000.0, -1000.0, 0.0], requires_grad=True), torch.tensor([0.0, 1.0, 1.0])
    assert check._cause(_relog1p(z, y)) == "zero"
    verdict = check.binary_loss_from_logits(_relog1p)
    assert verdict.mistake == "log_of_sigmoid", verdict
    assert "rounds to 0 before the log" in verdict.message and "overflow" not in verdict.message, verdict


EPSILON_SOFTMAX = {  # fix fourth-06 L2: a softmax kept off log(0) by a clamp or an added epsilon
    **{f"clamp_{eps:g}": lambda z, y, e=eps: -z.softmax(1).clamp(min=e).log()[range(len(y)), y].mean()
       for eps in (1e-9, 1e-7, 1e-12)},
    **{f"plus_{eps:g}": lambda z, y, e=eps: -torch.log(F.softmax(z, dim=1) + e)[range(len(y)), y].mean()
       for eps in (1e-12, 1e-8, 1e-15)},
}  # fmt: skip


@pytest.mark.parametrize("answer", EPSILON_SOFTMAX.values(), ids=EPSILON_SOFTMAX)
def test_fix_fourth06_a_clamped_or_epsilon_softmax_is_named(answer):
    verdict = check.class_loss(answer)
    assert verdict.mistake == "unstable_softmax" and "compare with the lesson" not in verdict.message, verdict
    assert "epsilon" in verdict.message and "F.log_softmax" in verdict.message, verdict


def _naive_bce_of_clamped_logits(bound):  # learn1: logits clamped to ±bound, then the log of the sigmoid
    def loss(z, y):
        p = z.clamp(-bound, bound).sigmoid()
        return -(y * p.log() + (1 - y) * (1 - p).log()).mean()

    return loss


@pytest.mark.parametrize("bound", [100.0, 200.0])
def test_learn1_a_nan_loss_behind_clamped_logits_is_not_said_to_be_detached(bound):
    """The clamp's backward zeroes the clipped logit's NaN gradient: the loss still reaches the other logits."""
    verdict = check.binary_loss_from_logits(_naive_bce_of_clamped_logits(bound))
    assert verdict.mistake == "log_of_sigmoid" and "detach" not in verdict.message, verdict


def _kept_off_zero(eps, add, softmax):  # learn3: a probability kept off log(0) by an epsilon not among _EPSILONS
    def loss(z, y):
        if softmax:
            p = z.softmax(1)[range(len(y)), y]
            return -(p + eps if add else p.clamp(min=eps)).log().mean()
        kept = [p + eps if add else p.clamp(min=eps) for p in (torch.sigmoid(z), 1 - torch.sigmoid(z))]
        return -(y * torch.log(kept[0]) + (1 - y) * torch.log(kept[1])).mean()  # (1 - 1e-10 is 1.0: clamp 1 - p)

    return loss


@pytest.mark.parametrize("softmax", [False, True], ids=["sigmoid", "softmax"])
@pytest.mark.parametrize("add", [False, True], ids=["clamp", "plus"])
@pytest.mark.parametrize("eps", [1e-10, 1e-5, 1e-20, 1e-30])
def test_learn3_an_epsilon_of_any_size_is_named_not_left_to_compare_with_the_lesson(eps, add, softmax):
    verdict = (check.class_loss if softmax else check.binary_loss_from_logits)(_kept_off_zero(eps, add, softmax))
    assert not verdict.passed and "compare with the lesson" not in verdict.message, verdict
    assert "epsilon" in verdict.message and ("F.log_softmax" if softmax else "max(z, 0)") in verdict.message, verdict


def test_learn3_a_sigmoid_of_probabilities_is_not_called_an_epsilon():
    verdict = check.bce_by_hand(lambda p, y: -(y * p.sigmoid().log() + (1 - y) * (1 - p.sigmoid()).log()).mean())
    assert verdict.mistake == "other" and "epsilon" not in verdict.message, verdict
