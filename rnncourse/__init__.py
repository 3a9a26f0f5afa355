"""rnncourse — the package the course's notebooks import.

``import rnncourse`` gives the student's API: the reference answer of every
exercise (``rnncourse.rnn_step`` is the reference of the ``rnn_step``
exercise), the data sets, training loops, plots, the GPU toggle and the test
helpers. Beneath it, the subpackages say who runs their code:

    rnncourse.teaching     the teaching modules, one per concept; the student's kernel
    rnncourse.in_kernel    checks that run in the student's kernel while tests run
                           (check_close, the shortcut guard, the integrity check)
    rnncourse.student      the student's commands: rnncourse check, pack, doctor
    rnncourse.instructor   the instructor's machinery: release, collect, autograde in a
                           sandbox, feedback, grades, the nbgrader plugins
    rnncourse.course, rnncourse.nbgrader_cells
                           the course folder and nbgrader's cell metadata, read by both
                           the student's and the instructor's commands

Names are loaded on first use, so ``import rnncourse`` is quick and a command
that needs no torch (``rnncourse check``) never imports it; nothing here loads
the instructor's modules.

Shape letters used in every docstring (the same ones ``torch.nn.RNN`` uses):

    N      batch size
    L      sequence length (number of time steps)
    H_in   input features per step
    H      hidden size (H_out in torch's docs)
    D      number of directions (2 if bidirectional, else 1)
    V      vocabulary size
    E      embedding size
    T      length of a whole series or corpus, before it is cut into sequences
    Q      number of outputs of a linear head (q in W_hq: V for a language model)
    C      number of classes of a classifier
    B      number of sequences padded into one batch (lesson 02's contract; N elsewhere)
    L_max  the longest of those sequences; L_b the length of sequence b

A primed letter (T') is a size derived from the unprimed one inside a function.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "rnncourse.teaching.bptt": (
        "detach_state",
        "grad_norm_by_lag",
        "rnn_backward",
        "rnn_forward_cache",
        "scale_to_spectral_radius",
    ),
    "rnncourse.teaching.clipping": ("clip_grad_norm", "clip_grad_value", "global_grad_norm"),
    "rnncourse.teaching.datasets": (
        "DatasetError",
        "adding_problem",
        "addition_examples",
        "load_airline_passengers",
        "load_reviews",
        "read_time_machine",
        "timemachine_path",
    ),
    "rnncourse.teaching.device": ("environment_stamp", "pick_device"),
    "rnncourse.teaching.gradient_check": ("numerical_grad",),
    "rnncourse.teaching.gru": ("gru_cell",),
    "rnncourse.teaching.lstm": ("count_params", "lstm_cell", "lstm_gate_trace"),
    "rnncourse.teaching.plotting": (
        "LivePlot",
        "plot_activations",
        "plot_curves",
        "plot_forecast",
        "plot_grad_norms",
        "plot_lstm_gates",
        "plot_series",
    ),
    "rnncourse.teaching.scratch_rnn": (
        "RNNModelScratch",
        "init_rnn_params",
        "init_rnn_state",
        "perplexity",
        "predict_chars",
        "rnn_forward",
        "rnn_step",
        "sample_chars",
    ),
    "rnncourse.teaching.seed": ("seed_everything",),
    "rnncourse.teaching.simple_rnn": ("SimpleRNN",),
    "rnncourse.teaching.sequences": (
        "chronological_split",
        "make_windows",
        "naive_forecast",
        "rmse",
        "seasonal_naive",
        "seq_data_iter_random",
        "seq_data_iter_sequential",
    ),
    "rnncourse.teaching.text": (
        "ADDITION_CHARS",
        "Vocab",
        "build_vocab",
        "decode_addition",
        "embedding_as_matmul",
        "embedding_grad",
        "encode",
        "encode_addition",
        "load_corpus_time_machine",
        "one_hot",
        "pad_batch",
        "segment",
        "tokenize_time_machine",
    ),
    "rnncourse.teaching.torch_rnn": (
        "RNNLM",
        "last_valid_output",
        "load_scratch_params",
        "rnn_output_shapes",
    ),
    "rnncourse.teaching.training": (
        "LMHistory",
        "TrainHistory",
        "evaluate_perplexity",
        "evaluate_sequence_model",
        "train_epoch",
        "train_forecaster",
        "train_language_model",
        "train_sequence_model",
    ),
    "rnncourse.in_kernel.checks": ("check_close", "check_shape"),
    "rnncourse.in_kernel.nbgrader_mode": ("is_autograding",),
    "rnncourse.in_kernel.shortcuts": ("ShortcutError", "forbid", "forbid_shortcuts"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    """Load a public name from its module on first use (PEP 562) and keep it here."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'rnncourse' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
