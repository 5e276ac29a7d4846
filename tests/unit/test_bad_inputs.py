"""Bad input to the trainer: every case gets an error that says what is wrong and what to do.

One row per bad input: the call, the error it must raise, and the words the message must contain.
Cases that must fail before any training (a wrong scheduler, history or optimizer) also check
that the loss was never computed.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.progress import epoch_bar
from course.training import evaluate, fit, make_train_step, make_val_step, predict, train_epoch

CALLS: list[int] = []


def counting_mse(pred, target):
    CALLS.append(1)
    return nn.functional.mse_loss(pred, target)


def data(n=16, features=3, dtype=torch.float32, target_shape=(1,)):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, features, generator=g).to(dtype)
    return TensorDataset(x, torch.randn(n, *target_shape, generator=g).to(dtype))


def loader(**kwargs):
    batch_size = kwargs.pop("batch_size", 8)
    drop_last = kwargs.pop("drop_last", False)
    return DataLoader(data(**kwargs), batch_size=batch_size, drop_last=drop_last)


def sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.1)


def run_fit(model=None, loss_fn=counting_mse, optimizer=None, train=None, epochs=2, **kwargs):
    model = nn.Linear(3, 1) if model is None else model
    optimizer = sgd(model) if optimizer is None else optimizer
    kwargs.setdefault("progress", False)
    return fit(model, loss_fn, optimizer, loader() if train is None else train, epochs, **kwargs)


class Squeezed(nn.Module):
    """A model whose output is (N,), against targets (N, 1)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x):
        return self.linear(x).squeeze(1)


class ListOfLayers(nn.Module):
    """Layers in a plain Python list: nn.Module does not see them, so the model has no parameters."""

    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(3, 1)]

    def forward(self, x):
        return self.layers[0](x)


class RaisesOther(nn.Module):
    """A forward that fails with an error mentioning a device that is not a device mismatch."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x):
        raise RuntimeError("CUDA error: device-side assert triggered")


class MakesMetaTensor(nn.Module):
    """A classic device bug: a tensor created in forward() on a fixed device."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x):
        return self.linear(x) + torch.zeros(1, device="meta")


class NotPairs(torch.utils.data.Dataset):
    def __init__(self, kind: str):
        self.kind = kind

    def __len__(self):
        return 4

    def __getitem__(self, i):
        x = torch.ones(3)
        return {"tensor": x, "dict": {"x": x, "y": x[:1]}, "triple": (x, x[:1], x[:1]), "pair_of_str": ("a", "b")}[
            self.kind
        ]


def not_pairs(kind):
    return DataLoader(NotPairs(kind), batch_size=2)


def infinite_model():
    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.fill_(float("inf"))
    return model


def frozen():
    return nn.Linear(3, 1).requires_grad_(False)


def tensors(x, y, batch_size=2):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


NAN, INF = float("nan"), float("inf")
F64 = torch.float64


def two_devices():
    return nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1, device="meta"))


def bce_float64_targets():
    model = nn.Sequential(nn.Linear(3, 1), nn.Sigmoid())
    return run_fit(model=model, loss_fn=nn.BCELoss(), train=tensors(torch.ones(4, 3), torch.ones(4, 1, dtype=F64)))


def step(x, y, make=make_train_step):
    model = nn.Linear(3, 1)
    return (make(model, nn.MSELoss(), sgd(model)) if make is make_train_step else make(model, nn.MSELoss()))(x, y)


def step_on(model):
    return make_val_step(model, nn.MSELoss())(torch.ones(4, 3), torch.ones(4, 1))


def epoch_on(loader_):
    model = nn.Linear(3, 1)
    return train_epoch(model, nn.MSELoss(), sgd(model), loader_)


def with_scheduler(make, epochs=2, **kwargs):
    model = nn.Linear(3, 1)
    optimizer = sgd(model)
    return run_fit(model=model, optimizer=optimizer, scheduler=make(optimizer), epochs=epochs, **kwargs)


def moved_after_the_step_was_built():
    model = nn.Linear(3, 1)
    train_step = make_train_step(model, nn.MSELoss(), sgd(model))
    model.to("meta")  # as model.to("cuda") after building the step: the batch stays on the CPU
    return train_step(torch.ones(4, 3), torch.ones(4, 1))


StepLR, LambdaLR = torch.optim.lr_scheduler.StepLR, torch.optim.lr_scheduler.LambdaLR


def tweaked(**settings):
    """fit with an SGD whose settings were changed after it was built, as optimizer.param_groups[0]["lr"] = ..."""
    model = nn.Linear(3, 1)
    optimizer = sgd(model)
    optimizer.param_groups[0].update(settings)
    return run_fit(model=model, optimizer=optimizer)


def maximizing(make, everywhere=False):
    """A model and an optimizer that climbs the loss: maximize=True for every group, or for the second only."""
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    groups = [{"params": model[0].parameters()}, {"params": model[1].parameters(), "maximize": True}]
    return {
        "model": model,
        "optimizer": make(model.parameters(), lr=0.1, maximize=True) if everywhere else make(groups, lr=0.1),
    }


def climbing(trainer):
    parts = maximizing(torch.optim.SGD, everywhere=True)
    if trainer == "step":
        return make_train_step(parts["model"], nn.MSELoss(), parts["optimizer"])(torch.ones(4, 3), torch.ones(4, 1))
    return train_epoch(parts["model"], nn.MSELoss(), parts["optimizer"], loader())


SUMMED = functools.partial(nn.functional.mse_loss, reduction="sum")

# One row per line: a table reads better than rows the formatter folds.
# fmt: off
BEFORE_TRAINING = [  # (id, call, error, words in the message): none may compute a single loss
    ("loss class", lambda: run_fit(loss_fn=nn.MSELoss), TypeError, r"loss_fn is the class MSELoss.*nn\.MSELoss\(\)"),
    ("train dict", lambda: run_fit(train={"x": torch.ones(4, 3), "y": torch.ones(4, 1)}), TypeError, r"train_loader should be a DataLoader.*got a dict with keys \['x', 'y'\]"),
    ("evaluate dict", lambda: evaluate(nn.Linear(3, 1), counting_mse, {"x": torch.ones(4, 3)}), TypeError, r"got a dict with keys \['x'\]: going over it gives its keys"),
    ("loss not callable", lambda: run_fit(loss_fn="mse"), TypeError, r"loss_fn should be callable.*got str"),
    ("model class", lambda: fit(nn.Linear, counting_mse, None, loader(), 1), TypeError, r"model is the class Linear"),
    ("model not a module", lambda: run_fit(model=lambda x: x, optimizer=object()), TypeError, r"torch.nn.Module"),
    ("no optimizer", lambda: fit(nn.Linear(3, 1), counting_mse, None, loader(), 1), TypeError, r"got NoneType"),
    ("optimizer class", lambda: run_fit(optimizer=torch.optim.SGD), TypeError, r"the class SGD.*model.parameters"),
    ("model as optimizer", lambda: run_fit(optimizer=nn.Linear(3, 1)), TypeError, r"got a model \(Linear\)"),
    ("parameters as optimizer", lambda: run_fit(optimizer=[torch.zeros(1)]), TypeError, r"got list"),
    ("other model's optimizer", lambda: run_fit(optimizer=sgd(nn.Linear(3, 1))), ValueError, r"holds none of this"),
    ("frozen model", lambda: run_fit(model=(m := frozen()), optimizer=sgd(m)), ValueError, r"2 frozen.*requires_grad_\(True\)"),
    ("no parameters, frozen tensors", lambda: run_fit(model=ListOfLayers(), optimizer=sgd(frozen())), ValueError, r"no parameters at all.*ModuleList"),
    ("meta model", lambda: run_fit(model=nn.Linear(3, 1, device="meta")), RuntimeError, r"meta device.*to_empty"),
    ("two devices", lambda: run_fit(model=two_devices()), RuntimeError, r"on one device, but they are on cpu, meta"),
    ("scheduler list", lambda: run_fit(scheduler=[0.1, 0.01]), TypeError, r"scheduler should be .*got list"),
    ("scheduler class", lambda: run_fit(scheduler=StepLR), TypeError, r"the class StepLR.*StepLR\(optimizer"),
    ("scheduler is optimizer", lambda: run_fit(scheduler=sgd(nn.Linear(1, 1))), TypeError, r"got SGD"),
    ("other optimizer's scheduler", lambda: run_fit(scheduler=StepLR(sgd(nn.Linear(3, 1)), 1)), ValueError, r"another"),
    ("history list", lambda: run_fit(history=[0.5, 0.4], start_epoch=2), TypeError, r"dict of lists.*got list"),
    ("history of strings", lambda: run_fit(history={"train_loss": "0.5"}), TypeError, r"dict of lists"),
    ("history disagrees", lambda: run_fit(epochs=5, history={"train_loss": [1.0, 0.5]}), ValueError, r"holds 2 epoch"),
    ("start past epochs", lambda: run_fit(epochs=3, start_epoch=5), ValueError, r"past epochs=3.*epochs=10"),
    ("negative epochs", lambda: run_fit(epochs=-1), ValueError, r"non-negative integer, got -1"),
    ("float epochs", lambda: run_fit(epochs=2.5), ValueError, r"non-negative integer, got 2.5"),
    ("train loader None", lambda: fit(m := nn.Linear(3, 1), counting_mse, sgd(m), None, 1), TypeError, r"got None"),
    ("train loader int", lambda: run_fit(train=7), TypeError, r"train_loader should be a DataLoader.*got int"),
    ("val loader not iterable", lambda: run_fit(val_loader=5), TypeError, r"val_loader should be a DataLoader"),
    ("summed loss, validation", lambda: run_fit(loss_fn=SUMMED, val_loader=loader()), ValueError, r"reduction='sum'.*Use reduction='mean'"),
    ("OneCycleLR too short", lambda: with_scheduler(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.1, total_steps=2), 5), ValueError, r"OneCycleLR was built for total_steps=2.*5 more times.*total_steps=epochs"),
    ("val_loss longer than train_loss", lambda: run_fit(history={"train_loss": [0.5], "val_loss": [1.0, 2.0, 3.0], "lr": [0.1]}, start_epoch=1, val_loader=loader()), ValueError, r"3 epoch\(s\) of val_loss but start_epoch=1"),
    ("lr shorter than train_loss", lambda: run_fit(epochs=3, history={"train_loss": [0.5, 0.4], "lr": [0.1]}, start_epoch=2), ValueError, r"1 epoch\(s\) of lr"),
    ("maximize, SGD", lambda: run_fit(**maximizing(torch.optim.SGD, everywhere=True)), ValueError, r"maximize=True.*climbs the loss.*maximize=False \(the default\)"),
    ("maximize, Adam's second group", lambda: run_fit(**maximizing(torch.optim.Adam)), ValueError, r"maximize=True in parameter group 1.*maximize=False"),
    ("lr None", lambda: tweaked(lr=None), TypeError, r"learning rate is None.*a float such as 0.01"),
    ("lr a string", lambda: tweaked(lr="0.1"), TypeError, r"learning rate is '0.1' \(str\).*without quotes"),
    ("lr True", lambda: tweaked(lr=True), TypeError, r"learning rate is True \(bool\).*a float such as 0.01"),
    ("lr complex", lambda: tweaked(lr=0.1 + 0j), TypeError, r"learning rate is \(0.1\+0j\) \(complex\)"),
    ("lr two values", lambda: tweaked(lr=torch.tensor([0.1, 0.2])), TypeError, r"learning rate is a tensor of shape \(2,\).*a float such as 0.01"),
    ("weight_decay NaN", lambda: tweaked(weight_decay=NAN), ValueError, r"weight_decay is nan.*a finite number"),
    ("tensors as loader and epochs", lambda: fit(m := nn.Linear(3, 1), counting_mse, sgd(m), torch.ones(4, 3), torch.ones(4, 1)), ValueError, r"epochs got a tensor of shape \(4, 1\).*\[\(x, y\)\].*DataLoader\(TensorDataset\(x, y\), batch_size="),
    ("tensor as loader", lambda: run_fit(train=torch.ones(4, 3)), TypeError, r"train_loader is a tensor of shape \(4, 3\), not a loader.*\[\(x, y\)\].*TensorDataset\(x, y\)"),
    ("tensor as model", lambda: fit(torch.ones(4, 3), counting_mse, None, loader(), 1), TypeError, r"model got a tensor of shape \(4, 3\).*\[\(x, y\)\]"),
    ("start_epoch a tensor", lambda: run_fit(epochs=3, start_epoch=torch.tensor(0)), ValueError, r"start_epoch got a tensor holding one number: pass a plain int, start_epoch=0"),
]

WHILE_TRAINING = [  # (id, call, error, words in the message)
    # an optimizer over tensors that are not the model's may train the loss's (a temperature): only a step tells
    ("frozen model, other tensors", lambda: run_fit(model=frozen(), optimizer=sgd(nn.Linear(1, 1))), ValueError, r"the model is frozen.*Unfreeze it"),
    ("no parameters", lambda: run_fit(model=ListOfLayers(), optimizer=sgd(nn.Linear(1, 1))), ValueError, r"no tensor the optimizer holds received a gradient.*no parameters at all.*ModuleList"),
    ("empty list", lambda: run_fit(train=[]), ValueError, r"yielded no batches: check"),
    ("empty dataset", lambda: run_fit(train=loader(n=0)), ValueError, r"dataset is empty \(0 samples\)"),
    ("drop_last too few", lambda: run_fit(train=loader(n=5, drop_last=True)), ValueError, r"drop_last=True.*5 samples"),
    ("(N,1) vs (N,)", lambda: run_fit(train=loader(target_shape=())), ValueError, r"\(8, 1\) but the targets \(8,\).*y.view\(-1, 1\)"),
    ("(N,) vs (N,1)", lambda: run_fit(model=Squeezed()), ValueError, r"\(8,\) but the targets \(8, 1\).*\(8, 8\).*y.view\(-1\)"),
    ("loss not scalar", lambda: run_fit(loss_fn=nn.MSELoss(reduction="none")), ValueError, r"scalar tensor, got \(8, 1\)"),
    ("loss a float", lambda: run_fit(loss_fn=lambda p, t: 0.5), ValueError, r"scalar tensor, got float"),
    ("too many features", lambda: run_fit(train=loader(features=4)), ValueError, r"\(8, 4\), 4 per sample.*in_features=3"),
    ("float64 features", lambda: run_fit(train=loader(dtype=F64)), TypeError, r"x are torch.float64.*x.to\(torch.float32"),
    ("int features", lambda: run_fit(train=tensors(torch.ones(4, 3).long(), torch.ones(4, 1))), TypeError, r"int64.*dtype=torch.float32\)\)\.$"),
    ("float64 targets, BCE", bce_float64_targets, TypeError, r"targets y are torch.float64.*y.to\(torch.float32\)"),
    ("NaN features", lambda: run_fit(train=tensors(torch.full((4, 3), NAN), torch.ones(4, 1))), FloatingPointError, r"x, 6 of 6"),
    ("inf targets", lambda: run_fit(train=tensors(torch.ones(4, 3), torch.full((4, 1), INF))), FloatingPointError, r"y, 2 of 2"),
    ("inf weights", lambda: run_fit(model=infinite_model()), FloatingPointError, r"already NaN.*before this training began\.$"),
    ("NaN validation", lambda: run_fit(val_loader=tensors(torch.ones(2, 3), torch.full((2, 1), NAN))), FloatingPointError, r"validation loss of batch 1.*targets y"),
    ("device bug in forward", lambda: run_fit(model=MakesMetaTensor()), RuntimeError, r"different devices.*\(cpu\).*device=x.device"),
    ("device bug, evaluate", lambda: evaluate(MakesMetaTensor(), nn.MSELoss(), loader()), RuntimeError, r"different devices"),
    ("other device error", lambda: run_fit(model=RaisesOther()), RuntimeError, r"^CUDA error: device-side assert triggered$"),
    ("batch: one tensor", lambda: run_fit(train=not_pairs("tensor")), TypeError, r"a single tensor of shape \(2, 3\).*\(x, y\)"),
    ("batch: dict", lambda: run_fit(train=not_pairs("dict")), TypeError, r"a dict with keys \['x', 'y'\]"),
    ("batch: triple", lambda: run_fit(train=not_pairs("triple")), TypeError, r"a list of 3 item\(s\)"),
    ("batch: pair of str", lambda: run_fit(train=not_pairs("pair_of_str")), TypeError, r"2 item\(s\): tuple, tuple"),
    ("scheduler makes lr negative", lambda: with_scheduler(lambda o: LambdaLR(o, lambda e: -1.0 if e else 1.0), 3), ValueError, r"scheduler LambdaLR set the learning rate to -0.1 after epoch 1"),
    ("scheduler makes lr NaN", lambda: with_scheduler(lambda o: LambdaLR(o, lambda e: NAN if e > 1 else 1.0), 4), ValueError, r"LambdaLR set the learning rate to nan after epoch 2.*Fix the scheduler"),
]

OTHER_FUNCTIONS = [  # evaluate, predict, train_epoch and the step factories get the same checks
    ("evaluate None", lambda: evaluate(nn.Linear(3, 1), nn.MSELoss(), None), TypeError, r"got None.*\[\(x, y\)\]"),
    ("evaluate loss class", lambda: evaluate(nn.Linear(3, 1), nn.MSELoss, loader()), TypeError, r"nn\.MSELoss\(\)"),
    ("evaluate inf weights", lambda: evaluate(infinite_model(), nn.MSELoss(), loader()), FloatingPointError, r"weights are NaN or inf"),
    ("evaluate (N,1) vs (N,)", lambda: evaluate(nn.Linear(3, 1), nn.MSELoss(), loader(target_shape=())), ValueError, r"\(8, 8\)"),
    ("evaluate drop_last", lambda: evaluate(nn.Linear(3, 1), nn.MSELoss(), loader(n=3, drop_last=True)), ValueError, r"drop_last"),
    ("predict list", lambda: predict(nn.Linear(3, 1), [[1.0, 2.0, 3.0]]), TypeError, r"torch.as_tensor"),
    ("predict width", lambda: predict(nn.Linear(3, 1), torch.ones(2, 5)), ValueError, r"5 per sample.*in_features=3"),
    ("predict float64", lambda: predict(nn.Linear(3, 1), torch.ones(2, 3, dtype=F64)), TypeError, r"float64"),
    ("predict meta model", lambda: predict(nn.Linear(3, 1, device="meta"), torch.ones(2, 3)), RuntimeError, r"meta device"),
    ("train_epoch loss class", lambda: train_epoch(m := nn.Linear(3, 1), nn.MSELoss, sgd(m), loader()), TypeError, r"\(\)"),
    ("train_epoch other optimizer", lambda: train_epoch(nn.Linear(3, 1), nn.MSELoss(), sgd(nn.Linear(3, 1)), loader()), ValueError, r"none of this"),
    ("train_epoch None", lambda: epoch_on(None), TypeError, r"loader should be a DataLoader.*got None"),
    ("train_epoch NaN", lambda: epoch_on(tensors(torch.ones(2, 3), torch.full((2, 1), NAN))), FloatingPointError, r"at step 1 .*this epoch"),
    ("train step other optimizer", lambda: make_train_step(nn.Linear(3, 1), nn.MSELoss(), sgd(nn.Linear(3, 1))), ValueError, r"none of"),
    ("train step (N,1) vs (N,)", lambda: step(torch.ones(4, 3), torch.ones(4)), ValueError, r"\(4, 4\)"),
    ("train step float64", lambda: step(torch.ones(4, 3, dtype=F64), torch.ones(4, 1)), TypeError, r"float64"),
    ("val step width", lambda: step(torch.ones(4, 2), torch.ones(4, 1), make_val_step), ValueError, r"2 per sample"),
    ("evaluate summed loss", lambda: evaluate(nn.Linear(3, 1), nn.MSELoss(reduction="sum"), loader()), ValueError, r"evaluate needs a loss that averages.*reduction='mean'"),
    ("train step empty batch", lambda: step(torch.ones(0, 3), torch.ones(0, 1)), ValueError, r"the batch is empty \(0 samples\)"),
    ("val step empty batch", lambda: step(torch.ones(0, 3), torch.ones(0, 1), make_val_step), ValueError, r"the batch is empty"),
    ("train step NaN batch", lambda: step(torch.full((2, 3), NAN), torch.ones(2, 1)), FloatingPointError, r"step was skipped.*features x, 6 of 6"),
    ("val step NaN batch", lambda: step(torch.ones(2, 3), torch.full((2, 1), INF), make_val_step), FloatingPointError, r"loss of this batch is inf.*targets y"),
    ("train step, model moved", moved_after_the_step_was_built, RuntimeError, r"x is on cpu but the model on meta\. Move the batch.*x, y = x.to\(device\), y.to\(device\)"),
    ("val step, meta model", lambda: step_on(nn.Linear(3, 1, device="meta")), RuntimeError, r"x is on cpu but the model on meta"),
    ("train_epoch on (x, y)", lambda: epoch_on((torch.ones(4, 3), torch.ones(4, 1))), TypeError, r"loader is a tuple of 2 tensors, not a loader.*\[\(x, y\)\].*TensorDataset\(x, y\)"),
    ("evaluate on (x, y)", lambda: evaluate(nn.Linear(3, 1), nn.MSELoss(), (torch.ones(4, 3), torch.ones(4, 1))), TypeError, r"loader is a tuple of 2 tensors, not a loader"),
    ("evaluate on an empty generator", lambda: evaluate(nn.Linear(3, 1), nn.MSELoss(), (b for b in [])), ValueError, r"yielded nothing: it is empty, or an earlier pass used it up"),
    ("train_epoch maximize", lambda: climbing("epoch"), ValueError, r"maximize=True.*climbs the loss"),
    ("train step maximize", lambda: climbing("step"), ValueError, r"maximize=True.*climbs the loss"),
    ("epoch_bar of a string", lambda: epoch_bar("3"), ValueError, r"epochs should be a non-negative integer, got '3'"),
    ("epoch_bar start past", lambda: epoch_bar(3, -1), ValueError, r"start_epoch should be a non-negative integer"),
]
# fmt: on


CASES = BEFORE_TRAINING + WHILE_TRAINING + OTHER_FUNCTIONS


@pytest.mark.parametrize(("call", "error", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_an_error_that_names_the_fix(call, error, words):
    with pytest.raises(error, match=words):
        call()


@pytest.mark.parametrize(
    ("call", "error", "words"), [c[1:] for c in BEFORE_TRAINING], ids=[c[0] for c in BEFORE_TRAINING]
)
def test_parts_are_checked_before_any_training(call, error, words):
    CALLS.clear()
    with pytest.raises(error):
        call()
    assert CALLS == []
