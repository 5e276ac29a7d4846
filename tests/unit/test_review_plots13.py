"""Review of 2026-12-03 on course.plots: a figure never hides a curve's name or a path's points without a word."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")  # tests draw off-screen

from course.plots.activations import plot_layer_scales  # noqa: E402
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
        ({1.0, 2.0}, r"pass sorted\(\.\.\.\)"),
        ({"a": 1.0}.values(), r"pass list\(\.\.\.\)"),
    ],
    ids=["generator", "set", "dict_values"],
)
def test_numbers_given_as_an_iterator_or_a_set_are_told_the_fix(values, fix):
    with pytest.raises(TypeError, match=fix):
        plot_curves({"a": values})


def test_a_path_that_overshoots_the_ranges_widens_the_axes_to_show_every_point_and_the_target():
    fig = plot_optimizer_paths(
        lambda a, b: a**2 + b**2,
        {"SGD, lr too big": [(0.5, 0.5), (5.0, -4.0), (0.2, 0.1)]},
        (-1, 1),
        (-1, 1),
        target=(3, 3),
    )
    (low_a, high_a), (low_b, high_b) = fig.axes[0].get_xlim(), fig.axes[0].get_ylim()
    assert low_a < -1 and high_a > 5 and low_b < -4 and high_b > 3


def test_paths_inside_the_ranges_keep_the_ranges_given():
    fig = plot_optimizer_paths(lambda a, b: a**2 + b**2, {"SGD": [(0.5, 0.5), (0.0, 0.0)]}, (-1, 1), (-2, 2))
    assert np.allclose(fig.axes[0].get_xlim(), (-1, 1)) and np.allclose(fig.axes[0].get_ylim(), (-2, 2))
