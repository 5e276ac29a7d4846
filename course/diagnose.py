"""Explain a mini-batch that fails: the step's inputs, the forward pass and the loss.

Torch's errors inside a model (a Linear's or convolution's input shape, an Embedding's id) say which tensor,
shape, dtype or device, and the fix; the loss is checked by :mod:`course.loss_checks` and :mod:`course.loss_values`,
a loss no longer finite by :mod:`course.divergence`. Refused before training: a loader with no batch, a last batch
of 1 for BatchNorm, an optimizer whose step needs a closure. All going well, a batch costs one shape comparison.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.utils.data import BatchSampler, DataLoader

from course.device import device_error, dtype_error, ids_error, is_device_mismatch, is_dtype_mismatch, model_device
from course.divergence import empty_batch, untouched
from course.loaders import batch_to, check_loaders, no_batches, on_meta, several_inputs_error
from course.loss_checks import loss_of
from course.loss_result import check_outputs, check_real, check_scalar, no_graph
from course.loss_values import check_last_layer, check_not_inference, check_values
from course.nested import tensors_in
from course.pair_errors import float_targets

_ONE_VALUE = "Expected more than 1 value per channel when training"  # BatchNorm's words for a batch of 1
_TRAINING = ("in training mode, which needs at least 2 to compute a mean and a variance. Drop the last, incomplete "
             "batch with DataLoader(..., drop_last=True) (a batch_sampler: BatchSampler(..., drop_last=True), or no batch of 1 "
             "in your own), or choose a batch size that divides the number of samples.")  # fmt: skip
_NO_STATS = ("built with track_running_stats=False, which normalises with the batch's own mean and variance even in "
             "eval mode, so it needs 2 samples or more: build it with track_running_stats=True, or pass batches of 2+.")  # fmt: skip
_PRODUCT = re.compile(r"\((\d+)x(\d+) and (\d+)x(\d+)\)")  # torch's mat1 (rows x width) and mat2 (in x out)
_CONV_RANK = re.compile(r"input to conv(?P<d>\d)d, but got input of size: \[(?P<shape>[\d, ]*)\]")
_CONV_CHANNELS = re.compile(
    r"expected input\[(?P<shape>[\d, ]+)\] to have (?P<want>\d+) channels, but got (?P<have>\d+)"
)


def check_tensors(x: object, y: object) -> None:
    """Raise a clear error unless the features ``x`` and targets ``y`` are tensors with values and samples.
    A step's batch must be tensors (``TypeError``; x: or a tuple, list or dict of them, a model's inputs), not on the
    meta device and not empty (a ``ValueError``: an empty batch's mean loss is NaN). Only attributes are read.
    Example:
        >>> check_tensors([1.0], torch.ones(1))
        Traceback (most recent call last):
        TypeError: x should be a torch.Tensor, got list. Convert it once with torch.as_tensor(x, dtype=torch.float32).
    """
    for name, tensors in (("x", tensors_in(x)), ("y", [y] if isinstance(y, torch.Tensor) else [])):
        if not tensors:
            raise TypeError(
                f"{name} should be a torch.Tensor, got {type(x if name == 'x' else y).__name__}. "
                f"Convert it once with torch.as_tensor({name}, dtype=torch.float32)."
            )
        if any(t.is_meta for t in tensors):
            raise on_meta(name)
    if (empty := empty_batch(None, tensors_in(x)[0])) is not None:
        raise empty


def model_output(model: nn.Module, x: torch.Tensor) -> object:
    """``model(x)``; an Embedding's id out of range, a batch of 1 for BatchNorm, x of several tensors: explained."""
    try:
        return model(x)
    except IndexError as exc:  # an Embedding given an id it has no row for
        raise ids_error(model, x, exc) from None
    except ValueError as exc:
        norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if _ONE_VALUE not in str(exc) or not any(m.training or m.running_mean is None for m in norms):
            raise  # another layer's words (GroupNorm's, a layer of your own)
        why = _TRAINING if any(m.training for m in norms) else _NO_STATS
        raise ValueError(f"a batch of {len(tensors_in(x)[0])} sample reached a BatchNorm layer {why}") from None
    except (TypeError, AttributeError) as exc:  # x of several tensors: a list of features, or a model's inputs
        raise exc if isinstance(x, torch.Tensor) else several_inputs_error(x, exc)  # noqa: B904 (chained: exc shows)


def forward_loss(
    model: nn.Module, loss_fn: object, x: torch.Tensor, y: object, values: bool = False, seen: Callable | None = None
) -> torch.Tensor:
    """The model's loss on one batch (:func:`model_output`), checked (:func:`course.loss_checks.loss_of`), targets in
    the loss's range (:func:`course.loss_values.check_values`); with ``values``, the predictions (a logsumexp: once per
    pass) and the last layer (:func:`course.loss_values.check_last_layer`) too; ``seen``: :mod:`course.seen_batches`.
        >>> forward_loss(nn.Linear(1, 1, bias=False).requires_grad_(False), nn.MSELoss(), torch.zeros(2, 1), torch.ones(2, 1))
        tensor(1.)
    """
    pred = check_outputs(model_output(model, x), loss_fn)  # a tensor, or a tuple or dict for a loss of one's own
    if seen is not None:  # the same checks, those of shapes and dtypes once per signature of the pass's batches
        loss = seen(pred, loss_fn, y, model, values)
    else:
        loss = check_real(check_scalar(loss_of(pred, loss_fn, y, model)))
        check_values(pred, y, loss_fn, first=values)  # after the loss, so that wrong shapes are named first
    if values:
        check_last_layer(model, loss_fn)
    return loss


def check_plain_step(optimizer: torch.optim.Optimizer, who: str) -> None:
    """Refuse an optimizer whose ``step`` needs a closure (``LBFGS``): ``who`` calls ``optimizer.step()`` without one.
    Its parameters must not be inference tensors (:func:`course.loss_values.check_not_inference`). Example:
        >>> check_plain_step(torch.optim.LBFGS(nn.Linear(1, 1).parameters()), "fit")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        TypeError: LBFGS.step needs a closure (a function that computes the loss again, as it may several times per step), but fit calls optimizer.step() without a closure...
    """
    check_not_inference(optimizer)
    try:  # a scheduler wraps step: its signature may show self, (self, closure=None)
        closure = inspect.signature(optimizer.step).parameters.get("closure")
    except (TypeError, ValueError):  # no signature to read
        return
    if closure is not None and closure.default is inspect.Parameter.empty:
        name = type(optimizer).__name__
        raise TypeError(
            f"{name}.step needs a closure (a function that computes the loss again, as it may several times per step), "
            f"but {who} calls optimizer.step() without a closure. Train with an optimizer that needs none, e.g. torch."
            "optim.Adam(model.parameters(), lr=0.01), or write the loop yourself: def closure(): optimizer.zero_grad(); "
            "loss = loss_fn(model(x), y); loss.backward(); return loss, then optimizer.step(closure)."
        )


def check_run(
    model: nn.Module, optimizer: torch.optim.Optimizer, loaders: dict[str, object], passes: int, who: str
) -> None:
    """Before ``who`` passes over ``loaders``: :func:`check_plain_step`, :func:`check_loaders`, :func:`check_batches`."""
    check_plain_step(optimizer, who)
    check_loaders(loaders, passes)
    check_batches(model, loaders, passes)


def check_batches(model: nn.Module, loaders: dict[str, object], passes: int) -> None:
    """Before training: a ``ValueError`` for a loader whose length is 0, or if the first (trained on), a ``DataLoader``,
    ends each epoch on a batch of one sample, which a BatchNorm layer of the model cannot take in training mode.
    Found only in the middle of training, either would leave the model changed. A loader without a length (a
    generator) is not checked, nor are batches whose size the ``DataLoader`` alone does not decide (a ``BatchSampler``
    subclass's own). Example:
        >>> check_batches(nn.Linear(1, 1), {"train_loader": [(torch.ones(2, 1), torch.ones(2, 1))], "val_loader": []}, 1)
        Traceback (most recent call last):
        ValueError: val_loader yielded no batches: check that its dataset is not empty. (Its length is 0, found before training: nothing changed.)
    """
    device = model_device(model)  # one device, not meta: checked even with nothing to probe
    for name, loader in loaders.items() if passes else ():
        try:
            empty = loader is not None and len(loader) == 0  # type: ignore[arg-type]
        except Exception:  # no length: a generator, an IterableDataset
            continue
        if empty:
            raise ValueError(f"{no_batches(loader, name)} (Its length is 0, found before training: nothing changed.)")
    name, loader = next(iter(loaders.items()), ("", None))  # no loader at all: nothing to check
    batcher = getattr(loader, "batch_sampler", None)  # batch_size=n makes one; batch_sampler=... is one
    plain = isinstance(batcher, BatchSampler) and type(batcher).__iter__ is BatchSampler.__iter__  # a subclass's: any
    if passes and isinstance(loader, DataLoader) and plain and not batcher.drop_last:  # type: ignore[union-attr]
        _check_last_batch(model, loader, name, device)


def _check_last_batch(model: nn.Module, loader: DataLoader, name: str, device: torch.device) -> None:
    lazy = any(isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in model.modules())  # type: ignore[operator]
    if lazy or not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return
    try:
        samples, size = len(loader.batch_sampler.sampler), loader.batch_sampler.batch_size  # type: ignore[union-attr]
        if (samples % size or size) != 1 or not _fails_alone(
            model, lambda: loader.collate_fn([loader.dataset[0]]), device
        ):
            return
    except Exception:  # a sampler without a length, a dataset that cannot be indexed by 0: found while training
        return
    other = next((b for d in range(1, size + 2) for b in (size + d, size - d) if b > 1 and samples % b != 1), None)
    example = f" (e.g. {other})" if other else ""
    where = "DataLoader" if loader.batch_size else "the BatchSampler given as batch_sampler, BatchSampler"
    drop = f"Drop that batch with {where}(..., drop_last=True), or choose a batch size that leaves at least 2"
    fix = f"{drop} samples in the last batch{example}" if size > 1 else f"Choose a batch size of at least 2{example}"
    raise ValueError(
        f"{name} ends every epoch on a batch of 1 sample ({samples} samples, batch_size={size}), but the model's "
        "BatchNorm layer needs at least 2 in training mode to compute a mean and a variance: training would fail at "
        f"the end of the first epoch, after changing the weights. {fix}. (Checked before training: nothing changed.)"
    )


def _fails_alone(model: nn.Module, batch: Callable[[], object], device: torch.device) -> bool:
    """Whether a BatchNorm layer refuses the batch of one sample ``batch()`` reads, in training mode (modes, buffers
    and random states put back: a dataset's random augmentation draws no number training would have drawn)."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.train()
        with untouched(model), torch.no_grad():
            model(batch_to(batch(), device)[0])
    except ValueError as exc:
        return _ONE_VALUE in str(exc)
    finally:
        for module, training in modes:
            module.training = training
    return False


def _first_layer(model: nn.Module) -> nn.Module | None:  # of a plain nn.Sequential (nested too): x reaches it first
    while isinstance(model, nn.Sequential) and type(model).forward is nn.Sequential.forward:
        model = next((m for m in model if next(m.parameters(), None) is not None), None)  # type: ignore[assignment]
    return model


def _unbatched(model: nn.Module, x: torch.Tensor, text: str) -> ValueError | None:
    """The error for x of one sample without its batch dimension: a convolution takes it, a Linear after it fails."""
    conv = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
    if conv is None or x.ndim != len(conv.kernel_size) + 1 or x.shape[0] != conv.in_channels:
        return None
    sizes = ("C, L", "C, H, W", "C, D, H, W")[min(3, x.ndim - 1) - 1]
    return ValueError(
        f"the features x have shape {tuple(x.shape)}, which the model's {type(conv).__name__} reads as one sample without a "
        f"batch dimension, ({sizes}), so the layers after it see none either (torch said: {text}). Add it: x = "
        f"x.unsqueeze(0), of shape {(1, *x.shape)} (a batch of N samples has shape (N, {sizes}))."
    )


def _width_error(model: nn.Module, x: torch.Tensor, text: str) -> ValueError | None:
    """The Linear torch names (by its shapes) and who gave it the wrong width: x (it is the first layer, or x's width
    fits no Linear), x lacking its batch dimension (a conv took it), else the layers before it; also a 0-D or 1-D x."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear) and m.in_features > 0]
    shapes = _PRODUCT.search(text)
    named = next((m for m in linears if shapes and (m.in_features, m.out_features) == (int(shapes[3]), int(shapes[4]))),
                 None)  # fmt: skip
    first = named or (linears[0] if linears else None)
    if first is None or (x.ndim >= 2 and named is None):
        return None  # no Linear of the model (a product by hand): torch's own words
    if x.ndim == 0:
        return ValueError(
            f"x is a single number (shape ()), but the model takes a batch of samples, each of {first.in_features} "
            "feature(s): give it a batch shape, x = x.view(1, -1)."
        )
    if x.ndim == 1 and first.in_features == 1:
        return ValueError(
            f"the features x have shape {tuple(x.shape)}, but the model's first layer expects one feature per sample "
            "in a column, shape (N, 1): x = x.view(-1, 1) (or x.unsqueeze(1))."
        )
    width = x.shape[-1]
    reached = named is _first_layer(model) or not any(m.in_features == width for m in linears)
    if x.ndim == 1 or (int(shapes[2]) == width and reached):
        return ValueError(
            f"the features x have shape {tuple(x.shape)}, {width} per sample, but the layer that takes them, "
            f"Linear(in_features={first.in_features}, out_features={first.out_features}), expects {first.in_features}. "
            f"Build it as nn.Linear({width}, {first.out_features}), or pass the feature columns the model was built for."
        )
    return _unbatched(model, x, text) or ValueError(
        f"the layer Linear(in_features={first.in_features}, out_features={first.out_features}) received inputs of "
        f"width {shapes[2]} (their last dimension; torch said: shapes cannot be multiplied {shapes[0]}), made by the "
        f"layers before it from x of shape {tuple(x.shape)}. Build it as nn.Linear({shapes[2]}, {first.out_features}), "
        "or change the layers before it."
    )


def explain(error: RuntimeError, model: nn.Module, x: torch.Tensor, y: object) -> BaseException:
    """The error to raise for a batch on which the model or the loss failed: a clearer one when we know the cause.

    Recognises tensors on different devices (PyTorch's exact message), x's dtype not the weights', a Linear given the
    wrong width (x's, if it reached it), a convolution the wrong rank or channels (x of one tensor); else torch's error.
    Example:
        >>> print(explain(RuntimeError("shapes cannot be multiplied (2x4 and 3x1)"), nn.Linear(3, 1), torch.ones(2, 4), 0))
        the features x have shape (2, 4), 4 per sample, but the layer that takes them, Linear(in_features=3, ...
    """
    text = str(error)
    if is_device_mismatch(error):
        return device_error(model, x, y, text)
    found: BaseException | None = None
    if "does not require grad and does not have a grad_fn" in text:
        found = no_graph(model)  # recording off, a frozen model, or a loss cut from the model
    elif not isinstance(x, torch.Tensor):  # several inputs: which one met the layer, only the model knows
        found = None
    elif is_dtype_mismatch(text) or "'indices'" in text:
        found = dtype_error(model, x, y, text) or float_targets(y, text)  # y's: a loss's backward
    elif "shapes cannot be multiplied" in text or "need to be at least 1D" in text:
        found = _width_error(model, x, text)
    elif "input to conv" in text or "channels, but got" in text:
        found = _conv_error(x, text)
    return found or error


def _conv_error(x: torch.Tensor, text: str) -> ValueError | None:
    """A convolution given input of the wrong rank, or of the wrong number of channels (dimension 1)."""
    if (found := _CONV_RANK.search(text) or _CONV_CHANNELS.search(text)) is None:
        return None
    shape = [int(v) for v in found["shape"].split(", ") if v]
    mine, ranked, rank = shape == list(x.shape), found.re is _CONV_RANK, len(shape)
    unbatched = not ranked and shape == [1, *x.shape]  # torch read x as one sample: it added the batch dimension
    sizes = ("L", "H, W", "D, H, W")[min(3, max(1, int(found["d"]) if ranked else rank - 2)) - 1]
    if ranked:
        fix = f"N samples of C channels; reshape it, e.g. x = x.view(-1, 1, {sizes}) for flattened one-channel data"
    elif unbatched:
        one = found["want"] == "1"
        fix = "the channel dimension is missing, x = x.unsqueeze(1)" if one else f"give it x of shape (N, C, {sizes})"
    elif not mine and rank > 2 and x.ndim and shape[:2] == [1, len(x)] > [1, 1]:  # the model's reshape dropped C
        c = ", ".join(map(str, [found["want"], *shape[2:]]))
        fix = f"the batch, read as one sample. Keep C where the model reshapes x: x.view(-1, {c}) or nn.Unflatten(1, ({c}))"
    elif mine and rank > 2 and shape[-1] == int(found["want"]):  # channels last, as NumPy and PIL keep images
        fix = f"its channels come last, so x = x.permute(0, {rank - 1}, {', '.join(map(str, range(1, rank - 1)))})"
    else:
        fix = f"build the layer with in_channels={found['have']}, or give it inputs of {found['want']} channels"
    got = "the features x have" if mine else f"earlier layers turned x of shape {tuple(x.shape)} into"
    if unbatched:
        got = f"the features x of shape {tuple(x.shape)} lack a dimension: torch read them as one sample, of"
    more = "" if ranked else f", here C = {found['want']}, but dimension 1 holds {found['have']}"
    return ValueError(f"{got} shape {tuple(shape)}, but a convolution takes (N, C, {sizes}){more}: {fix}.")
