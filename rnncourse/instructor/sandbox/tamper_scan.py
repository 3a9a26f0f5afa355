"""Read the student's cells, without running them, for attempts to fake passing tests.

The autograder runs the student's code in the same kernel as the tests. This
scan reads the source of every cell the student wrote (solution cells and
cells they added; locked cells hold the instructor's code again after
nbgrader restored them) and flags code that

- assigns to, or deletes, an attribute of torch, numpy, builtins, IPython,
  ipykernel, nbgrader or rnncourse (``torch.allclose = ...``,
  ``np.testing.assert_allclose = ...``, ``get_ipython().showtraceback = ...``),
  also through an alias (``ip = get_ipython()``), ``setattr``/``delattr``,
  ``vars(...)[...]``, ``__dict__`` or ``sys.modules``; settings under
  ``torch.backends`` are allowed;
- uses IPython's internals beyond running magics (event handlers, custom
  exception handlers);
- rebinds a name the tests use that the lesson's locked cells defined or
  imported (``check_close = lambda *a, **k: None``), or a builtin the tests
  use (``def all(x): return True``);
- reads the caller's stack frames (``sys._getframe``, ``inspect.stack``,
  ``f_locals``...), which would let a function copy the expected answer out of
  the hidden test that calls it.

Such a finding makes every graded test cell after the flagged cell score
zero (``mark_tampering`` adds an ``IntegrityError`` output to them, which
nbgrader grades as a failure and the feedback shows). ``exec``/``eval`` are
only noted: what they do is checked inside the kernel by
``rnncourse.in_kernel.integrity`` just before each test.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

from nbformat import NotebookNode, v4

from rnncourse.nbgrader_cells import cell_name, is_student_cell, is_test_cell

GUARDED_TOPS = frozenset(
    {"torch", "numpy", "builtins", "IPython", "ipykernel", "nbgrader", "rnncourse", "zmq"}
    | {"jupyter_client", "traitlets"}
)
ALLOWED_PREFIXES = ("torch.backends.",)  # settings, e.g. torch.backends.cudnn.deterministic
SYS_GUARDED = frozenset({"modules", "meta_path", "path_hooks", "displayhook", "excepthook"})
IPYTHON_ALLOWED = frozenset({"run_line_magic", "run_cell_magic", "magic", "system", "getoutput"})
FRAME_CALLS = frozenset(
    {"sys._getframe", "inspect.currentframe", "inspect.stack", "inspect.getouterframes"}
    | {"inspect.trace", "gc.get_referrers", "gc.get_objects", "traceback.extract_stack"}
)
FRAME_ATTRS = frozenset({"f_back", "f_locals", "f_globals", "tb_frame", "gi_frame", "cr_frame"})
DYNAMIC_CALLS = frozenset({"exec", "eval", "compile", "__import__", "importlib.import_module"})
ERROR_NAME = "IntegrityError"
LESSON_NAME = "which the lesson defines and the tests use"
BUILTIN_NAME = "a builtin the tests use"


@dataclass(frozen=True)
class Finding:
    """Something a student cell does. ``cheat`` findings zero the tests after it."""

    cell: int  # index in the notebook
    cell_name: str
    message: str
    cheat: bool = True


def python_source(source: str) -> ast.Module | None:
    """The cell as Python (magics turned into calls), or None if it does not parse."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return None


def _dotted(node: ast.AST) -> str | None:
    """'a.b.c' for a chain of attributes on a name; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def import_bindings(tree: ast.AST) -> dict[str, str]:
    """name -> dotted origin for every import statement in ``tree``."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    bound[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def _defined_names(tree: ast.AST) -> set[str]:
    """Functions, classes and imports a cell binds at its top level."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= set(import_bindings(node))
    return names


def names_used(source: str) -> list[str]:
    """The names a cell reads but does not bind itself (its free names), sorted."""
    tree = python_source(source)
    if tree is None:
        return []
    loaded, stored = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else stored).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stored.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            stored |= set(import_bindings(node))
    return sorted(loaded - stored)


def setup_imports(nb: NotebookNode) -> dict[str, str]:
    """name -> dotted origin of what the locked (instructor) cells import."""
    bound: dict[str, str] = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and not is_student_cell(cell):
            tree = python_source(cell.source)
            if tree is not None:
                bound.update(import_bindings(tree))
    return bound


def _guarded(dotted: str | None) -> str | None:
    """``dotted`` if changing it could change how tests run, else None."""
    if not dotted:
        return None
    parts = dotted.split(".")
    if parts[0] == "sys":
        return dotted if len(parts) > 1 and parts[1].partition("[")[0] in SYS_GUARDED else None
    if parts[0] in GUARDED_TOPS or parts[0] == "get_ipython()":
        return None if dotted.startswith(ALLOWED_PREFIXES) else dotted
    return None


class _CellScan(ast.NodeVisitor):
    """Collects the findings of one student cell."""

    def __init__(self, aliases: dict[str, str], protected: dict[str, str]):
        self.aliases = aliases  # name -> dotted origin (imports, and names bound to them)
        self.protected = protected  # name -> why the tests need it unchanged
        self.found: list[tuple[str, bool]] = []

    def flag(self, message: str, cheat: bool = True) -> None:
        self.found.append((message, cheat))

    # -- what an expression refers to

    def resolve(self, node: ast.AST) -> str | None:
        """The dotted origin of an expression: 'torch.testing', 'get_ipython().events'."""
        if isinstance(node, ast.Call):
            name = self.resolve(node.func) or _dotted(node.func)
            if name == "get_ipython":
                return "get_ipython()"
            if name in ("__import__", "importlib.import_module") and node.args:
                arg = node.args[0]
                return arg.value if isinstance(arg, ast.Constant) else "a module"
            if name in ("vars", "getattr") and node.args:
                return self.resolve(node.args[0])
            return None
        if isinstance(node, ast.Subscript):
            inner = self.resolve(node.value)
            return f"{inner}[...]" if inner == "sys.modules" else inner
        if isinstance(node, ast.Attribute):
            owner = self.resolve(node.value)
            return f"{owner}.{node.attr}" if owner else None
        if isinstance(node, ast.Name):
            if node.id == "__builtins__":
                return "builtins"
            return self.aliases.get(node.id, node.id if node.id == "get_ipython" else None)
        return None

    def _namespace_write(self, node: ast.AST) -> str | None:
        """What writing into ``node`` (a dict) replaces: globals(), a module's __dict__."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("globals", "locals") and not node.args:
                return f"{node.func.id}()"
            if node.func.id == "vars" and node.args:
                return _guarded(self.resolve(node.args[0])) or "an object's namespace (vars)"
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            return _guarded(self.resolve(node.value)) or "an object's __dict__"
        return "sys.modules" if self.resolve(node) == "sys.modules" else None

    # -- statements

    def _target(self, target: ast.AST, verb: str) -> None:
        if isinstance(target, (ast.Tuple, ast.List, ast.Starred)):
            for element in getattr(target, "elts", [getattr(target, "value", None)]):
                self._target(element, verb)
        elif isinstance(target, ast.Attribute):
            what = _guarded(self.resolve(target))
            if what:
                self.flag(f"{verb} {what}")
        elif isinstance(target, ast.Subscript):
            what = self._namespace_write(target.value) or _guarded(self.resolve(target))
            if what:
                self.flag(f"{verb} entries of {what}")
        elif isinstance(target, ast.Name) and self.protected.get(target.id) == LESSON_NAME:
            self.flag(f"redefines {target.id}, {LESSON_NAME}")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target, "replaces")
            # a builtin the tests call, bound to another function: `all = lambda x: True`
            callable_value = isinstance(node.value, (ast.Lambda, ast.Name, ast.Attribute))
            if isinstance(target, ast.Name) and callable_value:
                if self.protected.get(target.id) == BUILTIN_NAME:
                    self.flag(f"redefines {target.id}, {BUILTIN_NAME}")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, "replaces")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target, "replaces")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._target(target, "deletes")
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._target(node.target, "replaces")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = self.resolve(node.func) or (
            node.func.id if isinstance(node.func, ast.Name) else None
        )
        if name in ("setattr", "delattr") and node.args:
            owner = self.resolve(node.args[0])
            if _guarded(owner) or isinstance(node.args[0], ast.Call):
                attr = node.args[1] if len(node.args) > 1 else None
                attr = attr.value if isinstance(attr, ast.Constant) else "..."
                self.flag(f"replaces {owner or 'an attribute of a module'}.{attr} ({name})")
        elif name in FRAME_CALLS:
            self.flag(f"reads the grader's stack frames ({name})")
        elif name in DYNAMIC_CALLS:
            self.flag(f"runs code built at run time ({name}); checked in the kernel", cheat=False)
        elif isinstance(node.func, ast.Attribute):
            owner = self.resolve(node.func.value)
            method = node.func.attr
            if owner == "get_ipython()" and method not in IPYTHON_ALLOWED:
                self.flag(f"changes IPython (get_ipython().{method})")
            elif owner and owner.startswith("get_ipython()."):
                self.flag(f"changes IPython ({owner}.{method})")
            elif method in ("update", "setdefault", "__setitem__", "pop", "clear"):
                what = self._namespace_write(node.func.value)
                if what:
                    self.flag(f"replaces entries of {what}")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in FRAME_ATTRS:
            self.flag(f"reads the grader's stack frames (.{node.attr})")
        self.generic_visit(node)

    def _define(self, name: str) -> None:
        if name in self.protected:
            self.flag(f"redefines {name}, {self.protected[name]}")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._define(node.name)
        self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._define(node.name)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._define(node.name)
        self.generic_visit(node)


def _protected_names(nb: NotebookNode) -> dict[str, str]:
    """name -> why: what the tests read that the locked cells import or define,
    and the builtins the tests call."""
    used: set[str] = set()
    locked: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if is_test_cell(cell):
            used |= set(names_used(cell.source))
        if not is_student_cell(cell):
            tree = python_source(cell.source)
            if tree is not None:
                locked |= _defined_names(tree)
    protected = {n: LESSON_NAME for n in used & locked}
    protected |= {
        n: BUILTIN_NAME
        for n in used - locked
        if hasattr(builtins, n) and callable(getattr(builtins, n))
    }
    return protected


def scan_notebook(nb: NotebookNode) -> list[Finding]:
    """Every finding in the student's cells, in notebook order."""
    setup = setup_imports(nb)
    aliases = dict(setup)  # grows as the cells import and assign, in order
    protected = _protected_names(nb)
    findings = []
    for index, cell in enumerate(nb.cells):
        tree = python_source(cell.source) if cell.cell_type == "code" else None
        if tree is None:
            continue
        scan = _CellScan(aliases, protected) if is_student_cell(cell) else None
        for node in tree.body:
            bound = import_bindings(node)  # imports inside functions too
            aliases.update(bound)
            if scan is not None and isinstance(node, (ast.Import, ast.ImportFrom)):
                for name, origin in bound.items():
                    if protected.get(name) == LESSON_NAME and setup.get(name) != origin:
                        scan.flag(f"redefines {name}, {LESSON_NAME}")
            elif scan is not None:
                scan.visit(node)
            _track_aliases(node, aliases)
        if scan is not None:
            name = cell_name(cell, index)
            findings += [
                Finding(index, name, msg, cheat) for msg, cheat in dict.fromkeys(scan.found)
            ]
    return findings


def _track_aliases(node: ast.stmt, aliases: dict[str, str]) -> None:
    """Follow ``import torch as t``, ``F = torch.nn.functional``, ``ip = get_ipython()``."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        if isinstance(target, ast.Name):
            origin = _CellScan(aliases, {}).resolve(node.value)
            if origin:
                aliases[target.id] = origin
            else:
                aliases.pop(target.id, None)


def mark_tampering(nb: NotebookNode, findings: list[Finding] | None = None) -> list[str]:
    """Add an IntegrityError output to every test cell after a cheat finding.

    Returns the names of the test cells marked. nbgrader then scores them zero
    and the feedback shows why."""
    findings = scan_notebook(nb) if findings is None else findings
    cheats = [f for f in findings if f.cheat]
    marked = []
    for index, cell in enumerate(nb.cells):
        if not is_test_cell(cell):
            continue
        before = [f for f in cheats if f.cell < index]
        if not before:
            continue
        reasons = "; ".join(f"cell {f.cell_name} {f.message}" for f in before)
        message = f"scored zero: {reasons}"
        cell.outputs.append(
            v4.new_output(
                "error", ename=ERROR_NAME, evalue=message, traceback=[f"{ERROR_NAME}: {message}"]
            )
        )
        marked.append(cell_name(cell, index))
    return marked
