"""Lesson 12's pick_threshold check: what the generated tests (test_declarations.py) cannot say."""

from __future__ import annotations

import pytest

from course.checks import logistic_regression as check
from course.checks import threshold_probe as probe


def test_pick_threshold_accepts_any_threshold_with_the_same_decisions():
    # no probability of either probe lies within 0.01 below the right threshold: the same decisions
    assert check.pick_threshold(lambda p, y, k: probe.pick()(p, y, k) - 0.01).passed
    assert not check.pick_threshold(lambda p, y, k: probe.pick()(p, y, k) + 0.01).passed


def test_pick_threshold_judges_decisions_as_torch_compares_them():
    def rounded(p, y, k):  # p >= 0.9 compares in float32, where 0.9 is a probability of the probe
        return round(probe.pick()(p, y, k), 2)

    assert check.pick_threshold(rounded).passed


def test_pick_threshold_notices_the_probabilities_changed_in_place():
    def squeezes(p, y, k):
        p.squeeze_(1)
        return probe.pick()(p.unsqueeze(1), y, k)

    assert check.pick_threshold(squeezes).mistake == "mutated_input"


@pytest.mark.parametrize(
    "answer, shown, hint",
    [
        (lambda p, y, k: 100 * probe.pick()(p, y, k), "90", "percentage"),  # 0.9 for the first probe
        (lambda p, y, k: 0.97, "0.97", "probabilities themselves"),  # above 0.95, the first probe's largest
    ],
)
def test_pick_threshold_shows_a_threshold_above_every_probability_as_returned(answer, shown, hint):
    verdict = check.pick_threshold(answer)
    assert verdict.mistake == "threshold_above_all" and shown in verdict.message and hint in verdict.message, verdict
    assert "inf" not in verdict.message


def test_pick_threshold_survives_a_tuple_returned():
    assert not check.pick_threshold(lambda p, y, k: (0.9,)).passed


def test_the_smallest_probability_of_all_is_told_both_ways_it_comes():
    verdict = check.pick_threshold(lambda p, y, k: p.min().item())  # the limit never checked
    assert verdict.mistake == "smallest_probability" and "smallest probability of all" in verdict.message, verdict
    assert "no limit" in verdict.message and "benign ones (1) below it" in verdict.message, verdict


@pytest.mark.parametrize("answer, said", [
    (lambda p, y, k: 0.5, "first set of 12 tumours with max_missed=0, your threshold calls the tumours from 0.55 up "
                          "benign, 2 malignant among them; the smallest with at most 0 malignant called benign is 0.9"),
    (lambda p, y, k: probe.pick()(p, y, k) if len(p) == 12 else 0.8, "second set of 10 tumours with max_missed=0, "
     "your threshold calls the tumours from 0.8 up benign, 0 malignant among them; the smallest with at most 0"),
    (lambda p, y, k: None if k else probe.pick()(p, y, k), "max_missed=1, your function returned None")])  # fmt: skip
def test_a_wrong_threshold_is_named_with_its_probe_its_limit_and_the_cancers_it_lets_through(answer, said):
    verdict = check.pick_threshold(answer)
    assert verdict.mistake == "other" and said in verdict.message, verdict


def test_pick_threshold_says_a_nan_threshold_is_not_a_number():
    verdict = check.pick_threshold(lambda p, y, k: float("nan"))
    assert "NaN" in verdict.message and "lies above" not in verdict.message, verdict


def _exactly(p, y, k):  # == where the limit is <=: no threshold misses exactly k when cancers tie, or k > their number
    for threshold in sorted(p.flatten().tolist()):
        if ((p >= threshold) & (y == 0)).sum().item() == k:
            return threshold


def test_fix10_exactly_max_missed_is_not_at_most_max_missed():
    verdict = check.pick_threshold(_exactly)
    assert verdict.mistake == "missed_exactly" and "<= max_missed" in verdict.message, verdict


def test_fix10_the_probes_hold_tied_cancers_where_no_threshold_misses_exactly_the_limit():
    probes, limits = probe.columns(probe.PROBS_BENIGN), [k for ks in probe.LIMITS for k in ks]
    pairs = [(probes[i], probes[i + 1]) for i in range(0, len(probes), 2)]
    assert any(len(set(p[y == 0].tolist())) < int((y == 0).sum()) for p, y in pairs)  # two cancers, one probability

    def missed_counts(p, y):
        return {int(((p >= t) & (y == 0)).sum()) for t in p.flatten().tolist()}

    assert any(k not in missed_counts(p, y) for (p, y), ks in zip(pairs, probe.LIMITS, strict=True) for k in ks)
    assert len(limits) == 2 * len(pairs)


def test_fix10_a_loop_that_never_meets_its_condition_is_told_so_not_a_missing_return():
    def flattened(p, y, k):  # (N, 1) & (N,) broadcasts to (N, N): the count is never small enough
        y = y.view(-1)
        for threshold in sorted(p.flatten().tolist()):
            if ((p >= threshold) & (y == 0)).sum().item() <= k:
                return threshold

    verdict = check.pick_threshold(flattened)
    assert "forget the `return`" not in verdict.message, verdict
    assert "loop ended without returning" in verdict.message and "(N, N)" in verdict.message, verdict


def test_fix10_a_function_without_any_return_is_still_asked_about_its_return():
    verdict = check.pick_threshold(lambda p, y, k: None)
    assert verdict.mistake == "returned_none" and "`return`" in verdict.message, verdict


def test_fix10_an_answer_read_off_the_sorted_cancers_is_right_for_every_limit_below_their_number():
    def by_the_cancers(p, y, k):  # just above the (k+1)-th most benign-looking cancer
        return p[p > p[y == 0].sort(descending=True).values[k]].min().item()

    assert check.pick_threshold(by_the_cancers).passed


def _counts_benign(p, y, k):  # malignant is target 0: this counts the benign tumours (1) called benign
    for threshold in sorted(p.flatten().tolist()):
        if ((p >= threshold) & (y == 1)).sum().item() <= k:
            return threshold


@pytest.mark.parametrize(
    "answer",
    [
        _counts_benign,  # None on some calls: told by the explanation
        lambda p, y, k: probe.pick()(p, y, k) if k >= len(p) else None,  # None on every call, a threshold at k = N
        lambda p, y, k: (p[:, 0], probe.pick()(p, y, k) if k >= len(p) else None)[1],  # and flat (N,) inputs fail
    ],
)
def test_fix11_a_none_from_well_shaped_inputs_is_not_blamed_on_the_shapes(answer):
    verdict = check.pick_threshold(answer)
    assert not verdict.passed and "returned None" in verdict.message, verdict
    assert "(N, N)" not in verdict.message and "shapes" not in verdict.message, verdict
    assert "malignant tumour (target 0)" in verdict.message, verdict


def test_fix11_probabilities_squeezed_against_column_targets_are_told_the_shapes():
    def squeezed(p, y, k):  # (N,) & (N, 1) broadcasts to (N, N): at least 3 cancers a row, above every limit
        for threshold in sorted(p.flatten().tolist()):
            if ((p.squeeze() >= threshold) & (y == 0)).sum().item() <= k:
                return threshold

    verdict = check.pick_threshold(squeezed)
    assert verdict.mistake == "returned_none" and "(N, N)" in verdict.message, verdict
    assert "malignant tumour (target 0)" not in verdict.message, verdict


def test_fix12_a_threshold_on_a_cancer_is_told_what_it_lets_through_however_it_was_computed():
    def by_the_cancers(p, y, k):  # the (k+1)-th most benign-looking cancer itself: no comparison at all
        return p[y == 0].sort(descending=True).values[k].item()

    def strict(p, y, k):  # > where the exercise calls benign at or above the threshold
        return next(t for t in sorted(p.flatten().tolist()) if ((p > t) & (y == 0)).sum() <= k)

    for answer in (by_the_cancers, strict):
        verdict = check.pick_threshold(answer)
        assert verdict.mistake == "strict_threshold", verdict
        assert "with max_missed=0, your threshold, 0.85, is a malignant tumour's own probability" in verdict.message
        assert "so 1 malignant is called benign" in verdict.message and "is 0.9" in verdict.message, verdict
        assert "if you counted the missed cancers with >" in verdict.message.lower(), verdict


def test_fix12_a_threshold_that_ignores_the_limit_is_told_so_without_blaming_a_fixed_limit():
    def kth_cancer(p, y, k):  # uses k, one cancer too high: the same thresholds as a fixed limit of 0 here
        return p[y == 0].sort(descending=True).values[max(k - 1, 0)].item() + 1e-6

    for answer in (kth_cancer, lambda p, y, k: probe.pick()(p, y, 0)):
        verdict = check.pick_threshold(answer)
        assert verdict.mistake == "ignores_max_missed", verdict
        assert "same for max_missed=0 and max_missed=1" in verdict.message, verdict
        assert (
            "0 malignant among them" in verdict.message
            and "at most 1 malignant called benign is 0.7" in verdict.message
        )
        assert "instead of a fixed limit" not in verdict.message, verdict
