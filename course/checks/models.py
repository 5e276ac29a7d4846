"""Checks for lesson 07 (models): a module with registered parameters, predict, the data's device, logistic regression.

The checks judge what a model *computes* on fresh inputs, cast to the model's dtype, and watch how it is
called through a forward hook (a direct ``model.forward(x)`` skips it). Models built inside a check are
seeded there, so a check never moves the notebook's random stream (the engine restores it).
"""

from __future__ import annotations

import torch
from torch import nn

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.values import describe

# --- exercise 1: a Quadratic module ---------------------------------------------------------------------------
_VALUES = {"a": 1.5, "b": -2.0, "c": 0.5}


def _quadratic(answer: object, args: tuple) -> dict:
    if isinstance(answer, nn.Module):
        return {"module": "an instance"}
    torch.manual_seed(0)
    model = answer()  # type: ignore[operator]
    if not isinstance(model, nn.Module):
        return {"module": False}
    params = dict(model.named_parameters())
    plain = sorted(k for k, v in vars(model).items() if isinstance(v, torch.Tensor) and k not in params)
    seen = {"module": True, "parameters": sorted(params), "unregistered": plain}
    if sorted(params) != sorted(_VALUES) or any(p.numel() != 1 for p in params.values()):
        return seen
    with torch.no_grad():
        for name, value in _VALUES.items():
            params[name].fill_(value)
    x = torch.linspace(-1, 2, 5).unsqueeze(1).to(params["a"].dtype)
    return {**seen, "output": model(x).detach()}


class _Quadratic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = (nn.Parameter(torch.randn(1)) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a + self.b * x + self.c * x**2


class _Unregistered(_Quadratic):
    def __init__(self) -> None:
        super().__init__()
        del self.c
        self.c = torch.randn(1, requires_grad=True)


def _two_numbers_each() -> nn.Module:
    model = _Quadratic()
    model.a = nn.Parameter(torch.randn(2))
    return model


quadratic_class = Exercise(
    name="quadratic_class",
    reference=_Quadratic,
    observe=_quadratic,
    guards=[
        Guard("instance_not_class", lambda got: got["module"] == "an instance", example=nn.Identity()),
        Guard("not_a_model", lambda got: not got["module"], example=lambda: 42),
        Guard("unregistered_parameter", lambda got: bool(got["unregistered"]), example=_Unregistered),
        Guard("wrong_parameters", lambda got: got["parameters"] != ["a", "b", "c"], example=lambda: nn.Linear(1, 1)),
        Guard(
            "wrong_shape",
            lambda got: "output" not in got,
            example=_two_numbers_each,
            message="a, b and c should each hold one number: nn.Parameter(torch.randn(1)).",
        ),
    ],
    alternatives=[lambda: _Quadratic().double()],
    explain=lambda got, expected: (
        f"with a = 1.5, b = -2, c = 0.5 and x = -1 ... 2, forward gave {describe(got['output'])}; "
        f"a + b * x + c * x ** 2 is {describe(expected['output'])}. Check forward's formula and keep x's shape."
    ),
    success="a, b and c are registered parameters, and forward computes a + b x + c x² with shape (N, 1).",
)


# --- exercise 2: predict ----------------------------------------------------------------------------------------
def _probe_model() -> tuple:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1))
    model.calls = []
    model.register_forward_hook(lambda m, args, out: m.calls.append((m.training, torch.is_grad_enabled())))
    return model, torch.randn(10, 3)


def _predicted(answer: object, args: tuple) -> dict:
    model, x = args
    torch.manual_seed(2)  # the same dropout mask for every program
    out = answer(model, x)  # type: ignore[operator]
    return {"output": out.detach() if isinstance(out, torch.Tensor) else out, "calls": model.calls}


def _predict(eval_mode: bool = True, no_grad: bool = True, call: bool = True) -> object:
    def predict(model, x):
        if eval_mode:
            model.eval()
        with torch.set_grad_enabled(not no_grad):
            return model(x) if call else model.forward(x)

    return predict


predict_function = Exercise(
    name="predict_function",
    inputs=_probe_model,
    reference=_predict(),
    observe=_predicted,
    guards=[
        Guard(
            "not_a_tensor",
            lambda got: not isinstance(got["output"], torch.Tensor),
            example=lambda m, x: 0.5,
            message=lambda got, _: f"return the model's output as a torch tensor, got {describe(got['output'])}.",
        )
    ],
    mistakes=[
        Mistake("called_forward", _predict(call=False)),
        Mistake("no_eval", _predict(eval_mode=False)),
        Mistake("no_grad", _predict(no_grad=False)),
    ],
    alternatives=[lambda model, x: torch.inference_mode()(lambda: model.train(False)(x))()],
    explain=lambda got, expected: (
        f"predict returned {describe(got['output'])}; expected {describe(expected['output'])}, "
        "the model's output for x in eval mode. Return model(x) as it is."
    ),
    success="eval mode, no gradient tracking, and model(x) so that hooks run.",
)


# --- exercise 3: model and data on the same device ------------------------------------------------------------------
def _device_probe() -> tuple:
    torch.manual_seed(3)
    model = nn.Linear(4, 1)
    model.calls = []
    model.register_forward_hook(lambda m, args, out: m.calls.append(str(args[0].device)))
    return model, torch.randn(6, 4), "meta"


def _ran_on(answer: object, args: tuple) -> object:
    model = args[0]
    out = answer(*args)  # type: ignore[operator]
    if not isinstance(out, torch.Tensor):
        return out
    return {"output": (tuple(out.shape), str(out.device)), "model on": str(model.weight.device), "calls": model.calls}


def _x_not_moved(model: nn.Module, x: torch.Tensor, device: object) -> torch.Tensor:
    model.to(device)
    x.to(device)  # the bug: the moved copy is thrown away
    return model(x)


run_on_device = Exercise(
    name="run_on_device",
    inputs=_device_probe,
    reference=lambda model, x, device: model.to(device)(x.to(device)),
    observe=_ran_on,
    guards=[Guard("not_a_tensor", lambda got: not isinstance(got, dict), example=lambda m, x, device: [0.0])],
    mistakes=[
        Mistake(
            "device_mismatch",
            _x_not_moved,
            "x.to(device) returns a moved copy and leaves x where it was (unlike model.to, which moves the "
            "model itself), so the model on meta met data on the CPU. Keep the copy: x = x.to(device).",
        ),
        Mistake(
            "device_mismatch",
            lambda model, x, device: model(x.to(device)),
            "the data went to the device but the model stayed on the CPU: call model.to(device) too.",
        ),
        Mistake("called_forward", lambda model, x, device: model.to(device).forward(x.to(device))),
    ],
    explain=lambda got, expected: (
        f"expected the model's output of shape (6, 1) on meta, with the model moved there; "
        f"got an output {got['output']} and the model on {got['model on']}."
    ),
    success="model.to moved the model, x = x.to(device) kept the moved data, and model(x) ran there.",
)


# --- exercise 4: logistic regression, judged by what it computes ---------------------------------------------------
def _fit_error(inputs: torch.Tensor, values: torch.Tensor) -> float:
    """How far ``values`` are from the best affine function of ``inputs`` (0 for an exact fit)."""
    design = torch.cat([inputs, torch.ones(len(inputs), 1, dtype=inputs.dtype)], dim=1)
    solution = torch.linalg.lstsq(design, values).solution
    return float((design @ solution - values).abs().max() / (values.abs().max() + 1e-9))


def _computes(answer: object, args: tuple) -> object:
    seen = []
    for n_features in (5, 2):
        torch.manual_seed(n_features)
        model = answer(n_features)  # type: ignore[operator]
        if not isinstance(model, nn.Module):
            return "not a model"
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        x = (torch.randn(12, n_features, generator=torch.Generator().manual_seed(7)) * 3).to(dtype)
        with torch.no_grad():
            out = model(x)
        if not isinstance(out, torch.Tensor) or out.shape != (12, 1):
            return {"output shape": tuple(out.shape) if isinstance(out, torch.Tensor) else describe(out)}
        out = out.double()
        probabilities = bool(((out > 0) & (out < 1)).all())
        logits = torch.log(out / (1 - out)) if probabilities else out
        affine = _fit_error(x.double(), logits) < 1e-3
        extra = sum(p.numel() for p in model.parameters()) - n_features - 1
        seen.append(
            {"probabilities": probabilities, "constant": bool((out == out[0]).all()), "affine": affine, "extra": extra}
        )
    return seen


class _WithSigmoid(nn.Module):
    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x))


logistic_model = Exercise(
    name="logistic_model",
    reference=_WithSigmoid,
    observe=_computes,
    guards=[
        Guard("not_a_model", lambda got: got == "not a model", example=lambda n: "a model"),
        Guard(
            "wrong_shape",
            lambda got: isinstance(got, dict),
            example=lambda n: nn.Sequential(nn.Linear(n, 2), nn.Sigmoid()),
            message=lambda got, _: (
                f"for 12 examples the model should return (12, 1), one probability each; "
                f"it returned {got['output shape']}. Use nn.Linear(n_features, 1)."
            ),
        ),
    ],
    mistakes=[
        Mistake("no_sigmoid", lambda n: nn.Linear(n, 1)),
        Mistake("softmax_one_output", lambda n: nn.Sequential(nn.Linear(n, 1), nn.Softmax(dim=1))),
        Mistake("sigmoid_first", lambda n: nn.Sequential(nn.Sigmoid(), nn.Linear(n, 1))),
        Mistake("extra_layer", lambda n: nn.Sequential(nn.Linear(n, 4), nn.Sigmoid(), nn.Linear(4, 1), nn.Sigmoid())),
    ],
    alternatives=[
        lambda n: nn.Sequential(nn.Linear(n, 1), nn.Sigmoid()),
        lambda n: nn.Sequential(nn.Linear(n, 1), nn.Sigmoid()).double(),
    ],
    explain=lambda got, expected: (
        "the outputs are not sigmoid(w · x + b) of the inputs: logistic regression is one "
        "nn.Linear(n_features, 1) (n_features weights and a bias) followed by a sigmoid."
    ),
    success="one linear layer to one output, then a sigmoid: a probability per example, computed as logistic regression.",
)
