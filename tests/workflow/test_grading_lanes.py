"""Grading lanes that die: no finished grade lost, nothing graded twice.

``rnncourse autograde --jobs 2`` grades a class of ``00_tiny`` in two
long-lived lanes (``rnncourse.instructor.grading_lane``). The class is graded
WITHOUT the sandbox (RNNCOURSE_SANDBOX=off), where a kernel is a child of its
lane and can kill it, as a crash of the lane itself would:

- ``c_kill_once`` kills its lane the first time it is graded, then behaves:
  handed once more to a new lane, it ends with full marks;
- ``d_kill_always`` kills every lane that grades it: after two lanes it is
  reported as not graded, with the reason, and the batch goes on;
- ``e_os_exit`` kills only its own kernel, ``f_not_json`` cannot be read:
  broken submissions, graded (zero where they fail) and explained.

Every graded notebook writes its student's name into a log on the grading
machine when its ``add`` cell runs: each well-behaved student appears exactly
once (nobody is graded twice), the killers once per lane they killed. Every
student has exactly one row in the summary, and the students graded before
and after a lane's death keep their grades in the gradebook.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lesson_harness import WholeCell, make_submission, submit
from workflow_harness import LESSON, MAX_SCORE, tiny_course

from rnncourse.course import Course
from rnncourse.instructor.autograde import LANE_DIED, autograde_class, grade_in_lanes, worker_env
from rnncourse.instructor.nbgrader_course import open_gradebook, scores

pytestmark = pytest.mark.timeout(1800)  # nbgrader on a busy 2-core machine is slow

ADD = "def add(a, b):\n    return a + b\n"
GOOD = ("a_good", "b_good", "g_good", "h_good")


def logged(log: Path, student: str, then: str = "") -> WholeCell:
    """An ``add`` cell that writes ``student`` into ``log``, runs ``then``, answers."""
    return WholeCell(
        f"import os, signal, time\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        f"    f.write({student!r} + '\\n')\n"
        f"{then}\n{ADD}"
    )


KILL_LANE = "os.kill(os.getppid(), signal.SIGKILL)\nos._exit(0)"


def class_of(course: Course, log: Path, flag: Path) -> None:
    kill_once = f"if not os.path.exists({str(flag)!r}):\n    open({str(flag)!r}, 'w').close()\n"
    kill_once += "    " + KILL_LANE.replace("\n", "\n    ")
    cells = {s: logged(log, s) for s in GOOD}
    cells["c_kill_once"] = logged(log, "c_kill_once", kill_once)
    cells["d_kill_always"] = logged(log, "d_kill_always", KILL_LANE)
    cells["e_os_exit"] = logged(log, "e_os_exit", "os._exit(1)")
    for student, cell in cells.items():
        submit(course, LESSON, student, make_submission(LESSON, {"add": cell}, course.root))
    folder = course.submitted_dir("f_not_json", LESSON)
    folder.mkdir(parents=True)
    (folder / f"{LESSON}.ipynb").write_text('{"cells": [')


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lanes")
    log, flag = tmp / "graded.log", tmp / "killed-once"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RNNCOURSE_SANDBOX", "off")
        env.setenv("RNNCOURSE_CELL_TIMEOUT", "20")
        course = tiny_course(tmp / "course")
        class_of(course, log, flag)
        results = autograde_class(course, LESSON, jobs=2, progress=False)
    return {
        "course": course,
        "results": results,
        "rows": {r.student: r for r in results},
        "log": log.read_text().split(),
        "scores": scores(course, LESSON),
    }


def test_every_student_has_exactly_one_row(graded):
    students = [r.student for r in graded["results"]]
    assert sorted(students) == sorted(
        [*GOOD, "c_kill_once", "d_kill_always", "e_os_exit", "f_not_json"]
    )
    assert len(students) == len(set(students))


def test_nobody_is_graded_twice(graded):
    counts = {s: graded["log"].count(s) for s in set(graded["log"])}
    assert counts == {
        **dict.fromkeys(GOOD, 1),
        "c_kill_once": 2,
        "d_kill_always": 2,
        "e_os_exit": 1,
    }


def test_a_lane_death_loses_no_finished_grade(graded):
    rows = graded["rows"]
    for student in GOOD:
        assert rows[student].score == MAX_SCORE, rows[student]
        assert graded["scores"][student] == {"test_add": (2.0, 2.0), "test_double": (3.0, 3.0)}
    with open_gradebook(graded["course"]) as gb:
        assert {s: gb.find_submission(LESSON, s).score for s in GOOD} == dict.fromkeys(
            GOOD, MAX_SCORE
        )


def test_a_student_who_killed_one_lane_is_graded_by_the_next(graded):
    assert graded["rows"]["c_kill_once"].score == MAX_SCORE


def test_a_student_who_kills_every_lane_is_not_graded_and_the_batch_goes_on(graded):
    row = graded["rows"]["d_kill_always"]
    assert not row.graded
    (problem,) = row.problems
    assert problem.startswith(f"not graded: {LANE_DIED} (killed by SIGKILL")
    assert problem.endswith("2 times")


def test_broken_submissions_are_graded_and_explained(graded):
    rows = graded["rows"]
    assert rows["e_os_exit"].score == 0.0
    assert any("kernel died in cell add" in p for p in rows["e_os_exit"].problems)
    assert rows["f_not_json"].score == 0.0
    assert "not valid JSON" in rows["f_not_json"].problems[0]


def test_a_lane_that_cannot_start_fails_its_students_with_the_reason(tmp_path, monkeypatch):
    """No nbgrader configuration: every lane dies at once; both students are
    reported, each after two lanes, and grading ends."""
    course = tiny_course(tmp_path / "course")
    for student in ("x", "y"):
        submit(course, LESSON, student, make_submission(LESSON, {}, course.root))
    env = worker_env(course, 2)
    (course.autograder_dir / "nbgrader_config.py").write_text("raise SystemExit(3)\n")
    outcome = grade_in_lanes(course, LESSON, ["x", "y"], env, jobs=2)
    assert sorted(outcome) == ["x", "y"]
    for graded_ in outcome.values():
        assert not graded_.ok and LANE_DIED in graded_.log and "2 times" in graded_.log
