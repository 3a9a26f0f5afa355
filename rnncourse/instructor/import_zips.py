"""``rnncourse import-zips``: the zips students uploaded to an LMS become submissions.

The zips are written by ``rnncourse pack`` (``rnncourse.student.pack``, which
defines their names). Inside, the notebook may sit at any depth (students who
zip by hand); the timestamp, written on the student's machine, is read from
beside it, and without one the submission counts as on time. Zip files are only
ever read.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..course import Course, CourseError
from ..student.pack import student_of, zip_name

MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024  # a bigger "notebook" in a zip is not one


@dataclass
class ImportReport:
    imported: dict[str, Path] = field(default_factory=dict)  # student -> submitted folder
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, why)


def _notebook_member(zf: zipfile.ZipFile, lesson: str) -> zipfile.ZipInfo:
    """The one ``<lesson>.ipynb`` in a zip (macOS and Jupyter litter ignored)."""
    found = [
        info
        for info in zf.infolist()
        if PurePosixPath(info.filename).name == f"{lesson}.ipynb"
        and not {"__MACOSX", ".ipynb_checkpoints"} & set(PurePosixPath(info.filename).parts)
    ]
    if not found:
        raise ValueError(f"it holds no {lesson}.ipynb")
    if len(found) > 1:
        raise ValueError(f"it holds {len(found)} files named {lesson}.ipynb")
    if found[0].file_size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"its {lesson}.ipynb is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
    return found[0]


def _read_zip(path: Path, lesson: str) -> tuple[bytes, str | None]:
    """The notebook's bytes and the timestamp packed beside it (or None)."""
    from nbgrader.utils import parse_utc

    with zipfile.ZipFile(path) as zf:
        member = _notebook_member(zf, lesson)
        content = zf.read(member)
        stamp_name = str(PurePosixPath(member.filename).with_name("timestamp.txt"))
        stamp = zf.read(stamp_name) if stamp_name in zf.namelist() else None
    try:
        json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = f" (line {err.lineno}, column {err.colno})" if hasattr(err, "lineno") else ""
        raise ValueError(f"its {member.filename} is not a notebook: not valid JSON{where}") from err
    if stamp is None:
        return content, None
    try:
        stamp = stamp.decode("utf-8").strip()
        parse_utc(stamp)  # ValueError when nbgrader could not read it
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"its {stamp_name} does not hold a date and time") from err
    return content, stamp


def import_zips(course: Course, lesson: str, folder: Path, *, force: bool = False) -> ImportReport:
    """Turn every ``...<lesson>__<student>.zip`` in ``folder`` into a submission in
    ``autograder/submitted/<student>/<lesson>``, as ``nbgrader collect`` would.

    A student already imported is left alone unless ``force``; two zips for one
    student import neither (say which one counts by removing the other)."""
    course.check()
    course.check_lesson(lesson)
    if not folder.is_dir():
        raise CourseError(f"{folder} is not a folder of zip files.")
    report = ImportReport()
    by_student: dict[str, list[Path]] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        student = student_of(path.name, lesson)
        if student is None:
            report.skipped.append(
                (path.name, f"its name does not end in {zip_name(lesson, 'STUDENT')}")
            )
        else:
            by_student.setdefault(student, []).append(path)
    for student, paths in sorted(by_student.items()):
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            for path in paths:
                report.skipped.append((path.name, f"{student} has {len(paths)} zips ({names})"))
            continue
        path = paths[0]
        dest = course.submitted_dir(student, lesson)
        if dest.exists() and not force:
            report.skipped.append((path.name, "already imported (--force replaces it)"))
            continue
        try:
            content, stamp = _read_zip(path, lesson)
        except (zipfile.BadZipFile, ValueError, UnicodeDecodeError) as err:
            report.skipped.append((path.name, f"not a usable submission: {err}"))
            continue
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        (dest / f"{lesson}.ipynb").write_bytes(content)
        if stamp is not None:
            (dest / "timestamp.txt").write_text(stamp)
        report.imported[student] = dest
    return report
