"""Is there a notebook to grade? Submissions nbgrader cannot even open.

nbgrader stops with an error, and records nothing, when a submission's
notebook is missing, renamed or not valid JSON. ``rnncourse autograde`` checks
each submission first (``submission_problem``), gives those students zero in
the gradebook (``record_zero``, as nbgrader itself does for a missing
notebook) and says why in the summary, instead of leaving them ungraded.
Submitted files are only read.
"""

from __future__ import annotations

import json
import shutil
import warnings

from ..course import Course
from .nbgrader_course import open_gradebook


def submission_problem(course: Course, lesson: str, student: str) -> str | None:
    """Why ``student``'s submission of ``lesson`` cannot be graded, or None."""
    folder = course.submitted_dir(student, lesson)
    notebook = folder / f"{lesson}.ipynb"
    if not notebook.is_file():
        others = sorted(p.name for p in folder.glob("*.ipynb"))
        if others:
            return (
                f"notebook renamed: the submission has {', '.join(others)} but no "
                f"{lesson}.ipynb, so nothing was graded (resubmit it as {lesson}.ipynb)"
            )
        return f"notebook missing: the submission has no {lesson}.ipynb"
    try:
        data = json.loads(notebook.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        return "notebook is not valid JSON: it is not UTF-8 text"
    except json.JSONDecodeError as err:
        return f"notebook is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return "notebook is valid JSON but not a Jupyter notebook (it has no list of cells)"
    if data.get("nbformat") != 4:
        return f"notebook has nbformat {data.get('nbformat')!r}; the autograder reads version 4"
    return None


def record_zero(course: Course, lesson: str, student: str) -> float:
    """Give every graded cell of the submission zero; return the lesson's max score.

    An autograded notebook left from an earlier submission is removed, so that
    no feedback is written from it."""
    with open_gradebook(course) as gb, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy 2's autoflush warnings; harmless
        warnings.filterwarnings("ignore", "Object of type .* not in session")
        submission = gb.update_or_create_submission(lesson, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()
        max_score = float(submission.max_score)
    stale = course.autograded_notebook(student, lesson).parent
    if stale.is_dir():
        shutil.rmtree(stale)
    return max_score
