"""Hidden checks of assignment 02_gradients: the student's functions on fresh inputs, decided outside the kernel.

See tools/grading/spec.py for how a grader is written. The probes below run in the student's kernel;
everything else runs in the teacher's grading process.
"""

from __future__ import annotations

import numpy as np
import torch

from tools.grading.spec import Grader, require

NOISE = 0.1


def _line(rng: np.random.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    a, b = rng.uniform(0.5, 1.5), rng.uniform(1.5, 2.5)
    x = rng.uniform(0, 1, size=(n, 1))
    y = a + b * x + rng.normal(0, NOISE, size=(n, 1))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), a, b


def make_inputs(rng: np.random.Generator) -> tuple[dict, dict]:
    """Fresh inputs for each probe, and what the checks need to know about them (the true lines)."""
    small = int(rng.integers(5, 10))
    x, y = (
        torch.tensor(rng.normal(size=(small, 1)), dtype=torch.float32),
        torch.tensor(rng.normal(size=(small, 1)), dtype=torch.float32),
    )
    steps_x, steps_y, _, _ = _line(rng, int(rng.integers(4, 8)))
    train_x, train_y, a, b = _line(rng, 80)
    inputs = {
        "mse_gradients": {"a": float(rng.uniform(-1, 1)), "b": float(rng.uniform(-2, 2)), "x": x, "y": y},
        "gradient_descent_steps": {
            "x": steps_x,
            "y": steps_y,
            "lr": float(rng.uniform(0.05, 0.2)),
            "epochs": int(rng.integers(3, 6)),
        },
        "gradient_descent_target": {"x": train_x, "y": train_y},
        "diverging_lr": {},
    }
    inputs["autograd_use"] = {
        "mse_gradients": inputs["mse_gradients"],
        "gradient_descent": inputs["gradient_descent_steps"],
    }
    return inputs, {**inputs, "line": (a, b)}


grader = Grader(make_inputs)


# ------------------------------------------------------------------------------- probes (in the kernel)
@grader.probe
def mse_gradients(inputs, ns):
    return ns["mse_gradients"](inputs["a"], inputs["b"], inputs["x"].clone(), inputs["y"].clone())


@grader.probe
def gradient_descent_steps(inputs, ns):
    return ns["gradient_descent"](inputs["x"], inputs["y"], inputs["lr"], inputs["epochs"])


@grader.probe
def gradient_descent_target(inputs, ns):
    lr, epochs = ns.get("LR"), ns.get("EPOCHS")
    if type(epochs) is not int or not 0 < epochs <= 1000 or type(lr) not in (int, float):
        return {"LR": lr if type(lr) in (int, float) else None, "EPOCHS": epochs if type(epochs) is int else None}
    return {"LR": lr, "EPOCHS": epochs, "fit": ns["gradient_descent"](inputs["x"], inputs["y"], lr, epochs)}


@grader.probe
def autograd_use(inputs, ns):
    """For each function, how many backward passes it ran on its inputs: Task 1 none, Task 2 one per epoch."""
    import sys

    import torch

    # Tensor.backward and torch.func.grad end in these two; a profile hook sees them even where torch's
    # function modes are switched off (torch._C.DisableTorchFunction)
    backward = {torch.autograd.backward.__code__, torch.autograd.grad.__code__}
    calls = {
        "mse_gradients": lambda given: (given["a"], given["b"], given["x"].clone(), given["y"].clone()),
        "gradient_descent": lambda given: (given["x"], given["y"], given["lr"], given["epochs"]),
    }
    passes = {}
    for name, arguments in calls.items():
        count = [0]

        def note(frame, event, arg, count=count):
            count[0] += event == "call" and frame.f_code in backward

        sys.setprofile(note)
        try:
            ns[name](*arguments(inputs[name]))
        except Exception:  # noqa: BLE001  (the function's own probe reports its error)
            pass
        finally:
            sys.setprofile(None)
        passes[name] = count[0]
    return passes


@grader.probe
def diverging_lr(inputs, ns):
    value = ns.get("DIVERGING_LR")
    return value if type(value) in (int, float) else repr(type(value).__name__)


# ------------------------------------------------------------------------------- checks (outside)
def _pair(got, what: str) -> tuple[float, float]:
    require(isinstance(got, (tuple, list)) and len(got) == 2, f"{what} returned {got!r:.60}, expected a pair")
    require(all(isinstance(v, (int, float)) for v in got), f"{what} returned {got!r:.60}, expected two numbers")
    return float(got[0]), float(got[1])


def _close(got: tuple[float, float], want: tuple[float, float], tol: float) -> bool:
    return all(abs(g - w) <= tol * max(1.0, abs(w)) for g, w in zip(got, want, strict=True))


@grader.check("test_mse_gradients_types", "mse_gradients")
def _(results, secrets):
    got = results["mse_gradients"]
    require(
        isinstance(got, tuple) and len(got) == 2 and all(isinstance(v, float) for v in got),
        f"mse_gradients returned {got!r:.60}, expected a pair of Python floats",
    )


@grader.check("test_mse_gradients_values", "mse_gradients", "autograd_use")
def _(results, secrets):
    given = secrets["mse_gradients"]
    x, y = given["x"].double(), given["y"].double()
    error = given["a"] + given["b"] * x - y
    want = (2 * error.mean()).item(), (2 * (error * x).mean()).item()
    got = _pair(results["mse_gradients"], "mse_gradients")
    require(
        _close(got, want, 1e-4),
        f"on new data mse_gradients gave {got[0]:.4f}, {got[1]:.4f}; expected {want[0]:.4f}, {want[1]:.4f}",
    )
    require(
        results["autograd_use"]["mse_gradients"] == 0,
        "mse_gradients gets the right numbers from autograd (backward() or torch.autograd.grad); "
        "Task 1 asks for the two formulas, computed without autograd",
    )


def _descend(x: torch.Tensor, y: torch.Tensor, lr: float, epochs: int) -> tuple[float, float]:
    x, y = x.double().flatten(), y.double().flatten()
    a = b = 0.0
    for _ in range(epochs):
        error = a + b * x - y
        a, b = a - lr * 2 * error.mean().item(), b - lr * 2 * (error * x).mean().item()
    return a, b


@grader.check("test_gradient_descent_steps", "gradient_descent_steps", "autograd_use")
def _(results, secrets):
    given = secrets["gradient_descent_steps"]
    want = _descend(given["x"], given["y"], given["lr"], given["epochs"])
    got = _pair(results["gradient_descent_steps"], "gradient_descent")
    require(
        _close(got, want, 1e-3),
        f"{given['epochs']} steps with lr={given['lr']:.3f} on new data gave a={got[0]:.4f}, "
        f"b={got[1]:.4f}; expected a={want[0]:.4f}, b={want[1]:.4f}",
    )
    passes = results["autograd_use"]["gradient_descent"]
    require(
        passes >= given["epochs"],
        f"gradient_descent ran {passes} backward pass(es) in {given['epochs']} epochs: Task 2 asks for the gradients "
        "from autograd at every epoch (loss.backward()), not from Task 1's formulas",
    )


@grader.check("test_gradient_descent_target", "gradient_descent_target")
def _(results, secrets):
    got = results["gradient_descent_target"]
    epochs = got.get("EPOCHS") if isinstance(got, dict) else None
    require(isinstance(epochs, int) and 0 < epochs <= 1000, f"EPOCHS must be an integer from 1 to 1000, got {epochs!r}")
    a, b = _pair(got.get("fit"), "gradient_descent")
    true_a, true_b = secrets["line"]
    grid = torch.linspace(0, 1, 1001, dtype=torch.float64)
    expected_mse = NOISE**2 + ((a - true_a) + (b - true_b) * grid).pow(2).mean().item()
    require(
        expected_mse < 0.015,
        f"with LR={got.get('LR')} and EPOCHS={epochs} on new data, the line's expected "
        f"validation MSE is {expected_mse:.4f}, not below 0.015",
    )


@grader.check("test_diverging_lr", "diverging_lr")
def _(results, secrets):
    lr = results["diverging_lr"]
    require(isinstance(lr, (int, float)) and 0 < lr <= 10, f"DIVERGING_LR must be a number in (0, 10], got {lr!r}")
    from course.data import make_linear_data  # the notebook's own training data: this answer is a number

    data = make_linear_data(n=100, a=1.0, b=2.0, noise=0.1, seed=42)
    x, y = torch.as_tensor(data.x_train, dtype=torch.float64), torch.as_tensor(data.y_train, dtype=torch.float64)
    a = b = torch.zeros((), dtype=torch.float64)
    losses = []
    for _ in range(21):
        error = a + b * x - y
        losses.append(error.pow(2).mean().item())
        a, b = a - lr * 2 * error.mean(), b - lr * 2 * (error * x).mean()
    require(
        not losses[-1] <= losses[0],
        f"with lr={lr} the training loss went from {losses[0]:.4f} to {losses[-1]:.4g}: it does not grow",
    )
