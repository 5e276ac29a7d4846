"""Round 12 of the outside-in review of the drawing API: names that read the same, curves wholly above a log axis's
end, math a label cannot draw, scalars held in 0-d arrays, and pictures that would be drawn blank or broken."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")  # tests draw off-screen

import matplotlib.pyplot as plt  # noqa: E402

from course.graphs import show_graph  # noqa: E402
from course.images import png_with_alt  # noqa: E402
from course.plots.activations import plot_fits, plot_layer_scales  # noqa: E402
from course.plots.classification import plot_decision_boundary, plot_sigmoid_threshold  # noqa: E402
from course.plots.curves import plot_confusion_matrix, plot_curves, plot_losses  # noqa: E402
from course.plots.descent import plot_learning_rates  # noqa: E402
from course.plots.diagrams import draw_data_parallel  # noqa: E402
from course.plots.digits import plot_digit_grid  # noqa: E402
from course.plots.optimization import plot_lr_schedules, plot_optimizer_paths  # noqa: E402
from course.plots.shapes import plot_broadcast  # noqa: E402

A, B = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
BOWL = A**2 + B**2
XY = [[0.0, 1.0], [1.0, 0.0]]


def _sigmoid(g: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-g.sum(axis=1)))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


READ_THE_SAME = {
    "curves": lambda a, b: plot_curves({a: [1.0, 0.5], b: [1.0, 0.6]}),
    "losses": lambda a, b: plot_losses({f"loss {a}": [1.0, 0.5], f"loss {b}": [1.0, 0.6]}),
    "schedules": lambda a, b: plot_lr_schedules({a: [0.1], b: [0.2]}),
    "layer curves": lambda a, b: plot_layer_scales({"ReLU": {a: [1.0], b: [2.0]}}),
    "layer panels": lambda a, b: plot_layer_scales({a: {"k": [1.0]}, b: {"k": [2.0]}}),
    "fits panels": lambda a, b: plot_fits([0, 1], [0, 1], [0, 1], {a: [0, 1], b: [1, 2]}),
    "runs": lambda a, b: plot_learning_rates(A, B, BOWL, {a: ([(1, 1)], [1.0]), b: ([(0, 0)], [2.0])}),
    "paths": lambda a, b: plot_optimizer_paths(lambda x, y: x**2 + y**2, {a: [(1, 1)], b: [(0, 0)]}, (-1, 1), (-1, 1)),
    "sigmoid classes": lambda a, b: plot_sigmoid_threshold(0.5, [0.0, 1.0], [0, 1], class_names=[a, b]),
    "boundary classes": lambda a, b: plot_decision_boundary(_sigmoid, XY, [0, 1], class_names=[a, b]),
    "confusion labels": lambda a, b: plot_confusion_matrix([[1, 0], [0, 1]], [a, b]),
}


@pytest.mark.parametrize("twin", ["a ", " a", "a\n"], ids=["trailing space", "leading space", "newline"])
@pytest.mark.parametrize("draw", READ_THE_SAME.values(), ids=READ_THE_SAME.keys())
def test_two_names_that_read_the_same_are_refused(draw, twin):
    with pytest.raises(ValueError, match=r"which read the same: the figure could not tell them apart\. Rename one"):
        draw("a", twin)


def test_two_confusion_labels_that_are_the_same_are_refused():
    with pytest.raises(ValueError, match=r"labels has two labels 'a'.*Rename one"):
        plot_confusion_matrix([[1, 0], [0, 1]], ["a", "a"])


@pytest.mark.parametrize(
    "draw",
    [
        lambda: plot_curves({" ": [1.0, 0.5]}),
        lambda: plot_curves({"\t": [1.0, 0.5]}),
        lambda: plot_sigmoid_threshold(0.5, [0.0], [1], class_names=[" ", "b"]),
        lambda: plot_fits([0, 1], [0, 1], [0, 1], {"": [0, 1]}),
        lambda: plot_fits([0, 1], [0, 1], [0, 1], {None: [0, 1]}),
        lambda: plot_confusion_matrix([[1, 0], [0, 1]], ["", "b"]),
    ],
    ids=["space curve", "tab curve", "blank class", "empty panel", "None panel", "empty confusion label"],
)
def test_a_name_shown_as_nothing_is_refused(draw):
    with pytest.raises(ValueError, match="which the figure would show as no name at all: name it"):
        draw()


def test_names_that_read_the_same_are_refused_and_names_that_read_differently_are_drawn():
    with pytest.raises(ValueError, match="which read the same"):
        plot_curves({"a b": [1.0, 0.5], "a  b": [1.0, 0.6]})
    fig = plot_curves({"a": [1.0, 0.5], "a b": [1.0, 0.6], "ab": [1.0, 0.7]})
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["a", "a b", "ab"]


WHOLLY_ABOVE = {
    "curves": lambda v: plot_curves({"a": v}, log_y=True),
    "curves beside another": lambda v: plot_curves({"a": v, "b": [1.0, 2.0]}, log_y=True),
    "losses": lambda v: plot_losses({"loss": v}, log_y=True),
    "layer scales": lambda v: plot_layer_scales({"ReLU": {"a": v, "b": [1.0, 2.0]}}),
    "learning rates": lambda v: plot_learning_rates(A, B, BOWL, {"r": ([(1, 1), (0, 0)], v)}),
    "schedules": lambda v: plot_lr_schedules({"a": v, "b": [0.1, 0.1]}),
}


@pytest.mark.parametrize("draw", WHOLLY_ABOVE.values(), ids=WHOLLY_ABOVE.keys())
def test_a_curve_wholly_above_the_end_of_a_log_axis_is_refused_not_left_out(draw):
    with pytest.raises(ValueError, match=r"lies wholly above 1e200 .*not one of its points would show: .*rescale it"):
        draw([1e250, 1e300])


def test_the_refusal_of_a_curve_wholly_above_1e200_offers_a_linear_axis_where_it_reaches():
    with pytest.raises(ValueError, match=r"draw it with log_y=False"):
        plot_curves({"a": [1e250, 1e300, float("nan")]}, log_y=True)
    fig = plot_curves({"a": [1.0, 1e250]}, log_y=True)  # reaching below 1e200: drawn, the axis ending there
    assert fig.axes[0].get_ylim()[1] == 1e200


@pytest.mark.parametrize(
    ("draw", "name"),
    [
        (lambda s: plot_curves({"a": [1.0, 0.5]}, title=s), "title"),
        (lambda s: plot_curves({"a": [1.0, 0.5]}, xlabel=s), "xlabel"),
        (lambda s: plot_curves({s: [1.0, 0.5]}), "curves key"),
        (lambda s: plot_fits([0, 1], [0, 1], [0, 1], {s: [0, 1]}), "predictions key"),
        (lambda s: plot_optimizer_paths(lambda x, y: x**2 + y**2, {s: [(1, 1)]}, (-1, 1), (-1, 1)), "paths key"),
        (lambda s: plot_digit_grid(np.zeros((1, 8, 8)), [s]), r"titles\[0\]"),
        (lambda s: plot_decision_boundary(_sigmoid, XY, [0, 1], feature_names=[s, "b"]), r"feature_names\[0\]"),
        (lambda s: plot_layer_scales({"p": {"a": [1.0]}}, ylabel=s), "ylabel"),
    ],
    ids=["title", "xlabel", "curve", "fits panel", "paths panel", "digit title", "feature name", "layer ylabel"],
)
def test_math_matplotlib_cannot_draw_is_refused_with_the_fix(draw, name):
    with pytest.raises(ValueError, match=rf"^{name} '\$\\\\foo\$' holds dollar signs.*write each \$ as \\\$"):
        draw(r"$\foo$")


def test_text_with_dollars_matplotlib_can_draw_is_kept_and_math_it_cannot_is_refused():
    with pytest.raises(ValueError, match="it cannot draw this math"):
        plot_curves({r"$\sigma$": [1.0, 0.5]}, title=r"$\sigma^$")
    fig = plot_curves({r"$\sigma$": [1.0, 0.5], "cost $5": [1.0, 0.6]}, title="one $ sign")
    assert [line.get_label() for line in fig.axes[0].get_lines()] == [r"$\sigma$", "cost $5"]


def test_a_threshold_held_in_a_0d_array_is_read_as_its_number():
    fig = plot_sigmoid_threshold(np.array(0.3))
    assert any("threshold 0.3" == text.get_text() for text in fig.axes[0].get_legend().get_texts())


def test_a_count_held_in_a_0d_tensor_or_array_is_read_as_its_number():
    fig = draw_data_parallel(torch.tensor(2), np.array(8))
    assert fig.axes[0].texts[0].get_text() == "global batch\n8 samples"
    assert len(plot_digit_grid(np.zeros((4, 8, 8)), list("abcd"), columns=torch.tensor(2)).axes) == 4


def test_a_threshold_on_the_meta_device_is_told_it_has_no_value():
    with pytest.raises(ValueError, match="threshold is a tensor on the meta device"):
        plot_sigmoid_threshold(torch.tensor(0.3, device="meta"))


def test_a_single_value_given_for_a_curve_is_told_to_be_put_in_a_list():
    with pytest.raises(ValueError, match=r"got shape \(\)\. One point\? Pass it in a list, \[value\]"):
        plot_curves({"loss": torch.tensor(0.5)})


def test_pictures_whose_grey_scale_would_overflow_are_refused_not_drawn_blank():
    images = np.stack([np.full((8, 8), -1e308), np.full((8, 8), 1e308)])
    with pytest.raises(ValueError, match=r"a span too large for a float.*rescale them"):
        plot_digit_grid(images, ["low", "high"])


def test_broadcast_of_infinities_shows_nan_as_torch_does_without_numpy_warnings(recwarn):
    INF, D = float("inf"), torch.float64  # noqa: N806
    fig = plot_broadcast([float("inf"), 1e308], [float("inf"), -1e308])
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    result = [text.get_text() for text in fig.axes[2].texts]
    assert result == [
        f"{v:g}"
        for v in (torch.tensor([[INF], [1e308]], dtype=D) - torch.tensor([INF, -1e308], dtype=D)).reshape(-1).tolist()
    ]


@pytest.mark.parametrize("png", [b"", b"GIF89a....", bytearray(b"x")], ids=["empty", "gif", "not an image"])
def test_bytes_that_are_not_a_png_are_refused_not_shown_as_a_broken_picture(png):
    with pytest.raises(ValueError, match=r"png should be a PNG picture's bytes.*fig\.savefig\(buffer, format='png'\)"):
        png_with_alt(png, "A dot.", "<Figure>")


def _graph(**kwargs: object) -> object:
    a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    params = {key: (a, b)[i] for i, key in enumerate(kwargs.pop("keys", ("a",)))}
    return show_graph((a * b).sum(), params=params, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"keys": ("",)}, r"params has the name '', which would leave its box with no name"),
        ({"keys": ("a", "a ")}, r"params has the names 'a' and 'a ', which read the same in the picture"),
        ({"name": " "}, r"name=' ' would leave the output box with no name"),
        ({"name": "a "}, r"name='a ' is already the name of a tensor in params \('a', which reads the same\)"),
    ],
    ids=["blank param", "param twins", "blank output name", "output name reads as a param's"],
)
def test_graph_names_that_would_vanish_or_read_the_same_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=words):
        _graph(**kwargs)


def test_a_graph_name_with_a_quote_is_summarised_as_written():
    a = torch.ones(2, requires_grad=True)
    summary = show_graph((a * 2).sum(), params={'a"b': a}, name='my "loss"').summary()
    assert '[leaf] a"b (2)' in summary and '[output] my "loss" ()' in summary and "\\" not in summary


@pytest.mark.parametrize(
    "draw",
    [
        lambda runs: plot_curves(runs),
        lambda runs: plot_lr_schedules(runs),
        lambda runs: plot_layer_scales({"ReLU": runs}),
    ],
    ids=["curves", "schedules", "layer scales"],
)
def test_the_eleventh_curve_does_not_look_like_the_first(draw):
    fig = draw({f"run {i}": [1.0 + i, 0.5 + i] for i in range(12)})
    looks = [(str(line.get_color()), line.get_linestyle()) for line in fig.axes[0].get_lines()]
    assert len(looks) == 12 and len(set(looks)) == 12, looks
    assert {style for _, style in looks[:10]} == {"-"}, "the first ten stay solid, as before"


@pytest.mark.parametrize(
    ("probability", "threshold", "side"),
    [(lambda g: np.full(len(g), 0.9), 0.5, "benign"), (lambda g: 0.5 + 0.1 * np.tanh(g[:, 0]), 0.7, "malignant")],
    ids=["all above", "all below"],
)
def test_a_decision_boundary_outside_the_plane_is_said_not_named_in_the_legend(probability, threshold, side):
    names = ["malignant", "benign"]
    fig = plot_decision_boundary(probability, XY, [0, 1], threshold=threshold, class_names=names)
    texts = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert texts[-1] == f"no decision boundary (p = {threshold:g}) in this plane: all predicted {side}"
    crossing = plot_decision_boundary(_sigmoid, XY, [0, 1], threshold=threshold, class_names=names)
    assert crossing.axes[0].get_legend().get_texts()[-1].get_text() == f"decision boundary (p = {threshold:g})"


@pytest.mark.skipif(__import__("shutil").which("dot") is None, reason="needs Graphviz's dot")
@pytest.mark.parametrize("key", ["a\\", "\\N", "x\\ny"], ids=["trailing backslash", "graphviz's node name", "a \\n"])
def test_a_graph_name_with_a_backslash_is_drawn_as_written(key):
    import re

    import graphviz

    a = torch.ones(2, requires_grad=True)
    graph = show_graph((a * 2).sum(), params={key: a}, name="lo\\ss")
    svg = graphviz.Source(graph.dot_source).pipe(format="svg").decode()
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert key in texts and "lo\\ss" in texts, texts
    assert f"[leaf] {key} (2)" in graph.summary()
