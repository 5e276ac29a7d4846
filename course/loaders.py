"""The loaders: checked before training, their batches unpacked, and their failures explained.

A loader is anything that yields ``(features, targets)`` batches: a ``DataLoader``, a list, a
one-pass generator; the features are a tensor, or a tuple, list or dict of them for a model of several inputs
(a ``Dataset`` whose items are ``((x1, x2), y)``). Mistakes show up before the first epoch (not iterable, a one-pass iterator
needed for several epochs, an endless ``itertools`` iterator) or while batching (a ``Dataset``
whose items the ``DataLoader`` cannot stack, items that are not pairs, no batches at all).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import torch

from course.collate_errors import not_collatable
from course.nested import tensors_in


def _describe(batch: object) -> str:
    if isinstance(batch, torch.Tensor):
        return f"a single tensor of shape {tuple(batch.shape)}"
    if isinstance(batch, Mapping):
        return f"a {type(batch).__name__} with keys {sorted(map(str, batch))}"
    if isinstance(batch, (list, tuple)):
        return f"a {type(batch).__name__} of {len(batch)} item(s): {', '.join(type(b).__name__ for b in batch)}"
    return f"a {type(batch).__name__}"


def not_a_pair(batch: object) -> TypeError:
    """The error for a loader that yields something other than ``(features, targets)`` pairs, saying what it was.

    Example:
        >>> print(not_a_pair(torch.ones(2, 3)))  # doctest: +ELLIPSIS
        the loader should yield (features, targets) pairs of tensors, ...; it yielded a single tensor of shape (2, 3)...
    """
    return TypeError(
        "the loader should yield (features, targets) pairs of tensors, as DataLoader(TensorDataset(x, y)) "
        f"does; it yielded {_describe(batch)}. Make your Dataset's __getitem__ return (x, y), "
        "or build the loader from TensorDataset(features, targets)."
    )


_PARTS = {  # a part of a (features, targets) pair, and how __getitem__ makes it a tensor
    "features x": "(torch.tensor(features, dtype=torch.float32), y) rather than (a list of features, y)",
    "targets y": "(x, torch.tensor([y])) rather than (x, [y])",
}


def to_device(value: object, device: torch.device) -> object:
    """A tensor, or a tuple, list or dict of them (:func:`tensors_in`), moved to ``device``, in the same form."""
    nested = not isinstance(value, torch.Tensor) and bool(tensors_in(value))
    if not nested and callable(getattr(value, "to", None)):  # a tensor, or a batch object with a .to() of its own
        return value.to(device)  # type: ignore[attr-defined]
    if not nested:
        raise TypeError(
            f"to_device moves a tensor, or a tuple, list or dict of tensors, to a device; got {_describe(value)}: "
            "make it a tensor first, torch.as_tensor(value)."
        )
    if isinstance(value, Mapping):
        return {key: to_device(part, device) for key, part in value.items()}
    moved = [to_device(part, device) for part in value]  # type: ignore[attr-defined]
    return moved if isinstance(value, list) else type(value)(*moved) if hasattr(value, "_fields") else tuple(moved)


def not_tensors(batch: object) -> TypeError | None:
    """The error for a ``(features, targets)`` pair of which a part is not a tensor (features: nor tensors in a tuple,
    list or dict, as a model of several inputs takes them), naming that part.

    Example:
        >>> print(not_tensors((torch.ones(2, 3), [torch.zeros(2)])))  # doctest: +ELLIPSIS
        the loader should yield (features, targets) pairs of tensors; it yielded a tuple ..., whose targets y are a list...
    """
    if not isinstance(batch, (list, tuple)) or len(batch) != 2:
        return None
    tensors = {"features x": tensors_in, "targets y": lambda part: isinstance(part, torch.Tensor)}
    odd = [(name, part) for name, part in zip(_PARTS, batch, strict=True) if not tensors[name](part)]
    if not odd:
        return None
    name, part = odd[0]
    return TypeError(
        f"the loader should yield (features, targets) pairs of tensors; it yielded {_describe(batch)}, whose {name} "
        f"are {_describe(part)}, not a tensor. "
        f"Make each part a tensor: your Dataset's __getitem__ should return tensors (or numbers), e.g. {_PARTS[name]}, "
        "as a DataLoader turns a list into a list of batches; convert the parts of batches you build yourself with "
        "torch.as_tensor(...)."
    )


def several_inputs_error(x: object, error: Exception) -> TypeError:
    """The error for a model that failed (``error``) on features of several tensors (a tuple, list or dict of them):
    a model of several inputs takes them so, but a ``DataLoader`` also makes of each item's list of features a list
    of batches, one per feature."""
    return TypeError(
        f"the features x are {_describe(x)}, not one tensor, and the model could not take them "
        f"({type(error).__name__}: {error}). If the model takes one tensor: a DataLoader batches each part of an item's "
        f"list, tuple or dict of features apart, so make __getitem__ return one tensor, e.g. {_PARTS['features x']}. "
        "If the model takes several inputs (forward(self, x) with x1, x2 = x), the error is in its forward: it gets "
        "them as they come here, as one argument."
    )


def batch_to(batch: object, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Unpack a ``(features, targets)`` batch and move both to ``device`` (features of several tensors: each one, in
    their tuple, list or dict); a clear error if it is not one.

    Example:
        >>> x, y = batch_to([torch.ones(2, 1), torch.zeros(2)], torch.device("cpu"))
        >>> x.shape, y.shape
        (torch.Size([2, 1]), torch.Size([2]))
    """
    x, y = batch if type(batch) in (tuple, list) and len(batch) == 2 else (None, None)  # type: ignore[arg-type,misc]
    if type(x) is torch.Tensor and type(y) is torch.Tensor and not (x.is_meta or y.is_meta):  # each step: the fast way
        return x.to(device), y.to(device)
    if (error := not_tensors(batch)) is not None:
        raise error
    try:
        if isinstance(batch, torch.Tensor):
            raise TypeError
        x, y = batch
        return to_device(x, device), y.to(device)  # type: ignore[return-value]
    except (TypeError, ValueError, AttributeError):
        raise not_a_pair(batch) from None
    except NotImplementedError:  # "Cannot copy out of meta tensor"
        raise on_meta("the loader's batch") from None


def on_meta(what: str) -> ValueError:
    """The error for data on the meta device, which has shapes but no values.

    Example:
        >>> print(on_meta("x"))  # doctest: +ELLIPSIS
        x is on the meta device: it has a shape but no values, so nothing can be computed from it...
    """
    return ValueError(
        f"{what} is on the meta device: it has a shape but no values, so nothing can be computed from it. "
        "Create the data on a real device (without device='meta'), e.g. torch.randn(..., device='cpu')."
    )


def batches(loader: Iterable, name: str) -> Iterator[object]:
    """The loader's batches; a ``DataLoader`` that cannot batch its ``Dataset``'s items gets an error naming the fix.

    Only errors raised while the loader makes a batch are read (by PyTorch's exact words), so an
    error in the training step itself passes through unchanged.

    Example:
        >>> from torch.utils.data import DataLoader
        >>> next(batches(DataLoader([(object(), 1.0)] * 2, batch_size=2), "train_loader"))
        Traceback (most recent call last):
        TypeError: train_loader could not batch its Dataset's items: default_collate: batch must contain ...
    """
    iterator = iter(loader)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except (TypeError, RuntimeError, KeyError, ValueError, AttributeError) as exc:
            if (error := not_collatable(exc, name)) is None:
                raise
            raise error from None
        yield batch


def check_loader(loader: object, name: str) -> None:
    """Raise a ``TypeError`` naming the fix unless ``loader`` can be iterated.

    Example:
        >>> check_loader(None, "loader")
        Traceback (most recent call last):
        TypeError: loader should be a DataLoader (or any iterable) of (features, targets) batches, got None...
    """
    fix = (
        "Build one with DataLoader(TensorDataset(x, y), batch_size=64), or wrap tensors as a one-batch list, [(x, y)]."
    )
    if isinstance(loader, (Mapping, str, bytes)):  # iterable, but over its keys or characters, not batches
        parts = "keys" if isinstance(loader, Mapping) else "characters"
        keys = f" with keys {sorted(map(str, loader))[:5]}" if isinstance(loader, Mapping) else ""
        raise TypeError(
            f"{name} should be a DataLoader (or any iterable) of (features, targets) batches, got a "
            f"{type(loader).__name__}{keys}: going over it gives its {parts}, not batches. {fix}"
        )
    if (error := _tensors_not_loader(loader, name)) is not None:
        raise error
    if isinstance(loader, Iterable):  # None is not
        return
    got = "None" if loader is None else type(loader).__name__
    raise TypeError(f"{name} should be a DataLoader (or any iterable) of (features, targets) batches, got {got}. {fix}")


def _tensors_not_loader(loader: object, name: str) -> TypeError | None:
    """The error for tensors passed where a loader goes: going over them gives tensors (rows, or x then y), never
    the (x, y) pairs a batch is; None for anything else."""
    parts, arrays = len(loader) if isinstance(loader, (list, tuple)) else 0, (torch.Tensor, np.ndarray)
    if isinstance(loader, arrays):
        what = f"a {'tensor' if isinstance(loader, torch.Tensor) else 'NumPy array'} of shape {tuple(loader.shape)}"
    elif parts and all(isinstance(part, arrays) for part in loader):  # type: ignore[union-attr]
        kinds = sorted({"tensor" if isinstance(part, torch.Tensor) else "array" for part in loader}, reverse=True)  # type: ignore[union-attr]
        what = f"a {type(loader).__name__} of {parts} " + " and ".join(k + "s" * (parts > 1) for k in kinds)  # mixed
    else:
        return None
    numpy = " (NumPy arrays: make them tensors first, torch.as_tensor(x, dtype=torch.float32))" * ("array" in what)
    return TypeError(
        f"{name} is {what}, not a loader: a loader yields (inputs, targets) batches, but going over tensors gives "
        "their rows, and over (x, y) gives x, then y. For tensors x and y, pass [(x, y)] (one batch) or "
        f"DataLoader(TensorDataset(x, y), batch_size=32) (mini-batches){numpy}."
    )


def no_batches(loader: object, name: str) -> ValueError:
    """The error for a loader that yielded no batches, saying why when the loader can tell.

    Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> loader = DataLoader(TensorDataset(torch.ones(3, 1), torch.ones(3, 1)), batch_size=4, drop_last=True)
        >>> print(no_batches(loader, "loader"))
        loader yielded no batches: drop_last=True drops the only, incomplete batch (3 samples, batch_size=4)...
    """
    try:
        size = len(loader.dataset)  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        size = None
    batch_size = getattr(loader, "batch_size", None)
    if getattr(loader, "drop_last", False) and size and batch_size and size < batch_size:
        return ValueError(
            f"{name} yielded no batches: drop_last=True drops the only, incomplete batch ({size} samples, "
            f"batch_size={batch_size}). Use drop_last=False, or a batch size of at most {size}."
        )
    if size == 0:
        return ValueError(f"{name} yielded no batches: its dataset is empty (0 samples). Check how it was built.")
    if isinstance(loader, Iterator):
        return ValueError(
            f"{name} yielded no batches: it is an iterator (a generator, or iter(...)) that yielded nothing: it is "
            "empty, or an earlier pass used it up (an iterator runs once). Pass a list of batches or a DataLoader."
        )
    return ValueError(f"{name} yielded no batches: check that its dataset is not empty.")


def check_endless(loader: object, name: str) -> None:
    """Raise a ``ValueError`` if ``loader`` is one of ``itertools``'s endless iterators, over which a pass never ends.

    Any other endless iterable cannot be recognised in general: a pass over it never ends.

    Example:
        >>> check_endless(itertools.repeat(1), "loader")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: loader is an endless iterator (itertools.repeat): one pass over it would never end...
    """
    endless = isinstance(loader, (itertools.count, itertools.cycle)) or (
        isinstance(loader, itertools.repeat) and operator.length_hint(loader, -1) < 0
    )
    if endless:
        raise ValueError(
            f"{name} is an endless iterator (itertools.{type(loader).__name__}): one pass over it would never end. "
            "Pass a finite list of batches, e.g. [(x, y)] * 10, or a DataLoader."
        )


def check_reusable(loader: object, name: str, passes: int) -> None:
    """Raise a ``TypeError`` if ``loader`` is a one-pass iterator but is needed for several ``passes``.

    Example:
        >>> check_reusable(iter([(1, 2)]), "train_loader", 3)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        TypeError: train_loader is an iterator (a generator, or iter(...)): it is used up after one pass, ...
    """
    if passes > 1 and isinstance(loader, Iterator):
        raise TypeError(
            f"{name} is an iterator (a generator, or iter(...)): it is used up after one pass, but fit goes over it "
            f"once per epoch ({passes} passes). Pass the DataLoader itself, or the batches as a list: list(batches)."
        )


def check_loaders(loaders: Mapping[str, object], passes: int) -> None:
    """Check each named loader (None is left out, except a ``train_loader``) for ``passes`` passes over it.

    Example:
        >>> check_loaders({"train_loader": [(torch.ones(1), torch.ones(1))], "val_loader": None}, passes=3)
        >>> check_loaders({"loader": None}, passes=1)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        TypeError: loader should be a DataLoader (or any iterable) of (features, targets) batches, got None...
    """
    if not isinstance(loaders, Mapping):
        raise TypeError(f"check_loaders expects a dict of names to loaders, e.g. {{'train_loader': loader}}; got "
                        f"{type(loaders).__name__}.")  # fmt: skip
    for name, loader in loaders.items():
        if loader is not None or name != "val_loader":
            check_loader(loader, name)
            check_endless(loader, name)
            check_reusable(loader, name, passes)
