"""Tests for course_utils.checks: diagnoses, integrity, stdout/stderr behaviour."""

import builtins
import warnings

import numpy as np
import pytest

from course_utils.checks import (
    CheckFailure,
    check_array,
    check_grads,
    check_scalar,
    check_shape,
    check_true,
    check_unmodified,
    check_vectorized,
    rel_error,
)


@pytest.fixture
def expected():
    return np.random.default_rng(0).standard_normal((4, 5))


@pytest.fixture(autouse=True)
def no_warnings():
    """Every check must run without emitting a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def failure(func, *args, **kwargs):
    """Run a check that must fail and return its message."""
    with pytest.raises(CheckFailure) as info:
        func(*args, **kwargs)
    return str(info.value)


# --- output channels ------------------------------------------------------
def test_pass_prints_one_line_to_stdout_only(capsys, expected):
    result = check_array("dx", expected.copy(), expected)
    out, err = capsys.readouterr()
    assert result is None  # a returned number would be read by nbgrader as partial credit
    assert out == "✓ dx: matches (max rel. error 0.0e+00)\n"
    assert err == ""


def test_failure_writes_nothing(capsys, expected):
    failure(check_array, "dx", expected + 1.0, expected)
    failure(check_array, "dx", None, expected)
    failure(check_scalar, "loss", 3.0, 2.0)
    failure(check_grads, {"W": expected}, {"W": -expected})
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ""


def test_check_failure_is_assertion_error():
    assert issubclass(CheckFailure, AssertionError)


# --- wrong types ----------------------------------------------------------
def test_none_is_diagnosed(expected):
    msg = failure(check_array, "dx", None, expected)
    assert msg == "dx is None — did you forget to return it?"


def test_torch_tensor_is_diagnosed(expected):
    torch = pytest.importorskip("torch")
    msg = failure(check_array, "dx", torch.zeros(4, 5), expected)
    assert "dx is a torch.Tensor" in msg
    assert ".detach().cpu().numpy()" in msg


def test_tensor_detection_does_not_need_torch(expected):
    fake = type("Tensor", (), {"__module__": "torch"})
    msg = failure(check_array, "dx", fake(), expected)
    assert "torch.Tensor" in msg


def test_tuple_out_cache_is_diagnosed(expected):
    msg = failure(check_array, "out", (expected, {"x": 1}), expected)
    assert "out is a tuple of 2 items" in msg
    assert "(out, cache)" in msg


@pytest.mark.parametrize(
    "value, words",
    [("0.5", "is a string"), ({"a": 1}, "is a dict (1 entry)"), (object(), "of type object")],
)
def test_other_types_are_rejected(expected, value, words):
    assert words in failure(check_array, "dx", value, expected)


def test_objects_with_custom_eq_or_array_are_rejected(expected):
    class Liar:
        def __eq__(self, other):
            return True

        def __array__(self, *args, **kwargs):
            return expected

        def __float__(self):
            return 0.0

    msg = failure(check_array, "dx", Liar(), expected)
    assert "Liar" in msg
    failure(check_scalar, "loss", Liar(), 0.0)
    msg = failure(check_array, "dx", [Liar()], np.zeros(1))
    assert "dx[0]" in msg


def test_ndarray_subclass_tricks_are_ignored(expected):
    class Sneaky(np.ndarray):
        shape = property(lambda self: (4, 5))
        dtype = property(lambda self: np.dtype(np.float64))

        def __eq__(self, other):
            return np.ones((4, 5), dtype=bool)

        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            return np.zeros((4, 5))

    wrong = np.full((4, 5), 7.0).view(Sneaky)
    msg = failure(check_array, "dx", wrong, expected)
    assert "does not match" in msg
    right = expected.copy().view(Sneaky)
    assert check_array("dx", right, expected) is None
    wrong_shape = np.zeros((5, 4)).view(Sneaky)
    assert "has shape (5, 4)" in failure(check_array, "dx", wrong_shape, expected)


def test_lists_are_coerced():
    assert check_array("a", [[1, 2], [3, 4]], np.array([[1.0, 2.0], [3.0, 4.0]])) is None
    assert check_array("a", (1, 2), np.array([1.0, 2.0])) is None
    assert check_array("a", [np.float32(1.5), 2], np.array([1.5, 2.0])) is None


def test_ints_and_bools_are_coerced():
    assert check_array("m", np.array([True, False]), np.array([1.0, 0.0])) is None
    assert check_array("m", np.array([1, 0], dtype=np.int8), np.array([1.0, 0.0])) is None


def test_ragged_and_non_numeric_lists():
    assert "ragged" in failure(check_array, "a", [[1, 2], [3]], np.ones((2, 2)))
    assert "a[1][0] is None" in failure(check_array, "a", [[1, 2], [None, 2]], np.ones((2, 2)))
    assert "only numbers" in failure(check_array, "a", [1, "x"], np.ones(2))


@pytest.mark.parametrize(
    "value, words",
    [
        (np.array([1 + 2j, 0]), "complex"),
        (np.array([1.0, None], dtype=object), "dtype=object"),
        (np.array(["a", "b"]), "strings"),
    ],
)
def test_bad_dtypes_are_rejected(value, words):
    assert words in failure(check_array, "a", value, np.ones(2))


# --- shapes ---------------------------------------------------------------
def test_transposed_shape_hint(expected):
    msg = failure(check_array, "dx", expected.T.copy(), expected)
    assert msg.startswith("dx has shape (5, 4) but expected (4, 5).")
    assert "missing .T" in msg


def test_reshape_hint_without_transpose_hint(expected):
    msg = failure(check_array, "dx", expected.reshape(20), expected)
    assert "has shape (20,) but expected (4, 5)" in msg
    assert "reshape/flatten" in msg
    assert ".T" not in msg


def test_missing_sum_over_batch_hint():
    msg = failure(check_array, "db", np.ones((8, 3)), np.ones(3))
    assert "extra axis 0 of length 8" in msg
    assert "axis=0" in msg


def test_unrelated_shapes_get_plain_message(expected):
    msg = failure(check_array, "dx", np.ones((2, 2)), expected)
    assert msg == "dx has shape (2, 2) but expected (4, 5)."


# --- non-finite values ----------------------------------------------------
def test_nan_and_inf_are_counted_with_positions(expected):
    got = expected.copy()
    got[1, 2] = np.nan
    got[3, 0] = np.nan
    got[0, 4] = -np.inf
    msg = failure(check_array, "dx", got, expected)
    assert "2 NaN and 1 inf" in msg
    assert "[0, 4], [1, 2], [3, 0]" in msg


def test_matching_non_finite_expected_values_pass():
    exp = np.array([1.0, np.inf, np.nan])
    assert check_array("a", exp.copy(), exp) is None


# --- value mismatches -----------------------------------------------------
def test_mismatch_reports_count_error_and_worst_entries(expected):
    got = expected.copy()
    got[2, 3] += 1.0
    got[0, 1] += 0.01
    msg = failure(check_array, "dx", got, expected, hint="check the bias term")
    lines = msg.splitlines()
    assert lines[0] == "dx does not match the expected values: 2 of 20 entries (10.0%) are off."
    assert "max rel. error" in lines[1]
    table = "\n".join(lines[3:6])
    assert "index" in table and "expected" in table and "got" in table
    # The worst entry comes first, with its index and both values.
    assert lines[4].split()[:2] == ["[2,", "3]"]
    assert f"{expected[2, 3]:.7g}" in lines[4]
    assert f"{got[2, 3]:.7g}" in lines[4]
    assert "[0, 1]" in lines[5]
    assert lines[-1] == "Hint: check the bias term"


def test_at_most_five_worst_entries(expected):
    msg = failure(check_array, "dx", expected + 1.0, expected)
    rows = [line for line in msg.splitlines() if line.startswith("    [")]
    assert len(rows) == 5


def test_sign_flip_diagnosis(expected):
    assert "sign flipped" in failure(check_array, "dx", -expected, expected)


@pytest.mark.parametrize("factor, shown", [(4.0, "4 × expected"), (1 / 8, "1/8 × expected"),
                                           (2.5, "2.5 × expected")])
def test_constant_ratio_diagnosis(expected, factor, shown):
    assert shown in failure(check_array, "dx", factor * expected, expected)


def test_zero_diagnosis(expected):
    assert "(almost) zero" in failure(check_array, "dx", np.zeros_like(expected), expected)


def test_square_transpose_diagnosis():
    w = np.arange(9.0).reshape(3, 3)
    assert "transpose" in failure(check_array, "W", w.T.copy(), w)


def test_no_ratio_diagnosis_for_unrelated_values(expected):
    other = np.random.default_rng(1).standard_normal((4, 5))
    assert "Diagnosis" not in failure(check_array, "dx", other, expected)


def test_float32_note(expected):
    msg = failure(check_array, "dx", (expected * 1.001).astype(np.float32), expected)
    assert "float32" in msg


def test_tolerances_are_used(expected):
    got = expected * (1 + 1e-4)
    failure(check_array, "dx", got, expected)
    check_array("dx", got, expected, rtol=1e-3)  # within the looser tolerance: passes


def test_zeros_everywhere_do_not_warn():
    assert check_array("a", np.zeros(3), np.zeros(3)) is None
    failure(check_array, "a", np.array([0.0, 1.0, np.nan]), np.zeros(3))
    failure(check_array, "a", np.array([0.0, 1.0]), np.zeros(2))


# --- integrity --------------------------------------------------------------
def test_checks_survive_monkeypatched_numpy_and_builtins(expected):
    liars = {
        "allclose": lambda *a, **k: True,
        "isclose": lambda *a, **k: np.ones(1, dtype=bool),
        "abs": lambda *a, **k: 0.0,
        "absolute": lambda *a, **k: 0.0,
        "max": lambda *a, **k: 0.0,
        "amax": lambda *a, **k: 0.0,
        "all": lambda *a, **k: True,
        "any": lambda *a, **k: False,
        "isfinite": lambda *a, **k: True,
        "array": lambda *a, **k: expected,
        "asarray": lambda *a, **k: expected,
        "testing": None,
    }
    saved_np = {name: getattr(np, name) for name in liars}
    saved_builtins = {name: getattr(builtins, name) for name in ("abs", "max", "min", "len")}
    try:
        for name, fake in liars.items():
            setattr(np, name, fake)
        builtins.abs = lambda x: 0
        builtins.max = lambda *a, **k: 0
        builtins.min = lambda *a, **k: 0
        builtins.len = lambda x: 0
        with pytest.raises(CheckFailure):
            check_array("dx", expected + 1.0, expected)
        with pytest.raises(CheckFailure):
            check_array("dx", [[0.0] * 5] * 4, expected)
        with pytest.raises(CheckFailure):
            check_scalar("loss", 3.0, 2.0)
        with pytest.raises(CheckFailure):
            check_grads({"W": expected * 2}, {"W": expected})
        with pytest.raises(CheckFailure):
            check_shape("dx", expected.T, (4, 5))
        check_array("dx", expected.copy(), expected)  # the right answer still passes
    finally:
        for name, value in saved_np.items():
            setattr(np, name, value)
        for name, value in saved_builtins.items():
            setattr(builtins, name, value)


# --- check_scalar -----------------------------------------------------------
def test_scalar_pass(capsys):
    assert check_scalar("loss", np.float32(2.0), 2.0) is None
    assert check_scalar("loss", np.array([[2.0]]), 2) is None
    assert capsys.readouterr().out.startswith("✓ loss: matches")


@pytest.mark.parametrize(
    "value, words",
    [
        (None, "loss is None"),
        ((2.0, {}), "tuple of 2 items"),
        ([2.0], "is a list"),
        (np.ones(3), "array of shape (3,)"),
        ("2.0", "string"),
        (float("nan"), "loss is nan"),
        (4.0, "2 × expected"),
        (-2.0, "sign"),
    ],
)
def test_scalar_failures(value, words):
    assert words in failure(check_scalar, "loss", value, 2.0)


def test_scalar_rejects_tensor():
    torch = pytest.importorskip("torch")
    assert ".item()" in failure(check_scalar, "loss", torch.tensor(2.0), 2.0)


# --- check_shape ------------------------------------------------------------
def test_check_shape(capsys):
    assert check_shape("scores", np.zeros((3, 10)), (None, 10)) is None
    assert capsys.readouterr().out == "✓ scores: shape (3, 10) as expected\n"
    assert "missing .T" in failure(check_shape, "scores", np.zeros((10, 3)), (3, 10))
    assert "is None" in failure(check_shape, "scores", None, (3, 10))
    with pytest.raises(TypeError):
        check_shape("scores", np.zeros(3), 3)


def test_check_shape_tensors_only_when_allowed():
    torch = pytest.importorskip("torch")
    failure(check_shape, "h", torch.zeros(2, 3), (2, 3))
    assert check_shape("h", torch.zeros(2, 3), (2, 3), allow_tensor=True) is None


# --- check_grads ------------------------------------------------------------
@pytest.fixture
def grads():
    rng = np.random.default_rng(3)
    return {"W1": rng.standard_normal((4, 3)), "b1": rng.standard_normal(3),
            "W2": rng.standard_normal((3, 2)), "b2": rng.standard_normal(2)}


def test_grads_pass(grads, capsys):
    assert check_grads({k: v.copy() for k, v in grads.items()}, grads) is None
    out = capsys.readouterr().out
    assert out.count("✓") == 4 and all(f"✓ {k}: matches (max rel. error 0.0e+00)" in out for k in grads)


def test_grads_mismatch_lists_every_bad_parameter(grads):
    got = {k: v.copy() for k, v in grads.items()}
    got["W2"] = got["W2"] * 2
    got["b2"] = got["b2"].reshape(1, 2)
    msg = failure(check_grads, got, grads, hint="look at layer 2")
    assert msg.splitlines()[0] == (
        "Gradient mismatch in: W2 (max rel. error 0.33), b2 (shape (1, 2) vs expected (2,))"
    )
    assert "Details for W2:" in msg
    assert "2 × expected" in msg
    assert msg.endswith("Hint: look at layer 2")


def test_grads_missing_and_extra_keys(grads):
    got = {k: v.copy() for k, v in grads.items()}
    got["dW1"] = got.pop("W1")
    msg = failure(check_grads, got, grads)
    assert "Missing gradients: W1" in msg
    assert "Unexpected gradients: dW1" in msg
    assert "use 'W1', not 'dW1'" in msg


def test_grads_tuple_of_wrong_length():
    exp = (np.ones(2), np.ones(3), np.ones(1))
    msg = failure(check_grads, (np.ones(2), np.ones(3)), exp, names=("dx", "dw", "db"))
    assert msg == "Expected 3 gradients (dx, dw, db), got 2."


def test_grads_tuple_and_single_array(capsys):
    exp = (np.ones(2), np.zeros(3))
    check_grads([np.ones(2), np.zeros(3)], exp, names=["dx", "dw"])
    check_grads(np.ones(2), (np.ones(2),), names=["dx"])
    assert capsys.readouterr().out.count("✓") == 3
    assert "single array" in failure(check_grads, np.ones(2), exp, names=["dx", "dw"])
    assert "None" in failure(check_grads, None, exp, names=["dx", "dw"])


def test_grads_misuse_by_author():
    with pytest.raises(TypeError):
        check_grads((np.ones(2),), (np.ones(2),))
    with pytest.raises(ValueError):
        check_grads((np.ones(2),), (np.ones(2),), names=["dx", "dw"])
    with pytest.raises(TypeError):
        check_grads({}, np.ones(2))


# --- check_true ---------------------------------------------------------------
def test_check_true():
    check_true(True, "never shown")
    check_true(np.all(np.ones(3) > 0), "never shown")
    message = "probabilities must sum to 1"
    assert failure(check_true, False, message) == message
    assert failure(check_true, np.bool_(False), "no") == "no"


def test_check_true_rejects_bool_tricks():
    class AlwaysTrue:
        def __bool__(self):
            return True

    with pytest.raises(TypeError):
        check_true(AlwaysTrue(), "must not pass")
    with pytest.raises(TypeError, match="np.all"):
        check_true(np.array([True, False]), "must not pass")
    with pytest.raises(TypeError):
        check_true(1, "ints are not bools")
    with pytest.raises(TypeError):
        check_true(True, 3)


# --- misuse by the author ------------------------------------------------------
def test_author_misuse_raises_type_or_value_error(expected):
    with pytest.raises(TypeError):
        check_array(3, expected, expected)
    with pytest.raises(TypeError):
        check_array("dx", expected, None)
    with pytest.raises(TypeError):
        check_array("dx", expected, expected, hint=5)
    with pytest.raises(ValueError):
        check_array("dx", expected, expected, rtol=-1.0)
    with pytest.raises(TypeError):
        check_scalar("loss", 1.0, np.ones(2))


# --- rel_error -------------------------------------------------------------------
def test_rel_error():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0, 0.0]), np.array([3.0, 0.0])) == pytest.approx(0.5)
    assert rel_error(0.0, 0.0) == 0.0
    assert isinstance(rel_error([1, 2], [1, 3]), float)
    with pytest.raises(ValueError):
        rel_error(np.ones(3), np.ones((3, 1)))
    with pytest.raises(TypeError):
        rel_error(None, np.ones(3))


# ---------------------------------------------------------------- check_vectorized
def _vec_inputs():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(5, 3))
    return (rng.normal(size=(2, 5)), w), (rng.normal(size=(64, 5)), w)


def _affine_loop(x, w):
    out = np.empty((x.shape[0], w.shape[1]))
    for i in range(x.shape[0]):
        out[i] = x[i] @ w
    return out


@pytest.mark.parametrize("fn", [
    lambda x, w: x @ w,
    lambda x, w: np.pad(x, ((0, 0), (1, 1)))[:, 1:-1] @ w,   # Python-level NumPy helpers are fine
    lambda x, w: sum(x[:, k:k + 1] * w[k] for k in range(w.shape[0])),  # loop over a fixed dimension
])
def test_check_vectorized_accepts_array_code(fn, capsys):
    small, large = _vec_inputs()
    check_vectorized("f", fn, small, large)
    assert capsys.readouterr().out.startswith("✓ f: vectorised")


@pytest.mark.parametrize("fn", [
    _affine_loop,
    lambda x, w: _affine_loop(x, w),                          # delegates to a loop-based function
    lambda x, w: np.array([row @ w for row in x]),            # comprehension
    lambda x, w: np.vectorize(lambda v: 2 * v)(x) @ w,        # np.vectorize calls Python per entry
])
def test_check_vectorized_rejects_loops_over_the_scaled_dimension(fn):
    small, large = _vec_inputs()
    with pytest.raises(CheckFailure, match="not vectorised.*\\(2, 5\\) -> \\(64, 5\\)"):
        check_vectorized("f", fn, small, large)


def test_check_vectorized_cannot_be_escaped():
    import sys

    def unhook(x, w):
        sys.settrace(None)
        return _affine_loop(x, w)

    def swallow(x, w):
        try:
            return _affine_loop(x, w)
        except BaseException:
            return x @ w

    small, large = _vec_inputs()
    with pytest.raises(CheckFailure, match="tracing hook"):
        check_vectorized("f", unhook, small, large)
    with pytest.raises(CheckFailure, match="not vectorised"):
        check_vectorized("f", swallow, small, large)
    assert sys.gettrace() is None or "coverage" in type(sys.gettrace()).__module__


def test_check_vectorized_lets_the_functions_errors_through():
    def broken(x, w):
        raise ValueError("shapes")
    small, large = _vec_inputs()
    with pytest.raises(ValueError, match="shapes"):
        check_vectorized("f", broken, small, large)


# ---------------------------------------------------------------- check_unmodified
def test_check_unmodified_passes_untouched_structures(capsys):
    import copy
    args = (np.arange(6.0).reshape(2, 3), {"lr": 0.1, "v": np.zeros(3), "n": None}, [np.ones(2), 3])
    check_unmodified("args", copy.deepcopy(args), args)
    nan = np.array([np.nan, 1.0])
    check_unmodified("nan", nan.copy(), nan)
    assert "✓ args: left unchanged" in capsys.readouterr().out


@pytest.mark.parametrize("change, message", [
    (lambda a: a[0].__setitem__((1, 2), -1.0), r"args\[0\] was modified in place: 1 of 6 entries changed \(e.g. args\[0\]\[1, 2\]: 5 before the call, -1 after\)"),
    (lambda a: a[1]["v"].__iadd__(1.0), r"args\[1\]\['v'\] was modified in place: 3 of 3"),
    (lambda a: a[1].__setitem__("lr", 0.2), r"args\[1\]\['lr'\] changed from 0.1 to 0.2"),
    (lambda a: a[1].__setitem__("t", 1), r"keys added or removed"),
    (lambda a: a[2][0].resize(3, refcheck=False), r"changed shape from \(2,\) to \(3,\)"),
])
def test_check_unmodified_names_what_changed(change, message):
    import copy
    args = (np.arange(6.0).reshape(2, 3), {"lr": 0.1, "v": np.zeros(3)}, [np.ones(2), 3])
    before = copy.deepcopy(args)
    change(args)
    with pytest.raises(CheckFailure, match=message):
        check_unmodified("args", before, args)


def test_check_unmodified_compares_tensors():
    torch = pytest.importorskip("torch")
    t = torch.ones(3)
    before = t.clone()
    t.mul_(2)
    with pytest.raises(CheckFailure, match="t was modified in place: 3 of 3"):
        check_unmodified("t", before, t)
