"""Lesson 09's checks on answers a learner writes, beyond the declarations' generated tests."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from course.checks import training_pipeline as check


def colleague(model, loss_fn, optimizer):
    """The buggy factory of exercise 3: four bugs, reported one at a time."""

    def train_step(x, y):
        loss = loss_fn(model.forward(x), y)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
        return loss

    return train_step


def fixed(order=("zero_grad", "forward", "backward", "step"), train=True, call=True, item=True, zero=None, cut=False):
    def factory(model, loss_fn, optimizer):
        def train_step(x, y):
            if train:
                model.train()
            for action in order:
                if action == "forward":
                    with torch.set_grad_enabled(not cut):  # cut: the loss is made to require grad (hiding the error)
                        loss = loss_fn(model(x) if call else model.forward(x), y).requires_grad_(cut != "plain")
                elif action == "backward":
                    loss.backward()
                elif action == "step":
                    optimizer.step()
                else:
                    optimizer.zero_grad() if zero is None else zero(model)
            return loss.item() if item else loss

        return train_step

    return factory


@pytest.mark.parametrize("answer, mistake", [
    (colleague, "zero_grad_before_step"),
    (fixed(("forward", "backward", "zero_grad", "step"), train=True, call=True), "zero_grad_before_step"),
    (fixed(train=False, call=False, item=False), "no_train"), (fixed(call=False, item=False), "called_forward"),
    (fixed(item=False), "returns_tensor"), (fixed(("forward", "step", "backward", "zero_grad")), "step_before_backward"),
    (fixed(("forward", "backward", "step")), "no_zero_grad")])  # fmt: skip
def test_the_colleagues_bugs_are_found_one_at_a_time(answer, mistake):
    assert check.train_step_factory(answer).mistake == mistake


@pytest.mark.parametrize("zero", [None, lambda model: model.zero_grad(),
                                  lambda model: [setattr(p, "grad", None) for p in model.parameters()]])  # fmt: skip
def test_every_way_of_zeroing_passes(zero):
    assert check.train_step_factory(fixed(zero=zero)).passed


def test_train_mode_set_once_in_the_factory_is_not_enough():
    def factory(model, loss_fn, optimizer):
        model.train()
        return fixed(train=False)(model, loss_fn, optimizer)

    assert check.train_step_factory(factory).mistake == "no_train"


def test_model_sizes_names_what_was_used():
    verdict = check.model_sizes(nn.Linear(64, 2))
    assert verdict.mistake == "wrong_input_size"
    assert check.model_sizes(nn.Linear).mistake == "not_a_model"
    no_linear = check.model_sizes(nn.Sequential())  # gives X back, (5, 3): no out_features to blame
    assert no_linear.mistake == "other" and "(5, 3)" in no_linear.message, no_linear


def zeroed(bias=True):  # a right start: all-zero weights (and bias)
    model = nn.Linear(3, 2)
    for parameter in model.parameters() if bias else [model.weight]:
        nn.init.zeros_(parameter)
    return model


class XW(nn.Module):  # the linear map written out, its weights started at zero
    def __init__(self):
        super().__init__()
        self.W, self.b = nn.Parameter(torch.zeros(3, 2)), nn.Parameter(torch.zeros(2))

    def forward(self, x):
        return x @ self.W + self.b


@pytest.mark.parametrize("model", [zeroed(), zeroed(bias=False), nn.Linear(3, 2, bias=False), nn.LazyLinear(2), XW(),
                                   nn.Linear(3, 2).half(), nn.Sequential(nn.Linear(3, 8), nn.Linear(8, 2))])  # fmt: skip
def test_model_sizes_judges_a_linear_map_whatever_its_start(model):
    assert check.model_sizes(model).passed, check.model_sizes(model)


class Detached(nn.Linear):
    def forward(self, x):
        return x @ self.weight.detach().T + self.bias


class FirstTwo(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)

    def forward(self, x):
        return self.linear(x[:, :2])


class ClampsInPlace(nn.Module):  # a nonlinear model that changes the rows it is given, x.clamp_
    def forward(self, x):
        return x.clamp_(-1.0, 1.0)


def frozen_weight():
    model = nn.Linear(3, 2)
    model.weight.requires_grad_(False)
    return model


@pytest.mark.parametrize(
    "model, mistake",
    [
        (nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 2)), "extra_layer"),
        (nn.Sequential(nn.Linear(3, 2), nn.Sigmoid()), "extra_layer"),
        (nn.Sequential(nn.Linear(3, 2), nn.Tanh()), "extra_layer"),
        (nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)), "extra_layer"),  # each row's output depends on the others
        (nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).eval(), "extra_layer"),  # review 4: judged in both modes
        (nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5)).eval(), "extra_layer"),
        (nn.Sequential(ClampsInPlace(), nn.Linear(3, 2)).double(), "extra_layer"),  # review 4: it gets copies of rows
        (frozen_weight(), "froze_parameters"),
        (Detached(3, 2), "not_backpropagatable"),
        (FirstTwo(), "ignored_feature"),
        (nn.Sequential(nn.Linear(3, 1), nn.Linear(1, 2)), "extra_layer"),  # review 10: rank 1, two linear layers
    ],
)
def test_model_sizes_wants_one_trainable_linear_map(model, mistake):
    verdict = check.model_sizes(model)
    assert verdict.mistake == mistake, verdict
    assert "nn.Linear(3, 2)" in verdict.message and "alone" not in verdict.message  # review 10: stacked ones pass


def test_step_orders_accepts_any_spelling_and_lists_every_wrong_letter():
    assert check.step_orders({"a": " Learns", "b": "STUCK", "c": "stuck", "d": "learns"}).passed
    verdict = check.step_orders({"A": "learns", "B": "stuck", "C": "learns", "D": "stuck"})
    assert verdict.mistake == "other" and "C and D" in verdict.message


def test_to_tensors_rejects_float64_and_a_flat_target():
    assert check.to_tensors(lambda X, y: (torch.tensor(X), torch.tensor(y).view(-1, 1))).mistake == "wrong_dtype"
    assert check.to_tensors(lambda X, y: (torch.Tensor(X), torch.Tensor(y))).mistake == "shape_mismatch"
    assert "float16" in check.to_tensors(lambda X, y: (torch.Tensor(X).half(), torch.Tensor(y).half()[:, None])).message


def test_to_tensors_accepts_the_lessons_sizes_written_out():
    assert check.to_tensors(lambda X, y: (torch.Tensor(X), torch.Tensor(y).reshape(50, 1))).passed


def test_a_right_update_with_a_result_that_is_no_number_names_the_result():
    def returns_method(model, loss_fn, optimizer):
        step = fixed()(model, loss_fn, optimizer)
        return lambda x, y: [step(x, y)]  # a list around the float: the updates are right

    assert check.train_step_factory(returns_method).mistake == "not_a_number"


def test_to_tensors_notices_the_callers_array_reshaped_in_place():
    def reshapes_y_numpy(X, y):
        y.shape = (-1, 1)  # the lesson's y_numpy would change too
        return torch.from_numpy(X).float(), torch.from_numpy(y).float()

    assert check.to_tensors(reshapes_y_numpy).mistake == "mutated_input"


class IgnoresX(nn.Module):  # two outputs per row, the right shape, but the same numbers whatever X holds
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(2))

    def forward(self, x):
        return self.bias.expand(len(x), 2)


def test_model_sizes_wants_predictions_learned_from_x():
    assert check.model_sizes(IgnoresX()).mistake == "no_learnable_map"
    frozen = nn.Sequential(nn.Linear(3, 2), nn.Flatten()).requires_grad_(False)
    assert check.model_sizes(frozen).mistake == "froze_parameters"


def test_step_orders_contradictory_spellings_of_a_letter_are_no_prediction():
    answer = {"a": "stuck", "A": "learns", "B": "stuck", "C": "stuck", "D": "learns"}
    assert check.step_orders(answer).mistake == "not_a_prediction"


def own_parts(loss=None, lr=None, by_hand=False, twin=False):
    """A step that trains with its own loss, its own SGD, or an update by hand, or a copy of the model (``twin``)."""

    def factory(model, loss_fn, optimizer):
        model = copy.deepcopy(model) if twin else model
        opt = optimizer if lr is None else torch.optim.SGD(model.parameters(), lr=lr)

        def train_step(x, y):
            model.train()
            loss_value = (loss or loss_fn)(model(x), y)
            loss_value.backward()
            if by_hand:
                with torch.no_grad():
                    for p in model.parameters():
                        p -= 0.1 * p.grad
                        p.grad = None
            else:
                opt.step()
                opt.zero_grad()
            return loss_value.item()

        return train_step

    return factory


@pytest.mark.parametrize("answer, mistake", [
    (own_parts(loss=nn.MSELoss()), "other"), (own_parts(loss=lambda out, y: ((out - y) ** 2).mean()), "other"),
    (own_parts(lr=0.1), "unused_optimizer"), (own_parts(lr=0.01), "unused_optimizer"),
    (own_parts(by_hand=True), "unused_optimizer")])  # fmt: skip
def test_a_step_must_train_with_the_loss_and_optimizer_it_is_given(answer, mistake):
    verdict = check.train_step_factory(answer)
    assert verdict.mistake == mistake, verdict
    assert "never changed" not in verdict.message


def test_to_tensors_with_the_right_shapes_but_other_values_says_so():
    verdict = check.to_tensors(lambda X, y: (torch.ones(50, 3), torch.ones(50, 1)))
    assert verdict.mistake == "other" and "values" in verdict.message and "(50, 3) and (50, 1)" not in verdict.message


@pytest.mark.parametrize("rounding", [int, lambda loss: round(loss, 1)])
def test_a_right_update_with_a_rounded_loss_blames_the_result_not_the_updates(rounding):
    def factory(model, loss_fn, optimizer):
        step = fixed()(model, loss_fn, optimizer)
        return lambda x, y: rounding(step(x, y))

    verdict = check.train_step_factory(factory)
    assert verdict.mistake == "other" and "updates are right" in verdict.message, verdict


def step_body(body):
    """A train-step factory whose step runs ``body(model, loss_fn, optimizer, x, y)``."""
    return lambda model, loss_fn, optimizer: lambda x, y: body(model, loss_fn, optimizer, x, y)


def _step_in_the_mode_it_finds(model, loss_fn, optimizer, x, y):
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def top_flag_only(model, loss_fn, optimizer, x, y):
    model.training = True  # the outer flag only: the Dropout layer inside stays in eval mode
    return _step_in_the_mode_it_finds(model, loss_fn, optimizer, x, y)


def dropout_only(model, loss_fn, optimizer, x, y):
    model[0].train()  # the layer whose mode matters
    return top_flag_only(model, loss_fn, optimizer, x, y)


def test_train_mode_is_read_from_the_layer_it_changes():
    verdict = check.train_step_factory(step_body(top_flag_only))
    assert verdict.mistake == "no_train" and "model.train()" in verdict.message, verdict
    assert check.train_step_factory(step_body(dropout_only)).passed


def trains_then_measures(returned):  # trains in train mode, then measures the updated model in eval mode
    def body(model, loss_fn, optimizer, x, y):
        loss = fixed()(model, loss_fn, optimizer)(x, y)
        with torch.no_grad():
            return {"step": loss, "after": loss_fn(model.eval()(x), y).item()}[returned]

    return step_body(body)


def test_a_loss_measured_after_the_step_in_eval_mode_is_named_not_blamed_on_train_mode():
    verdict = check.train_step_factory(trains_then_measures("after"))
    assert verdict.mistake == "loss_after_step" and "model.train()" not in verdict.message, verdict
    assert check.train_step_factory(trains_then_measures("step")).passed  # measuring after the step is no fault


@pytest.mark.parametrize("answer, mistake, words", [
    (own_parts(twin=True), "uses_globals", "a copy"), (own_parts(lr=0.1, twin=True), "uses_globals", "a copy"),
    (fixed(cut=True), "not_backpropagatable", "torch.no_grad()"),
    (fixed(cut="plain"), "not_backpropagatable", "torch.no_grad()")])  # fmt: skip
def test_review10_a_step_that_trains_a_copy_or_cuts_the_loss_off_is_told_so(answer, mistake, words):
    verdict = check.train_step_factory(answer)
    assert verdict.mistake == mistake and words in verdict.message, verdict


@pytest.mark.filterwarnings("ignore:`torch.jit.trace:DeprecationWarning")  # the test's own tracing
@pytest.mark.parametrize("compile_", [torch.jit.script, lambda m: torch.jit.trace(m, torch.ones(2, 3))])
def test_review11_a_scripted_model_is_judged_and_left_as_it_came(compile_):
    model = compile_(nn.Linear(3, 2)).eval()
    before = [p.detach().clone() for p in model.parameters()]
    verdict = check.model_sizes(model)
    assert verdict.passed, verdict
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
    assert all(p.grad is None for p in model.parameters()) and not model.training
    verdict = check.model_sizes(compile_(nn.Linear(3, 1)))  # judged as well: one output where y has two
    assert not verdict.passed and "(5, 1)" in verdict.message, verdict


def children_only(model, loss_fn, optimizer, x, y):
    for child in model.children():
        child.train()  # the layers, but model.training stays False
    return _step_in_the_mode_it_finds(model, loss_fn, optimizer, x, y)


def unused_forward(model, loss_fn, optimizer, x, y):
    model.train()
    model(x)  # another forward in training mode: it draws another dropout mask
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def test_review11_a_step_that_trains_only_the_layers_is_told_to_call_model_train():
    verdict = check.train_step_factory(step_body(children_only))
    assert verdict.mistake == "no_train" and "model.training is False" in verdict.message, verdict
    assert "model.train()" in verdict.message


def test_review11_an_extra_forward_pass_in_a_step_is_named():
    verdict = check.train_step_factory(step_body(unused_forward))
    assert verdict.mistake == "forward_twice" and "once per step" in verdict.message, verdict
    assert "clipping" not in verdict.message


TENSOR_DTYPES = {  # review 10b: each tensor's dtype is told by what it does, X in nn.Linear, y in the loss only
    "y_float64": (lambda X, y: (torch.from_numpy(X).float(), torch.from_numpy(y)[:, None]), "y is torch.float64",
                  "float64", "mat1 and mat2"),
    "y_int64": (lambda X, y: (torch.from_numpy(X).float(), torch.from_numpy(y).long()[:, None]), "y is torch.int64",
                "whole numbers", "mat1 and mat2"),
    "X_float64": (lambda X, y: (torch.from_numpy(X), torch.from_numpy(y).float()[:, None]), "X is torch.float64",
                  "mat1 and mat2", "y is"),
}  # fmt: skip


@pytest.mark.parametrize(("answer", "named", "words", "not_words"), TENSOR_DTYPES.values(), ids=TENSOR_DTYPES)
def test_review10b_to_tensors_tells_each_tensors_dtype_by_what_it_does(answer, named, words, not_words):
    verdict = check.to_tensors(answer)
    assert verdict.mistake == "wrong_dtype" and named in verdict.message and words in verdict.message, verdict
    assert not_words not in verdict.message and ".float()" in verdict.message, verdict


def keeps_losses(result):
    """A right step that keeps its losses (the tensors, graph and all) and returns ``result(losses)``."""

    def factory(model, loss_fn, optimizer):
        losses = []

        def train_step(x, y):
            model.train()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss)
            return result(losses)

        return train_step

    return factory


@pytest.mark.parametrize("result, words", [
    (lambda losses: (sum(losses) / len(losses)).item(), "running mean"),
    (lambda losses: sum(loss.item() for loss in losses), "running total"),
    (lambda losses: sum(losses).item(), "running total")])  # fmt: skip
def test_learn11a_a_step_returning_a_running_mean_or_total_is_told_so(result, words):
    verdict = check.train_step_factory(keeps_losses(result))
    assert verdict.mistake == "state_across_calls" and words in verdict.message, verdict
    assert "this step's loss" in verdict.message and "loss.item()" in verdict.message


def test_learn11a_a_step_returning_its_first_loss_again_is_told_the_numbers():
    verdict = check.train_step_factory(keeps_losses(lambda losses: losses[0].item()))
    model, loss_fn, optimizer, x, y = check._probe()  # the losses of a right step, on the check's data and masks
    step, right = fixed()(model, loss_fn, optimizer), []
    for call in range(2):
        torch.manual_seed(call)
        right.append(step(x.clone(), y.clone()))
    assert verdict.mistake == "other" and "updates are right" in verdict.message, verdict
    assert f"{right[1]:.4g}" in verdict.message and f"{right[0]:.4g}, {right[0]:.4g}" in verdict.message, verdict


@pytest.mark.parametrize("result", [
    lambda loss: loss.item(), float, lambda loss: loss.detach().item(), lambda loss: np.float32(loss.item()),
    lambda loss: np.float64(loss.detach().numpy()), lambda loss: loss.detach().numpy()])  # fmt: skip
@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True:UserWarning")  # float(loss)'s
def test_learn11a_every_way_of_returning_this_steps_loss_passes(result):
    verdict = check.train_step_factory(keeps_losses(lambda losses: result(losses[-1])))
    assert verdict.passed, verdict


class PlainList(nn.Module):  # the first layer in a plain list: parameters() misses it
    def __init__(self):
        super().__init__()
        self.blocks = [nn.Linear(3, 8)]
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.out(x)


class PlainTensor(nn.Module):  # W is a plain tensor that requires grad, b a parameter
    def __init__(self):
        super().__init__()
        self.W = torch.randn(3, 2, requires_grad=True)
        self.b = nn.Parameter(torch.zeros(2))

    def forward(self, x):
        return x @ self.W + self.b


def test_learn11a_an_optimizer_over_parameters_never_trains_an_unregistered_weight():
    for model, weight in ((PlainList(), lambda m: m.blocks[0].weight), (PlainTensor(), lambda m: m.W)):
        before, optimizer = weight(model).detach().clone(), torch.optim.SGD(model.parameters(), lr=0.1)
        ((model(torch.randn(5, 3)) - torch.randn(5, 2)) ** 2).mean().backward()
        optimizer.step()
        assert torch.equal(weight(model), before) and weight(model).grad is not None


@pytest.mark.parametrize("model, named, fix, wrong_fix", [
    (PlainList(), ["Parameter (8, 3)", "Parameter (8,)"], "nn.ModuleList", "nn.Parameter"),  # the listed layer's
    (PlainTensor(), ["Tensor (3, 2)"], "nn.Parameter", "nn.ModuleList")])  # fmt: skip
def test_learn11a_a_weight_forward_uses_but_parameters_misses_is_named(model, named, fix, wrong_fix):
    verdict = check.model_sizes(model)
    assert verdict.mistake == "unregistered_parameter" and fix in verdict.message, verdict
    assert all(weight in verdict.message for weight in named) and wrong_fix not in verdict.message, verdict


class ModuleListed(PlainList):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(self.blocks)


class FunctionalDict(nn.Module):  # F.linear with parameters in a ParameterDict, and a constant buffer and tensor
    def __init__(self):
        super().__init__()
        self.p = nn.ParameterDict({"W": nn.Parameter(torch.randn(2, 3)), "b": nn.Parameter(torch.zeros(2))})
        self.register_buffer("scale", torch.ones(3))
        self.shift = torch.zeros(2)  # a constant: no gradient asked for

    def forward(self, x):
        return nn.functional.linear(x * self.scale, self.p["W"], self.p["b"]) + self.shift


@pytest.mark.parametrize("model", [ModuleListed(), FunctionalDict(), nn.Sequential(nn.Linear(3, 2))])
def test_learn11a_registered_weights_and_constants_pass(model):
    assert check.model_sizes(model).passed, check.model_sizes(model)


class _TracksItsInput(nn.Module):
    def __init__(self, clone: bool) -> None:
        super().__init__()
        self.clone, self.linear = clone, nn.Linear(3, 2)

    def forward(self, x):
        x = x.detach().clone().requires_grad_(True) if self.clone else x.requires_grad_()  # to read d(out)/dx later
        return self.linear(x)


@pytest.mark.parametrize("clone", [False, True])
def test_review11_a_model_that_tracks_its_input_is_not_told_the_rows_are_a_weight(clone):
    assert check.model_sizes(_TracksItsInput(clone)).passed


def test_review11_a_parameter_made_inside_forward_is_told_to_make_it_once():
    class MadeInForward(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(3, 2)

        def forward(self, x):
            return self.linear(x) + nn.Parameter(torch.zeros(2))

    verdict = check.model_sizes(MadeInForward())
    assert verdict.mistake == "unregistered_parameter" and "once, in __init__" in verdict.message, verdict


def test_a_step_that_runs_the_layers_one_by_one_is_not_told_it_called_model_forward():
    def make_train_step(model, loss_fn, optimizer):
        def step(x, y):
            model.train()
            for layer in model:  # the model's own hooks never run
                x = layer(x)
            loss = loss_fn(x, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss.item()

        return step

    verdict = check.train_step_factory(make_train_step)
    assert verdict.mistake == "called_forward", verdict
    assert "its layers one by one" in verdict.message and "called model.forward" not in verdict.message, verdict


def loss_by_keyword(form: str, cut: bool = False):
    """A step calling loss_fn with keywords: input= and target= (``form`` "both") or target= only; ``cut``: the output
    detached, the loss made to require grad (hiding the error)."""

    def factory(model, loss_fn, optimizer):
        def train_step(x, y):
            model.train()
            out = model(x).detach() if cut else model(x)
            loss = loss_fn(input=out, target=y) if form == "both" else loss_fn(out, target=y)
            loss = loss.requires_grad_() if cut else loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            return loss.item()

        return train_step

    return factory


@pytest.mark.parametrize("form", ["both", "target"])
def test_learnD_a_loss_called_with_keywords_passes_and_a_cut_one_is_still_named(form):
    assert check.train_step_factory(loss_by_keyword(form)).passed
    verdict = check.train_step_factory(loss_by_keyword(form, cut=True))
    assert verdict.mistake == "not_backpropagatable" and "torch.no_grad()" in verdict.message, verdict


@pytest.mark.parametrize("how", ["copy_in_factory", "copy_every_call"])
def test_learnD_a_step_on_a_copy_of_the_optimizer_is_told_so(how):
    verdict = check.train_step_factory(stepping(how))
    assert verdict.mistake == "unused_optimizer" and "copy of the optimizer" in verdict.message, verdict
    assert "never changed" not in verdict.message and "use the optimizer you are given" in verdict.message, verdict


class EqualsAll(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


def test_learnD_a_float_equal_to_everything_is_not_called_none():
    verdict = check.train_step_factory(keeps_losses(lambda losses: EqualsAll(losses[-1].item())))
    assert verdict.mistake != "returned_none" and "None" not in verdict.message, verdict


def stepping(how: str):
    """A step whose step() runs on copy.deepcopy(optimizer), made in the factory ("copy_in_factory") or at every call
    ("copy_every_call"), whose parameters are copies; on copy.copy(optimizer) ("shallow_copy", sharing its param_groups
    and state, so the model's parameters are updated); as the class's step on the given optimizer ("class_step"); or
    on a new SGD over a copy of the model ("model_copy")."""

    def factory(model, loss_fn, optimizer):
        made = copy.deepcopy(optimizer) if how == "copy_in_factory" else None
        routes = {
            "copy_in_factory": lambda copied: (copied.step(), copied.zero_grad()),
            "copy_every_call": lambda copied: (copied.step(), copied.zero_grad()),
            "shallow_copy": lambda _: (copy.copy(optimizer).step(), optimizer.zero_grad()),
            "class_step": lambda _: (type(optimizer).step(optimizer), optimizer.zero_grad()),
            "model_copy": lambda _: (
                torch.optim.SGD(copy.deepcopy(model).parameters(), lr=0.1, momentum=0.9).step(),
                optimizer.zero_grad(),
            ),
        }

        def train_step(x, y):
            copied = made or (copy.deepcopy(optimizer) if how == "copy_every_call" else None)
            model.train()
            loss = loss_fn(model(x), y)
            loss.backward()
            routes[how](copied)
            return loss.item()

        return train_step

    return factory


@pytest.mark.parametrize("how", ["shallow_copy", "class_step"])
def test_review12_a_step_of_the_given_optimizer_by_another_route_passes(how):
    verdict = check.train_step_factory(stepping(how))
    assert verdict.passed, verdict


def test_review12_an_optimizer_over_a_copy_of_the_model_is_not_said_to_copy_the_optimizer():
    verdict = check.train_step_factory(stepping("model_copy"))
    assert verdict.mistake == "unused_optimizer" and "ran on a copy of the optimizer" not in verdict.message, verdict
    assert "an optimizer whose parameters are copies, not the model's" in verdict.message, verdict
    assert "a copy of the model" in verdict.message and "use the optimizer you are given" in verdict.message, verdict
