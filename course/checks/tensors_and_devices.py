"""Checks for lesson 01 (tensors and devices): shapes predicted, a loss's shape bug, copies from NumPy, in-place."""

import numbers
from functools import partial

import numpy as np
import torch

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import FREED, any_item, freed, freeing
from course.checks.values import close, describe, safe_text

SHAPES = {"column - vector": (4, 4), "m[:, -1]": (3,), "m[:, -1:]": (3, 1), "X @ w": (5, 1), "X * w.T": (5, 3)}
KEYS = f"answer with a dict with exactly these keys, each a shape tuple such as (2, 3): {list(SHAPES)}."
KEPT_DTYPE = "torch.tensor(array) copies but keeps the array's dtype (float64, int64): ask for dtype=torch.float32."
# the float32 array shows the memory a conversion (.float(), np.asarray) shares when there is nothing to convert
ARRAYS = (  # 0.1, 1234.567, 0.0123456 and 70000.0 (over float16's 65504) are float32's, not float16's or bfloat16's
    np.array([0.5, 1.5, 2.5, 0.1, 1234.567, 0.0123456, 70000.0]),
    np.array([0.25, -1.0], dtype=np.float32),
    np.array([1, 2, 3]),
    np.array([[1.5, -2.0, 0.0], [4.0, 0.5, -1.0]]),
)  # vectors and matrices, as the statement asks
NOT_A_TENSOR = Guard(  # the observation holds one answer per probe
    "not_a_tensor",
    any_item(lambda got: not isinstance(got, torch.Tensor)),
    lambda *args: [0.0],
    lambda got, _: f"return a torch tensor, got {describe(next(g for g in got if not isinstance(g, torch.Tensor)))}.",
)
HALF = (
    "the values went through {}, which keeps only {} significant digits{}: "
    "1234.567, 0.1 and 0.0123456 lost digits. Convert straight to float32: torch.tensor(array, dtype=torch.float32)."
)
READ_ONLY = (
    "your function made the array it was given read-only (array.setflags(write=False)): the caller can no longer "
    "change its own array. Leave the array as it is; torch.tensor(array, dtype=torch.float32) already copies it."
)
TENSORS = "return torch tensors, not NumPy arrays or lists: build each one with torch.tensor(...)."
CUT = (
    "the loss must stay a tensor in the graph for backward(): .item(), .detach(), .data, NumPy, torch.no_grad() "
    "and torch.inference_mode() cut it off."
)
AXIS = (
    "x.mean(dim) and x.std(dim) standardise each column or row; the exercise asks for one mean and one std of the "
    "whole tensor: x.mean() and x.std()."
)


def _along(x: torch.Tensor, dim: int) -> torch.Tensor:  # standardised along one axis: a mean and std per column or row
    return (x - x.mean(dim, keepdim=True)) / x.std(dim, keepdim=True)


def _column(values: list[float]) -> torch.Tensor:  # predictions as a model returns them: computed from parameters
    return torch.tensor(values, requires_grad=True).reshape(-1, 1) * 1.0


def _reaching(out: object, predictions: torch.Tensor) -> object:
    """``out``, detached when backward() from it would not reach ``predictions`` (a new leaf, a copy of a number);
    one number of shape (1,) or (1, 1) as 0-d: backward() runs from it as well; FREED if its graph was freed."""
    if isinstance(out, torch.Tensor) and out.numel() == 1:
        out = out.reshape(())
    if freed(out):
        return FREED
    if isinstance(out, torch.Tensor) and out.numel() > predictions.numel() ** 2:  # a huge view: hours of C to sum
        return out.detach()
    try:
        gradient = torch.autograd.grad(out.sum(), predictions, retain_graph=True, allow_unused=True)[0]
    except Exception:  # not a tensor, no graph at all, or a backward() that fails: the engine's to name
        return out
    return out if gradient is not None and bool(gradient.any()) else out.detach()  # + 0 * p.sum() reaches with 0s


def _per_probe(*names: str) -> object:
    """An ``explain`` for an observation of one answer per probe: each probe that went wrong, by its name."""

    def explain(got: list, expected: list) -> str:
        wrong = [
            f"{name} expected {describe(e)}, got {describe(g)}"
            for name, g, e in zip(names, got, expected, strict=True)
            if not close(g, e)
        ]
        return "; ".join(wrong) + "."

    return explain


def _after_source_changes(convert: object, arrays: tuple) -> list:
    """Each array's tensor, seen after the array changed: a tensor that shares its memory changes with it."""
    tensors = [convert(array) for array in arrays]
    if any(a.dtype != b.dtype or not np.array_equal(a, b) for a, b in zip(arrays, ARRAYS, strict=True)):
        return "changed its array"  # values, shape or dtype
    if not all(array.flags.writeable for array in arrays):  # array.setflags(write=False): the caller's can't change
        return "made its array read-only"
    for array in arrays:
        array += 100
    return [(str(getattr(tensor, "dtype", type(tensor).__name__)), tensor) for tensor in tensors]


def _read_only(array: np.ndarray) -> torch.Tensor:  # right values, but the caller's array can no longer change
    array.setflags(write=False)
    return torch.tensor(array, dtype=torch.float32)


def _cut_off(got: object) -> bool:  # a number (from .item()) or a detached tensor: backward() cannot run through it
    return isinstance(got, float | int | np.number) or (isinstance(got, torch.Tensor) and not got.requires_grad)


def _not_shapes(got: object) -> bool:  # a string such as "(4, 4)" is not a shape tuple
    return not isinstance(got, dict) or set(got) != set(SHAPES) or any(isinstance(v, str) for v in got.values())


def _keys_named(got: object, _: object) -> str:
    """What keeps a dict of predictions from being read: the keys missing or not the exercise's, or a string."""
    if not isinstance(got, dict):
        return KEYS
    missing = [f"'{k}'" for k in SHAPES if k not in got]
    extra = [f"'{safe_text(k, 40)}'" for k in got if k not in SHAPES]
    told = [f"missing key{'s' * (len(missing) > 1)} {', '.join(missing)}"] * bool(missing)
    told += [f"key{'s' * (len(extra) > 1)} {', '.join(extra)} not asked for"] * bool(extra)
    if told:  # a key misspelled shows as one of each
        return f"{'; '.join(told)}. Use exactly these keys, written as here (spaces count): {list(SHAPES)}."
    key, value = next((k, v) for k, v in got.items() if isinstance(v, str))
    return f"{key} is the string {safe_text(value, 30)!r}: write the shape as a tuple such as (2, 3), not a string."


def _is_float(size: object) -> bool:  # a size written as a float: 4.0, np.float32(4), torch.tensor(4.0)
    if isinstance(size, torch.Tensor):
        return size.is_floating_point()
    return isinstance(size, float | np.floating) or isinstance(size, np.ndarray) and size.dtype.kind == "f"


def _float_sizes(value: object) -> bool:  # a shape written with floats, such as (4.0, 4.0)
    return isinstance(value, tuple | list) and any(map(_is_float, value))


def _floats_named(got: dict, _: object) -> str:
    key = next(key for key in SHAPES if _float_sizes(got[key]))
    try:  # the same sizes as ints, when they are whole
        ints = tuple(int(n) for n in got[key]) if all(float(n).is_integer() for n in got[key]) else None
    except Exception:  # a size that is no number
        ints = None
    fix = f"write {ints}" if ints else "write each size as an int"
    return f"{key} is {safe_text(got[key], 30)}: a shape holds whole numbers (ints), as .shape does: {fix}."


def _lost(array: np.ndarray, tensor: object) -> str:
    """The first value of ``array`` that its float32 ``tensor`` does not hold, and what it became ("" if none)."""
    try:
        pairs = zip(array.ravel().tolist(), tensor.detach().cpu().double().ravel().tolist(), strict=True)
        return next((f"; {a:g} became {b:g}" for a, b in pairs if not close(b, a)), "")
    except Exception:  # no tensor of the array's size: the shape or the dtype already tells
        return ""


def _copies_explained(got: list, expected: list) -> str:
    found = "; ".join(
        f"for {a.dtype} {a.tolist()}: {describe(t)}{_lost(a, t)}" for a, (_, t) in zip(ARRAYS, got, strict=True)
    )
    dtypes = sorted({dtype for dtype, _ in got} - {"torch.float32"})
    start = f"every tensor must be float32, not {', '.join(dtypes)}; " if dtypes else ""
    return f"{start}each tensor should be a float32 copy of its array; yours, after the arrays changed: {found}."


def _shape_text(value: object) -> str:
    """A predicted shape as the learner wrote it, with what is wrong with its form, if something is."""
    if isinstance(value, torch.Tensor | np.ndarray):
        return f"{describe(value)}, an array, not a shape: write the tuple (or use .shape)"
    if isinstance(value, numbers.Integral | float) and not isinstance(value, bool):  # np.int64(3) too
        return f"the number {value}: a tuple of one item needs a comma, ({value},)"
    return safe_text(value, 30)


def _unfilled(value: object) -> bool:  # None or ... (in part): no prediction, so its answer is never told
    return value is None or value is Ellipsis or isinstance(value, tuple | list) and any(item is ... for item in value)


def _shapes_explained(got: dict, expected: dict) -> str:
    """Each wrong prediction with its right shape (the solution is one click away); keys still unfilled by name."""
    wrong = [f"{k} is {v}, not {_shape_text(got[k])}" for k, v in SHAPES.items() if not _unfilled(got[k])
             and not close(got[k], v)]  # fmt: skip
    unfilled = ", ".join(key for key in SHAPES if _unfilled(got[key]))
    told = f"{len(wrong)} of {len(SHAPES)} predictions differ: {'; '.join(wrong)}. Run each one and read why."
    missing = f"No prediction yet for {unfilled}: write each as a shape tuple."
    return " ".join([told] * bool(wrong) + [missing] * bool(unfilled))


predicted_shapes = Exercise(
    name="predicted_shapes",
    kind="value",
    reference=lambda: dict(SHAPES),
    guards=[
        Guard("unreadable", _not_shapes, dict, _keys_named),
        Guard(
            "shape_not_ints",
            lambda got: any(map(_float_sizes, got.values())),
            lambda: {**SHAPES, "X @ w": (5.0, 1.0)},
            _floats_named,
        ),
    ],
    mistakes=[
        Mistake("broadcast_pairs", lambda: {**SHAPES, "column - vector": (4,)}),
        Mistake("index_drops_axis", lambda: {**SHAPES, "m[:, -1]": (3, 1)}),
        Mistake("index_drops_axis", lambda: {**SHAPES, "m[:, -1:]": (3,)}),
        Mistake("elementwise_not_matmul", lambda: {**SHAPES, "X @ w": (5, 3), "X * w.T": (5, 1)}),
    ],
    explain=_shapes_explained,
    success="all five shapes predicted. Printing .shape whenever you are unsure is the habit that catches these.",
)

mse = Exercise(
    name="mse",
    inputs=lambda: (  # twice predictions (N, 1) as a model returns them and flat targets (N,): 5, then 3 samples
        _column([2.5, 0.0, 2.1, 7.8, 0.5]),
        torch.tensor([3.0, -0.5, 2.0, 7.0, 2.5]),
        _column([1.0, -2.0, 0.5]),
        torch.tensor([0.0, 1.0, 3.5]),
    ),
    observe=lambda mse, args: [_reaching(mse(p, t), p) for p, t in (args[:2], args[2:])],
    reference=lambda p, t: ((p.squeeze(1) - t) ** 2).mean(),
    guards=[
        Guard(
            "graph_freed", any_item(lambda got: got is FREED), freeing(lambda p, t: ((p.squeeze(1) - t) ** 2).mean())
        ),
        Guard("not_backpropagatable", any_item(_cut_off), lambda p, t: mse.reference(p, t).item(), CUT),
        NOT_A_TENSOR,
    ],
    mistakes=[
        Mistake("shape_mismatch", lambda p, t: ((p - t) ** 2).mean()),
        Mistake("sum_not_mean", lambda p, t: ((p.squeeze(1) - t) ** 2).sum()),
        Mistake("square_of_mean", lambda p, t: (p.squeeze(1) - t).mean() ** 2),
        Mistake("no_mean", lambda p, t: (p.squeeze(1) - t) ** 2),
        Mistake("not_squared", lambda p, t: (p.squeeze(1) - t).abs().mean()),
    ],
    alternatives=[
        lambda p, t: ((p - t.unsqueeze(1)) ** 2).mean(),
        lambda p, t: torch.mean((p.view(-1) - t) ** 2),
        lambda p, t: ((p - t.unsqueeze(1)) ** 2).mean(dim=0),
    ],  # shape (1,): one number all the same
    explain=_per_probe("for 5 samples", "for 3 samples"),
    success="one squared error per sample, then their mean: the shapes match, so nothing broadcasts.",
)

to_float32 = Exercise(
    name="to_float32",
    inputs=lambda: tuple(array.copy() for array in ARRAYS),
    reference=lambda a: torch.tensor(a, dtype=torch.float32),
    observe=_after_source_changes,
    guards=[
        Guard("mutated_input", lambda got: got == "changed its array", lambda a: torch.tensor(np.negative(a, out=a))),
        Guard("mutated_input", lambda got: got == "made its array read-only", _read_only, READ_ONLY),
        Guard("not_a_tensor", lambda got: not all(torch.is_tensor(t) for _, t in got), np.float32, TENSORS),
    ],
    mistakes=[
        Mistake("shares_memory", lambda a: torch.from_numpy(a)),
        Mistake("wrong_dtype", lambda a: torch.tensor(a), KEPT_DTYPE),
        Mistake("shares_when_same_dtype", lambda a: torch.from_numpy(a).float()),
        Mistake("shares_when_same_dtype", lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32))),
        *(
            Mistake("rounded", lambda a, d=d: torch.tensor(a, dtype=d).float(), HALF.format(*kept))
            for d, kept in {
                torch.float16: ("float16", "3 to 4", " and no number over 65504"),
                torch.bfloat16: ("bfloat16", "2 to 3", ""),
            }.items()
        ),
    ],
    alternatives=[lambda a: torch.tensor(a).float(), lambda a: torch.from_numpy(a.copy()).float()],
    explain=_copies_explained,
    pure=False,
    success="float32 values of your own for every array: changing an array never changes its tensor.",
)

standardize = Exercise(
    name="standardize",
    inputs=lambda: (torch.tensor([2.0, 4.0, 4.0, 5.0, 7.0, 9.0]), torch.tensor([[1.0, 6.0, 2.0], [3.0, 8.0, 11.0]])),
    observe=lambda standardize, tensors: [standardize(x) for x in tensors],
    reference=lambda x: (x - x.mean()) / x.std(),
    guards=[NOT_A_TENSOR],
    mistakes=[
        *(Mistake("wrong_axis", partial(_along, dim=dim), AXIS) for dim in (0, -1)),
        Mistake("mutated_input", lambda x: x.sub_(x.mean()).div_(x.std())),  # x -= x.mean(); x /= x.std()
        Mistake("population_std", lambda x: (x - x.mean()) / x.std(correction=0)),
    ],
    alternatives=[lambda x: x.sub(x.mean()).div(x.std()), lambda x: x.clone().sub_(x.mean()).div_(x.std())],
    explain=_per_probe("for x of shape (6,)", "for x of shape (2, 3)"),
    success="the caller's tensor is untouched: x - ... makes a new tensor, where x -= ... changes x itself.",
)
