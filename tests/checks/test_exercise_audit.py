"""The audit of the lessons' exercises: every mistake the course promises to diagnose has a diagnosis.

Each row names a mistake learners really make (issues of the course: lessons 02-06 and 07-14), the check
module that diagnoses it and the ``mistake`` id its verdict carries. The test proves the module declares that
mistake (so the generated tests diagnose its wrong program), so a diagnosis cannot silently disappear.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course.checks import LESSONS, exercises
from course.checks.vocabulary import MISTAKES

ROOT = Path(__file__).resolve().parents[2]

PROMISED_DIAGNOSES = [
    # (the mistake, check module, mistake id)
    ("a wrong sign in the update (lesson 02)", "gradient_descent_numpy", "wrong_sign"),
    ("a wrong sign in the update (lesson 03)", "autograd", "wrong_sign"),
    ("a learning rate below the largest stable one", "gradient_descent_numpy", "too_small"),
    ("a learning rate that diverges", "gradient_descent_numpy", "diverges"),
    ("forgetting to zero gradients (autograd)", "autograd", "no_zero_grad"),
    ("forgetting to zero gradients (optimizer)", "optimizers", "no_zero_grad"),
    ("forgetting to zero gradients (train step)", "training_pipeline", "no_zero_grad"),
    ("updating parameters outside torch.no_grad()", "autograd", "outside_no_grad"),
    ("a parameter made a non-leaf by .to(device)", "autograd", "non_leaf"),
    ("predictions and targets of different shapes (tensors)", "tensors_and_devices", "shape_mismatch"),
    ("predictions and targets of different shapes (losses)", "losses", "shape_mismatch"),
    ("probabilities passed where logits are expected", "losses", "sigmoid_before_logits_loss"),
    ("softmax before CrossEntropyLoss", "losses", "softmax_before_cross_entropy"),
    ("calling model.forward(x) directly (models)", "models", "called_forward"),
    ("calling model.forward(x) directly (train step)", "training_pipeline", "called_forward"),
    ("a model and data on different devices", "models", "device_mismatch"),
    ("forgetting model.eval() in validation", "evaluation", "no_eval"),
    ("forgetting torch.no_grad() in validation", "evaluation", "no_grad"),
    ("evaluating on the training set", "evaluation", "training_data"),
    ("scaling with statistics of all the data (evaluation)", "evaluation", "leakage"),
    ("scaling with statistics of all the data (classification)", "logistic_regression", "leakage"),
    ("a sigmoid before BCEWithLogitsLoss", "logistic_regression", "sigmoid_before_logits_loss"),
    ("optimizer.step() before backward()", "training_pipeline", "step_before_backward"),
    ("zeroing the gradients after backward, before step", "training_pipeline", "zero_grad_before_step"),
    ("a checkpoint without the optimizer state", "putting_it_together", "missing_optimizer"),
    ("a DistributedSampler without set_epoch", "beyond_one_machine", "no_set_epoch"),
    ("no activation between linear layers", "nonlinearity_and_mlps", "no_activation"),
    ("layers kept in a plain Python list", "nonlinearity_and_mlps", "plain_list"),
    ("gradient clipping outside backward/step", "nonlinearity_and_mlps", "clip_misplaced"),
    ("softmax before CrossEntropyLoss (multi-class)", "multiclass_classification", "softmax_before_cross_entropy"),
    ("argmax over the wrong dimension", "multiclass_classification", "argmax_wrong_dim"),
    ("a count instead of a share", "multiclass_classification", "count_not_share"),
    ("per-class accuracy divided by the wrong total", "multiclass_classification", "wrong_total"),
    ("float labels where class indices are expected", "multiclass_classification", "wrong_dtype"),
]


def _declared_ids(module: str) -> set[str]:
    return {item.id for exercise in exercises(module) for item in (*exercise.mistakes, *exercise.guards)}


@pytest.mark.parametrize(
    "mistake, module, mistake_id", PROMISED_DIAGNOSES, ids=[row[2] + "@" + row[1] for row in PROMISED_DIAGNOSES]
)
def test_promised_diagnosis_is_declared(mistake, module, mistake_id):
    # Declared means tested: test_declarations.py feeds every declared wrong program to its check.
    assert mistake_id in _declared_ids(module), (
        f"course/checks/{module}.py declares no mistake {mistake_id!r} ({mistake})"
    )
    assert mistake_id in MISTAKES, f"{mistake_id!r} is missing from the vocabulary"


def test_every_lesson_check_module_is_used_by_its_lesson():
    for number, module in LESSONS.items():
        (notebook,) = (ROOT / "notebooks").glob(f"{number}_*.ipynb")
        assert f"from course.checks import {module} as check" in notebook.read_text(), (
            f"{notebook.name} does not use {module}"
        )
