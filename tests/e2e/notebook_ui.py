"""What a person does in JupyterLab, as Playwright steps: open, click menus, type, run.

The selectors are JupyterLab 4's own CSS classes. Waits have generous limits
(the test machine is shared and slow at times) and never assert on timing.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import TYPE_CHECKING

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

if TYPE_CHECKING:
    from lab_server import LabServer
    from playwright.sync_api import Locator, Page

ACTION_MS = 60_000  # the longest a click or a check may wait, unless a step says otherwise
PAGE_LOAD_MS = 120_000
KERNEL_START_MS = 180_000
QUIET_MS = 10_000  # idle kernel, nothing running, cells not run: the run command was lost

STDOUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]'
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
# An error output (a traceback) is rendered as stderr; warnings and progress bars
# are stderr too, so only text that names an error counts.
ERROR_TEXT = re.compile(r"Traceback|\b\w*(Error|Exception)\b")
EXECUTED = re.compile(r"^\s*\[\d+\]:?\s*$")  # the prompt of a cell that has run: "[12]:"


def open_lab(page: Page, lab: LabServer, path: str | None = None) -> None:
    """Open JupyterLab, and optionally a file (relative to the server's root).

    Each call uses a new workspace, so no tab of an earlier scenario is restored.
    """
    workspace = f"lab/workspaces/e2e-{uuid.uuid4().hex[:12]}"
    page.goto(lab.url(f"{workspace}/tree/{path}" if path else workspace), timeout=PAGE_LOAD_MS)
    page.locator(".lm-MenuBar").wait_for(timeout=PAGE_LOAD_MS)


def open_notebook(page: Page, lab: LabServer, path: str, n_cells: int) -> None:
    """Open a notebook and wait for all its ``n_cells`` cells and its idle kernel."""
    lab.start_session(path)
    open_lab(page, lab, path)
    cells(page).nth(n_cells - 1).wait_for(timeout=PAGE_LOAD_MS)
    assert cells(page).count() == n_cells, (
        f"{path}: the page shows {cells(page).count()} cells, the file has {n_cells}"
    )
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(
        timeout=KERNEL_START_MS
    )


def menu(page: Page, top: str, item: str, timeout_ms: int = ACTION_MS) -> None:
    """Click a menu of the menu bar, then one of its items.

    A menu shows its items enabled or not as they are when it opens (a notebook
    command is disabled until the notebook is the current tab), so a disabled
    item is waited for by closing and reopening the menu, as a person would.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        page.locator(".lm-MenuBar-itemLabel", has_text=_exactly(top)).click()
        entry = page.locator(".lm-Menu .lm-Menu-item").filter(
            has=page.locator(".lm-Menu-itemLabel", has_text=_exactly(item))
        )
        enabled = "lm-mod-disabled" not in (entry.get_attribute("class") or "")
        if enabled:
            entry.click()
            return
        page.keyboard.press("Escape")
        if time.monotonic() > deadline:
            raise AssertionError(f"menu {top} -> {item} stayed disabled for {timeout_ms / 1000} s")
        page.wait_for_timeout(500)


def _exactly(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


def cells(page: Page) -> Locator:
    """The cells of the open notebook, in notebook order (windowing is off, see lab_server)."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")


def prompt(cell: Locator) -> str:
    """The input prompt of a code cell: "[ ]:" not run, "[*]:" running, "[3]:" done."""
    return cell.locator(".jp-InputPrompt").inner_text()


def wait_until_run(page: Page, first: int, last: int, timeout_ms: int) -> None:
    """Wait until every code cell with index in [first, last) shows an execution count."""
    try:
        page.wait_for_function(
            """([first, last]) => {
                const all = document.querySelectorAll(
                    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell');
                return [...all].slice(first, last)
                    .filter((c) => c.classList.contains('jp-CodeCell'))
                    .every((c) => /^\\s*\\[\\d+\\]/.test(
                        c.querySelector('.jp-InputPrompt').textContent));
            }""",
            arg=[first, last],
            timeout=timeout_ms,
            polling=500,
        )
    except PlaywrightTimeoutError:
        waiting = [
            f"cell {i}: {prompt(cells(page).nth(i)).strip()}"
            for i in range(first, last)
            if not EXECUTED.match(prompt(cells(page).nth(i)))
            and "jp-CodeCell" in (cells(page).nth(i).get_attribute("class") or "")
        ]
        raise AssertionError(
            f"cells {first}..{last - 1} did not all run within {timeout_ms / 1000:.0f} s; "
            f"not run: {', '.join(waiting)}"
        ) from None


def run_from_menu(page: Page, item: str, first: int, last: int, timeout_ms: int) -> None:
    """Run cells with a command of the Run menu; wait until cells [first, last) have run.

    Fails at once, with the traceback, if one of those cells shows an error.
    When JupyterLab (4.6, on a loaded machine) started the kernel itself, it
    now and then took the first run command without running anything: the
    cells stayed "[ ]" while the kernel sat idle, and the same command a moment
    later worked (in up to half the runs). Since open_notebook starts the session first
    this was not seen again (0 in 10); should it happen, a person would click
    again, and so does this, when for QUIET_MS no cell is running, some are not
    run and none failed; at most three times.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    for _attempt in range(3):
        menu(page, "Run", item)
        quiet_since = None
        while True:
            state = page.evaluate(RUN_STATE_JS, [first, last])
            if state["errors"]:
                raise AssertionError(
                    f"Run -> {item}: a cell failed:\n" + "\n\n".join(state["errors"])
                )
            if state["pending"] == 0 and state["running"] == 0:
                return
            idle = state["running"] == 0 and state["kernel"] == "idle"
            if not idle:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > QUIET_MS / 1000:
                break  # the command was lost: give it again
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"Run -> {item}: cells {first}..{last - 1} did not all run within "
                    f"{timeout_ms / 1000:.0f} s ({state['pending']} not run, "
                    f"{state['running']} running)"
                )
            page.wait_for_timeout(500)
    raise AssertionError(f"Run -> {item}: {state['pending']} cells were never run, three times")


# Counts the code cells of [first, last) not run ("[ ]") and running ("[*]"),
# with the kernel's status and the text of any error output among them.
RUN_STATE_JS = """([first, last]) => {
    const all = document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell');
    const code = [...all].slice(first, last).filter((c) => c.classList.contains('jp-CodeCell'));
    const text = (c) => c.querySelector('.jp-InputPrompt').textContent;
    const errors = code.flatMap((c) => [...c.querySelectorAll(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map((o) => o.innerText).filter((t) => /Traceback/.test(t)));
    const indicator = document.querySelector(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
    return {
        pending: code.filter((c) => /\\[\\s*\\]/.test(text(c))).length,
        running: code.filter((c) => /\\[\\*\\]/.test(text(c))).length,
        kernel: indicator ? indicator.dataset.status : null,
        errors: errors,
    };
}"""


def wait_until_rerun(page: Page, cell: Locator, before: str, timeout_ms: int) -> None:
    """Wait until a code cell shows a new execution count (it ran again since ``before``)."""
    handle = cell.element_handle()
    page.wait_for_function(
        """([cell, before]) => {
            const text = cell.querySelector('.jp-InputPrompt').textContent;
            return /^\\s*\\[\\d+\\]/.test(text) && text.trim() !== before.trim();
        }""",
        arg=[handle, before],
        timeout=timeout_ms,
        polling=500,
    )


def printed(scope: Locator) -> Locator:
    """What the code inside ``scope`` printed (its stdout outputs)."""
    return scope.locator(STDOUT)


def error_outputs(scope: Locator) -> list[str]:
    """The text of every error output (traceback) shown inside ``scope``."""
    return [t for t in scope.locator(STDERR).all_inner_texts() if ERROR_TEXT.search(t)]


def type_into_cell(page: Page, cell: Locator, source: str) -> None:
    """Replace a cell's code as a person would: click in it, select all, type.

    The text is inserted in one go (like a paste), so the editor's automatic
    indentation and bracket closing do not alter it.
    """
    cell.locator(".cm-content").click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(source)


def open_document(page: Page, path: str) -> None:
    """Open a file in the JupyterLab already loaded in ``page``, without reloading the page.

    Uses the app's own "open" command (the server exposes ``window.jupyterapp``),
    as a double click in the file browser does; much faster than a new page per
    file when a scenario opens many. Waits until the file's tab is shown.
    """
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=PAGE_LOAD_MS)
    page.evaluate(
        """async (path) => {
            const app = window.jupyterapp;
            await app.restored;
            const widget = await app.commands.execute('docmanager:open', {path});
            await widget.context.ready;
            await widget.revealed;
            window.e2eDocument = widget;
        }""",
        path,
    )


def close_document(page: Page) -> None:
    """Close the file the last ``open_document`` opened, unsaved (nothing was changed)."""
    page.evaluate(
        """() => {
            if (window.e2eDocument) {
                window.e2eDocument.dispose();
                window.e2eDocument = undefined;
            }
        }"""
    )
