"""Markdown for bench/RESULTS.md: tables, and sections replaced in place.

RESULTS.md is shared: other scripts (e.g. the autograding throughput benchmark)
write their own sections there. A benchmark here owns only the text between its
two markers

    <!-- bench:NAME begin -->
    ...
    <!-- bench:NAME end -->

and rewrites that text on every run; everything outside the markers is kept
as it is. A section that is not in the file yet is appended at the end.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

HEADER = "# Benchmark results\n\nWritten by `make bench` (see bench/README.md).\n"


def begin_marker(name: str) -> str:
    return f"<!-- bench:{name} begin -->"


def end_marker(name: str) -> str:
    return f"<!-- bench:{name} end -->"


def update_section(path: Path, name: str, body: str) -> None:
    """Put ``body`` between the markers of section ``name`` in the file at ``path``."""
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        raise ValueError(f"section names are lowercase words with - or _, got {name!r}")
    block = f"{begin_marker(name)}\n{body.strip()}\n{end_marker(name)}\n"
    text = path.read_text(encoding="utf-8") if path.is_file() else HEADER
    begin, end = begin_marker(name), end_marker(name)
    if (begin in text) != (end in text):
        raise ValueError(
            f"{path} has only one of the markers {begin} and {end}: restore the other "
            "or delete the section, then run again"
        )
    if begin in text:
        start = text.index(begin)
        stop = text.index(end, start) + len(end)
        stop += text[stop:].startswith("\n")  # the block brings its own newline
        text = text[:start] + block + text[stop:]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text, encoding="utf-8")


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; cells are strings."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], digits: int = 1) -> str:
    """'12.3 (11.9-13.0)': the median, and the range when there are several runs."""
    med = f"{median(values):,.{digits}f}"
    if len(values) < 2:
        return med
    return f"{med} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def ratio(a: float | None, b: float | None) -> str:
    """'2.35x', or '-' when either side is missing or zero."""
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"
