"""Autograding throughput: the same correct submissions of every lesson, graded three ways.

    python bench/autograde_throughput.py                    # 4 students of every lesson
    python bench/autograde_throughput.py --students 2 --lessons 03_scratch_rnn,06_clipping
    python bench/autograde_throughput.py --before           # also one process per student
    python bench/autograde_throughput.py --quick            # 2 students of 06_clipping; no file

For each lesson, a temporary course (tests/lesson_harness.py) receives
``--students`` correct submissions (the reference answers), and copies of it are
graded, one lesson after another, each way in turn:

- plain: ``nbgrader autograde LESSON --force``, one command for the class,
  RNNCOURSE_SANDBOX=off (the course's configuration otherwise: SafeExecute
  still checks integrity and limits output);
- ``rnncourse autograde --jobs 1`` and ``--jobs 2``: grading lanes, every
  notebook in its own sandboxed kernel, every protection on;
- with ``--before``: what ``rnncourse autograde --jobs 1`` did before grading
  lanes, one ``nbgrader autograde --student ID`` process per student, in the
  sandbox.

The scores of every way must be identical. Reported: wall seconds and machine
(CPU) seconds per notebook, the ratios to plain nbgrader, the class of 200 x 7
lessons that ``--jobs 2`` grades in the time measured, and where a notebook's
time goes (``StudentResult.timings``), in the ``autograde`` section of
bench/RESULTS.md (``--output`` elsewhere).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as `python bench/autograde_throughput.py`
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the course copies are made by the test harness

from lesson_harness import course_copy, make_submission, submit  # noqa: E402

from bench import machine, report  # noqa: E402
from rnncourse.course import Course  # noqa: E402
from rnncourse.instructor.autograde import autograde_class  # noqa: E402
from rnncourse.instructor.nbgrader_course import run_nbgrader, scores  # noqa: E402

NAME = "autograde"
TITLE = "## Autograding throughput"
RESULTS = REPO / "bench" / "RESULTS.md"
CLASS = (200, 7)  # students x lessons of the class the goal is stated for
WAYS = {
    "plain": "plain `nbgrader autograde` (one command, no sandbox)",
    "before": "before: one `nbgrader autograde --student` process each, sandboxed",
    "jobs1": "`rnncourse autograde --jobs 1` (lanes, sandboxed)",
    "jobs2": "`rnncourse autograde --jobs 2` (lanes, sandboxed)",
}
# where a notebook's time goes (StudentResult.timings): row -> (CPU key, wall key)
PARTS = {
    "process start, nbgrader imported, configuration read": ("lane_start_cpu", "lane_start"),
    "nbgrader in the lane: sanitizing, copying, talking to the kernel, gradebook writes": (
        "lane_cpu",
        "nbgrader",
    ),
    "kernel start (sandbox, Python, ipykernel)": ("kernel_start_cpu", "kernel_start"),
    "first cell: the lesson's imports (torch, rnncourse, matplotlib)": (
        "first_cell_cpu",
        "first_cell",
    ),
    "the other cells: the notebook's own work": ("cells_cpu", "cells"),
    "integrity checks before test cells (in the kernel)": ("integrity_cpu", "integrity"),
    "kernel shutdown, the rest of the kernel's time": ("kernel_other_cpu", "kernel_other"),
    "verification and summary (gradebook reads, checks)": ("summary_cpu", "summary"),
}
OWN = "the other cells: the notebook's own work"
IMPORTS = "first cell: the lesson's imports (torch, rnncourse, matplotlib)"


@contextmanager
def measured(into: dict):
    """Wall and CPU seconds (this process and its children) of the block."""

    def cpu() -> float:
        return sum(
            r.ru_utime + r.ru_stime
            for r in (
                resource.getrusage(resource.RUSAGE_SELF),
                resource.getrusage(resource.RUSAGE_CHILDREN),
            )
        )

    wall, used = time.perf_counter(), cpu()
    yield
    into["wall"] = time.perf_counter() - wall
    into["cpu"] = cpu() - used


def parts(timings: dict[str, float]) -> dict[str, float]:
    """One notebook's timings, with the derived parts of PARTS."""
    t = dict(timings)
    inside = ("kernel_start", "first_cell", "cells", "integrity")
    t["kernel_other"] = max(t.get("execute", 0.0) - sum(t.get(k, 0.0) for k in inside), 0.0)
    t["kernel_other_cpu"] = max(
        t.get("kernel_cpu", 0.0) - sum(t.get(k + "_cpu", 0.0) for k in inside), 0.0
    )
    t["nbgrader"] = max(t.get("total", 0.0) - t.get("execute", 0.0), 0.0)
    keys = [key for pair in PARTS.values() for key in pair] + ["kernel_cpu"]
    return {key: t.get(key, 0.0) for key in keys}


def machine_seconds(timings: dict[str, float]) -> float:
    """CPU seconds of one notebook: its share of the lane, the lane, the kernel, the summary."""
    return sum(timings[k] for k in ("lane_start_cpu", "lane_cpu", "kernel_cpu", "summary_cpu"))


def grade(course: Course, lesson: str, way: str, students: list[str]) -> dict:
    figures: dict = {"timings": []}
    with measured(figures):
        if way == "plain":
            run_nbgrader(course, "autograde", lesson, "--force", env={"RNNCOURSE_SANDBOX": "off"})
        elif way == "before":
            for student in students:
                run_nbgrader(course, "autograde", lesson, "--force", "--student", student)
        else:
            results = autograde_class(course, lesson, jobs=int(way[-1]), progress=False)
            missed = [r.student for r in results if not r.graded]
            if missed:
                raise SystemExit(f"{lesson}: not graded with {way}: {', '.join(missed)}")
            figures["timings"] = [parts(r.timings) for r in results]
    figures["scores"] = scores(course, lesson)
    return figures


def measure(lessons: list[str], students: int, ways: list[str]) -> dict:
    """lesson -> way -> {wall, cpu, scores, timings}."""
    found: dict = {}
    names = [f"s{i:03d}" for i in range(students)]
    with tempfile.TemporaryDirectory(prefix="rnncourse-bench-") as tmp:
        for lesson in lessons:
            base = course_copy([lesson], Path(tmp) / lesson / "base")
            for student in names:
                submit(base, lesson, student, make_submission(lesson, {}))
            found[lesson] = {}
            for way in ways:
                course = Course(Path(tmp) / lesson / way)
                shutil.copytree(base.root, course.root)
                found[lesson][way] = grade(course, lesson, way, names)
                shutil.rmtree(course.root)
                said = found[lesson][way]
                print(
                    f"  {lesson} {way}: {said['wall']:.1f} s, cpu {said['cpu']:.1f} s", flush=True
                )
            first = found[lesson][ways[0]]["scores"]
            differ = [w for w in ways if found[lesson][w]["scores"] != first]
            if differ:
                raise SystemExit(f"{lesson}: {', '.join(differ)} gave other scores than {ways[0]}")
            if any(s != c for cells in first.values() for s, c in cells.values()):
                raise SystemExit(f"{lesson}: a correct submission lost points: {first}")
    return found


def _total(found: dict, way: str, key: str) -> float:
    return sum(found[lesson][way][key] for lesson in found)


def _cpu_per_notebook(found: dict, way: str, notebooks: int) -> str:
    """Machine seconds a notebook: from the lanes' timings (every kernel included),
    else from this process's children (plain: every kernel is reaped and counted;
    before: a sandboxed kernel dies with its bwrap, uncounted: none given)."""
    if way in ("jobs1", "jobs2"):
        timings = [t for lesson in found for t in found[lesson][way]["timings"]]
        return f"{sum(map(machine_seconds, timings)) / notebooks:.1f}"
    if way == "plain":
        return f"{_total(found, way, 'cpu') / notebooks:.1f}"
    return "-"


def section(found: dict, students: int, ways: list[str], command: str, watch) -> str:
    lessons = list(found)
    notebooks = students * len(lessons)
    plain_wall = _total(found, "plain", "wall")
    rows = [
        [
            WAYS[way],
            f"{_total(found, way, 'wall') / notebooks:.1f}",
            _cpu_per_notebook(found, way, notebooks),
            report.ratio(plain_wall, _total(found, way, "wall")),
        ]
        for way in ways
    ]
    per_lesson = [
        [lesson] + [f"{found[lesson][w]['wall'] / students:.1f}" for w in ways]
        for lesson in lessons
    ]
    text = [
        TITLE,
        "",
        f"Machine: {machine.summary()}. Command: `{command}`.",
        f"Before: `{watch.before}`. After: `{watch.after}`.",
        watch.note,
        "",
        f"{students} correct submissions (the reference answers) of each of {len(lessons)} "
        f"lessons ({', '.join(lessons)}), {notebooks} notebooks, graded each way in turn, "
        "lesson by lesson. Seconds per notebook: wall time, and machine time (CPU seconds "
        "of nbgrader, the lanes and every kernel). Speed: plain's wall time / this way's. "
        "The scores were identical in every way (every point of every lesson).",
        "",
        report.table(["way", "wall s / notebook", "CPU s / notebook", "speed vs plain"], rows),
        "",
        report.table(
            ["lesson: wall s / notebook", *[WAYS[w].split(" (")[0] for w in ways]], per_lesson
        ),
    ]
    if "jobs2" in ways:
        wall2 = _total(found, "jobs2", "wall") / notebooks
        hours = wall2 * CLASS[0] * CLASS[1] / 3600
        text += [
            "",
            f"At this rate `--jobs 2` grades a class of {CLASS[0]} students x {CLASS[1]} "
            f"lessons in {hours:.1f} h ({wall2:.2f} s of wall time a notebook).",
        ]
    if "jobs1" in ways:
        text += ["", breakdown(found, "jobs1"), "", NOTES]
    return "\n".join(text)


NOTES = (
    "How: `rnncourse autograde` grades in `--jobs` lanes "
    "(`rnncourse.instructor.grading_lane`), processes that import nbgrader once and grade "
    "student after student, each notebook in a fresh sandboxed kernel of its own; the "
    "kernel is killed once its last cell has run instead of being asked to exit (about "
    "2 s of waiting a notebook, plain nbgrader included, since it uses the same "
    "SafeExecute). What is left beyond the cells is mostly the kernel's start and the "
    "lesson's imports (torch, rnncourse, matplotlib), paid by every fresh kernel; "
    "sharing them would take a warm parent that forks each student's kernel into a new "
    "sandbox, not done yet. On a machine shared with other work the wall times are "
    "inflated and noisy: compare the ways within one run, and re-measure on an idle "
    "machine (`python bench/autograde_throughput.py`, every lesson, 4 students)."
)


def breakdown(found: dict, way: str) -> str:
    """Seconds per notebook of each part: before lanes (derived) and now."""
    timings = [t for lesson in found for t in found[lesson][way]["timings"]]
    mean = {k: sum(t[k] for t in timings) / len(timings) for k in timings[0]}
    lanes = [t for t in timings if t["lane_start_cpu"]]
    before = dict(mean)  # before lanes, every notebook paid a process start
    for key in ("lane_start_cpu", "lane_start"):
        before[key] = sum(t[key] for t in lanes) / len(lanes)
    rows = [
        [name, f"{before[cpu]:.2f}", f"{mean[cpu]:.2f}", f"{mean[wall]:.2f}"]
        for name, (cpu, wall) in PARTS.items()
    ]

    def added(values: dict, leave_out: tuple[str, ...]) -> str:
        keys = [cpu for name, (cpu, _) in PARTS.items() if name not in leave_out]
        return f"{sum(values[k] for k in keys):.2f}"

    rows += [
        ["**all**", added(before, ()), added(mean, ()), ""],
        [
            "**added by autograding**: all but the other cells",
            added(before, (OWN,)),
            added(mean, (OWN,)),
            "",
        ],
        [
            "**added by autograding**, the lesson's imports counted as the notebook's",
            added(before, (OWN, IMPORTS)),
            added(mean, (OWN, IMPORTS)),
            "",
        ],
    ]
    return "\n".join(
        [
            f"Where a notebook's time goes with `--jobs 1`, seconds per notebook (mean over "
            f"{len(timings)} notebooks, `StudentResult.timings`; CPU of the kernel's "
            "processes read from /proc). Before: one nbgrader process per student, so "
            "every notebook paid a process start (as measured for the lanes here); the "
            "other parts run the same code.",
            "",
            report.table(["part", "before: CPU s", "now: CPU s", "now: wall s"], rows),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=4, help="per lesson (default 4)")
    parser.add_argument("--lessons", help="comma-separated lesson ids (default: every lesson)")
    parser.add_argument(
        "--before", action="store_true", help="also grade with one nbgrader process per student"
    )
    parser.add_argument("--quick", action="store_true", help="2 students of 06_clipping; no file")
    parser.add_argument("--output", type=Path, help="results file (default bench/RESULTS.md)")
    args = parser.parse_args(argv)
    lessons = args.lessons.split(",") if args.lessons else Course(REPO).lesson_ids()
    students = args.students
    if args.quick:
        lessons, students = ["06_clipping"], 2
    output = args.output or (None if args.quick else RESULTS)
    command = " ".join(["python bench/autograde_throughput.py", *(argv or sys.argv[1:])])
    ways = ["plain", *(["before"] if args.before else []), "jobs1", "jobs2"]
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # nbgrader sets it too, while grading

    watch = machine.Watch()
    print(f"{TITLE}\n  {machine.summary()}\n  {watch.before}", flush=True)
    found = measure(lessons, students, ways)
    watch.stop()
    text = section(found, students, ways, command, watch)
    print("\n" + text + "\n", flush=True)
    if output is not None:
        report.update_section(output, NAME, text)
        print(f"  -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
