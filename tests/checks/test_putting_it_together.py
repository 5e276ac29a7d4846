"""What the generated tests (test_declarations.py) cannot say about lesson 14's checks."""

from __future__ import annotations

import copy
import functools
import os
import shutil

import pytest
import torch
from torch import nn

from course.checkpoints import load_checkpoint
from course.checks import putting_it_together as check
from course.checks import resume_probe
from course.training import fit


def test_a_checkpoint_without_the_optimizer_or_scheduler_state_is_named():
    no_optimizer = check._checkpoint(optimizer=KeyError)
    assert check.checkpoint_contents(no_optimizer).mistake == "missing_optimizer"
    assert check.checkpoint_contents(check._checkpoint(scheduler=None)).mistake == "missing_scheduler"
    assert check.checkpoint_contents(check._checkpoint(epoch=True)).mistake == "missing_epoch"


def test_the_lessons_buggy_resume_is_found_and_a_file_the_learner_broke_does_not_matter():
    forgets_scheduler = check.resume.mistakes[0].wrong

    def deletes_the_file(path, *args):
        path.unlink()
        raise RuntimeError("oops")

    assert check.resume(deletes_the_file).mistake == "raised"
    assert check.resume(forgets_scheduler).mistake == "scheduler_not_restored"
    assert check.resume(check.resume.reference).passed


def test_predict_by_hand_probes_both_starting_modes():
    def always_eval_afterwards(model, x):
        model.eval()
        with torch.no_grad():
            return model(x)

    def only_restores_training(model, x):
        model.eval()
        with torch.no_grad():
            out = model(x)
        model.train()
        return out

    assert check.predict_by_hand(always_eval_afterwards).mistake == "mode_not_restored"
    assert check.predict_by_hand(only_restores_training).mistake == "mode_not_restored"


def test_checks_leave_the_learners_random_numbers_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check.resume(check.resume.reference)
    assert torch.equal(torch.rand(3), expected)


def test_a_graph_built_then_detached_is_still_a_graph():
    def detaches(model, x):
        was_training = model.training
        model.eval()
        out = model(x).detach()  # the graph was built before detach() dropped it
        model.train(was_training)
        return out

    assert check.predict_by_hand(detaches).mistake == "no_grad"


def _resume_then(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs):
    ckpt = check.load_checkpoint(path, model, optimizer, scheduler, generator=generator)
    history = check.fit(model, loss_fn, optimizer, loader, epochs, scheduler=scheduler, history=ckpt["history"],
                        start_epoch=ckpt["epoch"], progress=False)  # fmt: skip
    return ckpt, history


def test_resume_names_what_came_back_instead_of_a_history():
    assert check.resume(lambda *args: _resume_then(*args)[0]).mistake == "not_a_dict"  # not "returned None"
    assert check.resume(lambda *args: _resume_then(*args)[1]["train_loss"]).mistake == "not_a_dict"


def test_predict_by_hand_judges_the_output_the_graph_and_dropout_each():
    def squashes(model, x):
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = torch.sigmoid(model(x))
        model.train(was_training)
        return out

    def frozen(model, x):  # no parameter requires grad, so no graph is built
        was_training = model.training
        model.eval().requires_grad_(False)
        out = model(x)
        model.train(was_training).requires_grad_(True)
        return out

    def in_float64(model, x):
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = model.double()(x.double())
        model.float().train(was_training)
        return out

    verdict = check.predict_by_hand(squashes)
    assert verdict.mistake == "other" and "not model(x) in eval mode" in verdict.message
    assert check.predict_by_hand(frozen).passed
    assert check.predict_by_hand(in_float64).passed


def test_a_model_state_dict_wrapped_in_another_dict_is_not_a_state_dict():
    wrapped = check._checkpoint(model={"state_dict": {"weight": torch.ones(1, 2)}})
    assert check.checkpoint_contents(wrapped).mistake == "missing_model"


def test_predict_by_hand_restores_the_mode_of_every_layer():
    def top_flag_only(model, x):
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = model(x)
        model.training = was_training  # the Dropout inside stays in eval mode
        return out

    def rebuilt_around_the_same_layers(model, x):
        copy = torch.nn.Sequential(*model.children()).eval()  # eval() reaches the shared layers
        with torch.no_grad():
            return copy(x)

    assert check.predict_by_hand(top_flag_only).mistake == "mode_not_restored"
    assert check.predict_by_hand(rebuilt_around_the_same_layers).mistake == "mode_not_restored"


@pytest.mark.parametrize("typed", [{"start_epoch": 3}, {"epochs": 6}, {"start_epoch": 3, "epochs": 6}])
def test_a_resume_with_the_probes_epochs_typed_in_is_found(typed):
    def typed_in(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs):
        ckpt = load_checkpoint(path, model, optimizer, scheduler, generator=generator)
        told = {"epochs": epochs, "start_epoch": ckpt["epoch"]} | typed
        return fit(
            model, loss_fn, optimizer, loader, history=ckpt["history"], scheduler=scheduler, progress=False, **told
        )

    verdict = check.resume(typed_in)
    assert not verdict.passed and ("two runs" in verdict.message or "start_epoch" in verdict.message), verdict


def test_checkpoint_contents_names_an_optimizer_that_never_stepped():
    model = nn.Linear(2, 1)
    adam = torch.optim.Adam(model.parameters())
    fresh = check._checkpoint(optimizer=adam.state_dict())
    assert check.checkpoint_contents(fresh).mistake == "missing_optimizer"
    model(torch.ones(1, 2)).sum().backward()
    for _ in range(3):  # one step an epoch for the 3 epochs of the checkpoint: a loader of one batch
        adam.step()
    assert check.checkpoint_contents(check._checkpoint(optimizer=adam.state_dict())).passed


def test_fix11_eval_mode_for_the_dropout_layers_only_is_not_eval_mode():
    def dropout_off(model, x):  # only the Dropout layers in eval mode, then back: BatchNorm still in training mode
        dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
        modes = [m.training for m in dropouts]
        for m in dropouts:
            m.eval()
        with torch.no_grad():
            out = model(x)
        for m, mode in zip(dropouts, modes, strict=True):
            m.train(mode)
        return out

    verdict = check.predict_by_hand(dropout_off)
    assert verdict.mistake == "no_eval" and "BatchNorm" in verdict.message, verdict
    assert "model.eval()" in verdict.message and "model.train(was_training)" in verdict.message, verdict


def right_resume(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs, remove_folder=False):
    ckpt = load_checkpoint(path, model, optimizer, scheduler, generator=generator)
    if remove_folder:  # the run's checkpoint folder, removed once loaded: the learner's own business
        shutil.rmtree(os.path.dirname(path))
    return fit(model, loss_fn, optimizer, loader, epochs, scheduler=scheduler, history=ckpt["history"],
               start_epoch=ckpt["epoch"], progress=False)  # fmt: skip


def test_review4_an_answer_that_removes_the_checkpoint_folder_breaks_nothing_for_the_next_check():
    assert check.resume(functools.partial(right_resume, remove_folder=True)).passed
    assert check.resume(right_resume).passed  # each run has a folder of its own
    assert check.resume(check.resume.mistakes[0].wrong).mistake == "scheduler_not_restored"


def test_review4_the_checks_own_file_failing_is_told_as_such_never_as_a_mistake(tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("")  # no folder can be made under a file
    monkeypatch.setattr(resume_probe.tempfile, "gettempdir", lambda: str(tmp_path / "a_file"))
    for answer in (right_resume, check.resume.mistakes[0].wrong):
        verdict = check.resume(answer)
        assert verdict.mistake == "other" and "the check itself failed" in verdict.message, verdict


def test_review4_predict_by_hand_must_leave_the_parameters_as_they_were():
    def freezes(model, x):  # no graph, by switching the parameters off for good
        was_training = model.training
        out = model.requires_grad_(False).eval()(x)
        model.train(was_training)
        return out

    assert check.predict_by_hand(freezes).mistake == "froze_parameters"


def _tutorial_keys():  # the key names of PyTorch's own saving tutorial, and capitalised ones
    ckpt = check._checkpoint()
    tutorial = {f"{key}_state_dict" if key in check._PARTS else key: part for key, part in ckpt.items()}
    return tutorial, {key.capitalize(): part for key, part in ckpt.items()}


@pytest.mark.parametrize("ckpt", _tutorial_keys(), ids=["state_dict_suffix", "capitalised"])
def test_a_checkpoint_under_other_key_names_is_told_which_key_is_missing_and_which_it_has(ckpt):
    verdict = check.checkpoint_contents(ckpt)
    assert verdict.mistake == "missing_model" and "no key 'model'" in verdict.message, verdict
    assert repr(next(iter(ckpt))) in verdict.message and "'optimizer', 'scheduler', 'epoch'" in verdict.message


def test_a_part_stored_under_its_key_but_not_as_a_state_dict_is_told_what_it_should_be():
    verdict = check.checkpoint_contents(check._checkpoint(model=[torch.ones(1, 2), torch.zeros(1)]))
    assert verdict.mistake == "missing_model" and "should be model.state_dict()" in verdict.message, verdict
    verdict = check.checkpoint_contents(check._checkpoint(epoch=KeyError))
    assert verdict.mistake == "missing_epoch" and "no key 'epoch'" in verdict.message, verdict


def test_resume_returning_the_checkpoints_history_is_told_what_it_returned():
    verdict = check.resume(lambda *args: _resume_then(*args)[0]["history"])  # fit continued a copy of it
    assert (
        verdict.mistake == "returned_checkpoint_history" and "returned the checkpoint's own history" in verdict.message
    )


def _graph_built(model, x, by_layer=False):  # eval mode and the mode restored, but no torch.no_grad()
    was_training = model.training
    model.eval()
    if by_layer:
        for layer in model:
            x = layer(x)
    out = x if by_layer else model.forward(x)
    model.train(was_training)
    return out


@pytest.mark.parametrize("by_layer", [False, True], ids=["model.forward", "layer_by_layer"])
def test_predict_by_hand_sees_a_graph_built_without_the_models_own_call(by_layer):
    verdict = check.predict_by_hand(functools.partial(_graph_built, by_layer=by_layer))
    assert verdict.mistake == "no_grad", verdict


def _by_hand(skip):  # a resume that loads each part by hand, all but ``skip``
    def resume(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs):
        ckpt = torch.load(path, weights_only=True)
        for name, part in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
            if name != skip:
                part.load_state_dict(ckpt[name])
        generator.set_state(ckpt["rng"]["generator"])
        return fit(model, loss_fn, optimizer, loader, epochs, scheduler=scheduler, history=ckpt["history"],
                   start_epoch=ckpt["epoch"], progress=False)  # fmt: skip

    return resume


def test_a_resume_restoring_all_but_the_optimizer_by_hand_is_named():
    verdict = check.resume(_by_hand("optimizer"))
    assert verdict.mistake == "optimizer_not_restored" and "load_state_dict" in verdict.message, verdict


def test_fix_predict_by_hand_through_the_courses_own_predict_is_told_so():
    from course.training import predict

    verdict = check.predict_by_hand(lambda model, x: predict(model, x))
    assert verdict.mistake == "used_library" and "course.training.predict" in verdict.message, verdict


def _run(seed: int, epochs: int) -> tuple:
    """A small run as section 3 makes one (Adam, StepLR, a shuffling loader): model, optimizer, scheduler, history."""
    generator = torch.Generator().manual_seed(seed)
    data = torch.utils.data.TensorDataset(
        torch.randn(64, 10, generator=generator), torch.randn(64, 1, generator=generator)
    )
    model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 10, 0.5)
    loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True, generator=generator)
    history = fit(model, nn.MSELoss(), optimizer, loader, epochs, scheduler=scheduler, progress=False)
    return model, optimizer, scheduler, history


@pytest.mark.parametrize("epoch", ["run", "history"])
def test_fix10_a_history_from_another_run_is_named_whichever_epoch_goes_with_it(epoch):
    model, optimizer, scheduler, history = _run(12, 15)
    other = _run(0, 6)[3]
    ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "epoch": 15 if epoch == "run" else 6, "history": other}  # fmt: skip
    verdict = check.checkpoint_contents(ckpt)
    assert verdict.mistake == "history_other_run" and "another run" in verdict.message, verdict
    assert "never stepped" not in verdict.message, verdict
    assert check.checkpoint_contents(ckpt | {"history": history, "epoch": 15}).passed


def test_fix10_a_resume_that_trains_a_copy_is_shown_its_own_error_not_told_about_final_weights():
    def trains_a_copy(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs):
        ckpt = load_checkpoint(path, model, optimizer, scheduler, generator=generator)
        return fit(copy.deepcopy(model), loss_fn, optimizer, loader, epochs, scheduler=scheduler,
                   history=ckpt["history"], start_epoch=ckpt["epoch"], progress=False)  # fmt: skip

    verdict = check.resume(trains_a_copy)
    assert verdict.mistake != "model_not_restored" and "final weights" not in verdict.message, verdict
    assert "ValueError: the optimizer holds none" in verdict.message, verdict
    assert "train the model you were given" in verdict.message, verdict


def test_fix10_a_resume_that_never_loads_the_model_is_told_so():
    assert check.resume(_by_hand("model")).mistake == "model_not_restored"


def _drop_nothing(model, x, restore_p=True):  # Dropout's p set to 0 instead of calling eval()
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    kept = [m.p for m in dropouts]
    for m in dropouts:
        m.p = 0.0
    with torch.no_grad():
        out = model(x)
    for m, p in zip(dropouts, kept, strict=True):
        m.p = p if restore_p else m.p
    return out


@pytest.mark.parametrize("restore_p", [True, False], ids=["p_put_back", "p_left_at_0"])
def test_fix11_dropout_p_set_to_0_instead_of_eval_is_told_to_call_eval(restore_p):
    verdict = check.predict_by_hand(functools.partial(_drop_nothing, restore_p=restore_p))
    assert verdict.mistake == "no_eval" and "Dropout was active" not in verdict.message, verdict
    assert "p to 0" in verdict.message and "model.eval()" in verdict.message, verdict
    assert "model.train(was_training)" in verdict.message, verdict
    assert ("left it so on the caller's model" in verdict.message) is not restore_p, verdict


def _eval_then_back(model, x):  # every module's own mode kept, then put back one by one
    modes = [(m, m.training) for m in model.modules()]
    with torch.no_grad():
        out = model.eval()(x)
    for m, mode in modes:
        m.training = mode
    return out


def _functional(model, x):
    was_training = model.training
    model.train(False)
    with torch.no_grad():
        out = torch.func.functional_call(model, {**dict(model.named_parameters()), **dict(model.named_buffers())}, x)
    model.train(was_training)
    return out


def _inference_copy(model, x):
    with torch.inference_mode():
        return copy.deepcopy(model).eval()(x)


@pytest.mark.parametrize("answer", [_eval_then_back, _functional, _inference_copy])
def test_fix11_eval_mode_of_the_whole_model_in_any_right_form_passes(answer):
    assert check.predict_by_hand(answer).passed, check.predict_by_hand(answer)


def test_fix11_a_prediction_without_eval_is_told_no_eval_not_that_the_model_changed():
    def no_eval(model, x):  # BatchNorm in training mode updates its running statistics, even under no_grad
        with torch.no_grad():
            return model(x)

    verdict = check.predict_by_hand(no_eval)
    assert verdict.mistake == "no_eval" and "changed the model" not in verdict.message, verdict


@pytest.mark.parametrize("other_epochs", [6, 20])
def test_fix11_an_optimizer_state_from_another_run_is_named(other_epochs):
    model, optimizer, scheduler, history = _run(12, 15)  # 2 batches an epoch: Adam's step is 30
    other = _run(0, other_epochs)[1]  # 12 or 40 steps: not 15 epochs of any whole number of batches
    ckpt = {"model": model.state_dict(), "optimizer": other.state_dict(), "scheduler": scheduler.state_dict(),
            "epoch": 15, "history": history}  # fmt: skip
    verdict = check.checkpoint_contents(ckpt)
    assert verdict.mistake == "missing_optimizer" and "another run" in verdict.message, verdict
    assert f"step count {2 * other_epochs} " in verdict.message and "15" in verdict.message, verdict
    assert check.checkpoint_contents(ckpt | {"optimizer": optimizer.state_dict()}).passed


def test_fix11_an_optimizer_state_of_a_run_trained_in_two_fit_calls_passes():
    model, optimizer, scheduler, history = _run(12, 5)
    data = torch.utils.data.TensorDataset(torch.randn(40, 10), torch.randn(40, 1))  # 40 = one batch of 32, one of 8
    loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True)
    history = fit(model, nn.MSELoss(), optimizer, loader, 9, scheduler=scheduler, history=history, start_epoch=5,
                  progress=False)  # fmt: skip
    ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "epoch": 9, "history": history}  # fmt: skip
    assert int(optimizer.state_dict()["state"][0]["step"]) == 18
    assert check.checkpoint_contents(ckpt).passed, check.checkpoint_contents(ckpt)


def test_review11_p_set_with_batchnorm_in_eval_mode_does_not_blame_batchnorm():
    def p_zero_batchnorm_eval(model, x):
        was, p = model[1].training, model[3].p
        model[3].p = 0.0
        model[1].eval()
        with torch.no_grad():
            out = model(x)
        model[3].p = p
        model[1].train(was)
        return out

    verdict = check.predict_by_hand(p_zero_batchnorm_eval)
    assert verdict.mistake == "no_eval" and "BatchNorm still normalised" not in verdict.message, verdict
    assert "p to 0.0 instead of switching to eval mode" in verdict.message, verdict


def test_review11_a_huge_step_count_is_cut_in_the_message():
    model, optimizer, scheduler, history = _run(12, 15)
    state = optimizer.state_dict()
    for per_parameter in state["state"].values():
        per_parameter["step"] = 10**400 + 1  # a hostile count: no step count is that long
    ckpt = {"model": model.state_dict(), "optimizer": state, "scheduler": scheduler.state_dict(), "epoch": 15,
            "history": history}  # fmt: skip
    verdict = check.checkpoint_contents(ckpt)
    assert not verdict.passed and len(verdict.message) < 600, verdict


def _unsaved_method(key):
    """A checkpoint holding ``key``'s bound method state_dict (no brackets), from a model trained for one step."""
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 2)
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    part = {"model": model, "optimizer": optimizer, "scheduler": scheduler}[key]
    return check._checkpoint(**{key: part.state_dict}), part


@pytest.mark.parametrize("key", ["model", "optimizer", "scheduler"])
def test_fix12_a_state_dict_method_not_called_is_not_said_to_be_unsavable(key):
    from course.checks.vocabulary import MISTAKES

    verdict = check.checkpoint_contents(_unsaved_method(key)[0])
    assert verdict.mistake == "state_dict_not_called", verdict
    for message in (verdict.message, MISTAKES["state_dict_not_called"]):
        assert "cannot be saved" not in message and "torch.load(weights_only=True) refuses" in message, message
        assert "state_dict()" in message, message  # the fix stays: call it
    assert f"'{key}' holds the method {key}.state_dict itself, not its result" in verdict.message, verdict


@pytest.mark.parametrize("key", ["model", "optimizer", "scheduler"])
def test_fix12_what_the_message_says_of_an_uncalled_state_dict_is_what_torch_does(key):
    import io
    import pickle

    ckpt, part = _unsaved_method(key)
    message = check.checkpoint_contents(ckpt).message
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)  # saving works: the bound method is pickled, and with it the whole object
    assert f"torch.save pickles the whole {key} with it" in message, message
    with pytest.raises(pickle.UnpicklingError, match="getattr"):  # ... but the safe load refuses it
        torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    assert "torch.load(weights_only=True) refuses to load it back" in message, message
    back = torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)[key]  # an unsafe load: the method, no weights
    assert not isinstance(back, dict) and back.__name__ == "state_dict" and type(back.__self__) is type(part), back
    assert back().keys() == part.state_dict().keys()  # the whole object came along, to be called after loading


def _resume_by_hand(epoch_loss):
    """A resume that trains with a loop of its own: ``epoch_loss(losses, sizes)`` makes an epoch's loss from its batch
    losses (tensors, graph kept) and batch sizes; the rate each epoch used is recorded as fit records it."""

    def resume(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs):
        ckpt = load_checkpoint(path, model, optimizer, scheduler, generator=generator)
        history = copy.deepcopy(ckpt["history"])
        for _ in range(ckpt["epoch"], epochs):
            history["lr"].append(optimizer.param_groups[0]["lr"])
            losses, sizes = [], []
            for xb, yb in loader:
                optimizer.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                optimizer.step()
                losses.append(loss)
                sizes.append(len(yb))
            history["train_loss"].append(float(epoch_loss(losses, sizes)))
            scheduler.step()
        return history

    return resume


def _running_total(losses, sizes):  # running = running + loss, never divided
    running = 0
    for loss in losses:
        running = running + loss
    return running.detach()


@pytest.mark.parametrize(
    ("epoch_loss", "mistake", "said"),
    [
        (_running_total, "sum_not_mean", "the epoch's loss is the mean of its batch losses, not their sum"),
        (lambda losses, sizes: losses[-1].item(), "last_loss_only", "only the last batch's loss"),
        (lambda losses, sizes: sum(loss.item() for loss in losses) / 32 / 4, "history_other_run", "not the ones"),
    ],
    ids=["running_total", "last_batch", "divided_twice"],
)
def test_fix14_a_resume_whose_history_holds_other_losses_than_the_run_had_is_named(epoch_loss, mistake, said):
    verdict = check.resume(_resume_by_hand(epoch_loss))
    assert verdict.mistake == mistake and said in verdict.message, verdict


def test_fix14_a_resume_whose_resumed_epochs_losses_are_made_up_is_named():
    def made_up(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs):
        ckpt, history = _resume_then(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs)
        made_up = history["train_loss"][: ckpt["epoch"]] + [123.0] * (epochs - ckpt["epoch"])
        return {"train_loss": made_up, "lr": history["lr"]}  # the rates kept: only the losses are made up

    verdict = check.resume(made_up)
    assert verdict.mistake == "history_other_run", verdict
    assert "the resumed epochs' losses are not the ones the run had" in verdict.message, verdict


@pytest.mark.parametrize(
    "epoch_loss",
    [
        lambda losses, sizes: sum(loss.item() for loss in losses) / len(losses),  # as fit: the mean of the batch losses
        lambda losses, sizes: sum(loss.item() * n for loss, n in zip(losses, sizes, strict=True)) / sum(sizes),
    ],
    ids=["mean_of_batch_losses", "mean_over_samples"],
)
def test_fix14_a_hand_written_loop_recording_either_mean_loss_passes(epoch_loss):
    verdict = check.resume(_resume_by_hand(epoch_loss))
    assert verdict.passed, verdict


@pytest.mark.parametrize("epochs", [resume_probe.EPOCHS, resume_probe.AGAIN[0]])
def test_fix14_the_checks_record_of_the_run_never_stopped_is_what_fit_records(epochs):
    model, loss_fn, optimizer, scheduler, loader, _ = resume_probe.parts(seed=0)
    history = fit(model, loss_fn, optimizer, loader, epochs, scheduler=scheduler, progress=False)
    run = resume_probe.unbroken(epochs)
    assert run["mean"] == pytest.approx(history["train_loss"], rel=1e-6) and run["lr"] == history["lr"], (run, history)
    assert run["samples"] != pytest.approx(run["mean"], rel=1e-3)  # the short last batch: the two means differ


def _hand_loop(record_lr="before", loss_as="float", extra=None):
    """A resume with a loop of its own, recording each epoch's mean batch loss (``loss_as``: a float, a tensor, or
    the running total of the loss tensors, graph kept, divided); the rate ``record_lr`` ("before" scheduler.step(),
    as fit; "after" it; "never"), and ``extra``, a list of its own, only for the resumed epochs."""

    def resume(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs):
        ckpt = load_checkpoint(path, model, optimizer, scheduler, generator=generator)
        history = ckpt["history"]
        for _ in range(ckpt["epoch"], epochs):
            if record_lr == "before":
                history["lr"].append(optimizer.param_groups[0]["lr"])
            total, batches = 0.0, 0
            for xb, yb in loader:
                optimizer.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                optimizer.step()
                total, batches = (total + loss if loss_as == "graph" else total + loss.item()), batches + 1
            history["train_loss"].append(torch.tensor(total / batches) if loss_as == "tensor" else total / batches)
            if extra:
                history.setdefault(extra, []).append(0.5)
            scheduler.step()
            if record_lr == "after":
                history["lr"].append(optimizer.param_groups[0]["lr"])
        return history

    return resume


def test_fix15_a_hand_loop_that_never_extends_lr_is_named_as_save_checkpoint_and_fit_would_refuse_it():
    verdict = check.resume(_hand_loop(record_lr="never"))
    assert verdict.mistake == "history_lost", verdict
    assert "history['lr'] holds 3 value(s)" in verdict.message and "6 epochs" in verdict.message, verdict
    assert "save_checkpoint" in verdict.message and "fit" in verdict.message, verdict


def test_fix15_a_list_of_ones_own_filled_only_for_the_resumed_epochs_is_named():
    verdict = check.resume(_hand_loop(extra="acc"))
    assert verdict.mistake == "history_lost" and "history['acc'] holds 3 value(s)" in verdict.message, verdict
    assert "save_checkpoint" not in verdict.message, verdict  # the course's tools keep a list of one's own as it is


def test_fix15_a_history_without_lr_is_named():
    def no_lr(*args):
        return {"train_loss": _resume_then(*args)[1]["train_loss"]}

    verdict = check.resume(no_lr)
    assert verdict.mistake == "history_lost" and "no 'lr'" in verdict.message, verdict


def test_fix15_rates_recorded_after_scheduler_step_are_named_the_next_epochs():
    verdict = check.resume(_hand_loop(record_lr="after"))
    assert not verdict.passed and "after scheduler.step()" in verdict.message, verdict
    assert "next epoch's rate" in verdict.message, verdict


def test_fix15_loss_tensors_with_their_graph_in_the_history_are_named():
    verdict = check.resume(_hand_loop(loss_as="graph"))
    assert verdict.mistake == "not_a_number" and "loss.item()" in verdict.message, verdict
    assert "keeps its whole graph alive" in verdict.message and "grad_fn" in verdict.message, verdict


def test_fix15_detached_loss_tensors_in_the_history_are_named_without_blaming_a_graph():
    verdict = check.resume(_hand_loop(loss_as="tensor"))
    assert verdict.mistake == "not_a_number" and "not a Python float" in verdict.message, verdict
    assert "graph" not in verdict.message, verdict


def test_fix15_a_hand_loop_recording_the_rate_before_the_schedulers_step_passes():
    verdict = check.resume(_hand_loop())
    assert verdict.passed, verdict


def test_fix16_a_checkpoint_holding_an_untrained_models_weights_is_named():
    torch.manual_seed(13)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    fresh = copy.deepcopy(model.state_dict())  # the rest of the checkpoint: the trained run's, after 3 epochs
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.ones(4, 10)).pow(2).mean().backward()
    [optimizer.step() for _ in range(3)]
    trained = {key: value.detach().clone() for key, value in model.state_dict().items()}
    assert check.checkpoint_contents(check._checkpoint(model=trained, optimizer=optimizer.state_dict())).passed
    verdict = check.checkpoint_contents(check._checkpoint(model=fresh, optimizer=optimizer.state_dict()))
    assert verdict.mistake == "missing_model", verdict
    assert "the model's weights are not the trained run's" in verdict.message, verdict
    assert "model.state_dict() of the model you trained" in verdict.message, verdict


def _restores_all_then(loop_bug, generator=True):
    """A resume that restores every part with load_checkpoint (the loader's generator too, unless not ``generator``),
    then trains with a loop of its own with ``loop_bug``: "step_first" (scheduler.step() at the start of each epoch),
    "step_per_batch" (scheduler.step() after each batch's optimizer.step()) or "no_zero_grad"."""

    def resume(path, model, loss_fn, optimizer, scheduler, loader, rng, epochs):
        ckpt = load_checkpoint(path, model, optimizer, scheduler, generator=rng if generator else None)
        history = {key: list(values) for key, values in ckpt["history"].items()}
        for _ in range(ckpt["epoch"], epochs):
            if loop_bug == "step_first":
                scheduler.step()
            history["lr"].append(optimizer.param_groups[0]["lr"])
            losses = []
            for xb, yb in loader:
                if loop_bug != "no_zero_grad":
                    optimizer.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                optimizer.step()
                if loop_bug == "step_per_batch":
                    scheduler.step()
                losses.append(loss.item())
            history["train_loss"].append(sum(losses) / len(losses))
            if loop_bug not in ("step_first", "step_per_batch"):
                scheduler.step()
        return history

    return resume


@pytest.mark.parametrize(
    ("loop_bug", "said"),
    [("step_first", "scheduler.step() once at the end of each epoch"), ("no_zero_grad", "optimizer.zero_grad()")],
)
def test_fix16_a_resume_that_restores_everything_but_trains_with_a_buggy_loop_is_told_the_loop_differs(loop_bug, said):
    verdict = check.resume(_restores_all_then(loop_bug))
    assert not verdict.passed, verdict
    assert "everything was restored from the checkpoint" in verdict.message, verdict
    assert "comes from your training loop" in verdict.message and said in verdict.message, verdict
    assert "restore the model, the optimizer" not in verdict.message, verdict
    if loop_bug == "step_first":  # seen: the first resumed batch trained with the next epoch's rate
        assert "learning rate of 0.0125 where the run used 0.025" in verdict.message, verdict


def test_fix16_a_resume_with_a_loop_of_its_own_that_skips_the_generator_is_still_told_to_restore():
    skips_generator = _restores_all_then("no_zero_grad", generator=False)
    verdict = check.resume(skips_generator)
    assert not verdict.passed and "everything was restored" not in verdict.message, verdict
    assert "restore the model, the optimizer, the scheduler and the loader's generator" in verdict.message, verdict


def _fit_after(change):
    """A resume that restores every part with load_checkpoint, calls ``change(optimizer)``, then fits as it should."""

    def resume(path, model, loss_fn, optimizer, scheduler, loader, rng, epochs):
        ckpt = load_checkpoint(path, model, optimizer, scheduler, generator=rng)
        change(optimizer)
        return fit(model, loss_fn, optimizer, loader, epochs, scheduler=scheduler, history=ckpt["history"],
                   start_epoch=ckpt["epoch"], progress=False)  # fmt: skip

    return resume


@pytest.mark.parametrize(("key", "value", "said"), [
    ("lr", 0.05, "lr 0.05 where the checkpoint's is 0.025"), ("momentum", 0.5, "momentum 0.5 where the checkpoint's "
     "is 0.9"), ("weight_decay", 0.1, "weight_decay 0.1 where the checkpoint's is 0"),
])  # fmt: skip
def test_fix17_a_resume_that_changes_the_optimizers_settings_after_restoring_is_told_which(key, value, said):
    verdict = check.resume(
        _fit_after(lambda optimizer: [group.update({key: value}) for group in optimizer.param_groups])
    )
    assert not verdict.passed, verdict
    assert "the optimizer's settings were not the checkpoint's" in verdict.message and said in verdict.message, verdict
    assert "everything was restored" not in verdict.message and "training loop" not in verdict.message, verdict
    assert "Call fit with history" not in verdict.message, verdict


def test_fix17_restoring_the_optimizers_state_but_not_its_param_groups_is_told_the_rate_is_not_the_checkpoints():
    def state_only(path, model, loss_fn, optimizer, scheduler, loader, rng, epochs):
        ckpt = torch.load(path, weights_only=True)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(optimizer.state_dict() | {"state": ckpt["optimizer"]["state"]})
        scheduler.load_state_dict(ckpt["scheduler"])
        rng.set_state(ckpt["rng"]["generator"])
        return fit(model, loss_fn, optimizer, loader, epochs, scheduler=scheduler, history=ckpt["history"],
                   start_epoch=ckpt["epoch"], progress=False)  # fmt: skip

    verdict = check.resume(state_only)
    assert not verdict.passed, verdict
    assert "the optimizer's settings were not the checkpoint's" in verdict.message, verdict
    assert "lr 0.05 where the checkpoint's is 0.025" in verdict.message, verdict
    assert "momentum" not in verdict.message and "everything was restored" not in verdict.message, verdict


def test_fix17_a_loop_that_steps_the_scheduler_every_batch_is_told_so_not_to_restore():
    verdict = check.resume(_restores_all_then("step_per_batch"))
    assert not verdict.passed, verdict
    assert "restore the model, the optimizer" not in verdict.message, verdict
    assert "comes from your training loop" in verdict.message, verdict
    assert "stepped more often than once per epoch" in verdict.message, verdict
    assert "the scheduler ended at the run's epoch" not in verdict.message, verdict
    assert "scheduler ended at epoch 15 where the run's ends at 6" in verdict.message, verdict


def test_fix17_a_loop_whose_scheduler_steps_before_the_batches_is_told_what_was_seen():
    verdict = check.resume(_restores_all_then("step_first"))
    assert "one step past the checkpoint's" in verdict.message, verdict
    assert "the optimizer's settings were not" not in verdict.message, verdict


def _restores_all_and(before_fit=lambda optimizer, scheduler: None, skip_first_step=False):
    """A resume that restores every part with load_checkpoint, calls ``before_fit(optimizer, scheduler)``, then fits
    (its first resumed epoch without the scheduler when ``skip_first_step``: it is not stepped after that epoch)."""

    def resume(path, model, loss_fn, optimizer, scheduler, loader, rng, epochs):
        ckpt = load_checkpoint(path, model, optimizer, scheduler, generator=rng)
        before_fit(optimizer, scheduler)
        history, start = ckpt["history"], ckpt["epoch"]
        if skip_first_step:
            history = fit(model, loss_fn, optimizer, loader, start + 1, history=history, start_epoch=start,
                          progress=False)  # fmt: skip
            start += 1
        return fit(model, loss_fn, optimizer, loader, epochs, scheduler=scheduler, history=history,
                   start_epoch=start, progress=False)  # fmt: skip

    return resume


def _step_then_rate_back(optimizer, scheduler):  # an extra scheduler.step() after restoring, the rate then set back
    rate = optimizer.param_groups[0]["lr"]
    scheduler.step()
    for group in optimizer.param_groups:
        group["lr"] = rate


@pytest.mark.filterwarnings("ignore:fit resumes at start_epoch")  # the answer's own slip, which fit warns of
def test_fix18_an_extra_scheduler_step_after_restoring_is_told_what_was_seen_not_that_it_started_afresh():
    verdict = check.resume(_restores_all_and(_step_then_rate_back))
    assert not verdict.passed, verdict
    assert "started afresh" not in verdict.message and "pass the scheduler to load_checkpoint" not in verdict.message
    seen = "one step past the checkpoint's (its last_epoch 4 where the checkpoint's is 3: an extra scheduler.step()"
    assert f"the scheduler was {seen} after restoring, before the first batch)" in verdict.message, verdict
    assert "lr 0.025 where the checkpoint's scheduler so stepped gives 0.0125" in verdict.message, verdict


@pytest.mark.filterwarnings("ignore:fit resumes at start_epoch")  # the answer's own slip, which fit warns of
def test_fix18_a_restored_scheduler_not_stepped_after_the_first_resumed_epoch_is_told_so_not_that_it_started_afresh():
    verdict = check.resume(_restores_all_and(skip_first_step=True))
    assert not verdict.passed, verdict
    assert "started afresh" not in verdict.message and "pass the scheduler to load_checkpoint" not in verdict.message
    assert (
        "everything was restored" in verdict.message and "the scheduler's state was the checkpoint's" in verdict.message
    )
    assert "scheduler ended at epoch 5 where the run's ends at 6" in verdict.message, verdict
    assert "stepped less often than once per epoch" in verdict.message, verdict


@pytest.mark.filterwarnings("ignore:fit resumes at start_epoch")  # the answer's own slip, which fit warns of
@pytest.mark.parametrize("fresh", ["not_loaded", "new_after_loading"])
def test_fix18_a_scheduler_started_afresh_is_told_so_only_when_the_one_given_was_not_restored(fresh):
    def new_scheduler(path, model, loss_fn, optimizer, scheduler, loader, rng, epochs):
        ckpt = load_checkpoint(path, model, optimizer, scheduler, generator=rng)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 2, gamma=0.5)
        return fit(model, loss_fn, optimizer, loader, epochs, scheduler=scheduler, history=ckpt["history"],
                   start_epoch=ckpt["epoch"], progress=False)  # fmt: skip

    verdict = check.resume(check.resume.mistakes[0].wrong if fresh == "not_loaded" else new_scheduler)
    assert verdict.mistake == "scheduler_not_restored", verdict
    if fresh == "not_loaded":
        assert "the scheduler started afresh" in verdict.message, verdict
    else:  # the scheduler given was restored, then left (a new one set the rates): what was seen of it
        assert "pass the scheduler to load_checkpoint" not in verdict.message, verdict
        assert "The scheduler ended at epoch 3 where the run's ends at 6" in verdict.message, verdict


def test_predict_by_hand_that_skips_the_models_own_call_is_named():
    # lesson 09 calls model.forward(x) a bug (the model's hooks skipped), as lesson 11's validation check does
    def by_forward(model, x):
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = model.forward(x)
        model.train(was_training)
        return out

    def layer_by_layer(model, x):
        was_training = model.training
        model.eval()
        with torch.no_grad():
            for layer in model:
                x = layer(x)
        model.train(was_training)
        return x

    def row_by_row(model, x):  # every pass through the layers is a call of the model: right
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = torch.cat([model(row.unsqueeze(0)) for row in x])
        model.train(was_training)
        return out

    assert check.predict_by_hand(by_forward).mistake == "called_forward"
    assert "model(x)" in check.predict_by_hand(layer_by_layer).message
    assert check.predict_by_hand(row_by_row).passed


def test_a_resume_that_gives_fit_a_new_scheduler_is_told_the_restored_one_never_stepped():
    def new_scheduler(path, model, loss_fn, optimizer, scheduler, loader, generator, epochs):
        ckpt = load_checkpoint(path, model, optimizer, scheduler, generator=generator)
        fresh = torch.optim.lr_scheduler.StepLR(optimizer, 2, gamma=0.5)  # built anew: its epochs count from 0
        return fit(model, loss_fn, optimizer, loader, epochs, scheduler=fresh, history=ckpt["history"],
                   start_epoch=ckpt["epoch"], progress=False)  # fmt: skip

    with pytest.warns(UserWarning, match="has stepped 0 time"):  # fit's own warning, as the learner would see it
        verdict = check.resume(new_scheduler)
    assert "never stepped" in verdict.message and "scheduler=scheduler" in verdict.message, verdict
    assert "less often" not in verdict.message, verdict
