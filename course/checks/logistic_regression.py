"""Checks for lesson 12 (logistic regression): scaling, the logits setup, accuracy, precision and recall."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from course.checks.verdict import (
    Verdict,
    as_number,
    call_learner,
    correct,
    is_placeholder,
    not_attempted,
    number_pair,
    wrong,
)

TARGET_ACCURACY = 0.95


def _close(a: float, b: float, tol: float = 1e-4) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def _scaling_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.RandomState(3)
    x = rng.randn(30, 4) * np.array([1.0, 100.0, 0.01, 5.0]) + np.array([2.0, 500.0, 0.0, -1.0])
    x[-8:] += np.array([3.0, 200.0, 0.05, 10.0])  # the last rows differ: leakage changes the statistics visibly
    idx = rng.permutation(30)
    return x, np.sort(idx[:22]), np.sort(idx[22:])


def scale_features(fn: Callable | None) -> Verdict:
    """Check ``fn(x, train_idx, test_idx) -> (x_train, x_test)``: split, then scale with training statistics, float32."""
    x, train_idx, test_idx = _scaling_data()
    result, verdict = call_learner(fn, x.copy(), train_idx.copy(), test_idx.copy())
    if verdict is not None:
        return verdict
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return wrong("not_a_pair", f"return two tensors, (x_train, x_test); got {type(result).__name__}.")
    got_train, got_test = result
    if not all(isinstance(t, torch.Tensor) for t in result):
        return wrong("not_tensors", "return torch tensors: torch.tensor(array, dtype=torch.float32).")
    if got_train.shape != (len(train_idx), x.shape[1]) or got_test.shape != (len(test_idx), x.shape[1]):
        return wrong(
            "wrong_shape",
            f"expected shapes {(len(train_idx), x.shape[1])} and {(len(test_idx), x.shape[1])}, "
            f"got {tuple(got_train.shape)} and {tuple(got_test.shape)}. Select rows with x[train_idx] and x[test_idx].",
        )
    got_train, got_test = got_train.detach().double(), got_test.detach().double()
    raw_train, raw_test = x[train_idx], x[test_idx]

    def matches(
        mean: np.ndarray, std: np.ndarray, test_mean: np.ndarray | None = None, test_std: np.ndarray | None = None
    ) -> bool:
        test_mean = mean if test_mean is None else test_mean
        test_std = std if test_std is None else test_std
        want_train = torch.from_numpy((raw_train - mean) / std)
        want_test = torch.from_numpy((raw_test - test_mean) / test_std)
        return torch.allclose(got_train, want_train, atol=1e-4) and torch.allclose(got_test, want_test, atol=1e-4)

    for ddof in (0, 1):
        if matches(raw_train.mean(0), raw_train.std(0, ddof=ddof)):
            if result[0].dtype != torch.float32 or result[1].dtype != torch.float32:
                return wrong(
                    "not_float32",
                    f"the numbers are right but the dtype is {result[0].dtype}; models expect torch.float32.",
                )
            return correct("split first, scaled with the training part's statistics, float32 tensors.")
    for ddof in (0, 1):
        if matches(x.mean(0), x.std(0, ddof=ddof)):
            return wrong(
                "leakage",
                "you scaled with the mean and std of all the data, test rows included: the test set leaked into "
                "training. Split first, compute the statistics on x[train_idx] only, apply them to both parts.",
            )
        if matches(raw_train.mean(0), raw_train.std(0, ddof=ddof), raw_test.mean(0), raw_test.std(0, ddof=ddof)):
            return wrong(
                "test_own_stats",
                "the test part was scaled with its own statistics; use the training mean and std for both parts.",
            )
        if matches(raw_train.mean(), raw_train.std(ddof=ddof)):
            return wrong(
                "wrong_axis", "one mean and std for the whole array mixes features; use axis=0 (one per column)."
            )
    return wrong(
        "other",
        "expected (x[train_idx] - mean) / std and (x[test_idx] - mean) / std with the training mean and std per column.",
    )


def _loss_kind(loss_fn: object) -> str:
    """'logits', 'probabilities' or 'unknown': what the loss expects, judged by its class or its behaviour."""
    if isinstance(loss_fn, nn.BCEWithLogitsLoss):
        return "logits"
    if isinstance(loss_fn, nn.BCELoss):
        return "probabilities"
    if not callable(loss_fn):
        return "unknown"
    target = torch.tensor([[1.0], [0.0]])
    try:
        scores = torch.tensor([[2.0], [-1.0]])
        if _close(
            float(loss_fn(scores, target)), float(nn.functional.binary_cross_entropy_with_logits(scores, target))
        ):
            return "logits"
    except Exception:
        pass
    try:
        probs = torch.tensor([[0.8], [0.3]])
        if _close(float(loss_fn(probs, target)), float(nn.functional.binary_cross_entropy(probs, target))):
            return "probabilities"
    except Exception:
        pass
    return "unknown"


def logits_setup(model: object, loss_fn: object) -> Verdict:
    """Check a raw-score model for 30 features (one output, no sigmoid) paired with ``nn.BCEWithLogitsLoss``."""
    if is_placeholder(model) or is_placeholder(loss_fn):
        return not_attempted()
    if not isinstance(model, nn.Module):
        return wrong(
            "not_a_model", f"raw_model should be an nn.Module such as nn.Linear(30, 1), got {type(model).__name__}."
        )
    x = torch.randn(64, 30, generator=torch.Generator().manual_seed(4)) * 50
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:
        return wrong("raised", f"calling the model on a (64, 30) batch raised {type(exc).__name__}: {exc}")
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (64, 1):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return wrong(
            "wrong_output_shape", f"expected one score per example, shape (64, 1); got {shape}. Use nn.Linear(30, 1)."
        )
    squashed = bool(((out >= 0) & (out <= 1)).all())
    kind = _loss_kind(loss_fn)
    if kind == "unknown":
        return wrong(
            "not_a_loss", "logits_loss should be a binary cross-entropy loss object, e.g. nn.BCEWithLogitsLoss()."
        )
    if squashed and kind == "logits":
        return wrong(
            "sigmoid_before_logits_loss",
            "your model ends with a sigmoid, and BCEWithLogitsLoss applies one again: the loss sees sigmoid(sigmoid(z)) "
            "and cannot go below about 0.31. Remove nn.Sigmoid from the model.",
        )
    if squashed and kind == "probabilities":
        return wrong(
            "not_logits",
            "that is the probability version (Sigmoid + BCELoss). Here, drop the Sigmoid and use nn.BCEWithLogitsLoss.",
        )
    if not squashed and kind == "probabilities":
        return wrong(
            "bce_on_logits",
            "BCELoss expects probabilities in [0, 1], but your model outputs raw scores. Use nn.BCEWithLogitsLoss.",
        )
    return correct("raw scores in, BCEWithLogitsLoss applies the sigmoid inside, in a numerically safe way.")


def _accuracy_data() -> tuple[torch.Tensor, torch.Tensor]:
    probs = torch.tensor([0.95, 0.85, 0.72, 0.65, 0.55, 0.45, 0.35, 0.25, 0.15, 0.05, 0.9, 0.6]).reshape(-1, 1)
    targets = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]).reshape(-1, 1)
    return probs, targets


def accuracy(fn: Callable | None) -> Verdict:
    """Check ``fn(probabilities, targets, threshold) -> float``: the share of thresholded predictions that are right."""
    probs, targets = _accuracy_data()
    answers = {}
    for threshold in (0.5, 0.8):
        result, verdict = call_learner(fn, probs.clone(), targets.clone(), threshold)
        if verdict is not None:
            return verdict
        value = as_number(result)
        if value is None:
            return wrong("not_a_number", f"return one number between 0 and 1, got {type(result).__name__}.")
        answers[threshold] = value

    def acc(pred: torch.Tensor) -> float:
        return float((pred.float() == targets).float().mean())

    expected = {t: acc(probs >= t) for t in answers}
    if all(_close(answers[t], expected[t]) for t in answers):
        return correct(f"accuracy {expected[0.5]:.4f} at threshold 0.5 and {expected[0.8]:.4f} at 0.8.")
    if all(_close(answers[t], acc(probs < t)) for t in answers):
        return wrong(
            "wrong_direction",
            "your threshold points the wrong way: a probability *at or above* the threshold means class 1.",
        )
    no_threshold = [acc(probs), float(1 - (probs - targets).abs().mean()), float(probs.mean())]
    if any(_close(answers[0.5], v) for v in no_threshold):
        return wrong(
            "no_threshold",
            "you used the probabilities directly; turn them into 0/1 predictions first with (probabilities >= threshold), "
            "then compare with the targets.",
        )
    if _close(answers[0.5], expected[0.5]) and _close(answers[0.8], expected[0.5]):
        return wrong(
            "ignores_threshold",
            "your function gives the same answer for every threshold; use the threshold argument instead of 0.5.",
        )
    return wrong("other", f"expected {expected[0.5]:.4f} at threshold 0.5, got {answers[0.5]:.4f}.")


def _pr_data() -> tuple[torch.Tensor, torch.Tensor]:
    predictions = torch.tensor([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0]).reshape(-1, 1).float()
    targets = torch.tensor([1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0]).reshape(-1, 1).float()
    return predictions, targets  # TP 4, FP 2, FN 1, TN 5: precision 4/6, recall 4/5


def precision_recall(fn: Callable | None) -> Verdict:
    """Check ``fn(predictions, targets) -> (precision, recall)`` for the positive class 1."""
    predictions, targets = _pr_data()
    result, verdict = call_learner(fn, predictions.clone(), targets.clone())
    if verdict is not None:
        return verdict
    numbers = number_pair(result, ("precision", "recall"))
    if isinstance(numbers, Verdict):
        return numbers
    precision, recall = numbers
    want = (4 / 6, 4 / 5)
    if _close(precision, want[0]) and _close(recall, want[1]):
        return correct(
            f"precision {want[0]:.4f} (TP / predicted positive), recall {want[1]:.4f} (TP / actually positive)."
        )
    if _close(precision, want[1]) and _close(recall, want[0]):
        return wrong(
            "swapped",
            "precision and recall are swapped. Precision divides TP by everything *predicted* positive (TP + FP); "
            "recall divides TP by everything *actually* positive (TP + FN).",
        )
    if _close(precision, 5 / 6) and _close(recall, 5 / 7):
        return wrong("wrong_class", "you computed them for class 0; the positive class is 1.")
    if _close(precision, 9 / 12) or _close(recall, 9 / 12):
        return wrong(
            "accuracy", "that is the accuracy (right / all); precision and recall only count the positive class."
        )
    return wrong(
        "other", f"expected precision {want[0]:.4f} and recall {want[1]:.4f}; got {precision:.4f} and {recall:.4f}."
    )


def held_out_accuracy(model: object, target: float = TARGET_ACCURACY) -> Verdict:
    """Check that a trained model reaches ``target`` accuracy on the course's held-out breast-cancer data.

    The model takes the standardised (N, 30) features of ``course.data.load_breast_cancer_split()``
    and returns raw scores (threshold 0) or, if it ends with ``nn.Sigmoid``, probabilities (threshold 0.5).
    """
    if is_placeholder(model):
        return not_attempted()
    if not isinstance(model, nn.Module):
        return wrong("not_a_model", f"my_model should be a trained nn.Module, got {type(model).__name__}.")
    from course.data import load_breast_cancer_split

    _, _, x_test, y_test = load_breast_cancer_split()
    was_training = model.training
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    except Exception:
        device = torch.device("cpu")
    try:
        model.eval()
        with torch.no_grad():
            out = model(x_test.to(device))
    except Exception as exc:
        return wrong("raised", f"calling the model on the (114, 30) test features raised {type(exc).__name__}: {exc}")
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.numel() != len(y_test):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return wrong("wrong_output_shape", f"expected one output per example, shape (114, 1); got {shape}.")
    out = out.detach().cpu().reshape(-1, 1).float()
    ends_with_sigmoid = isinstance(model, nn.Sequential) and len(model) > 0 and isinstance(model[-1], nn.Sigmoid)
    threshold = 0.5 if ends_with_sigmoid else 0.0
    acc = float(((out >= threshold).float() == y_test).float().mean())
    if math.isnan(acc):
        return wrong("nan", "the model outputs NaN; lower the learning rate.")
    if acc >= target:
        return correct(f"held-out accuracy {acc:.4f} reaches the target {target:.2f}.")
    if acc <= 0.7:
        return wrong(
            "untrained",
            f"held-out accuracy {acc:.4f}, about what guessing gives: did the training loop run and update this model?",
        )
    return wrong(
        "below_target",
        f"held-out accuracy {acc:.4f} is below the target {target:.2f}: train longer or with a larger learning rate.",
    )


__all__ = ["TARGET_ACCURACY", "accuracy", "held_out_accuracy", "logits_setup", "precision_recall", "scale_features"]
