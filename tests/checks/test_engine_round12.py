"""Round 12: a torch mode left on is named by its own id in every path, a device context entered by hand is really
put back and named; a thread the answer starts and joins, or a pool left idle, is fine."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn
from torch.utils import _device
from torch.utils._device import DeviceContext

from course.checks import leftovers, logistic_regression, models, tensors_and_devices, training_pipeline
from course.checks.runner import Watched
from tests.checks.lying_modes import SaysEqual


def _zeros_standardize(x):
    return torch.zeros_like(x)


def test_a_mode_left_on_by_the_answer_has_its_own_id_and_message():
    def standardize(x):
        SaysEqual().__enter__()
        return (x - x.mean()) / x.std()

    verdict = tensors_and_devices.standardize(standardize)
    assert (verdict.mistake, verdict.message) == ("mode_left_on", leftovers.MODE_LEFT)


def test_a_mode_left_on_by_a_models_forward_has_its_own_id():
    class Quadratic(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = (nn.Parameter(torch.randn(())) for _ in range(3))

        def forward(self, x):
            SaysEqual().__enter__()
            return self.a + self.b * x + self.c * x**2

    assert models.quadratic_class(Quadratic).mistake == "mode_left_on"


class _Sly(list):
    """A result whose own __len__ (read while the check compares it) enters a mode that makes torch agree."""

    def __len__(self):
        SaysEqual().__enter__()
        return list.__len__(self)


@pytest.mark.parametrize("exercise", [training_pipeline.to_tensors, logistic_regression.scale_features])
def test_a_mode_entered_while_the_check_compares_the_result_is_named(exercise):
    def answer(*args):
        return _Sly(torch.zeros_like(part) for part in exercise.reference(*args))

    verdict = exercise(answer)  # all zeros: was ✅ Correct
    assert verdict.mistake == "mode_left_on", verdict
    assert not leftovers.settings().functions


@pytest.mark.parametrize(
    "enter",
    [lambda: torch.device("meta").__enter__(), lambda: DeviceContext("meta").__enter__()],
    ids=["torch.device", "DeviceContext"],
)
def test_a_device_context_entered_by_hand_is_put_back_for_the_checks_own_code_and_named(enter):
    watched = Watched(enter)
    watched()
    assert torch.empty(1).device.type == "cpu" and not leftovers.settings().functions
    assert _device.CURRENT_DEVICE is None
    assert watched.left == {"default_device_changed", leftovers.DEVICE_BY_HAND}

    def standardize(x):
        enter()
        return (x - x.mean()) / x.std()

    verdict = tensors_and_devices.standardize(standardize)
    assert (verdict.mistake, verdict.message) == ("default_device_changed", leftovers.DEVICE_LEFT)
    assert _device.CURRENT_DEVICE is None


def test_set_default_device_keeps_its_own_message_and_a_cpu_context_harms_nothing():
    def meta(x):
        torch.set_default_device("meta")
        return (x - x.mean()) / x.std()

    def cpu(x):
        torch.device("cpu").__enter__()
        return (x - x.mean()) / x.std()

    assert tensors_and_devices.standardize(meta).message.startswith("your function changed torch's default device")
    assert tensors_and_devices.standardize(cpu).passed


class _LyingDevice(DeviceContext):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("allclose", "equal"):
            return True
        return func(*args, **(kwargs or {}))


def _on_the_instance():
    torch.set_default_device("cpu")
    context = torch._GLOBAL_DEVICE_CONTEXT.device_context
    context.__torch_function__ = _LyingDevice.__torch_function__.__get__(context)


@pytest.mark.parametrize(
    "lie", [lambda: _LyingDevice("cpu").__enter__(), _on_the_instance], ids=["subclass", "instance"]
)
def test_a_device_context_that_is_not_torchs_is_a_mode(lie):
    def standardize(x):
        lie()
        return _zeros_standardize(x)

    assert tensors_and_devices.standardize(standardize).mistake == "mode_left_on"  # was ✅ Correct


def test_torchs_device_context_class_patched_is_put_back_and_named():
    real = vars(DeviceContext)["__torch_function__"]

    def standardize(x):
        torch.set_default_device("cpu")
        DeviceContext.__torch_function__ = _LyingDevice.__torch_function__
        return _zeros_standardize(x)

    verdict = tensors_and_devices.standardize(standardize)
    assert verdict.mistake == "patched_library" and "DeviceContext.__torch_function__" in verdict.message
    assert vars(DeviceContext)["__torch_function__"] is real


def test_a_thread_joined_or_a_pool_left_idle_is_fine():
    from concurrent.futures import ThreadPoolExecutor

    pool = []

    def joined(x):
        box = {}
        worker = threading.Thread(target=lambda: box.setdefault("y", (x - x.mean()) / x.std()))
        worker.start()
        worker.join()
        return box["y"]

    def pooled(x):  # the pool's workers stay alive, idle in the standard library's code
        pool.append(executor := ThreadPoolExecutor(2))
        return executor.submit(lambda: (x - x.mean()) / x.std()).result()

    assert tensors_and_devices.standardize(joined).passed
    assert tensors_and_devices.standardize(pooled).passed
    pool[0].shutdown()


def test_a_compiled_answer_whose_backward_runs_once_is_judged_as_it_is():
    # AOTAutograd donates a compiled function's buffers to a backward that runs once: the check's gradient taken with
    # retain_graph=True failed, and a right answer was told "backward() from it fails"; loss.backward() works
    right = torch.compile(lambda p, t: ((p.squeeze(1) - t) ** 2).mean(), backend="aot_eager")
    summed = torch.compile(lambda p, t: ((p.squeeze(1) - t) ** 2).sum(), backend="aot_eager")
    for compiled in (right, summed):  # compiled (and recompiled for a second shape) before the check, as a cell would
        compiled(torch.zeros(5, 1, requires_grad=True), torch.zeros(5))
        compiled(torch.zeros(3, 1, requires_grad=True), torch.zeros(3))
    plain = tensors_and_devices.mse(lambda p, t: ((p.squeeze(1) - t) ** 2).sum())
    assert tensors_and_devices.mse(lambda p, t: right(p, t)).passed
    assert plain.mistake is not None and tensors_and_devices.mse(lambda p, t: summed(p, t)).mistake == plain.mistake
