"""A second hostile round over course.plots: every public helper, fed what a learner might pass it.

Each row is a bad input; each must end in a clear error naming the problem and the fix (never a deep
traceback from inside matplotlib, NumPy, scikit-learn or torch, never a figure that silently leaves
points out, never a hang), or, in the tests below the table, in the right figure.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")  # tests draw off-screen

from course.plots.activations import plot_fits, plot_layer_scales  # noqa: E402
from course.plots.classification import plot_decision_boundary, plot_roc_pr, plot_sigmoid_threshold  # noqa: E402
from course.plots.curves import (  # noqa: E402
    plot_confusion_matrix,
    plot_curves,
    plot_fit,
    plot_loss_surface,
    plot_losses,
    plot_split,
)
from course.plots.descent import plot_learning_rates  # noqa: E402
from course.plots.diagrams import draw_data_parallel  # noqa: E402
from course.plots.digits import plot_digit_confusion, plot_digit_grid  # noqa: E402
from course.plots.optimization import plot_lr_schedules, plot_optimizer_paths  # noqa: E402
from course.plots.shapes import plot_broadcast  # noqa: E402
from tests.unit.clear_errors import assert_clear_error

NAN, INF = float("nan"), float("inf")
A, B = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
BOWL = A**2 + B**2
META = torch.ones(3, device="meta")
XY = [[0.0, 1.0], [1.0, -2.0]]


def bowl(a, b):
    return a**2 + b**2


def half(grid):
    return np.full(len(grid), 0.5)


def runs(path=((1, 1), (0, 0)), losses=(2.0, 0.1)):
    return {"lr = 0.1": (path, losses)}


def digits(n=3):
    return np.zeros((n, 64)), [str(i) for i in range(n)]


# fmt: off
CASES = [  # (id, call, error, words in the message)
    ("split None", lambda: plot_split(None, [1], [1], [1]), TypeError, r"x_train should be numbers.*got None"),
    ("split empty", lambda: plot_split([], [], [1], [1]), ValueError, r"x_train is empty"),
    ("split val mismatch", lambda: plot_split([1], [1], [1, 2], [1]), ValueError, r"x_val has 2 points but y_val has 1"),
    ("split NaN", lambda: plot_split([1, NAN], [1, 2], [1], [1]), ValueError, r"x_train holds 1 NaN or infinite value\(s\), the first at position 1"),
    ("fit meta", lambda: plot_fit(META, [1, 2, 3], [0], [0]), ValueError, r"x is a tensor on the meta device"),
    ("fit list with None", lambda: plot_fit([1, None], [1, 2], [0], [0]), TypeError, r"x should hold only numbers, but it holds None"),
    ("fit inf line", lambda: plot_fit([1], [1], [0, 1], [0, INF]), ValueError, r"y_line holds 1 NaN or infinite"),
    ("fit title None", lambda: plot_fit([1], [1], [0], [0], title=None), TypeError, r"title should be a string, got None"),
    ("fit ragged", lambda: plot_fit([[1, 2], [3]], [1, 2], [0], [0]), ValueError, r"x should be a regular array.*differ in length"),
    ("fit dict", lambda: plot_fit({"a": 1}, [1], [0], [0]), TypeError, r"x should be numbers.*got dict"),
    ("fit complex", lambda: plot_fit(np.array([1j, 2]), [1, 2], [0], [0]), TypeError, r"x should hold only numbers, but it holds 1j"),
    ("fit scalar", lambda: plot_fit(3.0, 3.0, [0], [0]), ValueError, r"x should be one value per point.*got shape \(\)"),
    ("fit (N, 2)", lambda: plot_fit(np.ones((3, 2)), np.ones(3), [0], [0]), ValueError, r"shape \(N,\) or \(N, 1\); got shape \(3, 2\)"),
    ("curves log zero", lambda: plot_curves({"a": [1.0, 0.0]}, log_y=True), ValueError, r"curves\['a'\] holds 0 at position 1.*max\(v, 1e-12\)"),
    ("curves log_y str", lambda: plot_curves({"a": [1.0]}, log_y="yes"), TypeError, r"log_y should be True or False, got 'yes'"),
    ("curves log_y None", lambda: plot_curves({"a": [1.0]}, log_y=None), TypeError, r"log_y should be True or False, got None"),
    ("curves empty curve", lambda: plot_curves({"a": []}), ValueError, r"curves\['a'\] is empty"),
    ("curves all NaN", lambda: plot_curves({"a": [NAN, INF]}), ValueError, r"curves\['a'\] holds no finite value"),
    ("curves None values", lambda: plot_curves({"a": None}), TypeError, r"curves\['a'\] should be numbers.*got None"),
    ("curves too many", lambda: plot_curves({str(i): [1.0] for i in range(21)}), ValueError, r"21 entries.*at most 20"),
    ("curves strings", lambda: plot_curves({"a": ["1", "2"]}), TypeError, r"holds '1'"),
    ("curves 2-D", lambda: plot_curves({"a": np.ones((3, 3))}), ValueError, r"got shape \(3, 3\)"),
    ("curves xlabel None", lambda: plot_curves({"a": [1.0]}, xlabel=None), TypeError, r"xlabel should be a string"),
    ("curves empty dict", lambda: plot_curves({}), ValueError, r"curves should be a non-empty dict.*got an empty one"),
    ("curves None", lambda: plot_curves(None), TypeError, r"curves should be a non-empty dict.*got None"),
    ("losses only lr", lambda: plot_losses({"lr": [0.1]}), ValueError, r"history holds no loss, only \['lr'\].*plot_curves"),
    ("losses list", lambda: plot_losses([1.0, 0.5]), TypeError, r"history should be a non-empty dict.*got list"),
    ("losses log negative", lambda: plot_losses({"train_loss": [-1.0]}, log_y=True), ValueError, r"log scale"),
    ("losses of different lengths", lambda: plot_losses({"train_loss": [1, 0.8, 0.6, 0.5], "val_loss": [1.1, 0.7]}), ValueError,
     r"different lengths, \{'train_loss': 4, 'val_loss': 2\}.*one value per epoch.*float\('nan'\)"),
    ("surface None", lambda: plot_loss_surface(None, B, BOWL), TypeError, r"a_grid should be numbers.*got None"),
    ("surface 1x1", lambda: plot_loss_surface(np.ones((1, 1)), np.ones((1, 1)), np.ones((1, 1))), ValueError, r"at least 2x2"),
    ("surface NaN", lambda: plot_loss_surface(A, B, np.where(A > 0.9, NAN, BOWL)), ValueError, r"losses holds 5 NaN"),
    ("surface path NaN", lambda: plot_loss_surface(A, B, BOWL, path=[(1, 1), (NAN, 0)]), ValueError, r"step 1.*diverged.*path\[:1\]"),
    ("surface path empty", lambda: plot_loss_surface(A, B, BOWL, path=[]), ValueError, r"\(a, b\) pairs.*got shape \(0,\)"),
    ("surface path str", lambda: plot_loss_surface(A, B, BOWL, path="ab"), TypeError, r"path should be numbers.*got 'ab'"),
    ("surface shapes", lambda: plot_loss_surface(A, B[:2], BOWL), ValueError, r"one shape.*\(5, 5\) and \(2, 5\)"),
    ("confusion labels str", lambda: plot_confusion_matrix([[1, 2], [3, 4]], "ab"), TypeError, r"labels should be a list.*got 'ab'"),
    ("confusion negative", lambda: plot_confusion_matrix([[1, -2], [3, 4]], ["a", "b"]), ValueError, r"negative count, -2"),
    ("confusion NaN", lambda: plot_confusion_matrix([[1, NAN], [3, 4]], ["a", "b"]), ValueError, r"matrix holds 1 NaN.*left blank"),
    ("confusion huge", lambda: plot_confusion_matrix(np.ones((40, 40), int), [str(i) for i in range(40)]), ValueError, r"1 to 30 classes, got 40"),
    ("confusion label None", lambda: plot_confusion_matrix([[1, 2], [3, 4]], ["a", None]), TypeError, r"labels should hold only strings.*got None"),
    ("confusion None", lambda: plot_confusion_matrix(None, ["a", "b"]), TypeError, r"matrix should be numbers.*got None"),
    ("sigmoid threshold True", lambda: plot_sigmoid_threshold(True), TypeError, r"threshold should be a number.*got True"),
    ("sigmoid threshold NaN", lambda: plot_sigmoid_threshold(NAN), ValueError, r"threshold should be a finite number"),
    ("sigmoid threshold 1", lambda: plot_sigmoid_threshold(1), ValueError, r"strictly between 0 and 1, got 1"),
    ("sigmoid scores alone", lambda: plot_sigmoid_threshold(scores=[0.0]), ValueError, r"scores were given without targets"),
    ("sigmoid targets alone", lambda: plot_sigmoid_threshold(targets=[0]), ValueError, r"targets were given without scores"),
    ("sigmoid score NaN", lambda: plot_sigmoid_threshold(scores=[0.0, NAN], targets=[0, 1]), ValueError, r"scores hold NaN at position 1"),
    ("sigmoid class_names str", lambda: plot_sigmoid_threshold(class_names="ab"), TypeError, r"class_names should be a list of 2 names"),
    ("sigmoid three names", lambda: plot_sigmoid_threshold(class_names=["a", "b", "c"]), ValueError, r"class_names should hold 2 names.*got 3"),
    ("sigmoid meta scores", lambda: plot_sigmoid_threshold(scores=META, targets=[0, 1, 1]), ValueError, r"scores is a tensor on the meta device"),
    ("sigmoid targets -1", lambda: plot_sigmoid_threshold(scores=[0.0], targets=[-1]), ValueError, r"classes 0 and 1 only, got -1"),
    ("sigmoid lengths", lambda: plot_sigmoid_threshold(scores=[0.0, 1.0], targets=[1]), ValueError, r"scores has 2 points but targets has 1"),
    ("boundary not callable", lambda: plot_decision_boundary(None, XY, [0, 1]), TypeError, r"probability should be a function.*got None"),
    ("boundary scalar out", lambda: plot_decision_boundary(lambda g: 0.5, XY, [0, 1]), ValueError, r"one probability per row.*M = 40000; got 1 values"),
    ("boundary logits out", lambda: plot_decision_boundary(lambda g: g.sum(axis=1), XY, [0, 1]), ValueError, r"from 0 to 1.*torch.sigmoid"),
    ("boundary None out", lambda: plot_decision_boundary(lambda g: None, XY, [0, 1]), TypeError, r"probability\(grid\) should be numbers.*got None"),
    ("boundary NaN out", lambda: plot_decision_boundary(lambda g: np.full(len(g), NAN), XY, [0, 1]), ValueError, r"probability\(grid\) holds 40000 NaN"),
    ("boundary class 2", lambda: plot_decision_boundary(half, XY, [0, 2]), ValueError, r"y should hold the classes 0 and 1 only, got 2"),
    ("boundary x NaN", lambda: plot_decision_boundary(half, [[0, NAN], [1, 1]], [0, 1]), ValueError, r"x holds 1 NaN"),
    ("boundary 3 features", lambda: plot_decision_boundary(half, np.ones((2, 3)), [0, 1]), ValueError, r"shape \(N, 2\).*\(2, 3\)"),
    ("boundary names None", lambda: plot_decision_boundary(half, XY, [0, 1], feature_names=None), TypeError, r"feature_names should be a list of 2 names"),
    ("boundary threshold str", lambda: plot_decision_boundary(half, XY, [0, 1], threshold="0.5"), TypeError, r"threshold should be a number"),
    ("boundary x/y lengths", lambda: plot_decision_boundary(half, XY, [0, 1, 1]), ValueError, r"x has 2 points but y has 3"),
    ("roc inf score", lambda: plot_roc_pr([0, 1], [0.1, INF]), ValueError, r"scores holds 1 NaN or infinite"),
    ("roc one class", lambda: plot_roc_pr([1, 1], [0.1, 0.2]), ValueError, r"both classes, 0 and 1; all 2 are 1"),
    ("roc target 2", lambda: plot_roc_pr([0, 2], [0.1, 0.2]), ValueError, r"classes 0 and 1 only, got 2"),
    ("roc threshold str", lambda: plot_roc_pr([0, 1], [0.1, 0.2], threshold="0.5"), TypeError, r"threshold should be a number"),
    ("roc threshold NaN", lambda: plot_roc_pr([0, 1], [0.1, 0.2], threshold=NAN), ValueError, r"threshold should be a finite number"),
    ("roc empty", lambda: plot_roc_pr([], []), ValueError, r"targets is empty"),
    ("roc string targets", lambda: plot_roc_pr(["no", "yes"], [0.1, 0.2]), TypeError, r"targets should hold only numbers, but it holds 'no'"),
    ("fits list", lambda: plot_fits([1], [1], [1], [[1]]), TypeError, r"predictions should be a non-empty dict.*got list"),
    ("fits too many", lambda: plot_fits([1], [1], [1], {str(i): [1] for i in range(7)}), ValueError, r"at most 6"),
    ("fits lengths", lambda: plot_fits([1], [1], [0, 1, 2], {"a": [0, 1]}), ValueError, r"x_line has 3 points but predictions\['a'\] has 2"),
    ("fits None prediction", lambda: plot_fits([1], [1], [1], {"a": None}), TypeError, r"predictions\['a'\] should be numbers"),
    ("fits empty x", lambda: plot_fits([], [], [1], {"a": [1]}), ValueError, r"x is empty"),
    ("scales zero std", lambda: plot_layer_scales({"ReLU": {"dead": [1.0, 0.0]}}), ValueError, r"panels\['ReLU'\]\['dead'\] holds 0 at position 1.*log scale"),
    ("scales inner list", lambda: plot_layer_scales({"ReLU": [1.0]}), TypeError, r"panels\['ReLU'\] should be a non-empty dict"),
    ("scales inner empty", lambda: plot_layer_scales({"ReLU": {}}), ValueError, r"panels\['ReLU'\] should be a non-empty dict.*empty one"),
    ("scales ylabel None", lambda: plot_layer_scales({"ReLU": {"a": [1.0]}}, ylabel=None), TypeError, r"ylabel should be a string"),
    ("scales None", lambda: plot_layer_scales(None), TypeError, r"panels should be a non-empty dict.*got None"),
    ("rates run None", lambda: plot_learning_rates(A, B, BOWL, {"x": None}), TypeError, r"runs\['x'\] should be a pair \(path of \(a, b\) points, losses per epoch\)"),
    ("rates path only", lambda: plot_learning_rates(A, B, BOWL, {"x": [(1, 1), (0, 0)]}), ValueError, r"runs\['x'\] path should be a list of \(a, b\) pairs.*got shape \(2,\)"),
    ("rates path (N, 3)", lambda: plot_learning_rates(A, B, BOWL, runs(path=np.ones((2, 3)))), ValueError, r"path should be a list of \(a, b\) pairs.*\(2, 3\)"),
    ("rates negative loss", lambda: plot_learning_rates(A, B, BOWL, runs(losses=[1.0, -1.0])), ValueError, r"losses holds -1 at position 1.*log scale"),
    ("rates flat surface", lambda: plot_learning_rates(A, B, np.zeros_like(A), runs()), ValueError, r"surface should rise.*from 0 to 0"),
    ("rates surface NaN", lambda: plot_learning_rates(A, B, np.where(A > 0.9, NAN, BOWL), runs()), ValueError, r"surface holds 5 NaN"),
    ("rates too many", lambda: plot_learning_rates(A, B, BOWL, {str(i): runs()["lr = 0.1"] for i in range(9)}), ValueError, r"at most 8"),
    ("rates empty path", lambda: plot_learning_rates(A, B, BOWL, runs(path=[])), ValueError, r"\(a, b\) pairs.*got shape \(0,\)"),
    ("parallel world True", lambda: draw_data_parallel(world_size=True), TypeError, r"world_size should be a whole number.*got True"),
    ("parallel batch str", lambda: draw_data_parallel(global_batch="16"), TypeError, r"global_batch should be a whole number.*got '16'"),
    ("parallel batch float", lambda: draw_data_parallel(global_batch=16.0), TypeError, r"global_batch should be a whole number.*got float"),
    ("parallel batch < world", lambda: draw_data_parallel(world_size=4, global_batch=2), ValueError, r"at least 4, one sample or more per process"),
    ("parallel world 0", lambda: draw_data_parallel(world_size=0), ValueError, r"world_size should be a whole number from 1 to 4"),
    ("digits columns 0", lambda: plot_digit_grid(*digits(), columns=0), ValueError, r"columns should be a whole number from 1 to 20, got 0"),
    ("digits columns True", lambda: plot_digit_grid(*digits(), columns=True), TypeError, r"columns should be a whole number.*got True"),
    ("digits columns 100", lambda: plot_digit_grid(*digits(), columns=100), ValueError, r"from 1 to 20, got 100"),
    ("digits too many", lambda: plot_digit_grid(*digits(201)), ValueError, r"got 201 images.*at most 200.*images\[:64\]"),
    ("digits NaN", lambda: plot_digit_grid(np.full((1, 64), NAN), ["a"]), ValueError, r"images holds 64 NaN.*blank"),
    ("digits None", lambda: plot_digit_grid(None, []), TypeError, r"images should be numbers.*got None"),
    ("digits titles None", lambda: plot_digit_grid(np.zeros((1, 64)), None), TypeError, r"titles should be a list of strings"),
    ("digits meta", lambda: plot_digit_grid(torch.ones(1, 64, device="meta"), ["a"]), ValueError, r"images is a tensor on the meta device"),
    ("digit confusion negative", lambda: plot_digit_confusion(np.eye(10, dtype=int) - 1), ValueError, r"negative count, -1"),
    ("digit confusion float", lambda: plot_digit_confusion(np.eye(10)), ValueError, r"10x10 integer counts.*float64"),
    ("digit confusion title None", lambda: plot_digit_confusion(np.eye(10, dtype=int), title=None), TypeError, r"title should be a string"),
    ("digit confusion None", lambda: plot_digit_confusion(None), TypeError, r"matrix should be numbers.*got None"),
    ("paths a_range None", lambda: plot_optimizer_paths(bowl, {"SGD": [(0, 0)]}, None, (-1, 1)), TypeError, r"a_range should be a pair of numbers.*got None"),
    ("paths a_range reversed", lambda: plot_optimizer_paths(bowl, {"SGD": [(0, 0)]}, (2, -1), (-1, 1)), ValueError, r"low < high.*got \(2, -1\)"),
    ("paths b_range NaN", lambda: plot_optimizer_paths(bowl, {"SGD": [(0, 0)]}, (-1, 1), (0, NAN)), ValueError, r"b_range\[1\] should be a finite number"),
    ("paths columns str", lambda: plot_optimizer_paths(bowl, {"SGD": [(0, 0)]}, (-1, 1), (-1, 1), columns="2"), TypeError, r"columns should be a whole number"),
    ("paths columns 0", lambda: plot_optimizer_paths(bowl, {"SGD": [(0, 0)]}, (-1, 1), (-1, 1), columns=0), ValueError, r"columns should be a whole number of at least 1, got 0"),
    ("paths target short", lambda: plot_optimizer_paths(bowl, {"SGD": [(0, 0)]}, (-1, 1), (-1, 1), target=(0,)), TypeError, r"target should be a pair of numbers"),
    ("paths loss None out", lambda: plot_optimizer_paths(lambda a, b: None, {"SGD": [(0, 0)]}, (-1, 1), (-1, 1)), TypeError, r"loss\(a_grid, b_grid\) should be numbers"),
    ("paths loss NaN out", lambda: plot_optimizer_paths(lambda a, b: np.where(a > 0, a, NAN) + b, {"SGD": [(0, 0)]}, (-1, 1), (-1, 1)), ValueError, r"loss\(a_grid, b_grid\) holds .* NaN.*holes"),
    ("paths loss of torch tensors", lambda: plot_optimizer_paths(lambda a, b: ((a + b * torch.ones(3, 1) - 2) ** 2).mean(), {"SGD": [(0, 0)]}, (-1, 1), (-1, 1)), TypeError, r"loss\(a_grid, b_grid\) failed: unsupported operand.*two float64 NumPy arrays of shape \(200, 200\).*NumPy and plain numbers"),
    ("paths loss of torch functions", lambda: plot_optimizer_paths(lambda a, b: torch.sigmoid(a) + b**2, {"SGD": [(0, 0)]}, (-1, 1), (-1, 1)), TypeError, r"failed: sigmoid\(\).*must be Tensor.*NumPy arrays"),
    ("paths path NaN", lambda: plot_optimizer_paths(bowl, {"SGD": [(0, 0), (NAN, 1)]}, (-1, 1), (-1, 1)), ValueError, r"paths\['SGD'\] has a NaN or infinite point at step 1"),
    ("paths too many", lambda: plot_optimizer_paths(bowl, {str(i): [(0, 0)] for i in range(17)}, (-1, 1), (-1, 1)), ValueError, r"at most 16"),
    ("paths loss not callable", lambda: plot_optimizer_paths("bowl", {"SGD": [(0, 0)]}, (-1, 1), (-1, 1)), TypeError, r"loss should be a function"),
    ("schedules NaN", lambda: plot_lr_schedules({"a": [0.1, NAN]}), ValueError, r"schedules\['a'\] holds 1 NaN"),
    ("schedules list", lambda: plot_lr_schedules([0.1]), TypeError, r"schedules should be a non-empty dict"),
    ("schedules empty", lambda: plot_lr_schedules({"a": []}), ValueError, r"schedules\['a'\] is empty"),
    ("broadcast strings", lambda: plot_broadcast(["1"], [1]), TypeError, r"column should hold only numbers, but it holds '1'"),
    ("broadcast meta", lambda: plot_broadcast(META, [1]), ValueError, r"column is a tensor on the meta device"),
    ("broadcast 13 values", lambda: plot_broadcast(np.ones(13), [1]), ValueError, r"column has 13 values.*at most 12"),
    ("boundary a model", lambda: plot_decision_boundary(torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Sigmoid()), XY, [0, 1]), TypeError, r"probability is a model \(Sequential\).*Wrap it in a function.*torch.as_tensor"),
    ("boundary fails on numpy", lambda: plot_decision_boundary(lambda g: torch.nn.Linear(2, 1)(g), XY, [0, 1]), TypeError, r"probability\(grid\) failed.*NumPy array.*torch.as_tensor\(grid, dtype=torch.float32\)"),
    ("paths NumPy grid against the data", lambda: plot_optimizer_paths(lambda a, b: np.mean((a + b * np.ones(20) - 1) ** 2), {"SGD": [(0, 0)]}, (-1, 1), (-1, 1)), ValueError, r"loss\(a_grid, b_grid\) failed: operands could not be broadcast.*\(200,200\) \(20,\)\. It is called with two float64 NumPy arrays.*one at a time"),
    ("boundary float64 into float32", lambda: plot_decision_boundary(lambda g: torch.nn.Linear(2, 1)(torch.as_tensor(g)), XY, [0, 1]), TypeError, r"failed.*dtype=torch.float32"),
    ("boundary x 1e308", lambda: plot_decision_boundary(half, [[1e308, 0], [-1e308, 1]], [0, 1]), ValueError, r"too large to draw.*Rescale"),
    ("fit x 1e308", lambda: plot_fit([-1e308, 1e308], [0, 1], [0, 1], [0, 1]), ValueError, r"x holds -1e\+308 at position 0, too large to draw"),
    ("split y 1e308", lambda: plot_split([0, 1], [0, 1e308], [0, 1], [0, 1]), ValueError, r"y_train holds 1e\+308.*too large"),
    ("surface 1e308", lambda: plot_loss_surface(A, B, BOWL * 1e307), ValueError, r"losses holds .* too large to draw"),
    ("path 1e308", lambda: plot_loss_surface(A, B, BOWL, path=[(0, 1e308)]), ValueError, r"path holds 1e\+308"),
    ("digits titles 2-D array", lambda: plot_digit_grid(np.zeros((2, 64)), np.array([["a", "b"]])), TypeError, r"titles should be a list of strings.*array of shape \(1, 2\)"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_an_error_that_names_the_fix(call, error, words):
    assert_clear_error(call, error, words)


def test_a_diverged_curve_is_drawn_up_to_where_it_broke():
    fig = plot_curves({"no clipping": [0.5, 40.0, INF, NAN]}, log_y=True)
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_ydata(), [0.5, 40.0, INF, NAN])


def test_a_float64_run_that_grows_to_1e300_is_drawn_without_overflow(recwarn):
    # float64 losses reach ~1e300 before inf; a log axis up there would need ticks past 1e308.
    fig = plot_curves({"no clipping": [0.5, 1e10, 1e150, 1e300, INF, NAN]}, log_y=True)
    fig.canvas.draw()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert fig.axes[0].get_ylim()[1] == 1e200  # the docstring's promise: the axis stops there
    with pytest.raises(ValueError, match="lies wholly above 1e200"):  # once an empty axis, the right way up
        plot_curves({"all above": [1e250, 1e300]}, log_y=True)


def test_losses_that_require_grad_in_a_list_are_drawn_as_their_values():
    w = torch.ones(1, requires_grad=True)
    fig = plot_curves({"training": [(w * 2).sum(), (w * 1).sum()]})
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_ydata(), [2.0, 1.0])


def test_sigmoid_takes_bool_targets_infinite_scores_and_a_tensor_threshold():
    fig = plot_sigmoid_threshold(
        torch.tensor(0.5), scores=torch.tensor([-INF, INF]), targets=torch.tensor([False, True])
    )
    points = [c.get_offsets()[0].tolist() for c in fig.axes[0].collections if len(c.get_offsets())]
    assert points == [[-8.0, pytest.approx(1 / (1 + np.exp(8)))], [8.0, pytest.approx(1 / (1 + np.exp(-8)))]]


def test_a_nan_loss_leaves_a_gap_and_keeps_the_later_epochs_in_place():
    fig = plot_learning_rates(A, B, BOWL, runs(path=[(1, 1), (0.5, 0.5), (0, 0)], losses=[2.0, NAN, 0.1]))
    line = fig.axes[1].get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(line.get_ydata(), [2.0, NAN, 0.1])


def test_numpy_integers_count_as_whole_numbers():
    fig = draw_data_parallel(world_size=np.int64(2), global_batch=np.int32(8))
    assert fig.axes[0].texts[0].get_text() == "global batch\n8 samples"


def test_integer_tensors_keep_their_counts_as_integers():
    fig = plot_confusion_matrix(torch.tensor([[3, 1], [0, 4]]), ["neg", "pos"])
    assert [t.get_text() for t in fig.axes[0].texts] == ["3", "1", "0", "4"]


def test_grids_and_paths_may_require_grad():
    a, b = (torch.tensor(g, requires_grad=True) for g in (A, B))
    fig = plot_loss_surface(a, b, a**2 + b**2, path=torch.tensor([[1.0, 1.0], [0.0, 0.0]], requires_grad=True))
    assert fig.axes[0].get_title() == "Loss surface"


@pytest.mark.parametrize(
    "values",
    [[0, 1.7e308], [-1e308, 1e308], [1e308, 1e308], [-1.7e308, NAN]],
    ids=["0..max", "both ends", "flat", "low"],
)
def test_a_linear_axis_draws_values_across_the_whole_float_range(values, recwarn):
    fig = plot_curves({"run": values, "other": [1.0, 2.0]})
    fig.canvas.draw()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    low, high = fig.axes[0].get_ylim()
    assert -1e300 <= low < high <= 1e300, "the docstring's promise: the axis ends at -1e300 and 1e300"


@pytest.mark.parametrize(
    "titles", [np.array(["a", "b"]), (3, 4), np.array([3, 4])], ids=["numpy strings", "tuple of ints", "numpy ints"]
)
def test_digit_titles_are_any_sequence_of_names(titles):
    fig = plot_digit_grid(np.zeros((2, 64)), titles)
    assert [ax.get_title() for ax in fig.axes[:2]] == [str(t) for t in titles]


@pytest.mark.parametrize("alt", ["", "   "])
def test_a_blank_alt_text_is_refused_by_the_bundle_as_by_show(alt):
    import matplotlib.pyplot as plt

    from course.images import png_with_alt
    from course.plots.display import show

    with pytest.raises(ValueError, match=r"alt should be one sentence saying what the picture shows"):
        png_with_alt(b"\x89PNG", alt, "<Figure>")
    with pytest.raises(ValueError, match=r"show\(\) needs alt text"):
        show(plt.figure(), alt)
    plt.close("all")


def test_curves_of_different_lengths_are_drawn_from_1_with_a_warning_that_says_so():
    with pytest.warns(
        UserWarning, match=r"different lengths, \{'train': 4, 'val': 2\}, each from x = 1.*float\('nan'\)"
    ):
        fig = plot_curves({"train": [1, 0.8, 0.6, 0.5], "val": [1.1, 0.7]})
    assert [list(line.get_xdata()) for line in fig.axes[0].get_lines()] == [[1, 2, 3, 4], [1, 2]]


@pytest.mark.parametrize("rates", [[0.1, 0.05, 0.0], [0.1, 0.0, -0.05]], ids=["reaches 0", "below 0"])
def test_a_schedule_that_reaches_0_is_drawn_on_a_linear_scale(rates):
    fig = plot_lr_schedules({"LinearLR to 0": rates, "constant": [0.1, 0.1, 0.1]})
    assert fig.axes[0].get_yscale() == "linear"
    assert list(fig.axes[0].get_lines()[0].get_ydata()) == [*rates, rates[-1]]  # every epoch's rate, 0 too
    assert plot_lr_schedules({"constant": [0.1, 0.01]}).axes[0].get_yscale() == "log"  # all above 0: log scale
