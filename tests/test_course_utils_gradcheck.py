"""Tests for course_utils.gradcheck on functions with known gradients."""

import numpy as np
import pytest

from course_utils.checks import CheckFailure
from course_utils.gradcheck import (
    check_layer_gradients,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
)


# A small affine layer written for these tests: out = x.reshape(N, -1) @ w + b.
def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


@pytest.fixture
def affine_inputs():
    rng = np.random.default_rng(0)
    return rng.standard_normal((3, 2, 2)), rng.standard_normal((4, 5)), rng.standard_normal(5)


def test_gradient_of_sum_of_squares():
    x = np.random.default_rng(1).standard_normal((3, 4))
    before = x.copy()
    grad = eval_numerical_gradient(lambda z: np.sum(z**2), x)
    assert grad.shape == x.shape and grad.dtype == np.float64
    assert np.max(np.abs(grad - 2 * x)) < 1e-8
    np.testing.assert_array_equal(x, before)


def test_gradient_of_scalar_input():
    x = np.array(0.7)
    grad = eval_numerical_gradient(lambda z: float(np.sin(z)), x)
    assert grad.shape == () and abs(grad - np.cos(0.7)) < 1e-9


def test_x_is_restored_when_f_raises():
    x = np.arange(3.0)
    calls = []

    def f(z):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return z.sum()

    with pytest.raises(RuntimeError):
        eval_numerical_gradient(f, x)
    np.testing.assert_array_equal(x, np.arange(3.0))


def test_gradient_array_form_matches_upstream_product():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3))
    df = rng.standard_normal((2, 3))
    grad = eval_numerical_gradient_array(lambda z: np.tanh(z), x, df)
    assert np.max(np.abs(grad - (1 - np.tanh(x) ** 2) * df)) < 1e-8


def test_argument_validation():
    f = lambda z: z.sum()  # noqa: E731
    with pytest.raises(TypeError, match="float64"):
        eval_numerical_gradient(f, np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match="x must be a float64 NumPy array"):
        eval_numerical_gradient(f, [1.0, 2.0])
    with pytest.raises(ValueError):
        eval_numerical_gradient(f, np.ones(3), h=0)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        eval_numerical_gradient_array(lambda z: z, np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(TypeError, match="tuple"):
        eval_numerical_gradient(lambda z: (z.sum(), {}), np.ones(2))
    with pytest.raises(TypeError, match="tuple"):
        eval_numerical_gradient_array(lambda z: (z, {}), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="eval_numerical_gradient_array"):
        eval_numerical_gradient(lambda z: z, np.ones(2))


def test_grad_check_sparse(capsys):
    x = np.random.default_rng(3).standard_normal((10, 10))
    f = lambda z: np.sum(z**3)  # noqa: E731
    err = grad_check_sparse(f, x, 3 * x**2, num_checks=7)
    assert err < 1e-7
    out, errout = capsys.readouterr()
    assert len(out.strip().splitlines()) == 7 and errout == ""
    assert grad_check_sparse(f, x, 2 * x**2, num_checks=3) > 0.1
    with pytest.raises(ValueError, match=r"\(10, 10\)"):
        grad_check_sparse(f, x, np.ones((10, 9)))
    with pytest.raises(ValueError):
        grad_check_sparse(f, x, 3 * x**2, num_checks=0)


def test_layer_check_passes_for_correct_backward(affine_inputs, capsys):
    x, w, b = affine_inputs
    assert check_layer_gradients(affine_forward, affine_backward, (x, w, b)) is None
    out = capsys.readouterr().out
    assert [line.split(":")[0] for line in out.splitlines()] == ["✓ dx", "✓ dw", "✓ db"]
    assert all(float(line.rsplit(" ", 1)[1].rstrip(")")) < 1e-7 for line in out.splitlines())
    # The caller's arrays are untouched.
    np.testing.assert_array_equal(x, affine_inputs[0])


def test_layer_check_names_the_wrong_parameter(affine_inputs):
    def bad_backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        return dx, 2 * dw, db

    with pytest.raises(CheckFailure) as info:
        check_layer_gradients(affine_forward, bad_backward, affine_inputs)
    msg = str(info.value)
    assert msg.startswith("Gradient mismatch in: dw (")
    assert "dx" not in msg.splitlines()[0] and "db" not in msg.splitlines()[0]
    assert "2 × expected" in msg


def test_layer_check_bias_not_summed(affine_inputs):
    def bad_backward(dout, cache):
        dx, dw, _ = affine_backward(dout, cache)
        return dx, dw, dout

    with pytest.raises(CheckFailure, match=r"db \(shape \(3, 5\) vs expected \(5,\)\)"):
        check_layer_gradients(affine_forward, bad_backward, affine_inputs)


def test_layer_check_wrong_number_of_gradients(affine_inputs):
    with pytest.raises(CheckFailure, match=r"Expected 3 gradients \(dx, dw, db\), got 2"):
        check_layer_gradients(affine_forward, lambda d, c: affine_backward(d, c)[:2],
                              affine_inputs)


def test_layer_check_custom_names_and_constants(capsys):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4))

    def scale_forward(x, params):
        return x * params["alpha"], (x, params)

    def scale_backward(dout, cache):
        return dout * cache[1]["alpha"]

    check_layer_gradients(scale_forward, scale_backward, (x, {"alpha": 3.0}),
                          names=("h", "params"))
    assert capsys.readouterr().out.startswith("✓ dh: matches")


def test_layer_check_survives_in_place_dout_change():
    x = np.random.default_rng(5).standard_normal((4, 3))

    def relu_forward(x):
        return np.maximum(x, 0), x

    def relu_backward(dout, x):
        dout[x <= 0] = 0  # modifies its argument in place
        return dout

    check_layer_gradients(relu_forward, relu_backward, (x,))  # raises CheckFailure on a mismatch


def test_layer_check_contract_errors(affine_inputs):
    with pytest.raises(CheckFailure, match=r"\(out, cache\)"):
        check_layer_gradients(lambda x, w, b: x, affine_backward, affine_inputs)
    x, w, b = affine_inputs
    with pytest.raises(TypeError, match=r"inputs\[1\] \(w\)"):
        check_layer_gradients(affine_forward, affine_backward, (x, w.astype(np.float32), b))
    with pytest.raises(ValueError, match=r"\(3, 5\)"):
        check_layer_gradients(affine_forward, affine_backward, affine_inputs, dout=np.ones(5))
    with pytest.raises(ValueError):
        check_layer_gradients(affine_forward, affine_backward, affine_inputs, names=("x", "w"))
