"""Reading and executing the lesson notebooks (shared by the tests and the benchmarks)."""

from __future__ import annotations

import ast
import builtins
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
_IN_NOTEBOOKS = {"metadata": {"path": str(NOTEBOOK_DIR)}}  # cells run with the notebooks folder as cwd
SOLUTION = re.compile(r"<details>.*?```python\n(.*?)```.*?</details>", re.DOTALL)


def lesson_paths() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def tags(cell: nbformat.NotebookNode) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def output_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


@dataclass(frozen=True)
class Exercise:
    """An exercise: the stub cell, the check cell after it, and the hidden solution's code."""

    stub: int
    check: int
    solution: str


def exercises(nb: nbformat.NotebookNode) -> list[Exercise]:
    """Find each cell tagged ``exercise``; its check is the next code cell, its solution the next markdown."""
    found = []
    cells = nb.cells
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or "exercise" not in tags(cell):
            continue
        check = next((j for j in range(i + 1, len(cells)) if cells[j].cell_type == "code"), None)
        solution_cell = next((j for j in range(i + 1, len(cells)) if cells[j].cell_type == "markdown"), None)
        match = SOLUTION.search(cells[solution_cell].source) if solution_cell is not None else None
        found.append(Exercise(i, check if check is not None else -1, match.group(1) if match else ""))
    return found


def _names(source: str) -> tuple[set[str], set[str]]:
    """The names a cell binds and the names it reads (after IPython turns its magics into Python)."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return set(), set()
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return bound, read - set(dir(builtins))


def needed_cells(nb: nbformat.NotebookNode, wanted: list[int], follow: bool = True) -> list[int]:
    """The first code cell, the ``wanted`` cells, and (``follow``) every earlier code cell binding a name they read.

    A slice of the lesson that runs as the whole lesson would, as far as names go (a cell that changes
    an object in place without binding a name is not followed: a check that needs it fails, and
    then the caller runs the whole lesson).
    """
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    names = {i: _names(nb.cells[i].source) for i in code}
    keep, todo = set(), [code[0], *wanted]
    while todo:
        cell = todo.pop()
        if cell in keep:
            continue
        keep.add(cell)
        todo += [i for i in code if follow and i < cell and names[i][0] & names[cell][1]]
    return sorted(keep)


@contextmanager
def kernel(timeout: int = 120) -> Iterator[Callable[[list], list]]:
    """One kernel in the notebooks folder for several batches of cells: ``run(cells)`` executes them in turn
    (an error becomes the cell's output) and returns them; the kernel lives until the ``with`` ends."""
    nb = nbformat.v4.new_notebook()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True, resources=_IN_NOTEBOOKS)

    def run(cells: list) -> list:
        start = len(nb.cells)
        nb.cells.extend(cells)
        for index in range(start, len(nb.cells)):
            client.execute_cell(nb.cells[index], index)
        return nb.cells[start:]

    with client.setup_kernel():
        yield run


def execute(nb: nbformat.NotebookNode, timeout: int = 120, allow_errors: bool = False) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in the notebooks folder (raises-exception cells may raise). The kernel talks over
    local sockets in a private folder (IPC), as in `make notebooks`, not over TCP."""
    with tempfile.TemporaryDirectory() as sockets:
        kernel = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(nb, km=kernel, timeout=timeout, allow_errors=allow_errors, resources=_IN_NOTEBOOKS)
        return client.execute(cleanup_kc=True)  # shut the kernel down: the client does not own this manager


def run_cells(*sources: str, allow_errors: bool = False) -> list:
    """Run code cells with these sources in a fresh kernel, as a notebook would: the executed cells."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    return execute(nb, allow_errors=allow_errors).cells


def _integral_floats_as_ints(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(item) for item in value]
    return value


def normalize_widget_state(path: Path) -> bool:
    """Store widget state as JupyterLab saves it, so opening and saving a lesson changes nothing.

    ipywidgets' Float traits are written as ``30.0``; JupyterLab (JavaScript has one number type)
    saves them back as ``30``. Returns whether the file changed.
    """
    nb = read(path)
    widgets = nb.metadata.get("widgets")
    if not widgets:
        return False
    normalized = _integral_floats_as_ints(widgets)
    if normalized == widgets and json.dumps(normalized) == json.dumps(widgets):
        return False
    nb.metadata["widgets"] = normalized
    nbformat.write(nb, path)
    return True


def joined_streams(outputs: list) -> list:
    """``outputs`` with each run of stream outputs of one name (stdout, stderr) joined into one: how the kernel
    splits a cell's prints depends on the machine's timing, never on the code.

    >>> joined_streams([{"output_type": "stream", "name": "stdout", "text": "a\\n"},
    ...                 {"output_type": "stream", "name": "stdout", "text": "b\\n"}])
    [{'output_type': 'stream', 'name': 'stdout', 'text': 'a\\nb\\n'}]
    """
    joined: list = []
    for output in outputs:
        before = joined[-1] if joined else {}
        if output.get("output_type") == before.get("output_type") == "stream" and output["name"] == before["name"]:
            before["text"] = "".join(before["text"]) + "".join(output["text"])
        else:
            joined.append(output)
    return joined


def normalize_streams(path: Path) -> bool:
    """Join the split stream outputs of every code cell (:func:`joined_streams`). Returns whether the file changed."""
    nb, changed = read(path), False
    for cell in nb.cells:
        if cell.cell_type == "code" and len(joined := joined_streams(cell.outputs)) != len(cell.outputs):
            cell.outputs, changed = joined, True
    if changed:
        nbformat.write(nb, path)
    return changed


if __name__ == "__main__":  # python -m tools.notebooks normalize NOTEBOOK...
    import sys

    if sys.argv[1:2] != ["normalize"]:
        sys.exit("usage: python -m tools.notebooks normalize NOTEBOOK...")
    for name in sys.argv[2:]:
        if normalize_widget_state(Path(name)):
            print(f"{name}: widget state stored as JupyterLab saves it")
        if normalize_streams(Path(name)):
            print(f"{name}: split print outputs joined")
