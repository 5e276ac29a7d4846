"""Review 13 of the API, second part: a history of per-epoch dicts or sets, a damaged NumPy or Python random state,
items a DataLoader cannot batch (kinds or keys that differ), paths the system refuses, the advice after a
divergence, a path naming a folder, a generator of another device, a wrapped model's keys, and the command line."""

from __future__ import annotations

import copy
import enum
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from course.__main__ import main
from course.checkpoint_file import write_sealed
from course.checkpoints import load_checkpoint, save_checkpoint
from course.history import plain_history
from course.progress import check_progress
from course.repro import rng_state, set_rng_state
from course.training import evaluate, fit
from tests.unit.clear_errors import assert_clear_error

ROOT = pathlib.Path(__file__).resolve().parents[2]
# What a script run as another user (nobody, uid 65534) starts with: the course's checkpoint functions, and
# refusals(*calls), which prints where each PermissionError was raised (the innermost frame's file) and its message.
NOBODY_HEADER = """
import os, pathlib, sys, tempfile
sys.path.insert(0, sys.argv[1])
from torch import nn
from course.checkpoints import load_checkpoint, save_checkpoint

def refusals(*calls):
    for call in calls:
        try:
            call()
        except PermissionError as exc:
            tb = exc.__traceback__
            while tb.tb_next: tb = tb.tb_next
            print(tb.tb_frame.f_code.co_filename, "|", exc)
"""
AS_NOBODY = pytest.mark.skipif(
    os.name != "posix" or os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root (setpriv to nobody)"
)


def as_nobody(script: str) -> subprocess.CompletedProcess:
    """``script`` (after NOBODY_HEADER) run as user nobody, with the repository first on its path."""
    command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c"]
    return subprocess.run([*command, NOBODY_HEADER + textwrap.dedent(script), str(ROOT)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "TMPDIR": "/tmp"})  # fmt: skip


X, Y = torch.ones(4, 1), torch.ones(4, 1)

# torch.compile (a wrapped model's checkpoint) scripts a helper of torch's with a deprecated decorator on first use
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")


def sgd(model: nn.Module, lr: float = 0.1) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=lr)


# ------------------------------------------------------------------ H1: a history is a dict of LISTS


@pytest.mark.parametrize("values", [{1: 0.9, 2: 0.4}, {0.9, 0.4, 0.7}, frozenset({0.5})])
def test_history_of_a_dict_or_set_per_name_is_refused(values):
    assert_clear_error(lambda: plain_history({"train_loss": values}), TypeError,
                       r"history should be a dict of lists of numbers.*list\(.*\.values\(\)\)")  # fmt: skip


def test_history_of_per_epoch_dicts_is_refused_by_save_and_fit(tmp_path):
    history = {"train_loss": {1: 0.9, 2: 0.4}}
    assert_clear_error(lambda: save_checkpoint(tmp_path / "a.pt", nn.Linear(1, 1), epoch=2, history=history),
                       TypeError, r"history should be a dict of lists")  # fmt: skip
    model = nn.Linear(1, 1)
    assert_clear_error(lambda: fit(model, nn.MSELoss(), sgd(model), [(X, Y)], 3, history=history, start_epoch=2,
                                   progress=False), TypeError, r"history should be a dict of lists")  # fmt: skip


def test_history_of_a_number_too_large_for_a_float_is_refused_clearly():
    assert_clear_error(lambda: plain_history({"a": [10**400]}), ValueError, r"'a'.*too large")


def test_history_whose_names_collide_as_strings_is_refused():
    assert_clear_error(lambda: plain_history({1: [2.0], "1": [3.0]}), ValueError, r"'1'.*both")


def test_plain_history_still_takes_lists_arrays_and_tensors():
    got = plain_history({"a": [np.float32(0.5)], "b": np.array([1.0, 2.0]), "c": torch.tensor([0.25]), 3: (1,)})
    assert got == {"a": [0.5], "b": [1.0, 2.0], "c": [0.25], "3": [1.0]}


# ------------------------------------------------------------------ H2: a damaged NumPy or Python random state


def _damaged(part: str, key: str, value: object) -> dict:
    state = copy.deepcopy(rng_state())
    state[part][key] = value(state[part][key]) if callable(value) else value
    return state


DAMAGES = [
    ("numpy", "pos", 10**6),
    ("numpy", "pos", -5),
    ("numpy", "pos", 700),
    ("numpy", "pos", 3.5),
    ("numpy", "keys", lambda keys: keys.float()),
    ("numpy", "keys", lambda keys: -keys),
    ("numpy", "keys", lambda keys: keys + 2**32),
    ("numpy", "keys", lambda keys: keys[:600]),
    ("numpy", "keys", lambda keys: keys.tolist()),
    ("numpy", "cached_gaussian", float("nan")),
    ("numpy", "has_gauss", 2),
    ("python", "gauss", "x"),
    ("python", "gauss", float("inf")),
    ("python", "state", lambda state: state[:600]),
    ("python", "state", lambda state: [*state[:624], 700]),
    ("python", "state", lambda state: [2**33, *state[1:]]),
    ("python", "state", lambda state: [float(v) for v in state]),
    ("python", "version", "3"),
]


@pytest.mark.parametrize(("part", "key", "value"), DAMAGES)
def test_a_damaged_numpy_or_python_state_is_refused_and_changes_nothing(part, key, value):
    state = _damaged(part, key, value)
    before = (np.random.get_state()[1].copy(), np.random.get_state()[2], random.getstate())
    assert_clear_error(lambda: set_rng_state(state), ValueError, rf"'{part}' part is unusable.*{key}")
    after = np.random.get_state()
    assert np.array_equal(after[1], before[0]) and after[2] == before[1] and random.getstate() == before[2]


@pytest.mark.parametrize("pos", [0, 624])
def test_every_valid_numpy_position_is_still_accepted(pos):
    state = _damaged("numpy", "pos", pos)
    set_rng_state(state)
    assert np.random.get_state()[2] == pos


# ------------------------------------------------------------------ M1: items of different kinds or keys


class Mixed(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        return (torch.tensor([float(i)]) if i % 2 == 0 else float(i)), torch.tensor([1.0])


class DictDiff(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        return ({"a": torch.ones(1)} if i % 2 == 0 else {"b": torch.ones(1)}), torch.tensor([1.0])


class OwnKeyError(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int):
        return {"a": 1}["missing"]


def test_items_of_a_tensor_and_a_float_are_named():
    model = nn.Linear(1, 1)
    loader = DataLoader(Mixed(), batch_size=2)
    words = r"could not batch.*Tensor.*float.*same kind of value"
    assert_clear_error(lambda: fit(model, nn.MSELoss(), sgd(model), loader, 1, progress=False), TypeError, words)
    assert_clear_error(lambda: evaluate(model, nn.MSELoss(), loader), TypeError, words)


def test_items_of_dicts_with_different_keys_are_named():
    model = nn.Linear(1, 1)
    loader = DataLoader(DictDiff(), batch_size=2)
    assert_clear_error(lambda: fit(model, nn.MSELoss(), sgd(model), loader, 1, progress=False), TypeError,
                       r"could not batch.*keys.*\['a'\].*\['b'\].*same keys")  # fmt: skip


def test_a_key_error_of_the_datasets_own_code_passes_through():
    model = nn.Linear(1, 1)
    with pytest.raises(KeyError, match="missing"):
        evaluate(model, nn.MSELoss(), DataLoader(OwnKeyError(), batch_size=2))


# ------------------------------------------------------------------ M2: paths the system refuses


def test_an_unreadable_file_is_named_with_the_fix(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "a.pt", nn.Linear(1, 1))

    def refuse(self: pathlib.Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "read_bytes", refuse)
    assert_clear_error(lambda: load_checkpoint(path, nn.Linear(1, 1)), PermissionError, r"a\.pt'.*chmod")


NOBODY = """
    folder = pathlib.Path(tempfile.mkdtemp())
    unread = save_checkpoint(folder / "unread.pt", nn.Linear(1, 1)); os.chmod(unread, 0o000)
    shut = folder / "shut"; shut.mkdir(); save_checkpoint(shut / "a.pt", nn.Linear(1, 1)); os.chmod(shut, 0o600)
    refusals(lambda: load_checkpoint(unread, nn.Linear(1, 1)), lambda: load_checkpoint(shut / "a.pt", nn.Linear(1, 1)),
             lambda: save_checkpoint(shut / "b.pt", nn.Linear(1, 1)))
    os.chmod(shut, 0o700)
"""


@AS_NOBODY
def test_permission_errors_met_as_another_user_name_the_path_and_fix():
    run = as_nobody(NOBODY)
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 3, run.stdout + run.stderr
    for line in lines:
        where, message = line.split(" | ")
        assert "site-packages" not in where and "/lib/python" not in where, line
    assert "unread.pt" in lines[0] and "chmod" in lines[0]
    assert all("shut" in line and "chmod" in line for line in lines[1:]), lines


def test_a_too_long_name_and_a_nul_byte_are_refused_clearly(tmp_path):
    assert_clear_error(lambda: save_checkpoint(tmp_path / ("x" * 300 + ".pt"), nn.Linear(1, 1)), OSError,
                       r"too long.*shorter")  # fmt: skip
    assert_clear_error(lambda: load_checkpoint(tmp_path / ("x" * 300 + ".pt"), nn.Linear(1, 1)), OSError,
                       r"too long.*shorter")  # fmt: skip
    assert_clear_error(lambda: save_checkpoint(str(tmp_path / "a\x00b.pt"), nn.Linear(1, 1)), ValueError,
                       r"NUL.*'\\x00'")  # fmt: skip


# ------------------------------------------------------------------ M3: the advice after a divergence


def test_the_divergence_advice_says_to_set_the_lower_rate_after_loading(tmp_path):
    model = nn.Linear(1, 1)
    path = save_checkpoint(tmp_path / "a.pt", model)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["model"]["weight"][0, 0] = float("nan")
    write_sealed(checkpoint, tmp_path / "nan.pt")
    assert_clear_error(lambda: load_checkpoint(tmp_path / "nan.pt", nn.Linear(1, 1)), ValueError,
                       r"after loading.*for g in optimizer.param_groups: g\['lr'\]")  # fmt: skip
    doc = " ".join(load_checkpoint.__doc__.split())
    assert "(``lr`` included) come from the file" in doc


# ------------------------------------------------------------------ M4: a path ending in a separator


@pytest.mark.parametrize("suffix", ["checkpoints/", "checkpoints" + os.sep])
def test_a_path_ending_in_a_separator_names_a_folder(tmp_path, suffix):
    assert_clear_error(lambda: save_checkpoint(str(tmp_path / "x")[:-1] + suffix, nn.Linear(1, 1)), ValueError,
                       r"ends in '/'.*folder.*checkpoints/epoch1.pt")  # fmt: skip
    assert not (tmp_path / "checkpoints").exists()


# ------------------------------------------------------------------ M5: a generator state of another device


def test_a_generator_state_of_another_device_is_named(tmp_path):
    path = save_checkpoint(tmp_path / "g.pt", nn.Linear(1, 1), generator=torch.Generator().manual_seed(1))
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["rng"]["generator"] = torch.zeros(16, dtype=torch.uint8)  # a CUDA generator's state
    write_sealed(checkpoint, tmp_path / "cuda.pt")
    assert_clear_error(lambda: load_checkpoint(tmp_path / "cuda.pt", nn.Linear(1, 1), generator=torch.Generator()),
                       ValueError, r"another device.*16 bytes.*generator of that device")  # fmt: skip


# ------------------------------------------------------------------ M6: a wrapped model's keys


@pytest.mark.parametrize(("wrap", "attribute"), [(nn.DataParallel, "module"), (torch.compile, "_orig_mod")])
def test_a_wrapped_models_checkpoint_loaded_into_the_plain_model_names_the_fix(tmp_path, wrap, attribute):
    path = save_checkpoint(tmp_path / "w.pt", wrap(nn.Linear(2, 1)))
    assert_clear_error(lambda: load_checkpoint(path, nn.Linear(2, 1)), ValueError,
                       rf"'{attribute}\.'.*model\.{attribute}.*wrapped")  # fmt: skip


def test_a_plain_checkpoint_loaded_into_a_wrapped_model_names_the_fix(tmp_path):
    path = save_checkpoint(tmp_path / "p.pt", nn.Linear(2, 1))
    assert_clear_error(lambda: load_checkpoint(path, nn.DataParallel(nn.Linear(2, 1))), ValueError,
                       r"'module\.'.*model\.module")  # fmt: skip


# ------------------------------------------------------------------ LOW: a NumPy 1, and --help


def test_check_progress_takes_numpy_integers_zero_and_one():
    check_progress(np.int64(1))
    check_progress(np.int32(0))
    with pytest.raises(TypeError):
        check_progress(np.int64(2))


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_to_stdout_and_succeeds(flag, capsys):
    assert main([flag]) == 0
    out, err = capsys.readouterr()
    assert "usage: python -m course doctor" in out and err == ""


# ================================================================== second look at review 13 (second part)
# ------------------------------------------------------------------ 1: only the folders a path names are checked


def test_a_relative_path_below_a_folder_one_may_not_enter_is_still_saved_and_loaded(tmp_path, monkeypatch):
    inner = tmp_path / "shut" / "inner"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    real_access = os.access

    def shut(p, mode, **kw):  # the folder above the working directory lacks execute permission
        return False if os.path.abspath(p) == str(tmp_path / "shut") and mode & os.X_OK else real_access(p, mode, **kw)

    monkeypatch.setattr(os, "access", shut)
    save_checkpoint("y.pt", nn.Linear(1, 1), epoch=1)
    assert load_checkpoint("y.pt", nn.Linear(1, 1))["epoch"] == 1


SHUT_ABOVE = """
    folder = pathlib.Path(tempfile.mkdtemp())
    inner = folder / "shut" / "inner"; inner.mkdir(parents=True); os.chdir(inner); os.chmod(folder / "shut", 0o600)
    try:
        save_checkpoint("y.pt", nn.Linear(1, 1), epoch=1)
        print("loaded", load_checkpoint("y.pt", nn.Linear(1, 1))["epoch"])
    except Exception as exc:
        print(type(exc).__name__, exc)
    os.chmod(folder / "shut", 0o700)
"""


@AS_NOBODY
def test_a_relative_path_below_a_shut_folder_saves_as_another_user():
    run = as_nobody(SHUT_ABOVE)
    assert run.stdout.strip() == "loaded 1", run.stdout + run.stderr


# ------------------------------------------------------------------ 2: an exception with no message


class NoMessage(Mapping):
    """A Mapping item whose rebuild by default_collate raises ValueError() with no message."""

    frozen = False

    def __init__(self, data):
        if NoMessage.frozen:
            raise ValueError()
        self.data = dict(data)

    def __getitem__(self, key):
        return self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_a_collate_error_with_no_message_is_named(monkeypatch):
    items = [NoMessage({"x": torch.ones(2)}), NoMessage({"x": torch.ones(2)})]
    monkeypatch.setattr(NoMessage, "frozen", True)
    assert_clear_error(lambda: evaluate(nn.Linear(2, 1), nn.MSELoss(), DataLoader(items, batch_size=2)), TypeError,
                       r"could not batch.*default_collate failed \(ValueError\)")  # fmt: skip


# ------------------------------------------------------------------ 3: a history of iterators


@pytest.mark.parametrize("make", [lambda v: map(float, v), lambda v: (x for x in v), lambda v: iter(v)])
def test_a_history_of_iterators_is_saved_whole(tmp_path, make):
    path = save_checkpoint(tmp_path / "h.pt", nn.Linear(1, 1), epoch=2, history={"train_loss": make([0.5, 0.4])})
    assert torch.load(path, weights_only=True)["history"] == {"train_loss": [0.5, 0.4]}


# ------------------------------------------------------------------ 4: the divergence advice with a scheduler


def _lower_as_advised(message: str, optimizer, scheduler) -> None:
    """Run the recipe the message prints, as a learner would paste it."""
    recipe = re.search(
        r"from course\.lower_rates import lower_rates; lower_rates\(optimizer, scheduler, by=10\)", message
    )
    assert recipe, message
    exec(recipe.group(0), {"optimizer": optimizer, "scheduler": scheduler})


L = torch.optim.lr_scheduler
SCHEDULERS = {
    "StepLR": lambda o: L.StepLR(o, step_size=5),
    "MultiStepLR": lambda o: L.MultiStepLR(o, milestones=[10, 40]),
    "ExponentialLR": lambda o: L.ExponentialLR(o, gamma=0.95),
    "CosineAnnealingLR": lambda o: L.CosineAnnealingLR(o, T_max=50, eta_min=0.001),
    "CosineAnnealingWarmRestarts": lambda o: L.CosineAnnealingWarmRestarts(o, T_0=7, eta_min=0.001),
    "OneCycleLR": lambda o: L.OneCycleLR(o, max_lr=0.1, total_steps=100),
    "CyclicLR": lambda o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4),
    "LambdaLR": lambda o: L.LambdaLR(o, lambda e: 0.99**e),
    "MultiplicativeLR": lambda o: L.MultiplicativeLR(o, lambda e: 0.99),
    "LinearLR": lambda o: L.LinearLR(o, start_factor=0.1, total_iters=40),
    "ConstantLR": lambda o: L.ConstantLR(o, factor=0.5, total_iters=40),
    "PolynomialLR": lambda o: L.PolynomialLR(o, total_iters=60),
    "ReduceLROnPlateau": lambda o: L.ReduceLROnPlateau(o, factor=0.5, patience=4),
    "SequentialLR": lambda o: L.SequentialLR(
        o, [L.LinearLR(o, 0.1, total_iters=3), L.CosineAnnealingLR(o, 50)], milestones=[33]
    ),
    "ChainedScheduler": lambda o: L.ChainedScheduler([L.ExponentialLR(o, 0.97), L.CyclicLR(o, 0.01, 0.1, 4)]),
}


def _step(optimizer, scheduler, loss: float = 1.0) -> None:
    optimizer.step()
    scheduler.step(loss) if isinstance(scheduler, L.ReduceLROnPlateau) else scheduler.step()


@pytest.mark.parametrize("kind", SCHEDULERS)
def test_the_divergence_advice_with_a_scheduler_lowers_the_rate_for_good(tmp_path, kind):
    build = SCHEDULERS[kind]
    model = nn.Linear(2, 1)
    optimizer = sgd(model)
    scheduler = build(optimizer)
    for _ in range(30):
        _step(optimizer, scheduler)
    good = save_checkpoint(tmp_path / "good.pt", model, optimizer, scheduler)
    checkpoint = torch.load(good, weights_only=True)
    checkpoint["model"]["weight"].fill_(float("inf"))
    write_sealed(checkpoint, tmp_path / "bad.pt")
    fresh = nn.Linear(2, 1)
    opt = sgd(fresh)
    sched = build(opt)
    with pytest.raises(ValueError, match=r"g\['lr'\].*scheduler.*lower_rates") as info:
        load_checkpoint(tmp_path / "bad.pt", fresh, opt, sched)
    assert "base_lrs" not in str(info.value)
    rates = []
    for lower in (False, True):
        load_checkpoint(good, fresh, opt, sched)
        if lower:
            _lower_as_advised(str(info.value), opt, sched)
        rates.append([])
        for _ in range(40):
            _step(opt, sched)
            rates[-1].append(opt.param_groups[0]["lr"])
    assert rates[1] == pytest.approx([r / 10 for r in rates[0]]), kind


def test_lower_rates_refuses_a_factor_that_would_not_lower():
    from course.lower_rates import lower_rates

    optimizer = sgd(nn.Linear(1, 1))
    for by in (0, -2, 0.5, float("nan"), "10"):
        with pytest.raises((TypeError, ValueError), match=r"by should be"):
            lower_rates(optimizer, by=by)
    lower_rates(optimizer)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)


def test_the_divergence_advice_without_a_scheduler_does_not_name_one(tmp_path):
    path = save_checkpoint(tmp_path / "a.pt", nn.Linear(1, 1))
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["model"]["weight"][0, 0] = float("nan")
    write_sealed(checkpoint, tmp_path / "nan.pt")
    with pytest.raises(ValueError) as info:
        load_checkpoint(tmp_path / "nan.pt", nn.Linear(1, 1))
    assert "base_lrs" not in str(info.value)


# ------------------------------------------------------------------ 5: a wrapped model's keys, advice by direction


@pytest.mark.parametrize(("wrap", "attribute"), [(nn.DataParallel, "module"), (torch.compile, "_orig_mod")])
def test_a_wrapped_file_into_a_plain_model_is_not_told_to_load_into_the_inner_model(tmp_path, wrap, attribute):
    path = save_checkpoint(tmp_path / "w.pt", wrap(nn.Linear(2, 1)))
    with pytest.raises(ValueError) as info:
        load_checkpoint(path, nn.Linear(2, 1))
    assert f"save model.{attribute}" in str(info.value) and "load into model." not in str(info.value)
    assert ("nn.DataParallel(model)" if attribute == "module" else "torch.compile(model)") in str(info.value)


def test_a_plain_file_into_a_wrapped_model_is_told_to_load_into_the_inner_model(tmp_path):
    path = save_checkpoint(tmp_path / "p.pt", nn.Linear(2, 1))
    with pytest.raises(ValueError) as info:
        load_checkpoint(path, nn.DataParallel(nn.Linear(2, 1)))
    assert "load into model.module" in str(info.value) and "save model.module" not in str(info.value)


# ------------------------------------------------------------------ 6: names of 233 to 255 bytes


@pytest.mark.parametrize("name", ["c" * 230 + ".pt", "c" * 252 + ".pt", "é" * 126 + ".pt"])
def test_a_long_valid_name_is_saved_and_loaded(tmp_path, name):
    path = save_checkpoint(tmp_path / name, nn.Linear(1, 1), epoch=1)
    assert load_checkpoint(path, nn.Linear(1, 1))["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_stale_temporary_file_of_a_long_name_is_removed(tmp_path, monkeypatch):
    from course import checkpoint_file

    target = tmp_path / ("c" * 252 + ".pt")
    monkeypatch.setattr(os, "getpid", lambda: 2**22 + 1)  # above Linux's largest pid: no such process
    stale = checkpoint_file._temporary_name(target)
    monkeypatch.undo()
    assert len(stale.name.encode()) <= 255
    stale.write_bytes(b"left by a killed save")
    save_checkpoint(target, nn.Linear(1, 1))
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


# ------------------------------------------------------------------ 7: a trailing separator after a file's name


def test_a_trailing_separator_after_an_existing_file_says_to_drop_it(tmp_path):
    path = save_checkpoint(tmp_path / "target.pt", nn.Linear(1, 1))
    for call in (
        lambda: save_checkpoint(f"{path}/", nn.Linear(1, 1)),
        lambda: load_checkpoint(f"{path}/", nn.Linear(1, 1)),
    ):
        with pytest.raises(ValueError, match=r"'target.pt' is a file.*drop the trailing '/'") as info:
            call()
        assert "epoch1.pt" not in str(info.value)


# ------------------------------------------------------------------ 8: a name too long or a whole path too long


def test_a_path_too_long_in_all_is_not_blamed_on_a_name(tmp_path):
    deep = "/".join(["dd"] * 2100) + "/x.pt"
    with pytest.raises(OSError, match=r"too long.*in all.*shorter") as info:
        load_checkpoint(deep, nn.Linear(1, 1))
    assert "255" not in str(info.value)
    with pytest.raises(OSError, match=r"name 'x{40}.*303 bytes.*at most 255.*shorter"):
        save_checkpoint(tmp_path / ("x" * 300 + ".pt"), nn.Linear(1, 1))


# ------------------------------------------------------------------ 9: every integer type's 0 and 1


class Switch(enum.IntEnum):
    ON = 1


@pytest.mark.parametrize("value", [np.int8(1), np.uint8(0), np.int16(1), np.uint64(1), np.longlong(0), Switch.ON])
def test_check_progress_takes_every_integer_zero_and_one(value):
    check_progress(value)


def test_check_progress_still_refuses_other_integers():
    with pytest.raises(TypeError):
        check_progress(np.int8(2))


# ------------------------------------------------------------------ 10: wording


def test_a_worker_collate_failure_does_not_repeat_the_error_type():
    loader = DataLoader([{"x": torch.ones(2)}, {"z": torch.ones(2)}], batch_size=2, num_workers=1)
    with pytest.raises(TypeError, match=r"could not batch") as info:
        evaluate(nn.Linear(2, 1), nn.MSELoss(), loader)
    assert "KeyError: KeyError" not in str(info.value) and "KeyError: 'x'" in str(info.value)


def test_items_of_none_and_an_int_are_named_in_plain_words():
    loader = DataLoader([(torch.ones(1), 1), (torch.ones(1), None)], batch_size=2)
    assert_clear_error(lambda: evaluate(nn.Linear(1, 1), nn.MSELoss(), loader), TypeError,
                       r"some items hold None where others hold an int\.")  # fmt: skip


def test_dict_keys_1_and_the_string_1_are_told_apart():
    loader = DataLoader([{1: torch.ones(1)}, {"1": torch.ones(1)}], batch_size=2)
    assert_clear_error(lambda: evaluate(nn.Linear(1, 1), nn.MSELoss(), loader), TypeError,
                       r"different keys, \['1'\] and \[1\]|different keys, \[1\] and \['1'\]")  # fmt: skip


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_the_doctor_subcommands_help_succeeds(flag, capsys):
    assert main(["doctor", flag]) == 0
    out, err = capsys.readouterr()
    assert "usage: python -m course doctor" in out and err == ""


# ------------------------------------------------------------------ 11: a link into a shut folder; a wrapped optimizer

LINK_TO_SHUT = """
    folder = pathlib.Path(tempfile.mkdtemp()); os.chdir(folder)
    shut = folder / "shut"; shut.mkdir(); save_checkpoint(shut / "a.pt", nn.Linear(1, 1))
    os.symlink("shut/a.pt", "link.pt"); os.chmod(shut, 0o600)
    refusals(lambda: load_checkpoint("link.pt", nn.Linear(1, 1)), lambda: save_checkpoint("link.pt", nn.Linear(1, 1)))
    os.chmod(shut, 0o700)
"""


@AS_NOBODY
def test_a_link_to_a_file_in_a_shut_folder_names_the_links_target_folder():
    run = as_nobody(LINK_TO_SHUT)
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 2, run.stdout + run.stderr
    for line in lines:
        where, message = line.split(" | ")
        assert "site-packages" not in where and "/lib/python" not in where, line
        assert "'link.pt' is a symbolic link" in message and "shut'" in message and "chmod" in message, line


def test_a_compiled_models_file_with_its_optimizer_gets_the_model_advice_only(tmp_path):
    def net():
        return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))

    model = torch.compile(net())
    optimizer = torch.optim.Adam(model.parameters())
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    path = save_checkpoint(tmp_path / "c.pt", model, optimizer)
    plain = net()
    with pytest.raises(ValueError, match=r"save model\._orig_mod") as info:
        load_checkpoint(path, plain, torch.optim.Adam(plain.parameters()))
    assert "parameter group" not in str(info.value) and "other parameters" not in str(info.value)
    inner = torch.compile(plain)  # wrapped alike, as advised: it loads
    load_checkpoint(path, inner, torch.optim.Adam(inner.parameters()))


def test_lower_rates_refuses_a_scheduler_that_is_not_one_or_drives_another_optimizer():
    from course.lower_rates import lower_rates

    model = nn.Linear(1, 1)
    optimizer, other = torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="scheduler should be a torch.optim.lr_scheduler scheduler or None, got Linear"):
        lower_rates(optimizer, model)
    with pytest.raises(ValueError, match="drives another optimizer than the one given"):
        lower_rates(optimizer, torch.optim.lr_scheduler.StepLR(other, step_size=2))
    assert optimizer.param_groups[0]["lr"] == 0.1  # nothing lowered
