"""Review of 2026-12-03 on course.plots: a figure never hides a curve's name or a path's points without a word."""

from __future__ import annotations

import pathlib

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")  # tests draw off-screen

from course.plots.activations import plot_layer_scales  # noqa: E402
from course.plots.classification import plot_sigmoid_threshold  # noqa: E402
from course.plots.curves import plot_curves, plot_losses  # noqa: E402
from course.plots.optimization import plot_lr_schedules, plot_optimizer_paths  # noqa: E402

HIDDEN = "which the legend would leave out without a word"


@pytest.mark.parametrize("key", ["_train", "", None])
@pytest.mark.parametrize(
    "draw",
    [
        lambda key: plot_curves({key: [1.0, 0.5], "val": [1.0, 0.6]}),
        lambda key: plot_lr_schedules({key: [0.1, 0.05]}),
        lambda key: plot_layer_scales({"ReLU": {key: [1.0, 0.5]}}),
    ],
    ids=["curves", "schedules", "layer_scales"],
)
def test_a_curve_name_matplotlib_would_hide_from_the_legend_is_refused(draw, key):
    with pytest.raises(ValueError, match=HIDDEN):
        draw(key)


def test_a_loss_named_with_a_leading_underscore_is_refused_by_plot_losses():
    with pytest.raises(ValueError, match=f"history has a curve named '_loss', {HIDDEN}"):
        plot_losses({"_loss": [1.0, 0.5], "val_loss": [1.0, 0.6]})


def test_keys_that_are_not_strings_are_labelled_as_str_writes_them():
    fig = plot_curves({("train", "loss"): [1.0, 0.5], 0.1: [1.0, 2.0]})
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["('train', 'loss')", "0.1"]


@pytest.mark.parametrize(
    ("values", "fix"),
    [
        ((v for v in [1.0, 2.0]), r"pass list\(\.\.\.\)"),
        ({"a": 1.0}.values(), r"pass list\(\.\.\.\)"),
        ({1.0: 0}.keys(), r"pass list\(\.\.\.\)"),  # a dict's keys keep their order: not a set's advice
        ({3.0, 1.0, 2.0}, "keeps neither their order nor repeated values: collect them in a list"),
    ],
    ids=["generator", "dict_values", "dict_keys", "set"],
)
def test_numbers_given_as_an_iterator_or_a_set_are_told_the_fix(values, fix):
    with pytest.raises(TypeError, match=fix):
        plot_curves({"a": values})


def test_a_key_whose_str_is_hidden_and_class_names_the_legend_drops_are_refused():
    with pytest.raises(ValueError, match=HIDDEN):
        plot_curves({pathlib.Path("_runs/a"): [1.0, 0.5], "b": [1.0, 0.6]})
    with pytest.raises(ValueError, match=f"class_names has the name '_neg', {HIDDEN}.*e.g. 'neg'"):
        plot_sigmoid_threshold(0.5, torch.tensor([-1.0, 1.0]), torch.tensor([0, 1]), class_names=["_neg", "pos"])


def test_a_loss_renamed_as_the_refusal_says_is_still_a_loss():
    with pytest.raises(ValueError, match="e.g. 'val_loss'"):
        plot_losses({"train_loss": [1.0, 0.5], "_val_loss": [1.0, 0.6]})


def test_a_path_that_leaves_the_frame_is_counted_in_its_title_and_the_frame_stays_on_the_ranges():
    fig = plot_optimizer_paths(
        lambda a, b: np.exp(a) + b**2,  # no finite value at a = 800: the loss is drawn only over the ranges
        {"Adam": [(0.5, 0.5), (0.0, 0.0)], "SGD, lr too big": [(0.5, 0.5), (800.0, -4.0), (1e6, 0.1)]},
        (-1, 1),
        (-1, 1),
    )
    assert [ax.get_title() for ax in fig.axes] == ["Adam", "SGD, lr too big\n(2 of 3 points outside the frame)"]
    assert np.allclose(fig.axes[0].get_xlim(), (-1, 1)) and np.allclose(fig.axes[1].get_ylim(), (-1, 1))


def test_a_target_outside_the_ranges_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="target .* lies outside a_range .* widen the ranges"):
        plot_optimizer_paths(lambda a, b: a**2 + b**2, {"SGD": [(0.5, 0.5)]}, (-1, 1), (-1, 1), target=(3, 3))


def test_paths_inside_the_ranges_keep_the_ranges_given():
    fig = plot_optimizer_paths(lambda a, b: a**2 + b**2, {"SGD": [(0.5, 0.5), (0.0, 0.0)]}, (-1, 1), (-2, 2))
    assert np.allclose(fig.axes[0].get_xlim(), (-1, 1)) and np.allclose(fig.axes[0].get_ylim(), (-2, 2))


# ------------------------------------------------------------------ third look L3-L5


def test_class_names_the_legend_does_not_draw_as_labels_are_not_refused():
    for names in (["_neg", "pos"], ["neg", "_pos"], ["", "pos"]):  # without examples: only "predicted pos" is drawn
        fig = plot_sigmoid_threshold(0.5, class_names=names)
        assert f"predicted {names[1]}" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    with pytest.raises(ValueError, match=f"class_names has the name '_pos', {HIDDEN}"):  # examples: labels, refused
        plot_sigmoid_threshold(0.5, [-1.0, 1.0], [0, 1], class_names=["neg", "_pos"])


BOWL = lambda a, b: a**2 + b**2  # noqa: E731


def test_a_point_on_the_edge_up_to_float32_rounding_is_inside_the_frame():
    fig = plot_optimizer_paths(BOWL, {"SGD": torch.tensor([[0.1, 0.1], [0.0, 0.0]])}, (-0.1, 0.1), (-0.1, 0.1))
    assert fig.axes[0].get_title() == "SGD"
    fig = plot_optimizer_paths(BOWL, {"SGD": [(0.1 + 0.2, 0.0), (0.0, 0.0)]}, (-0.3, 0.3), (-1, 1))
    assert fig.axes[0].get_title() == "SGD"
    fig = plot_optimizer_paths(BOWL, {"SGD": [(0.0, 0.0), (0.1001, 0.0)]}, (-0.1, 0.1), (-1, 1))
    assert fig.axes[0].get_title() == "SGD\n(1 of 2 points outside the frame)"  # beyond rounding: still counted


@pytest.mark.parametrize(
    "target",
    [np.array([0.1, 0.0], dtype=np.float32), torch.tensor([0.1, 0.0]), torch.tensor([0.0, 0.0])],
    ids=["numpy float32 at the edge", "tensor at the edge", "tensor"],
)
def test_a_target_on_the_edge_in_float32_or_a_tensor_is_accepted(target):
    fig = plot_optimizer_paths(BOWL, {"SGD": [(0.0, 0.0)]}, (-0.1, 0.1), (-1, 1), target=target)
    assert fig.axes[0].get_title() == "SGD"


def test_a_target_refusal_names_only_the_coordinate_outside():
    with pytest.raises(
        ValueError, match=r"target \(2(\.0)?, 0(\.0)?\) lies outside a_range \(-1(\.0)?, 1(\.0)?\)"
    ) as info:
        plot_optimizer_paths(BOWL, {"SGD": [(0.0, 0.0)]}, (-1, 1), (-1, 1), target=(2, 0))
    assert "b_range" not in str(info.value)
    with pytest.raises(ValueError, match=r"lies outside b_range") as info:
        plot_optimizer_paths(BOWL, {"SGD": [(0.0, 0.0)]}, (-1, 1), (-1, 1), target=(0, 2))
    assert "a_range" not in str(info.value)


def test_a_lone_point_outside_is_told_as_its_only_point():
    fig = plot_optimizer_paths(BOWL, {"SGD": [(5.0, 5.0)]}, (-1, 1), (-1, 1))
    assert fig.axes[0].get_title() == "SGD\n(its only point outside the frame)"


def test_a_none_key_is_not_told_to_be_named_none():
    with pytest.raises(ValueError, match=HIDDEN) as info:
        plot_curves({None: [1.0, 0.5]})
    assert "'None'" not in str(info.value) and "leading '_'" not in str(info.value)
