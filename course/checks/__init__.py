"""Exercise self-checks: one module per lesson, each exercise declared as data over one engine.

Use in a notebook::

    from course.checks import tensors_and_devices as check
    check.mse(mse)                   # shows one line: correct, not attempted, or what is wrong

Each check is an :class:`~course.checks.engine.Exercise`; calling it returns a
:class:`~course.checks.verdict.Verdict`. ``LESSONS`` says which module serves which lesson.
"""

from __future__ import annotations

import importlib

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.verdict import Verdict

LESSONS: dict[str, str] = {
    "00": "start_here",
    "01": "tensors_and_devices",
    "02": "gradient_descent_numpy",
    "03": "autograd",
    "04": "computation_graphs",
    "05": "optimizers",
    "06": "losses",
    "07": "models",
    "08": "nonlinearity_and_mlps",
    "09": "training_pipeline",
    "10": "datasets_and_loaders",
    "11": "evaluation",
    "12": "logistic_regression",
    "13": "multiclass_classification",
    "14": "putting_it_together",
    "15": "beyond_one_machine",
}


def exercises(module_name: str) -> list[Exercise]:
    """The exercises a lesson's check module declares, in the order they appear.

    Example:
        >>> [exercise.name for exercise in exercises("start_here")][:1]
        ['first_tensor']
    """
    if module_name not in LESSONS.values():
        raise ValueError(f"no check module {module_name!r}; the lessons' modules are {sorted(LESSONS.values())}.")
    module = importlib.import_module(f"course.checks.{module_name}")
    return [value for value in vars(module).values() if isinstance(value, Exercise)]


__all__ = ["LESSONS", "Exercise", "Guard", "Mistake", "Verdict", "exercises"]
