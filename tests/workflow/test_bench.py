"""The benchmarks in bench/ run end to end in their quick mode, so they cannot rot,
and they keep the other sections of the RESULTS.md file they update."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from bench import lm_throughput, machine, notebooks, report, run_all, time_to_perplexity
from rnncourse import pick_device

REPO = Path(__file__).resolve().parents[2]
FOREIGN = "## Autograding throughput\n\nWritten by another script: 42 notebooks a minute.\n"


def test_quick_run_of_every_benchmark_writes_its_sections(tmp_path, capsys):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n" + FOREIGN)
    argv = ["--quick", "--threads", "1", "--output", str(results)]
    for name in ("throughput", "perplexity", "notebooks"):
        argv += ["--only", name]
    assert run_all.main(argv) == 0
    text = results.read_text()
    assert FOREIGN in text, "another script's section was not kept"
    for name in ("throughput", "perplexity", "notebooks"):
        assert text.count(report.begin_marker(name)) == 1, name
    for model in ("scratch RNN", "nn.RNN", "nn.GRU", "nn.LSTM"):
        assert f"| {model} | 16 |" in text, f"no throughput row for {model}"
        assert f"| {model} | sgd lr 1, H 16 | cpu |" in text, f"no perplexity row for {model}"
    assert "| stand-in (quick mode) |" in text and "| 1/1 | 1/1 | yes |" in text
    assert "NO:" not in text, "the stand-in notebook did not pass (error, or wrong device line)"
    assert "Before: `" in text and "load average" in text, "the load is not recorded"
    named = f"{machine.cpu_model()}, {machine.cpu_cores()} cores, torch {torch.__version__}, "
    assert named + "1 torch thread," in text, "the machine is not named"
    printed = capsys.readouterr().out
    assert "tokens/s" in printed and "stand-in (quick mode)" in printed


def test_update_section_replaces_only_its_own_block(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\n" + FOREIGN)
    report.update_section(path, "notebooks", "## Notebooks\n\nfirst")
    report.update_section(path, "perplexity", "## Perplexity\n\nppl")
    report.update_section(path, "notebooks", "## Notebooks\n\nsecond")
    text = path.read_text()
    assert FOREIGN in text
    assert "first" not in text and text.count("second") == 1
    assert text.index("second") < text.index("ppl"), "a rewritten section moved"
    assert text.count(report.begin_marker("notebooks")) == 1


def test_update_section_refuses_a_half_deleted_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(report.begin_marker("notebooks") + "\nold text, end marker deleted\n")
    with pytest.raises(ValueError, match="only one of the markers"):
        report.update_section(path, "notebooks", "new")


def test_a_cell_that_runs_too_long_is_a_failed_run_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setattr(notebooks, "CELL_TIMEOUT", 2)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(60)")]
    path = tmp_path / "slow.ipynb"
    nbformat.write(nb, path)
    result = notebooks.execute(path, "cpu")
    assert "a cell ran longer than 2 s; the run was stopped" in result["errors"]
    assert result["seconds"] < 60
    assert not notebooks._passed(result, "cpu")


def test_device_line_matches_what_pick_device_prints(capsys, monkeypatch):
    """notebooks.py tells a GPU run that fell back to the CPU by this line."""
    monkeypatch.setenv("RNNCOURSE_DEVICE", "cpu")
    pick_device(True)
    found = notebooks.DEVICE_LINE.search(capsys.readouterr().out)
    assert found and found.group(1) == "cpu"


def test_notebook_runs_ask_the_kernel_for_the_right_device_and_mode():
    assert notebooks.kernel_env("cuda")["RNNCOURSE_DEVICE"] == "cuda"
    assert "NBGRADER_EXECUTION" not in notebooks.kernel_env("cpu")
    fast = notebooks.kernel_env("fast")
    assert fast["RNNCOURSE_DEVICE"] == "cpu" and fast["NBGRADER_EXECUTION"] == "autograde"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_missing_gpu_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_all.main(["--quick", "--device", "cuda"])
    assert exit_info.value.code == 2
    assert "sees no CUDA GPU" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["run_all.py", "autograde_throughput.py"])
def test_scripts_start(script):
    """Each script runs as a program (its imports resolve); --help does no work."""
    proc = subprocess.run(
        [sys.executable, f"bench/{script}", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout


def test_run_all_hands_quick_and_output_to_the_autograde_script(tmp_path):
    """Its quick mode grades 4 students (~20 s on a quiet machine, minutes on a busy
    one), too slow for this smoke test: check the command run_all gives it."""
    out = tmp_path / "R.md"
    args = run_all.parse_args(["--quick", "--only", "autograde", "--output", str(out)])
    script = str(run_all.AUTOGRADE_SCRIPT)
    assert run_all.autograde_command(args) == [
        sys.executable,
        script,
        "--quick",
        "--output",
        str(out),
    ]
    assert run_all.autograde_command(run_all.parse_args([])) == [sys.executable, script]


def test_runs_as_a_module(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["python -m bench", "--help"])
    with pytest.raises(SystemExit) as exit_info:  # `python -m bench`, without a new process
        runpy.run_module("bench", run_name="__main__")
    assert exit_info.value.code == 0
    assert "--only NAME" in capsys.readouterr().out


def test_a_run_is_graded_and_its_models_located(tmp_path):
    """Points come from the nbgrader test cells that ran cleanly; the probe cell
    finds the parameters the kernel holds, in modules and in lists of tensors."""
    nb = nbformat.v4.new_notebook()
    cells = [
        "import torch\nnet = torch.nn.Linear(2, 1)\n"
        "weights = [torch.zeros(2, requires_grad=True), torch.ones(2)]\nplain = torch.ones(3)",
        "assert 1 + 1 == 3, 'wrong on purpose'",
        "assert net.weight.shape == (1, 2)",
    ]
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.cells[1].metadata["nbgrader"] = {"grade": True, "solution": False, "points": 2}
    nb.cells[2].metadata["nbgrader"] = {"grade": True, "solution": False, "points": 1}
    path = tmp_path / "graded.ipynb"
    nbformat.write(nb, path)
    result = notebooks.execute(path, "cpu")
    assert (result["points"], result["max_points"]) == (1, 3)
    assert result["models"] == {
        "net": {"devices": ["cpu"], "size": 3},
        "weights": {"devices": ["cpu"], "size": 2},
    }
    assert any("wrong on purpose" in error for error in result["errors"])
    why = notebooks._why_failed(result, "cpu")
    assert "earned 1/3 points" in why


# No GPU here: the GPU columns are checked on made-up measurements.
def test_notebook_table_reports_gpu_speedup_and_a_silent_cpu_fallback():
    def result(seconds, device, points=4, models=None):
        models = {"net": {"devices": [device], "size": 5000}} if models is None else models
        return {
            "seconds": seconds,
            "errors": [],
            "device": device,
            "points": points,
            "max_points": 4,
            "models": models,
        }

    placed = {
        "net": {"devices": ["cuda"], "size": 5000},
        "ref": {"devices": ["cpu"], "size": 1000},  # a model left on the CPU
        "fixture": {"devices": ["cpu"], "size": 12},  # a test's float64 fixture: allowed
    }
    runs = {
        ("01_a", "cpu"): [result(80.0, "cpu")],
        ("01_a", "fast"): [result(10.0, "cpu")],
        ("01_a", "cuda"): [result(20.0, "cuda")],
        ("02_b", "cpu"): [result(130.0, "cpu")],
        ("02_b", "fast"): [result(12.0, "cpu", points=3)],
        ("02_b", "cuda"): [result(125.0, "cpu")],  # USE_GPU on, but it ran on the CPU
        ("03_c", "cpu"): [result(10.0, "cpu")],
        ("03_c", "fast"): [result(5.0, "cpu")],
        ("03_c", "cuda"): [result(5.0, "cuda", models=placed)],
    }
    options = run_all.Options(devices=["cpu", "cuda"])
    text = notebooks._tables(["01_a", "02_b", "03_c"], runs, options, 1)
    assert "| 01_a | 80.0 | yes | 10.0 | 20.0 | 4.00x | 4/4 | 4/4 | 4/4 | yes |" in text
    assert (
        "| 02_b | 130.0 | NO (+10 s) | 12.0 | 125.0 | 1.04x | 4/4 | 3/4 | 4/4 | NO: fast, cuda |"
        in text
    )
    assert "| whole course (sum of medians) | 220.0 | yes | 27.0 | 150.0 | 1.47x |" in text
    assert "02_b, cuda: asked for cuda, but the device line says 'cpu'" in text
    assert "02_b, fast: earned 3/4 points" in text
    assert "03_c, cuda: parameters not on the GPU: ref" in text
    assert "- 03_c: fixture (cpu, 12), net (cuda, 5,000), ref (cpu, 1,000)" in text


def test_a_cpu_only_table_has_no_gpu_columns():
    runs = {
        ("01_a", "cpu"): [
            {
                "seconds": 8.0,
                "errors": [],
                "device": "cpu",
                "points": 2,
                "max_points": 2,
                "models": {"net": ["cpu"]},
            }
        ]
    }
    options = run_all.Options(modes=["cpu"])
    text = notebooks._tables(["01_a"], runs, options, 1)
    assert "| lesson | cpu, full (s) | within 120 s | points, cpu | passed |" in text
    assert "| 01_a | 8.0 | yes | 2/2 | yes |" in text
    assert "cuda" not in text


def test_throughput_table_compares_gpu_with_the_faster_cpu_setting():
    options = run_all.Options(devices=["cpu", "cuda"], threads=2)
    settings = lm_throughput.settings_for(options)
    assert settings == [("cpu", 1), ("cpu", 2), ("cuda", 2)]
    rates = {}
    for name in ("scratch RNN", "nn.RNN", "nn.GRU", "nn.LSTM"):
        rates[512, name, ("cpu", 1)] = [1000.0]
        rates[512, name, ("cpu", 2)] = [2000.0]
        rates[512, name, ("cuda", 2)] = [50000.0]
    text = lm_throughput._tables(rates, (512,), settings, options, 1, 20_000)
    assert "| nn.GRU | 512 | 1,000 | 2,000 | 2.00x | 50,000 | 25.00x |" in text


def test_a_gpu_machine_writes_sections_of_its_own():
    """The GPU server's figures sit beside the 2-core machine's, never over them."""
    cpu, gpu = run_all.Options(), run_all.Options(devices=["cpu", "cuda"])
    assert run_all.section_name("notebooks", cpu) == "notebooks"
    assert run_all.section_name("notebooks", gpu) == "notebooks-gpu"
    assert time_to_perplexity.race_devices(cpu) == ["cpu"]
    assert time_to_perplexity.race_devices(gpu) == ["cuda"]
    assert notebooks.modes(gpu) == ["cpu", "fast", "cuda"]
    assert notebooks.modes(run_all.Options(devices=["cpu", "cuda"], modes=["cuda", "cpu"])) == [
        "cpu",
        "cuda",
    ]


def test_notebook_options_are_checked(capsys):
    for argv, message in [
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--mode", "cuda", "--device", "cpu"], "--mode cuda needs --device cuda"),
    ]:
        with pytest.raises(SystemExit):
            run_all.parse_args(argv)
        assert message in capsys.readouterr().err


def test_the_benchmark_s_own_load_does_not_make_the_machine_busy(monkeypatch):
    """A one-thread lesson leaves a load of about 1 behind it on 2 cores: quiet.
    Other work before the start, or processes queueing for a CPU, is busy; where
    the CPU time of other processes is known, it decides."""
    monkeypatch.setattr(machine, "cpu_cores", lambda: 2)
    assert machine.busy_note(0.6, 1.1).startswith("The machine was quiet")
    assert machine.busy_note(1.5, 1.1).startswith("The machine was busy")
    assert machine.busy_note(0.2, 3.4).startswith("The machine was busy")
    assert machine.busy_note(None, None) == "Load average unknown."
    assert machine.busy_note(1.5, 1.9, others=0.02).startswith(
        "The machine was quiet (2% of the CPU went to other processes during the run"
    )
    assert machine.busy_note(0.1, 0.9, others=0.4).startswith("The machine was busy")


def test_other_work_is_the_machine_s_cpu_time_less_our_own(monkeypatch):
    """Made-up clocks: over 10 s on 2 cores the machine was busy 12 CPU seconds,
    9 of them ours (this process and its ended children): others used 15%."""
    clocks = {"machine": (100.0, 2), "own": 50.0, "wall": 1000.0}
    monkeypatch.setattr(machine, "_machine_busy_seconds", lambda: clocks["machine"])
    monkeypatch.setattr(machine, "_own_seconds", lambda: clocks["own"])
    monkeypatch.setattr(machine.time, "monotonic", lambda: clocks["wall"])
    meter = machine.OtherWork()
    clocks.update(machine=(112.0, 2), own=59.0, wall=1010.0)
    assert meter.share() == pytest.approx(0.15)
    monkeypatch.setattr(machine, "_machine_busy_seconds", lambda: None)
    assert machine.OtherWork().share() is None


def test_the_machine_s_cpu_time_is_read_from_proc_stat():
    first = machine._machine_busy_seconds()
    if first is None:
        pytest.skip("no /proc/stat here")
    sum(range(5_000_000))  # some work of our own
    second = machine._machine_busy_seconds()
    assert second[0] > first[0] and second[1] >= 1


def test_notebooks_run_side_by_side_with_jobs():
    """--jobs 2: the stand-in runs in worker processes, and every run is still
    timed, graded and checked."""
    options = run_all.Options(quick=True, jobs=2, modes=["cpu", "fast"])
    text = notebooks.run(options)
    assert "2 notebooks ran at a time" in text
    assert "| stand-in (quick mode) |" in text and "| 1/1 | 1/1 | yes |" in text
