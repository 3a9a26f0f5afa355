"""Every lesson as JupyterLab renders it: the markdown and math of each notebook, in Chromium.

Each student notebook (``lessons/``) and solution notebook (``solutions/``) is
opened, never run, in one JupyterLab page; once its markdown cells are
rendered and MathJax has typeset them, the page is checked for what a reader
would see as broken, and every problem is named by notebook and cell:

- a MathJax error (MathJax 3.2, which JupyterLab 4 ships, shows "Math input
  error" or the TeX error, as ``mjx-merror`` marked ``data-mjx-error``), or an
  undefined macro (which MathJax shows as its name in red, no error);
- an ordered list that does not start at 1, which nobody meant: a wrapped line
  starting "1960." becomes a list item numbered 1960 (list a cell in
  ``INTENDED_LIST_STARTS`` if it really continues an earlier list);
- math left as raw ``$...$`` text in the rendered page (JupyterLab does not
  even hand math with unbalanced braces, ``$\\frac{1}{$``, to MathJax);
- a broken image (loaded, but no pixels).

One server (the session's ``lab``), one browser page: each notebook opens in
the JupyterLab already loaded there and is closed before the next. The test
server keeps every cell in the page (``windowingMode: none``, lab_server), so
no markdown cell is left unrendered far down a long notebook; the test checks
that each markdown cell was rendered all the same.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

import pytest

pytest.importorskip("playwright.sync_api")

from lab_server import REPO  # noqa: E402
from notebook_ui import ACTION_MS, close_document, open_document, open_lab  # noqa: E402

from rnncourse.nbgrader_cells import cell_source  # noqa: E402

pytestmark = pytest.mark.e2e

NOTEBOOKS = [
    p.relative_to(REPO).as_posix()
    for folder in ("lessons", "solutions")
    for p in sorted((REPO / folder).glob("*/*.ipynb"))
]
# (notebook file name, cell id) -> list starts the author meant (a list that
# continues after a code block, say); none today.
INTENDED_LIST_STARTS: dict[tuple[str, str], set[int]] = {}

RENDER_MS = 60_000  # the longest a notebook may take to show all its markdown and images
# Once everything is rendered, how long math may stay raw ``$...$`` before it
# counts as unrendered (MathJax typesets each cell soon after it is rendered).
RAW_MATH_S = 3.0
POLL_MS = 250

# Raw math in rendered text: $...$, $$...$$, \(...\), \[...\], \begin{...}.
RAW_MATH = re.compile(r"\$\$?[^$\s][^$]*?\$\$?|\\\(.+?\\\)|\\\[.+?\\\]|\\begin\{\w+\*?\}", re.S)
# Math in a markdown source, in order, as JupyterLab finds it (code removed first).
SOURCE_CODE = re.compile(r"```.*?```|~~~.*?~~~|`[^`\n]*`", re.S)
SOURCE_MATH = re.compile(r"\$\$.+?\$\$|\$[^$]+?\$|\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S)
# Control characters, TAB included: none belongs in TeX (a lost backslash: "\tau" in
# a Python string is TAB + "au", "\approx" is BEL + "pprox").
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
CONTROL_NAMES = {0x07: "BEL", 0x08: "BS", 0x09: "TAB", 0x0B: "VT", 0x0C: "FF", 0x0D: "CR"}

# The state of every cell of the open notebook, in notebook order: what the
# checks read, and what the wait watches.
CELLS_JS = """() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    if (!panel) return null;
    return [...panel.querySelectorAll('.jp-Notebook .jp-Cell')].map((cell) => {
        const markdown = cell.classList.contains('jp-MarkdownCell');
        const out = markdown ? cell.querySelector('.jp-RenderedMarkdown') : null;
        const state = {
            markdown: markdown,
            rendered: markdown && cell.classList.contains('jp-mod-rendered') && out !== null
                && out.childElementCount > 0,
            text: '', mathErrors: [], math: 0, lists: [], images: [],
        };
        if (!state.rendered) return state;
        const prose = out.cloneNode(true);
        prose.querySelectorAll('code, pre, mjx-container, script, style')
            .forEach((n) => n.remove());
        state.text = prose.textContent;
        const math = [...out.querySelectorAll('mjx-container')];
        state.math = math.length;
        math.forEach((container, k) => {
            const error = container.matches('.mjx-output-error') ? container
                : container.querySelector('mjx-merror, [data-mjx-error]');
            if (error) state.mathErrors.push({k: k, message:
                error.getAttribute('data-mjx-error') || error.getAttribute('title')
                || error.textContent});
            // An undefined macro is no error to MathJax: it shows its name in red.
            container.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]')
                .forEach((m) => { if (m.textContent.startsWith('\\\\')) state.mathErrors.push(
                    {k: k, message: `undefined control sequence ${m.textContent}`}); });
        });
        out.querySelectorAll('.MathJax_Error').forEach((e) =>  // MathJax 2, should it return
            state.mathErrors.push({k: -1, message: e.textContent}));
        state.lists = [...out.querySelectorAll('ol')]
            .filter((ol) => ol.hasAttribute('start') && ol.getAttribute('start').trim() !== '1')
            .map((ol) => ({start: ol.getAttribute('start'),
                           text: (ol.firstElementChild || ol).textContent.slice(0, 60)}));
        state.images = [...out.querySelectorAll('img')].map((img) => ({
            src: (img.getAttribute('src') || '').slice(0, 80),
            complete: img.complete, width: img.naturalWidth}));
        return state;
    });
}"""


@dataclass(frozen=True)
class Problem:
    cell: int
    kind: str  # "math error", "list start", "raw math", "broken image", "not rendered"
    detail: str


def visible(text: str) -> str:
    """``text`` on one line, in quotes, with control characters shown as ``\\xNN``."""
    text = CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text).replace("\n", " ")
    return f"'{text}'"


def math_in(source: str) -> list[str]:
    """The math of a markdown source, in order (code spans and blocks left out)."""
    source = SOURCE_CODE.sub(" ", source.replace("\\$", "  "))
    return [m.group(0) for m in SOURCE_MATH.finditer(source)]


def control_hint(tex: str) -> str:
    found = sorted({ord(c) for c in CONTROL.findall(tex)})
    if not found:
        return ""
    names = ", ".join(f"U+{c:04X} {CONTROL_NAMES.get(c, '')}".strip() for c in found)
    return (
        f"; the TeX holds control characters ({names}): a backslash lost when the cell was "
        'written from a Python string ("\\a" is BEL, "\\t" TAB: write "\\\\tau" or r"\\tau")'
    )


def snippet(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def cell_problems(index: int, cell: dict, state: dict, name: str) -> list[Problem]:
    """What is wrong with one rendered cell (``state`` from CELLS_JS)."""
    source = cell_source(cell)
    if not state["markdown"]:
        return []
    if not state["rendered"]:
        return [Problem(index, "not rendered", "the markdown cell was never rendered")]
    problems = []
    tex = math_in(source)
    for error in state["mathErrors"]:
        k = error["k"]
        where = f"math #{k + 1}" if k >= 0 else "math"
        if 0 <= k < len(tex) and len(tex) == state["math"]:
            where += f" {visible(tex[k])}"
        hint = control_hint(tex[k]) if 0 <= k < len(tex) else control_hint(source)
        problems.append(Problem(index, "math error", f"{where}: {error['message']}{hint}"))
    intended = INTENDED_LIST_STARTS.get((name, cell.get("id", "")), set())
    for ol in state["lists"]:
        start = ol["start"]
        if start.isdigit() and int(start) in intended:
            continue
        problems.append(
            Problem(
                index,
                "list start",
                f"an ordered list starts at {start} ({snippet(ol['text'])!r}): a line of the "
                f"source starts with '{start}.', so it became a numbered item; rewrap the "
                f"paragraph or write '{start}\\.'",
            )
        )
    for raw in RAW_MATH.findall(state["text"]):
        problems.append(Problem(index, "raw math", f"math not typeset: {visible(raw)}"))
    for image in state["images"]:
        if not image["complete"] or image["width"] == 0:
            why = "still loading" if not image["complete"] else "no pixels (missing or broken)"
            problems.append(Problem(index, "broken image", f"{image['src']!r}: {why}"))
    return problems


def render_and_check(page, path: str, notebook: dict) -> list[Problem]:
    """Open ``path`` (relative to the server's root) in ``page``, wait, and list its problems.

    Waits until the page shows every cell, every markdown cell is rendered and
    every image has loaded, and then until no raw math is left or the page has
    not changed for RAW_MATH_S (math that MathJax never typeset).
    """
    n_cells = len(notebook["cells"])
    open_document(page, path)
    try:
        deadline = time.monotonic() + RENDER_MS / 1000
        last, since = None, time.monotonic()
        while True:
            states = page.evaluate(CELLS_JS)
            ready = (
                states is not None
                and len(states) == n_cells
                and all(s["rendered"] for s in states if s["markdown"])
                and all(i["complete"] for s in states for i in s["images"])
            )
            if ready:
                raw = [len(RAW_MATH.findall(s["text"])) for s in states]
                signature = (raw, [s["math"] for s in states])
                if signature != last:
                    last, since = signature, time.monotonic()
                if not any(raw) or time.monotonic() - since >= RAW_MATH_S:
                    break
            if time.monotonic() > deadline:
                break
            page.wait_for_timeout(POLL_MS)
    finally:
        close_document(page)
    if states is None or len(states) != n_cells:
        shown = 0 if states is None else len(states)
        detail = f"the page shows {shown} cells, the file has {n_cells}"
        return [Problem(-1, "not rendered", detail)]
    name = path.rsplit("/", 1)[-1]
    return [
        problem
        for index, (cell, state) in enumerate(zip(notebook["cells"], states, strict=True))
        for problem in cell_problems(index, cell, state, name)
    ]


def describe(path: str, notebook: dict, problems: list[Problem]) -> list[str]:
    """One line per problem: notebook, cell index and id, what is wrong."""
    lines = []
    for p in problems:
        cell = notebook["cells"][p.cell] if p.cell >= 0 else {}
        where = f"cell {p.cell} (id {cell.get('id', '?')})" if p.cell >= 0 else "notebook"
        lines.append(f"{path} {where}: {p.kind}: {p.detail}")
    return lines


@pytest.fixture(scope="module")
def lab_app(browser, lab):
    """One page with JupyterLab loaded, for every notebook this module opens."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(ACTION_MS)
    page = context.new_page()
    try:
        open_lab(page, lab)
        yield page
    finally:
        context.close()
        lab.shutdown_kernels()


def open_and_check(lab, page, path: str) -> list[str]:
    notebook = json.loads((lab.root / path).read_text(encoding="utf-8"))
    try:
        problems = render_and_check(page, path, notebook)
    finally:
        lab.shutdown_kernels()  # JupyterLab starts each notebook's kernel; nothing runs in it
    return describe(path, notebook, problems)


@pytest.mark.timeout(600)
def test_every_lesson_and_solution_renders_cleanly(lab, lab_app):
    """No MathJax error, stray numbered list, raw math or broken image in any notebook."""
    assert NOTEBOOKS, "no notebooks under lessons/ and solutions/"
    failures = []
    for path in NOTEBOOKS:
        failures += open_and_check(lab, lab_app, path)
    assert not failures, f"{len(failures)} rendering problems:\n" + "\n".join(failures)


# A notebook with one problem per cell (and clean cells around them): each
# check must report its cell, and only its cell.
# a 1x1 PNG
PIXEL_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0g"
    "AAAABJRU5ErkJggg=="
)
PLANTED = [
    (
        "clean",
        "# Clean\n\nInline $h_t = \\tanh(W_{xh} x_t + W_{hh} h_{t-1} + b_h)$ and\n"
        "$$\\sum_{t=1}^{T} \\ell_t,$$\na list:\n\n1. one\n2. two\n\n"
        "`$not math$` in code, and an image: ![pixel](attachment:pixel.png)",
        set(),
    ),
    ("math error", "Broken: $x^^2$ here.", {"math error"}),
    ("missing argument", "Broken: $\\frac{1}$ here.", {"math error"}),
    ("undefined macro", "A typo: $f \\aprox 0.5$ here.", {"math error"}),
    ("unbalanced", "Unbalanced braces: $\\frac{1}{$, never typeset.", {"raw math"}),
    ("lost backslash", "As in lesson 07: $f \x07pprox \\sigma(0) = 0.5$.", {"math error"}),
    ("list at 3", "Steps:\n\n3. three\n4. four", {"list start"}),
    (
        "wrapped year",
        "- the seasonal-naive rule already beats the naive one on\n"
        "  1960. The small LSTM did better.",
        {"list start"},
    ),
    ("broken image", "![missing](no-such-image.png)", {"broken image"}),
]


def planted_notebook() -> dict:
    cells = []
    for i, (name, source, _kinds) in enumerate(PLANTED):
        cell = {"cell_type": "markdown", "id": f"planted-{i}", "metadata": {}, "source": source}
        if name == "clean":
            cell["attachments"] = {"pixel.png": {"image/png": PIXEL_PNG}}
        cells.append(cell)
    cells.append(
        {
            "cell_type": "code",
            "id": "code",
            "metadata": {},
            "source": "x = 1",
            "outputs": [],
            "execution_count": None,
        }
    )
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.mark.timeout(300)
def test_each_check_reports_its_planted_problem(lab, lab_app):
    """Each check fails on a notebook made to break it, and names the cell."""
    notebook = planted_notebook()
    path = lab.place_notebook("rendered", "planted.ipynb", notebook)
    try:
        problems = render_and_check(lab_app, path, notebook)
    finally:
        lab.shutdown_kernels()
    got = {i: {p.kind for p in problems if p.cell == i} for i in range(len(notebook["cells"]))}
    expected = {i: kinds for i, (_name, _source, kinds) in enumerate(PLANTED)}
    expected[len(PLANTED)] = set()  # the code cell
    report = "\n".join(describe(path, notebook, problems))
    assert got == expected, f"planted problems found:\n{report}"
    detail = {PLANTED[p.cell][0]: p.detail for p in problems}
    assert "\\x07pprox" in detail["lost backslash"], detail["lost backslash"]
    assert "U+0007 BEL" in detail["lost backslash"], detail["lost backslash"]
    assert "\\aprox" in detail["undefined macro"], detail["undefined macro"]
    assert "starts at 1960" in detail["wrapped year"], detail["wrapped year"]
    assert "no-such-image.png" in detail["broken image"], detail["broken image"]
