"""The course as nbgrader sees it: its settings, its gradebook, and the nbgrader steps.

Every nbgrader step runs as ``python -m nbgrader`` inside ``autograder/`` so
that the course configuration applies, with ``RNNCOURSE_DEVICE=cpu`` so that
grading never depends on a GPU; code that reads the gradebook or the exchange in
this process takes the same settings from that configuration file
(``settings``), so the two never disagree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..course import CONFIG_NAME, Course, CourseError


@dataclass(frozen=True)
class Settings:
    """What nbgrader_config.py says about where things are."""

    course_id: str
    db_url: str
    exchange_root: Path


def settings(course: Course) -> Settings:
    """Where nbgrader_config.py, read as nbgrader reads it, keeps the course's things."""
    from nbgrader.exchange.default import Exchange

    config = course_config(course)
    coursedir, exchange = config.CourseDirectory, config.Exchange
    root = Path(coursedir.get("root", str(course.autograder_dir)))
    return Settings(
        course_id=coursedir.get("course_id", "default_course"),
        db_url=coursedir.get("db_url", f"sqlite:///{root / 'gradebook.db'}"),
        exchange_root=Path(exchange.get("root", Exchange.root.default_value)),
    )


def course_config(course: Course):
    """The course's nbgrader_config.py, loaded as nbgrader loads it (a traitlets Config).

    The configuration file may set environment variables for nbgrader's
    kernels; they are undone here, so reading it changes nothing in this process.
    """
    from traitlets.config.loader import PyFileConfigLoader

    course.check()
    saved = dict(os.environ)
    os.environ.update(course_env(course))
    try:
        config = PyFileConfigLoader(CONFIG_NAME, path=str(course.autograder_dir)).load_config()
    finally:  # put back only what changed: other threads may be reading os.environ
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update({k: v for k, v in saved.items() if os.environ.get(k) != v})
    return config


def open_gradebook(course: Course):
    """The course's nbgrader Gradebook (use it in a ``with`` block)."""
    from nbgrader.api import Gradebook

    where = settings(course)
    saved = os.environ.get("PATH", "")
    os.environ["PATH"] = _tools_path(saved)  # a new gradebook is set up by running `alembic`
    try:
        return Gradebook(where.db_url, where.course_id)
    finally:
        os.environ["PATH"] = saved


def _tools_path(path: str) -> str:
    """``path`` with this Python's scripts first: nbgrader shells out to ``alembic``."""
    return os.pathsep.join([str(Path(sys.executable).parent), path])


def course_env(course: Course) -> dict[str, str]:
    """What nbgrader run for ``course`` must see besides nbgrader_env (its exchange)."""
    return {"RNNCOURSE_EXCHANGE": str(course.exchange)} if course.exchange else {}


def nbgrader_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment nbgrader runs in: this Python's tools on PATH, CPU only."""
    env = dict(os.environ)
    env["PATH"] = _tools_path(env.get("PATH", ""))
    env["RNNCOURSE_DEVICE"] = "cpu"
    # kernels draw with the inline backend, so plots reach notebooks and feedback as images
    env.pop("MPLBACKEND", None)
    env.update(extra or {})
    return env


def run_nbgrader(
    course: Course, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course's autograder folder; output is captured."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.run(
        cmd,
        cwd=course.autograder_dir,
        env=nbgrader_env({**course_env(course), **(env or {})}),
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise CourseError(
            f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    return proc


def build(course: Course, lessons: list[str] | None = None) -> list[Path]:
    """Regenerate ``lessons/<id>`` from ``solutions/<id>`` with nbgrader.

    nbgrader removes the solutions and hidden tests, clears outputs and records
    each graded cell in the gradebook. Returns the generated notebooks.
    """
    course.check()
    lessons = [course.check_lesson(x) for x in lessons] if lessons else course.lesson_ids()
    for lesson in lessons:
        run_nbgrader(course, "generate_assignment", lesson, "--force")
    return [course.release_notebook(lesson) for lesson in lessons]


def autograde(course: Course, lesson: str, students: list[str] | None = None) -> None:
    """Grade the collected submissions of ``lesson`` (all students, or ``students``)."""
    course.check()
    course.check_lesson(lesson)
    for student in students or [None]:
        only = ["--student", student] if student else []
        run_nbgrader(course, "autograde", lesson, "--force", *only)


def scores(course: Course, lesson: str) -> dict[str, dict[str, tuple[float, float]]]:
    """Per student, per graded cell: ``(score, max_score)`` from the gradebook."""
    from nbgrader.api import MissingEntry

    result: dict[str, dict[str, tuple[float, float]]] = {}
    with open_gradebook(course) as gb:
        for student in gb.students:
            try:
                submission = gb.find_submission_notebook(lesson, lesson, student.id)
            except MissingEntry:
                continue
            result[student.id] = {g.name: (g.score, g.max_score) for g in submission.grades}
    return result
