"""Checks for lesson 11 (evaluation): a validation loss, R² by hand, scaling without leakage, early stopping.

The validation probe is a Dropout model that starts in training mode, with a Huber loss (so an MSE written in place
of ``loss_fn`` shows), and its loader's batches hold 4, 4 and 2 samples, so the mean over samples, the mean of the
batch means and a division by full batches all differ. Its residuals are uneven, some in Huber's quadratic part and
some in its linear part, so the per-sample losses are skewed: their median, their midrange and the loss of the mean
prediction all differ from their mean. Eval mode is judged by the Dropout layer itself, the layer it changes (a copy's
own, when the answer evaluates a copy), and the loss function must be left as it came (its reduction too). R² is
judged on a second probe too, so a number typed in from a message does not pass; the first one's R² is negative,
so a clip at 0 shows, and neither one's residuals average 0, so their variance is not their mean square. The scaling
probe's columns differ in spread and its two parts in mean, so every wrong choice of statistics shows.
"""

from functools import partial
from traceback import walk_stack

import numpy as np
import torch
from sklearn import metrics
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.checks.engine import Exercise, Guard, Library, Mistake
from course.checks.probes import randomised
from course.checks.values import PerProbe, as_number, close, describe, safe_text


def _number(value: object) -> object:
    """``value`` as a float when it is one number; anything else as it came, for the guards."""
    number = as_number(value)
    return value if number is None else number


_RESIDUALS = torch.tensor([0.1, -1.6, 0.3, 2.4, -0.2, 0.05, 1.1, -0.4, 3.0, -0.7])  # around Huber's delta 0.5
_FORWARD = nn.Sequential.forward.__code__  # up the stack when a layer runs inside model(x) or model.forward(x)


def _val_inputs(n: int = 10) -> tuple:
    """A Dropout model in training mode, a Huber loss (not MSE, not L1: a loss written in place of loss_fn shows)
    and a loader of ``n`` samples in batches of 4, the last one short, whose targets lie off the model's
    predictions by the uneven ``_RESIDUALS``."""
    model = randomised(nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 1)), seed=0)
    x = torch.linspace(-1, 1, 2 * n).view(n, 2)
    with torch.no_grad():
        y = model[1](x) + _RESIDUALS[:n].view(n, 1)  # the eval-mode prediction, Dropout being the identity there
    return model, nn.HuberLoss(delta=0.5), DataLoader(TensorDataset(x, y), 4)


def _settings(loss_fn: object) -> dict:
    """The loss function's own settings (reduction, delta, ...), as text: its public attributes but the mode."""
    attributes = getattr(loss_fn, "__dict__", {})
    text = lambda value: repr(value) if isinstance(value, str) else safe_text(value)  # noqa: E731  'mean', 0.5
    return {name: text(value) for name, value in attributes.items() if name[0] != "_" and name != "training"}


def watch_layers(dropout: nn.Module, *layers: nn.Module) -> tuple[list, list]:
    """Two lists that grow at each pass through these layers, of the model or a copy (deepcopy keeps hooks): the
    Dropout layer's mode, and whether each layer's output required grad (a graph built, however the layers were
    called: model(x), model.forward(x) or one by one; read as it is made, so a later .detach() undoes nothing)."""
    modes, graphs = [], []
    dropout.register_forward_hook(lambda layer, inputs, out: modes.append(layer.training))
    for layer in layers:
        layer.register_forward_hook(lambda layer, inputs, out: graphs.append(out.requires_grad))
    return modes, graphs


def _observe_val(fn: object, args: tuple) -> dict:
    """The number returned; the Dropout layer's modes and whether the output required grad at the model's forward
    passes (:func:`watch_layers`); whether model.forward(x) was called or the layers one by one (the model's hooks
    skipped), whether the parameters were left untrainable, and the settings of loss_fn left changed, (name, before,
    after); the number returned for a loader of 7 samples, so that a count written in shows."""
    (model, loss_fn, _), calls, settings, passes = args, [], _settings(args[1]), []
    modes, graphs = watch_layers(model[0], model[1])
    model.register_forward_pre_hook(lambda *_: calls.append("call"))  # model.forward(x) skips this hook
    model[1].register_forward_hook(lambda *_: passes.append(any(f.f_code is _FORWARD for f, _ in walk_stack(None))))
    loss, after = _number(fn(*args)), _settings(loss_fn)
    return {"loss": loss, "modes": sorted(set(modes)), "graphs": sorted(set(graphs)),
            "called_forward": len(calls) < passes.count(True), "layers": False in passes,
            "froze_parameters": not all(p.requires_grad for p in model.parameters()),
            "loss_fn_changed": [(k, settings.get(k), after.get(k)) for k in sorted(settings.keys() | after.keys())
                                if settings.get(k) != after.get(k)],
            "other": _number(fn(*_val_inputs(7)))}  # fmt: skip


def _val(model: nn.Module, loss_fn: object, loader: object, fault: str = "") -> object:
    """validation_loss done right, or with the fault named (a guard or mistake id; "layers": called one by one)."""
    model.train(fault == "no_eval").requires_grad_(fault != "froze_parameters")
    forward = {"called_forward": model.forward, "layers": lambda x: model[1](model[0](x))}.get(fault, model)
    with torch.set_grad_enabled(fault == "no_grad"):
        losses, sizes = np.array([(loss_fn(forward(x), y).item(), len(x)) for x, y in loader]).T
        each = [loss_fn(forward(x[i : i + 1]), y[i : i + 1]).item() for x, y in loader for i in range(len(x))]
        outs, ys = zip(*((forward(x), y) for x, y in loader), strict=True)
    mean = losses @ sizes / sizes.sum()
    return dict(mean_of_batch_means=losses.mean(), sum_not_mean=losses.sum(), last_loss_only=losses[-1],
                wrong_total=losses @ sizes / sizes.max() / len(sizes), median=float(np.median(each)),
                midrange=(max(each) + min(each)) / 2,
                loss_of_mean=loss_fn(torch.cat(outs).mean(), torch.cat(ys).mean()).item()).get(fault, mean)  # fmt: skip


_ONE_NUMBER = "return the mean loss as one number (a float, e.g. with .item())."
_LAYERS = "you ran the layers one by one, skipping the model's own forward (it may do more) and hooks: call model(x)."
_SHORT_LAST_BATCH = "the last batch is short: divide by the number of samples."
_FROZEN = "you turned off requires_grad on the model's parameters, so training could no longer update them: use \
`with torch.no_grad():`, which stops recording only while the evaluation runs."


def _sums(model: nn.Module, loss_fn: nn.Module, loader: object) -> float:
    """The mean from summed batch losses, leaving the caller's loss_fn summing: reduction is never put back."""
    loss_fn.reduction = "sum"
    return _val(model, loss_fn, loader, fault="sum_not_mean") / len(loader.dataset)


def _loss_fn_changed(got: dict, expected: object) -> str:
    name, before, after = got["loss_fn_changed"][0]
    return (f"your function set loss_fn.{name} = {after} (it was {before}) and left it so: the caller's loss function "
            "changed too, and every loss computed with it after this call would differ. Put it back when you are done "
            f"(loss_fn.{name} = {before}, in a finally: block), or leave loss_fn as it came.")  # fmt: skip


_MEAN = "weight each batch's loss by its size and divide by the number of samples, sum(loss * len(x)) / n."
_NOT_THE_MEAN = {fault: f"that is {what}, not the mean of the per-sample losses: {_MEAN}" for fault, what in [
    ("median", "the median of the per-sample losses"),
    ("midrange", "halfway between the smallest and the largest per-sample loss"),
    ("loss_of_mean", "the loss of the mean prediction against the mean target")]}  # fmt: skip
validation_loss = Exercise(
    name="validation_loss",
    inputs=_val_inputs,
    reference=_val,
    observe=_observe_val,
    guards=[
        Guard("model_not_called", lambda got: not got["graphs"], lambda model, loss_fn, loader: 0.5),
        Guard("no_eval", lambda got: any(got["modes"]), partial(_val, fault="no_eval")),
        Guard("no_grad", lambda got: any(got["graphs"]), partial(_val, fault="no_grad")),
        Guard("called_forward", lambda got: got["called_forward"], partial(_val, fault="called_forward")),
        Guard("called_forward", lambda got: got["layers"], partial(_val, fault="layers"), _LAYERS),
        Guard(
            "froze_parameters", lambda got: got["froze_parameters"], partial(_val, fault="froze_parameters"), _FROZEN
        ),
        Guard("mutated_input", lambda got: got["loss_fn_changed"], _sums, _loss_fn_changed),
        Guard(
            "not_a_number", lambda got: not isinstance(got["loss"], float), lambda *args: str(_val(*args)), _ONE_NUMBER
        ),
    ],
    mistakes=[Mistake(f, partial(_val, fault=f)) for f in ("mean_of_batch_means", "sum_not_mean", "last_loss_only")]
    + [Mistake("wrong_total", partial(_val, fault="wrong_total"), _SHORT_LAST_BATCH)]
    + [Mistake("not_mean_of_losses", partial(_val, fault=f), text) for f, text in _NOT_THE_MEAN.items()],
    alternatives=[lambda model, loss_fn, loader: _val(model, loss_fn, [loader.dataset.tensors])],  # one big batch
    explain=lambda got, expected: (
        f"right for this loader, but for a loader of 7 samples you returned {describe(got['other'])}, not "
        f"{expected['other']:.4f}: divide by the number of samples the loader holds, not by a number written in."
        if close(got["loss"], expected["loss"])
        else f"expected the mean of loss_fn over the samples, {expected['loss']:.4f}; got {got['loss']:.4f}."
    ),
    success="the mean loss over all validation samples, in eval mode and without a graph.",
)


def _r2(y_true: torch.Tensor, y_pred: torch.Tensor, centre: object = None, ss_res: object = torch.sum) -> object:
    """1 - SS_res / SS_tot, or a mistaken version of it."""
    centre = y_true.mean() if centre is None else centre
    return 1 - ss_res((y_true - y_pred) ** 2) / ((y_true - centre) ** 2).sum()


def _r2_explain(got: list, expected: list) -> str:
    """Which probe went wrong: a number typed in fits the first one only."""
    if close(got[0], expected[0]):
        return (
            f"right on these targets, but on another pair of tensors your function returned {describe(got[1])}, "
            f"not {expected[1]:.4f}: compute R² from y_true and y_pred, not a number written in."
        )
    return f"expected R² = {expected[0]:.4f}, got {describe(got[0])}."


_CENTRED_RESIDUALS = "the variance of the residuals, (y_true - y_pred).var(), subtracts their own mean, so it \
measures their spread around that mean, not their size: its ratio to y_true.var() is 1 - R² only when the residuals \
average 0, and a model off by the same amount everywhere would score R² = 1 (the explained variance). Use the \
squared residuals themselves: 1 - ((y_true - y_pred) ** 2).sum() / ((y_true - y_true.mean()) ** 2).sum()."
_SKLEARN = {  # "no scikit-learn": what computes R², or the mean squared error (over the variance: R² too; a Tweedie
    metrics.r2_score: lambda t, p: metrics.r2_score(t.numpy(), p.numpy()),  # deviance of power 0, the default, is
    metrics.d2_tweedie_score: lambda t, p: metrics.d2_tweedie_score(t.numpy(), p.numpy()),  # the squared error), each
    **{f: lambda t, p, f=f, k=k: 1 - f(t.numpy(), p.numpy()) ** k / t.numpy().var() for f, k in  # before those it
       ((metrics.root_mean_squared_error, 2), (metrics.mean_tweedie_deviance, 1), (metrics.mean_squared_error, 1))},
}  # fmt: skip  # calls, so that a verdict names the one called
r_squared = Exercise(
    name="r_squared",
    inputs=lambda: (
        torch.tensor([3.0, -0.5, 2.0, 7.0, 4.5, 1.0]),
        torch.tensor([7.0, 3.0, -1.0, 2.0, 1.0, 7.0]),  # worse than the mean: R² below 0; residuals' mean -1/3
        torch.tensor([1.0, 4.0, -2.0, 0.5, 6.0]),
        torch.tensor([1.5, 2.5, -1.0, 1.5, 4.0]),  # the residuals' mean: 0.2
    ),
    reference=_r2,
    observe=lambda fn, args: PerProbe(_number(fn(*args[start : start + 2])) for start in (0, 2)),  # each probe pair
    guards=[
        Guard("not_a_number", lambda got: not all(isinstance(v, float) for v in got), lambda y_true, y_pred: [0.5])
    ],
    mistakes=[
        Mistake("missing_one_minus", lambda y_true, y_pred: 1 - _r2(y_true, y_pred)),
        Mistake("wrong_denominator", lambda y_true, y_pred: _r2(y_true, y_pred, centre=y_pred.mean())),
        Mistake("not_centred", lambda y_true, y_pred: _r2(y_true, y_pred, centre=0.0)),
        Mistake("mean_over_sum", lambda y_true, y_pred: _r2(y_true, y_pred, ss_res=torch.mean)),
        Mistake("unbiased_variance", lambda y_true, y_pred: 1 - ((y_true - y_pred) ** 2).mean() / y_true.var()),
        Mistake("swapped_arguments", lambda y_true, y_pred: _r2(y_pred, y_true)),
        Mistake("clipped_r2", lambda y_true, y_pred: _r2(y_true, y_pred).clamp(min=0.0)),
        Mistake(
            "residual_variance", lambda y_true, y_pred: 1 - (y_true - y_pred).var() / y_true.var(), _CENTRED_RESIDUALS
        ),
    ],
    alternatives=[lambda y_true, y_pred: 1 - ((y_true - y_pred) ** 2).mean() / y_true.var(unbiased=False)],
    library=[Library(function, example) for function, example in _SKLEARN.items()],
    explain=_r2_explain,
    success=lambda expected: f"R² = {expected[0]:.4f}, as sklearn.metrics.r2_score computes it.",
)


def _tensor(value: object) -> object:
    """A NumPy array (scikit-learn's StandardScaler returns them) as a tensor; anything else as it came."""
    return torch.from_numpy(value) if isinstance(value, np.ndarray) and value.dtype.kind == "f" else value


def _scaled(stats: torch.Tensor, *parts: torch.Tensor, dim: object = 0, ddof: int = 1) -> tuple:
    """Every part scaled with the mean and standard deviation of ``stats``."""
    return tuple((part - stats.mean(dim=dim)) / stats.std(dim=dim, correction=ddof) for part in parts)


_WRONG_SCALING = {
    "leakage": lambda train, val, ddof: _scaled(torch.cat([train, val]), train, val, ddof=ddof),
    "own_statistics": lambda train, val, ddof: _scaled(train, train, ddof=ddof) + _scaled(val, val, ddof=ddof),
    "wrong_axis": lambda train, val, ddof: _scaled(train, train, val, dim=None, ddof=ddof),
}
_by_row = lambda train, val, ddof: tuple(_scaled(p.T, p.T, ddof=ddof)[0].T for p in (train, val))  # noqa: E731
_BY_ROW = "each row was scaled by its own mean and std (dim=1), which mixes features: use x_train's per column (dim=0)."
_POPULATION = (20 / 19) ** 0.5  # a right pair scaled with the population std (ddof 0, as scikit-learn) is this larger
_EPS = 1e-3  # rtol: an epsilon of 1e-5 added to the std, or to the variance as BatchNorm does, is right (std 0.1)
standardize = Exercise(
    name="standardize",
    inputs=lambda: (
        torch.randn(20, 3, generator=torch.Generator().manual_seed(2)) * torch.tensor([1.0, 10.0, 0.1]) + 5,
        torch.randn(8, 3, generator=torch.Generator().manual_seed(3)) * torch.tensor([2.0, 5.0, 0.3]) + 7,
    ),
    reference=lambda x_train, x_val: _scaled(x_train, x_train, x_val),
    observe=lambda fn, args: tuple(map(_tensor, got)) if isinstance(got := fn(*args), (tuple, list)) else got,
    guards=[
        Guard("not_a_pair", lambda got: not isinstance(got, (tuple, list)) or len(got) != 2, lambda train, val: train),
        Guard("not_a_tensor", lambda got: not all(map(torch.is_tensor, got)), lambda train, val: (train.tolist(), val)),
    ],
    mistakes=[  # each with the sample std (ddof 1) and the population std (ddof 0)
        *(Mistake(mistake, partial(wrong, ddof=ddof)) for mistake, wrong in _WRONG_SCALING.items() for ddof in (1, 0)),
        *(Mistake("wrong_axis", partial(_by_row, ddof=ddof), _BY_ROW) for ddof in (1, 0)),
        Mistake("no_std", lambda train, val: (train - train.mean(0), val - train.mean(0))),
    ],
    alternatives=[
        lambda train, val: _scaled(train, train, val, ddof=0),
        lambda train, val: tuple(
            (p - train.mean(0)) / (train.var(0, correction=0) + 1e-5) ** 0.5 for p in (train, val)
        ),
    ],
    same=lambda got, expected: any(
        close(got, tuple(part * scale for part in expected), rtol=_EPS) for scale in (1, _POPULATION)
    ),
    explain=lambda got, _: "expected (x - mean) / std for both parts, with the mean and std of each column of x_train.",
    success="each column scaled with the mean and standard deviation of the training part only.",
)


# validation losses 0.90 0.62 0.48 0.50 0.48 0.55 0.47 ...: a tie is no improvement, so patience 3 stops at epoch 6
_WRONG_PAIRS = dict(tie_is_improvement=(10, 7), patience_off_by_one=(11, 7), no_early_stop=(12, 7), zero_based=(5, 2),
                    training_data=(12, 12), restored_last=(6, 6))  # fmt: skip
_TWO_EPOCHS = "return a pair of two epoch numbers, (stop_epoch, best_epoch); got {got}."
_PATIENCE = "is not it: count the epochs since the best so far; stop when that count reaches patience (3)."
_NUMBERS = "the pair's items should be numbers, epoch numbers such as 4, not {}: (stop_epoch, best_epoch)."
_not_numbers = lambda got, _: _NUMBERS.format(describe(next(i for i in got if type(i) is not float)))  # noqa: E731


def _pair(answer: object) -> object:
    """A sequence of two items as a tuple, each number as a float; anything else as it came."""
    try:
        two = np.ndim(answer) == 1 and len(answer) == 2
    except Exception:  # a ragged sequence that NumPy cannot shape
        return answer
    return tuple(map(_number, answer)) if two else answer


early_stopping = Exercise(
    name="early_stopping",
    kind="value",
    reference=lambda: (6, 3),
    observe=lambda answer, _: _pair(answer),
    guards=[
        Guard("not_a_pair", lambda got: not isinstance(got, tuple) or len(got) != 2, lambda: 6, _TWO_EPOCHS),
        Guard("not_a_number", lambda got: set(map(type, got)) != {float}, lambda: ("6", "3"), _not_numbers),
    ],  # fmt: skip
    mistakes=[
        *(Mistake(m, lambda pair=pair: pair) for m, pair in _WRONG_PAIRS.items()),
        Mistake("swapped_pair", lambda: (3, 6), "the pair is the wrong way round: (stop_epoch, best_epoch)."),
    ],
    explain=lambda got, _: f"({got[0]:g}, {got[1]:g}) {_PATIENCE}",
    success="the lowest validation loss is at epoch 3; epochs 4, 5 and 6 do not beat it (a tie is no "
    "improvement), so training stops after epoch 6 and the weights of epoch 3 are restored.",
)
