"""A newcomer's clone has no shared folder beside it: the course carries its own
syllabus (docs/curriculum.md) and names no path outside itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from lesson_harness import REPO


def _clone_without_shared(dest):
    """The project's files (tracked, or new and not ignored) copied into ``dest``/rnncourse,
    with nothing beside it."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    clone = dest / "rnncourse"
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    return clone


def test_contract_checks_pass_in_a_clone_with_no_shared_folder(tmp_path):
    clone = _clone_without_shared(tmp_path)
    assert not (clone.parent / "shared").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RNNCOURSE_", "PYTEST_"))}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            "tests/lessons/test_lessons.py",
            "tests/lessons/test_one_source.py",
            "-k",
            "curriculum or markup or contract or outputs or reference_code",
        ],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert "no shared folder beside this clone" in out, "the in-step check did not skip"
    assert " passed" in out


def test_no_file_names_a_path_of_this_machine():
    """Files name paths relative to the project, never where this clone happens to sit."""
    here = str(REPO.parent) + "/"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    naming = []
    for name in listed:
        path = REPO / name
        if path.is_file() and path.suffix not in {".png", ".zip"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            if here in text:
                naming.append(name)
    assert not naming, f"these files name {here}: {naming}"
