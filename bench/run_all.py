"""Run the benchmarks and write their sections of bench/RESULTS.md.

    python -m bench                      # everything (about 20 minutes on 2 quiet cores)
    python -m bench --only notebooks     # one benchmark (repeatable option)
    python -m bench --quick              # tiny sizes, seconds; writes no file
    python -m bench --device cuda        # also on the GPU (and USE_GPU on/off)

Benchmarks, in the order they run: throughput (lm_throughput.py), perplexity
(time_to_perplexity.py), notebooks (notebooks.py), forecaster (forecaster.py:
lesson 01's test RMSE over seeds), and autograde
(autograde_throughput.py, written separately; run as its own program with
--quick and --output passed on, when it is present). Each section of
RESULTS.md starts with the machine and the load average before and after the
run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/run_all.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from bench import forecaster, lm_throughput, machine, notebooks, report, time_to_perplexity

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"
AUTOGRADE_SCRIPT = BENCH_DIR / "autograde_throughput.py"
MODULES = {m.NAME: m for m in (lm_throughput, time_to_perplexity, notebooks, forecaster)}
NAMES = [*MODULES, "autograde"]


@dataclass
class Options:
    quick: bool = False
    repeat: int | None = None  # None: each benchmark's own default
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    threads: int = 1
    cap: float | None = None  # time-to-perplexity cap per model, seconds
    lessons: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)  # notebooks; empty: every mode
    jobs: int = 1  # notebooks run at a time


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure the course's speed and write bench/RESULTS.md.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    parser.add_argument(
        "--only",
        action="append",
        choices=NAMES,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(NAMES)}",
    )
    parser.add_argument("--repeat", type=int, help="runs per figure (default: 3; 1 for perplexity)")
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="cuda: measure on the GPU as well as on the CPU (default: cuda if there is one)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch CPU threads (default: torch's, %(default)s here); throughput also runs 1",
    )
    parser.add_argument("--cap", type=float, help="time-to-perplexity cap per model, seconds")
    parser.add_argument(
        "--lesson",
        action="append",
        default=[],
        metavar="ID",
        help="notebooks: time only this lesson (repeatable)",
    )
    parser.add_argument(
        "--mode",
        action="append",
        default=[],
        choices=notebooks.MODES,
        help="notebooks: run only this way (repeatable; default: cpu, fast and, with "
        "--device cuda, cuda)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="notebooks: run this many at a time (GPU runs still one at a time; default 1)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="Markdown file to update (default: bench/RESULTS.md; none with --quick)",
    )
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if "cuda" in args.mode and args.device != "cuda":
        parser.error("--mode cuda needs --device cuda")
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device cuda, but torch {torch.__version__} sees no CUDA GPU here")
    return args


def section(title: str, command: str, watch: machine.Watch, body: str) -> str:
    info = machine.describe()
    return "\n\n".join(
        [
            f"## {title}",
            f"Measured {info['when']} on {machine.summary(info)}.  \n"
            f"Command: `{command}`  \n"
            f"Before: `{watch.before}`  \n"
            f"After: `{watch.after}`",
            watch.note,
            body,
        ]
    )


def autograde_command(args: argparse.Namespace) -> list[str]:
    """The autograding benchmark is its own program; it writes its own section."""
    cmd = [sys.executable, str(AUTOGRADE_SCRIPT)] + (["--quick"] if args.quick else [])
    if args.output is not None:
        cmd += ["--output", str(args.output)]
    return cmd


def run_autograde(args: argparse.Namespace) -> int:
    if not AUTOGRADE_SCRIPT.is_file():
        print(f"autograde: {AUTOGRADE_SCRIPT.name} is not there yet; skipped")
        return 0
    cmd = autograde_command(args)
    print(f"autograde: {' '.join(cmd)}", flush=True)
    return subprocess.run(cmd, cwd=BENCH_DIR.parent).returncode


def section_name(name: str, options: Options) -> str:
    """A GPU machine's figures get sections of their own, beside the CPU machine's."""
    return f"{name}-gpu" if "cuda" in options.devices else name


def run_one(name: str, options: Options, command: str, output: Path | None) -> None:
    """Run one benchmark, print its section and write it into ``output``."""
    module = MODULES[name]
    watch = machine.Watch()
    print(f"\n{module.TITLE}\n  {watch.before}", flush=True)
    start = time.perf_counter()
    body = module.run(options)
    watch.stop()
    print(f"  {watch.after}\n  ({time.perf_counter() - start:.0f} s)", flush=True)
    title = module.TITLE
    if "cuda" in options.devices:
        title += f", on a GPU machine ({machine.gpu_name()})"
    text = section(title, command, watch, body)
    print("\n" + text + "\n", flush=True)
    if output is not None:
        report.update_section(output, section_name(name, options), text)
        print(f"  -> {output}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    output = args.output or (None if args.quick else RESULTS)
    options = Options(
        quick=args.quick,
        repeat=args.repeat,
        devices=["cpu", "cuda"] if args.device == "cuda" else ["cpu"],
        threads=args.threads,
        cap=args.cap,
        lessons=args.lesson,
        modes=args.mode,
        jobs=args.jobs,
    )
    command = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])
    threads_before = torch.get_num_threads()
    torch.set_num_threads(options.threads)  # restored for callers such as the tests
    failed = 0
    try:
        print(f"Machine: {machine.summary()}", flush=True)
        for name in args.only or NAMES:
            if name == "autograde":
                failed += run_autograde(args) != 0
            else:
                run_one(name, options, command, output)
    finally:
        torch.set_num_threads(threads_before)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
