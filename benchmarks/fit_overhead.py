"""How much does ``course.training.fit`` cost over the loop you would write by hand?

One run, interleaved repetitions: fit and the hand-written loop alternate (each pair in turn order), on the
same model, data and loader, each repetition from the same starting weights and seed. The
medians are compared; the script exits with status 1 if fit is more than 5% slower.

The workload is a course-sized one: a small MLP (20 -> 64 -> 64 -> 1) trained with SGD on
4,096 samples in mini-batches of 64 from a shuffling DataLoader, so the ratio measures fit's
per-batch overhead, not a toy with nothing to do. One thread, CPU, no progress bar (the bar
is updated once per epoch; it is not part of the per-batch cost).

Times are the process's CPU time (time.process_time): on a shared machine, other programs stretch
wall-clock times of both variants unevenly, but barely change the CPU time this one computation needs.

    python -m benchmarks.fit_overhead
"""

from __future__ import annotations

import copy
import statistics
import sys
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.training import fit

LIMIT = 1.05
REPS = 31
EPOCHS = 2
SAMPLES, FEATURES, BATCH = 4096, 20, 64


def make_workload() -> tuple[nn.Module, nn.Module, DataLoader, torch.Generator]:
    torch.manual_seed(0)
    x = torch.randn(SAMPLES, FEATURES)
    y = x @ torch.randn(FEATURES, 1) + 0.1 * torch.randn(SAMPLES, 1)
    generator = torch.Generator()
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, generator=generator)
    model = nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    return model, nn.MSELoss(), loader, generator


def manual_loop(
    model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader
) -> list[float]:
    """The loop lessons 09-11 write by hand: per epoch the mean mini-batch loss."""
    device = next(model.parameters()).device
    losses = []
    for _ in range(EPOCHS):
        model.train()
        total, steps = 0.0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            total += loss.item()
            steps += 1
        losses.append(total / steps)
    return losses


def with_fit(model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader) -> list[float]:
    return fit(model, loss_fn, optimizer, loader, EPOCHS, progress=False)["train_loss"]


def timed(
    train, start: nn.Module, loss_fn: nn.Module, loader: DataLoader, generator: torch.Generator
) -> tuple[float, list[float]]:
    model = copy.deepcopy(start)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    generator.manual_seed(1)
    begin = time.process_time()
    losses = train(model, loss_fn, optimizer, loader)
    return time.process_time() - begin, losses


def main() -> int:
    torch.set_num_threads(1)
    start, loss_fn, loader, generator = make_workload()
    timed(with_fit, start, loss_fn, loader, generator)  # warm up both paths
    timed(manual_loop, start, loss_fn, loader, generator)
    fit_times, loop_times = [], []
    for rep in range(REPS):  # alternate which goes first, so neither always runs warmer
        if rep % 2:
            t_loop, loop_losses = timed(manual_loop, start, loss_fn, loader, generator)
            t_fit, fit_losses = timed(with_fit, start, loss_fn, loader, generator)
        else:
            t_fit, fit_losses = timed(with_fit, start, loss_fn, loader, generator)
            t_loop, loop_losses = timed(manual_loop, start, loss_fn, loader, generator)
        assert fit_losses == loop_losses, "fit and the hand-written loop should compute the very same losses"
        fit_times.append(t_fit)
        loop_times.append(t_loop)
    fit_median, loop_median = statistics.median(fit_times), statistics.median(loop_times)
    ratio = fit_median / loop_median
    batches = EPOCHS * len(loader)
    print(
        f"workload: MLP {FEATURES}-64-64-1, {SAMPLES} samples, batch {BATCH}, {EPOCHS} epochs ({batches} steps), {REPS} reps"
    )
    print(f"hand-written loop: median {loop_median * 1e3:.1f} ms CPU ({loop_median / batches * 1e6:.1f} us/step)")
    print(f"fit:               median {fit_median * 1e3:.1f} ms CPU ({fit_median / batches * 1e6:.1f} us/step)")
    print(f"ratio fit / loop:  {ratio:.3f} (limit {LIMIT})")
    if ratio > LIMIT:
        print(f"FAIL: fit costs {100 * (ratio - 1):.1f}% more than the hand-written loop", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
