"""Checks for lesson 07 (models): a module with registered parameters, predict, the data's device, logistic regression.

They judge what a model *computes* on fresh inputs and watch each call through a forward hook (which a direct
``model.forward(x)`` skips); the predict probe has Dropout and starts in training mode, so a missing eval() shows.
"""

from functools import partial

import torch
from torch import nn

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import model_kind, randomised
from course.checks.values import describe


def _watched(program: object, args: tuple, record: object, summary: object = lambda out: out) -> object:
    """``(summary(output), [record(module, inputs, out) at each forward pass of args[0]])``; a non-tensor as it came."""
    seen = []
    args[0].register_forward_hook(lambda *call: seen.append(record(*call)))
    torch.manual_seed(2)  # the same dropout mask for every program
    out = program(*args)
    return (summary(out), seen) if torch.is_tensor(out) else out


class _Quadratic(nn.Module):
    def __init__(self, size: int = 1, register_c: bool = True) -> None:
        super().__init__()
        self.a, self.b = nn.Parameter(torch.randn(size)), nn.Parameter(torch.randn(size))
        self.c = nn.Parameter(torch.randn(1)) if register_c else torch.randn(1, requires_grad=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a + self.b * x + self.c * x**2


def _quadratic(make: object, args: tuple) -> object:
    """Parameter sizes, plain tensor attributes, and forward for x = -1 ... 2 with a, b, c = 1.5, -2, 0.5."""
    if isinstance(make, nn.Module):
        return "an instance"
    model = make()
    if not isinstance(model, nn.Module):
        return "not a model"
    fixed = {"a": torch.tensor([1.5]), "b": torch.tensor([-2.0]), "c": torch.tensor([0.5])}
    return {
        "sizes": {name: p.numel() for name, p in model.named_parameters()},
        "unregistered": [name for name, value in vars(model).items() if torch.is_tensor(value)],
        "output": torch.func.functional_call(model, fixed, torch.linspace(-1, 2, 5).unsqueeze(1)),
    }


_ONE_NUMBER = "a, b and c should each hold one number: nn.Parameter(torch.randn(1))."
quadratic_class = Exercise(
    name="quadratic_class",
    reference=_Quadratic,
    observe=_quadratic,
    guards=[
        Guard("instance_not_class", lambda got: got == "an instance", nn.Identity()),
        Guard("not_a_model", lambda got: got == "not a model", lambda: 42, "Quadratic() built no nn.Module."),
        Guard("unregistered_parameter", lambda got: bool(got["unregistered"]), partial(_Quadratic, register_c=False)),
        Guard("wrong_parameters", lambda got: sorted(got["sizes"]) != ["a", "b", "c"], lambda: nn.Linear(1, 1)),
        Guard("wrong_shape", lambda got: set(got["sizes"].values()) != {1}, partial(_Quadratic, size=2), _ONE_NUMBER),
    ],
    alternatives=[lambda: _Quadratic().double()],
    explain=lambda got, expected: (
        f"with a = 1.5, b = -2, c = 0.5 and x = -1 ... 2, forward gave {describe(got['output'])}, not "
        f"{describe(expected['output'])}. Check forward's formula and keep x's shape."
    ),
    success="a, b and c are registered parameters, and forward computes a + b x + c x² with shape (N, 1).",
)


def _predict(model: nn.Module, x: torch.Tensor, fault: str = "") -> object:
    """predict done right, or with the fault named (a mistake id)."""
    model.train(fault == "no_eval")
    with torch.set_grad_enabled(fault == "no_grad"):
        return model.forward(x) if fault == "called_forward" else model(x)


predict_function = Exercise(
    name="predict_function",
    inputs=lambda: (
        randomised(nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1)), seed=1),
        torch.linspace(-2, 2, 30).reshape(10, 3),
    ),
    reference=_predict,
    observe=partial(_watched, record=lambda model, inputs, out: (model.training, torch.is_grad_enabled())),
    guards=[Guard("not_a_tensor", lambda got: not isinstance(got, tuple), lambda model, x: 0.5)],
    mistakes=[Mistake(fault, partial(_predict, fault=fault)) for fault in ("called_forward", "no_eval", "no_grad")],
    alternatives=[lambda model, x: torch.inference_mode()(lambda: model.train(False)(x))()],
    explain=lambda got, expected: f"predict gave {describe(got[0])}, not model(x) in eval mode: return it as it is.",
    success="eval mode, no gradient tracking, and model(x) so that hooks run.",
)


_KEEP_THE_COPY = "x.to(device) returns a moved copy, leaving x on the CPU (unlike model.to): keep it, x = x.to(device)."
_OUTPUT_MOVED = "the model ran on the CPU and only its output moved: move the model and x, then call model(x) there."
_MODEL_LEFT = "the data went to the device but the model stayed on the CPU: call model.to(device) too."
run_on_device = Exercise(
    name="run_on_device",
    inputs=lambda: (randomised(nn.Linear(4, 1), seed=3), torch.linspace(-1, 1, 24).reshape(6, 4), "meta"),
    reference=lambda model, x, device: model.to(device)(x.to(device)),
    observe=partial(
        _watched,
        record=lambda model, inputs, out: str(inputs[0].device),  # forward() skips the hook: no record
        summary=lambda out: (tuple(out.shape), str(out.device)),  # no values on meta
    ),
    guards=[Guard("not_a_tensor", lambda got: not isinstance(got, tuple), lambda model, x, device: [0.0])],
    mistakes=[
        Mistake("device_mismatch", lambda model, x, device: model.to(device)(x), _KEEP_THE_COPY),  # x.to(device) lost
        Mistake("device_mismatch", lambda model, x, device: model(x.to(device)), _MODEL_LEFT),
        Mistake("device_mismatch", lambda model, x, device: model(x).to(device), _OUTPUT_MOVED),
        Mistake("called_forward", lambda model, x, device: model.to(device).forward(x.to(device))),
    ],
    explain=lambda got, _: f"expected the model's output, of shape (6, 1), on meta; got {got[0][0]} on {got[0][1]}.",
    success="model.to moved the model, x = x.to(device) kept the moved data, and model(x) ran there.",
)


def _computes(make: object, args: tuple) -> object:
    """For 5 and 2 features: the output's shape, what the model computes (probes.model_kind), extra parameters."""
    seen = []
    for n_features in (5, 2):
        torch.manual_seed(n_features)
        model = make(n_features)
        if not isinstance(model, nn.Module):
            return "not a model"
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        out = model(torch.zeros(12, n_features, dtype=dtype))
        extra = sum(p.numel() for p in model.parameters()) - n_features - 1
        kind = model_kind(model, n_features)
        if kind == "constant":  # all-zero weights are a right start: judge what the model computes with random ones
            kind = model_kind(randomised(model, seed=n_features), n_features)
        seen.append((tuple(out.shape) if torch.is_tensor(out) else describe(out), kind, extra))
    return seen


class _WithSigmoid(nn.Module):
    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x))


_NEW_MODEL = "make_logistic_regression(n_features) must return a model, an instance such as Logistic(n_features)."
logistic_model = Exercise(
    name="logistic_model",
    reference=_WithSigmoid,
    observe=_computes,
    guards=[
        Guard("not_a_model", lambda got: got == "not a model", lambda n: "a model", _NEW_MODEL),
        Guard(
            "wrong_shape",
            lambda got: got[0][0] != (12, 1),
            lambda n: nn.Sequential(nn.Linear(n, 2), nn.Sigmoid()),
            lambda got, _: f"12 examples gave an output {got[0][0]}, not (12, 1): use nn.Linear(n_features, 1).",
        ),
    ],
    mistakes=[
        Mistake("no_sigmoid", lambda n: nn.Linear(n, 1)),
        Mistake("softmax_one_output", lambda n: nn.Sequential(nn.Linear(n, 1), nn.Softmax(dim=1))),
        Mistake("sigmoid_first", lambda n: nn.Sequential(nn.Sigmoid(), nn.Linear(n, 1))),
        Mistake("extra_layer", lambda n: nn.Sequential(nn.Linear(n, 4), nn.Sigmoid(), nn.Linear(4, 1), nn.Sigmoid())),
    ],
    alternatives=[lambda n: nn.Sequential(nn.Linear(n, 1), nn.Sigmoid()), lambda n: _WithSigmoid(n).double()],
    explain=lambda got, _: "not sigmoid(w · x + b): use one nn.Linear(n_features, 1), then a sigmoid, nothing else.",
    success="one nn.Linear to one output, then a sigmoid: each example's probability, as logistic regression gives.",
)
