import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")  # tests draw off-screen

from course import plots  # noqa: E402


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
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.plot_curves([1, 2, 3])
    with pytest.raises(ValueError, match="np.meshgrid"):
        plots.plot_loss_surface(np.ones(3), np.ones(3), np.ones(3))
    a, b = np.meshgrid([0, 1], [0, 1])
    with pytest.raises(ValueError, match=r"\(a, b\) pairs"):
        plots.plot_loss_surface(a, b, a + b, path=[1, 2, 3])
    with pytest.raises(ValueError, match="one row per label"):
        plots.plot_confusion_matrix([[1, 2], [3, 4]], ["only one"])
