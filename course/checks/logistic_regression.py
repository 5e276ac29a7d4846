"""Checks for lesson 12 (logistic regression): scaling three parts, fixing a setup, precision and recall,
picking a threshold on validation, and a model that reaches the target on validation.

Models are judged by what they compute on fresh inputs (in the model's own dtype), never by their class.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.values import as_number, close
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
    "two_numbers": "precision and recall should each be one number (use .item() on a one-element tensor).",
    "threshold": "return the threshold as one number (a float, e.g. with .item()).",
    "one_output": "the model should give one output per example: shape (N, 1) for N rows of 30 features.",
}


def _is(category: str, position: int = 0):
    """A guard's test: the observation's first (or ``position``-th) item is ``category``."""
    return lambda got: got[position] == category


# --- exercise 1: split, then scale ----------------------------------------------------------------


def _scaling_inputs() -> tuple:
    rng = np.random.RandomState(3)
    x = rng.randn(40, 4) * [1.0, 100.0, 0.01, 5.0] + [2.0, 500.0, 0.0, -1.0]
    x[-10:] += [3.0, 200.0, 0.05, 10.0]  # the last rows differ: statistics that include them are visibly off
    idx = rng.permutation(40)
    return x, np.sort(idx[:24]), np.sort(idx[24:32]), np.sort(idx[32:])


def _scale(x, parts, stats_of=lambda part, first: first, ddof=0, axis=0, dtype=torch.float32) -> tuple:
    """Each part of ``x`` scaled with the mean and std of the rows ``stats_of(part, first part)``.

    ``stats_of`` may also say "all" (every row) or "train and val" (the first two parts).
    """

    def rows(part):
        chosen = stats_of(part, parts[0])
        named = {"all": lambda: slice(None), "train and val": lambda: np.concatenate(parts[:2])}
        return x[named[chosen]() if isinstance(chosen, str) else chosen]

    return tuple(torch.tensor((x[p] - rows(p).mean(axis)) / rows(p).std(axis, ddof=ddof), dtype=dtype) for p in parts)


def _scaled_parts(answer, args) -> object:
    """The three parts divided by the training part's spread, so a std with ddof 0 or 1 gives the same answer."""
    got = answer(*args)
    if not isinstance(got, (tuple, list)) or len(got) != 3 or any(type(t) is not torch.Tensor for t in got):
        return got
    if [tuple(t.shape) for t in got] != _SHAPES or not all(t.is_floating_point() for t in got):
        return got
    spread = got[0].detach().double().std(0, unbiased=False)
    return tuple((t.detach().double() / spread).to(t.dtype) for t in got) if bool((spread > 0).all()) else got


def _scaler(rows=False, **how):
    """A scaling program; ``rows=True`` forgets to select the rows of each part."""
    return lambda x, tr, va, te: _scale(x, (slice(None),) * 3 if rows else (tr, va, te), **how)


scale_features = Exercise(
    name="scale_features",
    inputs=_scaling_inputs,
    reference=_scaler(),
    observe=_scaled_parts,
    alternatives=[_scaler(ddof=1)],
    guards=[
        Guard("not_three_parts", lambda got: not isinstance(got, (tuple, list)) or len(got) != 3, lambda *a: a[0]),
        Guard(
            "not_a_tensor", lambda got: any(type(t) is not torch.Tensor for t in got), lambda x, *i: i, _SAY["tensors"]
        ),
        Guard("wrong_shape", lambda got: [tuple(t.shape) for t in got] != _SHAPES, _scaler(rows=True), _SAY["rows"]),
        Guard(
            "wrong_dtype",
            lambda got: any(t.dtype != torch.float32 for t in got),
            _scaler(dtype=torch.float64),
            _SAY["float32"],
        ),
    ],
    mistakes=[
        Mistake("leakage", _scaler(stats_of=lambda part, first: "all")),
        Mistake("leakage", _scaler(stats_of=lambda part, first: "train and val"), _SAY["val_leak"]),
        Mistake("own_statistics", _scaler(stats_of=lambda part, first: part)),
        Mistake("own_statistics", _scaler(stats_of=lambda part, first: part, ddof=1)),
        Mistake("wrong_axis", _scaler(axis=None)),
    ],
    success="split first, then every part scaled with the training rows' mean and std per column, as float32.",
)

# --- exercise 2: find the bug in a setup ----------------------------------------------------------


def _outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor | str:
    """The model's outputs for ``x`` (cast to its parameters' dtype and device) as float64, or what went wrong."""
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    try:
        with torch.no_grad():
            out = model(x.float() if param is None else x.to(device=param.device, dtype=param.dtype))
    except Exception:
        return "wrong_shape"
    if type(out) is not torch.Tensor or out.numel() != len(x) or out.device.type == "meta":
        return "wrong_shape"
    return out.detach().cpu().double().reshape(-1)


def _affine(values: torch.Tensor, x: torch.Tensor) -> bool:
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    fitted = design @ torch.linalg.lstsq(design, values.unsqueeze(1)).solution
    return bool((fitted.squeeze(1) - values).abs().max() <= 1e-4 * (1 + values.abs().max()))


def _model_kind(model: object, n_features: int) -> str:
    """'probabilities' (a sigmoid of an affine score), 'logits' (an affine score), or what else it computes."""
    if not isinstance(model, nn.Module):
        return "not_a_model"
    x = 2 * torch.randn(64, n_features, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    out = _outputs(model, x)
    if isinstance(out, str) or not bool(torch.isfinite(out).all()):
        return out if isinstance(out, str) else "not_finite"
    squashed = bool(out.min() >= 0 and out.max() <= 1)
    if out.max() - out.min() < 1e-9:
        return "constant"
    if squashed and out.min() > 0 and out.max() < 1 and _affine(torch.logit(out), x):
        return "probabilities"
    return "logits" if _affine(out, x) else "other, squashed" if squashed else "other"


def _loss_kind(loss_fn: object) -> str:
    """'logits' or 'probabilities': which binary cross-entropy ``loss_fn`` computes, judged by its numbers."""
    target = torch.tensor([[1.0], [0.0], [1.0]])
    for kind, inputs, right in [
        ("logits", torch.tensor([[2.0], [-1.0], [-0.5]]), nn.functional.binary_cross_entropy_with_logits),
        ("probabilities", torch.tensor([[0.8], [0.3], [0.4]]), nn.functional.binary_cross_entropy),
    ]:
        try:
            if close(as_number(loss_fn(inputs, target)), right(inputs, target).item()):
                return kind
        except Exception:
            continue
    return "unknown"


def _setup(answer, args) -> tuple:
    got = answer(*args)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return ("not_a_pair", "")
    model, loss = _model_kind(got[0], args[0]), _loss_kind(got[1])
    return ("matched", "matched") if model == loss else (model, loss)


class _SigmoidOfLinear(nn.Module):
    def __init__(self, n_features: int, linear: nn.Module | None = None) -> None:
        super().__init__()
        self.linear = linear or nn.Linear(n_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x))


def _seq(n: int, *tail: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Linear(n, 1), *tail)


fixed_setup = Exercise(
    name="fixed_setup",
    inputs=lambda: (7,),
    reference=lambda n: (nn.Linear(n, 1), nn.BCEWithLogitsLoss()),
    observe=_setup,
    alternatives=[
        lambda n: (_seq(n, nn.Sigmoid()), nn.BCELoss()),
        lambda n: (_SigmoidOfLinear(n), nn.BCELoss()),
        lambda n: (nn.Linear(n, 1).double(), nn.BCEWithLogitsLoss()),
        lambda n: (_seq(n), nn.functional.binary_cross_entropy_with_logits),
    ],
    guards=[
        Guard("not_a_pair", _is("not_a_pair"), lambda n: nn.Linear(n, 1), "return (model, loss_fn)."),
        Guard("not_a_model", _is("not_a_model"), lambda n: ("model", nn.BCELoss()), _SAY["model_first"]),
        Guard(
            "wrong_shape", _is("wrong_shape"), lambda n: (nn.Linear(30, 1), nn.BCEWithLogitsLoss()), _SAY["features"]
        ),
        Guard("not_a_loss", _is("unknown", 1), lambda n: (nn.Linear(n, 1), nn.MSELoss())),
    ],
    mistakes=[
        Mistake("sigmoid_before_logits_loss", lambda n: (_seq(n, nn.Sigmoid()), nn.BCEWithLogitsLoss())),
        Mistake("bce_on_logits", lambda n: (nn.Linear(n, 1), nn.BCELoss())),
        Mistake("softmax_one_output", lambda n: (_seq(n, nn.Softmax(dim=1)), nn.BCELoss())),
    ],
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
        Guard(
            "not_a_number", lambda got: any(as_number(v) is None for v in got), lambda p, y: (p, y), _SAY["two_numbers"]
        ),
    ],
    mistakes=[
        Mistake("swapped_precision_recall", lambda p, y: _pr(p, y)[::-1]),
        Mistake("wrong_class", lambda p, y: _pr(p, y, positive=0.0)),
        Mistake("accuracy_not_precision", lambda p, y: ((p == y).float().mean().item(),) * 2),
    ],
    success=lambda exp: f"precision {exp[0]:.4f} (TP / predicted 1), recall {exp[1]:.4f} (TP / truly 1).",
)

# --- exercise 4: pick the threshold on validation --------------------------------------------------

_PROBS = [0.55, 0.1, 0.85, 0.9, 0.6, 0.95, 0.2, 0.4, 0.05, 0.3, 0.7, 0.8]  # shuffled: nothing relies on order
_BENIGN = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]  # 1 = benign, 0 = malignant


def _decisions(answer, args) -> tuple:
    """For max_missed 0 and 1: the smallest probability at or above the returned threshold (the same decisions)."""
    probs, got = args[0].double().reshape(-1), []
    for max_missed in (0, 1):
        value = answer(*(a.clone() for a in args), max_missed)
        number = as_number(value)
        above = probs[probs >= number] if number is not None else None
        got.append(value if number is None else above.min().item() if len(above) else float("inf"))
    return tuple(got)


def _pick(missed_of=lambda p, y, t: ((p >= t) & (y == 0)).sum(), smallest=True, within=lambda m, k: m <= k):
    def pick(p, y, max_missed):
        for t in sorted(p.reshape(-1).tolist(), reverse=not smallest):
            if within(missed_of(p, y, t), max_missed):
                return t
        return None

    return pick


def _pick_sorted(p, y, max_missed):
    kept_out = torch.sort(p[y == 0], descending=True).values[max_missed]  # the (max_missed + 1)-th malignant score
    return p[p > kept_out].min().item()


pick_threshold = Exercise(
    name="pick_threshold",
    inputs=lambda: (torch.tensor(_PROBS).reshape(-1, 1), torch.tensor(_BENIGN).reshape(-1, 1)),
    reference=_pick(),
    observe=_decisions,
    alternatives=[
        _pick_sorted,
        lambda p, y, k: next(t for t in torch.linspace(0, 1, 1001) if ((p >= t) & (y == 0)).sum() <= k),
    ],
    guards=[
        Guard("returned_none", lambda got: all(v is None for v in got), lambda p, y, k: None),
        Guard(
            "not_a_number",
            lambda got: any(v is not None and as_number(v) is None for v in got),
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
    """(category, validation accuracy), in eval mode; outputs in [0, 1] are thresholded at 0.5, scores at 0."""
    modes = [(module, module.training) for module in model.modules()] if isinstance(model, nn.Module) else []
    try:
        for module, _ in modes:
            module.training = False
        kind, (x_val, y_val) = _model_kind(model, 30), _fitted()[2:]
        out = _outputs(model, x_val.clone()) if kind not in ("not_a_model", "wrong_shape", "not_finite") else kind
    finally:
        for module, mode in modes:
            module.training = mode
    if isinstance(out, str) or kind == "constant":
        return (kind, None)
    threshold = 0.5 if kind in ("probabilities", "other, squashed") else 0.0
    acc = ((out >= threshold).double() == y_val.reshape(-1)).double().mean().item()
    return ("reached" if acc >= TARGET_ACCURACY else "chance" if acc <= 0.7 else "below_target", acc)


def _naming_accuracy(mistake: str):
    """The vocabulary's message with the learner's validation accuracy in it."""
    return lambda got, exp: MISTAKES[mistake].replace("the accuracy", f"the validation accuracy, {got[1]:.4f},")


def _random_linear() -> nn.Module:  # an untrained model: validation accuracy 0.52
    return _linear(0.2 * torch.randn(1, 30, generator=torch.Generator().manual_seed(3)), [0.0])


def _one_feature() -> nn.Module:  # mean concavity alone: validation accuracy 0.88
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
        lambda: _SigmoidOfLinear(30, _linear()),
        lambda: _linear(None, None, nn.Tanh()),
    ],
    guards=[
        Guard("not_a_model", _is("not_a_model"), lambda: "model", "pass your trained nn.Module."),
        Guard("wrong_shape", _is("wrong_shape"), lambda: nn.Linear(30, 2), _SAY["one_output"]),
        Guard("not_finite", _is("not_finite"), lambda: _linear([[float("nan")] * 30], [0.0])),
    ],
    mistakes=[
        Mistake("softmax_one_output", lambda: _linear(None, None, nn.Softmax(dim=1))),
        Mistake("untrained", _random_linear, _naming_accuracy("untrained")),
        Mistake("below_target", _one_feature, _naming_accuracy("below_target")),
    ],
    success=f"validation accuracy at or above the target {TARGET_ACCURACY:.2f}; the test part stays untouched.",
)
