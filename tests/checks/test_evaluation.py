"""Each check of lesson 11 recognises the right answer, the placeholder, junk, and every known mistake."""

from __future__ import annotations

import pytest
import torch

from course.checks import evaluation as check


def _stub(*args):
    raise NotImplementedError  # your code here


# --- validation_loss -------------------------------------------------------------------------


def val_right(model, loss_fn, loader):
    model.eval()
    with torch.no_grad():
        losses = [loss_fn(model(x), y).item() for x, y in loader]
    return sum(losses) / len(losses)


def val_no_eval(model, loss_fn, loader):
    with torch.no_grad():
        losses = [loss_fn(model(x), y).item() for x, y in loader]
    return sum(losses) / len(losses)


def val_no_grad(model, loss_fn, loader):
    model.eval()
    losses = [loss_fn(model(x), y).item() for x, y in loader]
    return sum(losses) / len(losses)


def val_sum(model, loss_fn, loader):
    model.eval()
    with torch.no_grad():
        return sum(loss_fn(model(x), y).item() for x, y in loader)


def val_last(model, loss_fn, loader):
    model.eval()
    with torch.no_grad():
        for x, y in loader:
            loss = loss_fn(model(x), y).item()
    return loss


def val_never_calls(model, loss_fn, loader):
    return 0.5


def test_validation_loss_right_placeholder_and_junk():
    assert check.validation_loss(val_right).passed
    assert check.validation_loss(None).status == "not_attempted"
    assert check.validation_loss(_stub).status == "not_attempted"
    assert check.validation_loss("junk").mistake == "not_callable"
    assert check.validation_loss(lambda m, f, loader: "text").status == "wrong"
    assert check.validation_loss(lambda m, f, loader: 1 / 0).mistake == "raised"


@pytest.mark.parametrize(
    "fn, mistake",
    [
        (val_no_eval, "no_eval"),
        (val_no_grad, "no_grad"),
        (val_sum, "sum_not_mean"),
        (val_last, "last_batch"),
        (val_never_calls, "model_not_called"),
    ],
)
def test_validation_loss_mistakes(fn, mistake):
    assert check.validation_loss(fn).mistake == mistake


# --- regression_metrics ----------------------------------------------------------------------


def _r2(y_true, y_pred, denominator):
    return 1 - ((y_true - y_pred) ** 2).sum() / denominator


METRICS = {
    "right": lambda t, p: ((t - p).abs().mean(), _r2(t, p, ((t - t.mean()) ** 2).sum())),
    "squared_error": lambda t, p: (((t - p) ** 2).mean(), _r2(t, p, ((t - t.mean()) ** 2).sum())),
    "rmse": lambda t, p: (((t - p) ** 2).mean().sqrt(), _r2(t, p, ((t - t.mean()) ** 2).sum())),
    "no_abs": lambda t, p: ((t - p).mean(), _r2(t, p, ((t - t.mean()) ** 2).sum())),
    "sum_not_mean": lambda t, p: ((t - p).abs().sum(), _r2(t, p, ((t - t.mean()) ** 2).sum())),
    "wrong_denominator": lambda t, p: ((t - p).abs().mean(), _r2(t, p, ((t - p.mean()) ** 2).sum())),
    "missing_one_minus": lambda t, p: ((t - p).abs().mean(), ((t - p) ** 2).sum() / ((t - t.mean()) ** 2).sum()),
    "swapped_arguments": lambda t, p: ((t - p).abs().mean(), _r2(p, t, ((p - p.mean()) ** 2).sum())),
}


def test_regression_metrics_right_placeholder_and_junk():
    assert check.regression_metrics(METRICS["right"]).passed
    assert check.regression_metrics(None).status == "not_attempted"
    assert check.regression_metrics(_stub).status == "not_attempted"
    assert check.regression_metrics(lambda t, p: 3.0).mistake == "not_a_pair"
    assert check.regression_metrics(lambda t, p: ("a", "b")).mistake == "not_a_number"
    assert check.regression_metrics(lambda t, p: (t, p)).mistake == "not_a_number"


@pytest.mark.parametrize("mistake", [m for m in METRICS if m != "right"])
def test_regression_metrics_mistakes(mistake):
    assert check.regression_metrics(METRICS[mistake]).mistake == mistake


def test_regression_metrics_wrong_denominator_uncentred():
    fn = lambda t, p: ((t - p).abs().mean(), _r2(t, p, (t**2).sum()))  # noqa: E731
    assert check.regression_metrics(fn).mistake == "wrong_denominator"


# --- standardize -----------------------------------------------------------------------------


def _scale(x, mean, std):
    return (x - mean) / std


SCALERS = {
    "right": lambda tr, va: (_scale(tr, tr.mean(0), tr.std(0)), _scale(va, tr.mean(0), tr.std(0))),
    "leakage": lambda tr, va: tuple(
        _scale(part, torch.cat([tr, va]).mean(0), torch.cat([tr, va]).std(0)) for part in (tr, va)
    ),
    "val_own_stats": lambda tr, va: (_scale(tr, tr.mean(0), tr.std(0)), _scale(va, va.mean(0), va.std(0))),
    "no_std": lambda tr, va: (tr - tr.mean(0), va - tr.mean(0)),
    "wrong_axis": lambda tr, va: (_scale(tr, tr.mean(), tr.std()), _scale(va, tr.mean(), tr.std())),
}


def test_standardize_right_placeholder_and_junk():
    assert check.standardize(SCALERS["right"]).passed
    biased = lambda tr, va: tuple(_scale(p, tr.mean(0), tr.std(0, unbiased=False)) for p in (tr, va))  # noqa: E731
    assert check.standardize(biased).passed
    assert check.standardize(None).status == "not_attempted"
    assert check.standardize(_stub).status == "not_attempted"
    assert check.standardize(lambda tr, va: "junk").mistake == "not_a_pair"
    assert check.standardize(lambda tr, va: (tr[:2], va)).mistake == "wrong_shape"
    assert check.standardize(lambda tr, va: ("a", "b")).status == "wrong"


@pytest.mark.parametrize("mistake", [m for m in SCALERS if m != "right"])
def test_standardize_mistakes(mistake):
    assert check.standardize(SCALERS[mistake]).mistake == mistake


# --- best_epoch ------------------------------------------------------------------------------


def test_best_epoch():
    assert check.best_epoch(lambda h: h["val_loss"].index(min(h["val_loss"])) + 1).passed
    assert check.best_epoch(None).status == "not_attempted"
    assert check.best_epoch(_stub).status == "not_attempted"
    assert check.best_epoch(lambda h: h["train_loss"].index(min(h["train_loss"])) + 1).mistake == "training_data"
    assert check.best_epoch(lambda h: h["val_loss"].index(min(h["val_loss"]))).mistake == "zero_based"
    assert check.best_epoch(lambda h: "four").mistake == "not_an_int"
    assert check.best_epoch(lambda h: [1, 2]).mistake == "not_an_int"
    assert check.best_epoch(lambda h: 1).mistake == "other"


def test_verdicts_print_one_line():
    assert "\n" not in repr(check.validation_loss(val_no_eval))


@pytest.mark.parametrize("junk", ["junk", 42, [1, 2], torch.zeros(3)])
def test_every_check_survives_junk(junk):
    for fn in (check.validation_loss, check.regression_metrics, check.standardize, check.best_epoch):
        assert fn(junk).status == "wrong"
        assert fn(lambda *args: junk).status == "wrong"
