"""Fixtures of the browser tests: a private JupyterLab server and Debian's Chromium.

One server and one browser serve the whole session; each test gets a fresh
browser context (no shared cookies or storage) and, when it ends, its kernels
are stopped and a screenshot of the page is saved under
``test-artifacts/e2e/<scenario>.png`` (named in the report of a failed test and
in the summary at the end of the run).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lab_server import REPO, LabServer, running_lab

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; CI installs it (.ci/run)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts" / "e2e"

_screenshots: list[Path] = []


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(`apt-get install chromium`, as .ci/run does) to run the browser tests"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def lab(chromium, tmp_path_factory) -> LabServer:
    """A JupyterLab server on a temporary copy of the course, stopped whatever happens."""
    with running_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="session")
def browser(chromium, tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    home = tmp_path_factory.mktemp("chromium-home")  # its crash reports and caches, not ~'s
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    playwright = sync_api.sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, env=env, timeout=120_000
        )
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def lab_page(browser, lab):
    """A fresh browser page for one scenario; its kernels stop when the scenario ends."""
    from notebook_ui import ACTION_MS  # imports playwright, known present by now

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(ACTION_MS)
    page = context.new_page()
    page.console_lines = []  # the browser console, shown when a scenario fails
    page.on("console", lambda msg: page.console_lines.append(f"{msg.type}: {msg.text}"))
    try:
        yield page
    finally:
        context.close()
        lab.shutdown_kernels()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Screenshot each scenario's final state, before its page closes."""
    report = yield
    page = item.funcargs.get("lab_page") if report.when == "call" else None
    if page is None:
        return report
    path = ARTIFACTS / f"{item.name.removeprefix('test_')}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=path)
        _screenshots.append(path)
        report.sections.append(("e2e screenshot", str(path)))
    except Exception as e:  # a crashed page: say so, keep the real failure
        report.sections.append(("e2e screenshot", f"none saved: {e}"))
    if report.failed:
        lab = item.funcargs["lab"]
        try:
            dialogs = page.locator(".jp-Dialog").all_inner_texts()
        except Exception as e:  # the page is gone
            dialogs = [f"(could not read: {e})"]
        if dialogs:
            report.sections.append(("open dialogs", "\n\n".join(dialogs)))
        report.sections.append(("browser console", "\n".join(page.console_lines[-100:])))
        report.sections.append(("jupyter lab log (last lines)", lab.log_tail()))
    return report


def pytest_terminal_summary(terminalreporter):
    if _screenshots:
        terminalreporter.write_sep("-", "browser screenshots (final state of each scenario)")
        for path in _screenshots:
            terminalreporter.write_line(str(path))
