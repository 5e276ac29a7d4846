"""Checks for lesson 10 (datasets and DataLoaders): a windowed Dataset, batch sizes, split loaders, one epoch.

Batch sizes are asked for by arithmetic: a DataLoader or BatchSampler that gives them (iterated, or its len) is named.
The loader check calls the learner's function with generators seeded alike and seeded differently and reads the
batches the loaders yield over two epochs, however they were built. The epoch check hands over a stand-in step that
records every batch and a shuffled loader that records the batches it yields (:mod:`course.checks.epoch_probe`), on
the ``meta`` device (on every machine), then on the cpu, where the step reads its samples."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Subset, TensorDataset, random_split

from course.checks import epoch_probe as probe
from course.checks.engine import Exercise, Guard, Library, Mistake
from course.checks.epoch_probe import GRAD_OFF, OTHERS, epoch_inputs, lost_batch, observe_epoch
from course.checks.probes import tag_is
from course.checks.values import close, describe, safe_text

SERIES, WINDOW = [0.5, 1.5, 3.0, 2.0, 4.5, 6.0, 5.0, 7.5, 9.0, 8.0], 3
REVERSED, SIZES = SERIES[::-1], ((10, 3), (9, 4))  # the probes' sizes, windows: the second's is REVERSED[:-1]
_windows = lambda **methods: type("Windows", (_Windows,), methods)  # noqa: E731  (the right class, methods replaced)
PAIR = "dataset[i] should be a pair: return features, target (a tuple of two tensors)."
TENSORS = "return tensors (slices of series), not lists or numbers, so a DataLoader can stack them into batches."
NUMPY = "dataset[i] holds NumPy arrays, not tensors: return the slices of series themselves, without .numpy()."
DTYPE = (
    "dataset[i] holds {} tensors, but series is float32: return slices of series as they are, in its dtype (no "
    ".double(), no dtype=): nn.Linear's float32 weights fail on such batches, "
    '"mat1 and mat2 must have the same dtype".'
)


class _Windows(Dataset):
    def __init__(self, series: torch.Tensor, window: int) -> None:
        self.series, self.window = series, window

    def __len__(self) -> int:
        return len(self.series) - self.window

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.series[i : i + self.window], self.series[i + self.window : i + self.window + 1]


def _observe_windows(cls: object, args: tuple) -> tuple:
    """(the items' form: "ok", "not_a_pair", "numpy_items" or "not_a_tensor"; both probes' len; every item), then the
    items for 9 values with a window of 4: a class that ignores its ``series`` or ``window`` (its len too) shows."""
    probes = [args, (args[0].flip(0)[:-1], args[1] + 1)]
    datasets = [(cls(series, window), len(series) - window) for series, window in probes]
    items = [[data[i] for i in range(count)] for data, count in datasets]
    pairs = all(isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in items[0] + items[1])
    others = [t for pair in items[0] + items[1] for t in pair if not torch.is_tensor(t)] if pairs else [None]
    numpy = others and all(isinstance(t, np.ndarray) for t in others)
    cast = not others and any(t.dtype != args[0].dtype for pair in items[0] + items[1] for t in pair)  # not slices
    return ("dtype_changed" if cast else "ok" if not others else "numpy_items" if numpy else "not_a_tensor" if pairs
            else "not_a_pair", [len(data) for data, _ in datasets], *items)  # fmt: skip


def _explain_length(got: tuple, expected: tuple) -> str:  # every item right: a len wrong for one probe
    (n, w), mine = next(((SIZES[k], got[1][k]) for k in (0, 1) if got[1][k] != expected[1][k]), (SIZES[0], 0))
    return (f"the items are right, but len(dataset) should be len(series) - window = {n - w} for {n} values and window "
            f"{w}; yours is {mine}.")  # fmt: skip


def _explain_windows(got: tuple, expected: tuple) -> str:  # the first item not right (all alike: the index ignored)
    if close(got[2], expected[2]):  # then the second probe's, then the lengths
        return _explain_length(got, expected) if close(got[3], expected[3]) else (f"for 9 values (the series "
            f"reversed, less its last) and window=4, dataset[0] should be ({REVERSED[:4]}, [{REVERSED[4]}]); yours is "
            f"{[t.tolist() for t in got[3][0]]}: use the series and the window the class is given.")  # fmt: skip
    i = next((i for i, (mine, right) in enumerate(zip(got[2], expected[2], strict=True)) if not close(mine, right)), 0)
    same = " (every item is the same: __getitem__ ignores its index)" * all(close(item, got[2][0]) for item in got[2])
    at = f"dataset[{i}] is ({SERIES[i : i + 3]}, [{SERIES[i + 3]}]); yours has len {got[1][0]} and dataset[{i}] = "
    return f"with 10 values, window 3, len(dataset) is {expected[1][0]} and {at}{[t.tolist() for t in got[2][i]]}{same}"


def _cast(got: tuple) -> str:  # the dtype an item was cast to, as the message names it: "float64"
    items = [t for pair in got[2] + got[3] for t in pair]
    return next(str(t.dtype).removeprefix("torch.") for t in items if t.dtype != torch.float32)


window_dataset = Exercise(
    name="window_dataset", inputs=lambda: (torch.tensor(SERIES), WINDOW), reference=_Windows, observe=_observe_windows,
    guards=[
        Guard("not_a_pair", tag_is("not_a_pair"), _windows(__getitem__=lambda s, i: i), PAIR),
        Guard("not_a_tensor", tag_is("not_a_tensor"), _windows(__getitem__=lambda s, i: (i, i)), TENSORS),
        Guard("not_a_tensor", tag_is("numpy_items"), _windows(__getitem__=lambda s, i: tuple(t.numpy() for t in
              _Windows.__getitem__(s, i))), NUMPY),
        Guard("wrong_dtype", tag_is("dtype_changed"), _windows(__getitem__=lambda s, i: tuple(t.double() for t in
              _Windows.__getitem__(s, i))), lambda got, _: DTYPE.format(_cast(got))),
    ],
    mistakes=[
        Mistake("len_off_by_one", _windows(__len__=lambda s: len(s.series) - s.window + 1)),
        Mistake("len_of_series", _windows(__len__=lambda s: len(s.series))),
        Mistake("target_in_window", _windows(__getitem__=lambda s, i: (s.series[i : i + s.window],
                                                                       s.series[i + s.window - 1 : i + s.window]))),
        Mistake("target_not_column", _windows(__getitem__=lambda s, i: (s.series[i : i + s.window],
                                                                        s.series[i + s.window]))),
        Mistake("swapped_pair", _windows(__getitem__=lambda s, i: _Windows.__getitem__(s, i)[::-1])),
    ],
    alternatives=[_windows(__getitem__=lambda s, i: (s.series[i : i + s.window], s.series[i + s.window].unsqueeze(0)))],
    explain=_explain_windows,
    success="7 windows from 10 values: item i is (series[i:i+3], series[i+3:i+4]); batches of (B, 3) and (B, 1).",
)  # fmt: skip

# a size that divides n, one that leaves 1, one larger than n: each with and without drop_last
CASES = [(n, size, drop) for n, size in ((100, 10), (101, 10), (5, 10), (1000, 64)) for drop in (False, True)]


def _sizes(n: int, b: int, drop_last: bool) -> list[int]:
    return [b] * (n // b) + ([n % b] if n % b and not drop_last else [])


def _named(method: object, name: str) -> object:  # ``method``, watched, under the name a learner knows: DataLoader
    watched = functools.wraps(method)(lambda *args, **kwargs: method(*args, **kwargs))
    watched.__module__, watched.__name__ = "torch.utils.data", name
    return watched


_LOADERS = [  # what batches a DataLoader, iterated or counted: the statement asks for arithmetic instead
    Library(_named(DataLoader.__iter__, "DataLoader"),
            lambda n, b, d: [len(x) for x in DataLoader(range(n), b, drop_last=d)]),
    Library(_named(BatchSampler.__iter__, "BatchSampler"),
            lambda n, b, d: [len(x) for x in BatchSampler(range(n), b, d)]),
    Library(_named(DataLoader.__len__, "DataLoader.__len__"),
            lambda n, b, d: [b] * len(DataLoader(range(n), b, drop_last=True)) + [n % b] * (not d and n % b > 0)),
    Library(_named(BatchSampler.__len__, "BatchSampler.__len__"),
            lambda n, b, d: [b] * len(BatchSampler(range(n), b, True)) + [n % b] * (not d and n % b > 0)),
]  # fmt: skip
FLOAT_SIZES = ("batch sizes are integers: DataLoader rejects a float batch_size, and a batch holds whole samples: use "
               "n // batch_size and n % batch_size, not /.")  # fmt: skip

batch_sizes = Exercise(
    name="batch_sizes", reference=_sizes, observe=lambda fn, args: [fn(*case) for case in CASES],
    guards=[Guard("not_a_list", lambda got: not all(isinstance(s, (list, tuple)) for s in got), lambda n, b, d: 4),
            Guard("wrong_dtype", lambda got: any(isinstance(s, float) for sizes in got for s in sizes),
                  lambda n, b, d: [s / 1 for s in _sizes(n, b, d)], FLOAT_SIZES)],
    mistakes=[Mistake("empty_last_batch", lambda n, b, d: [b] * (n // b) + ([] if d else [n % b])),
        Mistake("ignores_drop_last", lambda n, b, d: _sizes(n, b, False)),
        Mistake("always_drops", lambda n, b, d: _sizes(n, b, True)),
        Mistake("drop_last_reversed", lambda n, b, d: _sizes(n, b, not d)),
        Mistake("last_batch_full", lambda n, b, d: [b] * (n // b if d else math.ceil(n / b)))],
    alternatives=[lambda n, b, d: [min(b, n - s) for s in range(0, n, b) if not d or n - s >= b]], library=_LOADERS,
    explain=lambda got, expected: next(
        f"for n_samples={n}, batch_size={b}, drop_last={d} a DataLoader gives {want}; you returned {had}."
        for (n, b, d), had, want in zip(CASES, got, expected, strict=True) if not close(had, want)),
    success="full batches, then the remainder n % batch_size if there is one and drop_last is False.",
)  # fmt: skip

# the bugs _loaders can make, and a part left out of both loaders: _observe_loaders reports the first it finds, in
# this order (a wrong batch size first: with drop_last, it could leave training samples unseen)
BUGS = ("wrong_batch_size", "swapped_split", "whole_dataset", "resampled", "wrong_split_sizes", "overlap", "left_out",
        "unseeded_split", "train_not_shuffled", "val_drop_last", "val_shuffled")  # fmt: skip
_visited = lambda epochs: {v for epoch in epochs for batch in epoch for v in batch}  # noqa: E731  (sample numbers)


def _loaders(bug: str = "") -> object:
    """make_loaders as it should be, with one of BUGS, or in another right form (a sampler, one validation batch)."""

    def make_loaders(dataset, batch_size, generator):
        parts = {"swapped_split": [0.2, 0.8], "wrong_split_sizes": [0.5, 0.5]}.get(bug, [0.8, 0.2])
        train, val = random_split(dataset, parts, generator=None if bug == "unseeded_split" else generator)
        val = Subset(dataset, train.indices[: len(val)]) if bug == "overlap" else val
        val = Subset(dataset, val.indices[:batch_size]) if bug == "left_out" else val
        batch = 32 if bug == "wrong_batch_size" else batch_size
        train_loader = {"sampler": lambda: DataLoader(train, batch, sampler=RandomSampler(train)),
            "whole_dataset": lambda: DataLoader(dataset, batch, shuffle=True),  # not train
            "resampled": lambda: DataLoader(train, batch, sampler=RandomSampler(train, replacement=True)),
            "batch_sampler": lambda: DataLoader(train, batch_sampler=BatchSampler(RandomSampler(train), batch, False)),
        }.get(bug, lambda: DataLoader(train, batch, shuffle=bug != "train_not_shuffled"))()  # fmt: skip
        val_batch = len(val) if bug == "whole_validation" else batch
        return train_loader, DataLoader(val, val_batch, shuffle=bug == "val_shuffled", drop_last=bug == "val_drop_last")

    return make_loaders


def _split_inputs(seed: int = 0, n: int = 50) -> tuple:
    data = TensorDataset(torch.arange(float(n)).reshape(n, 1), torch.zeros(n, 1))
    return data, 8, torch.Generator().manual_seed(seed)


def _epochs(loader: DataLoader) -> list[list[list[int]]]:  # two epochs' batches as samples' numbers, however built
    return [[[int(v) for v in batch[0].reshape(-1)] for batch in loader] for _ in range(2)]


def _train_size_of_60(fn: object) -> int | None:  # how many of 60 samples it trains on: sizes written in for 50 show
    try:
        return len(_visited(_epochs(fn(*_split_inputs(n=60))[0])))
    except Exception:
        return None


def _observe_loaders(fn: object, args: tuple) -> tuple[str]:
    """The first of BUGS found in the batches the loaders yield over two epochs, or "ok"."""
    runs = [fn(*args), fn(*_split_inputs()), fn(*_split_inputs(seed=1))]
    if not all(isinstance(r, (tuple, list)) and [isinstance(d, DataLoader) for d in r] == [True] * 2 for r in runs):
        return ("not_loaders",)
    try:
        (train, val), splits = (_epochs(loader) for loader in runs[0]), [_visited(_epochs(r[0])) for r in runs[1:]]
    except Exception as exc:  # the batches are not (xb, yb) pairs of the dataset's samples
        return ("odd_batches", f"{type(exc).__name__}: {safe_text(exc)}")
    part, sizes = _visited(train), [[len(batch) for batch in epoch] for epoch in train]
    unseen = [set(range(50)) - part - _visited([epoch]) for epoch in val]  # in no part, epoch by epoch
    found = {
        "wrong_batch_size": any(s[:-1] != [8] * (len(s) - 1) or not 0 < s[-1] <= 8 for s in sizes if s),
        "swapped_split": len(part) == 10, "wrong_split_sizes": len(part) != 40 or _train_size_of_60(fn) != 48,
        "whole_dataset": len(part) == 50, "resampled": any(sorted(sum(epoch, [])) != sorted(part) for epoch in train),
        "overlap": bool(part & _visited(val)),
        "left_out": any(unseen) and not getattr(runs[0][1].batch_sampler, "drop_last", False),  # found, then named
        "unseeded_split": splits[0] != part or splits[1] == part,  # same seed, same split; another, another
        "train_not_shuffled": train[0] == train[1], "val_drop_last": any(unseen),
        "val_shuffled": val[0] != val[1]}  # two epochs, two orders  # fmt: skip
    return (next((bug for bug in BUGS if found[bug]), "ok"),)


_IDS = {"left_out": "wrong_split_sizes", "whole_dataset": "overlap", "resampled": "wrong_split_sizes"}  # not ids
MESSAGES = {"left_out": "some samples are in neither loader: split the whole dataset, random_split(dataset, "
    "[0.8, 0.2], generator=generator), and use both parts.",
    "whole_dataset": "the training loader goes over all 50 samples, validation ones too: DataLoader(train_set, ...).",
    "resampled": "the training loader does not visit every training sample once per epoch (a sampler with replacement, "
    "num_samples or weights draws some twice and skips others): shuffle=True visits each once.",
    "unseeded_split": "the split must follow the generator you are given: random_split(..., generator=generator).",
    "wrong_batch_size": "the training loader should yield batches of the batch_size given (the last may be "
    "shorter)."}  # fmt: skip
split_loaders = Exercise(
    name="split_loaders", inputs=_split_inputs, reference=_loaders(), observe=_observe_loaders,
    guards=[Guard("not_loaders", tag_is("not_loaders"), lambda dataset, batch_size, generator: dataset),
            *(Guard(_IDS.get(bug, bug), tag_is(bug), _loaders(bug), MESSAGES.get(bug)) for bug in BUGS)],
    alternatives=[_loaders(form) for form in ("sampler", "batch_sampler", "whole_validation")],
    explain=lambda got, _: f"iterating your loaders raised {got[1]}: each batch should be (xb, yb), as a "
    "DataLoader over the dataset gives." if got[0] == "odd_batches" else f"expected ('ok',), got {got}.",
    success="a reproducible 40/10 split, shuffled training batches, every validation sample in a fixed order.",
)  # fmt: skip


def _explain_epoch(got: dict, expected: dict) -> str:
    if not close([got["result"], got["batches"]], [expected["result"], expected["batches"]]):
        return (f"the step ran on batches of {[b[2] for b in got['batches']]} samples and you returned "
                f"{got['result']}; the loader's batches hold 4, 4 and 2: one step each, then the mean of their "
                "losses.")  # fmt: skip
    key = next((key for key in OTHERS if not close(got[key], expected[key])), "other")
    n, batch_size = OTHERS[key]
    return (f"right for this loader, but for {n} samples in batches of {batch_size} you returned "
            f"{describe(got[key])}, not the mean of the {math.ceil(n / batch_size)} batch losses: divide by the "
            "number of batches your loop ran, not by a number that only fits this loader.")  # fmt: skip


def _epoch(move: str = "xy", skip_last: bool = False, result: str = "mean", keep: bool = False) -> object:
    """train_one_epoch as it should be, or with the given mistake (keep: the losses of every call in one list)."""
    kept: list[float] = []

    def train_one_epoch(step, loader, device):
        losses = kept if keep else []
        losses += [step(*(t.to(device) if c in move else t for c, t in zip("xy", b, strict=True)))
                   for b in (list(loader)[:-1] if skip_last else loader)]  # fmt: skip
        count = len(loader.dataset) // loader.batch_size + 1 if result == "one_more" else len(losses)
        return {"sum": sum(losses), "last": losses[-1], "all": losses}.get(result, sum(losses) / count)

    return train_one_epoch


train_one_epoch = Exercise(
    name="train_one_epoch", inputs=epoch_inputs, reference=_epoch(), observe=observe_epoch, pure=False,
    guards=[
        Guard("no_steps", lambda got: not got["batches"], lambda step, loader, device: 0.0),
        Guard("grad_left_off", lambda got: got["grad_off"], lambda *a: torch.no_grad()(_epoch())(*a), GRAD_OFF),
        Guard("skipped_last_batch", lambda got: [b[2] for b in got["batches"]] == [4, 4], _epoch(skip_last=True)),
        Guard("one_update_per_epoch", lambda got: [b[2] for b in got["batches"]] == [4],
              lambda s, loader, d: _epoch()(s, [next(iter(loader))], d), probe.RETURNED),
        Guard("batch_not_moved", lambda got: any(b[0] != "meta" for b in got["batches"]), _epoch(move="")),
        Guard("target_not_moved", lambda got: any(b[1] != "meta" for b in got["batches"]), _epoch(move="x")),
        Guard("shape_mismatch", lambda got: got["shapes"] is not None,
              lambda s, loader, d: _epoch()(lambda x, y: s(x, y.squeeze()), loader, d), lost_batch),
        Guard("wrong_dtype", lambda got: got["dtype"] is not None,
              lambda s, loader, d: _epoch()(lambda x, y: s(x.double(), y), loader, d), probe.cast_features),
        Guard("swapped_pair", lambda got: got["fed"] == "swapped",
              lambda s, loader, d: _epoch()(lambda x, y: s(y, x), loader, d), probe.FED["swapped"]),
        Guard("missing_x", lambda got: got["fed"] == "twice",
              lambda s, loader, d: _epoch()(lambda x, y: s(x, x), loader, d), probe.FED["twice"]),
        Guard("step_twice", lambda got: got["fed"] == "again",
              lambda s, loader, d: _epoch()(lambda x, y: (s(x, y), s(x, y))[1], loader, d), probe.FED["again"]),
        Guard("ignored_argument", lambda got: got["fed"] == "elsewhere",
              lambda s, loader, d: _epoch()(s, DataLoader(loader.dataset, loader.batch_size), d),
              probe.FED["elsewhere"]),
        Guard("returns_tensor", lambda got: got["result"][0] == "a tensor", lambda *a: torch.tensor(_epoch()(*a)),
              "return the mean loss as a plain float, not a tensor: average the floats step returns (or .item())."),
        Guard("not_a_number", lambda got: isinstance(got["result"], tuple), _epoch(result="all"),
              lambda got, _: f"return the mean loss as one number (a float); you returned {got['result'][1]}."),
        Guard("state_across_calls", lambda got: not close(got["again"], got["result"]), _epoch(keep=True)),
    ],
    mistakes=[Mistake("last_loss_only", _epoch(result="last")), Mistake("sum_not_mean", _epoch(result="sum")),
              Mistake("batch_count_off", _epoch(result="one_more"))],
    explain=_explain_epoch,
    success="every batch moved to the device, one step each, short last batch included, and the mean loss returned.",
)  # fmt: skip
