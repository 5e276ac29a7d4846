"""What a returned model's parameters compute, for the graders of the training tasks (03): :func:`own_predictions`,
shipped whole into the probes (``grader.helper``), also imported from :mod:`tools.grading.watch`."""


def own_predictions(model, x):  # noqa: C901  (shipped whole into the probes: ``grader.helper(own_predictions)``)
    """What the model's parameters compute for ``x``, never by the model's forward where that is the student's, nor
    by a parameter's own dispatch (a tensor subclass's ``__torch_function__``: read as plain tensors, dispatch off): an
    nn.Linear's output is computed here from its weight and bias (``x @ weight.T + bias``, whatever nn.Linear.forward
    is now), other torch.nn layers (in nn.Sequential) run torch's own forward, hooks left out, if they hold no buffers
    (BatchNorm's running statistics: values no backward pass sets, so none the check of values set after training
    sees) and their forward is torch's code (one replaced, on a private base class too, is the audit's to report); a
    model of two one-element parameters (an nn.Linear(1, 1) in a class of the student's) is the line of their values,
    read either way. For another model, a sentence saying why its predictions cannot be told from its parameters.
    (A layer's settings changed after training, LeakyReLU's ``negative_slope``..., are ``backward_watch``'s to find.)"""
    import os

    import torch
    from torch import nn

    torch_code = os.path.join(os.path.dirname(torch.__file__), "")

    class Refused(Exception):  # why the grader cannot read the model's line from its parameters
        pass

    def plain(p):
        return None if p is None else torch.Tensor.as_subclass(p, torch.Tensor).detach()

    def run(module, x):
        kind = type(module)
        if kind is nn.Sequential:
            for child in module:
                x = run(child, x)
            return x
        if kind is not getattr(nn, kind.__name__, None):
            raise Refused("the model is neither an nn.Linear(1, 1) nor torch.nn layers in an nn.Sequential")
        own = {name: plain(p) for name, p in module.named_parameters(recurse=False)}
        if kind is nn.Linear:  # x @ weight.T + bias, as 04's check of an nn.Linear(30, 1) computes it
            weight, bias = own.get("weight"), own.get("bias")
            if weight is None:  # (its weight deleted: not a line the grader can read)
                raise Refused("the model's nn.Linear has no weight")
            out = x.to(weight.dtype) @ weight.T
            return out if bias is None else out + bias
        held = [name for name, _ in module.named_buffers(recurse=False)]
        if held:
            raise Refused(f"the model's {kind.__name__} holds buffers ({', '.join(held)}), which no backward pass sets")
        code = getattr(kind.forward, "__code__", None)
        if code is None or not code.co_filename.startswith(torch_code):
            raise Refused(f"the model's {kind.__name__} runs a forward that is not torch's own")
        return kind.forward(module, x.to(next(iter(own.values())).dtype) if own else x)

    with torch.no_grad(), torch._C.DisableTorchFunctionSubclass():
        try:
            return [run(model, x).double()]
        except (Refused, TypeError) as why:  # (a TypeError: torch's forward refused what it was given)
            params = [plain(p).double().flatten() for p in model.parameters()]
            if len(params) != 2 or any(p.numel() != 1 for p in params):
                return str(why) if isinstance(why, Refused) else f"the model's layers refused the input ({why})"
        x = x.double()
        return [params[0] * x + params[1], params[1] * x + params[0]]
