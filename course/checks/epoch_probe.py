"""The probe of a training epoch (lesson 10): a shuffled loader of numbered samples and a stand-in step that records
what it is given, so that an epoch that feeds the step other data than the loader's batches shows.

Sample i is x = (i, i, i) and y = (100 + i,): the step tells features from targets by their values (by their width on
the ``meta`` device, which holds none) and reads which samples each holds."""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader, TensorDataset

from course.checks.values import as_number, describe

OTHERS = {"other": (9, 2), "even": (8, 4)}  # 5 batches, the last short; 2 full ones (a count one too many shows)


class RecordingLoader(DataLoader):
    """A shuffled DataLoader that records the batches it yields, as their samples' numbers and their shapes."""

    yielded: list[tuple[int, ...]]
    shapes: list[tuple[tuple[int, ...], tuple[int, ...]]]

    def __iter__(self) -> object:
        for xb, yb in super().__iter__():
            self.yielded.append(tuple(int(v) for v in xb[:, 0]))
            self.shapes.append((tuple(xb.shape), tuple(yb.shape)))
            yield xb, yb


def _kind(t: torch.Tensor) -> str:
    """ "x" (3 columns of numbers below 100), "y" (numbers of 100 and more, in any shape) or "?": by width on meta."""
    if t.is_meta:
        return {(3,): "x", (1,): "y"}.get(tuple(t.shape[1:]), "?")
    if bool((t >= 100).all()):
        return "y"
    whole = t.dim() == 2 and t.shape[1] == 3 and bool((t == t[:, :1]).all())  # (i, i, i): every column, unchanged
    return "x" if whole else "changed" if bool((t < 100).all()) else "?"


def _rows(t: torch.Tensor) -> int:  # len(t), and 1 for a 0-d tensor (one number), which has no len
    return t.shape[0] if t.dim() else 1


def _reshaped(got: tuple, batch: tuple, more: bool) -> tuple | None:
    """("features" or "targets", the shape the step got, the batch's) for the first of the two that holds as many
    numbers as the batch's but in another shape (squeezed, viewed, flattened, transposed), or targets in more numbers
    where ``more`` (:func:`_more`); or None."""
    pairs = zip(("features", "targets"), got, batch, (False, more), strict=True)
    return next(((name, g, b) for name, g, b, over in pairs if g != b and (
        math.prod(g) == math.prod(b) or over and math.prod(g) > math.prod(b))), None)  # fmt: skip


def _more(got: tuple, batch: tuple, kinds: tuple, copies: bool | None) -> bool:
    """Whether targets in more numbers than the batch's are its targets mangled: ``copies`` of them (repeated,
    expanded), or targets (no features) beside the batch's own features, padded; a whole epoch in one step (more
    features too) is not one batch reshaped."""
    return bool(copies) or kinds[1] != "x" and got[0] == batch[0]


def _copies(yb: torch.Tensor, ids: tuple[int, ...] | None) -> bool | None:
    """Whether the targets' values are those of the batch of samples ``ids``, each target of the batch at least once
    (the batch's own targets, repeated or expanded or not); None on the meta device, where no values show."""
    return None if yb.is_meta else ids is not None and set(yb.flatten().tolist()) == {100 + i for i in ids}


def _repeated(call: tuple) -> bool:  # targets in more numbers than the batch's, which a run on the cpu showed copies
    return bool(call[8] and call[6] and math.prod(call[6][1]) > math.prod(call[6][2]))


class RecordingStep(list):
    """Stands in for a train step: records each call's devices, batch size, what it got first and second ("x", "y",
    "changed" or "?"), the samples each holds, whether gradients were recorded, what :func:`_reshaped` finds
    against the k-th batch the loader yielded (``batches``: their shapes; ``ids``: their samples), the features' dtype
    and whether the targets are copies of the batch's (:func:`_copies`); returns 3 / k² at the k-th call, so that
    the mean, the median and the mean weighted by batch size all differ."""

    batches: list[tuple[tuple[int, ...], tuple[int, ...]]]
    ids: list[tuple[int, ...]]  # the samples of each batch the loader yielded

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> float:
        kinds = tuple(_kind(t) for t in (xb, yb))
        known = [t for t, kind in zip((xb, yb), kinds, strict=True) if kind in ("x", "y") and not t.is_meta]
        samples = {tuple(int(v) % 100 for v in t.reshape(_rows(t), -1)[:, 0]) for t in known}
        batch = self.batches[len(self)] if len(self) < len(self.batches) else None  # none: the loader not iterated
        copies = kinds[1] == "y" and _copies(yb, self.ids[len(self)] if len(self) < len(self.ids) else None)
        got = tuple(xb.shape), tuple(yb.shape)
        shapes = _reshaped(got, batch, _more(got, batch, kinds, copies)) if batch else None
        self.append((xb.device.type, yb.device.type, _rows(xb), kinds, samples, torch.is_grad_enabled(), shapes,
                     xb.dtype, copies))  # fmt: skip
        return 3.0 / len(self) ** 2


def epoch_inputs(n: int = 10, batch_size: int = 4, device: str = "meta") -> tuple:
    """(step, loader, device): n numbered samples (10 in batches of 4: 4, 4, 2), shuffled with a seeded generator."""
    ids = torch.arange(float(n)).unsqueeze(1)
    data, seeded = TensorDataset(ids.expand(n, 3).clone(), ids + 100), torch.Generator().manual_seed(n)
    loader = RecordingLoader(data, batch_size, shuffle=True, generator=seeded)
    loader.yielded, loader.shapes, step = [], [], RecordingStep()
    step.batches, step.ids = loader.shapes, loader.yielded
    return step, loader, torch.device(device)


def fed(step: RecordingStep, loader: RecordingLoader, device: torch.device) -> str:
    """What the step got: x and y "swapped", one of them "twice", each of the loader's batches in turn, some more than
    once ("again": the step called twice per batch), batches that are not the loader's as it yielded them
    ("elsewhere": the first batch again, slices of the dataset, x and y of different batches, a column dropped or
    values changed), or "ok"."""
    kinds, batches, order = {call[3] for call in step}, iter(loader.yielded), [ids for call in step for ids in call[4]]
    again = len(order) > len(loader.yielded) and [k for i, k in enumerate(order) if not i or k != order[i - 1]] == (
        loader.yielded)  # fmt: skip
    elsewhere = any(len(call[4]) > 1 or "changed" in call[3] for call in step)
    elsewhere = elsewhere or not all(ids in batches for call in step for ids in call[4])
    if ("y", "x") in kinds:
        return "swapped"
    return "twice" if kinds & {("x", "x"), ("y", "y")} else "again" if again else "elsewhere" if elsewhere else "ok"


def summary(result: object, step: RecordingStep) -> object:
    """What an epoch returned: "the mean" (of batches or samples), another number, ("a tensor"/"not a number", what)."""
    losses, sizes = [3.0 / k**2 for k in range(1, len(step) + 1)] or [0.0], [call[2] for call in step] or [1]
    means = (sum(losses) / len(losses), sum(loss * n for loss, n in zip(losses, sizes, strict=True)) / sum(sizes))
    if (number := None if torch.is_tensor(result) else as_number(result)) is None:
        return ("a tensor" if torch.is_tensor(result) else "not a number", describe(result))
    return "the mean" if any(math.isclose(number, m, rel_tol=1e-6) for m in means) else number


def observe_epoch(fn: object, args: tuple) -> dict:
    """The result and the batches the step saw (devices and size); the results for the loaders of OTHERS (a count
    written in shows), on the cpu, where the step reads its samples; then for the first probe again, afresh (state
    kept from one call to the next shows); "fed": the first fault of :func:`fed` over all runs; "grad_off": whether a
    step ran with gradients off; "shapes": the first reshaped tensor the step got (:func:`_reshaped`), or None;
    "repeated": whether a run on the cpu showed targets in more numbers to be the batch's repeated;
    "dtype": (the features' dtype, the loader's) where the step got features cast to another, or None."""
    runs = [args, *(epoch_inputs(n, size, "cpu") for n, size in OTHERS.values()), epoch_inputs()]
    got, faults = [summary(fn(*run), run[0]) for run in runs], [fed(*run) for run in runs]
    return {
        "result": got[0],
        "batches": [call[:3] for call in args[0]],
        **dict(zip(OTHERS, got[1:3], strict=True)),
        "again": got[3],
        "fed": next((fault for fault in faults if fault != "ok"), "ok"),
        "grad_off": any(not call[5] for run in runs for call in run[0]),  # also off in torch.inference_mode()
        "shapes": next((call[6] for run in runs for call in run[0] if call[6]), None),
        "repeated": any(_repeated(call) for run in runs for call in run[0]),
        "dtype": next(((call[7], own) for run in runs for call in run[0] if call[7] != (own := _dtype(run[1]))), None),
    }


def _dtype(loader: RecordingLoader) -> torch.dtype:  # the features' dtype, as the loader yields them: float32
    return loader.dataset.tensors[0].dtype


GRAD_OFF = (
    "the epoch ran with gradient recording off (torch.no_grad()/inference_mode()): the steps could not train (the "
    'course\'s train step raises "gradient recording is off"); only evaluation runs without gradients. Call the '
    "steps outside those blocks."
)


def lost_batch(got: dict, _: object) -> str:
    """The message for features or targets given to the step in another shape than the loader's batch."""
    name, mine, batch = got["shapes"]
    one, more = batch[0] == 1 and len(mine) < len(batch), math.prod(mine) > math.prod(batch) and got["repeated"]
    why = (
        " (.squeeze() of a batch of one sample drops its rows' dimension too)" * one
        + (" (the targets repeated: .repeat() or .expand() copies each target into more numbers than the batch holds)")
        * more
    )
    return (f"pass xb and yb as the loader yields them, moved with .to(device): the step was given {name} of shape "
            f"{mine} for a batch whose {name} are {batch}{why}. The course's train step refuses such a batch: the "
            "model takes (B, 3) features here and predicts (B, 1), and the targets must have the predictions' "
            "shape. Call step(xb.to(device), yb.to(device)), with no squeeze, view, flatten or indexing.")  # fmt: skip


def cast_features(got: dict, _: object) -> str:
    """The message for features given to the step in another dtype than the loader's batch."""
    mine, own = (str(dtype).removeprefix("torch.") for dtype in got["dtype"])
    return (f"the step was given features of dtype {mine}, but the loader's batches hold {own}: the course's train "
            f"step refuses them, as the model's weights are {own} (\"the features x are torch.{mine} but the model's "
            f"parameters are torch.{own}\"). Pass xb as the loader yields it, moved with xb.to(device), with no "
            ".double(), .half(), .long() or dtype=.")  # fmt: skip


RETURNED = ("the step ran on the first batch only: once, on 4 samples, but the loader's batches hold 4, 4 and 2. A "
            "return or a break inside the loop ends the epoch after the first batch, and a step called for one batch "
            "only (under an if) leaves the others untrained: call step on every batch, and return the mean of their "
            "losses after the loop.")  # fmt: skip
FED = {
    "swapped": "x and y are swapped: step got the targets first; call step(xb, yb), features then targets, as the "
    "loader yields them.",
    "again": "step ran more than once on the same batch (two calls of step(xb, yb) in the loop body, e.g. one to "
    "train and one to record the loss): each call is a training step, so that batch trained twice. Call it once per "
    "batch and keep what it returns: loss = step(xb, yb), then add loss to the epoch's total.",
    "twice": "step got the same tensor twice (xb and xb, or yb and yb): pass the batch's features then its targets, "
    "step(xb, yb).",
    "elsewhere": "step did not get the loader's batches as it yields them (in its order, as it shuffles; every "
    "column, no value changed: slicing loader.dataset, reusing one batch or dropping a column misses that): iterate "
    "over the loader itself, for xb, yb in loader, and pass xb and yb as they come, moved to the device.",
}
