"""Autograding throughput: a synthetic class, graded one student at a time and in parallel.

    python bench/autograde_throughput.py                 # 20 students, --jobs 1 and 2
    python bench/autograde_throughput.py --students 40 --jobs 4
    python bench/autograde_throughput.py --quick         # 4 students; writes no file

A temporary course holds the synthetic lesson of the workflow tests
(tests/workflow_harness.py), with ``import torch`` in its first cell, as every
real lesson has. Its students hand in a mix of complete, partial and blank
answers. ``rnncourse autograde`` grades them all with ``--jobs 1``, then again
with ``--jobs N``; the scores of the two runs must agree. Reported: seconds,
student-notebooks per minute and the ratio, with the machine and its load, in
the ``autograde`` section of bench/RESULTS.md (``--output`` elsewhere).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as `python bench/autograde_throughput.py`
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the synthetic lesson lives with the tests

from lesson_harness import submit  # noqa: E402
from workflow_harness import ANSWERS, LESSON, answer, tiny_course  # noqa: E402

from bench import machine, report  # noqa: E402
from rnncourse.instructor.autograde import autograde_class  # noqa: E402
from rnncourse.instructor.nbgrader_course import scores  # noqa: E402

NAME = "autograde"
TITLE = "## Autograding throughput"
RESULTS = REPO / "bench" / "RESULTS.md"


def timed_run(course, jobs: int) -> tuple[float, dict]:
    start = time.perf_counter()
    results = autograde_class(course, LESSON, jobs=jobs, progress=False)
    seconds = time.perf_counter() - start
    missed = [r.student for r in results if not r.graded]
    if missed:
        raise SystemExit(f"not graded with --jobs {jobs}: {', '.join(missed)}")
    return seconds, scores(course, LESSON)


def measure(students: int, jobs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="rnncourse-bench-") as tmp:
        course = tiny_course(Path(tmp) / "course", with_torch=True)
        kinds = list(ANSWERS)
        for i in range(students):
            kind = kinds[i % len(kinds)]
            submit(course, LESSON, f"s{i:03d}-{kind}", answer(course, kind))
        autograde_class(course, LESSON, students=["s000-complete"], progress=False)  # warm-up
        sequential, first = timed_run(course, 1)
        parallel, second = timed_run(course, jobs)
    if first != second:
        raise SystemExit(f"--jobs {jobs} gave other scores than --jobs 1")
    return {"students": students, "jobs": jobs, "sequential": sequential, "parallel": parallel}


def section(figures: dict, command: str, watch: machine.Watch) -> str:
    n, jobs = figures["students"], figures["jobs"]
    rows = [
        [f"--jobs {j}", f"{s:.1f}", f"{60 * n / s:.1f}"]
        for j, s in ((1, figures["sequential"]), (jobs, figures["parallel"]))
    ]
    return "\n".join(
        [
            TITLE,
            "",
            f"Machine: {machine.summary()}. Command: `{command}`.",
            f"Before: `{watch.before}`. After: `{watch.after}`.",
            watch.note,
            "",
            f"`rnncourse autograde` on {n} students of a synthetic lesson (two exercises, "
            "`import torch` in the first cell; one nbgrader process per student):",
            "",
            report.table(["run", "seconds", "student-notebooks per minute"], rows),
            "",
            f"--jobs {jobs} / --jobs 1: "
            f"{report.ratio(figures['sequential'], figures['parallel'])} the throughput; "
            "the scores of the two runs were identical. The runs follow each other "
            "(--jobs 1 first), so a change of load between them moves the ratio.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20, help="class size (default 20)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel run's --jobs (default 2)")
    parser.add_argument("--quick", action="store_true", help="4 students; writes no file")
    parser.add_argument("--output", type=Path, help="results file (default bench/RESULTS.md)")
    args = parser.parse_args(argv)
    students = 4 if args.quick else args.students
    output = args.output or (None if args.quick else RESULTS)
    command = " ".join(["python bench/autograde_throughput.py", *(argv or sys.argv[1:])])

    watch = machine.Watch()
    print(f"{TITLE}\n  {machine.summary()}\n  {watch.before}", flush=True)
    figures = measure(students, args.jobs)
    watch.stop()
    text = section(figures, command, watch)
    print("\n" + text + "\n", flush=True)
    if output is not None:
        report.update_section(output, NAME, text)
        print(f"  -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
