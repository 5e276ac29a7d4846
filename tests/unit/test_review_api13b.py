"""Review 13 of the API, second part: a history of per-epoch dicts or sets, a damaged NumPy or Python random state,
items a DataLoader cannot batch (kinds or keys that differ), paths the system refuses, the advice after a
divergence, a path naming a folder, a generator of another device, a wrapped model's keys, and the command line."""

from __future__ import annotations

import copy
import os
import pathlib
import random
import shutil
import subprocess
import sys
import textwrap

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
X, Y = torch.ones(4, 1), torch.ones(4, 1)


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


NOBODY = textwrap.dedent("""
    import os, pathlib, sys, tempfile
    sys.path.insert(0, sys.argv[1])
    from torch import nn
    from course.checkpoints import load_checkpoint, save_checkpoint
    folder = pathlib.Path(tempfile.mkdtemp())
    unread = save_checkpoint(folder / "unread.pt", nn.Linear(1, 1)); os.chmod(unread, 0o000)
    shut = folder / "shut"; shut.mkdir(); save_checkpoint(shut / "a.pt", nn.Linear(1, 1)); os.chmod(shut, 0o600)
    for call in (lambda: load_checkpoint(unread, nn.Linear(1, 1)), lambda: load_checkpoint(shut / "a.pt", nn.Linear(1, 1)),
                 lambda: save_checkpoint(shut / "b.pt", nn.Linear(1, 1))):
        try:
            call()
        except PermissionError as exc:
            tb = exc.__traceback__
            while tb.tb_next: tb = tb.tb_next
            print(tb.tb_frame.f_code.co_filename, "|", exc)
    os.chmod(shut, 0o700)
""")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root")
def test_permission_errors_met_as_another_user_name_the_path_and_fix():
    run = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", NOBODY,
                          str(ROOT)], capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": "/tmp"})  # fmt: skip
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
