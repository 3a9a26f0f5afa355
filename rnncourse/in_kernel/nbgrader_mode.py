"""Whether nbgrader is running this notebook, so long training cells can be shortened."""

import os


def is_autograding() -> bool:
    """True while nbgrader executes the notebook (``nbgrader autograde`` or ``validate``).

    nbgrader sets the environment variable NBGRADER_EXECUTION to "autograde" or
    "validate"; lessons use this to train for fewer steps while grading.
    """
    return os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate")
