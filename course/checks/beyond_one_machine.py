"""Checks for lesson 15 (beyond one machine): the global batch and its learning rate, who saves, set_epoch.

The probes tell the wrong answers apart: two jobs whose five factors all differ (the second catches a typed-in 0.6,
its ratio 2.5 an integer division), four processes of 2 machines x 4 where RANK, LOCAL_RANK and the last rank
disagree, a one-process run (WORLD_SIZE 1), which saves too, and RANK 10 of 16, which holds the digit 0 yet does not
save; each env a dict noting whether the answer read it (not os.environ, which no launcher set here). The epoch orders
come from 3 epochs of 12 items at rank 2 of 3, 4 of 13 at rank 1 of 2, padded (rank 1 gets the first index again),
2 of 10 at rank 0 of 4, the last two samplers left at epoch 9 by an earlier run: no fixed number of epochs, shuffle by
hand without the padding or for 2 ranks, epoch or seed from the rank (0 * epoch on rank 0) fits them all.
"""

from __future__ import annotations

import itertools
import operator
import os
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import any_item
from course.checks.values import close, describe, exact_as_float, safe_text
from course.checks.vocabulary import MISTAKES

_JOBS = ((0.1, 64, 32, 4, 3), (0.05, 256, 40, 8, 2))  # (base_lr, base_batch, batch_per_process, nproc_per_node, nnodes)
_ENVS = [("0", "0", "8"), ("1", "1", "8"), ("4", "0", "8"), ("7", "3", "8"), ("0", "0", "1"), ("10", "2", "16")]
_RUNS = "RANK 0, 1, 4 and 7 of 8 processes, a one-process run (RANK 0 of WORLD_SIZE 1) and RANK 10 of 16"
_SAMPLERS = ((12, 3, 2, 3, 3, 0), (13, 2, 1, 5, 4, 9), (10, 4, 0, 7, 2, 9))  # items, replicas, rank, seed, epochs, at
_DIFFERS = [f"the {e} epochs of {n} items at rank {r} of {k}" + f", a sampler an earlier run left at epoch {at}" * bool(at)
            for n, k, r, _, e, at in _SAMPLERS]  # fmt: skip
_SAY = {  # more than the vocabulary says
    "per_process_batch": "you used ONE process's batch; the global one is batch_per_process * nproc_per_node * nnodes.",
    "no_scaling": "you returned the base learning rate: a global batch 6x larger gets a learning rate 6x larger.",
    "local_rank": "your function says True for RANK 0 and RANK 4, the first process of EACH machine (LOCAL_RANK 0 "
    "there), so on 2 machines two processes would save: only the global RANK 0 should, int(env['RANK']) == 0.",
    "string_rank": "no process would save, not even that of a one-process run: if you compared RANK with the number "
    "0, environment variables are strings: convert with int() first.",
    "nobody_saves": "no process of the job of 8 would save, only that of a one-process run: in every job, whatever "
    "WORLD_SIZE, exactly one process saves, the one of global RANK 0, int(env['RANK']) == 0.",
    "ignored_env": "your function never looked at env, the dict it is given: read the rank from it, int(env['RANK']). "
    "The check passes each process's variables in env; os.environ is this notebook's own environment, which no "
    "launcher set (RANK may not be there at all). In a real job you would call should_save(os.environ).",
    "flat": "return one list of indices per epoch: a list of `epochs` lists.",
    "reread": "your loop calls sampler.set_epoch(epoch) in each epoch, but reads the order only once (before the "
    "loop, say), so every epoch has the same order: read list(sampler) inside the loop, after each set_epoch(epoch).",
    "not_indices": "each epoch's order should hold the integer indices themselves, as list(sampler) gives them.",
    "last_rank": "the last rank would do, but by convention it is RANK 0, which exists even in a one-process run.",
    "shuffled_apart": "the rank changes your shuffle (set_epoch(epoch * rank) or (epoch + rank), seed + rank): each "
    "rank slices another permutation, so shares can overlap, some samples seen twice in an epoch, others never (with "
    "epoch * rank, rank 0 repeats one order). Every rank must shuffle with the same seed and epoch, only the slice "
    "differs: keep the sampler's seed, call sampler.set_epoch(epoch); seed + rank is for dropout and augmentation.",
    "hard_coded_count": "your shard takes every second index as if there were always 2 ranks (of 3, each takes every "
    "third): pad to sampler.total_size, slice [rank::sampler.num_replicas], or read list(sampler) after set_epoch.",
}


_not_a_number = lambda value: isinstance(value, (str, bool, list, tuple))  # noqa: E731
_bool_tensor = lambda v: isinstance(v, torch.Tensor) and v.dtype == torch.bool and v.numel() == 1 and not v.is_meta  # noqa: E731


class _Env(dict):
    """One process's variables, as the probes pass them: each look into it (a key, a method) is noted in ``reads``."""

    def __init__(self, env: dict, reads: list) -> None:
        super().__init__(env)
        self._reads = reads

    def __getattribute__(self, name: str) -> object:
        if not name.startswith("_"):  # get, keys, items, ...
            object.__getattribute__(self, "_reads").append(name)
        return super().__getattribute__(name)

    def __getitem__(self, key: object) -> object:
        self._reads.append(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._reads.append(key)
        return super().__contains__(key)

    def __iter__(self):  # also makes dict(env) and {**env} ask for keys()
        self._reads.append("iter")
        return super().__iter__()


def _saves(fn, envs: list) -> list | str:
    """The answers for each env (:func:`_answers`); "ignored" when the function never looked into one (raising or
    not: it read os.environ, or nothing)."""
    reads: list = []
    try:
        got = [fn(_Env(env, reads)) for env in envs]
    except Exception as exc:
        if reads or isinstance(exc, NotImplementedError):  # a stub is not attempted, whatever it read
            raise
        return "ignored"
    return _answers(got) if reads else "ignored"


def _answers(values: list) -> list:
    """Yes or no answers as bools when every one is True or False, 1 or 0, a NumPy bool or a one-element bool tensor
    (``if should_save(env):`` reads them alike); else as they came."""
    yes_no = all(isinstance(v, bool | np.bool_) or (type(v) is int and v in (0, 1)) or _bool_tensor(v) for v in values)
    return [bool(v) for v in values] if yes_no else values


scaled_lr = Exercise(
    name="scaled_lr",
    inputs=lambda: _JOBS,
    observe=lambda fn, jobs: [exact_as_float(fn(*job)) for job in jobs],
    reference=lambda lr, base, b, p, n: lr * b * p * n / base,
    guards=[
        Guard("returned_none", any_item(lambda v: v is None), lambda *job: None),
        Guard(
            "not_a_number",
            any_item(_not_a_number),
            lambda *job: "0.6",
            lambda got, _: f"return one number, the learning rate; got {describe(next(filter(_not_a_number, got)))}.",
        ),
    ],
    mistakes=[
        Mistake("per_process_batch", lambda lr, base, b, p, n: lr * b / base, _SAY["per_process_batch"]),
        Mistake("forgot_nodes", lambda lr, base, b, p, n: lr * b * p / base),
        Mistake("forgot_procs", lambda lr, base, b, p, n: lr * b * n / base),
        Mistake("inverted_ratio", lambda lr, base, b, p, n: lr * base / (b * p * n)),
        Mistake("no_scaling", lambda lr, base, b, p, n: lr, _SAY["no_scaling"]),
    ],
    alternatives=[  # exact numbers: judged as their float
        lambda lr, base, b, p, n: Fraction(str(lr)) * b * p * n / base,
        lambda lr, base, b, p, n: Decimal(str(lr)) * b * p * n / base,
    ],
    explain=lambda got, exp: next(
        f"for (base_lr, base_batch, batch_per_process, nproc_per_node, nnodes) = {job} the rule gives {right:g}; "
        f"your function returned {describe(mine)}."
        for job, mine, right in zip(_JOBS, got, exp, strict=True)
        if not close(mine, right)
    ),
    success="global batch 32 x 4 x 3 = 384 is 6 times the base batch of 64, so the learning rate is 6 x 0.1 = 0.6.",
)

should_save = Exercise(
    name="should_save",
    inputs=lambda: ([{"RANK": rank, "LOCAL_RANK": local, "WORLD_SIZE": size} for rank, local, size in _ENVS],),
    observe=lambda fn, args: _saves(fn, args[0]),
    reference=lambda env: int(env["RANK"]) == 0,
    guards=[
        Guard(
            "ignored_argument",
            lambda got: got == "ignored",
            lambda env: os.environ.get("RANK", "0") == "0",
            _SAY["ignored_env"],
        ),
        Guard(
            "wrong_dtype",
            any_item(lambda v: type(v) is not bool),
            lambda env: int(env["RANK"]) == 0 or None,
            lambda got, _: (
                "return a bool, True for the one process that saves and False for the others: for "
                f"{_RUNS} your function returned {', '.join(map(describe, got))}."
            ),
        ),  # then no process saves at all, or none of the job of 8 (the one of a one-process run does)
        Guard("string_rank", lambda got: not any(got), lambda env: env["RANK"] == 0, _SAY["string_rank"]),
        Guard(
            "nobody_saves",
            lambda got: not any(got[:4]),
            lambda env: env["LOCAL_RANK"] == "0" and env["WORLD_SIZE"] == "1",
            _SAY["nobody_saves"],
        ),
    ],
    alternatives=[
        lambda env: env["RANK"] == "0",
        lambda env: not int(env["RANK"]),
        lambda env: int(env["RANK"] == "0"),
        lambda env: torch.tensor(int(env["RANK"])) == 0,
    ],
    mistakes=[
        Mistake("local_rank", lambda env: env["LOCAL_RANK"] == "0", _SAY["local_rank"]),
        Mistake("everyone", lambda env: "RANK" in env),  # a distributed process: every one of them
        Mistake("last_rank", lambda env: int(env["RANK"]) == int(env["WORLD_SIZE"]) - 1, _SAY["last_rank"]),
    ],
    explain=lambda got, exp: (
        "return True for the one process that saves (RANK 0, in a one-process run too) and False for the others: "
        f"for {_RUNS} your function returned {', '.join(map(describe, got))}."
    ),
    success="only global RANK 0 logs and saves: one process out of eight on 2 machines x 4 processes, and the only "
    "process of a one-process run.",
)


class _Sampler(DistributedSampler):
    """A DistributedSampler that notes the epochs set_epoch is given; built as its parent is (type(sampler)(...))."""

    def set_epoch(self, epoch: int) -> None:
        self.__dict__.setdefault("epochs_set", []).append(epoch)
        super().set_epoch(epoch)


def _sampler(n: int, replicas: int, rank: int, seed: int, at: int = 0) -> _Sampler:  # a shuffling one, of range(n)
    sampler = _Sampler(range(n), num_replicas=replicas, rank=rank, shuffle=True, seed=seed)
    sampler.epoch = at  # where an earlier run left it: a loop calling set_epoch(epoch + 1) at the end of each fails
    return sampler


class _Orders(list):
    """Each run's orders, compared as a list, with the epochs the answer gave the probe's sampler.set_epoch."""

    epochs_set: list


def _orders_of_all(fn, args: tuple) -> list | str | None:
    """:func:`_orders` for each of :data:`_SAMPLERS`, the first the probe's, whose set_epoch calls are noted; the first
    of "not_nested", "not_indices" or None found when an answer is not orders."""
    runs = _Orders([_orders(fn, args), *(_orders(fn, (_sampler(*run[:4], run[5]), run[4])) for run in _SAMPLERS[1:])])
    runs.epochs_set = list(getattr(args[0], "epochs_set", []))
    return next((run for run in runs if run is None or isinstance(run, str)), runs)


def _two_ranks(s: DistributedSampler, n: int) -> list:  # a shuffle by hand for 2 ranks: padded to even, every 2nd
    orders = (torch.randperm(len(s.dataset), generator=torch.Generator().manual_seed(s.seed + e)) for e in range(n))
    return [torch.cat([o, o[: len(o) % 2]])[s.rank :: 2].tolist() for o in orders]


def _by_rank(by: Callable[[int, int], int]) -> Callable[..., list]:  # the loop calling set_epoch(by(epoch, rank))
    return lambda s, n: [list(s) for _ in map(s.set_epoch, map(by, range(n), [s.rank] * n))]


def _one_epoch(got: object) -> tuple[str, int] | None:
    """The number the answer gave set_epoch and how many times, when it always gave the same one and the epochs of
    the first run came out in one order."""
    epochs = [safe_text(epoch, 20) for epoch in getattr(got, "epochs_set", ())]
    runs = got if isinstance(got, _Orders) else [[]]  # the first run: epochs all alike (one alone: a loop cut short)
    same_order = len(runs[0]) > 1 and all(order == runs[0][0] for order in runs[0])
    return (epochs[0], len(epochs)) if same_order and epochs and len(set(epochs)) == 1 else None


def _same_epoch(got: object, _: object) -> str:
    """The message for every epoch in one order: set_epoch never called, called once, given one number, or read once."""
    if (called := _one_epoch(got)) is None:  # one order each epoch, yet set_epoch given several numbers: read once
        return _SAY["reread"] if getattr(got, "epochs_set", None) else MISTAKES["no_set_epoch"]
    epoch, times = called
    where = "every epoch: the epoch number it passes never changes" if times > 1 else "once, not in each epoch"
    return (
        f"your loop calls sampler.set_epoch({epoch}) {where}, so every epoch has the same order. Call "
        "sampler.set_epoch(epoch) at the start of each epoch, with the loop's epoch, which is 0, 1, 2, ... in turn."
    )


def _orders(fn, args: tuple) -> list | str | None:
    """Each epoch's indices as a list of ints, from any iterable of iterables of integers (int, NumPy or tensor);
    "not_nested" from anything else, "not_indices" when an index is no integer (a float, a string)."""
    result, most = fn(*args), len(args[0]) + 1  # no more epochs, nor indices per epoch, than that are read
    try:  # islice: list() of an endless iterator (itertools.cycle) runs in C, where no time limit can stop it
        orders = [list(itertools.islice(order, most)) for order in itertools.islice(result, args[1] + 1)]
    except TypeError:  # an int where an epoch's order should be, or nothing to iterate
        return None if result is None else "not_nested"
    try:
        return [[operator.index(i) for i in order] for order in orders]
    except TypeError:
        return "not_indices"


epoch_orders = Exercise(
    name="epoch_orders",
    inputs=lambda: (_sampler(*_SAMPLERS[0][:4]), _SAMPLERS[0][4]),
    observe=_orders_of_all,
    guards=[
        Guard("wrong_shape", lambda got: got == "not_nested", lambda sampler, n: list(range(n)), _SAY["flat"]),
        Guard("wrong_dtype", lambda got: got == "not_indices", lambda sampler, n: [[0.0]] * n, _SAY["not_indices"]),
        Guard(
            "no_set_epoch",
            lambda got: _one_epoch(got) is not None,  # before the values compare: set_epoch(2) once reads as
            lambda sampler, n: [list(sampler) for _ in [sampler.set_epoch(n - 1)] * n],
            _same_epoch,
        ),  # read_after_loop's orders, set_epoch(0) as no call at all
    ],
    reference=lambda sampler, epochs: [list(sampler) for _ in map(sampler.set_epoch, range(epochs))],  # set, then read
    alternatives=[lambda sampler, epochs: [(sampler.set_epoch(e), list(sampler))[1] for e in range(epochs)]],
    mistakes=[
        Mistake("no_set_epoch", lambda sampler, epochs: [list(sampler) for _ in range(epochs)], _same_epoch),
        Mistake("read_after_loop", lambda sampler, epochs: [sampler for _ in map(sampler.set_epoch, range(epochs))]),
        Mistake("set_epoch_late", lambda s, n: [(list(s), s.set_epoch(e))[0] for e in range(n)]),
        *(Mistake("shuffled_apart", _by_rank(by), _SAY["shuffled_apart"]) for by in (operator.mul, operator.add)),
        Mistake("hard_coded_count", _two_ranks, _SAY["hard_coded_count"]),
    ],
    explain=lambda got, exp: (
        "for each epoch e = 0, 1, ..., epochs - 1, return the order the sampler gives after sampler.set_epoch(e), "
        "as many as epochs asks for, each as long as the sampler (it repeats indices to give every rank as many); "
        + (
            "yours are off by one epoch."
            if all(g[:-1] == e[1:] for g, e in zip(got, exp, strict=True))
            else f"yours differ for {next(d for d, g, e in zip(_DIFFERS, got, exp, strict=True) if g != e)}."
        )
    ),
    success="set_epoch(epoch) before each epoch gives a new shuffle every epoch, the same one on every rank.",
)
