"""The course in a real browser: JupyterLab with the nbgrader extension, driven by Chromium.

Each scenario is what a student or an instructor does and checks what they
would see. Run these alone with ``pytest -m e2e``; a screenshot of each
scenario's final state is saved under ``test-artifacts/e2e/``.

The scenarios do not depend on each other. Under pytest-xdist each worker that
gets one starts its own JupyterLab; ``--dist loadfile`` keeps them on one
worker and one server (``xdist_group`` does not group with pytest 9.2).
"""

from __future__ import annotations

import json
import re
import textwrap

import pytest

pytest.importorskip("playwright.sync_api")

from lab_server import COURSE_ID, REPO, STUDENT  # noqa: E402
from lesson_harness import BEGIN, END, make_submission, reference_solutions  # noqa: E402
from notebook_ui import (  # noqa: E402
    ACTION_MS,
    cells,
    error_outputs,
    menu,
    open_lab,
    open_notebook,
    printed,
    prompt,
    run_from_menu,
    type_into_cell,
    wait_until_rerun,
    wait_until_run,
)
from playwright.sync_api import expect  # noqa: E402

from rnncourse.nbgrader_cells import cell_source, find_cell, is_test_cell  # noqa: E402

pytestmark = pytest.mark.e2e

LESSON = "01_time_series"
NOTEBOOK = f"{LESSON}.ipynb"
# Scenario 2's exercise, and a wrong answer a student could write: the test
# part taken from the start of the series instead of its end (shapes right,
# values wrong, so the visible test's value check is the one that fails).
EXERCISE = "chronological_split"
WRONG_BODY = """
T = len(series)
return series[: T - test_size], series[:test_size]
"""
STUB = re.compile(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)[ \t]*$", re.M)

RUN_ALL_MS = 300_000  # the whole lesson, as a student runs it (about 20 s on an idle machine)
VALIDATE_MS = 300_000  # nbgrader validate runs the whole notebook in a kernel of its own


def released() -> dict:
    """The student version of the lesson, as in lessons/."""
    return json.loads((REPO / "lessons" / LESSON / NOTEBOOK).read_text())


def index_of(notebook: dict, grade_id: str) -> int:
    return notebook["cells"].index(find_cell(notebook["cells"], grade_id))


def graded_tests(notebook: dict) -> list[dict]:
    """The graded test cells of a notebook (autograded code cells)."""
    return [c for c in notebook["cells"] if is_test_cell(c)]


def answered(stub_source: str, body: str) -> str:
    """An exercise cell as released, with the student's ``body`` typed in place of the stub."""
    match = STUB.search(stub_source)
    assert match, f"no '# YOUR CODE HERE / raise NotImplementedError()' stub in:\n{stub_source}"
    indented = textwrap.indent(textwrap.dedent(body).strip("\n"), match.group(1))
    return stub_source[: match.start()] + indented + stub_source[match.end() :]


def reference_body(grade_id: str) -> str:
    """The instructor's answer to an exercise: the lines between the solution markers."""
    cell = reference_solutions(LESSON)[grade_id]
    return cell.split(BEGIN, 1)[1].split("\n", 1)[1].rsplit(END, 1)[0]


@pytest.mark.timeout(600)
def test_run_all_shows_the_forecast_plot_and_no_error(lab, lab_page):
    """A student with every exercise answered runs the whole lesson and sees the forecast."""
    notebook = make_submission(LESSON, {})  # the student version, answered with the reference
    path = lab.place_notebook("run_all", NOTEBOOK, notebook)
    open_notebook(lab_page, lab, path, len(notebook["cells"]))

    run_from_menu(lab_page, "Run All Cells", 0, len(notebook["cells"]), RUN_ALL_MS)

    forecast = [i for i, c in enumerate(notebook["cells"]) if "plot_forecast(" in cell_source(c)]
    assert forecast, f"{LESSON} has no cell calling rnncourse.plot_forecast"
    plot = cells(lab_page).nth(forecast[0]).locator(".jp-OutputArea-output img")
    expect(plot).to_have_count(1)
    plot.scroll_into_view_if_needed()
    assert plot.evaluate("img => img.complete && img.naturalWidth > 0"), "the plot image is empty"
    notebook_area = lab_page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    assert error_outputs(notebook_area) == []


@pytest.mark.timeout(600)
def test_typed_answer_passes_and_wrong_answer_shows_the_message(lab, lab_page):
    """A student types an answer, runs it and its test; then a wrong one, and reads why."""
    notebook = released()
    exercise = index_of(notebook, EXERCISE)
    test = index_of(notebook, f"test_{EXERCISE}")
    stub = cell_source(notebook["cells"][exercise])
    test_source = cell_source(notebook["cells"][test])
    success = re.findall(r'print\(\s*"([^"]+)"\s*\)', test_source)
    assert success, f"test_{EXERCISE} prints no success line:\n{test_source}"
    # The message of the check the wrong answer fails (the test part's values).
    message = re.search(r'check_close\(\s*test_part,.*?"([^"]+)"\s*\)', test_source, re.S)
    assert message, f"test_{EXERCISE} has no check_close on test_part:\n{test_source}"

    path = lab.place_notebook("typing", NOTEBOOK, notebook)
    open_notebook(lab_page, lab, path, len(notebook["cells"]))
    exercise_cell, test_cell = cells(lab_page).nth(exercise), cells(lab_page).nth(test)

    # The cells above (imports, data) first, as the lesson tells students.
    exercise_cell.locator(".jp-InputPrompt").click()
    run_from_menu(lab_page, "Run All Above Selected Cell", 0, exercise, RUN_ALL_MS)

    type_into_cell(lab_page, exercise_cell, answered(stub, reference_body(EXERCISE)))
    lab_page.keyboard.press("Shift+Enter")  # runs the exercise, selects its test
    lab_page.keyboard.press("Shift+Enter")  # runs the test
    wait_until_run(lab_page, exercise, test + 1, ACTION_MS)
    expect(printed(test_cell)).to_contain_text(success[-1])
    assert error_outputs(exercise_cell) == [] and error_outputs(test_cell) == []

    before = prompt(test_cell)
    type_into_cell(lab_page, exercise_cell, answered(stub, WRONG_BODY))
    lab_page.keyboard.press("Shift+Enter")
    lab_page.keyboard.press("Shift+Enter")
    wait_until_rerun(lab_page, test_cell, before, ACTION_MS)
    expect(test_cell.locator(".jp-OutputArea-output")).to_contain_text(message.group(1))
    expect(printed(test_cell)).to_have_count(0)  # the success line is gone
    assert error_outputs(test_cell), "the failing test shows no error output"
    test_cell.scroll_into_view_if_needed()


@pytest.mark.timeout(600)
def test_validate_lists_the_unanswered_exercises(lab, lab_page):
    """The toolbar's Validate button on a blank lesson lists every failing test cell."""
    notebook = released()
    tests = graded_tests(notebook)
    assert tests, f"{LESSON} has no graded test cells"
    path = lab.place_notebook("validate", NOTEBOOK, notebook)
    open_notebook(lab_page, lab, path, len(notebook["cells"]))

    lab_page.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Validate").click()
    dialog = lab_page.locator(".jp-Dialog")
    expect(dialog.locator(".jp-Dialog-header")).to_have_text(
        "Validation Results", timeout=VALIDATE_MS
    )
    body = dialog.locator(".jp-Dialog-body")
    expect(body).to_have_class(re.compile(r"\bvalidation-failed\b"))
    expect(body.get_by_text("The following cell failed:")).to_have_count(len(tests))
    text = body.inner_text()
    for cell in tests:
        first_line = cell_source(cell).strip().splitlines()[0]
        assert first_line in text, f"the dialog does not list the test cell starting {first_line!r}"
    assert "NotImplementedError" in text


@pytest.mark.timeout(600)
def test_assignments_panel_fetches_and_submits_a_released_lesson(lab, lab_page):
    """Instructor releases, the student fetches and submits in the panel, instructor collects."""
    exchange = [f"--Exchange.root={lab.exchange}", f"--CourseDirectory.course_id={COURSE_ID}"]
    lab.nbgrader("release_assignment", LESSON, "--force", *exchange)

    open_lab(lab_page, lab)
    menu(lab_page, "Nbgrader", "Assignment List")
    row = lab_page.locator("#released_assignments_list .list_item", has_text=LESSON)
    row.get_by_role("button", name="Fetch").click()

    fetched = lab_page.locator("#fetched_assignments_list .list_item", has_text=LESSON).first
    expect(fetched).to_be_visible()
    expect(row).to_have_count(0)  # no longer waiting to be fetched
    assert (lab.student_dir / LESSON / NOTEBOOK).is_file()

    fetched.get_by_role("button", name="Submit").click()
    submitted = lab_page.locator("#submitted_assignments_list .list_item", has_text=LESSON).first
    expect(submitted).to_be_visible()
    expect(submitted).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"))  # timestamp

    lab.nbgrader("collect", LESSON, *exchange)
    collected = lab.course.autograder_dir / "submitted" / STUDENT / LESSON / NOTEBOOK
    assert collected.is_file(), f"nbgrader collect left no {collected}"
    got = json.loads(collected.read_text())
    assert [cell_source(c) for c in got["cells"]] == [cell_source(c) for c in released()["cells"]]


@pytest.mark.timeout(300)
def test_formgrader_lists_the_lessons(lab, lab_page):
    """The instructor opens Nbgrader -> Formgrader and finds every lesson to manage."""
    open_lab(lab_page, lab)
    menu(lab_page, "Nbgrader", "Formgrader")
    formgrader = lab_page.frame_locator('iframe[src*="formgrader"]')
    expect(formgrader.get_by_role("heading", name="Manage Assignments")).to_be_visible()
    names = formgrader.locator("#main-table td.name")
    expect(names.filter(has_text=LESSON)).to_have_count(1)
    expect(names).to_have_text(lab.course.lesson_ids())
