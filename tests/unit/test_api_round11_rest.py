"""Review round 11 (the rest of the API): right inputs in unusual forms, and wrong ones told plainly.

A 0-d tensor or a NumPy number holds one number, as a Python one does: the data sets, ``save_checkpoint``'s epoch and
``lower_rates`` take it, and a NumPy learning rate is lowered like any other. A NumPy array passed as a loader is
told it is not one; ``show_graph`` takes ``model.named_parameters()`` and refuses ``model.state_dict()``, whose
detached copies would name no box; a ``DataLoader`` built with a ``BatchSampler`` that ends on a batch of 1 for
BatchNorm is refused before training, as one built with ``batch_size`` is.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler, TensorDataset

from course.checkpoints import load_checkpoint, save_checkpoint
from course.data import load_breast_cancer_split, make_linear_data
from course.graphs import show_graph
from course.loaders import check_loaders
from course.lower_rates import lower_rates
from course.training import fit

# ----------------------------------------------------------------------------- 0-d tensors hold one number


@pytest.mark.parametrize(
    "changed",
    [
        {"n": torch.tensor(50)},
        {"a": torch.tensor(2.0)},
        {"noise": torch.tensor(0.5)},
        {"train_fraction": torch.tensor(0.5)},
        {"seed": torch.tensor(3)},
    ],
    ids=lambda changed: next(iter(changed)),
)
def test_make_linear_data_takes_0d_tensors(changed: dict) -> None:
    plain = {key: value.item() for key, value in changed.items()}
    want, got = make_linear_data(**plain), make_linear_data(**changed)
    assert all(np.array_equal(w, g) for w, g in zip(want, got, strict=True))


def test_breast_cancer_split_takes_0d_tensors() -> None:
    got = load_breast_cancer_split(val_fraction=torch.tensor(0.25), seed=torch.tensor(1))
    want = load_breast_cancer_split(val_fraction=torch.tensor(0.25).item(), seed=1)
    assert all(torch.equal(w, g) for w, g in zip(want, got, strict=True))


@pytest.mark.parametrize("bad", [torch.tensor(True), torch.tensor(50.0), torch.tensor([50])])
def test_make_linear_data_still_refuses_tensors_that_are_no_count(bad: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="n must be an integer of at least 2"):
        make_linear_data(n=bad)


def test_save_checkpoint_takes_an_epoch_held_in_a_0d_tensor(tmp_path) -> None:
    model = nn.Linear(1, 1)
    path = save_checkpoint(tmp_path / "c.pt", model, epoch=torch.tensor(2), history={"train_loss": [0.5, 0.4]})
    ckpt = load_checkpoint(path, model)
    assert ckpt["epoch"] == 2 and type(ckpt["epoch"]) is int


def test_save_checkpoint_names_a_history_passed_where_the_epoch_goes(tmp_path) -> None:
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"The history comes after the epoch: pass it by name, history=history"):
        save_checkpoint(tmp_path / "c.pt", model, optimizer, None, {"train_loss": [1.0]})


# ----------------------------------------------------------------------------- lower_rates and NumPy numbers


@pytest.mark.parametrize("by", [np.int64(10), torch.tensor(10.0), torch.tensor(10), np.float64(10)])
def test_lower_rates_takes_numpy_and_0d_tensor_factors(by: object, tmp_path) -> None:
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    lower_rates(optimizer, scheduler, by=by)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01) and scheduler.base_lrs == [pytest.approx(0.01)]
    assert type(optimizer.param_groups[0]["lr"]) is float
    save_checkpoint(tmp_path / "c.pt", model, optimizer, scheduler)  # plain floats: the checkpoint can hold them


@pytest.mark.parametrize("lr", [np.float32(0.5), np.int64(1)])
def test_lower_rates_lowers_a_numpy_learning_rate(lr: object) -> None:
    optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    lower_rates(optimizer, scheduler, by=10)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(float(lr) / 10)
    assert scheduler.base_lrs == [pytest.approx(float(lr) / 10)]


# ----------------------------------------------------------------------------- a NumPy array is no loader


@pytest.mark.parametrize("loader", [np.ones((4, 2)), (np.ones((4, 2)), np.ones((4, 1)))])
def test_a_numpy_array_passed_as_a_loader_is_told_so(loader: object) -> None:
    with pytest.raises(TypeError, match=r"not a loader.*torch\.as_tensor\(x, dtype=torch\.float32\)") as caught:
        check_loaders({"train_loader": loader}, passes=2)
    assert "__getitem__" not in str(caught.value)


# ----------------------------------------------------------------------------- show_graph's params


def _linear() -> tuple[nn.Linear, torch.Tensor]:
    model = nn.Linear(2, 1)
    return model, model(torch.ones(1, 2)).sum()


@pytest.mark.parametrize(
    "params",
    [
        lambda m: m.named_parameters(),
        lambda m: list(m.named_parameters()),
        lambda m: nn.ParameterDict(dict(m.named_parameters())),
    ],
    ids=["generator", "list", "ParameterDict"],
)
def test_show_graph_takes_named_parameters(params) -> None:
    model, out = _linear()
    assert show_graph(out, params(model)).summary() == show_graph(out, dict(model.named_parameters())).summary()


@pytest.mark.parametrize("params", [lambda m: m.state_dict(), lambda m: {"w": m.weight.detach()}])
def test_show_graph_refuses_detached_copies_whose_names_would_vanish(params) -> None:
    model, out = _linear()
    with pytest.raises(ValueError, match=r"detached copies.*params=dict\(model\.named_parameters\(\)\)"):
        show_graph(out, params(model))


def test_show_graph_still_takes_a_frozen_tensor_and_refuses_a_list_of_tensors() -> None:
    a, b = torch.ones(2, requires_grad=True), torch.ones(2)
    assert "a (2)" in show_graph((a * b).sum(), {"a": a, "b": b}).summary()
    with pytest.raises(TypeError, match=r"dict\(model\.named_parameters\(\)\)"):
        show_graph((a * b).sum(), [a])


# ----------------------------------------------------------------------------- BatchNorm and a BatchSampler


def test_a_batch_sampler_ending_on_one_sample_for_batchnorm_is_refused_before_training() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    data = TensorDataset(torch.randn(5, 2), torch.randn(5, 2))
    loader = DataLoader(data, batch_sampler=BatchSampler(SequentialSampler(data), 2, drop_last=False))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"batch of 1 sample.*BatchSampler\(\.\.\., drop_last=True\)"):
        fit(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), loader, 2, progress=False)
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


# ----------------------------------------------------------------------------- second look (round 11, the rest)


def test_lower_rates_lowers_a_0d_numpy_array_rate_that_sgd_trains_with() -> None:
    optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=np.array(0.1))  # torch takes it, and trains
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    lower_rates(optimizer, scheduler, by=np.array(10))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01) and scheduler.base_lrs == [pytest.approx(0.01)]


def test_lower_rates_lowers_a_tensor_rate_shared_by_two_groups_once() -> None:
    a, b = nn.Linear(1, 1), nn.Linear(1, 1)
    groups = [{"params": a.parameters()}, {"params": b.parameters()}]
    optimizer = torch.optim.Adam(groups, lr=torch.tensor(0.01), foreach=False)  # one tensor, in both groups
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    lower_rates(optimizer, scheduler, by=10)
    assert [float(g["lr"]) for g in optimizer.param_groups] == [pytest.approx(0.001)] * 2
    assert [float(lr) for lr in scheduler.base_lrs] == [pytest.approx(0.001)] * 2


class _FoldLastBatch(BatchSampler):
    """A BatchSampler of one's own: a last batch of 1 sample joins the batch before it (5 samples: batches 2, 3)."""

    def __iter__(self):
        batches = list(super().__iter__())
        if len(batches) > 1 and len(batches[-1]) == 1:
            last = batches.pop()
            batches[-1] = batches[-1] + last
        return iter(batches)

    def __len__(self) -> int:
        return len(list(iter(self)))


def test_a_batch_sampler_subclass_with_batches_of_its_own_is_not_refused_for_batchnorm() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    data = TensorDataset(torch.randn(5, 2), torch.randn(5, 2))
    loader = DataLoader(data, batch_sampler=_FoldLastBatch(SequentialSampler(data), 2, drop_last=False))
    assert [len(x) for x, _ in loader] == [2, 3]  # torch trains on it: no batch of 1
    history = fit(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), loader, 2, progress=False)
    assert len(history["train_loss"]) == 2


def test_show_graph_takes_a_detached_constant_named_next_to_its_leaf() -> None:
    w = torch.ones(2, requires_grad=True)
    const = w.detach()  # a stop-gradient demo: the constant gets no box, as a frozen tensor does
    assert "w (2)" in show_graph((w * const).sum(), {"w": w, "const": const}).summary()


def test_show_graph_draws_a_graph_with_a_sparse_tensor() -> None:
    index = torch.tensor([[0, 1], [1, 0]])
    sparse = torch.sparse_coo_tensor(index, torch.tensor([1.0, 2.0]), (2, 2), check_invariants=True)
    assert "s (2, 2)" in show_graph(torch.sparse.sum(sparse.requires_grad_()), {"s": sparse}).summary()
    w = torch.ones(2, requires_grad=True)
    assert "w (2)" in show_graph((w * 2).sum(), {"w": w, "frozen": sparse.detach()}).summary()


def test_show_graph_takes_name_tensor_pairs_given_as_lists() -> None:
    w = torch.ones(2, requires_grad=True)
    assert show_graph((w * 2).sum(), [["w", w]]).summary() == show_graph((w * 2).sum(), {"w": w}).summary()


@pytest.mark.parametrize("loader", [(torch.ones(4, 2), np.ones((4, 1))), (np.ones((4, 2)), torch.ones(4, 1))])
def test_a_tensor_and_a_numpy_array_passed_as_a_loader_are_both_named(loader: tuple) -> None:
    with pytest.raises(TypeError, match=r"a tuple of 2 tensors and arrays, not a loader.*torch\.as_tensor\(x"):
        check_loaders({"train_loader": loader}, passes=2)


def test_a_batch_sampler_of_lists_reaching_batchnorm_with_one_sample_names_its_own_fix() -> None:
    """torch refuses DataLoader(drop_last=True) with a batch_sampler: the message names the batch_sampler's fix too."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    data = TensorDataset(torch.randn(5, 2), torch.randn(5, 2))
    with pytest.raises(ValueError):
        DataLoader(data, batch_sampler=[[0, 1], [2, 3], [4]], drop_last=True)
    loader = DataLoader(data, batch_sampler=[[0, 1], [2, 3], [4]])
    with pytest.raises(ValueError, match=r"batch of 1 sample.*a batch_sampler: BatchSampler\(\.\.\., drop_last=True\)"):
        fit(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), loader, 2, progress=False)
