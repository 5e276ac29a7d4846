"""Each known mistake of lesson 10 is diagnosed by its check, with its stable id."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset, random_split

from course.checks import datasets_and_loaders as check


def _dataset_class(getitem, length=lambda self: len(self.x)):
    class Pairs(Dataset):
        def __init__(self, x, y):
            self.x, self.y = x, y

        def __len__(self):
            return length(self)

        def __getitem__(self, index):
            return getitem(self, index)

    return Pairs


RIGHT_ITEM = lambda self, i: (self.x[i], self.y[i])  # noqa: E731


# --- pair_dataset ---


def test_pair_dataset_correct():
    assert check.pair_dataset(_dataset_class(RIGHT_ITEM)).passed
    assert check.pair_dataset(TensorDataset).passed


@pytest.mark.parametrize(
    ("cls", "mistake"),
    [
        (_dataset_class(RIGHT_ITEM, lambda self: len(self.x) - 1), "len_off_by_one"),
        (_dataset_class(RIGHT_ITEM, lambda self: len(self.x) + 1), "len_off_by_one"),
        (_dataset_class(RIGHT_ITEM, lambda self: self.x.shape[1]), "len_wrong"),
        (_dataset_class(lambda self, i: (self.y[i], self.x[i])), "swapped_pair"),
        (_dataset_class(lambda self, i: (self.x[i].item(), self.y[i].item())), "not_tensor"),
        (_dataset_class(lambda self, i: (self.x[i].numpy(), self.y[i].numpy())), "not_tensor"),
        (_dataset_class(lambda self, i: self.x[i]), "not_a_pair"),
        (_dataset_class(lambda self, i: (self.x, self.y)), "whole_tensor"),
        (_dataset_class(lambda self, i: (self.x[i], self.y[i + 1])), "wrong_item"),
    ],
)
def test_pair_dataset_mistakes(cls, mistake):
    assert check.pair_dataset(cls).mistake == mistake


def test_pair_dataset_placeholder_and_junk():
    class Stub(Dataset):
        def __init__(self, x, y):
            raise NotImplementedError  # your code here

    class NoLen:
        def __init__(self, x, y):
            pass

    assert check.pair_dataset(None).status == "not_attempted"
    assert check.pair_dataset(Stub).status == "not_attempted"
    assert check.pair_dataset(NoLen).mistake == "no_len"
    assert check.pair_dataset("Pairs").status == "wrong"
    assert check.pair_dataset(int).status == "wrong"


# --- batches_per_epoch ---


def test_batches_per_epoch_correct():
    def right(n, batch_size, drop_last):
        return n // batch_size if drop_last else math.ceil(n / batch_size)

    assert check.batches_per_epoch(right).passed
    assert check.batches_per_epoch(lambda n, b, d: len(DataLoader(range(n), batch_size=b, drop_last=d))).passed


@pytest.mark.parametrize(
    ("fn", "mistake"),
    [
        (lambda n, b, d: n // b, "ignores_drop_last_floor"),
        (lambda n, b, d: math.ceil(n / b), "ignores_drop_last_ceil"),
        (lambda n, b, d: math.ceil(n / b) if d else n // b, "drop_last_reversed"),
        (lambda n, b, d: n // b if d else n // b + 1, "off_by_one"),
        (lambda n, b, d: n / b, "not_an_integer"),
        (lambda n, b, d: 3, "other"),
    ],
)
def test_batches_per_epoch_mistakes(fn, mistake):
    assert check.batches_per_epoch(fn).mistake == mistake


def test_batches_per_epoch_placeholder_and_junk():
    def stub(n, batch_size, drop_last):
        raise NotImplementedError  # your code here

    assert check.batches_per_epoch(None).status == "not_attempted"
    assert check.batches_per_epoch(stub).status == "not_attempted"
    assert check.batches_per_epoch(16).status == "wrong"
    assert check.batches_per_epoch(lambda n, b, d: "many").status == "wrong"
    assert check.batches_per_epoch(lambda n, b, d: n // 0).mistake == "raised"


# --- split_loaders ---


def _make(split_generator=True, train_shuffle=True, val_shuffle=False, fractions=(0.8, 0.2), val_drop_last=False,
          batch=None, to_meta=False):  # fmt: skip
    def make_loaders(dataset, batch_size, generator):
        if to_meta:
            dataset = TensorDataset(*(t.to("meta") for t in dataset.tensors))
        kwargs = {"generator": generator} if split_generator else {}
        train, val = random_split(dataset, list(fractions), **kwargs)
        size = batch or batch_size
        return (
            DataLoader(train, size, shuffle=train_shuffle),
            DataLoader(val, size, shuffle=val_shuffle, drop_last=val_drop_last),
        )

    return make_loaders


def test_split_loaders_correct():
    assert check.split_loaders(_make()).passed
    assert check.split_loaders(_make(fractions=(40, 10))).passed


@pytest.mark.parametrize(
    ("fn", "mistake"),
    [
        (_make(split_generator=False), "unseeded_split"),
        (_make(train_shuffle=False), "train_not_shuffled"),
        (_make(val_shuffle=True), "val_shuffled"),
        (_make(fractions=(0.2, 0.8)), "swapped_split"),
        (_make(fractions=(0.5, 0.5)), "wrong_split_sizes"),
        (_make(val_drop_last=True), "val_drop_last"),
        (_make(batch=32), "wrong_batch_size"),
        (_make(to_meta=True), "dataset_on_device"),
        (lambda d, b, g: (DataLoader(d, b, shuffle=True), DataLoader(d, b)), "no_random_split"),
        (lambda d, b, g: DataLoader(d, b), "not_loaders"),
    ],
)
def test_split_loaders_mistakes(fn, mistake):
    assert check.split_loaders(fn).mistake == mistake


def test_split_loaders_placeholder_and_junk():
    def stub(dataset, batch_size, generator):
        raise NotImplementedError  # your code here

    assert check.split_loaders(None).status == "not_attempted"
    assert check.split_loaders(stub).status == "not_attempted"
    assert check.split_loaders("loaders").status == "wrong"
    assert check.split_loaders(lambda d, b, g: (1, 2)).status == "wrong"
    assert check.split_loaders(lambda d, b, g: None).status == "wrong"


# --- train_one_epoch ---


def _epoch(move_x=True, move_y=True, reduce="mean", one_batch=False):
    def train_one_epoch(step, loader, device):
        batches = [next(iter(loader))] if one_batch else loader
        losses = []
        for xb, yb in batches:
            losses.append(step(xb.to(device) if move_x else xb, yb.to(device) if move_y else yb))
        if reduce == "sum":
            return sum(losses)
        if reduce == "last":
            return losses[-1]
        if reduce == "tensor":
            return torch.tensor(losses).mean()
        return sum(losses) / len(losses)

    return train_one_epoch


def test_train_one_epoch_correct():
    assert check.train_one_epoch(_epoch()).passed


@pytest.mark.parametrize(
    ("fn", "mistake"),
    [
        (_epoch(move_x=False, move_y=False), "batch_not_moved"),
        (_epoch(move_y=False), "target_not_moved"),
        (_epoch(reduce="sum"), "sum_not_mean"),
        (_epoch(reduce="last"), "last_loss_only"),
        (_epoch(reduce="tensor"), "not_a_float"),
        (_epoch(one_batch=True), "one_batch_only"),
        (lambda step, loader, device: 0.0, "no_steps"),
    ],
)
def test_train_one_epoch_mistakes(fn, mistake):
    assert check.train_one_epoch(fn).mistake == mistake


def test_train_one_epoch_placeholder_and_junk():
    def stub(step, loader, device):
        raise NotImplementedError  # your code here

    assert check.train_one_epoch(None).status == "not_attempted"
    assert check.train_one_epoch(stub).status == "not_attempted"
    assert check.train_one_epoch([1, 2]).status == "wrong"
    assert check.train_one_epoch(lambda s, loader, d: s(1, 2)).mistake == "raised"
