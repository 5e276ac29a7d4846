"""Each check of lesson 12 recognises the right answer, the placeholder, junk, and every known mistake;
and course.data.load_breast_cancer_split scales with the training statistics only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course.checks import logistic_regression as check
from course.data import load_breast_cancer_split


def _stub(*args):
    raise NotImplementedError  # your code here


# --- the data helper -------------------------------------------------------------------------


def test_breast_cancer_split_uses_training_statistics_only():
    x_train, y_train, x_test, y_test = load_breast_cancer_split()
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.float32
    assert tuple(x_train.shape) == (455, 30) and tuple(y_test.shape) == (114, 1)
    assert torch.allclose(x_train.mean(0), torch.zeros(30), atol=1e-5)
    assert torch.allclose(x_train.std(0, unbiased=False), torch.ones(30), atol=1e-4)
    assert not torch.allclose(x_test.mean(0), torch.zeros(30), atol=1e-2)  # the test part is not re-centred
    assert set(y_train.unique().tolist()) == {0.0, 1.0}


def test_breast_cancer_split_is_seeded_and_rejects_bad_fractions():
    first, again = load_breast_cancer_split(seed=1), load_breast_cancer_split(seed=1)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], load_breast_cancer_split(seed=2)[0])
    with pytest.raises(ValueError, match="test_fraction"):
        load_breast_cancer_split(test_fraction=1.5)


# --- scale_features --------------------------------------------------------------------------


def _scaled(x, train_idx, test_idx, mean, std, dtype=torch.float32):
    return (
        torch.tensor((x[train_idx] - mean) / std, dtype=dtype),
        torch.tensor((x[test_idx] - mean) / std, dtype=dtype),
    )


SCALERS = {
    "right": lambda x, tr, te: _scaled(x, tr, te, x[tr].mean(0), x[tr].std(0)),
    "leakage": lambda x, tr, te: _scaled(x, tr, te, x.mean(0), x.std(0)),
    "not_float32": lambda x, tr, te: _scaled(x, tr, te, x[tr].mean(0), x[tr].std(0), dtype=torch.float64),
    "wrong_axis": lambda x, tr, te: _scaled(x, tr, te, x[tr].mean(), x[tr].std()),
    "test_own_stats": lambda x, tr, te: (
        torch.tensor((x[tr] - x[tr].mean(0)) / x[tr].std(0), dtype=torch.float32),
        torch.tensor((x[te] - x[te].mean(0)) / x[te].std(0), dtype=torch.float32),
    ),
    "not_tensors": lambda x, tr, te: ((x[tr] - x[tr].mean(0)) / x[tr].std(0), (x[te] - x[tr].mean(0)) / x[tr].std(0)),
}


def test_scale_features_right_placeholder_and_junk():
    assert check.scale_features(SCALERS["right"]).passed
    assert check.scale_features(lambda x, tr, te: _scaled(x, tr, te, x[tr].mean(0), x[tr].std(0, ddof=1))).passed
    assert check.scale_features(None).status == "not_attempted"
    assert check.scale_features(_stub).status == "not_attempted"
    assert check.scale_features("junk").mistake == "not_callable"
    assert check.scale_features(lambda x, tr, te: "junk").mistake == "not_a_pair"
    assert check.scale_features(lambda x, tr, te: (torch.zeros(3), torch.zeros(2))).mistake == "wrong_shape"


@pytest.mark.parametrize("mistake", [m for m in SCALERS if m != "right"])
def test_scale_features_mistakes(mistake):
    assert check.scale_features(SCALERS[mistake]).mistake == mistake


# --- logits_setup ----------------------------------------------------------------------------


def test_logits_setup():
    assert check.logits_setup(nn.Linear(30, 1), nn.BCEWithLogitsLoss()).passed
    assert check.logits_setup(nn.Sequential(nn.Linear(30, 1)), nn.functional.binary_cross_entropy_with_logits).passed
    assert check.logits_setup(None, None).status == "not_attempted"
    assert check.logits_setup(nn.Linear(30, 1), None).status == "not_attempted"
    sigmoid_model = nn.Sequential(nn.Linear(30, 1), nn.Sigmoid())
    assert check.logits_setup(sigmoid_model, nn.BCEWithLogitsLoss()).mistake == "sigmoid_before_logits_loss"
    assert check.logits_setup(sigmoid_model, nn.BCELoss()).mistake == "not_logits"
    assert check.logits_setup(nn.Linear(30, 1), nn.BCELoss()).mistake == "bce_on_logits"
    assert check.logits_setup(nn.Linear(30, 2), nn.BCEWithLogitsLoss()).mistake == "wrong_output_shape"
    assert check.logits_setup(nn.Linear(3, 1), nn.BCEWithLogitsLoss()).mistake == "raised"
    assert check.logits_setup("model", nn.BCEWithLogitsLoss()).mistake == "not_a_model"
    assert check.logits_setup(nn.Linear(30, 1), "loss").mistake == "not_a_loss"
    assert check.logits_setup(nn.Linear(30, 1), nn.MSELoss()).mistake == "not_a_loss"


# --- accuracy --------------------------------------------------------------------------------

ACCURACY = {
    "right": lambda p, y, t: ((p >= t).float() == y).float().mean().item(),
    "wrong_direction": lambda p, y, t: ((p < t).float() == y).float().mean().item(),
    "no_threshold": lambda p, y, t: (p == y).float().mean().item(),
    "ignores_threshold": lambda p, y, t: ((p >= 0.5).float() == y).float().mean().item(),
}


def test_accuracy_right_placeholder_and_junk():
    assert check.accuracy(ACCURACY["right"]).passed
    assert check.accuracy(lambda p, y, t: ((p > t).float() == y).float().mean()).passed  # a 0-d tensor is fine
    assert check.accuracy(None).status == "not_attempted"
    assert check.accuracy(_stub).status == "not_attempted"
    assert check.accuracy(lambda p, y, t: p).mistake == "not_a_number"
    assert check.accuracy(lambda p, y, t: "high").mistake == "not_a_number"


@pytest.mark.parametrize("mistake", [m for m in ACCURACY if m != "right"])
def test_accuracy_mistakes(mistake):
    assert check.accuracy(ACCURACY[mistake]).mistake == mistake


def test_accuracy_on_probabilities_without_threshold():
    assert check.accuracy(lambda p, y, t: (1 - (p - y).abs()).mean().item()).mistake == "no_threshold"


# --- precision_recall ------------------------------------------------------------------------


def _counts(pred, y, positive=1.0):
    tp = ((pred == positive) & (y == positive)).sum().item()
    fp = ((pred == positive) & (y != positive)).sum().item()
    fn = ((pred != positive) & (y == positive)).sum().item()
    return tp, fp, fn


def _pr(pred, y, positive=1.0):
    tp, fp, fn = _counts(pred, y, positive)
    return tp / (tp + fp), tp / (tp + fn)


PRECISION_RECALL = {
    "right": _pr,
    "swapped": lambda pred, y: _pr(pred, y)[::-1],
    "wrong_class": lambda pred, y: _pr(pred, y, positive=0.0),
    "accuracy": lambda pred, y: ((pred == y).float().mean().item(),) * 2,
}


def test_precision_recall_right_placeholder_and_junk():
    assert check.precision_recall(_pr).passed
    assert check.precision_recall(None).status == "not_attempted"
    assert check.precision_recall(_stub).status == "not_attempted"
    assert check.precision_recall(lambda pred, y: 0.5).mistake == "not_a_pair"
    assert check.precision_recall(lambda pred, y: (pred, y)).mistake == "not_a_number"


@pytest.mark.parametrize("mistake", [m for m in PRECISION_RECALL if m != "right"])
def test_precision_recall_mistakes(mistake):
    assert check.precision_recall(PRECISION_RECALL[mistake]).mistake == mistake


# --- held_out_accuracy -----------------------------------------------------------------------


def _trained(model, loss_fn, epochs):
    x_train, y_train, _, _ = load_breast_cancer_split()
    torch.manual_seed(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(epochs):
        loss = loss_fn(model(x_train), y_train)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model


def test_held_out_accuracy_reaches_target_with_logits_or_probabilities():
    torch.manual_seed(0)
    assert check.held_out_accuracy(_trained(nn.Linear(30, 1), nn.BCEWithLogitsLoss(), 200)).passed
    probability_model = _trained(nn.Sequential(nn.Linear(30, 1), nn.Sigmoid()), nn.BCELoss(), 200)
    assert check.held_out_accuracy(probability_model).passed
    assert probability_model.training  # the check restores the mode


def test_held_out_accuracy_mistakes():
    assert check.held_out_accuracy(None).status == "not_attempted"
    assert check.held_out_accuracy("model").mistake == "not_a_model"
    assert check.held_out_accuracy(nn.Linear(3, 1)).mistake == "raised"
    assert check.held_out_accuracy(nn.Linear(30, 2)).mistake == "wrong_output_shape"
    untrained = nn.Linear(30, 1)
    with torch.no_grad():
        untrained.weight.zero_()
        untrained.bias.fill_(-1.0)  # predicts "malignant" for everyone
    assert check.held_out_accuracy(untrained).mistake == "untrained"
    weak = _trained(nn.Linear(30, 1), nn.BCEWithLogitsLoss(), 200)
    assert check.held_out_accuracy(weak, target=0.999).mistake == "below_target"


def test_held_out_accuracy_nan_model():
    model = nn.Linear(30, 1)
    with torch.no_grad():
        model.weight.fill_(float("nan"))
    assert check.held_out_accuracy(model).status == "wrong"


def test_data_shapes_are_numpy_floats():
    x, train_idx, test_idx = check._scaling_data()
    assert x.dtype == np.float64 and len(train_idx) + len(test_idx) == len(x)


@pytest.mark.parametrize("junk", ["junk", 42, [1, 2], torch.zeros(3)])
def test_every_check_survives_junk(junk):
    for fn in (check.scale_features, check.accuracy, check.precision_recall):
        assert fn(junk).status == "wrong"
        assert fn(lambda *args: junk).status == "wrong"
    assert check.logits_setup(junk, nn.BCEWithLogitsLoss()).status == "wrong"
    assert check.logits_setup(nn.Linear(30, 1), junk).status == "wrong"
    assert check.held_out_accuracy(junk).status == "wrong"
