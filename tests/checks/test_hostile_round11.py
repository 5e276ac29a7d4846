"""Hostile answers, round 11: torch modes left on, the library watch switched off or dodged in a thread, objects that
claim to be tensors, and settings changed after the check's own put-back."""

from __future__ import annotations

import functools
import sys
import threading

import pytest
import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from course.checks import gradient_descent_numpy, losses, tensors_and_devices
from course.checks.values import as_number
from tests.checks.lying_modes import SaysEqual


class _Passes(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("mode", [SaysEqual, _Passes])
def test_a_torch_mode_left_on_is_told_so_and_left(mode):
    def standardize(x):
        mode().__enter__()  # never left
        return torch.zeros_like(x)

    verdict = tensors_and_devices.standardize(standardize)
    assert not verdict.passed and "never left it" in verdict.message, verdict


def test_a_default_device_set_with_a_mode_left_on_is_put_back_too():
    def standardize(x):
        torch.set_default_device("meta")
        SaysEqual().__enter__()
        return torch.zeros_like(x)

    verdict = tensors_and_devices.standardize(standardize)  # the device context is a mode too: not blamed as one
    assert not verdict.passed and "never left it" in verdict.message, verdict


def _cross_entropy_unwatched(logits, targets, *args, **kwargs):
    sys.setprofile(None)
    return F.cross_entropy(logits, targets, *args, **kwargs)


def _cross_entropy_in_a_thread(logits, targets, *args, **kwargs):
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("loss", F.cross_entropy(logits, targets, *args, **kwargs)))
    worker.start()
    worker.join()
    return box["loss"]


def _cross_entropy_swallowing(logits, targets, *args, **kwargs):
    try:
        threading.setprofile(None)
    except RuntimeError:
        pass
    return _cross_entropy_in_a_thread(logits, targets, *args, **kwargs)


@pytest.mark.parametrize("answer", [_cross_entropy_unwatched, _cross_entropy_in_a_thread, _cross_entropy_swallowing])
def test_the_library_called_with_the_watch_off_or_in_another_thread_is_not_correct(answer):
    verdict = losses.class_loss(answer)
    assert not verdict.passed, verdict
    assert sys.getprofile() is None and threading.getprofile() is None


class _ClaimsToBeATensor:
    __class__ = property(lambda self: torch.Tensor)  # isinstance(x, torch.Tensor) is True

    def __getattr__(self, name):
        return lambda *args, **kwargs: True


class _Exits(torch.Tensor):
    def __float__(self):
        sys.exit(5)


class _Lies(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*args, **(kwargs or {}))
        return torch.tensor(0.8) if getattr(func, "__name__", "") == "reshape" else out


@pytest.mark.parametrize("answer", [_ClaimsToBeATensor(), torch.tensor(0.8).as_subclass(_Exits)])
def test_the_rate_check_answers_a_fake_or_exiting_tensor_without_raising(answer):
    assert not gradient_descent_numpy.largest_stable_rate(answer).passed


def test_as_number_reads_no_number_from_what_claims_or_refuses_it():
    assert as_number(_ClaimsToBeATensor()) is None
    assert as_number(torch.tensor(0.8).as_subclass(_Exits)) is None
    assert as_number(torch.tensor(0.1).as_subclass(_Lies)) is None  # its __torch_function__ would say 0.8
    assert as_number(torch.nn.Parameter(torch.tensor([0.5]))) == 0.5


class _Sticky:
    def __del__(self):
        torch.set_default_dtype(torch.float64)


def test_a_del_that_changes_the_default_dtype_after_the_check_is_put_back():
    try:
        assert not tensors_and_devices.mse(lambda p, t: _Sticky()).passed
        assert torch.get_default_dtype() == torch.float32
    finally:
        torch.set_default_dtype(torch.float32)


def _wrapped_allclose_in_an_earlier_cell():
    torch.allclose = functools.wraps(torch.allclose)(lambda *args, **kwargs: True)  # __wrapped__ is the original


def _wrapped_allclose_in_the_answer(x):
    torch.allclose = functools.wraps(torch.allclose)(lambda *args, **kwargs: True)  # a factory called once
    return torch.zeros_like(x)


@pytest.mark.parametrize("where", ["earlier cell", "answer"])
def test_a_trusted_name_replaced_by_a_functools_wraps_wrapper_is_put_back_and_named(where):
    original = torch.allclose
    try:
        if where == "earlier cell":
            _wrapped_allclose_in_an_earlier_cell()
            verdict = tensors_and_devices.standardize(lambda x: torch.zeros_like(x))
        else:
            verdict = tensors_and_devices.standardize(_wrapped_allclose_in_the_answer)
        assert not verdict.passed and "torch.allclose" in verdict.message, verdict
        assert torch.allclose is original
    finally:
        torch.allclose = original


def test_a_check_stopped_late_hands_its_library_watch_to_no_thread_started_after_it():
    # a check past its time limit whose answer is still busy in C (a cold torch.compile) is still inside its watch;
    # a thread started meanwhile (the next check's own worker) was watched by it, and the next check's watch was
    # taken for the answer switching it off: a right answer refused
    from course.checks.calls import Calls, Library

    library = [Library(F.cross_entropy, None)]
    inside, release, seen = threading.Event(), threading.Event(), []

    def stopped_late():
        with Calls(library):
            inside.set()
            release.wait(10)

    def next_check():
        seen.append(sys.getprofile())
        try:
            with Calls(library) as calls:
                F.cross_entropy(torch.zeros(1, 2), torch.tensor([0]))
            seen.append(calls.ran(F.cross_entropy))
        except RuntimeError as exc:
            seen.append(exc)

    late = threading.Thread(target=stopped_late)
    late.start()
    try:
        assert inside.wait(10)
        worker = threading.Thread(target=next_check)
        worker.start()
        worker.join(10)
    finally:
        release.set()
        late.join(10)
    assert seen == [None, True], seen
    assert sys.getprofile() is None and threading.getprofile() is None


def test_a_wrapper_from_a_folder_that_only_starts_like_torchs_is_not_torchs_own():
    """torch's folder is .../torch/: code in .../torchvision/ (or any .../torch_something/) is not torch's."""
    import os

    namespace: dict = {}
    fake = os.path.dirname(torch.__file__) + "vision" + os.sep + "ops.py"
    exec(compile("def always(*args, **kwargs):\n    return True\n", fake, "exec"), namespace)  # noqa: S102
    original = torch.allclose
    try:
        torch.allclose = functools.wraps(original)(namespace["always"])
        verdict = tensors_and_devices.standardize(lambda x: torch.zeros_like(x))
        assert not verdict.passed and "torch.allclose" in verdict.message, verdict
    finally:
        torch.allclose = original
