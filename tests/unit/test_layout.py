"""The package's layout is its architecture: who runs a module is where it lives.

- ``rnncourse.teaching``: the student's kernel; imports only other teaching modules.
- ``rnncourse.in_kernel``: the student's kernel while tests run; imports nothing of
  the course's outside itself (``integrity`` is sent as source and runs alone).
- ``rnncourse.student``: the student's commands; never the instructor's modules.
- ``rnncourse.instructor``: the instructor's machinery.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lesson_harness import REPO

PACKAGE = REPO / "rnncourse"
# subpackage -> the course's modules its code may import (besides the standard library
# and third-party packages)
ALLOWED = {
    "teaching": ("rnncourse.teaching",),
    "in_kernel": ("rnncourse.in_kernel",),
    "student": (
        "rnncourse.student",
        "rnncourse.course",
        "rnncourse.nbgrader_cells",
        "rnncourse.teaching",
    ),
    "instructor": ("rnncourse",),
}


def _course_imports(path: Path) -> list[str]:
    """The rnncourse modules a file imports, relative imports resolved."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found += [module] if node.module else [f"{module}.{a.name}" for a in node.names]
    return [m for m in found if m == "rnncourse" or m.startswith("rnncourse.")]


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_it_may(layer):
    wrong = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for module in _course_imports(path):
            if not any(module == a or module.startswith(a + ".") for a in ALLOWED[layer]):
                wrong.append(f"{path.relative_to(REPO)} imports {module}")
    assert not wrong, f"rnncourse.{layer} reaches outside what it may use:\n" + "\n".join(wrong)


def _modules_after(code: str, cwd: Path = REPO) -> set[str]:
    """The top-level and rnncourse modules a fresh Python has loaded after ``code``."""
    probe = (
        f"{code}\nimport json, sys\n"
        "print(json.dumps(sorted(m for m in sys.modules if '.' not in m "
        "or m.startswith('rnncourse'))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_the_student_api_loads_no_instructor_or_command_module():
    loaded = _modules_after("import rnncourse\nfor n in rnncourse.__all__: getattr(rnncourse, n)")
    outside = sorted(
        m for m in loaded if m.startswith(("rnncourse.instructor", "rnncourse.student"))
    )
    assert not outside, f"import rnncourse loaded {outside}"
    assert "nbgrader" not in loaded, "the student API imported nbgrader"


def test_import_rnncourse_alone_imports_no_torch():
    assert "torch" not in _modules_after("import rnncourse")


def test_every_public_name_resolves_and_unknown_names_fail_clearly():
    import rnncourse

    assert all(getattr(rnncourse, name) is not None for name in rnncourse.__all__)
    with pytest.raises(AttributeError, match="has no attribute 'rnn_stepp'"):
        rnncourse.rnn_stepp  # noqa: B018


@pytest.mark.parametrize("command", ["check", "pack"])
def test_student_commands_start_without_torch_or_pandas(command, tmp_path):
    args = [command, "01_time_series", "--course", str(REPO)]
    if command == "pack":
        notebook = str(REPO / "lessons" / "01_time_series")
        args[2:2] = [notebook]
        args += ["--student", "ada", "--out", str(tmp_path)]
    loaded = _modules_after(f"from rnncourse import cli\ncli.main({args!r})", cwd=tmp_path)
    heavy = sorted({"torch", "pandas", "matplotlib"} & loaded)
    assert not heavy, f"rnncourse {command} imported {heavy}"
    assert not [m for m in loaded if m.startswith("rnncourse.instructor")]
