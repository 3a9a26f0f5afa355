"""The ``rnncourse`` command: one entry point for students and instructors.

Each subcommand is declared by a small ``_add_<name>`` function below that adds
its parser and points ``func`` at the code that does the work; that code lives
in the module of its concept (``rnncourse.student.*`` for the student's commands,
``rnncourse.instructor.*`` for the instructor's), imported only when its command
runs, so this file stays a thin table of contents and ``rnncourse check`` starts
without torch, pandas or nbgrader's grading machinery.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .course import Course, CourseError, locate


class CommandError(Exception):
    """A user-facing error: printed as one clear line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnncourse",
        description="rnncourse: recurrent neural networks with PyTorch, as autograded lessons.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CommandError, CourseError) as err:
        print(f"rnncourse {args.command}: error: {err}", file=sys.stderr)
        return 2


def _add_doctor(sub) -> None:
    parser = sub.add_parser(
        "doctor",
        help="check that this Python can run the course, and say how to fix what is missing",
        description="Check packages, devices, data sets and the Jupyter kernel. Exit status 1 "
        "when something the course needs is missing.",
    )
    parser.set_defaults(func=_run_doctor)


def _run_doctor(args: argparse.Namespace) -> int:
    from .student import doctor

    return doctor.main()


# ---- the course workflow: instructors (build ... grades) and students (check, pack)


def _course_option(parser, *, exchange: bool = False) -> None:
    parser.add_argument(
        "--course",
        metavar="PATH",
        help="the course folder (default: the one around the current folder, else the "
        "repository this package lives in)",
    )
    if exchange:
        parser.add_argument(
            "--exchange",
            metavar="PATH",
            help="the nbgrader exchange folder (default: $RNNCOURSE_EXCHANGE, else "
            "nbgrader's /usr/local/share/nbgrader/exchange)",
        )


def _course(args: argparse.Namespace) -> Course:
    return locate(args.course, getattr(args, "exchange", None))


def _lesson_parser(sub, name: str, help: str, description: str, *, exchange: bool = False):
    parser = sub.add_parser(name, help=help, description=description)
    parser.add_argument("lesson", metavar="LESSON", help="lesson id, e.g. 01_time_series")
    _course_option(parser, exchange=exchange)
    return parser


def _add_build(sub) -> None:
    parser = sub.add_parser(
        "build",
        help="regenerate lessons/ from solutions/ (instructor)",
        description="Run nbgrader generate_assignment: the student version of each lesson, "
        "without solutions, hidden tests or outputs, goes to lessons/; the gradebook "
        "records its graded cells.",
    )
    parser.add_argument("lessons", nargs="*", metavar="LESSON", help="lessons (default: all)")
    _course_option(parser)
    parser.set_defaults(func=_run_build)


def _run_build(args: argparse.Namespace) -> int:
    from .instructor.nbgrader_course import build

    for notebook in build(_course(args), args.lessons or None):
        print(f"built {notebook}")
    return 0


def _add_release(sub) -> None:
    parser = _lesson_parser(
        sub,
        "release",
        "build a lesson and release it through the exchange (instructor)",
        "Build LESSON and copy it into the exchange, where students fetch it with "
        "`nbgrader fetch_assignment LESSON --course COURSE_ID` or the Assignments panel.",
        exchange=True,
    )
    parser.add_argument(
        "--due",
        metavar="DATE",
        help="due date for late penalties, e.g. '2025-03-01 23:59 Europe/Berlin' (no zone: UTC)",
    )
    parser.add_argument("--force", action="store_true", help="replace an earlier release")
    parser.set_defaults(func=_run_release)


def _run_release(args: argparse.Namespace) -> int:
    from .instructor import exchange

    course = _course(args)
    target = exchange.release(course, args.lesson, due=args.due, force=args.force)
    due = exchange.due_date(course, args.lesson)
    print(f"released {args.lesson} to {target}")
    print(f"due: {f'{due:%Y-%m-%d %H:%M} UTC' if due else 'no due date'}")
    return 0


def _add_collect(sub) -> None:
    parser = _lesson_parser(
        sub,
        "collect",
        "collect submissions from the exchange (instructor)",
        "Copy each student's newest submission of LESSON from the exchange into "
        "autograder/submitted/STUDENT/LESSON.",
        exchange=True,
    )
    parser.set_defaults(func=_run_collect)


def _run_collect(args: argparse.Namespace) -> int:
    from .instructor import exchange

    students = exchange.collect(_course(args), args.lesson)
    print(f"{len(students)} submissions of {args.lesson}: {', '.join(students) or 'none'}")
    return 0


def _add_import_zips(sub) -> None:
    parser = _lesson_parser(
        sub,
        "import-zips",
        "import submissions downloaded from an LMS as zip files (instructor)",
        "Import every file in FOLDER whose name ends in LESSON__STUDENT.zip (as "
        "`rnncourse pack` writes it) into autograder/submitted/STUDENT/LESSON. The zip "
        "files are only read.",
    )
    parser.add_argument("folder", metavar="FOLDER", type=Path, help="folder of zip files")
    parser.add_argument("--force", action="store_true", help="replace earlier imports")
    parser.set_defaults(func=_run_import_zips)


def _run_import_zips(args: argparse.Namespace) -> int:
    from .instructor.import_zips import import_zips

    report = import_zips(_course(args), args.lesson, args.folder, force=args.force)
    for student, folder in report.imported.items():
        print(f"imported {student} -> {folder}")
    for name, why in report.skipped:
        print(f"skipped {name}: {why}")
    print(f"{len(report.imported)} imported, {len(report.skipped)} skipped")
    return 0


def _add_autograde(sub) -> None:
    parser = _lesson_parser(
        sub,
        "autograde",
        "grade every submission of a lesson, in parallel, with a summary (instructor)",
        "Grade every collected submission as `nbgrader autograde LESSON --student ID` "
        "would, N at a time in N grading processes that each start nbgrader once (every "
        "notebook still runs in a fresh sandboxed kernel of its own), verify that every "
        "submission has its grades, and print a summary: "
        "score (after late penalties), max, failures (tests short of full marks), errors "
        "(cells that crashed or timed out) and problems. Exit status 1 when a submission "
        "could not be graded. Student code runs in a sandbox with limits "
        "(RNNCOURSE_SANDBOX, RNNCOURSE_KERNEL_MEMORY, RNNCOURSE_CELL_TIMEOUT; README: "
        "'What the autograder protects').",
    )
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="students at once")
    parser.add_argument(
        "--student", action="append", metavar="ID", help="grade only this student (repeatable)"
    )
    parser.set_defaults(func=_run_autograde)


def _run_autograde(args: argparse.Namespace) -> int:
    from .instructor import autograde
    from .instructor.sandbox.kernel_sandbox import policy

    results = autograde.autograde_class(
        _course(args), args.lesson, students=args.student, jobs=args.jobs
    )
    print(policy().describe())
    print(autograde.format_summary(results))
    missed = [
        r.student for r in results if not r.graded and r.problems != [autograde.NO_SUBMISSION]
    ]
    if missed:
        print(f"not graded: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0


def _add_feedback(sub) -> None:
    parser = _lesson_parser(
        sub,
        "feedback",
        "write HTML feedback and release it through the exchange (instructor)",
        "Write one HTML page per autograded submission (each test's message and score, "
        "never the code of hidden tests) and release it; students fetch it with `nbgrader "
        "fetch_feedback LESSON --course COURSE_ID` or the Assignments panel.",
        exchange=True,
    )
    parser.add_argument(
        "--no-release", action="store_true", help="write the pages only; release nothing"
    )
    parser.set_defaults(func=_run_feedback)


def _run_feedback(args: argparse.Namespace) -> int:
    from .instructor import feedback

    report = feedback.generate_feedback(_course(args), args.lesson, release=not args.no_release)
    for student, page in sorted(report.html.items()):
        print(f"{student}: {page}")
    if report.released:
        print(f"released through the exchange: {', '.join(report.released)}")
    if report.not_released:
        print(f"not released (hand these pages out yourself): {', '.join(report.not_released)}")
    return 0


def _add_grades(sub) -> None:
    parser = sub.add_parser(
        "grades",
        help="the grade table of the class, with statistics and histograms (instructor)",
        description="Print a table of scores (students x lessons, after late penalties) and "
        "per-lesson statistics; write it as CSV, with a PNG histogram per lesson beside it.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="CSV file to write (default: autograder/grades/grades.csv)",
    )
    _course_option(parser)
    parser.set_defaults(func=_run_grades)


def _run_grades(args: argparse.Namespace) -> int:
    from .instructor.grade_table import write_grades

    course = _course(args)
    out = args.out or course.autograder_dir / "grades" / "grades.csv"
    table, written = write_grades(course, out)
    print(table.scores.to_string(na_rep="-", float_format="{:g}".format))
    print()
    print(table.statistics().to_string(na_rep="-", float_format="{:.3g}".format))
    print()
    for path in written:
        print(f"wrote {path}")
    return 0


def _add_release_solutions(sub) -> None:
    parser = _lesson_parser(
        sub,
        "release-solutions",
        "release a lesson's solutions, without hidden tests, after its due date (instructor)",
        "Release the solution notebook of LESSON, without hidden tests, through the "
        "exchange as the assignment LESSON-solutions; students fetch it with `nbgrader "
        "fetch_assignment LESSON-solutions --course COURSE_ID` or the Assignments panel.",
        exchange=True,
    )
    parser.add_argument("--force", action="store_true", help="release even before the due date")
    parser.set_defaults(func=_run_release_solutions)


def _run_release_solutions(args: argparse.Namespace) -> int:
    from .instructor import exchange

    target = exchange.release_solutions(_course(args), args.lesson, force=args.force)
    print(f"released the solutions of {args.lesson} to {target}")
    return 0


def _notebook_argument(parser) -> None:
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        metavar="PATH",
        help="your notebook or its folder (default: ./LESSON/LESSON.ipynb, else the "
        "course's lessons/LESSON)",
    )


def _add_check(sub) -> None:
    parser = _lesson_parser(
        sub,
        "check",
        "check that the autograder can see your work (student)",
        "Compare your notebook with the released lesson and say, in plain words, what "
        "would stop the autograder from grading your work: graded cells deleted, "
        "duplicated or changed in type, locked cells edited. Exit status 1 when "
        "something must be fixed.",
    )
    _notebook_argument(parser)
    parser.set_defaults(func=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    from .student import submission_check

    course = _course(args)
    course.check_lesson(args.lesson)
    notebook = submission_check.default_notebook(course, args.lesson, args.path)
    if not notebook.is_file():
        raise CommandError(f"{notebook} does not exist.")
    found = submission_check.check_submission(course, args.lesson, notebook)
    for finding in found:
        print(f"{finding.kind}: {finding.message}")
    bad = submission_check.problems(found)
    print(f"{notebook}: " + (f"{len(bad)} problem(s) to fix" if bad else "ready to submit"))
    return 1 if bad else 0


def _add_pack(sub) -> None:
    parser = _lesson_parser(
        sub,
        "pack",
        "zip your notebook for upload to an LMS (student)",
        "Write LESSON__STUDENT.zip (your notebook and the time it was packed), the file "
        "`rnncourse import-zips` reads, after checking the notebook as `rnncourse check` "
        "does.",
    )
    _notebook_argument(parser)
    parser.add_argument("--student", metavar="ID", help="your student id (default: $USER)")
    parser.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="folder for the zip (default: .)"
    )
    parser.set_defaults(func=_run_pack)


def _run_pack(args: argparse.Namespace) -> int:
    from .student import submission_check
    from .student.pack import pack

    course = _course(args)
    course.check_lesson(args.lesson)
    notebook = submission_check.default_notebook(course, args.lesson, args.path)
    if notebook.is_file():
        for finding in submission_check.problems(
            submission_check.check_submission(course, args.lesson, notebook)
        ):
            print(f"warning: {finding.message}", file=sys.stderr)
    target = pack(course, args.lesson, notebook, student=args.student, out_dir=args.out)
    print(f"wrote {target}: upload it to your course's LMS")
    return 0


# Subcommands register here, in the order `rnncourse --help` lists them.
_SUBCOMMANDS: list = [
    _add_doctor,
    _add_build,
    _add_release,
    _add_collect,
    _add_import_zips,
    _add_autograde,
    _add_feedback,
    _add_grades,
    _add_release_solutions,
    _add_check,
    _add_pack,
]


if __name__ == "__main__":
    sys.exit(main())
