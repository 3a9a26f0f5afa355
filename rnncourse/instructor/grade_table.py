"""The grade table of the class: students x lessons, from the gradebook.

A score is the autograded score minus any late penalty; a student without a
submission of a lesson has no score there (empty in the CSV, "-" on screen),
and the statistics of a lesson (mean, median, min, max) are over the students
who submitted it. Students come from the gradebook: everyone ever autograded,
plus a roster loaded with ``nbgrader db student import`` (run in autograder/).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..course import Course, CourseError
from .nbgrader_course import open_gradebook


@dataclass
class Grades:
    scores: pd.DataFrame  # index: student; columns: lessons; NaN = no submission
    max_scores: dict[str, float]  # lesson -> points available

    def statistics(self) -> pd.DataFrame:
        """Per lesson: max points, submissions, mean, median, min and max score."""
        s = self.scores
        return pd.DataFrame(
            {
                "points": pd.Series(self.max_scores),
                "submitted": s.count(),
                "mean": s.mean(),
                "median": s.median(),
                "min": s.min(),
                "max": s.max(),
            }
        ).rename_axis("lesson")


def read_grades(course: Course) -> Grades:
    """Every lesson the gradebook knows, in course order, for every student."""
    course.check()
    with open_gradebook(course) as gb:
        order = {lesson: i for i, lesson in enumerate(course.lesson_ids())}
        assignments = sorted(gb.assignments, key=lambda a: (order.get(a.name, len(order)), a.name))
        students = sorted(s.id for s in gb.students)
        table = pd.DataFrame(index=pd.Index(students, name="student"), dtype=float)
        max_scores = {}
        for assignment in assignments:
            column = pd.Series(float("nan"), index=table.index)
            for submission in assignment.submissions:
                penalty = submission.late_submission_penalty or 0
                column[submission.student_id] = submission.score - penalty
            table[assignment.name] = column
            max_scores[assignment.name] = float(assignment.max_score)
    return Grades(table, max_scores)


def histogram(grades: Grades, lesson: str, path: Path) -> Path:
    """A PNG histogram of one lesson's scores."""
    # a Figure of its own, not pyplot: the caller's matplotlib backend stays as it was
    from matplotlib.figure import Figure

    scores = grades.scores[lesson].dropna()
    top = grades.max_scores[lesson] or 1.0
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    ax.hist(scores, bins=min(20, max(5, int(top))), range=(0, top), edgecolor="white")
    ax.set_xlabel(f"score (out of {top:g})")
    ax.set_ylabel("students")
    mean = f", mean {scores.mean():.3g}" if len(scores) else ""
    ax.set_title(f"{lesson}: {len(scores)} submissions{mean}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def write_grades(course: Course, out: Path) -> tuple[Grades, list[Path]]:
    """Write the table to ``out`` (CSV) and one ``<stem>-<lesson>.png`` histogram
    per lesson beside it; return the grades and the files written."""
    grades = read_grades(course)
    if grades.scores.columns.empty:
        raise CourseError("the gradebook has no lessons yet: release and autograde one first.")
    out.parent.mkdir(parents=True, exist_ok=True)
    grades.scores.to_csv(out)
    written = [out]
    for lesson in grades.scores.columns:
        written.append(histogram(grades, lesson, out.with_name(f"{out.stem}-{lesson}.png")))
    return grades, written
