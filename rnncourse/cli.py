"""The ``rnncourse`` command: one entry point for students and instructors.

Each subcommand is declared by a small ``_add_<name>`` function below that adds
its parser and points ``func`` at the code that does the work; that code lives
in the module of its concept (``rnncourse.doctor``, ``rnncourse.course``, ...),
so this file stays a thin table of contents.
"""

from __future__ import annotations

import argparse
import sys

from . import doctor


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
    except CommandError as err:
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
    return doctor.main()


# Subcommands register here, in the order `rnncourse --help` lists them.
_SUBCOMMANDS: list = [_add_doctor]


if __name__ == "__main__":
    sys.exit(main())
