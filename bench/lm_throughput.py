"""Training throughput of the character language model, in tokens per second.

Dive into Deep Learning's setting: The Time Machine, batch 32, 35 steps, SGD
lr 1 with gradient clipping 1, sequential partitioning. Each model is trained
by rnncourse's own loop (``train_language_model``), which times its training
steps only; one warm-up epoch on a short slice comes first (allocations,
kernel selection), then ``repeat`` timed epochs over the corpus slice, and
the median is reported. An epoch stops after 10 s (tokens/s counts the
minibatches it ran), so a very slow setting costs little time.

On the CPU every model runs with 1 torch thread and with the default number
of threads (the number of cores), because the two can differ a lot on a
shared machine. With ``--device cuda`` every model also runs on the GPU.

Run alone: ``python -m bench --only throughput``.
"""

from __future__ import annotations

import torch

from bench import report
from bench.language_models import MODELS, build_model
from rnncourse import load_corpus_time_machine, seed_everything, train_language_model

NAME = "throughput"
TITLE = "Language-model training throughput (tokens/s)"

BATCH_SIZE, NUM_STEPS = 32, 35
HIDDENS = (256, 512)  # 512 is d2l's; the lessons use 256
TOKENS = 20_000  # corpus slice per timed epoch: ~17 minibatches
EPOCH_BUDGET = 10.0  # seconds: a timed epoch stops early (tokens/s is still exact) when slow
WARMUP_TOKENS = 3 * BATCH_SIZE * NUM_STEPS + 1
QUICK = {"hiddens": (16,), "tokens": 2 * BATCH_SIZE * NUM_STEPS + NUM_STEPS + 1, "repeat": 1}

# Earlier measurements, for comparison (tokens/s at H = 512; PERF-NOTES at H = 256 too).
PERF_NOTES_CPU = {  # docs/perf-notes.md: 2 cores, 2 threads, median of 3
    256: {
        "scratch RNN": "~95,000",
        "nn.RNN": "~100,000",
        "nn.GRU": "~45,000",
        "nn.LSTM": "~55,000",
    },
    512: {
        "scratch RNN": "~27,000-44,000",
        "nn.RNN": "~32,000-46,000",
        "nn.GRU": "~11,000-16,000",
        "nn.LSTM": "~13,000-15,000",
    },
}
D2L_GPU_512 = {  # Dive into Deep Learning (zh 2.0), an unnamed GPU, H = 512
    "scratch RNN": "67,213",
    "nn.RNN": "404,414",
    "nn.GRU": "109,424",
    "nn.LSTM": "234,815",
}


def measure(name, corpus, vocab, num_hiddens, device, repeat):
    """tokens/s of ``repeat`` timed epochs of one model (list, one per epoch)."""
    seed_everything(0)
    net = build_model(name, len(vocab), num_hiddens, device)
    settings = dict(
        lr=1.0,
        device=device,
        batch_size=BATCH_SIZE,
        num_steps=NUM_STEPS,
        optimizer="sgd",
        clip=1.0,
        plot=False,
        progress=False,
        predict_prefix=None,
        time_budget=EPOCH_BUDGET,
    )
    train_language_model(net, corpus[:WARMUP_TOKENS], vocab, num_epochs=1, **settings)
    return [
        train_language_model(net, corpus, vocab, num_epochs=1, **settings).tokens_per_sec
        for _ in range(repeat)
    ]


def settings_for(options):
    """[(device, threads)] to measure: the CPU at 1 and the default threads, then GPUs."""
    cpu_threads = sorted({1, options.threads})
    found = [("cpu", n) for n in cpu_threads]
    found += [(device, options.threads) for device in options.devices if device != "cpu"]
    return found


def label(device, threads):
    if device == "cpu":
        return f"cpu, {threads} thread{'s' if threads > 1 else ''}"
    return device


def run(options) -> str:
    hiddens = QUICK["hiddens"] if options.quick else HIDDENS
    tokens = QUICK["tokens"] if options.quick else TOKENS
    repeat = options.repeat or (QUICK["repeat"] if options.quick else 3)
    corpus, vocab = load_corpus_time_machine(tokens)
    settings = settings_for(options)
    rates = {}  # (hidden, model, setting) -> [tokens/s]
    try:
        for device, threads in settings:
            torch.set_num_threads(threads)
            for num_hiddens in hiddens:
                for name in MODELS:
                    got = measure(name, corpus, vocab, num_hiddens, device, repeat)
                    rates[num_hiddens, name, (device, threads)] = got
                    print(
                        f"  {name:<12} H={num_hiddens:<4} {label(device, threads):<16} "
                        f"{report.spread(got, 0):>28} tokens/s",
                        flush=True,
                    )
    finally:
        torch.set_num_threads(options.threads)
    return _tables(rates, hiddens, settings, options, repeat, tokens)


def _tables(rates, hiddens, settings, options, repeat, tokens):
    cpu = [s for s in settings if s[0] == "cpu"]
    many = cpu[-1]  # the default thread count (== 1 on a one-core machine)
    gpu = [s for s in settings if s[0] != "cpu"]
    header = ["model", "H"] + [f"{label(*s)}" for s in cpu]
    if many != cpu[0]:
        header.append(f"{many[1]} threads / 1")
    if gpu:
        header += [f"GPU ({label(*gpu[0])})", "GPU / CPU"]
    header += ["PERF-NOTES (cpu)", "d2l (GPU)"]
    rows = []
    for num_hiddens in hiddens:
        for name in MODELS:
            med = {s: report.median(rates[num_hiddens, name, s]) for s in settings}
            row = [name, str(num_hiddens)]
            row += [report.spread(rates[num_hiddens, name, s], 0) for s in cpu]
            if many != cpu[0]:
                row.append(report.ratio(med[many], med[cpu[0]]))
            if gpu:
                best_cpu = max(med[s] for s in cpu)
                row += [report.spread(rates[num_hiddens, name, gpu[0]], 0)]
                row += [report.ratio(med[gpu[0]], best_cpu)]
            row.append(PERF_NOTES_CPU.get(num_hiddens, {}).get(name, "-"))
            row.append(D2L_GPU_512[name] if num_hiddens == 512 else "-")
            rows.append(row)
    scratch = []
    for num_hiddens in hiddens:
        for s in settings:
            r = report.ratio(
                report.median(rates[num_hiddens, "scratch RNN", s]),
                report.median(rates[num_hiddens, "nn.RNN", s]),
            )
            scratch.append([str(num_hiddens), label(*s), r])
    return "\n\n".join(
        [
            f"Batch {BATCH_SIZE}, {NUM_STEPS} steps, SGD lr 1, clip 1, sequential "
            f"partitioning; an epoch over the first {tokens:,} characters of The Time "
            f"Machine, median of {repeat} epoch{'s' if repeat > 1 else ''} (range in "
            f"brackets) after one warm-up epoch; an epoch stops after {EPOCH_BUDGET:g} s. "
            "GPU / CPU divides by the faster CPU setting. PERF-NOTES: "
            "docs/perf-notes.md (2 threads); d2l: Dive into Deep Learning "
            "(zh 2.0), an unnamed GPU, H = 512.",
            report.table(header, rows),
            "From-scratch RNN relative to nn.RNN (same run, same setting):",
            report.table(["H", "setting", "scratch / nn.RNN"], scratch),
        ]
    )
