"""Silent training and misnamed causes the second review of round 12 found in the trainer's new reach.

A loss of one's own given a model's several outputs broadcasts them as it would one tensor; a loss of one's own given
other lengths reshapes them away; an optimizer built before a layer was replaced by one of the same shape never
trains it; a frozen inf mask is no divergence; NaN nested deep in the inputs is the data's; an optimizer of another
model is refused at once; a loss's own errors are explained whatever the model returns; devices of nested inputs.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn
from torch.nn import functional
from torch.utils.data import DataLoader, TensorDataset

from course.device import device_error
from course.training import evaluate, fit, make_train_step, make_val_step, train_epoch
from tests.unit.clear_errors import assert_clear_error

X, Y = torch.randn(8, 3), torch.randn(8)  # Y of shape (N,): a model's (N, 1) against it broadcasts to (N, N)


def sgd(model: nn.Module, lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=lr)


def paths(model: nn.Module, loss_fn: object, batch: tuple, optimizer: object = None) -> list:
    """Every way the trainer runs a loss on ``batch``: the refusal must come on each."""
    opt = optimizer or sgd(model)
    return [
        lambda: fit(model, loss_fn, opt, [batch], 1, progress=False),
        lambda: train_epoch(model, loss_fn, opt, [batch]),
        lambda: make_train_step(model, loss_fn, opt)(*batch),
        lambda: make_val_step(model, loss_fn)(*batch),
        lambda: evaluate(model, loss_fn, [batch]),
    ]


# ----------------------------------------------------------------------------- 1. several outputs, broadcast


@dataclasses.dataclass
class Output:
    pred: torch.Tensor
    aux: torch.Tensor


class Pair(nn.Module):
    def __init__(self, kind: str = "tuple") -> None:
        super().__init__()
        self.linear, self.kind = nn.Linear(3, 1), kind

    def forward(self, x: torch.Tensor) -> object:
        out = self.linear(x)
        pred, aux = out, out.pow(2).mean()
        if self.kind == "dataclass":
            return Output(pred, aux)
        return (pred, aux) if self.kind == "tuple" else {"pred": pred, "aux": aux}


def first(out: object) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out.pred if isinstance(out, Output) else out["pred"]


@pytest.mark.parametrize("kind", ["tuple", "dict", "dataclass"])
@pytest.mark.parametrize("how", ["criterion", "by hand"])
def test_a_loss_of_its_own_broadcasting_one_of_several_outputs_is_refused(kind, how):
    criterion = nn.MSELoss()
    loss_fn = {"criterion": lambda out, y: criterion(first(out), y),
               "by hand": lambda out, y: ((first(out) - y) ** 2).mean()}[how]  # fmt: skip
    model = Pair(kind)
    before = model.linear.weight.detach().clone()
    for call in paths(model, loss_fn, (X, Y)):
        assert_clear_error(call, ValueError, r"shape \(8, 1\) but the targets \(8,\).*broadcast them to \(8, 8\)")
    assert torch.equal(model.linear.weight, before)


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.one, self.three = nn.Linear(3, 1), nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> tuple:
        return self.one(x), self.three(x)


def test_the_output_a_loss_of_its_own_stretches_the_targets_over_is_named_not_one_of_the_targets_shape():
    model, y = TwoHeads(), Y.view(-1, 1)  # out[0] has y's shape, out[1] three columns: the loss takes out[1]
    with pytest.warns(UserWarning, match=r"shape \(8, 3\) but the targets \(8, 1\).*stretch each target over 3"):
        make_train_step(model, lambda out, t: ((out[1] - t) ** 2).mean(), sgd(model))(X, y)


def test_several_outputs_whose_predictions_pair_with_the_targets_still_train():
    model = Pair()
    loss_fn = lambda out, y: functional.mse_loss(out[0], y) + 0.01 * out[1]  # noqa: E731
    history = fit(model, loss_fn, sgd(model), [(X, Y.view(-1, 1))] * 2, 3, progress=False)
    assert history["train_loss"][-1] < history["train_loss"][0]


# ----------------------------------------------------------------------------- 2. a loss of its own, other lengths


class Pooled(nn.Module):
    """Pools over the batch by mistake (mean(0), not mean(1)): one prediction for the whole batch."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.mean(0, keepdim=True))


@pytest.mark.parametrize(
    ("model", "batch", "loss_fn", "words"),
    [
        (Pooled(), (X, Y), lambda p, t: ((p.squeeze(1) - t) ** 2).mean(), "gave 1 predictions but 8 target"),
        (
            nn.Linear(3, 2),
            (X, torch.randn(16)),
            lambda p, t: ((p.flatten() - t) ** 2).mean(),
            "gave 8 predictions but 16",
        ),
        (
            nn.Linear(3, 1),
            (X[:1], torch.randn(8)),
            lambda p, t: ((p.squeeze() - t) ** 2).mean(),
            "gave 1 predictions but 8",
        ),
        (
            nn.Linear(3, 1),
            (X, torch.randn(1)),
            lambda p, t: functional.mse_loss(p.squeeze(1), t),
            "gave 8 predictions but 1",
        ),
    ],
)
def test_a_loss_of_its_own_given_other_lengths_is_refused_even_if_it_reshapes_them(model, batch, loss_fn, words):
    before = [p.detach().clone() for p in model.parameters()]
    for call in paths(model, loss_fn, batch):
        assert_clear_error(call, ValueError, words + r".*each sample needs its own target")
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))


class TimeMajor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn, self.head = nn.RNN(3, 4), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0])  # (T, N, 2)


def test_a_time_major_output_scored_at_its_last_step_still_trains():
    model, x, y = TimeMajor(), torch.randn(5, 8, 3), torch.randint(0, 2, (8,))
    history = fit(model, lambda o, t: functional.cross_entropy(o[-1], t), sgd(model), [(x, y)], 2, progress=False)
    assert len(history["train_loss"]) == 2


# ----------------------------------------------------------------------------- 3. a layer replaced by one alike


def replaced(change: str) -> tuple[nn.Module, torch.optim.Optimizer]:
    if change == "linear without bias":
        model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1, bias=False))
        optimizer = sgd(model)
        model[2] = nn.Linear(8, 1, bias=False)  # one tensor, of the old one's shape
    else:
        model = nn.Sequential(nn.Linear(3, 8), nn.PReLU(), nn.Linear(8, 1))
        optimizer = sgd(model)
        model[1] = nn.PReLU()
    return model, optimizer


@pytest.mark.parametrize("trainer", ["fit", "train_epoch", "train step"])
@pytest.mark.parametrize("change", ["linear without bias", "prelu"])
def test_a_layer_replaced_by_one_of_the_same_shape_after_the_optimizer_is_refused(trainer, change):
    model, optimizer = replaced(change)
    before = [p.detach().clone() for p in model.parameters()]
    y = Y.view(-1, 1)
    run = {"fit": lambda: fit(model, nn.MSELoss(), optimizer, [(X, y)] * 3, 2, progress=False),
           "train_epoch": lambda: train_epoch(model, nn.MSELoss(), optimizer, [(X, y)] * 3),
           "train step": lambda: make_train_step(model, nn.MSELoss(), optimizer)(X, y)}[trainer]  # fmt: skip
    with pytest.raises(ValueError, match=r"built before the model changed.*Rebuild it") as info:
        run()
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))  # refused before the step
    assert "keep the training done" not in "\n".join(getattr(info.value, "__notes__", []))


def test_an_optimizer_of_another_model_and_a_tensor_of_the_loss_is_refused():
    other, model, temperature = nn.Linear(3, 1), nn.Linear(3, 1), nn.Parameter(torch.ones(1))
    optimizer = torch.optim.SGD([*other.parameters(), temperature], lr=0.1)
    with pytest.raises(ValueError, match=r"Rebuild it"):
        fit(
            model,
            lambda p, y: functional.mse_loss(p * temperature, y),
            optimizer,
            [(X, Y.view(-1, 1))],
            1,
            progress=False,
        )


def test_an_optimizer_of_part_of_the_model_and_a_tensor_of_the_loss_still_trains():
    model, temperature = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)), nn.Parameter(torch.ones(1))
    optimizer = torch.optim.SGD([*model[0].parameters(), temperature], lr=0.1)
    before = model[0].weight.detach().clone()
    fit(model, lambda p, y: functional.mse_loss(p * temperature, y), optimizer, [(X, Y.view(-1, 1))], 1, progress=False)
    assert not torch.equal(model[0].weight, before) and temperature.item() != 1.0


def test_temperature_scaling_of_a_frozen_model_still_trains():
    model, temperature = nn.Linear(3, 2).requires_grad_(False), nn.Parameter(torch.ones(1))
    y = torch.randint(0, 2, (8,))
    loss_fn = lambda p, t: functional.cross_entropy(p / temperature, t)  # noqa: E731
    for call in (
        lambda: fit(model, loss_fn, torch.optim.SGD([temperature], lr=0.1), [(X, y)], 2, progress=False),
        lambda: make_train_step(model, loss_fn, torch.optim.SGD([temperature], lr=0.1))(X, y),
    ):
        call()
    assert temperature.item() != 1.0


# ----------------------------------------------------------------------------- 4. a frozen inf mask and divergence


class Masked(nn.Module):
    def __init__(self, classes: int = 1) -> None:
        super().__init__()
        self.linear = nn.Linear(4, classes)
        mask = torch.zeros(4)
        mask[0] = float("-inf")
        self.mask = nn.Parameter(mask, requires_grad=False)  # a frozen mask: inf on purpose

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x * torch.exp(self.mask))


def test_weights_blown_up_beside_a_frozen_inf_mask_are_put_back():
    torch.manual_seed(0)
    model = Masked()
    x, y = torch.randn(32, 4) * 1e3, torch.randn(32, 1)
    with pytest.raises(FloatingPointError, match=r"put back to their finite state") as info:
        fit(model, nn.MSELoss(), sgd(model, lr=1e35), [(x, y)], 3, progress=False)
    assert "already NaN or inf" not in str(info.value)
    assert bool(torch.isfinite(model.linear.weight).all())


def test_a_batch_of_padding_only_beside_a_frozen_inf_mask_names_the_padding():
    model, pad = Masked(classes=3), (torch.randn(6, 4), torch.full((6,), -100))
    for call in (
        lambda: fit(model, nn.CrossEntropyLoss(), sgd(model), [pad], 1, progress=False),
        lambda: make_train_step(model, nn.CrossEntropyLoss(), sgd(model))(*pad),
        lambda: evaluate(model, nn.CrossEntropyLoss(), [pad]),
    ):
        with pytest.raises(FloatingPointError, match=r"ignore_index \(-100\)") as info:
            call()
        assert "NaN or inf before" not in str(info.value)


# ----------------------------------------------------------------------------- 5. NaN nested deep in the inputs


class Nested(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(3, 1), nn.Linear(2, 1), nn.Linear(1, 1)

    def forward(self, x: tuple) -> torch.Tensor:
        (x1, x2), x3 = x
        return self.a(x1) + self.b(x2) + self.c(x3)


def test_nan_nested_deep_in_the_inputs_is_the_datas_fault():
    x1 = X.clone()
    x1[0, 0] = float("nan")
    batch = (((x1, torch.randn(8, 2)), torch.randn(8, 1)), Y.view(-1, 1))
    model = Nested()
    for call in paths(model, nn.MSELoss(), batch):
        with pytest.raises(FloatingPointError, match=r"features x, 1 of 48 values are NaN or inf") as info:
            call()
        assert "overflowed" not in str(info.value)


# ----------------------------------------------------------------------------- 6. an optimizer that trains nothing


def test_an_optimizer_of_another_model_is_refused_after_a_pass_without_a_false_note():
    other, model = nn.Sequential(nn.Linear(3, 16), nn.Linear(16, 1)), nn.Sequential(nn.Linear(3, 8), nn.Linear(8, 1))
    loader = DataLoader(TensorDataset(torch.randn(32, 3), torch.randn(32, 1)), batch_size=8)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"holds none of this model's parameters") as info:
        fit(model, nn.MSELoss(), sgd(other), loader, 3, progress=False)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "keep the training done" not in notes and "batch 5" not in notes
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))
    with pytest.warns(UserWarning, match="not another model's"):  # one step cannot tell a batch the loss left out
        make_train_step(model, nn.MSELoss(), sgd(other))(X, Y.view(-1, 1))


# ----------------------------------------------------------------------------- 7, 9. a loss's own errors explained


class Scores(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(3, width)

    def forward(self, x: torch.Tensor) -> tuple:
        return self.linear(x), None


@pytest.mark.parametrize(
    ("width", "y", "loss_fn", "words"),
    [
        (3, torch.tensor([0, 1, 2, 4, 0, 1, 2, 0]), lambda o, y: functional.cross_entropy(o[0], y), r"a target holds class 4, but the model gives 3 scores"),
        (2, torch.randn(8, 3), lambda o, y: functional.mse_loss(o[0], y), r"predictions have shape \(8, 2\) but the targets \(8, 3\)"),
        (3, torch.randint(0, 3, (4,)), lambda o, y: functional.cross_entropy(o[0], y), r"gave 8 predictions but 4 target.*torch said: Expected input batch_size"),
    ],
)  # fmt: skip
def test_a_loss_of_its_own_given_several_outputs_has_its_errors_explained(width, y, loss_fn, words):
    model = Scores(width)
    with pytest.raises((ValueError, TypeError), match=words) as info:
        make_train_step(model, loss_fn, sgd(model))(X, y)
    assert "picking the predictions with out[0]" not in "\n".join(getattr(info.value, "__notes__", []))


def test_a_loss_of_its_own_given_several_outputs_as_one_is_told_what_it_got():
    model = Scores(1)
    with pytest.raises(AttributeError, match=r"'tuple' object") as info:
        make_train_step(model, lambda o, y: functional.mse_loss(o, y), sgd(model))(X, Y.view(-1, 1))
    assert "picking the predictions with out[0]" in "\n".join(getattr(info.value, "__notes__", []))


def test_a_time_major_output_flattened_by_a_loss_of_its_own_is_explained():
    model, x, y = TimeMajor(), torch.randn(5, 8, 3), torch.randint(0, 2, (8,))
    assert_clear_error(
        lambda: make_train_step(model, lambda o, t: functional.cross_entropy(o.reshape(-1, 2), t), sgd(model))(x, y),
        ValueError,
        r"gave 5 predictions but 8 target.*torch said: Expected input batch_size \(40\).*batch_first=True",
    )


# ----------------------------------------------------------------------------- 8. devices of nested inputs


@pytest.mark.parametrize(
    "x",
    [((torch.ones(2, 3), torch.ones(2, 3)), torch.ones(2, 3, device="meta")), {"a": (torch.ones(2, 3),)}],
)
def test_nested_inputs_on_another_device_are_named_with_a_fix_that_moves_them(x):
    model = nn.Linear(3, 1).to("meta")
    text = str(device_error(model, x, torch.ones(2, 1, device="meta"), "torch's words"))
    assert "x is on cpu but the model on meta" in text
    assert "to_device(x, device)" in text and "x.to(device)" not in text


# ----------------------------------------------------------------------------- the first step's evidence, a third look


def _head_task_heads_loss():
    """A body left trainable, an optimizer over the head and two task heads the loss uses in turn (one per batch)."""
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8))
    heads, calls = nn.ModuleList([nn.Linear(8, 1) for _ in range(2)]), [0]

    def loss(out, y):
        calls[0] += 1
        return functional.mse_loss(heads[calls[0] % 2](out), y)

    return model, loss, torch.optim.Adam([*model[2].parameters(), *heads.parameters()], lr=1e-2)


def test_a_head_only_optimizer_with_loss_tensors_a_first_batch_leaves_out_trains():
    model, loss, optimizer = _head_task_heads_loss()
    loader = DataLoader(TensorDataset(torch.randn(32, 3), torch.randn(32, 1)), batch_size=8)
    history = fit(model, loss, optimizer, loader, 1, progress=False)  # a plain loop trains it too
    assert len(history["train_loss"]) == 1


def test_a_frozen_model_with_a_temperature_trains_though_the_first_batch_has_no_graph():
    model, temperature, calls = nn.Linear(3, 1).requires_grad_(False), nn.Parameter(torch.ones(1)), [0]

    def loss(out, y):
        calls[0] += 1
        return torch.tensor(0.0, requires_grad=True) if calls[0] == 1 else functional.mse_loss(out * temperature, y)

    loader = DataLoader(TensorDataset(torch.randn(32, 3), torch.randn(32, 1)), batch_size=8)
    fit(model, loss, torch.optim.SGD([temperature], lr=0.1), loader, 1, progress=False)
    assert temperature.item() != 1.0


def test_a_layer_replaced_after_the_first_train_step_is_refused_before_the_next_update():
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    step = make_train_step(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    step(x, y)
    model[2] = nn.Linear(8, 1)  # the optimizer still holds the old layer's tensors
    with pytest.raises(ValueError, match="built before the model changed"):
        step(x, y)


class _TimeMajor(nn.Module):  # a GRU without batch_first: its output is (T, N, 1)
    def __init__(self) -> None:
        super().__init__()
        self.gru, self.linear = nn.GRU(4, 5), nn.Linear(5, 1)

    def forward(self, x):
        return self.linear(self.gru(x.transpose(0, 1))[0])


def test_the_last_time_step_of_a_time_major_output_broadcast_against_the_targets_is_refused():
    x, model = torch.randn(8, 6, 4), _TimeMajor()
    with pytest.raises(ValueError, match=r"shape \(8, 1\) but the targets \(8,\): the loss would broadcast them"):
        fit(model, lambda out, y: ((out[-1] - y) ** 2).mean(), sgd(model), [(x, torch.randn(8))], 1, progress=False)
    for y, loss in ((torch.randn(8, 1), lambda out, y: ((out[-1] - y) ** 2).mean()),
                    (torch.randn(8), lambda out, y: ((out[-1].squeeze(1) - y) ** 2).mean())):  # fmt: skip
        assert len(fit(model, loss, sgd(model), [(x, y)], 1, progress=False)["train_loss"]) == 1
