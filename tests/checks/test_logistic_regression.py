"""What the generated tests (test_declarations.py) cannot say about lesson 12's checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics
from sklearn.metrics import classification_report, precision_recall_fscore_support, precision_score, recall_score
from torch import nn

from course.checks import logistic_regression as check
from course.checks import models
from course.checks.values import close


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


class _Flat(nn.Module):
    """One score per row, but as a vector (N,) where the lesson's targets are a column (N, 1)."""

    def __init__(self, score):
        super().__init__()
        self.score = score

    def forward(self, x):
        return self.score(x).reshape(-1)


def test_one_score_per_row_must_come_as_a_column_like_the_targets():
    for model in (
        lambda n: _Flat(nn.Linear(n, 1)),
        lambda n: nn.Sequential(nn.Linear(n, 1), nn.Sigmoid(), nn.Flatten(0)),
    ):
        for loss in (nn.BCEWithLogitsLoss(), nn.BCELoss()):
            assert check.fixed_setup(lambda n, m=model, f=loss: (m(n), f)).mistake == "wrong_shape"
    verdict = check.validation_accuracy(_Flat(check._linear()))
    assert verdict.mistake == "wrong_shape" and "(N, 1)" in verdict.message


def test_a_model_that_predicts_the_opposite_classes_is_not_called_untrained():
    flipped = check._linear()
    with torch.no_grad():
        flipped.weight.neg_()
        flipped.bias.neg_()
    verdict = check.validation_accuracy(flipped)
    assert verdict.mistake == "opposite_classes" and "0.0088" in verdict.message


def test_a_function_instead_of_a_model_is_named_as_such():
    verdict = check.validation_accuracy(lambda x: check._linear()(x))
    assert verdict.mistake == "not_a_model" and "function" in verdict.message and "tuple" not in verdict.message


def test_numbers_typed_in_from_a_message_do_not_pass():
    assert not check.precision_recall(lambda p, y: (4 / 6, 0.8)).passed
    assert not check.pick_threshold(lambda p, y, k: float(np.float32([0.9, 0.7][k]))).passed


def test_precision_and_recall_from_scikit_learn_are_told_so():
    def from_sklearn(p, y):
        return precision_score(y.view(-1).numpy(), p.view(-1).numpy()), recall_score(y.view(-1), p.view(-1))

    verdict = check.precision_recall(from_sklearn)
    assert verdict.mistake == "used_library" and "precision_score" in verdict.message, verdict  # the one it called


def test_precision_and_recall_from_any_scikit_learn_entry_point_are_told_so():
    def from_report(p, y):
        report = classification_report(y.view(-1), p.view(-1), output_dict=True)
        return report["1.0"]["precision"], report["1.0"]["recall"]

    for answer in (
        lambda p, y: precision_recall_fscore_support(y.view(-1), p.view(-1), average="binary")[:2],
        from_report,
    ):
        assert check.precision_recall(answer).mistake == "used_library"


def test_a_zero_initialised_model_is_judged_by_what_its_layers_compute():
    def zeros(model):
        return nn.init.zeros_(model.bias) is not None and nn.init.zeros_(model.weight) is not None and model

    assert check.fixed_setup(lambda n: (zeros(nn.Linear(n, 1)), nn.BCEWithLogitsLoss())).passed
    assert check.fixed_setup(lambda n: (nn.Sequential(zeros(nn.Linear(n, 1)), nn.Sigmoid()), nn.BCELoss())).passed
    constant = check.validation_accuracy(zeros(nn.Linear(30, 1)))  # never trained: no softmax in sight
    assert constant.mistake == "untrained", constant


def test_fixed_setup_names_two_outputs_and_the_swapped_pair():
    two = check.fixed_setup(lambda n: (nn.Linear(n, 2), nn.CrossEntropyLoss()))
    assert two.mistake == "wrong_shape" and "not 2" in two.message and "fixed number" not in two.message, two
    swapped = check.fixed_setup(lambda n: (nn.BCELoss(), nn.Sequential(nn.Linear(n, 1), nn.Sigmoid())))
    assert swapped.mistake == "swapped_pair" and "(model, loss_fn)" in swapped.message, swapped


def test_precision_recall_of_class_0_is_not_told_about_cancers():
    verdict = check.precision_recall(lambda p, y: check._pr(p, y, c=0.0))
    assert verdict.mistake == "wrong_class" and "cancer" not in verdict.message, verdict


def test_precision_recall_from_a_confusion_matrix_is_told_so():
    from sklearn.metrics import confusion_matrix

    def from_matrix(p, y):
        (tn, fp), (fn, tp) = confusion_matrix(y.view(-1).numpy(), p.view(-1).numpy())
        return tp / (tp + fp), tp / (tp + fn)

    assert check.precision_recall(from_matrix).mistake == "used_library"


class _DetachedWeight(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.linear.weight.detach(), self.linear.bias)


def _bias_frozen(n: int) -> nn.Module:
    model = nn.Sequential(nn.Linear(n, 1), nn.Sigmoid())
    model[0].bias.requires_grad_(False)
    return model


@pytest.mark.parametrize(
    ("make", "loss_fn", "mistake", "names"),
    [
        (lambda n: nn.Linear(n, 1).requires_grad_(False), nn.BCEWithLogitsLoss(), "froze_parameters", "weight, bias"),
        (_bias_frozen, nn.BCELoss(), "froze_parameters", "0.bias"),
        (_DetachedWeight, nn.BCEWithLogitsLoss(), "not_backpropagatable", "linear.weight"),
    ],
)
def test_fixed_setup_refuses_a_model_that_cannot_train(make, loss_fn, mistake, names):
    verdict = check.fixed_setup(lambda n: (make(n), loss_fn))
    assert verdict.mistake == mistake and f"change {names} of" in verdict.message, verdict


@pytest.mark.parametrize("std", [1.5, 3.0, 10.0])
@pytest.mark.parametrize("seed", range(3))
def test_review5_a_logistic_model_with_large_initial_weights_is_right(std, seed):
    # float32 rounds a sigmoid near 0 and 1 too coarsely for its logit to look affine: the probe runs in float64,
    # and judges the logit where it is well measured (a sigmoid of a large score rounds to 0 or 1 even there)
    torch.manual_seed(seed)

    def setup(n):
        model = nn.Sequential(nn.Linear(n, 1), nn.Sigmoid())
        nn.init.normal_(model[0].weight, std=std)
        return model, nn.BCELoss()

    class Logistic(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.fc = nn.Linear(n, 1)
            nn.init.normal_(self.fc.weight, std=std)

        def forward(self, x):
            return torch.sigmoid(self.fc(x))

    assert check.fixed_setup(setup).passed
    assert models.logistic_model(Logistic).passed


def test_review7_a_model_that_casts_its_input_to_float32_itself_is_right():
    # the probe's float64 copy cannot run it (float32 input, float64 weights): the model runs as it is
    class LogReg(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.linear = nn.Linear(n, 1)

        def forward(self, x):
            return self.linear(x.float())

    assert check.fixed_setup(lambda n: (LogReg(n), nn.BCEWithLogitsLoss())).passed


@pytest.mark.parametrize("order", [lambda x, idx: np.isin(np.arange(len(x)), idx), lambda x, idx: np.sort(idx), lambda x, idx: np.unique(idx)], ids=["mask", "sorted", "unique"])  # fmt: skip
def test_review4_rows_taken_in_another_order_than_the_indices_are_told_apart_from_their_labels(order):
    def scale_features(x, *parts):
        mean, std = x[parts[0]].mean(0), x[parts[0]].std(0)
        return tuple(torch.tensor((x[order(x, idx)] - mean) / std, dtype=torch.float32) for idx in parts)

    verdict = check.scale_features(scale_features)
    assert verdict.mistake == "shuffled_apart" and "x[train_idx] as it comes" in verdict.message, verdict


class _ChangesItsInput(nn.Module):  # right outputs, but its input changed in place: x.neg_() twice, or x.clamp_
    def __init__(self, clamp=False):
        super().__init__()
        self.linear, self.clamp = check._linear(), clamp

    def forward(self, x):
        return self.linear(x.clamp_(-2.0, 2.0) if self.clamp else -x.neg_())


def test_review4_a_model_that_changes_its_input_in_place_changes_no_data_of_the_check():
    x_val = check._fitted()[1].clone()
    verdicts = [check.validation_accuracy(_ChangesItsInput(clamp)) for clamp in (False, False, True, False)]
    assert all(verdict.passed for verdict in verdicts), verdicts  # -x.neg_() on the check's data flipped it each time
    assert torch.equal(check._fitted()[1], x_val)


def test_review6_precision_and_recall_through_a_confusion_matrix_per_label_is_told_so():
    from sklearn.metrics import multilabel_confusion_matrix

    def per_label(p, y):
        tn, fp, fn, tp = multilabel_confusion_matrix(y.view(-1), p.view(-1))[1].ravel()
        return tp / (tp + fp), tp / (tp + fn)

    verdict = check.precision_recall(per_label)
    assert verdict.mistake == "used_library" and "multilabel_confusion_matrix" in verdict.message, verdict


@pytest.mark.parametrize(
    ("answer", "told"),
    [
        (lambda p, y: 0.5, "return a pair of values (first, second), got 0.5."),
        (lambda p, y: {"precision": 0.5, "recall": 0.5}, "got a dict of 2 items."),
    ],
)
def test_a_wrong_form_is_told_as_what_the_function_returned_not_as_the_checks_list_of_probes(answer, told):
    verdict = check.precision_recall(answer)
    assert verdict.message.endswith(told), verdict


def test_fixed_setup_judges_in_eval_mode_wants_a_bias_and_names_a_loss_class():
    assert check.fixed_setup(lambda n: (nn.Sequential(nn.Dropout(0.2), nn.Linear(n, 1)), nn.BCEWithLogitsLoss())).passed
    no_bias = [(nn.Linear(7, 1, bias=False), nn.BCEWithLogitsLoss()),
               (nn.Sequential(nn.Linear(7, 1, bias=False), nn.Sigmoid()), nn.BCELoss())]  # fmt: skip
    for pair in no_bias:
        assert check.fixed_setup(lambda n, pair=pair: pair).mistake == "no_bias"
    verdict = check.fixed_setup(lambda n: (nn.Linear(n, 1), nn.BCEWithLogitsLoss))
    assert verdict.mistake == "not_a_loss" and "the class, not an instance: nn.BCEWithLogitsLoss()" in verdict.message


def _from_pr_curve(p, y):
    precision, recall, thresholds = metrics.precision_recall_curve(y.view(-1).numpy(), p.view(-1).numpy())
    return precision[1], recall[1]  # thresholds 0 and 1: the second is the predictions themselves


def _from_roc_curve(p, y):
    fpr, tpr, thresholds = metrics.roc_curve(y.view(-1).numpy(), p.view(-1).numpy())
    i, positives = list(thresholds).index(1.0), y.sum().item()
    tp, fp = tpr[i] * positives, fpr[i] * (len(y) - positives)
    return tp / (tp + fp), tpr[i]


def _from_det_curve(p, y):
    fpr, fnr, thresholds = metrics.det_curve(y.view(-1).numpy(), p.view(-1).numpy())
    i, positives = list(thresholds).index(1.0), y.sum().item()
    tp, fp = (1 - fnr[i]) * positives, fpr[i] * (len(y) - positives)
    return tp / (tp + fp), 1 - fnr[i]


def _from_counts_at_thresholds(p, y):
    tns, fps, fns, tps, thresholds = metrics.confusion_matrix_at_thresholds(y.view(-1).numpy(), p.view(-1).numpy())
    i = list(thresholds).index(1.0)
    return tps[i] / (tps[i] + fps[i]), tps[i] / (tps[i] + fns[i])


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        (_from_pr_curve, "precision_recall_curve"),
        (_from_roc_curve, "roc_curve"),
        (_from_det_curve, "det_curve"),
        (_from_counts_at_thresholds, "confusion_matrix_at_thresholds"),
    ],
)
def test_fix_precision_and_recall_from_scikit_learns_curves_are_told_so(answer, named):
    assert close(answer(*check.precision_recall.inputs()[:2]), check._pr(*check.precision_recall.inputs()[:2]))
    verdict = check.precision_recall(answer)
    assert verdict.mistake == "used_library" and f"sklearn.metrics.{named}" in verdict.message, verdict


@pytest.mark.parametrize("as_pair", [torch.stack, lambda pr: np.array([v.item() for v in pr]), list],
                         ids=["tensor", "array", "list"])  # fmt: skip
def test_fix10_precision_and_recall_as_a_two_element_tensor_array_or_list_is_a_pair(as_pair):
    def answer(p, y):
        tp = (p * y).sum()
        return as_pair([tp / p.sum(), tp / y.sum()])

    assert check.precision_recall(answer).passed
    verdict = check.precision_recall(lambda p, y: torch.stack([*map(torch.tensor, check._pr(p, y))] * 2)[:3])
    assert verdict.mistake == "not_a_pair", verdict  # three numbers are no pair


@pytest.mark.parametrize("seed", range(4))
def test_fix10_a_clamped_output_in_0_1_is_not_called_raw_scores_whatever_its_initial_weights(seed):
    torch.manual_seed(seed)  # small initial weights keep Hardsigmoid on its straight part, where it looks affine
    for end in (nn.Hardsigmoid(), nn.Hardtanh(0.0, 1.0)):
        verdict = check.fixed_setup(lambda n, end=end: (nn.Sequential(nn.Linear(n, 1), end), nn.BCELoss()))
        assert not verdict.passed and "raw scores" not in verdict.message, verdict
        assert "not a sigmoid" in verdict.message, verdict


@pytest.mark.parametrize(
    "loss_fn, named",
    [
        (nn.BCEWithLogitsLoss(), "BCEWithLogitsLoss applies"),
        (nn.functional.binary_cross_entropy_with_logits, "binary_cross_entropy_with_logits applies"),
        (lambda out, y: nn.functional.binary_cross_entropy(torch.sigmoid(out), y), "your loss applies a sigmoid again"),
    ],
)
def test_fix11_a_double_sigmoid_names_the_loss_the_answer_uses(loss_fn, named):
    verdict = check.fixed_setup(lambda n: (nn.Sequential(nn.Linear(n, 1), nn.Sigmoid()), loss_fn))
    assert verdict.mistake == "sigmoid_before_logits_loss" and named in verdict.message, verdict
    assert "sigmoid(sigmoid(z))" in verdict.message, verdict
    if not isinstance(loss_fn, nn.BCEWithLogitsLoss):  # a loss the answer never uses is not named
        assert "BCEWithLogitsLoss" not in verdict.message, verdict


class _Logits(nn.Module):  # raw scores while training, probabilities in eval mode (for predictions): a known idiom
    def __init__(self, n):
        super().__init__()
        self.linear = nn.Linear(n, 1)

    def forward(self, x):
        z = self.linear(x)
        return z if self.training else torch.sigmoid(z)


class _Squashed(_Logits):  # the other way round: a sigmoid while training, raw scores in eval mode
    def forward(self, x):
        z = self.linear(x)
        return torch.sigmoid(z) if self.training else z


def test_fix12_fixed_setup_judges_what_the_loss_sees_while_training():
    assert check.fixed_setup(lambda n: (_Logits(n), nn.BCEWithLogitsLoss())).passed  # it trains properly
    assert check.fixed_setup(lambda n: (_Squashed(n), nn.BCELoss())).passed
    verdict = check.fixed_setup(lambda n: (_Squashed(n), nn.BCEWithLogitsLoss()))  # it stalls: sigmoid(sigmoid(z))
    assert verdict.mistake == "sigmoid_before_logits_loss" and "sigmoid(sigmoid(z))" in verdict.message, verdict
    assert "while training" in verdict.message and "in eval mode it outputs raw scores" in verdict.message, verdict
    verdict = check.fixed_setup(lambda n: (_Logits(n), nn.BCELoss()))
    assert verdict.mistake == "bce_on_logits" and "while training" in verdict.message, verdict
    assert "in eval mode it outputs probabilities" in verdict.message, verdict
    verdict = check.fixed_setup(lambda n: (nn.Sequential(nn.Linear(n, 1), nn.Sigmoid()), nn.BCEWithLogitsLoss()))
    assert "eval mode" not in verdict.message, verdict  # one kind in both modes: nothing to add


@pytest.mark.parametrize("seed", [1, 3, 6, 9, 10])  # untrained nn.Linear(30, 1): far below guessing, or below target
def test_fix12_an_untrained_model_is_not_told_it_learned_or_to_train_longer(seed):
    torch.manual_seed(seed)
    verdict = check.validation_accuracy(nn.Linear(30, 1))
    assert verdict.mistake in ("opposite_classes", "below_target"), verdict
    assert "so it learned" not in verdict.message and "train it first" in verdict.message, verdict
    assert not verdict.message.split(": ", 1)[1].startswith("train longer"), verdict


class _Dropped(nn.Module):  # _Logits or _Squashed behind a Dropout and a BatchNorm: random masks while training
    def __init__(self, n, squash_while_training, p=0.3, batch_norm=False):
        super().__init__()
        self.norm, self.drop, self.linear = nn.BatchNorm1d(n) if batch_norm else nn.Identity(), nn.Dropout(p), nn.Linear(n, 1)  # fmt: skip
        self.squash_while_training = squash_while_training

    def forward(self, x):
        z = self.linear(self.drop(self.norm(x)))
        return torch.sigmoid(z) if self.training == self.squash_while_training else z


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("p", [0.3, 0.5])
def test_fix12_dropout_does_not_hide_what_the_loss_sees_while_training(p, batch_norm):
    right = check.fixed_setup(lambda n: (_Dropped(n, False, p, batch_norm), nn.BCEWithLogitsLoss()))
    assert right.passed, right  # raw scores while training, probabilities in eval mode: it trains properly
    verdict = check.fixed_setup(lambda n: (_Dropped(n, True, p, batch_norm), nn.BCEWithLogitsLoss()))
    assert verdict.mistake == "sigmoid_before_logits_loss" and "sigmoid(sigmoid(z))" in verdict.message, verdict
    assert "ends with a sigmoid while training (in eval mode it outputs raw scores)" in verdict.message, verdict
    verdict = check.fixed_setup(lambda n: (_Dropped(n, False, p, batch_norm), nn.BCELoss()))
    assert verdict.mistake == "bce_on_logits" and "raw scores while training" in verdict.message, verdict


@pytest.mark.parametrize(
    "layers",
    [
        lambda n: [nn.Dropout(0.3), nn.Linear(n, 1)],
        lambda n: [nn.BatchNorm1d(n), nn.Dropout(0.5), nn.Linear(n, 1)],
        lambda n: [nn.AlphaDropout(0.3), nn.Linear(n, 1)],
        lambda n: [nn.FeatureAlphaDropout(0.3), nn.Linear(n, 1)],
        lambda n: [nn.Unflatten(1, (n, 1)), nn.Dropout1d(0.3), nn.Flatten(), nn.Linear(n, 1)],
        lambda n: [nn.BatchNorm1d(n), nn.Linear(n, 1), nn.BatchNorm1d(1)],  # normalised by the batch while training
    ],
)
def test_fix12_dropout_and_batch_norm_right_in_both_modes_pass_and_their_mistakes_are_told(layers):
    assert check.fixed_setup(lambda n: (nn.Sequential(*layers(n)), nn.BCEWithLogitsLoss())).passed
    assert check.fixed_setup(lambda n: (nn.Sequential(*layers(n), nn.Sigmoid()), nn.BCELoss())).passed
    verdict = check.fixed_setup(lambda n: (nn.Sequential(*layers(n), nn.Sigmoid()), nn.BCEWithLogitsLoss()))
    assert verdict.mistake == "sigmoid_before_logits_loss" and "eval mode" not in verdict.message, verdict
    verdict = check.fixed_setup(lambda n: (nn.Sequential(*layers(n)), nn.BCELoss()))
    assert verdict.mistake == "bce_on_logits" and "eval mode" not in verdict.message, verdict


def test_alt5_thresholds_tried_among_the_malignant_tumours_only_are_named():
    def malignant_candidates(p, y, k):
        for t in sorted(p[y == 0].flatten().tolist()):
            if ((p >= t) & (y == 0)).sum().item() <= k:
                return t

    verdict = check.pick_threshold(malignant_candidates)
    assert verdict.mistake == "malignant_candidates_only" and "check the condition" not in verdict.message, verdict
    assert "only the malignant tumours' probabilities" in verdict.message, verdict
    assert "Try every probability" in verdict.message, verdict


def test_alt5_precision_and_recall_of_the_generic_message_are_rounded_alike():
    verdict = check.precision_recall(lambda p, y: (2 / 3, 4 / 9))
    assert verdict.mistake == "other" and "got 0.6667 and 0.4444." in verdict.message, verdict
    verdict = check.precision_recall(lambda p, y: (2 / 3 + 7.5e-5, 0.8))  # not close, yet 0.6667 both to 4 digits
    assert "expected precision 0.66667 and recall 0.8, got 0.66674 and 0.8." in verdict.message, verdict
