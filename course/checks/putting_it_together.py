"""Checks for lesson 14 (putting it all together): what a checkpoint holds, resuming exactly, predicting.

>>> predict_by_hand(None)
⏳ Not attempted yet: replace the placeholder (None or ...) with your answer, then run this cell again.
"""

import copy
import inspect
import io
import warnings
from collections.abc import Mapping
from functools import partial

import numpy as np
import torch
from torch import nn, optim

from course.checkpoints import load_checkpoint
from course.checks.engine import Exercise, Guard, Library, Mistake
from course.checks.evaluation import watch_layers
from course.checks.probes import flat_parameters, randomised, tag_is
from course.checks.resume_probe import EPOCHS as _EPOCHS
from course.checks.resume_probe import epochs_by_hand, fault_message, faults, judged, loop_message, rates_message
from course.checks.resume_probe import fresh_path as _fresh_path
from course.checks.resume_probe import parts as _parts
from course.checks.resume_probe import resumed as _resumed
from course.checks.values import close, describe, safe_text
from course.checks.vocabulary import MISTAKES
from course.training import fit, predict

_STATES = {"model": None, "optimizer": "param_groups", "scheduler": "last_epoch", "history": "train_loss"}  # and a key


def _checkpoint(**changes: object) -> dict:
    """A complete checkpoint after 3 epochs, parts as state_dict() gives them, with ``changes`` (KeyError: no key)."""
    ckpt = {"model": {"weight": torch.ones(1, 2), "bias": torch.zeros(1)}, "epoch": 3,
            "optimizer": {"state": {0: {"momentum_buffer": torch.ones(1, 2)}, 1: {"momentum_buffer": torch.ones(1)}},
                          "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0, 1]}]},
            "scheduler": {"step_size": 2, "gamma": 0.1, "last_epoch": 3, "_last_lr": [0.1]},
            "history": {"train_loss": [0.5, 0.4, 0.3], "val_loss": [0.6, 0.5, 0.4], "lr": [0.1, 0.1, 0.1]}}  # fmt: skip
    return {key: value for key, value in (ckpt | changes).items() if value is not KeyError}


def _load_error(ckpt: Mapping) -> str:
    """What ``torch.load(..., weights_only=True)`` says when it cannot read ``ckpt`` back; "" when it can."""
    try:
        torch.save(ckpt, buffer := io.BytesIO())
        torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return ""


# whether ckpt[key] is no state dict: the model's maps names to tensors (not wrapped in another dict), others hold a key
_lacks = lambda ckpt, key: not isinstance(part := ckpt.get(key), Mapping) or not part or (  # noqa: E731
    not all(isinstance(value, torch.Tensor) for value in part.values()) if key == "model" else _STATES[key] not in part)  # fmt: skip
# whether the optimizer's state is empty though its groups keep one (momentum, Adam's betas): it never stepped
_fresh_optimizer = lambda ckpt: not ckpt["optimizer"].get("state") and isinstance(groups := ckpt["optimizer"][  # noqa: E731
    "param_groups"], list | tuple) and any(isinstance(g, Mapping) and (g.get("momentum") or "betas" in g) for g in groups)  # fmt: skip
# an optimizer of one parameter, for the objects the declared mistakes store; whether ckpt[key] is the method
# state_dict itself, not called (model.state_dict, without the brackets)
_sgd = lambda momentum=0.0: optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=momentum)  # noqa: E731
_not_called = lambda ckpt, key: inspect.ismethod(method := ckpt.get(key)) and method.__name__ == "state_dict"  # noqa: E731


def _off(ckpt: Mapping, epochs: object) -> int | None:
    """The first optimizer step count (Adam's, one a batch) not ``epochs`` × batches per epoch, or None (none to read)."""
    try:
        return next(step for got in ckpt["optimizer"]["state"].values() if (step := int(got.get("step", 0))) % epochs)
    except Exception:  # none off (SGD keeps no step count), or another form
        return None


def _untrained(ckpt: Mapping) -> bool:
    """Whether every layer's weights and bias (a 2-D or larger "*weight" and its "*bias") still lie within ±1/sqrt(fan
    in), where PyTorch's default initialisation draws them, though the optimizer stepped: an untrained model's."""
    try:
        layers = [(w, ckpt["model"].get(key[:-6] + "bias", w)) for key, w in ckpt["model"].items() if key.endswith(
            "weight") and w.dim() > 1]  # fmt: skip
        return bool(layers and ckpt["optimizer"].get("state")) and all(
            bool(max(w.abs().max(), b.abs().max()) <= w[0].numel() ** -0.5 + 1e-6) for w, b in layers)  # fmt: skip
    except Exception:  # empty or meta tensors, another form: nothing to tell
        return False


def _other_run(ckpt: Mapping) -> bool:
    """Whether the scheduler stepped once an epoch of another run than the history's (Adam's step counts agree)."""
    try:
        steps, done = ckpt["scheduler"]["last_epoch"], len(ckpt["history"]["train_loss"])
        return 0 < steps != done and ckpt["epoch"] in (steps, done) and _off(ckpt, steps) is None
    except Exception:  # a part of another form: the tests after this one name it
        return False


_PARTS = ("model", "optimizer", "scheduler")
_PROBLEMS = [  # (mistake, its test, the changes that make it), in order: each test may rely on those before
    *[(f"state_dict_not_called/{key}", partial(_not_called, key=key), {key: part.state_dict})
      for key, part in zip(_PARTS, (nn.Identity(), _sgd(), optim.lr_scheduler.StepLR(_sgd(), 2)), strict=True)],
    ("whole_model", lambda ckpt: isinstance(ckpt.get("model"), nn.Module), {"model": nn.Identity()}),
    ("optimizer_object", lambda ckpt: isinstance(ckpt.get("optimizer"), optim.Optimizer),
     {"optimizer": optim.SGD([nn.Parameter(torch.zeros(1))])}),
    ("scheduler_object", lambda ckpt: callable(getattr(ckpt.get("scheduler"), "state_dict", None)),
     {"scheduler": optim.lr_scheduler.StepLR(_sgd(), 2)}),
    ("numpy_scalars", lambda ckpt: "multiarray.scalar" in _load_error(ckpt), {"history": {"loss": [np.float64(0.5)]}}),
    ("not_loadable", lambda ckpt: _load_error(ckpt) != "", {"extra": nn.ReLU}),
    *[(f"missing_{key}", partial(_lacks, key=key), {key: KeyError}) for key in _STATES],
    ("missing_optimizer/fresh", _fresh_optimizer, {"optimizer": _sgd(momentum=0.9).state_dict()}),
    ("missing_epoch", lambda ckpt: type(ckpt.get("epoch")) is not int, {"epoch": 3.0}),
    ("history_other_run", _other_run, {"history": {"train_loss": [0.5, 0.4], "val_loss": [0.6, 0.5], "lr": [0.1, 0.1]}}),
    ("wrong_epoch", lambda ckpt: ckpt["epoch"] != len(ckpt["history"]["train_loss"]), {"epoch": 0}),
    ("missing_scheduler/fresh", lambda ckpt: ckpt["scheduler"]["last_epoch"] != ckpt["epoch"],  # stepped once an epoch
     {"scheduler": optim.lr_scheduler.StepLR(_sgd(), 2).state_dict()}),
    ("missing_optimizer/other_run", lambda ckpt: _off(ckpt, ckpt["epoch"]) is not None, {"optimizer": {"state": {0: {"step": torch.tensor(4.0), "exp_avg": torch
     .ones(1, 2)}}, "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "params": [0]}]}}),  # 4 steps: not 3 epochs
    ("missing_model/untrained", _untrained, {"model": {"weight": torch.tensor([[0.5, -0.6]]), "bias": torch.zeros(1)}}),
]  # fmt: skip


_missing = lambda key, got, expected: MISTAKES[f"missing_{key}"] if key in got[1] else (  # noqa: E731  (the keys there are)
    f"the checkpoint has no key '{key}' (its keys: {', '.join(map(repr, got[1][:8])) or 'none'}): store each part "
    "under the name resuming reads it by: 'model', 'optimizer', 'scheduler', 'epoch' and 'history'.")  # fmt: skip
_SAY = {  # more than the vocabulary says
    **{f"missing_{key}": partial(_missing, key) for key in (*_STATES, "epoch")},
    **{f"state_dict_not_called/{key}": f"'{key}' holds the method {key}.state_dict itself, not its result: torch.save pickles the whole {key} with it, and torch.load(weights_only=True) refuses to load it back. "
       f"Call it, {key}.state_dict(), and store the dict it returns." for key in _PARTS},  # noqa: E501
    "missing_optimizer/fresh": "the optimizer's state is empty (no momentum buffers, no Adam averages): that is the "
    "state_dict() of an optimizer that never stepped. Store optimizer.state_dict() of the optimizer that trained "
    "the model, after training.",
    "missing_scheduler/fresh": "the scheduler's last_epoch is not the checkpoint's epoch: that is the state_dict() of "
    "a scheduler that never stepped (or stepped another number of times), so the learning-rate schedule would "
    "restart. Store scheduler.state_dict() of the scheduler fit stepped, once per epoch, after training.",
    "missing_model/untrained": "the model's weights are not the trained run's: every layer's weights and bias "
    "still lie within ±1/√(its inputs), where PyTorch's initialisation draws them, as in a model that never trained, "
    "though the optimizer state has stepped. Save model.state_dict() of the model you trained (the one fit trained "
    "with this optimizer), next to its optimizer, scheduler, epoch and history.",
    "missing_optimizer/other_run": lambda got, expected: f"the optimizer state comes from another run: its step count {safe_text(got[2][0], 20)} (Adam counts one step per batch) is not epoch × batches per epoch = {got[2][1]} × a whole number, as fit gives after the checkpoint's {got[2][1]} epochs. Store optimizer.state_dict() of the optimizer that trained this model, next to the scheduler, epoch and history of the same run.",  # noqa: E501
}  # fmt: skip
checkpoint_contents = Exercise(
    "checkpoint_contents", _checkpoint, "model, optimizer and scheduler states, the epoch and the history: all there, "
    "and it loads with torch.load(..., weights_only=True).", kind="value",
    observe=lambda ckpt, args: (next((problem for problem, found, _ in _PROBLEMS if found(ckpt)), "complete"),
    tuple(safe_text(key, 40) for key in ckpt), (_off(ckpt, ckpt.get("epoch")), safe_text(ckpt.get("epoch"), 20)))
    if isinstance(ckpt, Mapping) else ("not_a_dict", ()),
    alternatives=[partial(_checkpoint, rng={"torch": torch.get_rng_state()}, note=["run 1"])],
    guards=[Guard("not_a_dict", tag_is("not_a_dict"), lambda: [1, 2])], same=lambda got, other: got[0] == other[0],
    mistakes=[Mistake(problem.split("/")[0], partial(_checkpoint, **changes), _SAY.get(problem))  # got: (problem, keys,
              for problem, _, changes in _PROBLEMS],  # (an optimizer step count off, the epoch))
)  # fmt: skip


_LOSSES = "each epoch's mean loss (the mean of its batch losses, as fit records it, or the mean over its samples)"
_OTHER_HISTORY = f"the final weights are right, but the returned history is not the run's: it should hold the checkpoint's history, then {_LOSSES} for each epoch after it. Return the history fit returns."  # fmt: skip  # noqa: E501
_HISTORIES = {  # a history of the right run with other losses for the resumed epochs: the form, its mistake and message
    "sum": ("sum_not_mean", "the epoch's loss is the mean of its batch losses, not their sum: each resumed epoch in your history holds its batch losses added up. Divide the total by the number of batches, as fit does (add loss.item(), a float: adding the loss tensor keeps every batch's graph)."),  # noqa: E501
    "last": ("last_loss_only", "each resumed epoch in your history holds only the last batch's loss, not the mean of all its batch losses: add up loss.item() over the epoch's batches and divide by their number, as fit does."),  # noqa: E501
    "made_up": ("history_other_run", f"the resumed epochs' losses are not the ones the run had: the final weights are right, but history['train_loss'] after the checkpoint does not hold {_LOSSES}. Return the history fit returns, or record each epoch's loss as it trains."),  # noqa: E501
}  # fmt: skip


def _explain_resume(got: tuple, expected: object) -> str:
    """Why the runs differ; first, when the check's own file (or its own run) failed, that nothing was judged."""
    runs = [*got, *expected] if isinstance(expected, tuple) else [*got, ("check_failed", describe(expected))]
    if (failed := next((run[1] for run in runs if run and run[0] == "check_failed"), None)) is not None:  # own failure
        return f"the check itself failed ({failed}), so your answer was not judged: run the cell again."
    weights_right = all(close(g[-1], e[-1], rtol=1e-6, atol=1e-7) for g, e in zip(got, expected, strict=False))
    if weights_right and all(g[:3] == e[:3] and g[3] != e[3] for g, e in zip(got, expected, strict=False)):
        return rates_message(got)  # the rates alone are not the run's
    return next(
        (f"the returned history has {g[0]} epochs; an unbroken run has {e[0]} (checked on two runs that stopped at "
         "different epochs: take both numbers from the checkpoint and the argument)."
         for g, e in zip(got, expected, strict=False) if g[0] != e[0]),
        _OTHER_HISTORY if weights_right else loop_message(got) or "the final weights are not those of a run that "
        "never stopped: restore the model, the optimizer, the scheduler and the loader's generator from the "
        "checkpoint, then fit with history and start_epoch.")  # fmt: skip


def _by_hand(path, *parts, generator):  # load_checkpoint's work by hand: right too (a part None: not restored, which
    ckpt = torch.load(path, weights_only=True)
    for part, key in zip(parts, ("model", "optimizer", "scheduler"), strict=True):
        part is None or part.load_state_dict(ckpt[key])  # load_checkpoint refuses for a scheduler without optimizer)
    generator.set_state(ckpt["rng"]["generator"])
    return ckpt


def _resume(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs, /, forget="", load=load_checkpoint, **told):  # fmt: skip  # noqa: E501
    """resume done right, or not restoring the part to ``forget`` (the model: a copy), or telling fit ``told`` too."""
    parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "generator": generator} | (
        {forget: copy.deepcopy(model) if forget == "model" else None} if forget else {})  # fmt: skip
    ckpt = load(path, parts["model"], parts["optimizer"], parts["scheduler"], generator=parts["generator"])
    told = {"history": ckpt["history"], "start_epoch": ckpt["epoch"], "scheduler": scheduler} | told
    with warnings.catch_warnings(action="ignore"):  # fit's warning about a scheduler not loaded: the check's to tell
        return fit(model, loss_fn, optimizer, loader, epochs, progress=False, **told)


def _resume_by_hand(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs, /, form="mean"):  # fmt: skip
    """resume with a loop of one's own for fit's, its history holding each resumed epoch's loss in ``form``
    (:data:`course.checks.resume_probe.FORMS`; "made_up": other numbers)."""
    ckpt = load_checkpoint(path, model, optimizer, scheduler, generator=generator)
    run = epochs_by_hand(model, loss_fn, optimizer, scheduler, loader, ckpt["epoch"], epochs)
    losses = run.get(form, [123.0] * (epochs - ckpt["epoch"]))
    return {"train_loss": ckpt["history"]["train_loss"] + losses, "lr": ckpt["history"]["lr"] + run["lr"]}


# the mistakes of passing fit the epochs still to run, and of returning the checkpoint's history
_epochs_left = lambda path, *rest: _resume(path, *rest[:-1], rest[-1] - torch.load(path, weights_only=True)["epoch"])  # noqa: E731
_history_kept = lambda *args: (torch.load(args[0], weights_only=True)["history"], _resume(*args))[0]  # noqa: E731
_COPIED = "your code raised {got} Here the optimizer you were given holds the parameters of the model you were given: load the checkpoint into that model and train the model you were given, not a copy (copy.deepcopy makes new parameters, which the optimizer does not hold)."  # fmt: skip  # noqa: E501
resume = Exercise(
    "resume", _resume, "the resumed run ends with exactly the weights of a run that never stopped, and its history "
    "holds that run's losses (each epoch's mean batch loss, as fit records it; the mean over its samples is right too) "
    "and learning rates, one float per epoch in every list.",
    inputs=lambda: (_fresh_path(), *_parts(seed=99), _EPOCHS), observe=_resumed, explain=_explain_resume,
    pure=False, same=lambda got, other: close(judged(got), judged(other), rtol=1e-6, atol=1e-7),  # not pure: no tensor
    alternatives=[partial(_resume, load=_by_hand), *(partial(_resume_by_hand, form=form) for form in ("mean", "samples"))],
    guards=[Guard("not_a_dict", lambda got: any(run[0] == "not_a_history" for run in got),
                  lambda *args: _resume(*args)["train_loss"], "return the history that fit returns, a dict of lists such as history['train_loss']."),
            Guard("history_lost", lambda got: any(fault[0] != "value" for fault in faults(got)), lambda *args: _resume(
                *args) | {"lr": torch.load(args[0], weights_only=True)["history"]["lr"]}, fault_message),  # lr not extended
            Guard("not_a_number", lambda got: bool(faults(got)), lambda *args: {key: [torch.tensor(value,
                  requires_grad=True) * 1 for value in values] for key, values in _resume(*args).items()}, fault_message)],
    mistakes=[*(Mistake(f"{part}_not_restored", partial(_resume, forget=part, load=_by_hand if part in ("optimizer",
                "model") else load_checkpoint), lambda got, _, part=part: loop_message(got) or MISTAKES[
                f"{part}_not_restored"]) for part in ("scheduler", "optimizer", "generator", "model")),  # seen restored?
              Mistake("raised", lambda path, model, *rest: _resume(path, copy.deepcopy(model), *rest), _COPIED),
              Mistake("scheduler_not_stepped", partial(_resume, scheduler=None)),
              Mistake("wrong_start_epoch", partial(_resume, history=None, start_epoch=0)),
              Mistake("wrong_start_epoch", partial(_resume, start_epoch=0)),
              Mistake("history_lost", partial(_resume, history=None)),
              Mistake("epochs_remaining", _epochs_left),
              Mistake("returned_checkpoint_history", _history_kept, "your function returned the checkpoint's own history (the "
                      "epochs before it only), not fit's: fit goes on with a copy of it. Return what fit returns."),
              *(Mistake(mistake, partial(_resume_by_hand, form=form), say) for form, (mistake, say) in _HISTORIES.items()),
              Mistake("returned_none", lambda *args: _resume(*args) and None)],
)  # fmt: skip


def _prediction(answer, args: tuple) -> tuple:
    """(form, equals the eval-mode output, graph built, Dropout active, BatchNorm training, every layer training after
    a call in train mode, any after one in eval mode), as hooks saw them (:func:`watch_layers`); the form: "froze" or
    "changed" (parameters left so), "forward" (all else right, model(x) not called), "p_set p" ("p_left p": left so)."""
    model, x, drops, calls = *args, [], []
    expected, before = copy.deepcopy(model).eval()(x).detach(), flat_parameters(model)
    stats = [buffer.clone() for buffer in model[1].buffers()]  # put back after each pass, which may update them
    norms, graphs = watch_layers(model[1], model[0], model[4])  # BatchNorm; each Linear
    model[1].register_forward_hook(lambda layer, inputs, out: (out, [b.copy_(s) for b, s in zip(layer.buffers(), stats, strict=False)])[0])  # fmt: skip  # noqa: E501
    model[3].register_forward_hook(lambda layer, inputs, out: drops.append((layer.training, layer.p)))
    model.register_forward_pre_hook(lambda *_: calls.append(1))  # one per model(x): model.forward(x) skips it
    out, after_train = answer(model.train(), x), all(module.training for module in model.modules())
    answer(model.eval(), x.clone())
    form = "not_a_tensor" if type(out) is not torch.Tensor else "wrong_shape" if out.shape != expected.shape else "ok"
    after_eval, p_set = any(module.training for module in model.modules()), [p for t, p in drops if t and p != 0.5]
    frozen = not all(p.requires_grad for p in model.parameters())
    form = "froze" if frozen else "changed" if not torch.equal(flat_parameters(model), before) else form
    form = f"{'p_left' if model[3].p != 0.5 else 'p_set'} {safe_text(p_set[0], 20)}" if p_set else form
    seen = (form == "ok" and close(out, expected), any(graphs), any(t for t, _ in drops), any(norms), after_train, after_eval)  # fmt: skip  # noqa: E501
    return ("forward" if seen == _RIGHT and len(calls) < len(drops) else form, *seen)  # named when all else is right


# eval mode for Dropout only, then back (or its p set instead, and left so): BatchNorm still in training mode
_only_dropout = lambda model, x, p=None: (model[3].eval() if p is None else setattr(model[3], "p", p), torch.no_grad()(  # noqa: E731
    model)(x), model[3].train(model.training))[1]  # fmt: skip
_LEFT = "your function {}: the caller's model {}. Predicting only reads the model; for no graph use `with torch.no_grad():`, which changes nothing outside it."  # fmt: skip  # noqa: E501
_RIGHT, _FAULTS = (True, False, False, False, True, False), ("the output is not model(x) in eval mode", "autograd recorded a graph", "Dropout was active", "BatchNorm was in training mode", "the model did not end in training mode", "the model did not end in eval mode")  # fmt: skip  # noqa: E501
_EVERY_LAYER = "Call model.eval(), which switches every layer (Dropout stops dropping, BatchNorm uses its running statistics), then restore the mode with model.train(was_training)."  # fmt: skip  # noqa: E501
_DROPOUT_ONLY = "only Dropout was in eval mode: BatchNorm was still in training mode, so it normalised x with the batch's own statistics instead of its running ones, and updated those (the caller's model changed). " + _EVERY_LAYER  # fmt: skip  # noqa: E501
_P_SET = lambda got, expected: f"you set Dropout's p to {got[0].partition(' ')[2]} instead of switching to eval mode" + (", and left it so on the caller's model (its training changes too)" if "left" in got[0] else "") + (": the model stayed in training mode, so BatchNorm still normalised with the batch's statistics" if got[4] else ": Dropout itself stayed in training mode") + ". Do not change p: " + _EVERY_LAYER[0].lower() + _EVERY_LAYER[1:]  # fmt: skip  # noqa: E501, E731


def _predict(model, x, eval_mode=True, grad=torch.no_grad, restore=True, call="__call__"):
    """predict_by_hand done right, or without eval mode, with a graph (``grad``), the mode not restored, or ``call``."""
    was_training = model.training
    with grad():
        out = getattr(model.train(was_training and not eval_mode), call)(x)
    model.train(was_training) if restore else None
    return out


predict_by_hand = Exercise(
    "predict_by_hand", _predict, "eval mode, no graph, and the model's mode is restored afterwards.",
    inputs=lambda: (randomised(nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5),
                                             nn.Linear(16, 1)), 0, 0.5), torch.linspace(-1, 1, 28).reshape(7, 4)),
    observe=_prediction, alternatives=[partial(_predict, grad=torch.inference_mode)],
    library=[Library(predict, lambda model, x: predict(model, x))],  # the course's own: the statement asks for it
    guards=[Guard("froze_parameters", tag_is("froze"), lambda model, x: _predict(model.requires_grad_(False), x),
                  _LEFT.format("switched off requires_grad on the model's parameters", "could no longer be trained")),
            Guard("called_forward", tag_is("forward"), partial(_predict, call="forward")),
            Guard("no_eval", lambda got: got[0].startswith("p_"), partial(_only_dropout, p=0.0), _P_SET),
            Guard("mutated_input", tag_is("changed"), lambda model, x: (_predict(model, x), model[0].weight.data
                  .mul_(2))[0], _LEFT.format("changed the model's parameters", "changed too")),
            *(Guard(tag, tag_is(tag), example, f"return the model's output as it comes: {what}.")
            for tag, example, what in [
                ("not_a_tensor", lambda model, x: _predict(model, x).tolist(), "a tensor, not a list or a number"),
                ("wrong_shape", lambda model, x: _predict(model, x).reshape(-1), "one row per example, shape (N, 1)")])],
    mistakes=[Mistake("no_eval", partial(_predict, eval_mode=False)),
              Mistake("no_eval", _only_dropout, _DROPOUT_ONLY),
              Mistake("no_grad", partial(_predict, grad=torch.enable_grad)),
              Mistake("mode_not_restored", partial(_predict, restore=False)),
              Mistake("mode_not_restored", lambda model, x: _predict(model.train(), x))],  # left in train mode
    explain=lambda got, _: "; ".join(t for t, ok, r in zip(_FAULTS, got[1:], _RIGHT, strict=True) if ok != r) + ".",
)  # fmt: skip
