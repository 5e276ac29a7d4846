"""Lesson 01's checks, beyond the generated tests: what the messages name, and forms the statements allow."""

import numpy as np
import pytest
import torch

from course.checks import tensors_and_devices as check
from course.checks.probes import graph_nodes


def test_shape_predictions_name_every_wrong_entry_and_accept_any_sequence():
    verdict = check.predicted_shapes({**check.SHAPES, "column - vector": (4, 1), "X * w.T": (5, 1)})
    assert verdict.mistake == "other"
    assert "2 of 5" in verdict.message and "column - vector is (4, 4), not (4, 1)" in verdict.message
    assert check.predicted_shapes({key: list(value) for key, value in check.SHAPES.items()}).passed
    assert check.predicted_shapes({**check.SHAPES, "X @ w": torch.Size([5, 1])}).passed


def test_the_mse_bug_is_fixed_by_any_reshape_and_a_loss_must_stay_in_the_graph():
    assert check.mse(lambda p, t: ((p.reshape(-1) - t) ** 2).sum() / len(t)).passed
    assert check.mse(lambda p, t: ((p.squeeze(1) - t) ** 2).mean().detach()).mistake == "not_backpropagatable"
    assert check.mse(lambda p, t: ((p.squeeze_(1) - t) ** 2).mean()).mistake == "mutated_input"


def test_float32_copies_catch_sharing_only_the_float32_array_reveals():
    assert check.to_float32(lambda a: torch.Tensor(a)).mistake == "shares_when_same_dtype"
    assert check.to_float32(lambda a: torch.as_tensor(a, dtype=torch.float32)).mistake == "shares_when_same_dtype"
    assert check.to_float32(lambda a: torch.tensor(a.astype(np.float32))).passed
    verdict = check.to_float32(lambda a: torch.tensor(a, dtype=torch.float64))
    assert verdict.mistake == "other" and "float64 tensor" in verdict.message


def test_standardize_may_rebind_then_work_in_place():
    def rebinds_first(x):
        x = x - x.mean()
        x /= x.std()
        return x

    assert check.standardize(rebinds_first).passed


def test_review_wrong_answers_the_probe_used_to_hide_and_messages_that_name_the_cause():
    from course.checks import start_here

    assert "torch.Tensor" in start_here.first_tensor(torch.Tensor([1, 2, 3])).message
    assert check.mse(lambda p, t: (p.squeeze(1) - t).abs().mean()).mistake == "not_squared"  # |e| summed as e² did
    verdict = check.mse(lambda p, t: torch.no_grad()(lambda: ((p.squeeze(1) - t) ** 2).mean())())
    assert verdict.mistake == "not_backpropagatable" and "no_grad()" in verdict.message
    strings = check.predicted_shapes({key: str(value) for key, value in check.SHAPES.items()})
    assert strings.mistake == "unreadable" and "not a string" in strings.message
    verdict = check.to_float32(lambda a: a.astype(np.float32))
    assert verdict.mistake == "not_a_tensor" and "NumPy" in verdict.message


def test_review2_a_loss_must_divide_by_the_count_and_reach_the_predictions():
    assert not check.mse(lambda p, t: ((p.squeeze(1) - t) ** 2).sum() / 5).passed  # the probe's count, hard-coded
    detached_leaf = check.mse(lambda p, t: torch.tensor(((p.squeeze(1) - t) ** 2).mean().item(), requires_grad=True))
    assert detached_leaf.mistake == "not_backpropagatable"
    assert check.mse(lambda p, t: torch.nn.functional.mse_loss(p.view(-1), t).double()).passed


def test_review2_a_shape_written_as_a_number_or_a_tensor_is_named():
    assert "needs a comma" in check.predicted_shapes({**check.SHAPES, "m[:, -1]": (3)}).message
    verdict = check.predicted_shapes({**check.SHAPES, "X @ w": torch.zeros(5, 1)})
    assert "an array, not a shape" in verdict.message


def test_review2_a_copy_that_changes_the_array_or_the_dtype_is_named():
    def zeroes_the_array(a):
        tensor = torch.tensor(a, dtype=torch.float32)
        a[...] = 0
        return tensor

    assert check.to_float32(zeroes_the_array).mistake == "mutated_input"
    verdict = check.to_float32(lambda a: torch.tensor(a, dtype=torch.float64))
    assert "float32" in verdict.message.split(";")[0]


def test_review2_standardize_uses_one_mean_and_std_for_the_whole_tensor():
    per_column = check.standardize(lambda x: (x - x.mean(0)) / x.std(0))
    assert per_column.mistake == "wrong_axis"
    assert check.standardize(lambda x: torch.nn.functional.layer_norm(x, x.shape) * 0 + (x - x.mean()) / x.std()).passed


def test_review3_a_shape_holds_whole_numbers():
    verdict = check.predicted_shapes({key: tuple(float(n) for n in value) for key, value in check.SHAPES.items()})
    assert verdict.mistake == "shape_not_ints" and "(4, 4)" in verdict.message, verdict
    numpy_ints = {key: tuple(np.int64(n) for n in value) for key, value in check.SHAPES.items()}
    assert check.predicted_shapes(numpy_ints).passed


def test_review5_a_conversion_that_works_for_one_dimension_only_fails():
    assert not check.to_float32(lambda a: torch.tensor([float(v) for v in a])).passed
    assert check.to_float32(lambda a: torch.tensor(a.tolist(), dtype=torch.float32)).passed


def test_review6_a_loss_that_reaches_the_predictions_with_zero_gradient_is_cut_off():
    verdict = check.mse(lambda p, t: ((p.detach().squeeze(1) - t) ** 2).mean() + 0 * p.sum())
    assert verdict.mistake == "not_backpropagatable", verdict


def test_review6_a_backward_whose_gradients_are_put_back_leaves_nothing_behind():
    def tidy(p, t):
        loss = ((p.squeeze(1) - t) ** 2).mean()
        loss.backward(retain_graph=True)
        for leaf in {node.variable for node in graph_nodes(loss.grad_fn) if hasattr(node, "variable")}:
            leaf.grad = None
        return loss

    assert check.mse(tidy).passed


def test_review7_every_global_change_is_put_back_whichever_is_named():
    def both(p, t):
        torch.set_default_dtype(torch.float64)
        torch.set_grad_enabled(False)
        return ((p.squeeze(1) - t) ** 2).mean()

    assert check.mse(both).mistake == "grad_left_off"
    assert torch.get_default_dtype() == torch.float32


def test_review9_a_loss_whose_backward_fails_is_told_so():
    def mse(p, t):
        error = (p.squeeze(1) - t).exp()  # exp saves its output for backward(), and log_ then changes it
        error.log_()
        return (error**2).mean()

    verdict = check.mse(mse)
    assert verdict.mistake == "backward_fails" and "out-of-place" in verdict.message, verdict


def test_review9_the_template_unfilled_is_not_attempted_and_no_missing_prediction_gets_its_answer():
    assert check.predicted_shapes(dict.fromkeys(check.SHAPES, ...)).status == "not_attempted"
    partly = {**check.SHAPES, "X @ w": ..., "m[:, -1]": ...}
    verdict = check.predicted_shapes(partly)
    assert verdict.mistake == "unreadable" and "m[:, -1], X @ w" in verdict.message, verdict
    for left in ({**check.SHAPES, "X @ w": None}, {**check.SHAPES, "X @ w": (5, ...)}, dict.fromkeys(check.SHAPES)):
        verdict = check.predicted_shapes(left)
        assert not verdict.passed and "X @ w" in verdict.message and "(5, 1)" not in verdict.message, verdict
    verdict = check.predicted_shapes({**check.SHAPES, "X @ w": None, "X * w.T": (5, 1)})  # a wrong one is told
    assert "X * w.T is (5, 3), not (5, 1)" in verdict.message and "(5, 1), not" not in verdict.message, verdict


@pytest.mark.parametrize(
    "answer",
    [
        lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32)),
        lambda a: torch.from_numpy(a.astype(np.float32, copy=False)),
        lambda a: torch.from_numpy(np.float32(a)),
    ],
    ids=["asarray", "astype_no_copy", "np_float32"],
)
def test_fix_sharing_through_numpy_is_not_blamed_on_float(answer):
    verdict = check.to_float32(answer)
    assert verdict.mistake == "shares_when_same_dtype", verdict
    assert ".float() (like" not in verdict.message and "NumPy" in verdict.message, verdict


def test_fix_sizes_written_as_float_tensors_are_not_whole_numbers():
    verdict = check.predicted_shapes({**check.SHAPES, "column - vector": (torch.tensor(4.0), torch.tensor(4.0))})
    assert verdict.mistake == "shape_not_ints" and "write (4, 4)" in verdict.message, verdict
    assert check.predicted_shapes({**check.SHAPES, "X @ w": (5.0, 1.0)}).mistake == "shape_not_ints"


def test_review10_a_loss_computed_in_inference_mode_is_told_it_is_cut_off():
    def in_inference_mode(p, t):
        with torch.inference_mode():
            return ((p.squeeze(1) - t) ** 2).mean()

    verdict = check.mse(in_inference_mode)
    assert verdict.mistake == "not_backpropagatable" and "inference_mode" in verdict.message, verdict


@pytest.mark.parametrize(
    "answer, named, not_named",
    [
        ({k: v for k, v in check.SHAPES.items() if k != "X @ w"}, ["missing", "'X @ w'"], ["extra"]),
        ({**check.SHAPES, "extra": (1,)}, ["'extra'"], ["missing"]),
        (
            {("column-vector" if k == "column - vector" else k): v for k, v in check.SHAPES.items()},
            ["'column - vector'", "'column-vector'"],
            [],
        ),
    ],
    ids=["missing", "extra", "misspelled"],
)
def test_review10_a_wrong_set_of_keys_names_the_keys(answer, named, not_named):
    verdict = check.predicted_shapes(answer)
    assert verdict.mistake == "unreadable" and "not a string" not in verdict.message, verdict
    assert all(word in verdict.message for word in named), verdict
    assert not any(word in verdict.message for word in not_named), verdict


def test_review10_a_shape_written_as_a_string_is_named():
    verdict = check.predicted_shapes({**check.SHAPES, "X @ w": "(5, 1)"})
    assert verdict.mistake == "unreadable" and "X @ w is the string '(5, 1)'" in verdict.message, verdict


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda a: torch.tensor(a, dtype=torch.float16).float(), "float16"),
        (lambda a: torch.tensor(a, dtype=torch.bfloat16).float(), "bfloat16"),
        (lambda a: torch.tensor(np.round(a, 3), dtype=torch.float32), "0.0123456 became 0.012"),
    ],
    ids=["via_float16", "via_bfloat16", "rounded_3_decimals"],
)
def test_review11_a_copy_that_loses_float32_precision_is_refused(answer, words):
    verdict = check.to_float32(answer)
    assert not verdict.passed and words in verdict.message, verdict


@pytest.mark.parametrize(
    "answer",
    [
        lambda a: torch.tensor(a, dtype=torch.float32),
        lambda a: torch.from_numpy(a.copy()).float(),
        lambda a: torch.as_tensor(a.copy()).to(torch.float32),
        lambda a: torch.tensor(a.astype(np.float64), dtype=torch.float32),
    ],
    ids=["tensor_float32", "from_numpy_copy_float", "as_tensor_to", "via_float64"],
)
def test_review11_copies_at_float32_precision_pass(answer):
    assert check.to_float32(answer).passed


@pytest.mark.parametrize(("dtype", "digits"), [(torch.float16, "3 to 4"), (torch.bfloat16, "2 to 3")])
def test_a_half_precision_detour_is_told_the_digits_torch_keeps(dtype, digits):
    verdict = check.to_float32(lambda a: torch.tensor(a, dtype=dtype).float())
    assert verdict.mistake == "rounded" and f"keeps only {digits} significant digits" in verdict.message, verdict
    kept = torch.tensor([1234.567]).to(dtype).item()  # torch: float16 1235.0 (4 digits), bfloat16 1232.0 (3)
    assert f"{kept:.0f}" == {torch.float16: "1235", torch.bfloat16: "1232"}[dtype]


def test_learnE_a_copy_that_makes_the_array_read_only_is_told_so_not_blamed_for_the_checks_error():
    def read_only(array):
        array.setflags(write=False)
        return torch.tensor(array, dtype=torch.float32)

    verdict = check.to_float32(read_only)
    assert verdict.mistake == "mutated_input" and "read-only" in verdict.message, verdict
    assert "raised an error" not in verdict.message, verdict


@pytest.mark.parametrize("number", [3, np.int64(3), np.int32(3), np.uint8(3)], ids=["int", "int64", "int32", "uint8"])
def test_learnE_a_one_item_shape_written_as_any_integer_is_told_it_needs_a_comma(number):
    verdict = check.predicted_shapes({**check.SHAPES, "m[:, -1]": number})
    assert "the number 3: a tuple of one item needs a comma, (3,)" in verdict.message, verdict


def test_fix13_a_loss_from_data_names_data_as_what_cut_it_off():
    verdict = check.mse(lambda p, t: ((p.data.squeeze(1) - t) ** 2).mean())
    assert verdict.mistake == "not_backpropagatable" and ".data" in verdict.message, verdict
