"""The probe of lesson 12's pick_threshold: tumours' probabilities of being benign, each probe with its limits of
missed cancers, the reference picking program and its variants, and what an answer's thresholds decide.

Thresholds are probabilities, with a malignant one on a candidate (`>` and `>=` differ) and two cancers tied (`==`
and `<=` differ); a threshold is compared by the decisions it makes (the smallest probability it keeps)."""

from __future__ import annotations

import contextlib

import torch

from course.checks.engine import Mistake
from course.checks.values import PerProbe, as_number, close

PROBS_BENIGN = [  # (probabilities of benign, targets: 1 benign, 0 malignant), shuffled; 0.6, 0.7 malignant in the 2nd
    ([0.55, 0.1, 0.85, 0.9, 0.6, 0.95, 0.2, 0.4, 0.05, 0.3, 0.7, 0.8], [1.0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1]),
    ([0.3, 0.75, 0.15, 0.8, 0.5, 0.92, 0.35, 0.7, 0.45, 0.6], [0.0, 1, 0, 1, 0, 1, 1, 0, 1, 0]),
    ([0.45, 0.2, 0.8, 0.6, 0.35, 0.9, 0.6, 0.7], [1.0, 0, 1, 0, 1, 1, 0, 1])]  # fmt: skip  # 3 cancers, two at 0.6
LIMITS = ((0, 1), (0, 1), (1, 2))  # each probe's max_missed: no threshold misses exactly 1 of the third's cancers
CALLS = sum(map(len, LIMITS))  # the answer's calls; two more when it returned None to all, as (N, N) counts make it
_ABOVE = object()  # marks a threshold above every probability: (_ABOVE, threshold)
is_above = lambda v: type(v) is tuple and len(v) == 2 and v[0] is _ABOVE  # noqa: E731
columns = lambda pairs: tuple(torch.tensor(v).reshape(-1, 1) for pair in pairs for v in pair)  # noqa: E731 (N, 1) each


def no_threshold(shapes: bool) -> str:
    """Why an answer returned None: its shapes broadcast (``shapes``: flat inputs made it return), or its condition."""
    why = (
        "the shapes: probabilities and targets are (N, 1), and (N, 1) against (N,) broadcasts to (N, N)"
        if shapes
        else "the condition: a missed cancer is a malignant tumour (target 0) called benign, probability >= threshold"
    )
    ended = "your function returned None: no threshold met your condition, so the loop ended without returning one"
    return f"{ended} (check {why})"


def decisions(answer, args) -> PerProbe:
    """On each probe, for its max_missed, the smallest probability the returned threshold keeps, compared as
    `probabilities >= threshold` compares (same decisions, same answer); (_ABOVE, threshold) when it keeps none."""
    pristine, got = [a.clone() for a in args], []  # got: (threshold, the probe's probabilities); the probe, then copies
    for start, max_missed in [(2 * i, k) for i, ks in enumerate(LIMITS) for k in ks]:
        given = args[:2] if not got else [a.clone() for a in pristine[start : start + 2]]
        got.append((answer(*given, max_missed), pristine[start]))
    for shape, k in (((-1, 1), len(pristine[0])), ((-1,), LIMITS[0][0])) if all(t is None for t, _ in got) else ():
        got.append((None, pristine[0]))  # why None? max_missed=N gets one: a condition never met (else no return);
        with contextlib.suppress(Exception):  # flat (N,) inputs do: (N, 1) met (N,), (N, N) counts (at least 3 cancers)
            got[-1] = (answer(*[a.clone().reshape(shape) for a in pristine[:2]], k), pristine[0])  # errors: still None
    return PerProbe(t if n is None else probs[probs >= n].min().item() if (probs >= n).any() else (_ABOVE, n)
                    for t, n, probs in [(t, as_number(t), probs) for t, probs in got])  # fmt: skip


def above_all(got: tuple, _: object) -> str:
    high = next(v[1] for v in got if is_above(v))
    if high != high:  # NaN
        return (
            "your threshold is NaN (not a number), which no probability reaches (every comparison with NaN is "
            "False): look for a mean of an empty selection or a 0 / 0."
        )
    return f"your threshold, {high:g}, lies above every probability, so no tumour would be called benign: " + (
        "probabilities lie between 0 and 1: return one of them, not a percentage (90) or an index." if high > 1
        else "the smallest threshold that keeps the limit is one of the probabilities themselves.")  # fmt: skip


def pick(missed=lambda p, y, t: ((p >= t) & (y == 0)).sum(), smallest=True, within=lambda m, k: m <= k, pool=None):
    """A picking program: the first probability (smallest first) of ``pool`` whose missed cancers are ``within``."""
    return lambda p, y, k: next((t for t in sorted((p if pool is None else pool(p, y)).reshape(-1).tolist(),
                                                   reverse=not smallest) if within(missed(p, y, t), k)), None)  # fmt: skip


def _first_wrong(got: tuple, expected: tuple) -> tuple:
    """(index, the probe's probabilities and targets, its max_missed, its set's name) of the first wrong threshold."""
    i = next(i for i, (g, e) in enumerate(zip(got, expected, strict=True)) if not close(g, e))
    (probs, targets), k = columns([PROBS_BENIGN[i // 2]]), [k for ks in LIMITS for k in ks][i]
    return i, probs, targets, k, f"the check's {('first', 'second', 'third')[i // 2]} set of {len(probs)} tumours"


def _missed(probs: torch.Tensor, targets: torch.Tensor, threshold: float) -> int:
    return int(((probs >= threshold) & (targets == 0)).sum())


def explain_pick(got: tuple, expected: tuple) -> str:  # the probe and max_missed of the first wrong threshold
    i, probs, targets, k, where = _first_wrong(got, expected)
    yours = no_threshold(False) if got[i] is None else (f"your threshold calls the tumours from {got[i]:g} "
            f"up benign, {_missed(probs, targets, got[i])} malignant among them")  # fmt: skip
    best = f"the smallest with at most {k} malignant called benign is {expected[i]:g}"
    return f"on {where} with max_missed={k}, {yours}; {best}."


def on_a_cancer(got: tuple, expected: tuple) -> str:
    """A threshold on a malignant tumour's own probability, where more cancers are called benign than allowed: what
    a strict count (probabilities > threshold) returns, and a cancer's probability taken as the threshold too."""
    i, probs, targets, k, where = _first_wrong(got, expected)
    if got[i] is None or not bool(((probs == got[i]) & (targets == 0)).any()):
        return explain_pick(got, expected)
    n = _missed(probs, targets, got[i])
    return (f"on {where} with max_missed={k}, your threshold, {got[i]:g}, is a malignant tumour's own probability, "
            f"and a tumour exactly at the threshold is called benign (probability >= threshold), so {n} malignant "
            f"{'is' if n == 1 else 'are'} called benign; the smallest with at most {k} malignant called benign is "
            f"{expected[i]:g}, the next probability up. If you counted the missed cancers with > (probabilities > "
            "threshold), count with >= as the exercise does.")  # fmt: skip


def same_for_every_limit(got: tuple, expected: tuple) -> str:
    """Thresholds that stay the same whatever max_missed allows (a fixed limit, or an index that does not follow it)."""
    i, probs, targets, k, where = _first_wrong(got, expected)
    calls = [j for j in range(CALLS) if j // 2 == i // 2]
    if got[i] is None or len({got[j] for j in calls}) > 1:
        return explain_pick(got, expected)
    limits = " and ".join(f"max_missed={limit}" for limit in LIMITS[i // 2])
    return (f"on {where}, your threshold is the same for {limits}: with max_missed={k} it calls the tumours from "
            f"{got[i]:g} up benign, {_missed(probs, targets, got[i])} malignant among them, but the smallest with at "
            f"most {k} malignant called benign is {expected[i]:g}. The threshold should follow max_missed: up to "
            "max_missed malignant tumours called benign are allowed, not a fixed number of them.")  # fmt: skip


PICK_MISTAKES = [  # pick_threshold's wrong programs
    Mistake("strict_threshold", pick(lambda p, y, t: ((p > t) & (y == 0)).sum()), on_a_cancer),
    Mistake("missed_off_by_one", pick(within=lambda m, k: m < k)),
    Mistake("missed_exactly", pick(within=lambda m, k: m == k)),
    Mistake("smallest_probability", lambda p, y, k: p.min().item()),
    Mistake("largest_threshold", pick(smallest=False)),
    Mistake("ignores_max_missed", pick(within=lambda m, k: m <= 0), same_for_every_limit),
    Mistake("benign_candidates_only", pick(pool=lambda p, y: p[y == 1])),
    Mistake("malignant_candidates_only", pick(pool=lambda p, y: p[y == 0])),
]
