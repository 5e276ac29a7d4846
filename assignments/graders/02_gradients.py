"""Hidden checks of assignment 02_gradients: the student's functions on fresh inputs, decided outside the kernel.

See tools/grading/spec.py for how a grader is written. The probes below run in the student's kernel;
everything else runs in the teacher's grading process.
"""

from __future__ import annotations

import numpy as np
import torch

from tools.grading.autograd_watch import watched
from tools.grading.spec import Grader, computed, real, require
from tools.grading.watch import as_written, reseed, settled

NOISE = 0.1


def _line(rng: np.random.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    a, b = rng.uniform(0.5, 1.5), rng.uniform(1.5, 2.5)
    x = rng.uniform(0, 1, size=(n, 1))
    y = a + b * x + rng.normal(0, NOISE, size=(n, 1))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), a, b


def make_inputs(rng: np.random.Generator) -> tuple[dict, dict]:
    """Fresh inputs for each probe, and what the checks need to know about them (the true lines)."""
    small = int(rng.integers(5, 10))
    x, y = (torch.tensor(rng.normal(size=(small, 1)), dtype=torch.float32) for _ in range(2))
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
    other = [float(rng.uniform(-1, 1)), float(rng.uniform(-2, 2))]  # drawn last: the draws above stay what they were
    other += [torch.tensor(rng.normal(size=(small, 1)), dtype=torch.float32) for _ in range(2)]
    inputs["mse_gradients"]["other"] = tuple(other)  # a, b, x, y: another input, for the form's check
    return inputs, {**inputs, "line": (a, b)}


grader = Grader(make_inputs)
for helper in (settled, reseed, as_written, watched):  # watched: the autograd a call runs (Task 1 forbids it)
    grader.helper(helper)


# ------------------------------------------------------------------------------- probes (in the kernel)
@grader.probe
def mse_gradients(inputs, ns):
    found, given = {}, [inputs[key] for key in "abxy"]
    for key, (a, b, x, y) in (("value", given), ("other", inputs["other"]), ("again", given)):
        reseed(inputs["seed"])  # the same random numbers for every call: only the input differs, or nothing
        found[key], seen = watched(ns["mse_gradients"], a, b, x.clone(), y.clone())
        found.setdefault("autograd", seen)  # (the first call's)
    return found


@grader.probe
def gradient_descent_steps(inputs, ns):
    reseed(inputs["seed"])
    value, seen = watched(ns["gradient_descent"], inputs["x"], inputs["y"], inputs["lr"], inputs["epochs"])
    return {"value": value, "autograd": seen}


@grader.helper
def plain_number(value, kind):
    """``value`` as a plain float (kind "real") or int (kind "integer"): a NumPy number or a one-element tensor
    too, as ``LR = np.float64(0.5)`` or ``LR = torch.tensor(0.5)`` work wherever a number does; else its type's name."""
    import numbers

    import torch

    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype.is_complex:
        value = value.item()  # a bool tensor gives a bool, refused below
    wanted = numbers.Real if kind == "real" else numbers.Integral
    if isinstance(value, wanted) and not isinstance(value, bool):
        return float(value) if kind == "real" else int(value)
    return repr(type(value).__name__) if kind == "real" else type(value).__name__


@grader.probe
def gradient_descent_target(inputs, ns):
    lr, epochs = plain_number(ns.get("LR"), "real"), plain_number(ns.get("EPOCHS"), "integer")
    if not isinstance(epochs, int) or not 0 < epochs <= 1000 or not isinstance(lr, float):
        return {"LR": lr, "EPOCHS": epochs}
    fit, _ = watched(ns["gradient_descent"], inputs["x"], inputs["y"], lr, epochs)  # watched like the others
    return {"LR": lr, "EPOCHS": epochs, "fit": fit}


@grader.probe
def diverging_lr(inputs, ns):
    return plain_number(ns.get("DIVERGING_LR"), "real")


# ------------------------------------------------------------------------------- checks (outside)
def _pair(got, what: str) -> tuple[float, float]:
    require(isinstance(got, (tuple, list)) and len(got) == 2, f"{what} returned {got!r:.60}, expected a pair")
    values = [real(v) for v in got]  # any real numbers, as the visible tests compute with them
    require(None not in values, f"{what} returned {got!r:.60}, expected two numbers")
    return values[0], values[1]


def _watched_whole(seen: dict, what: str) -> None:  # lost: torch.compile compiling inside the call replays its trace
    require(not seen.get("lost"), f"the grader could not watch {what} (torch.compile inside it?): compile outside it")
    require(not seen["unwatched"], f"{what} switched off the grader's watch (sys.setprofile / sys.settrace)")


def _close(got: tuple[float, float], want: tuple[float, float], tol: float) -> bool:
    return all(abs(g - w) <= tol * max(1.0, abs(w)) for g, w in zip(got, want, strict=True))


@grader.check("test_mse_gradients_types", "mse_gradients")
def _(results, secrets):
    got = results["mse_gradients"]["value"]
    require(
        isinstance(got, tuple) and len(got) == 2 and all(isinstance(v, float) for v in got),
        f"mse_gradients returned {got!r:.60}, expected a pair of Python floats",
    )
    other, again = results["mse_gradients"]["other"], results["mse_gradients"]["again"]
    computed(got, other, again, "mse_gradients", "compute the gradients from a, b, x and y")


@grader.check("test_mse_gradients_values", "mse_gradients")
def _(results, secrets):
    given = secrets["mse_gradients"]
    x, y = given["x"].double(), given["y"].double()
    error = given["a"] + given["b"] * x - y
    want = (2 * error.mean()).item(), (2 * (error * x).mean()).item()
    got = _pair(results["mse_gradients"]["value"], "mse_gradients")
    require(
        _close(got, want, 1e-4),
        f"on new data mse_gradients gave {got[0]:.4f}, {got[1]:.4f}; expected {want[0]:.4f}, {want[1]:.4f}",
    )
    seen = results["mse_gradients"]["autograd"]
    _watched_whole(seen, "mse_gradients")
    require(
        seen["engine"] == 0 and seen["forward"] == 0 and seen["graph"] == 0 and not seen["losses"],
        "mse_gradients gets the numbers from autograd (backward(), torch.autograd.grad, forward-mode, torch.func's "
        "grad, jacrev or jvp, or the nodes of its graph, grad_fn); Task 1 asks for the two formulas, computed "
        "without autograd",
    )
    require(
        not seen.get("formulas"),
        "mse_gradients calls autograd's own derivative formulas (torch.ops.aten's *_backward operators, such as "
        "mse_loss_backward); Task 1 asks for the two formulas, written and computed by your own code",
    )
    require(
        not seen.get("traced"),
        "mse_gradients runs code generated from a traced graph (torch.fx's make_fx, functorch's aot_function, "
        "torch.export, a torch.compile backend's graph: autograd's gradients written out as plain operations); Task 1 "
        "asks for the two formulas, computed by your own code without autograd",
    )


def _descend(x: torch.Tensor, y: torch.Tensor, lr: float, epochs: int) -> tuple[tuple[float, float], list[float]]:
    """The line after ``epochs`` steps from a = b = 0, and the MSE loss at the start of each epoch."""
    x, y = x.double().flatten(), y.double().flatten()
    a, b, losses = 0.0, 0.0, []
    for _ in range(epochs):
        error = a + b * x - y
        losses.append(error.pow(2).mean().item())
        a, b = a - lr * 2 * error.mean().item(), b - lr * 2 * (error * x).mean().item()
    return (a, b), losses


@grader.check("test_gradient_descent_steps", "gradient_descent_steps")
def _(results, secrets):
    given = secrets["gradient_descent_steps"]
    want, losses = _descend(given["x"], given["y"], given["lr"], given["epochs"])
    got = _pair(results["gradient_descent_steps"]["value"], "gradient_descent")
    require(
        _close(got, want, 1e-3),
        f"{given['epochs']} steps with lr={given['lr']:.3f} on new data gave a={got[0]:.4f}, "
        f"b={got[1]:.4f}; expected a={want[0]:.4f}, b={want[1]:.4f}",
    )
    seen = results["gradient_descent_steps"]["autograd"]
    _watched_whole(seen, "gradient_descent")
    found = [v for v, use in zip(seen["losses"], seen.get("used", []), strict=False) if use and isinstance(v, float)]
    done = sum(any(abs(v - w) <= 1e-3 * max(1.0, w) for v in found) for w in losses)  # each epoch's MSE, and used
    require(
        done == given["epochs"] and seen["engine"] >= given["epochs"],
        f"in {given['epochs']} epochs gradient_descent ran backward on the MSE loss of the current line and used the "
        f"gradients it gave (a.grad, b.grad) in {done}: Task 2 asks to update a and b with the gradients from "
        "autograd at every epoch (loss.backward()), not with Task 1's formulas",
    )


@grader.check("test_gradient_descent_target", "gradient_descent_target")
def _(results, secrets):
    got = results["gradient_descent_target"]
    epochs = got.get("EPOCHS") if isinstance(got, dict) else None
    require(isinstance(epochs, int) and 0 < epochs <= 1000, f"EPOCHS must be an integer from 1 to 1000, got {epochs!r}")
    require(isinstance(got.get("LR"), float), f"LR must be a number, got a value of type {got.get('LR')}")
    a, b = _pair(got.get("fit"), "gradient_descent")
    given = secrets["gradient_descent_target"]
    want, _ = _descend(given["x"], given["y"], float(got["LR"]), epochs)
    require(  # the point is for LR and EPOCHS: the line must be the one their gradient descent reaches
        _close((a, b), want, 1e-3),
        f"with LR={got['LR']} and EPOCHS={epochs} gradient_descent gave a={a:.4f}, b={b:.4f} on new data; "
        f"{epochs} steps of gradient descent reach a={want[0]:.4f}, b={want[1]:.4f}",
    )
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
    _, losses = _descend(torch.as_tensor(data.x_train), torch.as_tensor(data.y_train), lr, 21)  # 20 steps
    require(
        not losses[-1] <= losses[0],
        f"with lr={lr} the training loss went from {losses[0]:.4f} to {losses[-1]:.4g}: it does not grow",
    )
