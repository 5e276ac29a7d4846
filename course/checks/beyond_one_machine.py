"""Checks for lesson 15 (beyond one machine): the global batch and its learning rate, who saves, set_epoch.

Use in a notebook::

    from course.checks import beyond_one_machine as check
    check.scaled_lr(scaled_lr)
"""

from __future__ import annotations

from torch.utils.data import DistributedSampler

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import any_item
from course.checks.values import close, describe

# (base_lr, base_batch, batch_per_process, nproc_per_node, nnodes): every factor different, so each mistake differs;
# the second job makes sure the answer is computed, not the first job's number typed in
_JOBS = ((0.1, 64, 32, 4, 3), (0.05, 256, 64, 8, 2))


def _scaled_lr(base_lr, base_batch, batch_per_process, nproc_per_node, nnodes):
    return base_lr * batch_per_process * nproc_per_node * nnodes / base_batch


def _lr_gap(got: list, expected: list) -> str:
    job, mine, right = next((j, g, e) for j, g, e in zip(_JOBS, got, expected, strict=True) if not close(g, e))
    return (
        f"for (base_lr, base_batch, batch_per_process, nproc_per_node, nnodes) = {job} the rule gives {right:g}; "
        f"your function returned {describe(mine)}."
    )


scaled_lr = Exercise(
    name="scaled_lr",
    inputs=lambda: _JOBS,
    observe=lambda fn, jobs: [fn(*job) for job in jobs],
    reference=_scaled_lr,
    guards=[
        Guard(
            "not_a_number",
            any_item(lambda v: isinstance(v, (str, bool, list, tuple))),
            lambda *job: "0.6",
            "return one number, a float: not a string, a list or a bool.",
        )
    ],
    mistakes=[
        Mistake(
            "per_process_batch",
            lambda lr, base, b, p, n: lr * b / base,
            "you scaled by the batch of ONE process. Each optimizer step averages the batches of all "
            "nproc_per_node * nnodes processes: the global batch is batch_per_process * nproc_per_node * nnodes.",
        ),
        Mistake(
            "forgot_nodes",
            lambda lr, base, b, p, n: lr * b * p / base,
            "you counted the processes of one machine only; with --nnodes every machine runs its own processes.",
        ),
        Mistake(
            "forgot_procs",
            lambda lr, base, b, p, n: lr * b * n / base,
            "you counted one process per machine; each machine runs nproc_per_node of them.",
        ),
        Mistake(
            "inverted_ratio",
            lambda lr, base, b, p, n: lr * base / (b * p * n),
            "the ratio is upside down: a larger global batch gets a LARGER learning rate (linear scaling rule).",
        ),
        Mistake(
            "no_scaling",
            lambda lr, base, b, p, n: lr,
            "you returned the base learning rate: with a global batch 6 times larger, each step averages 6 times "
            "more samples, and the rule scales the learning rate by the same factor.",
        ),
    ],
    explain=_lr_gap,
    success="global batch 32 x 4 x 3 = 384 is 6 times the base batch of 64, so the learning rate is 6 x 0.1 = 0.6.",
)


_ENVS = (
    {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "8"},
    {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "8"},
    {"RANK": "4", "LOCAL_RANK": "0", "WORLD_SIZE": "8"},
    {"RANK": "7", "LOCAL_RANK": "3", "WORLD_SIZE": "8"},
)

should_save = Exercise(
    name="should_save",
    inputs=lambda: ([dict(env) for env in _ENVS],),
    observe=lambda fn, args: [fn(env) for env in args[0]],
    reference=lambda env: int(env["RANK"]) == 0,
    alternatives=[lambda env: env["RANK"] == "0", lambda env: not int(env["RANK"])],
    mistakes=[
        Mistake(
            "local_rank",
            lambda env: env["LOCAL_RANK"] == "0",
            "LOCAL_RANK is 0 once PER MACHINE: on 2 machines two processes write the same checkpoint at once. "
            "Use the global RANK.",
        ),
        Mistake(
            "string_rank",
            lambda env: env["RANK"] == 0,
            "False for every process, RANK 0 included: environment variables are strings and '0' == 0 is False. "
            "Compare int(env['RANK']) with 0.",
        ),
        Mistake(
            "everyone",
            lambda env: True,
            "every process would write: 8 copies of one file racing each other. Only RANK 0 should.",
        ),
        Mistake(
            "last_rank",
            lambda env: int(env["RANK"]) == int(env["WORLD_SIZE"]) - 1,
            "the last rank would do, but by convention it is RANK 0, the one that exists even in a one-process run.",
        ),
    ],
    explain=lambda got, exp: (
        f"return True for the one process that saves and False for the others: for RANK 0, "
        f"1, 4 and 7 your function returned {', '.join(map(describe, got))}."
    ),
    success="only global RANK 0 logs and saves: one process out of eight on 2 machines x 4 processes.",
)


def _epoch_orders(sampler, epochs):
    orders = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        orders.append([int(i) for i in sampler])
    return orders


def _late_set_epoch(sampler, epochs):
    orders = []
    for epoch in range(epochs):
        orders.append([int(i) for i in sampler])
        sampler.set_epoch(epoch)
    return orders


epoch_orders = Exercise(
    name="epoch_orders",
    inputs=lambda: (DistributedSampler(range(12), num_replicas=2, rank=1, shuffle=True, seed=3), 3),
    observe=lambda fn, args: [[int(i) for i in order] for order in fn(*args)],
    reference=_epoch_orders,
    alternatives=[lambda sampler, epochs: [(sampler.set_epoch(e), list(sampler))[1] for e in range(epochs)]],
    mistakes=[
        Mistake(
            "no_set_epoch",
            lambda sampler, epochs: [list(sampler) for _ in range(epochs)],
            "every epoch visits the samples in the same order: the sampler shuffles with seed + epoch, and the "
            "epoch never changed. Call sampler.set_epoch(epoch) at the start of each epoch.",
        ),
        Mistake(
            "set_epoch_late",
            _late_set_epoch,
            "epochs 0 and 1 have the same order: set_epoch came after reading the indices. Call it BEFORE.",
        ),
    ],
    explain=lambda got, exp: (
        "for each epoch e = 0, 1, ..., epochs - 1, return the order the sampler gives after "
        "sampler.set_epoch(e); " + ("yours are off by one epoch." if got[:-1] == exp[1:] else "yours differ.")
    ),
    success="set_epoch(epoch) before each epoch gives a new shuffle every epoch, the same one on every rank.",
)
