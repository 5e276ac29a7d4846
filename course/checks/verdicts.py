"""A check's outcome, a :class:`Verdict`, and the verdicts the engine words itself: a mistake by its id
(:func:`wrong`), a gradient that is not the right program's, inputs changed, settings left changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from course.checks.leftovers import DEVICE_BY_HAND, DEVICE_LEFT, MODE_LEFT, SETTINGS
from course.checks.values import describe
from course.checks.vocabulary import DATA_CHANGED, GRADIENT_ZEROED, MISTAKES, MODEL_CHANGED

Message = str | Callable[[Any, Any], str] | None
_PREFIX = {"correct": "✅ Correct", "not_attempted": "⏳ Not attempted yet", "wrong": "❌ Not yet"}
_LEFT = (*SETTINGS, "backward_inside")  # what an answer can leave behind, in order
_OWN_MESSAGE = {"mode_left_on": MODE_LEFT}  # engine ids with no vocabulary entry


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: *correct*, *not attempted yet*, or *not yet* with a diagnosis, shown as one line."""

    status: Literal["correct", "not_attempted", "wrong"]
    message: str
    mistake: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "correct"

    def __repr__(self) -> str:
        return f"{_PREFIX[self.status]}: {self.message}"

    __str__ = __repr__


def wrong(mistake_id: str, got: object = None, expected: object = None, message: Message = None) -> Verdict:
    """The verdict naming ``mistake_id``: its own message or the vocabulary's, ``{got}``/``{expected}`` filled in."""
    if callable(message):
        return Verdict("wrong", message(got, expected), mistake_id)
    text = MISTAKES[mistake_id] if message is None else message
    return Verdict("wrong", text.replace("{got}", describe(got)).replace("{expected}", describe(expected)), mistake_id)


def gradient_fault(got: list, expected: list) -> Verdict | None:
    """The verdict on a result whose gradients ``got`` (:func:`runner.gradients`) differ from the right program's
    finite ones: not finite, 0 only where they differ (clamped, or a term detached), or otherwise (partly detached)."""
    for mine, right in zip(got, expected, strict=False):
        if mine is None or right is None or not all(bool(g.isfinite().all()) for g in right):
            continue
        mine, right = (torch.cat([g.detach().cpu().double().reshape(-1) for g in grads]) for grads in (mine, right))
        if not bool(mine.isfinite().all()):
            return wrong("gradient_not_finite")
        if bool((differs := ~torch.isclose(mine, right, rtol=1e-3, atol=1e-5)).any()):
            return wrong("partly_detached", message=GRADIENT_ZEROED if bool((mine[differs] == 0).all()) else None)
    return None


def changed_inputs(inputs: list, trains: bool = False) -> Verdict | None:
    """The verdict on an answer that changed the ``inputs`` it was given (a model's own message; an answer that
    ``trains`` some of them, the data's), if any."""
    only_models = all(isinstance(arg, torch.nn.Module) for arg in inputs)
    message = MODEL_CHANGED if only_models else DATA_CHANGED if trains else None
    return wrong("mutated_input", message=message) if inputs else None


def left_verdict(left: set[str]) -> Verdict | None:
    """The verdict on what an answer left changed (ids of :data:`_LEFT`, with
    :data:`~course.checks.leftovers.DEVICE_BY_HAND`), the first in that order; None if nothing."""
    name = next((name for name in _LEFT if name in left), None)
    if name == "default_device_changed" and DEVICE_BY_HAND in left:
        return wrong(name, message=DEVICE_LEFT)
    return None if name is None else wrong(name, message=_OWN_MESSAGE.get(name))
