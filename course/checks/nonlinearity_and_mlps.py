"""Checks for lesson 08 (Nonlinearity and MLPs). Dead units and the clipped step run on two probes (the second with
other units, lr and max_norm), dead units and the count on one no message shows too, the clipped step on two layers."""

from collections.abc import Callable
from functools import cache, partial
from itertools import pairwise, product

import torch
from torch import nn
from torch.nn.utils import clip_grad_norm_, clip_grad_value_, get_total_norm

from course.checks.clip_probe import CLIP_PROBES, ORDERS, STARVED, clip_probe, step, three_steps
from course.checks.clip_probe import linear as _linear
from course.checks.engine import Exercise, Guard, Mistake
from course.checks.mlp_modes import MODES, TRAINING, linear_size, moded, odd_layers, plain_weights, trains_otherwise
from course.checks.mlp_modes import not_a_model as _not_a_model
from course.checks.mlp_probe import (
    CHANGED,
    NO_LINEAR,
    Noisy,
    cannot_learn,
    chain,
    noting,
    random_forward,
    repeats,
    set_as_seen,
    shared_message,
    start,
    starved,
    where_changed,
    zeroed,
)
from course.checks.probes import any_item, fixed_values, unregistered_modules
from course.checks.values import as_number, close, describe

MLP_SIZES = ((3, [5, 4], 2), (2, [3, 4, 3], 1), (2, [4, 4, 4], 1))  # 2 then 3 hidden layers; equal widths last
_numbers = lambda values: ", ".join(f"{as_number(value):g}" for value in values)  # noqa: E731


def _architecture(make: object, probes: tuple) -> object:
    """Per probe's sizes: layer shapes, unregistered layers, the output with weights fixed by shape, frozen names, and
    a layer shared (along the chain of runs that made the output, fewer layers, or layers with a Parameter of their
    own, than places: one run twice in its one place, as in l(x) * (l(x) > 0), or for a log, is not shared), and a
    layer run again along that chain where none is shared; lazy layers get their sizes from one pass first, and a
    half-precision MLP is judged in float64."""
    seen = []
    for n_inputs, *sizes in probes:
        if not isinstance(model := make(n_inputs, *sizes), nn.Module) or isinstance(model, torch.jit.ScriptModule):
            return model
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        x = torch.linspace(-8.0, 8.0, 6 * n_inputs).reshape(6, n_inputs)  # beyond 6: where ReLU6 parts from ReLU
        if any(map(nn.parameter.is_lazy, model.parameters())):  # a lazy layer learns its input size on the first pass
            torch.no_grad()(model)(x.to(dtype, copy=True))  # a copy: forward may change it in place
        if dtype.itemsize < 4:  # float16 rounds to 1e-3: judge the layers in float64, before the weights are set
            model, dtype = model.double(), torch.float64
        frozen = [name for name, p in model.named_parameters() if not p.requires_grad]  # now, and after forward
        plain_weights(model)  # old weight_norm, spectral_norm: a pre-hook rebuilds the weight at each call
        linears, calls, flow, nodes = [m for m in model.modules() if isinstance(m, nn.Linear)], [], [], []  # per run
        started = start(linears)  # before the weights are fixed: can training tell the units apart?
        hooks = [layer.register_forward_hook(noting(calls, flow, nodes, layer), with_kwargs=True) for layer in linears]
        with torch.no_grad():  # the weight, then the bias if any, as forward sees them (through a parametrization)
            for layer, (offset, name) in product(linears, enumerate(("weight", "bias"))):  # a lazy one never run: left
                if (value := getattr(layer, name)) is not None and not nn.parameter.is_lazy(value):
                    set_as_seen(layer, name, fixed_values(value.shape, float(offset)).to(value.dtype))
        output = torch.enable_grad()(model)(given := x.to(dtype, copy=True).requires_grad_() * 1)  # frozen too
        [hook.remove() for hook in hooks]  # the output was noted; then run twice more: do two runs differ?
        cut_off, never, mixed = starved(output, linears, nodes, calls, model, x.to(dtype))  # cut, unused
        runs = chain(x.to(dtype), calls, flow, nodes, output)  # the runs that made the output: not those for a log
        shared, again = repeats([calls[k] for k in runs], {id(m): m for m in linears}, len(sizes[0]) + 1)
        shared, output = shared or never, output.detach() if torch.is_tensor(output) else output
        shapes = sorted((*linear_size(m), m.bias is not None) for m in linears)
        odd = odd_layers(model)  # then a layer that matches ReLU or does nothing, as Dropout(0), is not odd:
        odd = [] if odd and not moded(model) and close(output, _architecture(_mlp, [(n_inputs, *sizes)])[2][0]) else odd
        trains = not model.training and trains_otherwise(model, x.to(dtype))  # returned in eval: F.dropout(x, p,
        odd = odd or ([TRAINING] if trains else [])  # self.training) (in training mode: other guards see it as run)
        frozen += [name for name, p in model.named_parameters() if not p.requires_grad and name not in frozen]
        seen.append((shapes, unregistered_modules(model), output, frozen, shared, odd,
                     not torch.equal(given.detach(), x.to(dtype)), cut_off or cannot_learn(started, calls),
                     "" if mixed else where_changed(x.to(dtype), [flow[k] for k in runs], output),
                     torch.no_grad()(random_forward)(model, x.to(dtype)), again))  # fmt: skip
    return tuple(zip(*seen, strict=True))  # (shapes, unregistered, outputs, frozen, shared, odd, in place, cut/stuck,
    # where forward does more than Linear and ReLU layers, random, a layer run again along the chain)


_HOLDS = "the model holds {}, which changes what it computes: the exercise asks for nn.Linear layers with nn.ReLU() \
after each hidden one and nothing else (no other activation, no Dropout, no normalisation layer)."


def _explain_mlp(got: tuple, expected: tuple) -> str:
    for (n_inputs, hidden, n_outputs), yours, right in zip(MLP_SIZES, got[0], expected[0], strict=True):
        if yours != right:
            layers = ", ".join(f"Linear({a}, {b})" for a, b in pairwise([n_inputs, *hidden, n_outputs]))
            tail = "" if yours else NO_LINEAR  # no nn.Linear at all: weights of its own
            return f"make_mlp({n_inputs}, {hidden}, {n_outputs}) should hold {layers}, each with a bias.{tail}"
    return CHANGED[next(filter(None, got[8]), "")]  # where forward does more than the layers and ReLUs, if seen


def _reshaped(got: tuple, _: object = None) -> str:  # 6 rows' numbers in another shape than (6, n_out), or no tensor
    return next((f"for 6 rows make_mlp{sizes} gave {f'shape {tuple(o.shape)}' if torch.is_tensor(o) else describe(o)}, "
                 f"not (6, {sizes[2]}): return the last nn.Linear's output as it is, one tensor (no tuple, .squeeze(), "
                 ".flatten() or .view(-1))." for sizes, o in zip(MLP_SIZES, got[2], strict=True) if not
                 torch.is_tensor(o) or o.shape != (6, sizes[2]) and o.numel() == 6 * sizes[2]), "")  # fmt: skip


def _mlp(n_inputs: int, hidden: list, n_outputs: int, activation: Callable = nn.ReLU, last=False, linear=nn.Linear):
    layers = [m for a, b in pairwise([n_inputs, *hidden, n_outputs]) for m in (linear(a, b), activation())]
    return nn.Sequential(*(layers if last else layers[:-1]))


def _again(*sizes: object) -> nn.Sequential:  # the last hidden layer run again, on its output, where it is square
    *hidden, last, relu, output = _mlp(*sizes)
    return nn.Sequential(*hidden, last, relu, *([last, relu] if last.in_features == last.out_features else []), output)


class _LoopMLP(nn.Module):  # the output layer registered first; the hidden ones in `container` (a list hides them)
    def __init__(self, n_inputs: int, hidden: list[int], n_outputs: int, container: Callable = nn.ModuleList) -> None:
        super().__init__()
        self.output = nn.Linear(hidden[-1], n_outputs)
        self.layers = container(nn.Linear(n_in, n_out) for n_in, n_out in pairwise([n_inputs, *hidden]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = nn.functional.relu(layer(x))
        return self.output(x)


def _dead_probe(flip: bool = False, other: bool = False) -> tuple:
    """Units: alive (weights <= 0, off for one input only), on for one input only (mean, sum, median < 0), exactly 0
    everywhere (on ReLU's threshold: `<` fails), on for the last input only and barely (2**-100, exact: its row is
    scaled by 2**-80, so any tolerance fails), <= 0 with exactly 0 twice; ``flip`` reverses units and inputs (the second
    probe). ``other``: the third, never shown: alive units on only for inputs < 0, or with a bias > 0 but a mean < 0."""
    if other:
        weight, bias = [[-1.0, 0.0], [0.0, 4.0], [0.5, 0.5], [-0.5, -0.25], [1.0, -1.0]], [-0.5, 0.25, -3.0, 0.75, 0.0]
        return _linear(weight, bias), torch.tensor([[-2.0, 1.0], [1.0, -0.5], [0.5, -0.25], [-1.0, -1.5], [0.75, -0.5]])
    weight = torch.tensor([[-0.5, -0.25], [0.5, 0.25], [0.0, 0.0], [-2.0 * 2**-80, -1.5 * 2**-80], [1.0, 0.0]])
    bias = torch.tensor([0.75, -0.6, 0.0, (2**-20 - 2.5) * 2**-80, -1.0])
    x = torch.tensor([[-1.0, 0.5], [1.0, 2.0], [0.5, -2.0], [1.0, -1.0], [-2.0, 1.5], [0.25, 0.75], [-0.5, -1.0]])
    return (_linear(weight.flip(0), bias.flip(0)), x.flip(0)) if flip else (_linear(weight, bias), x)


_state = lambda layer: ([p.requires_grad for p in layer.parameters()], [m.training for m in layer.modules()],  # noqa: E731
                        [(t.dtype, t.tolist()) for t in (*layer.parameters(), *layer.buffers())])  # fmt: skip


def _read_only(answer: Callable, args: tuple) -> tuple | str:
    """The answers on the three probes; "froze" or "changed" if one left its layer's _state (requires_grad first)."""
    got = []
    for layer, x in (args, _dead_probe(True), _dead_probe(other=True)):
        before = _state(layer)
        got.append(answer(layer, x))
        if (after := _state(layer)) != before:
            return "froze" if after[0] != before[0] else "changed"
    return tuple(got)


_LEFT = "your function {} the layer it was given and left it so: the caller's layer changed too. {}"
_FROZE = "switched off requires_grad on", "It could no longer be trained; for no graph use `with torch.no_grad():`."
_CHANGED = "changed (its weights or its mode)", "Only read it: compare layer(x) with 0, without assigning or .eval()."


def _per_unit(got: tuple, expected: tuple) -> str:  # what to return, naming the first answer not one bool per unit
    wrong = next(g for g in got if not (torch.is_tensor(g) and g.shape == (5,) and g.dtype == torch.bool))
    fix = ("return the tensor itself" if not torch.is_tensor(wrong) else "keep the comparison's bools (no .float() or "
           ".int())" if wrong.shape == (5,) else "reduce over the rows")  # fmt: skip
    return f"return one True/False per unit (a bool tensor of shape (5,)), got {describe(wrong)}: {fix}, .all(dim=0)."


dead_units = Exercise(
    name="dead_units", grad_left_ok=True, inputs=_dead_probe, observe=_read_only, reference=lambda layer, x: (layer(x) <= 0).all(dim=0),
    guards=[Guard("froze_parameters", lambda got: got == "froze", lambda layer, x: (layer.requires_grad_(False)(x) <= 0)
                  .all(0), _LEFT.format(*_FROZE)),  # first the layer left changed, then the form of each answer
            Guard("mutated_input", lambda got: got == "changed", lambda layer, x: (layer.eval()(x) <= 0).all(0),
                  _LEFT.format(*_CHANGED)),
            Guard("not_a_tensor", any_item(lambda got: not torch.is_tensor(got)), lambda *_: [True] * 5, _per_unit),
            Guard("wrong_shape", any_item(lambda got: got.shape != (5,)), lambda layer, x: layer(x) <= 0, _per_unit),
            Guard("wrong_dtype", any_item(lambda g: g.dtype != torch.bool), lambda layer, x: layer(x)[0], _per_unit)],
    mistakes=[Mistake("strict_threshold", lambda layer, x: (layer(x) < 0).all(dim=0)),
              Mistake("any_not_all", lambda layer, x: (layer(x) <= 0).any(dim=0)),
              Mistake("inverted_mask", lambda layer, x: (layer(x) > 0).any(dim=0)),
              Mistake("weights_only", lambda layer, x: (layer.weight <= 0).all(dim=1)),
              Mistake("tolerance_threshold", lambda layer, x: (torch.relu(layer(x)) < 1e-6).all(dim=0)),
              Mistake("activation_on_inputs", lambda layer, x: (layer(torch.relu(x)) <= 0).all(dim=0)),
              Mistake("bias_only", lambda layer, x: layer.bias <= 0),
              Mistake("dead_on_average", lambda layer, x: layer(x).mean(dim=0) <= 0, "a unit off on average (a mean, "
                      "sum or median <= 0, or off for most rows) can still be on for some input, where ReLU passes it: "
                      "it is alive. Dead means <= 0 for every input: (layer(x) <= 0).all(dim=0).")],
    explain=lambda got, expected: "right for the layers shown, but not for another: compute the mask from layer(x), no "
    "answer typed in." if close(got[:2], expected[:2]) else next(f"expected {describe(e)}, got {describe(g)}: True "
    "where layer(x) <= 0 in every row of x." for g, e in zip(got, expected, strict=True) if not close(g, e)),
    alternatives=[lambda layer, x: (torch.relu(layer(x)) == 0).all(dim=0), lambda layer, x: ~(layer(x) > 0).any(dim=0),
                  lambda layer, x: layer(x).max(dim=0).values <= 0,
                  lambda layer, x: (x @ layer.weight.T + layer.bias <= 0).sum(dim=0) == len(x)],
    success="a unit is dead when its pre-activation is <= 0 for every input: ReLU's gradient is 0 there (at exactly 0 "
    "too), so the loss's gradient can no longer move its weights or bias.",
)  # fmt: skip

make_mlp = Exercise(
    name="make_mlp", observe=_architecture, reference=_mlp,
    inputs=lambda: tuple((n_in, list(hidden), n_out) for n_in, hidden, n_out in MLP_SIZES),  # fresh lists each run
    guards=[  # shared_layer: one nn.Linear per pair of widths, used again where the pair repeats ([4, 4, 4])
        Guard("not_a_model", lambda got: not isinstance(got, tuple), lambda n_in, hidden, n_out: [n_in], _not_a_model),
        Guard("mutated_input", lambda got: any(got[6]), lambda *sizes: nn.Sequential(nn.ReLU(True), _mlp(*sizes)),
              "forward changed its input in place (x /= 10, x.relu_()), the caller's batch too: use x = x / 10, x.relu()."),
        Guard("plain_list", lambda got: any(got[1]), lambda *sizes: _LoopMLP(*sizes, container=list)),
        Guard("shared_layer", lambda got: any(got[4]), lambda *sizes: _mlp(*sizes, linear=cache(nn.Linear)),
              lambda got, _: shared_message(next(filter(None, got[4])))),  # tied weights, a layer never run
        Guard("extra_layer", lambda got: any(got[10]), _again,  # all layers distinct, one run again on its output
              lambda got, _: f"forward runs {next(filter(None, got[10]))} twice along the chain, the second time on "
              "what its first run led to (a ReLU between or not): one layer more than the sizes ask. Run each "
              "nn.Linear once, in order, a ReLU after each hidden one."),
        Guard("froze_parameters", lambda got: any(got[3]), lambda *sizes: _mlp(*sizes).requires_grad_(False),
              lambda got, expected: f"{', '.join(next(f for f in got[3] if f))} do not require grad: no optimizer "
              "could train them. Leave nn.Linear's parameters as they are (requires_grad=True)."),
        Guard("wrong_activation", lambda got: any(n in vars(nn.modules.activation) for odd in got[5] for n in odd),
              partial(_mlp, activation=nn.Tanh), lambda got, _: _HOLDS.format(", ".join(next(filter(None, got[5]))))),
        Guard("extra_layer", lambda got: any(got[5]), partial(_mlp, activation=partial(nn.Dropout, 0.5)),  # or a norm
              lambda got, _: MODES if (odd := next(filter(None, got[5]))) == [TRAINING] else _HOLDS.format(", ".join(
                  odd))),  # layer, with ReLUs or not; or forward computes otherwise in training mode
        Guard("random_output", lambda got: any(got[9]), partial(_mlp, activation=Noisy)),  # F.dropout, noise
        Guard("wrong_shape", _reshaped, lambda *sizes: nn.Sequential(_mlp(*sizes), nn.Flatten(0)), _reshaped),
        Guard("not_backpropagatable", lambda got: any(got[7]), lambda *sizes: zeroed(_mlp(*sizes)),  # every parameter 0
              lambda got, _: next(filter(None, got[7])))],  # cut off, hidden layers 0, alike units before 1 weight
    mistakes=[Mistake("no_activation", lambda *sizes: _mlp(*sizes, activation=nn.Identity)),
              Mistake("activation_after_output", lambda *sizes: _mlp(*sizes, last=True))],
    alternatives=[_LoopMLP, lambda *sizes: _mlp(*sizes, activation=lambda: nn.ReLU(inplace=True)),
                  lambda *sizes: _mlp(*sizes, linear=lambda n_in, n_out: nn.LazyLinear(n_out)),  # sizes from a pass
                  lambda *sizes: _mlp(*sizes).half()], explain=_explain_mlp,  # half precision: the same layers
    success="nn.Linear layers from n_inputs through each hidden width to n_outputs, a ReLU after each hidden layer and "
    "none after the last, so the output can take any value.",
)  # fmt: skip

count_parameters = Exercise(
    name="count_parameters", observe=lambda count, probes: [count(sizes) for sizes in probes],
    inputs=lambda: ([3, 5, 4, 2], [1, 32, 32, 1], [7, 1], [4, 6, 3]),  # the last is never shown
    reference=lambda sizes: sum(n_in * n_out + n_out for n_in, n_out in pairwise(sizes)),
    guards=[Guard("returned_none", any_item(lambda count: count is None), lambda sizes: print(sizes)),  # printed
            Guard("not_a_number", lambda got: None in map(as_number, got), str,
                  lambda got, _: f"return the count as one number (an int), got {describe(got[0])}.")],
    mistakes=[Mistake("no_biases", lambda sizes: sum(n_in * n_out for n_in, n_out in pairwise(sizes))),
              Mistake("bias_per_input", lambda sizes: sum(n_in * n_out + n_in for n_in, n_out in pairwise(sizes))),
              Mistake("counted_units", lambda sizes: sum(sizes)),
              Mistake("missed_a_layer", lambda sizes: sum(a * b + b for a, b in pairwise(sizes[:-1])))],
    alternatives=[lambda sizes: sum(p.numel() for p in _mlp(sizes[0], sizes[1:-1], sizes[-1]).parameters()),
                  lambda sizes: sum((sizes[i] + 1) * sizes[i + 1] for i in range(len(sizes) - 1))],
    explain=lambda got, expected: "right for the sizes shown, but not for another list: compute the count from sizes, "
    "no number typed in." if close(got[:-1], expected[:-1]) else f"for the sizes {count_parameters.inputs()[:-1]} "
    f"your function gave {_numbers(got[:-1])}, expected {_numbers(expected[:-1])}: n_in * n_out weights plus n_out "
    "biases for each pair of neighbouring sizes.",  # the last list of sizes is never shown
    success="each nn.Linear(n_in, n_out) holds n_in * n_out weights and n_out biases; add them up over the layers.",
)  # fmt: skip

_RETURNED = [  # what a step may return instead of the loss as a number, checked in this order: a guard holds when
    Guard(mistake, any_item(lambda run, test=test: any(map(test, run[0]))), example, message)  # a loss of a run fits
    for mistake, test, example, message in [("returned_none", lambda value: value is None, lambda *args: None, None),
        ("returns_tensor", torch.is_tensor, lambda *args: torch.ones(()), None),
        ("not_a_number", lambda value: as_number(value) is None, lambda *args: "loss", lambda got, _: "return the "
         f"loss as a number, loss.item(); got {describe(next(v for r in got for v in r[0] if as_number(v) is None))}.")
    ]]  # fmt: skip


def _explain_clip(got: list, expected: list) -> str:
    for (lr, max_norm), (losses, *_), (right, *_) in zip(CLIP_PROBES, got, expected, strict=True):
        if not close(losses, right):
            return (f"with lr={lr:g} and max_norm={max_norm:g}, three calls returned the losses {_numbers(losses)}; "
                    f"expected {_numbers(right)}. Each call: zero the gradients, compute the loss, backward(), "
                    "clip_grad_norm_(model.parameters(), max_norm), step(), and return loss.item().")  # fmt: skip
    return "the losses are right, but not the parameters: clip_grad_norm_(model.parameters(), max_norm), then step()."


clipped_step = Exercise(
    name="clipped_step", inputs=lambda: clip_probe(*CLIP_PROBES[0]), reference=step(),
    guards=[*_RETURNED, Guard("unused_optimizer", any_item(lambda run: run[2] == () and not run[3]),  # moved, no step
                              step("zero backward clip own"), "the parameters changed, but the optimizer you were "
                              "given never stepped: call its step(), not an update by hand or an optimizer of yours."),
            Guard("step_twice", any_item(lambda run: run[3] > 1), step("zero backward clip step step"),
                  "optimizer.step() ran twice in one call, moving the parameters twice on the same gradients: each "
                  "batch counts double. Call it once, after clipping."),  # then a clip given no gradients:
            Guard("clip_misplaced", any_item(lambda run: run[5]), step(clip=lambda params, limit: clip_grad_norm_(
                [p.data for p in params], limit)), STARVED)],  # not blamed on the order
    observe=lambda answer, args: [three_steps(answer, args), *(three_steps(answer, clip_probe(*CLIP_PROBES[k], layers=k))
                                                               for k in (1, 2))],  # the last: two layers
    mistakes=[Mistake("clip_misplaced", step("zero clip backward step")),
        Mistake("clip_value_not_norm", step(clip=clip_grad_value_)),
        *(Mistake("wrong_norm_type", step(clip=partial(clip_grad_norm_, norm_type=norm)), "clip_grad_norm_ was "
                  "given another norm_type: max_norm limits the gradients' length, the default 2-norm (1 sums their "
                  "sizes, inf takes the largest): leave norm_type out.") for norm in (1.0, float("inf"))),
        Mistake("clip_per_parameter", step(clip=lambda params, limit: [clip_grad_norm_(p, limit) for p in params])),
        Mistake("clip_per_parameter", step("zero backward layers step"), "clipping each layer on its own lets the "
                "total norm exceed max_norm (up to √2 × max_norm for two layers): pass all the parameters to one "
                "clip_grad_norm_ call, clip_grad_norm_(model.parameters(), max_norm)."),
        *(Mistake(mistake, step(order)) for mistake, order in ORDERS.items()),  # 3 of them never move: told why
        Mistake("ignored_argument", step(clip=lambda params, limit: clip_grad_norm_(params, 1.0))),
        Mistake("clip_always", step(clip=lambda params, limit: torch._foreach_mul_(  # no "only if larger": rescaled
            grads := [p.grad for p in params], limit / get_total_norm(grads)))),  # always (2 * loss: 17 x 2 < 40)
    ], alternatives=[step("backward clip step zero")], explain=_explain_clip,
    success="backward() makes the gradients, clip_grad_norm_ shortens them to max_norm, then step() uses them.",
)  # fmt: skip
