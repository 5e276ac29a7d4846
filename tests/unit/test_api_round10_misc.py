"""Review api3, round 10: one big picture read as rows of 8x8 digits, a custom autograd.Function's saved leaf, an
all-zero Mersenne Twister state, None or a wrong type given to the weight, loader and device helpers, a malformed
COURSE_DEVICE index, learning rates and metrics on plot_losses's loss axis, strings and booleans in a history, and a
progress bar started past its end."""

from __future__ import annotations

import copy
import os
import random

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from course.device import get_device  # noqa: E402
from course.graphs import show_graph  # noqa: E402
from course.history import plain_history  # noqa: E402
from course.loaders import check_loaders, to_device  # noqa: E402
from course.plots.curves import plot_losses  # noqa: E402
from course.plots.digits import plot_digit_grid  # noqa: E402
from course.progress import epoch_bar  # noqa: E402
from course.repro import rng_state, set_rng_state  # noqa: E402
from course.weights import holds_inf, nan_or_inf, trained_weights, weights_diverged  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# item 7: one 64x64 picture passed as a 2-D array
def test_one_big_picture_read_as_rows_of_digits_is_explained():
    with pytest.raises(ValueError, match=r"(?s)64 images of 8x8.*rows of 64 pixels.*\(1, 64, 64\)"):
        plot_digit_grid(np.random.rand(64, 64), ["one"])


def test_rows_of_64_pixels_with_one_title_each_still_draw():
    fig = plot_digit_grid(np.zeros((3, 64)), ["a", "b", "c"], columns=2)
    assert fig.axes[2].get_title() == "c"


# item 9: a custom autograd.Function that saves the leaf it gets
class _Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


def test_a_leaf_saved_by_a_custom_function_stays_a_leaf_in_the_alt_text_and_summary():
    a = torch.ones(2, requires_grad=True)
    graph = show_graph(_Square.apply(a).sum(), {"a": a})
    assert "Leaves: a (2)." in graph.alt_text()
    assert "AccumulateGrad(a (2))" in graph.summary()
    assert "[leaf] a (2)" in graph.summary()


def test_a_saved_intermediate_keeps_its_own_kind():
    a = torch.ones(2, requires_grad=True)
    graph = show_graph(_Square.apply(a * 2).sum(), {"a": a})
    assert "Leaves: a (2)." in graph.alt_text()
    assert "saved" in graph.kinds.values()


# item 10: an all-zero Mersenne Twister state for NumPy or Python
def _zero_numpy(state):
    state["numpy"]["keys"] = torch.zeros(624, dtype=torch.int64)
    state["numpy"]["pos"] = 624


def _zero_python(state):
    state["python"]["state"] = [0] * 624 + [624]


@pytest.mark.parametrize("part, damage", [("numpy", _zero_numpy), ("python", _zero_python)])
def test_an_all_zero_mersenne_twister_state_is_refused_and_changes_nothing(part, damage):
    state = copy.deepcopy(rng_state())
    damage(state)
    before = np.random.get_state(), random.getstate()
    with pytest.raises(ValueError, match=rf"'{part}' part is unusable.*zero"):
        set_rng_state(state)
    assert random.getstate() == before[1]
    assert np.array_equal(np.random.get_state()[1], before[0][1])


def test_a_state_whose_only_bit_set_is_the_first_words_top_bit_is_accepted():
    state = copy.deepcopy(rng_state())
    state["python"]["state"] = [2**31] + [0] * 623 + [624]  # what seeding NumPy or Python makes its first word
    state["numpy"]["keys"] = torch.tensor([2**31] + [0] * 623, dtype=torch.int64)
    with_state = rng_state()
    try:
        set_rng_state(state)
    finally:
        set_rng_state(with_state)


# item 11: None or a wrong type
@pytest.mark.parametrize("call", [lambda: trained_weights("x"), lambda: weights_diverged(None),
                                  lambda: weights_diverged(lambda x: x), lambda: holds_inf(nn.Linear)])  # fmt: skip
def test_the_weight_helpers_refuse_what_is_not_a_model(call):
    with pytest.raises(TypeError, match=r"should be a torch\.nn\.Module"):
        call()


@pytest.mark.parametrize("value", [[1.0, float("nan")], np.array([1.0])])
def test_nan_or_inf_refuses_what_is_not_a_tensor(value):
    with pytest.raises(TypeError, match=r"nan_or_inf expects a torch\.Tensor, got"):
        nan_or_inf(value)


def test_nan_or_inf_of_a_meta_tensor_says_it_holds_no_values():
    with pytest.raises(ValueError, match=r"meta device.*no values"):
        nan_or_inf(torch.ones(2, device="meta"))


def test_to_device_of_none_is_a_clear_type_error():
    with pytest.raises(TypeError, match=r"to_device moves a tensor.*got a NoneType"):
        to_device(None, torch.device("cpu"))


def test_to_device_still_calls_to_of_a_batch_object_that_has_one():
    class Batch:
        def to(self, device):
            return ("moved", device)

    assert to_device(Batch(), torch.device("cpu")) == ("moved", torch.device("cpu"))


def test_check_loaders_of_none_is_a_clear_type_error():
    with pytest.raises(TypeError, match=r"check_loaders expects a dict of names to loaders.*got NoneType"):
        check_loaders(None, 1)


# item 12: a malformed device string
@pytest.mark.parametrize("value", ["cuda:abc", "cuda:", "cuda:-1", "mps:x", "cpu:abc"])
def test_a_malformed_course_device_is_an_invalid_string_not_a_missing_device(monkeypatch, value):
    monkeypatch.setenv("COURSE_DEVICE", value)
    with pytest.raises(ValueError, match=r"is not a valid device string"):
        get_device()


# item 13: learning rates and metrics are not losses
def _labels(fig):
    return [line.get_label() for line in fig.axes[0].get_lines()]


@pytest.mark.parametrize("rate", ["LR", "learning_rate", "Learning Rate", "learningRate", "base_lr", "lr_head"])
def test_a_learning_rate_under_any_spelling_is_not_drawn_as_a_loss(rate, recwarn):
    assert _labels(plot_losses({"train": [1.0, 0.5], rate: [0.1, 0.01]})) == ["train"]
    assert _labels(plot_losses({"train_loss": [1.0, 0.5], rate: [0.1, 0.01]})) == ["train_loss"]
    assert not [w for w in recwarn if "plot_losses" in str(w.message)]


def test_a_metric_in_a_history_without_loss_names_is_left_out_with_a_warning():
    with pytest.warns(UserWarning, match=r"left out \['val_accuracy'\]"):
        assert _labels(plot_losses({"train": [1.0, 0.5], "val_accuracy": [0.5, 0.6]})) == ["train"]
    with pytest.raises(ValueError, match=r"history holds no loss"), pytest.warns(UserWarning, match=r"\['acc'\]"):
        plot_losses({"acc": [0.5, 0.6], "lr": [0.1, 0.1]})


def test_training_and_validation_without_loss_names_are_still_drawn_silently(recwarn):
    assert _labels(plot_losses({"training": [1.0], "validation": [1.2], "lr": [0.1]})) == ["training", "validation"]
    runs = {"training, lr 0.1": [1.0], "validation, lr 1e-3": [1.2]}  # lesson 11: a run labelled by its rate
    assert _labels(plot_losses(runs)) == list(runs)
    assert not [w for w in recwarn if "plot_losses" in str(w.message)]


# item 14: strings and booleans are not numbers of a history
@pytest.mark.parametrize("values", [["0.5"], [True], [0.5, np.bool_(False)], [b"1"]])
def test_plain_history_refuses_strings_and_booleans(values):
    with pytest.raises(TypeError, match=r"history should be a dict of lists of numbers"):
        plain_history({"a": values})


def test_plain_history_still_takes_numpy_numbers_and_tensors():
    assert plain_history({"a": [np.float32(0.5), torch.tensor(0.25), 1]}) == {"a": [0.5, 0.25, 1.0]}


# item 16: a bar started past its end
def test_epoch_bar_refuses_a_start_past_the_total():
    with pytest.raises(ValueError, match=r"start_epoch=5 is past epochs=3"):
        epoch_bar(3, 5)
