"""Lesson 15's training script, beyond what the lesson runs and asserts itself under nbval.

The notebook launches two processes and checks they equal one process with the whole batch, that only
rank 0 logs and the checkpoint loads, that a crashing rank and a rank that stops answering end the job
quickly and are named (its printed lines are compared, its assert cells check the rest). These tests add
one process under torchrun, a launch that runs out of time, the loader's split and the device choice.
They start real ``torchrun`` jobs on the CPU (gloo, 127.0.0.1, a free port each time): seconds each.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))
import ddp_train  # noqa: E402

TOLERANCE = 1e-6


def _max_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max((p - q).detach().abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_one_process_under_torchrun_gives_the_one_process_parameters(tmp_path):
    result = ddp_train.launch(1, "--out", str(tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "world_size=1 backend=gloo device=cpu" in result.stdout
    one, _ = ddp_train.load_trained(tmp_path / "ddp.pt")
    assert _max_difference(one, ddp_train.train_one_process()) < TOLERANCE


def test_the_ranks_share_out_each_global_batch():
    dataset = ddp_train.make_dataset()
    whole = ddp_train.make_loader(dataset, 16, rank=0, world_size=1)
    halves = [ddp_train.make_loader(dataset, 16, rank=r, world_size=2) for r in range(2)]
    for loader in (whole, *halves):
        loader.sampler.set_epoch(1)
    for (x, _), (x0, _), (x1, _) in zip(whole, *halves, strict=True):
        assert x0.shape[0] == x1.shape[0] == 8
        assert sorted(map(tuple, x.tolist())) == sorted(map(tuple, torch.cat([x0, x1]).tolist()))


def test_a_global_batch_that_does_not_split_is_refused():
    with pytest.raises(ValueError, match="multiple of world_size"):
        ddp_train.make_loader(ddp_train.make_dataset(), 15, rank=0, world_size=2)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table in /proc")
def test_a_launch_out_of_time_leaves_no_rank_behind(tmp_path):
    out = tmp_path / "late"  # a name only this job's processes carry on their command line
    with pytest.raises(subprocess.TimeoutExpired):
        ddp_train.launch(2, "--out", str(out), "--hang-rank", "1", "--timeout", "60", timeout=3)
    time.sleep(0.5)
    left = [cmd for cmd in Path("/proc").glob("[0-9]*/cmdline") if _reads(cmd).count(str(out))]
    assert not left, "torchrun or one of its ranks outlived the launch"


def _reads(path: Path) -> str:
    try:
        return path.read_bytes().decode(errors="replace")
    except OSError:  # the process ended while we looked
        return ""


def test_the_device_follows_course_device(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr(ddp_train, "get_device", lambda: torch.device("mps"))
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert ddp_train.pick_device(1) == (torch.device("cpu"), "gloo")  # chosen automatically: fall back together
    monkeypatch.setenv("COURSE_DEVICE", "mps")
    with pytest.raises(RuntimeError, match="no MPS backend"):
        ddp_train.pick_device(1)
    monkeypatch.setattr(ddp_train, "get_device", lambda: torch.device("cuda", 1))
    monkeypatch.setenv("COURSE_DEVICE", "cuda:1")
    with pytest.raises(RuntimeError, match="data-parallel needs COURSE_DEVICE=cuda"):
        ddp_train.pick_device(1)
