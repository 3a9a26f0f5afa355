"""A tiny synthetic lesson and a class of students, for the workflow tests and bench.

The lesson ``00_tiny`` has two exercises, each with a visible and a hidden test,
and runs in about a second (no torch unless asked), so a whole class goes
through nbgrader quickly. Answers are written as overrides for
``lesson_harness.make_submission``; ``EXPECTED`` holds the score each one earns.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lesson_harness import BLANK, REPO, make_submission

from rnncourse import cli
from rnncourse.course import Course
from rnncourse.instructor.nbgrader_course import build

LESSON = "00_tiny"
MAX_SCORE = 5.0  # test_add 2 + test_double 3
HIDDEN_MARK = "hidden_probe"  # appears in the code of every hidden test, nowhere else

# student -> overrides of the reference solution (BLANK: the released notebook)
ANSWERS = {
    "complete": {},
    "empty": BLANK,
    "partial": {"double": "return 2 * x if x < 100 else x"},  # fails a hidden test only
}
EXPECTED = {"complete": 5.0, "empty": 0.0, "partial": 2.0}
PARTIAL_MESSAGE = "double(1000) should be 2000, got 1000"


def _cell(cell_type: str, source: str, **nbgrader) -> dict:
    cell = {"cell_type": cell_type, "metadata": {}, "source": source}
    if cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    if nbgrader:
        meta = {"grade": False, "solution": False, "locked": False, "schema_version": 3}
        meta.update(nbgrader)
        cell["metadata"]["nbgrader"] = meta
    return cell


def tiny_lesson(with_torch: bool = False) -> dict:
    """The instructor source of ``00_tiny`` (solutions and hidden tests in place)."""
    setup = "import os\n"
    if with_torch:  # what a real lesson's first cell costs
        setup += "import torch\n\ntorch.manual_seed(0)\n"
    setup += (
        'print("RNNCOURSE_DEVICE =", os.environ.get("RNNCOURSE_DEVICE"))\n'
        'print("NBGRADER_EXECUTION =", os.environ.get("NBGRADER_EXECUTION"))'
    )
    cells = [
        _cell(
            "markdown",
            "# 00_tiny\n\nA synthetic lesson: two exercises.",
            grade_id="intro",
            locked=True,
        ),
        _cell("code", setup, grade_id="setup", locked=True),
        _cell(
            "code",
            'def add(a, b):\n    """Return a + b."""\n'
            "    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
            grade_id="add",
            solution=True,
        ),
        _cell(
            "code",
            'assert add(1, 2) == 3, "add(1, 2) should be 3"\n'
            "### BEGIN HIDDEN TESTS\n"
            f"{HIDDEN_MARK}_add = add(-7, 7)\n"
            f'assert {HIDDEN_MARK}_add == 0, "add(-7, 7) should be 0"\n'
            "### END HIDDEN TESTS",
            grade_id="test_add",
            grade=True,
            locked=True,
            points=2,
        ),
        _cell(
            "code",
            'def double(x):\n    """Return 2 * x."""\n'
            "    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            grade_id="double",
            solution=True,
        ),
        _cell(
            "code",
            'assert double(2) == 4, "double(2) should be 4"\n'
            "### BEGIN HIDDEN TESTS\n"
            f"{HIDDEN_MARK}_double = double(1000)\n"
            f'assert {HIDDEN_MARK}_double == 2000, f"double(1000) should be 2000, '
            f'got {{{HIDDEN_MARK}_double}}"\n'
            "### END HIDDEN TESTS",
            grade_id="test_double",
            grade=True,
            locked=True,
            points=3,
        ),
    ]
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def tiny_course(dest: Path, *, with_torch: bool = False, build_it: bool = True) -> Course:
    """A course folder at ``dest`` holding only ``00_tiny``, built (gradebook included)."""
    (dest / "autograder").mkdir(parents=True)
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", dest / "autograder")
    source = dest / "solutions" / LESSON / f"{LESSON}.ipynb"
    source.parent.mkdir(parents=True)
    source.write_text(json.dumps(tiny_lesson(with_torch), indent=1))
    course = Course(dest)
    if build_it:
        build(course, [LESSON])
    return course


def answer(course: Course, kind: str) -> dict:
    """The notebook a student of kind ``kind`` (a key of ANSWERS) hands in."""
    return make_submission(LESSON, ANSWERS[kind], repo=course.root)


# ---- students on the exchange -----------------------------------------------------


@dataclass(frozen=True)
class Student:
    """A student with a home folder of their own, as on a shared machine.

    The exchange steps run nbgrader's own exchange classes in this process, as
    the JupyterLab Assignments panel does; ``cli`` runs the same steps as the
    ``nbgrader`` command a student types."""

    id: str
    home: Path
    exchange: Path
    course_id: str = "rnncourse"

    def _coursedir(self, assignment: str):
        from nbgrader.coursedir import CourseDirectory

        return CourseDirectory(
            course_id=self.course_id, assignment_id=assignment, student_id=self.id
        )

    def _run(self, step, assignment: str, **traits) -> None:
        from nbgrader.auth import Authenticator

        self.home.mkdir(parents=True, exist_ok=True)
        step(
            coursedir=self._coursedir(assignment),
            authenticator=Authenticator(),
            root=str(self.exchange),
            assignment_dir=str(self.home),
            cache=str(self.home / "nbgrader_cache"),
            **traits,
        ).start()

    def fetch(self, assignment: str) -> Path:
        from nbgrader.exchange.default import ExchangeFetchAssignment

        self._run(ExchangeFetchAssignment, assignment)
        return self.home / assignment

    def submit(self, assignment: str, at: dt.datetime | None = None) -> None:
        """Submit ``home/<assignment>``; ``at`` sets the student's clock (UTC)."""
        from nbgrader.exchange.default import ExchangeSubmit

        class SubmitAt(ExchangeSubmit):
            def set_timestamp(self):
                if at is None:
                    super().set_timestamp()
                else:
                    self.timestamp = at.strftime(self.timestamp_format)

        self._run(SubmitAt, assignment)

    def fetch_feedback(self, assignment: str) -> list[Path]:
        from nbgrader.exchange.default import ExchangeFetchFeedback

        self._run(ExchangeFetchFeedback, assignment)
        return sorted((self.home / assignment / "feedback").rglob("*.html"))

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """``nbgrader ARGS`` typed by this student in their home folder."""
        self.home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "RNNCOURSE"))}
        env["HOME"] = str(self.home)
        common = [f"--course={self.course_id}", f"--Exchange.root={self.exchange}"]
        return subprocess.run(
            [sys.executable, "-m", "nbgrader", *args, *common, f"--student={self.id}"],
            cwd=self.home,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def write(self, assignment: str, notebook: dict) -> None:
        """Save ``notebook`` over the fetched lesson, as the student's work."""
        path = self.home / assignment / f"{assignment}.ipynb"
        path.write_text(json.dumps(notebook, ensure_ascii=False, indent=1))


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ---- the rnncourse command ---------------------------------------------------------


def fingerprint(*folders: Path) -> dict[str, str]:
    """sha256 of every file under ``folders``."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def rnncourse(*args) -> tuple[int, str, str]:
    """Run the ``rnncourse`` command in this process; (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


def ok(*args) -> str:
    """Run ``rnncourse ARGS``, which must succeed; return what it printed."""
    status, out, err = rnncourse(*args)
    assert status == 0, f"rnncourse {' '.join(map(str, args))} exited {status}:\n{out}\n{err}"
    return out
