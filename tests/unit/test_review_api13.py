"""Review 13 of the API: a loaded scheduler restarted at epoch 0, targets of integer or bool dtype a loss needs as
floats, a model without parameters, a time-major hint only for recurrent models, and a loss's arguments swapped."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional
from torch.optim import lr_scheduler

from course.checkpoints import load_checkpoint, save_checkpoint
from course.training import evaluate, fit, make_train_step, train_epoch
from tests.unit.clear_errors import assert_clear_error

torch.manual_seed(0)
X, Y = torch.randn(16, 2), torch.randn(16, 1)


def linear() -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(2, 1)


def sgd(model: nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=0.1)


# ------------------------------------------------------------------ F4: a loaded scheduler, fit restarted at epoch 0


def _checkpointed(tmp_path, make, epochs: int = 3):
    """A run of ``epochs`` epochs saved, and fresh parts with the checkpoint loaded into them: (model, optimizer,
    scheduler, ckpt)."""
    model = linear()
    optimizer = sgd(model)
    scheduler = make(optimizer)
    history = fit(model, nn.MSELoss(), optimizer, [(X, Y)], epochs, scheduler=scheduler, progress=False)
    save_checkpoint(tmp_path / "c.pt", model, optimizer, scheduler, epochs, history)
    model = linear()
    optimizer = sgd(model)
    scheduler = make(optimizer)
    ckpt = load_checkpoint(tmp_path / "c.pt", model, optimizer, scheduler)
    return model, optimizer, scheduler, ckpt


def test_a_loaded_scheduler_restarted_at_epoch_0_warns(tmp_path):
    model, optimizer, scheduler, _ = _checkpointed(tmp_path, lambda o: lr_scheduler.StepLR(o, 1, 0.5))
    assert scheduler.last_epoch == 3
    words = r"restored by load_checkpoint after 3 step.*history=ckpt\['history'\], start_epoch=ckpt\['epoch'\]"
    with pytest.warns(UserWarning, match=words):
        fit(model, nn.MSELoss(), optimizer, [(X, Y)], 5, scheduler=scheduler, progress=False)


def test_a_scheduler_stepped_by_an_earlier_fit_goes_on_silently():
    model = linear()
    optimizer = sgd(model)
    scheduler = lr_scheduler.StepLR(optimizer, 1, 0.5)
    fit(model, nn.MSELoss(), optimizer, [(X, Y)], 2, scheduler=scheduler, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = fit(model, nn.MSELoss(), optimizer, [(X, Y)], 2, scheduler=scheduler, progress=False)
    assert history["lr"] == pytest.approx([0.025, 0.0125])


SCHEDULERS = {
    "StepLR": lambda o: lr_scheduler.StepLR(o, 1, 0.5),
    "ReduceLROnPlateau": lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=0),
    "OneCycleLR": lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=6),
    "CyclicLR": lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=2),
    "CosineAnnealingWarmRestarts": lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 2),
    "SequentialLR": lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.ConstantLR(o, 0.5, 2), lr_scheduler.StepLR(o, 1, 0.5)], [2]
    ),
    "ChainedScheduler": lambda o: lr_scheduler.ChainedScheduler(
        [lr_scheduler.ConstantLR(o), lr_scheduler.StepLR(o, 1)]
    ),
    "LambdaLR": lambda o: lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + e)),
}


@pytest.mark.parametrize("make", SCHEDULERS.values(), ids=SCHEDULERS)
def test_fresh_and_rightly_resumed_schedulers_are_silent(tmp_path, make):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fresh scheduler at epoch 0: silent (OneCycleLR is told its schedule goes on)
        warnings.filterwarnings("ignore", "the scheduler OneCycleLR has 6 of its total_steps=6 left")
        model, optimizer, scheduler, ckpt = _checkpointed(tmp_path, make)
        warnings.resetwarnings()
        warnings.simplefilter("error")
        history = fit(model, nn.MSELoss(), optimizer, [(X, Y)], 6, scheduler=scheduler, progress=False,
                      history=ckpt["history"], start_epoch=ckpt["epoch"])  # fmt: skip
    assert len(history["lr"]) == 6


def test_a_run_stopped_and_continued_as_its_note_says_is_silent():
    model = linear()
    optimizer = sgd(model)
    scheduler = lr_scheduler.StepLR(optimizer, 1, 0.5)

    class Loader:
        def __iter__(self):
            yield X, Y
            if scheduler.last_epoch == 2:
                raise KeyError("stop")

    with pytest.raises(KeyError) as info:
        fit(model, nn.MSELoss(), optimizer, Loader(), 5, scheduler=scheduler, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = fit(model, nn.MSELoss(), optimizer, [(X, Y)], 5, scheduler=scheduler, progress=False,
                      history=info.value.history, start_epoch=len(info.value.history["lr"]))  # fmt: skip
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025, 0.0125, 0.00625])


# ---------------------------------------------------------- F5, F6: integer or bool targets a loss needs as floats

TARGETS = {"long": Y.round().long(), "int": Y.round().int(), "bool": Y > 0}
HUBER = {
    "HuberLoss": nn.HuberLoss(),
    "F.huber_loss": functional.huber_loss,
    "own": lambda p, y: functional.huber_loss(p, y),
}


@pytest.mark.parametrize("loss_fn", HUBER.values(), ids=HUBER)
@pytest.mark.parametrize("y", TARGETS.values(), ids=TARGETS)
def test_huber_with_integer_or_bool_targets_names_y_float(loss_fn, y):
    model = linear()
    before = model.weight.detach().clone()
    assert_clear_error(lambda: fit(model, loss_fn, sgd(model), [(X, y)], 1, progress=False), TypeError,
                       r"targets y are torch\.(int64|int32|bool).*y = y\.float\(\)")  # fmt: skip
    assert torch.equal(model.weight, before)
    assert_clear_error(lambda: make_train_step(model, loss_fn, sgd(model))(X, y), TypeError, r"y = y\.float\(\)")
    assert_clear_error(lambda: train_epoch(model, loss_fn, sgd(model), [(X, y)]), TypeError, r"y = y\.float\(\)")


L1 = {"L1Loss": nn.L1Loss(), "F.l1_loss": functional.l1_loss, "own": lambda p, y: (p - y).abs().mean()}


@pytest.mark.parametrize("loss_fn", L1.values(), ids=L1)
def test_l1_with_bool_targets_names_y_float(loss_fn):
    y = Y > 0
    model = linear()
    assert_clear_error(lambda: evaluate(model, loss_fn, [(X, y)]), TypeError, r"torch\.bool.*y = y\.float\(\)")
    assert_clear_error(lambda: fit(model, loss_fn, sgd(model), [(X, y)], 1, progress=False), TypeError,
                       r"torch\.bool.*y = y\.float\(\)")  # fmt: skip


def test_integer_targets_a_loss_takes_still_train():
    for loss_fn in (nn.MSELoss(), nn.L1Loss(), nn.SmoothL1Loss()):
        model = linear()
        assert len(fit(model, loss_fn, sgd(model), [(X, TARGETS["long"])], 2, progress=False)["train_loss"]) == 2


# ------------------------------------------------------------------ F7: a model without parameters


class Summed(nn.Module):
    def forward(self, x):
        return x.sum(1, keepdim=True)


def test_a_model_without_parameters_is_told_so():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    assert_clear_error(lambda: fit(Summed(), nn.MSELoss(), optimizer, [(X, Y)], 1, progress=False), ValueError,
                       r"the model has no parameters at all.*nn\.Parameter")  # fmt: skip


def test_a_model_without_parameters_and_a_loss_with_one_trains():
    temperature = torch.ones(1, requires_grad=True)
    history = fit(Summed(), lambda p, y: nn.functional.mse_loss(p * temperature, y),
                  torch.optim.SGD([temperature], lr=0.01), [(X, Y)], 3, progress=False)  # fmt: skip
    assert history["train_loss"][-1] < history["train_loss"][0]


# ------------------------------------------------------------------ F8: the time-major hint, only for recurrent models


def test_a_linear_model_given_another_length_is_not_told_of_rnns():
    with pytest.raises(ValueError, match=r"4 predictions but 16 target.*same length") as info:
        evaluate(linear(), nn.MSELoss(), [(torch.randn(4, 16, 2), Y)])
    assert "RNN" not in str(info.value) and "batch_first" not in str(info.value)


class TimeMajor(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.head = nn.RNN(2, 3), nn.Linear(3, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


def test_a_time_major_rnn_is_still_told_batch_first():
    assert_clear_error(lambda: evaluate(TimeMajor(), nn.MSELoss(), [(torch.randn(4, 16, 2), Y)]), ValueError,
                       r"batch_first=True, or score out\[-1\]")  # fmt: skip


# ------------------------------------------------------------------ F10: a loss of one's own with its arguments swapped


def test_swapped_cross_entropy_arguments_are_named():
    model = nn.Linear(2, 3)
    labels = torch.randint(0, 3, (16,))
    swapped = lambda p, y: functional.cross_entropy(y, p)  # noqa: E731
    for call in (lambda: fit(model, swapped, sgd(model), [(X, labels)], 1, progress=False),
                 lambda: evaluate(model, swapped, [(X, labels)])):  # fmt: skip
        assert_clear_error(call, TypeError, r"swapped.*loss_fn\(output, target\).*cross_entropy\(output, target\)")


# ------------------------------------------------------------------ second look M1: a model whose output is integers


class Rounded(nn.Module):
    """A model whose forward returns integers (or, ``bool``, a comparison): no scores to train."""

    def __init__(self, out: int = 3, kind: str = "long"):
        super().__init__()
        self.kind, self.linear = kind, nn.Linear(2, out)

    def forward(self, x):
        scores = self.linear(x)
        return scores > 0 if self.kind == "bool" else scores.round().long()


LONG3, LABELS = torch.randint(0, 3, (16, 3)), torch.randint(0, 3, (16,))
INTEGER_OUTPUTS = {
    "CE long": (3, "long", nn.CrossEntropyLoss(), LABELS),
    "own CE right order": (3, "long", lambda p, y: functional.cross_entropy(p, y), LABELS),
    "MSE long": (3, "long", nn.MSELoss(), LONG3),
    "Huber long": (3, "long", nn.HuberLoss(), LONG3),
    "Huber float y": (3, "long", nn.HuberLoss(), LONG3.float()),
    "L1 long": (3, "long", nn.L1Loss(), LONG3),
    "L1 bool": (1, "bool", nn.L1Loss(), Y > 0),
    "L1 bool, float y": (1, "bool", nn.L1Loss(), Y),
}


@pytest.mark.parametrize(("out", "kind", "loss_fn", "y"), INTEGER_OUTPUTS.values(), ids=INTEGER_OUTPUTS)
def test_a_model_returning_integers_is_told_so_not_y(out, kind, loss_fn, y):
    model = Rounded(out, kind)
    words = rf"the model's output is torch\.{'bool' if kind == 'bool' else 'int64'}.*return .*scores.*not \.round\(\)"
    for call in (lambda: evaluate(model, loss_fn, [(X, y)]),
                 lambda: fit(model, loss_fn, sgd(model), [(X, y)], 1, progress=False)):  # fmt: skip
        with pytest.raises(TypeError, match=words) as info:
            call()
        assert "y = y.float()" not in str(info.value) and "swapped" not in str(info.value)


# ------------------------------------------------------------------ second look M2: a swap claimed only when it is one


def test_a_loss_making_floats_from_y_is_not_told_its_arguments_are_swapped():
    model = nn.Linear(2, 3)
    own = lambda p, y: functional.kl_div(  # noqa: E731
        functional.log_softmax(p, 1), functional.softmax(functional.one_hot(y, 3), 1), reduction="batchmean"
    )
    with pytest.raises(TypeError, match=r"torch\.int64.*made from them.*\.float\(\)") as info:
        fit(model, own, sgd(model), [(X, LABELS)], 1, progress=False)
    assert ": its arguments are swapped" not in str(info.value)  # a swap is named only as one possible cause
    assert "if your loss takes (output, target), convert the target" in str(info.value)


def test_swapped_binary_cross_entropy_arguments_are_named():
    model = linear()
    swapped = lambda p, y: functional.binary_cross_entropy_with_logits(y, p)  # noqa: E731
    assert_clear_error(lambda: fit(model, swapped, sgd(model), [(X, (Y > 0).long())], 1, progress=False), TypeError,
                       r"swapped.*loss_fn\(output, target\)")  # fmt: skip


# ------------------------------------------------------------------ second look M3: batch_first layers, other causes


class LastState(nn.Module):
    """A batch_first LSTM (or a 2-layer GRU) whose model returns head(h_n): h_n is (layers, N, H) all the same."""

    def __init__(self, gru: bool = False):
        super().__init__()
        self.gru = gru
        self.rnn = nn.GRU(2, 4, 2, batch_first=True) if gru else nn.LSTM(2, 4, batch_first=True)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        h = self.rnn(x)[1] if self.gru else self.rnn(x)[1][0]
        return self.head(h)


class Steps(nn.Module):
    """A batch_first LSTM's output at every step."""

    def __init__(self):
        super().__init__()
        self.rnn, self.head = nn.LSTM(2, 4, batch_first=True), nn.Linear(4, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


class Transposed(nn.Module):
    """A batch_first TransformerEncoderLayer whose output the model transposes to time-major."""

    def __init__(self):
        super().__init__()
        self.inp, self.enc = nn.Linear(2, 4), nn.TransformerEncoderLayer(4, 2, 8, batch_first=True)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(self.enc(self.inp(x)).transpose(0, 1))


BATCH_FIRST = {
    "LSTM h_n": (LastState(), torch.randn(16, 5, 2), r"h_n\[-1\]"),
    "GRU 2 layers h_n": (LastState(gru=True), torch.randn(16, 5, 2), r"h_n\[-1\]"),
    "LSTM fed (T, N, F)": (Steps(), torch.randn(5, 16, 2), r"x\.transpose\(0, 1\)"),
    "Transformer transposed": (Transposed(), torch.randn(16, 5, 2), r"transpose"),
}


@pytest.mark.parametrize(("model", "x", "words"), BATCH_FIRST.values(), ids=BATCH_FIRST)
def test_a_batch_first_layer_is_told_the_other_causes(model, x, words):
    with pytest.raises(ValueError, match=rf"already batch_first=True.*{words}") as info:
        evaluate(model, nn.MSELoss(), [(x, Y)])
    assert "build the" not in str(info.value)


def test_a_time_major_transformer_is_still_told_batch_first():
    model = nn.Sequential(nn.Linear(2, 4), nn.TransformerEncoderLayer(4, 2, 8), nn.Linear(4, 1))
    assert_clear_error(lambda: evaluate(model, nn.MSELoss(), [(torch.randn(5, 16, 2), Y)]), ValueError,
                       r"build the TransformerEncoderLayer with batch_first=True")  # fmt: skip


# ------------------------------------------------------------------ second look L3: the restored scheduler's warning


def test_a_restored_scheduler_warning_does_not_claim_no_history_when_one_was_given(tmp_path):
    model, optimizer, scheduler, _ = _checkpointed(tmp_path, lambda o: lr_scheduler.StepLR(o, 1, 0.5))
    with pytest.warns(UserWarning, match=r"restored by load_checkpoint") as caught:
        fit(model, nn.MSELoss(), optimizer, [(X, Y)], 2, scheduler=scheduler, progress=False,
            history={"lr": [], "train_loss": []}, start_epoch=0)  # fmt: skip
    assert not any("no history" in str(w.message) for w in caught)


def test_a_restored_plateau_scheduler_is_not_said_to_give_later_epochs_rates(tmp_path):
    model, optimizer, scheduler, _ = _checkpointed(tmp_path, lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=0))
    with pytest.warns(UserWarning, match=r"ReduceLROnPlateau.*does not depend on the epoch") as caught:
        fit(model, nn.MSELoss(), optimizer, [(X, Y)], 2, scheduler=scheduler, progress=False)
    assert not any("those of epochs" in str(w.message) for w in caught)


# ------------------------------------------------------------------ third look M1-M3, L2: the loss is never re-run

CONDITIONAL = (r"torch\.int64.*if your loss takes \(output, target\), convert the target: y\.float\(\) \(or "
               r"F\.one_hot\(y, C\)\.float\(\).*if its arguments are swapped.*loss_fn\(output, target\), e\.g\. "
               r"F\.cross_entropy\(output, target\)")  # fmt: skip


def _counted(loss):
    """``loss`` and the list of its calls: a loss of one's own is run once, by the trainer, and never again."""
    calls = []

    def counted(out, y):
        calls.append(1)
        return loss(out, y)

    return counted, calls


OWN_FLOAT_LOSSES = {  # right order, y.float() forgotten; and truly swapped: the message is true of both
    "softmax(y) right order": (3, lambda out, y: functional.mse_loss(torch.softmax(out, 1), torch.softmax(y, 1)),
                               LONG3),
    "log_softmax over the batch": (1, lambda out, y: functional.mse_loss(out.view(-1), torch.log_softmax(y, 0)),
                                   LABELS),
    "CE swapped": (3, lambda out, y: functional.cross_entropy(y, out), LABELS),
    "SystemExit when swapped": (3, lambda out, y: functional.mse_loss(out, torch.softmax(y, 1))
                                if out.is_floating_point() else exec("raise SystemExit('no')"), LONG3),
}  # fmt: skip


@pytest.mark.parametrize(("out", "loss", "y"), OWN_FLOAT_LOSSES.values(), ids=OWN_FLOAT_LOSSES)
def test_a_loss_needing_float_targets_is_told_both_fixes_and_never_rerun(out, loss, y):
    model = nn.Linear(2, out)
    counted, calls = _counted(loss)
    with pytest.raises(TypeError, match=CONDITIONAL) as info:
        fit(model, counted, sgd(model), [(X, y)], 1, progress=False)
    assert len(calls) == 1 and ": its arguments are swapped" not in str(info.value)


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 3)

    def forward(self, x):
        scores = self.linear(x)
        return scores, torch.tanh(scores)


def test_a_swapped_loss_of_a_tuple_output_is_told_the_swap_among_the_fixes():
    model = Pair()
    counted, calls = _counted(lambda out, y: functional.cross_entropy(y, out[0]))
    assert_clear_error(lambda: fit(model, counted, sgd(model), [(X, LABELS)], 1, progress=False), TypeError,
                       CONDITIONAL)  # fmt: skip
    assert len(calls) == 1


# ------------------------------------------------------------------ third look M4, M5: every recurrent layer counts


class Recurrent(nn.Module):
    """A batch_first LSTM of 2 layers (after a batch_first attention, with ``attention``) whose model returns
    head(h_n) (``mode='hn'``) or its output transposed to time-major (``'transpose'``)."""

    def __init__(self, mode: str, attention: bool = False, first: bool = True):
        super().__init__()
        self.mode = mode
        self.attention = nn.MultiheadAttention(2, 1, batch_first=first) if attention else None
        self.rnn, self.head = nn.LSTM(2, 4, 2, batch_first=True), nn.Linear(4, 1)

    def forward(self, x):
        if self.attention is not None:
            x = self.attention(x, x, x)[0]
        out, (h, _) = self.rnn(x)
        return self.head(h) if self.mode == "hn" else self.head(out).transpose(0, 1)


def test_a_batch_first_lstm_whose_forward_transposes_is_told_so():
    with pytest.raises(ValueError, match=r"already batch_first=True.*transposes or permutes its output") as info:
        evaluate(Recurrent("transpose"), nn.MSELoss(), [(torch.randn(16, 5, 2), Y)])
    assert "build the" not in str(info.value)


def test_attention_then_a_batch_first_lstm_scoring_h_n_is_told_h_n_first():
    with pytest.raises(ValueError, match=r"already batch_first=True.*h_n\[-1\]") as info:
        evaluate(Recurrent("hn", attention=True), nn.MSELoss(), [(torch.randn(16, 5, 2), Y)])
    text = str(info.value)
    assert "LSTM" in text and text.index("h_n[-1]") < text.index("x.transpose(0, 1)")


def test_a_later_layer_not_batch_first_is_told_batch_first():
    model = Recurrent("transpose", attention=True, first=False)
    assert_clear_error(lambda: evaluate(model, nn.MSELoss(), [(torch.randn(16, 5, 2), Y)]), ValueError,
                       r"build the MultiheadAttention with batch_first=True")  # fmt: skip


# ------------------------------------------------------------------ third look M6: an integer output, no graph


class Picked(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.kind, self.linear = kind, nn.Linear(2, 3 if kind == "argmax" else 1)

    def forward(self, x):
        scores = self.linear(x)
        return {"argmax": lambda: scores.argmax(1), "round": lambda: scores.round().long(),
                "byte": lambda: scores.clamp(0).byte()}[self.kind]()  # fmt: skip


@pytest.mark.parametrize("kind", ["argmax", "round", "byte"])
def test_an_integer_output_a_float_loss_takes_is_told_to_return_raw_scores(kind):
    model = Picked(kind)
    y = LABELS.float() if kind == "argmax" else Y
    words = r"the model's output is torch\.(int64|uint8).*\.argmax\(\).*return the raw scores"
    assert_clear_error(lambda: fit(model, nn.MSELoss(), sgd(model), [(X, y)], 1, progress=False), TypeError, words)
    assert_clear_error(lambda: make_train_step(model, nn.MSELoss(), sgd(model))(X, y), TypeError, words)
