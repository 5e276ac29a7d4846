import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")  # tests draw off-screen

from course import plots  # noqa: E402
from course.plots.classification import plot_decision_boundary, plot_roc_pr, plot_sigmoid_threshold  # noqa: E402
from course.plots.diagrams import draw_data_parallel  # noqa: E402
from course.plots.digits import plot_digit_grid  # noqa: E402
from course.plots.optimization import plot_optimizer_paths  # noqa: E402
from course.plots.shapes import plot_broadcast  # noqa: E402
from tests.unit.clear_errors import assert_clear_error


def test_every_helper_returns_a_figure():
    from matplotlib.figure import Figure

    a, b = np.meshgrid(np.linspace(-1, 1, 4), np.linspace(-1, 1, 4))
    figures = [
        plots.plot_split(np.ones((3, 1)), np.ones(3), np.ones(2), np.ones((2, 1))),
        plots.plot_fit(torch.arange(3.0), torch.arange(3.0), [0, 2], [0, 2]),
        plots.plot_curves({"sgd": [3, 2, 1], "adam": [3, 1, 0.5]}, log_y=True),
        plots.plot_losses({"train_loss": [1.0, 0.5]}),
        plots.plot_loss_surface(a, b, a**2 + b**2, path=[(1, 1), (0, 0)]),
        plots.plot_confusion_matrix([[3, 1], [0, 4]], ["neg", "pos"]),
    ]
    assert all(isinstance(f, Figure) for f in figures)


def test_tensors_that_require_grad_are_accepted():
    w = torch.ones(3, requires_grad=True)
    fig = plots.plot_fit(w * 2, w * 3, [0, 1], [0, 1])
    np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets()[:, 1], [3, 3, 3])


def test_mismatched_lengths_are_explained():
    with pytest.raises(ValueError, match="x has 3 points but y has 2"):
        plots.plot_fit([1, 2, 3], [1, 2], [0], [0])


def test_matrix_instead_of_points_is_explained():
    with pytest.raises(ValueError, match=r"shape \(N,\) or \(N, 1\); got shape \(3, 3\)"):
        plots.plot_fit(np.ones((3, 3)), np.ones(3), [0], [0])


def test_bad_curves_and_surfaces_are_explained():
    with pytest.raises(TypeError, match="non-empty dict"):
        plots.plot_curves([1, 2, 3])
    with pytest.raises(ValueError, match="np.meshgrid"):
        plots.plot_loss_surface(np.ones(3), np.ones(3), np.ones(3))
    a, b = np.meshgrid([0, 1], [0, 1])
    with pytest.raises(ValueError, match=r"\(a, b\) pairs"):
        plots.plot_loss_surface(a, b, a + b, path=[1, 2, 3])
    with pytest.raises(ValueError, match="one row per label"):
        plots.plot_confusion_matrix([[1, 2], [3, 4]], ["only one"])


def test_digit_grid_draws_every_picture_on_one_grey_scale():
    faint, full = np.full((1, 64), 8.0), np.full((1, 64), 16.0)  # a digit at half ink, one fully inked
    faint[0, 0] = full[0, 0] = 0.0
    fig = plot_digit_grid(np.concatenate([faint, full]), ["faint", "full"], columns=2)
    assert [ax.get_images()[0].get_clim() for ax in fig.axes] == [(0.0, 16.0), (0.0, 16.0)]


def _fit_history():
    return {"lr": [0.1, 0.1, 0.05], "train_loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.6, 0.5]}


def test_plot_losses_draws_only_the_losses_of_a_fit_history():
    fig = plots.plot_losses(_fit_history())
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["train_loss", "val_loss"]


# The defects a first hostile round found; each must end in a clear error from the course, not from a library.
# fmt: off
FOUND = [  # (id, call, error, words in the message)
    ("sigmoid targets 2", lambda: plot_sigmoid_threshold(scores=[0.0, 1.0], targets=[1, 2]), ValueError, r"targets should hold the classes 0 and 1 only, got 2"),
    ("broadcast 2-D vector", lambda: plot_broadcast([1, 2], [[1, 2], [3, 4]]), ValueError, r"vector should have shape \(M,\), got shape \(2, 2\)"),
    ("broadcast 2-D column", lambda: plot_broadcast(np.ones((2, 3)), [1, 2]), ValueError, r"column should have shape \(N, 1\).*\(2, 3\)"),
    ("broadcast None", lambda: plot_broadcast(None, [1, 2]), TypeError, r"column should be numbers.*got None"),
    ("broadcast None inside", lambda: plot_broadcast([1, None], [1, 2]), TypeError, r"column should hold only numbers, but it holds None"),
    ("broadcast 200x200", lambda: plot_broadcast(np.ones(200), np.ones(200)), ValueError, r"at most 12"),
    ("data parallel batch 0", lambda: draw_data_parallel(global_batch=0), ValueError, r"global_batch should be a whole number of at least 2.*got 0"),
    ("data parallel batch -4", lambda: draw_data_parallel(global_batch=-4), ValueError, r"global_batch.*got -4"),
    ("curves log_y negative", lambda: plots.plot_curves({"a": [1.0, -0.5]}, log_y=True), ValueError, r"curves\['a'\] holds -0.5 at position 1, which a log scale cannot show"),
    ("decision boundary empty x", lambda: plot_decision_boundary(lambda g: np.full(len(g), 0.5), np.zeros((0, 2)), []), ValueError, r"x should hold two features per point, shape \(N, 2\) with N >= 1; got shape \(0, 2\)"),
    ("roc pr NaN score", lambda: plot_roc_pr([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.4]), ValueError, r"scores holds 1 NaN or infinite value\(s\), the first at position 1"),
    ("optimizer paths constant loss", lambda: plot_optimizer_paths(lambda a, b: a * 0 + 1, {"SGD": [(0, 0)]}, (-1, 1), (-1, 1)), ValueError, r"should vary over the ranges.*from 1 to 1"),
    ("threshold None", lambda: plot_sigmoid_threshold(None), TypeError, r"threshold should be a number, e.g. 0.5; got None"),
    ("threshold str", lambda: plot_sigmoid_threshold("0.5"), TypeError, r"threshold should be a number.*got '0.5'"),
    ("labels None", lambda: plots.plot_confusion_matrix([[1, 2], [3, 4]], None), TypeError, r"labels should be a list of names.*got None"),
    ("columns '2'", lambda: plot_digit_grid(np.zeros((3, 64)), ["a", "b", "c"], columns="2"), TypeError, r"columns should be a whole number, e.g. 2; got '2'"),
    ("strings in the data", lambda: plots.plot_fit(["a", "b"], [1, 2], [0], [0]), TypeError, r"x should hold only numbers, but it holds 'a'"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "words"), [c[1:] for c in FOUND], ids=[c[0] for c in FOUND])
def test_defects_of_the_first_round_get_a_clear_error(call, error, words):
    assert_clear_error(call, error, words)


def test_a_confusion_matrix_of_fractions_shows_two_decimals_and_counts_stay_whole():
    shares = plots.plot_confusion_matrix([[1 / 3, 2 / 3], [0.5, 0.5]], ["neg", "pos"])
    counts = plots.plot_confusion_matrix([[3, 1], [0, 4]], ["neg", "pos"])
    assert [t.get_text() for t in shares.axes[0].texts] == ["0.33", "0.67", "0.50", "0.50"]
    assert [t.get_text() for t in counts.axes[0].texts] == ["3", "1", "0", "4"]
