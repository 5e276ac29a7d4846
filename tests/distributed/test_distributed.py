"""Lesson 15's training script: two processes with half a batch each equal one process with the whole batch.

These tests start real ``torchrun`` jobs on the CPU (gloo, 127.0.0.1, a free port each time), so
they take a few seconds each.
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

from course.checkpoints import load_checkpoint  # noqa: E402

TOLERANCE = 1e-6


def _max_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max((p - q).detach().abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp2")
    result = ddp_train.launch(2, "--out", str(out), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_two_processes_equal_one_process_with_the_whole_batch(two_process_run):
    out, _ = two_process_run
    reference = ddp_train.train_one_process()
    trained, _ = ddp_train.load_trained(out / "ddp.pt")
    assert _max_difference(trained, reference) < TOLERANCE
    assert _max_difference(trained, ddp_train.make_model()) > 0.01, "the run should have changed the weights"


def test_one_process_under_torchrun_gives_the_same_parameters(two_process_run, tmp_path):
    out2, _ = two_process_run
    result = ddp_train.launch(1, "--out", str(tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "world_size=1 backend=gloo device=cpu" in result.stdout
    one, _ = ddp_train.load_trained(tmp_path / "ddp.pt")
    two, _ = ddp_train.load_trained(out2 / "ddp.pt")
    assert _max_difference(one, two) < TOLERANCE


def test_only_rank_zero_logs_and_the_checkpoint_loads(two_process_run):
    out, result = two_process_run
    lines = result.stdout.splitlines()
    assert lines[0] == "world_size=2 backend=gloo device=cpu"
    assert sum(line.startswith("epoch 1:") for line in lines) == 1, "only rank 0 should print"
    assert lines[-1] == "rank 0 saved ddp.pt"
    state = load_checkpoint(out / "ddp.pt", ddp_train.make_model())
    assert state["epoch"] == 2 and len(state["history"]["train_loss"]) == 2
    assert all(not key.startswith("module.") for key in torch.load(out / "ddp.pt", weights_only=True)["model"])


def test_a_crashing_rank_stops_the_job_quickly(tmp_path):
    start = time.perf_counter()
    result = ddp_train.launch(2, "--out", str(tmp_path), "--crash-rank", "1", timeout=90)
    elapsed = time.perf_counter() - start
    assert result.returncode != 0
    assert elapsed < 60, f"torchrun took {elapsed:.0f} s to give up"
    assert "rank 1 failed: RuntimeError: rank 1 crashed on purpose at step 2" in result.stderr
    assert "ChildFailedError" in result.stderr
    assert not (tmp_path / "ddp.pt").exists()


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


def test_a_rank_that_stops_answering_ends_the_job_in_bounded_time_and_is_named(tmp_path):
    start = time.perf_counter()
    result = ddp_train.launch(2, "--out", str(tmp_path), "--hang-rank", "1", "--timeout", "3", timeout=90)
    elapsed = time.perf_counter() - start
    assert result.returncode != 0
    assert elapsed < 60, f"a stuck rank held the job for {elapsed:.0f} s"
    assert "rank 0 failed: RuntimeError: Timed out waiting 3000ms" in result.stderr
    assert "(rank 1 stopped answering)" in result.stderr
    assert "terminate called" not in result.stderr


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
