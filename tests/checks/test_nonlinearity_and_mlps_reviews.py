"""Lesson 08's checks on the answers reviewers wrote, beyond the declarations' generated tests (review 9 on)."""

from __future__ import annotations

from functools import partial
from itertools import pairwise

import pytest
import torch
from torch import nn

from course.checks import nonlinearity_and_mlps as check


def test_review9_a_clipped_step_that_casts_the_model_to_float64_is_told_so():
    def clipped_step(model, optimizer, x, y, max_norm):
        model.double()  # the caller's model: its next float32 batch fails on the dtype
        optimizer.zero_grad()
        loss = nn.MSELoss()(model(x.double()), y.double())
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        return loss.item()

    verdict = check.clipped_step(clipped_step)
    assert verdict.mistake == "mutated_input" and "changed the model it was given" in verdict.message, verdict


def test_review10_a_clipped_step_that_runs_backward_twice_is_told_so():
    def clipped_step(model, optimizer, x, y, max_norm):
        optimizer.zero_grad()
        loss = nn.MSELoss()(model(x), y)
        loss.backward(retain_graph=True)
        loss.backward()  # the gradients add up: twice this batch's
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        return loss.item()

    verdict = check.clipped_step(clipped_step)
    assert verdict.mistake == "backward_twice", verdict


def mlp_with(*extra):  # review 10: each hidden nn.Linear followed by the layers extra(width) makes
    def make_mlp(n_inputs, hidden, n_outputs):
        layers = []
        for n_in, n_out in pairwise([n_inputs, *hidden]):
            layers += [nn.Linear(n_in, n_out), *(make(n_out) for make in extra)]
        return nn.Sequential(*layers, nn.Linear(hidden[-1], n_outputs))

    return make_mlp


@pytest.mark.parametrize(("answer", "mistake", "named"), [
    (mlp_with(lambda n: nn.ReLU(), lambda n: nn.Dropout(0.5)), "extra_layer", "Dropout"),
    (mlp_with(nn.BatchNorm1d, lambda n: nn.ReLU()), "extra_layer", "BatchNorm1d"),
    (mlp_with(lambda n: nn.ReLU6()), "wrong_activation", "ReLU6"),
    (mlp_with(lambda n: nn.Tanh()), "wrong_activation", "Tanh")])  # fmt: skip
def test_review10_make_mlp_names_a_layer_it_should_not_hold(answer, mistake, named):
    verdict = check.make_mlp(answer)
    assert verdict.mistake == mistake and named in verdict.message, verdict
    assert check.make_mlp(mlp_with(lambda n: nn.ReLU(), lambda n: nn.Dropout(0.0))).passed  # changes nothing


def test_review10_a_count_printed_instead_of_returned_is_told_to_return_it():
    verdict = check.count_parameters(lambda sizes: print(sum(a * b + b for a, b in pairwise(sizes))))
    assert verdict.mistake == "returned_none" and "return" in verdict.message, verdict


def hand_clipped(rescale_always=False, loss_scale=1.0):
    def clipped_step(model, optimizer, x, y, max_norm):  # review 11: clipping written out
        optimizer.zero_grad()
        loss = nn.MSELoss()(model(x), y)
        (loss_scale * loss).backward()
        params = list(model.parameters())
        total = torch.sqrt(sum((p.grad**2).sum() for p in params))
        if rescale_always or total > max_norm:
            for p in params:
                p.grad *= max_norm / total
        optimizer.step()
        return loss.item()

    return clipped_step


def test_review11_clipping_by_hand_that_always_rescales_is_named():
    assert check.clipped_step(hand_clipped()).passed
    verdict = check.clipped_step(hand_clipped(rescale_always=True))
    assert verdict.mistake == "clip_always" and "only when" in verdict.message, verdict


def test_review11_a_scaled_loss_is_not_blamed_on_a_second_backward():
    verdict = check.clipped_step(hand_clipped(loss_scale=2.0))
    assert verdict.mistake not in ("backward_twice", "clip_always") and "twice" not in verdict.message, verdict


def test_review11_backward_twice_with_the_gradients_emptied_between_is_no_fault():
    def clipped_step(model, optimizer, x, y, max_norm):
        loss = nn.MSELoss()(model(x), y)
        loss.backward(retain_graph=True)
        optimizer.zero_grad()  # the first backward's gradients emptied: the step uses one
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        return loss.item()

    assert check.clipped_step(clipped_step).passed


class Squeezed(nn.Module):
    def __init__(self, n_inputs, hidden, n_outputs, end="squeeze"):
        super().__init__()
        self.net, self.end = check._mlp(n_inputs, hidden, n_outputs), end

    def forward(self, x):
        return getattr(self.net(x), self.end)()


@pytest.mark.parametrize("end", ["squeeze", "flatten"])
def test_review11_a_right_mlp_with_a_flattened_output_is_told_about_the_shape(end):
    verdict = check.make_mlp(lambda *sizes: Squeezed(*sizes, end=end))
    assert verdict.mistake == "wrong_shape" and "not (6, " in verdict.message and "ReLU" not in verdict.message, verdict


@pytest.mark.parametrize(("answer", "mistake", "words"), [
    (lambda layer, x: (layer(torch.relu(x)) <= 0).all(dim=0), "activation_on_inputs", "inputs"),
    (lambda layer, x: layer.bias <= 0, "bias_only", "bias")], ids=["relu on x", "bias only"])  # fmt: skip
def test_review11_dead_units_names_relu_on_the_inputs_and_the_bias_alone(answer, mistake, words):
    verdict = check.dead_units(answer)
    assert verdict.mistake == mistake and words in verdict.message, verdict
    assert "tolerance" not in verdict.message and "mean" not in verdict.message, verdict


def _by_hand(model, optimizer, x, y, max_norm):  # review 10b: the given optimizer never steps
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter -= optimizer.param_groups[0]["lr"] * parameter.grad
    return loss.item()


def _own_optimizer(model, optimizer, x, y, max_norm):
    own = torch.optim.SGD(model.parameters(), lr=optimizer.param_groups[0]["lr"])
    own.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    own.step()
    return loss.item()


@pytest.mark.parametrize("answer", [_by_hand, _own_optimizer], ids=["by_hand", "own_optimizer"])
def test_review10b_a_clipped_step_that_bypasses_the_given_optimizer_is_told_so(answer):
    verdict = check.clipped_step(answer)
    assert verdict.mistake == "unused_optimizer" and "never stepped" in verdict.message, verdict
    assert "not the parameters" not in verdict.message, verdict


def _weight_normed(n_inputs, hidden, n_outputs):  # review 10b: the same MLP, its weights reparametrized
    layers = [nn.Linear(n_in, n_out) for n_in, n_out in pairwise([n_inputs, *hidden, n_outputs])]
    for layer in layers:
        nn.utils.parametrizations.weight_norm(layer)
    return nn.Sequential(*(m for layer in layers[:-1] for m in (layer, nn.ReLU())), layers[-1])


def test_review10b_an_mlp_whose_linear_layers_are_parametrized_is_judged_by_its_effective_weights():
    assert check.make_mlp(_weight_normed).passed


class _ScaledInPlace(nn.Module):  # review 10b: the right layers, but forward divides the caller's batch itself
    def __init__(self, n_inputs, hidden, n_outputs):
        super().__init__()
        self.mlp = check._mlp(n_inputs, hidden, n_outputs)

    def forward(self, x):
        x /= 10.0
        return self.mlp(x)


def test_review10b_an_mlp_whose_forward_changes_its_input_in_place_is_told_so():
    verdict = check.make_mlp(_ScaledInPlace)
    assert verdict.mistake == "mutated_input" and "in place" in verdict.message, verdict


def closure_step(clip=True, zero="inside"):  # refix 10: the step run through optimizer.step(closure)
    def clipped_step(model, optimizer, x, y, max_norm):
        def closure():
            if zero == "inside":
                optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()  # the gradients are made inside step(), after its pre-hooks ran
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            return loss

        loss = optimizer.step(closure)  # step(closure) returns what the closure returned: the loss tensor
        if zero == "after":
            optimizer.zero_grad()
        return loss.item()  # the statement: returns the loss as a number

    return clipped_step


@pytest.mark.parametrize("zero", ["inside", "after"])
def test_refix10_a_clipped_step_through_a_closure_passes(zero):
    verdict = check.clipped_step(closure_step(zero=zero))
    assert verdict.passed, verdict


@pytest.mark.parametrize("zero", ["inside", "after"])
def test_refix10_a_closure_that_forgets_to_clip_is_told_about_the_clipping(zero):
    verdict = check.clipped_step(closure_step(clip=False, zero=zero))
    assert verdict.mistake == "clip_misplaced" and "clip_grad_norm_ after loss.backward()" in verdict.message, verdict
    assert "never stepped" not in verdict.message, verdict


def _old_weight_normed(n_inputs, hidden, n_outputs, last=False, frozen=False):  # refix 10: the deprecated API
    layers = [nn.utils.weight_norm(nn.Linear(a, b)) for a, b in pairwise([n_inputs, *hidden, n_outputs])]
    layers[0].weight_g.requires_grad_(not frozen)
    model = nn.Sequential(*(m for layer in layers for m in (layer, nn.ReLU())))
    return model if last else model[:-1]


@pytest.mark.filterwarnings("ignore:.*weight_norm. is deprecated:FutureWarning")  # deprecated, yet it still works
def test_refix10_an_mlp_of_old_style_weight_normed_layers_is_judged_by_what_it_computes():
    assert check.make_mlp(_old_weight_normed).passed
    assert check.make_mlp(_weight_normed).passed  # the new API, the same verdict
    verdict = check.make_mlp(partial(_old_weight_normed, last=True))
    assert verdict.mistake == "activation_after_output", verdict
    verdict = check.make_mlp(partial(_old_weight_normed, frozen=True))
    assert verdict.mistake == "froze_parameters" and "0.weight_g" in verdict.message, verdict


def test_review11_a_forward_that_freezes_the_model_is_still_told_it_froze_parameters():
    class Freezer(nn.Sequential):
        def forward(self, x):
            self.requires_grad_(False)  # every parameter frozen on the first call
            return super().forward(x)

    def make_mlp(n_inputs, hidden, n_outputs):
        sizes, layers = [n_inputs, *hidden, n_outputs], []
        for a, b in zip(sizes, sizes[1:], strict=False):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return Freezer(*layers[:-1])

    verdict = check.make_mlp(make_mlp)
    assert verdict.mistake == "froze_parameters", verdict


def _mlp_initialised(init, n_inputs, hidden, n_outputs, dtype=torch.float32):
    sizes = [n_inputs, *hidden, n_outputs]
    layers = [module for n_in, n_out in pairwise(sizes) for module in (nn.Linear(n_in, n_out), nn.ReLU())]
    model = nn.Sequential(*layers[:-1]).to(dtype)
    for parameter in model.parameters():
        init(parameter)
    return model


@pytest.mark.parametrize(
    "init",
    [nn.init.zeros_, lambda p: nn.init.constant_(p, 0.5), lambda p: nn.init.zeros_(p) if p.dim() == 2 else None],
    ids=["all_zero", "constant", "zero_weights_default_biases"],
)
def test_learn11c_an_mlp_whose_hidden_units_start_alike_is_refused(init):
    verdict = check.make_mlp(partial(_mlp_initialised, init))  # symmetric units: training cannot tell them apart
    assert not verdict.passed and "nn.Linear's default initialisation" in verdict.message, verdict
    assert "same gradient" in verdict.message, verdict


@pytest.mark.parametrize(
    ("init", "dtype"),
    [
        (lambda p: None, torch.float32),
        (lambda p: None, torch.float64),
        (lambda p: nn.init.normal_(p, 0, 0.1), torch.float32),
        (lambda p: nn.init.xavier_uniform_(p) if p.dim() == 2 else nn.init.zeros_(p), torch.float32),
    ],
    ids=["default", "float64", "normal", "xavier_zero_bias"],
)
def test_learn11c_an_mlp_with_random_weights_passes(init, dtype):
    assert check.make_mlp(partial(_mlp_initialised, init, dtype=dtype)).passed
