"""Lesson 08's checks: what the generated tests (tests/checks/test_declarations.py) cannot express."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course.checks import nonlinearity_and_mlps as check


def in_order(*stages, zero=lambda model, optimizer: optimizer.zero_grad()):
    """A clipped step that runs ``stages`` (zero, backward, clip, clip1: the 1-norm, step) in order after the forward."""

    def step(model, optimizer, x, y, max_norm):
        loss = nn.MSELoss()(model(x), y)
        clip = lambda norm_type: lambda: nn.utils.clip_grad_norm_(model.parameters(), max_norm, norm_type)  # noqa: E731
        actions = {"zero": lambda: zero(model, optimizer), "backward": loss.backward, "step": optimizer.step,
                   "clip": clip(2.0), "clip1": clip(1.0)}  # fmt: skip
        for stage in stages:
            actions[stage]()
        return loss.item()

    return step


def test_a_step_without_any_clipping_or_clipping_after_the_step_is_misplaced_clipping():
    assert check.clipped_step(in_order("backward", "step", "zero")).mistake == "clip_misplaced"  # no clipping
    assert check.clipped_step(in_order("zero", "backward", "step", "clip")).mistake == "clip_misplaced"


@pytest.mark.parametrize("answer, mistake, named", [
    (in_order("zero", "backward", "step", "clip", "step"), "step_twice", "step() ran twice"),  # each with gradients
    (in_order("zero", "backward", "clip1", "step"), "wrong_norm_type", "norm_type")])  # fmt: skip
def test_a_clipped_step_that_steps_twice_or_measures_another_norm_is_told_so(answer, mistake, named):
    verdict = check.clipped_step(answer)
    assert verdict.mistake == mistake and named in verdict.message and "before optimizer.step()" not in verdict.message


class NoActivation(nn.Module):
    def __init__(self, n_inputs, hidden, n_outputs):
        super().__init__()
        sizes = [n_inputs, *hidden, n_outputs]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class AllInAPlainList(nn.Module):
    def __init__(self, n_inputs, hidden, n_outputs):
        super().__init__()
        sizes = [n_inputs, *hidden, n_outputs]
        self.layers = []  # nothing registered at all
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            self.layers.append(nn.Linear(a, b))

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


def relu_everywhere(n_inputs, hidden, n_outputs):
    layers = []
    for a, b in zip([n_inputs, *hidden], [*hidden, n_outputs], strict=True):
        layers.append(nn.Linear(a, b))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def test_mistakes_written_another_way_are_still_diagnosed():
    assert check.make_mlp(NoActivation).mistake == "no_activation"
    assert check.make_mlp(AllInAPlainList).mistake == "plain_list"
    assert check.make_mlp(relu_everywhere).mistake == "activation_after_output"

    def weights_only(sizes):
        total = 0
        for i in range(len(sizes) - 1):
            total += sizes[i] * sizes[i + 1]
        return total

    assert check.count_parameters(weights_only).mistake == "no_biases"
    assert check.dead_units(lambda layer, x: (layer(x) < 0).sum(dim=0) == len(x)).mistake == "strict_threshold"


def test_layer_sizes_that_differ_are_named_in_the_message():
    def first_hidden_only(n_inputs, hidden, n_outputs):
        return nn.Sequential(nn.Linear(n_inputs, hidden[0]), nn.ReLU(), nn.Linear(hidden[0], n_outputs))

    verdict = check.make_mlp(first_hidden_only)
    assert verdict.mistake == "other"
    assert "make_mlp(3, [5, 4], 2) should hold Linear(3, 5), Linear(5, 4), Linear(4, 2)" in verdict.message


def test_a_list_that_also_sits_in_a_sequential_is_registered_and_passes():
    class KeepsItsList(nn.Module):
        def __init__(self, n_inputs, hidden, n_outputs):
            super().__init__()
            sizes = [n_inputs, *hidden, n_outputs]
            self.parts = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
            self.net = nn.Sequential(*[m for linear in self.parts for m in (linear, nn.ReLU())][:-1])

        def forward(self, x):
            return self.net(x)

    assert check.make_mlp(KeepsItsList).passed


def test_a_wrong_type_of_count_names_what_came():
    verdict = check.count_parameters(lambda sizes: [sum(sizes)])
    assert verdict.mistake == "not_a_number" and "a list (" in verdict.message
    assert check.count_parameters(
        lambda sizes: torch.tensor(float(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))))
    ).passed


def test_the_dead_units_probe_has_a_unit_exactly_on_the_threshold_and_one_alive_but_off_on_average():
    pre_activation = (lambda layer, x: layer(x))(*check.dead_units.inputs())
    assert (pre_activation[:, 2] == 0).all() and (pre_activation[:, 4] == 0).any()
    assert pre_activation[:, 1].median() < pre_activation[:, 1].mean() < 0 < pre_activation[:, 1].max()


def test_the_fallbacks_name_the_numbers():
    verdict = check.count_parameters(lambda sizes: check.count_parameters.reference(sizes) + 1)
    assert verdict.mistake == "other" and "gave 55, 1154, 9, expected 54, 1153, 8" in verdict.message, verdict

    def half_the_loss(model, optimizer, x, y, max_norm):  # the loss after the step is named (alt5): a halved one not
        optimizer.zero_grad()
        loss = nn.MSELoss()(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        return loss.item() / 2

    verdict = check.clipped_step(half_the_loss)  # described, not blamed on the order of the clipping
    assert verdict.mistake == "other" and "expected 48.6625, 28.0163, 14.1437" in verdict.message, verdict
    assert "clip after loss.backward()" not in verdict.message, verdict


def test_a_model_for_two_hidden_layers_only_fails():
    # wrong: section 3's model with its sizes as arguments, but always two hidden layers
    verdict = check.make_mlp(lambda n_inputs, hidden, n_outputs: nn.Sequential(
        nn.Linear(n_inputs, hidden[0]), nn.ReLU(), nn.Linear(hidden[0], hidden[1]), nn.ReLU(),
        nn.Linear(hidden[1], n_outputs)))  # fmt: skip
    assert verdict.mistake == "other" and "make_mlp(2, [3, 4, 3], 1) should hold" in verdict.message, verdict


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("linear", [nn.Linear, lambda n_in, n_out: nn.LazyLinear(n_out)], ids=["linear", "lazy"])
def test_review4_an_mlp_in_any_float_dtype_or_of_lazy_layers_passes(dtype, linear):
    # lazy layers: no 'cannot access the shape of an uninitialized parameter' from the check; half: not rounding
    verdicts = [check.make_mlp(lambda *sizes, last=last: check._mlp(*sizes, linear=linear, last=last).to(dtype))
                for last in (False, True)]  # fmt: skip
    assert verdicts[0].passed and verdicts[1].mistake == "activation_after_output", verdicts


def test_dead_units_needs_every_row_and_the_layer_it_is_given():
    assert not check.dead_units(lambda layer, x: layer(x)[0] <= 0).passed  # the first input only
    assert not check.dead_units(lambda layer, x: (layer(x)[:-1] <= 0).all(dim=0)).passed  # the last row dropped
    answer = check.dead_units.reference(*check.dead_units.inputs())
    assert not check.dead_units(lambda layer, x: answer.clone()).passed  # the probe's answer, typed in


@pytest.mark.parametrize("activation", [nn.ReLU6, nn.LeakyReLU, nn.GELU])
def test_other_activations_are_named_even_where_they_agree_with_relu_on_small_inputs(activation):
    verdict = check.make_mlp(lambda *sizes: check._mlp(*sizes, activation=activation))
    assert not verdict.passed, verdict
    if activation is not nn.ReLU6:
        assert verdict.mistake == "wrong_activation", verdict


def a_clipped_step(returned="item", max_norm=None, optimizer=None, rescale_always=False):
    def step(model, given_optimizer, x, y, given_max_norm):
        opt = given_optimizer if optimizer is None else optimizer(model)
        opt.zero_grad()
        loss = nn.MSELoss()(model(x), y)
        loss.backward()
        if rescale_always:  # every gradient scaled to max_norm, even a short one
            norm = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters()))
            for p in model.parameters():
                p.grad *= given_max_norm / norm
        else:
            nn.utils.clip_grad_norm_(model.parameters(), given_max_norm if max_norm is None else max_norm)
        opt.step()
        return {"item": loss.item(), "tensor": loss, "detached": loss.detach(), "numpy": np.float32(loss.item())}[
            returned
        ]

    return step


@pytest.mark.parametrize("answer", [
    a_clipped_step(max_norm=2.5),  # the check's max_norm, typed in
    a_clipped_step(optimizer=lambda model: torch.optim.SGD(model.parameters(), lr=0.2)),  # the check's lr
    a_clipped_step(rescale_always=True)], ids=["max_norm_typed_in", "own_optimizer", "rescale_always"])  # fmt: skip
def test_clipped_step_rejects_answers_that_fit_one_probe_only(answer):
    assert not check.clipped_step(answer).passed


def test_clipped_step_returns_a_number_not_the_loss_tensor():
    assert check.clipped_step(a_clipped_step(returned="tensor")).mistake == "returns_tensor"
    assert check.clipped_step(a_clipped_step(returned="detached")).mistake == "returns_tensor"
    assert check.clipped_step(a_clipped_step(returned="numpy")).passed  # a NumPy number is a number


def test_an_mlp_with_a_frozen_layer_is_told_so():
    def frozen_first(n_inputs, hidden, n_outputs):
        model = check.make_mlp.reference(n_inputs, hidden, n_outputs)
        model[0].weight.requires_grad_(False)
        return model

    verdict = check.make_mlp(frozen_first)
    assert verdict.mistake == "froze_parameters" and "0.weight" in verdict.message, verdict


def test_make_mlp_that_appends_to_hidden_is_told_so_and_leaves_the_probe_as_it_was():
    before = repr(check.MLP_SIZES)

    def appends(n_inputs, hidden, n_outputs):
        hidden.append(n_outputs)  # the caller's list grows
        sizes = [n_inputs, *hidden]
        layers = [m for a, b in zip(sizes, sizes[1:], strict=False) for m in (nn.Linear(a, b), nn.ReLU())]
        return nn.Sequential(*layers[:-1])

    assert check.make_mlp(appends).mistake == "mutated_input"
    assert repr(check.MLP_SIZES) == before
    assert check.make_mlp(check.make_mlp.reference).passed


@pytest.mark.parametrize("answer, mistake", [
    (in_order("backward", "clip", "zero", "step"), "zero_grad_before_step"),
    (in_order("backward", "clip", "zero", "step", zero=lambda m, o: o.zero_grad(False)), "zero_grad_before_step"),
    (in_order("zero", "step", "backward", "clip"), "step_before_backward"),
    (in_order("zero", "step", "backward", "clip", zero=lambda m, o: m.zero_grad()), "step_before_backward"),
    (in_order("zero", "clip", "step"), "no_backward"),
], ids=["zero_between", "zero_to_zeros_between", "step_first", "model_zero_grad_step_first", "no_backward"])  # fmt: skip
def test_a_step_that_never_moves_the_parameters_is_told_why(answer, mistake):
    verdict = check.clipped_step(answer)
    assert verdict.mistake == mistake and "call optimizer.step()" not in verdict.message, verdict


def test_answers_typed_in_from_the_messages_fail_on_the_probe_never_shown():
    count = check.count_parameters(lambda sizes: {5: 54, 32: 1153}.get(sizes[1], 8))  # the counts the message shows
    assert count.mistake == "other" and "not for another list" in count.message, count
    first, second = (check.dead_units.reference(*check._dead_probe(flip)) for flip in (False, True))
    dead = check.dead_units(lambda layer, x: (first if x[0, 0] == -1.0 else second).clone())
    assert dead.mistake == "other" and "not for another" in dead.message, dead


class _WithHandle(nn.Module):  # right: a second name for a layer it runs once (the first, kept for inspection)
    def __init__(self, n_inputs, hidden, n_outputs):
        super().__init__()
        self.net = check.make_mlp.reference(n_inputs, hidden, n_outputs)
        self.first, self.layers = self.net[0], nn.ModuleList(m for m in self.net if isinstance(m, nn.Linear))

    def forward(self, x):
        return self.net(x)


def test_review4_a_layer_reached_by_two_names_but_run_once_is_not_shared():
    assert check.make_mlp(_WithHandle).passed


def _mode_restored(layer, x):  # right: the layer's mode changed for a while, then put back
    was_training = layer.training
    mask = (layer.eval()(x) <= 0).all(dim=0)
    layer.train(was_training)
    return mask


_REVIEW4_DEAD = {  # an answer, and the mistake named (None: it passes)
    "eps": (lambda layer, x: (layer(x) <= torch.finfo(torch.float32).eps).all(dim=0), "tolerance_threshold"),
    "isclose": (lambda layer, x: ((layer(x) <= 0) | torch.isclose(layer(x), torch.zeros(()))).all(0), "tolerance_threshold"),
    "requires_grad_off": (lambda layer, x: (layer.requires_grad_(False)(x) <= 0).all(dim=0), "froze_parameters"),
    "left_in_eval": (lambda layer, x: (layer.eval()(x) <= 0).all(dim=0), "mutated_input"),
    "bias_zeroed": (lambda layer, x: (layer(x) <= 0).all(dim=0) | layer.bias.data.zero_().bool(), "mutated_input"),
    "mode_restored": (_mode_restored, None),
    "mean": (lambda layer, x: layer(x).mean(dim=0) <= 0, "dead_on_average"),  # dead on average: alive for some input
    "median": (lambda layer, x: layer(x).median(dim=0).values <= 0, "dead_on_average"),
    "most_rows": (lambda layer, x: (layer(x) <= 0).float().mean(dim=0) > 0.5, "dead_on_average"),
}  # fmt: skip


@pytest.mark.parametrize("case", _REVIEW4_DEAD)
def test_review4_dead_units_refuses_any_tolerance_and_a_layer_left_changed(case):
    answer, mistake = _REVIEW4_DEAD[case]
    verdict = check.dead_units(answer)
    assert verdict.mistake == mistake and verdict.passed == (mistake is None), verdict


def test_review7_dead_units_read_from_the_gradients_it_made_itself_are_right():
    def from_gradients(layer, x):
        torch.relu(layer(x)).sum().backward()  # a unit's bias gradient counts the inputs where it is active
        return layer.bias.grad == 0

    assert check.dead_units(from_gradients).passed


@pytest.mark.parametrize("cast", ["float", "int"])
def test_dead_units_cast_at_the_end_is_told_to_keep_the_bools_not_to_reduce(cast):
    verdict = check.dead_units(lambda layer, x: getattr((layer(x) <= 0).all(dim=0), cast)())
    assert not verdict.passed and "keep the comparison's bools" in verdict.message, verdict
    assert "reduce over the rows" not in verdict.message


def test_dead_units_as_a_list_is_told_to_return_the_tensor():
    verdict = check.dead_units(lambda layer, x: list((layer(x) <= 0).all(dim=0)))
    assert not verdict.passed and "return the tensor itself" in verdict.message, verdict


def test_dead_units_success_does_not_say_nothing_can_revive_a_dead_unit():
    # Only the loss's gradient is 0 for a dead unit: Adam's weight_decay (lesson 08, section 7) still moves its
    # weights and can switch it back on, so "nothing can revive it" was false.
    verdict = check.dead_units(lambda layer, x: (layer(x) <= 0).all(dim=0))
    assert verdict.passed, verdict
    assert "nothing can revive" not in verdict.message and "gradient can no longer move" in verdict.message


def _scripted(n_inputs, hidden, n_outputs, cls=False):  # learn4: torch.jit.script hides the nn.Linear layers
    sizes = [n_inputs, *hidden, n_outputs]
    layers = [m for a, b in zip(sizes, sizes[1:], strict=False) for m in (nn.Linear(a, b), nn.ReLU())][:-1]
    return torch.jit.script(NoActivation(n_inputs, hidden, n_outputs) if cls else nn.Sequential(*layers))


@pytest.mark.parametrize("cls", [False, True])
def test_learn4_a_scripted_mlp_is_told_that_scripting_hides_its_layers(cls):
    verdict = check.make_mlp(lambda *sizes: _scripted(*sizes, cls=cls))
    assert not verdict.passed and "torch.jit.script" in verdict.message and "holds no nn.Linear" not in verdict.message


class _WithHidden(NoActivation):  # learn4: the output returned beside the last hidden activations
    def forward(self, x):
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x), x


def test_learn4_an_mlp_returning_a_tuple_is_told_to_return_one_tensor_not_that_it_changes_the_output():
    verdict = check.make_mlp(_WithHidden)
    assert verdict.mistake == "wrong_shape" and "a tuple" in verdict.message, verdict
    assert "changes the output" not in verdict.message, verdict


def test_alt5_a_clipped_step_returning_the_loss_after_the_step_is_named_as_in_lesson_05():
    def loss_after_the_step(model, optimizer, x, y, max_norm):
        optimizer.zero_grad()
        nn.MSELoss()(model(x), y).backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        return nn.MSELoss()(model(x), y).item()

    verdict = check.clipped_step(loss_after_the_step)
    assert verdict.mistake == "loss_after_step" and "loss computed before the step" in verdict.message, verdict
