"""nbgrader configuration of the rnncourse course.

This folder is the nbgrader course root. The instructor sources live in
``../solutions`` and the generated student versions in ``../lessons``; student
work (``submitted/``, ``autograded/``, ``feedback/``) and the gradebook stay here
and are ignored by git.

Environment variables an instructor may set (all optional):

    RNNCOURSE_COURSE_ID   course id used by the exchange (default "rnncourse")
    RNNCOURSE_DB_URL      gradebook database URL (default: SQLite file
                          gradebook.db here); PostgreSQL works, e.g.
                          postgresql://user:password@127.0.0.1:5432/gradebook
    RNNCOURSE_EXCHANGE    exchange folder for release/fetch/submit/collect
                          (default: /srv/nbgrader/exchange, nbgrader's own)
    RNNCOURSE_CELL_TIMEOUT  seconds one cell may run while autograding (default 120)
"""

import os

c = get_config()  # noqa: F821 -- provided by traitlets when nbgrader loads this file

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = os.environ.get("RNNCOURSE_COURSE_ID", "rnncourse")
c.CourseDirectory.source_directory = os.path.join("..", "solutions")
c.CourseDirectory.release_directory = os.path.join("..", "lessons")
if os.environ.get("RNNCOURSE_DB_URL"):
    c.CourseDirectory.db_url = os.environ["RNNCOURSE_DB_URL"]
if os.environ.get("RNNCOURSE_EXCHANGE"):
    c.Exchange.root = os.environ["RNNCOURSE_EXCHANGE"]

# Only notebooks and the files a lesson really ships are released.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py"]

# Grading: a cell that runs too long is stopped and counts as an error.
c.Execute.timeout = int(os.environ.get("RNNCOURSE_CELL_TIMEOUT", "120"))
c.Execute.interrupt_on_timeout = True
# A student who deleted a graded cell gets it back from the gradebook.
c.OverwriteCells.add_missing_cells = True
# Released notebooks carry no outputs.
c.ClearOutput.enabled = True
