"""Tests of rnncourse.teaching.device and rnncourse.teaching.seed: the first cell of every lesson.

GPUs are faked by monkeypatching torch's availability checks, so every branch
runs on a CPU-only machine.
"""

import random
import warnings

import numpy as np
import pytest
import torch

from rnncourse.teaching.device import (
    DEVICE_ENV,
    available_devices,
    environment_stamp,
    pick_device,
    resolve_device,
)
from rnncourse.teaching.seed import seed_everything


@pytest.fixture
def machine(monkeypatch):
    """Set which GPUs torch reports: ``machine(cuda=True)``, ``machine(mps=True)``."""
    monkeypatch.delenv(DEVICE_ENV, raising=False)

    def fake(cuda=False, mps=False):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA Fake 80GB")

    return fake


def pick_quietly(use_gpu):
    """pick_device, failing the test if it warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return pick_device(use_gpu)


def one_line(capsys):
    out = capsys.readouterr().out
    assert out.endswith("\n") and out.count("\n") == 1, f"expected one printed line, got {out!r}"
    return out


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, False, "cuda"), (True, True, "cuda"), (False, True, "mps")],
)
def test_use_gpu_takes_the_best_gpu(machine, capsys, cuda, mps, expected):
    machine(cuda=cuda, mps=mps)
    assert pick_quietly(True) == torch.device(expected)
    line = one_line(capsys)
    assert line.startswith(f"Using {expected}") and "USE_GPU is True" in line


def test_cuda_line_names_the_gpu(machine, capsys):
    machine(cuda=True)
    pick_quietly(True)
    assert "NVIDIA Fake 80GB" in one_line(capsys)


def test_no_gpu_warns_and_falls_back_to_cpu(machine, capsys):
    machine()
    with pytest.warns(UserWarning, match="USE_GPU = False"):
        device = pick_device(True)
    assert device == torch.device("cpu")
    line = one_line(capsys)
    assert line.startswith("Using cpu") and "no CUDA or MPS GPU" in line


@pytest.mark.parametrize(("cuda", "mps"), [(False, False), (True, True)])
def test_use_gpu_false_always_gives_cpu(machine, capsys, cuda, mps):
    machine(cuda=cuda, mps=mps)
    assert pick_quietly(False) == torch.device("cpu")
    assert "USE_GPU is False" in one_line(capsys)


def test_environment_overrides_the_toggle(machine, monkeypatch, capsys):
    machine(cuda=True)
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert pick_quietly(True) == torch.device("cpu")  # the autograder's setting
    assert f"{DEVICE_ENV}=cpu overrides USE_GPU" in one_line(capsys)
    monkeypatch.setenv(DEVICE_ENV, " CUDA ")  # case and spaces do not matter
    assert pick_quietly(False) == torch.device("cuda")


def test_environment_asking_for_an_absent_gpu_raises(machine, monkeypatch):
    machine(mps=True)
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    with pytest.raises(RuntimeError, match=rf"{DEVICE_ENV}=cuda .*CUDA GPU.*{DEVICE_ENV}=cpu"):
        pick_device(True)


def test_environment_unknown_value_lists_the_choices(machine, monkeypatch):
    machine()
    monkeypatch.setenv(DEVICE_ENV, "tpu")
    with pytest.raises(ValueError, match="'tpu'.*cpu, cuda, mps"):
        pick_device(False)


def test_empty_environment_value_means_unset(machine, monkeypatch):
    machine(cuda=True)
    monkeypatch.setenv(DEVICE_ENV, "")
    assert pick_quietly(True) == torch.device("cuda")


def test_toggle_must_be_a_bool(machine):
    with pytest.raises(TypeError, match="True or False"):
        pick_device("cpu")


def test_resolve_device_is_silent(machine, capsys):
    machine()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        device, reason = resolve_device(True)
    assert device == torch.device("cpu") and "no CUDA or MPS GPU" in reason
    assert capsys.readouterr() == ("", "")


def test_available_devices_lists_gpus_first(machine):
    machine(cuda=True, mps=True)
    assert available_devices() == ["cuda", "mps", "cpu"]
    machine()
    assert available_devices() == ["cpu"]


def test_environment_stamp_cpu():
    stamp = environment_stamp(torch.device("cpu"))
    assert "\n" not in stamp
    assert f"torch {torch.__version__}" in stamp
    assert "cpu (" in stamp and f"{torch.get_num_threads()} threads" in stamp


def test_environment_stamp_names_the_cuda_gpu(machine):
    machine(cuda=True)
    assert "cuda (NVIDIA Fake 80GB)" in environment_stamp("cuda")


# --- seed_everything -------------------------------------------------------------


def draws():
    return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()


def test_seed_everything_repeats_every_generator():
    seed_everything(123)
    first = draws()
    seed_everything(123)
    assert draws() == first
    seed_everything(124)
    second = draws()
    assert all(a != b for a, b in zip(first, second, strict=True)), "each generator was seeded"


def test_seed_everything_returns_nothing():
    assert seed_everything(0) is None


@pytest.mark.parametrize(
    ("seed", "error"), [(-1, ValueError), (2**32, ValueError), (1.5, TypeError)]
)
def test_seed_everything_rejects_bad_seeds(seed, error):
    with pytest.raises(error, match="seed"):
        seed_everything(seed)
