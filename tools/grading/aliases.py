"""What the names in a student's cells stand for: imports under another name, and plain assignments of them.

The scan (:mod:`tools.grading.scan`) judges what a cell uses by the dotted name it reaches:
``o.system`` after ``import os as o`` is ``os.system``, ``layers.Linear`` after ``from torch import
nn`` and ``layers = nn`` is ``torch.nn.Linear``. This module reads the cells as the kernel runs them
(after IPython's own transformations) and finds those names; it flags nothing.
"""

from __future__ import annotations

import ast
import threading

_PARSING = threading.Lock()


def parse_cell(code: str) -> ast.Module:
    """The cell as the kernel runs it (:func:`python_source`), parsed, one thread at a time. CPython 3.11 keeps its AST
    builder's recursion depth in state all threads share, and autograde grades submissions in a thread pool: two
    parses at once (a thread switch inside one, by a garbage collection running Python code) could fail with
    "SystemError: AST constructor recursion depth mismatch", a grader error at random."""
    source = python_source(code)
    with _PARSING:
        return ast.parse(source)


def python_source(code: str) -> str:
    """The cell as the kernel runs it: IPython's transformations turn magics and ``!`` into calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(code)
    except Exception:  # noqa: BLE001  (what IPython cannot transform, the kernel cannot run either)
        return code


def leading_blank_lines(code: str) -> int:
    """The blank lines IPython drops from the start of a cell before it runs it (its lines are numbered after them)."""
    return next((i for i, line in enumerate(code.splitlines()) if line.strip()), 0)


def timed_code(magic: str, line: str, cell: str | None) -> list[tuple[int, str]]:
    """The code that ``%time``/``%timeit`` (a line) or ``%%time``/``%%timeit`` (a cell, under the magic's line) run,
    read from the magic's line as IPython's own magics read it (options taken off; ``%%timeit``'s line is its
    setup code): pairs (the cell's line it starts on, counted from the magic's, the code)."""
    from types import SimpleNamespace

    from IPython.core import magic_arguments
    from IPython.core.magic import Magics
    from IPython.core.magics.execution import ExecutionMagics

    try:
        if magic == "time":
            code = " ".join(magic_arguments.parse_argstring(ExecutionMagics.time, line, partial=True)[1])
        else:  # (IPython's option string for timeit, as ExecutionMagics.timeit reads it)
            options = SimpleNamespace(options_table={})
            code = Magics.parse_options(
                options, line, "n:r:tcp:qov:", posix=False, strict=False, preserve_non_opts=True
            )
            code = code[1]
    except (Exception, SystemExit):  # noqa: BLE001  (IPython refuses the line: it runs nothing; scanned as it is)
        code = line
    return [(0, code)] + ([] if cell is None else [(1, cell)])


def dotted_name(node: ast.AST) -> str:
    """``a.b.c`` for ``a.b(...)[0].c``: the names and attributes of an expression, calls and subscripts skipped."""
    parts = []
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
        node = node.func if isinstance(node, ast.Call) else node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def plain_chain(node: ast.AST) -> str | None:
    """``a.b.c`` for a plain chain of names and attributes (no calls, no subscripts), else None."""
    dotted = dotted_name(node)
    return dotted if dotted and ast.unparse(node) == dotted else None


def resolve(node: ast.AST, names: dict[str, str]) -> str:
    """The dotted name with its root replaced by what it stands for in ``names``: ``o.system`` is ``os.system``."""
    root, dot, rest = dotted_name(node).partition(".")
    return names.get(root, root) + dot + rest


def _parsed(codes: list[str]) -> list[ast.Module]:
    trees = []
    for code in codes:
        try:
            trees.append(parse_cell(code))
        except (SyntaxError, ValueError):
            continue
    return trees


def _aliases_assigned(trees: list[ast.Module], names: dict[str, str]) -> bool:
    """Add ``m`` for ``m = torch.nn`` (and ``o, s = os, sys``); True when something new was learned."""
    learned = False
    for node in (n for tree in trees for n in ast.walk(tree) if isinstance(n, ast.Assign)):
        for target in node.targets:
            pairs = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts, strict=False))
            for name, value in pairs:
                chain = plain_chain(value)
                root, dot, rest = (chain or "").partition(".")
                if isinstance(name, ast.Name) and root in names and name.id not in names:
                    names[name.id], learned = names[root] + dot + rest, True
    return learned


def imported_names(codes: list[str], known: dict[str, str] | None = None) -> dict[str, str]:
    """Every name an import binds in these cells, and every name assigned one of those, with what it stands for.

    Example:
        >>> imported_names(["import os as o, sys", "from torch import nn", "layers = nn"])
        {'o': 'os', 'sys': 'sys', 'nn': 'torch.nn', 'layers': 'torch.nn'}
    """
    trees, names = _parsed(codes), dict(known or {})
    for node in (n for tree in trees for n in ast.walk(tree)):
        if isinstance(node, ast.Import):
            names |= {
                a.asname or a.name.split(".")[0]: a.name if a.asname else a.name.split(".")[0] for a in node.names
            }
        elif isinstance(node, ast.ImportFrom):
            names |= {
                a.asname or a.name: f"{node.module or ''}.{a.name}".lstrip(".") for a in node.names if a.name != "*"
            }
    while _aliases_assigned(trees, names):
        pass
    return names


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _targets_of(node: ast.AST) -> list[ast.AST]:
    """What an assignment, ``for``, ``with`` or ``:=`` binds; nothing for other statements."""
    if isinstance(node, ast.Assign):
        return node.targets
    if isinstance(node, ast.With):
        return [item.optional_vars for item in node.items if item.optional_vars]
    return [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.NamedExpr)) else []


def assigned_in(body: list[ast.AST]) -> set[str]:
    """The names a function body binds itself, nested functions and classes left out, less those an import or
    ``global`` binds: its own variables, whatever they are called (Python makes them local to the function)."""
    nodes, found = [n for n in body if not isinstance(n, _SCOPES)], []
    while nodes:
        found.append(node := nodes.pop())
        nodes.extend(child for child in ast.iter_child_nodes(node) if not isinstance(child, _SCOPES))
    imported = [
        a.asname or a.name.split(".")[0] for n in found if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names
    ]
    declared = [name for n in found if isinstance(n, ast.Global | ast.Nonlocal) for name in n.names]
    return binds([target for node in found for target in _targets_of(node)]) - set(imported) - set(declared)


def binds(targets: list[ast.AST]) -> set[str]:
    """The names assignment targets bind (``a, (b, *c) = ...``), not those they read (``x[i] = ...``)."""
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
