"""Every finite point of a line plot is visible (a lone point gets a marker, the last step of a staircase has a
width), and plot_losses draws only losses."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")  # tests draw off-screen

from course.plots import plot_curves, plot_fit, plot_losses  # noqa: E402
from course.plots.descent import plot_learning_rates  # noqa: E402
from course.plots.optimization import plot_lr_schedules  # noqa: E402

NAN = float("nan")
A, B = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))


def visible(line):
    """Indices of the points a Line2D shows: reached by a segment to a finite neighbour, or marked."""
    y = np.asarray(line.get_ydata(), dtype=float)
    finite = np.isfinite(y)
    padded = np.pad(finite, 1)
    joined = finite & (padded[:-2] | padded[2:])
    marked = np.zeros_like(finite)
    if line.get_marker() not in ("None", "", " ", None):
        every = line.get_markevery()
        marked[every if every is not None else slice(None)] = True
    return sorted(np.flatnonzero(joined | (marked & finite)).tolist())


def every_finite(values):
    return np.flatnonzero(np.isfinite(np.asarray(values, dtype=float))).tolist()


CASES = {
    "one epoch": {"train_loss": [0.5]},
    "validation added on resume": {"train_loss": [0.9, 0.7, 0.6], "val_loss": [NAN, NAN, 0.65]},
    "lone points between gaps": {"a": [1.0, NAN, 2.0, 3.0, NAN, 4.0, NAN]},
    "diverged after one epoch": {"a": [1.0, float("inf"), NAN]},
}


@pytest.mark.parametrize("curves", CASES.values(), ids=CASES.keys())
def test_every_finite_point_of_a_curve_is_drawn(curves):
    for fig in (plot_curves(curves), plot_losses(curves)):
        for line, values in zip(fig.axes[0].get_lines(), curves.values(), strict=True):
            assert visible(line) == every_finite(values), line.get_label()


def test_points_a_segment_reaches_get_no_marker():
    line = plot_curves({"a": [1.0, NAN, 2.0, 3.0, 4.0]}).axes[0].get_lines()[0]
    assert list(line.get_markevery()) == [0]
    assert plot_curves({"a": [1.0, 2.0]}).axes[0].get_lines()[0].get_marker() in ("None", "")


def test_a_lone_loss_of_the_descent_pictures_and_a_one_point_model_line_are_drawn():
    runs = {"lr": ([(1, 1), (0.5, 0.5), (0, 0)], [2.0, NAN, 0.1]), "one": ([(1, 1)], [2.0])}
    fig = plot_learning_rates(A, B, A**2 + B**2, runs)
    assert visible(fig.axes[2].get_lines()[0]) == [0, 2]  # the bottom row: axes 2 and 3
    assert visible(fig.axes[3].get_lines()[0]) == [0]
    model = [line for line in plot_fit([0, 1], [0, 1], [0.5], [0.5]).axes[0].get_lines() if line.get_label() == "model"]
    assert visible(model[0]) == [0]


@pytest.mark.parametrize("rates", [[0.1], [0.1, 0.1, 0.05], [0.1, 0.05]])
def test_each_epoch_of_a_schedule_is_a_step_of_width_one_the_last_too(rates):
    line = plot_lr_schedules({"s": rates}).axes[0].get_lines()[0]
    x, y = np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)
    assert line.get_drawstyle() == "steps-post"
    for epoch, rate in enumerate(rates, start=1):  # the rate holds from epoch to epoch + 1
        start = np.flatnonzero(x == epoch)
        assert start.size == 1 and y[start[0]] == rate and x[start[0] + 1] == epoch + 1


def test_plot_losses_draws_only_losses_not_a_metric_of_your_own_and_says_what_it_left_out():
    history = {"train_loss": [0.9, 0.7, 0.6], "lr": [0.1] * 3, "val_acc": [0.8], "val_loss": [1.0, 0.8, 0.7]}
    with pytest.warns(UserWarning, match=r"left out \['val_acc'\]"):
        assert [line.get_label() for line in plot_losses(history).axes[0].get_lines()] == ["train_loss", "val_loss"]
    with pytest.warns(UserWarning, match=r"left out \['train'\]"):  # a loss under another name: said, not silent
        assert [line.get_label() for line in plot_losses({"train": [1.0], "val_loss": [1.2]}).axes[0].get_lines()] == [
            "val_loss"
        ]


def test_every_series_whose_name_holds_loss_is_drawn():
    history = {"train_loss_epoch": [1.0, 0.5], "val_loss": [1.2, 0.6], "train_loss_smoothed": [0.9, 0.6]}
    assert [line.get_label() for line in plot_losses(history).axes[0].get_lines()] == list(history)


def test_a_dict_of_losses_built_by_hand_is_still_all_losses():
    history = {"training": [0.9, 0.7], "validation": [1.0, 0.8], "lr": [0.1, 0.1]}
    assert [line.get_label() for line in plot_losses(history).axes[0].get_lines()] == ["training", "validation"]
    with pytest.raises(ValueError, match=r"history holds no loss, only \['lr'\]"):
        plot_losses({"lr": [0.1]})


def test_a_one_point_model_line_of_plot_fits_is_drawn():
    from course.plots.activations import plot_fits

    fig = plot_fits([0, 1], [0, 1], [0.5], {"linear": [0.5], "MLP": [0.4]})
    for ax in fig.axes:
        assert visible(next(line for line in ax.get_lines() if line.get_label() == "model")) == [0]


def test_masked_points_stay_hidden_on_a_curve_and_are_refused_where_every_point_is_drawn():
    fig = plot_curves({"a": np.ma.masked_array([1.0, 99.0, 3.0], mask=[0, 1, 0])})
    (line,) = fig.axes[0].get_lines()
    assert 99.0 not in np.asarray(line.get_ydata(), dtype=float)
    assert visible(line) == [0, 2]  # the two points on each side of the hidden one are still drawn
    x = np.ma.masked_array([0.0, 1.0, 2.0], mask=[0, 0, 1])
    with pytest.raises(ValueError, match=r"x is a masked array with 1 masked value.*x\[~x.mask\]"):
        plot_fit(x, [0, 1, 2], [0, 1], [0, 1])


def test_a_whole_number_too_large_for_a_float_is_named_shortly():
    with pytest.raises(ValueError, match=r"too large for a float") as caught:
        plot_curves({"a": [10**400, 1]})
    assert "0" * 50 not in str(caught.value) and len(str(caught.value)) < 300
    (line,) = plot_curves({"a": [2**70, 1]}).axes[0].get_lines()  # beyond int64, but a float holds it
    assert np.asarray(line.get_ydata(), dtype=float).tolist() == [2.0**70, 1.0]
