"""rnncourse.in_kernel: failure messages, is_autograding, and the shortcut guard."""

import pkgutil
import subprocess
import sys
import textwrap
import types
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rnncourse
import rnncourse.teaching.clipping
from rnncourse.in_kernel.checks import check_close, check_shape
from rnncourse.in_kernel.nbgrader_mode import is_autograding
from rnncourse.in_kernel.shortcuts import SHORTCUTS, ShortcutError, forbid, forbid_shortcuts

# ---------------------------------------------------------------- check_shape


def test_check_shape_accepts_tensors_arrays_and_lists():
    check_shape(torch.zeros(2, 3), (2, 3), "x")
    check_shape(np.zeros((2, 3)), torch.Size([2, 3]), "x")
    check_shape([[1, 2, 3], [4, 5, 6]], torch.zeros(2, 3), "x")


def test_check_shape_message_states_got_and_expected():
    with pytest.raises(AssertionError) as info:
        check_shape(torch.zeros(5, 3), (3, 5), "output")
    message = str(info.value)
    assert message.startswith("output has shape (5, 3); expected (3, 5)")
    assert "order of the dimensions" in message


def test_check_shape_appends_the_hint():
    with pytest.raises(AssertionError, match=r"has shape \(4, 2\); expected \(3, 5\) — \(L, N"):
        check_shape(torch.zeros(4, 2), (3, 5), "outputs", hint="(L, N, V) is time-major")
    with pytest.raises(AssertionError, match="3 dimensions instead of 2"):
        check_shape(torch.zeros(1, 3, 5), (3, 5), "outputs")


def test_check_shape_on_none_says_return_is_missing():
    with pytest.raises(AssertionError, match="h is None; did you forget to return"):
        check_shape(None, (2,), "h")


# ---------------------------------------------------------------- check_close


def test_check_close_accepts_mixed_types_within_tolerance():
    check_close(np.array([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-7]), "x")
    check_close([1, 2], torch.tensor([1.0, 2.0]), "x")
    check_close(3.0, torch.tensor(3.0), "x")
    check_close([torch.ones(2), torch.zeros(2)], [[1, 1], [0, 0]], "x")
    check_close(torch.ones(2, requires_grad=True) * 1, torch.ones(2), "x")
    check_close(torch.tensor([float("inf"), float("nan")]), [float("inf"), float("nan")], "x")


def test_check_close_reports_max_difference_and_where():
    expected = torch.zeros(2, 3)
    got = expected.clone()
    got[1, 2] = 0.5
    got[0, 0] = 0.1
    with pytest.raises(AssertionError) as info:
        check_close(got, expected, "h_n")
    message = str(info.value)
    assert "h_n does not match the expected values at 2 of 6 positions" in message
    assert "largest absolute difference is 0.5 at index [1, 2]: got 0.5, expected 0" in message


def test_check_close_checks_shape_first():
    with pytest.raises(AssertionError, match=r"y has shape \(3,\); expected \(1, 3\)"):
        check_close(torch.zeros(3), torch.zeros(1, 3), "y")


def test_check_close_catches_nan():
    got = torch.tensor([[1.0, float("nan")], [float("nan"), 0.0]])
    with pytest.raises(AssertionError, match=r"loss contains NaN at index \[0, 1\] \(2 of 4"):
        check_close(got, torch.ones(2, 2), "loss")


def test_check_close_catches_inf_and_respects_tolerances():
    with pytest.raises(AssertionError, match="largest absolute difference is inf"):
        check_close(torch.tensor([float("inf")]), torch.tensor([1.0]), "p")
    check_close(torch.tensor([1.05]), torch.tensor([1.0]), "p", atol=0.1, rtol=0)
    with pytest.raises(AssertionError, match="atol=0.01"):
        check_close(torch.tensor([1.05]), torch.tensor([1.0]), "p", atol=0.01, rtol=0)


def test_check_close_rejects_non_numbers():
    with pytest.raises(AssertionError, match="should be a tensor, an array or a number; got str"):
        check_close("abc", torch.zeros(3), "vocab")


# ---------------------------------------------------------------- is_autograding


@pytest.mark.parametrize(
    "value, expected", [("autograde", True), ("validate", True), ("", False), (None, False)]
)
def test_is_autograding(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    else:
        monkeypatch.setenv("NBGRADER_EXECUTION", value)
    assert is_autograding() is expected


# ---------------------------------------------------------------- the guard


def notebook(source: str) -> dict:
    """A namespace like a notebook's globals after running ``source``."""
    namespace = {"__name__": "__main__"}
    exec(textwrap.dedent(source), namespace)
    return namespace


def test_module_attribute_paths_are_blocked():
    paths = {
        "torch.nn.RNN": lambda: torch.nn.RNN(2, 3),
        "nn.RNN": lambda: nn.RNN(2, 3),
        "torch.nn.modules.rnn.RNN": lambda: torch.nn.modules.rnn.RNN(2, 3),
    }
    for path, call in paths.items():
        with pytest.raises(ShortcutError, match="rnn_forward called torch.nn.RNN") as info:
            with forbid_shortcuts("rnn_forward"):
                call()
        assert "write yourself" in str(info.value), path


def test_functional_one_hot_and_an_imported_alias_are_blocked():
    ns = notebook(
        """
        import torch
        import torch.nn.functional as F
        from torch.nn.functional import one_hot as oh

        def via_module(i, n):
            return F.one_hot(i, n).float()

        def via_alias(i, n):
            return oh(i, n).float()
        """
    )
    for name in ["via_module", "via_alias"]:
        with pytest.raises(ShortcutError, match="one_hot called torch.nn.functional.one_hot"):
            with forbid_shortcuts("one_hot", ns):
                ns[name](torch.tensor([0, 2]), 3)
    assert ns["oh"] is F.one_hot  # the alias is restored


def test_closures_defaults_and_other_user_modules_are_blocked():
    helpers = types.ModuleType("student_helpers")
    exec(
        "from torch.nn.functional import one_hot\ndef encode(i):\n    return one_hot(i, 3)",
        vars(helpers),
    )
    ns = notebook(
        """
        import torch.nn.functional as F

        def make():
            f = F.one_hot
            def inner(i):
                return f(i, 3)
            return inner

        closure = make()

        def with_default(i, f=F.one_hot):
            return f(i, 3)
        """
    )
    ns["encode"] = helpers.encode
    for name in ["closure", "with_default", "encode"]:
        with pytest.raises(ShortcutError, match=r"torch\.nn\.functional\.one_hot"):
            with forbid_shortcuts("one_hot", ns):
                ns[name](torch.tensor([1]))
        torch.testing.assert_close(ns[name](torch.tensor([1])), torch.tensor([[0, 1, 0]]))
    assert helpers.one_hot is F.one_hot


def test_a_caught_shortcut_still_fails_on_exit():
    ns = notebook(
        """
        import torch
        import torch.nn.functional as F

        def one_hot(i, n):
            try:
                return F.one_hot(i, n).float()
            except Exception:
                return (i[:, None] == torch.arange(n)).float()
        """
    )
    with pytest.raises(ShortcutError, match=r"one_hot called .* error was caught.*one_hot \(1x\)"):
        with forbid_shortcuts("one_hot", ns):
            got = ns["one_hot"](torch.tensor([1, 0]), 2)
    torch.testing.assert_close(got, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))


def test_other_exception_after_a_caught_shortcut_reports_the_shortcut():
    def student():
        try:
            nn.LSTMCell(2, 2)
        except AssertionError:
            pass
        raise RuntimeError("unrelated")

    with pytest.raises(ShortcutError, match="torch.nn.LSTMCell") as info:
        with forbid_shortcuts("lstm_cell"):
            student()
    assert isinstance(info.value.__cause__, RuntimeError)


def test_own_reference_is_blocked_and_other_helpers_stay_usable():
    params = [torch.zeros(3, requires_grad=True)]
    params[0].grad = torch.tensor([3.0, 4.0, 0.0])
    with forbid_shortcuts("clip_grad_norm") as guard:
        assert rnncourse.global_grad_norm(params) == pytest.approx(5.0)
        rnncourse.clip_grad_value(params, 10.0)
        h, c = rnncourse.lstm_cell(
            torch.zeros(1, 2),
            (torch.zeros(1, 1), torch.zeros(1, 1)),
            nn.LSTMCell(2, 1).parameters(),
        )
        for reference in [rnncourse.clip_grad_norm, rnncourse.teaching.clipping.clip_grad_norm]:
            with pytest.raises(ShortcutError, match="the course's reference answer"):
                reference(params, 1.0)
        guard.attempts.clear()  # we provoked those on purpose
    assert h.shape == c.shape == (1, 1)


@pytest.mark.skipif(
    not all(hasattr(rnncourse, n) for n in ["one_hot", "rnn_forward"]),
    reason="rnncourse.one_hot / rnn_forward not written yet",
)
def test_forbidding_rnn_forward_keeps_one_hot():
    with forbid_shortcuts("rnn_forward") as guard:
        torch.testing.assert_close(
            rnncourse.one_hot(torch.tensor([1]), 2), torch.tensor([[0.0, 1.0]])
        )
        with pytest.raises(ShortcutError, match="rnncourse.rnn_forward"):
            rnncourse.rnn_forward(None, None, None)
        guard.attempts.clear()


def test_autograd_is_blocked_but_forward_computation_works():
    x = torch.randn(3, requires_grad=True)
    with pytest.raises(ShortcutError, match="without autograd"):
        with forbid_shortcuts("rnn_backward"):
            y = (torch.tanh(x) @ torch.ones(3)) * 2  # forward ops still work
            assert y.requires_grad
            y.backward()
    for call in [lambda: torch.autograd.grad(y, x), lambda: torch.func.grad(torch.sin)(x)]:
        with pytest.raises(ShortcutError):
            with forbid_shortcuts("rnn_backward"):
                call()
    assert x.grad is None
    y.backward()  # restored
    assert x.grad is not None


def test_forbidden_class_keeps_isinstance_and_other_modules():
    rnn = nn.RNN(2, 3)
    with forbid("torch.nn.RNN", exercise="rnn_output_shapes"):
        assert isinstance(rnn, nn.RNN)
        assert not isinstance(nn.Linear(2, 3), nn.RNN)
        assert issubclass(type(rnn), nn.RNN)
        assert nn.Linear(2, 3)(torch.zeros(1, 2)).shape == (1, 3)
        assert nn.GRU(2, 3)(torch.zeros(4, 1, 2))[0].shape == (4, 1, 3)
        rnn(torch.zeros(4, 1, 2))  # an instance built before still runs


def test_subclassing_a_forbidden_class_is_blocked():
    with pytest.raises(ShortcutError, match="torch.nn.LSTM"):
        with forbid_shortcuts("lstm_cell"):

            class MyLSTM(nn.LSTM):
                pass

            MyLSTM(2, 3)


def test_lstm_kernels_are_blocked():
    x, h = torch.zeros(1, 2), torch.zeros(1, 3)
    weights = [torch.zeros(12, 2), torch.zeros(12, 3)]
    ns = notebook("from torch import lstm_cell as kernel")
    calls = [
        lambda: torch.lstm_cell(x, (h, h), *weights),
        lambda: torch._VF.lstm_cell(x, (h, h), *weights),
        lambda: ns["kernel"](x, (h, h), *weights),
    ]
    for call in calls:
        with pytest.raises(ShortcutError, match="lstm_cell called torch.lstm_cell"):
            with forbid_shortcuts("lstm_cell", ns):
                call()
    assert "lstm_cell" not in vars(torch._VF)  # no attribute left behind on the _VF module
    for call in calls:
        assert call()[0].shape == (1, 3)


def test_correct_from_scratch_solutions_pass_inside_the_guard():
    ns = notebook(
        """
        import torch
        from torch import nn
        import torch.nn.functional as F

        def one_hot(indices, num_classes):
            out = torch.zeros(*indices.shape, num_classes)
            return out.scatter_(-1, indices.unsqueeze(-1), 1.0)

        def rnn_forward(inputs, state, params):
            W_xh, W_hh, b_h, W_hq, b_q = params
            (h,) = state
            outputs = []
            for x in inputs:
                h = torch.tanh(x @ W_xh + h @ W_hh + b_h)
                outputs.append(h @ W_hq + b_q)
            return torch.cat(outputs, dim=0), (h,)

        def lstm_cell(x, state, params):
            h, c = state
            W_ih, W_hh, b_ih, b_hh = params
            i, f, g, o = (F.linear(x, W_ih, b_ih) + F.linear(h, W_hh, b_hh)).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c

        def clip_grad_norm(params, max_norm):
            params = [p for p in params if p.grad is not None]
            norm = torch.sqrt(sum((p.grad ** 2).sum() for p in params)).item()
            for p in params:
                p.grad.mul_(min(1.0, max_norm / (norm + 1e-6)))
            return norm
        """
    )
    idx = torch.tensor([[0, 2], [1, 1]])
    with forbid_shortcuts("one_hot", ns):
        got = ns["one_hot"](idx, 3)
    check_close(got, F.one_hot(idx, 3), "one_hot(idx, 3)")

    g = torch.Generator().manual_seed(0)
    params = [torch.randn(*s, generator=g) for s in [(4, 5), (5, 5), (5,), (5, 4), (4,)]]
    X = torch.randn(3, 2, 4, generator=g)
    with forbid_shortcuts("rnn_forward", ns):
        outputs, (h,) = ns["rnn_forward"](X, (torch.zeros(2, 5),), params)
    check_shape(outputs, (6, 4), "outputs")

    cell = nn.LSTMCell(4, 3)
    state = (torch.zeros(2, 3), torch.zeros(2, 3))
    expected_h, expected_c = cell(X[0], state)
    with forbid_shortcuts("lstm_cell", ns):
        got_h, got_c = ns["lstm_cell"](X[0], state, tuple(cell.parameters()))
    check_close(got_h, expected_h, "h")
    check_close(got_c, expected_c, "c")

    model = nn.Linear(4, 3)
    model(X).pow(2).sum().mul(100).backward()
    with forbid_shortcuts("clip_grad_norm", ns):
        norm = ns["clip_grad_norm"](model.parameters(), 1.0)
    assert norm > 1.0
    assert rnncourse.global_grad_norm(model.parameters()) == pytest.approx(1.0, rel=1e-5)


def snapshot():
    """Identity of every binding in the places the guard touches."""
    modules = [m for n, m in sorted(sys.modules.items()) if n.partition(".")[0] == "rnncourse"]
    modules += [
        torch,
        torch._VF,
        torch.nn,
        torch.nn.modules,
        torch.nn.modules.rnn,
        torch.nn.functional,
        torch.nn.utils,
        torch.nn.utils.clip_grad,
        torch.autograd,
        torch.autograd.functional,
        torch.func,
        torch._tensor,
        torch.Tensor,
    ]
    return [(m, {k: id(v) for k, v in vars(m).items()}) for m in modules]


def test_every_guard_restores_everything_even_after_an_error():
    ns = notebook("import torch\nfrom torch import nn\nfrom torch.nn.functional import one_hot")
    ns_before = dict(ns)
    originals = (nn.RNN, nn.LSTM, F.one_hot, torch.Tensor.backward, torch.autograd.grad)
    for exercise in SHORTCUTS:  # warm-up: lets torch finish any lazy imports first
        with forbid_shortcuts(exercise, ns):
            pass
    before = snapshot()
    for exercise in SHORTCUTS:
        with pytest.raises(RuntimeError, match="boom"):
            with forbid_shortcuts(exercise, ns):
                raise RuntimeError("boom")
        with forbid_shortcuts(exercise, ns):
            pass
    after = snapshot()
    for (module, bindings), (_, bindings_after) in zip(before, after, strict=True):
        assert bindings_after == bindings, module
    assert ns == ns_before
    assert (nn.RNN, nn.LSTM, F.one_hot, torch.Tensor.backward, torch.autograd.grad) == originals
    assert torch.nn.RNN.__module__ == "torch.nn.modules.rnn" and type(torch.nn.RNN) is type


def test_guards_nest():
    with forbid("torch.nn.RNN") as outer:
        with forbid("torch.nn.RNN", "torch.nn.LSTM") as inner:
            for cls in [nn.RNN, nn.LSTM]:
                with pytest.raises(ShortcutError):
                    cls(1, 1)
            inner.attempts.clear()  # provoked on purpose
        nn.LSTM(1, 1)  # the inner guard's own target is back
        with pytest.raises(ShortcutError):
            nn.RNN(1, 1)  # the outer guard's target is still forbidden
        outer.attempts.clear()
    assert type(nn.RNN(1, 1)) is torch.nn.modules.rnn.RNN


def test_nested_guard_exit_raises_for_the_outer_attempt():
    with pytest.raises(ShortcutError, match="torch.nn.RNN"):
        with forbid("torch.nn.RNN"):
            with forbid("torch.nn.RNN"):
                pass
            try:
                nn.RNN(1, 1)
            except ShortcutError:
                pass


def test_a_leaked_stand_in_acts_as_the_original_after_the_block():
    with forbid("torch.nn.RNN", "torch.nn.functional.one_hot"):
        leaked_class, leaked_function = nn.RNN, F.one_hot
    assert isinstance(leaked_class(2, 3), torch.nn.modules.rnn.RNN)
    torch.testing.assert_close(leaked_function(torch.tensor([1]), 2), torch.tensor([[0, 1]]))


def test_unknown_targets_and_exercises():
    with pytest.raises(ValueError, match="cannot forbid 'torch.nn.NoSuchThing'"):
        with forbid("torch.nn.NoSuchThing"):
            pass
    with forbid("torch.nn.NoSuchThing", missing_ok=True):
        pass
    with pytest.raises(ValueError, match=r"unknown exercise 'rnn_fwd'.*'rnn_forward'"):
        forbid_shortcuts("rnn_fwd")


def test_shortcuts_cover_the_curriculum():
    required = {
        "one_hot": ["torch.nn.functional.one_hot"],
        "rnn_step": ["torch.nn.RNN", "torch.nn.RNNCell"],
        "rnn_forward": ["torch.nn.RNN", "torch.nn.RNNCell"],
        "rnn_output_shapes": ["torch.nn.RNN", "torch.nn.GRU", "torch.nn.LSTM"],
        "rnn_backward": ["torch.Tensor.backward", "torch.autograd.grad", "torch.autograd.backward"],
        "clip_grad_norm": ["torch.nn.utils.clip_grad_norm_"],
        "clip_grad_value": ["torch.nn.utils.clip_grad_value_"],
        "lstm_cell": ["torch.nn.LSTM", "torch.nn.LSTMCell", "torch.lstm_cell"],
    }
    for exercise, targets in required.items():
        assert set(targets) <= set(SHORTCUTS[exercise]), exercise
    for exercise, targets in SHORTCUTS.items():
        assert f"rnncourse.{exercise}" in targets, exercise
    with pytest.raises(TypeError):
        SHORTCUTS["one_hot"] = ()


def test_every_torch_target_exists_in_the_installed_torch():
    # missing_ok would hide a misspelt target; this test does not.
    targets = {t for ts in SHORTCUTS.values() for t in ts if t.startswith("torch")}
    for target in sorted(targets):
        owner, _, attr = target.rpartition(".")
        assert hasattr(pkgutil.resolve_name(owner), attr), target


@pytest.mark.parametrize("exercise", sorted(SHORTCUTS))
def test_each_reference_is_blocked(exercise):
    if not hasattr(rnncourse, exercise):
        pytest.skip(f"rnncourse.{exercise} not written yet")
    reference = getattr(rnncourse, exercise)
    with pytest.raises(ShortcutError, match=f"rnncourse.{exercise}, the course's reference"):
        with forbid_shortcuts(exercise):
            getattr(rnncourse, exercise)()
    module = sys.modules[reference.__module__]
    with pytest.raises(ShortcutError):
        with forbid_shortcuts(exercise):
            getattr(module, reference.__name__)()
    assert getattr(rnncourse, exercise) is reference


def test_guard_emits_no_warnings():
    ns = notebook("import torch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for exercise in SHORTCUTS:
            with forbid_shortcuts(exercise, ns):
                pass


def test_import_and_guard_print_nothing():
    code = (
        "import rnncourse.in_kernel.shortcuts as g\n"
        "for e in g.SHORTCUTS:\n"
        "    with g.forbid_shortcuts(e, globals()):\n"
        "        pass\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


def test_a_forbidden_module_is_explained_for_exercises_that_only_count():
    """count_params is solved with arithmetic: the message must not tell the student
    to 'implement' torch.nn.LSTM with tensor operations."""
    with pytest.raises(ShortcutError) as info:
        with forbid_shortcuts("count_params"):
            torch.nn.LSTM(2, 3)
    message = str(info.value)
    assert "count_params called torch.nn.LSTM" in message
    assert "from the sizes and the equations" in message
    assert "tensor operations" not in message
