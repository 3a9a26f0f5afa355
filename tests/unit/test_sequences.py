"""Tests of rnncourse.teaching.sequences: windows, splits, baselines (lesson 01) and
language-model minibatches (lesson 03)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from rnncourse.teaching.sequences import (
    chronological_split,
    make_windows,
    naive_forecast,
    rmse,
    seasonal_naive,
    seq_data_iter_random,
    seq_data_iter_sequential,
)

# --- make_windows -----------------------------------------------------------


@pytest.mark.parametrize("window,horizon", [(1, 1), (3, 1), (4, 2), (9, 1), (1, 9)])
def test_make_windows_matches_definition(window, horizon):
    series = torch.arange(10, dtype=torch.float32) * 1.5
    X, y = make_windows(series, window, horizon)
    N = len(series) - window - horizon + 1
    assert X.shape == (N, window, 1)
    assert y.shape == (N, horizon)
    for i in range(N):
        assert torch.equal(X[i, :, 0], series[i : i + window])
        assert torch.equal(y[i], series[i + window : i + window + horizon])


@pytest.mark.parametrize(
    "series",
    [[1, 2, 3, 4, 5], np.array([1.0, 2.0, 3.0, 4.0, 5.0]), torch.arange(1, 6)],
)
def test_make_windows_accepts_list_numpy_tensor_and_returns_float(series):
    X, y = make_windows(series, 2)
    assert X.dtype == torch.float32 and y.dtype == torch.float32
    assert X[:, :, 0].tolist() == [[1, 2], [2, 3], [3, 4]]
    assert y.tolist() == [[3], [4], [5]]


def test_make_windows_returns_float32_the_dtype_of_rnn_weights():
    for series in [torch.arange(6, dtype=torch.float64), np.arange(6.0)]:
        X, y = make_windows(series, 2)
        assert X.dtype == torch.float32 and y.dtype == torch.float32


def test_make_windows_window_filling_the_series_gives_one_pair():
    X, y = make_windows([1.0, 2.0, 3.0], 2, 1)
    assert X.shape == (1, 2, 1) and y.tolist() == [[3.0]]


@pytest.mark.parametrize("window,horizon", [(3, 1), (5, 1), (2, 2)])  # window + horizon > T
def test_make_windows_rejects_a_window_that_does_not_fit(window, horizon):
    with pytest.raises(ValueError, match="no window fits"):
        make_windows([1.0, 2.0, 3.0], window, horizon)


# --- chronological_split ----------------------------------------------------


def test_chronological_split_keeps_order():
    series = torch.arange(10.0)
    train, test = chronological_split(series, 3)
    assert torch.equal(train, torch.arange(7.0))
    assert torch.equal(test, torch.tensor([7.0, 8.0, 9.0]))
    assert chronological_split([1, 2, 3, 4], 1) == ([1, 2, 3], [4])
    months = pd.Series(range(24), index=pd.date_range("1949-01", periods=24, freq="MS"))
    train, test = chronological_split(months, 12)
    assert train.tolist() == list(range(12)) and test.index[0] == pd.Timestamp("1950-01")


@pytest.mark.parametrize("test_size", [0, 4, 5, -1])
def test_chronological_split_rejects_bad_test_size(test_size):
    with pytest.raises(ValueError):
        chronological_split([1, 2, 3, 4], test_size)


# --- baselines and RMSE -----------------------------------------------------


def test_naive_forecast_repeats_last_value():
    assert naive_forecast([1.0, 5.0, 2.0], 4).tolist() == [2.0, 2.0, 2.0, 2.0]
    with pytest.raises(ValueError):
        naive_forecast([], 2)


def test_seasonal_naive_repeats_last_season():
    history = torch.arange(1.0, 25.0)  # two "years" 1..12, 13..24
    assert seasonal_naive(history, 12).tolist() == list(range(13, 25))
    assert seasonal_naive(history, 3).tolist() == [13, 14, 15]


def test_seasonal_naive_cycles_when_horizon_exceeds_season():
    history = [9.0, 1.0, 2.0, 3.0]
    assert seasonal_naive(history, 7, season=3).tolist() == [1, 2, 3, 1, 2, 3, 1]


def test_rmse_against_hand_computation():
    pred = torch.tensor([1.0, 2.0, 3.0, 4.0])
    target = torch.tensor([1.0, 0.0, 3.0, 8.0])
    assert rmse(pred, target) == pytest.approx(math.sqrt((4 + 16) / 4))
    assert isinstance(rmse(torch.ones(3), torch.ones(3)), float)
    assert rmse(torch.ones(3), torch.ones(3)) == 0.0
    # a model's output (requires grad) against float64 targets
    pred = torch.tensor([1.0, 3.0], requires_grad=True)
    assert rmse(pred, torch.ones(2, dtype=torch.float64)) == pytest.approx(math.sqrt(2))


def test_rmse_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        rmse(torch.zeros(3, 1), torch.zeros(3))


# --- language-model minibatches ---------------------------------------------

ITERATORS = [seq_data_iter_random, seq_data_iter_sequential]


@pytest.mark.parametrize("data_iter", ITERATORS)
@pytest.mark.parametrize("seed", range(5))
def test_minibatches_shapes_dtype_and_shift(data_iter, seed):
    # With corpus = 0, 1, 2, ... a token's value is its position in the corpus.
    corpus = list(range(103))
    torch.manual_seed(seed)
    batches = list(data_iter(corpus, 4, 5))
    assert len(batches) >= 1
    for X, Y in batches:
        assert X.shape == (4, 5) and Y.shape == (4, 5)
        assert X.dtype == torch.long and Y.dtype == torch.long
        assert torch.equal(Y, X + 1), "Y must be X shifted by one token"
        # every row is a contiguous piece of the corpus
        assert torch.equal(X[:, 1:], X[:, :-1] + 1)


def test_random_iterator_covers_disjoint_subsequences():
    corpus = torch.arange(1000)
    for seed in range(5):
        torch.manual_seed(seed)
        batches = list(seq_data_iter_random(corpus, 3, 7))
        starts = torch.cat([X[:, 0] for X, _ in batches])
        offset = int(starts.min())
        assert 0 <= offset < 7
        assert len(set(starts.tolist())) == len(starts), "subsequences must not repeat"
        assert all((s - offset) % 7 == 0 for s in starts.tolist()), "subsequences must not overlap"
        num_subseqs = (1000 - offset - 1) // 7
        assert len(batches) == num_subseqs // 3
        # shuffled: the start positions are not in reading order
        assert starts.tolist() != sorted(starts.tolist())


def test_sequential_iterator_continues_rows_across_minibatches():
    corpus = torch.arange(500)
    for seed in range(5):
        torch.manual_seed(seed)
        batches = list(seq_data_iter_sequential(corpus, 4, 6))
        offset = int(batches[0][0][0, 0])
        assert 0 <= offset < 6
        stream_len = (500 - offset - 1) // 4
        assert len(batches) == stream_len // 6
        for (X_prev, _), (X_next, _) in zip(batches, batches[1:], strict=False):
            assert torch.equal(X_next[:, 0], X_prev[:, -1] + 1), (
                "row b of the next minibatch must continue row b of this one"
            )
        # the rows are the batch_size consecutive streams of the corpus
        assert torch.equal(batches[0][0][:, 0], offset + stream_len * torch.arange(4))


@pytest.mark.parametrize("data_iter", ITERATORS)
def test_seeding_makes_minibatches_reproducible(data_iter):
    corpus = torch.arange(300)
    runs = []
    for _ in "ab":
        torch.manual_seed(3)
        runs.append(list(data_iter(corpus, 2, 5)))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(*runs, strict=True))


@pytest.mark.parametrize("data_iter", ITERATORS)
def test_shortest_corpus_still_gives_a_minibatch(data_iter):
    # (batch_size + 1) * num_steps tokens is enough whatever the random offset
    for seed in range(10):
        torch.manual_seed(seed)
        assert len(list(data_iter(list(range(15)), 2, 5))) == 1
