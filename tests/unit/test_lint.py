"""ruff, configured in pyproject.toml (lessons/ and solutions/ excluded), is part
of the test suite: lint errors and unformatted files fail it."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=" ".join)
def test_ruff(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`ruff {' '.join(command)} .` failed (`make format` fixes most of it):\n"
            f"{result.stdout}{result.stderr}",
            pytrace=False,
        )
