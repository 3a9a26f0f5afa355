"""The instructor's workflow, end to end, with a simulated class.

A temporary course releases the synthetic lesson ``00_tiny`` through a
temporary exchange. Five students fetch it: ``complete``, ``empty`` and
``partial`` submit on time, ``late`` submits a complete answer two hours after
the due date, ``absent`` submits nothing. The instructor collects, autogrades
with ``--jobs 2`` and again with ``--jobs 1``, writes and releases feedback,
tabulates the grades and releases the solutions; students fetch feedback and
solutions. Every instructor step goes through the ``rnncourse`` command.

The same module runs the LMS path (pack -> import-zips -> autograde) and a
gradebook on a real PostgreSQL server.
"""

from __future__ import annotations

import datetime as dt
import glob
import html
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from lesson_harness import submit
from workflow_harness import (
    ANSWERS,
    EXPECTED,
    HIDDEN_MARK,
    LESSON,
    MAX_SCORE,
    PARTIAL_MESSAGE,
    Student,
    answer,
    fingerprint,
    ok,
    rnncourse,
    tiny_course,
    utc_now,
)

from rnncourse.instructor.nbgrader_course import open_gradebook, scores

pytestmark = pytest.mark.timeout(1800)  # nbgrader on a busy 2-core machine is slow

COURSE_ID = "rnncourse"
FULL = {"test_add": 2.0, "test_double": 3.0}
CELL_SCORES = {  # the exact score of each test cell, per scenario
    "complete": FULL,
    "late": FULL,
    "empty": {"test_add": 0.0, "test_double": 0.0},
    "partial": {"test_add": 2.0, "test_double": 0.0},
}
FINAL = {**EXPECTED, "late": 4.5}  # late by under a day: 10 % of 5 points off


def page_text(path: Path) -> str:
    """What a feedback page says, without its HTML markup."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def summary_rows(output: str) -> dict[str, list[str]]:
    """student -> the columns of its row in the autograde summary."""
    lines = output.strip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["student", "score"])
    return {line.split()[0]: line.split(None, 5)[1:] for line in lines[start + 1 :]}


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """Run the whole term once; the tests below check what each step left."""
    tmp = tmp_path_factory.mktemp("class")
    course = tiny_course(tmp / "course", build_it=False)
    exchange = tmp / "exchange"
    here = ("--course", course.root)
    where = (*here, "--exchange", exchange)
    due = (utc_now() + dt.timedelta(days=1)).replace(microsecond=0)
    run = {"course": course, "exchange": exchange, "due": due}

    run["release"] = ok("release", LESSON, "--due", f"{due:%Y-%m-%d %H:%M:%S} UTC", *where)
    students = {s: Student(s, tmp / "home" / s, exchange) for s in [*ANSWERS, "late", "absent"]}
    # one student types nbgrader's commands; the others use the Assignments panel's way
    fetched = students["complete"].cli("fetch_assignment", LESSON)
    assert fetched.returncode == 0, fetched.stderr
    for student in students.values():
        if student.id != "complete":
            student.fetch(LESSON)
    for kind in ANSWERS:
        students[kind].write(LESSON, answer(course, kind))
    students["late"].write(LESSON, answer(course, "complete"))
    sent = students["complete"].cli("submit", LESSON)
    assert sent.returncode == 0, sent.stderr
    students["empty"].submit(LESSON)
    students["partial"].submit(LESSON)
    students["late"].submit(LESSON, at=due + dt.timedelta(hours=2))
    with open_gradebook(course) as gb:  # the roster, as `nbgrader db student import` loads it
        for student in students:
            gb.update_or_create_student(student)

    run["collect"] = ok("collect", LESSON, *where)
    submitted = course.autograder_dir / "submitted"
    inbound = exchange / COURSE_ID / "inbound"
    run["before"] = fingerprint(submitted, inbound)

    run["jobs2"] = ok("autograde", LESSON, "--jobs", "2", *here)
    run["scores2"] = scores(course, LESSON)
    run["jobs1"] = ok("autograde", LESSON, "--jobs", "1", *here)
    run["scores1"] = scores(course, LESSON)

    run["feedback"] = ok("feedback", LESSON, *where)
    run["fetched_feedback"] = students["partial"].fetch_feedback(LESSON)
    run["grades_csv"] = tmp / "report" / "grades.csv"
    run["grades"] = ok("grades", "--out", run["grades_csv"], *here)

    run["early_solutions"] = rnncourse("release-solutions", LESSON, *where)
    run["solutions"] = ok("release-solutions", LESSON, "--force", *where)
    run["fetched_solutions"] = students["complete"].fetch(LESSON + "-solutions")
    run["after"] = fingerprint(submitted, inbound)
    return run


def test_release_puts_the_lesson_and_due_date_in_the_exchange(klass):
    released = klass["exchange"] / COURSE_ID / "outbound" / LESSON / f"{LESSON}.ipynb"
    assert released.is_file()
    assert HIDDEN_MARK not in released.read_text()
    assert f"due: {klass['due']:%Y-%m-%d %H:%M} UTC" in klass["release"]


def test_collect_takes_every_submission_and_nobody_else(klass):
    assert "4 submissions" in klass["collect"]
    assert klass["course"].submitted_students(LESSON) == ["complete", "empty", "late", "partial"]


def test_parallel_autograde_gives_the_exact_scores(klass):
    got = {
        s: {cell: score for cell, (score, _) in cells.items()}
        for s, cells in klass["scores2"].items()
    }
    assert got == CELL_SCORES


def test_sequential_autograde_gives_the_same_scores(klass):
    assert klass["scores1"] == klass["scores2"]
    assert summary_rows(klass["jobs1"]) == summary_rows(klass["jobs2"])


def test_summary_has_score_failures_errors_and_problems(klass):
    rows = summary_rows(klass["jobs2"])
    assert set(rows) == {"complete", "empty", "partial", "late", "absent"}
    for student, final in FINAL.items():
        score, top = rows[student][:2]
        assert (float(score), float(top)) == (final, MAX_SCORE), student
    assert rows["complete"][2:4] == ["0", "0"]
    assert rows["partial"][2:4] == ["1", "0"]  # a wrong answer is a failure, not an error
    assert rows["empty"][2:4] == ["2", "2"]  # the blank exercises raise NotImplementedError
    assert "test_add raised NotImplementedError" in rows["empty"][4]
    assert re.search(r"late by \d+\.\d h \(penalty 0\.5\)", rows["late"][4])
    assert rows["absent"] == ["-", "-", "-", "-", "no submission"]


def test_kernels_run_on_cpu_and_know_they_are_autograding(klass):
    notebook = klass["course"].autograded_notebook("complete", LESSON)
    assert "RNNCOURSE_DEVICE = cpu" in notebook.read_text()
    assert "NBGRADER_EXECUTION = autograde" in notebook.read_text()


def test_feedback_shows_messages_and_visible_tests_never_hidden_ones(klass):
    released = sorted((klass["exchange"] / COURSE_ID / "feedback").glob("*.html"))
    assert len(released) == 4, klass["feedback"]
    for page in released:
        text = page_text(page)
        assert HIDDEN_MARK not in text and "BEGIN HIDDEN TESTS" not in text, page
        assert 'assert double(2) == 4, "double(2) should be 4"' in text
    (page,) = klass["fetched_feedback"]  # what the partial student fetched
    text = page_text(page)
    assert PARTIAL_MESSAGE in text
    assert HIDDEN_MARK not in text
    assert "Score: 0.0 / 3.0" in text


def test_grades_table_csv_statistics_and_histogram(klass):
    table = pd.read_csv(klass["grades_csv"], index_col="student")
    expected = {**FINAL, "absent": float("nan")}
    assert table[LESSON].to_dict() == pytest.approx(expected, nan_ok=True)
    assert (klass["grades_csv"].parent / f"grades-{LESSON}.png").read_bytes()[
        :8
    ] == b"\x89PNG\r\n\x1a\n"
    stats = klass["grades"].split("\n\n")[1]
    assert re.search(rf"{LESSON}\s+5\s+4\s+2\.88\s+3\.25\s+0\s+5", stats), stats


def test_solutions_wait_for_the_due_date_unless_forced(klass):
    status, _, err = klass["early_solutions"]
    assert status == 2 and "--force" in err and len(err.strip().splitlines()) == 1


def test_fetched_solutions_have_solutions_and_visible_tests_only(klass):
    text = (klass["fetched_solutions"] / f"{LESSON}.ipynb").read_text()
    assert "return 2 * x" in text and "raise NotImplementedError" not in text
    assert "double(2) should be 4" in text
    assert HIDDEN_MARK not in text and "HIDDEN TESTS" not in text


def test_no_submitted_file_was_modified(klass):
    assert klass["before"] and klass["after"] == klass["before"]


# ---- the LMS path ---------------------------------------------------------------


def test_lms_zips_pack_import_and_autograde(tmp_path, monkeypatch):
    course = tiny_course(tmp_path / "course")
    uploads = tmp_path / "lms-download"
    for kind in ("complete", "partial"):
        work = tmp_path / "students" / kind / LESSON
        work.mkdir(parents=True)
        (work / f"{LESSON}.ipynb").write_text(json.dumps(answer(course, kind)))
        monkeypatch.chdir(work.parent)
        ok("pack", LESSON, "--student", kind, "--out", uploads, "--course", course.root)
    # an LMS puts its own prefix in front of each upload
    (uploads / f"{LESSON}__partial.zip").rename(
        uploads / f"Cy Partial_17_file_{LESSON}__partial.zip"
    )
    before = fingerprint(uploads)

    imported = ok("import-zips", LESSON, uploads, "--course", course.root)
    assert "2 imported, 0 skipped" in imported
    rows = summary_rows(ok("autograde", LESSON, "--jobs", "2", "--course", course.root))
    assert {s: float(r[0]) for s, r in rows.items()} == {"complete": 5.0, "partial": 2.0}
    assert fingerprint(uploads) == before
    feedback = ok("feedback", LESSON, "--course", course.root)
    assert "not released (hand these pages out yourself): complete, partial" in feedback


# ---- a PostgreSQL gradebook -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server on 127.0.0.1; skipped where none can start."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("no PostgreSQL server installed (/usr/lib/postgresql/*/bin/initdb)")
    bindir = Path(found[-1]).parent
    as_postgres: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="rnncourse-pg-"))  # outside pytest's root-only tmp
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(base, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data, log = base / "data", base / "server.log"

    def pg(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_postgres, *args], capture_output=True, text=True, timeout=300)

    init = pg(
        str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"
    )
    start = init.returncode == 0 and pg(
        str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "240", "start",
        "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off",
    )  # fmt: skip
    if not start or start.returncode != 0:
        why = (
            (init.stderr or "")
            + (start.stderr if start else "")
            + (log.read_text() if log.exists() else "")
        )
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server: {why.strip()[-500:]}")
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE gradebook")
        conn.close()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/gradebook"
    finally:
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_postgresql_gradebook(postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNCOURSE_DB_URL", postgres_url)
    course = tiny_course(tmp_path / "course")  # generate_assignment writes to PostgreSQL
    assert not (course.autograder_dir / "gradebook.db").exists()
    for kind in ("complete", "partial"):
        submit(course, LESSON, kind, answer(course, kind))
    rows = summary_rows(ok("autograde", LESSON, "--jobs", "2", "--course", course.root))
    assert {s: float(r[0]) for s, r in rows.items()} == {"complete": 5.0, "partial": 2.0}
    ok("grades", "--out", tmp_path / "g.csv", "--course", course.root)
    table = pd.read_csv(tmp_path / "g.csv", index_col="student")
    assert table[LESSON].to_dict() == {"complete": 5.0, "partial": 2.0}
    assert not (course.autograder_dir / "gradebook.db").exists()
