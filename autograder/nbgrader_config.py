"""nbgrader configuration of the rnncourse course.

This folder is the nbgrader course root. The instructor sources live in
``../solutions`` and the generated student versions in ``../lessons``; student
work (``submitted/``, ``autograded/``, ``feedback/``, ``release_solutions/``) and
the gradebook stay here and are ignored by git. Every ``nbgrader`` command run in
this folder reads this file, and so does every ``rnncourse`` instructor command.

Environment variables an instructor may set (all optional):

    RNNCOURSE_COURSE_ID   course id used by the exchange (default "rnncourse")
    RNNCOURSE_DB_URL      gradebook database URL (default: SQLite file
                          gradebook.db here); PostgreSQL works through the same
                          setting with the psycopg2 driver (SQLAlchemy 2.1's bare
                          postgresql:// wants psycopg 3, which is not installed):
                          postgresql+psycopg2://user:password@host:5432/gradebook
    RNNCOURSE_EXCHANGE    exchange folder for release/fetch/submit/collect
                          (default: nbgrader's /usr/local/share/nbgrader/exchange)
    RNNCOURSE_CELL_TIMEOUT  seconds one cell may run while autograding (default 120)
    RNNCOURSE_SANDBOX     auto (default), on or off: run student code in a
                          bubblewrap sandbox (rnncourse.instructor.sandbox)
    RNNCOURSE_KERNEL_MEMORY  memory a grading kernel may allocate (default 4G)

Whatever runs a notebook here (autograde, generate_solution) gets
``RNNCOURSE_DEVICE=cpu``, so grades never depend on a GPU, and nbgrader itself
sets ``NBGRADER_EXECUTION`` while autograding, which lessons read through
``rnncourse.is_autograding()`` to shorten training. (A Jupyter server started in
this folder for the Formgrader reads this file too, so its kernels also run on
the CPU: open the lessons from another folder to use a GPU.)

Autograding executes notebooks with ``rnncourse.instructor.sandbox.safe_execute.SafeExecute``
instead of nbgrader's ``Execute``: a sandboxed kernel with memory and output
limits, named timeouts, kernel deaths that fail every later cell, and checks
that the notebook did not replace what the tests rely on (README, "What the
autograder protects").

Also configured here: the late penalty (``LatePenalty``, 10 % per started day),
feedback without hidden tests (``HideHiddenTests``) and released solutions
without hidden tests (``GenerateSolution.preprocessors``). This file holds
settings only: the classes it names live in ``rnncourse.instructor``. The ``rnncourse``
instructor commands (``rnncourse --help``) drive all of it.
"""

import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    GetGrades,
    IgnorePattern,
    IncludeHeaderFooter,
    LimitOutput,
    LockCells,
    SaveAutoGrades,
)

c = get_config()  # noqa: F821 -- provided by traitlets when nbgrader loads this file

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = os.environ.get("RNNCOURSE_COURSE_ID", "rnncourse")
c.CourseDirectory.source_directory = os.path.join("..", "solutions")
c.CourseDirectory.release_directory = os.path.join("..", "lessons")
c.CourseDirectory.solution_directory = "release_solutions"
if os.environ.get("RNNCOURSE_DB_URL"):
    c.CourseDirectory.db_url = os.environ["RNNCOURSE_DB_URL"]
if os.environ.get("RNNCOURSE_EXCHANGE"):
    c.Exchange.root = os.environ["RNNCOURSE_EXCHANGE"]

# Only notebooks and the files a lesson really ships are released.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py"]

# Kernels inherit nbgrader's environment, so this holds for plain `nbgrader
# autograde` too: grading runs on the CPU whatever the grading machine has.
os.environ["RNNCOURSE_DEVICE"] = "cpu"

# Grading: a cell that runs too long is stopped and counts as an error.
c.Execute.timeout = int(os.environ.get("RNNCOURSE_CELL_TIMEOUT", "120"))
c.Execute.interrupt_on_timeout = True
# Student code is untrusted: nbgrader's default pipeline with SafeExecute in
# place of Execute (named by string: rnncourse is imported only to autograde).
c.Autograde.autograde_preprocessors = [
    "rnncourse.instructor.sandbox.safe_execute.SafeExecute",
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
# A student who deleted a graded cell gets it back from the gradebook.
c.OverwriteCells.add_missing_cells = True
# Released notebooks carry no outputs.
c.ClearOutput.enabled = True

# Late work loses 10 % of its score per started day (one second late counts as one day).
c.AssignLatePenalties.plugin_class = "rnncourse.instructor.nbgrader_plugins.LatePenalty"
c.LatePenalty.percent_per_day = 10.0

# Feedback pages show the hidden tests' messages and scores, never their code.
c.GenerateFeedback.preprocessors = [
    GetGrades,
    "rnncourse.instructor.nbgrader_plugins.HideHiddenTests",
    CSSHTMLHeaderPreprocessor,
]

# Released solutions keep the solutions and the visible tests, never the hidden
# tests, and are not executed (students run them; outputs would need training).
c.GenerateSolution.preprocessors = [
    IncludeHeaderFooter,
    LockCells,
    ClearOutput,
    ClearMarkScheme,
    ClearHiddenTests,
]
