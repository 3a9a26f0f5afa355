"""The course folder: its lessons and where nbgrader keeps what.

A course folder holds ``solutions/<lesson>/`` (instructor sources),
``lessons/<lesson>/`` (generated student versions) and ``autograder/`` (the
nbgrader course root with ``nbgrader_config.py``; student work and the gradebook
live there). Both sides use it: a student's ``rnncourse check`` finds the
released lesson here, the instructor's commands find everything else. It
imports nothing beyond the standard library.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_NAME = "nbgrader_config.py"


class CourseError(Exception):
    """A problem with the course folder or a lesson name, said in plain words."""


@dataclass(frozen=True)
class Course:
    """A course folder: ``solutions/``, ``lessons/`` and ``autograder/`` side by side.

    ``exchange``, when given, is the exchange folder for this session; it wins
    over ``RNNCOURSE_EXCHANGE`` and the configuration file."""

    root: Path = REPO_ROOT
    exchange: Path | None = None

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
        config = self.autograder_dir / CONFIG_NAME
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

    def submitted_dir(self, student: str, lesson: str) -> Path:
        return self.autograder_dir / "submitted" / student / lesson

    def autograded_notebook(self, student: str, lesson: str) -> Path:
        return self.autograder_dir / "autograded" / student / lesson / f"{lesson}.ipynb"

    def submitted_students(self, lesson: str) -> list[str]:
        """Students with a collected or imported submission of ``lesson``, sorted."""
        folder = self.autograder_dir / "submitted"
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / lesson).is_dir())


def locate(path: str | Path | None = None, exchange: str | Path | None = None) -> Course:
    """The course at ``path``; without one, the course folder that holds the
    current folder, else the course this package lives in. Raises CourseError
    when the folder is not a course."""
    folder = Path(path).resolve() if path is not None else None
    if folder is None:
        here = Path.cwd().resolve()
        found = [f for f in (here, *here.parents) if (f / "autograder" / CONFIG_NAME).is_file()]
        folder = found[0] if found else REPO_ROOT
    return Course(folder, Path(exchange).resolve() if exchange else None).check()
