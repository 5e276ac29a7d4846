"""course.loaders: a batch whose part is not a tensor is named by that part, not called 'not a pair'."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from course.loaders import batch_to
from course.training import train_epoch

X, Y = torch.rand(8, 2), torch.rand(8, 1)
CPU = torch.device("cpu")


class Items(Dataset):
    def __init__(self, item):
        self.item = item

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return self.item(i)


def one_epoch(loader):
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    return train_epoch(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), loader)


PART_NOT_A_TENSOR = {
    "target in a list": (DataLoader(Items(lambda i: (X[i], [Y[i, 0].item()])), batch_size=4), r"targets y are a list of 1 item\(s\).*\(x, torch\.tensor\(\[y\]\)\) rather than \(x, \[y\]\)"),
    "hand-made NumPy batch": ([(X.numpy(), Y)], r"features x are a ndarray.*torch\.as_tensor"),
    "hand-made float target": ([(X, 1.5)], r"targets y are a float"),
}  # fmt: skip


@pytest.mark.parametrize(("loader", "words"), PART_NOT_A_TENSOR.values(), ids=PART_NOT_A_TENSOR.keys())
def test_a_part_that_is_not_a_tensor_is_named(loader, words):
    with pytest.raises(
        TypeError, match=r"pairs of tensors; it yielded a (list|tuple) of 2 item\(s\).*, whose " + words
    ) as error:
        one_epoch(loader)
    assert "return (x, y)" not in str(error.value)  # it already does


def test_features_as_a_list_are_named_once_a_model_of_one_input_fails_on_them():
    # a list of tensors may be a model's several inputs: it is named only when the model cannot take it
    loader = DataLoader(Items(lambda i: (X[i].tolist(), Y[i])), batch_size=4)
    words = r"features x are a list of 2 item\(s\): Tensor, Tensor, not one tensor, and the model could not take them"
    with pytest.raises(TypeError, match=words + r".*torch\.tensor\(features, dtype=torch\.float32\)"):
        one_epoch(loader)


def test_what_is_not_a_pair_is_still_called_so():
    with pytest.raises(TypeError, match=r"it yielded a dict with keys \['x', 'y'\].*return \(x, y\)"):
        one_epoch(DataLoader(Items(lambda i: {"x": X[i], "y": Y[i]}), batch_size=4))
    with pytest.raises(TypeError, match=r"it yielded a list of 3 item\(s\)"):
        one_epoch([[X, Y, Y]])


def test_pairs_of_tensors_in_any_form_and_numbers_a_dataloader_stacks_are_accepted():
    Pair = namedtuple("Pair", "x y")
    for batch in ((X, Y), [X, Y], Pair(X, Y)):
        x, y = batch_to(batch, CPU)
        assert x is X and y is Y
    numbers = DataLoader(Items(lambda i: (X[i].numpy(), float(Y[i, 0]))), batch_size=4)  # collated into tensors
    x, y = batch_to(next(iter(numbers)), CPU)
    assert x.shape == (4, 2) and y.shape == (4,)
    assert np.isfinite(one_epoch(DataLoader(Items(lambda i: (X[i], Y[i])), batch_size=4)))


@pytest.mark.parametrize(
    ("loader", "words"),
    [({"x": X, "y": Y}, r"got a dict with keys \['x', 'y'\]: going over it gives its keys"), ("data.csv", r"a str")],
)
def test_a_dict_or_a_string_passed_as_the_loader_is_named_as_such(loader, words):
    with pytest.raises(TypeError, match=r"should be a DataLoader .*" + words + r".*DataLoader\(TensorDataset") as info:
        one_epoch(loader)
    assert "it yielded" not in str(info.value)
