"""Round 11 hostile review of the plotting, history and reproducibility helpers: each test failed before its fix."""

from __future__ import annotations

import random
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course import repro
from course.history import plain_history


class _FakeMps:
    """An MPS generator for a machine without one: a state of 8 bytes that a draw advances."""

    def __init__(self) -> None:
        self.state = torch.zeros(8, dtype=torch.uint8)

    def get_rng_state(self) -> torch.Tensor:
        return self.state.clone()

    def set_rng_state(self, state: torch.Tensor) -> None:
        if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8 or state.numel() != 8:
            raise RuntimeError("RNG state must be a torch.ByteTensor of 8 bytes")
        self.state = state.clone()

    def draw(self) -> None:
        self.state += 1


@pytest.fixture
def fake_mps(monkeypatch: pytest.MonkeyPatch) -> _FakeMps:
    mps = _FakeMps()
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.mps, "get_rng_state", mps.get_rng_state)
    monkeypatch.setattr(torch.mps, "set_rng_state", mps.set_rng_state)
    return mps


def test_rng_state_saves_and_restores_mps(fake_mps: _FakeMps) -> None:
    state = repro.rng_state()
    fake_mps.draw()
    repro.set_rng_state(state)
    assert torch.equal(fake_mps.state, torch.zeros(8, dtype=torch.uint8))


def test_preserved_rng_restores_mps(fake_mps: _FakeMps) -> None:
    with repro.preserved_rng():
        fake_mps.draw()
    assert torch.equal(fake_mps.state, torch.zeros(8, dtype=torch.uint8))


def test_a_bad_mps_state_changes_nothing(fake_mps: _FakeMps) -> None:
    state = {**repro.rng_state(), "mps": torch.zeros(3, dtype=torch.uint8)}
    fake_mps.draw()
    before = torch.get_rng_state()
    with pytest.raises(ValueError, match="'mps' part"):
        repro.set_rng_state(state)
    assert torch.equal(fake_mps.state, torch.ones(8, dtype=torch.uint8))
    assert torch.equal(torch.get_rng_state(), before)


def test_a_state_saved_without_mps_still_restores(fake_mps: _FakeMps) -> None:
    state = repro.rng_state()
    del state["mps"]  # a checkpoint from before MPS was saved, or from a machine without it
    first = random.random()
    repro.set_rng_state(state)
    assert random.random() == first


GRID = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))


def _draws_every_point(ax: plt.Axes, values: list[float]) -> bool:
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    return all(low <= v <= high for v in values if v <= 1e200)


@pytest.mark.parametrize("losses", [[1.0, 1e250], [1.0, 1e300], [1.0, 1e120, 1e300]])
def test_a_diverging_run_past_1e250_is_drawn_on_the_log_axes(losses: list[float]) -> None:
    from course.plots.activations import plot_layer_scales
    from course.plots.descent import plot_learning_rates
    from course.plots.optimization import plot_lr_schedules

    a, b = GRID
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's 'overflow encountered in exp'
        figures = [
            plot_learning_rates(a, b, a**2 + b**2, {"r": ([(1, 1), (0, 0)], losses)}),
            plot_layer_scales({"p": {"a": losses}}),
            plot_lr_schedules({"a": losses}),
        ]
        for fig, ax in zip(figures, (figures[0].axes[1], figures[1].axes[0], figures[2].axes[0]), strict=True):
            assert ax.get_yscale() == "log"
            assert _draws_every_point(ax, losses), ax.get_ylim()
            assert ax.get_ylim()[1] == 1e200
            plt.close(fig)


def test_two_curves_or_classes_with_one_label_are_refused() -> None:
    from course.plots.activations import plot_layer_scales
    from course.plots.classification import plot_decision_boundary, plot_sigmoid_threshold
    from course.plots.curves import plot_curves, plot_losses
    from course.plots.optimization import plot_lr_schedules

    with pytest.raises(ValueError, match="two labels '1'.*Rename one"):
        plot_curves({1: [1.0, 2.0], "1": [3.0, 4.0]})
    with pytest.raises(ValueError, match="two labels '1'"):
        plot_losses({1: [1.0, 2.0], "1": [3.0, 4.0]})
    with pytest.raises(ValueError, match="two labels '1'"):
        plot_layer_scales({"p": {1: [1.0, 0.5], "1": [2.0, 1.0]}})
    with pytest.raises(ValueError, match="two labels '1'"):
        plot_lr_schedules({1: [0.1], "1": [0.2]})
    with pytest.raises(ValueError, match="class_names has two labels 'a'"):
        plot_sigmoid_threshold(0.5, [1.0, -2.0], [1, 0], class_names=["a", "a"])
    with pytest.raises(ValueError, match="class_names has two labels 'a'"):
        plot_decision_boundary(lambda g: 1 / (1 + np.exp(-g.sum(axis=1))), [[0, 1], [1, -2]], [1, 0], ["x", "y"], 0.5,
                               ["a", "a"])  # fmt: skip
    plt.close("all")


def test_digit_grid_takes_a_batch_with_one_channel_and_names_the_reshape_of_flat_rows() -> None:
    from course.plots.digits import plot_digit_grid

    pictures = torch.arange(3 * 64.0).reshape(3, 8, 8)
    for batch in (pictures[:, None], pictures[..., None]):  # (n, 1, h, w) as a loader gives it; (n, h, w, 1)
        fig = plot_digit_grid(batch, ["a", "b", "c"])
        assert np.array_equal(fig.axes[1].images[0].get_array(), pictures[1].numpy())
        plt.close(fig)
    with pytest.raises(ValueError, match=r"images.reshape\(-1, 28, 28\)"):
        plot_digit_grid(torch.zeros(3, 784), ["a", "b", "c"])


def test_digit_confusion_names_the_fix_for_counts_tallied_in_floats() -> None:
    from course.plots.digits import plot_digit_confusion

    tally = torch.zeros(10, 10)
    tally[3, 3] += 2
    with pytest.raises(ValueError, match=r"float32\. Make them integers: matrix.astype\(int\), or matrix.long\(\)"):
        plot_digit_confusion(tally)
    with pytest.raises(ValueError, match=r"float64\.$"):  # fractions: no such fix
        plot_digit_confusion(np.eye(10) / 2)
    fig = plot_digit_confusion(tally.long())  # the fix works
    assert [text.get_text() for text in fig.axes[0].texts] == ["2"]
    plt.close(fig)


def test_history_refuses_numpy_complex_numbers_rather_than_dropping_their_imaginary_part() -> None:
    with pytest.raises(TypeError, match="dict of lists of numbers"):
        plain_history({"loss": [np.complex128(1 + 2j)]})
    with pytest.raises(TypeError, match="dict of lists of numbers"):
        plain_history({"loss": np.array([1 + 2j, 3])})


def test_history_reads_a_tensor_that_requires_grad_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plain_history({"loss": torch.tensor([0.5, 0.25], requires_grad=True)}) == {"loss": [0.5, 0.25]}


def test_roc_pr_marks_a_threshold_above_every_score_at_the_end_of_the_precision_recall_curve() -> None:
    from course.plots.classification import plot_roc_pr

    fig = plot_roc_pr([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], threshold=2.0)  # nothing predicted 1
    pr = fig.axes[1]
    curve = set(zip(pr.lines[0].get_xdata().tolist(), pr.lines[0].get_ydata().tolist(), strict=True))
    assert tuple(pr.collections[0].get_offsets()[0].tolist()) in curve  # (recall 0, precision 1), not (0, 0)
    plt.close(fig)


def test_decision_boundary_shows_a_probability_just_above_1_as_it_is() -> None:
    from course.plots.classification import plot_decision_boundary

    above = np.float32(1.0000001)
    with pytest.raises(ValueError, match=r"from 1\.00000011920\d+ to 1\.00000011920\d+"):  # not "from 1 to 1"
        plot_decision_boundary(lambda g: np.full(len(g), above), [[0, 1], [1, -2]], [1, 0])
