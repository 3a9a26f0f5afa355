"""Wall time of every solution notebook, run top to bottom as a student would.

Each ``solutions/<id>/<id>.ipynb`` is executed headless with nbclient in a
fresh kernel, from its own folder (kernel start included: it is what "Restart
and run all" costs), with matplotlib's inline backend as in JupyterLab. Up to
three ways (``--mode``), each ``repeat`` times (median reported):

- cpu: full length, ``RNNCOURSE_DEVICE=cpu`` (the course's budget is 120 s a
  lesson on 2 CPU cores, 10 minutes for the whole course);
- fast: as the autograder runs it, ``RNNCOURSE_DEVICE=cpu`` and
  ``NBGRADER_EXECUTION=autograde`` (lessons train briefly when they see it);
- cuda (with ``--device cuda``): full length with ``RNNCOURSE_DEVICE=cuda``,
  i.e. the USE_GPU toggle on, and the speedup over the cpu run.

Every run is checked, not only timed:

- its grade: the points of the nbgrader test cells (visible and hidden tests;
  the solution notebook holds both) that ran without an error, which is how
  ``nbgrader autograde`` scores them;
- its device line (``pick_device`` prints "Using cuda (...)"), so a GPU run
  that silently fell back to the CPU is caught;
- where its models are: a probe cell appended to the notebook lists the device
  of every parameter the kernel holds at the end (in ``nn.Module`` objects,
  leaf tensors that require grad, and lists, tuples and dicts of them).

A run passes when no cell raised, it earned every point, the device line names
the device asked for and, on cuda, at least one model was found and every
model found lives on the GPU.

``--jobs N`` runs N notebooks at a time (CPU runs in parallel, GPU runs one at
a time so they never share the card); the default, 1, is what a student sees.

Run alone: ``python -m bench --only notebooks`` (``--lesson ID`` for one).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from bench import report
from rnncourse.course import Course
from rnncourse.nbgrader_cells import nbgrader_meta

NAME = "notebooks"
TITLE = "Lesson notebooks: wall time, headless (nbclient)"
MODES = ("cpu", "fast", "cuda")
DEVICE_OF = {"cpu": "cpu", "fast": "cpu", "cuda": "cuda"}  # the device each mode asks for

BUDGET = 120.0  # seconds per lesson, full length on 2 CPU cores (docs/curriculum.md)
COURSE_BUDGET = 600.0  # the whole course
CELL_TIMEOUT = 600  # a slow lesson still finishes and shows how far over budget it is
DEVICE_LINE = re.compile(r"^Using (\w+) \(", re.M)
PROBE_TAG = "RNNCOURSE_BENCH_MODELS"
# A model, for the GPU check: a global holding at least this many parameters. The
# lessons' tests also build tiny float64 fixtures on the CPU (a few dozen
# parameters) to compare with torch exactly; those are listed, not required.
MODEL_SIZE = 1000

# Appended to every notebook run: prints, as JSON, {global name: {"devices":
# [device types], "size": number of parameters}} for everything in the kernel's
# globals that holds trainable parameters.
PROBE = f"""\
def _bench_where_models_are():
    import json
    import torch

    def params(value, depth=0):
        if isinstance(value, torch.nn.Module):
            return list(value.parameters())
        if isinstance(value, torch.Tensor):
            return [value] if value.is_leaf and value.requires_grad else []
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, (list, tuple)) and depth == 0 and len(value) <= 100:
            return [t for item in value for t in params(item, 1)]
        held = getattr(value, "params", None)  # the from-scratch models keep a list
        if isinstance(held, (list, tuple)):
            return [p for p in held if isinstance(p, torch.Tensor)]
        return []

    def safe_params(value):
        try:
            return params(value)
        except RuntimeError:  # e.g. a no_grad view whose base changed: not a model
            return []

    found = {{}}
    for name, value in list(globals().items()):
        tensors = [] if name.startswith("_") else safe_params(value)
        if tensors:
            devices = sorted({{t.device.type for t in tensors}})
            found[name] = {{"devices": devices, "size": sum(t.numel() for t in tensors)}}
    print("{PROBE_TAG}", json.dumps(found))


_bench_where_models_are()
del _bench_where_models_are
"""

# The quick mode runs this stand-in instead of the lessons: the lessons' first
# cell (seed, the GPU toggle, the device line and stamp), a graded test cell,
# and a cell that puts a model on the device.
_STAND_IN = [
    "import rnncourse\nimport torch\n\nrnncourse.seed_everything(0)\nUSE_GPU = True\n"
    "device = rnncourse.pick_device(USE_GPU)\nprint(rnncourse.environment_stamp(device))",
    'print("fast" if rnncourse.is_autograding() else "full")',
    "net = torch.nn.Linear(32, 32).to(device)  # 1,056 parameters: a model\n"
    "assert net(torch.ones(1, 32, device=device)).shape == (1, 32)",
]


def modes(options) -> list[str]:
    if options.modes:
        return [m for m in MODES if m in options.modes]
    return ["cpu", "fast"] + (["cuda"] if "cuda" in options.devices else [])


def kernel_env(mode: str) -> dict[str, str]:
    """The environment of the kernel for one way of running a lesson."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # the inline backend, as in JupyterLab and the autograder
    env["RNNCOURSE_DEVICE"] = DEVICE_OF[mode]
    env.pop("NBGRADER_EXECUTION", None)
    if mode == "fast":
        env["NBGRADER_EXECUTION"] = "autograde"
    return env


def execute(path: Path, mode: str) -> dict:
    """Run one notebook once.

    Returns {"seconds", "errors", "device", "points", "max_points", "models"}:
    models maps each global that holds parameters to the device types they are on.
    """
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    errors = []
    start = time.perf_counter()
    try:
        client.execute(env=kernel_env(mode))
    except CellTimeoutError:  # the run stops there; the other lessons still run
        errors.append(f"a cell ran longer than {CELL_TIMEOUT} s; the run was stopped")
    except DeadKernelError as exc:
        errors.append(f"the kernel died: {exc}")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, **_read_run(nb, errors)}


def _read_run(nb, errors: list[str]) -> dict:
    """What an executed notebook says: errors, device line, points earned, models."""
    text, points, max_points = [], 0.0, 0.0
    for cell in nb.cells:
        outputs = cell.get("outputs", [])
        failed = [out for out in outputs if out.get("output_type") == "error"]
        grading = nbgrader_meta(cell)
        for out in failed:
            where = grading.get("grade_id") or cell.get("id", "?")
            errors.append(f"{where}: {out['ename']}: {out['evalue'][:200]}")
        text += [out.get("text", "") for out in outputs if out.get("output_type") == "stream"]
        if grading.get("grade") and not grading.get("solution"):  # an autograded test cell
            max_points += grading.get("points", 0)
            ran = cell.get("execution_count") is not None
            points += grading.get("points", 0) if ran and not failed else 0
    printed = "".join(text)
    found = DEVICE_LINE.search(printed)
    probe = re.search(rf"^{PROBE_TAG} (.*)$", printed, re.M)
    return {
        "errors": errors,
        "device": found.group(1) if found else None,
        "points": points,
        "max_points": max_points,
        "models": json.loads(probe.group(1)) if probe else None,
    }


def _stand_in(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in _STAND_IN]
    nb.cells[2].metadata["nbgrader"] = {"grade": True, "solution": False, "points": 1}
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
        # interleaved, so that a load spike hits every mode
        jobs = [
            (lesson, path, mode)
            for lesson, path in notebooks.items()
            for _ in range(repeat)
            for mode in modes(options)
        ]
        runs = {}  # (lesson, mode) -> [result]
        for (lesson, _, mode), result in _execute_all(jobs, options.jobs):
            runs.setdefault((lesson, mode), []).append(result)
            status = "ok" if _passed(result, mode) else "FAILED"
            print(
                f"  {lesson:<24} {mode:<5} {result['seconds']:7.1f} s  device "
                f"{result['device']}  {_grade(result)} points  {status}",
                flush=True,
            )
    return _tables(list(notebooks), runs, options, repeat)


def _execute_all(jobs, workers: int):
    """Yield (job, result) as runs finish: one at a time, or ``workers`` at a time
    with the GPU runs in a lane of their own (two notebooks never share the card)."""
    if workers <= 1:
        for job in jobs:
            yield job, execute(job[1], job[2])
        return
    with ProcessPoolExecutor(workers - 1) as cpu_lane, ProcessPoolExecutor(1) as gpu_lane:
        pending = {}
        for job in jobs:
            _, path, mode = job
            lane = gpu_lane if DEVICE_OF[mode] == "cuda" else cpu_lane
            pending[lane.submit(execute, path, mode)] = job
        for future in as_completed(pending):
            yield pending[future], future.result()


def _grade(result: dict) -> str:
    return f"{result['points']:g}/{result['max_points']:g}"


def _models(result: dict) -> dict:
    """The globals holding at least MODEL_SIZE parameters."""
    found = result["models"] or {}
    return {name: held for name, held in found.items() if held["size"] >= MODEL_SIZE}


def _off_device(result: dict, mode: str) -> list[str]:
    """The models whose parameters are not (all) on the device the run asked for."""
    wanted = [DEVICE_OF[mode]]
    return sorted(name for name, held in _models(result).items() if held["devices"] != wanted)


def _why_failed(result: dict, mode: str) -> list[str]:
    wanted = DEVICE_OF[mode]
    why = list(result["errors"])
    if result["device"] != wanted:
        why.append(f"asked for {wanted}, but the device line says {result['device']!r}")
    if result["points"] < result["max_points"]:
        why.append(f"earned {_grade(result)} points")
    if mode == "cuda":
        if not _models(result):
            why.append(f"no model of {MODEL_SIZE:,} parameters or more was found at the end")
        elif off := _off_device(result, mode):
            why.append("parameters not on the GPU: " + ", ".join(off))
    return why


def _passed(result: dict, mode: str) -> bool:
    return not _why_failed(result, mode)


def _times(runs, lesson, mode):
    return [r["seconds"] for r in runs[lesson, mode]]


def _grades(runs, lesson, mode) -> str:
    return " ".join(sorted({_grade(r) for r in runs[lesson, mode]}))


def _tables(lessons, runs, options, repeat):
    done = modes(options)
    compare = {"cpu", "cuda"} <= set(done)  # the speedup column
    header = ["lesson"] + [h for m in done for h in _HEADERS[m]]
    if compare:
        header.append("cpu / cuda")
    header += [f"points, {m}" for m in done] + ["passed"]
    rows, totals = [], dict.fromkeys(done, 0.0)
    for lesson in lessons:
        med = {mode: report.median(_times(runs, lesson, mode)) for mode in done}
        row = [lesson]
        for mode in done:
            totals[mode] += med[mode]
            row.append(report.spread(_times(runs, lesson, mode)))
            if mode == "cpu":
                row.append("yes" if med[mode] <= BUDGET else f"NO (+{med[mode] - BUDGET:.0f} s)")
        if compare:
            row.append(report.ratio(med["cpu"], med["cuda"]))
        row += [_grades(runs, lesson, mode) for mode in done]
        bad = [m for m in done if not all(_passed(r, m) for r in runs[lesson, m])]
        row.append("yes" if not bad else "NO: " + ", ".join(bad))
        rows.append(row)
    course = ["whole course (sum of medians)"]
    for mode in done:
        course.append(f"{totals[mode]:.1f}")
        if mode == "cpu":
            course.append("yes" if totals[mode] <= COURSE_BUDGET else "NO")
    if compare:
        course.append(report.ratio(totals["cpu"], totals["cuda"]))
    rows.append(course + [""] * (len(header) - len(course)))
    return _notes(repeat, options, done) + "\n\n" + report.table(header, rows) + _details(runs)


_HEADERS = {
    "cpu": ["cpu, full (s)", f"within {BUDGET:g} s"],
    "fast": ["fast, autograde (s)"],
    "cuda": ["cuda, full (s)"],
}


def _notes(repeat: int, options, done: list[str]) -> str:
    parallel = (
        f" {options.jobs} notebooks ran at a time (CPU runs side by side, GPU runs one at a time)."
        if options.jobs > 1
        else " One notebook ran at a time."
    )
    what = {
        "cpu": "cpu: full length, RNNCOURSE_DEVICE=cpu (USE_GPU off).",
        "fast": "fast: RNNCOURSE_DEVICE=cpu and NBGRADER_EXECUTION=autograde, the solution "
        "notebook as nbgrader would run a correct submission.",
        "cuda": "cuda: full length, RNNCOURSE_DEVICE=cuda (USE_GPU on).",
    }
    return (
        f"Median of {repeat} run{'s' if repeat > 1 else ''} (range in brackets), kernel start "
        f"included.{parallel} "
        + " ".join(what[m] for m in done)
        + f" The course budget: {BUDGET:g} s a lesson, {COURSE_BUDGET:g} s in all, on 2 CPU "
        "cores. points: the "
        "test cells (visible and hidden) that passed, as nbgrader scores them. passed: no "
        "error, every point, and the lesson's device line names the device asked for"
        + (
            "; on cuda, every model the kernel holds at the end has its parameters on the GPU."
            if "cuda" in done
            else ". A GPU machine's figures have a section of their own."
        )
    )


def _details(runs) -> str:
    """Where the models were on the GPU runs, and why the failed runs failed."""
    parts = []
    where = {}
    for (lesson, mode), results in runs.items():
        if mode == "cuda":
            held = {name: x for r in results for name, x in (r["models"] or {}).items()}
            where[lesson] = ", ".join(
                f"{name} ({'+'.join(x['devices'])}, {x['size']:,})"
                for name, x in sorted(held.items())
            )
    if where:
        lines = [f"- {lesson}: {found or 'none'}" for lesson, found in where.items()]
        parts.append(
            "Where the parameters were at the end of the cuda runs (global name: device, "
            f"parameters; a model is a global of {MODEL_SIZE:,} parameters or more, the "
            "smaller ones are the tests' float64 fixtures):\n" + "\n".join(lines)
        )
    problems = [
        f"- {lesson}, {mode}: " + "; ".join(_why_failed(r, mode))
        for (lesson, mode), results in runs.items()
        for r in results
        if not _passed(r, mode)
    ]
    if problems:
        parts.append("Runs that did not pass:\n" + "\n".join(problems))
    return "".join("\n\n" + part for part in parts)
