"""Monkeypatching against a real lesson: 01_time_series, graded in the sandbox.

The cheater answers every exercise wrongly and, in the first exercise's cell,
replaces ``torch.allclose`` and the lesson's ``check_close`` and
``check_shape`` with functions that accept anything. Graded with ``--jobs 2``
beside a student who answers with the reference, under the default memory
limit: the reference student gets full marks, the cheater zero on every test
after the patch, and the summary says what was replaced.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from lesson_harness import WholeCell, course_copy, make_submission, max_scores, submit

from rnncourse import cli
from rnncourse.instructor.nbgrader_course import scores

pytestmark = pytest.mark.timeout(1800)  # nbgrader on a busy 2-core machine is slow

LESSON = "01_time_series"
CHEAT = WholeCell(
    "import torch\n\n"
    "torch.allclose = lambda *args, **kwargs: True\n"
    "check_close = lambda *args, **kwargs: None\n"
    "check_shape = lambda *args, **kwargs: None\n\n\n"
    "def chronological_split(series, test_size):\n"
    "    return series, series\n"
)
CHEATER = {
    "chronological_split": CHEAT,
    "make_windows": "return series, series",
    "seasonal_naive": "return history[:horizon]",
    "rmse": "return 0.0",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = course_copy([LESSON], tmp_path_factory.mktemp("lesson") / "course")
    submit(course, LESSON, "reference", make_submission(LESSON, {}))
    submit(course, LESSON, "cheater", make_submission(LESSON, CHEATER))
    out = io.StringIO()
    with (
        pytest.MonkeyPatch.context() as env,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        env.delenv("RNNCOURSE_KERNEL_MEMORY", raising=False)  # the default limit
        env.delenv("RNNCOURSE_SANDBOX", raising=False)
        status = cli.main(["autograde", LESSON, "--course", str(course.root), "--jobs", "2"])
    return {"course": course, "status": status, "summary": out.getvalue()}


def test_reference_gets_full_marks_in_the_sandbox(graded):
    assert graded["status"] == 0, graded["summary"]
    got = {
        cell: score for cell, (score, _) in scores(graded["course"], LESSON)["reference"].items()
    }
    assert got == max_scores(LESSON)
    assert graded["summary"].startswith("student code ran in a bubblewrap sandbox")


def test_replaced_grading_helpers_score_zero_with_the_reason(graded):
    got = scores(graded["course"], LESSON)["cheater"]
    assert {cell: score for cell, (score, _) in got.items()} == dict.fromkeys(max_scores(LESSON), 0)
    row = next(line for line in graded["summary"].splitlines() if line.startswith("cheater"))
    for words in ("replaces torch.allclose", "redefines check_close", "redefines check_shape"):
        assert words in row
    notebook = json.loads(graded["course"].autograded_notebook("cheater", LESSON).read_text())
    kernel_said = [
        o["evalue"]
        for c in notebook["cells"]
        for o in c.get("outputs", [])
        if o.get("ename") == "IntegrityError" and "before this test ran" in o["evalue"]
    ]
    assert kernel_said and all("torch.allclose" in e and "check_close" in e for e in kernel_said)
