"""Wall time of every solution notebook, run top to bottom as a student would.

Each ``solutions/<id>/<id>.ipynb`` is executed headless with nbclient in a
fresh kernel, from its own folder (kernel start included: it is what "Restart
and run all" costs). Three ways, each ``repeat`` times (median reported):

- cpu: full length, ``RNNCOURSE_DEVICE=cpu`` (the course's budget is 120 s a
  lesson on 2 CPU cores, 10 minutes for the whole course);
- fast: as the autograder runs it, ``RNNCOURSE_DEVICE=cpu`` and
  ``NBGRADER_EXECUTION=autograde`` (lessons train briefly when they see it);
- cuda (with ``--device cuda``): full length with ``RNNCOURSE_DEVICE=cuda``,
  i.e. the USE_GPU toggle on, and the speedup over the cpu run.

A run passes when no cell has an error output and the notebook's own device
line (``pick_device`` prints "Using cuda (...)" or "Using cpu (...)") names
the device that run asked for, so a GPU run that silently fell back to the CPU
is caught.

Run alone: ``python -m bench --only notebooks`` (``--lesson ID`` for one).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from bench import report
from rnncourse.course import Course

NAME = "notebooks"
TITLE = "Lesson notebooks: wall time, headless (nbclient)"

BUDGET = 120.0  # seconds per lesson, full length on 2 CPU cores (CURRICULUM.md)
COURSE_BUDGET = 600.0  # the whole course
CELL_TIMEOUT = 600  # a slow lesson still finishes and shows how far over budget it is
DEVICE_LINE = re.compile(r"^Using (\w+) \(", re.M)

# The quick mode runs this stand-in instead of the lessons: the lessons' first
# cell (seed, the GPU toggle, the device line and stamp) and a cell that tells
# the full run from the autograder's.
_STAND_IN = [
    "import rnncourse\n\nrnncourse.seed_everything(0)\nUSE_GPU = True\n"
    "device = rnncourse.pick_device(USE_GPU)\nprint(rnncourse.environment_stamp(device))",
    'print("fast" if rnncourse.is_autograding() else "full")',
]


def modes(options) -> list[str]:
    return ["cpu", "fast"] + (["cuda"] if "cuda" in options.devices else [])


def kernel_env(mode: str) -> dict[str, str]:
    """The environment of the kernel for one way of running a lesson."""
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["RNNCOURSE_DEVICE"] = "cuda" if mode == "cuda" else "cpu"
    env.pop("NBGRADER_EXECUTION", None)
    if mode == "fast":
        env["NBGRADER_EXECUTION"] = "autograde"
    return env


def execute(path: Path, mode: str) -> dict:
    """Run one notebook once; {"seconds", "errors", "device"}."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    errors, text = [], []
    start = time.perf_counter()
    try:
        client.execute(env=kernel_env(mode))
    except CellTimeoutError:  # the run stops there; the other lessons still run
        errors.append(f"a cell ran longer than {CELL_TIMEOUT} s; the run was stopped")
    except DeadKernelError as exc:
        errors.append(f"the kernel died: {exc}")
    seconds = time.perf_counter() - start
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                where = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or cell.get(
                    "id", "?"
                )
                errors.append(f"{where}: {out['ename']}: {out['evalue'][:200]}")
            elif out.get("output_type") == "stream":
                text.append(out.get("text", ""))
    found = DEVICE_LINE.search("".join(text))
    return {"seconds": seconds, "errors": errors, "device": found.group(1) if found else None}


def _stand_in(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in _STAND_IN]
    path = folder / "stand_in.ipynb"
    nbformat.write(nb, path)
    return path


def run(options) -> str:
    course = Course()
    with tempfile.TemporaryDirectory() as tmp:
        if options.lessons:
            notebooks = {x: course.source_notebook(course.check_lesson(x)) for x in options.lessons}
        elif options.quick:
            notebooks = {"stand-in (quick mode)": _stand_in(Path(tmp))}
        else:
            notebooks = {x: course.source_notebook(x) for x in course.lesson_ids()}
        repeat = options.repeat or (1 if options.quick else 3)
        runs = {}  # (lesson, mode) -> [result]
        for lesson, path in notebooks.items():
            for _ in range(repeat):
                for mode in modes(options):  # interleaved, so load spikes hit all modes
                    result = execute(path, mode)
                    runs.setdefault((lesson, mode), []).append(result)
                    status = "ok" if _passed(result, mode) else "FAILED"
                    print(
                        f"  {lesson:<24} {mode:<5} {result['seconds']:7.1f} s  "
                        f"device {result['device']}  {status}",
                        flush=True,
                    )
    return _tables(list(notebooks), runs, options, repeat)


def _passed(result: dict, mode: str) -> bool:
    wanted = "cuda" if mode == "cuda" else "cpu"
    return not result["errors"] and result["device"] == wanted


def _why_failed(result: dict, mode: str) -> list[str]:
    wanted = "cuda" if mode == "cuda" else "cpu"
    why = list(result["errors"])
    if result["device"] != wanted:
        why.append(f"asked for {wanted}, but the device line says {result['device']!r}")
    return why


def _times(runs, lesson, mode):
    return [r["seconds"] for r in runs[lesson, mode]]


def _tables(lessons, runs, options, repeat):
    gpu = "cuda" in options.devices
    header = ["lesson", "cpu, full (s)", "within 120 s", "fast, autograde (s)"]
    header += ["cuda, full (s)", "cpu / cuda"] if gpu else ["cuda, full"]
    header.append("passed")
    rows, totals = [], {mode: 0.0 for mode in modes(options)}
    for lesson in lessons:
        med = {mode: report.median(_times(runs, lesson, mode)) for mode in modes(options)}
        for mode in totals:
            totals[mode] += med[mode]
        row = [lesson, report.spread(_times(runs, lesson, "cpu"))]
        row.append("yes" if med["cpu"] <= BUDGET else f"NO (+{med['cpu'] - BUDGET:.0f} s)")
        row.append(report.spread(_times(runs, lesson, "fast")))
        if gpu:
            row += [
                report.spread(_times(runs, lesson, "cuda")),
                report.ratio(med["cpu"], med["cuda"]),
            ]
        else:
            row.append("not yet measured (no GPU available)")
        bad = [m for m in modes(options) if not all(_passed(r, m) for r in runs[lesson, m])]
        row.append("yes" if not bad else "NO: " + ", ".join(bad))
        rows.append(row)
    course = ["whole course (sum of medians)", f"{totals['cpu']:.1f}"]
    course.append("yes" if totals["cpu"] <= COURSE_BUDGET else "NO")
    course.append(f"{totals['fast']:.1f}")
    if gpu:
        course += [f"{totals['cuda']:.1f}", report.ratio(totals["cpu"], totals["cuda"])]
    else:
        course.append("-")
    course.append("")
    rows.append(course)
    problems = [
        f"- {lesson}, {mode}: " + "; ".join(_why_failed(r, mode))
        for (lesson, mode), results in runs.items()
        for r in results
        if not _passed(r, mode)
    ]
    notes = (
        f"Median of {repeat} run{'s' if repeat > 1 else ''} (range in brackets), kernel start "
        "included. cpu: full length, RNNCOURSE_DEVICE=cpu. fast: RNNCOURSE_DEVICE=cpu and "
        "NBGRADER_EXECUTION=autograde, the solution notebook as nbgrader would run a correct "
        "submission. The course budget: 120 s a lesson, 600 s in all. passed: no error output "
        "and the lesson's device line names the device asked for."
    )
    body = notes + "\n\n" + report.table(header, rows)
    if problems:
        body += "\n\nRuns that did not pass:\n" + "\n".join(problems)
    return body
