"""Text as numbers: segmentation, vocabularies, one-hot vectors and embeddings
(lesson 02), the character corpus of The Time Machine (lesson 03) and the
character table of the addition task (lesson 07).

Shapes use the package's letters: N batch, L sequence length, V vocabulary
size, E embedding size.
"""

import logging
import re
from collections import Counter

import jieba
import torch

# jieba logs "Building prefix dict ..." to stderr when it loads its dictionary
# (on first use); in a graded notebook cell any stderr output counts against
# the cell, so keep it quiet.
jieba.setLogLevel(logging.WARNING)

# --- segmentation -------------------------------------------------------------


def segment(text):
    """Segment Chinese text into words (分词) with jieba.

    Returns a list of tokens; tokens made only of whitespace are dropped.
    Punctuation is kept as its own token. A text that is not a str (a
    (text, label) pair, a list) raises TypeError.
    """
    if not isinstance(text, str):  # jieba's own error ("no attribute 'decode'") says little
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return [token for token in jieba.lcut(text) if token.strip()]


# --- vocabulary -------------------------------------------------------------


class Vocab:
    """A vocabulary (词表): a fixed mapping between tokens and indices.

    Build one with ``build_vocab``. ``vocab[token]`` gives an index (unknown
    tokens map to ``vocab.unk``, the index of "<unk>"), ``vocab[list]`` a list
    of indices, and ``vocab.lookup_tokens(indices)`` goes back to tokens.

    Attributes:
    - idx_to_token: list of tokens, position = index
    - token_to_idx: dict token -> index
    - unk: index of "<unk>", or None if the vocabulary has no "<unk>" (then
      looking up an unknown token raises KeyError)
    """

    def __init__(self, idx_to_token, unk_token="<unk>"):
        self.idx_to_token = list(idx_to_token)
        self.token_to_idx = {token: i for i, token in enumerate(self.idx_to_token)}
        if len(self.token_to_idx) != len(self.idx_to_token):
            duplicates = sorted(t for t, n in Counter(self.idx_to_token).items() if n > 1)
            raise ValueError(f"a vocabulary lists each token once; repeated: {duplicates}")
        self.unk = self.token_to_idx.get(unk_token)

    def __len__(self):
        return len(self.idx_to_token)

    def __contains__(self, token):
        return token in self.token_to_idx

    def __getitem__(self, tokens):
        """Index of one token, or a list of indices for a list/tuple of tokens."""
        if isinstance(tokens, (list, tuple)):
            return [self[token] for token in tokens]
        if tokens in self.token_to_idx:
            return self.token_to_idx[tokens]
        if self.unk is None:
            raise KeyError(
                f"token {tokens!r} is not in the vocabulary, and the vocabulary has no "
                "'<unk>' token to map it to (build it with '<unk>' in reserved)"
            )
        return self.unk

    def lookup_tokens(self, indices):
        """Token of one index, or a list of tokens for a list / 1-D tensor of indices."""
        if isinstance(indices, torch.Tensor):
            indices = indices.tolist()
        if isinstance(indices, (list, tuple)):
            return [self.lookup_tokens(i) for i in indices]
        if isinstance(indices, bool) or not isinstance(indices, int):
            raise TypeError(f"an index must be an int, got {type(indices).__name__}")
        if not 0 <= indices < len(self):
            raise IndexError(f"index {indices} is out of range for a vocabulary of {len(self)}")
        return self.idx_to_token[indices]

    def __repr__(self):
        head = ", ".join(repr(t) for t in self.idx_to_token[:8])
        more = ", ..." if len(self) > 8 else ""
        return f"Vocab(size={len(self)}, tokens=[{head}{more}])"


def build_vocab(token_lists, min_freq=1, reserved=("<pad>", "<unk>")):
    """Build a vocabulary from tokenised texts.

    Inputs:
    - token_lists: list of token lists, e.g. ``[segment(s) for s in sentences]``
    - min_freq: tokens seen fewer times are left out (they will map to "<unk>")
    - reserved: tokens placed first, in this order (so "<pad>" is 0, "<unk>" 1)

    Order after the reserved tokens: descending frequency, ties broken by first
    appearance in token_lists, so the same data always gives the same indices.
    A list of strings instead of a list of token lists raises TypeError.
    """
    if any(isinstance(tokens, str) for tokens in token_lists):
        raise TypeError(
            "token_lists must be a list of token lists, e.g. [['我', '爱'], ['你']]; "
            "got strings (wrap one text's tokens in a list: [tokens])"
        )
    counts = Counter(token for tokens in token_lists for token in tokens)
    # most_common(): by descending count, equal counts in order of first appearance
    kept = [t for t, n in counts.most_common() if n >= min_freq and t not in reserved]
    return Vocab(list(reserved) + kept)


def encode(tokens, vocab):
    """Indices of tokens as a (L,) LongTensor (unknown tokens -> vocab.unk)."""
    return torch.tensor([vocab[token] for token in tokens], dtype=torch.long)  # (L,)


def pad_batch(sequences, pad_index=0):
    """Pad sequences of different lengths on the right into one batch.

    Inputs:
    - sequences: list of N sequences of token ids (lists or 1-D tensors), lengths L_b
    - pad_index: the id written after each sequence's end

    Returns (padded, lengths):
    - padded: (N, L_max) LongTensor, row b = sequences[b] then pad_index
    - lengths: (N,) LongTensor, lengths[b] = L_b, the real length of sequence b
    """
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)  # (N,)
    padded = torch.full((len(sequences), int(lengths.max())), pad_index, dtype=torch.long)
    for b, s in enumerate(sequences):
        padded[b, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return padded, lengths


# --- one-hot vectors and embeddings -------------------------------------------


def one_hot(indices, num_classes):
    """One-hot vectors (独热向量): out[..., k] = 1.0 if indices[...] == k else 0.0.

    Inputs:
    - indices: (*) integer tensor with values in 0 .. num_classes - 1
    - num_classes: V, the length of each vector

    Returns a (*, V) float32 tensor on the device of indices (``.to(dtype)``
    for another float dtype). An index outside 0 .. V - 1 gives a row of zeros.
    """
    classes = torch.arange(num_classes, device=indices.device)  # (V,)
    # Compare every index with every class; broadcasting adds the last axis.
    return (indices.unsqueeze(-1) == classes).float()  # (*, V)


def embedding_as_matmul(indices, weight):
    """Embedding lookup written as a matrix product: one_hot(indices, V) @ weight.

    Inputs:
    - indices: (*) integer tensor of token ids, values in 0 .. V - 1
    - weight: (V, E) float tensor, one row per token

    Returns a (*, E) tensor of weight's dtype, equal to ``nn.Embedding`` with
    this weight: the one-hot vector of token k picks row k of weight.
    """
    V = weight.shape[0]
    return one_hot(indices, V).to(weight.dtype) @ weight  # (*, V) @ (V, E) -> (*, E)


def embedding_grad(indices, grad_output, num_embeddings):
    """Gradient of the loss with respect to an embedding table, by hand.

    The lookup is y = one_hot(indices, V) @ W, so dloss/dW = one_hot^T @ dloss/dy:
    row k is the sum of the upstream gradient over every position holding
    token k (a repeated token adds up; rows of tokens not looked up are zero).

    Inputs:
    - indices: (*) integer tensor of token ids, values in 0 .. V - 1
    - grad_output: (*, E) float tensor, dloss/dy for the lookup y = W[indices]
    - num_embeddings: V, the number of rows of the table

    Returns a (V, E) tensor of grad_output's dtype and device, equal to the
    gradient autograd gives ``nn.Embedding(V, E).weight`` (no padding_idx).
    """
    E = grad_output.shape[-1]
    flat_ids = indices.reshape(-1)  # (M,): every looked-up position, M = numel(indices)
    flat_grad = grad_output.reshape(-1, E)  # (M, E): the upstream gradient at each one
    grad_W = torch.zeros(num_embeddings, E, dtype=grad_output.dtype, device=grad_output.device)
    # index_add_ adds row m of flat_grad into row flat_ids[m]: repeated ids accumulate
    # (grad_W[flat_ids] += flat_grad would keep only one of them).
    return grad_W.index_add_(0, flat_ids, flat_grad)  # (V, E)


# --- The Time Machine, character level ----------------------------------------


def tokenize_time_machine(text):
    """Lowercase the text and turn every run of non-letters into one space.

    After this the text has 27 distinct characters: a-z and the space.
    """
    return re.sub("[^a-z]+", " ", text.lower())


def load_corpus_time_machine(max_tokens=-1):
    """The Time Machine (H. G. Wells) as a list of character indices.

    Returns (corpus, vocab): corpus a list[int], one index per character of
    ``tokenize_time_machine(text)``; vocab a character Vocab with "<unk>" at 0,
    then the characters by descending frequency (28 tokens). With
    max_tokens > 0 the corpus is cut to its first max_tokens characters.
    """
    from .datasets import read_time_machine  # lazy: only this loader needs the file

    chars = list(tokenize_time_machine(read_time_machine()))
    vocab = build_vocab([chars], reserved=("<unk>",))
    corpus = vocab[chars]
    if max_tokens > 0:
        corpus = corpus[:max_tokens]
    return corpus, vocab


# --- 3-digit addition (lesson 07) ---------------------------------------------

ADDITION_CHARS = "0123456789+ "


def encode_addition(query, maxlen):
    """One-hot encode an addition query such as "535+61" for a sequence model.

    The query is padded on the right with spaces to maxlen characters.
    Returns a (maxlen, 12) float tensor: row t is the one-hot vector of
    character t of ``query.ljust(maxlen)``; column k stands for ADDITION_CHARS[k].
    A query longer than maxlen, or with a character not in the table, raises
    ValueError.
    """
    if len(query) > maxlen:
        raise ValueError(f"query {query!r} is longer than maxlen={maxlen}")
    bad = [ch for ch in query if ch not in ADDITION_CHARS]
    if bad:
        raise ValueError(f"query {query!r} has characters outside {ADDITION_CHARS!r}: {bad}")
    x = torch.zeros(maxlen, len(ADDITION_CHARS))  # (maxlen, 12)
    for t, ch in enumerate(query.ljust(maxlen)):
        x[t, ADDITION_CHARS.index(ch)] = 1.0
    return x


def decode_addition(indices):
    """Characters of an encoded sequence, padding spaces included.

    Inputs: either (L,) integer indices into ADDITION_CHARS, or a (L, 12) float
    tensor of one-hot vectors or predicted probabilities/logits (the most
    likely character of each row is taken). Returns a str of length L; call
    ``.strip()`` to drop the padding.
    """
    x = torch.as_tensor(indices)
    if x.is_floating_point():
        x = x.argmax(dim=-1)  # (L,): the most likely character of each row
    return "".join(ADDITION_CHARS[k] for k in x.tolist())
