"""Hidden checks of assignment 01_tensors: the student's functions on fresh inputs, decided outside the kernel.

See tools/grading/spec.py for how a grader is written. The probes below run in the student's kernel;
everything else runs in the teacher's grading process."""

from __future__ import annotations

import numpy as np
import torch

from tools.grading.call_watch import call_watch
from tools.grading.spec import Grader, computed, real, require, same
from tools.grading.watch import UNWATCHED, as_written, reseed, settled


def make_inputs(rng: np.random.Generator) -> tuple[dict, dict]:
    """Fresh inputs for each probe, and what the checks need to know about them."""
    ints = rng.integers(-50, 50, size=int(rng.integers(4, 9))).tolist()
    floats = rng.normal(0, 10, size=int(rng.integers(3, 8)))  # NumPy float64, as in the task
    cols = int(rng.integers(3, 5))
    x = rng.normal(size=(int(rng.integers(7, 12)), cols)) * rng.uniform(0.5, 20, cols) + rng.uniform(-10, 10, cols)
    rows = int(rng.integers(3, 7))
    a, b = rng.uniform(-2, 2), rng.uniform(0.5, 3)
    line_x = rng.uniform(0, 1, size=(int(rng.integers(40, 80)), 1))
    line_y = a + b * line_x + rng.normal(0, 0.1, size=line_x.shape)
    other_x = rng.normal(size=x.shape) * 5  # drawn last, so the draws above stay what they were
    other_y = rng.uniform(2, 4) - b * line_x + rng.normal(0, 0.1, size=line_x.shape)  # another line
    wide = int(rng.integers(50, 201))  # columns: more than code unrolled by hand, column by column, covers
    f32 = torch.float32
    inputs = {
        "to_column": {"ints": ints, "floats": floats},
        "standardize": {"x": torch.tensor(x, dtype=f32), "other": torch.tensor(other_x, dtype=f32), "wide": wide},
        "move_batch": {"x": torch.rand(rows, cols), "y": torch.rand(rows, 1)},
        "fit_line": {
            "x": torch.tensor(line_x, dtype=f32),
            "y": torch.tensor(line_y, dtype=f32),
            "y_other": torch.tensor(other_y, dtype=f32),
        },
    }
    return inputs, inputs  # the inputs travel as text: the originals stay here, untouched


grader = Grader(make_inputs)
for helper in (settled, reseed, as_written, call_watch):
    grader.helper(helper)


# ------------------------------------------------------------------------------- probes (in the kernel)
@grader.probe
def to_column(inputs, ns):
    ints = settled(ns["to_column"](list(inputs["ints"])))  # each call read by settled: a torch mode it left stops it
    return {"ints": ints, "floats": settled(ns["to_column"](inputs["floats"].copy()))}


@grader.probe
def standardize(inputs, ns):  # noqa: C901  (a probe ships whole: its helpers live inside it)
    import contextlib
    import gc
    import sys
    import threading

    import torch
    from torch.overrides import TorchFunctionMode

    libraries = (sys.prefix, sys.base_prefix, sys.exec_prefix)
    cells = ("<cell ", "<ipython-input-")  # the notebook's cells run here (ipykernel's are files in a temp folder)
    generated = ("/site-packages/", "/dist-packages/", "/torchinductor_")  # libraries', and torch.compile's code
    count, hits, off = [0, 0], {}, [False]  # lines, torch calls (function calls: call_watch); runs per line; hooks lost

    class Count(TorchFunctionMode):  # torch functions called, even from builtins (map(torch.mean, columns))
        def __torch_function__(self, func, types, args=(), kwargs=None):
            count[1] += 1
            return func(*args, **(kwargs or {}))

    def own(frame):  # the student's code: the cells' (and files' of their own), not a library's, nor compiled text,
        name = getattr(frame, "f_code", None) and frame.f_code.co_filename  # nor what torch.compile writes
        return isinstance(name, str) and (
            name.startswith(cells)
            or not (name.startswith(("<", *libraries)) or any(part in name for part in generated))
        )

    def text(frame):  # code compiled from a string (exec, timeit): the student's too, for the hits; not the imports'
        name = getattr(frame, "f_code", None) and frame.f_code.co_filename  # (frozen) nor the grader's own code
        return isinstance(name, str) and name.startswith("<") and not name.startswith(("<frozen", "<probe", "<grader"))

    def trace(frame, event, arg):  # the lines of the student's own code run, and how often each
        mine = own(frame)
        if not (mine or text(frame)):
            return None  # a library, or frozen code (the imports')
        if event == "line":
            count[0] += mine
            hits[frame.f_code, frame.f_lineno] = hits.get((frame.f_code, frame.f_lineno), 0) + 1
        return trace

    profile, restart, calls = call_watch(own, {Count.__torch_function__.__code__})  # the function calls it makes

    def watched(x):  # every call is watched, and judged: a loop runs more lines or calls on more columns
        count[:] = [0, 0]
        hits.clear()
        restart()
        collecting = gc.isenabled()
        gc.disable()  # no finalizers run by a collection in the count
        with as_written():  # a function compiled with torch.compile runs its own lines, the cell's
            threading.settrace(trace)  # threads the call starts are traced too (a pool's per-column work)
            sys.settrace(trace)
            sys.setprofile(profile)
            try:
                with Count():
                    result = settled(ns["standardize"](x))  # a lazy result's deferred work runs now, watched
            finally:
                off[0] |= sys.gettrace() is not trace or sys.getprofile() is not profile  # gone, or never installed
                sys.setprofile(None)
                sys.settrace(None)
                threading.settrace(None)
                if collecting:
                    gc.enable()
        return result, (count[0], count[1], calls(), max(hits.values(), default=0))

    x = inputs["x"]
    reseed(inputs["seed"])  # the same random numbers for every call: only the input differs, or nothing
    result, work = watched(x.clone())
    kept = x.clone()
    reseed(inputs["seed"])
    second, _ = watched(kept)
    # what the input holds now, read without letting it answer for itself (a Tensor subclass could show other values)
    after = torch.tensor(torch.Tensor.tolist(kept), dtype=torch.float32) if type(kept) is torch.Tensor else None
    reseed(inputs["seed"])
    other, _ = watched(inputs["other"].clone())
    shapes = [torch.rand(rows, cols) * 100 for rows, cols in ((4, 2), (4, 7), (9, 2), (6, inputs["wide"]))]
    sized = [(t, *watched(t.clone())) for t in shapes[:3]] + [(shapes[3], None, None)]  # no near-constant column
    with contextlib.suppress(Exception):  # code unrolled by hand for a fixed number of columns fails on the widest
        sized[3] = (shapes[3], *watched(shapes[3].clone()))
    found = {"result": result, "second": second, "input_after": after, "other": other, "unwatched": off[0]}
    return {**found, "sized": [(t, got) for t, got, _ in sized], "work": [w for _, _, w in sized] + [work]}


@grader.probe
def move_batch(inputs, ns):
    import torch

    x, y = inputs["x"], inputs["y"]
    found = {"moved": settled(ns["move_batch"](x, y, torch.device("meta")))}  # (read as to_column's, then the inputs)
    found["inputs_on"] = [x.device.type, y.device.type]
    return {**found, "on_cpu": settled(ns["move_batch"](x.clone(), y.clone(), torch.device("cpu")))}


@grader.probe
def fit_line(inputs, ns):
    found = {}
    for key, y in (("fit", "y"), ("other", "y_other"), ("again", "y")):  # the same random numbers for every call
        reseed(inputs["seed"])
        found[key] = settled(ns["fit_line"](inputs["x"].clone(), inputs[y].clone()))
    return found


# ------------------------------------------------------------------------------- checks (outside)
# A cell that checks a form (a dtype, an input left alone, a pair of floats) also needs an answer computed from
# the input: a different input must give a different answer, and the same input the same answer (the random
# numbers seeded alike), so a constant (torch.zeros(1), zeros_like(x), (0.0, 0.0)), a draw (random.random()) or a
# count of the calls earns nothing there, while any honest attempt, right or wrong, keeps the point.
def _holds(got: torch.Tensor, values) -> bool:
    """Whether ``got`` holds the numbers ``values``, in order, whatever its shape."""
    expected = torch.tensor(np.asarray(values, dtype=np.float64)).flatten()
    flat = got.detach().double().flatten()
    return flat.shape == expected.shape and torch.allclose(flat, expected, rtol=1e-6, atol=1e-5)


def _column(got, values, name):
    require(isinstance(got, torch.Tensor), f"to_column({name}) returned {type(got).__name__}, expected a tensor")
    n = len(values)
    require(
        tuple(got.shape) == (n, 1), f"to_column({name}) of {n} numbers has shape {tuple(got.shape)}, expected ({n}, 1)"
    )
    require(_holds(got, values), f"to_column({name}) changed the values")


@grader.check("test_to_column_shape", "to_column")
def _(results, secrets):
    got, given = results["to_column"], secrets["to_column"]
    _column(got["ints"], given["ints"], "a list of ints")
    _column(got["floats"], given["floats"], "a float64 NumPy array")


@grader.check("test_to_column_dtype", "to_column")
def _(results, secrets):
    for key, name in (("ints", "a list of ints"), ("floats", "a float64 NumPy array")):
        got = results["to_column"][key]
        dtype = getattr(got, "dtype", type(got).__name__)
        require(dtype == torch.float32, f"to_column({name}) has dtype {dtype}, expected torch.float32")
        n = len(secrets["to_column"][key])
        require(_holds(got, secrets["to_column"][key]), f"to_column({name}) is float32 but not the {n} numbers given")


def _standardizes(got, x: torch.Tensor) -> bool:
    """Whether ``got`` is ``x``'s columns centred and scaled to a std of 1 within 1e-3 (either convention), as the
    visible test asks: an epsilon in the variance (BatchNorm's 1e-5) scales a column by a little less than 1."""
    if not (isinstance(got, torch.Tensor) and got.shape == x.shape):
        return False
    got, x = got.double(), x.double()
    for correction in (0, 1):
        want = (x - x.mean(dim=0)) / x.std(dim=0, correction=correction)
        scale = (got * want).sum(dim=0) / want.pow(2).sum(dim=0)  # each column's factor, by least squares
        if (scale - 1).abs().max() <= 1e-3 and torch.allclose(got, want * scale, rtol=1e-4, atol=1e-4):
            return True
    return False


@grader.check("test_standardize_columns", "standardize")
def _(results, secrets):
    x, got = secrets["standardize"]["x"], results["standardize"]["result"]
    require(
        isinstance(got, torch.Tensor) and got.shape == x.shape,
        f"standardize returned {getattr(got, 'shape', type(got).__name__)} for a tensor of shape {tuple(x.shape)}",
    )
    means = got.double().mean(dim=0).abs().max().item()
    why = f"on a new {tuple(x.shape)} tensor the columns are not standardized (largest |column mean| {means:.3g})"
    require(_standardizes(got, x), why)
    for given, found in results["standardize"]["sized"]:
        require(_standardizes(found, given), f"on a new {tuple(given.shape)} tensor the columns are not standardized")
    require(not results["standardize"].get("unwatched"), UNWATCHED.format("standardize"))  # the counts below need it
    work = results["standardize"]["work"]  # the calls counted on the sizes tried after three warm-up calls, x last
    most = work[1][3]  # the most times one line of the student's code (or of text it compiled) ran, on 4 x 7
    require(
        most < 7,
        f"a line of your code ran {most} times in one call on a 4 x 7 tensor: a Python loop over the columns (padded to "
        "a fixed count, a comprehension, map or functools.reduce with a function of yours are loops too); Task 2 asks "
        "for broadcasting (x.mean(dim=0), x.std(dim=0)), no loops",
    )
    require(
        len({w[:2] for w in work}) == 1 and len({w[2] for w in work[:3]}) == 1,
        f"standardize runs (lines of your code, torch calls, function calls) {work[0][:3]} on a 4 x 2 tensor, "
        f"{work[1][:3]} on 4 x 7, {work[2][:3]} on 9 x 2, {work[3][:2]} on 6 x {secrets['standardize']['wide']} and "
        f"{work[4][:2]} on {tuple(x.shape)}: a loop (a function applied per column by map, a comprehension, or a "
        "library function it is handed to: np.apply_along_axis, np.vectorize); Task 2 asks for broadcasting, no loops",
    )


@grader.check("test_standardize_keeps_input", "standardize")
def _(results, secrets):
    x, got = secrets["standardize"]["x"], results["standardize"]
    require(
        isinstance(got["second"], torch.Tensor) and got["second"].shape == x.shape,
        "standardize did not return a tensor of its input's shape",
    )
    after = got["input_after"]
    require(
        isinstance(after, torch.Tensor) and torch.equal(after, x),
        "standardize changed its input tensor in place (or turned it into another type of tensor)",
    )
    require(not same(got["second"], x), "standardize returned its input unchanged, expected the standardized tensor")
    computed(got["second"], got["other"], got["result"], "standardize", "compute the result from the input")


@grader.check("test_move_batch", "move_batch")
def _(results, secrets):
    got, given = results["move_batch"], secrets["move_batch"]
    moved = got["moved"]
    require(
        isinstance(moved, tuple) and len(moved) == 2, f"move_batch returned {type(moved).__name__}, expected a pair"
    )
    require(
        all(isinstance(t, torch.Tensor) and t.device.type == "meta" for t in moved),
        "move_batch did not return both tensors on the requested device (keep what .to(device) returns)",
    )
    shapes = [tuple(t.shape) for t in moved]
    require(shapes == [tuple(given["x"].shape), tuple(given["y"].shape)], f"move_batch changed the shapes: {shapes}")
    require(got["inputs_on"] == ["cpu", "cpu"], "move_batch moved its input tensors instead of returning new ones")
    on_cpu = got["on_cpu"]  # meta tensors hold no values: moved to the CPU, the values must be the inputs'
    pairs = (
        list(zip(on_cpu, (given["x"], given["y"]), strict=True)) if type(on_cpu) is tuple and len(on_cpu) == 2 else []
    )
    require(
        pairs and all(isinstance(t, torch.Tensor) and t.device.type == "cpu" and torch.equal(t, w) for t, w in pairs),
        "moved to the CPU, move_batch did not return the tensors it was given (their values must travel with them)",
    )


@grader.check("test_fit_line_types", "fit_line")
def _(results, secrets):
    got, other = results["fit_line"]["fit"], results["fit_line"]["other"]
    require(
        isinstance(got, tuple) and len(got) == 2 and all(isinstance(v, float) for v in got),
        f"fit_line returned {got!r:.60}, expected a pair of Python floats (a, b)",
    )
    computed(got, other, results["fit_line"]["again"], "fit_line", "fit the x and y given")


@grader.check("test_fit_line_target", "fit_line")
def _(results, secrets):
    x, y = secrets["fit_line"]["x"].double(), secrets["fit_line"]["y"].double()
    best = torch.linalg.lstsq(torch.cat([torch.ones_like(x), x], dim=1), y).solution.flatten().tolist()
    got = results["fit_line"]["fit"]
    require(isinstance(got, (tuple, list)) and len(got) == 2, "fit_line did not return a pair (a, b)")
    a, b = (real(v) for v in got)
    require(a is not None and b is not None, f"fit_line returned {got!r:.60}, expected two numbers (a, b)")
    require(
        abs(a - best[0]) < 1e-3 and abs(b - best[1]) < 1e-3,
        f"on new data fit_line gave a={a:.4f}, b={b:.4f}; the least-squares line is a={best[0]:.4f}, b={best[1]:.4f}",
    )
