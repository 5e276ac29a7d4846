"""Data-parallel training of a tiny model with ``torch.distributed`` (lesson 15).

Every process runs this same file. ``torchrun`` starts the processes and tells each one who it
is through environment variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``). Two processes on the CPU, talking over the loopback address::

    OMP_NUM_THREADS=1 torchrun --nproc-per-node 2 --rdzv-backend c10d \\
        --rdzv-endpoint 127.0.0.1:29400 ddp_train.py --out runs/ddp

On a machine with GPUs the same command uses one process per GPU (``--nproc-per-node gpu``),
the nccl backend and ``cuda:LOCAL_RANK``; several machines add ``--nnodes`` and a shared
``--rdzv-endpoint``. ``launch(...)`` below starts torchrun from Python the way the lesson does;
``train_one_process(...)`` is the single-process reference the lesson compares against.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from ddp_failures import Progress, report_failure
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from course.checkpoints import load_checkpoint, save_checkpoint
from course.device import get_device

HERE = Path(__file__).resolve().parent
N_SAMPLES = 64
N_FEATURES = 4
DTYPE = torch.float64  # float64 keeps the two runs equal to far better than 1e-6


# ---------------------------------------------------------------- the pieces every run shares
def make_dataset(seed: int = 0) -> TensorDataset:
    """The same tiny regression data set in every process: y = x @ w + noise.

    Example:
        >>> len(make_dataset())
        64
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(N_SAMPLES, N_FEATURES, generator=gen, dtype=DTYPE)
    w = torch.tensor([[1.5], [-2.0], [0.5], [1.0]], dtype=DTYPE)
    y = x @ w + 0.1 * torch.randn(N_SAMPLES, 1, generator=gen, dtype=DTYPE)
    return TensorDataset(x, y)


def make_model(seed: int = 0) -> nn.Module:
    """A small MLP whose initial weights depend only on ``seed`` (the same in every process).

    Example:
        >>> sum(p.numel() for p in make_model().parameters())
        49
    """
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(N_FEATURES, 8), nn.Tanh(), nn.Linear(8, 1)).to(DTYPE)


def make_loader(dataset: TensorDataset, global_batch: int, rank: int, world_size: int, seed: int = 0) -> DataLoader:
    """A loader that gives this rank its share (``global_batch // world_size``) of every global batch.

    The ``DistributedSampler`` shuffles with ``seed + epoch`` (call ``set_epoch`` each epoch), splits the
    shuffled indices among the ranks, each rank a different part. When the data size is not a multiple of
    ``world_size`` it pads the last part with samples from the start, so a few are seen twice in that epoch
    (or, with ``drop_last=True``, it drops them); the 64 samples here divide evenly.

    Example:
        >>> loader = make_loader(make_dataset(), global_batch=16, rank=1, world_size=2)
        >>> next(iter(loader))[0].shape
        torch.Size([8, 4])
    """
    if global_batch % world_size:
        raise ValueError(f"global_batch={global_batch} must be a multiple of world_size={world_size}.")
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
    return DataLoader(dataset, batch_size=global_batch // world_size, sampler=sampler)


def train(
    model: nn.Module,
    loader: DataLoader,
    epochs: int,
    lr: float,
    log=print,
    crash_at: int | None = None,
    hang_at: int | None = None,
    progress=None,
) -> list[float]:
    """Plain SGD on MSE; returns the mean training loss of each epoch (averaged over all ranks).

    ``model`` is either a plain module (one process) or a ``DistributedDataParallel`` wrapper:
    the loop is the same, because DDP averages the gradients inside ``backward()``.
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    device = next(model.parameters()).device
    losses, step = [], 0
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)  # a new shuffle each epoch, the same one on every rank
        total = torch.zeros(2, dtype=DTYPE, device=device)  # (sum of losses, number of batches)
        for x, y in loader:
            if crash_at is not None and step == crash_at:
                raise RuntimeError(f"rank {dist.get_rank()} crashed on purpose at step {step}")
            if hang_at is not None and step == hang_at:
                threading.Event().wait()  # stop answering, as a deadlocked or paused process would
            if progress is not None:
                progress.reached(step)
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()  # with DDP: the gradients are all-reduced (averaged) here
            optimizer.step()
            total += torch.stack([loss.detach(), torch.ones((), dtype=DTYPE, device=device)])
            step += 1
        if dist.is_initialized():
            dist.all_reduce(total)  # sum over ranks, so every rank knows the global mean loss
        losses.append((total[0] / total[1]).item())
        log(f"epoch {epoch + 1}: mean loss {losses[-1]:.6f}")
    return losses


def train_one_process(epochs: int = 2, global_batch: int = 16, lr: float = 0.1, seed: int = 0) -> nn.Module:
    """The reference: one process, no process group, the whole global batch in every step.

    Example:
        >>> model = train_one_process(epochs=1)
        >>> model[0].weight.dtype
        torch.float64
    """
    model = make_model(seed)
    loader = make_loader(make_dataset(seed), global_batch, rank=0, world_size=1, seed=seed)
    train(model, loader, epochs, lr, log=lambda *args: None)
    return model


def pick_device(local_rank: int) -> tuple[torch.device, str]:
    """``(cuda:LOCAL_RANK, "nccl")`` when every process on this machine gets a GPU, else ``(cpu, "gloo")``.

    The device comes from ``course.get_device()``, so ``COURSE_DEVICE`` works as in every lesson. Chosen
    automatically, too few GPUs (or Apple's MPS, which torch.distributed does not support) means the CPU
    for every rank (all ranks must use the same backend); asked for explicitly, it is an error.

    Example:
        >>> os.environ["COURSE_DEVICE"] = "cpu"
        >>> pick_device(0)
        (device(type='cpu'), 'gloo')
    """
    chosen = bool(os.environ.get("COURSE_DEVICE", "").strip())
    device = get_device()
    processes_here = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # set by torchrun: processes on this machine
    problem = None
    if device.type == "cuda" and device.index is not None and processes_here > 1:
        problem = f"COURSE_DEVICE={device} puts every process on one GPU; data-parallel needs COURSE_DEVICE=cuda"
    elif device.type == "cuda" and torch.cuda.device_count() < processes_here:
        problem = f"{processes_here} processes but {torch.cuda.device_count()} GPU(s): one process per GPU"
    elif device.type == "mps":
        problem = "torch.distributed has no MPS backend; train data-parallel with COURSE_DEVICE=cpu"
    if problem is None:
        return (torch.device("cuda", local_rank), "nccl") if device.type == "cuda" else (device, "gloo")
    if chosen:
        raise RuntimeError(problem)
    return torch.device("cpu"), "gloo"


# ---------------------------------------------------------------- what each process runs
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--global-batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/ddp"), help="folder for the checkpoint")
    parser.add_argument("--timeout", type=float, default=60, help="seconds a collective waits for a stuck rank")
    parser.add_argument("--crash-rank", type=int, default=None, help="this rank raises at step 2 (failure demo)")
    parser.add_argument("--hang-rank", type=int, default=None, help="this rank stops answering at step 2 (hang demo)")
    args = parser.parse_args(argv)

    local_rank = int(os.environ["LOCAL_RANK"])  # set by torchrun: which process on this machine
    device, backend = pick_device(local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    timeout = timedelta(seconds=args.timeout)  # a collective waiting longer than this raises instead of hanging
    dist.init_process_group(backend, timeout=timeout)  # reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
    progress = Progress(dist.get_rank(), dist.get_world_size(), timeout)
    code = 1  # until run() returns
    try:
        try:
            run(args, local_rank, device, backend, progress)
            code = 0
        except Exception as exc:  # every rank reports its own failure, naming the ranks that stopped answering
            report_failure(exc, progress)
        finally:
            dist.destroy_process_group()  # after run() returned: the DDP wrapper is already gone
    finally:
        # Leave without Python's interpreter shutdown, whatever happened above: gloo's worker threads can still
        # hold finished work (and tensors) whose release needs the interpreter; during shutdown that release
        # aborts the process with "terminate called without an active exception" (pytorch/pytorch#190489).
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)


def ranks_agree_after_wrapping(
    seed: int, rank: int, device: torch.device, device_ids: list | None
) -> tuple[bool, bool]:
    """Whether a model built from ``seed + rank`` is equal on all ranks: (before, after) DDP wraps it.

    The ranks build different weights, but ``DistributedDataParallel``'s constructor copies rank 0's
    parameters and buffers to every other rank.
    """
    model = make_model(seed + rank).to(device)

    def agree() -> bool:
        flat = nn.utils.parameters_to_vector(model.parameters()).detach()
        copies = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
        dist.all_gather(copies, flat)  # every rank receives every rank's weights
        return all(torch.equal(copy, flat) for copy in copies)

    before = agree()
    DistributedDataParallel(model, device_ids=device_ids)
    return before, agree()


def run(args: argparse.Namespace, local_rank: int, device: torch.device, backend: str, progress: Progress) -> None:
    """Train on this rank's share of every batch; rank 0 logs and saves the checkpoint."""
    rank, world_size = dist.get_rank(), dist.get_world_size()
    log = print if rank == 0 else (lambda *a, **k: None)  # only rank 0 talks
    log(f"world_size={world_size} backend={backend} device={device.type}")

    device_ids = [local_rank] if device.type == "cuda" else None
    before, after = ranks_agree_after_wrapping(args.seed, rank, device, device_ids)
    log(f"a model seeded with seed + rank, equal on all ranks: before DDP {before}, after DDP {after}")
    model = make_model(args.seed).to(device)  # one seed on every rank (DDP would copy rank 0's weights anyway)
    ddp_model = DistributedDataParallel(model, device_ids=device_ids)
    loader = make_loader(make_dataset(args.seed), args.global_batch, rank, world_size, args.seed)
    log(f"batch per process={loader.batch_size} global batch={args.global_batch} steps/epoch={len(loader)}")

    crash_at = 2 if args.crash_rank == rank else None
    hang_at = 2 if args.hang_rank == rank else None
    losses = train(
        ddp_model, loader, args.epochs, args.lr, log=log, crash_at=crash_at, hang_at=hang_at, progress=progress
    )

    if rank == 0:  # one writer: the weights are identical on every rank anyway
        args.out.mkdir(parents=True, exist_ok=True)
        path = save_checkpoint(args.out / "ddp.pt", ddp_model.module, epoch=args.epochs, history={"train_loss": losses})
        log(f"rank 0 saved {path.name}")
    dist.barrier(device_ids=device_ids)  # wait for the checkpoint


# ---------------------------------------------------------------- starting torchrun from Python
def launch(nproc: int, *script_args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``torchrun --nproc-per-node nproc ddp_train.py *script_args`` on 127.0.0.1; capture its output.

    Port 0 in the rendezvous endpoint lets the operating system pick a free port when torchrun opens it,
    so two jobs started at once (tests in parallel) never collide.
    """
    command = [
        sys.executable, "-m", "torch.distributed.run",
        "--nproc-per-node", str(nproc),
        "--rdzv-backend", "c10d",
        "--rdzv-endpoint", "127.0.0.1:0",  # 0: any free port, chosen at launch
        "--local-addr", "127.0.0.1",
        str(HERE / "ddp_train.py"), *script_args,
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1", PYTHONUNBUFFERED="1")
    env["GLOO_SOCKET_IFNAME"] = "lo0" if sys.platform == "darwin" else "lo"  # gloo talks over loopback only
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "env": env, "cwd": HERE}
    with subprocess.Popen(command, **pipes) as job:
        try:
            out, err = job.communicate(timeout=timeout)
        except BaseException:  # out of time, or the cell interrupted: torchrun stops its ranks when terminated
            job.terminate()
            try:
                job.wait(timeout=15)
            except subprocess.TimeoutExpired:
                job.kill()
            raise
    return subprocess.CompletedProcess(command, job.returncode, out, err)


def load_trained(checkpoint: Path) -> tuple[nn.Module, dict]:
    """A fresh model with the weights rank 0 saved, and ``{"epoch", "history"}`` (``course.checkpoints.load_checkpoint``)."""
    model = make_model()
    state = load_checkpoint(checkpoint, model)
    return model, state


if __name__ == "__main__":
    main()
