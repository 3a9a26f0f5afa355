"""``rnncourse pack``: a submission as a zip file, for courses that collect work through an LMS.

Without a shared exchange, a student runs ``rnncourse pack LESSON``, which writes
``<lesson>__<student>.zip`` holding ``<lesson>/<lesson>.ipynb`` and
``<lesson>/timestamp.txt`` (when it was packed, in UTC), and uploads that file
to the LMS (Moodle, Canvas, ...). The instructor downloads every upload into one
folder and runs ``rnncourse import-zips LESSON FOLDER``
(``rnncourse.instructor.import_zips``), which reads the format defined here.

The naming rule: a file name must END in ``<lesson>__<student>.zip``; whatever
an LMS puts in front of it (a name, a submission number) is ignored, as long as
it is separated by a character other than a letter or digit. Student ids are
letters, digits and ``. _ @ -``.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import re
import zipfile
from pathlib import Path

from ..course import Course, CourseError

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"  # nbgrader's own, so lateness is counted alike


def zip_name(lesson: str, student: str) -> str:
    return f"{lesson}__{student}.zip"


def student_of(filename: str, lesson: str) -> str | None:
    """The student id a zip's file name carries for ``lesson``, or None."""
    match = re.fullmatch(
        rf"(?:.*[^A-Za-z0-9])?{re.escape(lesson)}__({STUDENT_ID.pattern})\.zip", filename
    )
    return match.group(1) if match else None


def check_student_id(student: str) -> str:
    if not STUDENT_ID.fullmatch(student or ""):
        raise CourseError(
            f"{student!r} cannot be a student id: use letters, digits and . _ @ - "
            "(pass --student ID)."
        )
    return student


def pack(
    course: Course, lesson: str, notebook: Path, *, student: str | None = None, out_dir: Path
) -> Path:
    """Write ``<lesson>__<student>.zip`` in ``out_dir`` from the student's notebook."""
    course.check_lesson(lesson)
    student = check_student_id(student or os.environ.get("USER") or getpass.getuser())
    if not notebook.is_file():
        raise CourseError(
            f"{notebook} does not exist: name your notebook (rnncourse pack {lesson} PATH)."
        )
    content = notebook.read_bytes()
    try:
        json.loads(content)
    except ValueError as err:
        raise CourseError(f"{notebook} is not a notebook (invalid JSON: {err}).") from err
    stamp = dt.datetime.now(dt.UTC).strftime(TIMESTAMP_FORMAT)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / zip_name(lesson, student)
    partial = target.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{lesson}/{lesson}.ipynb", content)
        zf.writestr(f"{lesson}/timestamp.txt", stamp)
    partial.replace(target)  # a half-written zip never carries the final name
    return target
