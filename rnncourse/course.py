"""The course as nbgrader sees it: its folders, its lessons, and the nbgrader steps.

A course folder holds ``solutions/<lesson>/`` (instructor sources),
``lessons/<lesson>/`` (generated student versions) and ``autograder/`` (the
nbgrader course root with ``nbgrader_config.py``; student work and the gradebook
live there). Every nbgrader step runs as ``python -m nbgrader`` inside
``autograder/`` so that the course configuration applies, with
``RNNCOURSE_DEVICE=cpu`` so that grading never depends on a GPU.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class CourseError(Exception):
    """A problem with the course folder or a lesson name, said in plain words."""


@dataclass(frozen=True)
class Course:
    """A course folder: ``solutions/``, ``lessons/`` and ``autograder/`` side by side."""

    root: Path = REPO_ROOT

    @property
    def solutions_dir(self) -> Path:
        return self.root / "solutions"

    @property
    def lessons_dir(self) -> Path:
        return self.root / "lessons"

    @property
    def autograder_dir(self) -> Path:
        return self.root / "autograder"

    def check(self) -> Course:
        """Raise CourseError unless this looks like a course folder."""
        config = self.autograder_dir / "nbgrader_config.py"
        if not config.is_file():
            raise CourseError(
                f"{self.root} is not an rnncourse course folder: {config} is missing. "
                "Run this from the course folder or pass --course PATH."
            )
        if not self.solutions_dir.is_dir():
            raise CourseError(f"{self.solutions_dir} is missing: the lesson sources live there.")
        return self

    def lesson_ids(self) -> list[str]:
        """The lessons, in course order: every ``solutions/<id>/<id>.ipynb``."""
        return sorted(
            p.name for p in self.solutions_dir.iterdir() if (p / f"{p.name}.ipynb").is_file()
        )

    def check_lesson(self, lesson: str) -> str:
        """Return ``lesson`` if the course has it, else raise with the closest names."""
        known = self.lesson_ids()
        if lesson in known:
            return lesson
        hint = difflib.get_close_matches(lesson, known, n=1)
        did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
        raise CourseError(
            f"no lesson named {lesson!r}.{did_you_mean} Lessons: {', '.join(known) or 'none'}."
        )

    def source_notebook(self, lesson: str) -> Path:
        return self.solutions_dir / lesson / f"{lesson}.ipynb"

    def release_notebook(self, lesson: str) -> Path:
        return self.lessons_dir / lesson / f"{lesson}.ipynb"


def nbgrader_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment nbgrader runs in: this Python's tools on PATH, CPU only."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)  # nbgrader shells out to `alembic`
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env["RNNCOURSE_DEVICE"] = "cpu"
    env.setdefault("MPLBACKEND", "Agg")
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
        env=nbgrader_env(env),
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
    from nbgrader.api import Gradebook, MissingEntry

    result: dict[str, dict[str, tuple[float, float]]] = {}
    with Gradebook(_db_url(course)) as gb:
        for student in gb.students:
            try:
                submission = gb.find_submission_notebook(lesson, lesson, student.id)
            except MissingEntry:
                continue
            result[student.id] = {g.name: (g.score, g.max_score) for g in submission.grades}
    return result


def _db_url(course: Course) -> str:
    default = f"sqlite:///{course.autograder_dir / 'gradebook.db'}"
    return os.environ.get("RNNCOURSE_DB_URL") or default
