"""Has the notebook replaced what the tests rely on? Checked inside the kernel.

A student's code runs in the same Python process as the tests that grade it,
so it could make a failing test pass by replacing what the test relies on:
``torch.allclose = lambda *a, **k: True``, a no-op ``check_close``, a
``get_ipython().showtraceback`` that hides errors. While autograding, just
before each graded test cell runs, ``rnncourse.instructor.sandbox.safe_execute`` runs this
module's source in the student's kernel (in a namespace of its own, without
importing rnncourse or anything else new) and calls ``report``. It checks

- the library functions tests use to compare values (``GUARDED``), where
  their module is loaded: each must still be the library's own object, i.e. a
  C function or type of that name, or a Python function of that name whose
  code lies in the library's folder;
- every builtin function and type (``builtins.all``, ``builtins.isinstance``, ...);
- IPython's and ipykernel's methods that run a cell and report its errors
  (``showtraceback``, ``run_cell``, ``do_execute``, ...), and the callbacks
  registered on IPython's events: none may come from the notebook;
- the names the test cell uses that the lesson's locked cells imported
  (``check_close``, ``torch``, ``np``): each must still be the imported object;
- builtin names the test cell uses (``all``, ``len``) that the notebook has
  shadowed with a function of its own.

Nothing here needs a snapshot taken before the student's code ran: an object
is genuine when its name and its origin say so. A student who copies a
library function's code object into their own function, or who patches the
interpreter below Python, is beyond this check; ``rnncourse.instructor.sandbox.tamper_scan``
looks at the source for such attempts. This module imports only the standard
library, so that its source can run anywhere.
"""

from __future__ import annotations

import builtins
import json
import os
import sys
import types

# Dotted names of the functions and methods a test relies on to compare values.
GUARDED = (
    # torch: comparisons, reductions and conversions behind asserts and check_close
    "torch.allclose",
    "torch.equal",
    "torch.isclose",
    "torch.all",
    "torch.any",
    "torch.eq",
    "torch.ne",
    "torch.abs",
    "torch.isnan",
    "torch.isfinite",
    "torch.where",
    "torch.as_tensor",
    "torch.tensor",
    "torch.is_tensor",
    "torch.testing.assert_close",
    "torch.Tensor.allclose",
    "torch.Tensor.equal",
    "torch.Tensor.all",
    "torch.Tensor.any",
    "torch.Tensor.item",
    "torch.Tensor.tolist",
    "torch.Tensor.abs",
    "torch.Tensor.sum",
    "torch.Tensor.max",
    "torch.Tensor.argmax",
    "torch.Tensor.nonzero",
    "torch.Tensor.flatten",
    "torch.Tensor.to",
    "torch.Tensor.detach",
    "torch.Tensor.cpu",
    "torch.Tensor.numel",
    "torch.Tensor.__eq__",
    "torch.Tensor.__ne__",
    "torch.Tensor.__lt__",
    "torch.Tensor.__le__",
    "torch.Tensor.__gt__",
    "torch.Tensor.__ge__",
    "torch.Tensor.__bool__",
    "torch.Tensor.__float__",
    "torch.Tensor.__sub__",
    "torch.Tensor.__or__",
    "torch.Tensor.__and__",
    "torch.Tensor.__invert__",
    # numpy
    "numpy.allclose",
    "numpy.array_equal",
    "numpy.isclose",
    "numpy.all",
    "numpy.any",
    "numpy.testing.assert_allclose",
    "numpy.testing.assert_array_equal",
    "numpy.testing.assert_array_almost_equal",
    "numpy.testing.assert_almost_equal",
    "numpy.testing.assert_equal",
    "numpy.ndarray.all",
    "numpy.ndarray.any",
    "numpy.ndarray.__eq__",
    # the course's grading helpers, in their modules and as re-exported
    "rnncourse.in_kernel.checks.check_close",
    "rnncourse.in_kernel.checks.check_shape",
    "rnncourse.in_kernel.checks._as_tensor",
    "rnncourse.in_kernel.shortcuts.forbid",
    "rnncourse.in_kernel.shortcuts.forbid_shortcuts",
    "rnncourse.in_kernel.nbgrader_mode.is_autograding",
    "rnncourse.check_close",
    "rnncourse.check_shape",
    "rnncourse.forbid",
    "rnncourse.forbid_shortcuts",
    "rnncourse.is_autograding",
)
# IPython and ipykernel methods that run cells and report their errors.
SHELL_METHODS = (
    "showtraceback",
    "_showtraceback",
    "showsyntaxerror",
    "showindentationerror",
    "run_cell",
    "run_cell_async",
    "_run_cell",
    "run_code",
    "run_ast_nodes",
    "transform_cell",
    "user_expressions",
    "ev",
    "ex",
)
KERNEL_METHODS = ("do_execute", "execute_request", "send_response", "_publish_execute_input")
EVENTS = ("pre_execute", "pre_run_cell", "post_execute", "post_run_cell")
# Names that IPython or the site module put into builtins, and builtin aliases.
BUILTIN_EXTRAS = {"exit", "quit", "copyright", "credits", "license", "help"}
BUILTIN_EXTRAS |= {"get_ipython", "display", "execfile", "runfile", "__IPYTHON__"}
BUILTIN_ALIASES = {"IOError": "OSError", "EnvironmentError": "OSError"}
_C_CALLABLES = (
    types.BuiltinFunctionType,
    types.BuiltinMethodType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.ClassMethodDescriptorType,
    types.MethodWrapperType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
)
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class written in Python, not in C


def _resolve(dotted: str):
    """The object at ``dotted`` if its top module is loaded, else None (nothing imported)."""
    parts = dotted.split(".")
    obj = sys.modules.get(parts[0])
    if obj is None:
        return None
    for i, part in enumerate(parts[1:], start=1):
        module = sys.modules.get(".".join(parts[: i + 1]))
        nxt = getattr(obj, part, module)
        if nxt is None:
            return None
        obj = nxt
    return obj


def _package_dir(top: str) -> str | None:
    module = sys.modules.get(top)
    path = getattr(module, "__file__", None)
    return os.path.dirname(os.path.realpath(path)) if path else None


def _under(filename: str, folder: str | None) -> bool:
    if not folder or not filename:
        return False
    return os.path.realpath(filename).startswith(folder + os.sep)


def _code_of(obj):
    for candidate in (obj, getattr(obj, "__func__", None), getattr(obj, "_implementation", None)):
        code = getattr(candidate, "__code__", None)
        if isinstance(code, types.CodeType):
            return code
    return None


def is_genuine(obj, name: str, top: str) -> bool:
    """Is ``obj`` the library's own object called ``name`` from package ``top``?"""
    if isinstance(obj, types.ModuleType):
        return obj is sys.modules.get(obj.__name__) and obj.__name__.split(".")[0] == top
    if getattr(obj, "__name__", None) != name:
        return False
    folder = _package_dir(top)
    wrapped = getattr(obj, "__wrapped__", None)
    if wrapped is not None:  # a decorated function: the decorator from a library too
        return _from_library(obj, _library_roots()) and is_genuine(wrapped, name, top)
    if isinstance(obj, type):
        if obj.__flags__ & _HEAPTYPE:  # a Python class: defined in the package's files?
            module = sys.modules.get(obj.__module__)
            return _under(getattr(module, "__file__", "") or "", folder)
        return True
    if isinstance(obj, _C_CALLABLES):
        return True
    code = _code_of(obj)
    if code is not None:
        return _under(code.co_filename, folder)
    # any other callable: its type must come from C or from the package itself
    kind = type(obj)
    if not kind.__flags__ & _HEAPTYPE:
        return True
    return _under(getattr(sys.modules.get(kind.__module__), "__file__", "") or "", folder)


def replaced_library_objects() -> list[str]:
    """The entries of GUARDED (whose module is loaded) that are no longer genuine."""
    found = []
    for dotted in GUARDED:
        obj = _resolve(dotted)
        if obj is None:
            continue
        if not is_genuine(obj, dotted.rpartition(".")[2], dotted.split(".")[0]):
            found.append(dotted)
    return found


def replaced_builtins() -> list[str]:
    """Builtin functions and types that are no longer Python's own."""
    roots = _library_roots()
    found = []
    for name, value in list(vars(builtins).items()):
        if name.startswith("_") and name not in ("__import__", "__build_class__"):
            continue
        if name in BUILTIN_EXTRAS:
            continue
        expected = BUILTIN_ALIASES.get(name, name)
        if isinstance(value, types.BuiltinFunctionType):  # open is io.open: any C function
            ok = value.__name__ == expected
        elif isinstance(value, type):  # C types, and classes like ExceptionGroup with no
            ok = value.__name__ == expected and (  # Python code of their own
                not value.__flags__ & _HEAPTYPE
                or value.__module__ == "builtins"
                and not any(isinstance(v, types.FunctionType) for v in vars(value).values())
            )
        elif callable(value):  # ipykernel's input(): from a library, never the notebook
            ok = _from_library(value, roots)
        else:
            ok = True  # True, None, Ellipsis...
        if not ok:
            found.append(f"builtins.{name}")
    return found


def _library_roots() -> list[str]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for top in ("IPython", "ipykernel", "matplotlib_inline", "rnncourse"):
        folder = _package_dir(top)
        if folder:  # the package itself: an editable rnncourse sits beside course folders
            roots.add(folder)
    return [os.path.realpath(r) for r in roots]


def _from_library(fn, roots: list[str]) -> bool:
    code = _code_of(fn)
    if code is None:
        return not type(fn).__flags__ & _HEAPTYPE or callable(getattr(fn, "__self__", None))
    return any(_under(code.co_filename, root) for root in roots)


def replaced_shell_parts(shell) -> list[str]:
    """IPython/ipykernel methods overridden on the instance or its class, and
    event callbacks written in the notebook."""
    if shell is None:
        return []
    roots = _library_roots()
    found = []
    for owner, label, names in (
        (shell, "get_ipython()", SHELL_METHODS),
        (getattr(shell, "kernel", None), "get_ipython().kernel", KERNEL_METHODS),
    ):
        if owner is None:
            continue
        for name in names:  # ipykernel itself sets some on the instance: check the value
            method = getattr(owner, name, None)
            genuine = getattr(method, "__name__", None) == name and _from_library(method, roots)
            if method is not None and not genuine:
                found.append(f"{label}.{name}")
    callbacks = getattr(getattr(shell, "events", None), "callbacks", {})
    for event in EVENTS:
        for callback in callbacks.get(event, []):
            if not _from_library(callback, roots):
                found.append(f"a {event} event handler ({getattr(callback, '__name__', '?')})")
    return found


def rebound_names(namespace: dict, expected: dict[str, str], used: list[str]) -> list[str]:
    """Names of ``used`` that are no longer what the locked cells bound them to
    (``expected``: name -> dotted origin), or that shadow a builtin with a function."""
    found = []
    for name in used:
        if name not in namespace:
            continue
        value = namespace[name]
        if name in expected:
            dotted = expected[name]
            origin = _resolve(dotted)
            top = dotted.split(".")[0]
            if origin is not None and (
                value is not origin or not is_genuine(origin, dotted.rpartition(".")[2], top)
            ):
                found.append(f"{name} (it should be {dotted})")
        elif hasattr(builtins, name) and callable(value) and value is not getattr(builtins, name):
            found.append(f"{name} (a builtin the test uses, redefined in the notebook)")
    return found


def problems(namespace: dict, expected: dict[str, str], used: list[str], shell=None) -> list[str]:
    """Everything replaced, as dotted names in plain words."""
    checks = (
        replaced_library_objects,
        replaced_builtins,
        lambda: replaced_shell_parts(shell),
        lambda: rebound_names(namespace, expected, used),
    )
    found = []
    for check in checks:
        try:
            found += check()
        except Exception as err:  # a check that cannot run is itself a finding
            found.append(f"(the integrity check failed: {type(err).__name__}: {err})")
    return found


def report(expected: dict[str, str], used: list[str], nonce: str) -> str:
    """Run every check in the current IPython kernel; ``nonce`` + JSON list of findings."""
    getipython = sys.modules.get("IPython.core.getipython")
    shell = getipython.get_ipython() if getipython else None
    namespace = shell.user_ns if shell is not None else {}
    return nonce + json.dumps(problems(namespace, expected, used, shell))
