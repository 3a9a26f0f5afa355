"""Broken and hostile submissions, autograded in one batch with well-behaved ones.

One class of the synthetic lesson ``00_tiny`` (``add``: 2 points, ``double``: 3)
is graded once with ``rnncourse autograde --jobs 2``: two well-behaved
students and one student per hostile case. Every case must end with a
recorded, explained result for that student, the batch must finish, the
well-behaved students must score exactly what they score when graded alone,
and every submitted file must be byte-for-byte unchanged. A last test grades
the sandbox-breaking student without the sandbox, as plain nbgrader would:
that student then raises their own score in the gradebook.

Cells may run 10 s here (RNNCOURSE_CELL_TIMEOUT) and kernels get 2 GiB of
memory (RNNCOURSE_KERNEL_MEMORY), enough for this lesson.
"""

from __future__ import annotations

import json
import shutil
import socket

import pytest
from lesson_harness import WholeCell, make_submission, submit
from workflow_harness import ANSWERS, LESSON, MAX_SCORE, fingerprint, rnncourse, tiny_course

from rnncourse.course import Course
from rnncourse.instructor.nbgrader_course import open_gradebook, scores
from rnncourse.nbgrader_cells import find_cell

pytestmark = pytest.mark.timeout(1800)  # nbgrader on a busy 2-core machine is slow

ADD = "def add(a, b):\n    return a + b\n"
DOUBLE = "def double(x):\n    return 2 * x\n"
WELL_BEHAVED = ("complete", "partial")
# student -> overrides of the reference answer (lesson_harness.make_submission)
CODE = {
    "complete": ANSWERS["complete"],
    "partial": ANSWERS["partial"],
    # 1. infinite loops: one that an interrupt stops, one that swallows it
    "loop": {"add": WholeCell("import time\nwhile True:\n    time.sleep(0.05)\n" + ADD)},
    "stubborn": {
        "add": WholeCell(
            "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n"
            "    except KeyboardInterrupt:\n        pass\n" + ADD
        )
    },
    # 2. exits and a dying kernel; sys.exit() also hides a failure behind sys.displayhook
    "os_exit": {"double": WholeCell("import os\nos._exit(1)\n" + DOUBLE)},
    "killed": {"add": WholeCell("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n" + ADD)},
    "sys_exit": {
        "add": WholeCell("import sys\nsys.exit()\n" + ADD),
        "double": "import sys\nsys.displayhook('all tests passed')\nreturn x",
    },
    # 3. megabytes of output, from every call
    "spam": {"add": 'print("spam " * 2_000_000)\nreturn a + b'},
    # 4. far more memory than the lesson needs
    "memory": {"double": WholeCell("hog = bytearray(6 << 30)\n" + DOUBLE)},
    # 6. wrong answers, tests edited to pass (below) and deleted
    "tests_edited": {"add": "return a - b", "double": "return x"},
    # 7. wrong answers, and what would hide the failures
    "monkeypatch": {
        "add": "get_ipython().showtraceback = lambda *a, **k: None\nreturn a - b",
        "double": WholeCell(
            "import builtins\nimport numpy\n\nbuiltins.all = lambda x: True\n"
            "numpy.testing.assert_allclose = lambda *a, **k: None\n\n"
            "def double(x):\n    return x\n"
        ),
    },
}
# 8. "sneaky" reads and writes the instructor's files and uses the network: sneaky_cell
# 5. notebooks nbgrader cannot open: written as files below
UNREADABLE = ("not_json", "renamed", "missing")
EXPECTED = {  # (score, words the summary must say about the student)
    "complete": (5.0, []),
    "partial": (2.0, []),
    "loop": (3.0, ["cell add timed out after 10 s"]),
    "stubborn": (0.0, ["cell add timed out after 10 s", "ignored the timeout's interrupt"]),
    "os_exit": (2.0, ["kernel died in cell double: os._exit called (exit status 1)"]),
    "killed": (0.0, ["kernel died in cell add: it sent a signal (killed by SIGKILL"]),
    "sys_exit": (0.0, ["cell add called sys.exit()"]),
    "spam": (5.0, ["printed too much output"]),
    "memory": (2.0, ["cell double ran out of memory"]),
    "tests_edited": (0.0, ["'test_add') was edited", "'test_double' was deleted"]),
    "monkeypatch": (
        0.0,
        ["replaces get_ipython().showtraceback", "builtins.all", "numpy.testing.assert_allclose"],
    ),
    "sneaky": (5.0, []),
    "not_json": (0.0, ["notebook is not valid JSON (line 1, column"]),
    "renamed": (0.0, [f"notebook renamed: the submission has my_{LESSON}.ipynb"]),
    "missing": (0.0, [f"notebook missing: the submission has no {LESSON}.ipynb"]),
}
SANDBOX_REPORT = "SANDBOX REPORT "


def sneaky_cell(course: Course, port: int) -> WholeCell:
    """An ``add`` cell that goes for the course's files and the network, then answers."""
    root = str(course.root)
    other = f"{root}/autograder/submitted/complete/{LESSON}/{LESSON}.ipynb"
    return WholeCell(
        f"""import json, os, socket, sqlite3

COURSE = {root!r}  # the kernel's folder, {root}/autograder/autograded/..., gives it away
found = {{}}

def attempt(label, action):
    try:
        found[label] = "OK " + str(action())[:80]
    except Exception as err:
        found[label] = "blocked " + type(err).__name__

def raise_my_score():
    db = sqlite3.connect(COURSE + "/autograder/gradebook.db")
    db.execute("UPDATE grade SET extra_credit = 50")
    db.commit()
    return "extra credit"

attempt("read_solutions", lambda: open(COURSE + "/solutions/{LESSON}/{LESSON}.ipynb").read())
attempt("read_gradebook", lambda: open(COURSE + "/autograder/gradebook.db", "rb").read(16))
attempt("write_gradebook", raise_my_score)
attempt("read_other", lambda: open({other!r}).read())
attempt("overwrite_other", lambda: open({other!r}, "a").write(" "))
attempt("db_url", lambda: os.environ["RNNCOURSE_DB_URL"])
attempt("network", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=5))
attempt("list_course", lambda: sorted(os.listdir(COURSE)))
print({SANDBOX_REPORT!r} + json.dumps(found))

{ADD}"""
    )


def hostile_notebooks(course: Course, port: int) -> dict[str, dict]:
    """student -> the notebook they hand in."""
    notebooks = {s: make_submission(LESSON, o, repo=course.root) for s, o in CODE.items()}
    notebooks["sneaky"] = make_submission(LESSON, {"add": sneaky_cell(course, port)}, course.root)
    edited = notebooks["tests_edited"]
    find_cell(edited["cells"], "test_add")["source"] = "pass"
    edited["cells"].remove(find_cell(edited["cells"], "test_double"))
    return notebooks


def hand_in(course: Course, port: int) -> None:
    for student, notebook in hostile_notebooks(course, port).items():
        submit(course, LESSON, student, notebook)
    good = json.dumps(make_submission(LESSON, {}, repo=course.root))
    for student, name, text in (
        ("not_json", f"{LESSON}.ipynb", good[: len(good) // 2]),
        ("renamed", f"my_{LESSON}.ipynb", good),
        ("missing", "notes.txt", "I did it on paper."),
    ):
        folder = course.submitted_dir(student, LESSON)
        folder.mkdir(parents=True)
        (folder / name).write_text(text)


def autograde(course: Course, *options: str) -> str:
    """``rnncourse autograde`` in this process; its output (the summary)."""
    return rnncourse("autograde", LESSON, "--course", course.root, *options)[1]


def summary_problems(output: str) -> dict[str, tuple[float | None, str]]:
    """student -> (score, problems) from the summary table."""
    lines = output.strip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["student", "score"])
    rows = {}
    for line in lines[start + 1 :]:
        student, score, *rest = line.split(None, 5)
        rows[student] = (None if score == "-" else float(score), rest[3] if len(rest) > 3 else "")
    return rows


@pytest.fixture(scope="module")
def listeners():
    """TCP servers on the grading machine: one for the sandboxed class, one for
    the class graded without a sandbox."""
    with (
        socket.create_server(("127.0.0.1", 0)) as guarded,
        socket.create_server(("127.0.0.1", 0)) as unguarded,
    ):
        guarded.setblocking(False)
        unguarded.setblocking(False)
        yield {"guarded": guarded, "unguarded": unguarded}


def _port(server: socket.socket) -> int:
    return server.getsockname()[1]


@pytest.fixture(scope="module")
def batch(tmp_path_factory, listeners):
    """Build the lesson once; grade the class, the well-behaved alone, and the
    sneaky student without a sandbox."""
    tmp = tmp_path_factory.mktemp("hostile")
    run = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RNNCOURSE_CELL_TIMEOUT", "10")
        env.setenv("RNNCOURSE_KERNEL_MEMORY", "2G")
        env.delenv("RNNCOURSE_SANDBOX", raising=False)
        base = tiny_course(tmp / "base")
        for name in ("class", "alone", "open"):
            shutil.copytree(base.root, tmp / name)
        course = run["course"] = Course(tmp / "class")
        hand_in(course, _port(listeners["guarded"]))
        run["solutions_before"] = fingerprint(course.solutions_dir)
        run["before"] = fingerprint(course.autograder_dir / "submitted")
        run["summary"] = autograde(course, "--jobs", "2")
        run["after"] = fingerprint(course.autograder_dir / "submitted")
        run["solutions_after"] = fingerprint(course.solutions_dir)
        run["scores"] = scores(course, LESSON)

        alone = Course(tmp / "alone")
        for student in WELL_BEHAVED:
            submit(alone, LESSON, student, make_submission(LESSON, CODE[student], repo=alone.root))
        autograde(alone, "--jobs", "2")
        run["alone"] = scores(alone, LESSON)

        unguarded = run["unguarded"] = Course(tmp / "open")
        sneaky = hostile_notebooks(unguarded, _port(listeners["unguarded"]))["sneaky"]
        submit(unguarded, LESSON, "sneaky", sneaky)
        env.setenv("RNNCOURSE_SANDBOX", "off")
        run["unguarded_summary"] = autograde(unguarded)
    return run


def _outputs(course: Course, student: str, cell_id: str) -> list[dict]:
    notebook = json.loads(course.autograded_notebook(student, LESSON).read_text())
    return find_cell(notebook["cells"], cell_id).get("outputs", [])


def _text(outputs: list[dict]) -> str:
    return "".join(
        "".join(o["text"]) if isinstance(o.get("text"), list) else o.get("text", "")
        for o in outputs
    )


def test_every_student_has_an_explained_result(batch):
    rows = summary_problems(batch["summary"])
    assert set(rows) == set(EXPECTED)
    for student, (score, words) in EXPECTED.items():
        got_score, problems = rows[student]
        assert got_score == score, (student, rows[student])
        for word in words:
            assert word in problems, (student, word, problems)
    assert batch["summary"].startswith("student code ran in a bubblewrap sandbox")


def test_scores_are_in_the_gradebook(batch):
    with open_gradebook(batch["course"]) as gb:
        recorded = {s: gb.find_submission(LESSON, s).score for s in EXPECTED}
        maxima = {gb.find_submission(LESSON, s).max_score for s in EXPECTED}
    assert recorded == {s: score for s, (score, _) in EXPECTED.items()}
    assert maxima == {MAX_SCORE}


def test_well_behaved_students_score_what_they_score_alone(batch):
    assert {s: batch["scores"][s] for s in WELL_BEHAVED} == batch["alone"]


def test_no_submitted_file_or_solution_changed(batch):
    assert batch["after"] == batch["before"] and len(batch["before"]) == len(EXPECTED)
    assert batch["solutions_after"] == batch["solutions_before"]


def test_timeouts_let_later_exercises_be_graded(batch):
    assert batch["scores"]["loop"] == {"test_add": (0.0, 2.0), "test_double": (3.0, 3.0)}
    (died,) = [
        o for o in _outputs(batch["course"], "stubborn", "add") if o["ename"] == "DeadKernelError"
    ]
    assert "ignored the timeout's interrupt" in died["evalue"]
    assert _outputs(batch["course"], "stubborn", "test_double")[0]["ename"] == "NotRun"


def test_cells_after_a_kernel_death_never_pass(batch):
    assert batch["scores"]["os_exit"] == {"test_add": (2.0, 2.0), "test_double": (0.0, 3.0)}
    for student, cell in (("os_exit", "test_double"), ("killed", "test_add")):
        (error,) = _outputs(batch["course"], student, cell)
        assert error["ename"] == "NotRun", student


def test_displayhook_cannot_turn_a_failure_into_full_marks(batch):
    # nbgrader grades by the first error or execute_result: errors now come first
    outputs = _outputs(batch["course"], "sys_exit", "test_double")
    assert outputs[0]["output_type"] == "error"
    assert any(o["output_type"] == "execute_result" for o in outputs)
    assert batch["scores"]["sys_exit"]["test_double"] == (0.0, 3.0)


def test_output_is_capped(batch):
    notebook = batch["course"].autograded_notebook("spam", LESSON)
    assert notebook.stat().st_size < 2_500_000  # each call printed 12 MB
    assert "the autograder kept the first 1,000,000" in _text(
        _outputs(batch["course"], "spam", "test_add")
    )


def test_memory_hog_fails_only_its_own_cell(batch):
    errors = [o["ename"] for o in _outputs(batch["course"], "memory", "double")]
    assert errors == ["MemoryError"]
    assert batch["scores"]["memory"]["test_add"] == (2.0, 2.0)


def test_edited_and_deleted_tests_are_restored(batch):
    # with the tests as the student left them, the wrong answers would score 5
    assert batch["scores"]["tests_edited"] == {"test_add": (0.0, 2.0), "test_double": (0.0, 3.0)}
    assert "add(1, 2) should be 3" in json.dumps(
        _outputs(batch["course"], "tests_edited", "test_add")
    )


def test_monkeypatching_is_detected_and_scores_zero(batch):
    said = json.dumps(_outputs(batch["course"], "monkeypatch", "test_double"))
    assert "IntegrityError" in said
    assert "builtins.all" in said and "numpy.testing.assert_allclose" in said


def test_sandbox_blocks_the_instructors_files_and_the_network(batch, listeners):
    text = _text(_outputs(batch["course"], "sneaky", "add"))
    found = json.loads(text.split(SANDBOX_REPORT, 1)[1].splitlines()[0])
    listed = found.pop("list_course")
    assert all(v.startswith("blocked") for v in found.values()), found
    assert "solutions" not in listed
    with open_gradebook(batch["course"]) as gb:
        assert gb.find_submission(LESSON, "sneaky").score == MAX_SCORE
    with pytest.raises(BlockingIOError):  # nobody connected
        listeners["guarded"].accept()


def test_without_the_sandbox_a_student_raises_their_own_score(batch, listeners):
    """What plain nbgrader allows, and the sandbox stops."""
    text = _text(_outputs(batch["unguarded"], "sneaky", "add"))
    found = json.loads(text.split(SANDBOX_REPORT, 1)[1].splitlines()[0])
    assert found["read_solutions"].startswith("OK") and found["write_gradebook"].startswith("OK")
    assert found["network"].startswith("OK")
    with open_gradebook(batch["unguarded"]) as gb:
        assert gb.find_submission(LESSON, "sneaky").score > MAX_SCORE
    assert batch["unguarded_summary"].startswith("WARNING: student code ran WITHOUT a sandbox")
    connection, _ = listeners["unguarded"].accept()
    connection.close()
