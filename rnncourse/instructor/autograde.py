"""Autograde a whole class, ``jobs`` students at a time, and sum it up.

Each student is graded by its own ``nbgrader autograde LESSON --student ID``
process, so one student's notebook cannot disturb another's, and ``jobs`` of
those run side by side. Their results are the ones a sequential run gives:

- before the workers start, this process creates every student in the gradebook
  (the one write they would otherwise all make at once);
- workers on the default SQLite gradebook wait up to 60 s for a lock instead of
  failing with "database is locked" (``?timeout=60`` on the database URL);
- a worker that still failed on a locked database is run once more, alone;
- afterwards every submission is verified: its autograded notebook exists and
  every autograded test cell has a score in the gradebook. A student who fails
  that is reported as not graded, never silently missing.

The summary has one row per student: score (after any late penalty), max,
failures (test cells short of full marks), errors (cells that stopped on an
exception other than a failed assertion, or timed out) and problems in plain
words. Problems come from check functions ``(course, lesson, student) ->
list[str]``; ``CHECKS`` lists the standard ones, and a caller adds more by
passing ``checks=CHECKS + (my_check,)``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from ..course import Course, CourseError
from ..nbgrader_cells import cell_name, error_outputs
from ..student.submission_check import check_submission, problems
from . import intake
from .nbgrader_course import open_gradebook, run_nbgrader, settings

Check = Callable[[Course, str, str], list[str]]

SQLITE_BUSY_TIMEOUT_S = 60


NO_SUBMISSION = "no submission"


@dataclass
class StudentResult:
    """One row of the summary."""

    student: str
    score: float | None  # None: not graded
    max_score: float | None
    failures: int = 0
    errors: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def graded(self) -> bool:
        return self.score is not None


# ---- reading one student's result -------------------------------------------------


def _autograded_cells(course: Course, lesson: str, student: str) -> list[dict]:
    path = course.autograded_notebook(student, lesson)
    return json.loads(path.read_text())["cells"] if path.is_file() else []


def _crashes(course: Course, lesson: str, student: str) -> list[tuple[str, dict]]:
    """(cell name, error output) of cells that stopped on something other than
    a failed assertion: a crash in the student's code, or a timeout."""
    found = []
    for index, cell in enumerate(_autograded_cells(course, lesson, student)):
        for error in error_outputs(cell):
            # the in-kernel checks' failures (ShortcutError too) are AssertionErrors
            if error.get("ename") not in {"AssertionError", "ShortcutError"}:
                found.append((cell_name(cell, index), error))
    return found


def errors_check(course: Course, lesson: str, student: str) -> list[str]:
    """Cells that crashed or timed out, named with the exception."""
    said = []
    from .sandbox.safe_execute import REPORTED_ERRORS

    for name, error in _crashes(course, lesson, student):
        if error.get("ename") in REPORTED_ERRORS | {"KeyboardInterrupt"}:
            continue  # execution_check tells these (a timeout interrupts the cell)
        said.append(f"{name} raised {error.get('ename')}")
    return said


def late_check(course: Course, lesson: str, student: str) -> list[str]:
    """How late the submission was, and what it cost."""
    with open_gradebook(course) as gb:
        submission = gb.find_submission(lesson, student)
        late_s, penalty = submission.total_seconds_late, submission.late_submission_penalty
    if not late_s:
        return []
    hours = late_s / 3600
    when = f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} h"
    return [f"late by {when} (penalty {penalty or 0:g})"]


def structure_check(course: Course, lesson: str, student: str) -> list[str]:
    """What `rnncourse check` would have told the student."""
    notebook = course.submitted_dir(student, lesson) / f"{lesson}.ipynb"
    if not notebook.is_file():
        return [f"no {lesson}.ipynb in the submission"]
    try:
        return [f.message for f in problems(check_submission(course, lesson, notebook))]
    except CourseError as err:
        return [str(err)]


def execution_check(course: Course, lesson: str, student: str) -> list[str]:
    """Timeouts, kernel deaths, dropped output and faked tests (sandbox.safe_execute)."""
    from .sandbox.safe_execute import execution_problems

    return execution_problems(_autograded_cells(course, lesson, student))


CHECKS: tuple[Check, ...] = (late_check, execution_check, errors_check, structure_check)


def _unverified(course: Course, lesson: str, student: str) -> str | None:
    """Why this student's grading cannot be trusted, or None when it can."""
    from nbgrader.api import MissingEntry

    if not course.autograded_notebook(student, lesson).is_file():
        return "no autograded notebook"
    with open_gradebook(course) as gb:
        try:
            notebook = gb.find_submission_notebook(lesson, lesson, student)
        except MissingEntry:
            return "no submission in the gradebook"
        ungraded = [
            g.name for g in notebook.grades if g.cell.cell_type == "code" and g.auto_score is None
        ]
    return f"no score for {', '.join(ungraded)}" if ungraded else None


def summarise(
    course: Course, lesson: str, student: str, checks: Sequence[Check] = CHECKS
) -> StudentResult:
    """The summary row of one graded student (score, failures, errors, problems)."""
    with open_gradebook(course) as gb:
        submission = gb.find_submission(lesson, student)
        score = submission.score - (submission.late_submission_penalty or 0)
        max_score = submission.max_score
        notebook = gb.find_submission_notebook(lesson, lesson, student)
        failures = sum(
            1
            for g in notebook.grades
            if g.cell.cell_type == "code" and g.max_score > 0 and (g.score or 0) < g.max_score
        )
    said = [msg for check in checks for msg in check(course, lesson, student)]
    return StudentResult(
        student,
        float(score),
        float(max_score),
        failures,
        len(_crashes(course, lesson, student)),
        said,
    )


# ---- grading ---------------------------------------------------------------------


def worker_env(course: Course, jobs: int) -> dict[str, str]:
    """Environment of the nbgrader workers: SQLite waits for locks, and the CPU
    threads of torch are shared out between the ``jobs`` kernels."""
    env = {}
    url = settings(course).db_url
    if url.startswith("sqlite:") and "timeout=" not in url:
        sep = "&" if "?" in url else "?"
        env["RNNCOURSE_DB_URL"] = f"{url}{sep}timeout={SQLITE_BUSY_TIMEOUT_S}"
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = os.environ.get(var, threads)
    return env


def _prepare_gradebook(course: Course, lesson: str, students: list[str]) -> None:
    """Check the lesson is in the gradebook; create its students, here, once."""
    from nbgrader.api import MissingEntry

    with open_gradebook(course) as gb:
        try:
            gb.find_assignment(lesson)
        except MissingEntry:
            raise CourseError(
                f"the gradebook does not know {lesson}: run `rnncourse release {lesson}` "
                f"(or `rnncourse build {lesson}`) first."
            ) from None
        for student in students:
            gb.update_or_create_student(student)


def _grade_one(course: Course, lesson: str, student: str, env: dict[str, str]):
    return run_nbgrader(
        course, "autograde", lesson, "--force", "--student", student, env=env, check=False
    )


def _failure_reason(proc) -> str:
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln]
    last = lines[-1].split("]", 1)[-1].strip() if lines else f"exit status {proc.returncode}"
    return f"nbgrader failed: {last}"


def autograde_class(
    course: Course,
    lesson: str,
    *,
    students: Sequence[str] | None = None,
    jobs: int = 1,
    checks: Sequence[Check] = CHECKS,
    progress: bool = True,
) -> list[StudentResult]:
    """Grade the submissions of ``lesson`` (all, or ``students``), ``jobs`` at a
    time; return one summary row per student, sorted by id.

    Grading everyone also lists the gradebook's students who have no submission."""
    from tqdm.auto import tqdm

    course.check()
    course.check_lesson(lesson)
    if jobs < 1:
        raise CourseError(f"--jobs must be at least 1, got {jobs}.")
    submitted = course.submitted_students(lesson)
    if students:
        unknown = sorted(set(students) - set(submitted))
        if unknown:
            raise CourseError(
                f"no submission of {lesson} from {', '.join(unknown)} in "
                f"{course.autograder_dir / 'submitted'}: collect or import it first."
            )
    todo = sorted(set(students)) if students else submitted
    if not todo:
        raise CourseError(f"no submissions of {lesson} to grade: collect or import-zips first.")
    from .sandbox import kernel_sandbox

    try:  # a sandbox that is required but unusable stops everything, here
        kernel_sandbox.policy()
    except (kernel_sandbox.SandboxError, ValueError) as err:
        raise CourseError(str(err)) from None
    _prepare_gradebook(course, lesson, todo)
    env = worker_env(course, jobs)
    unreadable = {s: why for s in todo if (why := intake.submission_problem(course, lesson, s))}

    outcome = {}
    with (
        tqdm(
            total=len(todo), desc=f"autograde {lesson}", unit="student", disable=not progress
        ) as bar,
        ThreadPoolExecutor(max_workers=jobs) as pool,
    ):
        bar.update(len(unreadable))  # nothing to run for these
        futures = {
            pool.submit(_grade_one, course, lesson, s, env): s for s in todo if s not in unreadable
        }
        for future in as_completed(futures):
            outcome[futures[future]] = future.result()
            bar.update()
    for student in outcome:  # a lock that outlasted the timeout: once more, alone
        proc = outcome[student]
        if proc.returncode != 0 and "database is locked" in proc.stdout + proc.stderr:
            outcome[student] = _grade_one(course, lesson, student, env)

    results = []
    for student in todo:
        if student in unreadable:  # zero, and why, rather than "not graded"
            max_score = intake.record_zero(course, lesson, student)
            results.append(StudentResult(student, 0.0, max_score, problems=[unreadable[student]]))
            continue
        why = _unverified(course, lesson, student)
        if why is None and outcome[student].returncode == 0:
            results.append(summarise(course, lesson, student, checks))
        else:
            reason = why if outcome[student].returncode == 0 else _failure_reason(outcome[student])
            results.append(StudentResult(student, None, None, problems=[f"not graded: {reason}"]))
    if not students:
        with open_gradebook(course) as gb:
            roster = sorted(s.id for s in gb.students)
        results += [
            StudentResult(s, None, None, problems=[NO_SUBMISSION]) for s in roster if s not in todo
        ]
    return sorted(results, key=lambda r: r.student)


def format_summary(results: Sequence[StudentResult]) -> str:
    """The summary as an aligned text table."""
    header = ("student", "score", "max", "failures", "errors", "problems")
    rows = [
        (
            r.student,
            "-" if r.score is None else f"{r.score:g}",
            "-" if r.max_score is None else f"{r.max_score:g}",
            "-" if r.score is None else str(r.failures),
            "-" if r.score is None else str(r.errors),
            "; ".join(r.problems),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            row[i].ljust(widths[i]) if i in (0, 5) else row[i].rjust(widths[i]) for i in range(6)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
