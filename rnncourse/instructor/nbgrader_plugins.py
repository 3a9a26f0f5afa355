"""The classes ``autograder/nbgrader_config.py`` plugs into nbgrader, by name.

nbgrader imports this module only for the steps that use them, so other
nbgrader commands do not pay for it. (``SafeExecute``, the autograder's
executor, lives with the sandbox: ``rnncourse.instructor.sandbox.safe_execute``.)
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float

from ..nbgrader_cells import markers
from .feedback import hide_hidden_tests


class LatePenalty(LateSubmissionPlugin):
    """Late work loses ``percent_per_day`` percent of its score per started day.

    Lateness is measured from the due date in the gradebook (``rnncourse release
    LESSON --due ...``) to the submission's timestamp: one second late counts as
    one day. nbgrader never lets a penalty exceed the score.
    """

    percent_per_day = Float(10.0, help="Percent of the score lost per started day late.").tag(
        config=True
    )

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        days = math.ceil(total_seconds_late / 86400)
        return min(score, score * self.percent_per_day * days / 100)


class HideHiddenTests(NbGraderPreprocessor):
    """Remove the hidden tests from feedback (``rnncourse.instructor.feedback``).

    The autograded notebook carries the hidden tests (nbgrader puts them back to
    run them), so plain feedback would show their code.
    """

    def preprocess(self, nb, resources):
        return hide_hidden_tests(nb, markers(self.config)), resources
