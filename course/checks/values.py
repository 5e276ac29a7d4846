"""Compare and describe a learner's values without trusting them: :func:`close` looks at the *expected* value's
type first, so an object that claims to equal everything never passes, and :func:`describe` calls nothing a
hostile object could break."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
import torch

_KINDS = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}


@dataclass(frozen=True)
class Raised:
    """The observation of code that raised: the exception's type name and message."""

    kind: str
    message: str


class PerProbe(list):
    """What an answer gave on each of the check's probe inputs, in order: told as what it returned on each (one
    description when all agree), never as a list the learner did not make.

    >>> describe(PerProbe([0.5, 0.5])), describe(PerProbe([0.25, 0.5]))
    ('0.5', "0.25 on the check's first input, 0.5 on its second")
    """


_ORDINALS = ("first", "second", "third", "fourth")


def safe_text(obj: object, limit: int = 200) -> str:
    """``str(obj)``, cut to ``limit`` characters, or a placeholder if ``__str__`` itself fails.

    >>> safe_text("a long message", limit=9)
    'a long...'
    """
    try:
        text = str.__str__(str(obj))  # a plain str, even when __str__ returns a subclass with its own __len__
    except KeyboardInterrupt:
        raise
    except BaseException:  # SystemExit included: a learner's __str__ must not end the check
        return f"<{_a(type(obj).__name__)} that cannot be printed>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_number(value: object) -> float | None:
    """A Python float from a number, a NumPy scalar or a one-element tensor or array; ``None`` otherwise.

    >>> as_number(torch.tensor([2.5])), as_number(np.float64(1.0)), as_number(Fraction(4, 5)), as_number("3")
    (2.5, 1.0, 0.8, None)
    """
    kind = type(value)  # read by its type, not the __class__ it claims
    try:
        if issubclass(kind, (Fraction, Decimal)):  # exact numbers: float() reads them
            return number if math.isfinite(number := float(value)) else None
        if kind in (torch.Tensor, torch.nn.Parameter):  # a subclass's own __torch_function__ would answer for it
            ok = value.numel() == 1 and value.device.type != "meta" and value.dtype != torch.bool
            return float(value.detach().cpu().reshape(())) if ok and not value.is_complex() else None
        if issubclass(kind, (bool, np.bool_)) or not issubclass(kind, (int, float, np.number, np.ndarray)):
            return None
        array = np.asarray(value)
        return float(array.reshape(())) if array.size == 1 and array.dtype.kind in "iuf" else None
    except BaseException as exc:  # a method that refuses or exits: no number (an interrupt, a stop go on)
        if issubclass(type(exc), KeyboardInterrupt) or type(exc).__name__ == "_Stop":
            raise
        return None


def placeholders(answer: object) -> list[str]:
    """Where a dict, list or tuple as a notebook's template has it still holds the placeholder ``...``: its keys
    (or item numbers), for a message that names them without their answers.

    >>> placeholders({"a": ..., "b": (2, 3)}), placeholders([..., 1.5]), placeholders(...)
    (['a'], ['item 1'], [])
    """
    if type(answer) is dict:
        return [safe_text(key, 30) for key, value in answer.items() if value is Ellipsis]
    items = enumerate(answer, 1) if type(answer) in (list, tuple) else ()
    return [f"item {number}" for number, value in items if value is Ellipsis]


def exact_as_float(value: object) -> object:
    """An exact number (Fraction, Decimal) as the float it stands for; anything else as it came."""
    return float(value) if isinstance(value, Fraction | Decimal) and as_number(value) is not None else value


def _tensor_kind(dtype: torch.dtype) -> str:
    if dtype == torch.bool:
        return "bool"
    return "complex" if dtype.is_complex else "float" if dtype.is_floating_point else "int"


def _close_tensor(got: object, expected: torch.Tensor, rtol: float, atol: float) -> bool:
    if type(got) not in (torch.Tensor, torch.nn.Parameter) or got.device.type == "meta":
        return False
    kind = _tensor_kind(expected.dtype)
    if got.shape != expected.shape or _tensor_kind(got.dtype) != kind:
        return False
    got, expected = got.detach().cpu(), expected.detach().cpu()
    if kind in ("bool", "int"):
        return bool(torch.equal(got.to(torch.int64), expected.to(torch.int64)))
    wide = torch.complex128 if kind == "complex" else torch.float64
    return bool(torch.allclose(got.to(wide), expected.to(wide), rtol=rtol, atol=atol))


def _close_array(got: object, expected: np.ndarray, rtol: float, atol: float) -> bool:
    if isinstance(got, torch.Tensor) and got.device.type != "meta":
        got = got.detach().cpu().numpy()
    if not isinstance(got, np.ndarray) or got.shape != expected.shape:
        return False
    return _KINDS.get(got.dtype.kind) == _KINDS.get(expected.dtype.kind) and bool(
        np.allclose(got, expected, rtol=rtol, atol=atol)
    )


def close(got: object, expected: object, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """True when ``got`` is the same answer as ``expected``: same kind of value, numbers within tolerance.

    Tensors need the same shape and kind of dtype (float, int, bool: int32 equals int64); numbers may come as
    Python, NumPy or one-element tensors; tuples, lists and dicts compare item by item.

        >>> close(torch.tensor([1, 2], dtype=torch.int32), torch.tensor([1, 2])), close(torch.ones(2), torch.ones(1, 2))
        (True, False)
    """
    if isinstance(expected, torch.Tensor):
        return _close_tensor(got, expected, rtol, atol)
    if isinstance(expected, np.ndarray):
        return _close_array(got, expected, rtol, atol)
    if isinstance(expected, (bool, np.bool_)):
        return isinstance(got, (bool, np.bool_)) and bool(got) == bool(expected)
    if isinstance(expected, (int, float, np.number)):
        number = as_number(got)
        return number is not None and math.isclose(number, float(expected), rel_tol=rtol, abs_tol=atol)
    if isinstance(expected, (tuple, list)):
        return (
            isinstance(got, (tuple, list))
            and len(got) == len(expected)
            and all(close(g, e, rtol=rtol, atol=atol) for g, e in zip(got, expected, strict=True))
        )
    if isinstance(expected, Mapping):
        return (
            isinstance(got, Mapping)
            and set(got.keys()) == set(expected.keys())
            and all(close(got[key], expected[key], rtol=rtol, atol=atol) for key in expected)
        )
    return type(got) is type(expected) and bool(expected == got)


def changed(used: object, fresh: object) -> bool:
    """Whether the probe input ``used`` no longer equals its fresh copy: a tensor or an array (values, shape, dtype,
    device), a module (its parameters' and buffers' names, values, shape, dtype and device; its layers' names and
    types and their settings, :func:`_settings`; its mode and requires_grad are the exercise's business), or a list
    (its length, or a number, tensor, array or list in it, also inside a tuple).

        >>> changed(torch.nn.Linear(2, 1).double(), torch.nn.Linear(2, 1)), changed([1, 2], [1, 2])
        (True, False)
    """
    if type(used) is not type(fresh):
        return False
    if isinstance(used, torch.nn.Module):
        if _settings(used) != _settings(fresh):  # a layer replaced (nn.Identity for a Dropout), or its p set to 0
            return True
        state, before = (dict([*m.named_parameters(), *m.named_buffers()]) for m in (used, fresh))
        return state.keys() != before.keys() or any(changed(state[k].detach(), before[k].detach()) for k in state)
    if type(used) in (list, tuple):  # a tuple is not changed, but a list inside it may be
        return len(used) != len(fresh) or any(_item_changed(u, f) for u, f in zip(used, fresh, strict=True))
    if type(used) not in (torch.Tensor, np.ndarray):
        return False
    if used.shape != fresh.shape or used.dtype != fresh.dtype:
        return True
    if type(used) is torch.Tensor:
        if used.device != fresh.device or used.device.type == "meta":  # meta holds no values to compare
            return used.device != fresh.device
        return not torch.equal(used, fresh)
    return not np.array_equal(used, fresh, equal_nan=used.dtype.kind in "fc")


_SETTING_TYPES = (int, float, bool, str, type(None))


def _settings(module: torch.nn.Module) -> list:
    """Each submodule's name and type, with its plain settings (numbers, strings, None, tuples in its ``__dict__``:
    a Dropout's p, a LeakyReLU's negative_slope, inplace), but not its mode or private names; NaN equals itself.

    >>> _settings(torch.nn.Dropout(0.5))
    [('', <class 'torch.nn.modules.dropout.Dropout'>, {'p': 0.5, 'inplace': False})]
    """
    seen = [(name, type(m), vars(m).items()) for name, m in module.named_modules()]
    return [(name, kind, {key: _plain(value) for key, value in items
             if not key.startswith("_") and key != "training" and _plain(value) is not None})
            for name, kind, items in seen]  # fmt: skip


def _plain(value: object) -> object:
    """A setting as compared: a number, bool, string or tuple of them as it is (NaN as "NaN"), None as "None";
    None for anything else."""
    if type(value) is tuple:
        items = [_plain(item) for item in value]
        return None if None in items else tuple(items)
    if type(value) not in _SETTING_TYPES:
        return None
    return "None" if value is None else "NaN" if value != value else value


def _item_changed(used: object, fresh: object) -> bool:
    if type(used) in (int, float, bool) and type(fresh) is type(used):
        return used != fresh and not (used != used and fresh != fresh)  # a NaN is still itself
    return changed(used, fresh)


def tensors_in(observation: object, depth: int = 0) -> list[torch.Tensor]:
    """The tensors of an observation, in order: itself, or those in its lists, tuples and dict values (4 levels).

    >>> len(tensors_in([torch.ones(1), {"a": (torch.ones(2), 3.0)}]))
    2
    """
    if isinstance(observation, torch.Tensor) or depth > 4 or not isinstance(observation, list | tuple | dict):
        return [observation] if isinstance(observation, torch.Tensor) else []
    items = observation.values() if isinstance(observation, dict) else observation
    return [tensor for item in items for tensor in tensors_in(item, depth + 1)]


def describe(value: object) -> str:
    """A few words that say what ``value`` is, safe for any object (a hostile ``__len__``, ``__float__`` or repr).

    >>> describe(torch.zeros(2, 4)), describe(0.123456), describe([1, 2]), describe(list(range(9)))
    ('a float32 tensor of shape (2, 4)', '0.1235', 'a list (1; 2)', 'a list of 9 items')
    >>> describe(np.array([[0.5], [0.25]])), describe(np.zeros((3, 3), dtype=np.float32))
    ('a float64 NumPy array of shape (2, 1): [[0.5], [0.25]]', 'a float32 NumPy array of shape (3, 3)')
    """
    try:
        return _describe(value)
    except KeyboardInterrupt:
        raise
    except BaseException:
        return f"an object of type {type(value).__name__}"


def _a(word: str) -> str:  # "an int64", "an OrderedDict"; "a float32", "a uint8" (said "you-int")
    vowel = word[:1].lower() in "aeio" or (word[:1].lower() == "u" and not word.lower().startswith(("uint", "uni")))
    return f"{'an' if vowel else 'a'} {word}"


def _describe_each(value: PerProbe) -> str:
    each = [_describe(item) for item in value]
    if len(set(each)) == 1:
        return each[0]
    where = ["the check's first input", *(f"its {nth}" for nth in _ORDINALS[1:])]
    where += [f"its input {i + 1}" for i in range(len(where), len(each))]
    return ", ".join(f"{text} on {place}" for text, place in zip(each, where, strict=False))


def _describe_array(value: torch.Tensor | np.ndarray) -> str:
    """A tensor's or a numeric array's dtype, kind, shape (device) and, when few, its numbers rounded."""
    if isinstance(value, np.ndarray):
        text = f"{_a(str(value.dtype))} NumPy array of shape {value.shape}"
        numbers = np.round(value.astype(np.float64), 4) if value.dtype.kind == "f" else value
        return text if value.size > 6 else f"{text}: {numbers.tolist()}"
    where = "" if value.device.type == "cpu" else f" on {value.device}"
    kind = (
        "tensor"
        if type(value) in (torch.Tensor, torch.nn.Parameter)
        else f"tensor of class {type(value).__name__} (a subclass the check does not read: return a plain torch.Tensor)"
    )
    text = f"{_a(str(value.dtype).removeprefix('torch.'))} {kind} of shape {tuple(value.shape)}{where}"
    if value.numel() > 6 or value.device.type == "meta":
        return text
    plain = value.detach().cpu()
    numbers = np.round(plain.double().numpy(), 4).tolist() if plain.is_floating_point() else plain.tolist()
    return f"{text}: {numbers}"


def _describe(value: object) -> str:
    if isinstance(value, PerProbe):
        return _describe_each(value)
    if isinstance(value, Raised):
        return f"{value.kind}: {value.message}"
    if isinstance(value, torch.Tensor) or isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return _describe_array(value)
    if value is None or isinstance(value, (bool, np.bool_)):
        return "None" if value is None else repr(bool(value))
    number = as_number(value) if isinstance(value, (int, float, np.number)) else None
    if number is not None:
        return f"{number:.4g}"
    if isinstance(value, (tuple, list)):
        if 0 < len(value) <= 4 and all(not isinstance(item, (tuple, list, dict)) for item in value):
            return f"{_a(type(value).__name__)} ({'; '.join(_describe(item) for item in value)})"
        return f"{_a(type(value).__name__)} of {len(value)} items"
    if isinstance(value, Mapping):
        return f"{_a(type(value).__name__)} of {len(value)} items"
    return repr(safe_text(value, 60)) if isinstance(value, str) else f"an object of type {type(value).__name__}"
