"""Tests of rnncourse.text: segmentation, vocabularies, one-hot and embeddings
(lesson 02), The Time Machine corpus (lesson 03), the addition table (lesson 07)."""

import os
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnncourse.teaching.text import (
    ADDITION_CHARS,
    Vocab,
    build_vocab,
    decode_addition,
    embedding_as_matmul,
    embedding_grad,
    encode,
    encode_addition,
    load_corpus_time_machine,
    one_hot,
    pad_batch,
    segment,
    tokenize_time_machine,
)

SENTENCE = "北京冬奥的进度条已经过半，不少外国运动员在完成自己的比赛后踏上归途。"

# --- segment ------------------------------------------------------------------


def test_segment_splits_the_sentence_quietly(capfd):
    tokens = segment(SENTENCE)
    out, err = capfd.readouterr()
    assert err == "", f"segment wrote to stderr: {err!r}"
    assert out == ""
    assert len(tokens) > 5, "a sentence of this length has many words"
    assert "".join(tokens) == SENTENCE
    assert all(t and t.strip() == t for t in tokens)
    assert "运动员" in tokens and "，" in tokens


def test_segment_drops_whitespace_tokens():
    tokens = segment("我 爱\t北京\n 天安门  ")
    assert all(t.strip() for t in tokens)
    assert "".join(tokens) == "我爱北京天安门"
    assert segment("   ") == []


def test_segment_rejects_non_text():
    with pytest.raises(TypeError):
        segment(["北京"])


# --- Vocab and build_vocab ------------------------------------------------------


def test_build_vocab_orders_reserved_then_frequency_then_first_appearance():
    token_lists = [["b", "a", "c"], ["a", "d", "c", "a"], ["e"]]
    vocab = build_vocab(token_lists)
    # a: 3, c: 2, then b, d, e with 1 each in order of first appearance
    assert vocab.idx_to_token == ["<pad>", "<unk>", "a", "c", "b", "d", "e"]
    assert vocab.token_to_idx == {t: i for i, t in enumerate(vocab.idx_to_token)}
    assert len(vocab) == 7
    assert vocab["<pad>"] == 0 and vocab["<unk>"] == 1 and vocab.unk == 1


def test_build_vocab_is_deterministic_on_chinese_tokens():
    tokens = segment(SENTENCE)
    first = build_vocab([tokens]).idx_to_token
    assert build_vocab([list(tokens)]).idx_to_token == first
    assert first[2] == "的", "'的' appears twice, every other word once"
    assert first[3:] == [t for t in dict.fromkeys(tokens) if t != "的"]


def test_build_vocab_min_freq_leaves_rare_tokens_out():
    vocab = build_vocab([["x", "y", "x", "z", "y", "x"]], min_freq=2)
    assert vocab.idx_to_token == ["<pad>", "<unk>", "x", "y"]
    assert vocab["z"] == vocab.unk == 1


def test_build_vocab_custom_reserved_order_and_no_duplicates():
    vocab = build_vocab([["<unk>", "a", "a", "<bos>"]], reserved=("<unk>", "<bos>"))
    assert vocab.idx_to_token == ["<unk>", "<bos>", "a"]
    assert vocab.unk == 0


def test_vocab_lookups_both_ways():
    vocab = build_vocab([["a", "b", "b"]])
    assert vocab[["b", "a", "never-seen"]] == [2, 3, 1]
    assert vocab[("a",)] == [3]
    assert vocab.lookup_tokens(2) == "b"
    assert vocab.lookup_tokens([3, 2, 0]) == ["a", "b", "<pad>"]
    assert vocab.lookup_tokens(torch.tensor([3, 1])) == ["a", "<unk>"]
    assert vocab.lookup_tokens(torch.tensor(2)) == "b"
    assert "a" in vocab and "zzz" not in vocab


def test_vocab_without_unk_raises_a_clear_key_error():
    vocab = build_vocab([["a"]], reserved=("<pad>",))
    assert vocab.unk is None
    with pytest.raises(KeyError, match="<unk>"):
        vocab["b"]


def test_vocab_rejects_bad_indices_and_inputs():
    vocab = build_vocab([["a"]])
    with pytest.raises(IndexError):
        vocab.lookup_tokens(3)
    with pytest.raises(IndexError):
        vocab.lookup_tokens(-1)
    with pytest.raises(TypeError):
        vocab.lookup_tokens(1.0)
    with pytest.raises(ValueError, match="repeated"):
        Vocab(["a", "b", "a"])
    with pytest.raises(TypeError, match="token lists"):
        build_vocab(["ab", "cd"])


# --- encode and pad_batch ------------------------------------------------------


def test_encode_returns_long_indices():
    vocab = build_vocab([["a", "b", "b"]])
    ids = encode(["b", "a", "?"], vocab)
    assert ids.dtype == torch.long and ids.shape == (3,)
    assert ids.tolist() == [2, 3, 1]
    assert encode([], vocab).shape == (0,)


def test_pad_batch_pads_to_the_longest_and_reports_lengths():
    padded, lengths = pad_batch([torch.tensor([5, 6, 7]), [8], torch.tensor([9, 10])])
    assert padded.dtype == torch.long and lengths.dtype == torch.long
    assert padded.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert lengths.tolist() == [3, 1, 2]
    padded, _ = pad_batch([[1], [2, 3]], pad_index=-1)
    assert padded.tolist() == [[1, -1], [2, 3]]
    # the same result as torch's own helper
    seqs = [torch.tensor([1, 2]), torch.tensor([3, 4, 5, 6]), torch.tensor([7])]
    expected = nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=0)
    assert torch.equal(pad_batch(seqs)[0], expected)


# --- one_hot and embedding_as_matmul ---------------------------------------------


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), ()])
def test_one_hot_equals_torch_one_hot(shape):
    indices = torch.randint(0, 7, shape)
    got = one_hot(indices, 7)
    assert got.shape == (*shape, 7)
    assert got.dtype == torch.float32
    assert torch.equal(got, F.one_hot(indices, 7).float())


def test_one_hot_does_not_call_torch_one_hot(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("one_hot must not use torch.nn.functional.one_hot")

    monkeypatch.setattr(F, "one_hot", forbidden)
    monkeypatch.setattr(torch.nn.functional, "one_hot", forbidden)
    assert one_hot(torch.tensor([1]), 2).tolist() == [[0, 1]]


@pytest.mark.parametrize("shape", [(6,), (2, 5), (2, 3, 4)])
def test_embedding_as_matmul_equals_nn_embedding(shape):
    torch.manual_seed(0)
    emb = nn.Embedding(11, 4).double()
    indices = torch.randint(0, 11, shape)
    got = embedding_as_matmul(indices, emb.weight)
    assert got.shape == (*shape, 4)
    torch.testing.assert_close(got, emb(indices), rtol=0, atol=1e-12)


def test_embedding_as_matmul_passes_gradients_to_the_used_rows():
    weight = torch.randn(5, 3, requires_grad=True)
    embedding_as_matmul(torch.tensor([1, 1, 4]), weight).sum().backward()
    assert weight.grad[:, 0].tolist() == [0, 2, 0, 0, 1]


def autograd_embedding_grad(indices, grad_output, num_embeddings, dtype):
    """What autograd gives nn.Embedding's weight for this upstream gradient."""
    emb = nn.Embedding(num_embeddings, grad_output.shape[-1]).to(dtype)
    emb(indices).backward(grad_output.to(dtype))
    return emb.weight.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), ()])
def test_embedding_grad_equals_autograd_of_nn_embedding(shape, dtype):
    g = torch.Generator().manual_seed(len(shape))
    indices = torch.randint(0, 6, shape, generator=g)  # V = 9: rows 6-8 are never used
    grad_output = torch.randn(*shape, 4, generator=g, dtype=dtype)
    got = embedding_grad(indices, grad_output, 9)
    assert got.shape == (9, 4) and got.dtype == dtype
    expected = autograd_embedding_grad(indices, grad_output, 9, dtype)
    torch.testing.assert_close(got, expected)  # torch's tolerances for the dtype
    assert torch.count_nonzero(got[6:]) == 0, "rows of tokens never looked up stay zero"


def test_embedding_grad_adds_up_repeated_tokens():
    indices = torch.tensor([2, 0, 2, 2])
    grad_output = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    got = embedding_grad(indices, grad_output, 4)
    assert got.tolist() == [[2.0, 20.0], [0.0, 0.0], [8.0, 80.0], [0.0, 0.0]]


def test_embedding_grad_is_one_hot_transposed_times_grad_output():
    g = torch.Generator().manual_seed(1)
    indices = torch.randint(0, 5, (3, 4), generator=g)
    grad_output = torch.randn(3, 4, 6, generator=g, dtype=torch.float64)
    one_hots = one_hot(indices, 5).to(torch.float64).reshape(-1, 5)  # (M, V)
    expected = one_hots.T @ grad_output.reshape(-1, 6)  # (V, M) @ (M, E)
    torch.testing.assert_close(embedding_grad(indices, grad_output, 5), expected)


def test_embedding_grad_accepts_int32_ids_and_no_ids():
    got = embedding_grad(torch.tensor([1, 1], dtype=torch.int32), torch.ones(2, 3), 3)
    assert got.tolist() == [[0, 0, 0], [2, 2, 2], [0, 0, 0]]
    empty = embedding_grad(torch.zeros(0, dtype=torch.long), torch.zeros(0, 3), 4)
    assert empty.shape == (4, 3) and torch.count_nonzero(empty) == 0


def test_embedding_grad_uses_neither_autograd_nor_nn_embedding(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("embedding_grad must compute the gradient by hand")

    for owner, name in [
        (torch.Tensor, "backward"),
        (torch.autograd, "grad"),
        (torch.autograd, "backward"),
        (F, "embedding"),
        (nn, "Embedding"),
        (torch, "embedding"),
    ]:
        monkeypatch.setattr(owner, name, forbidden)
    assert embedding_grad(torch.tensor([0]), torch.ones(1, 2), 2).tolist() == [[1, 1], [0, 0]]


# --- The Time Machine ---------------------------------------------------------------


def test_tokenize_time_machine_keeps_letters_and_single_spaces():
    assert tokenize_time_machine("The Time-Machine, 1895!\n\nI.") == "the time machine i "
    assert tokenize_time_machine("  a") == " a"


needs_data = pytest.mark.skipif(
    "RNNCOURSE_DATA" not in os.environ, reason="set RNNCOURSE_DATA to the datasets folder"
)


@needs_data
def test_load_corpus_time_machine_has_28_characters():
    corpus, vocab = load_corpus_time_machine()
    assert len(vocab) == 28
    assert vocab.idx_to_token[0] == "<unk>" and vocab.unk == 0
    assert vocab.idx_to_token[1] == " ", "the space is the most frequent character"
    assert set(vocab.idx_to_token[1:]) == set("abcdefghijklmnopqrstuvwxyz ")
    assert len(corpus) > 100_000
    text = "".join(vocab.lookup_tokens(corpus))
    assert re.fullmatch("[a-z ]+", text)
    assert "  " not in text, "every run of non-letters must become one space"
    assert "the time traveller" in text
    short, _ = load_corpus_time_machine(max_tokens=1000)
    assert short == corpus[:1000]


# --- 3-digit addition -------------------------------------------------------------


def test_addition_round_trip():
    x = encode_addition("535+61", 7)
    assert x.shape == (7, 12) and x.dtype == torch.float32
    assert x.sum(dim=1).tolist() == [1.0] * 7
    assert decode_addition(x) == "535+61 "
    assert decode_addition(x.argmax(dim=1)) == "535+61 "
    assert decode_addition([5, 9, 6, 11]).strip() == "596"
    assert ADDITION_CHARS == "0123456789+ "


def test_decode_addition_takes_the_most_likely_character():
    scores = torch.full((3, 12), -1.0)
    scores[0, 5], scores[1, 9], scores[2, 11] = 2.0, 0.5, 0.1
    assert decode_addition(scores.softmax(dim=1)) == "59 "


def test_addition_rejects_bad_input():
    with pytest.raises(ValueError, match="maxlen"):
        encode_addition("123+456", 5)
    with pytest.raises(ValueError, match="outside"):
        encode_addition("12-3", 7)
