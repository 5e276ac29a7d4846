import numpy as np
import pytest
import torch

from course.device import get_device, is_device_mismatch, model_device, to_numpy


def test_cpu_override(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_override_is_case_and_space_insensitive(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "  CPU ")
    assert get_device().type == "cpu"


def test_automatic_choice_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_device().type == "cpu"


def test_unknown_value_lists_the_choices(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    with pytest.raises(ValueError, match=r"'tpu'.*Valid choices: cuda, mps, cpu"):
        get_device()


def test_unavailable_device_says_what_is_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match=r"not available on this machine\. Available here: cpu"):
        get_device()


def test_cuda_index_out_of_range(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("COURSE_DEVICE", "cuda:3")
    with pytest.raises(RuntimeError, match="has 1 CUDA device"):
        get_device()


def test_to_numpy_detaches_and_copies_values():
    t = torch.arange(3.0, requires_grad=True)
    array = to_numpy(t * 2)
    assert isinstance(array, np.ndarray)
    np.testing.assert_array_equal(array, [0.0, 2.0, 4.0])


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.arange(3.0),
        lambda: torch.nn.Linear(2, 3).weight,  # a model's weights: writing into a shared array would train them
        lambda: torch.arange(6.0).reshape(2, 3).T,  # a view with strides of its own
        lambda: torch.arange(6.0)[1::2],
        lambda: torch.tensor(2.5),
        lambda: torch.arange(3, dtype=torch.int64),
        lambda: torch.ones(3, dtype=torch.bool),
        lambda: torch.arange(3.0, dtype=torch.bfloat16),
        lambda: torch.tensor([1 + 2j, 3 - 1j]),
    ],
)
def test_writing_into_to_numpys_result_leaves_the_tensor_as_it_was(make):
    tensor = make()
    before = tensor.detach().clone()
    array = to_numpy(tensor)
    array[...] = 0
    assert torch.equal(tensor.detach(), before)
    assert not np.shares_memory(array, to_numpy(tensor))


def test_to_numpy_moves_other_devices_to_cpu(monkeypatch):
    moved = []
    real_cpu = torch.Tensor.cpu
    monkeypatch.setattr(torch.Tensor, "cpu", lambda self, *args, **kwargs: moved.append(1) or real_cpu(self))
    assert to_numpy(torch.ones(2)).tolist() == [1.0, 1.0] and moved


def test_to_numpy_of_a_meta_tensor_says_it_has_no_values():
    with pytest.raises(ValueError, match="meta device: it has a shape but no values"):
        to_numpy(torch.empty(2, device="meta"))


@pytest.mark.parametrize("value", [[1, 2], np.ones(2), 3.0, None])
def test_to_numpy_rejects_non_tensors(value):
    with pytest.raises(TypeError, match="expects a torch.Tensor"):
        to_numpy(value)


# ----------------------------------------------------------------------------- which device a model is on


def test_device_mismatch_is_recognised_by_pytorchs_own_message_only():
    with pytest.raises(RuntimeError) as info:
        torch.ones(2) + torch.ones(2, device="meta")
    assert is_device_mismatch(info.value)
    cuda_style = RuntimeError(
        "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
    )
    assert is_device_mismatch(cuda_style)
    for other in (
        RuntimeError("CUDA error: device-side assert triggered"),
        RuntimeError("Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is False"),
        ValueError("Expected all tensors to be on the same device"),  # not a RuntimeError: not torch's
    ):
        assert not is_device_mismatch(other)


def test_model_device_finds_the_one_device_and_explains_the_others():
    assert model_device(torch.nn.Linear(2, 1)) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters: the CPU
    with pytest.raises(RuntimeError, match=r"on one device, but they are on cpu, meta.*model.to\(device\)"):
        model_device(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1, device="meta")))
    with pytest.raises(RuntimeError, match=r"on the meta device: .*no values.*to_empty\(device='cpu'\)"):
        model_device(torch.nn.Linear(2, 1, device="meta"))


@pytest.mark.parametrize("kind", ["cpu", "mps"])
def test_an_index_on_a_device_there_is_one_of_is_refused(monkeypatch, kind):
    monkeypatch.setenv("COURSE_DEVICE", f"{kind}:1")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    with pytest.raises(ValueError, match=rf"COURSE_DEVICE='{kind}:1': there is only one {kind} device.*plain '{kind}'"):
        get_device()


def test_cpu_0_is_the_cpu(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu:0")
    assert get_device() == torch.device("cpu")


# ----------------------------------------------------------------------------- a model of several dtypes


def test_a_model_of_mixed_dtypes_is_told_to_take_one_not_to_convert_the_data():
    from course.training import predict, train_epoch

    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1)).double()
    model[1] = torch.nn.Linear(3, 1)  # a head replaced after .double(): float32 behind float64
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    words = r"model's parameters have several dtypes \(torch.float32, torch.float64\).*model.to\(torch.float32\)"
    for batch in ((x.double(), y), (x.double(), y.double()), (x, y)):
        with pytest.raises(TypeError, match=words) as error:
            train_epoch(model, torch.nn.MSELoss(), optimizer, [batch])
        assert "y = y.to(" not in str(error.value) and "x = x.to(torch.float64)" not in str(error.value)
    with pytest.raises(TypeError, match=words):
        predict(model, x.double())
    model.to(torch.float32)  # the fix it names
    assert train_epoch(model, torch.nn.MSELoss(), optimizer, [(x, y)]) > 0
