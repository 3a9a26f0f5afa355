"""Lesson 04 (nn.RNN and its shapes) through nbgrader autograde: the reference,
shortcut attempts, differently written correct answers, typical mistakes, and a
blank notebook each get the score they deserve on every test cell."""

from lesson_harness import BLANK, expected_scores, grade_lesson, max_scores

LESSON = "04_rnn_shapes"
EXERCISES = ["rnn_output_shapes", "load_scratch_params", "last_valid_output"]

# The mistakes about c_n and kind (wrong_c ... wrong_f) start alike: the kind check and an
# RNN's shapes, both right.
KIND_CHECK = 'if kind not in ("rnn", "gru", "lstm"):\n    raise ValueError(kind)\n'
RNN_SHAPES = """
D = 2 if bidirectional else 1
first_two = (batch, seq_len) if batch_first else (seq_len, batch)
shapes = {"output": (*first_two, D * hidden_size), "h_n": (D * num_layers, batch, hidden_size)}
"""

SUBMISSIONS = {
    "reference": {},
    # reading the shapes off a real module; the course's reference answers
    "forbidden": {
        "rnn_output_shapes": """
            module = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind](
                input_size, hidden_size, num_layers=num_layers,
                bidirectional=bidirectional, batch_first=batch_first)
            x = torch.zeros((batch, seq_len, input_size) if batch_first
                            else (seq_len, batch, input_size))
            output, state = module(x)
            if kind == "lstm":
                return {"output": tuple(output.shape), "h_n": tuple(state[0].shape),
                        "c_n": tuple(state[1].shape)}
            return {"output": tuple(output.shape), "h_n": tuple(state.shape)}
        """,
        "load_scratch_params": "rnncourse.load_scratch_params(rnn, params)",
        "last_valid_output": "return rnncourse.last_valid_output(output, lengths, batch_first)",
    },
    # Correct, but written another way.
    "alternative": {
        # lists of sizes, a table of the states each kind has, KeyError turned into ValueError
        "rnn_output_shapes": """
            states = {"rnn": ["h_n"], "gru": ["h_n"], "lstm": ["h_n", "c_n"]}
            if kind not in states:
                raise ValueError(f"unknown kind {kind}")
            num_directions = 1 + int(bidirectional)
            first_two = [batch, seq_len] if batch_first else [seq_len, batch]
            result = {"output": tuple(first_two + [num_directions * hidden_size])}
            for name in states[kind]:
                result[name] = tuple([num_directions * num_layers, batch, hidden_size])
            return result
        """,
        # load_state_dict, with the bias split between the two torch biases
        "load_scratch_params": """
            W_xh, W_hh, b_h = params[0], params[1], params[2]
            rnn.load_state_dict({
                "weight_ih_l0": W_xh.t().contiguous(),
                "weight_hh_l0": W_hh.t().contiguous(),
                "bias_ih_l0": b_h / 2,
                "bias_hh_l0": b_h / 2,
            })
        """,
        # gather instead of fancy indexing
        "last_valid_output": """
            out = output if batch_first else output.transpose(0, 1)
            idx = torch.as_tensor(lengths, device=out.device) - 1
            idx = idx.view(-1, 1, 1).expand(-1, 1, out.shape[2])
            return out.gather(1, idx).squeeze(1)
        """,
    },
    # Typical mistakes, one per exercise.
    "wrong_a": {
        # h_n (and c_n) made batch-first too
        "rnn_output_shapes": """
            if kind not in ("rnn", "gru", "lstm"):
                raise ValueError(kind)
            D = 2 if bidirectional else 1
            if batch_first:
                shapes = {"output": (batch, seq_len, D * hidden_size),
                          "h_n": (batch, D * num_layers, hidden_size)}
            else:
                shapes = {"output": (seq_len, batch, D * hidden_size),
                          "h_n": (D * num_layers, batch, hidden_size)}
            if kind == "lstm":
                shapes["c_n"] = shapes["h_n"]
            return shapes
        """,
        # b_h in both torch biases: added twice
        "load_scratch_params": """
            W_xh, W_hh, b_h, _, _ = params
            with torch.no_grad():
                rnn.weight_ih_l0.copy_(W_xh.T)
                rnn.weight_hh_l0.copy_(W_hh.T)
                rnn.bias_ih_l0.copy_(b_h)
                rnn.bias_hh_l0.copy_(b_h)
        """,
        # the padded end
        "last_valid_output": """
            out = output if batch_first else output.transpose(0, 1)
            return out[:, -1]
        """,
    },
    "wrong_b": {
        # D forgotten
        "rnn_output_shapes": """
            if kind not in ("rnn", "gru", "lstm"):
                raise ValueError(kind)
            if batch_first:
                output = (batch, seq_len, hidden_size)
            else:
                output = (seq_len, batch, hidden_size)
            shapes = {"output": output, "h_n": (num_layers, batch, hidden_size)}
            if kind == "lstm":
                shapes["c_n"] = shapes["h_n"]
            return shapes
        """,
        # reshape where a transpose is needed
        "load_scratch_params": """
            W_xh, W_hh, b_h, _, _ = params
            with torch.no_grad():
                rnn.weight_ih_l0.copy_(W_xh.reshape(rnn.weight_ih_l0.shape))
                rnn.weight_hh_l0.copy_(W_hh.reshape(rnn.weight_hh_l0.shape))
                rnn.bias_ih_l0.copy_(b_h)
                rnn.bias_hh_l0.zero_()
        """,
        # lengths used as indices: one step too far
        "last_valid_output": """
            out = output if batch_first else output.transpose(0, 1)
            last = torch.as_tensor(lengths).clamp(max=out.shape[1] - 1)
            return out[torch.arange(out.shape[0]), last]
        """,
    },
    # c_n forgotten: an LSTM treated like an RNN
    "wrong_c": {"rnn_output_shapes": KIND_CHECK + RNN_SHAPES + "return shapes\n"},
    # c_n given the shape of output
    "wrong_d": {
        "rnn_output_shapes": KIND_CHECK
        + RNN_SHAPES
        + 'if kind == "lstm":\n    shapes["c_n"] = shapes["output"]\nreturn shapes\n'
    },
    # an unknown kind silently treated as "rnn"; c_n given to the GRU too
    "wrong_e": {
        "rnn_output_shapes": RNN_SHAPES
        + 'if kind != "rnn":\n    shapes["c_n"] = shapes["h_n"]\nreturn shapes\n'
    },
    # right shapes, but no ValueError: an unknown kind gets an RNN's shapes
    "wrong_f": {
        "rnn_output_shapes": RNN_SHAPES
        + 'if kind == "lstm":\n    shapes["c_n"] = shapes["h_n"]\nreturn shapes\n'
    },
    "blank": BLANK,
}

FULL_MARKS = {"reference", "alternative"}


def test_autograde_scores(tmp_path):
    assert set(max_scores(LESSON)) == {f"test_{name}" for name in EXERCISES}
    got = grade_lesson(LESSON, SUBMISSIONS, tmp_path)
    assert got == expected_scores(LESSON, SUBMISSIONS, FULL_MARKS)
