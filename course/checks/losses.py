"""Checks for lesson 06 (losses): MSE with the right shapes, binary cross-entropy by hand, the safe versions.

Each answer must return a loss *tensor* for backward() on a few batches: ordinary values, then logits of ±1000 (too
large for float64's exp too) and 0, on which each unsafe formula breaks and is named (the graph tells a rounded sigmoid
from an overflowing exp, which break on the same batches); the last batch is never shown."""

import warnings
from collections.abc import Callable
from functools import wraps

import numpy as np
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Binomial, Categorical, Multinomial, OneHotCategorical, kl_divergence
from torch.distributions.kl import _KL_REGISTRY

from course.checks.engine import Exercise, Guard, Library, Mistake
from course.checks.probes import FREED, any_item, freed, freeing, graph_nodes
from course.checks.values import close, describe

_SIGN = "the sign is wrong: log p < 0 for p < 1, so the formula starts with a minus; this loss is never negative."
_TWICE = "a sigmoid applied before a loss that applies its own: BCEWithLogitsLoss, like max(z, 0) - z y + log(1 + \
exp(-|z|)), takes logits and applies the sigmoid inside, so given sigmoid(z) it computed the loss of \
sigmoid(sigmoid(z)). Pass the raw logits z."
_SOFTMAX_TWICE = "softmax applied before a log-softmax: a cross-entropy takes raw logits and applies log-softmax \
itself (nn.CrossEntropyLoss does, as does logsumexp(z) minus the label's score), so given softmax(z) it computed the \
loss of softmax(softmax(z)). Pass the raw logits z."
_CAPPED = "the loss is capped at 100 where log(0) would be: for a large logit the sigmoid rounds to exactly 1.0 (or \
0.0), in float32 or float64, and its log is -inf; with the cap (BCELoss clamps each log at -100, and nan_to_num or a \
clamp can do the same) an example with a logit of 1000 on the wrong side loses 100 instead of 1000. Compute from the \
logits: max(z, 0) - z y + log(1 + exp(-|z|))."
_COLUMNS = "logits[:, labels] takes whole columns, (N, N); one score per row is logits[torch.arange(N), labels]."
_DETACHED = "no gradient flows from your loss back to the inputs: compute it from them, without .detach() or .item()."
_ROUNDED = "for a logit of ±1000 sigmoid(z) rounds to exactly 1.0 or 0.0, and a clamp or an added epsilon only turns \
log(0) into log(eps) (or not at all: 1 - 1e-8 is 1.0 in float32): an example with a logit of 1000 on the wrong side \
loses -log(eps), 16 for 1e-7, instead of 1000, and gets no gradient. Compute from the logits: max(z, 0) - z y + \
log(1 + exp(-|z|))."
_LOG_OF_SIGMOID = "your loss is inf or nan for a logit of ±1000: sigmoid(-1000) and 1 - sigmoid(1000) are \
exactly 0.0 in floating point (a sigmoid rounds to 0.0 or 1.0, as a softmax does), and the log of 0.0 is -inf however \
it is taken (torch.log, torch.xlogy, log1p(-p)). Compute the log of the sigmoid from the logits: F.logsigmoid(z) and \
F.logsigmoid(-z), or max(z, 0) - z y + log(1 + exp(-|z|))."
_BY_HAND = "your sigmoid by hand breaks at a logit of ±1000: exp(1000) overflows to inf (beyond about exp(88) in \
float32, exp(709) in float64), so the sigmoid comes out exactly 0.0 on one side (nan for exp(z) / (1 + exp(z))) and \
rounds to exactly 1.0 on the other, and the log of 0.0 (or of 1 - 1.0) is -inf. Compute from the logits with exp(-|z|), \
which never exceeds 1: max(z, 0) - z y + log(1 + exp(-|z|)), or F.logsigmoid(z) and F.logsigmoid(-z)."
_LOG_OF_SOFTMAX = "torch.softmax is computed safely (it subtracts the largest score first, so nothing overflows), \
but with a logit of 1000 the other classes' probabilities round to 0, exactly 0.0, whose log is -inf. Take the \
log from the logits: F.log_softmax(logits, dim=1) at the label, or torch.logsumexp(logits, dim=1) minus its score."
_KL = "torch.distributions' kl_divergence is inf wherever the predicted probability of the label is exactly 0.0, \
and the probabilities it computes from the logits (a sigmoid, a softmax) round to 0.0 or 1.0 for a logit of 1000: on \
the wrong side it gives inf where the loss is about 1000 (not an exp that broke). With one-hot targets the KL \
divergence is the cross-entropy itself: compute it from the logits, {}."
_BATCH_DIM = "the softmax ran over the batch, dim=0: each score was compared with the other examples' scores for its \
class, not with the other classes of its own row, so each example's loss depends on the rest of the batch. Take it \
over the classes, dim=1: F.log_softmax(logits, dim=1) at the label, or torch.logsumexp(logits, dim=1) minus its score."
_RELOGGED = "the probability rounds to 0 before the log (exp(-1000) is 0.0, and 1 - p is 0.0 where p is 1.0), whose \
log is -inf: take the log in one step, F.log_softmax / F.logsigmoid, and do not exp and log it again."
_EPSILON_SOFTMAX = "an epsilon or a clamp keeps the log finite, but for a logit of 1000 the other classes' \
probabilities round to exactly 0.0: a label scored 1000 below the largest loses -log(eps), 21 for 1e-9, not 1000, and \
gets no gradient. Take the log from the logits, as F.cross_entropy does: F.log_softmax, or logsumexp minus the score."
_EPSILONS = (1e-7, 1e-6, 1e-8, 1e-9, 1e-12, 1e-15)  # the epsilons learners add to a probability, or clamp it at
_ROUNDING = {"SigmoidBackward0", "SoftmaxBackward0", "TanhBackward0"}  # a probability rounding to exactly 0.0 or 1.0
_EXP = {"ExpBackward0", "Exp2Backward0", "Expm1Backward0", "PowBackward1", "PowBackward2"}  # each keeps its result
_LOGS = {"LogBackward0": 0.0, "Log2Backward0": 0.0, "Log10Backward0": 0.0, "Log1PBackward0": -1.0}  # -inf there
_WRITTEN = {"IndexPutBackward0", "MaskedFillBackward0"}  # inf written in where a probability is 0.0: distributions' KL


def _cause(loss: object) -> str:
    """Why ``loss`` is not finite: "" (it is), "overflow" (an exp gave inf), behind a log of 0.0 "rounded" (a sigmoid,
    a softmax) or "zero" (an exp of log-probabilities), "written" (a mask wrote inf: distributions' KL), "overflow"."""
    if not isinstance(loss, torch.Tensor) or bool(loss.isfinite().all()):
        return ""
    nodes, kind = graph_nodes(loss.grad_fn), lambda node: type(node).__name__
    if any(kind(node) in _EXP and not node._saved_result.isfinite().all() for node in nodes):
        return "overflow"
    zeros = [node for node in nodes if kind(node) in _LOGS and bool((node._saved_self == _LOGS[kind(node)]).any())]
    behind = graph_nodes(*zeros) if zeros else nodes  # what made the log's 0.0
    names, zero = {kind(node) for node in behind}, zeros and any(
        kind(node) in _EXP and bool((node._saved_result <= 1).all()) for node in behind)  # fmt: skip
    return "rounded" if names & _ROUNDING else "zero" if zero else "written" if names & _WRITTEN else "overflow"


def _same_cause(got: object, other: object) -> bool:
    """The same losses, and where they are inf or nan, broken by the same cause (:func:`_cause`)."""
    return close(got, other) and [_cause(x) for x in got] == [_cause(x) for x in other]


def _cut_off(got: list, expected: list) -> str:
    """What came back instead of a loss tensor, and its fix: detached, a number, a tuple, the function uncalled."""
    value = next(x for x in got if not (torch.is_tensor(x) and x.requires_grad))
    if torch.is_tensor(value):
        return _DETACHED
    text = f"return the loss as a tensor, got {describe(value)}"
    if isinstance(value, (tuple, list)) and any(torch.is_tensor(item) for item in value):
        return f"{text}: return only the loss, nothing alongside it (print or log other values outside the function)."
    if callable(value):  # a loss module or function handed back instead of called
        return f"{text}, the loss function itself: call it on the inputs and return the result (nn.MSELoss()(p, y))."
    if isinstance(value, (int, float, np.number, np.ndarray, tuple, list)):
        return f"{text}: .item() or NumPy cut it off, so backward() cannot run."
    return f"{text}: compute it with torch operations on the inputs, so that backward() can run."


_GUARDS = [  # a Python number (.item()) cuts the graph; a loss per element is not one number
    Guard("not_backpropagatable", any_item(lambda x: not (torch.is_tensor(x) and x.requires_grad)), lambda x, y: 0.5, _cut_off),  # noqa: E501
    Guard("wrong_shape", any_item(lambda x: x.numel() != 1), lambda x, y: x.abs(), "a loss is one number, but your function returned one value per element: average them."),  # noqa: E501
]  # fmt: skip


def _reaches(loss: torch.Tensor, inputs: torch.Tensor) -> bool:
    """Whether a gradient flows from ``loss`` to ``inputs`` (none from .item()); True where backward() fails."""
    try:
        gradient = torch.autograd.grad(loss.sum(), inputs, allow_unused=True, retain_graph=True)[0]
    except RuntimeError:  # also raised for a loss that does not require grad
        return loss.requires_grad
    return gradient is not None and bool((gradient != 0).any())


def _on_batches(answer, args: tuple) -> list:
    """The loss on each batch: one number as 0-d, detached if no gradient reaches the inputs, nan as inf (broke)."""
    seen = []
    for inputs, targets in zip(args[::2], args[1::2], strict=True):
        with warnings.catch_warnings(action="ignore"):  # the broadcast warning belongs to a mistake the verdict names
            loss = FREED if freed(loss := answer(inputs, targets)) else loss
        if isinstance(loss, torch.Tensor) and loss.numel() == 1 and loss.is_floating_point():
            reaches, loss = _reaches(loss, inputs), torch.where(loss.isnan(), torch.inf, loss).reshape(())
            loss = loss if reaches else loss.detach()  # asked of the NaN itself: torch.where's 0 would hide the graph
        seen.append(loss)
    return seen


def _explain(got: list, expected: list) -> str:
    """The losses on the batches shown (all but the last, which no message prints), or why some are capped."""
    low = graph_nodes(*(g.grad_fn for g, e in zip(got, expected, strict=True) if g.is_floating_point() and g.isfinite() and g < e and not close(g, e)))  # fmt: skip  # noqa: E501
    kind, near = lambda node: type(node).__name__, lambda t, at: bool((t - at).abs().lt(1e-3).any())  # -inf at `at`
    names = {kind(n) for n in low if kind(n) in _ROUNDING and bool((n._saved_result.abs() % 1 == 0).any())}  # 0.0, 1.0
    kept = any(near(n._saved_self, _LOGS[kind(n)]) if kind(n) in _LOGS else kind(n) == "XlogyBackward0" and near(n._saved_other, 0) for n in low)  # fmt: skip  # noqa: E501
    if any(map(close, got, expected)) and names and kept:  # a rounded probability's log kept finite: an epsilon,
        return _EPSILON_SOFTMAX if "SoftmaxBackward0" in names else _ROUNDED  # or a clamp, of any size
    yours, right = (", ".join(f"{loss.item():.4f}" for loss in losses[:-1]) for losses in (got, expected))
    if yours == right:  # only the batch never shown differs: numbers typed in, or fitted to the batches shown
        return (f"your losses match the batches shown ({right}) but not another batch: compute the loss from the "
                "inputs you are given, for any batch, with no number typed in.")  # fmt: skip
    return f"on the check's batches the losses should be {right}; yours are {yours}: compare with the lesson."


def _exercise(name, reference, batches, mistakes, alternatives, success, sign=True, library=(), same=close) -> Exercise:
    """A loss on (inputs, targets) batches, the last never shown; a wrong sign (if ``sign``) and a sum are mistakes of
    each; ``library``: each torch function asked for, with an answer that calls it; ``same`` compares losses."""
    negated = [Mistake("wrong_sign", lambda x, y: -reference(x, y), _SIGN)] if sign else []
    return Exercise(
        name, reference, success, alternatives=alternatives, observe=_on_batches, explain=_explain, same=same,
        guards=[Guard("graph_freed", any_item(lambda x: x is FREED), freeing(reference)), *_GUARDS],
        library=[Library(function, example) for function, example in library],
        inputs=lambda: tuple(t for x, y in batches for t in (torch.tensor(x).requires_grad_(), torch.tensor(y))),
        mistakes=[*mistakes, *negated, Mistake("sum_not_mean", lambda x, y: reference(x, y) * len(y))],
    )  # fmt: skip


def _hot(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.one_hot(labels.long(), scores.shape[1]).to(scores.dtype)  # one row per label, for F.kl_div


def _as_2d(log_p: torch.Tensor, labels: torch.Tensor) -> tuple:
    """Log-probabilities (N, C) and labels (N,) as a 1 x 1 image per row, which the 2-d losses take."""
    return log_p[..., None, None], labels.long()[..., None, None]


def _log_prob(law: type) -> Callable:
    """``law.log_prob`` under the name a learner knows (torch.distributions.Binomial.log_prob): a cross-entropy."""
    watched = wraps(law.log_prob)(lambda *args, **kwargs: law.log_prob(*args, **kwargs))
    watched.__module__, watched.__name__ = "torch.distributions", f"{law.__name__}.log_prob"
    return watched


def _cross_entropy_library(scores) -> list:
    """The library's cross-entropies, each with an answer that calls it on ``scores(inputs)``: (N, C) logits."""
    return [(F.cross_entropy, lambda x, y: torch.nn.CrossEntropyLoss()(scores(x), y.long())),
            (_log_prob(Categorical), lambda x, y: -Categorical(logits=scores(x)).log_prob(y.long()).mean()),
            (_log_prob(Multinomial), lambda x, y: -Multinomial(1, logits=scores(x)).log_prob(_hot(scores(x), y)).mean()),
            (F.nll_loss, lambda x, y: F.nll_loss(F.log_softmax(scores(x), dim=1), y.long())),
            (torch._C._nn.cross_entropy_loss, lambda x, y: torch._C._nn.cross_entropy_loss(scores(x), y.long()).mean()),
            (torch._C._nn.nll_loss_nd, lambda x, y: torch._C._nn.nll_loss_nd(scores(x).log_softmax(1), y.long()).mean()),
            (torch._C._nn.nll_loss, lambda x, y: torch._C._nn.nll_loss(scores(x).log_softmax(1), y.long()).mean()),
            (torch._C._nn.nll_loss2d, lambda x, y: torch._C._nn.nll_loss2d(*_as_2d(scores(x).log_softmax(1), y)).mean()),
            *((op, lambda x, y, op=op, shape=shape: op(*shape(scores(x).log_softmax(1), y.long()), None, 1, -100)[0])
              for op, shape in ((torch.ops.aten.nll_loss_forward, lambda *t: t),  # operators with no name in F
                                (torch.ops.aten.nll_loss2d_forward, _as_2d))),
            (F.kl_div, lambda x, y: F.kl_div(scores(x).log_softmax(1), _hot(scores(x), y), reduction="batchmean")),
            (torch.kl_div, lambda x, y: torch.kl_div(scores(x).log_softmax(1), _hot(scores(x), y)).sum() / len(y))]  # fmt: skip


def _logits_library(logits) -> list:
    """The library's binary cross-entropies from logits, each with an answer that calls it on ``logits(inputs)``."""
    return [(_log_prob(Bernoulli), lambda x, y: -Bernoulli(logits=logits(x)).log_prob(y).mean()),  # named before the
            (_log_prob(Binomial), lambda x, y: -Binomial(1, logits=logits(x)).log_prob(y).mean()),  # F. function inside
            (F.binary_cross_entropy_with_logits, lambda x, y: torch.nn.BCEWithLogitsLoss()(logits(x), y)),
            (torch.binary_cross_entropy_with_logits,
             lambda x, y: torch.binary_cross_entropy_with_logits(logits(x), y).mean()),
            (F.multilabel_soft_margin_loss, lambda x, y: F.multilabel_soft_margin_loss(logits(x)[None], y[None])),
            *_cross_entropy_library(lambda x: torch.stack([torch.zeros_like(logits(x)), logits(x)], dim=1))]  # fmt: skip


_KL_LAWS = [  # each registered KL function, with a distribution over the labels 0 and 1 from the probability of a 1
    (_KL_REGISTRY[Bernoulli, Bernoulli], lambda q: Bernoulli(probs=q)),
    (_KL_REGISTRY[Binomial, Binomial], lambda q: Binomial(1, logits=torch.logit(q, 1e-7))),
    (_KL_REGISTRY[OneHotCategorical, OneHotCategorical], lambda q: OneHotCategorical(probs=torch.stack([1 - q, q], 1))),
    (_KL_REGISTRY[Categorical, Categorical], lambda q: Categorical(probs=torch.stack([1 - q, q], 1))),  # after the
]  # one-hot's KL, which calls it
# the labels' KL divergence from the predictions (for labels 0 and 1, the cross-entropy): kl_divergence, named first
_KL_LIBRARY = [(kl_divergence, lambda p, y: kl_divergence(Bernoulli(probs=y), Bernoulli(probs=p)).mean()),
               *((kl, lambda p, y, kl=kl, law=law: kl(law(y), law(p)).mean()) for kl, law in _KL_LAWS)]  # fmt: skip


regression_loss = _exercise(  # MSE of (N, 1) predictions against (N,) targets
    "regression_loss", lambda p, y: F.mse_loss(p.squeeze(1), y),
    [([[0.3], [-1.6], [1.1], [0.9], [-0.2], [1.7], [2.0], [-1.3]], [0.5, -1.0, 2.0, 0.0, 1.5, -0.5, 3.0, 1.0]),
     ([[-0.7], [1.8], [0.4], [-1.9], [1.2]], [1.0, 1.0, -2.0, 0.5, 0.25]),
     ([[1.4], [-0.6], [0.2], [2.2], [-1.1], [0.8]], [0.9, -1.5, 0.0, 1.7, -0.4, 1.2])],
    [Mistake("shape_mismatch", lambda p, y: F.mse_loss(p, y)),
     Mistake("shape_mismatch", lambda p, y: ((p - y) ** 2).sum() / len(y)),  # the (N, N) matrix, over N
     Mistake("not_squared", lambda p, y: (p.squeeze(1) - y).abs().mean()),
     Mistake("square_of_mean", lambda p, y: (p.squeeze(1) - y).mean() ** 2),  # (p - y).mean() ** 2 broadcast: the same
     Mistake("root_of_mse", lambda p, y: F.mse_loss(p.squeeze(1), y).sqrt())],
    [lambda p, y: torch.nn.MSELoss()(p, y.unsqueeze(1)), lambda p, y: ((p.view(-1) - y) ** 2).mean()],
    "the shapes agree, so each prediction meets its own target.", sign=False,
)  # fmt: skip
bce_by_hand = _exercise(  # from probabilities; 3 ones to 1 zero, so averaging per class then over classes is wrong
    "bce_by_hand", lambda p, y: -(y * p.log() + (1 - y) * (1 - p).log()).mean(),
    [([0.2, 0.9, 0.6, 0.4, 0.7, 0.1], [1.0, 0.0, 1.0, 1.0, 0.0, 0.0]), ([0.5, 0.02, 0.99, 0.3], [0.0, 1.0, 1.0, 1.0]),
     ([0.35, 0.8, 0.05, 0.65, 0.5, 0.9, 0.15], [0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0])],
    [Mistake("swapped_terms", lambda p, y: -(y * (1 - p).log() + (1 - y) * p.log()).mean()),
     Mistake("missing_negative_term", lambda p, y: -(y * p.log()).mean()),
     Mistake("log_base_10", lambda p, y: -(y * p.log10() + (1 - y) * (1 - p).log10()).mean())],
    [lambda p, y: -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean(),
     lambda p, y: -torch.where(y == 1, p, 1 - p).log().mean()],
    "your binary cross-entropy matches nn.BCELoss on every batch.",
    library=[(F.binary_cross_entropy, lambda p, y: torch.nn.BCELoss()(p, y)),
             (torch._C._nn.binary_cross_entropy, lambda p, y: torch._C._nn.binary_cross_entropy(p, y).mean()),
             (F.soft_margin_loss, lambda p, y: F.soft_margin_loss(torch.logit(p), 2 * y - 1)),  # labels ±1
             *_logits_library(torch.logit), *_KL_LIBRARY,
             *_cross_entropy_library(lambda p: torch.stack([(1 - p).log(), p.log()], dim=1))],
)  # fmt: skip
binary_loss_from_logits = _exercise(  # from logits, the safe way; 1000 on the right side, then on the wrong side
    "binary_loss_from_logits", lambda z, y: (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean(),
    [([2.0, -1.5, 0.0, 1000.0, -1000.0, 0.6, -0.3], [0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0]),
     ([1000.0, -2.5, 0.7, 1.5], [0.0, 1.0, 0.0, 0.0]),  # then 50: sigmoid rounds to 1, exp(50) is finite
     ([-1000.0, 3.0, -0.4, 0.0, 50.0], [1.0, 1.0, 0.0, 1.0, 0.0]),
     ([1.2, -0.8, 3.5, -2.0, 0.4, -0.1], [1.0, 0.0, 0.0, 1.0, 1.0, 0.0])],
    [Mistake("sigmoid_then_bce", lambda z, y: F.binary_cross_entropy(z.sigmoid(), y), _CAPPED),
     Mistake("log_of_sigmoid", lambda z, y: -(y * z.sigmoid().log() + (1 - y) * (1 - z.sigmoid()).log()).mean(),
             _LOG_OF_SIGMOID),  # and the log of each example's own sigmoid: breaks where an exp overflows
     Mistake("log_of_sigmoid", lambda z, y: -torch.where(y == 1, z.sigmoid(), (-z).sigmoid()).log().mean(),
             _LOG_OF_SIGMOID),
     Mistake("log_of_sigmoid", lambda z, y: -(y * F.logsigmoid(z) + (1 - y) * (1 - F.logsigmoid(z).exp()).log()).mean(),
             _RELOGGED),
     *(Mistake("log_of_sigmoid", lambda z, y, e=eps, a=add: -(  # the epsilons learners use: in each log, or a clamp
         y * ((p := z.sigmoid() if a else z.sigmoid().clamp(e, 1 - e)) + a * e).log() + (1 - y) * (1 - p + a * e).log()
     ).mean(), _ROUNDED) for eps in _EPSILONS for add in (False, True)),
     Mistake("exp_overflow", lambda z, y: ((1 - y) * z + torch.log(1 + torch.exp(-z))).mean()),
     Mistake("exp_overflow", lambda z, y: (torch.log1p(torch.exp(z)) - z * y).mean()),
     Mistake("exp_overflow", lambda z, y: torch.log1p(torch.exp(-(2 * y - 1) * z)).mean()),  # F.soft_margin_loss's
     Mistake("exp_overflow", lambda z, y: -(y * (1 + (-z).exp()).reciprocal().log()  # the sigmoid by hand
                                            + (1 - y) * (1 - (1 + (-z).exp()).reciprocal()).log()).mean(), _BY_HAND),
     Mistake("sigmoid_before_logits_loss", lambda z, y: F.binary_cross_entropy_with_logits(z.sigmoid(), y), _TWICE),
     Mistake("log_of_sigmoid", lambda z, y: kl_divergence(Bernoulli(probs=y), Bernoulli(logits=z)).mean(),
             _KL.format("max(z, 0) - z y + log(1 + exp(-|z|))")),
     Mistake("missing_abs", lambda z, y: (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z))).mean()),
     Mistake("partly_detached", lambda z, y: (torch.from_numpy(np.maximum(z.detach().numpy(), 0)) - z * y  # NumPy's
                                              + torch.log1p(torch.exp(-z.abs()))).mean())],  # max: the right value
    [lambda z, y: (F.relu(z) - z * y + F.softplus(-z.abs())).mean(), lambda z, y: ((1 - y) * z - F.logsigmoid(z)).mean(),
     lambda z, y: ((z + z.abs()) / 2 - z * y + torch.log1p(torch.exp(-z.abs()))).mean()],  # other gradients at z = 0
    "max(z, 0) - z y + log(1 + exp(-|z|)): right even for logits of ±1000, where a sigmoid rounds to 1 or 0 and exp "
    "overflows.", library=_logits_library(lambda z: z), same=_same_cause,
)  # fmt: skip
class_loss = _exercise(  # cross-entropy from logits and class indices, by hand and safely
    "class_loss", lambda z, y: (torch.logsumexp(z, dim=1) - z.gather(1, y.unsqueeze(1)).squeeze(1)).mean(),
    [([[0.4, -2.1, 1.3, 2.8], [-1.7, 0.6, 2.2, -0.3], [1.1, -2.6, -0.9, 0.2], [2.5, 1.4, -1.2, -2.8]], [0, 3, 1, 2]),
     ([[1000.0, 0.0, -5.0, 2.0], [0.5, 0.5, 0.5, 0.5], [-3.0, 4.0, 0.0, 1.0]], [1, 2, 0]),
     ([[-0.6, 1.9, 0.3], [2.1, -0.2, -1.8], [0.0, 1.2, -2.3], [-1.1, -0.5, 2.6], [1.5, 0.8, -0.7]],
      [2, 0, 1, 1, 0])],  # 3 classes: no count of classes typed in
    [Mistake("unstable_softmax", lambda z, y: -(z.exp()[range(len(y)), y] / z.exp().sum(1)).log().mean()),
     Mistake("unstable_softmax", lambda z, y: -z.softmax(1)[range(len(y)), y].log().mean(), _LOG_OF_SOFTMAX),
     Mistake("unstable_softmax", lambda z, y: -F.log_softmax(z, 1).exp()[range(len(y)), y].log().mean(), _RELOGGED),
     *(Mistake("unstable_softmax", lambda z, y, e=eps, a=add: -(z.softmax(1) + e if a else z.softmax(1).clamp(min=e))
               .log()[range(len(y)), y].mean(), _EPSILON_SOFTMAX) for eps in _EPSILONS for add in (False, True)),
     Mistake("softmax_before_cross_entropy", lambda z, y: F.cross_entropy(z.softmax(dim=1), y), _SOFTMAX_TWICE),
     Mistake("missing_logsumexp", lambda z, y: -z[range(len(y)), y].mean()),
     Mistake("shape_mismatch", lambda z, y: (torch.logsumexp(z, dim=1) - z[:, y]).mean(), _COLUMNS),
     Mistake("all_classes", lambda z, y: (torch.logsumexp(z, dim=1, keepdim=True) - z).mean()),
     Mistake("wrong_axis", lambda z, y: (torch.logsumexp(z, dim=0)[y] - z[range(len(y)), y]).mean(), _BATCH_DIM),
     Mistake("wrong_axis", lambda z, y: -z.softmax(dim=0)[range(len(y)), y].log().mean(), _BATCH_DIM),
     Mistake("unstable_softmax", lambda z, y: kl_divergence(Categorical(probs=_hot(z, y)), Categorical(logits=z))
             .mean(), _KL.format("torch.logsumexp(logits, dim=1) minus the label's score")),
     Mistake("partly_detached", lambda z, y: (torch.logsumexp(z, dim=1) - z.detach()[range(len(y)), y]).mean())],
    [lambda z, y: -F.log_softmax(z, dim=1)[torch.arange(len(y)), y].mean(),
     lambda z, y: ((m := z.max(1, keepdim=True).values.detach()).squeeze(1) + (z - m).exp().sum(1).log()  # a detached
                   - z[range(len(y)), y]).mean()],  # shift: its gradient cancels, so detaching it is right
    "log-sum-exp minus the right class's score, averaged: nn.CrossEntropyLoss's number, even with a logit of 1000.",
    library=_cross_entropy_library(lambda z: z), same=_same_cause,
)  # fmt: skip
