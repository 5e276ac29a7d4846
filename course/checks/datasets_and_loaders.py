"""Checks for lesson 10, datasets and DataLoaders: a Dataset class, batch counts, split loaders, an epoch.

Use in a notebook::

    from course.checks import datasets_and_loaders as check
    check.pair_dataset(PairDataset)

The checks build small known inputs, run the learner's code on them and inspect the result
(lengths, items, samplers, the split indices, the device each batch reached). The epoch check
passes the ``meta`` device, which exists on every machine, to see whether batches are moved.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader, RandomSampler, Subset, TensorDataset

from course.checks.verdict import Verdict, call_learner, correct, is_placeholder, not_attempted, wrong

# --- a Dataset class ---------------------------------------------------------------------------


def _pair_data(n: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.arange(n, dtype=torch.float32).reshape(n, 1)
    return x, 100 + 10 * x


def pair_dataset(dataset_class: object) -> Verdict:
    """Check a Dataset class built as ``dataset_class(x, y)`` whose item ``i`` is ``(x[i], y[i])``.

    Example:
        >>> class Pairs(torch.utils.data.Dataset):
        ...     def __init__(self, x, y): self.x, self.y = x, y
        ...     def __getitem__(self, i): return self.x[i], self.y[i]
        ...     def __len__(self): return len(self.x)
        >>> pair_dataset(Pairs).passed
        True
    """
    if is_placeholder(dataset_class):
        return not_attempted()
    x, y = _pair_data()
    n = len(x)
    dataset, verdict = call_learner(dataset_class, x, y)
    if verdict is not None:
        return verdict
    try:
        length = len(dataset)
    except NotImplementedError:
        return not_attempted("__len__ still raises NotImplementedError: write it, then run the cell again.")
    except Exception as exc:
        return wrong(
            "no_len",
            f"len(dataset) failed ({type(exc).__name__}: {exc}). Define __len__(self) returning the number of samples.",
        )
    if length in (n - 1, n + 1):
        return wrong(
            "len_off_by_one",
            f"len(dataset) is {length} for {n} samples: off by one. __len__ should return len(self.x), with no +1 or -1.",
        )
    if length != n:
        return wrong(
            "len_wrong",
            f"len(dataset) is {length!r} for {n} samples. __len__ should return the number of samples, len(self.x).",
        )
    try:
        item = dataset[3]
    except NotImplementedError:
        return not_attempted("__getitem__ still raises NotImplementedError: write it, then run the cell again.")
    except Exception as exc:
        return wrong(
            "getitem_raised",
            f"dataset[3] raised {type(exc).__name__}: {exc}. __getitem__(self, index) returns one sample.",
        )
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        return wrong(
            "not_a_pair",
            f"dataset[3] returned {type(item).__name__}; it should return a pair: return self.x[index], self.y[index].",
        )
    features, target = item
    if not isinstance(features, torch.Tensor) or not isinstance(target, torch.Tensor):
        found = f"({type(features).__name__}, {type(target).__name__})"
        return wrong(
            "not_tensor",
            f"dataset[3] returned {found}; return tensors, so the DataLoader can stack them into batch tensors "
            "(index the tensors: self.x[index], without .item(), .tolist() or .numpy()).",
        )
    if torch.equal(features, y[3]) and torch.equal(target, x[3]):
        return wrong("swapped_pair", "dataset[3] returned (target, features): the order is (x[index], y[index]).")
    if torch.equal(features, x) or torch.equal(target, y):
        return wrong(
            "whole_tensor", "dataset[3] returned the whole tensors; return one sample: self.x[index], self.y[index]."
        )
    if not (torch.equal(features, x[3]) and torch.equal(target, y[3])):
        return wrong(
            "wrong_item",
            f"dataset[3] should be (x[3], y[3]) = ({x[3].tolist()}, {y[3].tolist()}), got "
            f"({features.tolist()}, {target.tolist()}). Index both tensors with the same index.",
        )
    return correct(f"len is {n}, and item i is the pair (x[i], y[i]) as tensors: a DataLoader can batch it.")


# --- batches per epoch ---------------------------------------------------------------------------

_CASES = [(100, 10, False), (100, 10, True), (101, 10, False), (101, 10, True), (5, 10, False), (5, 10, True),
          (1000, 64, False), (1000, 64, True)]  # fmt: skip


def _expected(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def batches_per_epoch(fn: object) -> Verdict:
    """Check ``fn(n_samples, batch_size, drop_last) -> int``, the number of batches a DataLoader yields.

    Example:
        >>> batches_per_epoch(lambda n, b, drop: n // b if drop else -(-n // b)).passed
        True
    """
    if is_placeholder(fn):
        return not_attempted()
    answers = []
    for case in _CASES:
        out, verdict = call_learner(fn, *case)
        if verdict is not None:
            return verdict
        answers.append(out)
    wanted = [_expected(*case) for case in _CASES]
    if all(isinstance(a, int) and not isinstance(a, bool) for a in answers) and answers == wanted:
        return correct("ceil(n / batch_size) batches, or floor with drop_last=True, which drops the short last batch.")
    if any(isinstance(a, float) for a in answers):
        return wrong("not_an_integer", "a batch count is a whole number: use // (floor) or math.ceil, not /.")
    floors = [n // b for n, b, _ in _CASES]
    ceils = [math.ceil(n / b) for n, b, _ in _CASES]
    if answers == floors:
        return wrong(
            "ignores_drop_last_floor",
            "you always round down: without drop_last the short last batch is kept, so 101 samples in batches "
            "of 10 make 11 batches. Round up (math.ceil) when drop_last is False.",
        )
    if answers == ceils:
        return wrong(
            "ignores_drop_last_ceil",
            "you always round up: with drop_last=True the short last batch is dropped, so 101 samples in "
            "batches of 10 make 10 batches. Round down (//) when drop_last is True.",
        )
    if answers == [_expected(n, b, not d) for n, b, d in _CASES]:
        return wrong(
            "drop_last_reversed", "drop_last is the wrong way round: drop_last=True drops the short batch (round down)."
        )
    if answers == [n // b + (0 if d else 1) for n, b, d in _CASES]:
        return wrong(
            "off_by_one",
            "n // batch_size + 1 counts one batch too many when batch_size divides n (100 samples in batches "
            "of 10 make exactly 10). Use math.ceil(n / batch_size).",
        )
    bad = next(case for case, got, want in zip(_CASES, answers, wanted, strict=True) if got != want)
    return wrong(
        "other",
        f"for n={bad[0]}, batch_size={bad[1]}, drop_last={bad[2]} the answer is {_expected(*bad)}, "
        f"you returned {answers[_CASES.index(bad)]!r}.",
    )


# --- training and validation loaders ----------------------------------------------------------------


def _split_indices(loader: DataLoader) -> list[int] | None:
    data = loader.dataset
    return [int(i) for i in data.indices] if isinstance(data, Subset) else None


def _base_tensors(loader: DataLoader) -> tuple[torch.Tensor, ...]:
    data = loader.dataset
    while isinstance(data, Subset):
        data = data.dataset
    return tuple(getattr(data, "tensors", ()))


def split_loaders(make_loaders: object, n: int = 50, batch_size: int = 8) -> Verdict:
    """Check ``make_loaders(dataset, batch_size, generator) -> (train_loader, val_loader)``: a seeded 80/20 split.

    Example:
        >>> from torch.utils.data import random_split
        >>> def make(dataset, batch_size, generator):
        ...     train, val = random_split(dataset, [0.8, 0.2], generator=generator)
        ...     return DataLoader(train, batch_size, shuffle=True), DataLoader(val, batch_size)
        >>> split_loaders(make).passed
        True
    """
    if is_placeholder(make_loaders):
        return not_attempted()
    dataset = TensorDataset(torch.arange(n, dtype=torch.float32).reshape(n, 1), torch.zeros(n, 1))
    results = []
    for _ in range(2):
        out, verdict = call_learner(make_loaders, dataset, batch_size, torch.Generator().manual_seed(0))
        if verdict is not None:
            return verdict
        results.append(out)
    out = results[0]
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(o, DataLoader) for o in out)):
        return wrong("not_loaders", f"return two DataLoaders, (train_loader, val_loader); got {type(out).__name__}.")
    train, val = out
    if any(t.device.type != "cpu" for loader in out for t in _base_tensors(loader)):
        return wrong(
            "dataset_on_device",
            "the dataset's tensors were moved to the device. Keep the dataset on the CPU (it may not fit in "
            "accelerator memory) and move each mini-batch in the training loop: xb.to(device), yb.to(device).",
        )
    train_idx, val_idx = _split_indices(train), _split_indices(val)
    if train_idx is None or val_idx is None:
        return wrong(
            "no_random_split",
            "the loaders should wrap the two parts that random_split(dataset, [0.8, 0.2], generator=generator) returns.",
        )
    n_train, n_val = round(0.8 * n), n - round(0.8 * n)
    if (len(train_idx), len(val_idx)) == (n_val, n_train):
        return wrong(
            "swapped_split", "training and validation are swapped: the first (larger, 80%) part is for training."
        )
    if (len(train_idx), len(val_idx)) != (n_train, n_val):
        return wrong(
            "wrong_split_sizes",
            f"for {n} samples expected {n_train} for training and {n_val} for validation (80/20), "
            f"got {len(train_idx)} and {len(val_idx)}.",
        )
    if set(train_idx) & set(val_idx):
        return wrong(
            "overlap",
            "some samples are in both parts: split once with random_split, do not sample each part separately.",
        )
    again = results[1]
    same = (
        isinstance(again, (tuple, list)) and len(again) == 2
        and all(isinstance(o, DataLoader) for o in again)
        and _split_indices(again[0]) == train_idx and _split_indices(again[1]) == val_idx
    )  # fmt: skip
    if not same:
        return wrong(
            "unseeded_split",
            "two calls with identically seeded generators gave different splits: the split is not reproducible. "
            "Pass the generator: random_split(dataset, [0.8, 0.2], generator=generator).",
        )
    if not isinstance(train.sampler, RandomSampler):
        return wrong(
            "train_not_shuffled",
            "the training loader does not shuffle: every epoch would see the batches in the same order. "
            "Use DataLoader(train_set, batch_size, shuffle=True).",
        )
    if isinstance(val.sampler, RandomSampler):
        return wrong(
            "val_shuffled",
            "the validation loader shuffles: that costs time and changes nothing in the average loss. Use shuffle=False for validation.",
        )
    if train.batch_size != batch_size or val.batch_size != batch_size:
        return wrong(
            "wrong_batch_size",
            f"use the batch_size you were given ({batch_size}); got {train.batch_size} and {val.batch_size}.",
        )
    if val.drop_last:
        return wrong(
            "val_drop_last",
            "the validation loader drops its last short batch, so some validation samples are never evaluated. Keep drop_last=False there.",
        )
    return correct(f"a reproducible {n_train}/{n_val} split, shuffled training batches, validation in order.")


# --- one epoch of mini-batch training -------------------------------------------------------------


class _RecordingStep:
    """Stands in for a train step: records where each batch is and returns 3, 2, 1, ..."""

    def __init__(self, n_batches: int) -> None:
        self.n_batches, self.calls, self.devices, self.sizes = n_batches, 0, [], []

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> float:
        self.devices.append((xb.device.type, yb.device.type))
        self.sizes.append(len(xb))
        self.calls += 1
        return float(self.n_batches - self.calls + 1)


def train_one_epoch(fn: object) -> Verdict:
    """Check ``fn(step, loader, device) -> float``: move each batch, one step per batch, the mean batch loss.

    Example:
        >>> def epoch(step, loader, device):
        ...     losses = [step(xb.to(device), yb.to(device)) for xb, yb in loader]
        ...     return sum(losses) / len(losses)
        >>> train_one_epoch(epoch).passed
        True
    """
    if is_placeholder(fn):
        return not_attempted()
    n, batch_size = 10, 4
    loader = DataLoader(TensorDataset(torch.zeros(n, 1), torch.zeros(n, 1)), batch_size=batch_size)
    n_batches = len(loader)
    step = _RecordingStep(n_batches)
    result, verdict = call_learner(fn, step, loader, torch.device("meta"))
    if verdict is not None:
        return verdict
    losses = [float(n_batches - k) for k in range(n_batches)]  # 3, 2, 1
    if step.calls == 0:
        return wrong(
            "no_steps",
            "the step never ran: loop over the loader, for xb, yb in loader: ..., and call step(xb, yb) for each batch.",
        )
    if step.calls == 1 and n_batches > 1:
        return wrong(
            "one_batch_only",
            "only one batch was used (next(iter(loader)) gives just the first). Loop over all of them: for xb, yb in loader.",
        )
    if step.calls != n_batches:
        return wrong(
            "wrong_step_count",
            f"the loader has {n_batches} batches but the step ran {step.calls} times: one step per batch.",
        )
    if any(x_dev != "meta" for x_dev, _ in step.devices):
        return wrong(
            "batch_not_moved",
            "the batches reached the step on the CPU, not on the device the check passed (the 'meta' device). "
            "Move each mini-batch inside the loop: xb, yb = xb.to(device), yb.to(device).",
        )
    if any(y_dev != "meta" for _, y_dev in step.devices):
        return wrong("target_not_moved", "the inputs were moved to the device but the targets were not: move yb too.")
    if isinstance(result, torch.Tensor) or not isinstance(result, (float, int)) or isinstance(result, bool):
        return wrong("not_a_float", f"return the mean loss as a Python float, got {type(result).__name__}.")
    mean = sum(losses) / n_batches
    weighted = sum(loss * size for loss, size in zip(losses, step.sizes, strict=True)) / n
    if abs(result - mean) < 1e-9 or abs(result - weighted) < 1e-9:
        return correct("each batch moved to the device, one step per batch, and the mean loss of the epoch returned.")
    if abs(result - losses[-1]) < 1e-9:
        return wrong(
            "last_loss_only", "you returned the last batch's loss; return the mean over all batches of the epoch."
        )
    if abs(result - sum(losses)) < 1e-9:
        return wrong(
            "sum_not_mean", "you returned the sum of the batch losses; divide by the number of batches for the mean."
        )
    return wrong("wrong_value", f"expected the mean of the batch losses ({mean:.4f}), got {result!r}.")
