"""The nbgrader exchange: releasing lessons and solutions, collecting submissions.

The exchange is a folder that the instructor and every student can reach: on
one machine (``/usr/local/share/nbgrader/exchange`` by default, or any folder
named by ``RNNCOURSE_EXCHANGE`` / ``--exchange``) or on a shared filesystem. Per
course it holds ``outbound/<lesson>`` (released lessons, fetched by students),
``inbound/`` (submissions) and ``feedback/``. The instructor's side runs
nbgrader's own commands in the course folder; students use nbgrader's
``fetch_assignment`` / ``submit`` or the Assignments panel of JupyterLab.

Solutions are released as a separate assignment, ``<lesson>-solutions``, so
students fetch them exactly as they fetch a lesson.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from ..course import Course, CourseError
from ..nbgrader_cells import markers
from .nbgrader_course import build, course_config, open_gradebook, run_nbgrader, settings

SOLUTIONS_SUFFIX = "-solutions"


def outbound(course: Course, assignment: str) -> Path:
    """Where the exchange keeps a released assignment."""
    where = settings(course)
    return where.exchange_root / where.course_id / "outbound" / assignment


def parse_due(text: str) -> dt.datetime:
    """A due date as nbgrader reads it, in UTC without tzinfo.

    ``"2025-03-01 23:59"`` (UTC), ``"2025-03-01 23:59 Europe/Berlin"`` and
    ``"2025-03-01T23:59+01:00"`` all work."""
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(text)
    except (ValueError, OverflowError) as err:
        raise CourseError(
            f"cannot read the due date {text!r}: use e.g. '2025-03-01 23:59 Europe/Berlin'."
        ) from err


def due_date(course: Course, lesson: str) -> dt.datetime | None:
    """The lesson's due date in the gradebook (UTC), or None."""
    from nbgrader.api import MissingEntry

    with open_gradebook(course) as gb:
        try:
            return gb.find_assignment(lesson).duedate
        except MissingEntry:
            return None


def release(course: Course, lesson: str, *, due: str | None = None, force: bool = False) -> Path:
    """Build ``lesson`` and put it into the exchange; return its outbound folder.

    Building first makes the gradebook, ``lessons/`` and the exchange hold the
    same version of the lesson. ``due`` sets the due date that late penalties
    count from; ``force`` replaces an earlier release."""
    course.check()
    course.check_lesson(lesson)
    deadline = parse_due(due) if due else None
    target = outbound(course, lesson)
    if target.exists() and not force:
        raise CourseError(f"{lesson} is already released ({target}); pass --force to replace it.")
    build(course, [lesson])
    if deadline is not None:
        with open_gradebook(course) as gb:
            gb.update_or_create_assignment(lesson, duedate=deadline)
    run_nbgrader(course, "release_assignment", lesson, *(["--force"] if force else []))
    return target


def collect(course: Course, lesson: str) -> list[str]:
    """Copy the newest submission of every student from the exchange into
    ``autograder/submitted/<student>/<lesson>``; return the students who have one."""
    course.check()
    course.check_lesson(lesson)
    where = settings(course)
    inbound = where.exchange_root / where.course_id / "inbound"
    if not inbound.is_dir():
        raise CourseError(
            f"nothing to collect: {inbound} does not exist. Release {lesson} first, "
            "or point --exchange / RNNCOURSE_EXCHANGE at the exchange folder."
        )
    run_nbgrader(course, "collect", lesson, "--update")
    return course.submitted_students(lesson)


def release_solutions(course: Course, lesson: str, *, force: bool = False) -> Path:
    """Release the solution notebook of ``lesson`` as ``<lesson>-solutions``.

    The notebook keeps the solutions and the visible tests and loses the hidden
    tests (nbgrader_config.py configures GenerateSolution so). Before the due
    date this refuses unless ``force``: students could copy the answers."""
    course.check()
    course.check_lesson(lesson)
    from nbgrader.api import MissingEntry

    with open_gradebook(course) as gb:
        try:
            deadline = gb.find_assignment(lesson).duedate
        except MissingEntry:
            raise CourseError(f"{lesson} was never built or released: release it first.") from None
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if deadline is not None and now < deadline and not force:
        raise CourseError(
            f"{lesson} is due {deadline:%Y-%m-%d %H:%M} UTC: solutions released now could be "
            "copied. Pass --force to release them anyway."
        )
    run_nbgrader(course, "generate_solution", lesson, "--force")
    staging = course.autograder_dir / "release_solutions"
    assignment = lesson + SOLUTIONS_SUFFIX
    shutil.rmtree(staging / assignment, ignore_errors=True)
    (staging / lesson).rename(staging / assignment)
    hidden = markers(course_config(course)).begin_hidden_tests
    for notebook in (staging / assignment).rglob("*.ipynb"):
        if hidden in notebook.read_text():
            raise CourseError(
                f"{notebook} still holds hidden tests: autograder/nbgrader_config.py must list "
                "ClearHiddenTests in GenerateSolution.preprocessors. Nothing was released."
            )
    run_nbgrader(
        course,
        "release_assignment",
        assignment,
        "--force",
        f"--CourseDirectory.release_directory={staging}",
    )
    return outbound(course, assignment)
