"""The engine on what an answer does beyond its result: global settings after each call, a model it was given, the
gradient of a result whose value is right; a template handed in unfilled, a stub the answer calls."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.checks import probes
from course.checks.engine import Exercise
from course.checks.runner import Watched
from course.checks.values import changed


def test_each_call_of_a_watched_answer_puts_back_the_settings_it_changed():
    def changes_everything():
        torch.set_default_device("meta")
        torch.set_default_dtype(torch.float64)
        torch.set_grad_enabled(False)

    watched = Watched(changes_everything)
    watched()
    assert (torch.empty(1).device.type, torch.get_default_dtype(), torch.is_grad_enabled()) == (
        "cpu",
        torch.float32,
        True,
    )
    assert watched.left == {"grad_left_off", "default_dtype_changed", "default_device_changed"}


def _model() -> nn.Module:
    model = nn.Sequential(nn.Linear(2, 1), nn.BatchNorm1d(1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.5, -1.5]]))
        model[0].bias.fill_(0.25)
    return model


def test_a_models_mode_and_requires_grad_are_no_change_but_its_weights_dtype_and_buffers_are():
    assert not changed(_model().eval().requires_grad_(False), _model())
    assert changed(_model().double(), _model()) and changed(_model().to("meta"), _model())
    moved_buffer = _model()
    moved_buffer[1].running_mean += 1
    assert changed(moved_buffer, _model())


def _dropout_model() -> nn.Module:
    return probes.randomised(nn.Sequential(nn.Linear(2, 4), nn.Dropout(0.5), nn.LeakyReLU(0.1), nn.Linear(4, 1)), 0)


def _replaced_dropout() -> nn.Module:
    model = _dropout_model()
    model[1] = nn.Identity()  # no parameter or buffer differs: the layers do
    return model


def _with(**settings: object) -> nn.Module:
    model = _dropout_model()
    for name, value in settings.items():
        setattr(model[1] if name in ("p", "inplace") else model[2], name, value)
    return model


@pytest.mark.parametrize(
    "used, changes",
    [
        (_replaced_dropout, True),
        (lambda: _with(p=0.0), True),
        (lambda: _with(inplace=True), True),
        (lambda: _with(negative_slope=0.2), True),
        (lambda: nn.Sequential(*_dropout_model()[:3]), True),  # a layer left out
        (lambda: _dropout_model().eval(), False),  # the mode is the exercise's business
        (lambda: _with(_private=3), False),  # and so are names of its own
    ],
    ids=["replaced", "p", "inplace", "slope", "layer dropped", "mode", "private"],
)
def test_a_models_layers_and_their_settings_count_as_its_state(used, changes):
    assert changed(used(), _dropout_model()) is changes


def test_a_predict_that_switches_dropout_off_for_good_is_told_so():
    def zero_dropout(model, x):
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
        return _predict(model, x)

    def swap_dropout(model, x):
        model[1] = nn.Identity()
        return _predict(model, x)

    for answer in (zero_dropout, swap_dropout):
        verdict = DROPOUT_PREDICT(answer)
        assert verdict.mistake == "mutated_input" and "Dropout" in verdict.message, verdict
    assert DROPOUT_PREDICT(_predict).passed


def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


PREDICT = Exercise("predict", _predict, "ok", inputs=lambda: (_model(), torch.tensor([[1.0, 2.0], [0.5, -1.0]])))


DROPOUT_PREDICT = Exercise("predict", _predict, "ok", inputs=lambda: (_dropout_model(), torch.ones(3, 2)))


def _step(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        model[0].weight -= 0.1  # its job: the right program changes the model too
    return model[0].weight.detach().clone()


STEP = Exercise("step", _step, "ok", inputs=PREDICT.inputs)


def _halves_then_raises(model, x):
    with torch.no_grad():
        model[0].weight *= 0.5
    raise RuntimeError("mat1 and mat2 must have the same dtype")  # as the next call on a changed model would


@pytest.mark.parametrize(
    "exercise, answer, mistake",
    [
        (PREDICT, lambda model, x: _predict(model.double(), x.double()).float(), "mutated_input"),
        (PREDICT, lambda model, x: (_predict(model, x), model[0].weight.data.mul_(0.5))[0], "mutated_input"),
        (PREDICT, _halves_then_raises, "mutated_input"),
        (PREDICT, lambda model, x: (_predict(model, x), model.train())[0], None),  # the mode is the exercise's business
        (STEP, _step, None),
        (STEP, lambda model, x: _step(model.double(), x), "mutated_input"),  # a step is its job, another dtype is not
    ],
    ids=["double", "halved after", "halved then raised", "mode", "a step", "a step in float64"],
)
def test_an_answer_that_changes_a_model_is_told_so_unless_the_right_program_does_too(exercise, answer, mistake):
    verdict = exercise(answer)
    assert verdict.mistake == mistake, verdict
    assert mistake is None or "changed the model it was given" in verdict.message


RELU_SUM = Exercise(  # the probe holds 0, where relu, clamp and maximum have other gradients
    "relu_sum",
    lambda x: x.clamp(min=0).sum(),
    "ok",
    inputs=lambda: (torch.tensor([-1.0, 0.0, 2.0], requires_grad=True),),
)


class _Unknown(torch.autograd.Function):  # a function autograd cannot differentiate: its backward() raises
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("no derivative here")


@pytest.mark.parametrize(
    "answer, mistake",
    [
        (lambda x: F.relu(x).sum(), None),
        (lambda x: torch.maximum(x, torch.zeros(3)).sum(), None),
        (lambda x: (x.abs() + x).sum() / 2, None),
        (lambda x: (0.5 * F.relu(x) + 0.5 * F.relu(x).detach()).sum(), "partly_detached"),
        (lambda x: F.relu(x)[:2].sum() + F.relu(x.detach())[2], "partly_detached"),
        (lambda x: torch.where(x < 0, 0.0, x.sqrt() ** 2).sum(), "gradient_not_finite"),  # NaN from the other branch
        (lambda x: _Unknown.apply(x.clamp(min=0)).sum(), "backward_fails"),
        (probes.freeing(lambda x: x.clamp(min=0).sum()), None),  # a freed graph is the guards' to name, not compared
    ],
    ids=["relu", "maximum", "abs", "half detached", "one term detached", "where", "no backward", "freed"],
)
def test_a_result_is_right_only_with_the_right_gradient_off_any_kink(answer, mistake):
    assert RELU_SUM(answer).mistake == mistake


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda x: (0.5 * F.relu(x) + 0.5 * F.relu(x).detach()).sum(), "computed off the graph"),  # half the gradient
        (lambda x: F.relu(x)[:2].sum() + F.relu(x.detach())[2], "Clamping or detaching a term"),  # 0 where it differs
        (lambda x: torch.where(x < 0, 0.0, x.sqrt() ** 2).sum(), "torch.where"),
        (lambda x: _Unknown.apply(x.clamp(min=0)).sum(), "no derivative here"),  # the error itself, not "in-place"
    ],
    ids=["half detached", "one term detached", "where", "no backward"],
)
def test_a_wrong_gradient_or_a_failing_backward_is_told_by_what_it_shows(answer, words):
    message = RELU_SUM(answer).message
    assert words in message and "in-place" not in message, message


def test_a_loss_through_a_reentrant_checkpoint_is_judged_by_backward_which_it_allows():
    from torch.utils.checkpoint import checkpoint

    from course.checks import losses

    def loss(z, y):  # a reentrant checkpoint refuses torch.autograd.grad, not backward()
        stable = lambda z: (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()  # noqa: E731
        return checkpoint(stable, z, use_reentrant=True)

    assert losses.binary_loss_from_logits(loss).status == "correct"


SHAPES = Exercise("shapes", lambda: {"a": (2, 3), "b": (4,), "c": (1,)}, "right", kind="value")


@pytest.mark.parametrize("template", [{"a": ..., "b": ..., "c": ...}, [..., ...], (..., ...)])
def test_a_template_left_unfilled_is_not_attempted(template):
    assert SHAPES(template).status == "not_attempted"


def test_a_template_filled_in_part_names_the_keys_left_and_none_of_their_answers():
    verdict = SHAPES({"a": (2, 3), "b": ..., "c": ...})
    assert verdict.mistake == "unreadable" and "for b, c:" in verdict.message, verdict
    assert "(4,)" not in verdict.message and "(1,)" not in verdict.message


DOUBLE = Exercise("double", lambda x: 2 * x, "right", inputs=lambda: (torch.tensor([1.0, -2.0]),))


def helper(x):
    raise NotImplementedError  # your code here


class Stubbed(nn.Module):
    def forward(self, x):
        raise NotImplementedError


class Unwritten:  # a class handed in, called with the inputs
    def __init__(self, x):
        raise NotImplementedError


def test_a_finished_answer_that_calls_a_stub_is_told_which_one():
    verdict = DOUBLE(lambda x: helper(x) * 2)
    assert (verdict.status, verdict.mistake) == ("wrong", "raised") and "calls helper, which" in verdict.message
    verdict = DOUBLE(lambda x: nn.Sequential(Stubbed())(x))
    assert verdict.mistake == "raised" and "calls Stubbed.forward" in verdict.message, verdict


def test_a_stub_of_the_answers_own_is_not_attempted():
    def outer(x):
        def inner(y):
            raise NotImplementedError

        return inner(x)

    for answer in (helper, outer, Unwritten, Stubbed()):
        assert DOUBLE(answer).status == "not_attempted", answer


def only_positive(x):
    if (x < 0).any():
        raise NotImplementedError("only positive inputs")  # on purpose: an error, not a stub
    return 2 * x


def test_a_not_implemented_error_with_a_message_is_an_error_not_a_stub():
    for answer in (only_positive, lambda x: only_positive(x) + 0):
        verdict = DOUBLE(answer)
        assert (verdict.status, verdict.mistake) == ("wrong", "raised"), verdict
        assert "only positive inputs" in verdict.message and "still raises" not in verdict.message, verdict
