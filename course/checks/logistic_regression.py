"""Checks for lesson 12 (logistic regression): scaling three parts, fixing a setup, precision and recall,
picking a threshold on validation, and a model that reaches the target on validation (models are judged by
what they compute, with course.checks.probes, never by their class).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import KIND_WORDS, any_item, binary_accuracy, loss_kind, model_kind, randomised, tag_is
from course.checks.values import as_number
from course.checks.vocabulary import MISTAKES

TARGET_ACCURACY = 0.95
_SHAPES = [(24, 4), (8, 4), (8, 4)]
_SAY = {  # messages that only these exercises need
    "tensors": "return torch tensors: torch.tensor(values, dtype=torch.float32) for each part.",
    "rows": "select each part's rows with x[train_idx], x[val_idx], x[test_idx]: here (24, 4), (8, 4) and (8, 4).",
    "float32": "the numbers may be right, but models expect float32: torch.tensor(values, dtype=torch.float32).",
    "val_leak": "the statistics came from the training *and* validation rows: validation leaked into training.",
    "model_first": "the first thing returned should be the model, an nn.Module such as nn.Linear(n_features, 1).",
    "features": "the model should take a batch of shape (N, n_features) and give one score per row, shape (N, 1): "
    "build it with nn.Linear(n_features, 1), not for a fixed number of features.",
    "threshold": "return the threshold as one number (a float, e.g. with .item()).",
    "two_numbers": "precision and recall should each be one number (use .item() on a one-element tensor).",
    "one_output": "the model should give one output per example: shape (N, 1) for N rows of 30 features.",
}


# --- exercise 1: split, then scale ----------------------------------------------------------------


def _scaling_inputs() -> tuple:
    rng = np.random.RandomState(3)
    x = rng.randn(40, 4) * [1.0, 100.0, 0.01, 5.0] + [2.0, 500.0, 0.0, -1.0]
    x[-10:] += [3.0, 200.0, 0.05, 10.0]  # the last rows differ: statistics that include them are visibly off
    idx = rng.permutation(40)
    return x, np.sort(idx[:24]), np.sort(idx[24:32]), np.sort(idx[32:])


def _scaler(stats="train", rows=True, ddof=0, axis=0, dtype=torch.float32):
    """A scaling program: statistics of the training rows, of "all", of "train and val" or of each part's "own";
    ``rows=False`` forgets to select each part's rows."""

    def scale(x, *parts):
        parts = parts if rows else (slice(None),) * 3
        named = {"train": parts[0], "all": slice(None), "train and val": np.concatenate(parts[:2]) if rows else None}
        stat_rows = [named[stats] if stats in named else part for part in parts]
        return tuple(
            torch.tensor((x[p] - x[s].mean(axis)) / x[s].std(axis, ddof=ddof), dtype=dtype)
            for p, s in zip(parts, stat_rows, strict=True)
        )

    return scale


def _scaled_parts(answer, args) -> object:
    """The parts divided by the first part's spread, so a std with ddof 0 or 1 gives the same answer."""
    got = answer(*args)
    try:
        spread = got[0].detach().double().std(0, unbiased=False)
        return tuple((t.detach().double() / spread).to(t.dtype) for t in got) if bool((spread > 0).all()) else got
    except Exception:  # not tensors: the guards say so
        return got


scale_features = Exercise(
    name="scale_features",
    inputs=_scaling_inputs,
    reference=_scaler(),
    observe=_scaled_parts,
    alternatives=[_scaler(ddof=1)],
    guards=[
        Guard("not_three_parts", lambda got: not isinstance(got, (tuple, list)) or len(got) != 3, lambda *a: a[0]),
        Guard("not_a_tensor", any_item(lambda t: type(t) is not torch.Tensor), lambda x, *i: i, _SAY["tensors"]),
        Guard("wrong_shape", lambda got: [tuple(t.shape) for t in got] != _SHAPES, _scaler(rows=False), _SAY["rows"]),
        Guard(
            "wrong_dtype", any_item(lambda t: t.dtype != torch.float32), _scaler(dtype=torch.float64), _SAY["float32"]
        ),
    ],
    mistakes=[
        Mistake("leakage", _scaler("all")),
        Mistake("leakage", _scaler("train and val"), _SAY["val_leak"]),
        Mistake("own_statistics", _scaler("own")),
        Mistake("own_statistics", _scaler("own", ddof=1)),
        Mistake("wrong_axis", _scaler(axis=None)),
    ],
    success="split first, then every part scaled with the training rows' mean and std per column, as float32.",
)

# --- exercise 2: find the bug in a setup ----------------------------------------------------------


def _setup(answer, args) -> tuple:
    got = answer(*args)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return ("not_a_pair", "")
    model, loss = model_kind(got[0], args[0]), loss_kind(got[1])
    return ("matched", "matched") if model == loss else (model, loss)


def _mismatch(got: tuple, expected: tuple) -> str:
    model, loss = (KIND_WORDS.get(kind, kind) for kind in got)
    return (
        f"the model outputs {model} and the loss expects {loss}: logistic regression is nn.Linear(n_features, 1) "
        "with BCEWithLogitsLoss, or followed by a sigmoid with BCELoss."
    )


def _seq(n: int, *tail: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Linear(n, 1), *tail)


fixed_setup = Exercise(
    name="fixed_setup",
    inputs=lambda: (7,),
    reference=lambda n: (nn.Linear(n, 1), nn.BCEWithLogitsLoss()),
    observe=_setup,
    alternatives=[
        lambda n: (_seq(n, nn.Sigmoid()), nn.BCELoss()),
        lambda n: (nn.Linear(n, 1).double(), nn.BCEWithLogitsLoss()),
        lambda n: (_seq(n), nn.functional.binary_cross_entropy_with_logits),
    ],
    guards=[
        Guard("not_a_pair", tag_is("not_a_pair"), lambda n: nn.Linear(n, 1), "return (model, loss_fn)."),
        Guard("not_a_model", tag_is("not_a_model"), lambda n: ("model", nn.BCELoss()), _SAY["model_first"]),
        Guard(
            "wrong_shape", tag_is("wrong_shape"), lambda n: (nn.Linear(30, 1), nn.BCEWithLogitsLoss()), _SAY["features"]
        ),
        Guard("not_a_loss", tag_is("unknown", 1), lambda n: (nn.Linear(n, 1), nn.MSELoss())),
    ],
    mistakes=[
        Mistake("sigmoid_before_logits_loss", lambda n: (_seq(n, nn.Sigmoid()), nn.BCEWithLogitsLoss())),
        Mistake("bce_on_logits", lambda n: (nn.Linear(n, 1), nn.BCELoss())),
        Mistake("softmax_one_output", lambda n: (_seq(n, nn.Softmax(dim=1)), nn.BCELoss())),
    ],
    explain=_mismatch,
    success="the model's output and the loss agree: raw scores with BCEWithLogitsLoss (or a sigmoid with BCELoss).",
)

# --- exercise 3: precision and recall --------------------------------------------------------------


def _pr(pred, y, positive=1.0):
    tp = ((pred == positive) & (y == positive)).sum().item()
    return tp / (pred == positive).sum().item(), tp / (y == positive).sum().item()


precision_recall = Exercise(
    name="precision_recall",
    inputs=lambda: (  # TP 4, FP 2, FN 1, TN 5
        torch.tensor([1.0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0]).reshape(-1, 1),
        torch.tensor([1.0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0]).reshape(-1, 1),
    ),
    reference=_pr,
    guards=[
        Guard("not_a_pair", lambda got: not isinstance(got, (tuple, list)) or len(got) != 2, lambda p, y: 0.5),
        Guard("not_a_number", any_item(lambda v: as_number(v) is None), lambda p, y: (p, y), _SAY["two_numbers"]),
    ],
    mistakes=[
        Mistake("swapped_precision_recall", lambda p, y: _pr(p, y)[::-1]),
        Mistake("wrong_class", lambda p, y: _pr(p, y, positive=0.0)),
        Mistake("accuracy_not_precision", lambda p, y: ((p == y).float().mean().item(),) * 2),
    ],
    explain=lambda got, exp: f"expected precision {exp[0]:.4f} and recall {exp[1]:.4f}, got {got[0]} and {got[1]}.",
    success=lambda exp: f"precision {exp[0]:.4f} (TP / predicted 1), recall {exp[1]:.4f} (TP / truly 1).",
)

# --- exercise 4: pick the threshold on validation --------------------------------------------------

_PROBS = [0.55, 0.1, 0.85, 0.9, 0.6, 0.95, 0.2, 0.4, 0.05, 0.3, 0.7, 0.8]  # shuffled: nothing relies on order
_BENIGN = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]  # 1 = benign, 0 = malignant


def _decisions(answer, args) -> tuple:
    """For max_missed 0 and 1: the smallest probability at or above the returned threshold (the same decisions)."""
    probs = args[0].reshape(-1).tolist()

    def lowest_kept(value: object) -> object:
        number = as_number(value)
        return value if number is None else min((p for p in probs if p >= number), default=float("inf"))

    return tuple(lowest_kept(answer(*(a.clone() for a in args), max_missed)) for max_missed in (0, 1))


def _pick(missed_of=lambda p, y, t: ((p >= t) & (y == 0)).sum(), smallest=True, within=lambda m, k: m <= k):
    def pick(p, y, max_missed):
        for t in sorted(p.reshape(-1).tolist(), reverse=not smallest):
            if within(missed_of(p, y, t), max_missed):
                return t
        return None

    return pick


pick_threshold = Exercise(
    name="pick_threshold",
    inputs=lambda: (torch.tensor(_PROBS).reshape(-1, 1), torch.tensor(_BENIGN).reshape(-1, 1)),
    reference=_pick(),
    observe=_decisions,
    alternatives=[
        lambda p, y, k: p[p > p[y == 0].sort(descending=True).values[k]].min().item(),  # above the (k+1)-th cancer
        lambda p, y, k: next(t for t in torch.linspace(0, 1, 1001) if ((p >= t) & (y == 0)).sum() <= k),
    ],
    guards=[
        Guard("returned_none", lambda got: all(v is None for v in got), lambda p, y, k: None),
        Guard(
            "not_a_number",
            any_item(lambda v: v is not None and as_number(v) is None),
            lambda p, y, k: p,
            _SAY["threshold"],
        ),
    ],
    mistakes=[
        Mistake("strict_threshold", _pick(lambda p, y, t: ((p > t) & (y == 0)).sum())),
        Mistake("missed_off_by_one", _pick(within=lambda m, k: m < k)),
        Mistake("wrong_class", _pick(lambda p, y, t: ((p < t) & (y == 1)).sum())),
        Mistake("largest_threshold", _pick(smallest=False)),
        Mistake("ignores_max_missed", _pick(within=lambda m, k: m <= 0)),
    ],
    success="the smallest threshold that keeps the missed cancers within the limit: as many benign found as allowed.",
)

# --- exercise 5: reach the target on validation ----------------------------------------------------


@functools.cache
def _fitted() -> tuple:
    """scikit-learn's logistic regression on the lesson's training part (a right answer, quick to get)."""
    from sklearn.linear_model import LogisticRegression

    from course.data import load_breast_cancer_split

    parts = load_breast_cancer_split()
    model = LogisticRegression(max_iter=1000).fit(parts.x_train.numpy(), parts.y_train.numpy().ravel())
    return model.coef_.tolist(), model.intercept_.tolist(), parts.x_val, parts.y_val


def _linear(weight=None, bias=None, *tail: nn.Module, dtype=torch.float32) -> nn.Module:
    linear = nn.Linear(30, 1).to(dtype)
    weight, bias = (weight, bias) if weight is not None else _fitted()[:2]
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(weight, dtype=dtype))
        linear.bias.copy_(torch.as_tensor(bias, dtype=dtype))
    return nn.Sequential(linear, *tail) if tail else linear


def _validation(model, args) -> tuple:
    """(category, validation accuracy): "reached", "below_target", "chance", or why it cannot be measured."""
    kind, acc = binary_accuracy(model, *_fitted()[2:])
    if acc is None:
        return (kind, None)
    return ("reached" if acc >= TARGET_ACCURACY else "chance" if acc <= 0.7 else "below_target", acc)


def _with_accuracy(mistake: str):
    """The vocabulary's message with the learner's validation accuracy in it."""
    return lambda got, exp: MISTAKES[mistake].replace("the accuracy", f"the validation accuracy, {got[1]:.4f},")


def _one_feature() -> nn.Module:  # mean concavity alone: validation accuracy 0.88 (random weights, seed 3: 0.46)
    return _linear([[-1.0 if i == 6 else 0.0 for i in range(30)]], [0.0])


validation_accuracy = Exercise(
    name="validation_accuracy",
    kind="value",
    reference=_linear,
    observe=_validation,
    same=lambda got, expected: got[0] == expected[0],
    alternatives=[
        lambda: _linear(None, None, nn.Sigmoid()),
        lambda: _linear(dtype=torch.float64),
        lambda: _linear(None, None, nn.Tanh()),
    ],
    guards=[
        Guard("not_a_model", tag_is("not_a_model"), lambda: "model"),
        Guard("wrong_shape", tag_is("wrong_shape"), lambda: nn.Linear(30, 2), _SAY["one_output"]),
        Guard("not_finite", tag_is("not_finite"), lambda: _linear([[float("nan")] * 30], [0.0])),
    ],
    mistakes=[
        Mistake("softmax_one_output", lambda: _linear(None, None, nn.Softmax(dim=1))),
        Mistake("untrained", lambda: randomised(nn.Linear(30, 1), seed=3, scale=0.2), _with_accuracy("untrained")),
        Mistake("below_target", _one_feature, _with_accuracy("below_target")),
    ],
    success=f"validation accuracy at or above the target {TARGET_ACCURACY:.2f}; the test part stays untouched.",
)
