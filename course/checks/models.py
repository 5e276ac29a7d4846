"""Checks for lesson 07, models: registered parameters, model(x) not model.forward(x), devices, shapes.

The checks build their own small models and inputs inside ``torch.random.fork_rng``, so calling
a check never moves the notebook's random stream. They watch the learner's code through a
forward hook: it records every call made with ``model(x)`` (a direct ``model.forward(x)`` skips it),
together with the mode (train/eval) and whether gradients were being tracked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from course.checks.verdict import Verdict, call_learner, correct, wrong

__all__ = ["logistic_model", "predict_function", "quadratic_class", "run_on_data_device"]


def _isolated(seed: int, check: Callable[[Any], Verdict], answer: object) -> Verdict:
    """Run ``check(answer)`` with the global torch RNG seeded, then restored as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return check(answer)


class _CallRecorder:
    """A forward hook that records, for each ``model(x)`` call, the mode and whether grad was on."""

    def __init__(self, model: nn.Module) -> None:
        self.calls: list[tuple[bool, bool]] = []
        self.handle = model.register_forward_hook(self._record)

    def _record(self, module: nn.Module, inputs: Any, output: Any) -> None:
        self.calls.append((module.training, torch.is_grad_enabled()))

    def remove(self) -> None:
        self.handle.remove()


def _shape(value: object) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__


_FORWARD_DIRECTLY = (
    "your code never went through model(x): it called model.forward(x) directly (or computed the layers "
    "by hand). model(x) runs the hooks registered on the model, then forward; .forward(x) skips them, so "
    "anything attached to the model silently stops working. Call model(x)."
)


def quadratic_class(cls: object) -> Verdict:
    """Check a class ``cls()`` -> module with ``nn.Parameter`` ``a``, ``b``, ``c`` computing ``a + b x + c x**2``, shape ``(N, 1)``.

    Example:
        >>> class Quadratic(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.a = nn.Parameter(torch.randn(1))
        ...         self.b = nn.Parameter(torch.randn(1))
        ...         self.c = nn.Parameter(torch.randn(1))
        ...     def forward(self, x):
        ...         return self.a + self.b * x + self.c * x**2
        >>> quadratic_class(Quadratic).passed
        True
    """
    return _isolated(0, _quadratic_class, cls)


_NAMES = ["a", "b", "c"]
_VALUES = {"a": 1.5, "b": -2.0, "c": 0.5}


def _quadratic_class(cls: object) -> Verdict:
    if isinstance(cls, nn.Module):
        return wrong("instance_not_class", "pass the class itself (Quadratic), not an instance of it.")
    model, problem = call_learner(cls)
    if problem:
        return problem
    if not isinstance(model, nn.Module):
        return wrong(
            "not_a_module",
            f"Quadratic() gave a {type(model).__name__}, not an nn.Module. Derive the class from nn.Module "
            "and call super().__init__() first in __init__.",
        )
    params = dict(model.named_parameters())
    plain = sorted(
        name for name, value in vars(model).items() if isinstance(value, torch.Tensor) and name not in params
    )
    if plain:
        return wrong(
            "unregistered_parameter",
            f"model.parameters() does not contain {', '.join(plain)}: a plain tensor attribute is not registered, "
            "so the optimizer never sees it, .to(device) does not move it and state_dict() does not save it. "
            f"Wrap it: self.{plain[0]} = nn.Parameter(torch.randn(1)).",
        )
    if sorted(params) != _NAMES:
        return wrong(
            "wrong_parameters",
            f"expected exactly three parameters named a, b and c, found {sorted(params) or 'none'}. "
            "Declare each in __init__, e.g. self.a = nn.Parameter(torch.randn(1)).",
        )
    if any(p.numel() != 1 for p in params.values()):
        shapes = {name: tuple(p.shape) for name, p in params.items()}
        return wrong("wrong_parameter_shape", f"a, b and c should each hold one number (shape (1,)), found {shapes}.")
    with torch.no_grad():
        for name, value in _VALUES.items():
            params[name].fill_(value)
    x = torch.linspace(-1, 2, 5).unsqueeze(1)
    out, problem = call_learner(model, x)
    if problem:
        return problem
    if not isinstance(out, torch.Tensor) or out.shape != (5, 1):
        return wrong(
            "wrong_output_shape",
            f"for x of shape (5, 1) the model should return (5, 1), one prediction per row; it returned {_shape(out)}. "
            "Compute with x as it comes, without reshaping or reducing it.",
        )
    expected = 1.5 - 2.0 * x + 0.5 * x**2
    if torch.allclose(out.detach().float(), expected, atol=1e-5):
        return correct("a, b and c are registered parameters, and forward computes a + b x + c x² with shape (N, 1).")
    return wrong(
        "wrong_values",
        "the shape is right but, with a=1.5, b=-2, c=0.5, the values are not a + b * x + c * x ** 2. Check forward's formula.",
    )


def predict_function(fn: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> Verdict:
    """Check ``fn(model, x)``: calls ``model(x)`` in eval mode without tracking gradients and returns the output.

    Example:
        >>> def predict(model, x):
        ...     model.eval()
        ...     with torch.no_grad():
        ...         return model(x)
        >>> predict_function(predict).passed
        True
        >>> predict_function(lambda model, x: model.eval().forward(x)).mistake
        'called_forward_directly'
    """
    return _isolated(1, _predict_function, fn)


def _predict_function(fn: object) -> Verdict:
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1))
    x = torch.randn(10, 3)
    model.eval()
    with torch.no_grad():
        expected = model(x)
    model.train()
    recorder = _CallRecorder(model)
    try:
        out, problem = call_learner(fn, model, x.clone())
    finally:
        recorder.remove()
    if problem:
        return problem
    if not isinstance(out, torch.Tensor):
        return wrong("not_a_tensor", f"predict should return the model's output tensor, got {type(out).__name__}.")
    if not recorder.calls:
        return wrong("called_forward_directly", _FORWARD_DIRECTLY)
    training, grad_enabled = recorder.calls[-1]
    if out.shape != expected.shape:
        return wrong(
            "wrong_output_shape",
            f"expected the output's shape {tuple(expected.shape)}, got {tuple(out.shape)}. Return model(x) as it is.",
        )
    if training:
        return wrong(
            "train_mode",
            "the model ran in training mode, so Dropout zeroed random activations and the predictions are noisy. "
            "Call model.eval() before model(x).",
        )
    if grad_enabled or out.requires_grad:
        return wrong(
            "tracks_gradients",
            "the predictions were computed with gradient tracking on, which builds a graph nobody will use. "
            "Wrap model(x) in with torch.no_grad(): (or torch.inference_mode()).",
        )
    if not torch.allclose(out, expected, atol=1e-6):
        return wrong("other", "the output differs from the model's eval-mode output. Return model(x) unchanged.")
    return correct("eval mode, no gradient tracking, and model(x) so that hooks run.")


def run_on_data_device(fn: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> Verdict:
    """Check ``fn(model, x)``: sends the model to ``x.device`` and returns ``model(x)`` (tested with x on ``meta``).

    Example:
        >>> def run_on(model, x):
        ...     model.to(x.device)
        ...     return model(x)
        >>> run_on_data_device(run_on).passed
        True
        >>> run_on_data_device(lambda model, x: model(x)).mistake
        'device_mismatch'
    """
    return _isolated(2, _run_on_data_device, fn)


def _run_on_data_device(fn: object) -> Verdict:
    model = nn.Linear(4, 1)
    x = torch.empty(6, 4, device="meta")  # a device every machine has: shapes only, no data
    recorder = _CallRecorder(model)
    try:
        out, problem = call_learner(fn, model, x)
    finally:
        recorder.remove()
    if problem:
        if problem.mistake == "raised" and ("device" in problem.message or "meta" in problem.message):
            return wrong(
                "device_mismatch",
                f"the check gave your function a model on cpu and data on meta, and PyTorch refused to mix them "
                f"({problem.message.removeprefix('your function raised ')}). Move the model to the data: "
                "model.to(x.device), then call model(x).",
            )
        return problem
    devices = sorted({str(p.device) for p in model.parameters()})
    if devices != ["meta"]:
        return wrong(
            "device_mismatch",
            f"after your function the model's parameters are on {devices}, the data on meta. "
            "model.to(x.device) moves the model itself (it changes the module in place).",
        )
    if not isinstance(out, torch.Tensor):
        return wrong("not_a_tensor", f"return the model's output, got {type(out).__name__}.")
    if not recorder.calls:
        return wrong("called_forward_directly", _FORWARD_DIRECTLY)
    if out.device != x.device or out.shape != (6, 1):
        return wrong(
            "wrong_output_shape",
            f"expected an output of shape (6, 1) on meta, got {_shape(out)} on {out.device}. Return model(x).",
        )
    return correct("the model followed the data to its device, and model(x) ran there.")


def logistic_model(fn: Callable[[int], nn.Module]) -> Verdict:
    """Check ``fn(n_features)`` -> logistic regression: a linear layer to one output, then a sigmoid.

    Example:
        >>> logistic_model(lambda n: nn.Sequential(nn.Linear(n, 1), nn.Sigmoid())).passed
        True
        >>> logistic_model(lambda n: nn.Sequential(nn.Linear(n, 2), nn.Sigmoid())).mistake
        'wrong_output_shape'
    """
    return _isolated(3, _logistic_model, fn)


def _logistic_model(fn: object) -> Verdict:
    for n_features in (5, 2):
        model, problem = call_learner(fn, n_features)
        if problem:
            return problem
        if not isinstance(model, nn.Module):
            return wrong(
                "not_a_module", f"make_logistic_regression should return an nn.Module, got {type(model).__name__}."
            )
        x = torch.randn(8, n_features) * 3
        out, problem = call_learner(model, x)
        if problem:
            if "cannot be multiplied" in problem.message:
                return wrong(
                    "wrong_input_size",
                    f"the model cannot take {n_features} features: {problem.message.removeprefix('your function raised ')}. "
                    "The first argument of nn.Linear is the number of input features: nn.Linear(n_features, 1).",
                )
            return problem
        if not isinstance(out, torch.Tensor) or out.shape != (8, 1):
            return wrong(
                "wrong_output_shape",
                f"for 8 examples with {n_features} features the model should return (8, 1), one probability per "
                f"example; it returned {_shape(out)}. Use nn.Linear(n_features, 1).",
            )
        if out.min() < 0 or out.max() > 1:
            return wrong(
                "no_sigmoid",
                "the outputs are not probabilities (some lie outside [0, 1]): end the model with nn.Sigmoid().",
            )
        n_params = sum(p.numel() for p in model.parameters())
        if n_params != n_features + 1:
            return wrong(
                "wrong_parameter_count",
                f"logistic regression on {n_features} features has {n_features + 1} parameters "
                f"({n_features} weights and a bias); yours has {n_params}. Use a single nn.Linear(n_features, 1).",
            )
    return correct("nn.Linear(n_features, 1) then nn.Sigmoid(): one probability per example.")
