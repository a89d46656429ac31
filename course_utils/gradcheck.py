"""Numerical gradients by central differences, for checking backward passes.

For a scalar function ``f`` the derivative with respect to entry ``i`` of
``x`` is approximated by

    (f(x + h e_i) - f(x - h e_i)) / (2 h),

whose error shrinks like ``h**2``. All computations are done in float64:
in float32 the rounding error of ``f`` divided by ``2 h`` swamps the result.
The array ``x`` is modified in place during the computation and restored
afterwards, even if ``f`` raises.
"""

import numbers

import numpy as np

from .checks import CheckFailure, check_grads, rel_error

__all__ = [
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "grad_check_sparse",
    "check_layer_gradients",
]


def _require_float64(arr, argname):
    """Raise TypeError unless ``arr`` is a float64 NumPy array."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(
            f"{argname} must be a float64 NumPy array, got {type(arr).__name__}"
        )
    if arr.dtype != np.float64:
        raise TypeError(
            f"{argname} must be a float64 NumPy array (got dtype {arr.dtype}) — "
            f"numerical gradients in {arr.dtype} are too imprecise; "
            f"use {argname}.astype(np.float64)"
        )


def _require_step(h):
    """Raise unless ``h`` is a finite real number > 0; return it as float."""
    if isinstance(h, bool) or not isinstance(h, numbers.Real):
        raise TypeError(f"h must be a positive number, got {type(h).__name__}")
    h = float(h)
    if not (h > 0.0 and np.isfinite(h)):
        raise ValueError(f"h must be a finite number > 0, got {h!r}")
    return h


def _require_callable(f, argname):
    if not callable(f):
        raise TypeError(f"{argname} must be callable, got {type(f).__name__}")


def _scalar_output(value):
    """Convert the output of a scalar function to float, with clear errors."""
    if isinstance(value, tuple):
        raise TypeError(
            f"f must return a scalar but returned a tuple of {len(value)} items; "
            "if it returns (loss, grads), use e.g. lambda x: model.loss(x, y)[0]"
        )
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 1:
        raise ValueError(
            f"f must return a scalar but returned an array of shape {arr.shape}; "
            "use eval_numerical_gradient_array for array-valued functions"
        )
    return float(arr.reshape(-1)[0])


def _array_output(value):
    """Copy the output of an array-valued function to a float64 array."""
    if isinstance(value, tuple):
        raise TypeError(
            f"f must return an array but returned a tuple of {len(value)} items; "
            "if it is a forward pass returning (out, cache), use "
            "lambda x: forward(x, ...)[0]"
        )
    return np.array(value, dtype=np.float64, copy=True)


def eval_numerical_gradient(f, x, h=1e-5):
    """Numerical gradient of a scalar function.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``; called with ``x`` itself (modified in place).
    x : np.ndarray
        float64 array of any shape ``S``; restored before returning.
    h : float, optional
        Step of the central difference.

    Returns
    -------
    np.ndarray
        float64 array of shape ``S``: ``df/dx``.

    Raises
    ------
    TypeError
        If ``x`` is not a float64 array, ``f`` is not callable or returns a tuple.
    ValueError
        If ``h <= 0`` or ``f`` returns more than one number.
    """
    _require_callable(f, "f")
    # The scalar case is the array case with a 0-d output and upstream gradient 1.
    return eval_numerical_gradient_array(lambda v: np.array(_scalar_output(f(v))), x, np.array(1.0), h=h)


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numerical gradient of ``sum(f(x) * df)`` with respect to ``x``.

    This is the quantity a layer's backward pass computes when it receives
    the upstream gradient ``df``.

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` of shape ``T``; called with ``x`` itself.
    x : np.ndarray
        float64 array of shape ``S``; restored before returning.
    df : np.ndarray
        Upstream gradient, shape ``T`` (the shape of ``f(x)``).
    h : float, optional
        Step of the central difference.

    Returns
    -------
    np.ndarray
        float64 array of shape ``S``.

    Raises
    ------
    TypeError
        If ``x`` is not a float64 array or ``df`` is not a NumPy array.
    ValueError
        If ``h <= 0`` or ``df`` does not have the shape of ``f(x)``.
    """
    _require_callable(f, "f")
    _require_float64(x, "x")
    h = _require_step(h)
    if not isinstance(df, np.ndarray) or df.dtype.kind not in "fiu":
        raise TypeError(f"df must be a numeric NumPy array, got {type(df).__name__}")
    df = df.astype(np.float64)
    out_shape = _array_output(f(x)).shape
    if df.shape != out_shape:
        raise ValueError(
            f"df must have the shape of f(x), {out_shape}; got {df.shape}"
        )
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        try:
            x[ix] = old + h
            plus = _array_output(f(x))
            x[ix] = old - h
            minus = _array_output(f(x))
        finally:
            x[ix] = old
        grad[ix] = np.sum((plus - minus) * df) / (2.0 * h)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=0):
    """Compare an analytic gradient with numerical ones at a few random entries.

    Useful when ``x`` is too large for :func:`eval_numerical_gradient`.
    One line per checked entry is printed to stdout.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    x : np.ndarray
        float64 array of shape ``S``; restored before returning.
    analytic_grad : np.ndarray
        The gradient to check, shape ``S``.
    num_checks : int, optional
        Number of random entries to check (drawn with replacement).
    h : float, optional
        Step of the central difference.
    seed : int, optional
        Seed of the random choice of entries.

    Returns
    -------
    float
        The largest relative error ``|num - ana| / max(1e-8, |num| + |ana|)``.

    Raises
    ------
    TypeError, ValueError
        For invalid arguments (non-float64 ``x``, wrong gradient shape,
        ``num_checks < 1``, empty ``x``, ``h <= 0``).
    """
    _require_callable(f, "f")
    _require_float64(x, "x")
    h = _require_step(h)
    if not isinstance(analytic_grad, np.ndarray) or analytic_grad.dtype.kind not in "fiu":
        raise TypeError(
            f"analytic_grad must be a numeric NumPy array, got {type(analytic_grad).__name__}"
        )
    if analytic_grad.shape != x.shape:
        raise ValueError(
            f"analytic_grad must have the shape of x, {x.shape}; got {analytic_grad.shape}"
        )
    if isinstance(num_checks, bool) or not isinstance(num_checks, numbers.Integral):
        raise TypeError(f"num_checks must be an int, got {type(num_checks).__name__}")
    if num_checks < 1:
        raise ValueError(f"num_checks must be >= 1, got {num_checks}")
    if x.size == 0:
        raise ValueError("x is empty; there is nothing to check")
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(int(num_checks)):
        ix = tuple(int(rng.integers(n)) for n in x.shape)
        old = x[ix]
        try:
            x[ix] = old + h
            f_plus = _scalar_output(f(x))
            x[ix] = old - h
            f_minus = _scalar_output(f(x))
        finally:
            x[ix] = old
        numerical = (f_plus - f_minus) / (2.0 * h)
        analytic = float(analytic_grad[ix])
        err = rel_error(numerical, analytic)
        worst = max(worst, err)
        print(f"numerical: {numerical: .6e}  analytic: {analytic: .6e}  rel. error: {err:.2e}")
    return worst


_DEFAULT_NAMES = ("x", "w", "b")


def check_layer_gradients(
    forward,
    backward,
    inputs,
    dout=None,
    names=None,
    seed=0,
    rtol=1e-6,
    atol=1e-8,
    h=1e-5,
):
    """Check a layer's backward pass against numerical gradients.

    Uses the convention ``forward(*inputs) -> (out, cache)`` and
    ``backward(dout, cache) -> grads``, where ``grads`` holds one gradient
    per array input (a single array when there is one array input, else a
    tuple in the order of the inputs). Inputs that are not NumPy arrays
    (e.g. a dict of hyper-parameters) are passed through unchanged and get
    no gradient.

    Parameters
    ----------
    forward : callable
        ``forward(*inputs) -> (out, cache)`` with ``out`` of shape ``T``.
    backward : callable
        ``backward(dout, cache) -> grads``.
    inputs : tuple or list
        The inputs of ``forward``; every NumPy array among them must be
        float64 and gets a gradient of its own shape.
    dout : np.ndarray, optional
        Upstream gradient of shape ``T``; by default drawn from a standard
        normal distribution with ``seed``.
    names : sequence of str, optional
        Names of the array inputs (or of all inputs), e.g. ``("x", "w", "b")``;
        gradients are named ``"d" + name``. Default ``("x", "w", "b")``
        truncated to the number of array inputs (``x0, x1, ...`` beyond 3).
    seed : int, optional
        Seed for ``dout``.
    rtol, atol : float, optional
        Tolerances passed to :func:`course_utils.checks.check_grads`.
    h : float, optional
        Step of the central difference.

    Returns
    -------
    None
        One ``✓`` line per gradient is printed (nothing is returned, so the
        call can end an nbgrader test cell; see :func:`course_utils.checks.check_array`).

    Raises
    ------
    CheckFailure
        If ``forward`` does not return ``(out, cache)``, or a gradient is
        missing, has the wrong shape or wrong values (the message names it).
    TypeError, ValueError
        For invalid arguments.
    """
    _require_callable(forward, "forward")
    _require_callable(backward, "backward")
    if isinstance(inputs, np.ndarray):
        inputs = (inputs,)
    if not isinstance(inputs, (tuple, list)):
        raise TypeError(f"inputs must be a tuple or list, got {type(inputs).__name__}")
    inputs = list(inputs)
    positions = [i for i, v in enumerate(inputs) if isinstance(v, np.ndarray)]
    if not positions:
        raise ValueError("inputs contains no NumPy array to differentiate")

    if names is None:
        if len(positions) <= len(_DEFAULT_NAMES):
            arg_names = list(_DEFAULT_NAMES[: len(positions)])
        else:
            arg_names = [f"x{i}" for i in range(len(positions))]
    else:
        if isinstance(names, str) or not isinstance(names, (tuple, list)):
            raise TypeError("names must be a tuple or list of str")
        if not all(isinstance(n, str) for n in names):
            raise TypeError("names must contain only str")
        if len(names) == len(positions):
            arg_names = list(names)
        elif len(names) == len(inputs):
            arg_names = [names[i] for i in positions]
        else:
            raise ValueError(
                f"names has {len(names)} entries but inputs has {len(inputs)} "
                f"inputs ({len(positions)} of them arrays)"
            )
    for i, name in zip(positions, arg_names):
        _require_float64(inputs[i], f"inputs[{i}] ({name})")
    grad_names = ["d" + n for n in arg_names]

    # Work on copies so that the caller's arrays are never touched.
    for i in positions:
        inputs[i] = inputs[i].copy()

    result = forward(*inputs)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise CheckFailure(
            "forward must return a tuple (out, cache); it returned a "
            + type(result).__name__
            + (f" of length {len(result)}" if isinstance(result, tuple) else "")
        )
    out = np.asarray(result[0])
    cache = result[1]
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(out.shape)
    else:
        if not isinstance(dout, np.ndarray):
            raise TypeError(f"dout must be a NumPy array, got {type(dout).__name__}")
        if dout.shape != out.shape:
            raise ValueError(
                f"dout must have the shape of the output, {out.shape}; got {dout.shape}"
            )
        dout = dout.astype(np.float64)

    # The backward pass gets its own copy: an in-place change of dout must
    # not spoil the numerical gradients computed afterwards.
    analytic = backward(dout.copy(), cache)

    numerical = []
    for i in positions:

        def f(value, i=i):
            args = list(inputs)
            args[i] = value
            return forward(*args)[0]

        numerical.append(eval_numerical_gradient_array(f, inputs[i], dout, h=h))

    check_grads(analytic, tuple(numerical), rtol=rtol, atol=atol, names=grad_names)
