"""What lesson 07's checks read of a model: the parameters no gradient reaches, and for logistic_model what a model
built for 5 and 2 features computes (a sigmoid of one linear score or not, stopped at a bound, rounded), its parameters
and layers, those it keeps where parameters() never sees them."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrize import ParametrizationList

from course.checks.probes import (
    _outputs,
    batch_dependent,
    graph_nodes,
    model_kind,
    random_output,
    randomised,
    unregistered_modules,
)
from course.checks.values import describe


def untrainable(model: nn.Module, out: object) -> list:
    """The parameters training could never change: frozen, or no gradient of ``out`` reaches them (a .detach())."""
    parameters = dict(model.named_parameters())  # after a call: a lazy layer has them only then
    trainable = {name: p for name, p in parameters.items() if p.requires_grad}
    frozen = [name for name in parameters if name not in trainable]
    if not (torch.is_tensor(out) and out.requires_grad and out.is_floating_point()) or not trainable:
        return frozen + list(trainable)
    weighted = out.flatten() * torch.linspace(1, 2, out.numel(), dtype=out.dtype, device=out.device)  # a softmax
    gradients = torch.autograd.grad(weighted.sum(), list(trainable.values()), allow_unused=True)  # over rows sums to 1
    return frozen + [name for name, grad in zip(trainable, gradients, strict=True) if grad is None or not grad.any()]


def _responses(model: nn.Module, x: torch.Tensor, kind: str) -> tuple[int, bool]:
    """How many features leave the output unchanged when only they change (16 rows); whether it stops at a bound: rows
    of 2 x share the largest or smallest output, or a sigmoid(w · x + b) (|z| < 10 in model_kind) stops short of it."""
    with torch.no_grad():
        out, wide = model(x[:16]), model(2 * x[:16]).flatten()
        ignored = sum(torch.equal(model(x[:16] + step), out) for step in torch.eye(x.shape[1], dtype=x.dtype))
    if kind != "probabilities":
        return ignored, kind == "other, squashed" and bool((wide == wide.max()).sum() + (wide == wide.min()).sum() > 2)
    p, z = _outputs(model, x := x.double()), torch.linspace(-16, 16, 25, dtype=torch.float64)  # p to 1e-7 (float32's)
    fit = (p > 0.01) & (p < 0.99)  # w and b are fitted where p is well measured, then rows built along w score z
    coef = torch.linalg.lstsq(torch.cat([x, torch.ones_like(x[:, :1])], 1)[fit], torch.logit(p[fit])[:, None]).solution
    q = _outputs(model, (z - coef[-1, 0])[:, None] * coef[:-1, 0] / coef[:-1, 0].square().sum())
    return ignored, int(fit.sum()) > x.shape[1] + 1 and not isinstance(q, str) and bool(  # a clamp of z (to ±15)
        ((q[:12].log() - nn.functional.logsigmoid(z[:12])).abs() > 0.1).any()  # or p (1e-6) shows in the log below
        or (((1 - q[13:]) - torch.sigmoid(-z[13:])).abs()  # 0.5, in 1 - p above it, up to float32's rounding (its
            > 0.1 * torch.sigmoid(-z[13:]) + 2.4e-7).any())  # sigmoid is 1 past 16.6: no clamp)  # fmt: skip


def _decimals(out: torch.Tensor) -> str:  # "": none, or its dtype cannot tell (16 outputs need steps of 12 ulp)
    """' to k decimals': the fewest k (0 to 8) to which every output is rounded, to 1.5 units in its last place."""
    value = (out.detach() if out.is_floating_point() else out.detach().double()).flatten().abs()  # + float64's error
    unit, value = 1.5 * (value.nextafter(value.new_tensor(torch.inf)) - value) + 2.3e-16 * value, value.double()
    return next((f" to {k} decimal{'s'[: k > 1]}" if k else " (or thresholds them)" for k in range(9) if ((scaled :=
        value * 10**k) - scaled.round()).abs().le(unit * 10**k).all() and (unit * 10**k <= 0.125).sum() >= 16), "")  # fmt: skip


def _layers(model: nn.Module) -> int:  # the modules holding parameters (a parametrization's are its layer's)
    return sum(not isinstance(m, ParametrizationList) and any(True for _ in m.parameters(recurse=False))
               for m in model.modules())  # fmt: skip


def computes(make: object, args: tuple) -> object:
    """For 5 and 2 features: the output's shape, what the model computes (probes.model_kind), extra parameters, if it
    is more than a sigmoid of one linear score (a hidden layer), the features it ignores, the parameters no gradient
    reaches and whether it keeps tensors or layers unregistered."""
    if isinstance(make, nn.Module):
        return "an instance"
    seen = []
    for n_features in (5, 2):
        torch.manual_seed(n_features)
        if not isinstance(model := make(n_features), nn.Module):
            return "not a model"
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        x = 2 * torch.randn(64, n_features, generator=torch.Generator().manual_seed(n_features), dtype=dtype)
        given = x.clone()  # a forward that changes its input in place (x /= 10) changes x at every call
        out, stuck = model(x[:12]), untrainable(model, every := model(x))  # before model_kind changes weights
        kind = model_kind(model, n_features)
        if kind in ("constant", "probabilities"):  # all-zero weights are a right start, and a clamp shows only on
            kind = model_kind(randomised(model, n_features, scale=1.5), n_features)  # large scores: |z| to 9.8, 30
        extra = sum(p.numel() for p in model.parameters()) - n_features - 1
        ignored, clamped = (0, False) if kind == "constant" or not torch.is_tensor(out) else _responses(model, x, kind)
        seen.append({
            "shape": tuple(out.shape) if torch.is_tensor(out) else describe(out), "kind": kind,
            "random": random_output(model, x[:12]), "batch": batch_dependent(model, x[:12]),
            "softmax": kind == "constant" and any("SoftmaxBackward" in type(node).__name__ for node in graph_nodes(
                getattr(out, "grad_fn", None))),
            "extra": extra, "more": kind != "probabilities" and (extra > 0 or _layers(model) > 1),  # a hidden layer
            "ignored": ignored, "clamped": clamped, "in_place": not torch.equal(x, given),
            "rounded": _decimals(every) if stuck and torch.is_tensor(every) else "",  # no gradient passes a round
            "stuck": [] if kind == "constant" else stuck,  # a constant output (softmax of one) is a mistake of its own
            "unregistered": any(torch.is_tensor(value) and value.requires_grad for module in model.modules()
                                for value in vars(module).values()),
            "unlisted": unregistered_modules(model),  # layers in a plain list or dict: parameters() misses them
        })  # fmt: skip
    return seen
