"""The scan's judgement of calls (:mod:`tools.grading.scan`): magics and the code the timing magics run, shell
commands, ``getattr`` and its twins by name, parallel jobs and DataLoader workers."""

from __future__ import annotations

import ast

from tools.grading.aliases import dotted_name, leading_blank_lines, python_source, resolve, timed_code
from tools.grading.flagged import BY_NAME, DUNDERS, GETTERS, JOBS, MAGICS_OK, TIMED, reached_by_name


class Calls:
    """A mixin of the scanner: ``flag``, ``aliases``, ``allowed`` and ``_attribute`` are the scanner's."""

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and dotted_name(func.value) == "get_ipython":
            self._ipython(func, node)
        if isinstance(func, ast.Name) and func.id in BY_NAME and len(node.args) >= 2:
            self._by_name(func.id, node)
            self.allowed.add(id(func))
        elif isinstance(func, (ast.Name, ast.Attribute)) and resolve(func, self.aliases) in GETTERS:
            self._getter(resolve(func, self.aliases), node)
            self.allowed.add(id(func))
        self._workers(func, node)
        self.generic_visit(node)

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

    def _timed(self, magic: str, text: str, line: int, node: ast.AST) -> None:
        """Code ``%time``/``%timeit`` run (``%%time``'s cell): scanned as the cell's own, on the cell's lines."""
        try:
            tree = ast.parse(python_source(text))
        except (SyntaxError, ValueError) as error:
            self.flag("unparsed", node, f"code the {magic} magic runs does not parse ({getattr(error, 'msg', error)})")
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
