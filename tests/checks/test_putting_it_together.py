"""What the generated tests (test_declarations.py) cannot say about lesson 14's checks."""

from __future__ import annotations

import torch

from course.checks import putting_it_together as check


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
