"""Checks for lesson 13 (Multi-class classification): four exercises declared over one engine.

Probes: 7 samples of 10 classes for the loss (float64 labels, as read from a file), 8 samples of
5 classes for the accuracy (so an argmax over the wrong dimension cannot pass unnoticed), and 11
samples of 4 uneven classes, each predicted at least once, for the per-class accuracy.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.values import as_number, close

# --- Exercise 1: predict the loss of a model that knows nothing ----------------------------------------
uniform_loss = Exercise(
    name="uniform_loss",
    kind="value",
    reference=lambda: math.log(10),
    guards=[Guard("not_a_number", when=lambda got: as_number(got) is None, example=lambda: "2.3")],
    mistakes=[
        Mistake(
            "probability_not_loss",
            lambda: 0.1,
            "0.1 is the probability each of the 10 classes gets; the loss is -log of the right class's probability.",
        ),
        Mistake("log_base_10", lambda: 1.0, "-log10(0.1) is 1, but cross-entropy uses the natural log: -ln(0.1)."),
        Mistake("wrong_sign", lambda: -math.log(10), "a loss of -log(p) is never negative, since p is at most 1."),
    ],
    same=partial(close, rtol=1e-2),
    explain=lambda got, expected: (
        "not quite. With 10 equal logits, what probability does softmax give each class? "
        "The loss is minus the natural log of the right class's probability."
    ),
    success="equal logits give every class probability 1/10, so the loss is -ln(0.1) = ln(10) ≈ 2.3026, "
    "whatever the target. An untrained 10-class model should start near it.",
)


# --- Exercise 2: fix the loss function (logits and float labels) -----------------------------------------
def _loss_probe() -> tuple[torch.Tensor, torch.Tensor]:
    logits = torch.randn(7, 10, generator=torch.Generator().manual_seed(13)).mul(3).requires_grad_()
    labels = torch.tensor([3.0, 0.0, 9.0, 3.0, 7.0, 1.0, 5.0], dtype=torch.float64)
    return logits, labels


def _cut_off(got: object) -> bool:
    return not isinstance(got, torch.Tensor) or not got.requires_grad


digits_loss = Exercise(
    name="digits_loss",
    inputs=_loss_probe,
    reference=lambda logits, labels: F.cross_entropy(logits, labels.long()),
    guards=[
        Guard(
            "not_backpropagatable",
            when=_cut_off,
            example=lambda logits, labels: F.cross_entropy(logits, labels.long()).item(),
            message="return the loss as a tensor still connected to the graph (no .item(), .detach() or "
            "torch.no_grad()): backward() needs it.",
        )
    ],
    mistakes=[
        Mistake(
            "softmax_before_cross_entropy", lambda logits, labels: F.cross_entropy(logits.softmax(1), labels.long())
        ),
        Mistake(
            "wrong_dtype",
            lambda logits, labels: F.cross_entropy(logits, labels),
            "the labels are still float64: CrossEntropyLoss wants class indices of dtype long. Use labels.long().",
        ),
        Mistake(
            "wrong_dtype",
            lambda logits, labels: F.cross_entropy(logits, labels.int()),
            "int32 (.int()) is refused: class indices must be int64, dtype long. Use labels.long().",
        ),
        Mistake(
            "wrong_dtype",
            lambda logits, labels: F.cross_entropy(logits, F.one_hot(labels.long(), 10)),
            "one-hot rows are read as class probabilities, which must be floats (.float()); "
            "simpler still, pass the class indices themselves, labels.long().",
        ),
        Mistake(
            "wrong_shape",
            lambda logits, labels: F.cross_entropy(logits, labels.long().reshape(-1, 1)),
            "the targets must be one class index per sample, shape (N,), not a column (N, 1): drop the reshape.",
        ),
        Mistake("sum_not_mean", lambda logits, labels: F.cross_entropy(logits, labels.long(), reduction="sum")),
    ],
    alternatives=[
        lambda logits, labels: torch.nn.CrossEntropyLoss()(logits, labels.to(torch.int64)),
        lambda logits, labels: F.cross_entropy(logits, F.one_hot(labels.long(), 10).float()),
        lambda logits, labels: F.nll_loss(F.log_softmax(logits, dim=1), labels.long()),
        lambda logits, labels: -F.log_softmax(logits, dim=1)[torch.arange(len(labels)), labels.long()].mean(),
        lambda logits, labels: F.cross_entropy(logits, labels.to(torch.uint8)),
    ],
    success="raw logits, class indices of dtype long and shape (N,), and the loss kept as a tensor for backward().",
)


# --- Exercise 3: fix the accuracy function ----------------------------------------------------------------
def _accuracy_probe() -> tuple[torch.Tensor, torch.Tensor]:
    logits = torch.tensor(
        [
            [2.5, 0.1, -1.0, 0.3, 0.2],
            [0.2, 1.7, 0.4, -0.6, 0.0],
            [-0.3, 0.2, 0.9, 1.4, 0.1],
            [0.6, 0.5, 0.4, 0.3, 1.1],
            [1.2, -0.5, 0.3, 0.8, 0.1],
            [0.1, 0.2, 2.1, 0.3, -0.4],
            [0.4, 1.3, 0.2, 0.5, 0.6],
            [-1.1, 0.3, 0.2, 2.2, 0.9],
        ]
    )
    targets = torch.tensor([0, 1, 2, 4, 0, 2, 3, 0])
    return logits, targets


def _as_number(result: object) -> object:
    """A learner's one-number result as a float (a count as int, tensor or NumPy scalar alike); else as it is."""
    number = as_number(result)
    return result if number is None else number


accuracy = Exercise(
    name="accuracy",
    inputs=_accuracy_probe,
    observe=lambda answer, args: _as_number(answer(*args)),
    reference=lambda logits, targets: (logits.argmax(dim=1) == targets).float().mean().item(),
    guards=[
        Guard("not_a_number", when=lambda got: as_number(got) is None, example=lambda logits, targets: [0.5]),
    ],
    mistakes=[
        Mistake("argmax_wrong_dim", lambda logits, targets: (logits.argmax(dim=0) == targets).float().mean()),
        Mistake("argmax_wrong_dim", lambda logits, targets: (targets == logits.argmax(dim=0)).float().mean()),
        Mistake(
            "argmax_wrong_dim",
            lambda logits, targets: (logits.argmax() == targets).float().mean(),
            "argmax() without dim returns one index into the flattened tensor; take it per row, argmax(dim=1).",
        ),
        Mistake("max_values_not_indices", lambda logits, targets: (logits.max(dim=1)[0] == targets).float().mean()),
        Mistake("count_not_share", lambda logits, targets: (logits.argmax(dim=1) == targets).sum()),
        Mistake("percent_not_share", lambda logits, targets: 100 * (logits.argmax(dim=1) == targets).float().mean()),
    ],
    alternatives=[
        lambda logits, targets: (logits.softmax(dim=1).argmax(dim=1) == targets).float().mean(),
        lambda logits, targets: (logits.max(dim=1).indices == targets.int()).sum().item() / len(targets),
        lambda logits, targets: float((logits.numpy().argmax(axis=1) == targets.numpy()).mean()),
    ],
    success="the predicted class is the argmax over the classes (dim=1); accuracy is the share that match.",
)


# --- Exercise 4: per-class accuracy -----------------------------------------------------------------------
def _per_class_probe() -> tuple[torch.Tensor, torch.Tensor, int]:
    targets = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
    predictions = torch.tensor([0, 0, 0, 1, 1, 0, 2, 2, 3, 3, 3])
    return predictions, targets, 4


def _as_vector(result: object) -> object:
    """A learner's per-class result as a float64 tensor when it is a few numbers; anything else as it is."""
    if isinstance(result, torch.Tensor):
        ordinary = result.device.type == "cpu" and result.numel() <= 1000 and not result.is_complex()
        return result.detach().to(torch.float64) if ordinary else result
    if isinstance(result, (list, tuple, np.ndarray)) and len(result) <= 1000:
        numbers = [as_number(value) for value in result]
        if all(number is not None for number in numbers):
            return torch.tensor(numbers, dtype=torch.float64)
    return result


def _per_class(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.stack([(predictions[targets == c] == c).float().mean() for c in range(num_classes)])


def _correct_per_class(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.bincount(targets[predictions == targets], minlength=num_classes)


per_class_accuracy = Exercise(
    name="per_class_accuracy",
    inputs=_per_class_probe,
    reference=_per_class,
    observe=lambda answer, args: _as_vector(answer(*args)),
    mistakes=[
        Mistake(
            "wrong_total",
            lambda p, t, c: _correct_per_class(p, t, c) / torch.bincount(p, minlength=c),
            "you divided by how often each class was *predicted* (a column of the confusion matrix): that is "
            "precision. Per-class accuracy divides by how many samples truly belong to the class (a row).",
        ),
        Mistake(
            "wrong_total",
            lambda p, t, c: _correct_per_class(p, t, c) / len(t),
            "you divided by all the samples; divide each class's correct count by the number of samples of that class.",
        ),
        Mistake("count_not_share", _correct_per_class),
    ],
    alternatives=[
        lambda p, t, c: _correct_per_class(p, t, c) / torch.bincount(t, minlength=c),
        lambda p, t, c: [((p == k) & (t == k)).sum().item() / (t == k).sum().item() for k in range(c)],
        lambda p, t, c: _confusion_diagonal_share(p.int(), t.int(), c),
    ],
    success="for each class: the correct predictions among the samples of that class, divided by their number.",
)


def _confusion_diagonal_share(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> np.ndarray:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(targets.numpy(), predictions.numpy(), labels=list(range(num_classes)))
    return matrix.diagonal() / matrix.sum(axis=1)
