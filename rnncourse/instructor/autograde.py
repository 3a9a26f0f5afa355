"""Autograde a whole class, ``jobs`` students at a time, and sum it up.

Students are graded by ``jobs`` grading lanes (``grading_lane``): long-lived
processes that each import nbgrader once and then grade one student after
another, running for each what ``nbgrader autograde LESSON --force --student
ID`` runs. Every student's notebook still runs in a fresh sandboxed kernel of
its own (``sandbox.safe_execute``); a lane only pays nbgrader's start-up once.
This process hands out the students and records each finished one:

- a lane that dies (killed, out of memory, a crash in nbgrader) loses no
  finished grade: only the student it was grading is handed, once, to a new
  lane; a student whose grading kills a lane twice is reported as not graded,
  with the reason, and the batch goes on;
- before the lanes start, this process creates every student in the gradebook
  (the one write they would otherwise all make at once);
- lanes on the default SQLite gradebook wait up to 60 s for a lock instead of
  failing with "database is locked" (``?timeout=60`` on the database URL);
- a student whose grading still failed on a locked database is graded once
  more, alone;
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

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..course import Course, CourseError
from ..nbgrader_cells import cell_name, error_outputs
from ..student.submission_check import check_submission, problems
from . import intake
from .nbgrader_course import course_env, nbgrader_env, open_gradebook, settings

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
    # seconds: where grading spent its time (grading_lane, safe_execute.TIMINGS, "summary")
    timings: dict[str, float] = field(default_factory=dict)

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


@dataclass
class Graded:
    """How one student's grading went: ``ok`` as nbgrader's exit status 0 would
    say, nbgrader's log, and where the time went (seconds)."""

    ok: bool
    log: str
    timings: dict[str, float] = field(default_factory=dict)


LANE_DIED = "the grading process died"


class Lane:
    """A ``grading_lane`` process: hand it a student, get back how it went."""

    def __init__(self, course: Course, lesson: str, env: dict[str, str], log_dir: Path):
        self.log_file = tempfile.NamedTemporaryFile(
            "w+", prefix="lane-", suffix=".log", dir=log_dir, delete=False
        )
        start = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rnncourse.instructor.grading_lane", lesson],
            cwd=course.autograder_dir,
            env=nbgrader_env({**course_env(course), **env}),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log_file,
            text=True,
        )
        ready = self._read()
        self.ready = ready is not None
        self.log_mark = 0
        self.start_s = time.perf_counter() - start  # process start, nbgrader imported
        self.start_cpu = (ready or {}).get("cpu", 0.0)
        self.graded = 0

    def _read(self) -> dict | None:
        try:
            line = self.proc.stdout.readline()
            return json.loads(line) if line else None
        except (OSError, ValueError):
            return None

    def grade(self, student: str) -> Graded | None:
        """``student``'s grading; None when the lane died before it finished."""
        self.log_mark = os.path.getsize(self.log_file.name)  # what the lane says from here
        if not self.ready:
            return None
        try:
            self.proc.stdin.write(json.dumps({"student": student}) + "\n")
            self.proc.stdin.flush()
        except OSError:
            return None
        said = self._read()
        if said is None or said.get("student") != student:
            return None
        timings = said.get("timings", {})
        if not self.graded:  # the lane's start-up, counted with its first student
            timings.update(lane_start=self.start_s, lane_start_cpu=self.start_cpu)
        self.graded += 1
        return Graded(bool(said["ok"]), said.get("log", ""), timings)

    def death(self) -> str:
        """Why the lane died, in a few words (its exit status, its last error).
        A lane that broke the protocol but still runs is killed first."""
        if self.proc.poll() is None:
            self.proc.kill()
        status = self.proc.wait()
        how = f"exit status {status}"
        if status is not None and status < 0:
            try:
                how = f"killed by {signal.Signals(-status).name}"
            except ValueError:
                how = f"killed by signal {-status}"
        self.log_file.seek(self.log_mark)
        lines = [ln for ln in self.log_file.read().splitlines() if ln.strip()]
        last = next((ln for ln in reversed(lines) if "Error" in ln or "ERROR" in ln), "")
        self.close()
        return f"{LANE_DIED} ({how}{': ' + last.strip()[:200] if last else ''})"

    def close(self) -> None:
        """End the lane (end of its input), or kill it if it does not end."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        self.log_file.close()


LANE_TRIES = 2  # a student whose grading kills this many lanes is not graded


def grade_in_lanes(
    course: Course,
    lesson: str,
    students: Sequence[str],
    env: dict[str, str],
    jobs: int,
    on_done: Callable[[str], None] = lambda student: None,
) -> dict[str, Graded]:
    """Grade ``students`` in ``jobs`` lanes; every student ends with one Graded.

    A finished student is never handed out again. The student a lane was
    grading when it died goes back into the queue, once, for a new lane; if
    their grading kills that one too, they get ``Graded(False, why)``."""
    todo: queue.Queue[str] = queue.Queue()
    for student in students:
        todo.put(student)
    outcome: dict[str, Graded] = {}
    deaths: dict[str, list[str]] = {}
    lock = threading.Lock()

    def work(log_dir: Path) -> None:
        lane = None
        try:
            while True:
                try:
                    student = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    lane = lane or Lane(course, lesson, env, log_dir)
                    graded = lane.grade(student)
                    why = None if graded is not None else lane.death()
                except Exception as err:  # this process's own trouble: said, never lost
                    graded, why = None, f"{LANE_DIED} ({type(err).__name__}: {err})"
                if graded is None:  # the lane died: a new one, and this student once more
                    if lane is not None:
                        lane.close()
                    lane = None
                    with lock:
                        deaths.setdefault(student, []).append(why)
                        tries = len(deaths[student])
                    if tries < LANE_TRIES:
                        todo.put(student)
                        continue
                    graded = Graded(False, f"[ERROR] {why}, {tries} times")
                with lock:
                    outcome[student] = graded
                on_done(student)
        finally:
            if lane is not None:
                lane.close()

    with tempfile.TemporaryDirectory(prefix="rnncourse-lanes-") as log_dir:
        threads = [
            threading.Thread(target=work, args=(Path(log_dir),), daemon=True)
            for _ in range(min(jobs, len(students)))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return outcome


def _failure_reason(graded: Graded) -> str:
    lines = [ln for ln in graded.log.splitlines() if "ERROR" in ln]
    last = lines[-1].split("]", 1)[-1].strip() if lines else "nbgrader reported a failure"
    return last if last.startswith(LANE_DIED) else f"nbgrader failed: {last}"


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

    with tqdm(
        total=len(todo), desc=f"autograde {lesson}", unit="student", disable=not progress
    ) as bar:
        bar.update(len(unreadable))  # nothing to run for these
        outcome = grade_in_lanes(
            course,
            lesson,
            [s for s in todo if s not in unreadable],
            env,
            jobs,
            on_done=lambda student: bar.update(),
        )
    locked = [s for s, g in outcome.items() if not g.ok and "database is locked" in g.log]
    if locked:  # a lock that outlasted the timeout: once more, alone
        outcome.update(grade_in_lanes(course, lesson, locked, env, 1))

    results = []
    for student in todo:
        if student in unreadable:  # zero, and why, rather than "not graded"
            max_score = intake.record_zero(course, lesson, student)
            results.append(StudentResult(student, 0.0, max_score, problems=[unreadable[student]]))
            continue
        start, cpu = time.perf_counter(), time.thread_time()
        graded = outcome[student]
        why = _unverified(course, lesson, student)
        if why is None and graded.ok:
            result = summarise(course, lesson, student, checks)
        else:
            reason = why if graded.ok else _failure_reason(graded)
            result = StudentResult(student, None, None, problems=[f"not graded: {reason}"])
        result.timings = {
            **graded.timings,
            "summary": time.perf_counter() - start,
            "summary_cpu": time.thread_time() - cpu,
        }
        results.append(result)
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
