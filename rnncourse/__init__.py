"""rnncourse — the reference package of the rnncourse workbook.

Shape letters used in every docstring (the same ones ``torch.nn.RNN`` uses):

    N      batch size
    L      sequence length (number of time steps)
    H_in   input features per step
    H      hidden size (H_out in torch's docs)
    D      number of directions (2 if bidirectional, else 1)
    V      vocabulary size
    E      embedding size

Every exercise of the course has a reference implementation here, re-exported
from ``rnncourse`` itself, so ``rnncourse.rnn_step`` is the reference answer of
the ``rnn_step`` exercise.
"""

__version__ = "0.1.0"

from .bptt import (
    detach_state,
    grad_norm_by_lag,
    rnn_backward,
    rnn_forward_cache,
    scale_to_spectral_radius,
)
from .clipping import clip_grad_norm, clip_grad_value, global_grad_norm
from .datasets import (
    DatasetError,
    adding_problem,
    addition_examples,
    load_airline_passengers,
    load_reviews,
    read_time_machine,
    timemachine_path,
)
from .device import environment_stamp, pick_device
from .grading import (
    ShortcutError,
    check_close,
    check_shape,
    forbid,
    forbid_shortcuts,
    is_autograding,
)
from .lstm import count_params, lstm_cell
from .plotting import (
    LivePlot,
    plot_curves,
    plot_forecast,
    plot_grad_norms,
    plot_series,
)
from .scratch_rnn import (
    RNNModelScratch,
    init_rnn_params,
    init_rnn_state,
    perplexity,
    predict_chars,
    rnn_forward,
    rnn_step,
)
from .seed import seed_everything
from .sequences import (
    chronological_split,
    make_windows,
    naive_forecast,
    rmse,
    seasonal_naive,
    seq_data_iter_random,
    seq_data_iter_sequential,
)
from .text import (
    ADDITION_CHARS,
    Vocab,
    build_vocab,
    decode_addition,
    embedding_as_matmul,
    encode,
    encode_addition,
    load_corpus_time_machine,
    one_hot,
    pad_batch,
    segment,
    tokenize_time_machine,
)
from .torch_rnn import RNNLM, last_valid_output, load_scratch_params, rnn_output_shapes
from .training import (
    LMHistory,
    TrainHistory,
    evaluate_perplexity,
    evaluate_sequence_model,
    train_forecaster,
    train_language_model,
    train_sequence_model,
)
