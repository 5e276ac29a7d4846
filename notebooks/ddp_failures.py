"""Naming the rank that stopped: what ``ddp_train.py``'s processes report when a run fails (lesson 15).

A collective (all-reduce) waits for every rank; when one stops answering, the others time out without
knowing who is missing. Each rank records its progress in torchrun's key-value store, so the ranks that
time out can name the one that is behind.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from datetime import timedelta

import torch.distributed as dist


class Progress:
    """Each rank records the step it reached in torchrun's key-value store, so a rank that stops can be named.

    A collective (all-reduce) waits for every rank; when one stops answering, the others time out without
    knowing who is missing. The store tells them: the rank whose last step is behind is the stuck one.
    """

    def __init__(self, rank: int, world_size: int, timeout: timedelta) -> None:
        self.rank, self.world_size = rank, world_size
        self.store = dist.TCPStore(
            os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False, timeout=timeout
        )

    def reached(self, step: int) -> None:
        self.store.set(f"course/progress/{self.rank}", str(step))

    def stuck_ranks(self) -> list[int]:
        steps = {}
        for rank in range(self.world_size):
            key = f"course/progress/{rank}"
            steps[rank] = int(self.store.get(key)) if self.store.check([key]) else -1
        return [rank for rank, step in steps.items() if step < max(steps.values())]


def report_failure(exc: Exception, progress: Progress) -> None:
    """Print this rank's failure in one line (and the ranks that stopped answering, if it timed out), then the traceback."""
    try:
        stuck = progress.stuck_ranks() if "Timed out" in str(exc) else []
    except Exception:  # the store may be gone too
        stuck = []
    blame = f" (rank {', '.join(map(str, stuck))} stopped answering)" if stuck else ""
    message = re.sub(r"^\[[^\]]*\] ", "", str(exc))  # gloo prefixes its messages with its source file
    print(f"rank {dist.get_rank()} failed: {type(exc).__name__}: {message}{blame}", file=sys.stderr, flush=True)
    traceback.print_exc()
