"""The scan's judgement of calls (:mod:`tools.grading.scan`): magics and the code the timing magics run, shell
commands, ``getattr`` and its twins by name, parallel jobs and DataLoader workers; and of what may reach a module
where the scan cannot follow it: a module used as a value, members judged by name, a parameter's attributes."""

from __future__ import annotations

import ast
import re

from tools.grading.aliases import (
    dotted_name,
    leading_blank_lines,
    parse_cell,
    plain_chain,
    resolve,
    timed_code,
)
from tools.grading.flagged import (
    ANY_ROOT,
    BY_NAME,
    DUNDERS,
    GETTERS,
    HARMLESS,
    JOBS,
    MAGICS_OK,
    MODES,
    MODULE_CATEGORY,
    MODULE_VALUES,
    REACHED,
    STREAM_OK,
    STREAMS,
    TIMED,
    TIMEIT_CODE,
    parameter_attribute,
    reached_by_name,
    torch_machinery,
)


class Calls:
    """A mixin of the scanner: ``flag``, ``aliases``, ``allowed``, ``roots``, ``params``, ``own``, ``found``,
    ``tree``, ``after`` (an earlier cell was flagged) and ``_attribute`` are the scanner's."""

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        self.roots.add(id(func))
        if isinstance(func, ast.Name) and func.id in ("exit", "quit"):  # IPython's exit(): its shell is not reached
            self.allowed.add(id(func))
        if isinstance(func, ast.Attribute) and dotted_name(func.value) == "get_ipython":
            self._ipython(func, node)
        if isinstance(func, ast.Name) and func.id in BY_NAME and len(node.args) >= 2:
            self._by_name(func.id, node)
            self.allowed.add(id(func))
            if resolve(node.args[0], self.aliases) not in HARMLESS:  # getattr(traceback, ...): any of its members
                self.roots.add(id(node.args[0]))  # hasattr(torch, "compile"): the module is no value here
        elif isinstance(func, (ast.Name, ast.Attribute)) and resolve(func, self.aliases) in GETTERS:
            self._getter(resolve(func, self.aliases), node)
            self.allowed.add(id(func))
        elif isinstance(func, (ast.Name, ast.Attribute)) and resolve(func, self.aliases) in TIMEIT_CODE:
            self._timeit(resolve(func, self.aliases), node)
        self._workers(func, node)
        self.generic_visit(node)

    def _mode_class(self, node: ast.ClassDef) -> None:
        """``class M(TorchFunctionMode)``: a torch mode sees every torch call made while it is active, the grader's own
        reading of the results too (entered by hand, it stays active after the cell)."""
        for base in node.bases:
            if resolve(base, self.aliases).rsplit(".", 1)[-1] in MODES:
                self.flag("introspection", node, f"a torch mode ({node.name}({ast.unparse(base)}))")

    def _imported_machinery(self, node: ast.Import | ast.ImportFrom) -> None:
        """``from torch import _C``, ``import torch.utils._python_dispatch as d``, ``from torch.overrides import
        _pop_mode``: torch's private machinery or global hooks, imported (bound to a name the scan does not judge)."""
        paths = [f"{node.module or ''}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else []
        for path in paths or [a.name for a in node.names]:
            parts = path.split(".")
            if any(torch_machinery(".".join(parts[:i]), part) for i, part in enumerate(parts) if i):
                self.flag("introspection", node, f"import of {path}")

    def _graders_module(self, node: ast.AST, names: list[str]) -> None:
        """``import __grading__``, ``from __grading_audit__ import NOTED``, ``sys.modules["__grading__"]`` (the name
        as text): the grader's own modules in the kernel, its wire and its auditor (whose record of what changed
        during the probes a cell could clear, whose checks it could replace), are no student's to reach."""
        for name in names:
            if re.fullmatch(r"__grading\w*(\.\w+)*", name.strip()):
                self.flag("kernel", node, f"the grader's own module {name.strip()}")

    def _ipython(self, func: ast.Attribute, node: ast.Call) -> None:
        """A magic (IPython's transformation of ``%time``), a shell command (of ``!ls``)."""
        magic = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
        texts = [a.value for a in node.args[1:3] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if func.attr in ("run_line_magic", "run_cell_magic") and magic in MAGICS_OK:
            self.allowed.add(id(func.value.func))
            if magic in TIMED and texts and len(texts) == len(node.args[1:3]):
                for offset, text in timed_code(magic, texts[0], texts[1] if len(texts) > 1 else None):
                    self._timed(magic, text, node.lineno + offset, node)
            elif magic in TIMED:
                self.flag("kernel", node, f"the {magic} magic given code built at run time")
            elif len(texts) != len(node.args[1:2]) or any(c in texts[0] for c in "{$"):  # IPython's var_expand
                self.flag("kernel", node, f"the {magic} magic's line (IPython runs the code of its {{braces}}, $names)")
        elif func.attr in ("system", "getoutput"):
            self.flag("process", node, "a shell command (!)")

    def _workers(self, func: ast.AST, node: ast.Call) -> None:
        """Parallel jobs (``n_jobs=2``: scikit-learn's, SciPy's ``workers``) and DataLoader worker processes."""
        jobs = [k.value for k in node.keywords if k.arg in JOBS]
        if any(not (isinstance(v, ast.Constant) and v.value in (None, 1)) for v in jobs):
            self.flag("process", node, f"parallel jobs ({', '.join(JOBS)}): code run in other threads or processes")
        workers = [k.value for k in node.keywords if k.arg == "num_workers"]
        hidden = node.args[5:] + [a for a in node.args if isinstance(a, ast.Starred)]  # (data, 1, False, None, None, 2)
        hidden += [k for k in node.keywords if k.arg is None]  # DataLoader(data, *args, **options): workers unseen
        if any(not (isinstance(v, ast.Constant) and v.value in (0, None)) for v in workers) or (
            hidden and resolve(func, self.aliases).endswith("DataLoader")
        ):
            self.flag("process", node, "DataLoader worker processes (num_workers)")

    def _timeit(self, function: str, node: ast.Call) -> None:
        """``timeit.timeit("code", setup="code")``: code given as text is scanned as the cell's own (as ``%timeit``'s);
        a lambda or a function of the cell is code the scan reads where it is written; other values may be text."""
        if function == "timeit.main":  # its arguments, as the command line's, hold code
            self.flag("dynamic_code", node, "timeit.main (it runs the code its arguments hold)")
            return
        given = [k.value for k in node.keywords if k.arg in ("stmt", "setup", None)] + node.args[:2]
        functions = {n.name for n in ast.walk(self.tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        for value in given:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                self._timed("timeit", value.value, value.lineno, node)
            elif not (isinstance(value, ast.Lambda) or getattr(value, "id", None) in functions):  # (**options too)
                self.flag("dynamic_code", node, f"{function} given code the scan cannot read: pass a lambda")

    def _timed(self, magic: str, text: str, line: int, node: ast.AST) -> None:
        """Code ``%time``/``%timeit`` run (``%%time``'s cell): scanned as the cell's own, on the cell's lines."""
        try:
            tree = parse_cell(text)
        except (SyntaxError, ValueError) as error:  # the kernel's SyntaxError, unless a flagged line came before
            if self.after or self.found:
                self.flag("unparsed", node, f"code {magic} runs does not parse ({getattr(error, 'msg', error)})")
            return
        ast.increment_lineno(tree, line - 1 + leading_blank_lines(text))
        self.visit(tree)

    def _getter(self, getter: str, node: ast.Call) -> None:
        """``operator.attrgetter("setprofile")(sys)``: getattr by another name, judged by the names it is given."""
        names = node.args[:1] if getter.endswith("methodcaller") else node.args
        for arg in names or [None]:
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                if not getter.endswith("itemgetter"):  # itemgetter(i) picks data; attrgetter(name) an attribute
                    self.flag("introspection", node, f"{getter}(<a computed name>)")
                continue
            for category in {c for part in arg.value.split(".") for c in reached_by_name(part)}:
                self.flag(category, node, f"{getter}({arg.value!r})")

    def _by_name(self, function: str, node: ast.Call) -> None:
        target, name = resolve(node.args[0], self.aliases), node.args[1]
        constant = name.value if isinstance(name, ast.Constant) and isinstance(name.value, str) else None
        if constant is None or constant in DUNDERS or constant.startswith("__"):
            what = "<a computed name>" if constant is None else repr(constant)
            self.flag("introspection", node, f"{function}({target}, {what})")  # a name built at run time
        if function in ("setattr", "delattr") and dotted_name(node.args[0]).split(".")[0] in self.aliases:
            self.flag("monkeypatch", node, f"{function}({target}, ...)")
        if constant is not None:  # getattr(torch, "sys") is torch.sys
            self._attribute(node.args[0], constant, node, assigned=function in ("setattr", "delattr"))
            if function in ("setattr", "delattr"):
                self._parameter_store(node.args[0], constant, node)

    def _module_value(self, node: ast.Name | ast.Attribute) -> None:
        """A module used as a value (``run(os)``, ``[sys][0]``, ``patch(torch.nn)``): its members are then reached
        through a name the scan does not follow (a parameter), so the module is flagged in its category."""
        chain, load = plain_chain(node), isinstance(node.ctx, ast.Load)
        root = (chain or "").split(".")[0]
        if not load or id(node) in self.roots or root not in self.aliases or root in self.own[-1]:
            return
        module = resolve(node, self.aliases)
        known = "." not in module or module in MODULE_VALUES or chain in self.imported  # import torch.nn.modules as m
        if module != "course" and known:  # course: a course_answer
            first = module.split(".")[0]
            category = MODULE_CATEGORY.get(module) or MODULE_CATEGORY.get(first) or REACHED.get(module)
            why = "its members then reached where the scan cannot follow"
            self.flag(category or "monkeypatch", node, f"{module} used as a value ({why})")

    def _parameter_store(self, value: ast.AST, attr: str, node: ast.AST) -> None:
        """``m.allclose = v`` or ``where.prefix = v``, ``m`` a parameter: it may be the module the function is given."""
        root = dotted_name(value).split(".")[0]
        if root in self.params[-1] and (category := parameter_attribute(attr)):
            why = f"a library's name, on the parameter {root}: it may be given the library"
            self.flag(category, node, f"assigns {dotted_name(value)}.{attr} ({why})")

    def _parameter_stores(self, target: ast.AST, node: ast.AST) -> None:
        for attribute in ast.walk(target):  # m.allclose, m.a, m.b (a tuple), del m.allclose
            if isinstance(attribute, ast.Attribute) and not isinstance(attribute.ctx, ast.Load):
                self._parameter_store(attribute.value, attribute.attr, node)

    def _followed(self, node: ast.AST, targets: list[ast.AST]) -> None:
        """``m = torch.nn``, ``o, s = os, sys``: modules given a name the scan follows are no values."""
        for target in targets if isinstance(node, ast.Assign) else []:
            both = isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
            for name, value in zip(target.elts, node.value.elts, strict=False) if both else [(target, node.value)]:
                if isinstance(name, ast.Name) and self.aliases.get(name.id) == resolve(value, self.aliases):
                    self.roots.add(id(value))

    def _anywhere(self, reached: str, attr: str, node: ast.AST, assigned: bool) -> None:
        """``reached.attr`` judged by its name, whatever ``reached`` is (os and sys themselves are judged apart)."""
        if reached in STREAMS and (assigned or attr not in STREAM_OK):  # sys.stdout.session sends every result
            self.flag("kernel", node, f"{reached}.{attr} (of the output stream, a cell may use write and flush only)")
        elif attr in ANY_ROOT:  # o.system, where o is a parameter given os
            self.flag(ANY_ROOT[attr], node, f"{reached}.{attr} (by its name, a member of os, sys or the kernel)")
