"""course.checkpoint_file: damage is always detected; a save that fails, crashes or is killed mid-write leaves
the previous checkpoint loadable and no temporary file behind."""

from __future__ import annotations

import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from course import checkpoint_file, checkpoint_path
from course.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from tests.unit.test_checkpoints import everything, make_setup, same, trained_checkpoint

ROOT = Path(__file__).parents[2]
DAMAGED = r"'c.pt' is not a course checkpoint, or damaged: "


# ----------------------------------------------------------------------------- damage is always detected


def test_every_one_of_200_random_corruptions_is_detected_and_changes_nothing(tmp_path):
    path = trained_checkpoint(tmp_path)
    good = path.read_bytes()
    rng = random.Random(0)
    model, optimizer, scheduler, _, generator = make_setup(seed=7)
    before = everything(model, optimizer, scheduler, generator)
    for _trial in range(200):
        data = bytearray(good)
        for position in rng.sample(range(len(data)), rng.randint(1, 8)):
            data[position] ^= rng.randint(1, 255)  # a real change: never XOR with 0
        path.write_bytes(bytes(data))
        with pytest.raises(CheckpointError, match=DAMAGED):
            load_checkpoint(path, model, optimizer, scheduler, generator=generator)
    assert same(everything(model, optimizer, scheduler, generator), before)


def test_truncated_empty_and_foreign_files_get_one_clear_message(tmp_path):
    path = trained_checkpoint(tmp_path)
    good = path.read_bytes()
    unsealed = tmp_path / "unsealed.pt"
    torch.save(torch.load(path, weights_only=True), unsealed)  # the same dict, written by plain torch.save
    foreign = {
        "empty": b"",
        "one byte": good[:1],
        "text": b"epoch,loss\n1,0.5\n",
        "random bytes": bytes(random.Random(1).randrange(256) for _ in range(4096)),
        "plain torch.save": unsealed.read_bytes(),
    }
    foreign |= {f"cut to {n} bytes": good[:n] for n in random.Random(2).sample(range(2, len(good)), 30)}
    foreign |= {"seal of another file": good[:-64] + b"0" * 64}
    for name, data in foreign.items():
        path.write_bytes(data)
        with pytest.raises(CheckpointError, match=DAMAGED + r".*Nothing was loaded") as info:
            load_checkpoint(path, nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1)))
        assert str(tmp_path) not in str(info.value), name  # the file's name, not where it lives


def test_a_sealed_file_of_another_shape_is_not_a_checkpoint(tmp_path):
    checkpoint_file.write_sealed({"epoch": 3}, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match=DAMAGED + r"it lacks the keys \['history', 'kinds', 'model'"):
        load_checkpoint(tmp_path / "c.pt", nn.Linear(1, 1))


@pytest.mark.parametrize(("key", "value"), [("model", None), ("kinds", None), ("epoch", "three"), ("rng", [])])
def test_a_sealed_checkpoint_with_a_malformed_entry_is_not_a_checkpoint(tmp_path, key, value):
    path = trained_checkpoint(tmp_path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint[key] = value  # forged with the file's own writer, so the seal is right
    checkpoint_file.write_sealed(checkpoint, path)
    model, optimizer, scheduler, _, generator = make_setup(seed=7)
    before = everything(model, optimizer, scheduler, generator)
    with pytest.raises(
        CheckpointError,
        match=DAMAGED + rf"its entry '{key}' is {type(value).__name__}, not what save_checkpoint writes",
    ):
        load_checkpoint(path, model, optimizer, scheduler, generator=generator)
    assert same(everything(model, optimizer, scheduler, generator), before)


# ----------------------------------------------------------------------------- saves that a crash or a kill cannot half-write


@pytest.fixture(params=["unnamed", "named"])
def writer(request, monkeypatch):
    """Both ways of writing: a file with no name (Linux) and a hidden temporary file (elsewhere)."""
    if request.param == "named":
        monkeypatch.setattr(checkpoint_file, "_write_unnamed", lambda *args: False)
    return request.param


def test_a_failure_mid_write_leaves_the_previous_checkpoint_and_no_temporary_file(tmp_path, monkeypatch, writer):
    path = save_checkpoint(tmp_path / "c.pt", nn.Linear(1, 1), epoch=1)
    before = path.read_bytes()

    def disk_full(fd, data):
        os.write(fd, data[:100])
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_file, "_write_all", disk_full)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, nn.Linear(1, 1), epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    monkeypatch.undo()
    assert load_checkpoint(path, nn.Linear(1, 1))["epoch"] == 1


def kill_mid_save(folder, unnamed: bool, delay: float) -> bool:
    """Fork a process that saves epoch 2 over the checkpoint with a slowed writer; SIGKILL it ``delay`` seconds
    after it began writing. Return whether it was killed (rather than finishing)."""
    model = nn.Linear(200, 100)  # built before the fork: the child only saves
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read)
            if not unnamed:
                checkpoint_file._write_unnamed = lambda *args: False

            def slow_writer(fd, data):  # about 0.4 s for the model below
                os.write(write, b"w")
                for start in range(0, len(data), 512):
                    os.write(fd, data[start : start + 512])
                    time.sleep(0.002)

            checkpoint_file._write_all = slow_writer
            save_checkpoint(folder / "c.pt", model, epoch=2)
        finally:
            os._exit(0)
    os.close(write)
    os.read(read, 1)  # the child has begun writing
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(read)
    return os.WIFSIGNALED(status)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kills a forked process; unnamed files are Linux's")
def test_a_save_killed_mid_write_leaves_no_temporary_file_and_the_last_checkpoint_loads(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", nn.Linear(200, 100), epoch=1)
    rng = random.Random(0)
    for _trial in range(10):
        assert kill_mid_save(tmp_path, unnamed=True, delay=rng.uniform(0.0, 0.25))
        assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
        assert load_checkpoint(path, nn.Linear(200, 100))["epoch"] == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked process")
def test_where_a_killed_save_leaves_a_temporary_file_the_next_save_removes_it(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", nn.Linear(200, 100), epoch=1)
    for _trial in range(2):
        assert kill_mid_save(tmp_path, unnamed=False, delay=0.05)
        assert len(list(tmp_path.glob(".c.pt.*.tmp"))) == 1  # this kill's file (the next save removed the last)
    assert load_checkpoint(path, nn.Linear(200, 100))["epoch"] == 1
    save_checkpoint(path, nn.Linear(200, 100), epoch=3)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    assert load_checkpoint(path, nn.Linear(200, 100))["epoch"] == 3


# ----------------------------------------------------------------------------- a read-only checkpoint is kept

# root ignores file modes (CAP_DAC_OVERRIDE): drop that, as a learner's account never had it
_AS_A_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--inh-caps=-all"]


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="file modes of POSIX")
@pytest.mark.skipif(
    os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root needs setpriv to drop its override"
)
def test_a_read_only_checkpoint_is_neither_overwritten_nor_made_writable(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", nn.Linear(2, 1), epoch=1)
    path.chmod(0o444)
    before = path.read_bytes()
    code = (
        "from torch import nn\nfrom course.checkpoints import save_checkpoint\n"
        f"try:\n    save_checkpoint({str(path)!r}, nn.Linear(2, 1), epoch=5)\n"
        "except PermissionError as error:\n    print('refused:', error)\n"
    )
    prefix = _AS_A_USER if os.geteuid() == 0 else []
    done = subprocess.run([*prefix, sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: cannot write the checkpoint 'c.pt'"), done.stdout
    assert "read-only" in done.stdout and "another path" in done.stdout and "os.chmod(" in done.stdout
    assert path.read_bytes() == before and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left either


def test_a_writable_checkpoint_is_still_overwritten_and_a_read_only_one_refused_in_process(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "c.pt", nn.Linear(2, 1), epoch=1)
    assert load_checkpoint(save_checkpoint(path, nn.Linear(2, 1), epoch=2), nn.Linear(2, 1))["epoch"] == 2
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if p == path else real_access(p, mode, **kw))
    with pytest.raises(PermissionError, match=r"'c.pt' .*read-only.*Save to another path.*os.chmod\("):
        save_checkpoint(path, nn.Linear(2, 1), epoch=3)
    monkeypatch.undo()
    assert load_checkpoint(path, nn.Linear(2, 1))["epoch"] == 2


def test_the_path_helpers_take_a_str_as_well_as_a_path(tmp_path):
    assert "'c.pt' is not a course checkpoint" in str(checkpoint_file.damaged(str(tmp_path / "c.pt"), "it is empty"))
    assert checkpoint_path.unexpanded("~/runs/c.pt") == checkpoint_path.unexpanded(Path("~/runs/c.pt"))
    assert checkpoint_path.unexpanded("runs/c.pt") == ""
    (path := tmp_path / "c.pt").write_bytes(b"")
    assert checkpoint_path.read_only(str(path)) is None


@pytest.mark.parametrize("inside", [("c.pt",), ("runs", "c.pt")])
def test_a_file_where_a_folder_should_be_is_called_a_file(tmp_path, inside):
    (tmp_path / "good.pt").write_bytes(b"")
    path = tmp_path.joinpath("good.pt", *inside)
    with pytest.raises(NotADirectoryError, match=r"'.*good.pt' is a file, not a folder.*e.g. '.*c.pt'") as info:
        save_checkpoint(path, nn.Linear(1, 1))
    assert "mkdir" not in str(info.value) and "does not exist" not in str(info.value)


def test_a_symbolic_link_is_saved_through_to_its_target_and_kept(tmp_path):
    (tmp_path / "runs").mkdir()
    (target := tmp_path / "runs" / "best.pt").write_bytes(b"old")
    (link := tmp_path / "latest.pt").symlink_to(target)
    assert save_checkpoint(link, nn.Linear(2, 1), epoch=3) == link
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert load_checkpoint(target, nn.Linear(2, 1))["epoch"] == 3
    (dangling := tmp_path / "next.pt").symlink_to(tmp_path / "runs" / "next.pt")  # its target does not exist yet
    save_checkpoint(dangling, nn.Linear(2, 1), epoch=4)
    assert dangling.is_symlink() and load_checkpoint(tmp_path / "runs" / "next.pt", nn.Linear(2, 1))["epoch"] == 4
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["best.pt", "latest.pt", "next.pt", "next.pt", "runs"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes of POSIX")
@pytest.mark.parametrize("linked", [False, True])
def test_a_path_that_is_no_regular_file_is_refused_and_left_as_it_is(tmp_path, linked):
    os.mkfifo(pipe := tmp_path / "pipe")  # as a device or a socket: never to be replaced by a file
    path = tmp_path / "c.pt" if linked else pipe
    if linked:
        path.symlink_to(pipe)
    with pytest.raises(ValueError, match=r"cannot write the checkpoint '.*': '.*pipe' is a named pipe.*not a file.*"):
        save_checkpoint(path, nn.Linear(2, 1))
    with pytest.raises(ValueError, match=r"'.*pipe' is a named pipe"):
        checkpoint_file.write_sealed({}, path)
    with pytest.raises(ValueError, match=r"cannot read the checkpoint '.*': '.*' is a named pipe.*Load from a"):
        load_checkpoint(path, nn.Linear(2, 1))  # not "no checkpoint file", and no read that waits for a writer
    assert stat.S_ISFIFO(os.stat(pipe).st_mode) and path.is_symlink() == linked
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt", "pipe"][1 - linked :]
