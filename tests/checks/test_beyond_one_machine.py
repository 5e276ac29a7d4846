"""Each check of lesson 15 recognises the right answer, the placeholder, every known mistake, and junk."""

from __future__ import annotations

import pytest

from course.checks import beyond_one_machine as check


def _stub(*args):
    raise NotImplementedError  # your code here


# ---------------------------------------------------------------- global_batch_size
def test_global_batch_size_correct():
    assert check.global_batch_size(lambda b, p, n: b * p * n).passed


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        (lambda b, p, n: b, "per_process"),
        (lambda b, p, n: b * p, "forgot_nodes"),
        (lambda b, p, n: b * n, "forgot_procs"),
        (lambda b, p, n: b / (p * n), "divided"),
        (lambda b, p, n: b // (p * n), "divided"),
        (lambda b, p, n: 256, "other"),
        (lambda b, p, n: 1 / 0, "raised"),
    ],
)
def test_global_batch_size_mistakes(answer, mistake):
    verdict = check.global_batch_size(answer)
    assert verdict.status == "wrong" and verdict.mistake == mistake, verdict


@pytest.mark.parametrize("placeholder", [None, ..., _stub])
def test_global_batch_size_not_attempted(placeholder):
    assert check.global_batch_size(placeholder).status == "not_attempted"


@pytest.mark.parametrize("junk", ["256", 256, lambda: 1, lambda b, p, n: "a"])
def test_global_batch_size_junk(junk):
    assert check.global_batch_size(junk).status == "wrong"


# ---------------------------------------------------------------- should_save
def test_should_save_correct():
    assert check.should_save(lambda env: int(env["RANK"]) == 0).passed


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        (lambda env: env["RANK"] == 0, "string_rank"),
        (lambda env: int(env["LOCAL_RANK"]) == 0, "local_rank"),
        (lambda env: True, "everyone"),
        (lambda env: int(env["RANK"]) == int(env["WORLD_SIZE"]) - 1, "last_rank"),
        (lambda env: int(env["RANK"]) == 1, "other"),
        (lambda env: env["NODE_RANK"] == "0", "raised"),
    ],
)
def test_should_save_mistakes(answer, mistake):
    verdict = check.should_save(answer)
    assert verdict.status == "wrong" and verdict.mistake == mistake, verdict


@pytest.mark.parametrize("placeholder", [None, ..., _stub])
def test_should_save_not_attempted(placeholder):
    assert check.should_save(placeholder).status == "not_attempted"


@pytest.mark.parametrize("junk", ["rank 0", 0, lambda: True, lambda env: [1, 2]])
def test_should_save_junk(junk):
    assert check.should_save(junk).status == "wrong"


# ---------------------------------------------------------------- epoch_orders
def _right(sampler, epochs):
    orders = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        orders.append(list(sampler))
    return orders


def _no_set_epoch(sampler, epochs):
    return [list(sampler) for _ in range(epochs)]


def _set_epoch_late(sampler, epochs):
    orders = []
    for epoch in range(epochs):
        orders.append(list(sampler))
        sampler.set_epoch(epoch)
    return orders


def _constant_epoch(sampler, epochs):
    orders = []
    for _ in range(epochs):
        sampler.set_epoch(0)
        orders.append(list(sampler))
    return orders


def test_epoch_orders_correct():
    assert check.epoch_orders(_right).passed


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        (_no_set_epoch, "no_set_epoch"),
        (_constant_epoch, "no_set_epoch"),
        (_set_epoch_late, "set_epoch_late"),
        (lambda s, e: _right(s, e)[:2], "wrong_length"),
        (lambda s, e: [sorted(o) for o in _right(s, e)], "other"),
        (lambda s, e: 42, "not_orders"),
        (lambda s, e: s.nope(), "raised"),
    ],
)
def test_epoch_orders_mistakes(answer, mistake):
    verdict = check.epoch_orders(answer)
    assert verdict.status == "wrong" and verdict.mistake == mistake, verdict


@pytest.mark.parametrize("placeholder", [None, ..., _stub])
def test_epoch_orders_not_attempted(placeholder):
    assert check.epoch_orders(placeholder).status == "not_attempted"


@pytest.mark.parametrize("junk", ["orders", 3, lambda: [], lambda s, e: [["a"]], lambda s, e: [[[1]]]])
def test_epoch_orders_junk(junk):
    assert check.epoch_orders(junk).status == "wrong"


def test_messages_are_one_line():
    for verdict in (
        check.global_batch_size(None),
        check.should_save(lambda env: True),
        check.epoch_orders(_no_set_epoch),
    ):
        assert "\n" not in repr(verdict)
