"""Sequences as training data: sliding windows and baselines (lesson 01) and
minibatches of a token corpus for a language model (lesson 03).

Shapes use the package's letters: N batch, L sequence length, T length of a
whole series or corpus.
"""

import numpy as np
import torch

from .arguments import positive_int


def _as_series(series, name="series"):
    """A 1-D float tensor from a list, NumPy array, pandas Series or tensor.

    A floating-point tensor keeps its dtype; everything else becomes torch's
    default float dtype (float32), the dtype of ``nn.RNN``'s weights, so a
    float64 NumPy series does not clash with them.
    """
    if isinstance(series, torch.Tensor):
        s = series if series.is_floating_point() else series.to(torch.get_default_dtype())
    else:
        # np.array copies: pandas 3 hands out read-only arrays, which torch warns about
        s = torch.as_tensor(np.array(series, dtype=np.float64), dtype=torch.get_default_dtype())
    if s.dim() != 1:
        raise ValueError(f"{name} must be 1-D with shape (T,), got shape {tuple(s.shape)}")
    return s


def make_windows(series, window, horizon=1):
    """Cut a series into (input window, target) pairs with a sliding window.

    Inputs:
    - series: (T,) tensor, NumPy array or list of numbers
    - window: number of past values each input holds
    - horizon: number of following values each target holds

    Returns (X, y), float32 tensors (the dtype of ``nn.RNN``'s weights):
    - X: (N, window, 1), X[i, :, 0] = series[i : i + window]
    - y: (N, horizon), y[i] = series[i + window : i + window + horizon]
    where N = T - window - horizon + 1. The trailing 1 of X is H_in, one feature
    per time step, so X can go straight into an ``nn.RNN(batch_first=True)``.
    Raises ValueError if window + horizon > T: no window fits.
    """
    s = torch.as_tensor(series, dtype=torch.float32)  # (T,)
    if window + horizon > len(s):
        raise ValueError(
            f"window + horizon = {window} + {horizon} is longer than the series "
            f"(length {len(s)}): no window fits"
        )
    N = len(s) - window - horizon + 1
    X = torch.stack([s[i : i + window] for i in range(N)]).unsqueeze(-1)  # (N, window, 1)
    y = torch.stack([s[i + window : i + window + horizon] for i in range(N)])  # (N, horizon)
    return X, y


def chronological_split(series, test_size):
    """Split a series into (train, test) without shuffling: test is the last
    ``test_size`` values, train everything before them.

    Works on lists, NumPy arrays, pandas Series and tensors (slices keep the
    input's type). test_size must be in 1 .. T - 1, else ValueError.
    Shuffling a time series would let the model see the future it is tested on.
    """
    if not 0 < test_size < len(series):  # series[-0:] would be the whole series
        raise ValueError(
            f"test_size must be in 1 .. {len(series) - 1} (the series has {len(series)} "
            f"values, and both parts need some), got {test_size}"
        )
    return series[:-test_size], series[-test_size:]


def naive_forecast(history, horizon):
    """The last-value baseline: the next ``horizon`` values all equal the last one.

    Returns a (horizon,) float tensor.
    """
    h = _as_series(history, "history")
    positive_int(horizon, "horizon")
    if len(h) == 0:
        raise ValueError("history is empty: there is no last value to repeat")
    return h[-1].repeat(horizon)  # (horizon,)


def seasonal_naive(history, horizon, season=12):
    """The seasonal-naive baseline: repeat the last season of the history.

    Inputs:
    - history: (T,) tensor, NumPy array or list of numbers, T >= season
    - horizon: number of values to forecast
    - season: length of one season (12 for monthly data with a yearly cycle)

    Forecast k (counting from 0) is history[T - season + k % season], so a
    horizon longer than one season cycles through the last season again.
    Returns a (horizon,) float32 tensor.
    """
    last_season = torch.as_tensor(history, dtype=torch.float32)[-season:]  # (season,)
    return last_season[torch.arange(horizon) % season]  # (horizon,), k % season for each k


def rmse(pred, target):
    """Root mean squared error sqrt(mean((pred - target)^2)) as a Python float.

    pred and target: tensors of the same shape, e.g. (N,) or (N, horizon); the
    error is computed in float64. A shape mismatch raises ValueError (no
    broadcasting: comparing a (N, 1) forecast with a (N,) target by accident
    would average N*N errors).
    """
    if pred.shape != target.shape:  # (N, 1) - (N,) would broadcast to (N, N)
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    diff = pred.detach().double() - target.double()  # a metric: no gradient needed
    return float(torch.sqrt(torch.mean(diff**2)))


def seq_data_iter_random(corpus, batch_size, num_steps):
    """Minibatches of random subsequences of a token corpus (random partitioning).

    The corpus is cut, after a random offset of 0 .. num_steps - 1 tokens, into
    non-overlapping subsequences of num_steps tokens, which are shuffled and
    grouped batch_size at a time; subsequences that do not fill a whole
    minibatch are left out. Adjacent minibatches are NOT adjacent in the text,
    so the hidden state must be reset for every minibatch. The offset and the
    shuffle are drawn from torch's global generator (which ``seed_everything``
    seeds), anew on every call: one call is one epoch.

    Inputs:
    - corpus: (T,) list or 1-D LongTensor of token ids
    - batch_size: N, subsequences per minibatch
    - num_steps: L, the length of each subsequence

    Yields (X, Y), both (N, L) LongTensors; Y is X shifted by one token:
    Y[b, t] is the token after X[b, t] in the corpus.
    """
    corpus = torch.as_tensor(corpus, dtype=torch.long)
    offset = int(torch.randint(num_steps, (1,)))
    num_subseqs = (len(corpus) - offset - 1) // num_steps  # -1: the last target
    starts = offset + num_steps * torch.randperm(num_subseqs)  # shuffled start positions
    for i in range(0, num_subseqs // batch_size * batch_size, batch_size):
        rows = starts[i : i + batch_size, None] + torch.arange(num_steps)  # (N, L) positions
        yield corpus[rows], corpus[rows + 1]


def seq_data_iter_sequential(corpus, batch_size, num_steps):
    """Minibatches of a token corpus in reading order (sequential partitioning).

    After a random offset of 0 .. num_steps - 1 tokens (drawn from torch's
    global generator, which ``seed_everything`` seeds), the corpus is split
    into batch_size equal streams (rows) of T' tokens; minibatch k holds steps
    k*num_steps .. (k+1)*num_steps - 1 of every stream. Row b of minibatch k+1
    continues row b of minibatch k in the text, so the hidden state can be
    carried from one minibatch to the next (detached, for truncated BPTT).

    Inputs:
    - corpus: (T,) list or 1-D LongTensor of token ids
    - batch_size: N, the number of streams (rows)
    - num_steps: L, the time steps per minibatch

    Yields (X, Y), both (N, L) LongTensors; Y is X shifted by one token:
    Y[b, t] is the token after X[b, t] in the corpus.
    """
    corpus = torch.as_tensor(corpus, dtype=torch.long)
    offset = int(torch.randint(num_steps, (1,)))  # cut the text elsewhere each epoch
    num_tokens = (len(corpus) - offset - 1) // batch_size * batch_size  # -1: the last target
    Xs = corpus[offset : offset + num_tokens].reshape(batch_size, -1)  # (N, T')
    Ys = corpus[offset + 1 : offset + 1 + num_tokens].reshape(batch_size, -1)  # (N, T')
    for i in range(0, Xs.shape[1] // num_steps * num_steps, num_steps):
        yield Xs[:, i : i + num_steps], Ys[:, i : i + num_steps]  # (N, L) each
