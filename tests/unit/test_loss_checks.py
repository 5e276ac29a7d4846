"""course.loss_checks: a one-element loss is a scalar; a classifier with one output is refused with the real fix."""

from __future__ import annotations

import copy
import functools
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional
from torch.utils.data import DataLoader, TensorDataset

from course.loss_checks import check_pair, loss_of
from course.loss_result import check_scalar
from course.loss_values import check_values
from course.training import fit, make_train_step, train_epoch
from tests.unit.clear_errors import assert_clear_error

ONE_CLASS = (
    r"shape \(8, 1\), one score per sample, but cross-entropy needs a score per class.*nn\.Linear\(\.\.\., n_classes\)"
)


@pytest.mark.parametrize("shape", [(), (1,), (1, 1)])
def test_a_loss_of_one_value_is_a_scalar_whatever_its_shape(shape):
    loss = check_scalar(torch.full(shape, 2.5))
    assert loss.shape == () and loss.item() == 2.5


@pytest.mark.parametrize("loss", [torch.ones(3), torch.ones(0), torch.ones(1, 2)], ids=["(3,)", "(0,)", "(1, 2)"])
def test_a_loss_of_several_values_or_none_is_refused(loss):
    with pytest.raises(ValueError, match=r"the loss must be a scalar tensor.*reduction='mean'"):
        check_scalar(loss)


def test_a_train_step_with_a_loss_of_shape_1_trains_exactly_as_with_a_scalar():
    x, y = torch.linspace(0, 1, 8).view(-1, 1), torch.linspace(1, 2, 8).view(-1, 1)
    weights = []
    for loss_fn in (lambda p, t: ((p - t) ** 2).mean(0), lambda p, t: ((p - t) ** 2).mean()):
        torch.manual_seed(0)
        model = nn.Linear(1, 1)
        step = make_train_step(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1))
        losses = [step(x, y) for _ in range(3)]
        weights.append((losses, model.weight.detach().clone()))
    assert weights[0][0] == weights[1][0] and torch.equal(weights[0][1], weights[1][1])
    assert weights[0][0][0] > weights[0][0][-1]  # it did learn


CLASS_LOSSES = {
    "CrossEntropyLoss": nn.CrossEntropyLoss(),
    "NLLLoss": nn.NLLLoss(),
    "F.cross_entropy": functional.cross_entropy,
    "partial": functools.partial(functional.cross_entropy, reduction="sum"),
}


@pytest.mark.parametrize("loss_fn", CLASS_LOSSES.values(), ids=CLASS_LOSSES.keys())
@pytest.mark.parametrize("target_shape", [(8,), (8, 1)])
def test_one_output_for_class_indices_is_refused_with_one_output_per_class(loss_fn, target_shape):
    torch.manual_seed(0)
    x = torch.rand(8, 2)
    for y in ((x[:, 0] > 0.5).long(), torch.zeros(8, dtype=torch.long)):  # all zeros: torch's loss is silently 0
        model = nn.Linear(2, 1)
        step = make_train_step(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1))
        with pytest.raises(ValueError, match=ONE_CLASS) as error:
            step(x, y.view(target_shape))
        assert "broadcast" not in str(error.value) and "Pass class indices" not in str(error.value)


def test_class_indices_with_several_classes_and_other_single_outputs_are_still_accepted():
    check_pair(torch.zeros(8, 3), torch.zeros(8, dtype=torch.long), nn.CrossEntropyLoss())
    check_pair(torch.zeros(3), torch.tensor(1), nn.CrossEntropyLoss())  # one sample, unbatched: (C,) and ()
    check_pair(torch.zeros(8, 3, 4, 4), torch.zeros(8, 4, 4, dtype=torch.long), nn.CrossEntropyLoss())
    check_pair(torch.zeros(8, 1), torch.zeros(8, 1), nn.BCEWithLogitsLoss())
    check_pair(torch.zeros(8, 1), torch.zeros(8, 1), nn.MSELoss())
    with pytest.raises(ValueError, match=r"shape \(1,\), one score per sample"):
        check_pair(torch.zeros(1), torch.tensor(0), nn.CrossEntropyLoss())  # unbatched, one class


def squeezing_mse(pred, target):  # right for targets (N,): it pairs (N, 1) predictions with them itself
    return ((pred.squeeze(1) - target) ** 2).mean()


def test_a_hand_written_loss_that_pairs_other_shapes_itself_is_accepted_and_run_once():
    x = torch.randn(8, 3)
    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.fill_(1.0), model.bias.zero_()  # a perfect model for y = x.sum(1): its loss is 0
    calls = []
    step = make_train_step(
        model, lambda p, t: calls.append(1) or squeezing_mse(p, t), torch.optim.SGD(model.parameters())
    )
    assert step(x, x.sum(1)) == 0.0 and len(calls) == 1
    weighted = lambda p, t: (t[:, 1:] * (p - t[:, :1]) ** 2).mean()  # noqa: E731 (targets: a value and a weight)
    check_pair(torch.zeros(8, 1), torch.ones(8, 2), weighted)


@pytest.mark.filterwarnings("ignore:Using a target size")  # torch's own, from F.mse_loss run to see what it does
@pytest.mark.parametrize(
    "loss_fn",
    [lambda p, t: ((p - t) ** 2).mean(), lambda p, t: functional.mse_loss(p, t), nn.MSELoss()],
    ids=["by hand", "F.mse_loss in a lambda", "nn.MSELoss"],
)
def test_a_loss_that_broadcasts_n_1_against_n_is_still_refused(loss_fn):
    with pytest.raises(ValueError, match=r"broadcast them to \(8, 8\).*y = y.view\(-1, 1\)"):
        check_pair(torch.zeros(8, 1), torch.zeros(8), loss_fn)


@pytest.mark.parametrize("loss_fn", [nn.MSELoss(), lambda p, t: ((p - t) ** 2).mean()], ids=["MSELoss", "by hand"])
def test_fewer_prediction_columns_than_targets_asks_for_more_outputs(loss_fn):
    model = nn.Linear(3, 1)
    step = make_train_step(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(
        ValueError, match=r"\(8, 1\) but the targets \(8, 2\).*out_features=1\), gives 1.*out_features=2"
    ) as error:
        step(torch.randn(8, 3), torch.randn(8, 2))
    assert "view" not in str(error.value)


def test_a_hand_written_loss_that_picks_its_columns_is_not_warned():
    gaussian_nll = lambda p, t: (p[:, 1:] + (t - p[:, :1]) ** 2 / p[:, 1:].exp()).mean()  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_pair(torch.zeros(8, 2), torch.zeros(8, 1), gaussian_nll)


def pairwise_ranking(pred, target):  # RankNet: every pair of samples, on purpose
    score = pred.squeeze(1)
    return functional.binary_cross_entropy_with_logits(
        score[:, None] - score[None, :], (target[:, None] > target[None, :]).float()
    )


def test_a_pairwise_loss_that_compares_samples_with_each_other_is_not_refused():
    model = nn.Linear(3, 1)
    step = make_train_step(model, pairwise_ranking, torch.optim.SGD(model.parameters(), lr=0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert step(torch.randn(8, 3), torch.randn(8)) > 0
    check_pair(torch.zeros(8, 1), torch.zeros(8), lambda p, t: (p.view_as(t) - t).abs().mean())  # reshaped first


def counted(calls, error=None):
    def loss(pred, target):
        calls.append(1)
        warnings.warn("the learner's own warning", UserWarning, stacklevel=2)
        if error is not None:
            raise error
        return ((pred.squeeze(1) - target) ** 2).mean()

    return loss


@pytest.mark.parametrize("error", [ValueError("my loss refuses"), RuntimeError("my loss failed")])
def test_a_hand_written_loss_that_raises_is_called_once_and_its_error_is_its_own(error):
    model, calls = nn.Linear(3, 1), []
    step = make_train_step(model, counted(calls, error), torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(type(error), match=f"^{error}$"), pytest.warns(UserWarning, match="learner's own"):
        step(torch.randn(8, 3), torch.randn(8))
    assert len(calls) == 1


def test_a_hand_written_loss_keeps_its_own_warnings_and_is_watched_once_per_shapes():
    model, calls = nn.Linear(3, 1), []
    step = make_train_step(model, counted(calls), torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.warns(UserWarning, match="learner's own"):
        for _ in range(3):
            step(torch.randn(8, 3), torch.randn(8))
    assert len(calls) == 3  # once per step: run to watch it on the first, plainly after


@pytest.mark.filterwarnings("ignore:Using a target size", "ignore:To copy construct")  # torch's own
@pytest.mark.parametrize(
    "convert",
    [lambda t, p: t.type_as(p), lambda t, p: t.to(p), lambda t, p: p.new_tensor(t)],
    ids=["type_as", "to(tensor)", "new_tensor"],
)
def test_converting_the_targets_to_the_predictions_dtype_is_not_a_pairing(convert):
    pred, target = torch.zeros(8, 1, dtype=torch.float64), torch.ones(8)
    assert check_pair(pred, target, lambda p, t: ((p.squeeze(1) - convert(t, p)) ** 2).mean())[0] == 1.0
    with pytest.raises(ValueError, match=r"broadcast them to \(8, 8\)"):  # converted, then broadcast: still refused
        check_pair(pred, target, lambda p, t: ((p - convert(t, p)) ** 2).mean())


def fit_one_epoch(model, loss_fn, x, y):
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    return fit(model, loss_fn, torch.optim.SGD(model.parameters(), lr=1.0), loader, 1, progress=False)


KL_LOSSES = {"KLDivLoss": nn.KLDivLoss(reduction="batchmean"), "F.kl_div partial": functools.partial(
    functional.kl_div, reduction="batchmean")}  # fmt: skip


@pytest.mark.parametrize("loss_fn", KL_LOSSES.values(), ids=KL_LOSSES.keys())
def test_probabilities_given_to_kl_divergence_are_refused_with_log_softmax_as_the_fix(loss_fn):
    x, target = torch.randn(64, 3), torch.tensor([[0.7, 0.3]]).expand(64, 2).contiguous()
    model = nn.Sequential(nn.Linear(3, 2), nn.Softmax(dim=1))  # probabilities: its KL goes negative, silently
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match=r"KLDivLoss expects log-probabilities.*nn.LogSoftmax\(dim=1\)"):
        fit_one_epoch(model, loss_fn, x, target)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    model[1] = nn.LogSoftmax(dim=1)
    assert fit_one_epoch(model, loss_fn, x, target)["train_loss"][0] >= 0


STRUCTURAL = {
    "Sigmoid + BCEWithLogitsLoss": (nn.Sequential(nn.Linear(3, 1), nn.Sigmoid()), nn.BCEWithLogitsLoss(),
                                    torch.ones(8, 1), r"ends with nn.Sigmoid.*BCEWithLogitsLoss.*Drop the nn.Sigmoid layer.*nn.BCELoss"),
    "nested Sigmoid + F.bce_with_logits": (nn.Sequential(nn.Linear(3, 1), nn.Sequential(nn.Sigmoid())),
                                           functional.binary_cross_entropy_with_logits, torch.ones(8, 1),
                                           r"ends with nn.Sigmoid.*Drop the nn.Sigmoid layer"),
    "Softmax + CrossEntropyLoss": (nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=1)), nn.CrossEntropyLoss(),
                                   torch.zeros(8, dtype=torch.long), r"ends with nn.Softmax.*CrossEntropyLoss.*Drop the nn.Softmax layer.*NLLLoss"),
}  # fmt: skip


@pytest.mark.parametrize(("model", "loss_fn", "y", "words"), STRUCTURAL.values(), ids=STRUCTURAL.keys())
@pytest.mark.parametrize("trainer", ["make_train_step", "train_epoch", "fit"])
def test_a_last_layer_the_loss_applies_again_is_refused_before_any_step(model, loss_fn, y, words, trainer):
    x, optimizer, before = torch.randn(8, 3), torch.optim.SGD(model.parameters(), lr=1.0), copy.deepcopy(model)
    run = {"make_train_step": lambda: make_train_step(model, loss_fn, optimizer)(x, y),
           "train_epoch": lambda: train_epoch(model, loss_fn, optimizer, [(x, y)]),
           "fit": lambda: fit(model, loss_fn, optimizer, [(x, y)], 1, progress=False)}  # fmt: skip
    with pytest.raises(ValueError, match=words):
        run[trainer]()
    assert all(torch.equal(v, before.state_dict()[k]) for k, v in model.state_dict().items())


class FunctionalSigmoid(nn.Module):  # applies the sigmoid in forward: not seen from the structure, left alone
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(x))


def test_log_softmax_before_cross_entropy_and_right_pairs_are_not_refused():
    x, classes = torch.randn(8, 3), torch.randint(0, 4, (8,))
    for model, loss_fn, y in [(nn.Sequential(nn.Linear(3, 4), nn.LogSoftmax(dim=1)), nn.CrossEntropyLoss(), classes),
                              (nn.Sequential(nn.Linear(3, 1), nn.Sigmoid()), nn.BCELoss(), torch.ones(8, 1)),
                              (FunctionalSigmoid(), nn.BCEWithLogitsLoss(), torch.ones(8, 1)),
                              (nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=1), nn.Linear(4, 4)),
                               nn.CrossEntropyLoss(), classes)]:  # fmt: skip
        assert make_train_step(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1))(x, y) > 0


def test_targets_of_n_against_n_by_n_predictions_are_refused_as_for_any_other_n():
    mse = lambda p, t: ((p - t) ** 2).mean()  # noqa: E731
    for n in (4, 5):  # (4, 4) and (4,) broadcast without an error, comparing target j with column j
        model = nn.Linear(3, 4)
        step = make_train_step(model, mse, torch.optim.SGD(model.parameters(), lr=0.1))
        with pytest.raises(ValueError, match=rf"predictions have shape \({n}, 4\) but the targets \({n},\)"):
            step(torch.randn(n, 3), torch.randn(n))
    with warnings.catch_warnings():  # a loss that pairs them itself is accepted, without a warning
        warnings.simplefilter("error")
        assert check_pair(torch.zeros(4, 4), torch.ones(4), lambda p, t: ((p.mean(1) - t) ** 2).mean())[0] == 1.0
        assert check_pair(torch.zeros(4, 4), torch.ones(4, 4), mse) == ()  # equal shapes: nothing to check
        for indices in (
            lambda p, t: functional.cross_entropy(p, t.long()),
            lambda p, t: functional.nll_loss(p, t.long()),
        ):
            assert check_pair(torch.zeros(4, 4), torch.ones(4), indices)  # float class indices, converted: run, kept


def test_a_complex_loss_is_refused_with_a_clear_message():
    model = nn.Linear(3, 1)
    step = make_train_step(model, lambda p, t: ((p - t) ** 2).mean() * (1 + 0j), torch.optim.SGD(model.parameters()))
    assert_clear_error(lambda: step(torch.randn(8, 3), torch.randn(8, 1)), TypeError, r"complex.*\.real.*\.abs\(\)")


# ----------------------------------------------------------------------------- soft targets that are no distributions


def soft_rows(kind: str) -> torch.Tensor:
    rows = {"all zero": torch.zeros(8, 3), "multi-hot": torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]] * 4),
            "half a row": torch.full((8, 3), 1 / 6)}  # fmt: skip
    return rows[kind]


CROSS_ENTROPY = r"probabilities.*summing to 1.*row 0 sums to [\d.]+.*class indices, y = y\.argmax\(dim=1\).*one-hot"
SOFT_LOSSES = {
    "CrossEntropyLoss": (nn.Linear(4, 3), nn.CrossEntropyLoss(), CROSS_ENTROPY),
    "F.cross_entropy partial": (nn.Linear(4, 3), functools.partial(functional.cross_entropy, label_smoothing=0.1),
                                CROSS_ENTROPY),
    "KLDivLoss": (nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=1)), nn.KLDivLoss(reduction="batchmean"),
                  r"KLDivLoss.*distributions.*summing to 1.*row 0 sums to [\d.]+.*y / y.sum\(dim=1, keepdim=True\)"),
}  # fmt: skip


@pytest.mark.parametrize(("model", "loss_fn", "words"), SOFT_LOSSES.values(), ids=SOFT_LOSSES.keys())
@pytest.mark.parametrize("kind", ["all zero", "multi-hot", "half a row"])
def test_soft_targets_whose_rows_do_not_sum_to_1_are_refused_before_any_step(model, loss_fn, words, kind):
    """All-zero rows give CrossEntropyLoss a loss of exactly 0 and no gradient; multi-hot rows train silently."""
    if kind == "all zero" and "KLDivLoss" in words:
        pytest.skip("an all-zero KL target row adds exactly 0: a padding mask, accepted (the test below)")
    y, before = soft_rows(kind), copy.deepcopy(model.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    assert_clear_error(
        lambda: fit(model, loss_fn, optimizer, [(torch.randn(8, 4), y)], 1, progress=False),
        ValueError,
        words + r".*multi-label.*nn\.BCEWithLogitsLoss\(\)",
    )
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_probability_rows_one_hot_rows_and_log_targets_are_still_accepted():
    torch.manual_seed(0)
    x, scores = torch.randn(8, 4), torch.randn(8, 3)
    smoothed = functional.one_hot(torch.arange(8) % 3, 3).float() * 0.9 + 0.1 / 3
    for model, loss_fn, y in [
        (nn.Linear(4, 3), nn.CrossEntropyLoss(), scores.softmax(dim=1)),
        (nn.Linear(4, 3), nn.CrossEntropyLoss(), functional.one_hot(torch.arange(8) % 3, 3).float()),
        (nn.Linear(4, 3), nn.CrossEntropyLoss(), smoothed.half().float()),  # rows rounded in float16: 0.99976
        (nn.Linear(4, 3), nn.CrossEntropyLoss(), torch.full((8, 3), float("nan"))),  # NaN: blamed elsewhere, later
        (nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=1)), nn.KLDivLoss(reduction="batchmean"), scores.softmax(1)),
        (nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=1)), nn.KLDivLoss(reduction="batchmean", log_target=True),
         scores.log_softmax(1)),
    ]:  # fmt: skip
        check_values(model(x), y, loss_fn)
    sequence = torch.randn(2, 5, 7).softmax(dim=-1)  # distillation over the last dim of (N, T, V): no false refusal
    check_values(torch.randn(2, 5, 7).log_softmax(-1), sequence, nn.KLDivLoss(reduction="batchmean"))
    kl = nn.KLDivLoss(reduction="sum")
    padded = torch.cat([scores.softmax(1)[:6], torch.zeros(2, 3)])  # review 10b: zero rows mask padding (add 0)
    heatmap = torch.randn(2, 3, 4, 4).flatten(2).softmax(-1).reshape(2, 3, 4, 4)  # a distribution over H x W
    bf16 = torch.randn(8, 10).softmax(1).bfloat16().float()  # a bfloat16 teacher's rows, cast: off by ~2e-3
    for pred, y, loss_fn in [(scores.log_softmax(1), padded, kl), (heatmap.log(), heatmap, kl),
                             (torch.randn(8, 10), bf16, nn.CrossEntropyLoss())]:  # fmt: skip
        check_values(pred, y, loss_fn)


# ----------------------------------------------------------------------------- a sigmoid or softmax behind shape-only modules


BEHIND = {
    "Sigmoid, Flatten(0)": (nn.Sequential(nn.Linear(3, 1), nn.Sigmoid(), nn.Flatten(0)), nn.BCEWithLogitsLoss(),
                            torch.ones(8), r"ends with nn.Sigmoid \(then only Flatten, which does not.*BCEWithLogitsLoss.*Drop the nn.Sigmoid layer"),
    "Sigmoid, Identity": (nn.Sequential(nn.Linear(3, 1), nn.Sigmoid(), nn.Identity()), nn.BCEWithLogitsLoss(),
                          torch.ones(8, 1), r"ends with nn.Sigmoid \(then only Identity"),
    "Softmax, Dropout(0.)": (nn.Sequential(nn.Linear(3, 4), nn.Softmax(1), nn.Dropout(0.0)), nn.CrossEntropyLoss(),
                             torch.zeros(8, dtype=torch.long), r"ends with nn.Softmax \(then only Dropout.*CrossEntropyLoss.*Drop the nn.Softmax layer"),
    "nested, Unflatten": (nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Softmax(1), nn.Sequential(nn.Identity())),
                                        nn.Unflatten(1, (4, 1)), nn.Flatten()), nn.CrossEntropyLoss(),
                          torch.zeros(8, dtype=torch.long), r"ends with nn.Softmax \(then only Identity, Unflatten, Flatten, which do not"),
}  # fmt: skip


@pytest.mark.parametrize(("model", "loss_fn", "y", "words"), BEHIND.values(), ids=BEHIND.keys())
def test_a_sigmoid_or_softmax_followed_only_by_shape_modules_is_still_refused(model, loss_fn, y, words):
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match=words):
        fit(model, loss_fn, torch.optim.SGD(model.parameters(), lr=1.0), [(torch.randn(8, 3), y)], 1, progress=False)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


# ----------------------------------------------------------------------------- what a loss returns


RETURNED = {
    "(loss, metrics)": (lambda p, t: (functional.mse_loss(p, t), {"mae": 0.1}), ValueError,
                        r"got tuple: the loss function returned 2 items.*Return the loss tensor alone.*metrics"),
    "dict": (lambda p, t: {"loss": functional.mse_loss(p, t)}, ValueError,
             r"got dict \(keys \['loss'\]\).*Return the loss tensor alone.*my_loss\(pred, y\)\['loss'\]"),
    "float": (lambda p, t: functional.mse_loss(p, t).item(), ValueError, r"got float, a number.*\.item\(\)"),
    "int tensor": (lambda p, t: (p - t).abs().sum().long(), TypeError,
                   r"integer tensor \(torch.int64\).*no gradient.*floating point"),
    "bool tensor": (lambda p, t: ((p - t) > 0).any(), TypeError, r"torch.bool.*no gradient.*comparison"),
}  # fmt: skip


@pytest.mark.parametrize(("loss_fn", "error", "words"), RETURNED.values(), ids=RETURNED.keys())
def test_a_loss_that_returns_no_float_tensor_is_named_with_its_fix(loss_fn, error, words):
    model = nn.Linear(2, 1)
    with pytest.raises(error, match=words) as info:
        fit(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1), [(torch.randn(8, 2), torch.randn(8, 1))], 1,
            progress=False)  # fmt: skip
    assert "reduction='mean'" not in str(info.value) and "grad_fn" not in str(info.value)


def test_an_integer_loss_is_still_evaluated_without_gradients():
    with torch.no_grad():
        assert check_scalar(torch.tensor(3)).item() == 3  # e.g. a count of errors, evaluated: no gradient needed


# ----------------------------------------------------------------------------- targets a loss cannot take


@pytest.mark.parametrize(
    ("y", "mse"),
    [(torch.arange(6) % 3, lambda p, t: ((p - t) ** 2).mean()),
     ((torch.arange(6) % 2).bool(), lambda p, t: ((p - t.float()) ** 2).mean())],
    ids=["long", "bool"],
)  # fmt: skip
def test_integer_targets_of_n_against_n_by_n_predictions_are_refused_as_float_ones(y, mse):
    with pytest.raises(ValueError, match=r"predictions have shape \(6, 6\) but the targets \(6,\).*stretch"):
        check_pair(torch.zeros(6, 6), y, mse)
    assert check_pair(torch.zeros(6, 6), y.long(), nn.MultiMarginLoss())  # class indices: run, not refused
    assert check_pair(torch.zeros(6, 6), y.long(), lambda p, t: functional.multi_margin_loss(p, t))


@pytest.mark.parametrize(
    "y", [[[0.0], [1.0]], 1.0, __import__("numpy").zeros((2, 1))], ids=["list", "float", "NumPy array"]
)
@pytest.mark.parametrize("loss_fn", [nn.MSELoss(), functional.mse_loss], ids=["MSELoss", "F.mse_loss"])
def test_targets_that_are_no_tensor_are_named_with_torch_as_tensor(loss_fn, y):

    assert_clear_error(
        lambda: loss_of(torch.zeros(2, 1), loss_fn, y), TypeError, r"targets y are a \w+, not a tensor.*torch.as_tensor"
    )
    assert loss_of(torch.zeros(2, 1), lambda p, t: ((p - t) ** 2).mean(), 1.0).item() == 1.0  # a loss that takes one
