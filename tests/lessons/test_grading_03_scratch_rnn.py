"""Lesson 03 (RNN from scratch) through nbgrader autograde: the reference, shortcut
attempts, differently written correct answers, typical mistakes, and a blank
notebook each get the score they deserve on every test cell."""

from lesson_harness import BLANK, expected_scores, grade_lesson, max_scores

LESSON = "03_scratch_rnn"
EXERCISES = [
    "seq_data_iter_sequential",
    "seq_data_iter_random",
    "init_rnn_params",
    "rnn_step",
    "rnn_forward",
    "predict_chars",
    "perplexity",
    "train_epoch",
    "sample_chars",
]

# The reference train_epoch and sample_chars with one thing changed.
TRAIN_EPOCH = """
    state = None
    total_loss, num_tokens = 0.0, 0
    for X, Y in batches:
        X, Y = X.to(device), Y.to(device)
        if state is None or use_random_iter:
            state = net.begin_state(batch_size=X.shape[0], device=device)
        else:
            state = {carry}
        logits, state = net(X, state)
        y = {targets}
        loss = loss_fn(logits, y)
        optimizer.zero_grad()
        loss.backward()
        if {clip_before} is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        optimizer.step()
        if {clip_after} is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        total_loss += loss.detach() * y.numel()
        num_tokens += y.numel()
    return math.exp(float(total_loss) / num_tokens)
"""
SAMPLE_CHARS = """
    if {check}:
        raise ValueError(f"temperature must be > 0, got {{temperature}}")
    predicted = []
    with torch.no_grad():
        state = net.begin_state(batch_size=1, device=device)
        Y, state = net(torch.tensor([vocab[list(prefix)]], device=device), state)
        for _ in range(num_preds):
            next_id = int({draw})
            predicted.append(next_id)
            Y, state = net(torch.tensor([[next_id]], device=device), state)
    return prefix + "".join(vocab.lookup_tokens(predicted))
"""


def train_epoch_with(
    carry="tuple(s.detach() for s in state)",
    targets="Y.T.reshape(-1)",
    clip_before="clip",
    clip_after="None",
):
    return TRAIN_EPOCH.format(
        carry=carry, targets=targets, clip_before=clip_before, clip_after=clip_after
    )


def sample_chars_with(
    check="temperature <= 0",
    draw="torch.multinomial(torch.softmax(Y[-1] / temperature, dim=0), 1, generator=generator)",
):
    return SAMPLE_CHARS.format(check=check, draw=draw)


SUBMISSIONS = {
    "reference": {},
    # torch's RNN modules and the course's reference answers
    "forbidden": {
        "seq_data_iter_sequential": (
            "return rnncourse.seq_data_iter_sequential(corpus, batch_size, num_steps)"
        ),
        "seq_data_iter_random": (
            "yield from rnncourse.seq_data_iter_random(corpus, batch_size, num_steps)"
        ),
        "init_rnn_params": "return rnncourse.init_rnn_params(vocab_size, num_hiddens, device)",
        "rnn_step": """
            W_xh, W_hh, b_h, _, _ = params
            cell = torch.nn.RNNCell(W_xh.shape[0], W_xh.shape[1]).to(W_xh.device, W_xh.dtype)
            with torch.no_grad():
                cell.weight_ih.copy_(W_xh.T)
                cell.weight_hh.copy_(W_hh.T)
                cell.bias_ih.copy_(b_h)
                cell.bias_hh.zero_()
            return cell(x_t, h)
        """,
        "rnn_forward": """
            W_xh, W_hh, b_h, W_hq, b_q = params
            rnn = torch.nn.RNN(W_xh.shape[0], W_xh.shape[1]).to(W_xh.device, W_xh.dtype)
            with torch.no_grad():
                rnn.weight_ih_l0.copy_(W_xh.T)
                rnn.weight_hh_l0.copy_(W_hh.T)
                rnn.bias_ih_l0.copy_(b_h)
                rnn.bias_hh_l0.zero_()
            out, h_n = rnn(inputs, state[0][None])
            return (out @ W_hq + b_q).reshape(-1, W_hq.shape[1]), (h_n[0],)
        """,
        "predict_chars": "return rnncourse.predict_chars(prefix, num_preds, net, vocab, device)",
        "perplexity": "return rnncourse.perplexity(total_nll, num_tokens)",
        "train_epoch": (
            "return rnncourse.train_epoch(net, batches, loss_fn, optimizer, device, "
            "use_random_iter, clip)"
        ),
        "sample_chars": (
            "return rnncourse.sample_chars(prefix, num_preds, net, vocab, device, "
            "temperature, generator)"
        ),
    },
    # Correct, but written another way.
    "alternative": {
        # no random offset, plain Python lists
        "seq_data_iter_sequential": """
            tokens = torch.as_tensor(corpus).tolist()
            per_row = (len(tokens) - 1) // batch_size
            for k in range(per_row // num_steps):
                starts = [b * per_row + k * num_steps for b in range(batch_size)]
                X = [tokens[s : s + num_steps] for s in starts]
                Y = [tokens[s + 1 : s + num_steps + 1] for s in starts]
                yield torch.tensor(X), torch.tensor(Y)
        """,
        # Python's random module instead of torch's generator
        "seq_data_iter_random": """
            import random
            tokens = torch.as_tensor(corpus).tolist()
            offset = random.randrange(num_steps)
            starts = list(range(offset, len(tokens) - num_steps, num_steps))
            random.shuffle(starts)
            for i in range(0, len(starts) - batch_size + 1, batch_size):
                rows = starts[i : i + batch_size]
                X = torch.tensor([tokens[s : s + num_steps] for s in rows])
                Y = torch.tensor([tokens[s + 1 : s + num_steps + 1] for s in rows])
                yield X, Y
        """,
        # Xavier-uniform weights, requires_grad set by attribute
        "init_rnn_params": """
            def xavier(rows, cols):
                bound = (6 / (rows + cols)) ** 0.5
                return (torch.rand(rows, cols, device=device) * 2 - 1) * bound
            V, H = vocab_size, num_hiddens
            params = [xavier(V, H), xavier(H, H), torch.zeros(H, device=device),
                      xavier(H, V), torch.zeros(V, device=device)]
            for p in params:
                p.requires_grad = True
            return params
        """,
        # the concatenation trick
        "rnn_step": """
            W_xh, W_hh, b_h = params[0], params[1], params[2]
            return torch.tanh(torch.cat([x_t, h], dim=1) @ torch.cat([W_xh, W_hh], dim=0) + b_h)
        """,
        # all hidden states first, then one output product
        "rnn_forward": """
            W_hq, b_q = params[3], params[4]
            h = state[0]
            hs = []
            for t in range(inputs.shape[0]):
                h = rnn_step(inputs[t], h, params)
                hs.append(h)
            Hs = torch.stack(hs)  # (L, N, H)
            return (Hs @ W_hq + b_q).reshape(-1, W_hq.shape[1]), (h,)
        """,
        # Dive into Deep Learning's loop: warm up one character at a time
        "predict_chars": """
            state = net.begin_state(batch_size=1, device=device)
            ids = [vocab[prefix[0]]]
            for ch in prefix[1:]:
                _, state = net(torch.tensor([[ids[-1]]], device=device), state)
                ids.append(vocab[ch])
            for _ in range(num_preds):
                Y, state = net(torch.tensor([[ids[-1]]], device=device), state)
                ids.append(int(Y.argmax(dim=1).reshape(-1)[0]))
            return "".join(vocab.idx_to_token[i] for i in ids)
        """,
        # in float32: a correct answer need not be float64 to pass
        "perplexity": (
            "return torch.exp(torch.as_tensor(total_nll, dtype=torch.float32) / num_tokens).item()"
        ),
        # Dive into Deep Learning's loop: in-place detach_, targets stacked step by step,
        # clipping written out by hand, the loss summed with .item()
        "train_epoch": """
            state, nll, count = None, 0.0, 0
            for X, Y in batches:
                if state is None or use_random_iter:
                    state = net.begin_state(batch_size=X.shape[0], device=device)
                else:
                    for s in state:
                        s.detach_()
                y = torch.stack([Y[:, t] for t in range(Y.shape[1])]).reshape(-1).to(device)
                y_hat, state = net(X.to(device), state)
                l = loss_fn(y_hat, y.long()).mean()
                optimizer.zero_grad()
                l.backward()
                if clip is not None:
                    params = list(net.parameters())
                    norm = torch.sqrt(sum(torch.sum(p.grad ** 2) for p in params))
                    if norm > clip:
                        for p in params:
                            p.grad[:] *= clip / norm
                optimizer.step()
                nll += l.item() * y.numel()
                count += y.numel()
            return math.exp(nll / count)
        """,
        # one character at a time, float64, unnormalised weights, a (1, V) multinomial
        "sample_chars": """
            if not temperature > 0:
                raise ValueError("the temperature must be positive")
            state = net.begin_state(batch_size=1, device=device)
            out = list(prefix)
            with torch.no_grad():
                for ch in prefix[:-1]:
                    _, state = net(torch.tensor([[vocab[ch]]], device=device), state)
                last = vocab[prefix[-1]]
                for _ in range(num_preds):
                    Y, state = net(torch.tensor([[last]], device=device), state)
                    z = Y[-1].double() / temperature
                    weights = torch.exp(z - z.max())  # multinomial normalises them
                    last = torch.multinomial(weights[None], 1, generator=generator).item()
                    out.append(vocab.idx_to_token[last])
            return "".join(out)
        """,
    },
    # Typical mistakes, one per exercise.
    "wrong_a": {
        # targets not shifted
        "seq_data_iter_sequential": """
            corpus = torch.as_tensor(corpus)
            per_row = (len(corpus) - 1) // batch_size
            Xs = corpus[: per_row * batch_size].reshape(batch_size, -1)
            for i in range(0, per_row // num_steps * num_steps, num_steps):
                yield Xs[:, i : i + num_steps], Xs[:, i : i + num_steps]
        """,
        # never shuffled
        "seq_data_iter_random": """
            corpus = torch.as_tensor(corpus)
            offset = int(torch.randint(num_steps, (1,)))
            num_subseqs = (len(corpus) - offset - 1) // num_steps
            starts = offset + num_steps * torch.arange(num_subseqs)
            for i in range(0, num_subseqs // batch_size * batch_size, batch_size):
                rows = starts[i : i + batch_size, None] + torch.arange(num_steps)
                yield corpus[rows], corpus[rows + 1]
        """,
        # W_xh (H, V) and W_hq (V, H): nn.Linear's layout
        "init_rnn_params": """
            V, H = vocab_size, num_hiddens
            params = [torch.randn(H, V, device=device) * 0.01,
                      torch.randn(H, H, device=device) * 0.01, torch.zeros(H, device=device),
                      torch.randn(V, H, device=device) * 0.01, torch.zeros(V, device=device)]
            return [p.requires_grad_() for p in params]
        """,
        # ReLU instead of tanh
        "rnn_step": """
            W_xh, W_hh, b_h, _, _ = params
            return torch.relu(x_t @ W_xh + h @ W_hh + b_h)
        """,
        # rows in batch-major order
        "rnn_forward": """
            _, _, _, W_hq, b_q = params
            (h,) = state
            outputs = []
            for x_t in inputs:
                h = rnn_step(x_t, h, params)
                outputs.append(h @ W_hq + b_q)
            return torch.stack(outputs, dim=1).reshape(-1, W_hq.shape[1]), (h,)
        """,
        # no warm-up: only the last character of the prefix is fed
        "predict_chars": """
            with torch.no_grad():
                state = net.begin_state(batch_size=1, device=device)
                Y, state = net(torch.tensor([[vocab[prefix[-1]]]], device=device), state)
                out = prefix
                for _ in range(num_preds):
                    next_id = int(Y[-1].argmax())
                    out += vocab.idx_to_token[next_id]
                    Y, state = net(torch.tensor([[next_id]], device=device), state)
            return out
        """,
        # exp of the sum
        "perplexity": "return math.exp(float(total_nll))",
        # the carried state is not detached
        "train_epoch": train_epoch_with(carry="state"),
        # the logits multiplied by the temperature
        "sample_chars": sample_chars_with(
            draw=(
                "torch.multinomial(torch.softmax(Y[-1] * temperature, dim=0), 1, "
                "generator=generator)"
            )
        ),
    },
    "wrong_b": {
        # each minibatch a new block of the text: rows do not continue
        "seq_data_iter_sequential": """
            corpus = torch.as_tensor(corpus)
            block = batch_size * num_steps
            for i in range(0, (len(corpus) - 1) // block * block, block):
                X = corpus[i : i + block].reshape(batch_size, num_steps)
                Y = corpus[i + 1 : i + 1 + block].reshape(batch_size, num_steps)
                yield X, Y
        """,
        # random starts anywhere: subsequences overlap
        "seq_data_iter_random": """
            corpus = torch.as_tensor(corpus)
            num_batches = (len(corpus) - 1) // (batch_size * num_steps)
            for _ in range(num_batches):
                starts = torch.randint(len(corpus) - num_steps, (batch_size,))
                rows = starts[:, None] + torch.arange(num_steps)
                yield corpus[rows], corpus[rows + 1]
        """,
        # requires_grad on the random draw: the scaled results are not leaves
        "init_rnn_params": """
            V, H = vocab_size, num_hiddens
            def normal(*shape):
                return torch.randn(*shape, device=device, requires_grad=True) * 0.01
            return [normal(V, H), normal(H, H), torch.zeros(H, device=device, requires_grad=True),
                    normal(H, V), torch.zeros(V, device=device, requires_grad=True)]
        """,
        # bias left out
        "rnn_step": """
            W_xh, W_hh, b_h, _, _ = params
            return torch.tanh(x_t @ W_xh + h @ W_hh)
        """,
        # only the last step's output
        "rnn_forward": """
            _, _, _, W_hq, b_q = params
            (h,) = state
            for x_t in inputs:
                h = rnn_step(x_t, h, params)
            return h @ W_hq + b_q, (h,)
        """,
        # only the new characters
        "predict_chars": """
            predicted = []
            with torch.no_grad():
                state = net.begin_state(batch_size=1, device=device)
                Y, state = net(torch.tensor([vocab[list(prefix)]], device=device), state)
                for _ in range(num_preds):
                    next_id = int(Y[-1].argmax())
                    predicted.append(next_id)
                    Y, state = net(torch.tensor([[next_id]], device=device), state)
            return "".join(vocab.lookup_tokens(predicted))
        """,
        # base 2, as for entropy in bits
        "perplexity": "return 2 ** (float(total_nll) / num_tokens)",
        # sequential partitioning, but a fresh state for every minibatch
        "train_epoch": train_epoch_with(
            carry="net.begin_state(batch_size=X.shape[0], device=device)"
        ),
        # the generator is ignored: torch's global one draws
        "sample_chars": sample_chars_with(
            draw="torch.multinomial(torch.softmax(Y[-1] / temperature, dim=0), 1)"
        ),
    },
    "wrong_c": {
        # the targets flattened batch-major: Y, not Y.T
        "train_epoch": train_epoch_with(targets="Y.reshape(-1)"),
        # greedy whatever the temperature
        "sample_chars": sample_chars_with(
            draw="torch.softmax(Y[-1] / temperature, dim=0).argmax()"
        ),
    },
    "wrong_d": {
        # clipped after the step, which has already used the gradients
        "train_epoch": train_epoch_with(clip_before="None", clip_after="clip"),
        # no check of the temperature
        "sample_chars": sample_chars_with(check="False"),
    },
    "blank": BLANK,
}

FULL_MARKS = {"reference", "alternative"}


def test_autograde_scores(tmp_path):
    assert set(max_scores(LESSON)) == {f"test_{name}" for name in EXERCISES}
    got = grade_lesson(LESSON, SUBMISSIONS, tmp_path)
    assert got == expected_scores(LESSON, SUBMISSIONS, FULL_MARKS)
