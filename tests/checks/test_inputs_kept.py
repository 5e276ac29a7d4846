"""Exercises whose answer trains what it is given (a step, a loop: declared ``pure=False``) may change what the right
program changes, a and b, and nothing else: data changed in place in the caller is named, as in every other exercise."""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest
import torch

import course.checks
from course.checks import autograd, computation_graphs
from course.checks.engine import Exercise


def _training_exercises() -> list[Exercise]:
    found = []
    for info in pkgutil.iter_modules(course.checks.__path__):
        module = importlib.import_module(f"course.checks.{info.name}")
        found += [v for v in vars(module).values() if isinstance(v, Exercise) and v.kind == "function" and not v.pure]
    return found


def _shuffled_in_place(*data: torch.Tensor) -> None:
    order = torch.randperm(len(data[0]), generator=torch.Generator().manual_seed(0))
    for t in data:
        t[:] = t[order]  # full-batch descent does not depend on the points' order: the result stays right


def _is_data(item: object) -> bool:
    """A float tensor that does not require grad, or a float array: data, which a training answer reads only."""
    if type(item) is torch.Tensor:
        return item.is_floating_point() and not item.requires_grad
    return type(item) is np.ndarray and item.dtype.kind == "f"


def _then_data_changed(exercise: Exercise):
    """The right program, after which the first data tensor or array it was given is changed in place."""

    def answer(*args):
        result = exercise.reference(*args)
        for item in [a for a in args if _is_data(a)][:1]:
            item += 1.0
        return result

    return answer


@pytest.mark.parametrize("exercise", _training_exercises(), ids=lambda e: e.name)
def test_a_training_answer_that_changes_its_data_in_place_is_told_so(exercise):
    verdict = exercise(_then_data_changed(exercise))
    given = [part for arg in exercise.inputs() for part in (arg if type(arg) is tuple else (arg,))]  # a probe's parts
    assert verdict.mistake == ("mutated_input" if any(map(_is_data, given)) else None), verdict


def _train_shuffling(a, b, x, y, lr, epochs):
    _shuffled_in_place(x, y)
    return autograd.train.reference(a, b, x, y, lr, epochs)


def _smoothed_shuffling(a, x, y, steps, lr):
    _shuffled_in_place(x, y)
    return computation_graphs.smoothed_training.reference(a, x, y, steps, lr)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [(autograd.train, _train_shuffling), (computation_graphs.smoothed_training, _smoothed_shuffling)],
    ids=["03 train", "04 smoothed_training"],
)
def test_data_shuffled_in_place_gives_right_numbers_but_is_told_it_changed_the_callers_data(exercise, answer):
    verdict = exercise(answer)
    assert (verdict.status, verdict.mistake) == ("wrong", "mutated_input"), verdict
    assert (
        "caller's data changed" in verdict.message
        and "Update in place only what the exercise trains" in verdict.message
    )
    assert "not x -= m" not in verdict.message, verdict  # a training answer does update its parameters in place
