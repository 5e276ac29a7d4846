"""What lesson 08's clipped_step check runs a training step on, and what it notes of three calls.

Three probes: one nn.Linear (lr, max_norm below its gradients' norm), the same with another lr and a max_norm the
gradients reach only when doubled, and two nn.Linear layers with a ReLU between (clipping each layer on its own then
leaves the total norm above max_norm). While a step runs, every clip_grad_norm_ call is watched: one that found no
gradient while the model had some (a used-up generator, .data tensors) clipped nothing, and the step is told so.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from types import FrameType

import torch
from torch import nn
from torch.nn.utils import clip_grad_norm_

from course.checks.probes import flat_parameters

CLIP_PROBES = ((0.2, 2.5), (0.03, 40.0), (0.1, 1.5))  # lr, max_norm: below the norms (48, ...), then 2 x over the 2nd
# (17), then below each layer's norm of the two-layer probe
_CLIP = inspect.unwrap(clip_grad_norm_).__code__  # its frame holds the gradients it found: grads
STARVED = ("clip_grad_norm_ received no gradients, so it clipped nothing: it was given a generator already used up "
           "(params = model.parameters() read once before) or .data tensors, which have no .grad. Pass "
           "model.parameters() fresh: clip_grad_norm_(model.parameters(), max_norm).")  # fmt: skip


def linear(weight: list, bias: list) -> nn.Linear:
    layer = nn.Linear(len(weight[0]), len(weight))
    layer.load_state_dict({"weight": torch.as_tensor(weight), "bias": torch.as_tensor(bias)})
    return layer


def clip_probe(lr: float, max_norm: float, layers: int = 1) -> tuple:
    """A model (one nn.Linear, or two with a ReLU between), its SGD optimizer and a batch; steps and backward passes
    are logged in ``model.log`` as they end (closures too)."""
    first = linear([[0.5, -1.0, 2.0]], [0.25])
    if layers > 1:  # hidden units on for most rows; the output layer's gradient as long as the hidden one's
        first = linear([[0.5, -1.0, 2.0], [1.0, 0.5, -0.5]], [0.25, 0.5])
    model = first if layers == 1 else nn.Sequential(first, nn.ReLU(), linear([[1.5, -0.5]], [0.1]))
    y = torch.tensor([[1.0], [-2.0], [3.0], [0.5], [-1.0]])
    x = torch.tensor([[4.0, 1.0, -2.0], [-3.0, 2.0, 5.0], [6.0, -1.0, 0.5], [1.0, 4.0, -3.0], [-2.0, -5.0, 1.0]])
    optimizer, model.log = torch.optim.SGD(model.parameters(), lr=lr), []
    found = lambda *ps: any(p.grad is not None and bool(p.grad.any()) for p in ps or model.parameters())  # noqa: E731
    first.weight.register_hook(lambda _: model.log.append("backward" + " onto gradients" * found(first.weight)))
    optimizer.register_step_post_hook(lambda *_: model.log.append("step" if found() else "step without gradients"))
    return model, optimizer, x, y, max_norm


ORDERS = {  # the wrong orders of a clipped step's stages (step() runs them), by mistake id
    "no_zero_grad": "backward clip step", "zero_grad_before_step": "backward clip zero step",
    "step_before_backward": "zero step backward clip", "no_backward": "zero clip step", "no_step": "zero backward clip",
    "backward_twice": "zero keep backward clip step", "loss_after_step": "zero backward clip step again"}  # fmt: skip


def step(order: str = "zero backward clip step", clip: Callable = clip_grad_norm_) -> Callable:
    """A training step that runs the stages of ``order`` in turn, clipping with ``clip`` (``layers``: each nn.Linear's
    parameters on their own); with "again" it returns the loss computed again after them."""

    def clipped_step(model, optimizer, x, y, max_norm):
        loss = nn.functional.mse_loss(model(x), y)
        stages = {"zero": optimizer.zero_grad, "backward": loss.backward, "step": optimizer.step}
        stages["clip"] = lambda: clip(model.parameters(), max_norm)
        stages["layers"] = lambda: [clip(m.parameters(), max_norm) for m in model.modules() if isinstance(m, nn.Linear)]
        stages["keep"] = partial(loss.backward, retain_graph=True)  # backward keeping the graph: it can run again
        stages["own"] = lambda: torch.optim.SGD(model.parameters(), optimizer.param_groups[0]["lr"]).step()
        for stage in order.replace("again", "").split():
            stages[stage]()
        return (nn.functional.mse_loss(model(x), y) if "again" in order.split() else loss).item()

    return clipped_step


@contextmanager
def _clips_given(model: nn.Module, noted: list[bool]) -> Iterator[None]:
    """Notes, per clip_grad_norm_ call in this thread, whether it found no gradient while ``model`` had some."""
    before = sys.getprofile()

    def note(frame: FrameType, event: str, arg: object) -> None:
        if event == "return" and frame.f_code is _CLIP:
            given = frame.f_locals.get("grads")
            noted.append(isinstance(given, list) and not given and any(p.grad is not None for p in model.parameters()))
        if before is not None:
            before(frame, event, arg)

    sys.setprofile(note)
    try:
        yield
    finally:
        sys.setprofile(before)


def three_steps(clipped_step: Callable, args: tuple) -> tuple:
    """What three calls return (three, so a missing zero_grad shows), the parameters they leave, why these never moved
    (each call's backward passes and steps), the most steps in one call, if a backward added to the call's gradients,
    and if in some call every clip_grad_norm_ received no gradients while the model had some."""
    model, calls, before, starved = args[0], [], flat_parameters(args[0]), False
    for _ in range(3):
        start, noted = len(model.log), []
        with _clips_given(model, noted):
            calls.append((clipped_step(*args), tuple(model.log[start:])))
        starved |= bool(noted) and all(noted)
    (returned, logs), after = zip(*calls, strict=True), flat_parameters(model)
    twice = any("backward onto gradients" in [e for e in log if e.startswith("backward")][1:] for log in logs)
    steps = max(log.count("step") for log in logs)
    return list(returned), after, () if not torch.equal(after, before) else logs, steps, twice, starved
