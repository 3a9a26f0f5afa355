"""The text of every lesson and solution notebook: no control characters in any cell.

A control character in a cell is nearly always a backslash lost when the cell
was written from a Python string: "\\tau" written as "\tau" is a TAB followed by
"au", "\\approx" as "\approx" a BEL followed by "pprox", and MathJax then shows
"au" or "Math input error". Allowed: newlines, and tabs in code cells (Python
code may be indented with them, although the course's is not).
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(
    p.relative_to(ROOT).as_posix()
    for folder in ("lessons", "solutions")
    for p in (ROOT / folder).glob("*/*.ipynb")
)
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # every C0 control but newline, and DEL
NAMES = {0x07: "BEL", 0x08: "BS", 0x09: "TAB", 0x0B: "VT", 0x0C: "FF", 0x0D: "CR", 0x7F: "DEL"}
HINT = {
    0x07: 'a lost backslash? "\\a" in a Python string is BEL ("\\approx" -> BEL + "pprox")',
    0x08: 'a lost backslash? "\\b" in a Python string is BS ("\\beta" -> BS + "eta")',
    0x09: 'a lost backslash? "\\t" in a Python string is TAB ("\\tau" -> TAB + "au")',
    0x0B: 'a lost backslash? "\\v" in a Python string is VT ("\\varepsilon" -> VT + "arepsilon")',
    0x0C: 'a lost backslash? "\\f" in a Python string is FF ("\\frac" -> FF + "rac")',
    0x0D: 'a lost backslash? "\\r" in a Python string is CR ("\\rho" -> CR + "ho")',
}


def cell_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def name(code: int) -> str:
    short = NAMES.get(code) or unicodedata.name(chr(code), "") or "control"
    return f"U+{code:04X} {short}"


def shown(text: str) -> str:
    """``text`` on one line with control characters as ``\\xNN``."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text).replace("\n", "\\n")


def control_characters(path: str, root: Path = ROOT) -> list[str]:
    """One line per control character in a cell of the notebook: where, which, around it."""
    notebook = json.loads((root / path).read_text(encoding="utf-8"))
    found = []
    for index, cell in enumerate(notebook["cells"]):
        text = cell_text(cell)
        for match in CONTROL.finditer(text):
            code = ord(match.group())
            if code == 0x09 and cell.get("cell_type") == "code":
                continue
            line = text.count("\n", 0, match.start()) + 1
            around = text[max(0, match.start() - 30) : match.end() + 30]
            hint = HINT.get(code, "")
            found.append(
                f"{path} cell {index} (id {cell.get('id', '?')}, {cell.get('cell_type')}), "
                f"line {line}: {name(code)} in '{shown(around)}'" + (f": {hint}" if hint else "")
            )
    return found


def test_there_are_notebooks_to_check():
    assert any(p.startswith("lessons/") for p in NOTEBOOKS)
    assert any(p.startswith("solutions/") for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_no_control_characters_in_cells(path):
    found = control_characters(path)
    assert not found, (
        f"{len(found)} control characters in {path} (write LaTeX from Python with raw "
        'strings or doubled backslashes: r"\\tau" or "\\\\tau"):\n' + "\n".join(found)
    )


def test_the_check_names_a_lost_backslash(tmp_path):
    """A notebook with a BEL and a TAB in a markdown cell (and a TAB in code, allowed)."""
    notebook = {
        "cells": [
            {"cell_type": "code", "id": "code", "metadata": {}, "source": "if x:\n\ty = 1"},
            {
                "cell_type": "markdown",
                "id": "math",
                "metadata": {},
                "source": ["$f \x07pprox 1$\n", "$\tau$"],
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "x.ipynb").write_text(json.dumps(notebook))
    found = control_characters("x.ipynb", root=tmp_path)
    assert len(found) == 2, found
    where = "x.ipynb cell 1 (id math, markdown)"
    assert found[0].startswith(f"{where}, line 1: U+0007 BEL in '$f \\x07pprox"), found[0]
    assert found[1].startswith(f"{where}, line 2: U+0009 TAB in"), found[1]
    assert '"\\tau" -> TAB + "au"' in found[1]
