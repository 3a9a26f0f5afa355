"""The four character language models the benchmarks compare, behind one protocol.

The models are the package's own: the from-scratch RNN of lesson 03
(``RNNModelScratch``) and ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` behind
``RNNLM`` (lesson 04 onwards), on the characters of The Time Machine (V = 28).
"""

from __future__ import annotations

from torch import nn

from rnncourse import RNNLM, RNNModelScratch

MODELS = ("scratch RNN", "nn.RNN", "nn.GRU", "nn.LSTM")
_LAYERS = {"nn.RNN": nn.RNN, "nn.GRU": nn.GRU, "nn.LSTM": nn.LSTM}


def build_model(name: str, vocab_size: int, num_hiddens: int, device):
    """A language model following the course's net protocol, on ``device``."""
    if name == "scratch RNN":
        return RNNModelScratch(vocab_size, num_hiddens, device)
    if name not in _LAYERS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {name!r}")
    return RNNLM(_LAYERS[name](vocab_size, num_hiddens), vocab_size).to(device)
