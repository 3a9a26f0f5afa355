"""The shortcut guard: while a hidden test runs a student's function, the
shortcuts that exercise asks students not to use (``torch.nn.RNN`` in an RNN
written from scratch, autograd in a manual backward pass, the course's own
reference answer) fail with ``ShortcutError``.

A hidden test computes what it needs (expected values with torch, autograd,
the reference) before entering the guard, and calls only the student's code
inside it::

    expected = torch.nn.functional.one_hot(idx, 5).float()
    with forbid_shortcuts("one_hot", globals()):
        got = one_hot(idx, 5)
    check_close(got, expected, "one_hot(idx, 5)")
"""

from __future__ import annotations

import contextlib
import pkgutil
import sys
import types
from collections.abc import Iterator
from types import MappingProxyType


class ShortcutError(AssertionError):
    """A graded function used a shortcut its exercise forbids."""


_RNN_MODULES = (
    "torch.nn.RNN",
    "torch.nn.GRU",
    "torch.nn.LSTM",
    "torch.nn.RNNBase",
    "torch.nn.RNNCell",
    "torch.nn.GRUCell",
    "torch.nn.LSTMCell",
    "torch.nn.RNNCellBase",
)
# The kernels behind those modules, reachable as torch.<name> and torch._VF.<name>.
_RNN_KERNELS = tuple(
    f"{owner}.{kernel}"
    for kernel in ("rnn_tanh", "rnn_relu", "gru", "lstm")
    + ("rnn_tanh_cell", "rnn_relu_cell", "gru_cell", "lstm_cell")
    for owner in ("torch", "torch._VF")
)
_AUTOGRAD = (
    "torch.Tensor.backward",
    "torch.autograd.backward",
    "torch.autograd.grad",
    "torch.autograd.functional.jacobian",
    "torch.autograd.functional.vjp",
    "torch.autograd.functional.jvp",
    "torch.func.grad",
    "torch.func.grad_and_value",
    "torch.func.vjp",
    "torch.func.jvp",
    "torch.func.jacrev",
    "torch.func.jacfwd",
)
_CLIP = (
    "torch.nn.utils.clip_grad_norm_",
    "torch.nn.utils.clip_grad_norm",
    "torch.nn.utils.clip_grad_value_",
    "torch.nn.utils.clip_grads_with_norm_",
    "torch.nn.utils.get_total_norm",
)

# Every exercise of the course (docs/curriculum.md) -> what its hidden tests forbid:
# the torch shortcuts the curriculum names, and always the exercise's own
# reference answer ``rnncourse.<exercise>``. Targets that do not exist in the
# installed torch are skipped.
SHORTCUTS = MappingProxyType(
    {
        # 01_time_series
        "make_windows": ("rnncourse.make_windows",),
        "chronological_split": ("rnncourse.chronological_split",),
        "seasonal_naive": ("rnncourse.seasonal_naive",),
        "rmse": ("rnncourse.rmse",),
        "SimpleRNN": (*_RNN_MODULES, *_RNN_KERNELS, "rnncourse.SimpleRNN"),
        # 02_embeddings
        "segment": ("rnncourse.segment",),
        "build_vocab": ("rnncourse.build_vocab",),
        "encode": ("rnncourse.encode",),
        "pad_batch": ("rnncourse.pad_batch",),
        "one_hot": ("torch.nn.functional.one_hot", "rnncourse.one_hot"),
        "embedding_as_matmul": (
            "torch.nn.Embedding",
            "torch.nn.functional.embedding",
            "torch.embedding",
            "rnncourse.embedding_as_matmul",
        ),
        "embedding_grad": (
            *_AUTOGRAD,
            "torch.nn.Embedding",
            "torch.nn.functional.embedding",
            "torch.embedding",
            "rnncourse.embedding_grad",
        ),
        # 03_scratch_rnn
        "seq_data_iter_sequential": ("rnncourse.seq_data_iter_sequential",),
        "seq_data_iter_random": ("rnncourse.seq_data_iter_random",),
        "init_rnn_params": (*_RNN_MODULES, "rnncourse.init_rnn_params"),
        "rnn_step": (*_RNN_MODULES, *_RNN_KERNELS, "rnncourse.rnn_step"),
        "rnn_forward": (*_RNN_MODULES, *_RNN_KERNELS, "rnncourse.rnn_forward"),
        "predict_chars": ("rnncourse.predict_chars",),
        "perplexity": ("rnncourse.perplexity",),
        "train_epoch": ("rnncourse.train_epoch", "rnncourse.train_language_model"),
        "sample_chars": ("rnncourse.sample_chars",),
        # 04_rnn_shapes
        "rnn_output_shapes": (*_RNN_MODULES, *_RNN_KERNELS, "rnncourse.rnn_output_shapes"),
        "load_scratch_params": ("rnncourse.load_scratch_params",),
        "last_valid_output": ("rnncourse.last_valid_output",),
        # 05_bptt
        "rnn_forward_cache": ("rnncourse.rnn_forward_cache",),
        "rnn_backward": (*_AUTOGRAD, "rnncourse.rnn_backward"),
        "detach_state": ("rnncourse.detach_state",),
        "grad_norm_by_lag": ("rnncourse.grad_norm_by_lag",),
        "numerical_grad": (
            *_AUTOGRAD,
            "torch.autograd.gradcheck.get_numerical_jacobian",
            "torch.autograd.gradcheck.get_numerical_jacobian_wrt_specific_input",
            "rnncourse.numerical_grad",
        ),
        # 06_clipping
        "global_grad_norm": (*_CLIP, "rnncourse.global_grad_norm"),
        "clip_grad_norm": (*_CLIP, "rnncourse.clip_grad_norm"),
        "clip_grad_value": (*_CLIP, "rnncourse.clip_grad_value"),
        # 07_lstm_comparison
        "lstm_cell": (*_RNN_MODULES, *_RNN_KERNELS, "rnncourse.lstm_cell"),
        "gru_cell": (*_RNN_MODULES, *_RNN_KERNELS, "rnncourse.gru_cell"),
        "count_params": (*_RNN_MODULES, "rnncourse.count_params"),
        "encode_addition": ("rnncourse.encode_addition",),
        "decode_addition": ("rnncourse.decode_addition",),
    }
)


class _Guard:
    """The state of one active ``forbid`` block: who is tested and what was attempted."""

    def __init__(self, exercise: str | None):
        self.who = exercise or "the code under test"
        self.active = True
        self.attempts: list[str] = []

    def message(self, label: str) -> str:
        if label.startswith("rnncourse."):
            why = "the course's reference answer to this exercise — write your own instead"
        elif label in _RNN_MODULES:
            why = (
                "which this exercise asks you to write yourself — compute it from the "
                "sizes and the equations, without building a torch recurrent module"
            )
        elif label in _AUTOGRAD:
            why = (
                "but this exercise asks for the gradients without autograd — compute them "
                "by hand with the backward recurrences"
            )
        else:
            why = (
                "which this exercise asks you to write yourself — implement it with "
                "tensor operations instead"
            )
        return f"{self.who} called {label}, {why}."

    def refuse(self, label: str):
        self.attempts.append(label)
        raise ShortcutError(self.message(label))

    def summary(self) -> str:
        counts = {label: self.attempts.count(label) for label in self.attempts}
        calls = ", ".join(f"{label} ({n}x)" for label, n in counts.items())
        return (
            f"{self.message(self.attempts[0])} The error was caught inside the code, but "
            f"the attempt still counts (forbidden calls: {calls})."
        )


class _ForbiddenClass(type):
    """Metaclass of a forbidden class's stand-in: constructing it fails, isinstance works."""

    def __call__(cls, *args, **kwargs):
        if not cls._rnncourse_guard.active:  # a stand-in kept past its block: be the original
            return cls._rnncourse_original(*args, **kwargs)
        cls._rnncourse_guard.refuse(cls._rnncourse_label)

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, cls._rnncourse_original)

    def __subclasscheck__(cls, sub) -> bool:
        return issubclass(sub, cls._rnncourse_original)


def _stand_in(original, label: str, guard: _Guard):
    """An object that takes ``original``'s place and refuses to be called."""
    if isinstance(original, type):
        namespace = {
            "__doc__": original.__doc__,
            "__module__": original.__module__,
            "__qualname__": original.__qualname__,
            "_rnncourse_original": original,
            "_rnncourse_guard": guard,
            "_rnncourse_label": label,
        }
        return _ForbiddenClass(original.__name__, (), namespace)
    if not callable(original):
        raise TypeError(f"can only forbid functions and classes; {label} is {type(original)}")

    def stand_in(*args, **kwargs):
        if not guard.active:
            return original(*args, **kwargs)
        guard.refuse(label)

    stand_in.__name__ = getattr(original, "__name__", label.rpartition(".")[2])
    stand_in.__qualname__ = getattr(original, "__qualname__", stand_in.__name__)
    stand_in.__doc__ = getattr(original, "__doc__", None)
    stand_in._rnncourse_original = original
    return stand_in


def _original(obj):
    """Unwrap a stand-in of an enclosing guard to the object it replaced."""
    return obj.__dict__.get("_rnncourse_original", obj) if hasattr(obj, "__dict__") else obj


class _Rebinder:
    """Puts stand-ins in place of forbidden objects and remembers how to undo it."""

    def __init__(self):
        self.replacements: dict[int, tuple] = {}  # id(forbidden object) -> (object, stand-in)
        self._undo: list = []

    def add(self, forbidden, stand_in) -> None:
        self.replacements[id(forbidden)] = (forbidden, stand_in)

    def stand_in_for(self, value):
        found = self.replacements.get(id(value))
        return found[1] if found is not None and found[0] is value else None

    def set_attr(self, owner, attr: str, stand_in) -> None:
        had = attr in vars(owner)
        before = vars(owner)[attr] if had else None
        setattr(owner, attr, stand_in)

        def restore():
            if vars(owner).get(attr) is stand_in:  # leave alone what was rebound since
                if had:
                    setattr(owner, attr, before)
                else:
                    delattr(owner, attr)

        self._undo.append(restore)

    def in_dict(self, d: dict) -> None:
        """Rebind every key of ``d`` whose value is a forbidden object."""
        for key, value in list(d.items()):
            stand_in = self.stand_in_for(value)
            if stand_in is None:
                continue
            d[key] = stand_in

            def restore(d=d, key=key, stand_in=stand_in, value=value):
                if d.get(key) is stand_in:
                    d[key] = value

            self._undo.append(restore)

    def in_function(self, fn: types.FunctionType) -> None:
        """Rebind forbidden objects captured by a closure or a default argument."""
        for cell in fn.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            stand_in = self.stand_in_for(value)
            if stand_in is not None:
                cell.cell_contents = stand_in

                def restore(cell=cell, stand_in=stand_in, value=value):
                    if cell.cell_contents is stand_in:
                        cell.cell_contents = value

                self._undo.append(restore)
        defaults = fn.__defaults__ or ()
        patched = tuple(self.stand_in_for(v) or v for v in defaults)
        if any(p is not v for p, v in zip(patched, defaults, strict=True)):
            fn.__defaults__ = patched

            def restore_defaults(fn=fn, patched=patched, defaults=defaults):
                if fn.__defaults__ is patched:
                    fn.__defaults__ = defaults

            self._undo.append(restore_defaults)
        if fn.__kwdefaults__:
            self.in_dict(fn.__kwdefaults__)

    def in_namespace(self, namespace: dict) -> None:
        """The namespace itself, and what its functions and classes' methods refer to."""
        self.in_dict(namespace)
        seen = {id(namespace)}
        for fn in _functions_in(namespace):
            module_globals = fn.__globals__
            # User code, also from the user's own modules; torch's internals are left alone.
            if str(module_globals.get("__name__", "")).partition(".")[0] == "torch":
                continue
            self.in_function(fn)
            if id(module_globals) not in seen:
                seen.add(id(module_globals))
                self.in_dict(module_globals)

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


def _functions_in(namespace: dict) -> list[types.FunctionType]:
    """Functions bound in a namespace, and the methods of classes bound there."""
    functions = []
    for value in list(namespace.values()):
        if isinstance(value, types.FunctionType):
            functions.append(value)
        elif isinstance(value, type) and not isinstance(value, _ForbiddenClass):
            for member in list(vars(value).values()):
                member = getattr(member, "__func__", member)  # staticmethod, classmethod
                if isinstance(member, types.FunctionType):
                    functions.append(member)
    return functions


def _modules_binding(dotted_names: set[str]) -> list[types.ModuleType]:
    """The loaded modules named, their parent packages, and every rnncourse module."""
    names = set()
    for dotted in dotted_names:
        parts = dotted.split(".")
        names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    names.update(n for n in list(sys.modules) if n == "rnncourse" or n.startswith("rnncourse."))
    return [
        sys.modules[n] for n in sorted(names) if isinstance(sys.modules.get(n), types.ModuleType)
    ]


@contextlib.contextmanager
def forbid(
    *targets: str,
    namespace: dict | None = None,
    exercise: str | None = None,
    missing_ok: bool = False,
) -> Iterator[_Guard]:
    """Make the dotted ``targets`` unusable inside the ``with`` block.

    - targets: dotted names of functions or classes, e.g. "torch.nn.RNN",
      "torch.Tensor.backward", "rnncourse.one_hot"
    - namespace: the notebook's ``globals()``; names bound there to a target
      (``from torch.nn.functional import one_hot as oh``) are replaced too, as
      are the targets captured by the globals, closures and default arguments
      of the functions and methods defined there
    - exercise: the name used in messages, e.g. "rnn_forward"
    - missing_ok: skip targets that do not exist instead of raising ValueError

    Inside the block each target is replaced, wherever it is bound (its module
    and that module's parent packages, every rnncourse module, ``namespace``),
    by a stand-in: calling a function or constructing a class raises
    ``ShortcutError`` (an AssertionError), while ``isinstance`` checks against
    a forbidden class keep working. Every attempt is recorded; if the code under
    test caught the error and carried on, leaving the block still raises
    ``ShortcutError``. Everything is restored on leaving, also after an error,
    and blocks can be nested.

    A rnncourse helper that itself calls a forbidden reference fails inside the
    block too; the other helpers keep working. Yields the guard, whose
    ``attempts`` lists the targets called so far.
    """
    guard = _Guard(exercise)
    rebinder = _Rebinder()
    try:
        module_names = set()
        for target in targets:
            owner_name, _, attr = target.rpartition(".")
            try:
                owner = pkgutil.resolve_name(owner_name)
                found = getattr(owner, attr)
            except (ImportError, AttributeError, ValueError) as err:
                if missing_ok:
                    continue
                raise ValueError(f"cannot forbid {target!r}: it does not exist") from err
            original = _original(found)
            stand_in = rebinder.stand_in_for(original)
            if stand_in is None:
                stand_in = _stand_in(original, target, guard)
                rebinder.add(original, stand_in)
                if found is not original:  # a stand-in of an enclosing guard
                    rebinder.add(found, stand_in)
            rebinder.set_attr(owner, attr, stand_in)
            if isinstance(owner, types.ModuleType):
                module_names.add(owner.__name__)
            module_names.add(str(getattr(original, "__module__", None) or owner_name))
        for module in _modules_binding(module_names):
            rebinder.in_dict(vars(module))
        if namespace is not None:
            rebinder.in_namespace(namespace)
        try:
            yield guard
        except ShortcutError:
            raise
        except Exception as err:
            if guard.attempts:  # the real cause is the shortcut that was caught earlier
                raise ShortcutError(guard.summary()) from err
            raise
    finally:
        guard.active = False
        rebinder.restore()
    if guard.attempts:
        raise ShortcutError(guard.summary())


def forbid_shortcuts(exercise: str, namespace: dict | None = None):
    """The shortcut guard for one exercise of the course, from ``SHORTCUTS``.

    ``with forbid_shortcuts("rnn_forward", globals()): ...`` makes torch's RNN
    modules and kernels and ``rnncourse.rnn_forward`` unusable in the block.
    """
    if exercise not in SHORTCUTS:
        raise ValueError(f"unknown exercise {exercise!r}; known exercises: {sorted(SHORTCUTS)}")
    return forbid(*SHORTCUTS[exercise], namespace=namespace, exercise=exercise, missing_ok=True)
