from course.checks import Mistake, Verdict, call_learner, is_placeholder, judge

DOUBLING = dict(is_correct=lambda f: f(3) == 6, success="doubles.")


def test_placeholders_are_not_attempted():
    assert is_placeholder(None) and is_placeholder(...)
    assert judge(None, **DOUBLING).status == "not_attempted"
    assert repr(judge(..., **DOUBLING)).startswith("⏳ Not attempted yet")


def test_correct_answer_passes_with_one_line():
    verdict = judge(lambda x: 2 * x, **DOUBLING)
    assert verdict.passed and repr(verdict) == "✅ Correct: doubles." and "\n" not in repr(verdict)


def test_first_matching_mistake_is_diagnosed():
    mistakes = [
        Mistake("square", lambda f: f(3) == 9, "that squares."),
        Mistake("add", lambda f: f(3) == 5, "that adds 2."),
    ]
    verdict = judge(lambda x: x + 2, mistakes=mistakes, **DOUBLING)
    assert (verdict.status, verdict.mistake) == ("wrong", "add")
    assert repr(verdict) == "❌ Not yet: that adds 2."


def test_a_mistake_test_that_crashes_is_skipped():
    crashing = Mistake("boom", lambda f: 1 / 0, "never shown")
    assert judge(lambda x: x, mistakes=[crashing], **DOUBLING).mistake == "other"


def test_an_answer_that_breaks_the_check_is_reported_not_raised():
    verdict = judge("a string", **DOUBLING)
    assert verdict.mistake == "unreadable" and "TypeError" in verdict.message


def test_call_learner_reports_stubs_errors_and_non_functions():
    def stub():
        raise NotImplementedError

    assert call_learner(stub)[1].status == "not_attempted"
    assert call_learner(None)[1].status == "not_attempted"
    assert call_learner(42)[1].mistake == "not_callable"
    result, verdict = call_learner(lambda: [][1])
    assert result is None and verdict.mistake == "raised" and "IndexError" in verdict.message


def test_verdict_is_a_plain_value():
    assert Verdict("wrong", "m", "id") == Verdict("wrong", "m", "id")
