"""Checks for lesson 07 (models): a module with registered parameters, predict, the data's device, logistic regression.

They judge what a model *computes* on fresh inputs, that gradients reach its parameters, and watch each call through
a forward hook (which a direct ``model.forward(x)`` skips); the predict probe has Dropout and starts in training mode
(a missing eval() shows; the mode it is left in is the exercise's business). Device answers run on meta, then the CPU."""

import copy
from functools import partial
from types import MethodType

import torch
from torch import nn

from course.checks.engine import Exercise, Guard, Mistake
from course.checks.model_probe import computes
from course.checks.model_probe import untrainable as _untrainable  # logistic_regression's name for it
from course.checks.probes import any_item, randomised
from course.checks.values import close, describe, safe_text
from course.checks.vocabulary import LAYERS_ONLY, MISTAKES


def _watched(program: object, args: tuple, record: object, summary: object = lambda out: out) -> object:
    """The output's ``summary``, the distinct ``record(module, inputs, out)`` of args[0]'s forward passes (which
    model.forward(x) skips), if forward ran (a deep copy has its own), the parameters left frozen; or a non-tensor."""
    seen, model, ran = [], args[0], []
    model.register_forward_hook(lambda m, a, k, out: seen.append(record(m, (*a, *k.values()), out)), with_kwargs=True)
    model.forward = MethodType(lambda self, *a, **k: ran.append(1) or type(self).forward(self, *a, **k), model)
    torch.manual_seed(2)  # the same dropout mask for every program
    out = program(*args)
    return out if not torch.is_tensor(out) else {"output": summary(out), "calls": sorted(set(seen)), "ran": bool(ran),
            "frozen": [name for name, p in model.named_parameters() if not p.requires_grad]}  # fmt: skip


class _Quadratic(nn.Module):
    def __init__(self, size: int = 1, register_c: bool = True, frozen: bool = False) -> None:
        super().__init__()
        self.a, self.b = nn.Parameter(torch.randn(size), requires_grad=not frozen), nn.Parameter(torch.randn(size))
        self.c = nn.Parameter(torch.randn(1)) if register_c else torch.randn(1, requires_grad=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a + self.b * x + self.c * x**2


def _quadratic(make: object, args: tuple) -> object:
    """Parameter sizes, tensors kept as attributes of the instance or the class, forward for x = -1 ... 2 with a, b,
    c set in place to 1.5, -2, 0.5 (a list that holds them sees it too), and the parameters no gradient reaches."""
    if isinstance(make, nn.Module) or not isinstance(model := make(), nn.Module):
        return "an instance" if isinstance(make, nn.Module) else "not a model"
    parameters = dict(model.named_parameters())
    seen = {"sizes": {n: p.numel() for n, p in parameters.items()},
            "unregistered": [n for n, v in vars(model).items() if torch.is_tensor(v) and v.requires_grad],  # a constant: fine
            "in_class": [n for cls in type(model).__mro__ for n, v in vars(cls).items() if torch.is_tensor(v)
                         and v.requires_grad], "stuck": [], "output": None}  # fmt: skip
    if sorted(parameters) != ["a", "b", "c"] or any(p.numel() != 1 for p in parameters.values()):
        return seen  # a guard names it
    for name, value in zip("abc", (1.5, -2.0, 0.5), strict=True):
        parameters[name].data.fill_(value)  # the check's own instance: no graph, and frozen ones too
    out, wide = model(torch.linspace(-1, 2, 5).unsqueeze(1)), torch.tensor([[-40.0], [0.5], [40.0]])
    far = model(wide)  # a forward that changes x in place (x.squeeze_(1), x.clamp_(-10, 10)) changes the caller's x
    return {**seen, "stuck": _untrainable(model, out), "output": out.detach() if torch.is_tensor(out) else out,
            "far": far.detach() if torch.is_tensor(far) else far,  # right for small x only: a clamp, a cut-off
            "in_place": not torch.equal(wide, torch.tensor([[-40.0], [0.5], [40.0]]))}  # fmt: skip


def _stuck(got: dict | list, expected: object) -> str:  # the quadratic's (a dict) or the first logistic model's
    stuck = got["stuck"] if isinstance(got, dict) else next(item["stuck"] for item in got if item["stuck"])
    return (f"no gradient reaches {', '.join(stuck)}, so training could never change it: forward must compute with "
            "every parameter itself (none left out, no .detach(), no torch.no_grad(), no number typed in), and each "
            "must keep requires_grad=True.")  # fmt: skip


_IN_CLASS = "a, b and c are class attributes (declared in the class body), which nn.Module never registers: no \
optimizer sees them, and all instances share them. Declare each in __init__: self.a = nn.Parameter(torch.randn(1))."
_IN_PLACE = "forward changed its input x in place (x /= 10, x.clamp_(-3, 3), x.squeeze_(1)), so the caller's batch \
changed too: write x = x / 10, x = x.clamp(-3, 3), which make new tensors (no /=, += or method ending in _ on x)."
_ONE_NUMBER = "a, b and c should each hold one number: nn.Parameter(torch.randn(1))."
_FIXES = {  # where forward's outputs differ, and the fix: on x = -1 ... 2, or only far out (a clamp, a cut-off)
    "output": ("-1 ... 2", "Check forward's formula and keep x's shape."),
    "far": ("-40, 0.5, 40", "It is right for small x only: compute a + b * x + c * x**2 from x itself, for every x."),
}


def _formula_explained(got: dict, expected: dict) -> str:
    key = "output" if not close(got["output"], expected["output"]) else "far"
    xs, fix = _FIXES[key]
    shown = f"forward gave {describe(got[key])}, not {describe(expected[key])}"
    return f"with a = 1.5, b = -2, c = 0.5 and x = {xs}, {shown}. {fix}"


quadratic_class = Exercise(
    name="quadratic_class", reference=_Quadratic, observe=_quadratic, alternatives=[lambda: _Quadratic().double()],
    guards=[Guard("instance_not_class", lambda got: got == "an instance", nn.Identity()),
        Guard("not_a_model", lambda got: got == "not a model", lambda: 42, "Quadratic() built no nn.Module."),
        Guard("unregistered_parameter", lambda got: bool(got["unregistered"]), partial(_Quadratic, register_c=False)),
        Guard("unregistered_parameter", lambda got: bool(got["in_class"]), type("Quadratic", (_Quadratic,), {  # in
              "__init__": nn.Module.__init__, **{n: nn.Parameter(torch.zeros(1)) for n in "abc"}}), _IN_CLASS),  # the body
        Guard("wrong_parameters", lambda got: sorted(got["sizes"]) != ["a", "b", "c"], lambda: nn.Linear(1, 1)),
        Guard("wrong_shape", lambda got: set(got["sizes"].values()) != {1}, partial(_Quadratic, size=2), _ONE_NUMBER),
        Guard("mutated_input", lambda got: got["in_place"], type("Quadratic", (_Quadratic,), {"forward": lambda self,
              x: _Quadratic.forward(self, x.clamp_(-10, 10))}), _IN_PLACE),  # the caller's x changes too
        Guard("not_backpropagatable", lambda got: bool(got["stuck"]), partial(_Quadratic, frozen=True), _stuck)],
    explain=_formula_explained,
    success="a, b and c are registered parameters, and forward computes a + b x + c x² with shape (N, 1).",
)  # fmt: skip


def _predict(model: nn.Module, x: torch.Tensor, fault: str = "") -> object:  # right, or with the fault (an id) named
    model.train(fault == "no_eval").requires_grad_(fault != "froze_parameters")
    with torch.set_grad_enabled(fault == "no_grad"):
        return {"called_forward": model.forward, "model_not_called": model[0]}.get(fault, model)(x)


def _predicted(program: object, args: tuple) -> object:  # each call's modes: the model's, its Dropout's, grad, a graph
    return _watched(program, args, record=lambda model, inputs, out: (model.training, any(m.training for m in
                    model.modules() if isinstance(m, nn.Dropout)), torch.is_grad_enabled(), torch.is_tensor(out)
                    and out.requires_grad))  # fmt: skip


_TOP_ONLY = "the Dropout inside was still in training mode: assigning model.training = False changes only the top \
module, while model.eval() sets every submodule. Call model.eval()."
_LAYERS_ONLY = LAYERS_ONLY.format("eval", "training", True, "eval")
_UNRECORDED = "gradient tracking was on while the model ran; nothing was recorded only because its parameters were \
frozen at the time. Leave requires_grad alone and wrap the evaluation in `with torch.no_grad():`."
_NOT_CALLED = "the model you were given was never called: a layer of it (model[0](x)), a model of your own or a \
formula with its weights (F.linear(x, model.weight, model.bias)) is not that model. Call model(x): it runs every layer."
_FROZE = "your function left the parameters frozen (model.requires_grad_(False)): the model stays so for good, and \
training it after a prediction silently stops learning. Use `with torch.no_grad():`, which stops only while it runs."
_FAULTS = {  # each fault, seen in the calls the hook noted (_predicted), the layers and parameters
    "model_not_called": (lambda got: not got["calls"] and not got["ran"], _NOT_CALLED),
    "called_forward": (lambda got: not got["calls"], None),
    "froze_parameters": (lambda got: got["frozen"], _FROZE),
    "no_eval": (lambda got: any(top or dropout for top, dropout, *_ in got["calls"]),  # the top module's, Dropout's
                lambda got, _: _TOP_ONLY if any(d and not top for top, d, *_ in got["calls"])
                else _LAYERS_ONLY if not any(d for _, d, *_ in got["calls"]) else MISTAKES["no_eval"]),
    "no_grad": (lambda got: any(grad_enabled for _, _, grad_enabled, _ in got["calls"]),  # and recorded or not
                lambda got, _: MISTAKES["no_grad"] if any(call[3] for call in got["calls"]) else _UNRECORDED),
}  # fmt: skip
predict_function = Exercise(
    name="predict_function", reference=_predict, observe=_predicted,
    inputs=lambda: (randomised(nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1)), seed=1),
                    torch.linspace(-2, 2, 30).reshape(10, 3)),
    guards=[Guard("not_a_tensor", lambda got: not isinstance(got, dict), lambda model, x: 0.5),
            *(Guard(fault, test, partial(_predict, fault=fault), say) for fault, (test, say) in _FAULTS.items())],
    alternatives=[lambda model, x: torch.inference_mode()(lambda: model.train(False)(x))()],
    explain=lambda got, _: f"predict gave {describe(got['output'])}, not model(x) in eval mode: return it as it is.",
    success="eval mode, no gradient tracking, and model(x) so that hooks run.",
)  # fmt: skip
_device_probe = lambda device: (randomised(nn.Linear(4, 1), seed=3), torch.linspace(-1, 1, 24).reshape(6, 4), device)  # noqa: E731


def _on_devices(program: object, args: tuple) -> object:
    """On meta: the output's shape and device, each forward's input's device, the model's; on the CPU: the output."""
    try:  # forward() skips the hook
        on_meta = _watched(program, args, record=lambda model, inputs, out: str(inputs[0].device),
                           summary=lambda out: (tuple(out.shape), str(out.device)))  # fmt: skip
    except Exception as exc:  # the error of reading values on meta is the check's, not the learner's: say what it was
        if _SET_DATA in safe_text(exc):  # p.data = p.data.to(device): set_data refuses a meta tensor for a CPU one
            return {"set data": safe_text(exc)}
        if not any(text in safe_text(exc) for text in _NO_VALUES):
            raise
        return {"read values": safe_text(exc)}
    return on_meta if not isinstance(on_meta, dict) else {**on_meta, "model_on": str(args[0].weight.device),
                                                           "cpu": program(*_device_probe("cpu"))}  # fmt: skip


def _moved_data(model: nn.Module, x: torch.Tensor, device: str) -> torch.Tensor:  # right on a GPU, refused on meta
    for parameter in model.parameters():
        parameter.data = parameter.data.to(device)
    return model(x.to(device))


_NO_VALUES = ("copy out of meta", "meta device type tensor to numpy", "on meta tensors")  # .cpu(), .numpy(), .item()
_SET_DATA = "variable.set_data(tensor)`, but `variable` and `tensor` have incompatible tensor type"
_DATA_MOVE = "your function moved the parameters by assigning p.data = p.data.to(device): the check runs on the meta \
device, where .data = cannot move a tensor (between the CPU and a GPU it can, but buffers stay behind). model.to(device) \
moves every parameter and buffer, onto any device: use it, and keep x = x.to(device)."
_STAY = "your function copied the output off the device or read its values (.cpu(), .item(), .numpy(), .tolist()), \
which the check's device (meta) cannot give: return model(x) as it is, on the device the model computed on."
_KEEP_THE_COPY = "x.to(device) returns a moved copy, leaving x on the CPU (unlike model.to): keep it, x = x.to(device)."
_OUTPUT_MOVED = "the model ran on the CPU and only its output moved: move the model and x, then call model(x) there."
_MODEL_LEFT = "the data went to the device but the model stayed on the CPU: call model.to(device) too."
run_on_device = Exercise(
    name="run_on_device", inputs=lambda: _device_probe("meta"), observe=_on_devices,
    reference=lambda model, x, device: model.to(device)(x.to(device)),
    guards=[Guard("wrong_device", lambda got: isinstance(got, dict) and "read values" in got,
                  lambda model, x, device: model.to(device)(x.to(device)).cpu(), _STAY),  # right values, moved off
            Guard("wrong_device", lambda got: isinstance(got, dict) and "set data" in got, _moved_data, _DATA_MOVE),
            Guard("not_a_tensor", lambda got: not isinstance(got, dict), lambda model, x, device: [0.0]),
            *(Guard(fault, _FAULTS[fault][0], wrong, _FAULTS[fault][1]) for fault, wrong in (  # the right output, but
                ("froze_parameters", lambda model, x, device: model.to(device).requires_grad_(False)(x.to(device))),
                ("model_not_called", lambda model, x, device: x.to(device) @ model.to(device).weight.T + model.bias),
                ("called_forward", lambda model, x, device: model.to(device).forward(x.to(device))))),
            Guard("ignored_argument", lambda got: got["model_on"] == got["output"][1] != "meta", lambda model, x,
                  device: model.to("cpu")(x.to("cpu")), lambda got, _: f"the model and its output stayed on "
                  f"{got['output'][1]}: your function ignored its device argument. Move both there, to `device`.")],
    mistakes=[Mistake("device_mismatch", lambda model, x, device: model.to(device)(x), _KEEP_THE_COPY),  # x.to() lost
        Mistake("device_mismatch", lambda model, x, device: model(x.to(device)), _MODEL_LEFT),
        Mistake("device_mismatch", lambda model, x, device: model(x).to(device), _OUTPUT_MOVED),
        Mistake("moved_a_copy", lambda model, x, device: copy.deepcopy(model).to(device)(x.to(device)))],
    explain=lambda got, expected: f"expected the model's output, of shape (6, 1), on meta; got {got['output'][0]} on "
    f"{got['output'][1]}." if got["output"] != expected["output"] else f"on the CPU your function gave "
    f"{describe(got['cpu'])}, not model(x): use the x and the device it is given.",
    success="model.to moved the model, x = x.to(device) kept the moved data, and model(x) ran there.",
)  # fmt: skip


class _WithSigmoid(nn.Module):  # right; a guard's example passes change(x) to the linear layer, or returns after(p)
    def __init__(self, n_features: int, change: object = None, after: object = None) -> None:
        super().__init__()
        self.change, self.after, self.linear = change, after, nn.Linear(n_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(self.linear(x if self.change is None else self.change(x)))
        return p if self.after is None else self.after(p)


class _Listed(_WithSigmoid):  # right, but the layer is kept in a plain list, where parameters() never sees it
    def __init__(self, n_features: int) -> None:
        super().__init__(n_features)
        self.layers = [self._modules.pop("linear")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.layers[0](x))


_FLAT = "12 examples gave shape (12,), not the (12, 1) column of nn.Linear(n_features, 1): something in forward \
flattened it (.squeeze(), .view(-1), .flatten()). Return the column; reshape flat targets to (N, 1) instead."
_NEW_MODEL = "make_logistic_regression(n_features) must return a model, an instance such as Logistic(n_features)."
_PLAIN = "a weight or bias is a plain tensor attribute: parameters() misses it, so no optimizer would train it. Use \
nn.Linear(n_features, 1), or wrap each tensor in nn.Parameter."
_ONE_TENSOR = "forward must return the probabilities as one tensor: not a tuple or list holding other values too, \
not None (a return statement missing), not a NumPy array or a number (no .numpy(), .item() or .tolist())."
_EXTRA = "your model is a sigmoid of one linear score, but with {} extra parameter{} (for 5 features) beyond its \
weights and bias: a layer too many (layers in a row, two outputs, a scale). Use nn.Linear(n_features, 1), a sigmoid."
logistic_model = Exercise(
    name="logistic_model", reference=_WithSigmoid, observe=computes,
    guards=[Guard("instance_not_class", lambda got: got == "an instance", _WithSigmoid(3)),
        Guard("not_a_model", lambda got: got == "not a model", lambda n: "a model", _NEW_MODEL),
        Guard("wrong_shape", lambda got: got[0]["shape"] == (12,), partial(_WithSigmoid, after=nn.Flatten(0)), _FLAT),
        Guard("wrong_shape", lambda got: got[0]["shape"] != (12, 1), lambda n: nn.Linear(n, 2), lambda got, _:
              f"12 examples gave an output {got[0]['shape']}, not (12, 1): " + (_ONE_TENSOR if isinstance(
              got[0]["shape"], str) else "use nn.Linear(n_features, 1).")),  # a tuple, a list: described
        Guard("mutated_input", any_item(lambda i: i["in_place"]), partial(_WithSigmoid, change=torch.relu_), _IN_PLACE),
        Guard("unregistered_parameter", any_item(lambda item: item["unregistered"]), lambda n: setattr(  # a plain
              model := _WithSigmoid(n), "scale", torch.ones(1, requires_grad=True)) or model, _PLAIN),  # tensor
        Guard("plain_list", any_item(lambda item: item["unlisted"]), _Listed),  # parameters() is empty: say why
        Guard("softmax_one_output", any_item(lambda item: item["softmax"]), partial(_WithSigmoid, after=nn.Softmax(1))),
        Guard("constant_output", any_item(lambda item: item["kind"] == "constant"),
              partial(_WithSigmoid, change=torch.zeros_like)),  # or linear(x) * 0 + bias: x is never used
        Guard("rounded", any_item(lambda item: item["rounded"]), partial(_WithSigmoid, after=torch.round), lambda got, _:
              f"forward rounds the probabilities{max(item['rounded'] for item in got)}: no gradient passes a rounding, "
              "and the loss needs every digit. Return sigmoid(w · x + b) as it is; round only when you print them."),
        Guard("not_backpropagatable", any_item(lambda item: item["stuck"]),
              lambda n: _WithSigmoid(n).requires_grad_(False), _stuck),
        Guard("random_output", any_item(lambda item: item["random"]), partial(_WithSigmoid, change=nn.Dropout(0.2))),
        Guard("batch_dependent", any_item(lambda item: item["batch"]),  # after random_output: two runs differ there too
              partial(_WithSigmoid, change=lambda x: (x - x.mean(0)) / x.std(0))),  # standardised inside forward
        Guard("extra_layer", any_item(lambda item: item["more"]), lambda n: nn.Sequential(  # a hidden layer: before
              nn.Linear(n, 4), nn.ReLU(), nn.Linear(4, 1), nn.Sigmoid())),  # features and bounds dead units can show
        Guard("ignored_feature", any_item(lambda item: item["ignored"]),
              partial(_WithSigmoid, change=lambda x: x[:, :1].expand_as(x))),  # only the first feature, repeated
        Guard("clamped_output", any_item(lambda item: item["clamped"]), partial(_WithSigmoid,  # Hardtanh clamps:
              after=nn.Hardtanh(0.01, 0.99)))],  # probabilities kept within [0.01, 0.99]
    mistakes=[Mistake("no_sigmoid", lambda n: nn.Linear(n, 1)),
              Mistake("sigmoid_first", lambda n: nn.Sequential(nn.Sigmoid(), nn.Linear(n, 1))),
              Mistake("extra_layer", lambda n: nn.Sequential(nn.Linear(n, 4), nn.Sigmoid(), _WithSigmoid(4))),
              Mistake("no_bias", lambda n: nn.Sequential(nn.Linear(n, 1, bias=False), nn.Sigmoid()))],
    alternatives=[lambda n: nn.Sequential(nn.Linear(n, 1), nn.Sigmoid()), lambda n: _WithSigmoid(n).double()],
    explain=lambda got, _: _EXTRA.format(n, "s"[: n > 1]) if (n := got[0]["extra"]) > 0 and {i["kind"] for i in got} ==
    {"probabilities"} else "not sigmoid(w · x + b): use one nn.Linear(n_features, 1), then a sigmoid, nothing else.",
    success="one nn.Linear to one output, then a sigmoid: each example's probability, as logistic regression gives.",
)  # fmt: skip
