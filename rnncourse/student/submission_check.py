"""``rnncourse check``: is a student's notebook still one the autograder can grade?

nbgrader finds a student's work by the nbgrader metadata of each cell (its
``grade_id``). A cell deleted, duplicated, turned into markdown, or a locked
cell edited, and the autograder grades something other than what the student
sees: a deleted exercise comes back blank, only the last copy of a duplicated
cell counts, edits to a test cell are thrown away. This module compares a
notebook with the released lesson, cell by cell, without running anything, and
says what to fix in plain words.

The reference is the released notebook ``lessons/<lesson>/<lesson>.ipynb``;
when the student works in that very file (a clone of the course), the cell
list comes from the lesson's source in ``solutions/`` and the checksums from
the notebook's own metadata, which nbgrader wrote at release.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..course import Course, CourseError
from ..nbgrader_cells import cell_source, nbgrader_meta

UNANSWERED = "raise NotImplementedError"


@dataclass(frozen=True)
class Finding:
    """One thing found in a notebook: a ``problem`` (the autograder would not
    see the work as the student does) or a ``note`` (worth knowing, harmless)."""

    kind: str
    message: str


def default_notebook(course: Course, lesson: str, where: Path | None = None) -> Path:
    """The notebook a student means: ``PATH`` (a notebook or its folder), else
    ``./<lesson>/<lesson>.ipynb`` as fetched, else the course's own copy."""
    name = f"{lesson}.ipynb"
    if where is not None:
        return where / name if where.is_dir() else where
    fetched = Path.cwd() / lesson / name
    return fetched if fetched.is_file() else course.release_notebook(lesson)


def _tracked(cell: dict) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade_id")) and any(meta.get(k) for k in ("grade", "solution", "locked"))


def _kind(meta: dict) -> str:
    if meta.get("solution"):
        return "exercise"
    return "test" if meta.get("grade") else "locked"


def _settings(cell: dict) -> dict:
    meta = nbgrader_meta(cell)
    flags = {k: bool(meta.get(k)) for k in ("grade", "solution", "locked")}
    if meta.get("grade"):
        flags["points"] = float(meta.get("points", 0))
    return flags


def _read(path: Path) -> dict:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            raise ValueError("it has no list of cells")
        return nb
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise CourseError(f"{path} is not a notebook the autograder can read: {err}") from err


def _checksum(cell: dict) -> str:
    from nbformat import from_dict
    from nbgrader.utils import compute_checksum

    node = from_dict({**cell, "source": cell_source(cell)})
    return compute_checksum(node)


def check_submission(course: Course, lesson: str, path: Path) -> list[Finding]:
    """Everything that would stop the autograder from seeing the work in ``path``."""
    course.check_lesson(lesson)
    student = _read(path)
    released = course.release_notebook(lesson)
    own_copy = not released.is_file() or released.resolve() == path.resolve()
    reference = _read(course.source_notebook(lesson) if own_copy else released)

    expected = {nbgrader_meta(c)["grade_id"]: c for c in reference["cells"] if _tracked(c)}
    found: dict[str, list[tuple[int, dict]]] = {}
    for number, cell in enumerate(student["cells"], start=1):
        if nbgrader_meta(cell).get("grade_id"):
            found.setdefault(nbgrader_meta(cell)["grade_id"], []).append((number, cell))

    findings = []
    for grade_id, ref in expected.items():
        kind = _kind(nbgrader_meta(ref))
        copies = found.get(grade_id, [])
        if not copies:
            findings.append(
                Finding(
                    "problem",
                    f"the {kind} cell '{grade_id}' was deleted: the autograder puts the "
                    "released cell back and grades that. Copy it back from a fresh copy "
                    "of the lesson and redo its work.",
                )
            )
            continue
        if len(copies) > 1:
            where = ", ".join(str(n) for n, _ in copies)
            findings.append(
                Finding(
                    "problem",
                    f"the {kind} cell '{grade_id}' appears {len(copies)} times (cells {where}): "
                    "the autograder keeps only the last one. Delete the other copies.",
                )
            )
        number, cell = copies[-1]
        if cell.get("cell_type") != ref.get("cell_type"):
            findings.append(
                Finding(
                    "problem",
                    f"cell {number} ('{grade_id}') was changed from {ref['cell_type']} to "
                    f"{cell.get('cell_type')}: change it back to a {ref['cell_type']} cell.",
                )
            )
            continue
        if _settings(cell) != _settings(ref):
            changed = ", ".join(
                f"{k} {_settings(ref).get(k)} -> {_settings(cell).get(k)}"
                for k in sorted(set(_settings(ref)) | set(_settings(cell)))
                if _settings(ref).get(k) != _settings(cell).get(k)
            )
            findings.append(
                Finding(
                    "problem",
                    f"the nbgrader settings of cell {number} ('{grade_id}') were changed "
                    f"({changed}): undo that in the cell's metadata, or copy the cell from a "
                    "fresh copy of the lesson.",
                )
            )
            continue
        locked = nbgrader_meta(ref).get("locked") or (
            nbgrader_meta(ref).get("grade") and not nbgrader_meta(ref).get("solution")
        )
        stored = nbgrader_meta(cell if own_copy else ref).get("checksum")
        if locked and stored and _checksum(cell) != stored:
            findings.append(
                Finding(
                    "problem",
                    f"the locked {kind} cell {number} ('{grade_id}') was edited: the "
                    "autograder restores the original, so the edit is lost. Undo it.",
                )
            )
        if nbgrader_meta(ref).get("solution") and UNANSWERED in cell_source(cell):
            findings.append(Finding("note", f"exercise '{grade_id}' is not answered yet."))

    for grade_id, copies in found.items():
        if grade_id not in expected and any(_tracked(c) for _, c in copies):
            numbers = ", ".join(str(n) for n, _ in copies)
            findings.append(
                Finding(
                    "problem",
                    f"cell {numbers} claims to be the graded cell '{grade_id}', which this "
                    "lesson does not have: remove that nbgrader metadata.",
                )
            )
    return findings


def problems(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.kind == "problem"]
