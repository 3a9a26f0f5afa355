"""Run submissions of a lesson through nbgrader autograde, for the lesson tests.

A submission starts from the generated student notebook (``lessons/<id>``) and
fills every exercise with the reference solution from ``solutions/<id>``, except
the exercises a test overrides. An override is the body that goes between the
solution markers (written at any indentation); wrap it in ``WholeCell`` to
replace the whole cell instead (a student who rewrote the signature).

    subs = {
        "reference": {},
        "forbidden": {"one_hot": "return F.one_hot(indices, num_classes).float()"},
        "blank": BLANK,        # the student notebook as released
    }
    got = grade_lesson("02_embeddings", subs, tmp_path)
    assert got["forbidden"]["test_one_hot"] == 0

Everything runs in a temporary copy of the course, so the repository's own
gradebook and folders are never touched.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import textwrap
from pathlib import Path

from rnncourse.course import Course
from rnncourse.instructor.nbgrader_course import autograde, build, scores
from rnncourse.nbgrader_cells import cell_source, markers, nbgrader_meta

REPO = Path(__file__).resolve().parent.parent
_MARKERS = markers()
BEGIN, END = f"### {_MARKERS.begin_solution}", f"### {_MARKERS.end_solution}"
BLANK = None  # a submission that leaves every exercise as released


class WholeCell(str):
    """An override that replaces the whole solution cell, not only its body."""


def solution_cells(notebook: dict) -> dict[str, str]:
    """grade_id -> source of every solution cell of a notebook."""
    return {
        nbgrader_meta(c)["grade_id"]: cell_source(c)
        for c in notebook["cells"]
        if nbgrader_meta(c).get("solution")
    }


def reference_solutions(lesson: str, repo: Path = REPO) -> dict[str, str]:
    """The instructor's solution cells, markers and all."""
    src = json.loads((repo / "solutions" / lesson / f"{lesson}.ipynb").read_text())
    return solution_cells(src)


def replace_body(source: str, body: str) -> str:
    """Put ``body`` between the solution markers of a cell's ``source``."""
    match = re.search(
        rf"^([ \t]*){re.escape(BEGIN)}\n.*?^[ \t]*{re.escape(END)}[ \t]*$",
        source,
        flags=re.S | re.M,
    )
    if match is None:
        raise ValueError(f"no {BEGIN} ... {END} block in cell:\n{source}")
    indent = match.group(1)
    new = textwrap.indent(textwrap.dedent(body).strip("\n"), indent) + "\n"
    return source[: match.start()] + new + source[match.end() + 1 :]


def make_submission(lesson: str, overrides: dict[str, str] | None, repo: Path = REPO) -> dict:
    """A student notebook of ``lesson`` answered with the reference except ``overrides``.

    ``overrides=None`` (BLANK) returns the released notebook untouched.
    """
    released = json.loads((repo / "lessons" / lesson / f"{lesson}.ipynb").read_text())
    if overrides is None:
        return released
    unknown = set(overrides) - set(solution_cells(released))
    if unknown:
        raise KeyError(f"{lesson} has no solution cells named {sorted(unknown)}")
    reference = reference_solutions(lesson, repo)
    nb = copy.deepcopy(released)
    for cell in nb["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if not nbgrader_meta(cell).get("solution"):
            continue
        if grade_id in overrides:
            answer = overrides[grade_id]
            whole = isinstance(answer, WholeCell)
            src = answer if whole else replace_body(reference[grade_id], answer)
        else:
            src = reference[grade_id]
        cell["source"] = src
    return nb


def course_copy(lessons: list[str], dest: Path, repo: Path = REPO) -> Course:
    """A temporary course holding ``lessons``, built, with an empty gradebook."""
    (dest / "autograder").mkdir(parents=True, exist_ok=True)
    shutil.copy(repo / "autograder" / "nbgrader_config.py", dest / "autograder")
    for lesson in lessons:
        shutil.copytree(repo / "solutions" / lesson, dest / "solutions" / lesson)
    course = Course(dest)
    build(course, lessons)
    return course


def submit(course: Course, lesson: str, student: str, notebook: dict) -> Path:
    """Place a notebook where nbgrader collects submissions."""
    folder = course.autograder_dir / "submitted" / student / lesson
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{lesson}.ipynb"
    path.write_text(json.dumps(notebook, ensure_ascii=False, indent=1))
    return path


def grade_lesson(
    lesson: str, submissions: dict[str, dict[str, str] | None], tmp_path: Path
) -> dict[str, dict[str, float]]:
    """Autograde one notebook per student; return student -> test grade_id -> score."""
    course = course_copy([lesson], tmp_path / "course")
    for student, overrides in submissions.items():
        submit(course, lesson, student, make_submission(lesson, overrides))
    autograde(course, lesson)
    return {
        student: {cell: score for cell, (score, _max) in cells.items()}
        for student, cells in scores(course, lesson).items()
    }


def max_scores(lesson: str, repo: Path = REPO) -> dict[str, float]:
    """grade_id -> points of every graded test cell of a lesson."""
    src = json.loads((repo / "solutions" / lesson / f"{lesson}.ipynb").read_text())
    return {
        nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0))
        for c in src["cells"]
        if nbgrader_meta(c).get("grade") and c["cell_type"] == "code"
    }


def execute_notebook(path: Path, *, timeout: int = 300, env: dict[str, str] | None = None) -> dict:
    """Run a notebook top to bottom in a fresh kernel, as a student's machine would.

    Errors do not stop the run; each cell's outputs are returned in the notebook.
    The kernel runs in the notebook's folder with ``RNNCOURSE_DEVICE=cpu``.
    """
    import nbformat
    from nbclient import NotebookClient

    from rnncourse.instructor.nbgrader_course import nbgrader_env

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(env=nbgrader_env(env))  # the kernel's environment; ours is untouched
    return nb


def errors(notebook: dict) -> list[tuple[str, str, str]]:
    """(cell grade_id or id, exception name, message) for every error output."""
    found = []
    for cell in notebook["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                name = nbgrader_meta(cell).get("grade_id") or cell.get("id", "?")
                found.append((name, out["ename"], out["evalue"]))
    return found


def expected_scores(
    lesson: str,
    submissions: dict[str, dict[str, str] | None],
    full_marks: set[str],
    failing: dict[str, set[str]] | None = None,
) -> dict[str, dict[str, float]]:
    """What each scripted student should score, per test cell.

    Full points for the students in ``full_marks``; zero everywhere for a BLANK
    one; for a student named in ``failing``, zero on exactly the exercises listed
    there (a mistake in one exercise that later tests also catch, a shortcut in
    one cell that another cell's check sees); for every other student, zero on
    exactly the exercises their submission overrides."""
    points = max_scores(lesson)
    failing = failing or {}
    unknown = set(failing) - set(submissions)
    assert not unknown, f"failing names students with no submission: {sorted(unknown)}"
    expected = {}
    for student, answers in submissions.items():
        if student in full_marks:
            failed = set()
        elif answers is BLANK:
            failed = {cell.removeprefix("test_") for cell in points}
        elif student in failing:
            failed = set(failing[student])
        else:
            failed = set(answers)
        expected[student] = {
            cell: 0.0 if cell.removeprefix("test_") in failed else pts
            for cell, pts in points.items()
        }
    return expected
