"""course.divergence: a NaN or inf loss on a finite batch names what is not finite, after checking it.

The weights, the model's output (computed again) or the loss itself: a weight of 1e20 under MSELoss
overflows the loss while the output stays finite, and a mean over no sample (every target equal to
ignore_index) is NaN from a finite output; neither may be blamed on the output."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from course.divergence import finite_batch_cause
from course.epochs import UPDATED
from course.training import evaluate, fit, make_train_step, make_val_step, train_epoch

ONES, ZEROS = torch.ones(4, 1), torch.zeros(4, 1)


def scaled(layers: int = 1, value: float = 1e20) -> nn.Module:
    """``layers`` Linear(1, 1) layers in a row, whose weights are ``value`` and biases 0."""
    layers = [nn.Linear(1, 1) for _ in range(layers)]
    for layer in layers:
        nn.init.constant_(layer.weight, value)
        nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


def ignored() -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    """Cross-entropy over a batch whose every target is ignore_index: a mean over no sample."""
    return nn.Linear(1, 3), nn.CrossEntropyLoss(ignore_index=0), ONES, torch.zeros(4, dtype=torch.long)


def overflowed() -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    """A weight of 1e20: the output is 1e20, finite; its square, the MSE, is inf in float32."""
    return scaled(), nn.MSELoss(), ONES, ZEROS


def inside() -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    """Two layers of weight 1e30: the output itself overflows, with finite weights."""
    return scaled(2, value=1e30), nn.MSELoss(), ONES, ZEROS


def broken() -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    return scaled(value=float("inf")), nn.MSELoss(), ONES, ZEROS


LOSS = "The batch, the weights and the model's output are finite, so the loss itself is the cause"
IGNORED = "every target of this batch equals the loss's ignore_index (0): the loss is a mean over no sample"
CASES = [(ignored, IGNORED), (overflowed, LOSS), (inside, "finite, but the model's output is not (4 of 4 values")]
CASES_VAL = [*CASES, (broken, "the model's weights are NaN or inf")]


def validation_runs(model, loss_fn, x, y):
    yield lambda: evaluate(model, loss_fn, [(x, y)])
    yield lambda: make_val_step(model, loss_fn)(x, y)
    # fit: training on x = 0 (an output of bias 0, a finite loss, a zero gradient) and then validating on x
    zero = torch.zeros_like(x)
    train_y = torch.ones_like(y) if y.dtype == torch.long else y  # targets that are not ignored
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    yield lambda: fit(model, loss_fn, opt, [(zero, train_y)], 1, val_loader=[(x, y)], progress=False)


@pytest.mark.parametrize(("make", "cause"), CASES_VAL)
def test_a_validation_loss_names_what_is_not_finite(make, cause):
    model, loss_fn, x, y = make()
    runs = list(validation_runs(model, loss_fn, x, y))
    for run in runs[:2] if make is broken else runs:  # fit would stop at training on inf weights, before validating
        with pytest.raises(FloatingPointError, match="validation loss") as info:
            run()
        assert cause in str(info.value)
        assert "data is at fault" not in str(info.value)


@pytest.mark.parametrize(("make", "cause"), CASES)
def test_a_first_training_step_names_what_is_not_finite(make, cause):
    model, loss_fn, x, y = make()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rate = (
        "a lower learning rate will not help" if make is ignored else "before any update, so the learning rate is not"
    )
    for run in (
        lambda: make_train_step(model, loss_fn, opt)(x, y),
        lambda: fit(model, loss_fn, opt, [(x, y)], 1, progress=False),
    ):
        with pytest.raises(FloatingPointError, match=rate) as info:
            run()
        assert cause in str(info.value)


def test_computing_the_output_again_leaves_batchnorm_statistics_and_the_mode_as_they_were():
    model = nn.Sequential(nn.Linear(1, 2), nn.BatchNorm1d(2)).train()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    assert "loss itself" in finite_batch_cause(model, torch.randn(8, 1))
    assert model.training
    assert all(torch.equal(value, before[key]) for key, value in model.state_dict().items())


def test_weights_never_finite_are_told_to_be_so_before_any_step_of_this_run():
    model, loss_fn, x, y = broken()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for run, words in (
        (lambda: make_train_step(model, loss_fn, opt)(x, y), r"NaN or inf before this step function's first step"),
        (lambda: fit(model, loss_fn, opt, [(x, y)], 1, progress=False), r"NaN or inf before this training began"),
    ):
        with pytest.raises(FloatingPointError, match=words) as info:
            run()
        assert "learning rate is not the cause" not in str(info.value), "an earlier run's rate may well be the cause"


def diverging(call):
    """Train a plain SGD model (no state tells that it stepped) one call at a time until a call's first step fails.

    ``call(model, opt, batch, number)`` makes the number-th call; x up to 10 and lr 0.1 make the weights grow.
    """
    torch.manual_seed(0)
    x = torch.rand(64, 1) * 10
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError) as info:
        for number in range(60):
            call(model, opt, [(x, 3 * x + 1)], number)
    return str(info.value)


def resumed(model, opt, data, number):
    history = {"train_loss": [1.0] * number, "lr": [0.1] * number}  # the epochs done, as a checkpoint holds them
    fit(model, nn.MSELoss(), opt, data, number + 1, history=history, start_epoch=number, progress=False)


CALLS = {
    "train_epoch": lambda model, opt, data, number: train_epoch(model, nn.MSELoss(), opt, data),
    "a new train step": lambda model, opt, data, number: make_train_step(model, nn.MSELoss(), opt)(*data[0]),
    "fit": lambda model, opt, data, number: fit(model, nn.MSELoss(), opt, data, 1, progress=False),
    "fit resumed": resumed,
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_a_model_trained_by_earlier_calls_is_not_told_the_rate_is_innocent(call):
    text = diverging(call)
    assert "step 1 (counting" in text or "the step was skipped" in text, text  # the first step of the call
    assert "not the cause" not in text, text
    assert "lower the learning rate" in text, text


@pytest.mark.parametrize(("optimizer", "known"), [(torch.optim.Adam, True), (torch.optim.SGD, False)])
@pytest.mark.parametrize("trainer", ["step", "epoch"])
def test_an_optimizer_stepped_by_hand_is_known_by_its_state_else_the_rate_is_named_as_likely(optimizer, known, trainer):
    model, loss_fn, x, y = overflowed()
    opt = optimizer(model.parameters(), lr=0.1)
    nn.MSELoss()(model(ZEROS), ZEROS).backward()  # a step by hand at x = 0, where the gradient of the weight is 0
    opt.step()
    with pytest.raises(FloatingPointError) as info:
        make_train_step(model, loss_fn, opt)(x, y) if trainer == "step" else train_epoch(model, loss_fn, opt, [(x, y)])
    text = str(info.value)
    assert ("lower the learning rate" in text) is known, text
    assert ("if the model was trained before" in text and "the rate is the likely cause" in text) is not known, text


class LazyStep(torch.optim.SGD):
    """A custom optimizer whose state holds step=None until its first step (or a step it cannot count)."""

    def __init__(self, params, step: object = None) -> None:
        super().__init__(params, lr=0.1)
        for p in self.param_groups[0]["params"]:
            self.state[p]["step"] = step


@pytest.mark.parametrize("step", [None, "3", torch.ones(2), torch.tensor(0.0)])
def test_an_optimizer_state_whose_step_is_not_a_positive_number_is_not_known_as_trained(step):
    model = nn.Linear(3, 1)
    assert train_epoch(model, nn.MSELoss(), LazyStep(model.parameters(), step), [(torch.ones(4, 3), ONES)]) >= 0
    fresh = nn.Linear(1, 1)
    assert UPDATED.known(fresh, LazyStep(fresh.parameters(), step)) is False
    assert UPDATED.known(fresh, LazyStep(fresh.parameters(), torch.tensor(2))) is True


# ------------------------------------------------------ weights a last step made NaN or inf, though its loss was finite


def rmse(pred, y):
    return torch.sqrt(((pred - y) ** 2).mean())


def perfect_fit() -> tuple[nn.Module, torch.optim.Optimizer, list]:
    """An RMSE at a perfect fit: the loss is 0, finite, but the gradient of sqrt at 0 is NaN."""
    torch.manual_seed(0)
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    return model, torch.optim.SGD(model.parameters(), lr=0.1), [(torch.randn(8, 1), torch.zeros(8, 1))]


def too_fast() -> tuple[nn.Module, torch.optim.Optimizer, list]:
    """A rate of 1e38: one step takes a weight past float32's largest value, with a finite loss and gradient."""
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    x = torch.randn(8, 2)
    return model, torch.optim.SGD(model.parameters(), lr=1e38), [(x, 10 * x.sum(1, keepdim=True) + 5)]


PASSES = {
    "fit": lambda model, loss_fn, opt, data: fit(model, loss_fn, opt, data, 1, progress=False),
    "fit, validating": lambda model, loss_fn, opt, data: fit(
        model, loss_fn, opt, data, 3, val_loader=data, progress=False
    ),
    "train_epoch": lambda model, loss_fn, opt, data: train_epoch(model, loss_fn, opt, data),
}
BROKEN_BY = {  # how the weights broke, what the error must say, and what it must not
    "nan gradient": (perfect_fit, rmse, r"gradient.*NaN or inf.*sqrt", "lower the learning rate"),
    "rate too high": (too_fast, nn.MSELoss(), r"gradient was finite.*learning rate \(1e\+38\)", "sqrt"),
}


@pytest.mark.parametrize("how", BROKEN_BY.values(), ids=BROKEN_BY.keys())
@pytest.mark.parametrize("run", PASSES.values(), ids=PASSES.keys())
def test_weights_a_last_step_made_nan_are_put_back_and_the_cause_named(run, how):
    make, loss_fn, cause, not_the_cause = how
    model, opt, data = make()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    with pytest.raises(FloatingPointError, match=r"the weights became NaN or inf \((weight|bias)") as info:
        run(model, loss_fn, opt, data)
    text = " ".join(str(info.value).split())
    assert re.search(cause, text), text
    assert not_the_cause not in text and "validation" not in text, text
    assert "put back to their finite state at the start of" in text, text
    assert all(torch.equal(value, before[key]) for key, value in model.state_dict().items())


@pytest.mark.parametrize("how", BROKEN_BY.values(), ids=BROKEN_BY.keys())
def test_a_train_step_that_breaks_the_weights_says_which_and_why(how):
    make, loss_fn, cause, not_the_cause = how
    model, opt, data = make()
    with pytest.raises(FloatingPointError, match=r"the step made the weights NaN or inf \((weight|bias)") as info:
        make_train_step(model, loss_fn, opt)(*data[0])
    text = " ".join(str(info.value).split())
    assert re.search(cause, text) and not_the_cause not in text, text
    assert "rebuild the model and the optimizer" in text, text  # a step keeps no copy to put back


def test_a_frozen_parameter_that_holds_inf_on_purpose_is_not_taken_for_broken_weights():
    model = nn.Sequential(nn.Linear(1, 1))
    model.mask = nn.Parameter(torch.tensor(float("-inf")), requires_grad=False)  # never updated, never used
    opt = torch.optim.SGD(model[0].parameters(), lr=0.1)
    assert make_train_step(model, nn.MSELoss(), opt)(ONES, ZEROS) >= 0


class _Masked(nn.Module):  # review 10b: a causal mask kept as a trainable parameter, -inf above the diagonal
    def __init__(self):
        super().__init__()
        self.mask = nn.Parameter(torch.full((4, 4), float("-inf")).triu(1))
        self.out = nn.Linear(4, 1)

    def forward(self, x):
        return self.out((torch.softmax(x[:, None, :] + self.mask, -1) * x[:, None, :]).sum(-1))


def test_an_inf_a_trained_mask_holds_on_purpose_is_not_taken_for_broken_weights():
    torch.manual_seed(0)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    model = _Masked()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert math.isfinite(train_epoch(model, nn.MSELoss(), optimizer, [(x[:8], y[:8]), (x[8:], y[8:])]))
    assert math.isfinite(make_train_step(model, nn.MSELoss(), optimizer)(x, y))


def test_sparse_gradients_and_an_inf_setting_still_give_the_weights_back_and_blame_the_rate():
    class Clipped(torch.optim.SGD):  # max_norm=inf, "no clipping", is a legitimate setting
        def __init__(self, params, lr):
            super().__init__(params, lr=lr)
            self.param_groups[0]["max_norm"] = float("inf")

    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(10, 3, sparse=True), nn.Linear(3, 1))
    ids, y = torch.randint(0, 10, (8,)), torch.randn(8, 1) * 1e6
    with pytest.raises(FloatingPointError, match=r"learning rate \(1e\+38\) is too high") as caught:
        fit(model, nn.MSELoss(), Clipped(model.parameters(), lr=1e38), [(ids, y)], 2, progress=False)
    assert "max_norm" not in str(caught.value)
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


class _Lengths(nn.Module):  # review 10b: a vector length, sqrt at 0 for token 7, whose vector starts at 0
    def __init__(self):
        super().__init__()
        self.emb, self.head = nn.Embedding(10, 3), nn.Linear(1, 1)
        with torch.no_grad():
            self.emb.weight[7] = 0.0

    def forward(self, ids):
        return self.head(torch.sqrt((self.emb(ids) ** 2).sum(-1, keepdim=True)))


def test_weights_broken_by_an_earlier_step_of_the_pass_are_not_blamed_on_the_last_one_alone():
    torch.manual_seed(0)
    batches = [(torch.tensor(ids), torch.ones(3, 1)) for ids in ([1, 2, 3], [7, 4, 5], [1, 4, 6], [2, 3, 5])]
    model = _Lengths()  # step 2 makes token 7's row NaN; steps 3 and 4 never look it up
    with pytest.raises(FloatingPointError, match=r"during this epoch \(4 steps\).*an earlier one.*torch\.sqrt at 0"):
        train_epoch(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), batches)
    assert bool(torch.isfinite(model.emb.weight).all())
