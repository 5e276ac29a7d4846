"""Checks for lesson 02 (gradient descent from scratch, in NumPy): gradients, learning rates, mini-batches.

Every check runs on the lesson's 80 training points from its seeded start (``np.random.seed(42)``, then
``np.random.randn(1)`` for a, then for b), and judges a learning rate by what it does there. Mini-batches of 32
leave a short last batch of 16, so an epoch that skips it shows. The functions also run on other probes (other
points, start, batch size and learning rate), so an answer that hard-codes the lesson's numbers shows; the epoch's
third leaves a last batch of one point, which a loop stopping at len(x) - 1 skips.
"""

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import partial

import numpy as np
import torch

from course.checks.computation_graphs import rounded_decimals, rounded_message
from course.checks.engine import Exercise, Guard, Mistake, Verdict
from course.checks.probes import any_item
from course.checks.values import as_number, close, describe
from course.data import make_linear_data

START = tuple(float(v) for v in np.random.RandomState(42).randn(2))  # a = 0.49671415, b = -0.1382643
START_TEXT = f"({START[0]:.4f}, {START[1]:.4f})"
X, Y = make_linear_data()[:2]  # the training points, columns (80, 1); each probe gets copies
N = len(X)  # the lesson's count, which a sum divided by a number may hard-code
OTHER_START = (1.5, 0.5)  # the second probe's start, on other points than the first 80
LEAST_SQUARES = np.linalg.lstsq(np.hstack([np.ones_like(X), X]), Y.ravel(), rcond=None)[0]
STABLE_EPOCHS, BUDGET_EPOCHS, BUDGET_TOLERANCE = 1000, 100, 1e-3
MEAN_X2 = tuple(float(np.mean(x**2)) for x in (X, X[50:]))  # for each probe of gradients: what a step h adds to b's
_SAY = {  # more than the vocabulary says
    "both bugs": "both bugs remain: the error is prediction minus target, a + b * x - y, and grad_b a mean, not a sum.",
    "still a sum": "the signs are right now; grad_b is still a sum: the loss is a mean, so are its gradients.",
    "still flipped": "np.mean is right now; the sign is still flipped: error = prediction - target = a + b * x - y.",
    "train_not_shuffled": "the points kept their stored order: shuffle each epoch, order = rng.permutation(len(x)).",
    "wrong_total": "each batch's gradient was divided by batch_size, but the last batch holds only 16 points: take "
    "np.mean over the batch (or divide by len(batch)).",
    "skipped_last_batch": "the short last batch was skipped: range(0, len(x), batch_size) reaches it, and "
    "order[start:start + batch_size] simply holds fewer points.",
    "empty_last_batch": "when batch_size divides the number of points your loop makes one more, empty batch, and "
    "np.mean of nothing is nan: loop over range(0, len(x), batch_size), which stops after the last real batch.",
    "divided_by_n": "each batch's gradient was divided by len(x), the count of all the points; it is a mean over the "
    "batch: np.mean over x[idx] and y[idx] (or divide by len(idx)).",
    "averaged": "you averaged the batches' gradients into one update per epoch: update a and b once per batch, right "
    "after computing its gradients, so that the next batch starts from the new a, b.",
    "no_update": "a and b came back as they went in: update them once per batch, a = a - lr * grad_a and "
    "b = b - lr * grad_b, and return the new a, b.",
    "stopped_one_short": "range(0, len(x) - 1, batch_size) stops one short: when the last batch holds a single point (49 "
    "points in batches of 16) its start, len(x) - 1, is never reached and that point is dropped. Loop over range(0, "
    "len(x), batch_size).",
    "shuffled_in_place": "you shuffled {what} in place{how}, so each x lost its y, and the caller's {what} changed "
    "too: draw one order = rng.permutation(len(x)) and index both with it, x[order] and y[order].",
    "finite_difference": "close, but not within the check's tolerance (1e-4 relative): these are a finite difference, "
    "(L(a + h) - L(a)) / h with h = {h:g}, which is off by h (for b, h * mean(x²)): it is not exact. Compute the "
    "gradients from their formula.",
    "inexact": "close, but not within the check's tolerance (1e-4 relative). Compute the gradients exactly, from their "
    "formula, in float64: an approximation or a lower precision (float16) is not close enough.",
    "typed_start": "those are the gradients at the lesson's start, whatever a and b you are given: compute the error "
    "from the arguments, error = a + b * x - y.",
}


def _gradients(a, b, x, y, factors=(1, 1), divisors=(None, None)) -> tuple[float, float]:
    """The gradients of the mean squared error; a known mistake's ``factors`` multiply them, and a gradient with a
    divisor ``d`` is ``np.sum(...) / d`` instead of a mean (1: a sum; N: the lesson's count hard-coded)."""
    error = a + b * x - y
    means = [np.mean(v) if d is None else np.sum(v) / d for v, d in zip((error, error * x), divisors, strict=True)]
    return 2 * factors[0] * means[0], 2 * factors[1] * means[1]


def descend(lr: float, epochs: int) -> tuple[float, float, list[float]]:
    """Batch gradient descent on the lesson's data from its start: final ``(a, b)`` and the loss per epoch.

    >>> a, b, losses = descend(0.1, 1000)
    >>> f"{a:.8f} {b:.8f}", losses[-1] < losses[0]
    ('1.02354094 1.96896411', True)
    """
    (a, b), losses = START, []
    with np.errstate(all="ignore"):
        for _ in range(epochs):
            losses.append(float(np.mean((a + b * X - Y) ** 2)))
            grad_a, grad_b = _gradients(a, b, X, Y)
            a, b = a - lr * grad_a, b - lr * grad_b
    return a, b, losses


def _rate_outcome(answer: object, epochs: int) -> str:
    """What the learning rate ``answer`` does in ``epochs`` epochs, in the words of the guards and mistakes."""
    lr = as_number(answer)
    if lr is None or not math.isfinite(lr):
        return "not a number"
    if lr <= 0:
        return "not positive"
    a, b, losses = descend(lr, epochs)
    if not losses[-1] <= losses[0]:  # NaN and inf are not
        return "diverges"
    if epochs == STABLE_EPOCHS:  # the largest to two decimals: 0.01 more diverges
        larger = descend(lr + 0.01, epochs)[2]
        return "too small" if larger[-1] <= larger[0] else "largest"
    if max(abs(a - LEAST_SQUARES[0]), abs(b - LEAST_SQUARES[1])) < BUDGET_TOLERANCE:
        return "within budget"
    return "zigzags" if lr > 0.76 else "too slow"  # above 2 / (sum of the curvatures) the steep direction dominates


def _epoch(a, b, x, y, lr, batch_size, rng, variant: str = "") -> tuple[float, float]:
    """One epoch of mini-batch descent, or a ``variant``: a known mistake's id, or the right "reordered" one."""
    n = len(x)
    order = np.arange(n) if variant in ("train_not_shuffled", "shuffled_apart") else rng.permutation(n)
    if variant == "shuffled_apart":  # x and y shuffled each on its own: the pairs are lost
        x, y = x[rng.permutation(n)], y[rng.permutation(n)]
    if variant == "reordered":  # the points put in the shuffled order first, then walked through in order
        x, y, order = x[order], y[order], np.arange(n)
    end = n - n % batch_size if variant == "skipped_last_batch" else n + (variant == "empty_last_batch")
    end -= variant == "stopped_one_short"  # range(0, len(x) - 1, batch_size)
    starts = list(range(0, end, batch_size))  # "empty_last_batch": one more, empty, when batch_size divides n
    start_ab, grads = (a, b), []
    for start in starts[:1] if variant == "one_update_per_epoch" else starts:
        idx = order[start : start + batch_size]
        if not len(idx):  # "empty_last_batch": np.mean of nothing is nan (and warns)
            return math.nan, math.nan
        factor = {"sum_not_mean": len(idx), "wrong_total": len(idx) / batch_size, "divided_by_n": len(idx) / n}
        factor = factor.get(variant, 1) * {"wrong_sign": -1, "missing_factor_2": 0.5}.get(variant, 1)
        batch = (x, y) if variant == "whole_data_gradient" else (x[idx], y[idx])
        grads.append(_gradients(a, b, *batch, (factor, factor)))
        if variant != "averaged":  # one update per batch, b's gradient from the moved a if "sequential_update"
            a = a - lr * grads[-1][0]
            b = b - lr * (_gradients(a, b, *batch)[1] if variant == "sequential_update" else grads[-1][1])
    if variant == "averaged":  # the batches' gradients averaged into one update
        a, b = a - lr * np.mean([g[0] for g in grads]), b - lr * np.mean([g[1] for g in grads])
    return start_ab if variant == "no_update" else (a, b)


def _forward_step(got: list, expected: list) -> float | None:
    """The step h when the pairs ``got`` are a forward difference (L(a + h) - L(a)) / h of the loss (a backward one
    when h < 0) with 0 < |h| <= 1e-2: on every probe, the gradient plus h for a, plus h * mean(x²) for b (either one
    may be exact); None when they are not."""
    steps = []
    for column in range(2):  # a's step on each probe, then b's
        mine = [(as_number(g[column]) - as_number(e[column])) / (m if column else 1)
                for g, e, m in zip(got, expected, MEAN_X2, strict=True)]  # fmt: skip
        if not all(math.isclose(mine[0], h, rel_tol=1e-3, abs_tol=1e-12) for h in mine):
            return None
        steps += [mine[0]] if abs(mine[0]) > 1e-12 else []
    same = steps and all(math.isclose(steps[0], h, rel_tol=1e-3) for h in steps)
    return float(f"{steps[0]:.3g}") if same and abs(steps[0]) <= 1.001e-2 else None


def _versus(*probes: tuple[str, str], advice: str, what: str, inexact: bool = False) -> object:
    """An ``explain``: the first probe (its claim, its place) whose pair is wrong, both pairs to 6 decimals (4 would
    hide a near miss). The claim (right on the probes before) is made only when those match to the last digits.
    Pairs that are the right ones rounded are told so (``what``: the values' name); with ``inexact``, a finite
    difference is named, and other pairs all within 1% are told they are close but not exact."""

    def explain(got: list, expected: list) -> str:
        i = next(i for i, case in enumerate(zip(got, expected, strict=True)) if not close(*case))
        numbers = "expected ({:.6f}, {:.6f}), got ({:.6f}, {:.6f})".format(*map(as_number, (*expected[i], *got[i])))
        if decimals := rounded_decimals([v for pair in got for v in pair], [v for pair in expected for v in pair]):
            return f"{probes[i][1]} {numbers}: {rounded_message(what, decimals, 'each one unrounded,')}"
        if inexact and (step := _forward_step(got, expected)) is not None:
            return f"{probes[i][1]} {numbers}: {_SAY['finite_difference'].format(h=step)}"
        if inexact and all(close(g, e, rtol=1e-2) for g, e in zip(got, expected, strict=True)):
            return f"{probes[i][1]} {numbers}: {_SAY['inexact']}"
        exact = all(close(g, e, rtol=1e-12, atol=1e-12) for g, e in zip(got[:i], expected[:i], strict=True))
        return f"{probes[i][0] * exact}{probes[i][1]} {numbers}. {advice}"

    return explain


RATE_GUARDS = [
    Guard("not_a_number", lambda got: got == "not a number", "0.5", "a learning rate is one number, e.g. 0.1."),
    Guard("not_positive", lambda got: got == "not positive", -0.5),
]


def _pairs(answer: object, args: tuple, size: int = 4, run: object = None) -> list:
    """The answer's result on each probe (``size`` arguments each, given to ``run`` if any); an array or a tensor of
    two elements, whatever its shape ((2,), (2, 1) or (1, 2)), is the pair of them in that order."""
    results = [run(answer, p) if run else answer(*p) for p in (args[s : s + size] for s in range(0, len(args), size))]
    return [tuple(got.reshape(-1)) if isinstance(got, np.ndarray | torch.Tensor) and math.prod(got.shape) == 2 else got
            for got in results]  # fmt: skip


@dataclass(frozen=True)
class Apart:
    """What a run that shuffled x and y apart in place gave, whatever it returned: the ``changed`` arrays' names."""

    changed: tuple[str, ...]


def _apart_message(got: list, expected: list) -> str:
    """Which array the answer shuffled in place, alone or each with its own order: the ones the caller sees changed."""
    changed = next(item.changed for item in got if isinstance(item, Apart))
    alone = f" (rng.shuffle({changed[0]})) without {dict(x='y', y='x')[changed[0]]}"
    how = ", each in its own order (two shuffles, two orders)" if len(changed) == 2 else alone
    return _SAY["shuffled_in_place"].format(what=" and ".join(changed), how=how)


def _run_apart(answer: object, probe: tuple) -> object:
    """``answer(*probe)``; an :class:`Apart` when it shuffled the probe's x and y in place each its own way (both put
    back: the message names that change, which the engine's "changed its input" alone would not explain)."""
    xy, before = probe[2:4], (probe[2].copy(), probe[3].copy())
    got = answer(*probe)
    if any(v.shape != w.shape for v, w in zip(xy, before, strict=True)):
        return got
    pairs = [sorted(zip(*(v.ravel().tolist() for v in arrays), strict=True)) for arrays in (xy, before)]
    kept = all(np.array_equal(np.sort(v, None), np.sort(w, None)) for v, w in zip(xy, before, strict=True))
    if kept and pairs[0] != pairs[1]:  # each array holds its own values still, but they no longer pair up
        changed = tuple(name for name, v, w in zip("xy", xy, before, strict=True) if not np.array_equal(v, w))
        xy[0][...], xy[1][...] = before
        return Apart(changed)
    return got


def _shuffled_in_place(a, b, x, y, lr, batch_size, rng) -> tuple[float, float]:
    rng.shuffle(x)  # x alone, in place: then walked through in order
    return _epoch(a, b, x, y, lr, batch_size, rng, "train_not_shuffled")


def _not_a_pair(got: object) -> bool:
    return not isinstance(got, tuple | list) or len(got) != 2 or None in map(as_number, got)


def _pair_expected(got: list, expected: list) -> str:
    wrong = next(pair for pair in got if _not_a_pair(pair))
    return f"return a pair (first, second) of numbers, each one number: got {describe(wrong)}."


NOT_A_PAIR = Guard("not_a_pair", any_item(_not_a_pair), lambda *args: 0.0, _pair_expected)


class _Rate(Exercise):  # a ✅ naming the rate given (a float32 one to 7 digits): 0.796 to 0.8055 pass
    def __call__(self, *answers: object) -> Verdict:
        verdict, rate = super().__call__(*answers), as_number(answers[0])
        shown = f"{rate:.7g}" if float(np.float32(rate)) == rate else repr(rate)
        return Verdict("correct", f"{shown}{verdict.message}") if verdict.passed else verdict


largest_stable_rate = _Rate(
    "largest_stable_rate", 0.80, kind="value", guards=RATE_GUARDS,
    observe=lambda answer, _: _rate_outcome(answer, STABLE_EPOCHS),
    mistakes=[Mistake("diverges", 0.81), Mistake("too_small", 0.7)], alternatives=[Fraction(4, 5), Decimal("0.80")],
    success=": with it the loss still shrinks over 1000 epochs, and grows with 0.01 more. The largest stable rate "
    "written with two decimals is 0.80: with 0.81 the loss grows.",
)  # fmt: skip
learning_rate_within_budget = Exercise(
    "learning_rate_within_budget", 0.6, kind="value", guards=RATE_GUARDS,
    observe=lambda answer, _: _rate_outcome(answer, BUDGET_EPOCHS),
    mistakes=[Mistake("diverges", 1.0), Mistake("zigzags", 0.79), Mistake("too_slow", 0.1)],
    alternatives=[Fraction(3, 5), Decimal("0.6")],
    success=f"within {BUDGET_TOLERANCE} of the least-squares answer after {BUDGET_EPOCHS} epochs.",
)  # fmt: skip
gradients = Exercise(
    "gradients", _gradients, observe=_pairs, guards=[NOT_A_PAIR],
    inputs=lambda: (*START, X.copy(), Y.copy(), *OTHER_START, X[50:].copy(), Y[50:].copy()),
    mistakes=[  # the notebook's buggy_gradients (y - prediction, a sum for b), each bug alone, then other slips
        Mistake("wrong_sign", partial(_gradients, factors=(-1, -1), divisors=(None, 1)), _SAY["both bugs"]),
        Mistake("sum_not_mean", partial(_gradients, divisors=(None, 1)), _SAY["still a sum"]),
        Mistake("wrong_sign", partial(_gradients, factors=(-1, -1)), _SAY["still flipped"]),
        *(Mistake("hard_coded_count", partial(_gradients, divisors=d)) for d in ((None, N), (N, N))),
        Mistake("missing_factor_2", partial(_gradients, factors=(0.5, 0.5))),
        Mistake("sum_not_mean", partial(_gradients, divisors=(1, 1))),
        Mistake("swapped", lambda a, b, x, y: _gradients(a, b, x, y)[::-1]),
        Mistake("missing_x", lambda a, b, x, y: (_gradients(a, b, x, y)[0],) * 2),
        Mistake("ignored_argument", lambda a, b, x, y: _gradients(*START, x, y), _SAY["typed_start"]),
    ],
    alternatives=[lambda a, b, x, y: (2 * np.sum(a + b * x - y) / len(x), 2 * np.sum((a + b * x - y) * x) / len(x))],
    explain=_versus(("", f"at (a, b) = {START_TEXT}, on the {N} training points,"), (f"right at the lesson's start on "
                    f"its {N} points but not elsewhere (use the arguments a, b, x, y, never fixed numbers or counts): ",
                    "at (a, b) = (1.5, 0.5), on 30 others,"), inexact=True, what="gradients",
                    advice="Start from error = a + b * x - y and apply the chain rule to mean(error²)."),
    success="2 * mean(error) and 2 * mean(error * x), with error = a + b * x - y.",
)  # fmt: skip
minibatch_epoch = Exercise(
    "minibatch_epoch", _epoch, observe=partial(_pairs, size=7, run=_run_apart), guards=[
        Guard("shuffled_apart", any_item(lambda got: isinstance(got, Apart)), _shuffled_in_place, _apart_message),
        NOT_A_PAIR, Guard(  # nan: the mean of an empty batch
        "empty_last_batch", any_item(lambda pair: math.isnan(sum(map(as_number, pair)))),
        partial(_epoch, variant="empty_last_batch"), _SAY["empty_last_batch"])], alternatives=[partial(_epoch, variant="reordered")],
    inputs=lambda: (*START, X.copy(), Y.copy(), 0.05, 32, np.random.default_rng(1),
                    *OTHER_START, X[32:].copy(), Y[32:].copy(), 0.1, 16, np.random.default_rng(2),  # 3 full batches
                    -0.5, 1.0, X[31:].copy(), Y[31:].copy(), 0.1, 16, np.random.default_rng(3)),  # 3 full, then 1
    mistakes=[Mistake(variant, partial(_epoch, variant=variant), _SAY.get(variant)) for variant in [
        "train_not_shuffled", "shuffled_apart", "one_update_per_epoch", "skipped_last_batch", "whole_data_gradient",
        "wrong_sign", "missing_factor_2", "sum_not_mean", "wrong_total", "sequential_update", "no_update"]]
        + [Mistake("wrong_total", partial(_epoch, variant="divided_by_n"), _SAY["divided_by_n"]),
           Mistake("one_update_per_epoch", partial(_epoch, variant="averaged"), _SAY["averaged"]),
           Mistake("skipped_last_batch", partial(_epoch, variant="stopped_one_short"), _SAY["stopped_one_short"])],
    explain=_versus(("", f"after one epoch from {START_TEXT} (80 points, batch_size 32, lr 0.05)"),
                    ("right for the lesson's numbers but not for others (use the arguments, never fixed numbers): ",
                     "after one epoch from (1.5, 0.5) (48 points, batch_size 16, lr 0.1)"),
                    ("right where the last batch is full or holds 16 points, but not where it holds one: ",
                     "after one epoch from (-0.5, 1.0) (49 points, batch_size 16, lr 0.1)"), what="new a and b",
                    advice="Check each part: order = rng.permutation(len(x)) with the rng you are given (not "
                    "np.random); one update per slice order[start:start + batch_size], the last one shorter; each "
                    "with 2 * np.mean(...) over that slice, both gradients from the same a and b."),
    success="a and b end where one epoch takes them, one update per batch of the shuffled order, the short last batch "
    "included, on all three probes.",
)  # fmt: skip
