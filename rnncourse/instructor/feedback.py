"""Feedback for students: one HTML page per submission, without the hidden tests.

nbgrader builds feedback from the autograded notebook, and that notebook holds
the hidden tests: nbgrader puts them back into the test cells to run them. Left
alone, feedback would show their code twice: in the cell's source and in the
traceback of a failing test, which quotes the lines around the failure.
``hide_hidden_tests`` removes both and keeps what the student should see: the
visible tests, every output, each test's failure message and its score. The
course's nbgrader_config.py runs it inside ``nbgrader generate_feedback``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..course import Course, CourseError
from ..nbgrader_cells import Markers, markers
from .nbgrader_course import course_config, run_nbgrader

PLACEHOLDER = "# (hidden tests: not shown)"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_hidden_tests(source: str, marks: Markers | None = None) -> tuple[str, bool]:
    """Replace every ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` block
    by one placeholder comment; return the new source and whether a block was
    found. A block left open hides the rest of the cell (never show too much).
    ``marks``: nbgrader's markers as configured (default: nbgrader's own)."""
    marks = marks or markers()
    kept, inside, found = [], False, False
    for line in source.split("\n"):
        if marks.begin_hidden_tests in line:
            if not inside:
                indent = line[: len(line) - len(line.lstrip())]
                kept.append(indent + PLACEHOLDER)
            inside = found = True
        elif marks.end_hidden_tests in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept), found


def _frame_pattern(execution_counts: set[int | None]) -> re.Pattern:
    """Traceback frames of the cells run as ``In[n]``, as IPython writes them."""
    if None in execution_counts:  # a cell that never got a number: hide every cell frame
        numbers = r"\d+"
    else:
        numbers = "|".join(str(n) for n in sorted(execution_counts)) or "(?!)"
    cell = rf"(?:{numbers})"
    return re.compile(rf"^\s*(Cell In ?\[{cell}\]|Input In \[{cell}\]|<ipython-input-{cell}-)")


def visible_traceback(traceback: list[str], hidden_cells: re.Pattern) -> list[str]:
    """``traceback`` without the frames of cells that hold hidden tests.

    IPython gives one list entry per frame, and a frame of a notebook cell
    quotes the cell's code around the failing line. The header and the last
    entry (``AssertionError: message``) stay, and so do frames in the student's
    own cells and in library files."""
    return [entry for entry in traceback if not hidden_cells.match(_ANSI.sub("", entry))]


def hide_hidden_tests(nb, marks: Markers | None = None):
    """Remove hidden tests from an autograded notebook, in place; return it.

    ``nb`` is an nbformat notebook (attribute access), as nbgrader passes it."""
    marks = marks or markers()
    hidden_counts: set[int | None] = set()
    for cell in nb.cells:
        cell.source, found = strip_hidden_tests(cell.source, marks)
        if found and cell.cell_type == "code":
            hidden_counts.add(cell.get("execution_count"))
    if not hidden_counts:
        return nb
    pattern = _frame_pattern(hidden_counts)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output.traceback = visible_traceback(output.get("traceback", []), pattern)
    return nb


@dataclass
class FeedbackReport:
    """Where each student's feedback went."""

    html: dict[str, Path] = field(default_factory=dict)  # student -> feedback page
    released: list[str] = field(default_factory=list)  # through the exchange
    not_released: list[str] = field(default_factory=list)  # not submitted through it


def feedback_html(course: Course, student: str, lesson: str) -> Path:
    return course.autograder_dir / "feedback" / student / lesson / f"{lesson}.html"


def generate_feedback(course: Course, lesson: str, *, release: bool = True) -> FeedbackReport:
    """Write the feedback page of every autograded submission of ``lesson`` and,
    with ``release``, put the pages of exchange submissions into the exchange,
    where ``nbgrader fetch_feedback`` (or the Assignments panel) finds them.

    Submissions imported from zip files have no exchange copy to attach
    feedback to: their pages stay in ``autograder/feedback/`` for the LMS."""
    course.check()
    course.check_lesson(lesson)
    graded = [
        s
        for s in course.submitted_students(lesson)
        if course.autograded_notebook(s, lesson).is_file()
    ]
    if not graded:
        raise CourseError(
            f"no autograded submissions of {lesson}: run `rnncourse autograde {lesson}`."
        )
    proc = run_nbgrader(course, "generate_feedback", lesson, "--force")
    report = FeedbackReport(html={s: feedback_html(course, s, lesson) for s in graded})
    missing = [s for s, page in report.html.items() if not page.is_file()]
    if missing:
        raise CourseError(
            f"nbgrader wrote no feedback for {', '.join(missing)}. What it said:\n"
            f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    hidden = markers(course_config(course)).begin_hidden_tests
    leaking = [s for s, page in report.html.items() if hidden in page.read_text()]
    if leaking:  # the course configuration lost HideHiddenTests: never release that
        for student in leaking:
            report.html[student].unlink()
        raise CourseError(
            f"feedback of {', '.join(leaking)} showed hidden tests and was deleted: "
            "autograder/nbgrader_config.py must list HideHiddenTests in "
            "GenerateFeedback.preprocessors."
        )
    if not release:
        report.not_released = graded
        return report
    # Exchange submissions carry the secret that names their feedback file.
    for student in graded:
        secret = report.html[student].parent / "submission_secret.txt"
        (report.released if secret.is_file() else report.not_released).append(student)
    if report.released:
        skip = [f"--CourseDirectory.student_id_exclude={','.join(report.not_released)}"]
        run_nbgrader(course, "release_feedback", lesson, *(skip if report.not_released else []))
    return report
