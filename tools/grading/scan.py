"""A static scan of every cell the student wrote, for code that alters the kernel or reaches outside it.

Flags are *signals* for the teacher, not verdicts: the scan reads the code as the kernel runs it (magics, ``!``),
follows names to what they stand for (:mod:`tools.grading.aliases`: ``o.system`` after ``import os as o``) and
names each use of what :mod:`tools.grading.flagged` lists. A function's own names are its own, whatever they are.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tools.grading.aliases import (
    assigned_in,
    binds,
    dotted_name,
    imported_names,
    leading_blank_lines,
    parse_cell,
    plain_chain,
    resolve,
)
from tools.grading.flagged import (
    BY_NAME,
    CALLS,
    DOTTED,
    DUNDERS,
    FILE_ANY,
    FILE_LIBRARY,
    FUTURE_OK,
    GETTERS,
    HARMLESS,
    HISTORY,
    JOBS,
    LIBRARIES,
    MEMBERS,
    MODULE_CATEGORY,
    NAMES,
    PATCHERS,
    REACHED,
    borrows_an_answer,
    harmless,
    os_or_sys,
    star_category,
    torch_machinery,
)
from tools.grading.scan_calls import Calls


@dataclass(frozen=True)
class Finding:
    """One flagged use: its category, the cell (label) and line, and what was used."""

    category: str
    label: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.category}: {self.what} (cell {self.label}, line {self.line})"


class _Scanner(Calls, ast.NodeVisitor):
    def __init__(self, label: str, aliases: dict[str, str]) -> None:
        self.label, self.aliases, self.found, self.allowed, self.judged = label, aliases, [], set(), set()
        self.roots: set[int] = set()  # no value, where a module is: ``os.getcwd``, ``getattr(np, ...)``, ``m = os``
        self.params: list[set[str]] = [set()]  # the parameters of the functions around (a method's ``self`` left out)
        self.methods: set[int] = set()  # the functions a class defines (their first parameter is the instance)
        self.imported: set[str] = set()  # the names ``import`` binds in the cell: modules, whatever their names
        self.own: list[set[str]] = [set()]  # names a function or comprehension binds itself (``def f(course)``)
        self.mine: list[set[str]] = [set()]  # names surely bound by the student where read (else ``_i`` is IPython's)

    def flag(self, category: str, node: ast.AST, what: str) -> None:
        self.found.append(Finding(category, self.label, getattr(node, "lineno", 0), what))

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        self.own[-1] -= {a.asname or a.name.split(".")[0] for a in node.names}  # the name is a module's again
        if isinstance(node, ast.ImportFrom):  # (module, what the name will stand for)
            if node.module == "__future__":  # barry_as_FLUFL: later cells compile otherwise (``1 <> 0``)
                for name in {a.name for a in node.names} - FUTURE_OK:
                    self.flag("kernel", node, f"from __future__ import {name} (it changes how later cells compile)")
            imports = [(node.module or "", f"{node.module or ''}.{a.name}") for a in node.names]
            if any(a.name == "*" for a in node.names) and (category := star_category(node.module or "")):
                self.flag(category, node, f"from {node.module} import * (names the scan cannot follow)")
        else:
            imports = [(a.name, a.name if a.asname else a.name.split(".")[0]) for a in node.names]
            self.imported |= {a.asname or a.name.split(".")[0] for a in node.names}
        self._imported_machinery(node)  # from torch import _C, import torch.utils._python_dispatch as d
        self._graders_module(node, [name for name, _ in imports])  # import __grading__ (the auditor is there)
        names = [name for name, bound in imports if not harmless(bound)]  # import traceback: judged where used
        for name in names:  # import torch.multiprocessing as tmp: a module reached through another is in the name
            first, *rest = name.split(".")
            found = [MODULE_CATEGORY.get(name), MODULE_CATEGORY.get(first), *(REACHED.get(part) for part in rest)]
            if any(found):
                self.flag(next(filter(None, found)), node, f"import {name}")
        if isinstance(node, ast.ImportFrom) and node.module:  # from torch.hub import json, from numpy import save
            for alias in node.names:
                self._member(node.module, alias.name, node, assigned=False, from_module=True)
        borrowed = [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else names
        for name in filter(borrows_an_answer, borrowed):
            self.flag("course_answer", node, f"import of {name}")

    visit_ImportFrom = visit_Import

    def _course(self, node: ast.Name | ast.Attribute) -> None:
        """Judge the whole chain ``course.training.fit`` once, not its parts ``course.training`` and ``course``."""
        if id(node) in self.judged:
            return
        inner = node
        while isinstance(inner, ast.Attribute):
            inner = inner.value
            self.judged.add(id(inner))
        if isinstance(inner, ast.Name) and (inner.id in self.own[-1] or not isinstance(inner.ctx, ast.Load)):
            return  # the student's own variable that happens to share the package's name, or the name being bound
        dotted = resolve(node, self.aliases)
        if borrows_an_answer(dotted):
            self.flag("course_answer", node, dotted)
        elif dotted == "course" and isinstance(node, ast.Name):  # passed around, its attributes reached later
            self.flag("course_answer", node, "the course package used as a value")

    def _scope(self, node: ast.AST, bound: set[str], body: list[ast.AST], outer: list[ast.AST]) -> None:
        """Visit ``outer`` (defaults, decorators, the first iterable) here and ``body`` with ``bound`` as own names."""
        for part in outer:
            self.visit(part)
        self.own.append(self.own[-1] | bound)
        self.mine.append(self.mine[-1] | bound)
        for part in body:
            self.visit(part)
        self.own.pop(), self.mine.pop()

    def visit_Module(self, node: ast.Module) -> None:
        for statement in node.body:  # ``In, Out = 30, 1`` at the top of a cell: the student's own from here on
            self.visit(statement)
            if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
                self.mine[0] |= binds(statement.targets if isinstance(statement, ast.Assign) else [statement.target])

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:  # the loop's names are the student's in the loop
        self._scope(node, binds([node.target]), [node.target, *node.body], [node.iter])
        for part in node.orelse:  # (after it, only if the loop ran: ``_i`` may still be IPython's)
            self.visit(part)

    visit_AsyncFor = visit_For

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        arguments = node.args
        parameters = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
        bound = {a.arg for a in parameters if a is not None}
        body = node.body if isinstance(node.body, list) else [node.body]
        bound |= assigned_in(body)
        decorators = getattr(node, "decorator_list", [])
        method = id(node) in self.methods and "staticmethod" not in map(dotted_name, decorators)
        first = [a.arg for a in [*arguments.posonlyargs, *arguments.args][:1] if method]  # self, cls: the instance's
        self.params.append(self.params[-1] | {a.arg for a in parameters if a is not None} - set(first))
        self.defs = [*getattr(self, "defs", []), getattr(node, "name", "<lambda>")]
        self._scope(node, bound, body, [*decorators, *arguments.defaults, *filter(None, arguments.kw_defaults)])
        self.params.pop()
        self.defs.pop()

    visit_AsyncFunctionDef = visit_Lambda = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.methods |= {id(item) for item in node.body if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)}
        self._mode_class(node)
        self.generic_visit(node)

    def visit_ListComp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        first, *rest = node.generators
        bound = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        results = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        inner = [first.target, *first.ifs, *(p for g in rest for p in (g.target, g.iter, *g.ifs)), *results]
        self._scope(node, bound, inner, [first.iter])

    visit_SetComp = visit_GeneratorExp = visit_DictComp = visit_ListComp

    def visit_Constant(self, node: ast.Constant) -> None:
        name = node.value.strip() if isinstance(node.value, str) else ""
        self._graders_module(node, [name])  # sys.modules["__grading__"], importlib.import_module("__grading_audit__")
        if DOTTED.fullmatch(name) and borrows_an_answer(name):  # pydoc.locate("course.training.fit")
            self.flag("course_answer", node, f"the name {name!r}")
        elif name in ("num_workers", *JOBS):  # DataLoader(data, **{"num_workers": 2}), setattr(loader, ...)
            self.flag("process", node, f"worker threads or processes ({name!r})")

    def visit_Name(self, node: ast.Name) -> None:
        self._course(node)
        if id(node) in self.allowed:
            return
        exits = node.id in ("exit", "quit") and (node.id in self.own[-1] or not isinstance(node.ctx, ast.Load))
        if node.id in CALLS and node.id not in NAMES:
            self.flag(CALLS[node.id], node, f"{node.id}()")
        elif node.id in NAMES and not exits:  # (a student's own ``quit = False``)
            self.flag(NAMES[node.id], node, node.id)
        elif node.id.startswith("__grading"):
            self.flag("kernel", node, f"the grader's own {node.id}")
        elif node.id in BY_NAME or self.aliases.get(node.id) in GETTERS:  # reduce(getattr, ...), f = setattr
            self.flag("introspection", node, f"{node.id} used as a value")
        elif HISTORY.fullmatch(node.id) and isinstance(node.ctx, ast.Load) and node.id not in self.mine[-1]:
            self.flag("kernel", node, f"the kernel's input/output history ({node.id})")
        else:
            self._module_value(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._course(node)
        self._module_value(node)
        self.roots.add(id(node.value))
        assigned = isinstance(node.ctx, (ast.Store, ast.Del))
        delegated = node.attr in ("__enter__", "__exit__") and getattr(self, "defs", [])[-1:] == [node.attr]
        if node.attr in DUNDERS and not delegated:  # a context manager's own __enter__ may enter the one it wraps
            self.flag("introspection", node, f".{node.attr}")
        elif assigned and node.attr.startswith("__") and node.attr.endswith("__"):  # x.__class__ = Other
            self.flag("monkeypatch", node, f"assigns .{node.attr}")
        if resolve(node, self.aliases) in GETTERS and id(node) not in self.allowed:
            self.flag("introspection", node, f"{resolve(node, self.aliases)} used as a value")
        if assigned and node.attr == "num_workers":  # a loader's workers set after it is made
            self.flag("process", node, "DataLoader worker processes (.num_workers)")
        root, base = dotted_name(node.value).split(".")[0], resolve(node.value, self.aliases)
        if base in HARMLESS and plain_chain(node.value) and root in self.aliases and root not in self.own[-1]:
            self.allowed.add(id(node.value))  # traceback.print_exc: a harmless member; traceback.walk_stack: not
            if node.attr not in HARMLESS[base]:
                self.flag(MODULE_CATEGORY[base.split(".")[0]], node, f"{base}.{node.attr}")
        self._attribute(node.value, node.attr, node, assigned)
        self.generic_visit(node)

    def _attribute(self, value: ast.AST, attr: str, node: ast.AST, assigned: bool) -> None:
        """``value.attr`` (or ``getattr(value, "attr")``): a member of os or sys, a module reached through another."""
        reached, root = resolve(value, self.aliases), dotted_name(value).split(".")[0]
        module = reached.rsplit(".", 1)[-1] if self._through_modules(value) else reached
        if module in ("os", "sys"):
            self._module_attr(module, attr, node, assigned)
        else:
            self._anywhere(reached, attr, node, assigned)
        from_module = root in self.aliases and root not in self.own[-1]
        self._member(reached, attr, node, assigned, from_module)
        if torch_machinery(reached, attr):  # model._forward_hooks, torch._C: torch's machinery, whatever the root
            self.flag("introspection", node, f"{reached}.{attr}")

    def _member(self, reached: str, attr: str, node: ast.AST, assigned: bool, from_module: bool) -> None:
        """``attr`` of the module ``reached`` (``from_module``): another module, file I/O, os or sys members."""
        if from_module and attr in REACHED:
            self.flag(REACHED[attr], node, f"{reached}.{attr} (the {attr} module, reached through another)")
        if from_module and (f"{reached}.{attr}" in MODULE_CATEGORY or attr in MEMBERS):  # sklearn.utils.parallel
            self.flag(MODULE_CATEGORY.get(f"{reached}.{attr}") or MEMBERS[attr], node, f"{reached}.{attr}")
        if attr in FILE_ANY or (from_module and attr in FILE_LIBRARY and reached.split(".")[0] in LIBRARIES):
            self.flag("filesystem", node, f"{reached}.{attr}")
        if from_module and reached == "functools" and attr in PATCHERS:  # update_wrapper(torch, fake, ("allclose",))
            self.flag("monkeypatch", node, f"functools.{attr} (it sets attributes on what it is given)")
        if from_module and reached in ("os", "sys"):
            self._module_attr(reached, attr, node, assigned)

    def _through_modules(self, node: ast.AST) -> bool:
        """``torch.os`` or ``np.sys``: a chain of attributes from an imported name, with no call on the way."""
        chain = plain_chain(node)
        return chain is not None and "." in chain and chain.split(".")[0] in self.aliases

    def _module_attr(self, module: str, attr: str, node: ast.AST, assigned: bool) -> None:
        if category := os_or_sys(module, attr, assigned):
            self.flag(category, node, f"{module}.{attr}")

    def _targets(self, targets: list[ast.AST], node: ast.AST) -> None:
        for target in targets:
            self._parameter_stores(target, node)
            for sub in ast.walk(target):
                if isinstance(sub, (ast.Attribute, ast.Subscript)):
                    dotted, root = resolve(sub, self.aliases), dotted_name(sub).split(".")[0]
                    if (
                        root in self.aliases
                        and root not in self.own[-1]
                        and not dotted.startswith(("os.environ", "sys.stdout", "sys.stderr"))
                    ):
                        self.flag("monkeypatch", node, f"assigns {dotted}")
                    elif dotted in ("sys.stdout", "sys.stderr"):
                        self.flag("kernel", node, f"replaces {dotted}")
                    break

    def visit_Assign(self, node: ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete) -> None:
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        self._targets(targets, node)
        self._followed(node, targets)
        self.generic_visit(node)
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):  # In += [...] reads In
            self.visit_Name(ast.copy_location(ast.Name(node.target.id, ast.Load()), node.target))
        if len(self.own) == 1 and isinstance(node, ast.Assign | ast.AnnAssign) and plain_chain(node.value) is None:
            self.own[0] |= binds(targets)  # from here on

    visit_AugAssign = visit_AnnAssign = visit_Delete = visit_Assign


def scan_cell(code: str, label: str, modules: dict[str, str] | set[str], after: bool = False) -> list[Finding]:
    """The findings in one student cell; ``modules`` are the names imports bind in the whole notebook; ``after``: an
    earlier cell was flagged (``from __future__ import barry_as_FLUFL``: the kernel may then run what Python's parser
    refuses, so a cell or timed code that does not parse is flagged ``unparsed``; else it raises SyntaxError there)."""
    try:
        tree = parse_cell(code)
    except (SyntaxError, ValueError) as error:  # unread, yet the kernel may run it (after barry_as_FLUFL: ``1 <> 0``)
        why = f"the cell does not parse as Python ({getattr(error, 'msg', error)}): the scan could not read it"
        return [Finding("unparsed", label, getattr(error, "lineno", 0) or 0, why)] if after else []
    known = modules if isinstance(modules, dict) else {name: name for name in modules}
    scanner = _Scanner(label, imported_names([code], known))
    scanner.tree, scanner.after = tree, after
    scanner.visit(ast.increment_lineno(tree, leading_blank_lines(code)))
    return sorted(set(scanner.found), key=lambda f: (f.line, f.category, f.what))
