"""A pass over the whole: an evaluation that sees every sample and averages a float loss; a run training all it holds.

``evaluate`` and ``fit``'s validation run in eval mode (:func:`eval_mode`, every submodule's mode put back after) and
promise the loss of the whole set: a ``DataLoader`` whose ``drop_last=True`` leaves samples out is refused before
the pass (:func:`check_every_sample`), and so is a loss that is no float (:func:`float_loss`: an integer mean is cut
to a whole number, a comparison is 1 or 0). A run whose optimizer holds trainable parameters that never received a
gradient (a forward that cuts them off with ``.detach()``, a layer never called) is warned about at its end
(:class:`Untrained`); the watch costs one test per step once every parameter has had a gradient.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and no_grad inside; afterwards every submodule gets its own previous mode back."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, training in modes:
            module.training = training


def _samples(loader: DataLoader) -> int | None:
    """How many samples one pass over ``loader`` draws from, if it can tell (its sampler's, else its dataset's)."""
    for sized in (loader.sampler, loader.dataset):
        with contextlib.suppress(Exception):  # no length: an IterableDataset's sampler, a generator
            return len(sized)  # type: ignore[arg-type]
    return None


def check_every_sample(loader: object, name: str, who: str) -> None:
    """Refuse a ``DataLoader`` whose ``drop_last=True`` leaves samples out of ``who``'s loss of the whole set: its
    number of samples is not a multiple of its batch size. One that yields no batch at all is told elsewhere. Example:
        >>> loader = DataLoader(torch.utils.data.TensorDataset(torch.ones(10, 1)), batch_size=4, drop_last=True)
        >>> check_every_sample(loader, "loader", "evaluate")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: loader has drop_last=True, which leaves the last 2 of its 10 samples out (batch_size=4), but ...
    """
    if not (isinstance(loader, DataLoader) and loader.drop_last and loader.batch_size):
        return
    samples, size = _samples(loader), loader.batch_size
    if samples is not None and samples >= size and samples % size:
        raise ValueError(
            f"{name} has drop_last=True, which leaves the last {samples % size} of its {samples} samples out "
            f"(batch_size={size}), but {who} measures the loss of every sample: the loss would be another set's. Build "
            "it with DataLoader(..., drop_last=False), the default (drop_last is for a training loader, whose last "
            f"batch of few samples may upset BatchNorm), or with a batch size that divides {samples}."
        )


def float_loss(loss: torch.Tensor) -> torch.Tensor:
    """``loss``, unless it is an integer or bool tensor (a ``TypeError``), which a loss averaged over batches cannot be.

    Example:
        >>> float_loss(torch.tensor(18))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        TypeError: the loss is an integer tensor (torch.int64), but an evaluated loss is a mean over the batches...
    """
    if loss.is_floating_point() or loss.is_complex():  # a complex one is refused with its own fix
        return loss
    kind = (
        "a bool tensor (torch.bool: a comparison)" if loss.dtype == torch.bool else f"an integer tensor ({loss.dtype})"
    )
    raise TypeError(
        f"the loss is {kind}, but an evaluated loss is a mean over the batches: a comparison makes each batch's 1 or "
        "0, and .long(), .int() or .round() cut it to a whole number. Return it in floating point, e.g. ((pred - y) "
        "** 2).mean(); for a share of samples, such as an accuracy, (pred.argmax(1) == y).float().mean()."
    )


class Untrained:
    """The trainable tensors ``optimizer`` holds that have not received a gradient yet in a run: :meth:`update` after
    each step's ``backward()`` (a test of each one left, until none is), :meth:`warn` at the end of the run. Example:
        >>> model = nn.Sequential(nn.Linear(1, 1), nn.Linear(1, 1))
        >>> watch = Untrained(model, torch.optim.SGD(model.parameters(), lr=0.1))
        >>> model[1](model[0](torch.ones(1, 1)).detach()).sum().backward()
        >>> watch.update()
        >>> [name for name, _ in watch.named()]
        ['0.weight', '0.bias']
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        held = {id(p): p for group in optimizer.param_groups for p in group["params"] if p.requires_grad}
        self.model, self.held, self.left = model, len(held), list(held.values())
        self.start = {key: p._version for key, p in held.items()}  # changed in place: trained otherwise (in hooks)

    def update(self) -> None:
        """Forget the tensors that have a gradient now (zeroed to None before each step: they received one)."""
        self.left = [p for p in self.left if p.grad is None]

    def named(self) -> list[tuple[str, torch.Tensor]]:
        """The tensors left that still require grad, named as the model names them, and not changed in place."""
        if len(self.left) == self.held:  # none ever had a gradient, yet training went on: an optimizer in hooks
            return []
        names = {id(p): name for name, p in self.model.named_parameters()}
        return [(names.get(id(p), f"a tensor of shape {tuple(p.shape)}, not the model's"), p) for p in self.left
                if p.requires_grad and p._version == self.start[id(p)]]  # fmt: skip

    def warn(self, epochs: int) -> None:
        """Warn about the tensors that received no gradient in ``epochs`` epochs (none: nothing was trained)."""
        if epochs <= 0 or not self.left or not (left := self.named()):
            return
        shown = ", ".join(name for name, _ in left[:4]) + (f" and {len(left) - 4} more" if len(left) > 4 else "")
        warnings.warn(
            f"{len(left)} parameter(s) the optimizer trains received no gradient in any step of these {epochs} "
            f"epoch(s), so they never changed: {shown}. The loss does not depend on them: the forward cuts them off "
            "(.detach(), .item(), torch.no_grad() or NumPy on the way) or never uses them (a layer built but not "
            "called in forward). If they should train, compute the output through them; if they should stay as "
            "they are, freeze them, p.requires_grad_(False), or leave them out of the optimizer.",
            stacklevel=3,
        )
