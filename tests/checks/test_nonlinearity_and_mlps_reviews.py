"""Lesson 08's checks on the answers reviewers wrote, beyond the declarations' generated tests (review 9 on)."""

from __future__ import annotations

import contextlib
import copy
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


def _in_order(model):  # its nn.Linear layers in the order forward runs them (_LoopMLP registers its output first)
    if isinstance(model, check._LoopMLP):
        return [*model.layers, model.output]
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def _started(weight, bias=None, layers=slice(None), output=None, loop=False, sizes=check.MLP_SIZES[0]):
    """The reference MLP (``loop``: a _LoopMLP) whose hidden layers in ``layers`` start with every weight ``weight`` and
    every bias ``bias`` (None: nn.Linear's random default); ``output``: the output layer's every weight and bias."""
    model = (check._LoopMLP if loop else check._mlp)(*sizes)
    *hidden, last = _in_order(model)
    with torch.no_grad():
        for layer in hidden[layers]:
            layer.weight.fill_(weight)
            layer.bias.fill_(bias) if bias is not None else None
        [last.weight.fill_(output), last.bias.fill_(output)] if output is not None else None
    return model


def _answer(**start):  # a make_mlp answer returning _started(**start) for each probe's sizes
    return lambda *sizes: _started(**start, sizes=sizes)


def _spread_after_training(model, sizes, steps=50):
    """Per nn.Linear in forward order: how far its units' weights and biases lie apart after ``steps`` SGD steps."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, sizes[0], generator=gen), torch.randn(32, sizes[2], generator=gen)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    spread = lambda t: float((t - t[0]).abs().max())  # noqa: E731
    return [max(spread(m.weight.detach()), spread(m.bias.detach())) for m in _in_order(model)]


@pytest.mark.parametrize("loop", [False, True])
def test_fix11c_an_mlp_whose_hidden_layers_all_start_at_zero_is_refused_as_dead(loop):
    for sizes in check.MLP_SIZES:  # torch: no hidden parameter ever moves, only the output bias
        model = _started(0.0, 0.0, loop=loop, sizes=sizes)
        params = lambda model=model: [t.detach().clone() for m in _in_order(model) for t in (m.weight, m.bias)]  # noqa: E731
        before = params()
        _spread_after_training(model, sizes)
        moved = [not torch.equal(old, new) for old, new in zip(before, params(), strict=True)]
        assert moved == [False] * (len(moved) - 1) + [True], moved
    for answer in (_answer(weight=0.0, bias=0.0, loop=loop), partial(_mlp_initialised, nn.init.zeros_)):
        verdict = check.make_mlp(answer)
        assert verdict.mistake == "not_backpropagatable", verdict
        assert "every hidden layer starts dead (weights 0, biases 0 or below)" in verdict.message, verdict
        assert "only the output bias does" in verdict.message and "copies" not in verdict.message, verdict


@pytest.mark.parametrize("layer", [1, 2])
def test_one_hidden_layer_at_zero_is_refused_as_it_and_the_layers_before_it_never_change(layer):
    for sizes in check.MLP_SIZES:  # torch: that layer and those before it never move; the output ignores the input
        model = _started(0.0, 0.0, layers=slice(layer - 1, layer), sizes=sizes)
        kept = lambda model=model: [t.detach().clone() for m in _in_order(model)[:layer] for t in (m.weight, m.bias)]  # noqa: E731
        before = kept()
        _spread_after_training(model, sizes)
        assert all(map(torch.equal, before, kept())), "the zero layer and those before it never change"
        outputs = model(torch.randn(16, sizes[0], generator=torch.Generator().manual_seed(1)))
        assert torch.equal(outputs, outputs[:1].expand_as(outputs)), "one output whatever the input"
    verdict = check.make_mlp(_answer(weight=0.0, bias=0.0, layers=slice(layer - 1, layer)))
    assert verdict.mistake == "not_backpropagatable", verdict
    assert f"hidden layer {layer} starts dead" in verdict.message and "never learn" in verdict.message, verdict


@pytest.mark.parametrize("layer", [1, 2])
def test_a_hidden_layer_of_zero_weights_and_negative_biases_is_dead_too(layer):
    model = _started(0.0, -0.5, layers=slice(layer - 1, layer), sizes=check.MLP_SIZES[0])
    _spread_after_training(model, check.MLP_SIZES[0])  # torch: its ReLU gives 0 for every input, as at zero
    outputs = model(torch.randn(16, check.MLP_SIZES[0][0], generator=torch.Generator().manual_seed(1)))
    assert torch.equal(outputs, outputs[:1].expand_as(outputs)), "one output whatever the input"
    verdict = check.make_mlp(_answer(weight=0.0, bias=-0.5, layers=slice(layer - 1, layer)))
    assert verdict.mistake == "not_backpropagatable" and f"hidden layer {layer} starts dead" in verdict.message


def test_an_all_zero_mlp_whose_forward_calls_f_linear_is_still_refused():
    class Functional(nn.Module):
        def __init__(self, n_inputs, hidden, n_outputs):
            super().__init__()
            sizes = [n_inputs, *hidden, n_outputs]
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
            for parameter in self.parameters():
                nn.init.zeros_(parameter)

        def forward(self, x):
            for layer in self.layers[:-1]:
                x = torch.relu(nn.functional.linear(x, layer.weight, layer.bias))  # no module call: no hook runs
            return nn.functional.linear(x, self.layers[-1].weight, self.layers[-1].bias)

    verdict = check.make_mlp(Functional)
    assert verdict.mistake == "not_backpropagatable" and "every hidden layer starts dead" in verdict.message, verdict


@pytest.mark.parametrize(("value", "loop"), [(0.1, False), (0.5, False), (0.1, True)])
def test_fix11c_hidden_units_alike_before_a_layer_of_one_weight_are_refused_as_copies(value, loop):
    assert all(len(hidden) >= 2 for _, hidden, _ in check.MLP_SIZES)  # each probe: a hidden layer after the 1st
    for sizes in check.MLP_SIZES:  # torch: but for rounding, each hidden layer but the last stays copies
        spread = _spread_after_training(_started(value, value, loop=loop, sizes=sizes), sizes)
        assert max(spread[:-2]) < 1e-6 < 1e-3 < spread[-2], spread
    verdict = check.make_mlp(_answer(weight=value, bias=value, loop=loop))
    assert verdict.mistake == "not_backpropagatable", verdict
    assert "hidden layer 1 starts with its units alike" in verdict.message and "copies" in verdict.message, verdict
    assert "zeros_" not in verdict.message and "ReLU(0)" not in verdict.message, verdict


def test_fix11c_the_last_hidden_layer_alike_before_an_output_layer_of_one_weight_is_refused_as_copies():
    for sizes in check.MLP_SIZES:  # torch: the last hidden layer's units stay copies
        assert _spread_after_training(_started(0.1, 0.1, slice(-1, None), output=0.2, sizes=sizes), sizes)[-2] < 1e-6
    verdict = check.make_mlp(_answer(weight=0.1, bias=0.1, layers=slice(-1, None), output=0.2))
    assert verdict.mistake == "not_backpropagatable" and "hidden layer 2 starts" in verdict.message, verdict


@pytest.mark.parametrize("start", [
    {"weight": 0.1},  # one weight value, nn.Linear's random biases: no two units alike
    {"weight": 0.0},
    {"weight": 0.1, "bias": 0.1, "layers": slice(-1, None)},  # alike, but before the random output layer
    {"weight": 0.1, "bias": 0.1, "layers": slice(0, None, 2)},  # each before a random layer
    {"weight": 0.1, "layers": slice(0, 1), "output": 0.1, "loop": True},  # the output layer registered first
], ids=["constant_weights", "zero_weights", "last_hidden_alike", "every_other_alike", "loop_constant_output"])  # fmt: skip
def test_fix11c_an_mlp_whose_units_training_tells_apart_passes(start):
    for sizes in check.MLP_SIZES:  # torch: after 50 steps no hidden layer's units are alike
        assert min(_spread_after_training(_started(**start, sizes=sizes), sizes)[:-1]) > 1e-3
    assert check.make_mlp(_answer(**start)).passed


def _zero_weights_spread_biases(p: torch.Tensor) -> None:  # biases apart, some above 0: no layer dead
    with torch.no_grad():
        p.zero_() if p.dim() == 2 else p.copy_(torch.linspace(-0.5, 0.5, len(p)))


def test_fix11c_an_mlp_of_zero_weights_and_biases_apart_passes():
    init = partial(_mlp_initialised, _zero_weights_spread_biases)  # the output's weights too
    for sizes in check.MLP_SIZES:
        assert min(_spread_after_training(init(*sizes), sizes)[:-1]) > 1e-3
    assert check.make_mlp(init).passed


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


def _clip_each_layer(model, optimizer, x, y, max_norm):  # learnE: each nn.Linear clipped on its own
    optimizer.zero_grad()
    loss = nn.MSELoss()(model(x), y)
    loss.backward()
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            nn.utils.clip_grad_norm_(layer.parameters(), max_norm)
    optimizer.step()
    return loss.item()


def test_learnE_clipping_each_layer_on_its_own_is_refused_as_the_total_norm_exceeds_max_norm():
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))  # torch: two layers, each clipped to 1
    x, y = torch.linspace(-5, 5, 48).reshape(16, 3), torch.linspace(3, -4, 16).reshape(16, 1)
    nn.MSELoss()(model(x), y).backward()
    for layer in (model[0], model[2]):
        nn.utils.clip_grad_norm_(layer.parameters(), 1.0)
    assert nn.utils.get_total_norm([p.grad for p in model.parameters()]) > 1.2
    verdict = check.clipped_step(_clip_each_layer)
    assert verdict.mistake == "clip_per_parameter" and "each layer" in verdict.message, verdict
    assert "one clip_grad_norm_ call" in verdict.message, verdict


class _Same(nn.Module):  # learnE: a parametrization with no right_inverse
    def forward(self, weight):
        return weight


_PARAMETRIZE = {  # learnE: how each nn.Linear's weight is parametrized
    "no_right_inverse": lambda layer: nn.utils.parametrize.register_parametrization(layer, "weight", _Same()),
    "spectral_norm": nn.utils.parametrizations.spectral_norm,  # its right_inverse gives another weight
    "orthogonal": nn.utils.parametrizations.orthogonal,
}


def _parametrized_mlp(n_inputs, hidden, n_outputs, kind="no_right_inverse", last=False):
    model = check._mlp(n_inputs, hidden, n_outputs, last=last)
    for index, layer in enumerate(model):
        model[index] = _PARAMETRIZE[kind](layer) if isinstance(layer, nn.Linear) else layer
    return model


@pytest.mark.parametrize("kind", _PARAMETRIZE)
def test_learnE_an_mlp_whose_weights_the_check_cannot_set_through_the_parametrization_is_judged_by_its_layers(kind):
    x = torch.randn(4, 3)
    model = _parametrized_mlp(3, [5, 4], 2, kind)  # torch: the model runs, and trains
    nn.functional.mse_loss(model(x), torch.zeros(4, 2)).backward()
    assert all(p.grad is not None for p in model.parameters())
    verdict = check.make_mlp(partial(_parametrized_mlp, kind=kind))
    assert verdict.passed, verdict  # not "your code raised an error: ... does not implement right_inverse"
    verdict = check.make_mlp(partial(_parametrized_mlp, kind=kind, last=True))
    assert verdict.mistake == "activation_after_output", verdict


class _OwnParameters(nn.Module):  # learnE: weights of its own, F.linear and F.relu between
    def __init__(self, n_inputs, hidden, n_outputs):
        super().__init__()
        sizes = list(pairwise([n_inputs, *hidden, n_outputs]))
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(b, a) / a**0.5) for a, b in sizes)
        self.biases = nn.ParameterList(nn.Parameter(0.1 * torch.randn(b)) for a, b in sizes)

    def forward(self, x):
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = nn.functional.linear(x, weight, bias)
            x = nn.functional.relu(x) if i < len(self.weights) - 1 else x
        return x


def test_learnE_an_mlp_of_its_own_parameters_is_told_the_exercise_asks_for_nn_linear_layers():
    verdict = check.make_mlp(_OwnParameters)
    assert verdict.mistake == "other" and "holds no nn.Linear layer" in verdict.message, verdict
    assert "make_mlp(3, [5, 4], 2) should hold Linear(3, 5)" in verdict.message, verdict


def _extra(between=None, after=None, before=None):  # learnE: the right layers, forward doing more
    class MLP(nn.Module):
        def __init__(self, n_inputs, hidden, n_outputs):
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise([n_inputs, *hidden, n_outputs]))

        def forward(self, x):
            x = x if before is None else before(self, x)
            for layer in self.layers[:-1]:
                x = nn.functional.relu(layer(x))
                x = x if between is None else between(self, x)
            x = self.layers[-1](x)
            return x if after is None else after(self, x)

    return MLP


@pytest.mark.parametrize("between", [
    lambda self, h: nn.functional.dropout(h, 0.5, self.training),
    lambda self, h: nn.functional.dropout(h, 0.5),
    lambda self, h: h + 0.01 * torch.randn_like(h)], ids=["dropout_training", "dropout", "noise"])  # fmt: skip
def test_learnE_a_forward_that_is_random_is_told_so_not_blamed_on_the_relus(between):
    verdict = check.make_mlp(_extra(between=between))
    assert verdict.mistake == "random_output" and "random" in verdict.message, verdict
    assert "a ReLU after each hidden layer" not in verdict.message, verdict


@pytest.mark.parametrize(("extra", "where"), [
    ({"between": lambda self, h: nn.functional.layer_norm(h, h.shape[-1:])}, "between"),
    ({"between": lambda self, h: 2 * h}, "between"),
    ({"after": lambda self, out: torch.sigmoid(out)}, "after the last"),
    ({"before": lambda self, x: x / 10}, "before the first")])  # fmt: skip
def test_learnE_a_forward_that_does_more_than_relus_is_told_where_not_blamed_on_the_relus(extra, where):
    verdict = check.make_mlp(_extra(**extra))
    assert verdict.mistake == "other" and where in verdict.message, verdict
    assert "a ReLU after each hidden layer, none after the last" not in verdict.message, verdict


def _starved(kind):  # learnE: a clip_grad_norm_ call in the right place that receives no gradients
    def clipped_step(model, optimizer, x, y, max_norm):
        params = model.parameters()
        optimizer.zero_grad()
        loss = nn.MSELoss()(model(x), y)
        loss.backward()
        if kind == "used_generator":
            print_norm = sum(float(p.grad.norm()) for p in params)  # the generator is used up here  # noqa: F841
            nn.utils.clip_grad_norm_(params, max_norm)
        elif kind == "data":
            nn.utils.clip_grad_norm_([p.data for p in model.parameters()], max_norm)
        else:  # right, then one more call on the used-up generator: harmless
            nn.utils.clip_grad_norm_(params, max_norm)
            nn.utils.clip_grad_norm_(params, max_norm)
        optimizer.step()
        return loss.item()

    return clipped_step


@pytest.mark.filterwarnings("ignore:.*empty generator")  # torch warns the learner too
@pytest.mark.parametrize("kind", ["used_generator", "data"])
def test_learnE_a_clip_that_receives_no_gradients_is_told_so_not_blamed_on_the_order(kind):
    verdict = check.clipped_step(_starved(kind))
    assert verdict.mistake == "clip_misplaced" and "received no gradients" in verdict.message, verdict
    assert "after loss.backward()" not in verdict.message, verdict


@pytest.mark.filterwarnings("ignore:.*empty generator")
def test_learnE_a_right_clip_followed_by_one_that_receives_nothing_passes():
    assert check.clipped_step(_starved("right_then_used_generator")).passed


class _RunsALayerAgain(nn.Module):  # learnB: right, one new nn.Linear per pair of widths; forward runs one twice
    def __init__(self, n_inputs, hidden, n_outputs, how="mask"):
        super().__init__()
        self.how, self.layers = how, nn.ModuleList(nn.Linear(a, b) for a, b in pairwise([n_inputs, *hidden, n_outputs]))

    def forward(self, x):
        if self.how == "assert":  # a shape check that runs the first layer once more (3 -> 5: no width repeats)
            assert self.layers[0](x).shape[1] == self.layers[0].out_features
        if self.how == "logged":  # the whole chain run once more, for a log
            logged = x
            for layer in self.layers[:-1]:
                logged = nn.functional.relu(layer(logged))
            self.logged = self.layers[-1](logged).detach()
        for layer in self.layers[:-1]:
            if self.how == "mask":
                x = layer(x) * (layer(x) > 0)  # a ReLU as a mask
            elif self.how == "where":
                x = torch.where(layer(x) > 0, layer(x), 0.0)
            else:
                if layer(x).isnan().any():  # a sanity check
                    raise ValueError("nan")
                x = nn.functional.relu(layer(x))
        return self.layers[-1](x)


@pytest.mark.parametrize("how", ["mask", "where", "nan_check", "assert", "logged"])
def test_learnB_a_forward_that_runs_one_layer_twice_in_one_place_is_not_shared(how):
    verdict = check.make_mlp(partial(_RunsALayerAgain, how=how))
    assert verdict.passed, verdict


def _cached(n_inputs, hidden, n_outputs, sanity=False):  # one nn.Linear per (in, out): [4, 4, 4] shares one
    layers = {}
    net = check.make_mlp.reference(
        n_inputs, hidden, n_outputs, linear=lambda a, b: layers.setdefault((a, b), nn.Linear(a, b))
    )
    if not sanity:
        return net

    class Checked(nn.Module):  # and a sanity run of the first layer, as above
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            assert self.net[0](x).shape[1] == self.net[0].out_features
            return self.net(x)

    return Checked()


@pytest.mark.parametrize("sanity", [False, True])
def test_learnB_a_layer_shared_by_two_places_is_still_told_so(sanity):
    verdict = check.make_mlp(partial(_cached, sanity=sanity))
    assert verdict.mistake == "shared_layer", verdict


class _SideRuns(nn.Module):  # review (second look) on e72a235: one nn.Linear per pair of widths, and runs beside them
    def __init__(self, n_inputs, hidden, n_outputs, how="zero_log"):
        super().__init__()
        self.how, sizes = how, [n_inputs, *hidden, n_outputs]
        if how == "shared_plus_log":  # one nn.Linear per pair of widths ([4, 4, 4] shares one) and one for a log only
            made = {}
            self.layers = nn.ModuleList(made.setdefault(pair, nn.Linear(*pair)) for pair in pairwise(sizes))
            self.probe = nn.Linear(hidden[-1], hidden[-1]) if len(made) < len(sizes) - 1 else None
        else:
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))

    def forward(self, x):
        if self.how == "zero_log":  # the first layer's answer to a zero input, kept for a log: not on the chain
            self.bias_response = self.layers[0](torch.zeros_like(x[:1])).detach()
        for layer in self.layers[:-1]:
            x = nn.functional.relu(layer(x))
        if self.how == "again" and self.layers[-2].in_features == self.layers[-2].out_features:
            x = nn.functional.relu(self.layers[-2](x))  # the last hidden layer once more, on its own output
        if self.how == "shared_plus_log" and self.probe is not None:
            self.stat = self.probe(x).detach()
        return self.layers[-1](x)


def test_second_look_a_layer_run_on_another_input_for_a_log_beside_a_right_mlp_passes():
    verdict = check.make_mlp(_SideRuns)
    assert verdict.passed, verdict


def _tied(n_inputs, hidden, n_outputs):  # the right nn.Sequential, then neighbours of one shape tied to one Parameter
    net = check.make_mlp.reference(n_inputs, hidden, n_outputs)
    for a, b in pairwise([m for m in net if isinstance(m, nn.Linear)]):
        if a.weight.shape == b.weight.shape:
            b.weight, b.bias = a.weight, a.bias
    return net


def test_second_look_layers_that_share_their_parameters_are_told_shared():
    verdict = check.make_mlp(_tied)
    assert verdict.mistake == "shared_layer" and "hold one Parameter" in verdict.message, verdict


def test_second_look_a_shared_layer_beside_one_run_only_for_a_log_is_told_shared():
    verdict = check.make_mlp(partial(_SideRuns, how="shared_plus_log"))
    assert verdict.mistake == "shared_layer", verdict


def test_second_look_a_layer_applied_twice_along_the_chain_is_told_so():
    verdict = check.make_mlp(partial(_SideRuns, how="again"))
    assert verdict.mistake == "extra_layer" and "nn.Linear(4, 4) twice" in verdict.message, verdict


class _ThirdLook(nn.Module):  # review (third look) on 76188e9: one nn.Linear per place, run in other ways
    def __init__(self, n_inputs, hidden, n_outputs, how="kwarg_mask"):
        super().__init__()
        self.how, sizes = how, [n_inputs, *hidden, n_outputs]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        square = [(a, b) for a, b in pairwise(self.layers) if a.weight.shape == b.weight.shape]
        for a, b in square if how in ("storage_tied", "data_tied") else []:  # neighbours of one shape: one storage
            if how == "storage_tied":
                b.weight, b.bias = nn.Parameter(a.weight.data), nn.Parameter(a.bias.data)
            else:
                b.weight.data, b.bias.data = a.weight.data, a.bias.data
        self.square = bool(square)  # [4, 4, 4]: layers 2 and 3 of one shape

    def forward(self, x):
        layers, relu, how = list(self.layers), nn.functional.relu, self.how
        if how == "reuse_log" and self.square:  # layer 2 twice along the chain, layer 3 only for a log
            h = relu(layers[1](relu(layers[0](x))))
            again, self.log = layers[1](h), layers[2](h).detach()
            return layers[3](relu(again))
        if how in ("flinear", "forward") and self.square:  # layer 2 in place of layer 3: hooks never see it
            layers[2] = layers[1]
        if how.startswith("unsq"):  # 3-D through the layers, and a log of each layer on zeros
            x = x.unsqueeze(1)
            self.logs = [layer(torch.zeros(1, layer.in_features)).detach() for layer in layers] if how[-1] == "g" else 0
        for layer in layers[:-1]:
            if how == "kwarg_mask":
                x = layer(input=x) * (layer(input=x) > 0)
            elif how in ("flinear", "forward"):
                x = relu(nn.functional.linear(x, layer.weight, layer.bias) if how == "flinear" else layer.forward(x))
            else:
                x = relu(layer(input=x) if how == "kwarg" else layer(x))
        if how == "again_no_relu" and self.square:  # the last hidden layer twice more, with no ReLU between
            x = relu(layers[-2](layers[-2](x)))
        if how in ("flinear", "forward"):
            out = layers[-1]
            return nn.functional.linear(x, out.weight, out.bias) if how == "flinear" else out.forward(x)
        return layers[-1](x).squeeze(1) if how.startswith("unsq") else layers[-1](input=x)


@pytest.mark.parametrize("how", ["kwarg", "kwarg_mask", "unsq", "unsq_log"])
def test_third_look_a_right_mlp_called_by_keyword_or_on_3d_batches_passes(how):
    verdict = check.make_mlp(partial(_ThirdLook, how=how))
    assert verdict.passed, verdict


def test_third_look_a_layer_run_twice_along_the_chain_beside_a_log_of_another_is_told_shared():
    verdict = check.make_mlp(partial(_ThirdLook, how="reuse_log"))
    assert verdict.mistake == "shared_layer", verdict


@pytest.mark.parametrize("how", ["storage_tied", "data_tied"])
def test_third_look_layers_whose_weights_share_one_storage_are_told_shared(how):
    verdict = check.make_mlp(partial(_ThirdLook, how=how))
    assert verdict.mistake == "shared_layer" and "hold one Parameter" in verdict.message, verdict


@pytest.mark.parametrize("how", ["flinear", "forward"])
def test_third_look_a_layer_the_output_never_uses_is_named(how):
    verdict = check.make_mlp(partial(_ThirdLook, how=how))
    assert verdict.mistake == "shared_layer" and "nn.Linear(4, 4) gets no gradient" in verdict.message, verdict


def test_third_look_a_layer_applied_twice_with_no_relu_between_is_not_told_there_was_one():
    verdict = check.make_mlp(partial(_ThirdLook, how="again_no_relu"))
    assert verdict.mistake == "extra_layer" and "nn.Linear(4, 4) twice" in verdict.message, verdict
    assert "(after a ReLU)" not in verdict.message, verdict


class _Cut(nn.Module):  # the right layers, but forward's output cut from the weights: training could change nothing
    def __init__(self, n_inputs, hidden, n_outputs, how="no_grad"):
        super().__init__()
        self.how, self.net = how, check.make_mlp.reference(n_inputs, hidden, n_outputs)

    def forward(self, x):
        if self.how == "no_grad":
            with torch.no_grad():
                return self.net(x)
        if self.how == "weights_data":  # every layer through F.linear on its weights' .data
            for k, layer in enumerate(m for m in self.net if isinstance(m, nn.Linear)):
                x = nn.functional.linear(x.relu() if k else x, layer.weight.data, layer.bias.data)
            return x
        return self.net(x).detach() if self.how == "detach" else self.net(x).data


@pytest.mark.parametrize(("how", "named"), [
    ("no_grad", "ran under torch.no_grad()"), ("detach", "output was .detach()"), ("data", "taken as .data"),
    ("weights_data", "weights through .data")])  # fmt: skip
def test_fourth_look_an_mlp_whose_output_is_cut_from_the_weights_is_told_it_could_not_train(how, named):
    verdict = check.make_mlp(partial(_Cut, how=how))
    assert verdict.mistake == "not_backpropagatable" and named in verdict.message, verdict
    assert "training would change nothing" in verdict.message, verdict


class _Checkpointed(nn.Module):  # each layer through torch.utils.checkpoint (the reentrant one runs it under no_grad)
    def __init__(self, n_inputs, hidden, n_outputs, reentrant=True, dtype=torch.float32):
        super().__init__()
        self.reentrant, self.net = reentrant, check.make_mlp.reference(n_inputs, hidden, n_outputs).to(dtype)

    def forward(self, x):
        for layer in self.net:
            x = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=self.reentrant)
        return x


@pytest.mark.parametrize(("reentrant", "dtype"), [(True, torch.float32), (False, torch.float32),
                                                  (True, torch.float64)])  # fmt: skip
def test_fourth_look_a_checkpointed_or_float64_mlp_still_passes(reentrant, dtype):
    reentrant_warns = pytest.warns(UserWarning, match="None of the inputs have requires_grad=True")  # torch's own
    with reentrant_warns if reentrant else contextlib.nullcontext():
        verdict = check.make_mlp(partial(_Checkpointed, reentrant=reentrant, dtype=dtype))
    assert verdict.passed, verdict
    assert check.make_mlp(lambda *sizes: check.make_mlp.reference(*sizes).double()).passed


def test_fourth_look_a_right_mlp_checked_under_no_grad_still_passes():
    with torch.no_grad():
        verdict = check.make_mlp(check.make_mlp.reference)
    assert verdict.passed, verdict


class _FifthLook(nn.Module):  # the right layers in a list, forward run in one of the ways a reviewer wrote (fifth look)
    def __init__(self, n_inputs, hidden, n_outputs, how="deepcopy"):
        super().__init__()
        self.how, self.ls = how, nn.ModuleList(nn.Linear(a, b) for a, b in pairwise([n_inputs, *hidden, n_outputs]))

    def layer(self, k, x):
        layer, last, how = self.ls[k], k == len(self.ls) - 1, self.how
        if how == "deepcopy" and k == 0:
            return copy.deepcopy(layer)(x)
        if how in ("weights_detached", "weights_data"):
            weight = layer.weight.detach() if how == "weights_detached" else layer.weight.data
            return nn.functional.linear(x, weight, layer.bias)
        if how == "first_no_grad" and k == 0:
            with torch.no_grad():
                return layer(x)
        if how == "output_data" and last:
            return nn.functional.linear(x, layer.weight.data, layer.bias.data)
        if how == "mixed_first_flinear" and k == 0:
            return nn.functional.linear(x, layer.weight, layer.bias)
        if how == "mixed_first_forward" and k == 0:
            return layer.forward(x)
        if how == "mixed_output_matmul" and last:
            return x @ layer.weight.T + layer.bias
        return layer(x)

    def forward(self, x):
        for k in range(len(self.ls) - 1):
            x = torch.relu(self.layer(k, x))
            x = x.detach() if self.how == "detach_after_first" and k == 0 else x
        return self.layer(len(self.ls) - 1, x)


def test_fifth_look_a_layer_deep_copied_inside_forward_does_not_crash_the_check():
    verdict = check.make_mlp(partial(_FifthLook, how="deepcopy"))
    assert not verdict.passed and "raised an error" not in verdict.message, verdict


@pytest.mark.parametrize("how", ["weights_detached", "weights_data"])
def test_fifth_look_weights_cut_while_the_biases_learn_is_told_so(how):
    verdict = check.make_mlp(partial(_FifthLook, how=how))
    assert verdict.mistake == "not_backpropagatable", verdict
    assert "the weights of nn.Linear(3, 5) get no gradient" in verdict.message, verdict
    assert ".detach() or .data" in verdict.message and "no_grad" not in verdict.message.split(":")[1], verdict


def _extra_after_each(extra, mode):  # each nn.Linear but the last followed by extra(width), then a ReLU
    def make_mlp(n_inputs, hidden, n_outputs):
        layers = [m for a, b in pairwise([n_inputs, *hidden]) for m in (nn.Linear(a, b), extra(b), nn.ReLU())]
        model = nn.Sequential(*layers, nn.Linear(hidden[-1], n_outputs))
        return model.eval() if mode == "eval" else model.train()

    return make_mlp


@pytest.mark.parametrize(("extra", "named"), [(lambda n: nn.Dropout(0.5), "Dropout"),
                                              (nn.BatchNorm1d, "BatchNorm1d")])  # fmt: skip
def test_fifth_look_dropout_or_batchnorm_returned_in_eval_mode_is_refused(extra, named):
    verdict = check.make_mlp(_extra_after_each(extra, "eval"))
    assert verdict.mistake == "extra_layer" and named in verdict.message, verdict


def test_fifth_look_dropout_of_zero_still_passes():
    assert check.make_mlp(_extra_after_each(lambda n: nn.Dropout(0.0), "train")).passed
    assert check.make_mlp(_extra_after_each(lambda n: nn.Dropout(0.0), "eval")).passed


@pytest.mark.parametrize(("how", "named", "cause"), [
    ("first_no_grad", "the weights and bias of nn.Linear(3, 5)", "torch.no_grad()"),
    ("detach_after_first", "the weights and bias of nn.Linear(3, 5)", "cut from the graph"),
    ("output_data", "the weights and bias of nn.Linear(4, 2)", "no_grad(), .detach() or .data")])  # fmt: skip
def test_fifth_look_a_layer_cut_from_the_graph_is_not_said_never_to_run(how, named, cause):
    verdict = check.make_mlp(partial(_FifthLook, how=how))
    assert verdict.mistake == "not_backpropagatable" and "never runs it" not in verdict.message, verdict
    assert f"{named} get no gradient" in verdict.message and cause in verdict.message, verdict


@pytest.mark.parametrize("how", ["mixed_first_flinear", "mixed_first_forward", "mixed_output_matmul"])
def test_fifth_look_right_mlps_mixing_module_calls_with_f_linear_pass(how):
    verdict = check.make_mlp(partial(_FifthLook, how=how))
    assert verdict.passed, verdict


class _SixthLook(nn.Module):  # the right layers in a list, forward run in one of the ways a reviewer wrote (sixth look)
    def __init__(self, n_inputs, hidden, n_outputs, how="", lazy=False):
        super().__init__()
        sizes = list(pairwise([n_inputs, *hidden, n_outputs]))
        self.how, self.ls = how, nn.ModuleList(nn.LazyLinear(b) if lazy else nn.Linear(a, b) for a, b in sizes)
        self.extra = nn.LazyLinear(7) if how == "unused_lazy" else None

    def forward(self, x):
        if self.how == "deepcopy_all":  # the copies' weights are not the model's: they never learn
            self, self.how = copy.copy(self), ""
            self.ls = copy.deepcopy(self.ls)
        for k, layer in enumerate(self.ls[:-1]):
            if self.how == "lazy_skipped" and k == len(self.ls) - 2:
                continue  # never run: it stays uninitialised
            data = self.how == "first_data_retain_grad" and k == 0  # the weights cut from the graph
            x = nn.functional.relu(nn.functional.linear(x, layer.weight.data, layer.bias.data) if data else layer(x))
            if self.how == "first_data_retain_grad":
                x.retain_grad()  # needs autograd on
            if self.how == "dropout_training":
                x = nn.functional.dropout(x, 0.5, self.training)
            if self.how == "batch_norm_training":
                n = x.shape[1]
                x = nn.functional.batch_norm(x, torch.zeros(n), torch.ones(n), training=self.training)
        out = self.ls[-1](x)
        return out.relu() if self.how == "relu_in_training" and self.training else out


@pytest.mark.parametrize(("how", "lazy"), [("unused_lazy", True), ("lazy_skipped", True)])
def test_sixth_look_an_uninitialised_lazy_linear_is_judged_not_blamed_on_the_learner(how, lazy):
    verdict = check.make_mlp(partial(_SixthLook, how=how, lazy=lazy))
    assert not verdict.passed and verdict.mistake != "raised", verdict


def test_sixth_look_a_linear_subclass_without_in_features_is_judged():
    class MyLinear(nn.Linear):
        def __init__(self, a, b):
            nn.Module.__init__(self)
            self.weight, self.bias = nn.Parameter(torch.randn(b, a) * 0.3), nn.Parameter(torch.zeros(b))

    def make_mlp(n_inputs, hidden, n_outputs):
        sizes = list(pairwise([n_inputs, *hidden, n_outputs]))
        return nn.Sequential(*[m for a, b in sizes for m in (MyLinear(a, b), nn.ReLU())][:-1])

    verdict = check.make_mlp(make_mlp)
    assert verdict.passed, verdict


class _Drop(nn.Dropout):
    pass


class _Norm(nn.BatchNorm1d):
    pass


@pytest.mark.parametrize(("extra", "named"), [(lambda n: _Drop(0.5), "Dropout"), (_Norm, "BatchNorm1d")])
def test_sixth_look_dropout_or_batchnorm_subclasses_returned_in_eval_mode_are_refused(extra, named):
    verdict = check.make_mlp(_extra_after_each(extra, "eval"))
    assert verdict.mistake == "extra_layer" and named in verdict.message, verdict


@pytest.mark.parametrize("how", ["dropout_training", "batch_norm_training", "relu_in_training"])
def test_sixth_look_a_forward_that_computes_otherwise_in_training_mode_is_refused(how):
    verdict = check.make_mlp(lambda *sizes: _SixthLook(*sizes, how=how).eval())
    assert verdict.mistake == "extra_layer" and "training mode" in verdict.message, verdict


def test_sixth_look_a_forward_that_needs_autograd_is_not_said_never_to_run_a_layer():
    verdict = check.make_mlp(partial(_SixthLook, how="first_data_retain_grad"))
    assert verdict.mistake == "not_backpropagatable" and "never runs it" not in verdict.message, verdict
    assert "nn.Linear(3, 5) get no gradient" in verdict.message, verdict


def test_sixth_look_a_right_mlp_with_the_old_spectral_norm_passes():
    def make_mlp(n_inputs, hidden, n_outputs):
        sizes = list(pairwise([n_inputs, *hidden, n_outputs]))
        layers = [m for a, b in sizes for m in (nn.utils.spectral_norm(nn.Linear(a, b)), nn.ReLU())]
        return nn.Sequential(*layers[:-1])

    verdict = check.make_mlp(make_mlp)
    assert verdict.passed, verdict


def test_sixth_look_layers_deep_copied_inside_forward_are_named():
    verdict = check.make_mlp(lambda *sizes: _SixthLook(*sizes, how="deepcopy_all"))
    assert verdict.mistake == "not_backpropagatable" and "a copy of the layers" in verdict.message, verdict
