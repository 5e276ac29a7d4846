"""A second hostile round over the trainer: mistakes in the loss, the targets, the loaders and the optimizer.

Each row is a mistake a learner makes; each must end in a clear error naming the fix (never a
deep traceback from inside torch, never a silently wrong loss), or in the right result.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.training import evaluate, fit, make_train_step, make_val_step, predict, train_epoch


def sgd(model, lr=0.1):
    return torch.optim.SGD(model.parameters(), lr=lr)


def batch(n=4, features=3, y=None):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(n, features, generator=g), torch.randn(n, 1, generator=g) if y is None else y)]


def run_fit(model=None, loss_fn=None, train=None, epochs=2, optimizer=None, **kwargs):
    model = nn.Linear(3, 1) if model is None else model
    loss_fn = nn.MSELoss() if loss_fn is None else loss_fn
    optimizer = sgd(model) if optimizer is None else optimizer
    return fit(model, loss_fn, optimizer, batch() if train is None else train, epochs, progress=False, **kwargs)


def classifier_fit(y, loss_fn=None):
    return run_fit(model=nn.Linear(3, 4), loss_fn=loss_fn or nn.CrossEntropyLoss(), train=batch(y=y))


def sigmoid_model():
    return nn.Sequential(nn.Linear(3, 1), nn.Sigmoid())


def batches(n=2):
    g = torch.Generator().manual_seed(0)
    return ((torch.randn(4, 3, generator=g), torch.randn(4, 1, generator=g)) for _ in range(n))


def optimizer_with_lr(model, lr):
    optimizer = sgd(model)
    optimizer.param_groups[0]["lr"] = lr
    return optimizer


def leaf_rmse(pred, target):
    """A loss rebuilt as a new leaf from its value: backward() runs, but reaches no parameter."""
    return torch.tensor(((pred - target) ** 2).mean().sqrt().item(), requires_grad=True)


def warned(call, words: str):
    """Run ``call``, which must warn with ``words`` in its message."""
    with pytest.warns(UserWarning, match=re.escape(words)):
        return call()


class Detaching(nn.Module):
    """Its first layer's output is detached: no loss reaches that layer."""

    def __init__(self):
        super().__init__()
        self.first, self.last = nn.Linear(3, 2), nn.Linear(2, 1)

    def forward(self, x):
        return self.last(self.first(x).detach())


def frozen_first_layer():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    model[0].requires_grad_(False)
    return model, torch.optim.SGD(model[0].parameters(), lr=0.1)


def only_frozen_in_optimizer():
    model, optimizer = frozen_first_layer()
    return run_fit(model=model, optimizer=optimizer)


class Returns(nn.Module):
    """A model whose forward returns something other than a tensor (a tuple, a dict)."""

    def __init__(self, kind):
        super().__init__()
        self.linear, self.kind = nn.Linear(3, 1), kind

    def forward(self, x):
        out = self.linear(x)
        return (out, x) if self.kind == "tuple" else {"out": out}


def step(x, y, make=make_train_step):
    model = nn.Linear(3, 1)
    return (make(model, nn.MSELoss(), sgd(model)) if make is make_train_step else make(model, nn.MSELoss()))(x, y)


def one_step(model, loss_fn, y, x=None, make=make_train_step):
    x = batch()[0][0] if x is None else x
    return (make(model, loss_fn, sgd(model)) if make is make_train_step else make(model, loss_fn))(x, y)


def labels(*values, column=True):
    y = torch.tensor(values, dtype=torch.float32)
    return y.view(-1, 1) if column else y


def mse_by_hand(p, t):
    return ((p - t) ** 2).mean()


def epoch_of(loader):
    return train_epoch(m := nn.Linear(3, 1), nn.MSELoss(), sgd(m), loader)


def batchnorm_model():
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2), nn.Linear(2, 1))


NAN, INF = float("nan"), float("inf")
LONG = torch.long
EMPTY = [(torch.ones(0, 3), torch.ones(0, 1))]
CLASSES = torch.tensor([0, 1, 2, 3])
RAGGED = [(torch.ones(i + 1), torch.ones(1)) for i in range(4)]

# fmt: off
CASES = [  # (id, call, error, words in the message)
    # the loss and its targets
    ("CE targets (N,1)", lambda: classifier_fit(torch.zeros(4, 1, dtype=LONG)), ValueError, r"class indices of shape \(4,\).*y.view\(-1\)"),
    ("NLL targets (N,1)", lambda: classifier_fit(torch.zeros(4, 1, dtype=LONG), nn.NLLLoss()), ValueError, r"y.view\(-1\)"),
    ("CE float targets", lambda: classifier_fit(torch.zeros(4)), TypeError, r"class indices.*torch.float32.*y.long\(\)"),
    ("CE class out of range", lambda: classifier_fit(torch.full((4,), 7)), ValueError, r"class 7.*4 scores.*out_features"),
    ("CE negative class", lambda: classifier_fit(torch.full((4,), -3)), ValueError, r"class -3"),
    ("BCE bool targets", lambda: run_fit(model=sigmoid_model(), loss_fn=nn.BCELoss(), train=batch(y=torch.ones(4, 1, dtype=torch.bool))), TypeError, r"torch.bool.*y.float\(\)"),
    ("BCEWithLogits long targets", lambda: run_fit(loss_fn=nn.BCEWithLogitsLoss(), train=batch(y=torch.ones(4, 1, dtype=LONG))), TypeError, r"torch.int64.*y.float\(\)"),
    ("BCE without sigmoid", lambda: run_fit(loss_fn=nn.BCELoss(), train=batch(y=torch.ones(4, 1))), ValueError, r"probabilities.*nn.Sigmoid\(\).*BCEWithLogitsLoss"),
    ("BCE targets outside [0, 1]", lambda: run_fit(model=sigmoid_model(), loss_fn=nn.BCELoss(), train=batch(y=torch.full((4, 1), 2.0))), ValueError, r"targets.*between 0 and 1"),
    ("loss detached", lambda: run_fit(loss_fn=lambda p, t: ((p - t) ** 2).mean().detach()), ValueError, r"not connected to the model.*\.item\(\)"),
    ("loss rebuilt from a number", lambda: run_fit(loss_fn=lambda p, t: torch.tensor(((p - t) ** 2).mean().item())), ValueError, r"not connected"),
    ("loss a new leaf, fit", lambda: run_fit(loss_fn=leaf_rmse), ValueError, r"not connected to what the optimizer trains.*change nothing.*\.item\(\)"),
    ("loss a new leaf, train_epoch", lambda: train_epoch(m := nn.Linear(3, 1), leaf_rmse, sgd(m), batch()), ValueError, r"not connected"),
    ("loss a new leaf, train step (warned)", lambda: make_train_step(m := nn.Linear(3, 1), leaf_rmse, sgd(m))(*batch()[0]), UserWarning, r"not connected.*\.item\(\)"),
    ("loss reaches no trained layer", lambda: run_fit(model=(m := Detaching()), optimizer=torch.optim.SGD(m.first.parameters(), lr=0.1)), ValueError, r"not connected"),
    ("model returns a tuple", lambda: run_fit(model=Returns("tuple")), TypeError, r"model returned a tuple of 2 items.*MSELoss takes one tensor.*forward\(\) return the predictions alone"),
    ("model returns a dict", lambda: run_fit(model=Returns("dict")), TypeError, r"model returned a dict"),
    ("batch of 1 with BatchNorm", lambda: run_fit(model=batchnorm_model(), train=batch(n=1)), ValueError, r"1 sample.*BatchNorm.*drop_last=True"),
    # targets that would silently be stretched, or do not match the batch
    ("targets (1,) for 4 samples", lambda: run_fit(train=batch(y=torch.ones(1))), ValueError, r"4 predictions but 1 target"),
    ("one scalar target", lambda: run_fit(train=batch(y=torch.tensor(1.0))), ValueError, r"targets \(\)"),
    ("3 targets for 4 samples", lambda: run_fit(train=batch(y=torch.ones(3, 1))), ValueError, r"4 predictions but 3 target"),
    ("2 outputs, 1 target", lambda: run_fit(model=nn.Linear(3, 2)), ValueError, r"\(4, 2\) but the targets \(4, 1\).*out_features"),
    ("empty batch", lambda: run_fit(train=EMPTY), ValueError, r"batch 1 is empty \(0 samples\)"),
    ("empty batch, evaluate", lambda: evaluate(nn.Linear(3, 1), nn.MSELoss(), EMPTY), ValueError, r"batch 1 is empty"),
    # features
    ("x (N,) for one feature", lambda: run_fit(model=nn.Linear(1, 1), train=[(torch.ones(4), torch.ones(4, 1))]), ValueError, r"shape \(4,\).*x.view\(-1, 1\)"),
    ("predict x (N,) for one feature", lambda: predict(nn.Linear(1, 1), torch.ones(5)), ValueError, r"x.view\(-1, 1\)"),
    ("predict a 0-d x", lambda: predict(nn.Linear(1, 1), torch.tensor(1.0)), ValueError, r"single number.*x.view\(1, -1\)"),
    ("train step numpy", lambda: step(np.ones((2, 3), np.float32), np.ones((2, 1), np.float32)), TypeError, r"x should be a torch.Tensor.*got ndarray.*torch.as_tensor"),
    ("train step list", lambda: step([[1.0, 2.0, 3.0]], torch.ones(1, 1)), TypeError, r"got list"),
    ("train step y None", lambda: step(torch.ones(2, 3), None), TypeError, r"y should be a torch.Tensor.*got NoneType"),
    ("val step numpy", lambda: step(np.ones((2, 3), np.float32), torch.ones(2, 1), make_val_step), TypeError, r"torch.as_tensor"),
    # loaders
    ("generator, 2 epochs", lambda: run_fit(train=batches()), TypeError, r"train_loader is an iterator.*once per epoch.*list\("),
    ("iter(DataLoader), 2 epochs", lambda: run_fit(train=iter(DataLoader(TensorDataset(torch.ones(4, 3), torch.ones(4, 1))))), TypeError, r"iterator"),
    ("val generator, 2 epochs", lambda: run_fit(val_loader=batches()), TypeError, r"val_loader is an iterator"),
    ("val_loader empty", lambda: run_fit(val_loader=[]), ValueError, r"^val_loader yielded no batches"),
    # the optimizer
    ("lr nan", lambda: run_fit(optimizer=optimizer_with_lr(m := nn.Linear(3, 1), NAN), model=m), ValueError, r"learning rate is nan.*lr=0.01"),
    ("lr inf", lambda: run_fit(optimizer=optimizer_with_lr(m := nn.Linear(3, 1), INF), model=m), ValueError, r"learning rate is inf"),
    ("lr negative", lambda: run_fit(optimizer=optimizer_with_lr(m := nn.Linear(3, 1), -0.1), model=m), ValueError, r"learning rate is -0.1"),
    ("optimizer holds only frozen", lambda: only_frozen_in_optimizer(), ValueError, r"only frozen parameters"),
    ("parameters made in inference_mode", lambda: run_fit(model=torch.inference_mode()(lambda: nn.Linear(3, 1))()), ValueError, r"created under torch.inference_mode\(\).*nn.Parameter\(model.weight.clone\(\)\)"),
    ("inference_mode, train_epoch", lambda: train_epoch(m := torch.inference_mode()(lambda: nn.Linear(3, 1))(), nn.MSELoss(), sgd(m), batch()), ValueError, r"inference_mode\(\).*load_state_dict"),
    ("inference_mode, train step", lambda: make_train_step(m := torch.inference_mode()(lambda: nn.Linear(3, 1))(), nn.MSELoss(), sgd(m)), ValueError, r"inference_mode\(\)"),
    ("train_epoch lr nan", lambda: train_epoch(m := nn.Linear(3, 1), nn.MSELoss(), optimizer_with_lr(m, NAN), batch()), ValueError, r"learning rate"),
    # targets a loss misreads without an error: labels outside [0, 1], raw scores for NLLLoss
    ("BCEWithLogits labels {-1, 1}", lambda: run_fit(loss_fn=nn.BCEWithLogitsLoss(), train=batch(y=labels(-1, 1, 1, -1))), ValueError, r"targets between 0 and 1.*map \{-1, 1\} to \{0, 1\}, y = \(y == 1\)"),
    ("BCEWithLogits labels {1, 2}, step", lambda: one_step(nn.Linear(3, 1), nn.BCEWithLogitsLoss(), labels(1, 2, 2, 1)), ValueError, r"map \{1, 2\} to \{0, 1\}"),
    ("BCEWithLogits labels {0, 255}, val step", lambda: one_step(nn.Linear(3, 1), nn.BCEWithLogitsLoss(), labels(0, 255, 0, 0), make=make_val_step), ValueError, r"map \{0, 255\} to \{0, 1\}"),
    ("BCEWithLogits labels 0 to 9, evaluate", lambda: evaluate(nn.Linear(3, 1), nn.BCEWithLogitsLoss(), batch(y=labels(0, 3, 6, 9))), ValueError, r"range from 0 to 9: scale them into \[0, 1\]"),
    ("F.binary_cross_entropy_with_logits {1, 2}", lambda: run_fit(loss_fn=nn.functional.binary_cross_entropy_with_logits, train=batch(y=labels(1, 2, 2, 1))), ValueError, r"map \{1, 2\}"),
    ("CE probabilities above 1", lambda: classifier_fit(torch.full((4, 4), 2.0)), ValueError, r"class probabilities.*all 2"),
    ("NLLLoss on raw scores", lambda: classifier_fit(CLASSES, nn.NLLLoss()), ValueError, r"NLLLoss expects log-probabilities.*add nn.LogSoftmax\(dim=1\).*CrossEntropyLoss"),
    ("NLLLoss on raw scores, step", lambda: one_step(nn.Linear(3, 4), nn.NLLLoss(), CLASSES), ValueError, r"NLLLoss expects log-probabilities"),
    ("NLLLoss on raw scores, evaluate", lambda: evaluate(nn.Linear(3, 4), nn.NLLLoss(), batch(y=CLASSES)), ValueError, r"LogSoftmax"),
    # targets stretched or of another shape, whatever the loss
    # a hand-written loss may use the extra columns on purpose (quantiles): only warned (an error under this filter)
    ("hand-written loss stretches (N,1) over (N,2)", lambda: run_fit(model=nn.Linear(3, 2), loss_fn=mse_by_hand), UserWarning, r"\(4, 2\) but the targets \(4, 1\).*stretch.*out_features=2"),
    ("hand-written loss stretches, step", lambda: one_step(nn.Linear(3, 2), mse_by_hand, torch.ones(4, 1)), UserWarning, r"stretch"),
    ("F.mse_loss stretches", lambda: one_step(nn.Linear(3, 2), nn.functional.mse_loss, torch.ones(4, 1)), ValueError, r"stretch"),
    ("MSE (N,3) vs (N,2)", lambda: one_step(nn.Linear(3, 3), nn.MSELoss(), torch.ones(4, 2)), ValueError, r"\(4, 3\) but the targets \(4, 2\).*same shape.*out_features=3"),
    ("L1 (N,3) vs (N,2), val step", lambda: one_step(nn.Linear(3, 3), nn.L1Loss(), torch.ones(4, 2), make=make_val_step), ValueError, r"\(4, 3\) but the targets \(4, 2\)"),
    ("MSE (N,T,1) vs (N,T)", lambda: one_step(nn.Linear(3, 1), nn.MSELoss(), torch.ones(4, 5), x=torch.ones(4, 5, 3)), ValueError, r"\(4, 5, 1\) but the targets \(4, 5\).*y = y.view\(-1, 5, 1\)"),
    ("hand-written loss (N,3) vs (N,2)", lambda: one_step(nn.Linear(3, 3), mse_by_hand, torch.ones(4, 2)), ValueError, r"\(4, 3\) but the targets \(4, 2\).*out_features=3"),
    ("batch_size=None, 1-D targets", lambda: train_epoch(m := nn.Linear(3, 1), nn.MSELoss(), sgd(m), DataLoader(TensorDataset(torch.ones(4, 3), torch.ones(4)), batch_size=None)), ValueError, r"\(1,\) but the target \(\): one value each.*y.view\(1\).*batch_size=None.*y.view\(-1, 1\)"),
    ("CE one-hot long targets", lambda: classifier_fit(nn.functional.one_hot(CLASSES, 4)), TypeError, r"class probabilities.*torch.int64.*y.argmax\(dim=1\).*y.float\(\)"),
    ("CE scores (N,) with long (N,)", lambda: run_fit(model=nn.Sequential(nn.Linear(3, 1), nn.Flatten(0)), loss_fn=nn.CrossEntropyLoss(), train=batch(y=CLASSES)), ValueError, r"one score per sample.*out_features = the number of classes"),
    # arguments in the wrong order
    ("swapped: a loss as the model", lambda: make_train_step(nn.MSELoss(), m := nn.Linear(3, 1), sgd(m)), TypeError, r"model got a loss \(MSELoss\): the arguments are swapped"),
    ("swapped: optimizer as the loss", lambda: fit(m := nn.Linear(3, 1), sgd(m), nn.MSELoss(), batch(), 1), TypeError, r"loss_fn got an optimizer \(SGD\): the arguments are swapped"),
    ("swapped: loader as the loss", lambda: evaluate(nn.Linear(3, 1), batch(), nn.MSELoss()), TypeError, r"loss_fn got a loader \(list\).*evaluate\(model, loss_fn, loader\)"),
    ("swapped: loader as the optimizer", lambda: train_epoch(m := nn.Linear(3, 1), nn.MSELoss(), batch(), sgd(m)), TypeError, r"optimizer got a loader.*swapped"),
    # data on the meta device, Datasets the DataLoader cannot batch, endless loaders
    ("predict x on meta", lambda: predict(nn.Linear(3, 1), torch.ones(2, 3, device="meta")), ValueError, r"x is on the meta device.*real device"),
    ("step x on meta", lambda: step(torch.ones(4, 3, device="meta"), torch.ones(4, 1)), ValueError, r"x is on the meta device"),
    ("loader on meta", lambda: run_fit(train=[(torch.ones(4, 3, device="meta"), torch.ones(4, 1))]), ValueError, r"meta device"),
    ("Dataset of objects", lambda: run_fit(train=DataLoader([(object(), 1.0)] * 4, batch_size=2)), TypeError, r"train_loader could not batch.*<class 'object'>.*__getitem__ return tensors.*collate_fn"),
    ("Dataset of ragged tensors", lambda: evaluate(nn.Linear(3, 1), nn.MSELoss(), DataLoader(RAGGED, batch_size=2)), ValueError, r"^loader could not batch.*equal size.*collate_fn"),
    ("Dataset of ragged lists", lambda: epoch_of(DataLoader([([1.0] * (i + 1), 1.0) for i in range(4)], batch_size=2)), ValueError, r"equal size.*one shape"),
    ("endless repeat, train_epoch", lambda: epoch_of(itertools.repeat(batch()[0])), ValueError, r"endless iterator \(itertools.repeat\)"),
    ("endless cycle, evaluate", lambda: evaluate(nn.Linear(3, 1), nn.MSELoss(), itertools.cycle(batch())), ValueError, r"itertools.cycle"),
    ("endless, fit 1 epoch", lambda: run_fit(train=itertools.repeat(batch()[0]), epochs=1), ValueError, r"train_loader is an endless"),
    ("endless val_loader", lambda: run_fit(val_loader=itertools.repeat(batch()[0]), epochs=1), ValueError, r"val_loader is an endless"),
]
# fmt: on


@pytest.mark.filterwarnings("error")  # torch's own warning ("Using a target size ...") must not come first
@pytest.mark.parametrize(("call", "error", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_mistake_gets_an_error_that_names_the_fix(call, error, words):
    with pytest.raises(error, match=words) as info:
        call()
    assert "site-packages/torch" not in info.traceback[-1].path.as_posix(), "raised from inside torch"


# fmt: off
RIGHT = [  # (id, call): inputs that are unusual but right, and must keep working
    ("numpy int epochs", lambda: run_fit(epochs=np.int64(2))),
    ("numpy int start_epoch", lambda: run_fit(epochs=2, start_epoch=np.int64(1), history={"train_loss": [1.0]})),
    ("generator, 1 epoch", lambda: run_fit(train=batches(), epochs=1)),
    ("generator, train_epoch", lambda: train_epoch(m := nn.Linear(3, 1), nn.MSELoss(), sgd(m), batches())),
    ("generator, evaluate", lambda: evaluate(nn.Linear(3, 1), nn.MSELoss(), batches())),
    ("CE with (N,) long targets", lambda: classifier_fit(torch.tensor([0, 1, 2, 3]))),
    ("CE with N == classes", lambda: classifier_fit(torch.tensor([3, 1, 2, 0]))),
    ("CE with soft targets", lambda: classifier_fit(torch.full((4, 4), 0.25))),
    ("MSE with int targets", lambda: run_fit(train=batch(y=torch.ones(4, 1, dtype=LONG)))),
    ("lr zero", lambda: run_fit(optimizer=sgd(m := nn.Linear(3, 1), lr=0.0), model=m)),
    ("partly frozen model", lambda: run_fit(model=frozen_first_layer()[0], optimizer=None)),
    ("partly frozen model, train step", lambda: make_train_step(m := frozen_first_layer()[0], nn.MSELoss(), sgd(m))(*batch()[0])),
    ("a layer the loss does not reach, warned", lambda: warned(lambda: run_fit(model=Detaching()), "first.weight, first.bias")),
    ("x requires grad", lambda: run_fit(train=[(torch.ones(4, 3, requires_grad=True), torch.ones(4, 1))])),
    ("hand-written CE, (N, C) scores, N == C", lambda: run_fit(model=nn.Linear(3, 4), loss_fn=nn.functional.cross_entropy, train=batch(y=CLASSES))),
    ("hand-written loss with soft targets", lambda: run_fit(model=nn.Linear(3, 4), loss_fn=lambda p, t: -(t * p.log_softmax(1)).sum(1).mean(), train=batch(y=torch.full((4, 4), 0.25)))),
    ("hand-written accuracy, evaluate", lambda: evaluate(nn.Linear(3, 4), lambda p, t: (p.argmax(1) == t).float().mean(), batch(y=CLASSES))),
    ("NLLLoss after LogSoftmax", lambda: run_fit(model=nn.Sequential(nn.Linear(3, 4), nn.LogSoftmax(dim=1)), loss_fn=nn.NLLLoss(), train=batch(y=CLASSES))),
    ("BCEWithLogits soft labels", lambda: run_fit(loss_fn=nn.BCEWithLogitsLoss(), train=batch(y=torch.full((4, 1), 0.3)))),
    ("CE, one unbatched sample", lambda: one_step(nn.Linear(3, 4), nn.CrossEntropyLoss(), torch.tensor(2), x=torch.ones(3))),
    ("batch_size=None, (N, 1) targets", lambda: epoch_of(DataLoader(TensorDataset(torch.ones(4, 3), torch.ones(4, 1)), batch_size=None))),
    ("finite itertools.repeat", lambda: epoch_of(itertools.repeat(batch()[0], 3))),
    ("summed loss in training", lambda: run_fit(loss_fn=nn.MSELoss(reduction="sum"))),
    ("float64 model and data", lambda: run_fit(model=nn.Linear(3, 1).double(), train=[(torch.ones(4, 3, dtype=torch.float64), torch.ones(4, 1, dtype=torch.float64))])),
]
# fmt: on


@pytest.mark.parametrize("call", [c[1] for c in RIGHT], ids=[c[0] for c in RIGHT])
def test_unusual_but_right_input_still_works(call):
    call()


def test_predict_on_a_single_sample_vector_still_works():
    assert predict(nn.Linear(3, 1), torch.ones(3)).shape == (1,)


@pytest.mark.parametrize("trainer", ["fit", "train_epoch", "train step"])
def test_gradients_left_by_a_backward_before_training_stay_out_of_its_first_step(trainer):
    weights = []
    for peek in (False, True):
        torch.manual_seed(0)
        model, (x, y) = nn.Linear(3, 1), batch()[0]
        if peek:  # a look at the gradients, as the lessons take: backward() fills .grad
            nn.MSELoss()(model(x), y).backward()
        if trainer == "fit":
            run_fit(model=model, train=[(x, y)], epochs=1)
        elif trainer == "train_epoch":
            train_epoch(model, nn.MSELoss(), sgd(model), [(x, y)])
        else:
            make_train_step(model, nn.MSELoss(), sgd(model))(x, y)
        assert all(p.grad is None for p in model.parameters()), "the gradients are zeroed after training too"
        weights.append(model.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])
