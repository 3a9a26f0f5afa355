"""The ways in: pyproject.toml and environment.yml describe one environment, the
Makefile builds it once and reuses it, and CI runs the README's test command."""

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

# conda-forge names that differ from the PyPI distribution they package.
CONDA_TO_PYPI = {"playwright-python": "playwright"}
# Conda packages that are tools of the environment, not course requirements.
CONDA_TOOLING = {"python", "pip"}
# environment.yml's pip line that installs the course itself (with its test extra).
COURSE_ITSELF = "-e .[test]"


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def environment():
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def pyproject_requirements():
    """{name: SpecifierSet} of the runtime requirements and the `test` extra."""
    project = pyproject()
    lines = project["dependencies"] + project["optional-dependencies"]["test"]
    return {canonicalize_name(r.name): r.specifier for r in map(Requirement, lines)}


def conda_requirement(spec):
    """A conda match spec as (PyPI name, SpecifierSet); conda's "=0.9" means "==0.9.*"."""
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", spec)
    assert match, f"cannot read the conda spec {spec!r}"
    name, version = match[1], match[2].replace(" ", "")
    if re.fullmatch(r"=[^=].*", version):
        version = f"=={version[1:].removesuffix('.*')}.*"
    return canonicalize_name(CONDA_TO_PYPI.get(name, name)), SpecifierSet(version)


def environment_parts():
    """(conda {name: spec}, pip {name: spec}, pip lines that are not requirements)."""
    conda, pip, other = {}, {}, []
    for item in environment()["dependencies"]:
        if isinstance(item, dict):
            for line in item["pip"]:
                if line.startswith("-"):
                    other.append(line)
                else:
                    req = Requirement(line)
                    pip[canonicalize_name(req.name)] = req.specifier
        else:
            name, spec = conda_requirement(item)
            conda[name] = spec
    return conda, pip, other


@pytest.mark.parametrize(
    ("spec", "name", "specifier"),
    [
        ("nbgrader=0.9", "nbgrader", "==0.9.*"),
        ("jupyterlab>=4,<5", "jupyterlab", ">=4,<5"),
        ("playwright-python >=1.40", "playwright", ">=1.40"),
        ("python=3.11", "python", "==3.11.*"),
    ],
)
def test_conda_specs_are_read_as_pip_specifiers(spec, name, specifier):
    assert conda_requirement(spec) == (name, SpecifierSet(specifier))


def test_environment_yml_and_pyproject_list_the_same_packages_and_pins():
    conda, pip, _ = environment_parts()
    both = set(conda) & set(pip)
    assert not both, f"listed both for conda and for pip in environment.yml: {sorted(both)}"
    declared = {**conda, **pip}
    for tool in CONDA_TOOLING:
        declared.pop(tool, None)
    wanted = pyproject_requirements()
    assert set(declared) == set(wanted), (
        f"only in pyproject.toml: {sorted(set(wanted) - set(declared))}; "
        f"only in environment.yml: {sorted(set(declared) - set(wanted))}"
    )
    differ = {n: (str(wanted[n]), str(declared[n])) for n in wanted if wanted[n] != declared[n]}
    assert not differ, f"pins differ (pyproject.toml, environment.yml): {differ}"


def test_environment_yml_uses_conda_forge_only_and_pip_for_torch_and_the_course():
    env = environment()
    assert env["channels"] == ["conda-forge"]
    conda, pip, other = environment_parts()
    assert "torch" in pip and "torch" not in conda, "torch comes from PyPI"
    assert str(pip["torch"]) == "==2.13.*"
    assert other == [COURSE_ITSELF], "pip installs the course itself, editable, with its tests"


def test_environment_yml_python_satisfies_requires_python():
    conda, _, _ = environment_parts()
    python = str(conda["python"]).removeprefix("==").removesuffix(".*")
    assert SpecifierSet(pyproject()["requires-python"]).contains(python)


def test_readme_names_the_environment_and_the_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"conda activate {environment()['name']}" in readme
    assert "conda env create -f environment.yml" in readme
    assert "make lab" in readme and "make test" in readme
    assert readme.index("make lab") < readme.index("conda env create"), "make first"


def test_ci_runs_exactly_make_test():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run must be executable"
    text = script.read_text(encoding="utf-8")
    assert "set -euo pipefail" in text
    commands = [line.strip() for line in text.splitlines() if line.strip()]
    assert commands[-1] == "make test", "CI ends by running the README's test command"
    subprocess.run(["bash", "-n", str(script)], check=True)


# --- the Makefile, read through `make -n` (prints the commands, runs nothing) ---------------


def make_dry_run(target, venv):
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize(
    ("target", "command"),
    [("lab", "/bin/jupyter lab lessons/"), ("test", "/bin/python -m pytest")],
)
def test_make_creates_the_venv_when_missing(tmp_path, target, command):
    venv = tmp_path / "venv"
    out = make_dry_run(target, venv)
    assert f"-m venv {venv}" in out
    assert f"{venv}/bin/python -m pip install -e '.[test]'" in out
    assert f"{venv}{command}" in out
    assert "ipykernel install" not in out and "kernelspec" not in out, "registers nothing"


@pytest.mark.parametrize("target", ["lab", "test"])
def test_make_skips_the_install_once_done(tmp_path, target):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    stamp = venv / ".rnncourse-installed"
    stamp.touch()
    newer = (ROOT / "pyproject.toml").stat().st_mtime + 10
    os.utime(stamp, (newer, newer))
    out = make_dry_run(target, venv)
    assert "pip install" not in out and "-m venv" not in out
