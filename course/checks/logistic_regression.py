"""Checks for lesson 12 (logistic regression): scaling three parts, fixing a setup, precision and recall, picking a
threshold, a model that reaches the target on validation. Models are judged by what they compute, on copies of the data.
The probes keep wrong answers apart: the last scaling rows are shifted and the indices unsorted; precision, recall and
accuracy differ (TP 4, FP 2, FN 1, TN 5); thresholds are probabilities, a malignant one on a candidate (`>` and `>=`
differ), two cancers tie (`==` and `<=` differ). Two probes; thresholds on three."""

from __future__ import annotations

import copy
import functools

import numpy as np
import torch
from sklearn import metrics
from sklearn.linear_model import LogisticRegression
from torch import nn

from course.checks import probes
from course.checks.computation_graphs import _shown
from course.checks.engine import Exercise, Guard, Library, Mistake
from course.checks.evaluation import _pair
from course.checks.models import _untrainable
from course.checks.probes import KIND_WORDS, any_item, binary_accuracy, loss_kind, model_kind, randomised, tag_is
from course.checks.threshold_probe import (
    CALLS,
    PICK_MISTAKES,
    PROBS_BENIGN,
    above_all,
    columns,
    decisions,
    explain_pick,
    is_above,
    no_threshold,
    pick,
)
from course.checks.values import PerProbe, as_number, close, safe_text
from course.checks.vocabulary import MISTAKES
from course.data import load_breast_cancer_split

TARGET_ACCURACY = 0.95
_X = np.random.RandomState(3).randn(40, 4) * [1.0, 100.0, 0.01, 5.0] + [2.0, 500.0, 0.0, -1.0]
_X[30:] += [3.0, 200.0, 0.05, 10.0]
_ROWS = np.split(np.random.RandomState(4).permutation(40), [24, 32])  # train, val, test: shuffled, as a split gives
_PREDICTED_TRUE = [  # (predictions, targets): TP 4, FP 2, FN 1, TN 5; then TP 3, FP 1, FN 2, TN 2
    ([1.0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0], [1.0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0]),
    ([1.0, 0, 1, 1, 0, 0, 1, 0], [1.0, 1, 1, 0, 0, 0, 1, 1])]  # fmt: skip
_NOT_A_COLUMN = ("the model gives one number per row, but not as a column (N, 1) like the targets y: BCEWithLogitsLoss "
                 "and BCELoss refuse an output of shape (N,) against targets (N, 1). Drop the squeeze, flatten or view.")  # fmt: skip
_not_a_column = lambda model, n: (out := probes.eval_output(model, torch.zeros(3, n))) is not None and out.shape != (3, 1)  # fmt: skip  # noqa: E731 a copy in eval mode
_still = lambda m: isinstance(m, (nn.modules.dropout._DropoutNd, nn.AlphaDropout, nn.FeatureAlphaDropout)) and m.eval()  # noqa: E731


def _kind(model: object, n_features: int, train: bool = False) -> str:
    """model_kind in eval mode (as binary_accuracy) or training mode, dropout still (batch norm: affine on a batch), or
    of a random copy where zeros or small weights (Hardsigmoid near 0 looks affine) hide what it computes (softmax)."""
    try:
        kind = model_kind(model := copy.deepcopy(model).train(train).apply(_still), n_features)
        wide = model_kind(randomised(model, seed=5), n_features) if kind in ("constant", "logits") else kind
        return wide if kind == "constant" or wide.startswith("other") else kind
    except Exception:
        return model_kind(model, n_features)


def _scaler(ref=lambda parts, rows: parts[0], ddof=0, axis=0, dtype=torch.float32):
    """A scaling program: each part scaled with the mean and std of the rows ``ref`` picks (the training rows)."""
    return lambda x, *parts: tuple(torch.tensor((x[rows] - x[ref(parts, rows)].mean(axis)) / x[ref(parts, rows)].std(
        axis, ddof=ddof), dtype=dtype) for rows in parts)  # fmt: skip


_SAMPLE = (23 / 24) ** 0.5  # a right answer scaled with the sample std (ddof 1) of the 24 training rows is this smaller
_WRONG_ROWS = [("leakage", lambda parts, rows: slice(None), None), ("own_statistics", lambda parts, rows: rows, None),
               ("leakage", lambda parts, rows: np.concatenate(parts[:2]),
                "the statistics came from the training *and* validation rows: validation leaked into training.")]  # fmt: skip
_SORTED = ("each part holds the right rows, but sorted (a boolean mask, np.sort), not in the order of its indices, so "
           "row i of x[train_idx] no longer goes with label i of y[train_idx]: select with x[train_idx] as it comes.")  # fmt: skip
scale_features = Exercise(  # an x changed in place (x -= mean) is the engine's to find, like any input changed
    "scale_features", _scaler(), inputs=lambda: (_X.copy(), *(r.copy() for r in _ROWS)), alternatives=[_scaler(ddof=1)],
    same=lambda got, exp: close(got, exp) or close(got, tuple(t * _SAMPLE for t in exp)),
    guards=[Guard("not_three_parts", lambda got: not isinstance(got, (tuple, list)) or len(got) != 3, lambda *a: a[0]),
            Guard("not_a_tensor", any_item(lambda t: type(t) is not torch.Tensor), lambda x, *rows: rows),
            Guard("wrong_shape", lambda got: [t.shape for t in got] != [(24, 4), (8, 4), (8, 4)],
                  lambda x, *rows: _scaler()(x, *[rows[0]] * 3), "select each part's rows with x[train_idx], "
                  "x[val_idx], x[test_idx]: here (24, 4), (8, 4) and (8, 4)."),
            Guard("wrong_dtype", any_item(lambda t: t.dtype != torch.float32), _scaler(dtype=torch.float64),
                  "the numbers may be right, but models expect float32: torch.tensor(values, dtype=torch.float32).")],
    mistakes=[*(Mistake(m, _scaler(ref, ddof=d), message) for m, ref, message in _WRONG_ROWS for d in (0, 1)),
              *(Mistake("wrong_axis", _scaler(axis=None, ddof=d)) for d in (0, 1)),
              Mistake("no_std", lambda x, *parts: tuple(torch.tensor(x[r] - x[parts[0]].mean(0)).float() for r in parts)),
              Mistake("shuffled_apart", lambda x, *parts: _scaler()(x, *map(np.sort, parts)), _SORTED)],
    explain=lambda got, exp: "expected every part as (x[rows] - mean) / std, with the mean and std of each column "
                             "over the training rows x[train_idx] only.",
    success="split first, then every part scaled with the training rows' mean and std per column, as float32.",
)  # fmt: skip


def _setup(answer, args) -> tuple:
    """(what the model outputs, what the loss expects), ("matched", "matched") when they agree, or what is amiss."""
    got = answer(*args)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return ("not_a_pair", "")
    if loss_kind(got[0]) != "unknown":
        return ("swapped", "")
    if isinstance(got[1], type):  # nn.BCEWithLogitsLoss, not called
        return ("loss_class", safe_text(got[1].__name__, 40))
    kinds, note = _trained_kind(got[0], args[0]), ""
    if kinds[0] != kinds[1]:  # the loss sees the training mode's output; eval mode's only makes the predictions
        note = f" while training (in eval mode it outputs {KIND_WORDS.get(kinds[1], kinds[1]).split(' (')[0]})"
    kinds = (kinds[0], loss_kind(got[1]))
    out = probes.eval_output(got[0], torch.zeros(3, args[0])) if kinds[0] == "wrong_shape" else None
    if out is not None and out.dim() == 2 and len(out) == 3 and out.shape[1] > 1:  # runs, but not one output per row
        return (f"{out.shape[1]} outputs", kinds[1])
    if kinds[0] in KIND_WORDS and _not_a_column(got[0], args[0]):
        return ("not_a_column", kinds[1])
    return (
        (_stuck(got[0], args[0]) or ("matched", "matched"))
        if kinds[0] == kinds[1]
        else (*kinds, _applies(got[1]), note)
    )


def _trained_kind(model: object, n_features: int) -> tuple[str, str]:
    """(the kind the loss sees: training mode's, dropout still; eval mode's if unclear, as F.dropout makes it; eval's)."""
    seen, trained = _kind(model, n_features), _kind(model, n_features, train=True)
    return (trained if trained in ("logits", "probabilities") else seen, seen)


def _stuck(model: nn.Module, n_features: int) -> tuple | None:
    """("frozen" or "no_gradient", the names of the parameters training could never change), ("no_bias", "") when
    none moves the output at x = 0 (in eval mode), where a linear layer without bias scores 0 whatever it learns."""
    try:
        probe, x = copy.deepcopy(model).train(), torch.randn(8, n_features, generator=torch.Generator().manual_seed(1))
        x = x.to(next((p.dtype for p in probe.parameters()), x.dtype))
        with torch.enable_grad():
            stuck, pinned = _untrainable(probe, probe(x)), _untrainable(probe.eval(), probe(torch.zeros_like(x)))
        frozen = [name for name, p in probe.named_parameters() if not p.requires_grad]
    except Exception:
        return None
    if stuck:
        return ("frozen", ", ".join(frozen)) if frozen else ("no_gradient", ", ".join(stuck))
    return ("no_bias", "") if len(pinned) == len(list(probe.parameters())) else None


def _applies(loss: object) -> str:
    """What applies the second sigmoid, as the message names it: the loss of torch's the answer uses, or its own."""
    if isinstance(loss, nn.BCEWithLogitsLoss):
        return "BCEWithLogitsLoss applies one"
    if loss is nn.functional.binary_cross_entropy_with_logits:
        return "binary_cross_entropy_with_logits applies one"
    return "your loss applies a sigmoid"


_NEVER = ("training could never change {} of the model: {}. Return nn.Linear(n_features, 1) as it comes, every "
          "parameter trainable and used.")  # fmt: skip
_FIXED_FEATURES = ("the model cannot take a batch (N, n_features): build it from the argument, nn.Linear(n_features, "
                   "1), not for a fixed number of features.")  # fmt: skip
fixed_setup = Exercise(
    "fixed_setup", lambda n: (nn.Linear(n, 1), nn.BCEWithLogitsLoss()), inputs=lambda: (7,), observe=_setup,
    same=lambda got, exp: close(got[:2], exp[:2]),  # a mismatch's third item, what the loss applies, is for a message
    alternatives=[lambda n: (nn.Sequential(nn.Linear(n, 1), nn.Sigmoid()), nn.BCELoss()),
                  lambda n: (nn.Linear(n, 1).double(), nn.BCEWithLogitsLoss()),
                  lambda n: (randomised(nn.Linear(n, 1), 0, scale=0.0), nn.BCEWithLogitsLoss()),  # zeros: it trains
                  lambda n: (nn.Sequential(nn.Linear(n, 1)), nn.functional.binary_cross_entropy_with_logits)],
    guards=[Guard("not_a_pair", tag_is("not_a_pair"), lambda n: nn.Linear(n, 1), "return (model, loss_fn)."),
            Guard("not_a_model", tag_is("not_a_model"), lambda n: ("model", nn.BCELoss()),
                  "the first thing returned should be the model, an nn.Module such as nn.Linear(n_features, 1)."),
            Guard("swapped_pair", tag_is("swapped"), lambda n: (nn.BCEWithLogitsLoss(), nn.Linear(n, 1)),
                  "the pair is the wrong way round: return (model, loss_fn) in that order."),
            Guard("wrong_shape", tag_is("wrong_shape"), lambda n: (nn.Linear(30, 1), nn.BCEWithLogitsLoss()),
                  _FIXED_FEATURES),
            Guard("wrong_shape", lambda got: got[0].endswith(" outputs"),
                  lambda n: (nn.Linear(n, 2), nn.CrossEntropyLoss()),
                  lambda got, exp: f"the model gives {got[0]} per row: give one output, not {got[0].split()[0]}, "
                  "nn.Linear(n_features, 1) (two outputs with CrossEntropyLoss are lesson 13's multi-class setup)."),
            Guard("wrong_shape", tag_is("not_a_column"), lambda n: (nn.Sequential(nn.Linear(n, 1), nn.Flatten(0)),
                  nn.BCEWithLogitsLoss()), _NOT_A_COLUMN),
            Guard("not_a_loss", tag_is("loss_class"), lambda n: (nn.Linear(n, 1), nn.BCEWithLogitsLoss), lambda got, _:
                  f"you passed the class, not an instance: nn.{got[1]}() with brackets makes the loss function."),
            Guard("not_a_loss", tag_is("unknown", 1), lambda n: (nn.Linear(n, 1), nn.MSELoss())),
            Guard("no_bias", tag_is("no_bias"), lambda n: (nn.Linear(n, 1, bias=False), nn.BCEWithLogitsLoss())),
            Guard("froze_parameters", tag_is("frozen"), lambda n: (nn.Linear(n, 1).requires_grad_(False),
                  nn.BCEWithLogitsLoss()), lambda got, _: _NEVER.format(got[1], "requires_grad is switched off")),
            Guard("not_backpropagatable", tag_is("no_gradient"), lambda n: ((m := nn.Linear(n, 1)),  # output detached
                  m.register_forward_hook(lambda module, x, out: out.detach()), nn.BCEWithLogitsLoss())[::2],
                  lambda got, _: _NEVER.format(got[1], "no gradient reaches it (a .detach(), torch.no_grad(), or "
                                                       "forward never uses it)"))],
    mistakes=[Mistake("sigmoid_before_logits_loss",
                      lambda n: (nn.Sequential(nn.Linear(n, 1), nn.Sigmoid()), nn.BCEWithLogitsLoss()),
                      lambda got, _: MISTAKES["sigmoid_before_logits_loss"].replace("BCEWithLogitsLoss applies one",
                                                                                    got[2])
                      .replace("ends with a sigmoid", "ends with a sigmoid" + got[3])),
              Mistake("bce_on_logits", lambda n: (nn.Linear(n, 1), nn.BCELoss()),
                      lambda got, _: MISTAKES["bce_on_logits"].replace("raw scores:", f"raw scores{got[3]}:")),
              Mistake("softmax_one_output",
                      lambda n: (nn.Sequential(nn.Linear(n, 1), nn.Softmax(dim=1)), nn.BCELoss()))],
    explain=lambda got, exp: f"the model outputs {KIND_WORDS.get(got[0], got[0])}{''.join(got[3:])}; the loss expects "
                             f"{KIND_WORDS.get(got[1], got[1])}: logistic regression is nn.Linear(n_features, 1) with "
                             "BCEWithLogitsLoss, or followed by a sigmoid with BCELoss.",
    success="the model's output and the loss agree: raw scores with BCEWithLogitsLoss (or a sigmoid with BCELoss).",
)  # fmt: skip

# (precision, recall): the true positives over the predicted positives, then over the truly positive
_pr = lambda p, y, c=1.0: tuple(((p == c) & (y == c)).sum().item() / (t == c).sum().item() for t in (p, y))  # noqa: E731
_SKLEARN = {  # scikit-learn's entry points (scores, counts, curves), each with an answer that calls it; a verdict names
    name: lambda p, y, name=name: (getattr(metrics, name)(y.view(-1), p.view(-1)), _pr(p, y))[1]  # the learner's first
    for name in ("precision_score", "recall_score", "precision_recall_fscore_support", "multilabel_confusion_matrix",
                 "confusion_matrix", "precision_recall_curve", "roc_curve", "det_curve", "confusion_matrix_at_thresholds")}  # fmt: skip


def _pr_explained(got: tuple, expected: tuple) -> str:
    """The first wrong probe's pair and the right one, each number shown alike (more digits where 4 read the same)."""
    pair, right = next(case for case in zip(got, expected, strict=True) if not close(*case))
    (p, right_p), (r, right_r) = (_shown(mine, theirs) for mine, theirs in zip(pair, right, strict=True))
    return f"expected precision {right_p} and recall {right_r}, got {p} and {r}."


precision_recall = Exercise(
    "precision_recall", _pr, inputs=lambda: columns(_PREDICTED_TRUE),
    observe=lambda answer, args: PerProbe(_pair(answer(*args[start : start + 2])) for start in (0, 2)),  # a 1-d pair too
    guards=[Guard("not_a_pair", any_item(lambda got: not isinstance(got, (tuple, list)) or len(got) != 2), lambda p, y: 0.5),
            Guard("not_a_number", any_item(any_item(lambda v: as_number(v) is None)), lambda p, y: (p, y),
                  "precision and recall should each be one number (use .item() on a one-element tensor).")],
    mistakes=[Mistake("swapped_precision_recall", lambda p, y: _pr(p, y)[::-1]),
              Mistake("wrong_class", lambda p, y: _pr(p, y, c=0.0)),
              Mistake("accuracy_not_precision", lambda p, y: ((p == y).float().mean().item(),) * 2),
              Mistake("percent_not_share", lambda p, y: tuple(100 * v for v in _pr(p, y)))],
    library=[Library(getattr(metrics, name), example) for name, example in _SKLEARN.items()],
    explain=_pr_explained,
    success=lambda exp: f"precision {exp[0][0]:.4f} (TP / predicted 1), recall {exp[0][1]:.4f} (TP / truly 1).",
)  # fmt: skip


pick_threshold = Exercise(
    "pick_threshold", pick(), observe=decisions, inputs=lambda: columns(PROBS_BENIGN),
    alternatives=[lambda p, y, k: p[p > (sorted(p[y == 0].tolist())[::-1] + [-1.0] * 9)[k]].min().item(),  # k+1 cancers
                  lambda p, y, k: next(t for t in torch.linspace(0, 1, 1001) if ((p >= t) & (y == 0)).sum() <= k)],
    guards=[Guard("returned_none", lambda got: all(v is None for v in got[:CALLS]), lambda p, y, k: None,
                  lambda got, _: MISTAKES["returned_none"] if all(v is None for v in got[-2:])
                  else no_threshold(got[-1] is not None)),
            Guard("threshold_above_all", any_item(is_above), lambda p, y, k: 100 * pick()(p, y, k), above_all),
            Guard("not_a_number", any_item(lambda v: v is not None and as_number(v) is None), lambda p, y, k: p)],
    mistakes=PICK_MISTAKES, explain=explain_pick,
    success="the smallest threshold that keeps the missed cancers within the limit: as many benign found as allowed.",
)  # fmt: skip


@functools.cache
def _fitted() -> tuple:
    """scikit-learn's logistic regression on the lesson's training part (a right answer, quick), and validation."""
    parts = load_breast_cancer_split()
    fitted = LogisticRegression(max_iter=1000).fit(parts.x_train.numpy(), parts.y_train.numpy().ravel())
    return {"weight": torch.tensor(fitted.coef_), "bias": torch.tensor(fitted.intercept_)}, parts.x_val, parts.y_val


def _linear(weight=None, dtype=torch.float32) -> nn.Linear:
    """nn.Linear(30, 1) with these weights and no bias; by default scikit-learn's fitted weights and bias."""
    linear = nn.Linear(30, 1, dtype=dtype)
    linear.load_state_dict(_fitted()[0] if weight is None else {"weight": torch.as_tensor(weight), "bias": torch.zeros(1)})  # fmt: skip
    return linear


def _validation(model, args) -> tuple:
    """(category, validation accuracy): "reached", "below_target", "chance" (zero weights too), "opposite" (flipped),
    "not_scores" (at chance, yet a threshold on its outputs reaches the target: LogSigmoid), or why not measured."""
    x, y = _fitted()[1:]
    kind, acc = binary_accuracy(model, x, y)
    out, benign = probes.eval_output(model, x), y.reshape(-1) == 1
    share = lambda t: ((out.reshape(-1) >= t) == benign).double().mean().item()  # noqa: E731
    if kind == "constant" and _kind(model, 30) != "constant" and out is not None:
        acc = share(0.5 if 0 <= out.min() <= out.max() <= 1 else 0.0)  # binary_accuracy's rule
    if acc is None or _not_a_column(model, 30):  # not measured, and why; or measured, but not as a column
        return (kind if acc is None else "not_a_column", acc)
    learned = out is not None and max(map(share, out.reshape(-1))) >= TARGET_ACCURACY
    return ("reached" if acc >= TARGET_ACCURACY else "opposite" if acc < 0.3 else "not_scores" if acc <= 0.7 and
            learned else "chance" if acc <= 0.7 else "below_target", acc)  # fmt: skip


def _with_accuracy(mistake: str) -> object:  # the vocabulary's message, with the validation accuracy the model has
    return lambda got, exp: MISTAKES[mistake].replace("the accuracy", f"the validation accuracy, {got[1]:.4f},")


validation_accuracy = Exercise(
    "validation_accuracy", _linear, kind="value", observe=_validation, same=lambda got, exp: got[0] == exp[0],
    alternatives=[lambda: nn.Sequential(_linear(), nn.Sigmoid()), lambda: _linear(dtype=torch.float64),
                  lambda: nn.Sequential(_linear(), nn.Tanh())],
    guards=[Guard("not_a_model", tag_is("not_a_model"), lambda: "model", "my_model should be the trained model "
                  "itself, an nn.Module such as nn.Linear(30, 1): not a function, its predictions or its weights."),
            Guard("wrong_shape", tag_is("wrong_shape"), lambda: nn.Linear(30, 2),
                  "the model should give one output per example: shape (N, 1) for N rows of 30 features."),
            Guard("wrong_shape", tag_is("not_a_column"), lambda: nn.Sequential(_linear(), nn.Flatten(0)), _NOT_A_COLUMN),
            Guard("not_finite", tag_is("not_finite"), lambda: _linear([[torch.nan] * 30]))],
    mistakes=[Mistake("softmax_one_output", lambda: nn.Sequential(_linear(), nn.Softmax(dim=1))),
              Mistake("untrained", lambda: randomised(nn.Linear(30, 1), seed=3, scale=0.2), _with_accuracy("untrained")),
              # mean concavity (feature 6) alone: validation accuracy 0.88; the random weights (seed 3): 0.46
              Mistake("below_target", lambda: _linear(-torch.eye(30)[6:7]), _with_accuracy("below_target")),
              Mistake("opposite_classes", lambda: _linear(-_fitted()[0]["weight"]), _with_accuracy("opposite_classes")),
              Mistake("untrained", lambda: _linear(torch.zeros(1, 30)), _with_accuracy("untrained")),  # all zeros
              Mistake("outputs_not_scores", lambda: nn.Sequential(_linear(), nn.LogSigmoid()),
                      _with_accuracy("outputs_not_scores"))],
    success=f"validation accuracy at or above the target {TARGET_ACCURACY:.2f}; the test part stays untouched.",
)  # fmt: skip
