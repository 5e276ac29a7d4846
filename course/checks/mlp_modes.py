"""What lesson 08's make_mlp check reads of an MLP's layers beside nn.Linear and ReLU, and of its training mode.

Layers are recognised by the torch class they are instances of (a learner's `class Drop(nn.Dropout)` is a Dropout), and
a forward that computes otherwise in training mode (F.dropout(x, p, self.training), F.batch_norm(...,
training=self.training), a step run only when self.training) shows by running a copy in both modes.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.spectral_norm import SpectralNorm, remove_spectral_norm
from torch.nn.utils.weight_norm import WeightNorm, remove_weight_norm

from course.checks.values import describe
from course.checks.vocabulary import MISTAKES

_KINDS = ("activation", "dropout", "batchnorm", "normalization", "instancenorm")  # of the layers an MLP does not hold
TRAINING = "training mode"  # in the odd layers: forward computes otherwise in training mode
MODES = ("forward computes otherwise in training mode (model.train()) than in eval mode: F.dropout(x, p, "
         "self.training), F.batch_norm(..., training=self.training), or a step run only when self.training, which "
         "changes what it computes while it learns. The exercise asks for nn.Linear layers with nn.ReLU() after each "
         "hidden one and nothing else, which compute the same in both modes.")  # fmt: skip
SCRIPTED = ("torch.jit.script turned the model into TorchScript, whose layers are no longer nn.Linear modules the "
            "check can read or run one by one: return the model itself (nn.Sequential or your class), and script it "
            "later, when you export it.")  # fmt: skip


def not_a_model(got: object, _: object = None) -> str:
    """What make_mlp's not_a_model guard says: a TorchScript model hides its layers; anything else is no nn.Module."""
    scripted = isinstance(got, torch.jit.ScriptModule)
    return SCRIPTED if scripted else MISTAKES["not_a_model"].replace("{got}", describe(got))


def _kind(module: nn.Module) -> tuple[str, str]:
    """The kind (a key of _KINDS) and name of the torch layer class ``module`` is an instance of; "", "" if none."""
    for cls in type(module).__mro__:
        place, kind = cls.__module__, cls.__module__.rsplit(".")[-1]
        if place.startswith("torch.nn.modules.") and kind in _KINDS:
            return kind, cls.__name__
    return "", ""


def odd_layers(model: nn.Module) -> list[str]:
    """The names of the torch layers (other activations, dropouts, norms) ``model`` holds beside ReLU."""
    return sorted({_kind(m)[1] for m in model.modules()} - {"", "ReLU"})


def moded(model: nn.Module) -> bool:
    """Whether ``model`` holds a layer that computes otherwise in training: a dropout that drops, a norm layer."""
    kinds = [(_kind(m)[0], m) for m in model.modules()]
    norms = ("batchnorm", "normalization", "instancenorm")
    return any(k in norms or k == "dropout" and getattr(m, "p", 1) > 0 for k, m in kinds)


def trains_otherwise(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether a copy of ``model`` gives another output for ``x`` in training mode than in eval mode, both from one
    random state; False where it cannot tell (the copy or a run fails, the output is not a tensor)."""
    try:
        twin, outputs = copy.deepcopy(model), []
        for training in (False, True):
            with torch.random.fork_rng(devices=[]), torch.enable_grad():
                torch.manual_seed(0)
                outputs.append(twin.train(training)(x.clone().requires_grad_() * 1))
        eval_out, train_out = (out.detach() for out in outputs)
        return eval_out.shape != train_out.shape or not torch.allclose(eval_out, train_out, rtol=1e-5, atol=1e-6)
    except Exception:  # other guards say what fails
        return False


def plain_weights(model: nn.Module) -> None:
    """Removes the old weight_norm and spectral_norm (pre-hooks that rebuild the weight at each call): plain weights."""
    for layer, hook in [(m, h) for m in model.modules() for h in list(m._forward_pre_hooks.values())]:
        if isinstance(hook, WeightNorm):
            remove_weight_norm(layer, hook.name)
        elif isinstance(hook, SpectralNorm):
            remove_spectral_norm(layer, hook.name)


def linear_size(layer: nn.Module) -> tuple[int, int]:
    """(inputs, outputs) of an nn.Linear, read from its weight; (0, out_features) for a lazy one not yet run."""
    if nn.parameter.is_lazy(weight := layer.weight):
        return 0, getattr(layer, "out_features", 0)
    return weight.shape[-1], weight.shape[0]
