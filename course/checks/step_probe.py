"""The probes of a training step: lesson 05's train_step (a and b, an SGD that notes what every step saw), lesson
09's train-step factory (Dropout then Linear, a log of what a step did), and the steps of other optimizers.

An optimizer's own step hooks run at ``optimizer.step()`` and ``type(optimizer).step(optimizer)``, but not at a step
of ``copy.copy(optimizer)``, which shares its param_groups and state and so updates the same parameters: a hook on
every optimizer (:func:`steps_watched`) runs them there too. ``copy.deepcopy(optimizer)`` (or one built over clones
of the parameters) copies the parameters: a step on it changes nothing the check gave, and only that hook sees it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from course.checks.autograd import before_backward
from course.checks.probes import randomised

COPIED = ("step() ran on an optimizer whose parameters are copies, not {} (copy.deepcopy of the optimizer, or one "
          "built over {}), so it changed nothing: use the optimizer you are given.")  # fmt: skip


def _shares(other: torch.optim.Optimizer, optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``other`` is a shallow copy of ``optimizer`` (copy.copy): its step() is the given one's, in effect."""
    return other is not optimizer and (other.param_groups is optimizer.param_groups or other.state is optimizer.state)


@contextmanager
def steps_watched(optimizer: torch.optim.Optimizer) -> Iterator[list]:
    """Runs ``optimizer``'s own step hooks at every step() of a shallow copy of it; yields a list that grows at each
    step() of another optimizer of the same kind whose parameters are copies of ``optimizer``'s (the same shapes, none
    of them one of its own): a deep copy's, or one's over clones, whose step changes none of them."""
    own, stepped = [p for group in optimizer.param_groups for p in group["params"]], []

    def before(other: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:  # at every step() of every optimizer
        for hook in [*optimizer._optimizer_step_pre_hooks.values()] if _shares(other, optimizer) else []:
            hook(optimizer, args, kwargs)

    def after(other: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        for hook in [*optimizer._optimizer_step_post_hooks.values()] if _shares(other, optimizer) else []:
            hook(optimizer, args, kwargs)
        theirs = [p for group in other.param_groups for p in group["params"]]
        alike = len(theirs) == len(own) and all(p.shape == q.shape for p, q in zip(theirs, own, strict=True))
        if type(other) is type(optimizer) and alike and not any(p is q for p in theirs for q in own):
            stepped.append(type(other).__name__)

    handles = register_optimizer_step_pre_hook(before), register_optimizer_step_post_hook(after)
    try:
        yield stepped
    finally:
        for handle in handles:
            handle.remove()


STEPS = 3
_WRONG_ORDERS = dict(no_zero_grad="backward step", no_backward="step zero_grad", no_step="backward zero_grad",
                     zero_grad_before_step="backward zero_grad step", step_before_backward="step backward zero_grad",
                     step_uses_old_gradient="step zero_grad backward", backward_twice="keep backward step zero_grad",
                     zeroed_before_backward="zero_by_hand backward step")  # fmt: skip
STEP_PROBES = (  # seed, x, noise, lr: 7 points at lr 0.05, then 5 others at lr 0.1
    (5, [0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 3.5], [0.1, -0.2, 0.0, 0.3, -0.1, 0.2, -0.3], 0.05),
    (6, [-1.0, 0.5, 1.5, 2.0, 4.0], [0.2, 0.1, -0.3, 0.0, -0.1], 0.1),
)


def _step_probe(seed: int, x: list, noise: list, lr: float) -> tuple:
    generator = torch.Generator().manual_seed(seed)
    a, b = (torch.randn(1, generator=generator).requires_grad_() for _ in range(2))
    optimizer, backward, steps = torch.optim.SGD([a, b], lr=lr), [], []
    a.register_hook(backward.append)  # a backward pass (none where torch.func or a formula made the gradients)
    optimizer.register_step_post_hook(lambda *_: steps.append(_found(a, b, len(backward))))
    x = torch.tensor(x).reshape(-1, 1)
    y = 1 + 2 * x + torch.tensor(noise).reshape(-1, 1)
    exact = []  # the loss at every step's start, every digit: what a step that rounds it leaves out

    @torch.no_grad()
    def note(*_):
        exact.append(((a + b * x - y) ** 2).mean().item())

    optimizer.register_step_pre_hook(note)
    seen = {"parameters": (a.detach(), b.detach()), "steps": steps, "exact": exact}
    return a, b, optimizer, x, y, seen


def _found(a: torch.Tensor, b: torch.Tensor, backward: int) -> tuple:
    """What a step() found: a and b's gradients (None is 0), judged whichever way they were made; where it found
    none, the count of backward passes so far tells why (none yet, or one before it, emptied by zero_grad)."""
    gradients = [float(p.grad or 0) for p in (a, b)]
    return None if any(gradients) else backward, gradients


def _step(a, b, optimizer, x, y, fault: str = "", calls: str = "backward step zero_grad") -> float:
    """The train step doing ``calls`` after the forward pass, or the wrong one ``fault`` (a mistake id) names."""
    loss = ((a + b * x - y) ** 2).sum() if fault == "sum_not_mean" else ((a + b * x - y) ** 2).mean()
    for call in _WRONG_ORDERS.get(fault, calls).split():
        if call == "zero_by_hand":
            a.grad.zero_(), b.grad.zero_()  # None before the first backward()
        elif call in ("a.grad", "b.grad"):  # one gradient emptied by hand, the other left to add up
            (a if call == "a.grad" else b).grad = None
        elif call == "copy":  # the rest on a copy of the optimizer: its parameters are copies of a and b
            optimizer = copy.deepcopy(optimizer)
        elif call == "keep":  # backward keeping the graph, so that it can run again
            loss.backward(retain_graph=True)
        else:
            getattr(loss if call == "backward" else optimizer, call)()
    return (((a + b * x - y) ** 2).mean() if fault == "loss_after_step" else loss).item()


def _stepped(answer, probe: tuple) -> dict:
    """The answer called STEPS times on one probe: what it returned, what the probe's hooks saw, and whether only an
    optimizer over copies of a and b stepped (:func:`steps_watched`)."""
    a, b, optimizer, *_, seen = probe
    with steps_watched(optimizer) as copies:
        returned = before_backward(lambda: [answer(*probe[:5]) for _ in range(STEPS)], a, b)
    return {"returned": returned, **seen, "stepped_a_copy": bool(copies) and not seen["steps"]}


def _probe() -> tuple:
    """Dropout then Linear(2, 1), in eval mode, its loss and optimizer, the data, and a log of what a step did; the
    Huber loss and SGD with momentum tell a step with its own MSE, optimizer or update by hand."""
    model, log, loss_fn = randomised(nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 1)), seed=0).eval(), [], nn.HuberLoss()
    # Dropout's own mode matters (model.training = True sets only the outer flag); a copy runs the same hooks: "copy";
    # model.forward(x) skips the outer hook ("call"); a loss of outputs cut off the graph (torch.no_grad()): "cut"
    forward = lambda: "forward" if model[0].training else "forward in eval"  # noqa: E731
    for module, event in ((model[1], forward), (model, lambda: "call" if model.training else "call in eval")):
        module.register_forward_pre_hook(lambda seen, _, m=module, e=event: log.append(e() if seen is m else "copy"))

    def cut(_: nn.Module, args: tuple, kwargs: dict, out: object) -> None:  # the input by position or by keyword
        None if getattr(args[0] if args else kwargs.get("input"), "requires_grad", True) else log.append("cut")

    loss_fn.register_forward_hook(cut, with_kwargs=True)
    model[1].weight.register_hook(lambda grad: log.append("backward"))
    model.log, optimizer = log, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    optimizer.register_step_pre_hook(lambda *_: log.append("step"))  # type(optimizer).step(optimizer) runs it too
    for owner, name in ((optimizer, "zero_grad"), (model, "zero_grad")):
        method = getattr(owner, name)
        setattr(owner, name, lambda *a, _method=method, _name=name, **k: (log.append(_name), _method(*a, **k))[1])
    x = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [3.0, -2.0], [0.5, 0.5], [2.0, 1.0]])
    return model, loss_fn, optimizer, x, x @ torch.tensor([[1.0], [2.0]]) - 1


def _order(log: list[str]) -> str:
    """The first thing wrong with the order of one step's actions, or "ok"."""
    back, step = (log.index(action) if action in log else -1 for action in ("backward", "step"))
    faults = {"no_backward": back < 0, "no_step": step < 0, "step_before_backward": step < back,
              "zero_grad_before_step": "zero_grad" in log[back:step], "backward_twice": log.count("backward") > 1,
              "step_twice": log.count("step") > 1, "no_zero_grad": "zero_grad" not in log}  # fmt: skip
    return next((fault for fault, found in faults.items() if found), "ok")
