"""Training loops used around the exercises: a character language model
(lessons 03, 06, 07), a forecaster (lesson 01) and a general sequence model
trained on (X, y) tensors (lessons 04 and 07).

``train_epoch`` is lesson 03's exercise: one epoch of a language model. The
loops share one skeleton, ``_fit`` (epochs, time budget, progress bar, live
plot, history); each gives it the work of one epoch.

Every loop has the same conventions:
- ``device``: all tensors and the model go there;
- ``progress=True``: a ``tqdm`` bar over epochs (a widget in Jupyter);
  ``progress=False`` writes nothing at all, to stdout or stderr;
- ``plot=True``: a ``LivePlot`` of the loss (or perplexity) per epoch, drawn in
  place in Jupyter; the figure is returned in the history;
- ``time_budget``: seconds after which training stops at the next minibatch,
  keeping what it has learned and recording the partial epoch;
- training stops at the first epoch whose loss is inf or NaN (a diverged run
  cannot recover: its parameters are no longer finite);
- the result is a small dataclass of per-epoch lists; nothing global is kept.

Shapes use the package's letters: N batch, L sequence length, V vocabulary.
"""

import contextlib
import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .arguments import positive_int
from .plotting import LivePlot
from .scratch_rnn import perplexity, predict_chars
from .sequences import seq_data_iter_random, seq_data_iter_sequential

# --- pieces shared by every loop -----------------------------------------------------


def _make_optimizer(optimizer, params, lr):
    """ "sgd", "adam", or a factory called as optimizer(params, lr)."""
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr)
    if callable(optimizer):
        return optimizer(params, lr)
    raise ValueError(
        f'optimizer must be "sgd", "adam" or a factory (params, lr) -> Optimizer, got {optimizer!r}'
    )


def _update(loss, optimizer, params, clip):
    """One gradient step, with global-norm clipping (Pascanu et al. 2013) if clip is set."""
    optimizer.zero_grad()
    loss.backward()
    if clip is not None:
        nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()


@contextlib.contextmanager
def _evaluating(model):
    """No gradients, and eval mode (dropout off) for an nn.Module, restored afterwards."""
    was_training = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if isinstance(model, nn.Module):
            model.train(was_training)


class _Monitor:
    """The clock, progress bar and live plot around a training loop."""

    def __init__(self, num_epochs, ylabel, legend, *, progress, plot, time_budget, yscale):
        positive_int(num_epochs, "num_epochs")
        self.start = time.perf_counter()
        self.deadline = math.inf if time_budget is None else self.start + time_budget
        self.bar = None
        if progress:
            from tqdm.auto import tqdm  # picks the Jupyter widget or the console bar

            self.bar = tqdm(total=num_epochs, unit="epoch")
        self.live = LivePlot("epoch", ylabel, legend, yscale=yscale) if plot else None
        self.timed_out = False  # set once out_of_time() has said True

    def out_of_time(self):
        if time.perf_counter() >= self.deadline:
            self.timed_out = True
        return self.timed_out

    def stop_reason(self, loss, epoch, num_epochs):
        """Why to stop after this epoch: "diverged", "time_budget" or None (go on)."""
        if not math.isfinite(loss):
            return "diverged"
        if self.timed_out or (epoch < num_epochs and self.out_of_time()):
            return "time_budget"
        return None

    def elapsed(self):
        return time.perf_counter() - self.start

    def end_epoch(self, epoch, ys, postfix):
        """Add this epoch's points (one per legend entry) and advance the bar."""
        if self.live is not None:
            self.live.add(epoch, *ys)
        if self.bar is not None:
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update()

    def close(self):
        """Close the bar, draw the final plot; returns the figure (or None)."""
        if self.bar is not None:
            self.bar.close()
        return None if self.live is None else self.live.finish()


def _fit(history, one_epoch, num_epochs, ylabel, legend, *, progress, plot, time_budget, yscale):
    """The skeleton of every loop: up to num_epochs calls of one_epoch, then the history.

    ``one_epoch(out_of_time) -> (train value, plotted values, postfix)`` trains
    one epoch (stopping early once ``out_of_time()`` says True) and records it
    in ``history``; the plotted values are one per legend entry and the postfix
    is the progress bar's summary. Stops at a non-finite train value
    ("diverged") or when the time budget is spent ("time_budget"); sets
    ``history``'s stop_reason, epochs_run, figure and elapsed.
    """
    monitor = _Monitor(
        num_epochs,
        ylabel,
        legend,
        progress=progress,
        plot=plot,
        time_budget=time_budget,
        yscale=yscale,
    )
    try:
        for epoch in range(1, num_epochs + 1):
            train_value, ys, postfix = one_epoch(monitor.out_of_time)
            history.epochs_run = epoch
            monitor.end_epoch(epoch, ys, postfix)
            history.stop_reason = monitor.stop_reason(train_value, epoch, num_epochs)
            if history.stop_reason:
                break
    finally:
        history.figure = monitor.close()
    history.elapsed = monitor.elapsed()
    return history


class _Feed:
    """The minibatches (inputs, targets) of one epoch, handed out until
    ``out_of_time()`` says True (asked after each minibatch is used): the time
    budget of every loop. ``tokens`` counts the target elements handed out."""

    def __init__(self, batches, out_of_time):
        self.batches, self.out_of_time, self.tokens = batches, out_of_time, 0

    def __iter__(self):
        for X, Y in self.batches:
            self.tokens += Y.numel()
            yield X, Y
            if self.out_of_time():
                return


# --- language models -------------------------------------------------------------------


def train_epoch(net, batches, loss_fn, optimizer, device, use_random_iter, clip=1.0):
    """Train a language model for one epoch; returns the epoch's perplexity.

    Inputs:
    - net: net(X (N, L), state) -> (logits (L*N, V), state),
      net.begin_state(batch_size, device), net.parameters()
    - batches: iterable of (X, Y), both (N, L) token ids, Y = X shifted by one
    - loss_fn: loss_fn(logits (L*N, V), targets (L*N,)) -> mean loss per token
    - optimizer: a torch optimizer over net.parameters()
    - use_random_iter: True for random sampling (a fresh state every
      minibatch), False for sequential partitioning (the state is carried over)
    - clip: max global gradient norm, None for no clipping

    Returns exp(mean loss per token over the epoch), a float.
    """
    state = None
    total_loss, num_tokens = 0.0, 0
    for X, Y in batches:
        X, Y = X.to(device), Y.to(device)  # (N, L) each
        if state is None or use_random_iter:
            state = net.begin_state(batch_size=X.shape[0], device=device)  # h = 0
        else:
            # the same values, cut from the last minibatch's graph: backpropagation
            # stops at the minibatch boundary (truncated BPTT)
            state = tuple(s.detach() for s in state)
        logits, state = net(X, state)  # (L*N, V), rows time-major
        y = Y.T.reshape(-1)  # (L*N,): time-major too, so row i of logits meets y[i]
        loss = loss_fn(logits, y)  # mean over the L*N positions
        optimizer.zero_grad()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)  # before the step
        optimizer.step()
        total_loss += loss.detach() * y.numel()  # a tensor: no GPU sync per minibatch
        num_tokens += y.numel()
    return math.exp(float(total_loss) / num_tokens)


@dataclass
class LMHistory:
    """What ``train_language_model`` returns.

    - train_ppl / val_ppl: perplexity per epoch run (val_ppl empty without
      a validation corpus); a partial last epoch (time budget) is included
    - tokens_per_sec: training tokens per second of training epochs
      (validation and plotting not counted)
    - elapsed: seconds of the training loop (validation and plotting
      included, the sample after it not)
    - epochs_run: len(train_ppl)
    - stop_reason: None, "time_budget" or "diverged"
    - sample: predict_chars(predict_prefix, 50, ...) after training, or None
    - figure: the perplexity plot, or None with plot=False
    """

    train_ppl: list[float] = field(default_factory=list)
    val_ppl: list[float] = field(default_factory=list)
    tokens_per_sec: float = 0.0
    elapsed: float = 0.0
    epochs_run: int = 0
    stop_reason: str | None = None
    sample: str | None = None
    figure: object = field(default=None, repr=False)


def _perplexity_or_inf(total_nll, num_tokens):
    """perplexity(), but inf where exp overflows (a mean loss above ~709 nats)."""
    try:
        return perplexity(total_nll, num_tokens)
    except OverflowError:
        return math.inf


def _lm_nll(net, batches, device):
    """(total NLL, tokens) of a language model over sequential minibatches, no training.

    The state is carried from one minibatch to the next, as row b of each
    minibatch continues row b of the previous one.
    """
    state = None
    total_nll = torch.zeros((), device=device)
    num_tokens = 0
    for X, Y in batches:
        X, Y = X.to(device), Y.to(device)  # (N, L) each
        if state is None:
            state = net.begin_state(batch_size=X.shape[0], device=device)
        logits, state = net(X, state)  # (L*N, V)
        y = Y.T.reshape(-1)  # (L*N,), time-major like the rows of the logits
        total_nll += F.cross_entropy(logits, y, reduction="sum")
        num_tokens += y.numel()
    return float(total_nll), num_tokens


def _check_corpus(corpus, batch_size, num_steps, name="corpus"):
    """ValueError unless corpus is 1-D and long enough for one minibatch.

    The iterators' random offset can skip up to num_steps - 1 tokens, and the
    targets need one token more than the inputs: (batch_size + 1) * num_steps
    tokens always give at least one (batch_size, num_steps) minibatch.
    """
    positive_int(batch_size, "batch_size")
    positive_int(num_steps, "num_steps")
    shape = tuple(torch.as_tensor(corpus).shape)
    if len(shape) != 1:
        raise ValueError(f"{name} must be 1-D (token ids), got shape {shape}")
    needed = (batch_size + 1) * num_steps
    if shape[0] < needed:
        raise ValueError(
            f"{name} has {shape[0]} tokens, too short for one minibatch of "
            f"batch_size={batch_size} x num_steps={num_steps}: need at least "
            f"(batch_size + 1) * num_steps = {needed}"
        )


def evaluate_perplexity(net, corpus, batch_size, num_steps, device):
    """Perplexity of a language model on a corpus, without training it.

    The corpus is read with sequential partitioning (state carried over) from
    a fixed offset, so the same model and corpus always give the same number
    and the global random state is left alone.

    Inputs:
    - net: a language model following the protocol of ``rnncourse.scratch_rnn``
    - corpus: (T,) list or tensor of token ids, at least
      (batch_size + 1) * num_steps tokens
    """
    _check_corpus(corpus, batch_size, num_steps)
    # The offset comes from a fork of torch's CPU generator, seeded with 0 (the
    # iterator draws it lazily, hence list): fixed, and the global state is kept.
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(0)
        batches = list(seq_data_iter_sequential(corpus, batch_size, num_steps))
    with _evaluating(net):
        total_nll, num_tokens = _lm_nll(net, batches, device)
    return _perplexity_or_inf(total_nll, num_tokens)


def train_language_model(
    net,
    corpus,
    vocab,
    *,
    num_epochs,
    lr,
    device,
    batch_size=32,
    num_steps=35,
    optimizer="sgd",
    clip=1.0,
    random_iter=False,
    val_corpus=None,
    plot=True,
    progress=True,
    predict_prefix="time traveller",
    time_budget=None,
    epoch_fn=train_epoch,
):
    """Train a language model to predict each next token (as in Dive into Deep
    Learning, section "RNN from scratch").

    Inputs:
    - net: follows the protocol of ``rnncourse.scratch_rnn``: net(X, state) ->
      (Y (L*N, V) logits, state), net.begin_state(batch_size, device),
      net.parameters(); an ``RNNModelScratch`` or an ``nn.Module`` such as
      ``RNNLM`` (which is moved to ``device``)
    - corpus: (T,) list or tensor of token ids; vocab: its ``Vocab`` (used for
      the sample)
    - num_epochs, lr, batch_size (N), num_steps (L): one epoch is one pass over
      the corpus in (N, L) minibatches
    - optimizer: "sgd", "adam", or a factory (params, lr) -> torch optimizer
    - clip: max global gradient norm, None for no clipping
    - random_iter: random sampling (fresh state each minibatch) instead of
      sequential partitioning (state carried over, detached)
    - val_corpus: optional held-out token ids, scored each epoch with
      ``evaluate_perplexity``
    - predict_prefix: after training, continue this prefix by 50 characters
      into ``history.sample``; None to skip
    - epoch_fn: the work of one epoch, called as epoch_fn(net, batches,
      loss_fn, optimizer, device, random_iter, clip) -> perplexity, like
      ``train_epoch`` (the default; lesson 03 passes the student's own)

    Returns an ``LMHistory``.
    """
    _check_corpus(corpus, batch_size, num_steps)
    if val_corpus is not None:
        _check_corpus(val_corpus, batch_size, num_steps, "val_corpus")
    device = torch.device(device)
    if isinstance(net, nn.Module):
        net.to(device)
        net.train()
    optim = _make_optimizer(optimizer, list(net.parameters()), lr)
    make_batches = seq_data_iter_random if random_iter else seq_data_iter_sequential
    history = LMHistory()
    train_seconds, train_tokens = 0.0, 0

    def one_epoch(out_of_time):
        nonlocal train_seconds, train_tokens
        feed = _Feed(make_batches(corpus, batch_size, num_steps), out_of_time)
        start = time.perf_counter()
        try:
            ppl = float(epoch_fn(net, feed, F.cross_entropy, optim, device, random_iter, clip))
        except OverflowError:  # exp of a mean loss above ~709 nats: diverged
            ppl = math.inf
        train_seconds += time.perf_counter() - start
        train_tokens += feed.tokens
        history.train_ppl.append(ppl)
        postfix = {"ppl": f"{ppl:.2f}"}
        if val_corpus is not None:
            history.val_ppl.append(
                evaluate_perplexity(net, val_corpus, batch_size, num_steps, device)
            )
            postfix["val"] = f"{history.val_ppl[-1]:.2f}"
        postfix["tok/s"] = f"{train_tokens / train_seconds:,.0f}"
        return ppl, [ppl, *history.val_ppl[-1:]], postfix

    legend = ("train", "val") if val_corpus is not None else ("train",)
    _fit(
        history,
        one_epoch,
        num_epochs,
        "perplexity",
        legend,
        progress=progress,
        plot=plot,
        time_budget=time_budget,
        yscale="linear",
    )
    history.tokens_per_sec = train_tokens / train_seconds
    if predict_prefix and history.stop_reason != "diverged":
        history.sample = predict_chars(predict_prefix, 50, net, vocab, device)
    return history


# --- models trained on (X, y) tensors --------------------------------------------------


@dataclass
class TrainHistory:
    """What ``train_sequence_model`` and ``train_forecaster`` return.

    - train_loss / val_loss: mean loss per epoch run (val_loss empty without
      validation data); a partial last epoch (time budget) is included
    - train_metric / val_metric: the metric per epoch, empty without one
    - elapsed: seconds for the whole call
    - epochs_run: len(train_loss)
    - stop_reason: None, "time_budget" or "diverged"
    - figure: the loss plot, or None with plot=False
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_metric: list[float] = field(default_factory=list)
    val_metric: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    epochs_run: int = 0
    stop_reason: str | None = None
    figure: object = field(default=None, repr=False)


def _mse(output, y):
    """Mean squared error; a (N, 1) output may meet (N,) targets."""
    if output.shape != y.shape:
        if output.shape[0] != y.shape[0] or output.numel() != y.numel():
            raise ValueError(
                f"model output has shape {tuple(output.shape)} but the targets have shape "
                f"{tuple(y.shape)}: for the MSE loss they must hold the same values per example"
            )
        output = output.reshape(y.shape)  # e.g. (N, 1) -> (N,)
    return F.mse_loss(output, y.to(output.dtype))


def _cross_entropy(logits, y):
    """Cross-entropy of (N, C) logits with (N,) classes, or (N, L, C) with (N, L)."""
    if logits.shape[:-1] != y.shape:
        raise ValueError(
            f"model output has shape {tuple(logits.shape)} but the class targets have shape "
            f"{tuple(y.shape)}: expected logits of shape {(*y.shape, 'C')}"
        )
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def accuracy(logits, y):
    """Fraction of examples predicted exactly right, as a 0-dim tensor.

    - logits (N, C), y (N,): the usual classification accuracy
    - logits (N, L, C), y (N, L): an example counts only if all L steps are
      right (exact match, e.g. every digit of an addition's answer)
    """
    correct = logits.argmax(dim=-1) == y  # (N,) or (N, L)
    return correct.reshape(len(y), -1).all(dim=1).float().mean()


def _loss_fn(loss):
    if loss == "mse":
        return _mse
    if loss == "ce":
        return _cross_entropy
    raise ValueError(f'loss must be "mse" or "ce" (cross-entropy), got {loss!r}')


def _as_inputs(X, y, name="X"):
    """X as a tuple of tensors (several model inputs allowed), checked against y."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"targets must be a tensor, got {type(y).__name__}")
    inputs = tuple(X) if isinstance(X, (tuple, list)) else (X,)
    for x in inputs:
        if not isinstance(x, torch.Tensor) or len(x) != len(y):
            got = f"{len(x)} examples" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"each tensor of {name} needs {len(y)} examples (one per target), got {got}"
            )
    return inputs


def _minibatches(inputs, y, batch_size, shuffle):
    """Yield (tuple of input batches, target batch), shuffled each call if asked."""
    n = len(y)
    order = torch.randperm(n, device=y.device) if shuffle else torch.arange(n, device=y.device)
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        yield tuple(x[idx] for x in inputs), y[idx]


def _supervised_pass(model, batches, loss_fn, metric, *, step=None):
    """One pass over minibatches; returns (mean loss, mean metric or None).

    ``step(loss)`` updates the parameters; without it the pass only evaluates.
    """
    total_loss = total_metric = 0.0
    count = 0
    for xs, y in batches:
        output = model(*xs)
        loss = loss_fn(output, y)
        if step is not None:
            step(loss)
        total_loss += loss.detach() * len(y)  # tensors on the device: no sync per batch
        if metric is not None:
            total_metric += metric(output.detach(), y) * len(y)
        count += len(y)
    mean_metric = None if metric is None else float(total_metric) / count
    return float(total_loss) / count, mean_metric


def evaluate_sequence_model(model, X, y, *, device, loss="mse", metric=None, batch_size=256):
    """(mean loss, mean metric or None) of a model on (X, y), without training it.

    Arguments as in ``train_sequence_model``.
    """
    device = torch.device(device)
    inputs = tuple(x.to(device) for x in _as_inputs(X, y))
    batches = _minibatches(inputs, y.to(device), batch_size, shuffle=False)
    with _evaluating(model):
        return _supervised_pass(model, batches, _loss_fn(loss), _metric_fn(metric))


def _metric_fn(metric):
    if metric is None or callable(metric):
        return metric
    if metric == "accuracy":
        return accuracy
    raise ValueError(f'metric must be None, "accuracy" or a function (output, y), got {metric!r}')


def train_sequence_model(
    model,
    X,
    y,
    *,
    num_epochs,
    lr,
    device,
    batch_size=32,
    loss="mse",
    metric=None,
    optimizer="adam",
    clip=None,
    X_val=None,
    y_val=None,
    shuffle=True,
    plot=True,
    progress=True,
    time_budget=None,
    yscale="linear",
):
    """Train a model on examples (X, y) in shuffled minibatches.

    Inputs:
    - model: an nn.Module called as model(*inputs) on a minibatch (moved to
      ``device``), e.g. Embedding + GRU + Linear
    - X: a tensor whose first dimension indexes the N examples, e.g.
      (N, L, H_in) floats or (N, L) token ids; or a tuple of such tensors
      passed to the model as separate arguments, e.g. (padded (N, L),
      lengths (N,)). Every tensor goes to ``device``: a model that packs
      sequences calls ``lengths.cpu()`` itself, as ``pack_padded_sequence``
      wants them on the CPU.
    - y: (N, ...) targets: floats for loss="mse" (a (N, 1) output may meet (N,)
      targets); class indices for loss="ce", (N,) for (N, C) logits or (N, L)
      for (N, L, C) logits
    - metric: None, "accuracy" (exact match per example, see ``accuracy``) or
      a function (output, y) -> mean over the minibatch
    - optimizer: "adam", "sgd" or a factory (params, lr) -> torch optimizer
    - clip: max global gradient norm, None for no clipping
    - X_val, y_val: optional held-out data, scored after every epoch
    - yscale: "linear" or "log" for the loss plot

    Returns a ``TrainHistory``.
    """
    device = torch.device(device)
    model.to(device)
    inputs = tuple(x.to(device) for x in _as_inputs(X, y))
    y = y.to(device)
    has_val = X_val is not None and y_val is not None
    if has_val:
        X_val = tuple(x.to(device) for x in _as_inputs(X_val, y_val, "X_val"))
        y_val = y_val.to(device)
    loss_fn, metric_fn = _loss_fn(loss), _metric_fn(metric)
    metric_name = "acc" if metric == "accuracy" else getattr(metric, "__name__", "metric")
    params = list(model.parameters())
    optim = _make_optimizer(optimizer, params, lr)
    history = TrainHistory()

    def one_epoch(out_of_time):
        model.train()
        train_loss, train_metric = _supervised_pass(
            model,
            _Feed(_minibatches(inputs, y, batch_size, shuffle), out_of_time),
            loss_fn,
            metric_fn,
            step=lambda batch_loss: _update(batch_loss, optim, params, clip),
        )
        _record(history.train_loss, history.train_metric, train_loss, train_metric)
        if has_val:
            val_loss, val_metric = evaluate_sequence_model(
                model, X_val, y_val, device=device, loss=loss, metric=metric
            )
            _record(history.val_loss, history.val_metric, val_loss, val_metric)
        return train_loss, [train_loss, *history.val_loss[-1:]], _postfix(history, metric_name)

    legend = ("train", "val") if has_val else ("train",)
    return _fit(
        history,
        one_epoch,
        num_epochs,
        f"{loss} loss",
        legend,
        progress=progress,
        plot=plot,
        time_budget=time_budget,
        yscale=yscale,
    )


def _record(losses, metrics, loss, metric):
    losses.append(loss)
    if metric is not None:
        metrics.append(metric)


def _postfix(history, metric_name):
    """The progress bar's summary of the last epoch."""
    postfix = {"loss": f"{history.train_loss[-1]:.4g}"}
    if history.val_loss:
        postfix["val"] = f"{history.val_loss[-1]:.4g}"
    if history.val_metric:
        postfix[f"val {metric_name}"] = f"{history.val_metric[-1]:.3f}"
    elif history.train_metric:
        postfix[metric_name] = f"{history.train_metric[-1]:.3f}"
    return postfix


def train_forecaster(
    model,
    X_train,
    y_train,
    *,
    num_epochs,
    lr,
    device,
    batch_size=16,
    X_val=None,
    y_val=None,
    plot=True,
    progress=True,
):
    """Train a many-to-one forecaster (lesson 01) with Adam on the MSE.

    X_train: (N, window, 1) input windows, y_train: (N, horizon) next values,
    as from ``make_windows``. A thin wrapper over ``train_sequence_model``;
    returns its ``TrainHistory``.
    """
    return train_sequence_model(
        model,
        X_train,
        y_train,
        num_epochs=num_epochs,
        lr=lr,
        device=device,
        batch_size=batch_size,
        loss="mse",
        optimizer="adam",
        X_val=X_val,
        y_val=y_val,
        plot=plot,
        progress=progress,
    )
