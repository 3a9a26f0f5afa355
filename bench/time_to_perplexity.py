"""Wall time for each language model to reach a training perplexity.

d2l's setting: the first 10,000 characters of The Time Machine, batch 32,
35 steps, sequential partitioning, SGD lr 1 with gradient clipping 1, H = 512;
plus the recipe lesson 03 uses (Adam lr 0.005, clip 1, H = 256). Training
runs epoch by epoch through rnncourse's ``train_language_model`` (one call
per epoch, the optimizer and its state kept between calls) until the model
reaches every target or spends its time cap; a target not reached is
reported as "> cap".

The clock counts only the training calls. When a target is reached, the
perplexity on the next 10,000 characters (held out, never trained on) is
taken with the clock stopped: a training perplexity near 1 on 10,000
characters is memorisation, and the held-out figure shows how much.

Run alone: ``python -m bench --only perplexity``.
"""

from __future__ import annotations

import math

import torch

from bench import report
from bench.language_models import MODELS, build_model
from rnncourse import (
    evaluate_perplexity,
    load_corpus_time_machine,
    seed_everything,
    train_language_model,
)

NAME = "perplexity"
TITLE = "Time to a training perplexity (character LM, first 10,000 characters)"

BATCH_SIZE, NUM_STEPS = 32, 35
TRAIN_TOKENS = 10_000  # d2l's setting
TARGETS = (2.0, 1.5)
CAP = 150.0  # seconds of training per model and recipe
# (optimizer, lr, hidden size): d2l's recipe, then lesson 03's
RECIPES = (("sgd", 1.0, 512), ("adam", 0.005, 256))
QUICK = {"tokens": 2 * BATCH_SIZE * NUM_STEPS + NUM_STEPS + 1, "hidden": 16, "cap": 0.5}

PERF_NOTES = {  # docs/perf-notes.md: (model, optimizer, H) -> (ppl 2.0, ppl 1.5)
    ("nn.RNN", "sgd", 256): ("~13-18 s", "~18-26 s"),
    ("nn.LSTM", "sgd", 256): ("~45 s", "~49 s"),
    ("scratch RNN", "sgd", 512): ("~78 s", "~99 s"),
    ("nn.RNN", "adam", 256): ("~8-10 s (lr 0.002)", "~12 s (lr 0.002)"),
    ("nn.GRU", "adam", 256): ("~5 s (lr 0.01)", "~6-7 s (lr 0.01)"),
}


def _keep_optimizer(kind):
    """An optimizer factory that builds once and then returns the same optimizer,
    so that Adam's moments survive from one epoch's call to the next."""
    made = []

    def factory(params, lr):
        if not made:
            made.append(
                torch.optim.SGD(params, lr) if kind == "sgd" else torch.optim.Adam(params, lr)
            )
        return made[0]

    return factory


def race(name, kind, lr, num_hiddens, data, device, cap, seed):
    """Train one model until it reaches every target or spends ``cap`` seconds.

    data: (train ids, held-out ids, vocab); kind: "sgd" or "adam".

    Returns {"reached": {target: (seconds, epoch, held-out ppl)}, "epochs",
    "seconds", "final_ppl", "diverged"}.
    """
    train, val, vocab = data
    seed_everything(seed)
    net = build_model(name, len(vocab), num_hiddens, device)
    factory = _keep_optimizer(kind)
    reached, seconds, epochs, ppl, diverged = {}, 0.0, 0, math.inf, False
    while seconds < cap and len(reached) < len(TARGETS):
        history = train_language_model(
            net,
            train,
            vocab,
            num_epochs=1,
            lr=lr,
            device=device,
            batch_size=BATCH_SIZE,
            num_steps=NUM_STEPS,
            optimizer=factory,
            clip=1.0,
            plot=False,
            progress=False,
            predict_prefix=None,
            time_budget=cap - seconds,
        )
        seconds += history.elapsed
        epochs += 1
        ppl = history.train_ppl[-1]
        if history.stop_reason == "diverged":
            diverged = True
            break
        for target in TARGETS:
            if target not in reached and ppl <= target and history.stop_reason is None:
                held_out = evaluate_perplexity(net, val, BATCH_SIZE, NUM_STEPS, device)
                reached[target] = (seconds, epochs, held_out)
    return {
        "reached": reached,
        "epochs": epochs,
        "seconds": seconds,
        "final_ppl": ppl,
        "diverged": diverged,
    }


def run(options) -> str:
    quick = options.quick
    tokens = QUICK["tokens"] if quick else TRAIN_TOKENS
    cap = options.cap or (QUICK["cap"] if quick else CAP)
    repeat = options.repeat or 1
    corpus, vocab = load_corpus_time_machine(2 * tokens)
    data = (corpus[:tokens], corpus[tokens:], vocab)
    rows = []
    for device in race_devices(options):
        for kind, lr, hidden in RECIPES:
            hidden = QUICK["hidden"] if quick else hidden
            for name in MODELS:
                runs = [
                    race(name, kind, lr, hidden, data, device, cap, seed) for seed in range(repeat)
                ]
                rows.append(_row(name, (kind, lr, hidden), device, runs, cap))
                print("  " + " | ".join(rows[-1]), flush=True)
    seeds = "one seed" if repeat == 1 else f"median of {repeat} seeds"
    notes = (
        f"Training on the first {tokens:,} characters, batch {BATCH_SIZE}, {NUM_STEPS} steps, "
        f"sequential partitioning, clip 1. Cap {cap:g} s of training per "
        f"model; {seeds}; {_threads()}. A cell reads "
        "'seconds (epoch, held-out ppl)': the training time until the epoch whose training "
        "perplexity first reached the target, and the perplexity on the next "
        f"{tokens:,} characters at that moment. PERF-NOTES: docs/perf-notes.md "
        "(2 threads; H and lr as noted)."
    )
    header = ["model", "recipe", "device"] + [f"ppl {t:.1f}" for t in TARGETS]
    header += ["epochs run, final train ppl (seed 0)", "PERF-NOTES (ppl 2.0 / 1.5)"]
    return notes + "\n\n" + report.table(header, rows)


def race_devices(options) -> list[str]:
    """The GPU alone when there is one (the CPU's races belong to the 2-core
    machine students have, not to the CPU of a GPU server), else the CPU."""
    return [d for d in options.devices if d != "cpu"] or ["cpu"]


def _threads():
    n = torch.get_num_threads()
    return f"{n} torch thread{'s' if n > 1 else ''}"


def _row(name, recipe, device, runs, cap):
    kind, lr, hidden = recipe
    cells = [name, f"{kind} lr {lr:g}, H {hidden}", device]
    for target in TARGETS:
        times = [r["reached"][target][0] if target in r["reached"] else math.inf for r in runs]
        got = [r["reached"][target] for r in runs if target in r["reached"]]
        if math.isinf(report.median(times)):
            cells.append("diverged" if any(r["diverged"] for r in runs) else f"> cap ({cap:g} s)")
            continue
        seconds, epoch, held_out = sorted(got)[len(got) // 2]
        part = "" if len(got) == len(runs) else f", {len(got)}/{len(runs)} runs"
        cells.append(f"{report.median(times):.1f} s (epoch {epoch}, held-out {held_out:.1f}{part})")
    first = runs[0]  # seed 0
    state = "diverged" if first["diverged"] else f"{first['final_ppl']:.2f}"
    cells.append(f"{first['epochs']} epochs in {first['seconds']:.0f} s, {state}")
    before = PERF_NOTES.get((name, kind, hidden))
    cells.append(" / ".join(before) if before else "-")
    return cells
