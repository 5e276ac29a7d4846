"""fit checks a batch's shapes and dtypes once per signature in a pass; a batch that differs is still diagnosed.

The guards (every test but the last two) pass with and without the cache: a mistake that shows only at a later batch
(another shape, another dtype, a value out of range, a loss that changes what it returns) is told exactly as at the
first. The last two test the cache itself (course.seen_batches): its checks of shapes run once per signature.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from course.training import fit, train_epoch


def _batches(n: int = 6, size: int = 8, width: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    return [(torch.randn(size, width), torch.randn(size, 1)) for _ in range(n)]


def _fit(loader: list, loss_fn: object = None, out: int = 1, epochs: int = 1) -> dict:
    torch.manual_seed(0)
    model = nn.Linear(3, out)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    return fit(model, loss_fn or nn.MSELoss(), optimizer, loader, epochs, progress=False)


def test_a_last_smaller_batch_trains_as_the_others():
    loader = [*_batches(5), (torch.randn(3, 3), torch.randn(3, 1))]
    history = _fit(loader, epochs=2)
    assert len(history["train_loss"]) == 2


@pytest.mark.parametrize("epochs", [1, 2])
def test_targets_of_another_shape_at_step_5_are_refused_as_at_step_1(epochs):
    wrong = (torch.randn(8, 3), torch.randn(8))  # (8,) targets for (8, 1) predictions: a silent broadcast
    with pytest.raises(ValueError, match=r"the predictions have shape \(8, 1\) but the targets \(8,\)") as first:
        _fit([wrong, *_batches(5)])
    with pytest.raises(ValueError, match=r"the predictions have shape \(8, 1\) but the targets \(8,\)") as later:
        _fit([*_batches(4), wrong, _batches(1)[0]], epochs=epochs)
    assert str(first.value).split("fit stopped")[0] == str(later.value).split("fit stopped")[0]


def test_a_last_batch_of_other_length_targets_is_refused():
    loader = [*_batches(5), (torch.randn(3, 3), torch.randn(4, 1))]
    with pytest.raises(ValueError, match="3"):
        _fit(loader)


def test_targets_of_an_integer_dtype_at_step_4_are_explained():
    torch.manual_seed(0)
    loader = [(torch.randn(8, 3), torch.randint(0, 2, (8, 1)).float()) for _ in range(3)]
    loader.append((torch.randn(8, 3), torch.ones(8, 1, dtype=torch.long)))
    with pytest.raises(TypeError, match=r"y = y\.float\(\)"):
        _fit(loader, nn.BCEWithLogitsLoss())


def test_features_of_another_dtype_at_step_3_are_explained():
    wrong = (torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 1))
    with pytest.raises((TypeError, RuntimeError), match="float64|Double"):
        _fit([*_batches(2), wrong])


def test_a_binary_label_out_of_range_at_step_4_is_refused():
    torch.manual_seed(0)
    loader = [(torch.randn(8, 3), torch.randint(0, 2, (8, 1)).float()) for _ in range(3)]
    loader.append((torch.randn(8, 3), torch.tensor([[0.0], [1.0], [2.0], [1.0], [0.0], [1.0], [0.0], [1.0]])))
    with pytest.raises(ValueError, match="BCEWithLogitsLoss expects targets between 0 and 1"):
        _fit(loader, nn.BCEWithLogitsLoss())


def test_a_class_out_of_range_at_step_3_is_explained():
    torch.manual_seed(0)
    loader = [(torch.randn(8, 3), torch.randint(0, 4, (8,))) for _ in range(2)]
    loader.append((torch.randn(8, 3), torch.tensor([0, 1, 2, 7, 0, 1, 2, 3])))
    with pytest.raises((ValueError, IndexError), match="class 7|7"):
        _fit(loader, nn.CrossEntropyLoss(), out=4)


def test_soft_targets_whose_row_sums_are_off_at_step_3_are_refused():
    torch.manual_seed(0)
    good = [(torch.randn(8, 3), torch.softmax(torch.randn(8, 4), dim=1)) for _ in range(2)]
    bad = (torch.randn(8, 3), torch.softmax(torch.randn(8, 4), dim=1) * 2)
    with pytest.raises(ValueError, match="class probabilities"):
        _fit([*good, bad], nn.CrossEntropyLoss(), out=4)


def test_a_loss_that_returns_several_values_at_step_3_is_refused():
    calls = []

    def loss_fn(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        squares = (pred - y) ** 2
        return squares if len(calls) == 3 else squares.mean()

    with pytest.raises(ValueError, match=r"the loss must be a scalar tensor, got \(8, 1\)"):
        _fit(_batches(5), loss_fn)


def test_a_loss_that_becomes_a_number_at_step_3_is_refused():
    calls = []

    def loss_fn(pred: torch.Tensor, y: torch.Tensor) -> object:
        calls.append(1)
        loss = ((pred - y) ** 2).mean()
        return loss.item() if len(calls) == 3 else loss

    with pytest.raises(ValueError, match="a number"):
        _fit(_batches(5), loss_fn)


def test_a_hand_written_loss_that_broadcasts_is_warned_of_at_every_step():
    loader = [(x, y) for x, y in _batches(4)]

    def loss_fn(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # (8, 2) against (8, 1): broadcast
        return ((pred - y) ** 2).mean()

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _fit(loader, loss_fn, out=2)
    spread = [w for w in seen if "predictions" in str(w.message)]
    assert len(spread) == 4


def test_a_hand_written_loss_that_pairs_the_shapes_itself_is_run_as_before():
    calls = []

    def loss_fn(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(pred.shape)
        return ((pred.squeeze(1) - y) ** 2).mean()

    loader = [(x, y.view(-1)) for x, y in _batches(4)]
    _fit(loader, loss_fn, epochs=2)
    assert len(calls) == 8  # once per batch: at the first, run (watched) to see whether it broadcasts


def test_train_epoch_refuses_targets_of_another_shape_at_its_last_batch():
    model = nn.Linear(3, 1)
    loader = [*_batches(3), (torch.randn(8, 3), torch.randn(8))]
    with pytest.raises(ValueError, match=r"the predictions have shape \(8, 1\) but the targets \(8,\)"):
        train_epoch(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.01), loader)


def test_the_shape_checks_run_once_per_signature_in_a_pass(monkeypatch):
    import course.seen_batches as seen_batches

    calls = []
    real = seen_batches.check_pair
    monkeypatch.setattr(seen_batches, "check_pair", lambda *args: calls.append(args[0].shape) or real(*args))
    loader = [*_batches(5), (torch.randn(3, 3), torch.randn(3, 1))]  # two signatures: (8, ...) and the last (3, ...)
    _fit(loader, epochs=2)
    assert calls == [torch.Size([8, 1]), torch.Size([3, 1])] * 2  # per epoch: its first batch, then the new shape


def test_a_signature_is_remembered_only_when_its_checks_ran_no_loss_and_warned_nothing():
    from course.seen_batches import SeenBatches

    seen = SeenBatches()
    pred, y = torch.zeros(4, 1, requires_grad=True), torch.zeros(4, 1)
    assert seen.loss(nn.Linear(1, 1), nn.MSELoss(), pred, y) is None
    seen.add(pred, y, nn.MSELoss())
    assert seen.loss(nn.Linear(1, 1), nn.MSELoss(), pred, y) is not None
    assert seen.loss(nn.Linear(1, 1), nn.MSELoss(), pred, torch.zeros(4)) is None  # another shape: checked again
    assert seen.loss(nn.Linear(1, 1), nn.MSELoss(), pred, y.double()) is None  # another dtype too
