"""Checks for lesson 13 (multi-class classification): the uniform loss, cross-entropy's inputs, two accuracies.

Probes: 7 samples of 10 classes for the loss (float64 labels, as read from a file), whose graph must reach back to the
logits; 8 samples of 5 classes for the accuracy, so an argmax over the wrong dimension gives 5 predictions and cannot
pass unnoticed; a row of the second accuracy probe has its largest logit 1.0 at class 1, so comparing the max values
with the targets matches once there and differs from an argmin or a guess; a third of 40 rows (a function reading only
10 fails); 11 samples of 4 uneven classes, the last never predicted (predictions.max() + 1, bincount without
minlength, torch.unique drop it), so precision and per-class accuracy differ, then 7 of 3 classes, each predicted,
class 1 never right. Each function runs on a second probe too: numbers typed in or written into the code fail.
"""

import math
from decimal import Decimal
from fractions import Fraction
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import FREED, any_item, freed, freeing
from course.checks.values import PerProbe, as_number, close, describe, exact_as_float
from course.checks.vocabulary import MISTAKES

_SAY = {  # more than the vocabulary says
    "float": "the labels are still float64: CrossEntropyLoss wants class indices of dtype long. Use labels.long().",
    "int32": "int32 (.int()) is refused: class indices must be int64, dtype long. Use labels.long().",
    "one-hot": "one-hot rows are read as class probabilities, which must be floats (.float()); simpler still, pass "
    "the class indices themselves, labels.long().",
    "column": "the targets must be one class index per sample, shape (N,), not a column (N, 1): drop the reshape.",
    "per sample": "that is one loss per sample (reduction='none'); the loss is their mean, one number: drop reduction.",
    "classes": "a mean over all N x 10 entries divides by the 10 classes too: sum over them (dim=1), then .mean().",
    "nll": "nll_loss needs log-probabilities: F.log_softmax(logits, dim=1) first, or F.cross_entropy on the raw logits.",
    "precision": "you divided by how often each class was *predicted* (a column of the confusion matrix): that is "
    "precision. Per-class accuracy divides by how many samples truly belong to the class (a row).",
    "flattened": "argmax() without dim returns one index into the flattened tensor; take it per row, argmax(dim=1).",
    "all samples": "you divided by all the samples; divide each class's correct count by the number of its samples.",
    "count": "that is each class's count of correct predictions; divide each count by the number of samples of that "
    "class (not by all the samples) to get a share between 0 and 1.",
    "cut": "backward() from your loss never reaches the logits: a new tensor made from its value (torch.tensor(loss"
    ".item(), requires_grad=True)), or a loss computed under torch.no_grad() then given .requires_grad_(), has no "
    "graph back to the model, so the model would not learn. Return the loss F.cross_entropy computes from the logits.",
    "missing class": "a class got no share: size the result by num_classes, never by what the data holds. Class 3 "
    "(num_classes - 1) is never predicted right in the check's first input, nor predicted: predictions.max() + 1 and "
    "a bincount without minlength stop before it, unique() skips it. Return num_classes shares (minlength=num_classes).",
    "no share": "your result has {} shares for {} classes: each class, 0 to num_classes - 1, needs one, in order.",
    "one short": "your shares are right, but the last class has none: range(num_classes - 1) stops one class short. "
    "range(num_classes) runs over every class, 0 to num_classes - 1.",
}


def _on_each(size: int):
    """An observation: the answer run on each probe, the probe inputs being consecutive groups of ``size``."""
    return lambda answer, args: [answer(*args[start : start + size]) for start in range(0, len(args), size)]


_CUT = object()  # what the loss observer records for a loss that no gradient can leave through to the logits


def _loss_seen(out: object, logits: torch.Tensor) -> object:
    """The loss ``out`` as it came, or what keeps backward() from training the model with it: FREED (its graph was
    freed), _CUT (no gradient reaches the logits). A loss of the right value whose gradient differs (part of it
    detached) is the engine's to find: it compares the gradients of every right answer with the reference's."""
    if freed(out):
        return FREED
    if not isinstance(out, torch.Tensor) or not out.requires_grad or out.numel() != 1 or out.device.type != "cpu":
        return out
    try:
        (gradient,) = torch.autograd.grad(out, logits, retain_graph=True, allow_unused=True)
    except Exception:  # not a differentiable loss: the guards, the comparison or the engine's backward() say so
        return out
    return _CUT if gradient is None else out


def _nan_marked(seen: object) -> object:
    """The per-class vectors _as_vector made, a share of 0/0 (NaN) marked -1, which no share is; else as it came."""
    if not isinstance(seen, list):
        return seen
    ours = lambda v: type(v) is torch.Tensor and v.dtype == torch.float64 and v.numel() <= 1000  # noqa: E731
    return [torch.nan_to_num(v, nan=-1.0) if ours(v) else v for v in seen]


def _same_shares(got: object, other: object) -> bool:
    """close, where a share of 0/0 (a precision of a class never predicted) equals another."""
    return close(_nan_marked(got), _nan_marked(other), rtol=1e-3)


def _misshapen(got: list) -> tuple | None:
    """(shape, classes, answer) of the first answer, a tensor or an array, not one share per class; else None."""
    return next(((tuple(g.shape), c, g) for g, c in zip(got, (4, 3), strict=True)
                 if type(g) in (torch.Tensor, np.ndarray) and g.shape != (c,)), None)  # fmt: skip


def _class_missing(got: list) -> bool:
    """Whether a probe's answer is a vector with fewer shares than classes: a class dropped."""
    return (found := _misshapen(got)) is not None and len(found[0]) == 1 and found[0][0] < found[1]


def _say_missing(got: list, expected: list) -> str:  # the last classes cut off (a count read from the data), or others
    yours, right = next((g, e) for g, e in zip(got, expected, strict=True) if len(g) < len(e))
    cut = _same_shares(torch.as_tensor(yours, dtype=torch.float64), right[: len(yours)])
    return _SAY["missing class"] if cut else _SAY["no share"].format(len(yours), len(right))


def _say_shape(got: list, expected: object) -> str:
    """What came back instead of one share per class: a matrix from broadcasting, one number, another shape."""
    shape, c, answer = _misshapen(got)
    came = describe(answer) if type(answer) is np.ndarray else f"a tensor of shape {shape}"  # the kind it was
    if shape == ():
        came = ("one number, an accuracy over all classes (the mean of the per-class shares is the balanced "
                "accuracy), but the exercise wants each class's own share")  # fmt: skip
    elif shape == (c, c):
        came = (f"a {shape} matrix: a vector (c,) and a column (c, 1) broadcast against each other (m.diag() / "
                "m.sum(dim=1, keepdim=True), say), so every class's count met every class's total")  # fmt: skip
    return f"your function returned {came}. Return one share per class, a vector of shape (num_classes,), here ({c},)."


def _as_vector(result: object) -> object:
    """A few per-class numbers (a CPU tensor, a 1-d array, a list, a tuple) as a float64 tensor, one number as a
    0-d one; else as it is."""
    if isinstance(result, np.ndarray) and result.dtype.kind in "biuf" and result.size <= 1000 and result.ndim <= 1:
        result = torch.tensor(result, dtype=torch.float64)
    if isinstance(result, torch.Tensor):
        ordinary = result.device.type == "cpu" and result.numel() <= 1000 and not result.is_complex()
        return result.detach().double() if ordinary else result
    if (number := as_number(exact_as_float(result))) is not None:
        return torch.tensor(number, dtype=torch.float64)
    if not isinstance(result, list | tuple) or len(result) > 1000:
        return result
    numbers = [as_number(exact_as_float(v)) for v in result]
    return result if None in numbers else torch.tensor(numbers, dtype=torch.float64)


def _correct_per_class(p: torch.Tensor, t: torch.Tensor, num_classes: int) -> torch.Tensor:  # predictions, targets
    return torch.bincount(t[p == t], minlength=num_classes)


def _confusion_diagonal_share(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> np.ndarray:
    from sklearn.metrics import confusion_matrix  # imported here: only this alternative needs it

    matrix = confusion_matrix(targets.numpy(), predictions.numpy(), labels=list(range(num_classes)))
    return matrix.diagonal() / matrix.sum(axis=1)


def _per_class_shares(p: torch.Tensor, t: torch.Tensor, c: int) -> torch.Tensor:
    return torch.stack([(p[t == k] == k).float().mean() for k in range(c)])


def _per_class_probes() -> tuple:
    return (torch.tensor([0, 0, 0, 1, 1, 0, 2, 2, 1, 2, 1]),  # predictions: class 3 never predicted
            torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2, 3, 3]), 4,  # targets, number of classes
            torch.tensor([2, 0, 2, 0, 1, 2, 0]), torch.tensor([2, 1, 0, 0, 2, 1, 0]), 3)  # 1 never right  # fmt: skip


def _accuracy_probes() -> tuple:  # then 40 rows of 10 classes, 65 % right: reading only the first or last 10 fails
    logits, right = torch.randn(40, 10, generator=(g := torch.Generator().manual_seed(13))), torch.rand(40, generator=g)
    return (torch.tensor([[2.5, 0.1, -1.0, 0.3, 0.2], [0.2, 1.7, 0.4, -0.6, 0.0], [-0.3, 0.2, 0.9, 1.4, 0.1],
                          [0.6, 0.5, 0.4, 0.3, 1.1], [1.2, -0.5, 0.3, 0.8, 0.1], [0.1, 0.2, 2.1, 0.3, -0.4],
                          [0.4, 1.3, 0.2, 0.5, 0.6], [-1.1, 0.3, 0.2, 2.2, 0.9]]),
            torch.tensor([0, 1, 2, 4, 0, 2, 3, 1]),
            torch.tensor([[0.3, 1.0, -0.4], [2.0, 0.1, 0.5], [0.2, 0.3, 0.9], [1.1, 0.8, -0.2], [0.0, 0.4, 0.1]]),
            torch.tensor([1, 0, 1, 0, 2]),
            logits, torch.where(right < 0.6, logits.argmax(1), torch.randint(10, (40,), generator=g)))  # fmt: skip


def _last_class_left_out(got: list) -> bool:
    """Whether the answer is right on each probe for every class but the last, which has no share: a loop over
    range(num_classes - 1) (a bincount without minlength drops class 3 of the first probe only)."""
    shares = _on_each(3)(_per_class_shares, _per_class_probes())
    return _same_shares(got, [_as_vector(right[:-1]) for right in shares])


def _digits_right(got: object, expected: float) -> bool:
    """Whether ``got`` is ``expected`` rounded or cut to the decimals it shows (2.3, 2.303 or 2.302, 2.3026 or 2.3025),
    or as float32 computes it; compared in decimal, as written (in floats 0.3 is 0.29999..., 0.2 no cut of it).

    >>> [_digits_right(v, math.log(10)) for v in (2.3, 2.302, 2.30258, 2.3026, 2.28, 2.31, 2.2, 2.0)]
    [True, True, True, True, False, False, False, False]
    >>> _digits_right(0.9, 1.0), _digits_right(0.9, 0.99)
    (False, True)
    """
    number, places = as_number(got), 0
    if number is None or not math.isfinite(number):
        return False
    text = str(np.float32(number)) if float(np.float32(number)) == number else repr(number)  # a float32's own digits
    if "e" not in text:
        places = len(text.partition(".")[2])
    typed, exact, unit = Decimal(text), Decimal(repr(float(expected))), Decimal(10) ** -places  # 0.3, not 0.2999...
    cut = places > 0 and typed * exact >= 0 and 0 <= abs(exact) - abs(typed) < unit  # the rest of the digits dropped
    rounded = abs(typed - exact) <= min(unit / 2, Decimal("0.05"))
    return cut or rounded or abs(number - expected) <= 1e-6 * abs(expected)


def _same_loss(got: object, expected: object) -> bool:
    """close, where a loss of one element in any shape ((1,) from a mean over dim=0 of a (N, 1) column) is the 0-d
    loss: backward() runs from it alike, with the same gradient (the engine compares it)."""
    one = lambda g: g.reshape(()) if type(g) is torch.Tensor and g.numel() == 1 else g  # noqa: E731
    return close(PerProbe(one(g) for g in got) if isinstance(got, PerProbe) else got, expected)


uniform_loss = Exercise(
    "uniform_loss", math.log(10), kind="value", guards=[Guard("not_a_number", lambda g: as_number(g) is None, "2.3")],
    observe=lambda value, args: exact_as_float(value), alternatives=[lambda: Decimal("2.3026")], same=_digits_right,
    mistakes=[Mistake("probability_not_loss", 0.1), Mistake("log_base_10", 1.0),
              Mistake("wrong_sign", -math.log(10), "a loss of -log(p) is never negative, since p is at most 1.")],
    explain=lambda got, expected: f"close, but {as_number(got):g} is not ln(10) = 2.302585... rounded or cut "
    "(2.3, 2.303 or 2.302, 2.3026): give the digits you are sure of, or compute it, math.log(10)." if close(got, expected, rtol=1e-2) else
    "not quite. With 10 equal logits, what probability does softmax give each class? The loss is minus the natural "
    "log of the right class's probability.",
    success="equal logits give every class probability 1/10, so the loss is -ln(0.1) = ln(10) ≈ 2.3026, "
    "whatever the target. An untrained 10-class model should start near it.",
)  # fmt: skip
digits_loss = Exercise(
    "digits_loss", lambda logits, labels: F.cross_entropy(logits, labels.long()),
    inputs=lambda: (torch.randn(7, 10, generator=torch.Generator().manual_seed(13)).mul(3).requires_grad_(),
                    torch.tensor([3.0, 0.0, 9.0, 3.0, 7.0, 1.0, 5.0], dtype=torch.float64),
                    torch.randn(5, 10, generator=torch.Generator().manual_seed(14)).mul(2).requires_grad_(),
                    torch.tensor([8.0, 2.0, 2.0, 6.0, 4.0], dtype=torch.float64)),
    observe=lambda answer, args: PerProbe(_loss_seen(answer(*args[i : i + 2]), args[i]) for i in (0, 2)),
    same=_same_loss,
    guards=[Guard("graph_freed", any_item(lambda got: got is FREED), freeing(lambda z, y: F.cross_entropy(z, y.long()))),
            Guard("not_backpropagatable", any_item(lambda got: got is _CUT), lambda logits, labels: torch.tensor(
                  F.cross_entropy(logits, labels.long()).item(), requires_grad=True), _SAY["cut"]),
            Guard("not_backpropagatable", any_item(lambda got: not isinstance(got, torch.Tensor) or not got.requires_grad),
                  lambda logits, labels: F.cross_entropy(logits, labels.long()).item(),
                  "the loss must stay a tensor connected to the graph so backward() can run: no .item(), .detach(), "
                  ".data, NumPy or torch.no_grad() on the way.")],
    mistakes=[  # logits z, labels y
        Mistake("softmax_before_cross_entropy", lambda z, y: F.cross_entropy(z.softmax(1), y.long())),
        Mistake("wrong_dtype", lambda z, y: F.cross_entropy(z, y), _SAY["float"]),
        Mistake("wrong_dtype", lambda z, y: F.cross_entropy(z, y.int()), _SAY["int32"]),
        Mistake("wrong_dtype", lambda z, y: F.cross_entropy(z, F.one_hot(y.long(), 10)), _SAY["one-hot"]),
        Mistake("wrong_shape", lambda z, y: F.cross_entropy(z, y.long().reshape(-1, 1)), _SAY["column"]),
        Mistake("sum_not_mean", lambda z, y: F.cross_entropy(z, y.long(), reduction="sum")),
        Mistake("no_mean", lambda z, y: F.cross_entropy(z, y.long(), reduction="none"), _SAY["per sample"]),
        Mistake("wrong_total", lambda z, y: -(F.one_hot(y.long(), 10) * z.log_softmax(1)).mean(), _SAY["classes"]),
        *(Mistake("missing_logsumexp", lambda z, y, f=f: F.nll_loss(f(z), y.long()), _SAY["nll"])
          for f in (torch.clone, partial(F.softmax, dim=1))),  # raw logits or probabilities: no log-softmax
    ],
    alternatives=[
        lambda z, y: torch.nn.CrossEntropyLoss()(z, y.to(torch.int64)), lambda z, y: F.cross_entropy(z, y.to(torch.uint8)),
        lambda z, y: F.cross_entropy(z, F.one_hot(y.long(), 10).float()), lambda z, y: F.nll_loss(z.log_softmax(1), y.long()),
        lambda logits, labels: -F.log_softmax(logits, dim=1)[torch.arange(len(labels)), labels.long()].mean(),
    ],
    success="raw logits, class indices of dtype long and shape (N,), and the loss kept as a tensor for backward().",
)  # fmt: skip
accuracy = Exercise(
    "accuracy", lambda logits, targets: (logits.argmax(dim=1) == targets).float().mean().item(),
    inputs=_accuracy_probes,
    observe=lambda answer, args: PerProbe(exact_as_float(got) for got in _on_each(2)(answer, args)),
    guards=[Guard("not_a_number", any_item(lambda got: as_number(got) is None), lambda logits, targets: [0.5],
                  lambda got, exp: "return one number, the share (a float, e.g. with .item()); got "
                                   f"{describe(next(g for g in got if as_number(g) is None))}.")],
    same=lambda got, other: close([as_number(g) for g in got], [as_number(o) for o in other], rtol=1e-3),  # float16 too
    mistakes=[  # the two argmax(dim=0) orders raise with different messages
        Mistake("argmax_wrong_dim", lambda logits, targets: (logits.argmax(dim=0) == targets).float().mean()),
        Mistake("argmax_wrong_dim", lambda logits, targets: (targets == logits.argmax(dim=0)).float().mean()),
        Mistake("argmax_wrong_dim", lambda logits, targets: (logits.argmax() == targets).float().mean(),
                _SAY["flattened"]),
        Mistake("broadcast_pairs", lambda logits, targets: (logits.argmax(dim=1, keepdim=True) == targets).float()
                .mean(), MISTAKES["broadcast_pairs"] + " argmax(dim=1, keepdim=True) gives that column (targets.view(-1, "
                "1) too): compare the predictions (N,), argmax(dim=1) without keepdim, with the targets as they come."),
        Mistake("max_values_not_indices", lambda logits, targets: (logits.max(dim=1)[0] == targets).float().mean()),
        Mistake("count_not_share", lambda logits, targets: (logits.argmax(dim=1) == targets).sum()),
        Mistake("percent_not_share", lambda logits, targets: 100 * (logits.argmax(dim=1) == targets).float().mean()),
    ],
    alternatives=[
        lambda logits, targets: (logits.softmax(dim=1).argmax(dim=1) == targets).float().mean(),
        lambda logits, targets: (logits.max(dim=1).indices == targets.int()).sum().item() / len(targets),
        lambda logits, targets: float((logits.numpy().argmax(axis=1) == targets.numpy()).mean()),
        lambda logits, targets: Fraction((logits.argmax(dim=1) == targets).sum().item(), len(targets)),  # exact
    ],
    success="the predicted class is the argmax over the classes (dim=1); accuracy is the share that match.",
)  # fmt: skip
per_class_accuracy = Exercise(
    "per_class_accuracy", _per_class_shares, inputs=_per_class_probes,
    observe=lambda answer, args: PerProbe(_as_vector(got) for got in _on_each(3)(answer, args)), same=_same_shares,
    guards=[Guard("class_dropped", _last_class_left_out, lambda p, t, c: _per_class_shares(p, t, c - 1),
                  _SAY["one short"]),
            Guard("class_dropped", _class_missing, lambda p, t, c: _per_class_shares(p, t, c)[p.unique()], _say_missing),
            Guard("wrong_shape", lambda got: _misshapen(got) is not None, lambda p, t, c: _correct_per_class(p, t, c)
                  / torch.bincount(t, minlength=c).reshape(-1, 1), _say_shape)],
    mistakes=[
        Mistake("wrong_total", lambda p, t, c: _correct_per_class(p, t, c) / torch.bincount(p, minlength=c),
                _SAY["precision"]),
        Mistake("wrong_total", lambda p, t, c: torch.nan_to_num(_correct_per_class(p, t, c) / torch.bincount(
                p, minlength=c)), _SAY["precision"]),  # precision with 0, not NaN, for a class never predicted
        Mistake("wrong_total", lambda p, t, c: _correct_per_class(p, t, c) / len(t), _SAY["all samples"]),
        Mistake("count_not_share", _correct_per_class, _SAY["count"]),
        Mistake("class_dropped", lambda p, t, c: torch.bincount(t[p == t]) / torch.bincount(t), _SAY["missing class"]),
    ],
    alternatives=[
        lambda p, t, c: _correct_per_class(p, t, c) / torch.bincount(t, minlength=c),
        lambda p, t, c: [((p == k) & (t == k)).sum().item() / (t == k).sum().item() for k in range(c)],
        lambda p, t, c: _confusion_diagonal_share(p.int(), t.int(), c),
        lambda p, t, c: [Fraction(((p == k) & (t == k)).sum().item(), (t == k).sum().item()) for k in range(c)],
    ],
    success="for each class: the correct predictions among the samples of that class, divided by their number.",
)  # fmt: skip
