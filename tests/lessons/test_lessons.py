"""Rules every lesson keeps: clean nbgrader markup, generated student versions in
sync, solutions that run and pass, blank student versions that fail only on their
exercises."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lesson_harness import REPO, course_copy, errors, execute_notebook

from rnncourse.course import Course
from rnncourse.nbgrader_cells import cell_source, find_cell, markers, nbgrader_meta
from rnncourse.instructor.nbgrader_course import nbgrader_env

COURSE = Course(REPO)
LESSONS = COURSE.lesson_ids()
CURRICULUM = REPO / "docs" / "curriculum.md"
# New contracts arrive in the project's shared folder, beside a developer's clone.
ARRIVING_CURRICULUM = REPO.parent / "shared" / "CURRICULUM.md"


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def contract_exercises() -> dict[str, list[str]]:
    """lesson id -> exercise names (functions and classes), read from the curriculum's
    bullets: a lesson's own section (`## 01_time_series — ...`) and what the second
    edition adds to it (`### 01_time_series adds: ...`)."""
    text = CURRICULUM.read_text()
    found: dict[str, list[str]] = {}
    for block in re.split(r"^###? ", text, flags=re.M)[1:]:
        lesson = block.split()[0]
        names = re.findall(r"^- `(?:class )?(\w+)\(", block, flags=re.M)
        names += re.findall(r"^- `\w+\(.*?\)` / `(\w+)\(", block, flags=re.M)
        names += re.findall(r"^- `\w+\(.*?\)`\s+and\s*\n?\s*`(\w+)\(", block, flags=re.M)
        for name in names:
            if name not in found.setdefault(lesson, []):
                found[lesson].append(name)
    return found


def test_curriculum_in_step_with_the_arriving_copy():
    """docs/curriculum.md is the course's syllabus; where the shared folder that new
    contracts arrive in sits beside the clone, the two must say the same."""
    if not ARRIVING_CURRICULUM.is_file():
        pytest.skip("no shared folder beside this clone (a newcomer's clone): nothing to compare")
    assert CURRICULUM.read_text() == ARRIVING_CURRICULUM.read_text(), (
        "the shared CURRICULUM.md has changed: copy it to docs/curriculum.md and build what "
        "its new contracts ask for"
    )


def test_there_are_lessons():
    assert LESSONS, "solutions/ holds no lessons"


@pytest.mark.parametrize("lesson", LESSONS)
@pytest.mark.parametrize("folder", ["solutions", "lessons"])
def test_committed_without_outputs(lesson, folder):
    path = REPO / folder / lesson / f"{lesson}.ipynb"
    assert path.is_file(), f"{path} is missing: run `rnncourse build`"
    dirty = [
        c.get("id")
        for c in _cells(path)
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]
    assert not dirty, f"{path} has outputs or execution counts in cells {dirty}: strip them"


@pytest.mark.parametrize("lesson", LESSONS)
def test_nbgrader_markup(lesson):
    cells = _cells(COURSE.source_notebook(lesson))
    ids = [nbgrader_meta(c)["grade_id"] for c in cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), f"duplicate grade_ids in {lesson}"
    assert not [i for i in ids if i.startswith("cell-")], "use grade_ids that say what they grade"
    first_code = next(c for c in cells if c["cell_type"] == "code")
    for needed in ("seed_everything(0)", "USE_GPU = True", "pick_device(USE_GPU)"):
        assert needed in cell_source(first_code), f"{lesson}: first code cell lacks {needed}"
    for cell in cells:
        meta, src = nbgrader_meta(cell), cell_source(cell)
        if meta.get("solution") and cell["cell_type"] == "code":
            marks = markers()
            assert marks.begin_solution in src and marks.end_solution in src, meta["grade_id"]
        if meta.get("grade") and cell["cell_type"] == "code":
            assert meta.get("locked"), f"{meta['grade_id']}: test cells must be locked"
            assert meta.get("points", 0) > 0, f"{meta['grade_id']}: test cells need points"
            assert meta["grade_id"].startswith("test_"), meta["grade_id"]
            last = src.rstrip().splitlines()[-1]
            # nbgrader reads a number printed by a test cell's last line as partial credit
            assert not re.fullmatch(r"[\w.\[\]()]+", last.strip()), (
                f"{meta['grade_id']}: end test cells in a statement, not an expression"
            )


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_contract_exercise_is_graded(lesson):
    expected = contract_exercises().get(lesson, [])
    cells = _cells(COURSE.source_notebook(lesson))
    solutions = {nbgrader_meta(c)["grade_id"] for c in cells if nbgrader_meta(c).get("solution")}
    tests = {nbgrader_meta(c)["grade_id"] for c in cells if nbgrader_meta(c).get("grade")}
    for name in expected:
        assert name in solutions, f"{lesson}: no solution cell with grade_id {name!r}"
        assert f"test_{name}" in tests, f"{lesson}: no test cell test_{name}"
        test_src = cell_source(find_cell(cells, f"test_{name}"))
        assert markers().begin_hidden_tests in test_src, f"test_{name} has no hidden tests"


def test_lessons_in_sync_with_solutions(tmp_path):
    """lessons/ is exactly what `rnncourse build` generates from solutions/."""
    course = course_copy(LESSONS, tmp_path / "course")
    for lesson in LESSONS:
        fresh = course.release_notebook(lesson).read_text()
        committed = COURSE.release_notebook(lesson).read_text()
        assert fresh == committed, f"lessons/{lesson} is stale: run `rnncourse build` and commit"


@pytest.mark.parametrize("lesson", LESSONS)
def test_student_version_hides_solutions(lesson):
    text = COURSE.release_notebook(lesson).read_text()
    marks = markers()
    for marker in (marks.begin_solution, marks.begin_hidden_tests, marks.end_hidden_tests):
        assert marker not in text, f"lessons/{lesson} leaks {marker}"


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_runs_and_passes(lesson):
    """The instructor notebook, full length on CPU: no errors, within the 120 s budget."""
    start = time.monotonic()
    nb = execute_notebook(COURSE.source_notebook(lesson), timeout=240)
    elapsed = time.monotonic() - start
    assert not errors(nb), f"{lesson} solution raised: {errors(nb)}"
    stderr = [
        (c.get("id"), o.get("text", "")[:200])
        for c in nb["cells"]
        if nbgrader_meta(c).get("grade")
        for o in c.get("outputs", [])
        if o.get("name") == "stderr"
    ]
    assert not stderr, f"graded cells wrote to stderr (nbgrader scores them zero): {stderr}"
    assert elapsed < 150, f"{lesson} took {elapsed:.0f} s; the budget is 120 s on 2 CPU cores"


@pytest.mark.parametrize("lesson", LESSONS)
def test_blank_student_version_fails_only_on_exercises(lesson, tmp_path):
    nb = execute_notebook(
        COURSE.release_notebook(lesson), timeout=240, env={"NBGRADER_EXECUTION": "autograde"}
    )
    other = [e for e in errors(nb) if e[1] != "NotImplementedError"]
    assert not other, f"blank {lesson} raised errors that are not unanswered exercises: {other}"
    assert errors(nb), f"blank {lesson} raised nothing: are the exercises blanked?"


@pytest.mark.parametrize("lesson", LESSONS)
def test_validate_reports_unanswered_exercises(lesson, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", "validate", str(COURSE.release_notebook(lesson))],
        capture_output=True,
        text=True,
        env=nbgrader_env(),
        cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert "VALIDATION FAILED" in out, f"nbgrader validate did not flag blank {lesson}:\n{out}"
