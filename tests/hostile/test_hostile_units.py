"""The parts of hostile-submission grading that need no nbgrader run.

The static tamper scan must flag each cheat and nothing the lessons' reference
solutions do; the in-kernel integrity check must see replaced torch/numpy/
builtins/rnncourse objects and accept the genuine ones; unreadable
submissions must be named; the sandbox settings must parse; the summary must
say what SafeExecute recorded.
"""

from __future__ import annotations

import builtins
import json
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbformat import v4

import rnncourse
import rnncourse.in_kernel.checks
from rnncourse.course import Course
from rnncourse.in_kernel import integrity
from rnncourse.instructor import intake
from rnncourse.instructor.sandbox import kernel_sandbox as sandbox
from rnncourse.instructor.sandbox import safe_execute, tamper_scan

REPO = Path(__file__).resolve().parents[2]
SETUP = (
    "import numpy as np\nimport torch\nfrom torch import nn\n"
    "from rnncourse.in_kernel.checks import check_close\nfor i in range(2):\n    pass"
)
TEST = "check_close(f(1), 1, 'f')\nassert all([f(2) == 2])\nfor i in range(3):\n    pass"


def _cell(source: str, **nbgrader) -> nbformat.NotebookNode:
    cell = v4.new_code_cell(source)
    if nbgrader:
        meta = {"grade": False, "solution": False, "locked": False}
        cell.metadata["nbgrader"] = {**meta, **nbgrader}
    return cell


def _lesson(answer: str) -> nbformat.NotebookNode:
    """setup, one exercise answered with ``answer``, its test, a second test."""
    return v4.new_notebook(
        cells=[
            _cell(SETUP, grade_id="setup", locked=True),
            _cell(answer, grade_id="f", solution=True),
            _cell(TEST, grade_id="test_f", grade=True, locked=True, points=1),
            _cell("def g(x):\n    return x", grade_id="g", solution=True),
            _cell("assert g(1) == 1", grade_id="test_g", grade=True, locked=True, points=1),
        ]
    )


CLEAN = "def f(x):\n    return x\n"

# Each cheat, and the words its finding must contain.
CHEATS = {
    "torch.allclose = lambda *a, **k: True": "replaces torch.allclose",
    "np.testing.assert_allclose = lambda *a, **k: None": "replaces numpy.testing.assert_allclose",
    "import numpy.testing as npt\nnpt.assert_array_equal = print": "numpy.testing.assert_array",
    "import builtins\nbuiltins.isinstance = lambda *a: True": "replaces builtins.isinstance",
    "__builtins__.len = lambda x: 3": "replaces builtins.len",
    "get_ipython().showtraceback = lambda *a, **k: None": "get_ipython().showtraceback",
    "ip = get_ipython()\nip._showtraceback = print": "get_ipython()._showtraceback",
    "get_ipython().set_custom_exc((Exception,), print)": "get_ipython().set_custom_exc",
    "get_ipython().events.register('post_run_cell', print)": "events.register",
    "import rnncourse.in_kernel.checks as g\ng.check_close = print": (
        "rnncourse.in_kernel.checks.check_close"
    ),
    "setattr(torch, 'equal', lambda *a: True)": "torch.equal (setattr)",
    "setattr(__import__('builtins'), 'all', lambda x: True)": "builtins.all (setattr)",
    "vars(torch)['isclose'] = print": "entries of torch",
    "torch.__dict__['eq'] = print": "entries of torch",
    "import sys\nsys.modules['torch'] = None": "sys.modules",
    "check_close = lambda *a, **k: None": "redefines check_close",
    "def check_close(*a, **k):\n    pass": "redefines check_close",
    "from numpy import allclose as check_close": "redefines check_close",
    "all = lambda x: True": "redefines all",
    "def f(x):\n    import sys\n    return sys._getframe(1).f_locals['expected']": "stack frames",
    "import inspect\ndef f(x):\n    return inspect.stack()[1]": "stack frames",
    "def f(x):\n    import torch as t\n    t.allclose = print\n    return x": "torch.allclose",
}
# Code a student may well write: nothing to flag.
LEGIT = (
    "torch.backends.cudnn.deterministic = True",
    "import torch\nfrom torch import nn",
    "import numpy as np\nnp.random.seed(0)\nx = np.zeros(3)",
    "for i in range(4):\n    pass",
    "%matplotlib inline\nimport matplotlib.pyplot as plt",
    "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.rnn = nn.RNN(2, 3)\n        setattr(self, 'w', nn.Parameter(torch.ones(1)))",
    "input = torch.randn(2, 3)\nmax_len = 4",
    "model = nn.LSTM(1, 2)\nmodel.weight_hh_l0.data.fill_(0.0)",
    "import inspect\nprint(inspect.signature(print))",
)


def _findings(answer: str) -> list[tamper_scan.Finding]:
    return tamper_scan.scan_notebook(_lesson(f"{answer}\n{CLEAN}"))


@pytest.mark.parametrize("code, words", CHEATS.items(), ids=range(len(CHEATS)))
def test_scan_flags_each_cheat(code, words):
    cheats = [f for f in _findings(code) if f.cheat]
    assert cheats and all(f.cell_name == "f" for f in cheats)
    assert any(words in f.message for f in cheats), [f.message for f in cheats]


@pytest.mark.parametrize("code", LEGIT, ids=range(len(LEGIT)))
def test_scan_leaves_ordinary_code_alone(code):
    assert [f for f in _findings(code) if f.cheat] == []


def test_scan_notes_exec_without_zeroing():
    found = _findings("exec('x = 1')")
    assert [f.cheat for f in found] == [False] and "exec" in found[0].message


def test_scan_accepts_every_reference_solution():
    for path in sorted((REPO / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert [f.message for f in tamper_scan.scan_notebook(nb)] == [], path.name


def test_mark_tampering_zeroes_only_the_tests_after_the_cheat():
    nb = _lesson(CLEAN)
    nb.cells[3].source = "torch.allclose = print\n" + nb.cells[3].source  # the g cell
    assert tamper_scan.mark_tampering(nb) == ["test_g"]
    (error,) = nb.cells[4].outputs
    assert error.ename == "IntegrityError" and "torch.allclose" in error.evalue
    assert nb.cells[2].outputs == []


def test_names_used_are_the_free_names():
    assert tamper_scan.names_used(TEST) == ["all", "check_close", "f", "range"]


# ---- the in-kernel check, run here on this process's objects ------------------------


def test_integrity_accepts_genuine_objects():
    assert integrity.replaced_library_objects() == []
    assert integrity.replaced_builtins() == []
    setup = {
        "check_close": "rnncourse.in_kernel.checks.check_close",
        "torch": "torch",
        "np": "numpy",
    }
    namespace = {"check_close": rnncourse.in_kernel.checks.check_close, "torch": torch, "np": np}
    assert integrity.rebound_names(namespace, setup, ["check_close", "torch", "np", "len"]) == []


@pytest.mark.parametrize(
    "dotted, fake",
    [
        ("torch.allclose", lambda *a, **k: True),
        ("torch.allclose", torch.ne),  # a genuine function, but another one
        ("torch.Tensor.__eq__", lambda self, other: True),
        ("numpy.testing.assert_allclose", lambda *a, **k: None),
        ("numpy.allclose", np.array_equal),
        ("rnncourse.in_kernel.checks.check_close", lambda *a, **k: None),
        ("rnncourse.check_shape", lambda *a, **k: None),
    ],
)
def test_integrity_sees_replaced_library_objects(monkeypatch, dotted, fake):
    owner, _, name = dotted.rpartition(".")
    monkeypatch.setattr(pkgutil.resolve_name(owner), name, fake)
    assert integrity.replaced_library_objects() == [dotted]


def test_integrity_sees_replaced_builtins(monkeypatch):
    with monkeypatch.context() as patch:  # undone at once: pytest itself uses builtins
        patch.setattr(builtins, "divmod", lambda a, b: (0, 0))
        patch.setattr(builtins, "ascii", repr)  # a C builtin, but not ascii
        found = integrity.replaced_builtins()
    assert set(found) == {"builtins.divmod", "builtins.ascii"}


def test_integrity_sees_rebound_and_shadowing_names():
    setup = {"check_close": "rnncourse.in_kernel.checks.check_close"}
    namespace = {"check_close": lambda *a: None, "all": lambda x: True, "len": 3}
    found = integrity.rebound_names(namespace, setup, ["check_close", "all", "len"])
    assert len(found) == 2 and found[0].startswith("check_close") and found[1].startswith("all")


def test_integrity_report_is_nonce_and_json():
    text = integrity.report({}, [], "n0nce")
    assert text.startswith("n0nce") and json.loads(text[5:]) == []


# ---- submissions nbgrader cannot open -----------------------------------------------


def test_intake_names_unreadable_submissions(tmp_path):
    course = Course(tmp_path)
    lesson = "00_x"

    def folder(student: str) -> Path:
        path = course.submitted_dir(student, lesson)
        path.mkdir(parents=True)
        return path

    (folder("ok") / f"{lesson}.ipynb").write_text(json.dumps(v4.new_notebook()))
    (folder("junk") / f"{lesson}.ipynb").write_text('{"cells": [')
    (folder("binary") / f"{lesson}.ipynb").write_bytes(b"\xff\xfe\x00")
    (folder("list") / f"{lesson}.ipynb").write_text("[1, 2]")
    (folder("renamed") / "my work.ipynb").write_text(json.dumps(v4.new_notebook()))
    (folder("missing") / "notes.txt").write_text("I did it on paper")
    said = {s: intake.submission_problem(course, lesson, s) for s in ("ok", "junk", "binary")}
    said |= {s: intake.submission_problem(course, lesson, s) for s in ("list", "renamed")}
    said["missing"] = intake.submission_problem(course, lesson, "missing")
    assert said["ok"] is None
    assert said["junk"].startswith("notebook is not valid JSON (line 1")
    assert said["binary"] == "notebook is not valid JSON: it is not UTF-8 text"
    assert "not a Jupyter notebook" in said["list"]
    assert said["renamed"].startswith("notebook renamed") and "my work.ipynb" in said["renamed"]
    assert said["missing"] == f"notebook missing: the submission has no {lesson}.ipynb"


# ---- sandbox settings ---------------------------------------------------------------


def test_parse_size():
    assert sandbox.parse_size("4G") == 4 << 30
    assert sandbox.parse_size("1500M") == 1500 << 20
    assert sandbox.parse_size("2GiB") == 2 << 30
    assert sandbox.parse_size("0") == 0
    with pytest.raises(ValueError, match="RNNCOURSE_KERNEL_MEMORY"):
        sandbox.parse_size("lots")


def test_policy_from_environment(monkeypatch):
    monkeypatch.setenv("RNNCOURSE_SANDBOX", "off")
    monkeypatch.setenv("RNNCOURSE_KERNEL_MEMORY", "2G")
    off = sandbox.policy()
    assert (off.sandbox, off.memory) == (False, 2 << 30)
    assert off.describe().startswith("WARNING: student code ran WITHOUT a sandbox")
    monkeypatch.setenv("RNNCOURSE_SANDBOX", "maybe")
    with pytest.raises(ValueError, match="auto, on or off"):
        sandbox.policy()


def test_required_sandbox_without_bwrap_is_refused(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_problem", lambda: "bwrap is not installed")
    monkeypatch.setenv("RNNCOURSE_SANDBOX", "on")
    with pytest.raises(sandbox.SandboxError, match="bwrap is not installed"):
        sandbox.policy()
    monkeypatch.setenv("RNNCOURSE_SANDBOX", "auto")
    fallback = sandbox.policy()
    assert not fallback.sandbox and "bwrap is not installed" in fallback.describe()


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap is not installed here")
def test_bwrap_works_here():
    assert sandbox.bwrap_problem() is None


def test_sandbox_sees_no_course_folders(tmp_path):
    """What the kernel may see: never the repository root, solutions or the gradebook."""
    visible = {str(p) for p in sandbox.readonly_dirs()}
    assert str(REPO) not in visible and str(REPO / "solutions") not in visible
    assert str(REPO / "rnncourse") in visible
    argv = sandbox.bwrap_argv(tmp_path / "work", tmp_path / "run")
    assert "--unshare-all" in argv and argv[-2:] == ["--remount-ro", "/"]
    writable = [argv[i + 1] for i, a in enumerate(argv) if a == "--bind"]
    assert writable == [str(tmp_path / "run"), str(tmp_path / "work")]


def test_kernel_limits_are_set_before_the_kernel_starts():
    probe = "import resource as r; print([r.getrlimit(getattr(r, k))[0] for k in %r])"
    names = ("RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_NPROC")
    argv = sandbox.limits_argv(3 << 30) + [sys.executable, "-c", probe % (names,)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == [3 << 30, sandbox.FILE_SIZE_LIMIT, sandbox.PROCESS_LIMIT]


# ---- what SafeExecute records, read back --------------------------------------------


def test_death_cause_names_the_call():
    cells = _lesson("import os\nos._exit(1)").cells
    assert safe_execute.death_cause(cells, 2, 1) == "os._exit called in cell f (exit status 1)"
    assert safe_execute.death_cause(cells, 0, 137).startswith("killed by SIGKILL")
    assert safe_execute.death_cause(cells, 0, -11) == "killed by SIGSEGV"


def test_errors_come_first_in_test_cells():
    cell = _cell("t", grade=True, points=1)
    cell.outputs = [
        v4.new_output("execute_result", data={"text/plain": "'ok'"}, execution_count=1),
        v4.new_output("error", ename="AssertionError", evalue="no", traceback=[]),
    ]
    safe_execute.errors_first(cell)
    assert [o.output_type for o in cell.outputs] == ["error", "execute_result"]


def test_execution_problems_in_plain_words():
    cells = _lesson(CLEAN).cells
    error = safe_execute._error
    cells[1].outputs = [error("CellTimeoutError", "cell f timed out after 5 s")]
    cells[2].outputs = [error("DeadKernelError", "kernel died in cell test_f: os._exit called")]
    cells[4].outputs = [
        error("NotRun", "not run: the kernel died in cell test_f"),
        error("IntegrityError", "scored zero: the notebook replaced torch.allclose before ..."),
    ]
    cells[3].outputs = [v4.new_output("stream", text=["x", f"{safe_execute.TRUNCATED}: ...]"])]
    assert safe_execute.execution_problems(json.loads(json.dumps(cells))) == [
        "cell f timed out after 5 s",
        "kernel died in cell test_f: os._exit called",
        "cell g printed too much output; the rest was dropped",
        "1 test cell(s) after the kernel died were not run (scored zero)",
        "the notebook replaced torch.allclose before ... — test_g scored zero",
    ]
