"""Checks for lesson 15: data-parallel training with ``torch.distributed``.

Use in a notebook::

    from course.checks import beyond_one_machine as check
    check.global_batch_size(global_batch_size)
"""

from __future__ import annotations

from collections.abc import Callable

from course.checks.verdict import Mistake, Verdict, call_learner, correct, judge, wrong

# (batch per process, processes per node, nodes) -> global batch
_BATCH_CASES = ((32, 4, 2), (8, 2, 1), (16, 1, 3), (10, 3, 2))


def _all_equal(fn: Callable, cases, expected: Callable) -> bool:
    return all(fn(*case) == expected(*case) for case in cases)


def global_batch_size(fn: object) -> Verdict:
    """Check ``global_batch_size(batch_per_process, nproc_per_node, nnodes) -> int``."""
    _, problem = call_learner(fn, 32, 4, 2)
    if problem is not None:
        return problem
    return judge(
        fn,
        lambda f: _all_equal(f, _BATCH_CASES, lambda b, p, n: b * p * n),
        "every process takes its own batch, so one optimizer step sees batch x processes per node x nodes "
        "samples (32 x 4 x 2 = 256).",
        [
            Mistake(
                "per_process",
                lambda f: _all_equal(f, _BATCH_CASES, lambda b, p, n: b),
                "your function returns the batch of ONE process. The DataLoader's batch_size is per process; "
                "each of the nproc_per_node * nnodes processes loads that many samples for every step.",
            ),
            Mistake(
                "forgot_nodes",
                lambda f: _all_equal(f, _BATCH_CASES, lambda b, p, n: b * p),
                "you counted the processes of one machine only. With --nnodes N, every node runs "
                "--nproc-per-node processes: multiply by nnodes too.",
            ),
            Mistake(
                "forgot_procs",
                lambda f: _all_equal(f, _BATCH_CASES, lambda b, p, n: b * n),
                "you counted one process per node. Each node runs nproc_per_node processes: multiply by it too.",
            ),
            Mistake(
                "divided",
                lambda f: (
                    _all_equal(f, _BATCH_CASES, lambda b, p, n: b / (p * n))
                    or _all_equal(f, _BATCH_CASES, lambda b, p, n: b // (p * n))
                ),
                "you divided the batch among the processes. The DataLoader's batch_size is already per process: "
                "the global batch is that number MULTIPLIED by the number of processes.",
            ),
        ],
        otherwise="for (32, 4, 2) expected 256. Multiply the per-process batch by every process in the job.",
    )


_ENVS = (
    {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "8"},
    {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "8"},
    {"RANK": "4", "LOCAL_RANK": "0", "WORLD_SIZE": "8"},
    {"RANK": "7", "LOCAL_RANK": "3", "WORLD_SIZE": "8"},
)


def _answers(fn: Callable) -> list:
    return [fn(dict(env)) for env in _ENVS]


def should_save(fn: object) -> Verdict:
    """Check ``should_save(env: dict) -> bool``: True in exactly one process of the whole job (global rank 0)."""
    _, problem = call_learner(fn, dict(_ENVS[0]))
    if problem is not None:
        return problem
    return judge(
        fn,
        lambda f: _answers(f) == [True, False, False, False],
        "only the process with global RANK 0 logs and writes the checkpoint; on 2 nodes x 4 processes "
        "that is one process out of eight.",
        [
            Mistake(
                "string_rank",
                lambda f: _answers(f) == [False] * 4,
                "your function says False for every process, including RANK 0. Environment variables are strings: "
                "'0' == 0 is False. Convert first: int(env['RANK']) == 0.",
            ),
            Mistake(
                "local_rank",
                lambda f: _answers(f) == [True, False, True, False],
                "you used LOCAL_RANK, which is 0 once PER MACHINE: on 2 nodes two processes would write the same "
                "checkpoint. Use the global RANK.",
            ),
            Mistake(
                "everyone",
                lambda f: _answers(f) == [True] * 4,
                "every process would write: 8 copies of the same file, racing each other. Return True only "
                "where int(env['RANK']) == 0.",
            ),
            Mistake(
                "last_rank",
                lambda f: _answers(f) == [False, False, False, True],
                "you picked the last rank. Any single rank would work, but by convention (and in the script) it is "
                "RANK 0, the one that always exists, even in a one-process run.",
            ),
        ],
        otherwise="expected True for RANK '0' and False for RANK '1', '4' and '7'. Compare int(env['RANK']) with 0.",
    )


def _expected_orders(sampler, epochs: int) -> list[list[int]]:
    orders = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        orders.append([int(i) for i in sampler])
    return orders


def epoch_orders(fn: object) -> Verdict:
    """Check ``epoch_orders(sampler, epochs) -> list[list[int]]``: the indices each epoch visits, reshuffled per epoch."""
    from torch.utils.data import DistributedSampler

    def make_sampler() -> DistributedSampler:
        return DistributedSampler(range(12), num_replicas=2, rank=1, shuffle=True, seed=3)

    result, problem = call_learner(fn, make_sampler(), 3)
    if problem is not None:
        return problem
    expected = _expected_orders(make_sampler(), 3)
    try:
        found = [[int(i) for i in order] for order in result]
    except Exception:
        return wrong(
            "not_orders",
            f"expected a list with one list of indices per epoch, got {type(result).__name__}. "
            "Return e.g. [list(sampler) for each epoch].",
        )
    if found == expected:
        return correct(
            "set_epoch(epoch) before each epoch gives a new shuffle every epoch, the same one on every rank."
        )
    if len(found) != len(expected):
        return wrong("wrong_length", f"expected one order per epoch (3 lists for epochs=3), got {len(found)}.")
    if all(order == expected[0] for order in found):
        return wrong(
            "no_set_epoch",
            "every epoch visits the samples in the same order: the sampler shuffles with seed + epoch, and the "
            "epoch never changed. Call sampler.set_epoch(epoch) at the start of each epoch.",
        )
    if found[1:] == expected[:-1]:
        return wrong(
            "set_epoch_late",
            "each epoch uses the previous epoch's shuffle (epochs 0 and 1 are equal): you call set_epoch after "
            "iterating. Call sampler.set_epoch(epoch) BEFORE reading the epoch's indices.",
        )
    return wrong("other", f"expected {expected}, got {found}. Set the epoch, then list the sampler, once per epoch.")


__all__ = ["epoch_orders", "global_batch_size", "should_save"]
