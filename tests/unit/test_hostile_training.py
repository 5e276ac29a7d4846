"""A second hostile round over the trainer: mistakes in the loss, the targets, the loaders and the optimizer.

Each row is a mistake a learner makes; each must end in a clear error naming the fix (never a
deep traceback from inside torch, never a silently wrong loss), or in the right result.
"""

from __future__ import annotations

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


def batchnorm_model():
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2), nn.Linear(2, 1))


NAN, INF = float("nan"), float("inf")
LONG = torch.long
EMPTY = [(torch.ones(0, 3), torch.ones(0, 1))]

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
    ("model returns a tuple", lambda: run_fit(model=Returns("tuple")), TypeError, r"model returned a tuple.*forward\(\) should return"),
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
    ("train_epoch lr nan", lambda: train_epoch(m := nn.Linear(3, 1), nn.MSELoss(), optimizer_with_lr(m, NAN), batch()), ValueError, r"learning rate"),
]
# fmt: on


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
    ("x requires grad", lambda: run_fit(train=[(torch.ones(4, 3, requires_grad=True), torch.ones(4, 1))])),
    ("float64 model and data", lambda: run_fit(model=nn.Linear(3, 1).double(), train=[(torch.ones(4, 3, dtype=torch.float64), torch.ones(4, 1, dtype=torch.float64))])),
]
# fmt: on


@pytest.mark.parametrize("call", [c[1] for c in RIGHT], ids=[c[0] for c in RIGHT])
def test_unusual_but_right_input_still_works(call):
    call()


def test_predict_on_a_single_sample_vector_still_works():
    assert predict(nn.Linear(3, 1), torch.ones(3)).shape == (1,)
