"""Review round 11: legitimate uses the round-10 checks refused or got wrong, each compared with torch itself.

A ``functools.partial`` of a three-tensor -1/+1 loss that fixes the target, ``target=...``, takes the loader's y as
its second input, not as a sign; the words for a label 0 say what torch's losses do with it; and ``evaluate`` gives
the whole set's loss for torch's class-weighted means (``weight``, ``ignore_index``) and ``batchmean``.
"""

from __future__ import annotations

import functools
import re

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from course.loss_values import check_values
from course.training import evaluate, fit, train_epoch

GEN = torch.Generator().manual_seed(11)
X = torch.randn(10, 3, generator=GEN)


def _train(loss_fn: object, y: torch.Tensor, out: int = 1) -> float:
    model = nn.Linear(3, out)
    loader = DataLoader(TensorDataset(X, y), batch_size=5)
    return train_epoch(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.01), loader)


# ----------------------------------------------------------------------------- a partial that gives the target itself


@pytest.mark.parametrize(
    ("loss_fn", "y", "out"),
    [
        (functools.partial(F.margin_ranking_loss, target=torch.ones(1, 1)), torch.randn(10, 1, generator=GEN), 1),
        (functools.partial(F.cosine_embedding_loss, target=torch.ones(5)), torch.randn(10, 3, generator=GEN), 3),
    ],
    ids=["margin_ranking_loss", "cosine_embedding_loss"],
)
def test_a_three_tensor_loss_whose_partial_gives_the_target_takes_any_second_input(loss_fn, y, out):
    """loss_fn(pred, y) is margin_ranking_loss(pred, y, target=ones): y is the other input, scores of any value."""
    loss = _train(loss_fn, y, out)
    assert loss == loss  # noqa: PLR0124 (not NaN: it trained)


def test_a_partial_whose_target_comes_from_the_loader_is_still_checked():
    """margin_ranking_loss(x1, pred, y): the loader's y is the target, and 0/1 labels are still refused."""
    loss_fn = functools.partial(F.margin_ranking_loss, torch.zeros(1, 1))  # x1 broadcast to each batch
    with pytest.raises(ValueError, match=r"margin_ranking_loss expects targets -1 or \+1.*\{0, 1\}"):
        _train(loss_fn, (X[:, :1] > 0).float())
    assert _train(loss_fn, torch.where(X[:, :1] > 0, 1.0, -1.0)) >= 0


# ----------------------------------------------------------------------------- what a label 0 does, told right


def _message(loss_fn: object, pred: torch.Tensor) -> str:
    with pytest.raises(ValueError) as info:
        check_values(pred, torch.tensor([0.0, 1.0]), loss_fn)
    return str(info.value)


def test_hinge_embedding_loss_with_a_label_0_is_told_as_torch_computes_it():
    x = torch.tensor([-3.0, 0.5, 4.0])
    lowest = float(F.hinge_embedding_loss(x, torch.zeros(3), margin=1.0, reduction="none").min())
    assert lowest == 1.0  # torch: max(margin, x), never below the margin
    text = _message(nn.HingeEmbeddingLoss(), torch.zeros(2))
    assert "below 0" not in text and "max(margin, x)" in text


@pytest.mark.parametrize(
    ("loss_fn", "shape", "words"),
    [
        (functools.partial(F.margin_ranking_loss, torch.zeros(2)), (2,), r"constant loss, the margin, and no gradient"),
        (functools.partial(F.cosine_embedding_loss, torch.ones(2, 3)), (2, 3), r"loss 0 and no gradient"),
    ],
    ids=["margin_ranking_loss", "cosine_embedding_loss"],
)
def test_a_three_tensor_loss_with_a_label_0_is_told_as_torch_computes_it(loss_fn, shape, words):
    pred = torch.randn(*shape, generator=GEN, requires_grad=True)
    loss_fn(pred, torch.zeros(2)).backward()  # torch: a label 0 gives no gradient
    assert not pred.grad.any()
    text = _message(loss_fn, pred.detach())
    assert "below 0" not in text and re.search(words, text)


# ----------------------------------------------------------------------------- evaluate: the whole set's loss


def _batches(x: torch.Tensor, y: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[i : i + 4], y[i : i + 4]) for i in range(0, len(x), 4)]  # 4, 4, 2


CLASSES = torch.randint(0, 4, (10,), generator=GEN)
IGNORED = CLASSES.clone()
IGNORED[[0, 1, 2, 5]] = -100  # the first batch mostly padding: its mean counts 1 target, the second 3
TOKENS = torch.randint(0, 4, (10, 5), generator=GEN)
TOKENS[torch.rand(10, 5, generator=GEN) < 0.4] = 0  # 0 is padding below
WEIGHT = torch.tensor([1.0, 2.0, 3.0, 4.0])


@pytest.mark.parametrize(
    ("loss_fn", "y"),
    [
        (nn.CrossEntropyLoss(), IGNORED),
        (nn.CrossEntropyLoss(weight=WEIGHT), CLASSES),
        (nn.CrossEntropyLoss(weight=WEIGHT, ignore_index=2, label_smoothing=0.1), CLASSES),
        (functools.partial(F.cross_entropy, ignore_index=0), TOKENS),
        (functools.partial(F.cross_entropy, weight=WEIGHT, ignore_index=0), TOKENS),
        (nn.NLLLoss(weight=WEIGHT), CLASSES),
        (functools.partial(F.nll_loss, ignore_index=-100), IGNORED),
    ],
    ids=["ce ignore_index", "ce weight", "ce weight ignore smoothing", "tokens", "tokens weight", "nll weight", "nll"],
)
def test_evaluate_is_torchs_loss_of_the_whole_set_for_class_weighted_means(loss_fn, y):
    torch.manual_seed(0)
    layers = [nn.Linear(3, 4 * y[0].numel()), nn.Unflatten(1, (4, *y.shape[1:]))]  # (N, C) or (N, C, 5) scores
    model = nn.Sequential(*layers, nn.LogSoftmax(dim=1)) if "nll" in repr(loss_fn).lower() else nn.Sequential(*layers)
    with torch.no_grad():
        whole = loss_fn(model(X), y).item()
    assert evaluate(model, loss_fn, _batches(X, y)) == pytest.approx(whole, rel=1e-6)


def test_fit_validation_is_the_whole_set_loss_with_ignore_index():
    torch.manual_seed(0)
    model, loss_fn = nn.Linear(3, 4), nn.CrossEntropyLoss()
    history = fit(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.0), _batches(X, CLASSES), 1,
                  val_loader=_batches(X, IGNORED), progress=False)  # fmt: skip
    with torch.no_grad():
        whole = loss_fn(model(X), IGNORED).item()
    assert history["val_loss"][0] == pytest.approx(whole, rel=1e-6)


def test_evaluate_weighs_a_batchmean_by_its_samples_whatever_their_length():
    """KLDivLoss(reduction="batchmean") divides by the samples: sequences of 3 and 6 steps weigh by their samples."""
    torch.manual_seed(0)
    model, loss_fn = nn.Sequential(nn.Linear(3, 4), nn.LogSoftmax(dim=-1)), nn.KLDivLoss(reduction="batchmean")
    xs = [torch.randn(4, 3, 3, generator=GEN), torch.randn(2, 6, 3, generator=GEN)]
    ys = [torch.softmax(torch.randn(*x.shape[:2], 4, generator=GEN), dim=-1) for x in xs]
    with torch.no_grad():
        summed = sum(F.kl_div(model(x), y, reduction="sum") for x, y in zip(xs, ys, strict=True))
    assert evaluate(model, loss_fn, list(zip(xs, ys, strict=True))) == pytest.approx(summed.item() / 6, rel=1e-6)
