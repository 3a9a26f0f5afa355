"""One student cannot reach the next one graded in the same grading lane.

``rnncourse autograde`` grades a class in long-lived lanes
(``rnncourse.instructor.grading_lane``): one process imports nbgrader once and
grades student after student, each in a fresh sandboxed kernel. Here, with
``--jobs 1`` (one lane, students in alphabetical order), a killer goes first
and sends SIGKILL to everything it can name (its parent, PID 1, every process:
kill -1); the lane must survive it and go on. A poisoner follows and leaves
behind all it can: files in every folder it may write (its own, the kernel's
``/tmp``, ``/dev/shm`` and home), importable modules there and a
``sitecustomize``, changed environment variables, a background thread and a
detached background process, and forged lane results written to its file
descriptors 1 and 2. The probe graded right after it in the same lane
looks for every one of them, and answers ``add`` wrongly if it sees any; it
must score exactly what it scores when graded alone, and say it saw nothing.
After grading, nothing the poisoner started is still running on the machine.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from lesson_harness import WholeCell, make_submission, submit
from workflow_harness import LESSON, MAX_SCORE, tiny_course

from rnncourse.course import Course
from rnncourse.instructor.autograde import autograde_class
from rnncourse.instructor.nbgrader_course import scores
from rnncourse.nbgrader_cells import find_cell

pytestmark = pytest.mark.timeout(1800)  # nbgrader on a busy 2-core machine is slow

MARK = "rnncourse_poison_7f3a"  # in every name the poisoner leaves behind
ADD = "def add(a, b):\n    return a + b\n"

POISON = WholeCell(
    f"""import os, subprocess, sys, threading, time

MARK = {MARK!r}
places = [os.getcwd(), "/tmp", "/dev/shm", os.path.expanduser("~"), "/tmp/home/.local"]
for place in places:
    try:
        os.makedirs(place, exist_ok=True)
        with open(os.path.join(place, MARK + ".py"), "w") as f:
            f.write("POISONED = True\\n")
        with open(os.path.join(place, "sitecustomize.py"), "w") as f:
            f.write("import os\\nos.environ[" + repr(MARK) + "] = 'sitecustomize'\\n")
    except OSError:
        pass
for where in sys.path:  # a module or a .pth where Python looks for modules
    for name in (MARK + ".py", MARK + ".pth"):
        try:
            with open(os.path.join(where or ".", name), "w") as f:
                f.write("POISONED = True\\n" if name.endswith(".py") else "import os\\n")
        except OSError:
            pass
forged = b'{{"student": "c_probe", "ok": false, "log": "[ERROR] forged"}}\\n'
for fd in (1, 2):  # the kernel's own stdout and stderr: never the lane's results or log
    try:
        os.write(fd, forged * 1000)
    except OSError:
        pass
os.environ[MARK] = "env"
os.environ["RNNCOURSE_DEVICE"] = "cuda"
os.environ["PYTHONPATH"] = "/tmp:/dev/shm"

def linger():
    while True:
        for place in places:
            try:
                open(os.path.join(place, MARK + "_thread"), "w").close()
            except OSError:
                pass
        time.sleep(0.2)

threading.Thread(target=linger, daemon=True).start()
subprocess.Popen(
    [sys.executable, "-c", "import time\\nwhile True: time.sleep(1)  # " + MARK],
    start_new_session=True,
)
time.sleep(1)

{ADD}"""
)

KILLER = WholeCell(
    "import os, signal\n"
    "for pid in (os.getppid(), 1, -1):\n"
    "    try:\n"
    "        os.kill(pid, signal.SIGKILL)\n"
    "    except OSError:\n"
    "        pass\n" + ADD
)

PROBE = WholeCell(
    f"""import importlib.util, os, sys

MARK = {MARK!r}
seen = []
for place in [os.getcwd(), "/tmp", "/dev/shm", os.path.expanduser("~"), "/tmp/home/.local"]:
    try:
        names = os.listdir(place)
    except OSError:
        continue
    seen += [os.path.join(place, n) for n in names if MARK in n or n == "sitecustomize.py"]
if importlib.util.find_spec(MARK) is not None:
    seen.append("module " + MARK)
seen += ["env " + k for k, v in os.environ.items() if MARK in k or MARK in v]
if os.environ.get("RNNCOURSE_DEVICE") != "cpu":
    seen.append("RNNCOURSE_DEVICE=" + str(os.environ.get("RNNCOURSE_DEVICE")))
if "PYTHONPATH" in os.environ:
    seen.append("PYTHONPATH")
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open("/proc/" + pid + "/cmdline", "rb") as f:
            if MARK.encode() in f.read():
                seen.append("process " + pid)
    except OSError:
        pass
print("PROBE SAW", seen)

def add(a, b):
    return a + b if not seen else a - b
"""
)


def _submit_probe(course: Course, student: str) -> None:
    submit(course, LESSON, student, make_submission(LESSON, {"add": PROBE}, repo=course.root))


def _survivors() -> list[str]:
    """Processes on this machine whose command line carries MARK (the test's own aside)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if MARK.encode() in cmdline and b"pytest" not in cmdline:
            found.append(pid)
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lanes")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RNNCOURSE_CELL_TIMEOUT", "20")
        env.setenv("RNNCOURSE_KERNEL_MEMORY", "2G")
        env.delenv("RNNCOURSE_SANDBOX", raising=False)
        base = tiny_course(tmp / "base")
        shutil.copytree(base.root, tmp / "alone")
        course = Course(base.root)
        submit(course, LESSON, "a_killer", make_submission(LESSON, {"add": KILLER}, course.root))
        poison = make_submission(LESSON, {"add": POISON}, repo=course.root)
        submit(course, LESSON, "b_poisoner", poison)
        _submit_probe(course, "c_probe")
        results = autograde_class(course, LESSON, jobs=1, progress=False)
        alone = Course(tmp / "alone")
        _submit_probe(alone, "c_probe")
        autograde_class(alone, LESSON, jobs=1, progress=False)
    return {
        "course": course,
        "results": {r.student: r for r in results},
        "scores": scores(course, LESSON),
        "alone": scores(alone, LESSON),
        "survivors": _survivors(),
    }


def _probe_saw(course: Course) -> list:
    notebook = json.loads(course.autograded_notebook("c_probe", LESSON).read_text())
    outputs = find_cell(notebook["cells"], "add")["outputs"]
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert "PROBE SAW" in text, outputs
    return text.split("PROBE SAW", 1)[1].strip()


def test_all_were_graded_in_one_lane_that_the_killer_could_not_reach(graded):
    results = graded["results"]
    # inside its sandbox the kernel's parent is the sandbox's PID 1, which ignores
    # SIGKILL from within, and kill(-1) spares the caller: the killer reached nothing
    assert results["a_killer"].score == MAX_SCORE, results["a_killer"]
    assert results["b_poisoner"].score == MAX_SCORE and results["c_probe"].graded
    # the lane started once, for the first student; the others were graded by the same lane
    assert "lane_start" in results["a_killer"].timings
    assert "lane_start" not in results["b_poisoner"].timings
    assert "lane_start" not in results["c_probe"].timings


def test_the_next_student_sees_nothing_the_poisoner_left(graded):
    assert _probe_saw(graded["course"]) == "[]"


def test_the_next_student_scores_what_they_score_alone(graded):
    assert graded["scores"]["c_probe"] == graded["alone"]["c_probe"]
    assert graded["results"]["c_probe"].score == MAX_SCORE


def test_nothing_the_poisoner_started_outlives_its_grading(graded):
    assert graded["survivors"] == []
