"""Exercise self-checks: one module per lesson (``LESSONS``), each exercise declared as data over one engine.

In a notebook, ``from course.checks import tensors_and_devices as check`` then ``check.mse(mse)`` shows one line:
correct, not attempted, or what is wrong (an :class:`~course.checks.engine.Exercise` returns a ``Verdict``).
"""

from __future__ import annotations

import importlib

from course.checks.engine import Exercise, Guard, Library, Mistake, Verdict

_MODULES = """start_here tensors_and_devices gradient_descent_numpy autograd computation_graphs optimizers losses
    models nonlinearity_and_mlps training_pipeline datasets_and_loaders evaluation logistic_regression
    multiclass_classification putting_it_together beyond_one_machine"""
LESSONS: dict[str, str] = {f"{number:02d}": name for number, name in enumerate(_MODULES.split())}  # "07": models


def exercises(module_name: str) -> list[Exercise]:
    """The exercises a lesson's check module declares, in the order they appear.

    >>> [exercise.name for exercise in exercises("start_here")][:1]
    ['first_tensor']
    """
    if module_name not in LESSONS.values():
        raise ValueError(f"no check module {module_name!r}; the lessons' modules are {sorted(LESSONS.values())}.")
    module = importlib.import_module(f"course.checks.{module_name}")
    return [value for value in vars(module).values() if isinstance(value, Exercise)]


__all__ = ["LESSONS", "Exercise", "Guard", "Library", "Mistake", "Verdict", "exercises"]
