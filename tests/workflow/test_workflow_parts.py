"""The parts of the instructor workflow, one at a time: the nbgrader configuration,
hidden tests kept out of feedback, ``rnncourse check``, LMS zips, the autograde
summary and the command line's errors. test_workflow.py runs them together."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from lesson_harness import REPO
from nbgrader.preprocessors import AssignLatePenalties
from traitlets.config.loader import PyFileConfigLoader
from workflow_harness import HIDDEN_MARK, LESSON, rnncourse, tiny_course

from rnncourse import cli
from rnncourse.course import Course, CourseError
from rnncourse.instructor.autograde import StudentResult, format_summary, worker_env
from rnncourse.instructor.feedback import PLACEHOLDER, hide_hidden_tests, strip_hidden_tests
from rnncourse.instructor.import_zips import import_zips
from rnncourse.instructor.nbgrader_course import settings
from rnncourse.nbgrader_cells import find_cell, is_test_cell, nbgrader_meta
from rnncourse.student.pack import pack, student_of, zip_name
from rnncourse.student.submission_check import check_submission, problems

REAL = "01_time_series"  # one real lesson, for the checks that read notebooks only
needs_real = pytest.mark.skipif(
    not (REPO / "lessons" / REAL / f"{REAL}.ipynb").is_file(), reason=f"{REAL} is not built"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Course:
    return tiny_course(tmp_path_factory.mktemp("tiny") / "course")


@pytest.fixture
def course(built, tmp_path) -> Course:
    """A private copy of the built course (gradebook and all), safe to change."""
    return Course(Path(shutil.copytree(built.root, tmp_path / "course")))


def released(course: Course) -> dict:
    return json.loads(course.release_notebook(LESSON).read_text())


def cell(nb: dict, grade_id: str) -> dict:
    return find_cell(nb["cells"], grade_id)


def write(path: Path, nb: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


def sha(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


# ---- the nbgrader configuration -------------------------------------------------


def test_config_forces_cpu_kernels_and_charges_ten_percent_per_started_day(monkeypatch):
    monkeypatch.setenv("RNNCOURSE_DEVICE", "cuda")  # restored after the test
    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO / "autograder")).load_config()
    assert os.environ["RNNCOURSE_DEVICE"] == "cpu", "plain `nbgrader autograde` would use a GPU"
    plugin = AssignLatePenalties(config=config).plugin_class  # nbgrader imports what it names
    penalty = plugin(config=config).late_submission_penalty
    day = 86400
    assert penalty("s", 5.0, 1) == pytest.approx(0.5)
    assert penalty("s", 5.0, day) == pytest.approx(0.5)
    assert penalty("s", 5.0, day + 1) == pytest.approx(1.0)
    assert penalty("s", 5.0, 30 * day) == pytest.approx(5.0), "a penalty never exceeds the score"
    assert penalty("s", 0.0, day) == 0.0


def test_settings_follow_the_environment_and_change_nothing(built, monkeypatch, tmp_path):
    monkeypatch.delenv("RNNCOURSE_DEVICE", raising=False)
    monkeypatch.delenv("RNNCOURSE_DB_URL", raising=False)
    monkeypatch.setenv("RNNCOURSE_EXCHANGE", str(tmp_path / "from-env"))
    found = settings(built)
    assert found.exchange_root == tmp_path / "from-env"
    assert found.db_url == f"sqlite:///{built.autograder_dir / 'gradebook.db'}"
    assert found.course_id == "rnncourse"
    assert "RNNCOURSE_DEVICE" not in os.environ, "reading the configuration leaked its settings"
    given = Course(built.root, exchange=tmp_path / "given")
    assert settings(given).exchange_root == tmp_path / "given"


def test_workers_wait_for_sqlite_locks_and_share_the_cores(built, monkeypatch):
    monkeypatch.delenv("RNNCOURSE_DB_URL", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    env = worker_env(built, jobs=os.cpu_count() or 1)
    assert env["RNNCOURSE_DB_URL"].endswith("gradebook.db?timeout=60")
    assert env["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("RNNCOURSE_DB_URL", "postgresql+psycopg2://u@h/g")
    assert "RNNCOURSE_DB_URL" not in worker_env(built, jobs=1)


def test_summary_table_is_aligned_and_says_problems_in_words():
    rows = [
        StudentResult("ada", 4.5, 5.0, 0, 0, ["late by 2.0 h (penalty 0.5)"]),
        StudentResult("bartholomew", None, None, problems=["not graded: nbgrader failed: boom"]),
    ]
    lines = format_summary(rows).splitlines()
    assert lines[0].split() == ["student", "score", "max", "failures", "errors", "problems"]
    assert lines[1].split(None, 5) == ["ada", "4.5", "5", "0", "0", "late by 2.0 h (penalty 0.5)"]
    assert lines[2].split(None, 5)[1:5] == ["-", "-", "-", "-"]
    assert lines[0].index("problems") == lines[1].index("late")


# ---- feedback without hidden tests ------------------------------------------------


def test_strip_hidden_tests_leaves_one_placeholder_per_block():
    source = (
        "assert f(1) == 1\n"
        "    ### BEGIN HIDDEN TESTS\n    assert f(2) == 2\n    ### END HIDDEN TESTS\n"
        "assert f(3) == 3\n"
        "### BEGIN HIDDEN TESTS\nsecret = 4\n### END HIDDEN TESTS"
    )
    stripped, found = strip_hidden_tests(source)
    assert found
    assert stripped == (f"assert f(1) == 1\n    {PLACEHOLDER}\nassert f(3) == 3\n{PLACEHOLDER}")
    assert strip_hidden_tests("assert f(1) == 1") == ("assert f(1) == 1", False)
    unclosed, _ = strip_hidden_tests("a = 1\n### BEGIN HIDDEN TESTS\nsecret = 2\nmore = 3")
    assert unclosed == f"a = 1\n{PLACEHOLDER}", "an unclosed block must hide the rest"


def _error(*frames: str) -> dict:
    header = [
        "\x1b[31m-----\x1b[39m",
        "\x1b[31mAssertionError\x1b[39m   Traceback (most recent call last)",
    ]
    return {
        "output_type": "error",
        "ename": "AssertionError",
        "evalue": "double(1000) should be 2000",
        "traceback": [
            *header,
            *frames,
            "\x1b[31mAssertionError\x1b[39m: double(1000) should be 2000",
        ],
    }


def test_hide_hidden_tests_drops_the_test_cells_frames_and_keeps_the_students():
    test_frame = (  # as IPython colours it: the frame quotes the hidden lines
        "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[5]\x1b[39m\x1b[32m, line 3\x1b[39m\n"
        f"      2 {HIDDEN_MARK} = double(1000)\n----> 3 assert {HIDDEN_MARK} == 2000\n"
    )
    student_frame = (
        "\x1b[36mCell\x1b[39m \x1b[32mIn[4]\x1b[39m, line 2, in double(x)\n----> 2 return x\n"
    )
    student_code = "def double(x):\n    return x"
    test_code = (
        "assert double(2) == 4\n### BEGIN HIDDEN TESTS\n"
        f"{HIDDEN_MARK} = double(1000)\nassert {HIDDEN_MARK} == 2000\n### END HIDDEN TESTS"
    )
    grade = {"nbgrader": {"grade": True, "grade_id": "t", "points": 1}}
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(student_code, execution_count=4),
            nbformat.v4.new_code_cell(
                test_code,
                execution_count=5,
                metadata=grade,
                outputs=[nbformat.from_dict(_error(test_frame, student_frame))],
            ),
        ]
    )
    hide_hidden_tests(nb)
    test = nb.cells[1]
    assert test.source == f"assert double(2) == 4\n{PLACEHOLDER}"
    traceback = test.outputs[0].traceback
    assert HIDDEN_MARK not in "".join(traceback)
    assert student_frame in traceback, "the frame in the student's own code is useful"
    assert traceback[-1].endswith("double(1000) should be 2000")
    assert test.outputs[0].evalue == "double(1000) should be 2000"


@needs_real
def test_feedback_of_a_real_lesson_shows_its_released_tests_exactly():
    source = nbformat.read(REPO / "solutions" / REAL / f"{REAL}.ipynb", as_version=4)
    release = nbformat.read(REPO / "lessons" / REAL / f"{REAL}.ipynb", as_version=4)
    shown = hide_hidden_tests(copy.deepcopy(source))
    tests = [c for c in source.cells if is_test_cell(c)]
    assert any("BEGIN HIDDEN TESTS" in c.source for c in tests), f"{REAL} has no hidden tests"
    by_id = {c.metadata.nbgrader.grade_id: c for c in release.cells if "nbgrader" in c.metadata}
    for cell_ in shown.cells:
        meta = nbgrader_meta(cell_)
        if meta.get("grade"):
            lines = [ln for ln in cell_.source.split("\n") if ln.strip() != PLACEHOLDER]
            assert "\n".join(lines) == by_id[meta["grade_id"]].source, meta["grade_id"]


# ---- rnncourse check --------------------------------------------------------------


def _delete(nb):
    nb["cells"].remove(cell(nb, "add"))


def _duplicate(nb):
    nb["cells"].append(copy.deepcopy(cell(nb, "double")))


def _retype(nb):
    target = cell(nb, "test_add")
    target["cell_type"] = "markdown"
    target.pop("outputs"), target.pop("execution_count")


def _edit_locked(nb):
    cell(nb, "test_double")["source"] = "assert True  # all good"


def _repoint(nb):
    cell(nb, "test_add")["metadata"]["nbgrader"]["points"] = 20


def _smuggle(nb):
    extra = copy.deepcopy(cell(nb, "test_add"))
    extra["metadata"]["nbgrader"]["grade_id"] = "test_extra"
    nb["cells"].append(extra)


@pytest.mark.parametrize(
    "damage, words",
    [
        (_delete, ["'add'", "deleted"]),
        (_duplicate, ["'double'", "appears 2 times"]),
        (_retype, ["'test_add'", "from code to markdown"]),
        (_edit_locked, ["'test_double'", "was edited"]),
        (_repoint, ["'test_add'", "points 2.0 -> 20.0"]),
        (_smuggle, ["'test_extra'", "does not have"]),
    ],
)
def test_check_names_each_kind_of_broken_structure(built, tmp_path, damage, words):
    nb = released(built)
    damage(nb)
    found = problems(check_submission(built, LESSON, write(tmp_path / "mine.ipynb", nb)))
    assert len(found) == 1, found
    assert all(w in found[0].message for w in words), found[0].message


def test_check_passes_untouched_work_and_notes_unanswered_exercises(built, tmp_path):
    nb = released(built)
    cell(nb, "add")["source"] = "def add(a, b):\n    return a + b"
    found = check_submission(built, LESSON, write(tmp_path / LESSON / f"{LESSON}.ipynb", nb))
    assert [(f.kind, f.message) for f in found] == [
        ("note", "exercise 'double' is not answered yet.")
    ]


def test_check_of_work_done_in_the_course_copy_itself(course):
    """A student of a cloned course edits lessons/<id> in place: the cells come
    from solutions/, the checksums from the notebook's own metadata."""
    path = course.release_notebook(LESSON)
    nb = released(course)
    _edit_locked(nb)
    _delete(nb)
    write(path, nb)
    said = " | ".join(f.message for f in problems(check_submission(course, LESSON, path)))
    assert "'test_double'" in said and "was edited" in said
    assert "'add'" in said and "deleted" in said


def test_check_command_exit_status_and_unreadable_files(built, tmp_path):
    good = write(tmp_path / "good.ipynb", released(built))
    assert rnncourse("check", LESSON, good, "--course", built.root)[0] == 0
    nb = released(built)
    _delete(nb)
    status, out, _ = rnncourse(
        "check", LESSON, write(tmp_path / "bad.ipynb", nb), "--course", built.root
    )
    assert status == 1 and "deleted" in out and "1 problem(s) to fix" in out
    (tmp_path / "junk.ipynb").write_text("{not json")
    status, _, err = rnncourse("check", LESSON, tmp_path / "junk.ipynb", "--course", built.root)
    assert status == 2 and "is not a notebook the autograder can read" in err


@needs_real
def test_check_on_a_real_lesson(tmp_path):
    course = Course(REPO)
    nb = json.loads(course.release_notebook(REAL).read_text())
    fine = check_submission(course, REAL, write(tmp_path / "fine.ipynb", nb))
    assert not problems(fine), fine
    nb["cells"].remove(cell(nb, "make_windows"))
    nb["cells"].append(copy.deepcopy(cell(nb, "rmse")))
    cell(nb, "config")["source"] += "\nEPOCHS = 10_000  # more is better"
    found = problems(check_submission(course, REAL, write(tmp_path / "broken.ipynb", nb)))
    said = [f.message for f in found]
    assert len(said) == 3, said
    assert any("'make_windows'" in m and "deleted" in m for m in said)
    assert any("'rmse'" in m and "appears 2 times" in m for m in said)
    assert any("'config'" in m and "edited" in m for m in said)


# ---- LMS zips ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, student",
    [
        (f"{LESSON}__ada.zip", "ada"),
        (f"Ada Lovelace_8812_assignsubmission_file_{LESSON}__ada.l@uni.edu.zip", "ada.l@uni.edu"),
        (f"123-{LESSON}__a-b_c.zip", "a-b_c"),
        (f"x{LESSON}__ada.zip", None),  # another lesson whose id ends like this one
        (f"{LESSON}_ada.zip", None),
        (f"{LESSON}__ada.ipynb", None),
        (f"{LESSON}__a+b.zip", None),
        ("01_time_series__ada.zip", None),
    ],
)
def test_zip_names_carry_the_student_id(name, student):
    assert student_of(name, LESSON) == student


def test_pack_writes_the_notebook_and_its_time(built, tmp_path):
    notebook = write(tmp_path / "work" / f"{LESSON}.ipynb", released(built))
    path = pack(built, LESSON, notebook, student="ada", out_dir=tmp_path / "out")
    assert path == tmp_path / "out" / zip_name(LESSON, "ada")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == [f"{LESSON}/{LESSON}.ipynb", f"{LESSON}/timestamp.txt"]
        assert zf.read(f"{LESSON}/{LESSON}.ipynb") == notebook.read_bytes()
        stamp = dt.datetime.strptime(
            zf.read(f"{LESSON}/timestamp.txt").decode(), "%Y-%m-%d %H:%M:%S.%f UTC"
        )
    assert abs(dt.datetime.now(dt.UTC).replace(tzinfo=None) - stamp) < dt.timedelta(hours=1)
    with pytest.raises(CourseError, match="cannot be a student id"):
        pack(built, LESSON, notebook, student="a b", out_dir=tmp_path / "out")


def _zip(path: Path, members: dict[str, bytes | str]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_import_zips_reads_what_it_can_and_says_why_it_skips_the_rest(course, tmp_path):
    nb = json.dumps(released(course))
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    stamp = "2030-01-02 03:04:05.000000 UTC"
    _zip(
        uploads / f"Ada L_1_file_{LESSON}__ada.zip",
        {f"{LESSON}/{LESSON}.ipynb": nb, f"{LESSON}/timestamp.txt": stamp},
    )
    _zip(uploads / f"{LESSON}__bo.zip", {f"deep/er/{LESSON}.ipynb": nb, "__MACOSX/._x": "junk"})
    _zip(uploads / f"{LESSON}__cy.zip", {"notes.txt": "I forgot the notebook"})
    _zip(uploads / f"{LESSON}__di.zip", {f"{LESSON}.ipynb": "{broken"})
    _zip(uploads / f"{LESSON}__ed.zip", {f"a/{LESSON}.ipynb": nb, f"b/{LESSON}.ipynb": nb})
    _zip(uploads / f"1_{LESSON}__fay.zip", {f"{LESSON}.ipynb": nb})
    _zip(uploads / f"2_{LESSON}__fay.zip", {f"{LESSON}.ipynb": nb})
    _zip(uploads / f"{LESSON}__gus.zip", {f"../../../escaped/{LESSON}.ipynb": nb})
    _zip(uploads / f"{LESSON}__ivy.zip", {f"{LESSON}.ipynb": nb, "timestamp.txt": "garbage"})
    (uploads / f"{LESSON}__hal.zip").write_bytes(b"not a zip at all")
    (uploads / "index.html").write_text("the LMS's listing")
    before = sha(uploads)

    report = import_zips(course, LESSON, uploads)
    assert sorted(report.imported) == ["ada", "bo", "gus"]
    skipped = dict(report.skipped)
    assert "does not end in" in skipped["index.html"]
    assert "holds no" in skipped[f"{LESSON}__cy.zip"]
    assert "not a usable submission" in skipped[f"{LESSON}__di.zip"]
    assert (
        f"its {LESSON}.ipynb is not a notebook: not valid JSON (line 1"
        in skipped[f"{LESSON}__di.zip"]
    )
    assert "its timestamp.txt does not hold a date and time" in skipped[f"{LESSON}__ivy.zip"]
    assert "holds 2 files" in skipped[f"{LESSON}__ed.zip"]
    assert "fay has 2 zips" in skipped[f"1_{LESSON}__fay.zip"] and f"2_{LESSON}__fay.zip" in skipped
    assert "not a usable submission" in skipped[f"{LESSON}__hal.zip"]
    assert sha(uploads) == before, "a zip file was modified"

    ada = course.submitted_dir("ada", LESSON)
    assert (ada / f"{LESSON}.ipynb").read_text() == nb and (
        ada / "timestamp.txt"
    ).read_text() == stamp
    assert not (course.submitted_dir("bo", LESSON) / "timestamp.txt").exists()
    assert not list(tmp_path.rglob("escaped")), "a path inside a zip was followed"

    again = import_zips(course, LESSON, uploads)
    assert (
        not again.imported
        and "already imported" in dict(again.skipped)[f"Ada L_1_file_{LESSON}__ada.zip"]
    )
    assert sorted(import_zips(course, LESSON, uploads, force=True).imported) == ["ada", "bo", "gus"]


# ---- the command line -------------------------------------------------------------

LESSON_COMMANDS = {  # subcommand -> the arguments it needs after LESSON
    "release": [],
    "collect": [],
    "import-zips": ["."],
    "autograde": [],
    "feedback": [],
    "release-solutions": [],
    "check": [],
    "pack": [],
}


def test_every_subcommand_has_help(capsys):
    for command in ["build", "grades", *LESSON_COMMANDS]:
        with pytest.raises(SystemExit) as done:
            cli.main([command, "--help"])
        assert done.value.code == 0
        assert "--course" in capsys.readouterr().out, command


@pytest.mark.parametrize("command", ["build", *LESSON_COMMANDS])
def test_a_wrong_lesson_name_is_one_clear_line(built, command):
    extra = LESSON_COMMANDS.get(command, [])
    status, _, err = rnncourse(command, "00_tiyn", *extra, "--course", built.root)
    assert status == 2
    assert err.strip() == (
        f"rnncourse {command}: error: no lesson named '00_tiyn'. Did you mean '{LESSON}'? "
        f"Lessons: {LESSON}."
    )


@pytest.mark.parametrize("command", ["build", "grades", *LESSON_COMMANDS])
def test_a_missing_course_folder_is_one_clear_line(tmp_path, command):
    lesson = [LESSON, *LESSON_COMMANDS[command]] if command in LESSON_COMMANDS else []
    status, _, err = rnncourse(command, *lesson, "--course", tmp_path / "nowhere")
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "is not an rnncourse course folder" in err and "--course PATH" in err


def test_instructor_commands_say_what_to_do_first(course, tmp_path):
    status, _, err = rnncourse(
        "collect", LESSON, "--course", course.root, "--exchange", tmp_path / "ex"
    )
    assert status == 2 and "Release 00_tiny first" in err
    status, _, err = rnncourse("autograde", LESSON, "--course", course.root)
    assert status == 2 and "collect or import-zips first" in err
    status, _, err = rnncourse("autograde", LESSON, "--student", "zed", "--course", course.root)
    assert status == 2 and "no submission of 00_tiny from zed" in err
    status, _, err = rnncourse("feedback", LESSON, "--course", course.root)
    assert status == 2 and "run `rnncourse autograde 00_tiny`" in err


def test_grades_of_a_course_never_built_is_a_clear_error(tmp_path, monkeypatch):
    """The gradebook is created in-process on first use, by nbgrader running
    `alembic`: that must work when the venv's scripts are not on PATH (a plain
    `.venv/bin/rnncourse grades`), and end in a sentence, not a traceback."""
    course = tiny_course(tmp_path / "course", build_it=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    status, _, err = rnncourse("grades", "--course", course.root)
    assert status != 0 and "the gradebook has no lessons yet" in err, err
    assert os.environ["PATH"] == "/usr/bin:/bin", "PATH was not restored"


def test_a_grade_histogram_leaves_the_callers_matplotlib_backend_alone(tmp_path):
    """An instructor who calls write_grades in a notebook keeps inline plots."""
    import matplotlib
    import pandas as pd

    from rnncourse.instructor.grade_table import Grades, histogram

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        grades = Grades(pd.DataFrame({"01": [3.0, 5.0, None]}), {"01": 5.0})
        path = histogram(grades, "01", tmp_path / "h.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
