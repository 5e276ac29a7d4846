"""Guards for fit's bookkeeping, for whoever makes it cheaper: what LastFinite keeps, finish_pass finds and StepWatch
tells must stay the same (course/divergence.py: the state kept at each epoch's start; course/updates.py: the test of
the weights at a pass's end; course/loss_values.py: StepWatch's bookkeeping).
The state at an epoch's start is read by the loss at that epoch's first batch: its forward runs before any step."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.divergence import LastFinite
from course.loss_values import StepWatch
from course.training import fit, train_epoch

STEPS = 4  # batches per epoch


def _loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4 * STEPS, 3, generator=g)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4, shuffle=True, generator=g)


class Recording:
    """MSE that keeps the model's and optimizer's state at each epoch's first batch, and breaks at one chosen step:
    ``nan``: the loss itself is NaN; ``slope``: finite, but its gradient NaN (sqrt at 0), which breaks the weights."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, at: int, how: str = "nan", then=None):
        self.model, self.optimizer, self.at, self.how, self.then, self.calls, self.starts = (
            model, optimizer, at, how, then, 0, []
        )  # fmt: skip

    def __call__(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.calls % STEPS == 0:
            self.starts.append((copy.deepcopy(self.model.state_dict()), copy.deepcopy(self.optimizer.state_dict())))
        self.calls += 1
        loss = ((pred - y) ** 2).mean()
        if self.then is not None and self.calls == self.then[0]:
            self.then[1](self.model)
        if self.calls == self.at:
            if self.how == "nan":
                return loss * float("nan")
            return loss + torch.sqrt(((pred - pred.detach()) ** 2).mean())  # 0, of gradient NaN
        return loss


def _same(a: object, b: object) -> bool:
    """Equal nested state, tensors of equal dtype, shape and bits (NaN equal to NaN)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(
            torch.nan_to_num(a, 7.0, 8.0, 9.0), torch.nan_to_num(b, 7.0, 8.0, 9.0)
        ) and bool((a.isnan() == b.isnan()).all())  # fmt: skip
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b, strict=True))
    return a == b


def _setup(kind: str = "sgd"):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    if kind == "sgd":
        return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, torch.optim.Adam(model.parameters(), lr=0.01)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("how, at", [("nan", 2 * STEPS + 2), ("slope", 2 * STEPS + 2), ("slope", 3 * STEPS)])
def test_a_run_that_diverges_in_epoch_3_gets_back_exactly_the_state_epoch_2_left(kind, how, at):
    # guards LastFinite.remember/restore (weights, momentum buffers, Adam's steps and moments), both ways of breaking:
    # a NaN loss (caught before its step) and weights broken by a finite loss (the next step's loss, or finish_pass
    # at the epoch's last step)
    model, optimizer = _setup(kind)
    loss_fn = Recording(model, optimizer, at, how)
    with pytest.raises(FloatingPointError) as caught:
        fit(model, loss_fn, optimizer, _loader(), epochs=5, progress=False)
    assert "put back to their finite state at the start of epoch 3" in str(caught.value)
    weights, state = loss_fn.starts[2]
    assert _same(model.state_dict(), weights)
    assert _same(optimizer.state_dict(), state)
    assert state["state"], "the optimizer had state to put back"
    # what was put back is a copy: a further step does not change the state kept
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    assert not _same(model.state_dict(), weights)


def test_the_state_put_back_is_not_shared_with_the_model_or_the_optimizer():
    # guards the copies LastFinite keeps: restored twice, both times the same state, whatever the steps did between
    model, optimizer = _setup()
    keeper = LastFinite(model, optimizer, nn.MSELoss())
    for _ in range(2):
        model(torch.ones(2, 3)).sum().backward()
        optimizer.step()
    weights, state = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    keeper.remember(0)
    for _ in range(2):
        keeper.restore()
        assert _same(model.state_dict(), weights) and _same(optimizer.state_dict(), state)
        model(torch.ones(2, 3)).sum().backward()
        optimizer.step()
        assert not _same(optimizer.state_dict(), state)


def test_a_buffer_nan_at_an_epochs_start_keeps_the_state_of_the_epoch_before():
    # guards remember's test of the weights (every parameter and buffer): a buffer made NaN in epoch 2, which the
    # pass's end does not test (not trained), makes epoch 3 begin not finite, so epoch 2's start is put back
    model, optimizer = _setup()
    model.register_buffer("scale", torch.ones(2))

    def poison(m: nn.Module) -> None:
        m.scale[0] = float("nan")

    _put_back_to(2, model, optimizer, Recording(model, optimizer, at=2 * STEPS + 2, then=(STEPS + 2, poison)))


def test_a_frozen_mask_of_inf_is_kept_and_does_not_stop_the_state_being_kept():
    # guards the rule that inf is divergence only in trained weights: a frozen -inf mask is finite enough to keep
    model, optimizer = _setup()
    model.mask = nn.Parameter(torch.tensor([0.0, float("-inf")]), requires_grad=False)
    _put_back_to(3, model, optimizer, Recording(model, optimizer, at=2 * STEPS + 2))


def _put_back_to(epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Recording) -> None:
    """fit diverges and puts model and optimizer back, bit for bit, as they were at the start of ``epoch``."""
    with pytest.raises(FloatingPointError) as caught:
        fit(model, loss_fn, optimizer, _loader(), epochs=5, progress=False)
    assert f"put back to their finite state at the start of epoch {epoch}" in str(caught.value)
    kept_model, kept_optimizer = loss_fn.starts[epoch - 1]
    assert _same(model.state_dict(), kept_model) and _same(optimizer.state_dict(), kept_optimizer)


def test_weights_nan_when_training_begins_leave_nothing_to_put_back():
    # guards remember's test: NaN weights at the start are never kept
    model, optimizer = _setup()
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="the weights were already NaN or inf"):
        fit(model, nn.MSELoss(), optimizer, _loader(), epochs=2, progress=False)


def test_a_trained_inf_at_the_passs_end_is_named_and_put_back():
    # guards finish_pass's test of the trained weights: an inf a hook writes at the last step is found and named
    model, optimizer = _setup()
    loader = _loader()

    def hook(opt, args, kwargs):
        if hook.calls == 2 * STEPS - 1:
            with torch.no_grad():
                model[2].bias.fill_(float("inf"))
        hook.calls += 1

    hook.calls = 0
    optimizer.register_step_post_hook(hook)
    with pytest.raises(FloatingPointError, match=r"the weights became NaN or inf \(2.bias\) during epoch 2"):
        fit(model, nn.MSELoss(), optimizer, loader, epochs=3, progress=False)
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_stepwatch_tells_a_step_trained_by_a_gradient_an_in_place_change_or_nothing():
    # guards StepWatch's bookkeeping: a gradient, an in-place change in backward (no gradient), nothing at all
    w = nn.Parameter(torch.ones(1))
    optimizer = torch.optim.SGD([w], lr=0.5)
    watch = StepWatch(optimizer, every=True)
    watch.backward(w * 2)
    assert watch.step() is True
    w.grad = None
    loss = torch.ones((), requires_grad=True) * 2

    def in_place(grad: torch.Tensor) -> None:  # changes w in place in backward (detach shares its version counter)
        w.detach().add_(1)

    loss.register_hook(in_place)
    watch.backward(loss)
    assert watch.step() is True
    with pytest.warns(UserWarning, match="not connected"):
        watch.backward(torch.tensor(1.0, requires_grad=True))
        assert watch.step() is False
    assert (watch.steps, watch.idle, watch.trained) == (3, 1, True)


def test_a_pass_where_most_steps_train_nothing_still_warns_and_one_where_none_does_is_refused():
    # guards StepWatch.check_pass through train_epoch
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    calls = []

    def cut(pred, y):  # every batch but the first cut from the model
        calls.append(1)
        loss = ((pred - y) ** 2).mean()
        return loss if len(calls) == 1 else torch.tensor(loss.item(), requires_grad=True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_epoch(model, cut, optimizer, _loader())
    assert any(f"3 of this pass's {STEPS} steps trained nothing" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="the loss is not connected to what the optimizer trains"):
        train_epoch(model, cut, optimizer, _loader())
