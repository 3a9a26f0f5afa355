"""A grading lane: one long-lived process that autogrades many students in turn.

    python -m rnncourse.instructor.grading_lane LESSON      (in the course's autograder/)

``rnncourse autograde --jobs N`` runs N lanes (``autograde.Lane``) and hands
each one student at a time. A lane imports nbgrader and reads
``nbgrader_config.py`` once, then, for every student it is given, runs what
``nbgrader autograde LESSON --force --student ID`` runs: nbgrader's
``Autograde`` converter, with the same configuration, so the same
``SafeExecute`` step starts a fresh sandboxed kernel for that student alone.
The lane itself never runs student code: it only talks to the student's kernel
over its sockets, as the ``nbgrader`` command does. What a lane keeps from one
student to the next is nbgrader's own code and configuration, never a process,
a namespace or a folder that student code touched.

Protocol, one JSON object per line:

- stdin, from the coordinator: ``{"student": ID}``; end of input ends the lane;
- results, to the coordinator: ``{"ready": true, "cpu": seconds}`` once, then, per student,
  ``{"student": ID, "ok": bool, "log": "nbgrader's log", "timings": {...}}``.

Results go to a private copy of the lane's standard output; the file
descriptor 1 itself is pointed at standard error (the lane's log) before
anything else runs, so nothing nbgrader prints can pass for a result, and the
kernels' own descriptors 1 and 2 lead nowhere
(``SandboxedKernelManager.discard_output``): a student can write neither into
the results nor into the log the lane keeps for the students after them.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import time
import traceback


def _protocol_channel():
    """A private copy of stdout for results; fd 1 then writes to the log (stderr)."""
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")  # dup: not inherited
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def load_app(lesson: str):
    """nbgrader's ``autograde`` application, configured once for the lane."""
    from nbgrader.apps.autogradeapp import AutogradeApp

    app = AutogradeApp()
    app.initialize([lesson, "--force"])
    app.coursedir.assignment_id = lesson
    return app


def grade(app, student: str) -> dict:
    """What ``nbgrader autograde LESSON --force --student STUDENT`` does, in this process."""
    from nbgrader.converters import Autograde

    from .sandbox import safe_execute

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.INFO)  # not the kernel's messages, which DEBUG logs
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    app.log.addHandler(handler)
    safe_execute.TIMINGS.clear()
    start, cpu = time.perf_counter(), time.process_time()
    ok = False
    try:
        app.coursedir.student_id = student
        Autograde(coursedir=app.coursedir, parent=app).start()
        ok = True
    except SystemExit as stop:  # nbgrader's fail()
        ok = stop.code in (0, None)
    except Exception as err:  # NbGraderException or worse: the log says why, last
        app.log.error("%s", traceback.format_exc())
        app.log.error("%s: %s", type(err).__name__, err)
    finally:
        app.coursedir.student_id = "*"
        app.log.removeHandler(handler)
    timings = {
        "total": time.perf_counter() - start,
        "lane_cpu": time.process_time() - cpu,  # this process: nbgrader, not the kernel
        **safe_execute.TIMINGS,
    }
    return {"student": student, "ok": ok, "log": buffer.getvalue(), "timings": timings}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m rnncourse.instructor.grading_lane LESSON", file=sys.stderr)
        return 2
    results = _protocol_channel()
    app = load_app(argv[0])
    from nbgrader.converters import Autograde  # noqa: F401 -- imported before the first student

    from .sandbox import safe_execute  # noqa: F401
    from .sandbox.kernel_sandbox import SandboxedKernelManager

    SandboxedKernelManager.discard_output = True  # kernels never write into the lane's log
    results.write(json.dumps({"ready": True, "cpu": time.process_time()}) + "\n")
    for line in sys.stdin:
        if line.strip():
            student = json.loads(line)["student"]
            results.write(json.dumps(grade(app, student)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
