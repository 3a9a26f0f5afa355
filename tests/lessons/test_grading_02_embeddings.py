"""Lesson 02 (embeddings) through nbgrader autograde: the reference, shortcut
attempts, differently written correct answers, typical mistakes, and a blank
notebook each get the score they deserve on every test cell."""

from lesson_harness import BLANK, WholeCell, expected_scores, grade_lesson, max_scores

LESSON = "02_embeddings"
EXERCISES = [
    "segment",
    "build_vocab",
    "encode",
    "pad_batch",
    "one_hot",
    "embedding_as_matmul",
    "embedding_grad",
]

# A student who wrote their own vocabulary class instead of using rnncourse.Vocab,
# and broke ties between equally frequent tokens alphabetically.
OWN_VOCAB_CLASS = WholeCell("""
class MyVocab:
    def __init__(self, tokens):
        self.itos = list(tokens)
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def __getitem__(self, token):
        return self.stoi.get(token, self.stoi["<unk>"])

    def lookup_tokens(self, indices):
        return [self.itos[i] for i in indices]


def build_vocab(token_lists, min_freq=1, reserved=("<pad>", "<unk>")):
    counts = {}
    for tokens in token_lists:
        for t in tokens:
            counts[t] = counts.get(t, 0) + 1
    kept = sorted((t for t in counts if counts[t] >= min_freq and t not in reserved),
                  key=lambda t: (-counts[t], t))
    return MyVocab(list(reserved) + kept)
""")

SUBMISSIONS = {
    "reference": {},
    # The forbidden torch shortcuts and the course's reference answers.
    "forbidden": {
        "segment": "return rnncourse.segment(text)",
        "build_vocab": "return rnncourse.build_vocab(token_lists, min_freq, reserved)",
        "encode": "return rnncourse.encode(tokens, vocab)",
        "pad_batch": "return rnncourse.pad_batch(sequences, pad_index)",
        "one_hot": "return torch.nn.functional.one_hot(indices, num_classes).float()",
        "embedding_as_matmul": "return torch.nn.functional.embedding(indices, weight)",
        # autograd through nn.Embedding does the work
        "embedding_grad": """
            emb = nn.Embedding(num_embeddings, grad_output.shape[-1]).to(grad_output.dtype)
            emb(indices).backward(grad_output)
            return emb.weight.grad
        """,
    },
    # autograd on a plain lookup, no nn.Embedding: autograd itself is what is forbidden
    "forbidden_autograd": {
        "embedding_grad": """
            W = torch.zeros(num_embeddings, grad_output.shape[-1], dtype=grad_output.dtype,
                            requires_grad=True)
            (grad,) = torch.autograd.grad(W[indices], W, grad_output)
            return grad
        """,
    },
    # Correct, but written another way.
    "alternative": {
        "segment": "return [t for t in jieba.cut(text) if not t.isspace()]",
        "build_vocab": OWN_VOCAB_CLASS,
        "encode": "return torch.as_tensor([vocab[t] for t in tokens], dtype=torch.int64)",
        "pad_batch": """
            seqs = [torch.as_tensor(s) for s in sequences]
            padded = nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=pad_index)
            return padded, torch.tensor([len(s) for s in seqs])
        """,
        "one_hot": "return torch.eye(num_classes)[indices]",
        "embedding_as_matmul": """
            x = one_hot(indices, weight.shape[0]).to(weight.dtype)
            return torch.einsum("...v,ve->...e", x, weight)
        """,
        # one_hot transposed times grad_output (with this student's own one_hot: torch.eye)
        "embedding_grad": """
            E = grad_output.shape[-1]
            X = one_hot(indices.reshape(-1), num_embeddings).to(grad_output.dtype)
            return X.T @ grad_output.reshape(-1, E)
        """,
    },
    # embedding_grad as a Python loop over the positions, accumulated in float32
    "alternative_loop": {
        "embedding_grad": """
            E = grad_output.shape[-1]
            grad = [[0.0] * E for _ in range(num_embeddings)]
            for k, row in zip(indices.flatten().tolist(), grad_output.reshape(-1, E).tolist()):
                grad[k] = [a + b for a, b in zip(grad[k], row)]
            return torch.tensor(grad)
        """,
    },
    # index_put_ with accumulate=True
    "alternative_index_put": {
        "embedding_grad": """
            E = grad_output.shape[-1]
            grad = grad_output.new_zeros(num_embeddings, E)
            return grad.index_put_((indices.reshape(-1),), grad_output.reshape(-1, E),
                                   accumulate=True)
        """,
    },
    # Typical mistakes, one per exercise.
    "wrong_a": {
        # whitespace tokens kept
        "segment": "return jieba.lcut(text)",
        # sorted alphabetically instead of by frequency
        "build_vocab": """
            counts = Counter(t for tokens in token_lists for t in tokens)
            kept = sorted(t for t, n in counts.items() if n >= min_freq and t not in reserved)
            return rnncourse.Vocab(list(reserved) + kept)
        """,
        # bypasses vocab[...]: unknown tokens raise KeyError
        "encode": "return torch.tensor([vocab.token_to_idx[t] for t in tokens])",
        # pads on the left
        "pad_batch": """
            lengths = torch.tensor([len(s) for s in sequences])
            padded = torch.full((len(sequences), int(lengths.max())), pad_index)
            for b, s in enumerate(sequences):
                padded[b, padded.shape[1] - len(s) :] = torch.as_tensor(s)
            return padded, lengths
        """,
        # the classes on the first axis
        "one_hot": "return (torch.arange(num_classes)[:, None] == indices).float()",
        # multiplies by the transposed weight
        "embedding_as_matmul": "return one_hot(indices, weight.shape[1]) @ weight.T",
        # overwrites instead of accumulating: a repeated token keeps one of its rows
        "embedding_grad": """
            E = grad_output.shape[-1]
            grad = torch.zeros(num_embeddings, E, dtype=grad_output.dtype)
            grad[indices.reshape(-1)] += grad_output.reshape(-1, E)
            return grad
        """,
    },
    "wrong_b": {
        # jieba's full mode: overlapping words
        "segment": "return [t for t in jieba.lcut(text, cut_all=True) if t.strip()]",
        # min_freq off by one
        "build_vocab": """
            counts = Counter(t for tokens in token_lists for t in tokens)
            kept = [t for t, n in counts.most_common() if n > min_freq and t not in reserved]
            return rnncourse.Vocab(list(reserved) + kept)
        """,
        # torch.Tensor(...) makes floats
        "encode": "return torch.Tensor([vocab[t] for t in tokens])",
        # the lengths after padding
        "pad_batch": """
            L_max = max(len(s) for s in sequences)
            padded = torch.full((len(sequences), L_max), pad_index)
            for b, s in enumerate(sequences):
                padded[b, : len(s)] = torch.as_tensor(s)
            return padded, torch.full((len(sequences),), L_max)
        """,
        # integer one-hot vectors
        "one_hot": "return (indices.unsqueeze(-1) == torch.arange(num_classes)).long()",
        # the embeddings come out feature-major, (E, N)
        "embedding_as_matmul": "return weight.T @ one_hot(indices, weight.shape[0]).T",
        # the gradient of the lookup's output, (L, E), not of the table, (V, E)
        "embedding_grad": "return grad_output",
    },
    "wrong_c": {
        # characters, not words
        "segment": "return [ch for ch in text if ch.strip()]",
        # ascending frequency, reserved tokens at the end
        "build_vocab": """
            counts = Counter(t for tokens in token_lists for t in tokens)
            kept = [t for t, n in reversed(counts.most_common()) if n >= min_freq]
            return rnncourse.Vocab(kept + [t for t in reserved if t not in counts])
        """,
        # index_put_ without accumulate=True: the same overwrite
        "embedding_grad": """
            E = grad_output.shape[-1]
            grad = torch.zeros(num_embeddings, E, dtype=grad_output.dtype)
            return grad.index_put_((indices.reshape(-1),), grad_output.reshape(-1, E))
        """,
    },
    "wrong_d": {
        # transposes one_hot's last two axes: right for one sentence, (N, V, E) for a batch
        "embedding_grad": "return one_hot(indices, num_embeddings).transpose(-2, -1) @ grad_output",
    },
    "blank": BLANK,
}

FULL_MARKS = {"reference", "alternative", "alternative_loop", "alternative_index_put"}


def test_autograde_scores(tmp_path):
    assert set(max_scores(LESSON)) == {f"test_{name}" for name in EXERCISES}
    got = grade_lesson(LESSON, SUBMISSIONS, tmp_path)
    assert got == expected_scores(LESSON, SUBMISSIONS, FULL_MARKS)
