"""Checks for lesson 10 (datasets and DataLoaders): a windowed Dataset, batch sizes, split loaders, one epoch.

Use in a notebook::

    from course.checks import datasets_and_loaders as check
    check.window_dataset(WindowDataset)

Every probe has a short last batch. The loader check calls the learner's function twice with
identically seeded generators and reads what the loaders would do; the epoch check hands over a
stand-in step that records every batch and the ``meta`` device, which exists on every machine.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset, TensorDataset, random_split

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.values import as_number, close

# --- exercise 1: a Dataset of sliding windows over a series ----------------------------------------------
SERIES = [0.5, 1.5, 3.0, 2.0, 4.5, 6.0, 5.0, 7.5, 9.0, 8.0]
WINDOW = 3


class _Windows(Dataset):
    def __init__(self, series: torch.Tensor, window: int) -> None:
        self.series, self.window = series, window

    def __len__(self) -> int:
        return len(self.series) - self.window

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.series[i : i + self.window], self.series[i + self.window : i + self.window + 1]


def _windows(**methods: object) -> type:
    """The right class with some methods replaced: a wrong program."""
    return type("Windows", (_Windows,), methods)


def _observe_windows(cls: object, args: tuple) -> dict:
    dataset = cls(*args)
    return {"len": len(dataset), "items": [dataset[i] for i in range(len(SERIES) - WINDOW)]}


def _pairs(items: list) -> bool:
    return all(isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in items)


def _tensors(items: list) -> bool:
    return all(isinstance(t, torch.Tensor) for pair in items for t in pair)


_PAIR = "dataset[i] should be a pair: return features, target (a tuple of two tensors)."
_TENSORS = "return tensors (slices of series), not lists or numbers, so a DataLoader can stack them into batches."
window_dataset = Exercise(
    name="window_dataset",
    lesson="10",
    inputs=lambda: (torch.tensor(SERIES), WINDOW),
    reference=_Windows,
    observe=_observe_windows,
    guards=[
        Guard(
            "not_a_pair",
            lambda got: not _pairs(got["items"]),
            example=_windows(__getitem__=lambda s, i: i),
            message=_PAIR,
        ),
        Guard(
            "not_a_tensor",
            lambda got: not _tensors(got["items"]),
            example=_windows(__getitem__=lambda s, i: (i, i)),
            message=_TENSORS,
        ),
    ],
    mistakes=[
        Mistake("len_off_by_one", _windows(__len__=lambda s: len(s.series) - s.window + 1)),
        Mistake("len_of_series", _windows(__len__=lambda s: len(s.series))),
        Mistake("target_in_window", _windows(__getitem__=lambda s, i: (s.series[i : i + 3], s.series[i + 2 : i + 3]))),
        Mistake("target_not_column", _windows(__getitem__=lambda s, i: (s.series[i : i + 3], s.series[i + 3]))),
        Mistake("swapped_pair", _windows(__getitem__=lambda s, i: (s.series[i + 3 : i + 4], s.series[i : i + 3]))),
    ],
    alternatives=[_windows(__getitem__=lambda s, i: (s.series[i : i + 3], s.series[i + 3].unsqueeze(0)))],
    explain=lambda got, expected: (
        f"with 10 values and window 3, len(dataset) is {expected['len']} and dataset[0] is "
        f"({SERIES[:3]}, [{SERIES[3]}]); yours has len {got['len']} and dataset[0] = {[t.tolist() for t in got['items'][0]]}."
    ),
    success="7 windows from 10 values: item i is (series[i:i+3], series[i+3:i+4]); batches of (B, 3) and (B, 1).",
)

# --- exercise 2: the sizes of the batches of one epoch ----------------------------------------------------
CASES = [(100, 10, False), (100, 10, True), (101, 10, False), (101, 10, True), (5, 10, False), (5, 10, True),
         (1000, 64, False), (1000, 64, True)]  # fmt: skip


def _sizes(n: int, b: int, drop_last: bool) -> list[int]:
    return [b] * (n // b) + ([n % b] if n % b and not drop_last else [])


batch_sizes = Exercise(
    name="batch_sizes",
    lesson="10",
    reference=_sizes,
    observe=lambda fn, args: [fn(*case) for case in CASES],
    guards=[
        Guard("not_a_list", lambda got: not all(isinstance(s, (list, tuple)) for s in got), example=lambda n, b, d: 4)
    ],
    mistakes=[
        Mistake("empty_last_batch", lambda n, b, d: [b] * (n // b) + ([] if d else [n % b])),
        Mistake("ignores_drop_last", lambda n, b, d: _sizes(n, b, False)),
        Mistake("always_drops", lambda n, b, d: _sizes(n, b, True)),
        Mistake("drop_last_reversed", lambda n, b, d: _sizes(n, b, not d)),
        Mistake("last_batch_full", lambda n, b, d: [b] * (n // b if d else math.ceil(n / b))),
    ],
    alternatives=[lambda n, b, d: [min(b, n - s) for s in range(0, n, b) if not d or n - s >= b]],
    explain=lambda got, expected: next(
        f"for n_samples={n}, batch_size={b}, drop_last={d} a DataLoader gives {want}; you returned {had}."
        for (n, b, d), had, want in zip(CASES, got, expected, strict=True)
        if not close(had, want)
    ),
    success="full batches, then the remainder n % batch_size if there is one and drop_last is False.",
)

# --- exercise 3: find the bugs in make_loaders -----------------------------------------------------------


def _loaders(seeded: bool = True, shuffle: bool = True, val_shuffle: bool = False, val_drop: bool = False,
             parts: tuple = (0.8, 0.2), size: int | None = None) -> object:  # fmt: skip
    """make_loaders as it should be, or with the given bugs: a right or a wrong program."""

    def make_loaders(dataset, batch_size, generator):
        train, val = random_split(dataset, list(parts), generator=generator if seeded else None)
        batch = size or batch_size
        return DataLoader(train, batch, shuffle=shuffle), DataLoader(val, batch, val_shuffle, drop_last=val_drop)

    return make_loaders


def _split_inputs() -> tuple:
    return TensorDataset(torch.arange(50.0).reshape(50, 1), torch.zeros(50, 1)), 8, torch.Generator().manual_seed(0)


def _indices(loader: DataLoader) -> list[int]:
    return [int(item[0].reshape(-1)[0]) for item in loader.dataset]  # the probe's feature is the sample's index


def _observe_loaders(fn: object, args: tuple) -> dict:
    first, second = fn(*args), fn(*_split_inputs())
    if not all(
        isinstance(o, (tuple, list)) and len(o) == 2 and all(isinstance(d, DataLoader) for d in o)
        for o in (first, second)
    ):
        return {"loaders": False}
    (train, val), again = first, [_indices(loader) for loader in second]
    train_idx, val_idx = _indices(train), _indices(val)
    return {
        "loaders": True,
        "sizes": (len(train_idx), len(val_idx)),
        "overlap": bool(set(train_idx) & set(val_idx)),
        "reproducible": again == [train_idx, val_idx],
        "shuffles": (isinstance(train.sampler, RandomSampler), isinstance(val.sampler, RandomSampler)),
        "val_drop_last": val.drop_last,
        "batch_sizes": (train.batch_size, val.batch_size),
    }


def _overlapping(dataset: Dataset, batch_size: int, generator: torch.Generator) -> tuple[DataLoader, DataLoader]:
    train, val = Subset(dataset, range(40)), Subset(dataset, range(30, 40))
    return DataLoader(train, batch_size, shuffle=True), DataLoader(val, batch_size)


def _field(key: str, value: object) -> object:
    return lambda got: got[key] == value


split_loaders = Exercise(
    name="split_loaders",
    lesson="10",
    inputs=_split_inputs,
    reference=_loaders(),
    observe=_observe_loaders,
    guards=[
        Guard("not_loaders", _field("loaders", False), example=lambda dataset, batch_size, generator: dataset),
        Guard("swapped_split", _field("sizes", (10, 40)), example=_loaders(parts=(0.2, 0.8))),
        Guard("wrong_split_sizes", lambda got: got["sizes"] != (40, 10), example=_loaders(parts=(0.5, 0.5))),
        Guard("overlap", _field("overlap", True), example=_overlapping),
        Guard("unseeded_split", _field("reproducible", False), example=_loaders(seeded=False)),
        Guard("train_not_shuffled", lambda got: not got["shuffles"][0], example=_loaders(shuffle=False)),
        Guard("val_drop_last", _field("val_drop_last", True), example=_loaders(val_drop=True)),
        Guard("val_shuffled", lambda got: got["shuffles"][1], example=_loaders(val_shuffle=True)),
        Guard("wrong_batch_size", lambda got: got["batch_sizes"] != (8, 8), example=_loaders(size=32)),
    ],
    success="a reproducible 40/10 split, shuffled training batches, every validation sample in a fixed order.",
)

# --- exercise 4: one epoch of mini-batch training ---------------------------------------------------------


class _RecordingStep:
    """Stands in for a train step: records each batch's devices and size; returns 3.0, 2.0, 1.0, ..."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, str, int]] = []

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> float:
        self.batches.append((xb.device.type, yb.device.type, len(xb)))
        return float(3 - len(self.batches) + 1)


def _epoch_inputs() -> tuple:
    loader = DataLoader(TensorDataset(torch.zeros(10, 1), torch.zeros(10, 1)), batch_size=4)  # batches 4, 4, 2
    return _RecordingStep(), loader, torch.device("meta")


def _observe_epoch(fn: object, args: tuple) -> dict:
    result, batches = fn(*args), args[0].batches
    losses, sizes = [3 - k for k in range(len(batches))], [size for *_, size in batches]
    means = (
        sum(losses) / max(len(losses), 1),
        sum(loss * size for loss, size in zip(losses, sizes, strict=True)) / max(sum(sizes), 1),
    )
    number = as_number(result)
    mean = "the mean" if number is not None and any(math.isclose(number, m) for m in means) else number
    return {"result": mean if number is not None else type(result).__name__, "batches": batches}


def _epoch(move: str = "xy", sizes: tuple = (4, 4, 2), result: str = "mean") -> object:
    """train_one_epoch as it should be, or with the given mistake."""

    def train_one_epoch(step, loader, device):
        losses = []
        for xb, yb in loader:
            if len(xb) not in sizes:
                continue
            losses.append(step(xb.to(device) if "x" in move else xb, yb.to(device) if "y" in move else yb))
        return {"mean": sum(losses) / max(len(losses), 1), "sum": sum(losses), "last": losses[-1], "all": losses}[
            result
        ]

    return train_one_epoch


train_one_epoch = Exercise(
    name="train_one_epoch",
    lesson="10",
    inputs=_epoch_inputs,
    reference=_epoch(),
    observe=_observe_epoch,
    pure=False,
    guards=[
        Guard("no_steps", lambda got: not got["batches"], example=lambda step, loader, device: 0.0),
        Guard("skipped_last_batch", lambda got: [b[2] for b in got["batches"]] == [4, 4], example=_epoch(sizes=(4,))),
        Guard("batch_not_moved", lambda got: any(b[0] != "meta" for b in got["batches"]), example=_epoch(move="")),
        Guard("target_not_moved", lambda got: any(b[1] != "meta" for b in got["batches"]), example=_epoch(move="x")),
        Guard(
            "not_a_number",
            lambda got: isinstance(got["result"], str) and got["result"] != "the mean",
            example=_epoch(result="all"),
        ),
    ],
    mistakes=[
        Mistake("last_loss_only", _epoch(result="last")),
        Mistake("sum_not_mean", _epoch(result="sum")),
    ],
    explain=lambda got, _: (
        f"the step ran on batches of {[b[2] for b in got['batches']]} samples and you returned "
        f"{got['result']}; the loader's batches hold 4, 4 and 2: one step each, then the mean of their losses."
    ),
    success="every batch moved to the device, one step each, short last batch included, and the mean loss returned.",
)

__all__ = ["batch_sizes", "split_loaders", "train_one_epoch", "window_dataset"]
