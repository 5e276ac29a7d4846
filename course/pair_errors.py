"""Predictions and targets that do not pair up sample by sample, told in words that name the fix.

Other lengths (:func:`lengths_error`: another number of targets, or a time-major output, :func:`time_major`), and
shapes a loss would broadcast, stretch, or cannot compare place by place (:func:`spread_error`), the model's last
layer named when it gives the wrong number of values per sample; targets of an integer or bool dtype a loss needs
as floats, or given first (:func:`float_targets`), and a model's output of such a dtype, its scores rounded away
(:func:`integer_output`; a float loss that took it, :func:`integer_cut`), complex numbers where real ones are taken
(:func:`complex_error`). :mod:`course.loss_checks` finds them.
"""

from __future__ import annotations

import contextlib
import functools
import re

import torch
from torch import nn

# layers whose outputs are time-major (T, N, ...) without batch_first=True, or (cells) stacked by a loop over steps
_TIME_MAJOR = (nn.RNNBase, nn.RNNCellBase, nn.MultiheadAttention, nn.Transformer, nn.TransformerEncoderLayer,
               nn.TransformerDecoderLayer)  # fmt: skip


def unwrapped_loss(loss_fn: object) -> tuple[object, dict]:
    """The loss behind ``functools.partial`` (nested too), and the keywords given to it."""
    keywords: dict = {}
    while isinstance(loss_fn, functools.partial):
        loss_fn, keywords = loss_fn.func, {**loss_fn.keywords, **keywords}
    return loss_fn, keywords


def is_torch_loss(loss_fn: object) -> bool:
    """Whether ``loss_fn`` is one of torch's losses, a module or a function (also behind ``functools.partial``): they
    take one tensor of predictions, one per target; a loss of one's own may take anything and compare any shapes.
    Example:
        >>> is_torch_loss(nn.MSELoss()), is_torch_loss(nn.functional.cross_entropy), is_torch_loss(lambda out, y: out)
        (True, True, False)
    """
    base = unwrapped_loss(loss_fn)[0]
    return (getattr(type(base) if isinstance(base, nn.Module) else base, "__module__", "") or "").startswith("torch.")


def broadcast_shape(*shapes: torch.Size) -> torch.Size | None:
    """The shape tensors of these shapes broadcast to, None if they do not. Example:
    >>> broadcast_shape(torch.Size([4, 1]), torch.Size([4])), broadcast_shape(torch.Size([4, 2]), torch.Size([3]))
    (torch.Size([4, 4]), None)
    """
    with contextlib.suppress(RuntimeError):
        return torch.broadcast_shapes(*shapes)
    return None


def time_major(pred: torch.Tensor, target: torch.Tensor) -> bool:
    """Whether ``pred`` is evidently time-major, (T, N, ...) for N targets: an RNN's output without batch_first=True,
    whose last step ``out[-1]`` a loss of one's own may score. Example:
    >>> time_major(torch.zeros(5, 8, 2), torch.zeros(8)), time_major(torch.zeros(5, 2), torch.zeros(8))
    (True, False)
    """
    return pred.ndim >= 3 and target.ndim > 0 and pred.shape[1] == len(target)


def _last_layer(model: object, pred: torch.Tensor, target: torch.Tensor) -> str:
    n = target.shape[-1] if pred.ndim == target.ndim > 1 and pred.shape[:-1] == target.shape[:-1] else 0
    want = f"out_features={n}, one per target column" if n else "out_features = the number of target columns"
    modules = reversed(list(model.modules())) if isinstance(model, nn.Module) else ()
    if (last := next((m for m in modules if isinstance(m, nn.Linear)), None)) is None:  # no model, or no Linear
        return f"Make the model's output match the targets (build its last layer with {want})"
    return (
        f"The model's last layer, Linear(in_features={last.in_features}, out_features={last.out_features}), gives "
        f"{last.out_features} value(s) per sample: build it with {want}"
    )


def _reshape(pred: torch.Tensor, target: torch.Tensor) -> str:
    view = ", ".join(["-1", *map(str, pred.shape[1:])]) if pred.ndim > 1 else str(pred.numel())
    if pred.ndim < target.ndim and len(target) == 1 and pred.shape == tuple(d for d in target.shape if d != 1):
        return (
            "a batch of one sample (as a loader's last batch may be), whose batch dimension the model's output lost, "
            "most likely to .squeeze() in forward(), which drops every dimension of size 1, the samples' too: squeeze "
            "only the output's column, out.squeeze(-1) (or out.squeeze(1)), not out.squeeze()"
        )
    if target.ndim == 0 and pred.numel() == 1:
        return (
            f"give the target the prediction's shape, y = y.view({view}) (a loader with batch_size=None yields one "
            "sample at a time: build its data set with targets of shape (N, 1), TensorDataset(x, y.view(-1, 1)))"
        )
    return f"give the targets the predictions' shape, y = y.view({view})"


def _batch_first(layer: nn.Module) -> bool:  # a TransformerEncoderLayer's is its attention's
    return bool(getattr(layer, "batch_first", getattr(getattr(layer, "self_attn", None), "batch_first", False)))


def _named(layers: list) -> str:
    names = list(dict.fromkeys(type(m).__name__.removesuffix("Base") for m in layers))
    return " and the ".join([", the ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def _samples_first(layers: list, first: int, n: int) -> str:
    """How to put the samples first in the time-major output (``first`` its dimension 0, ``n`` targets) of a model
    with these recurrent or attention ``layers`` (none: a model not known, an RNN's words): build every one not
    batch_first with batch_first=True, stack a cell's steps on dimension 1, or, every layer batch_first already, the
    causes that apply: an RNN's h_n (named first when ``first`` is its number of layers), a transposed output, x
    time-major."""
    if not layers or (late := [m for m in layers if not isinstance(m, nn.RNNCellBase) and not _batch_first(m)]):
        which = _named(late) if layers else "RNN"
        return f"build the {which} with batch_first=True, or score out[-1] in a loss of your own"
    if cells := [m for m in layers if isinstance(m, nn.RNNCellBase)]:
        return f"stack the {type(cells[0]).__name__}'s steps on dimension 1, or score out[-1] in a loss of your own"
    rnns = [m for m in layers if isinstance(m, nn.RNNBase)]  # h_n (and c_n): (layers * directions, N, H) always
    stacked = [m for m in rnns if m.num_layers * (2 if m.bidirectional else 1) == first != n]
    causes = [
        "forward() transposes or permutes its output (keep the samples first)",
        "the data is time-major, (T, N, F), where the layers take (N, T, F): give them x.transpose(0, 1)",
    ]
    if rnns:
        rnn = (stacked or rnns)[0]
        h_n = (f"the {type(rnn).__name__}'s last hidden state h_n is (num_layers * directions, N, H) whatever "
               "batch_first: score h_n[-1], the last layer's")  # fmt: skip
        causes.insert(0 if stacked else 2, h_n)
    named = _named(layers)
    return (
        f"the {named} {'are' if ' and the ' in named else 'is'} already batch_first=True, so something else puts "
        f"time (or layers) first. Either {'; or '.join(causes)}"
    )


def lengths_error(pred: torch.Tensor, target: torch.Tensor, text: str = "", model: object = None) -> ValueError:
    """The error for predictions of another length than the targets (``text``: torch's words, if the loss failed).
    An evidently time-major output (:func:`time_major`) of a ``model`` with a recurrent or attention layer (or of one
    not known) is told how to put its samples first; any other model's, its shapes plainly. Example:
        >>> print(lengths_error(torch.zeros(1, 1), torch.zeros(8)))  # doctest: +ELLIPSIS
        the model gave 1 predictions but 8 target(s) came with them (shapes (1, 1) and (8,)): each sample needs ...
    """
    fix = "Check that features and targets have the same length, e.g. TensorDataset(x, y) with len(x) == len(y)."
    known = isinstance(model, nn.Module)  # a model not known: an RNN's words
    layers = [m for m in model.modules() if isinstance(m, _TIME_MAJOR)] if known else []
    inner = {id(part) for m in layers for part in list(m.modules())[1:]}  # a Transformer layer's attention: its own
    layers = [m for m in layers if id(m) not in inner]
    if time_major(pred, target) and (layers or not known):
        fix = f"Its dimension 1 holds them: {_samples_first(layers, len(pred), len(target))}."
    return ValueError(
        f"the model gave {len(pred)} predictions but {len(target)} target(s) came with them (shapes {tuple(pred.shape)} "
        f"and {tuple(target.shape)}){f' (torch said: {text})' if text else ''}: each sample needs its own target. {fix}"
    )


def spread_error(
    pred: torch.Tensor, target: torch.Tensor, both: torch.Size | None, model: nn.Module | None, warn: bool = False
) -> ValueError:
    """The error (or ``warn``: the warning's text) for shapes that differ, broadcast to ``both`` (None: they do not).
    Example:
        >>> print(spread_error(torch.zeros(4, 1), torch.zeros(4), torch.Size([4, 4]), None))  # doctest: +ELLIPSIS
        the predictions have shape (4, 1) but the targets (4,): the loss would broadcast them to (4, 4) and compare ...
    """
    p, t = tuple(pred.shape), tuple(target.shape)
    start, fix = f"the predictions have shape {p} but the target", _last_layer(model, pred, target)
    if both is None:  # a loss comparing element by element cannot pair them at all
        fix = _reshape(pred, target) if pred.numel() == target.numel() else fix
        return ValueError(
            f"{start}s {t}: this loss compares each prediction with the target in the same place, so they need the "
            f"same shape. {fix[0].upper()}{fix[1:]}."
        )
    if both.numel() == pred.numel() == target.numel():  # broadcasting enlarges neither
        return ValueError(
            f"{start} {t}: one value each, but of different shapes, which the loss would broadcast (torch only "
            f"warns): {_reshape(pred, target)}."
        )
    if warn:
        return ValueError(
            f"{start}s {t}: a loss comparing them element by element would stretch each target over "
            f"{pred.numel() // target.numel()} predictions and be silently wrong. If your loss uses the extra columns "
            f"on purpose (quantiles, a mean and a variance), all is well; otherwise {fix[0].lower()}{fix[1:]}."
        )
    if both in (pred.shape, target.shape):
        one, several = ("target", "predictions") if both == pred.shape else ("prediction", "targets")
        return ValueError(
            f"{start}s {t}: the loss would stretch the {one}s to {tuple(both)}, comparing one {one} with several "
            f"{several}, silently giving a wrong loss. {fix}"
            + (", or give the targets the predictions' shape." if both == pred.shape else ".")
        )
    view = ", ".join(["-1", *map(str, p[1:])])
    return ValueError(
        f"{start}s {t}: the loss would broadcast them to {tuple(both)} and compare every prediction with every "
        f"target, silently giving a wrong loss. Give the targets the predictions' shape, y = y.view({view}), or make "
        "the model's output match the targets."
    )


# torch's words for an integer or bool tensor where a loss (or its backward) needs floats, each with the dtype it names
_FLOAT_ONLY = re.compile(
    r"Found dtype (?P<found>\w+) but expected|can't be cast|Integral inputs not supported"
    r"|the `-` operator, \w+ (?:a|two) (?P<bool>bool) tensor|not implemented for '(?P<kernel>\w+)'"
)
_TORCH_NAMES = {torch.int64: "Long", torch.int32: "Int", torch.int16: "Short", torch.int8: "Char", torch.uint8: "Byte",
                torch.bool: "Bool"}  # fmt: skip


def integer_output(pred: object, text: str) -> TypeError | None:
    """The error for a model whose output ``pred`` is of an integer or bool dtype, that the loss failed on as torch's
    words ``text`` tell (a float-only kernel, a cast, a bool subtraction, a mean): its scores were rounded, argmaxed or
    compared away, and the targets are not to blame. None for floating-point predictions. Example:
        >>> print(integer_output(torch.ones(2, dtype=torch.bool), "not implemented for 'Bool'"))  # doctest: +ELLIPSIS
        the model's output is torch.bool, but a loss needs floating-point predictions (torch said: not ...
    """
    if not isinstance(pred, torch.Tensor) or pred.is_floating_point() or pred.is_complex():
        return None
    if not _FLOAT_ONLY.search(text) and "could not infer output dtype" not in text:
        return None
    return TypeError(
        f"the model's output is {pred.dtype}, but a loss needs floating-point predictions (torch said: {text}), and "
        "integers or bools carry no gradient to train on: return the raw scores from forward(), not .round(), "
        ".argmax(), .long() or a comparison of them (round or argmax them afterwards, to report a metric)."
    )


def integer_cut(pred: object, loss: object, model: nn.Module | None) -> object:
    """``loss``, unless gradients are recorded for a model that trains but the loss has no graph because the model's
    output ``pred`` is of an integer or bool dtype (a float loss took it, e.g. nn.MSELoss()): a ``TypeError``."""
    if not (isinstance(pred, torch.Tensor) and isinstance(loss, torch.Tensor) and torch.is_grad_enabled()):
        return loss
    if loss.requires_grad or pred.is_floating_point() or pred.is_complex() or not isinstance(model, nn.Module):
        return loss
    if not any(p.requires_grad for p in model.parameters()):  # a frozen model: no_graph's words
        return loss
    raise TypeError(
        f"the model's output is {pred.dtype} (from .argmax(), .round(), .long() or a comparison), and integers or "
        "bools carry no gradient, so the loss is not connected to the model's parameters and backward() cannot "
        "compute gradients: return the raw scores from forward() (round or argmax them afterwards, to report a metric)."
    )


def float_targets(y: object, text: str, pred: object = None, loss_fn: object = None) -> TypeError | None:
    """The error for targets ``y`` of an integer or bool dtype that the loss needed as floats, as torch's words
    ``text`` tell (a dtype found in its backward, ``HuberLoss``'s; a bool subtraction, ``L1Loss``'s), naming the dtype
    of ``y`` where they name one; None if not theirs. Predictions ``pred`` of an integer dtype are the model's fault
    (:func:`integer_output`). A float-only kernel given them in a loss of one's own: either y (or a tensor made from
    it) needs floats or the loss takes its arguments swapped, which cannot be told without running the loss again
    (with its side effects, its memory and time): both fixes are named, each with its condition. Example:
        >>> print(float_targets(torch.ones(2, dtype=torch.long), "Found dtype Long but expected Float"))
        the targets y are torch.int64, but this loss needs floating-point targets like the predictions: y = y.float().
    """
    if (wrong := integer_output(pred, text) or complex_error(pred, y, text, loss_fn)) is not None:
        return wrong
    if not isinstance(y, torch.Tensor) or y.is_floating_point() or y.is_complex():
        return None
    binary, found, named = isinstance(loss_fn, (nn.BCELoss, nn.BCEWithLogitsLoss)), _FLOAT_ONLY.search(text), ""
    if found:  # the dtype torch names, y's if it names none
        named = next((name for name in found.groupdict().values() if name), _TORCH_NAMES.get(y.dtype, "")).capitalize()
    if not binary and (not found or named != _TORCH_NAMES.get(y.dtype, "")):
        return None
    like = f" ({pred.dtype})" if isinstance(pred, torch.Tensor) else ""
    if not binary and found["kernel"] and not is_torch_loss(loss_fn):  # F.cross_entropy(y, out), or softmax(y)
        return TypeError(
            f"the targets y ({y.dtype}), or a tensor made from them, reached an operation of the loss that takes "
            f"floating-point tensors only (torch said: {text}). The trainer calls loss_fn(output, target): if your "
            "loss takes (output, target), convert the target: y.float() (or F.one_hot(y, C).float() for class indices "
            "made into a distribution); if its arguments are swapped, taking (target, output), put them in that "
            "order: loss_fn(output, target), e.g. F.cross_entropy(output, target)."
        )
    return TypeError(
        f"the targets y are {y.dtype}, but this loss needs floating-point targets like the predictions{like}: "
        "y = y.float()."
    )


def complex_error(pred: object, y: object, text: str = "", loss_fn: object = None) -> TypeError | None:
    """The error for complex numbers where real ones are taken: without torch's words ``text``, targets ``y`` of one of
    torch's losses given real predictions ``pred`` (refused before it runs: L1Loss trains on them without a word);
    with words naming a complex dtype, the targets, the model's output, or (``pred`` None: the model failed) x. Example:
        >>> print(complex_error(torch.zeros(1), torch.ones(1) * 1j, "", nn.L1Loss()))  # doctest: +ELLIPSIS
        the targets y are torch.complex64, complex numbers, but this loss takes real ones: ...
    """
    complex_y, complex_pred = (isinstance(t, torch.Tensor) and t.is_complex() for t in (y, pred))
    if not re.search("complex", text, re.IGNORECASE) if text else complex_pred or not is_torch_loss(loss_fn):
        return None
    said, two = f" (torch said: {text})" if text else "", "torch.cat([{0}.real, {0}.imag], dim=1) (twice the columns"
    if pred is None:  # the model (or its backward) met a complex tensor: x's, or one forward() made
        return TypeError(
            f"a complex tensor met the model's real weights{said}: the features x are complex (or forward() made a "
            "complex tensor from them, e.g. with torch.fft), but the model's layers take real numbers. Give it real "
            f"features: x = x.real if their imaginary parts are 0, x.abs() for magnitudes, or both parts, x = "
            f"{two.format('x')}: build the first layer with twice the in_features, or in_channels); or build the "
            "layers complex, e.g. nn.Linear(..., dtype=torch.cfloat), and train on a real loss."
        )
    if complex_pred:
        return TypeError(
            f"the model's output is {pred.dtype}{', and so are the targets' if complex_y else ''}, but this loss takes "
            f"real numbers{said}: return a real output from forward(), out.real, out.abs() or torch.cat([out.real, "
            "out.imag], dim=1), or write a real loss of complex predictions, e.g. ((pred - y).abs() ** 2).mean()."
        )
    if not complex_y:  # a loss of one's own made complex numbers from real ones
        return None
    return TypeError(
        f"the targets y are {y.dtype}, complex numbers, but this loss takes real ones{said}: the model's real "
        "predictions cannot reach their imaginary parts, and training goes wrong. Give it real targets: y = y.real if "
        f"their imaginary parts are 0, y.abs() for magnitudes, or both parts, y = {two.format('y')}: build the last "
        "layer with twice the outputs)."
    )
