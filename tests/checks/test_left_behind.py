"""Tests generated from every declared function exercise: what an answer leaves behind for the code after it (global
settings, gradients, the model it was given) and a result whose value is right but whose gradient is not."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course.checks import probes, runner
from tests.checks.test_declarations import FUNCTION_CASES, _id


@pytest.mark.parametrize("case", FUNCTION_CASES, ids=[_id(c) for c in FUNCTION_CASES])
def test_an_answer_that_leaves_gradient_tracking_off_is_told_so(case):
    # the reference's numbers, but tracking left off for the rest of the notebook (and for the check's own code)
    _, exercise = case

    def grad_left_off(*args, **kwargs):
        result = exercise.reference(*args, **kwargs)
        torch.set_grad_enabled(False)
        return result

    assert exercise(grad_left_off).mistake == "grad_left_off"
    assert torch.is_grad_enabled()  # the check ran the answer in its own thread: this one's mode is untouched


BACKWARD_CASES = [  # a function given tensors that require grad, whose right program runs no backward() into them
    (module, exercise)
    for module, exercise in FUNCTION_CASES
    if exercise.pure
    and not exercise.grad_left_ok  # dead units may read the gradients they made
    and probes.leaves(exercise.inputs())
    and not exercise._reference_effects()[0]
    and exercise.name != "run_on_device"  # runs the answer on meta, then on CPU tensors of its own: no leaf watched
]


@pytest.mark.parametrize("case", BACKWARD_CASES, ids=[_id(c) for c in BACKWARD_CASES])
def test_an_answer_that_calls_backward_on_what_it_was_given_is_told_so(case):
    # the reference's numbers, after a backward() into every leaf behind the inputs (with zero gradients)
    _, exercise = case

    def backward_inside(*args):
        result = exercise.reference(*args)
        (sum(leaf.sum() for leaf in probes.leaves(args)) * 0).backward()
        return result

    assert exercise(backward_inside).mistake == "backward_inside"


@pytest.mark.parametrize("case", FUNCTION_CASES, ids=[_id(c) for c in FUNCTION_CASES])
@pytest.mark.parametrize("when", ["every call", "first call only"])
def test_an_answer_that_changes_the_default_dtype_is_told_so_and_it_is_put_back(case, when):
    # "first call only": the later calls set float32 again, so the dtype is back by the end (review 8, make_parameter)
    _, exercise = case
    calls = []

    def float64_from_now_on(*args, **kwargs):
        result = exercise.reference(*args, **kwargs)
        torch.set_default_dtype(torch.float64 if when == "every call" or not calls else torch.float32)
        calls.append(1)
        return result

    assert exercise(float64_from_now_on).mistake == "default_dtype_changed"
    assert torch.get_default_dtype() == torch.float32


@pytest.mark.parametrize("case", FUNCTION_CASES, ids=[_id(c) for c in FUNCTION_CASES])
def test_an_answer_that_changes_the_default_device_is_told_so_and_it_is_put_back(case):
    _, exercise = case

    def meta_from_now_on(*args, **kwargs):
        result = exercise.reference(*args, **kwargs)
        torch.set_default_device("meta")  # every later tensor, the check's own probes included
        return result

    assert exercise(meta_from_now_on).mistake == "default_device_changed"
    assert torch.empty(1).device.type == "cpu"


def _models(args: tuple) -> list[int]:
    return [i for i, arg in enumerate(args) if isinstance(arg, nn.Module)]


MODEL_CASES = [  # a function given a model that its right program leaves as it came (a train step changes it)
    (module, exercise)
    for module, exercise in FUNCTION_CASES
    if exercise.pure
    and (models := _models(exercise.inputs()))
    and not any(exercise._reference_effects()[1][i] for i in models)
]


CHANGING_MODEL_CASES = [  # a function whose right program changes the model it is given: trains it, or moves it
    (module, exercise)
    for module, exercise in FUNCTION_CASES
    if exercise.pure
    and (models := _models(exercise.inputs()))
    and any(exercise._reference_effects()[1][i] for i in models)
]


def _new_parameters(model: nn.Module) -> None:
    """Put new nn.Parameter objects of the same values in place of the model's own (an optimizer keeps the old)."""
    for module in model.modules():
        for name, parameter in list(module.named_parameters(recurse=False)):
            setattr(module, name, nn.Parameter(parameter.detach().clone()))


@pytest.mark.parametrize("case", CHANGING_MODEL_CASES, ids=[_id(c) for c in CHANGING_MODEL_CASES])
@pytest.mark.parametrize("change", [nn.Module.double, _new_parameters])
def test_an_answer_that_also_casts_or_replaces_the_model_it_changes_is_told_so(case, change):
    # the right program's change, then one it never makes: model.double() (the caller's next float32 batch fails),
    # or new parameter objects (the caller's optimizer no longer updates the model)
    _, exercise = case
    if change is _new_parameters and any("replaced" in kinds for kinds in exercise._reference_effects()[1]):
        pytest.skip("the right program itself gives the model new parameter objects (moved off the meta device)")

    def also_changes(*args):
        result = exercise.reference(*args)
        [change(model) for model in args if isinstance(model, nn.Module)]
        return result

    verdict = exercise(also_changes)
    # a train step whose optimizer lost the model's parameters may be named by what follows first (no update)
    assert verdict.mistake == "mutated_input" or (change is _new_parameters and verdict.status == "wrong"), verdict


@pytest.mark.parametrize("case", MODEL_CASES, ids=[_id(c) for c in MODEL_CASES])
@pytest.mark.parametrize("change", ["weights halved", "double", "new parameters"])
def test_an_answer_that_changes_the_model_it_was_given_is_told_so(case, change):
    _, exercise = case

    def changes_the_model(*args):
        result = exercise.reference(*args)
        for model in (arg for arg in args if isinstance(arg, nn.Module)):
            if change == "double":
                model.double()
            elif change == "new parameters":
                _new_parameters(model)
            else:
                with torch.no_grad():
                    [parameter.mul_(0.5) for parameter in model.parameters()]
        return result

    assert exercise(changes_the_model).mistake == "mutated_input"


def _differentiable(exercise) -> bool:
    """Whether the right program's result is a tensor that backward() runs from into the probe inputs (a loss)."""
    args = exercise.inputs()
    return any(grads is not None for grads in runner.gradients(exercise._own(exercise.reference, args), args))


GRADIENT_CASES = [
    (module, exercise) for module, exercise in FUNCTION_CASES if exercise.pure and _differentiable(exercise)
]


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=[_id(c) for c in GRADIENT_CASES])
def test_a_result_with_the_right_value_and_a_detached_part_is_told_so(case):
    _, exercise = case

    def half_detached(*args):
        out = exercise.reference(*args)
        return 0.5 * out + 0.5 * out.detach()  # the same value; half the gradient

    assert exercise(half_detached).mistake == "partly_detached"


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=[_id(c) for c in GRADIENT_CASES])
def test_a_result_with_the_right_value_whose_backward_fails_is_told_so(case):
    _, exercise = case

    def changed_after_saved(*args):
        out, one = exercise.reference(*args), torch.ones(())
        result = out * one  # mul saves `one` for the gradient of out
        one.mul_(1)  # the same value, but backward() now fails: a saved tensor was changed in place
        return result

    verdict = exercise(changed_after_saved)
    assert verdict.mistake == "backward_fails" and "in-place" in verdict.message, verdict


def test_every_exercise_that_needs_a_loss_tensor_compares_gradients():
    assert {exercise.name for _, exercise in GRADIENT_CASES} >= {
        "mse", "regression_loss", "bce_by_hand", "binary_loss_from_logits", "class_loss", "digits_loss"
    }  # fmt: skip
