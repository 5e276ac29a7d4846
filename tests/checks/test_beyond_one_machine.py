"""Lesson 15's checks, beyond what the declarations generate: the numbers a learner reads."""

from __future__ import annotations

import pytest
import torch

from course.checks import beyond_one_machine as check


def test_the_learning_rate_message_names_the_job():
    verdict = check.scaled_lr(lambda lr, base, b, p, n: lr * b * p * n / base)
    assert verdict.passed and "384" in verdict.message and "0.6" in verdict.message


def test_a_whole_job_with_one_process_keeps_its_learning_rate():
    assert check.scaled_lr.reference(0.1, 64, 64, 1, 1) == 0.1


def test_should_save_accepts_numpy_booleans():
    import numpy as np

    assert check.should_save(lambda env: np.bool_(int(env["RANK"]) == 0)).passed


def test_a_typed_in_number_is_not_a_rule():
    verdict = check.scaled_lr(lambda *job: 0.6)
    assert not verdict.passed and "(0.05, 256, 40, 8, 2)" in verdict.message


def test_an_integer_division_of_the_batches_is_not_the_rule():
    assert not check.scaled_lr(lambda lr, base, b, p, n: lr * (b * p * n // base)).passed


def test_a_function_that_never_saves_is_told_so():
    verdict = check.should_save(lambda env: env["WORLD_SIZE"] == "1")  # saves only when alone: no string compared
    assert verdict.mistake == "nobody_saves" and "no process of the job of 8 would save" in verdict.message


def test_one_flat_list_of_indices_is_a_shape_mistake_not_an_error_in_the_code():
    def flat(sampler, epochs):
        orders = []
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            orders.extend(sampler)
        return orders

    assert check.epoch_orders(flat).mistake == "wrong_shape"


def test_indices_must_be_integers():
    def orders(sampler, epochs, as_item):
        return [[as_item(i) for i in (sampler.set_epoch(e), list(sampler))[1]] for e in range(epochs)]

    assert check.epoch_orders(lambda s, n: orders(s, n, int)).passed
    for as_item in (str, float):
        verdict = check.epoch_orders(lambda s, n, f=as_item: orders(s, n, f))
        assert verdict.mistake == "wrong_dtype" and "integer indices" in verdict.message


def test_a_learning_rate_of_none_is_a_missing_return():
    assert check.scaled_lr(lambda *job: None).mistake == "returned_none"


def test_scaled_lr_shows_what_one_call_returned_when_it_is_no_number():
    verdict = check.scaled_lr(lambda lr, base, b, p, n: (lr * b * p * n / base, b * p * n))
    assert verdict.mistake == "not_a_number" and "a tuple (" in verdict.message, verdict


def test_should_save_once_per_machine_is_told_by_what_it_does_not_by_local_rank():
    verdict = check.should_save(lambda env: int(env["RANK"]) % 4 == 0)  # uses RANK, yet saves once per machine
    assert verdict.mistake == "local_rank" and "RANK 0 and RANK 4" in verdict.message, verdict


def shuffled_by_hand(sampler, epochs):  # DistributedSampler's shuffle written out, without its padding
    orders = []
    for epoch in range(epochs):
        generator = torch.Generator().manual_seed(sampler.seed + epoch)
        orders.append(torch.randperm(len(sampler.dataset), generator=generator)[sampler.rank :: sampler.num_replicas])
    return orders


@pytest.mark.parametrize(
    "answer",
    [lambda sampler, epochs: [(sampler.set_epoch(e), list(sampler))[1] for e in range(3)], shuffled_by_hand],
    ids=["three_epochs_typed_in", "shuffled_by_hand_without_padding"],
)
def test_review4_epoch_orders_needs_the_epochs_asked_for_and_the_samplers_padding(answer):
    verdict = check.epoch_orders(answer)
    assert verdict.mistake == "other" and "4 epochs of 13 items" in verdict.message, verdict


def test_review4_should_save_saves_in_a_one_process_run_too():
    verdict = check.should_save(lambda env: int(env["RANK"]) == 0 and int(env["WORLD_SIZE"]) > 1)
    assert verdict.mistake == "other" and "WORLD_SIZE 1" in verdict.message, verdict


def test_review6_endless_orders_get_a_verdict_instead_of_filling_memory():
    import itertools

    for endless in (lambda s, n: [itertools.cycle(list(s)) for _ in range(n)], lambda s, n: itertools.repeat([0])):
        verdict = check.epoch_orders(endless)
        assert not verdict.passed and verdict.mistake != "timeout", verdict


@pytest.mark.parametrize("rank_set", [None, "0"])
def test_should_save_names_an_answer_that_reads_os_environ_instead_of_env(monkeypatch, rank_set):
    import os

    if rank_set is None:
        monkeypatch.delenv("RANK", raising=False)
    else:
        monkeypatch.setenv("RANK", rank_set)
    for answer in (lambda env: int(os.environ.get("RANK", "0")) == 0, lambda env: int(os.environ["RANK"]) == 0):
        verdict = check.should_save(answer)
        assert verdict.mistake == "ignored_argument" and "os.environ" in verdict.message, verdict


def test_should_save_names_an_answer_that_no_process_of_a_job_saves():
    verdict = check.should_save(lambda env: env["LOCAL_RANK"] == "0" and env["WORLD_SIZE"] == "1")
    assert verdict.mistake == "nobody_saves", verdict
    assert check.should_save(lambda env: env["RANK"] == 0).mistake == "string_rank"


def test_should_save_probes_a_rank_of_two_digits():
    assert not check.should_save(lambda env: "0" in env["RANK"]).passed
    assert not check.should_save(lambda env: env["RANK"].endswith("0")).passed


def test_fix10_set_epoch_with_a_number_that_never_changes_is_told_so():
    def same_epoch(sampler, epochs):
        orders = []
        for _ in range(epochs):
            sampler.set_epoch(0)
            orders.append(list(sampler))
        return orders

    verdict = check.epoch_orders(same_epoch)
    assert verdict.mistake == "no_set_epoch" and "never changes" in verdict.message, verdict
    assert "set_epoch(0)" in verdict.message, verdict
    never = check.epoch_orders(lambda sampler, epochs: [list(sampler) for _ in range(epochs)])
    assert never.mistake == "no_set_epoch" and "never changes" not in never.message, never


@pytest.mark.parametrize("epoch", [0, 3, "epochs - 1"])
def test_review11_set_epoch_called_once_before_the_loop_is_told_so(epoch):
    def once(sampler, epochs):
        sampler.set_epoch(epochs - 1 if epoch == "epochs - 1" else epoch)
        return [list(sampler) for _ in range(epochs)]

    verdict = check.epoch_orders(once)
    assert not verdict.passed and "once, not in each epoch" in verdict.message, verdict
    assert "never called" not in verdict.message and "set_epoch(epoch) at the start of each epoch" in verdict.message


def test_review11_one_set_epoch_call_with_orders_that_differ_is_not_called_the_same_order():
    def once_then_reshuffled(sampler, epochs):
        sampler.set_epoch(7)
        first = list(sampler)
        return [first[k:] + first[:k] for k in range(epochs)]  # differing orders: the "same order" message is false

    verdict = check.epoch_orders(once_then_reshuffled)
    assert not verdict.passed and "same order" not in verdict.message, verdict


def test_fix10_orders_read_after_the_loop_are_told_so():
    def reads_late(sampler, epochs):
        kept = []
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            kept.append(sampler)  # read only when the list is, after the loop: every epoch gets the last shuffle
        return kept

    verdict = check.epoch_orders(reads_late)
    assert verdict.mistake == "read_after_loop" and "after the loop" in verdict.message, verdict


def test_review11_a_loop_cut_short_is_not_told_set_epoch_was_called_once():
    def returns_in_the_loop(sampler, epochs):
        orders = []
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            orders.append(list(sampler))
            return orders  # indented one level too deep: one epoch only

    def last_epoch_only(sampler, epochs):
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
        return [list(sampler)]

    for answer in (returns_in_the_loop, last_epoch_only, lambda sampler, epochs: (sampler.set_epoch(0), [])[1]):
        verdict = check.epoch_orders(answer)
        assert not verdict.passed and "once" not in verdict.message, verdict
        assert "as many as epochs asks for" in verdict.message, verdict


def shard_by_hand(sampler, epochs, replicas=None):  # DistributedSampler's shuffle written out, padding included
    replicas = sampler.num_replicas if replicas is None else replicas
    orders = []
    for epoch in range(epochs):
        order = torch.randperm(len(sampler.dataset), generator=torch.Generator().manual_seed(sampler.seed + epoch))
        order = order.tolist()
        order += order[: -len(order) % replicas]  # padded with the first indices to a multiple of the replicas
        orders.append(order[sampler.rank :: replicas])
    return orders


def test_fix_a_shuffle_written_by_hand_for_any_number_of_replicas_passes():
    assert check.epoch_orders(shard_by_hand).passed


def test_fix_a_shard_written_for_two_replicas_is_refused_and_named():
    verdict = check.epoch_orders(lambda sampler, epochs: shard_by_hand(sampler, epochs, replicas=2))
    assert verdict.mistake == "hard_coded_count", verdict
    assert "sampler.num_replicas" in verdict.message and "every third" in verdict.message, verdict


def test_fix_set_epoch_times_the_rank_is_refused_and_named():
    def times_rank(sampler, epochs):
        orders = []
        for epoch in range(epochs):
            sampler.set_epoch(epoch * sampler.rank)  # rank 0: always set_epoch(0)
            orders.append(list(sampler))
        return orders

    verdict = check.epoch_orders(times_rank)
    assert verdict.mistake == "shuffled_apart", verdict
    assert "same seed and epoch" in verdict.message and "rank 0" in verdict.message, verdict


def seeded_with_the_rank(sampler, epochs):  # the review's reproducer: seed + rank, meant for dropout, not the sampler
    from torch.utils.data.distributed import DistributedSampler

    mine = DistributedSampler(
        sampler.dataset,
        num_replicas=sampler.num_replicas,
        rank=sampler.rank,
        shuffle=True,
        seed=sampler.seed + sampler.rank,
    )
    out = []
    for e in range(epochs):
        mine.set_epoch(e)
        out.append(list(mine))
    return out


def epoch_plus_rank(sampler, epochs):
    return [list(sampler) for _ in map(sampler.set_epoch, (e + sampler.rank for e in range(epochs)))]


@pytest.mark.parametrize("answer", [seeded_with_the_rank, epoch_plus_rank], ids=["seed_plus_rank", "epoch_plus_rank"])
def test_fix_a_shuffle_that_depends_on_the_rank_is_not_called_off_by_one_epoch(answer):
    verdict = check.epoch_orders(answer)
    assert verdict.mistake == "shuffled_apart" and "off by one" not in verdict.message, verdict
    assert "only the slice differs" in verdict.message and "seed + rank" in verdict.message, verdict


@pytest.mark.parametrize(
    "epoch_of",
    [lambda s, e: e if s.rank else e + 1, lambda s, e: e if s.num_replicas == 2 else e + 1, lambda s, e: e + 1],
    ids=["wrong_on_rank_0_only", "wrong_unless_two_replicas", "off_by_one_everywhere"],
)
def test_fix_the_probes_include_rank_0_and_a_world_size_other_than_two(epoch_of):
    verdict = check.epoch_orders(
        lambda sampler, epochs: [
            list(sampler) for _ in map(sampler.set_epoch, (epoch_of(sampler, e) for e in range(epochs)))
        ]
    )
    assert not verdict.passed, verdict


def test_fix_set_epoch_off_by_one_on_every_rank_is_still_told_so():
    verdict = check.epoch_orders(lambda s, n: [list(s) for _ in map(s.set_epoch, range(1, n + 1))])
    assert verdict.mistake == "other" and "off by one epoch" in verdict.message, verdict


def test_an_answer_that_builds_a_sampler_of_the_same_class_passes():
    def rebuilt(sampler, epochs):
        again = type(sampler)(sampler.dataset, num_replicas=sampler.num_replicas, rank=sampler.rank, seed=sampler.seed)
        return [(again.set_epoch(epoch), list(again))[1] for epoch in range(epochs)]

    assert check.epoch_orders(rebuilt).passed


def test_fix13_set_epoch_called_each_epoch_with_the_order_read_once_before_the_loop_is_told_so():
    def read_once(sampler, epochs):
        order, out = list(sampler), []
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            out.append(order)
        return out

    verdict = check.epoch_orders(read_once)
    assert verdict.mistake == "no_set_epoch" and "reads the order only once" in verdict.message, verdict
    assert "call sampler.set_epoch(epoch) at the start of every epoch" not in verdict.message, verdict


def _orders_set_at_the_end(sampler, epochs):  # right for a fresh sampler only: its first epoch is wherever it was
    orders = []
    for epoch in range(epochs):
        orders.append(list(sampler))
        sampler.set_epoch(epoch + 1)
    return orders


def test_setting_the_next_epoch_at_the_end_of_each_fails_on_a_sampler_used_before():
    verdict = check.epoch_orders(_orders_set_at_the_end)
    assert not verdict.passed and "left at epoch 9" in verdict.message, verdict


def test_setting_the_epoch_first_passes_on_a_sampler_used_before():
    def orders(sampler, epochs):
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            yield list(sampler)

    assert check.epoch_orders(orders).passed
