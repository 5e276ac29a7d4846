"""A second hostile round over device, repro, data, checkpoints and graphs.

Each row is a bad input; each must end in a clear error naming the problem and the fix (never a
deep traceback from inside torch, NumPy, scikit-learn or pathlib, never a silently wrong result),
or in the right result.
"""

from __future__ import annotations

import errno
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from course.checkpoint_file import CheckpointError, read_sealed, write_sealed
from course.checkpoints import load_checkpoint, save_checkpoint
from course.data import load_breast_cancer_split, make_linear_data
from course.device import model_device, to_numpy
from course.graphs import show_graph
from course.images import png_with_alt
from course.repro import preserved_rng, rng_state, set_rng_state
from tests.unit.clear_errors import assert_clear_error

NAN, INF = float("nan"), float("inf")


A = torch.ones(1, requires_grad=True)
TMP = Path(tempfile.mkdtemp())


def chain(steps):
    out = A
    for _ in range(steps):
        out = out * 1.0
    return out.sum()


def with_numpy(**changes):
    state = rng_state()
    return dict(state, numpy=dict(state["numpy"], **changes))


def in_preserved_rng(generator):
    with preserved_rng(generator):
        pass


def graph_of_leaf():
    return show_graph(torch.ones(2, requires_grad=True))


def graph_with_params_list():
    a = torch.ones(2, requires_grad=True)
    return show_graph((a * 2).sum(), params=[a])


# fmt: off
CASES = [  # (id, call, error, words in the message)
    ("to_numpy meta", lambda: to_numpy(torch.ones(2, device="meta")), ValueError, r"meta device.*no values"),
    ("to_numpy nested", lambda: to_numpy(torch.nested.nested_tensor([torch.ones(2), torch.ones(3)], layout=torch.jagged)), ValueError, r"nested.*to_padded_tensor"),
    ("model_device None", lambda: model_device(None), TypeError, r"model should be a torch.nn.Module, got NoneType"),
    ("model_device class", lambda: model_device(nn.Linear), TypeError, r"the class Linear"),
    ("model_device tensor", lambda: model_device(torch.ones(2)), TypeError, r"got Tensor"),
    ("preserved_rng str", lambda: in_preserved_rng("x"), TypeError, r"torch.Generator.*got str"),
    ("preserved_rng numpy generator", lambda: in_preserved_rng(np.random.default_rng(0)), TypeError, r"got Generator"),
    ("linear data a nan", lambda: make_linear_data(a=NAN), ValueError, r"a should be a finite number, got nan"),
    ("linear data b -inf", lambda: make_linear_data(b=-INF), ValueError, r"b should be a finite number"),
    ("linear data a None", lambda: make_linear_data(a=None), TypeError, r"a should be a finite number, got None"),
    ("linear data a str", lambda: make_linear_data(a="1"), TypeError, r"got '1'"),
    ("linear data noise None", lambda: make_linear_data(noise=None), TypeError, r"noise should be a finite number"),
    ("linear data fraction None", lambda: make_linear_data(train_fraction=None), TypeError, r"train_fraction should be a number.*0.8"),
    ("linear data fraction str", lambda: make_linear_data(train_fraction="0.8"), TypeError, r"train_fraction"),
    ("linear data seed -1", lambda: make_linear_data(seed=-1), ValueError, r"seed must be between 0 and 2\*\*32 - 1, got -1"),
    ("linear data seed 2**32", lambda: make_linear_data(seed=2**32), ValueError, r"seed must be between"),
    ("linear data seed float", lambda: make_linear_data(seed=1.5), TypeError, r"integer seed, got float"),
    ("linear data seed None", lambda: make_linear_data(seed=None), TypeError, r"integer seed, got NoneType"),
    ("linear data seed str", lambda: make_linear_data(seed="3"), TypeError, r"integer seed"),
    ("cancer val tiny", lambda: load_breast_cancer_split(val_fraction=0.0005), ValueError, r"val_fraction=0.0005 gives 0 of 569 rows.*at least 2"),
    ("cancer test 1 row", lambda: load_breast_cancer_split(test_fraction=0.001), ValueError, r"test_fraction=0.001 gives 1 of 569"),
    ("cancer fraction None", lambda: load_breast_cancer_split(val_fraction=None), TypeError, r"val_fraction should be a number"),
    ("cancer seed -1", lambda: load_breast_cancer_split(seed=-1), ValueError, r"seed must be between"),
    ("cancer seed float", lambda: load_breast_cancer_split(seed=1.5), TypeError, r"integer seed"),
    ("cancer seed None", lambda: load_breast_cancer_split(seed=None), TypeError, r"integer seed"),
    ("show_graph leaf", graph_of_leaf, ValueError, r"a leaf.*Compute something from it"),
    ("show_graph params list", graph_with_params_list, TypeError, r"params should be a dict.*\{'a': a\}.*got list"),
    ("show_graph name list", lambda: show_graph((A * 2).sum(), name=[1]), TypeError, r"name .* should be a string such as 'loss'"),
    ("show_graph name int", lambda: show_graph((A * 2).sum(), name=5), TypeError, r"should be a string"),
    ("show_graph 2000 operations", lambda: show_graph(chain(2000)), ValueError, r"more than 1000 operations.*smaller computation"),
    ("linear data overflows", lambda: make_linear_data(a=1e308, b=1e308), ValueError, r"overflow float64.*smaller a, b and noise"),
    ("linear data noise overflows", lambda: make_linear_data(noise=1e308), ValueError, r"overflow.*smaller"),
    ("linear data 10**12 points", lambda: make_linear_data(n=10**12), ValueError, r"at most 10,000,000.*smaller n"),
    ("rng numpy keys short", lambda: set_rng_state(with_numpy(keys=torch.zeros(3, dtype=torch.int64))), ValueError, r"'numpy' part is unusable.*rng_state\(\) returned"),
    ("rng numpy pos huge", lambda: set_rng_state(with_numpy(pos=10**30)), ValueError, r"'numpy' part is unusable"),
    ("to_numpy packed float4", lambda: to_numpy(torch.zeros(2, dtype=torch.uint8).view(torch.float4_e2m1fn_x2)), TypeError, r"dtype torch.float4_e2m1fn_x2.*tensor.view\(torch.uint8\)"),
    ("png None", lambda: png_with_alt(None, "a", "t"), TypeError, r"png should be the picture's bytes.*got NoneType"),
    ("png alt None", lambda: png_with_alt(b"x", None, "t"), TypeError, r"alt should be a string.*what it shows"),
    ("png text int", lambda: png_with_alt(b"x", "a", 3), TypeError, r"text should be a string"),
    ("read_sealed int", lambda: read_sealed(3), TypeError, r"path should be a file path"),
    ("write_sealed lambda", lambda: write_sealed({"f": lambda: 1}, TMP / "f.pt"), TypeError, r"cannot save this object.*leave out functions"),
    ("write_sealed numpy number", lambda: write_sealed({"x": np.float64(1)}, TMP / "n.pt"), TypeError, r"refuses.*float\(x\) for a NumPy number"),
    ("write_sealed object", lambda: write_sealed([object()], TMP / "o.pt"), TypeError, r"builtins.object at \[0\]"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_an_error_that_names_the_fix(call, error, words):
    assert_clear_error(call, error, words)


def quiet(make):
    with warnings.catch_warnings():  # complex32 is experimental, quantized tensors deprecated: both still exist
        warnings.simplefilter("ignore", UserWarning)
        return make()


@pytest.mark.parametrize(
    ("tensor", "expected"),
    [
        (torch.tensor([1.5, 2.0], dtype=torch.bfloat16), np.array([1.5, 2.0], dtype=np.float32)),
        (torch.tensor([1 + 2j]).conj(), np.array([1 - 2j], dtype=np.complex64)),
        (torch.tensor([1 + 2j]).conj().imag, np.array([-2.0], dtype=np.float32)),
        (torch.eye(2).to_sparse(), np.eye(2, dtype=np.float32)),
        (torch.tensor([1.5, -2.0]).to(torch.float8_e4m3fn), np.array([1.5, -2.0], dtype=np.float32)),
        (torch.tensor([1.5, -2.0]).to(torch.float8_e5m2), np.array([1.5, -2.0], dtype=np.float32)),
        (quiet(lambda: torch.tensor([1 + 2j]).to(torch.complex32)), np.array([1 + 2j], dtype=np.complex64)),
        (
            quiet(lambda: torch.quantize_per_tensor(torch.tensor([1.0, 2.5]), 0.5, 0, torch.quint8)),
            np.array([1.0, 2.5], dtype=np.float32),
        ),
    ],
    ids=["bfloat16", "conjugate bit", "negative bit", "sparse", "float8_e4m3fn", "float8_e5m2", "complex32", "quint8"],
)
def test_to_numpy_gives_the_values_of_tensors_numpy_cannot_take_directly(tensor, expected):
    got = to_numpy(tensor)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)


def test_linear_data_still_accepts_numpy_numbers():
    data = make_linear_data(n=np.int64(10), a=np.float32(1.0), seed=np.int64(3))
    assert data.x_train.shape == (8, 1) and np.isfinite(data.y_train).all()


# ----------------------------------------------------------------------------- checkpoints


@pytest.fixture
def saved(tmp_path):
    return save_checkpoint(tmp_path / "good.pt", nn.Linear(2, 1), epoch=1)


@pytest.mark.parametrize("path", [None, 5, b"c.pt"], ids=["None", "int", "bytes"])
def test_a_path_that_is_not_a_path_is_named(path, saved):
    for call in (lambda: save_checkpoint(path, nn.Linear(2, 1)), lambda: load_checkpoint(path, nn.Linear(2, 1))):
        with pytest.raises(TypeError, match=r"path should be a file path .*'checkpoint.pt'.*got"):
            call()


def test_loading_a_folder_says_it_is_a_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match=r"is a folder, not a checkpoint file"):
        load_checkpoint(tmp_path, nn.Linear(2, 1))


def test_a_meta_model_is_neither_saved_nor_silently_loaded_into(tmp_path, saved):
    with pytest.raises(RuntimeError, match=r"meta device"):
        save_checkpoint(tmp_path / "meta.pt", nn.Linear(2, 1, device="meta"))
    assert not (tmp_path / "meta.pt").exists()
    with pytest.raises(RuntimeError, match=r"meta device"):
        load_checkpoint(saved, nn.Linear(2, 1, device="meta"))


def test_an_unwritable_folder_names_the_checkpoint_not_a_temporary_file(tmp_path, monkeypatch):
    real_open = os.open

    def refuse(path, flags, *args, **kwargs):
        if flags & os.O_WRONLY:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(PermissionError, match=r"cannot write the checkpoint 'c.pt'.*Permission denied.*folder you can"):
        save_checkpoint(tmp_path / "c.pt", nn.Linear(2, 1))
    assert not list(tmp_path.iterdir())


def test_messages_about_missing_parts_use_the_right_article(saved):
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match=r"do not pass an optimizer"):
        load_checkpoint(saved, model, torch.optim.Adam(model.parameters()))


def diverged_model(value=NAN):
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.bias.fill_(value)
    return model


@pytest.mark.parametrize("value", [NAN, INF], ids=["NaN", "inf"])
def test_a_diverged_model_is_not_saved(tmp_path, value):
    assert_clear_error(
        lambda: save_checkpoint(tmp_path / "c.pt", diverged_model(value)), ValueError, r"bias.*diverged.*earlier state"
    )
    assert not (tmp_path / "c.pt").exists()


def test_nan_in_the_optimizer_state_is_not_saved(tmp_path):
    model = nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    optimizer.state[model.bias]["exp_avg"].fill_(NAN)
    assert_clear_error(
        lambda: save_checkpoint(tmp_path / "c.pt", model, optimizer), ValueError, r"optimizer's exp_avg.*diverged"
    )


def test_a_buffer_may_hold_inf_on_purpose(tmp_path):
    model = nn.Linear(2, 1)
    model.register_buffer("mask", torch.tensor([0.0, -INF]))
    path = save_checkpoint(tmp_path / "c.pt", model)
    again = nn.Linear(2, 1)
    again.register_buffer("mask", torch.zeros(2))
    load_checkpoint(path, again)
    assert torch.equal(again.mask, model.mask)


def test_a_file_with_nan_weights_is_not_loaded(tmp_path, saved):
    checkpoint = read_sealed(saved)
    checkpoint["model"] = {key: torch.full_like(value, NAN) for key, value in checkpoint["model"].items()}
    write_sealed(checkpoint, tmp_path / "nan.pt")
    model = nn.Linear(2, 1)
    before = model.weight.clone()
    assert_clear_error(lambda: load_checkpoint(tmp_path / "nan.pt", model), CheckpointError, r"NaN.*earlier checkpoint")
    assert torch.equal(model.weight, before)


def test_a_state_load_could_not_read_is_refused_when_saving(tmp_path):
    odd = type("Odd", (nn.Linear,), {"get_extra_state": lambda self: {"obj": object()}, "set_extra_state": print})
    assert_clear_error(
        lambda: save_checkpoint(tmp_path / "c.pt", odd(1, 1)), TypeError, r"\['model'\]\['_extra_state'\]\['obj'\]"
    )
    assert not (tmp_path / "c.pt").exists()


def test_a_scheduler_needs_its_optimizer(tmp_path, saved):
    model = nn.Linear(2, 1)
    scheduler = torch.optim.lr_scheduler.StepLR(torch.optim.SGD(model.parameters(), lr=0.1), 1)
    for call in (lambda: save_checkpoint(tmp_path / "c.pt", model, None, scheduler),
                 lambda: load_checkpoint(saved, model, None, scheduler)):  # fmt: skip
        assert_clear_error(call, ValueError, r"without its optimizer.*Pass both")


def test_sealed_files_take_str_paths_and_name_a_folder(tmp_path):
    write_sealed({"epoch": 1}, str(tmp_path / "s.pt"))
    assert read_sealed(str(tmp_path / "s.pt")) == {"epoch": 1}
    assert_clear_error(lambda: read_sealed(tmp_path), IsADirectoryError, r"is a folder. Pass a file's path")
    assert_clear_error(lambda: write_sealed({}, tmp_path), IsADirectoryError, r"is a folder")
    assert_clear_error(lambda: read_sealed(tmp_path / "no.pt"), FileNotFoundError, r"no such file")
