"""Checks for lesson 05 (optimizers): one training step, every group's learning rate, where ``scheduler.step()`` goes.

The probes watch what happens instead of reading code. The train step's SGD notes at every ``step()`` (after a
closure has run) the gradients it finds, however they were made (backward(), torch.func, formulas by hand), and
where it finds none the backward passes so far, so each wrong order of ``backward``, ``step`` and ``zero_grad``
leaves its own trace; it runs on two probes (other points, count and rate), so that no
count or rate typed in passes. The optimizers to rescale have three groups at three rates, one the default, then
five, so that no number of groups typed in passes, one at 3e-5, which a rounding changes; each is rescaled twice, so
a rate set from where it started (a scheduler's ``initial_lr``) shows. The loop's step notes the rate, the
scheduler's count and the batch of every call: 4 epochs of StepLR(step_size=2) tell places apart. The last two run
twice, on other numbers, so that no number typed in passes. The train step's probe: :mod:`course.checks.step_probe`.
"""

from __future__ import annotations

from fractions import Fraction
from functools import partial

import torch
from torch.optim.lr_scheduler import LambdaLR

from course.checks.computation_graphs import rounded_decimals, rounded_message
from course.checks.engine import Exercise, Guard, Mistake
from course.checks.probes import any_item
from course.checks.step_probe import _WRONG_ORDERS, COPIED, STEP_PROBES, STEPS, _step, _step_probe, _stepped
from course.checks.values import close, describe

# each probe: the groups' own rates, the default one (a group of its own), the factors of two calls
RATE_PROBES = (((0.1, 0.01), 0.05, (0.3, 0.5)), ((0.2, 3e-5, 0.004, 0.03), 0.07, (0.45, 2.0)))
CALLS = [(factor, again) for *_, factors in RATE_PROBES for again, factor in enumerate(factors)]
SCHEDULE_PROBES = ((4, 3), (5, 2))  # epochs, batches: no fixed number of either fits both
USED_UP = (
    "only the first epoch ran any batches: the scheduler stepped every epoch, but the loop over the batches found "
    "nothing after the first pass. An iterator (iter(batches), a generator, zip(...), map(...)) can be looped over "
    "once only: loop over batches itself, a list or a DataLoader, which starts a new pass every epoch."
)
ZERO_BY_HAND = (
    "a.grad is None before the first backward(), so a.grad.zero_() fails there: call optimizer.zero_grad(), which "
    "empties every gradient of the optimizer, None or not (after step(), or first)."
)


def _not_float(values: list) -> str:
    """The first value that is not a Python float, described with its type ("" when all are floats)."""
    value = next((v for v in values if not isinstance(v, float)), None)
    text = "" if value is None else describe(value)
    return text if type(value).__name__ in text or not text else f"{text} ({type(value).__name__})"


def _explain_steps(got: list, expected: list) -> str:
    if not any(run["steps"] for run in got):
        return "optimizer.step() never ran: let the optimizer you are given update a and b, after loss.backward()."
    ran = next((len(run["steps"]) for run in got if len(run["steps"]) != STEPS), STEPS)
    if ran != STEPS:
        return f"optimizer.step() ran {ran} times in {STEPS} calls: call it once per step."
    where = ("", "right on the check's first 7 points at lr 0.05, but not on 5 other points at lr 0.1 (use x, y and "
             "the optimizer's own rate, never fixed numbers): ")  # fmt: skip
    text, yours, right = next(case for case in zip(where, got, expected, strict=True) if not close(*case[1:]))
    if all(close(yours[key], right[key]) for key in ("parameters", "returned")):  # then what step() saw differs
        return ("a and b are right, but step() used a gradient other than your MSE's (scaled or rounded), or did not make the "
                "update: take the MSE as the loss, backward() on it, and let optimizer.step() update at the given rate.")  # fmt: skip
    shown = [_numbers(run[key]) for key in ("parameters", "returned") for run in (yours, right)]
    text += "after {} calls a, b = {} (expected {}), the losses returned {} (expected {}). ".format(STEPS, *shown)
    found, own = (run["steps"][0][1] for run in (yours, right))  # the first step starts where the right one does
    if not close(found, own):  # gradients from a formula by hand, or from another loss
        text += (f"At the first call step() found the gradients {_numbers(found)} (a.grad, b.grad), but the mean "
                 f"squared error's are {_numbers(own)}: compute its gradients (loss.backward() does). ")  # fmt: skip
    return text + "Use the optimizer you are given, the mean squared error, and return loss.item()."


def _numbers(values) -> str:
    return ", ".join(map("{:.4f}".format, map(float, values)))


def _rounded_losses(got: list) -> int:  # the decimals the losses returned were rounded to (0: none)
    return max(rounded_decimals(run["returned"], run["exact"]) for run in got)


train_step = Exercise(
    name="train_step", inputs=lambda: tuple(_step_probe(*probe) for probe in STEP_PROBES), reference=_step,
    observe=lambda answer, probes: [_stepped(answer, probe) for probe in probes], explain=_explain_steps,
    pure=False,  # a train step changes a and b in place: that is its job
    guards=[
        Guard("unused_optimizer", any_item(lambda run: run["stepped_a_copy"]),
              partial(_step, calls="copy backward step zero_grad"), COPIED.format("a and b", "clones of them")),
        Guard("returned_none", any_item(lambda run: any(v is None for v in run["returned"])), lambda *args: None),
        Guard("returns_tensor", any_item(lambda run: any(map(torch.is_tensor, run["returned"]))),
              lambda *args: torch.ones(())),
        Guard("not_a_number", any_item(lambda run: _not_float(run["returned"])), lambda *args: "0.5",
              lambda got, _: "return the loss as a Python float (loss.item()), got "
                             f"{next(filter(None, (_not_float(run['returned']) for run in got)))}."),
        Guard("rounded", lambda got: _rounded_losses(got) > 0, lambda *args: round(_step(*args), 3),
              lambda got, _: rounded_message("losses", _rounded_losses(got), "loss.item()")),
    ],
    mistakes=[*(Mistake(fault, partial(_step, fault=fault), ZERO_BY_HAND if fault == "zeroed_before_backward" else None)
                for fault in (*_WRONG_ORDERS, "loss_after_step", "sum_not_mean")),
              *(Mistake("zeroed_one_gradient", partial(_step, calls=f"backward step {grad}"))  # the other adds up
                for grad in ("a.grad", "b.grad"))],
    alternatives=[partial(_step, calls="zero_grad backward step")],
    success="every step() used the fresh gradients of its own loss (computed before step()), and the gradients "
    "were emptied between steps, so none piled up.",
)  # fmt: skip


def _on_each(answer, probes: tuple) -> list:
    """What ``answer`` did on each probe: a probe's last item reads it (two probes, so no fixed number fits both)."""
    seen = []
    for *args, read in probes:
        answer(*args)
        seen.append(read())
    return seen


def _scale(optimizer, factor: float, new_lr=lambda lr, default, factor: lr * factor) -> None:
    for group in optimizer.param_groups:  # each group's lr becomes new_lr(its lr, the default lr, factor)
        group["lr"] = new_lr(group["lr"], optimizer.defaults["lr"], factor)


def _groups_probe(rates: tuple, default: float, factors: tuple) -> tuple:
    """Groups at ``rates`` and one at the ``default``, stepped once, then scaled by each factor; read: their settings."""
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in rates]
    optimizer = torch.optim.SGD([*groups, {"params": [torch.zeros(2, requires_grad=True)]}], lr=default, momentum=0.9)
    keys = [key for key in optimizer.param_groups[0] if key != "params"]
    sum((i + 1) * g["params"][0] @ torch.tensor([1.0, -2.0]) for i, g in enumerate(optimizer.param_groups)).backward()
    optimizer.step()  # one step first, so that there are momentum buffers to keep

    def read() -> list:  # each group's settings, and its parameters' momentum buffers: "state"
        buffer = {p: state.get("momentum_buffer") for p, state in optimizer.state.items()}
        return [{**{key: g.get(key) for key in keys}, "state": [buffer.get(p) for p in g["params"]]}
                for g in optimizer.param_groups]  # fmt: skip

    return tuple((optimizer, factor, read) for factor in factors)


def _exact_rates() -> list[list[float]]:
    """Each group's rate after each call, as the right answer leaves them: to tell a rounded rate from a right one."""
    exact = []
    for rates, default, factors in RATE_PROBES:
        lrs = [*rates, default]
        for factor in factors:
            lrs = [lr * factor for lr in lrs]
            exact.append(lrs)
    return exact


def _rounded_rates(got: list) -> int:  # the decimals the rates were rounded to (0: none)
    rates = [[group["lr"] for group in groups] for groups in got]
    return max(rounded_decimals(mine, exact) for mine, exact in zip(rates, _exact_rates(), strict=False))


def _steps_with(lr: object) -> bool:
    """Whether SGD's step() runs at the rate ``lr`` (a Fraction passes the optimizer's checks, then step() fails)."""
    parameter = torch.zeros(1, requires_grad=True)
    parameter.grad = torch.ones(1)
    try:
        torch.optim.SGD([parameter], lr=lr).step()
    except Exception:
        return False
    return True


def _refused(got: list) -> str:
    return next(type(g["lr"]).__name__ for groups in got for g in groups if not _steps_with(g["lr"]))


def _rates(groups: list) -> str:
    return f"[{', '.join(describe(group['lr']) for group in groups)}]"


def _explain_rates(got: list, expected: list) -> str:
    for (factor, again), yours, right in zip(CALLS, got, expected, strict=True):
        if not close([group["lr"] for group in yours], [group["lr"] for group in right]):
            return (f"{'called again, ' * again}with factor {factor:g} the rates became {_rates(yours)}; expected "
                    f"{_rates(right)}, each rate the group {'then ' * again}held times it.")  # fmt: skip
        if not close([group["state"] for group in yours], [group["state"] for group in right]):
            return ("changing the rate must keep the optimizer's state: your code cleared (or changed) its momentum "
                    "buffers; set group['lr'] in place.")  # fmt: skip
        changed = [key for key in right[0] if not close([group.get(key) for group in yours], [g[key] for g in right])]
        if changed:
            return f"the rates are right, but {', '.join(changed)} changed too: change only group['lr']."
    return "the groups' settings are not those expected."


scale_learning_rates = Exercise(
    name="scale_learning_rates", reference=_scale, observe=_on_each, explain=_explain_rates,
    inputs=lambda: tuple(call for probe in RATE_PROBES for call in _groups_probe(*probe)),  # two calls on each
    guards=[Guard("not_a_number", any_item(lambda groups: not all(_steps_with(g["lr"]) for g in groups)),
                  partial(_scale, new_lr=lambda lr, default, factor: Fraction(lr) * Fraction(factor)),
                  lambda got, _: f"step() refuses a rate of type {_refused(got)}: keep each rate a float."),
            Guard("rounded", lambda got: _rounded_rates(got) > 0, partial(_scale, new_lr=lambda lr, _, f: round(lr * f, 4)),
                  lambda got, _: rounded_message("rates", _rounded_rates(got), "group['lr'] * factor", "keep"))],
    mistakes=[
        Mistake("groups_unchanged", lambda optimizer, factor: optimizer.defaults.update(lr=factor * 0.05)),
        Mistake("only_first_group", lambda opt, factor: opt.param_groups[0].update(lr=opt.param_groups[0]["lr"] * factor)),
        Mistake("same_lr", partial(_scale, new_lr=lambda lr, default, factor: default * factor)),
        Mistake("lr_set_to_factor", partial(_scale, new_lr=lambda lr, default, factor: factor)),
        Mistake("ignored_argument", lambda optimizer, factor: _scale(optimizer, RATE_PROBES[0][2][0])),
        Mistake("rate_from_initial_lr", lambda optimizer, factor: LambdaLR(optimizer, lambda epoch: factor)),
    ],
    alternatives=[lambda optimizer, factor: [g.update(lr=g["lr"] * factor) for g in optimizer.param_groups]],
    success="every group's own rate times the factor, changed in place: the next step() uses them.",
)  # fmt: skip


def _schedule_probe(epochs: int, n_batches: int) -> tuple:
    a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    optimizer, calls = torch.optim.SGD([a, b], lr=0.1), []
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    optimizer.step()  # a step before any scheduler.step(), so the scheduler never warns: the rates name that mistake
    batches = [(torch.tensor([i + 1.0, -0.5 * i]), torch.tensor([2.0 * i + 2, i - 0.5])) for i in range(n_batches)]

    def step(x, y):  # notes the rate, the scheduler's count and the batch of every call: not optimizer.step()
        calls.append((optimizer.param_groups[0]["lr"], scheduler.last_epoch, *map(float, (*x, *y))))
        return _step(a, b, optimizer, x, y)

    def read() -> list:  # the calls, then the scheduler's count after the loop (where the rates show it stepped, or
        # where batches are missing: one epoch, or an iterator used up in the first)
        shown = len({call[0] for call in calls}) > 1 or len(calls) < epochs * n_batches
        return [*calls, ("after the loop", scheduler.last_epoch if shown else None)]

    return step, optimizer, scheduler, batches, epochs, read


def _train(step, optimizer, scheduler, batches, epochs, fault: str = "") -> None:
    batches = iter(batches) if fault == "used_up_iterator" else batches  # one pass, then nothing left
    for _ in range(1 if fault == "one_epoch_only" else epochs):
        if fault == "scheduler_before_optimizer":
            scheduler.step()
        for x, y in batches:
            step(x, y)
            if fault == "scheduler_per_batch":
                scheduler.step()
        if fault in ("", "one_epoch_only", "used_up_iterator"):
            scheduler.step()


def _explain_schedule(got: list, expected: list) -> str:
    for (epochs, n_batches), (*yours, end), (*right, right_end) in zip(SCHEDULE_PROBES, got, expected, strict=True):
        rates, right_rates = ([call[0] for call in calls] for calls in (yours, right))
        if not close(rates, right_rates):
            return (f"with {epochs} epochs of {n_batches} batches step(x, y) ran {len(yours)} times at {rates}; "
                    f"expected {len(right)} times at {right_rates}.")  # fmt: skip
        if not close([call[2:] for call in yours], [call[2:] for call in right]):
            return "the rates are right, but step(x, y) did not get each (x, y) of batches, in order, every epoch."
        if not close(yours, right):  # the count each epoch began with: never stepped, or twice every second epoch
            counts = [", ".join(str(call[1]) for call in calls[::n_batches]) for calls in (yours, right)]
            return (f"the rates are right, but the scheduler you were given had counted {counts[0]} when each epoch "
                    f"began (expected {counts[1]}): call its step() once per epoch, after that epoch's batches.")  # fmt: skip
        if end != right_end:  # the last epoch's scheduler.step() left out, or one more after the loop
            return (f"the rates are right, but after {epochs} epochs the scheduler has counted {end[1]}: call "
                    "scheduler.step() once per epoch, after that epoch's batches, so a checkpoint resumes right.")  # fmt: skip
    return "the training loop is not right."


scheduled_training = Exercise(
    name="scheduled_training", inputs=lambda: tuple(_schedule_probe(*probe) for probe in SCHEDULE_PROBES),
    reference=_train, observe=_on_each,
    mistakes=[Mistake(fault, partial(_train, fault=fault)) for fault in
              ("scheduler_per_batch", "scheduler_before_optimizer", "no_scheduler_step", "one_epoch_only")]
             + [Mistake("one_epoch_only", partial(_train, fault="used_up_iterator"), USED_UP)],
    explain=_explain_schedule,
    success="one scheduler step per epoch: the learning rate halved every 2 epochs, as StepLR(step_size=2) says.",
)  # fmt: skip
