"""course.diagnose: a shape or dtype error is blamed on x only when x really goes straight into the layer at fault.

After Flatten, a convolution or an embedding, the width that reaches a Linear is not x's last dimension, and
the integer ids an embedding needs are not a dtype problem."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course.training import fit, make_train_step, predict
from tests.unit.clear_errors import assert_clear_error


class Reshaping(nn.Module):
    """A Linear registered first, but x flattened in forward before it: x does not go straight into it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(100, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class HandMade(nn.Module):
    """A matrix product written by hand: no Linear of those shapes to name."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w


@pytest.mark.parametrize(
    ("model", "x", "words"),
    [
        (nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), torch.randn(4, 28, 28), r"width 784 .*.*\(784, 10\)"),
        (
            nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(100, 10)),
            torch.randn(4, 1, 8, 8),
            r"width 144 .*\(144, 10\)",
        ),
        (nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(3, 1)), torch.randint(0, 10, (5, 2)), r"\(8, 1\)"),
        (Reshaping(), torch.randn(4, 2, 5), r"Linear\(in_features=100, out_features=1\) received inputs of width 10"),
    ],
)
def test_a_width_changed_before_the_linear_is_not_blamed_on_x(model, x, words):
    with pytest.raises(ValueError, match=words) as info:
        predict(model, x)
    assert f"nn.Linear({x.shape[-1]}, ...)" not in str(info.value) and "first layer" not in str(info.value)


def test_a_hand_written_product_keeps_torchs_own_words():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x4 and 3x1\)"):
        predict(HandMade(), torch.ones(2, 4))


@pytest.mark.parametrize(
    ("model", "x"),
    [
        (nn.Linear(3, 1), torch.ones(2, 5)),
        (nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1)), torch.ones(2, 5)),
        (nn.Sequential(nn.Sequential(nn.Linear(3, 1))), torch.ones(2, 4, 5)),
    ],
)
def test_x_going_straight_into_the_first_linear_is_still_blamed(model, x):
    assert_clear_error(
        lambda: predict(model, x), ValueError, r"5 per sample, but the layer that takes them.*Build it as nn.Linear\(5,"
    )


def embedded() -> nn.Module:
    return nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(8, 1), nn.Sigmoid())


def bce_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return make_train_step(model, nn.BCELoss(), torch.optim.SGD(model.parameters(), lr=0.1))(x, y)


def test_integer_ids_for_an_embedding_are_not_blamed_the_targets_dtype_is():
    ids, y = torch.randint(0, 10, (5, 2)), torch.randint(0, 2, (5, 1)).double()
    with pytest.raises(TypeError, match=r"the targets y are torch.float64.*y = y.to\(torch.float32\)") as info:
        bce_step(embedded(), ids, y)
    assert "the features x" not in str(info.value)


def test_float_ids_for_an_embedding_are_told_to_be_integers():
    x, y = torch.randint(0, 10, (5, 2)).double(), torch.ones(5, 1)
    assert_clear_error(lambda: bce_step(embedded(), x, y), TypeError, r"Embedding takes integer ids.*x = x.long\(\)")


def test_integer_features_for_a_linear_model_are_still_blamed():
    x, y = torch.ones(4, 3, dtype=torch.long), torch.ones(4, 1)
    assert_clear_error(lambda: bce_step(nn.Sequential(nn.Linear(3, 1), nn.Sigmoid()), x, y), TypeError, r"x = x.to\(")


class HeadFirst(nn.Module):
    """The head registered before the body; forward runs the body first."""

    def __init__(self) -> None:
        super().__init__()
        self.head, self.body = nn.Linear(16, 1), nn.Linear(4, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x)))


class IdsAndFeatures(nn.Module):
    """A learned position embedding registered before a Linear on float features."""

    def __init__(self, head_first: bool = False) -> None:
        super().__init__()
        if head_first:
            self.head = nn.Linear(4, 1)
        self.position = nn.Embedding(10, 4)
        if not head_first:
            self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.position(x) if not x.is_floating_point() else x
        return torch.sigmoid(self.head(features)).view(len(x), -1)[:, :1]


def test_the_linear_torch_names_is_the_one_blamed_whatever_the_order_of_registration():
    assert_clear_error(
        lambda: predict(HeadFirst(), torch.ones(8, 5)),
        ValueError,
        r"Linear\(in_features=4, out_features=16\), expects 4.*nn.Linear\(5, 16\)",
    )


def test_a_one_dimensional_x_after_a_dropout_is_told_to_be_a_column_not_a_batch_sized_layer():
    model = nn.Sequential(nn.Dropout(0.1), nn.Linear(1, 1))
    with pytest.raises(ValueError, match=r"x = x.view\(-1, 1\)") as info:
        make_train_step(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))(torch.ones(4), torch.ones(4))
    assert "nn.Linear(4" not in str(info.value)


@pytest.mark.parametrize("head_first", [False, True])
def test_float_features_in_a_model_with_an_embedding_are_told_their_dtype_not_to_be_ids(head_first):
    x, y = torch.ones(5, 4, dtype=torch.float64), torch.ones(5, 1)
    assert_clear_error(lambda: bce_step(IdsAndFeatures(head_first), x, y), TypeError, r"x = x.to\(torch.float32\)")


@pytest.mark.parametrize("head_first", [False, True])
def test_integer_ids_are_never_blamed_whatever_the_order_of_registration(head_first):
    ids, y = torch.randint(0, 10, (5, 1)), torch.ones(5, 1).double()
    with pytest.raises(TypeError, match=r"the targets y are torch.float64") as info:
        bce_step(IdsAndFeatures(head_first), ids, y)
    assert "the features x" not in str(info.value)


def five_ids() -> nn.Module:
    return nn.Sequential(nn.Embedding(5, 2), nn.Flatten(), nn.Linear(4, 1))


@pytest.mark.parametrize(
    ("ids", "words"),
    [
        (
            [[1, 7], [0, 2]],
            r"ids from 0 to 7, but the model's Embedding has rows for ids 0 to 4 only.*num_embeddings=8",
        ),
        ([[1, -1], [0, 2]], r"ids from -1 to 2.*number the ids from 0"),
    ],
)
def test_an_id_outside_the_embedding_is_named_with_the_fix(ids, words):
    model = five_ids()
    step = make_train_step(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    assert_clear_error(lambda: step(torch.tensor(ids), torch.ones(2, 1)), IndexError, words)
    assert_clear_error(lambda: predict(model, torch.tensor(ids)), IndexError, words)  # predict explains it too


class TwoTables(nn.Module):
    """Column 0 holds ids of the big table, column 1 of the small one: only the model knows which goes where."""

    def __init__(self) -> None:
        super().__init__()
        self.small, self.big, self.head = nn.Embedding(3, 2), nn.Embedding(100, 2), nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.big(x[:, 0]), self.small(x[:, 1])], 1))


@pytest.mark.parametrize(("ids", "short"), [([150, 1], "small, big"), ([50, 3], "small")])
def test_an_id_outside_one_of_several_tables_names_them_all_without_guessing(ids, short):
    model = TwoTables()
    step = make_train_step(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    words = rf"one of the model's 2 embedding tables.*small \(num_embeddings=3\), big \(num_embeddings=100\).*do not fit {short}\."
    assert_clear_error(lambda: step(torch.tensor([ids] * 2), torch.ones(2, 1)), IndexError, words)


def test_ids_that_fit_keep_torchs_own_words_when_others_went_wrong():
    class Shifted(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = nn.Embedding(5, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.table(x + 10).sum(1)

    step = make_train_step(model := Shifted(), nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(IndexError, match=r"^index out of range in self$"):
        step(torch.tensor([[1, 2], [0, 2]]), torch.ones(2, 1))


def convolution(in_channels: int = 3) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.Flatten(), nn.LazyLinear(1))


@pytest.mark.parametrize(
    ("model", "x", "words"),
    [
        (convolution(), torch.ones(4, 64), r"x have shape \(4, 64\), but a convolution takes \(N, C, H, W\).*x.view\(-1, 1, H, W\)"),
        (convolution(), torch.ones(4, 1, 8, 8), r"x have shape \(4, 1, 8, 8\).*C = 3, but dimension 1 holds 1: build the layer with in_channels=1"),
        (convolution(), torch.ones(4, 8, 8, 3), r"\(4, 8, 8, 3\).*its channels come last, so x = x.permute\(0, 3, 1, 2\)"),
        (nn.Sequential(nn.Conv2d(1, 2, 3), convolution()), torch.ones(4, 1, 8, 8), r"earlier layers turned x of shape \(4, 1, 8, 8\) into shape \(4, 2, 6, 6\).*in_channels=2"),
        (convolution(1), torch.ones(4, 8, 8), r"x of shape \(4, 8, 8\) lack a dimension: torch read them as one sample, of shape \(1, 4, 8, 8\).*the channel dimension is missing, x = x.unsqueeze\(1\)\.$"),
        (nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.LazyLinear(1)), torch.ones(4, 8), r"x of shape \(4, 8\) lack a dimension.*\(N, C, L\).*x = x.unsqueeze\(1\)\.$"),
        (nn.Sequential(nn.Unflatten(1, (8, 8)), convolution(1)), torch.ones(4, 64), r"into shape \(1, 4, 8, 8\).*holds 4: the batch, read as one sample.*x.view\(-1, 1, 8, 8\) or nn.Unflatten\(1, \(1, 8, 8\)\)\.$"),
    ],
    ids=["flat", "channels", "channels last", "after another layer", "no channel dimension", "conv1d, no channel dimension", "the model drops C"],
)  # fmt: skip
def test_a_convolution_given_the_wrong_rank_or_channels_is_explained(model, x, words):
    step = make_train_step(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    assert_clear_error(lambda: step(x, torch.ones(4, 1)), ValueError, words)


def mse_step():
    model = nn.Linear(3, 1)
    step = make_train_step(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    return model, lambda: step(torch.randn(4, 3), torch.randn(4, 1))


@pytest.mark.parametrize(
    "off", [torch.no_grad, lambda: torch.set_grad_enabled(False), torch.inference_mode], ids=["no_grad", "set", "inf"]
)
def test_training_with_gradient_recording_off_is_told_so_not_blamed_on_the_loss(off):
    model, step = mse_step()
    with off():
        with pytest.raises(ValueError, match=r"gradient recording is off.*torch.set_grad_enabled\(True\)") as error:
            step()
    assert ".item()" not in str(error.value)
    model2 = nn.Linear(3, 1)
    torch.set_grad_enabled(False)
    try:
        with pytest.raises(ValueError, match=r"gradient recording is off"):
            fit(model2, nn.MSELoss(), torch.optim.SGD(model2.parameters()), [(torch.ones(4, 3), torch.ones(4, 1))], 1,
                progress=False)  # fmt: skip
    finally:
        torch.set_grad_enabled(True)


def test_a_model_frozen_after_its_step_was_made_is_told_so_not_blamed_on_the_loss():
    model, step = mse_step()
    step()
    model.requires_grad_(False)
    with pytest.raises(ValueError, match=r"none of the model's parameters requires grad.*requires_grad_\(True\)") as e:
        step()
    assert ".item()" not in str(e.value)
    model.requires_grad_(True)
    cut_loss = lambda p, t: torch.tensor(((p - t) ** 2).mean().item())  # noqa: E731
    cut = make_train_step(model, cut_loss, torch.optim.SGD(model.parameters()))
    with pytest.raises(ValueError, match=r"not connected to the model's parameters.*\.item\(\)"):  # the loss's fault
        cut(torch.randn(4, 3), torch.randn(4, 1))


# ----------------------------------------------------------------------------- one sample and BatchNorm in eval mode


def without_running_stats():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3, track_running_stats=False), nn.Linear(3, 1))


NO_STATS = r"1 sample reached a BatchNorm layer built with track_running_stats=False.*even in eval mode.*track_running_stats=True.*batches of 2\+"


def test_one_sample_in_eval_mode_without_running_statistics_names_the_missing_statistics_not_training_mode():
    from torch.utils.data import DataLoader, TensorDataset

    from course.training import evaluate

    x, y = torch.randn(5, 2), torch.randn(5, 1)
    for call in (lambda: predict(without_running_stats(), x[:1]),  # last batch of 1: 5 samples, batch_size=4
                 lambda: evaluate(without_running_stats(), nn.MSELoss(), DataLoader(TensorDataset(x, y), batch_size=4))):  # fmt: skip
        with pytest.raises(ValueError, match=NO_STATS) as info:
            call()
        assert "training mode" not in str(info.value) and "drop_last" not in str(info.value)
    with_stats = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
    assert predict(with_stats, x[:1]).shape == (1, 1)  # running statistics: one sample is fine in eval mode
    model = without_running_stats()
    step = make_train_step(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match=r"1 sample reached a BatchNorm layer in training mode.*drop_last=True"):
        step(x[:1], y[:1])  # in training mode the old words are the right ones
