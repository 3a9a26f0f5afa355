"""Training loops: they learn, stop when told, stay silent when told, and carry
the language model's hidden state the way truncated BPTT needs."""

import math

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from rnncourse.teaching import training
from rnncourse.teaching.scratch_rnn import RNNModelScratch
from rnncourse.teaching.text import load_corpus_time_machine
from rnncourse.teaching.torch_rnn import RNNLM
from rnncourse.teaching.training import (
    accuracy,
    evaluate_perplexity,
    evaluate_sequence_model,
    train_epoch,
    train_forecaster,
    train_language_model,
    train_sequence_model,
)

CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a shared 2-core machine two threads can run 20x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_corpus():
    """The first 2,000 characters of The Time Machine and the full vocabulary."""
    return load_corpus_time_machine(max_tokens=2000)


class Recorder:
    """Wraps a net and records every state it is called with."""

    def __init__(self, net):
        self.net, self.calls = net, []

    def __call__(self, X, state):
        self.calls.append(state)
        Y, new_state = self.net(X, state)
        self.returned = new_state
        return Y, new_state

    def begin_state(self, batch_size, device):
        return self.net.begin_state(batch_size, device)

    def parameters(self):
        return self.net.parameters()


def quick(**overrides):
    """Small, silent settings for train_language_model."""
    settings = dict(
        num_epochs=3,
        lr=1.0,
        batch_size=8,
        num_steps=10,
        device=CPU,
        plot=False,
        progress=False,
        predict_prefix=None,
    )
    settings.update(overrides)
    return settings


# --- language models ---------------------------------------------------------------


# --- train_epoch (lesson 03's exercise) --------------------------------------------


def twin_scratch_nets(vocab_size, num_hiddens, seed=0):
    """Two scratch RNNs holding the same float64 parameters."""
    torch.manual_seed(seed)
    first = RNNModelScratch(vocab_size, num_hiddens, CPU)
    second = RNNModelScratch(vocab_size, num_hiddens, CPU)
    for a, b in zip(first.params, second.params, strict=True):
        with torch.no_grad():
            a.data = (a * 30).double()  # large enough weights for gradients worth clipping
            b.data = a.detach().clone()
    return first, second


def hand_epoch(net, batches, lr, random_iter, clip):
    """One epoch written out step by step: plain SGD, clipping by the global norm."""
    nll, count, state = 0.0, 0, None
    for X, Y in batches:
        if state is None or random_iter:
            state = (torch.zeros(X.shape[0], net.num_hiddens, dtype=torch.float64),)
        logits, state = net(X, tuple(s.detach() for s in state))
        targets = torch.stack([Y[:, t] for t in range(Y.shape[1])]).flatten()  # time-major
        loss = F.cross_entropy(logits, targets)
        grads = torch.autograd.grad(loss, net.params)
        norm = torch.sqrt(sum((g**2).sum() for g in grads))
        # torch's clip_grad_norm_ rule: scale by clip / (norm + 1e-6) where that is below 1
        scale = 1.0 if clip is None else min(1.0, clip / (float(norm) + 1e-6))
        with torch.no_grad():
            for p, g in zip(net.params, grads, strict=True):
                p -= lr * scale * g
        nll += float(loss.detach()) * targets.numel()
        count += targets.numel()
    return math.exp(nll / count)


def float64_state(net):
    return lambda batch_size, num_hiddens, device: (
        torch.zeros(batch_size, num_hiddens, dtype=torch.float64, device=device),
    )


@pytest.mark.parametrize("random_iter,clip", [(False, 0.5), (True, 0.5), (False, None)])
def test_train_epoch_equals_a_hand_written_epoch(tiny_corpus, random_iter, clip):
    corpus, vocab = tiny_corpus
    net, twin = twin_scratch_nets(len(vocab), 12)
    net.init_state = float64_state(net)
    torch.manual_seed(1)
    iterator = training.seq_data_iter_random if random_iter else training.seq_data_iter_sequential
    batches = list(iterator(corpus[:600], 4, 9))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    ppl = train_epoch(net, batches, F.cross_entropy, optimizer, CPU, random_iter, clip)
    expected = hand_epoch(twin, batches, 0.5, random_iter, clip)
    assert isinstance(ppl, float)
    assert ppl == pytest.approx(expected, rel=1e-9)  # float64 throughout
    for got, want in zip(net.params, twin.params, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_train_epoch_clips_before_the_step_and_not_without_clip(tiny_corpus):
    corpus, vocab = tiny_corpus
    batches = list(training.seq_data_iter_sequential(corpus, 8, 10))
    for clip in (0.01, None):
        torch.manual_seed(0)
        net = RNNModelScratch(len(vocab), 16, CPU)
        norms = []
        optimizer = grad_norm_recorder(norms)(net.parameters(), 1.0)
        train_epoch(net, batches, F.cross_entropy, optimizer, CPU, False, clip)
        if clip is None:
            assert max(norms) > 0.01, "the test needs gradients large enough to be clipped"
        else:
            assert max(norms) <= clip * (1 + 1e-5), max(norms)


def test_train_epoch_counts_every_token_of_uneven_minibatches():
    """Random sampling with minibatches of 1 and 3 rows: the mean is over tokens."""
    net = RNNModelScratch(5, 4, CPU)
    with torch.no_grad():
        for p in net.params:
            p.zero_()
        net.params[4][2] = 3.0  # b_q: token 2 is always the favourite
    X = torch.zeros(3, 2, dtype=torch.long)
    batches = [(X[:1], torch.full((1, 2), 2)), (X, torch.zeros(3, 2, dtype=torch.long))]
    frozen = torch.optim.SGD(net.parameters(), lr=0.0)
    ppl = train_epoch(net, batches, F.cross_entropy, frozen, CPU, True, None)
    log_z = math.log(math.exp(3.0) + 4)
    nll_right, nll_wrong = log_z - 3.0, log_z  # token 2 (2 targets), token 0 (6 targets)
    assert ppl == pytest.approx(math.exp((2 * nll_right + 6 * nll_wrong) / 8), rel=1e-6)


def test_train_language_model_runs_the_given_epoch_fn(tiny_corpus):
    corpus, vocab = tiny_corpus
    calls = []

    def epoch_fn(net, batches, loss_fn, optimizer, device, use_random_iter, clip):
        calls.append((use_random_iter, clip, len(list(batches))))
        return 10.0 - len(calls)

    net = RNNModelScratch(len(vocab), 8, CPU)
    history = train_language_model(
        net, corpus, vocab, **quick(epoch_fn=epoch_fn, random_iter=True, clip=0.3)
    )
    assert history.train_ppl == [9.0, 8.0, 7.0]
    assert [c[:2] for c in calls] == [(True, 0.3)] * 3 and all(c[2] > 0 for c in calls)
    assert history.tokens_per_sec > 0


def test_an_epoch_whose_perplexity_overflows_counts_as_diverged(tiny_corpus):
    corpus, vocab = tiny_corpus

    def overflowing(*args):
        return math.exp(1000.0)

    history = train_language_model(
        RNNModelScratch(len(vocab), 8, CPU), corpus, vocab, **quick(epoch_fn=overflowing)
    )
    assert history.train_ppl == [math.inf] and history.stop_reason == "diverged"


def test_scratch_rnn_learns_and_reports(tiny_corpus):
    corpus, vocab = tiny_corpus
    torch.manual_seed(0)
    net = RNNModelScratch(len(vocab), 32, CPU)
    history = train_language_model(
        net, corpus, vocab, **quick(num_epochs=4, predict_prefix="time traveller")
    )
    assert history.epochs_run == len(history.train_ppl) == 4
    assert history.val_ppl == [] and history.stop_reason is None
    assert history.train_ppl[-1] < 0.8 * history.train_ppl[0], history.train_ppl
    assert history.tokens_per_sec > 0 and history.elapsed > 0
    assert history.sample.startswith("time traveller")
    assert len(history.sample) == len("time traveller") + 50


def test_gru_learns_with_adam_and_reports_validation(tiny_corpus):
    corpus, vocab = tiny_corpus
    torch.manual_seed(0)
    net = RNNLM(nn.GRU(len(vocab), 32), len(vocab))
    history = train_language_model(
        net,
        corpus[:1500],
        vocab,
        **quick(num_epochs=4, lr=0.01, optimizer="adam", val_corpus=corpus[1500:], plot=True),
    )
    assert len(history.train_ppl) == len(history.val_ppl) == 4
    assert history.train_ppl[-1] < history.train_ppl[0]
    assert history.val_ppl[-1] < history.val_ppl[0]
    assert all(p < len(vocab) * 1.5 for p in history.val_ppl)
    assert isinstance(history.figure, Figure)
    assert [line.get_label() for line in history.figure.axes[0].lines] == ["train", "val"]


def test_sequential_partitioning_carries_the_state_detached(tiny_corpus):
    corpus, vocab = tiny_corpus
    torch.manual_seed(0)
    net = Recorder(RNNModelScratch(len(vocab), 16, CPU))
    train_language_model(net, corpus, vocab, **quick(num_epochs=1))
    (h0,), (h1,) = net.calls[0], net.calls[1]
    assert torch.count_nonzero(h0) == 0, "the first minibatch starts from begin_state"
    assert torch.count_nonzero(h1) > 0, "the second minibatch must continue the first's state"
    assert h1.grad_fn is None and not h1.requires_grad, "the carried state must be detached"


def test_lstm_state_pair_is_carried_detached(tiny_corpus):
    corpus, vocab = tiny_corpus
    torch.manual_seed(0)
    net = Recorder(RNNLM(nn.LSTM(len(vocab), 8), len(vocab)))
    train_language_model(net, corpus, vocab, **quick(num_epochs=1, lr=0.01, optimizer="adam"))
    h1, c1 = net.calls[1]
    assert torch.count_nonzero(h1) > 0 and torch.count_nonzero(c1) > 0
    assert h1.grad_fn is None and c1.grad_fn is None


def test_random_sampling_resets_the_state(tiny_corpus):
    corpus, vocab = tiny_corpus
    torch.manual_seed(0)
    net = Recorder(RNNModelScratch(len(vocab), 16, CPU))
    train_language_model(net, corpus, vocab, **quick(num_epochs=1, random_iter=True))
    assert len(net.calls) > 1
    assert all(torch.count_nonzero(h) == 0 for (h,) in net.calls)


def test_time_budget_stops_after_one_minibatch(tiny_corpus):
    corpus, vocab = tiny_corpus
    net = Recorder(RNNModelScratch(len(vocab), 16, CPU))
    history = train_language_model(net, corpus, vocab, **quick(num_epochs=50, time_budget=0))
    assert len(net.calls) == 1
    assert history.epochs_run == 1 and history.stop_reason == "time_budget"
    assert math.isfinite(history.train_ppl[0]) and history.tokens_per_sec > 0


def test_progress_false_writes_nothing(tiny_corpus, capfd):
    corpus, vocab = tiny_corpus
    net = RNNModelScratch(len(vocab), 16, CPU)
    train_language_model(net, corpus, vocab, **quick(num_epochs=2, predict_prefix="the"))
    assert capfd.readouterr() == ("", "")
    # ... whereas the progress bar (console tqdm) does write to stderr
    train_language_model(net, corpus, vocab, **quick(num_epochs=1, progress=True))
    assert "ppl" in capfd.readouterr().err


def test_plot_false_creates_no_figure(tiny_corpus, monkeypatch):
    corpus, vocab = tiny_corpus

    def no_plot(*args, **kwargs):
        raise AssertionError("LivePlot was created with plot=False")

    monkeypatch.setattr(training, "LivePlot", no_plot)
    net = RNNModelScratch(len(vocab), 16, CPU)
    history = train_language_model(net, corpus, vocab, **quick(num_epochs=1))
    assert history.figure is None


def grad_norm_recorder(norms):
    """An optimizer factory whose step() records the global gradient norm it sees."""

    class RecordingSGD(torch.optim.SGD):
        def step(self, closure=None):
            grads = [p.grad for group in self.param_groups for p in group["params"]]
            norms.append(float(torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads]))))
            return super().step(closure)

    return lambda params, lr: RecordingSGD(params, lr=lr)


def test_scratch_model_gradients_are_clipped(tiny_corpus):
    corpus, vocab = tiny_corpus
    torch.manual_seed(0)
    clipped, unclipped = [], []
    net = RNNModelScratch(len(vocab), 16, CPU)
    train_language_model(
        net, corpus, vocab, **quick(num_epochs=1, optimizer=grad_norm_recorder(clipped), clip=0.01)
    )
    train_language_model(
        net,
        corpus,
        vocab,
        **quick(num_epochs=1, optimizer=grad_norm_recorder(unclipped), clip=None),
    )
    assert max(clipped) <= 0.01 * (1 + 1e-5), max(clipped)
    assert max(unclipped) > 0.01, "the test needs gradients large enough to be clipped"


def test_a_diverged_run_stops_and_says_so(tiny_corpus):
    corpus, vocab = tiny_corpus

    class PoisonSGD(torch.optim.SGD):
        """Makes every parameter NaN, as an exploding gradient eventually does."""

        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    p.data.fill_(math.nan)

    net = RNNModelScratch(len(vocab), 16, CPU)
    history = train_language_model(
        net,
        corpus,
        vocab,
        **quick(
            num_epochs=5,
            optimizer=lambda params, lr: PoisonSGD(params, lr=lr),
            plot=True,
            predict_prefix="time",
        ),
    )
    assert history.epochs_run == 1 and history.stop_reason == "diverged"
    assert math.isnan(history.train_ppl[0])
    assert history.sample is None


def test_evaluate_perplexity_of_a_uniform_model_is_the_vocabulary_size(tiny_corpus):
    corpus, vocab = tiny_corpus
    net = RNNModelScratch(len(vocab), 8, CPU)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()  # all logits 0: every token has probability 1 / V
    rng_before = torch.get_rng_state()
    ppl = evaluate_perplexity(net, corpus, batch_size=4, num_steps=10, device=CPU)
    assert ppl == pytest.approx(len(vocab), rel=1e-5)
    assert torch.equal(torch.get_rng_state(), rng_before), "evaluation must not draw random numbers"


def test_evaluate_perplexity_is_deterministic_and_leaves_no_gradients(tiny_corpus):
    corpus, vocab = tiny_corpus
    torch.manual_seed(0)
    net = RNNLM(nn.GRU(len(vocab), 16), len(vocab))
    first = evaluate_perplexity(net, corpus, 8, 10, CPU)
    assert evaluate_perplexity(net, corpus, 8, 10, CPU) == first
    assert all(p.grad is None for p in net.parameters())
    assert net.training, "evaluation must restore training mode"


def test_bad_settings_are_named():
    corpus = list(range(10)) * 100
    net = RNNModelScratch(10, 8, CPU)
    with pytest.raises(ValueError, match="optimizer"):
        train_language_model(net, corpus, None, **quick(optimizer="rmsprop"))
    with pytest.raises(ValueError, match="num_epochs"):
        train_language_model(net, corpus, None, **quick(num_epochs=0))
    with pytest.raises(ValueError, match="too short"):
        train_language_model(net, corpus[:50], None, **quick())
    with pytest.raises(ValueError, match="val_corpus"):
        train_language_model(net, corpus, None, **quick(val_corpus=corpus[:50]))


@pytest.mark.parametrize(
    "corpus,batch_size,num_steps,match",
    [
        (list(range(14)), 2, 5, "too short"),  # (batch_size + 1) * num_steps = 15 needed
        ([], 1, 1, "too short"),
        (list(range(50)), 0, 5, "batch_size"),
        (list(range(50)), 2, 0, "num_steps"),
        ([[1, 2], [3, 4]], 1, 1, "1-D"),
    ],
)
def test_language_model_corpora_are_checked_before_use(corpus, batch_size, num_steps, match):
    net = RNNModelScratch(50, 4, CPU)
    with pytest.raises(ValueError, match=match):
        evaluate_perplexity(net, corpus, batch_size, num_steps, CPU)
    with pytest.raises(ValueError, match=match):
        train_language_model(net, corpus, None, **quick(batch_size=batch_size, num_steps=num_steps))


# --- models trained on (X, y) ---------------------------------------------------------


class ManyToOne(nn.Module):
    """nn.RNN / nn.GRU over (N, L, H_in), a Linear on the last output."""

    def __init__(self, input_size, hidden_size, out_size, cell=nn.GRU):
        super().__init__()
        self.rnn = cell(input_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, out_size)

    def forward(self, x):
        output, _ = self.rnn(x)  # (N, L, H)
        return self.head(output[:, -1])  # (N, out_size)


def sine_windows(n, window=12):
    t = torch.arange(n + window + 1, dtype=torch.float32)
    series = torch.sin(2 * math.pi * t / 12)
    X = series.unfold(0, window, 1)[:n].unsqueeze(-1)  # (n, window, 1)
    y = series[window : window + n].unsqueeze(-1)  # (n, 1)
    return X, y


def test_train_forecaster_reduces_the_mse():
    torch.manual_seed(0)
    X, y = sine_windows(96)
    model = ManyToOne(1, 16, 1, cell=nn.RNN)
    history = train_forecaster(
        model,
        X[:80],
        y[:80],
        num_epochs=8,
        lr=0.01,
        device="cpu",
        X_val=X[80:],
        y_val=y[80:],
        plot=False,
        progress=False,
    )
    assert history.epochs_run == len(history.train_loss) == len(history.val_loss) == 8
    assert history.train_loss[-1] < 0.5 * history.train_loss[0], history.train_loss
    assert history.val_loss[-1] < history.val_loss[0]
    assert history.train_metric == [] and history.stop_reason is None


def test_train_sequence_model_regression_with_n_targets_and_a_budget():
    """Adding-problem shapes: (N, L, 2) inputs, (N,) targets, a (N, 1) output."""
    torch.manual_seed(0)
    X = torch.rand(256, 6, 2)
    y = X[:, :, 0].sum(dim=1) * 0.2  # (N,)
    model = ManyToOne(2, 16, 1)
    history = train_sequence_model(
        model, X, y, num_epochs=10, lr=0.01, device=CPU, plot=True, progress=False
    )
    assert history.train_loss[-1] < 0.3 * history.train_loss[0], history.train_loss
    assert [line.get_label() for line in history.figure.axes[0].lines] == ["train"]
    stopped = train_sequence_model(
        model, X, y, num_epochs=50, lr=0.01, device=CPU, time_budget=0, plot=False, progress=False
    )
    assert stopped.epochs_run == 1 and stopped.stop_reason == "time_budget"


class FirstTokenClassifier(nn.Module):
    """Embedding + GRU + Linear taking (tokens (N, L), lengths (N,)), reading the
    output at each sequence's last real step."""

    def __init__(self, vocab_size, num_classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, 8)
        self.rnn = nn.GRU(8, 16, batch_first=True)
        self.head = nn.Linear(16, num_classes)

    def forward(self, tokens, lengths):
        output, _ = self.rnn(self.embedding(tokens))  # (N, L, H)
        last = output[torch.arange(len(tokens)), lengths - 1]  # (N, H)
        return self.head(last)  # (N, C)


def test_train_sequence_model_classifier_with_accuracy_and_tuple_inputs():
    torch.manual_seed(0)
    N, L = 256, 5
    tokens = torch.randint(1, 6, (N, L))
    lengths = torch.randint(2, L + 1, (N,))
    y = (tokens[:, 0] > 3).long()  # the class is decided by the first token
    model = FirstTokenClassifier(6, 2)
    history = train_sequence_model(
        model,
        (tokens[:200], lengths[:200]),
        y[:200],
        X_val=(tokens[200:], lengths[200:]),
        y_val=y[200:],
        loss="ce",
        metric="accuracy",
        num_epochs=12,
        lr=0.02,
        device=CPU,
        plot=False,
        progress=False,
    )
    assert len(history.train_metric) == len(history.val_metric) == 12
    assert history.val_metric[-1] >= 0.9, history.val_metric
    loss, acc = evaluate_sequence_model(
        model, (tokens[200:], lengths[200:]), y[200:], device=CPU, loss="ce", metric="accuracy"
    )
    assert loss == pytest.approx(history.val_loss[-1]) and acc == pytest.approx(
        history.val_metric[-1]
    )


def test_accuracy_counts_whole_sequences():
    logits = torch.tensor([[[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]])  # (2, 2, 2)
    y = torch.tensor([[1, 0], [1, 0]])  # the second example gets one step wrong
    assert float(accuracy(logits, y)) == 0.5
    assert float(accuracy(logits[:, 0], y[:, 0])) == 1.0


def test_shape_mismatches_are_named():
    X, y = torch.zeros(8, 3, 1), torch.zeros(8, 2)
    model = ManyToOne(1, 4, 3)
    with pytest.raises(ValueError, match=r"output has shape \(8, 3\).*targets have shape \(8, 2\)"):
        train_sequence_model(
            model, X, y, num_epochs=1, lr=0.1, device=CPU, plot=False, progress=False
        )
    with pytest.raises(ValueError, match="logits of shape"):
        train_sequence_model(
            model,
            X,
            y.long(),
            loss="ce",
            num_epochs=1,
            lr=0.1,
            device=CPU,
            plot=False,
            progress=False,
        )
    with pytest.raises(ValueError, match="needs 8 examples"):
        train_sequence_model(
            model, X[:5], y, num_epochs=1, lr=0.1, device=CPU, plot=False, progress=False
        )
    with pytest.raises(ValueError, match="loss"):
        train_sequence_model(model, X, y, loss="l1", num_epochs=1, lr=0.1, device=CPU, plot=False)
