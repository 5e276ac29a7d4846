"""Good input the trainer refused, and causes it misnamed (round 12 of the API review).

A model may return several things (a tuple, a dict) for a loss written for them, and take several inputs, as a
Dataset's ``((x1, x2), y)`` items give them; a loss of its own may compare any shapes (a time-major RNN's last
step); a dtype bug inside a model that converts x itself is not x's; a batch of padding only is not the learning
rate's fault; a single image lacks a batch dimension, not a layer of another width.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional
from torch.utils.data import DataLoader, Dataset

from course.training import evaluate, fit, make_train_step, make_val_step, predict, train_epoch
from tests.unit.clear_errors import assert_clear_error

X, Y = torch.randn(8, 3), torch.randn(8, 1)


def sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1)


# ----------------------------------------------------------------------------- a model returning several things


class WithAux(nn.Module):
    """Returns (predictions, an auxiliary penalty), or a dict of them."""

    def __init__(self, kind: str = "tuple") -> None:
        super().__init__()
        self.linear, self.kind = nn.Linear(3, 1), kind

    def forward(self, x: torch.Tensor) -> object:
        out = self.linear(x)
        return (out, out.abs().mean()) if self.kind == "tuple" else {"pred": out, "aux": out.abs().mean()}


def with_aux(out: object, y: torch.Tensor) -> torch.Tensor:
    pred, aux = (out["pred"], out["aux"]) if isinstance(out, dict) else out
    return ((pred - y) ** 2).mean() + 0.01 * aux


@pytest.mark.parametrize("kind", ["tuple", "dict"])
def test_a_model_returning_several_things_trains_with_a_loss_written_for_them(kind):
    torch.manual_seed(0)
    model = WithAux(kind)
    expected = with_aux(model(X), Y).item()
    assert make_train_step(model, with_aux, sgd(model))(X, Y) == pytest.approx(expected)
    assert model(X) is not None and with_aux(model(X), Y).item() < expected  # the step trained it
    assert make_val_step(model, with_aux)(X, Y) == pytest.approx(with_aux(model(X), Y).item())
    assert evaluate(model, with_aux, [(X, Y)]) == pytest.approx(with_aux(model(X), Y).item())
    history = fit(model, with_aux, sgd(model), [(X, Y)] * 2, 3, progress=False)
    assert history["train_loss"][-1] < expected
    assert isinstance(predict(model, X), (tuple, dict))


@pytest.mark.parametrize(("kind", "pick"), [("tuple", r"out\[0\]"), ("dict", r"out\['pred'\]")])
def test_a_built_in_loss_given_several_things_is_refused_with_a_true_message(kind, pick):
    model = WithAux(kind)
    with pytest.raises(TypeError, match=rf"model returned a {kind}.*MSELoss takes one tensor.*{pick}") as info:
        fit(model, nn.MSELoss(), sgd(model), [(X, Y)], 1, progress=False)
    assert "should return a tensor" not in str(info.value)  # a model may return more, on purpose


def test_a_loss_of_its_own_that_fails_on_a_tuple_keeps_its_own_error_and_is_told_what_it_got():
    model = WithAux("tuple")
    with pytest.raises(TypeError, match=r"unsupported operand") as info:
        make_train_step(model, lambda out, y: ((out - y) ** 2).mean(), sgd(model))(X, Y)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "the model returned a tuple of 2 items" in notes and "out[0]" in notes


# ----------------------------------------------------------------------------- a model taking several inputs


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(3, 1), nn.Linear(2, 1)

    def forward(self, x: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x1, x2 = x
        return self.a(x1) + self.b(x2)


class Pairs(Dataset):
    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.x1, self.x2, self.y = torch.randn(8, 3, generator=gen), torch.randn(8, 2, generator=gen), torch.randn(8, 1)

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> tuple:
        return (self.x1[i], self.x2[i]), self.y[i]


def test_a_model_of_two_inputs_trains_and_is_evaluated_from_a_dataset_of_pairs():
    torch.manual_seed(0)
    data, model = Pairs(), TwoInputs()
    loader = DataLoader(data, batch_size=4)
    expected = nn.MSELoss()(model((data.x1, data.x2)), data.y).item()
    assert evaluate(model, nn.MSELoss(), loader) == pytest.approx(expected)
    before = expected
    fit(model, nn.MSELoss(), sgd(model), loader, 3, val_loader=loader, progress=False)
    assert train_epoch(model, nn.MSELoss(), sgd(model), loader) < before
    assert make_train_step(model, nn.MSELoss(), sgd(model))((data.x1, data.x2), data.y) > 0
    assert predict(model, [data.x1, data.x2]).shape == (8, 1)


def test_nan_in_one_of_several_inputs_is_named_not_blamed_on_the_learning_rate():
    data, model = Pairs(), TwoInputs()
    data.x2[5, 1] = float("nan")
    with pytest.raises(FloatingPointError, match=r"in the features x, 1 of 20 values are NaN or inf") as info:
        fit(model, nn.MSELoss(), sgd(model), DataLoader(data, batch_size=4), 1, progress=False)
    assert "lower the learning rate" not in str(info.value).split("will not help")[0]


def test_one_of_several_inputs_on_another_device_is_named():
    from course.device import device_error

    model, inputs = nn.Linear(1, 1), (torch.ones(2, 1), torch.ones(2, 1, device="meta"))
    assert "x is on meta but the model on cpu" in str(device_error(model, inputs, None, "torch's words"))


def test_features_given_as_a_list_to_a_model_of_one_input_still_name_the_fix():
    class Listed(Dataset):
        def __len__(self) -> int:
            return 8

        def __getitem__(self, i: int) -> tuple:
            return X[i].tolist(), Y[i]  # a DataLoader makes this a list of 3 tensors, one per feature

    model = nn.Linear(3, 1)
    assert_clear_error(
        lambda: train_epoch(model, nn.MSELoss(), sgd(model), DataLoader(Listed(), batch_size=4)),
        TypeError,
        r"features x are a list of 3 item\(s\).*model could not take them.*torch\.tensor\(features, dtype=torch\.float32\)",
    )


# ----------------------------------------------------------------------------- a loss of its own, of any shapes


class TimeMajor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn, self.head = nn.RNN(3, 4), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out)  # (T, N, 2)


def last_step(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return functional.cross_entropy(out[-1], y)


def test_a_loss_of_its_own_may_compare_outputs_and_targets_of_other_lengths():
    torch.manual_seed(0)
    model, x, y = TimeMajor(), torch.randn(5, 8, 3), torch.randint(0, 2, (8,))
    expected = last_step(model(x), y).item()
    assert make_train_step(model, last_step, sgd(model))(x, y) == pytest.approx(expected)
    assert evaluate(model, last_step, [(x, y)]) == pytest.approx(last_step(model(x), y).item())


def squared_error(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return ((p - t) ** 2).mean()


def test_a_time_major_output_given_to_a_built_in_loss_is_told_where_its_samples_are():
    model, x, y = TimeMajor(), torch.randn(5, 8, 3), torch.randint(0, 2, (8,))
    with pytest.raises(ValueError, match=r"gave 5 predictions but 8 target.*dimension 1.*batch_first=True") as info:
        make_train_step(model, nn.CrossEntropyLoss(), sgd(model))(x, y)
    assert "TensorDataset" not in str(info.value)


def test_other_lengths_are_still_refused_for_a_built_in_loss_or_one_that_broadcasts_or_fails():
    model = nn.Linear(3, 1)
    words = r"gave 8 predictions but 3 target"
    assert_clear_error(lambda: make_train_step(model, nn.MSELoss(), sgd(model))(X, Y[:3]), ValueError, words)
    # (8, 1) against (3,) broadcasts to (8, 3); against (3, 1) it fails: a loss of one's own is refused before it runs
    assert_clear_error(lambda: make_train_step(model, squared_error, sgd(model))(X, Y[:3, 0]), ValueError, words)
    assert_clear_error(lambda: make_train_step(model, squared_error, sgd(model))(X, Y[:3]), ValueError, words)


# ----------------------------------------------------------------------------- dtype errors that are not x's


class ConvertsItself(nn.Module):
    """Takes uint8 images and converts them; a dtype bug of its own inside."""

    def __init__(self, bug: str) -> None:
        super().__init__()
        self.linear, self.bug = nn.Linear(4, 2), bug
        self.register_buffer("index", torch.tensor([0.0, 1.0, 2.0, 3.0]))
        self.register_buffer("scale", torch.ones(2, 2, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255
        if self.bug == "float index":
            return self.linear(x.index_select(1, self.index))
        return self.linear(x) @ self.scale  # float32 by float64


UINT8 = torch.randint(0, 255, (6, 4), dtype=torch.uint8)


@pytest.mark.parametrize(("bug", "torch_words"), [("float index", "index_select"), ("double buffer", "same dtype")])
def test_a_dtype_bug_inside_a_model_that_converts_x_is_not_blamed_on_x(bug, torch_words):
    model = ConvertsItself(bug)
    for call in (
        lambda: make_train_step(model, nn.CrossEntropyLoss(), sgd(model))(UINT8, torch.zeros(6, dtype=torch.long)),
        lambda: predict(model, UINT8),
    ):
        with pytest.raises(RuntimeError, match=torch_words) as info:
            call()
        assert "features x are" not in str(info.value)


@pytest.mark.parametrize("model", [nn.Linear(4, 2), nn.Sequential(nn.Unflatten(1, (1, 4)), nn.Conv1d(1, 2, 3))])
def test_uint8_features_into_a_float_layer_are_still_blamed_on_x(model):
    assert_clear_error(
        lambda: predict(model, UINT8), TypeError, r"features x are torch.uint8.*x = x.to\(torch.float32\)"
    )


# ----------------------------------------------------------------------------- a batch of padding only


PAD = (torch.randn(6, 4), torch.full((6,), -100))
GOOD = (PAD[0], torch.tensor([0, 1, 2, 0, 1, 2]))
IGNORED = r"every target of this batch equals the loss's ignore_index \(-100\)"


def test_a_batch_of_padding_only_is_not_blamed_on_the_learning_rate():
    for call in (
        lambda m: fit(m, nn.CrossEntropyLoss(), sgd(m), [GOOD, GOOD, PAD], 2, progress=False),
        lambda m: train_epoch(m, nn.CrossEntropyLoss(), sgd(m), [GOOD, PAD]),
        lambda m: (step := make_train_step(m, nn.CrossEntropyLoss(), sgd(m)))(*GOOD) + step(*PAD),
        lambda m: make_train_step(m, nn.CrossEntropyLoss(), sgd(m))(*PAD),
        lambda m: evaluate(m, nn.CrossEntropyLoss(), [PAD, PAD]),
    ):
        with pytest.raises(FloatingPointError, match=IGNORED) as info:
            call(nn.Linear(4, 3))
        assert "lower the learning rate" not in str(info.value)


def test_evaluate_counts_a_batch_of_padding_only_for_nothing_as_torch_does():
    model = nn.Linear(4, 3)
    with torch.no_grad():
        whole = nn.CrossEntropyLoss()(model(torch.cat([GOOD[0], PAD[0]])), torch.cat([GOOD[1], PAD[1]])).item()
    assert evaluate(model, nn.CrossEntropyLoss(), [GOOD, PAD]) == pytest.approx(whole, rel=1e-6)


def test_a_batch_with_some_targets_kept_is_not_called_padding_only():
    model = nn.Linear(4, 3)
    step = make_train_step(model, nn.CrossEntropyLoss(), sgd(model))
    step(*GOOD)
    with torch.no_grad():
        model.weight.fill_(3e38)  # finite, but the scores of x = 1 overflow: inf - inf
    with pytest.raises(FloatingPointError, match="lower the learning rate") as info:
        step(torch.ones(6, 4), torch.tensor([0, -100, 1, -100, 2, -100]))
    assert "ignore_index" not in str(info.value)


# ----------------------------------------------------------------------------- shapes: the batch dimension, x's width


@pytest.mark.parametrize(("channels", "x_shape"), [(1, (1, 8, 8)), (3, (3, 8, 8))])
def test_a_single_image_without_a_batch_dimension_is_told_to_add_it(channels, x_shape):
    model = nn.Sequential(nn.Conv2d(channels, 2, 3), nn.Flatten(), nn.Linear(72, 2))
    with pytest.raises(ValueError, match=r"one sample without a batch dimension.*x = x.unsqueeze\(0\)") as info:
        predict(model, torch.randn(x_shape))
    assert "nn.Linear(36" not in str(info.value)


def test_x_of_the_wrong_width_into_the_first_layer_is_called_the_datas_width():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(7, 1))  # x's width 7 fits the second layer
    with pytest.raises(ValueError, match=r"the features x have shape \(3, 7\), 7 per sample.*expects 4") as info:
        make_train_step(model, nn.MSELoss(), sgd(model))(torch.randn(3, 7), torch.randn(3, 1))
    assert "layers before it" not in str(info.value)
