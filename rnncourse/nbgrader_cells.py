"""What nbgrader's metadata says about a notebook cell, and nbgrader's markers.

Both sides read cells: the student's ``rnncourse check`` and the instructor's
grading (the tamper scan, the sandboxed execution, the summary), as do the tests
and benchmarks. Cells may be nbformat nodes or plain dicts from ``json.load``.
The markers (``### BEGIN SOLUTION``, ``### BEGIN HIDDEN TESTS``, ...) are the
ones nbgrader's own preprocessors are configured with, read from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def nbgrader_meta(cell) -> dict:
    """The cell's nbgrader metadata ({} for a cell nbgrader does not manage)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def cell_source(cell) -> str:
    """The cell's text (nbformat may hold it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def error_outputs(cell) -> list[dict]:
    """The error outputs an executed cell holds."""
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def cell_name(cell, index: int) -> str:
    """The cell's grade_id, or its position for a cell without one."""
    return nbgrader_meta(cell).get("grade_id") or f"cell {index + 1}"


def find_cell(cells: Iterable, grade_id: str):
    """The cell whose grade_id is ``grade_id``; KeyError naming it if there is none."""
    for cell in cells:
        if nbgrader_meta(cell).get("grade_id") == grade_id:
            return cell
    raise KeyError(f"no cell with grade_id {grade_id!r}")


def is_test_cell(cell) -> bool:
    return cell.get("cell_type") == "code" and bool(nbgrader_meta(cell).get("grade"))


def is_solution_cell(cell) -> bool:
    return cell.get("cell_type") == "code" and bool(nbgrader_meta(cell).get("solution"))


def is_student_cell(cell) -> bool:
    """Code the student wrote: solution cells, and code cells nbgrader does not lock."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and (
        bool(meta.get("solution")) or not (meta.get("locked") or meta.get("grade"))
    )


@dataclass(frozen=True)
class Markers:
    """The comment markers nbgrader's preprocessors look for, without the comment sign."""

    begin_solution: str
    end_solution: str
    begin_hidden_tests: str
    end_hidden_tests: str


def markers(config=None) -> Markers:
    """The markers as nbgrader's ``ClearSolutions`` and ``ClearHiddenTests`` are
    configured with: nbgrader's defaults, or those of ``config`` (a traitlets
    Config, e.g. the course's ``nbgrader_config.py`` as loaded)."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    solutions, hidden = ClearSolutions(config=config), ClearHiddenTests(config=config)
    return Markers(
        begin_solution=solutions.begin_solution_delimeter,  # nbgrader's spelling
        end_solution=solutions.end_solution_delimeter,
        begin_hidden_tests=hidden.begin_test_delimeter,
        end_hidden_tests=hidden.end_test_delimeter,
    )
