"""Every known mistake in lesson 14's exercises gets its own diagnosis."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course.checks import putting_it_together as check
from course.training import fit, load_checkpoint


def trained_parts():
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    model(torch.ones(3, 2)).sum().backward()
    optimizer.step()
    history = {"train_loss": [0.5, 0.4, 0.3], "val_loss": [0.6, 0.5, 0.4], "lr": [0.1, 0.1, 0.1]}
    return model, optimizer, scheduler, history


def good_checkpoint():
    model, optimizer, scheduler, history = trained_parts()
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": 3,
        "history": history,
    }


# ----------------------------------------------------------------------------- checkpoint_contents


def test_checkpoint_right_answer():
    assert check.checkpoint_contents(good_checkpoint(), epochs_done=3).passed
    assert check.checkpoint_contents(good_checkpoint()).passed


def mutated(**changes):
    ckpt = good_checkpoint()
    for key, value in changes.items():
        if value is KeyError:
            del ckpt[key]
        else:
            ckpt[key] = value
    return ckpt


model, optimizer, _, _ = trained_parts()


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        ([1, 2], "not_a_dict"),
        (mutated(model=model), "whole_model"),
        (mutated(optimizer=optimizer), "optimizer_object"),
        (mutated(history={"train_loss": [np.float64(0.5), np.float64(0.4), np.float64(0.3)]}), "numpy_scalars"),
        (mutated(epoch=np.int64(3)), "numpy_scalars"),
        (mutated(extra=nn.ReLU), "not_loadable"),
        (mutated(model=KeyError), "missing_model"),
        (mutated(model={"weight": [1.0]}), "missing_model"),
        (mutated(optimizer=KeyError), "missing_optimizer"),
        (mutated(optimizer=None), "missing_optimizer"),
        (mutated(scheduler=KeyError), "missing_scheduler"),
        (mutated(epoch=KeyError), "missing_epoch"),
        (mutated(epoch=3.0), "missing_epoch"),
        (mutated(epoch=0), "wrong_epoch"),
        (mutated(history=KeyError), "missing_history"),
        (mutated(history={"train_loss": []}), "missing_history"),
    ],
)
def test_checkpoint_mistakes(answer, mistake):
    verdict = check.checkpoint_contents(answer, epochs_done=3)
    assert verdict.mistake == mistake, verdict
    assert not verdict.passed


def test_checkpoint_placeholder_and_junk():
    assert check.checkpoint_contents(None).status == "not_attempted"
    assert check.checkpoint_contents(...).status == "not_attempted"
    for junk in ("checkpoint", torch.ones(3), 3, {"model": "x"}):
        assert not check.checkpoint_contents(junk, epochs_done=3).passed


# ----------------------------------------------------------------------------- resume


def right_resume(path, model, loss_fn, optimizer, loader, generator, epochs):
    ckpt = load_checkpoint(path, model, optimizer, generator=generator)
    return fit(
        model, loss_fn, optimizer, loader, epochs, history=ckpt["history"], start_epoch=ckpt["epoch"], progress=False
    )


def no_optimizer(path, model, loss_fn, optimizer, loader, generator, epochs):
    ckpt = load_checkpoint(path, model, generator=generator)
    return fit(
        model, loss_fn, optimizer, loader, epochs, history=ckpt["history"], start_epoch=ckpt["epoch"], progress=False
    )


def no_generator(path, model, loss_fn, optimizer, loader, generator, epochs):
    ckpt = load_checkpoint(path, model, optimizer)
    return fit(
        model, loss_fn, optimizer, loader, epochs, history=ckpt["history"], start_epoch=ckpt["epoch"], progress=False
    )


def from_zero(path, model, loss_fn, optimizer, loader, generator, epochs):
    load_checkpoint(path, model, optimizer, generator=generator)
    return fit(model, loss_fn, optimizer, loader, epochs, progress=False)


def history_but_no_start(path, model, loss_fn, optimizer, loader, generator, epochs):
    ckpt = load_checkpoint(path, model, optimizer, generator=generator)
    return fit(model, loss_fn, optimizer, loader, epochs, history=ckpt["history"], progress=False)


def start_but_no_history(path, model, loss_fn, optimizer, loader, generator, epochs):
    ckpt = load_checkpoint(path, model, optimizer, generator=generator)
    return fit(model, loss_fn, optimizer, loader, epochs, start_epoch=ckpt["epoch"], progress=False)


def returns_nothing(path, model, loss_fn, optimizer, loader, generator, epochs):
    right_resume(path, model, loss_fn, optimizer, loader, generator, epochs)


def never_loads(path, model, loss_fn, optimizer, loader, generator, epochs):
    return fit(
        model,
        loss_fn,
        optimizer,
        loader,
        epochs,
        history={"train_loss": [1.0, 1.0], "lr": [0.05, 0.05]},
        start_epoch=2,
        progress=False,
    )


def crashes(path, *args):
    raise KeyError("model_state")


def stub(path, model, loss_fn, optimizer, loader, generator, epochs):
    raise NotImplementedError  # your code here


def test_resume_right_answer():
    assert check.resume(right_resume).passed


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        (no_optimizer, "optimizer_not_restored"),
        (no_generator, "generator_not_restored"),
        (from_zero, "wrong_start_epoch"),
        (history_but_no_start, "wrong_start_epoch"),
        (start_but_no_history, "history_lost"),
        (returns_nothing, "no_history"),
        (never_loads, "model_not_restored"),
        (crashes, "raised"),
        ("resume", "not_callable"),
    ],
)
def test_resume_mistakes(answer, mistake):
    verdict = check.resume(answer)
    assert verdict.mistake == mistake, verdict


def test_resume_placeholder_and_learner_randomness_untouched():
    assert check.resume(None).status == "not_attempted"
    assert check.resume(stub).status == "not_attempted"
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check.resume(right_resume)
    assert torch.equal(torch.rand(3), expected)


# ----------------------------------------------------------------------------- predict_by_hand


def right_predict(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train(was_training)
    return out


def no_eval(model, x):
    with torch.no_grad():
        return model(x)


def no_no_grad(model, x):
    was_training = model.training
    model.eval()
    out = model(x)
    model.train(was_training)
    return out


def leaves_eval(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def always_train(model, x):
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train()
    return out


def test_predict_right_answer():
    assert check.predict_by_hand(right_predict).passed


@pytest.mark.parametrize(
    ("answer", "mistake"),
    [
        (no_eval, "train_mode"),
        (no_no_grad, "builds_graph"),
        (leaves_eval, "mode_not_restored"),
        (always_train, "mode_not_restored"),
        (lambda model, x: right_predict(model, x).tolist(), "not_a_tensor"),
        (lambda model, x: right_predict(model, x).reshape(-1), "wrong_shape"),
        (lambda model, x: 1 / 0, "raised"),
        ("predict", "not_callable"),
    ],
)
def test_predict_mistakes(answer, mistake):
    assert check.predict_by_hand(answer).mistake == mistake


def test_predict_placeholder():
    assert check.predict_by_hand(None).status == "not_attempted"

    def stub_fn(model, x):
        raise NotImplementedError  # your code here

    assert check.predict_by_hand(stub_fn).status == "not_attempted"
