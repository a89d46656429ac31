"""Comparisons for graded cells that explain *why* an answer is wrong.

Every ``check_*`` function prints one line to standard output when the
answer is right and raises :class:`CheckFailure` (an ``AssertionError``)
with a diagnosis when it is wrong. Nothing is ever written to standard
error and no warning is emitted, because nbgrader gives a test cell zero
points as soon as it writes to standard error.

Misuse by the *author* of a check (for example a name that is not a string
or an ``expected`` value that is not numeric) raises ``TypeError`` or
``ValueError`` instead, so that such mistakes are never mistaken for a
wrong student answer.

Integrity
---------
Student code runs in the same Python process as the checks and could,
deliberately or by accident, replace functions such as ``np.allclose``,
``np.abs`` or ``builtins.abs``. This module therefore keeps private
references to every NumPy function and builtin it uses, taken when the
module is imported, and calls only those. It converts the student's value
to a fresh, plain ``float64`` array before doing any arithmetic, so methods
or operators defined on the student's object (``__eq__``, ``__array__``,
``__array_ufunc__``, overridden ``dtype``/``shape`` attributes, ...) are
never used. This protects against casual tampering; it is not a sandbox.
"""

import builtins as _builtins
import sys as _sys

import numpy as np

__all__ = [
    "CheckFailure",
    "rel_error",
    "check_array",
    "check_scalar",
    "check_shape",
    "check_grads",
    "check_true",
    "check_tensor",
    "check_vectorized",
    "check_unmodified",
]

# ---------------------------------------------------------------------------
# Private references, captured at import time (see "Integrity" above).
# ---------------------------------------------------------------------------
_issubclass = _builtins.issubclass
_type = _builtins.type
_len = _builtins.len
_range = _builtins.range
_enumerate = _builtins.enumerate
_zip = _builtins.zip
_str = _builtins.str
_repr = _builtins.repr
_float = _builtins.float
_int = _builtins.int
_bool = _builtins.bool
_tuple = _builtins.tuple
_list = _builtins.list
_dict = _builtins.dict
_slice = _builtins.slice
_print = _builtins.print
_abs = _builtins.abs
_max = _builtins.max
_sorted = _builtins.sorted
_round = _builtins.round
_ValueError = _builtins.ValueError
_TypeError = _builtins.TypeError
_OverflowError = _builtins.OverflowError
_list_copy = _builtins.list.copy
_tuple_getitem = _builtins.tuple.__getitem__
_dict_items = _builtins.dict.items
_str_join = _builtins.str.join

_ndarray = np.ndarray
_view = np.ndarray.view
_np_array = np.array
_float64 = np.float64
_errstate = np.errstate
_unravel_index = np.unravel_index
_lexsort = np.lexsort
_absolute = np.absolute
_add = np.add
_subtract = np.subtract
_multiply = np.multiply
_divide = np.divide
_negative = np.negative
_maximum = np.maximum
_greater = np.greater
_less_equal = np.less_equal
_equal = np.equal
_logical_and = np.logical_and
_logical_or = np.logical_or
_logical_not = np.logical_not
_isfinite = np.isfinite
_isnan = np.isnan
_isinf = np.isinf
_np_bool = np.bool_
_np_integer = np.integer
# Exact NumPy scalar types (np.float64, np.int32, ...). User-made subclasses
# are deliberately not in this set.
_NP_SCALAR_TYPES = frozenset(np.sctypeDict.values())
_PY_NUMBER_TYPES = frozenset((_builtins.int, _builtins.float, _builtins.bool))

# dtype.char of low-precision floats -> name (used for a note on failure).
_LOW_PRECISION = {"e": "float16", "f": "float32"}
_MAX_DEPTH = 32  # deepest list nesting accepted
_N_WORST = 5  # rows in the table of worst entries


class CheckFailure(AssertionError):
    """Raised by every check when the answer is wrong.

    The message is the diagnosis meant for the student. Subclassing
    ``AssertionError`` makes a failed check look like a failed ``assert``
    to nbgrader and pytest.
    """


class _Problem(Exception):
    """Internal: a value could not be used; the message says why."""


# ---------------------------------------------------------------------------
# Describing and converting values without trusting them
# ---------------------------------------------------------------------------
def _type_name(obj):
    """Return a readable name such as ``'torch.Tensor'`` for ``type(obj)``."""
    t = _type(obj)
    module = t.__module__
    name = t.__qualname__
    if _type(module) is not _str or module == "builtins":
        return name
    if module.startswith("torch"):
        module = "torch"
    return module + "." + name


def _is_torch_tensor(obj):
    """True if ``obj`` is a ``torch.Tensor`` (or subclass), without importing torch."""
    for klass in _type(obj).__mro__:
        module = klass.__module__
        if (
            klass.__name__ == "Tensor"
            and _type(module) is _str
            and (module == "torch" or module.startswith("torch."))
        ):
            return True
    return False


def _fmt_shape(shape):
    """Format a shape tuple like NumPy does: ``(3,)``, ``(4, 5)``, ``()``."""
    return _repr(_tuple(shape))


def _fmt_num(x):
    """Format a float with 7 significant digits."""
    return f"{_float(x):.7g}"


def _fmt_index(flat_index, shape):
    """Format the position of entry number ``flat_index`` of an array of ``shape``."""
    if _len(shape) == 0:
        return "()"
    idx = _unravel_index(flat_index, shape)
    return "[" + _str_join(", ", [_str(_int(i)) for i in idx]) + "]"


def _numeric_kind_problem(kind, name, what):
    """Return a message if a dtype kind / scalar kind is not a real number."""
    if kind == "c":
        return (
            f"{name} has complex values; {what} of real numbers was expected "
            "(a complex result usually comes from a square root or log of a "
            "negative number)."
        )
    if kind == "O":
        return (
            f"{name} is an array of Python objects (dtype=object); {what} of "
            "numbers was expected. This usually means some entries are None, "
            "strings or arrays of different sizes."
        )
    if kind in "US":
        return f"{name} contains strings; {what} of numbers was expected."
    if kind in "mM":
        return f"{name} contains dates or time deltas; {what} of numbers was expected."
    return f"{name} is not numeric (dtype kind {kind!r}); {what} of numbers was expected."


def _sanitize(obj, name, path, depth):
    """Rebuild a nested list/tuple of numbers out of trusted objects only.

    Returns a structure made of exact Python/NumPy numbers, plain lists and
    plain ``np.ndarray`` views, safe to hand to ``np.array``.
    """
    t = _type(obj)
    where = name + path
    if t in _PY_NUMBER_TYPES:
        return obj
    if t in _NP_SCALAR_TYPES:
        kind = _np_array(obj).dtype.kind
        if kind not in "fiub":
            raise _Problem(_numeric_kind_problem(kind, where, "a list"))
        return obj
    if obj is None:
        raise _Problem(f"{name} is a list whose entry {where} is None.")
    if _is_torch_tensor(obj):
        raise _Problem(
            f"{name} is a list containing a torch.Tensor (at {where}); "
            "this exercise expects NumPy arrays (use .detach().cpu().numpy())."
        )
    if _issubclass(t, _ndarray):
        base = _view(obj, _ndarray)
        kind = base.dtype.kind
        if kind not in "fiub":
            raise _Problem(_numeric_kind_problem(kind, where, "an array"))
        return base
    if depth >= _MAX_DEPTH:
        raise _Problem(f"{name} is nested too deeply to be an array of numbers.")
    if _issubclass(t, _list):
        items = _list_copy(obj)
    elif _issubclass(t, _tuple):
        items = _list(_tuple_getitem(obj, _slice(None)))
    else:
        raise _Problem(
            f"{name} is a list whose entry {where} is a {_type_name(obj)}; "
            "only numbers were expected."
        )
    return [
        _sanitize(item, name, path + f"[{i}]", depth + 1) for i, item in _enumerate(items)
    ]


def _to_float_array(obj, name, what="a NumPy array"):
    """Convert a value to a fresh float64 ``np.ndarray`` without trusting it.

    Parameters
    ----------
    obj : object
        The value to convert. Accepted: ``np.ndarray`` (or subclass) of a
        real numeric or boolean dtype, exact Python/NumPy numbers, and lists
        (or tuples of numbers) that NumPy can turn into a rectangular array.
    name : str
        Name used in messages.
    what : str
        What was expected, used in messages ("a NumPy array").

    Returns
    -------
    array : np.ndarray
        Plain float64 array, a copy, with the shape of ``obj``.
    source_dtype : str or None
        ``"float16"`` or ``"float32"`` when ``obj`` was an array of that
        dtype, else None.

    Raises
    ------
    _Problem
        With a student-facing explanation when ``obj`` is unusable.
    """
    t = _type(obj)
    if obj is None:
        raise _Problem(f"{name} is None — did you forget to return it?")
    if _is_torch_tensor(obj):
        raise _Problem(
            f"{name} is a torch.Tensor; this exercise expects {what} "
            "(use .detach().cpu().numpy())."
        )
    if _issubclass(t, _ndarray):
        base = _view(obj, _ndarray)
        kind = base.dtype.kind
        if kind not in "fiub":
            raise _Problem(_numeric_kind_problem(kind, name, what))
        return base.astype(_float64), _LOW_PRECISION.get(base.dtype.char)
    if t in _PY_NUMBER_TYPES or t in _NP_SCALAR_TYPES:
        if t in _NP_SCALAR_TYPES:
            kind = _np_array(obj).dtype.kind
            if kind not in "fiub":
                raise _Problem(_numeric_kind_problem(kind, name, what))
        try:
            return _np_array(obj, dtype=_float64), None
        except (_OverflowError, _ValueError):
            raise _Problem(f"{name} is a number too large to convert to float64.") from None
    if t is _builtins.complex:
        raise _Problem(_numeric_kind_problem("c", name, what))
    if _issubclass(t, _str) or _issubclass(t, _builtins.bytes):
        raise _Problem(f"{name} is a string; {what} of numbers was expected.")
    if _issubclass(t, _dict):
        n = _len(_list(_dict_items(obj)))
        raise _Problem(
            f"{name} is a dict ({n} {'entry' if n == 1 else 'entries'}); {what} was expected."
        )
    if _issubclass(t, _tuple):
        items = _list(_tuple_getitem(obj, _slice(None)))
        nested = [
            item
            for item in items
            if not (_type(item) in _PY_NUMBER_TYPES or _type(item) in _NP_SCALAR_TYPES)
        ]
        if nested:
            kinds = _str_join(", ", [_type_name(item) for item in items])
            raise _Problem(
                f"{name} is a tuple of {_len(items)} items ({kinds}) but {what} "
                "was expected. If your function returns (out, cache), use only "
                "out here."
            )
        obj = items
        t = _list
    if not _issubclass(t, _list):
        raise _Problem(f"{name} is of type {_type_name(obj)}; {what} was expected.")
    clean = _sanitize(obj, name, "", 0)
    try:
        return _np_array(clean, dtype=_float64), None
    except _ValueError:
        raise _Problem(
            f"{name} is a ragged list (its rows have different lengths) and "
            f"cannot be turned into {what}."
        ) from None
    except (_TypeError, _OverflowError):
        raise _Problem(f"{name} is a list that cannot be turned into {what} of numbers.") from None


def _expected_array(expected, argname="expected"):
    """Convert an instructor-supplied value, raising TypeError if unusable."""
    try:
        return _to_float_array(expected, argname)[0]
    except _Problem as problem:
        raise _TypeError(f"{argname} must be numeric array-like: {problem}") from None


def _check_name(name, argname="name"):
    if _type(name) is not _str:
        raise _TypeError(f"{argname} must be a str, got {_type_name(name)}")


def _check_hint(hint):
    if hint is not None and _type(hint) is not _str:
        raise _TypeError(f"hint must be a str or None, got {_type_name(hint)}")


def _check_tol(rtol, atol):
    for argname, value in (("rtol", rtol), ("atol", atol)):
        if _type(value) not in _PY_NUMBER_TYPES and _type(value) not in _NP_SCALAR_TYPES:
            raise _TypeError(f"{argname} must be a real number, got {_type_name(value)}")
        value = _float(value)
        if not (value >= 0.0) or value == _float("inf"):
            raise _ValueError(f"{argname} must be finite and >= 0, got {value!r}")
    return _float(rtol), _float(atol)


def _with_hint(message, hint):
    if hint:
        return message + "\nHint: " + hint
    return message


# ---------------------------------------------------------------------------
# Shape diagnosis
# ---------------------------------------------------------------------------
def _shape_matches(got_shape, expected_shape):
    """Compare shapes; ``None`` in ``expected_shape`` matches any length."""
    if _len(got_shape) != _len(expected_shape):
        return False
    for g, e in _zip(got_shape, expected_shape):
        if e is not None and g != e:
            return False
    return True


def _drop_axis(shape, axis):
    return _tuple(shape[:axis]) + _tuple(shape[axis + 1 :])


def _shape_message(name, got_shape, expected_shape):
    """Explain a shape mismatch, with a guess at the cause when one is likely."""
    got_shape = _tuple(got_shape)
    expected_shape = _tuple(expected_shape)
    shown = "(" + _str_join(", ", ["?" if e is None else _str(e) for e in expected_shape])
    shown += ",)" if _len(expected_shape) == 1 else ")"
    msg = f"{name} has shape {_fmt_shape(got_shape)} but expected {shown}."
    concrete = None not in expected_shape
    if _len(got_shape) >= 2 and _shape_matches(got_shape[::-1], expected_shape):
        return msg + " A transposed result usually means a missing .T."
    if concrete:
        got_size = 1
        for n in got_shape:
            got_size *= n
        exp_size = 1
        for n in expected_shape:
            exp_size *= n
        if got_size == exp_size:
            return (
                msg + f" It has the right number of entries ({exp_size}) — "
                "did you forget to reshape/flatten?"
            )
    if _len(got_shape) == _len(expected_shape) + 1:
        for axis in _range(_len(got_shape)):
            if _shape_matches(_drop_axis(got_shape, axis), expected_shape):
                return (
                    msg + f" It has an extra axis {axis} of length {got_shape[axis]} — "
                    f"did you forget to sum (or average) over axis={axis}?"
                )
    if _len(got_shape) + 1 == _len(expected_shape):
        for axis in _range(_len(expected_shape)):
            if _shape_matches(got_shape, _drop_axis(expected_shape, axis)):
                length = expected_shape[axis]
                if length == 1:
                    return msg + " Did you forget keepdims=True or a reshape?"
                return (
                    msg + f" Axis {axis} (length {length}) is missing — did you "
                    f"sum or average over axis={axis} by mistake?"
                )
    return msg


# ---------------------------------------------------------------------------
# Value diagnosis
# ---------------------------------------------------------------------------
def _nice_ratio(k):
    """Describe ``k`` as ``'32'``, ``'1/32'``, or ``None`` if it is no such simple value."""
    if not (k == k) or k == 0.0 or _abs(k) == _float("inf"):
        return None
    n = _round(k)
    if _abs(n) >= 2 and _abs(k - n) <= 1e-6 * _abs(k):
        return _str(_int(n))
    inv = 1.0 / k
    m = _round(inv)
    if _abs(m) >= 2 and _abs(inv - m) <= 1e-6 * _abs(inv):
        sign = "-" if m < 0 else ""
        return f"{sign}1/{_abs(_int(m))}"
    return None


def _allclose(a, b, rtol, atol):
    """Private allclose on trusted float64 arrays: |a - b| <= atol + rtol * |b|."""
    with _errstate(all="ignore"):
        ok = _less_equal(_absolute(_subtract(a, b)), _add(atol, _multiply(rtol, _absolute(b))))
    return _bool(ok.all())


def _diagnose_values(name, got, expected, rtol, atol):
    """Return diagnosis lines for a value mismatch of two finite arrays."""
    lines = []
    size = expected.size
    with _errstate(all="ignore"):
        exp_max = _float(_absolute(expected).max()) if size else 0.0
        got_max = _float(_absolute(got).max()) if size else 0.0
    if exp_max > atol and got_max <= 1e-12 + 1e-6 * exp_max:
        lines.append(
            f"Every entry of {name} is (almost) zero — was the result left as "
            "initialised (e.g. np.zeros_like) or never assigned?"
        )
        return lines
    if exp_max > atol and _allclose(got, _negative(expected), rtol, atol):
        lines.append(f"{name} ≈ -expected: is a sign flipped?")
        return lines
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1] and size > 1:
        transposed = expected.T
        if not _allclose(expected, transposed, rtol, atol) and _allclose(
            got, transposed, rtol, atol
        ):
            lines.append(f"{name} equals the transpose of the expected result — a missing .T?")
            return lines
    if exp_max > atol:
        mask = _greater(_absolute(expected), _max(atol, 1e-6 * exp_max))
        if mask.any():
            with _errstate(all="ignore"):
                ratios = _divide(got[mask], expected[mask])
            ratios.sort()
            k = _float(ratios[ratios.size // 2])
            nice = _nice_ratio(k)
            constant = k == k and k != 0.0 and _abs(k) != _float("inf")
            if constant:
                with _errstate(all="ignore"):
                    scaled = _multiply(k, expected)
                constant = _allclose(got, scaled, _max(rtol, 1e-6), atol)
            informative = nice is not None or (ratios.size >= 2 and _abs(_abs(k) - 1.0) > 1e-3)
            if constant and informative:
                shown = nice if nice is not None else f"{k:.6g}"
                lines.append(
                    f"{name} ≈ {shown} × expected (the same factor for every entry): "
                    "a scaling factor is missing or extra."
                )
    return lines


def _worst_table(got, expected, bad, rel):
    """Table (list of lines) of the worst mismatching entries."""
    flat_bad = bad.ravel().nonzero()[0]
    with _errstate(all="ignore"):
        diff = _absolute(_subtract(got, expected)).ravel()[flat_bad]
    # Largest relative error first, then largest absolute error, then position.
    order = _lexsort((flat_bad, _negative(diff), _negative(rel.ravel()[flat_bad])))[:_N_WORST]
    rows = []
    for j in order:
        flat = _int(flat_bad[j])
        rows.append(
            (
                _fmt_index(flat, expected.shape),
                _fmt_num(expected.ravel()[flat]),
                _fmt_num(got.ravel()[flat]),
            )
        )
    width = _max([_len("index")] + [_len(r[0]) for r in rows])
    lines = [f"    {'index':<{width}}  {'expected':>15}  {'got':>15}"]
    for index, exp_s, got_s in rows:
        lines.append(f"    {index:<{width}}  {exp_s:>15}  {got_s:>15}")
    return lines


def _compare(name, got, expected, rtol, atol):
    """Compare a student's value with a trusted float64 array.

    Parameters
    ----------
    name : str
        Name used in messages.
    got : object
        The student's value (not trusted).
    expected : np.ndarray
        Trusted float64 array of any shape ``S``.
    rtol, atol : float
        Tolerances: entry ``i`` passes if
        ``|got[i] - expected[i]| <= atol + rtol * |expected[i]|``.

    Returns
    -------
    ok : bool
    rel : float
        Maximum relative error (``nan`` if it could not be computed).
    summary : str
        A few words for a list of failures, e.g. ``"max rel. error 0.49"``.
    message : str
        Full diagnosis when ``ok`` is False, else ``""``.
    """
    try:
        g, source_dtype = _to_float_array(got, name)
    except _Problem as problem:
        msg = _str(problem)
        if got is None:
            summary = "is None"
        else:
            summary = f"is a {_type_name(got)}"
        return False, _float("nan"), summary, msg

    if g.shape != expected.shape:
        summary = f"shape {_fmt_shape(g.shape)} vs expected {_fmt_shape(expected.shape)}"
        return False, _float("nan"), summary, _shape_message(name, g.shape, expected.shape)

    with _errstate(all="ignore"):
        g_finite = _isfinite(g)
        e_finite = _isfinite(expected)
        # Non-finite expected entries must be reproduced exactly.
        same_nonfinite = _logical_and(
            _logical_not(e_finite),
            _logical_or(_logical_and(_isnan(g), _isnan(expected)), _equal(g, expected)),
        )
        unexpected = _logical_and(_logical_not(g_finite), e_finite)
    if unexpected.any():
        n_nan = _int(_logical_and(unexpected, _isnan(g)).sum())
        n_inf = _int(_logical_and(unexpected, _isinf(g)).sum())
        positions = unexpected.ravel().nonzero()[0][:3]
        where = _str_join(", ", [_fmt_index(_int(p), g.shape) for p in positions])
        parts = []
        if n_nan:
            parts.append(f"{n_nan} NaN")
        if n_inf:
            parts.append(f"{n_inf} inf")
        msg = (
            f"{name} contains {' and '.join(parts)} value(s) out of {g.size} "
            f"(first at {where}). NaN/inf usually come from 0/0, log(0), or an "
            "overflow in exp — check the numerical stability of your code "
            "(e.g. subtract the max before exp)."
        )
        return False, _float("nan"), f"{' and '.join(parts)} value(s)", msg

    with _errstate(all="ignore"):
        diff = _absolute(_subtract(g, expected))
        tol = _add(atol, _multiply(rtol, _absolute(expected)))
        denom = _maximum(1e-8, _add(_absolute(g), _absolute(expected)))
        rel = _divide(diff, denom)
        bad = _logical_and(_logical_not(_less_equal(diff, tol)), _logical_not(same_nonfinite))
        finite_both = _logical_and(g_finite, e_finite)
    rel_ok = rel[finite_both]
    max_rel = _float(rel_ok.max()) if rel_ok.size else 0.0
    if not bad.any():
        return True, max_rel, f"max rel. error {max_rel:.2g}", ""

    n_bad = _int(bad.sum())
    size = g.size
    lines = [
        f"{name} does not match the expected values: {n_bad} of {size} "
        f"entries ({100.0 * n_bad / size:.1f}%) are off.",
        f"  max rel. error: {max_rel:.2e} (allowed: |got - expected| <= "
        f"{atol:g} + {rtol:g} * |expected|)",
        "  worst entries:",
    ]
    lines += _worst_table(g, expected, bad, rel)
    if finite_both.all():
        lines += ["Diagnosis: " + line for line in _diagnose_values(name, g, expected, rtol, atol)]
    if source_dtype in ("float32", "float16"):
        lines.append(
            f"Note: {name} has dtype {source_dtype}, which keeps only "
            f"{'7' if source_dtype == 'float32' else '3'} significant digits; "
            "compute in float64."
        )
    return False, max_rel, f"max rel. error {max_rel:.2g}", "\n".join(lines)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------
def rel_error(x, y, eps=1e-8):
    """Maximum relative error between two arrays.

    Parameters
    ----------
    x, y : array_like
        Arrays of the same shape ``S`` (numbers, lists or NumPy arrays).
    eps : float, optional
        Lower bound of the denominator, so that two zeros give error 0.

    Returns
    -------
    float
        ``max |x - y| / max(eps, |x| + |y|)`` over all entries, computed in
        float64; ``0.0`` for empty arrays and ``nan`` if an entry is NaN.

    Raises
    ------
    TypeError
        If ``x`` or ``y`` is not numeric.
    ValueError
        If the shapes differ (no broadcasting is done).
    """
    try:
        a = _to_float_array(x, "x")[0]
        b = _to_float_array(y, "y")[0]
    except _Problem as problem:
        raise _TypeError(_str(problem)) from None
    if a.shape != b.shape:
        raise _ValueError(
            f"rel_error needs arrays of the same shape, got {_fmt_shape(a.shape)} "
            f"and {_fmt_shape(b.shape)}"
        )
    if a.size == 0:
        return 0.0
    with _errstate(all="ignore"):
        rel = _divide(
            _absolute(_subtract(a, b)), _maximum(_float(eps), _add(_absolute(a), _absolute(b)))
        )
        if _isnan(rel).any():
            return _float("nan")
        return _float(rel.max())


def check_array(name, got, expected, *, rtol=1e-6, atol=1e-8, hint=None):
    """Check a student's array against the expected one and explain any difference.

    Checked in this order: the type of ``got`` (None, torch tensor, tuple,
    string, ...), its dtype, its shape, NaN/inf entries, and finally the
    values, which must satisfy
    ``|got - expected| <= atol + rtol * |expected|`` entry by entry.

    Parameters
    ----------
    name : str
        Name of the quantity shown in messages, e.g. ``"dx"``.
    got : array_like
        The student's answer: a NumPy array of shape ``S`` (any real or
        boolean dtype; converted to float64), or a nested list of numbers.
    expected : array_like
        The correct answer, shape ``S``.
    rtol, atol : float, optional
        Relative and absolute tolerances.
    hint : str, optional
        Appended to the failure message as ``"Hint: ..."``.

    Returns
    -------
    None
        A line such as ``✓ dx: matches (max rel. error 3.1e-12)`` is printed
        to stdout.  Checks return nothing on purpose: nbgrader reads a number
        shown as a test cell's last value as *partial credit*, so a returned
        error of 0.0 would score the cell zero.

    Raises
    ------
    CheckFailure
        If ``got`` is wrong; the message is the diagnosis.
    TypeError, ValueError
        If the arguments of the check itself are invalid.
    """
    _check_name(name)
    _check_hint(hint)
    rtol, atol = _check_tol(rtol, atol)
    exp = _expected_array(expected)
    ok, rel, _summary, message = _compare(name, got, exp, rtol, atol)
    if not ok:
        raise CheckFailure(_with_hint(message, hint))
    _print(f"✓ {name}: matches (max rel. error {rel:.1e})")


def _to_float_scalar(got, name):
    """Convert a student's scalar to a Python float, raising _Problem if unusable."""
    t = _type(got)
    if _issubclass(t, _tuple):
        n = _len(_tuple_getitem(got, _slice(None)))
        raise _Problem(
            f"{name} is a tuple of {n} items; a single number was expected. "
            "If your function returns e.g. (loss, grads), use only the first item here."
        )
    if _issubclass(t, _list):
        raise _Problem(f"{name} is a list; a single number was expected.")
    if _is_torch_tensor(got):
        raise _Problem(
            f"{name} is a torch.Tensor; this exercise expects a Python or NumPy "
            "number (use .item())."
        )
    arr, _ = _to_float_array(got, name, what="a number")
    if arr.size != 1:
        raise _Problem(
            f"{name} is an array of shape {_fmt_shape(arr.shape)} but a single "
            "number was expected — did you forget to sum or average (e.g. .sum() or .mean())?"
        )
    return _float(arr.reshape(-1)[0])


def check_scalar(name, got, expected, *, rtol=1e-6, atol=1e-8, hint=None):
    """Check a student's scalar (e.g. a loss) and explain any difference.

    Parameters
    ----------
    name : str
        Name shown in messages, e.g. ``"loss"``.
    got : number
        Python or NumPy number, or a NumPy array with exactly one entry
        (shape ``()``, ``(1,)``, ``(1, 1)``, ...).
    expected : number
        The correct value (same accepted forms as ``got``).
    rtol, atol : float, optional
        The check passes if ``|got - expected| <= atol + rtol * |expected|``.
    hint : str, optional
        Appended to the failure message as ``"Hint: ..."``.

    Returns
    -------
    None
        A ``✓`` line with the relative error
        ``|got - expected| / max(1e-8, |got| + |expected|)`` is printed.

    Raises
    ------
    CheckFailure
        If ``got`` is wrong.
    TypeError, ValueError
        If the arguments of the check itself are invalid.
    """
    _check_name(name)
    _check_hint(hint)
    rtol, atol = _check_tol(rtol, atol)
    try:
        exp = _to_float_scalar(expected, "expected")
    except _Problem as problem:
        raise _TypeError(_str(problem)) from None
    try:
        value = _to_float_scalar(got, name)
    except _Problem as problem:
        raise CheckFailure(_with_hint(_str(problem), hint)) from None
    if not (value == value) or _abs(value) == _float("inf"):
        if value != value and exp != exp:
            _print(f"✓ {name}: matches (nan)")
            return None
        if value == exp:
            _print(f"✓ {name}: matches ({value})")
            return None
        raise CheckFailure(
            _with_hint(
                f"{name} is {value} but expected {_fmt_num(exp)}. NaN/inf usually come "
                "from 0/0, log(0) or an overflow in exp — check the numerical "
                "stability of your code (e.g. subtract the max before exp).",
                hint,
            )
        )
    diff = _abs(value - exp)
    rel = diff / _max(1e-8, _abs(value) + _abs(exp))
    if diff <= atol + rtol * _abs(exp):
        _print(f"✓ {name}: matches (value {value:.7g}, rel. error {rel:.1e})")
        return None
    lines = [
        f"{name} is {_fmt_num(value)} but expected {_fmt_num(exp)} "
        f"(rel. error {rel:.2e}; allowed: |got - expected| <= {atol:g} + {rtol:g} * |expected|)."
    ]
    if _abs(exp) > atol:
        if _abs(value) <= 1e-12 + 1e-6 * _abs(exp):
            lines.append(f"Diagnosis: {name} is (almost) zero — was it ever computed?")
        elif _abs(value + exp) <= atol + rtol * _abs(exp):
            lines.append(f"Diagnosis: {name} ≈ -expected: is a sign flipped?")
        else:
            nice = _nice_ratio(value / exp)
            if nice is not None:
                lines.append(
                    f"Diagnosis: {name} ≈ {nice} × expected: a scaling factor is missing or extra."
                )
    raise CheckFailure(_with_hint("\n".join(lines), hint))


def _tensor_base():
    """torch's C tensor type: its methods cannot be replaced from Python (``torch.Tensor``'s can)."""
    import torch

    return getattr(torch._C, "TensorBase", None) or torch._C._TensorBase


def _tensor_to_float_array(got, name):
    """Convert a student's ``torch.Tensor`` to a float64 array without trusting it.

    Only exact ``torch.Tensor`` / ``torch.nn.Parameter`` objects are accepted,
    and only the methods of torch's C tensor type are called on them (a patched
    ``torch.Tensor.numpy`` or ``torch.Tensor.detach`` is never used).
    """
    import torch

    t = _type(got)
    if got is None:
        raise _Problem(f"{name} is None — did you forget to return it?")
    if _issubclass(t, _ndarray):
        raise _Problem(
            f"{name} is a NumPy array; this exercise expects a torch.Tensor "
            "(stay in PyTorch so that gradients can flow; torch.from_numpy converts)."
        )
    if t in _PY_NUMBER_TYPES or t in _NP_SCALAR_TYPES:
        raise _Problem(
            f"{name} is a plain number ({_type_name(got)}); this exercise expects a torch.Tensor "
            "(did you call .item() or float() too early?)."
        )
    if t is not torch.Tensor and t is not torch.nn.Parameter:
        if _issubclass(t, _tuple):
            n = _len(_tuple_getitem(got, _slice(None)))
            raise _Problem(
                f"{name} is a tuple of {n} items; a single torch.Tensor was expected. "
                "If your function returns several values, use only the one checked here."
            )
        raise _Problem(f"{name} is of type {_type_name(got)}; a torch.Tensor was expected.")
    base = _tensor_base()
    dtype = base.dtype.__get__(got)
    if dtype.is_complex:
        raise _Problem(f"{name} has dtype {dtype}; a real-valued tensor was expected.")
    plain = base.detach(got)
    plain = base.to(plain, device="cpu", dtype=torch.float64)
    return _np_array(base.numpy(plain), dtype=_float64, copy=True), dtype


def check_tensor(name, got, expected, *, rtol=1e-5, atol=1e-6, hint=None, requires_grad=None):
    """Check a student's ``torch.Tensor`` against the expected values and explain any difference.

    The PyTorch counterpart of :func:`check_array`: the same diagnosis of
    shape, non-finite entries and values, after checking that ``got`` really
    is a tensor (not a NumPy array, a Python number or a tuple).

    Parameters
    ----------
    name : str
        Name of the quantity shown in messages, e.g. ``"loss"``.
    got : torch.Tensor
        The student's answer, of shape ``S``, on any device, any real dtype
        (compared in float64).
    expected : array_like or torch.Tensor
        The correct values, shape ``S`` (a number for a 0-d tensor).
    rtol, atol : float, optional
        Entry ``i`` passes if ``|got[i] - expected[i]| <= atol + rtol * |expected[i]|``.
        The defaults suit float32 computations.
    hint : str, optional
        Appended to the failure message as ``"Hint: ..."``.
    requires_grad : bool or None, optional
        ``True``: ``got`` must still be attached to the autograd graph (a loss
        that will be back-propagated); ``False``: it must not be. ``None``
        (default): not checked.

    Returns
    -------
    None
        A ``✓`` line is printed to stdout.

    Raises
    ------
    CheckFailure
        If ``got`` is wrong.
    TypeError, ValueError
        If the arguments of the check itself are invalid.
    """
    _check_name(name)
    _check_hint(hint)
    rtol, atol = _check_tol(rtol, atol)
    if requires_grad is not None and _type(requires_grad) is not _bool:
        raise _TypeError("requires_grad must be True, False or None")
    if _is_torch_tensor(expected):
        try:
            expected, _ = _tensor_to_float_array(expected, "expected")
        except _Problem as problem:
            raise _TypeError(f"expected must be numeric: {problem}") from None
    exp = _expected_array(expected)
    try:
        arr, dtype = _tensor_to_float_array(got, name)
    except _Problem as problem:
        raise CheckFailure(_with_hint(_str(problem), hint)) from None
    if requires_grad is not None:
        import torch

        attached = _bool(_tensor_base().requires_grad.__get__(got))
        if requires_grad and not attached:
            raise CheckFailure(_with_hint(
                f"{name} does not require grad: it is detached from the autograd graph, so "
                "no gradient can flow back through it. Look for .detach(), .item(), .numpy(), "
                "torch.no_grad() or a tensor rebuilt with torch.tensor(...) on the way.", hint))
        if not requires_grad and attached:
            raise CheckFailure(_with_hint(
                f"{name} is still attached to the autograd graph (requires_grad=True) but "
                "should not be: detach it or compute it under torch.no_grad().", hint))
    ok, rel, _summary, message = _compare(name, arr, exp, rtol, atol)
    if not ok:
        if str(dtype) in ("torch.float16", "torch.bfloat16"):
            message += f"\nNote: {name} has dtype {dtype}; compute in float32."
        raise CheckFailure(_with_hint(message, hint))
    _print(f"✓ {name}: matches (max rel. error {rel:.1e})")


def check_shape(name, got, expected_shape, *, allow_tensor=False):
    """Check only the type and the shape of a student's array.

    Parameters
    ----------
    name : str
        Name shown in messages.
    got : array_like
        NumPy array or nested list of numbers (or a ``torch.Tensor`` if
        ``allow_tensor`` is true).
    expected_shape : tuple of int or None
        Expected shape; an entry ``None`` accepts any length on that axis,
        e.g. ``(None, 10)``.
    allow_tensor : bool, optional
        Accept ``torch.Tensor`` objects (for PyTorch exercises).

    Returns
    -------
    None
        A line ``✓ name: shape (...) as expected`` is printed to stdout.

    Raises
    ------
    CheckFailure
        If ``got`` has the wrong type or shape.
    TypeError
        If ``expected_shape`` is not a tuple/list of ints or None.
    """
    _check_name(name)
    if _type(expected_shape) not in (_tuple, _list):
        raise _TypeError(
            f"expected_shape must be a tuple of ints, got {_type_name(expected_shape)}"
        )
    expected_shape = _tuple(expected_shape)
    for n in expected_shape:
        tn = _type(n)
        if n is None or tn is _int or (tn in _NP_SCALAR_TYPES and _issubclass(tn, _np_integer)):
            continue
        raise _TypeError(f"expected_shape must contain ints or None, got {n!r}")
    expected_shape = _tuple(None if n is None else _int(n) for n in expected_shape)
    if allow_tensor and _is_torch_tensor(got):
        import torch

        if _type(got) is not torch.Tensor and _type(got) is not torch.nn.Parameter:
            raise CheckFailure(f"{name} is of type {_type_name(got)}; a torch.Tensor was expected.")
        shape = _tuple(_int(n) for n in _tensor_base().shape.__get__(got))
    else:
        try:
            shape = _to_float_array(got, name)[0].shape
        except _Problem as problem:
            raise CheckFailure(_str(problem)) from None
    if not _shape_matches(shape, expected_shape):
        raise CheckFailure(_shape_message(name, shape, expected_shape))
    _print(f"✓ {name}: shape {_fmt_shape(shape)} as expected")


def _key_text(key):
    """Show a dict key safely (only exact str/int keys are shown verbatim)."""
    if _type(key) is _str:
        return key
    if _type(key) is _int:
        return _repr(key)
    return f"<{_type_name(key)} key>"


def check_grads(got, expected, *, rtol=1e-6, atol=1e-8, names=None, hint=None):
    """Check several gradients at once and say which ones are wrong.

    Parameters
    ----------
    got : dict or tuple or list or np.ndarray
        The student's gradients: a dict ``name -> array`` (e.g. the
        ``grads`` of a model), or a tuple/list of arrays in the order of
        ``names`` (e.g. ``(dx, dw, db)`` from a backward pass). A single
        array is accepted when exactly one gradient is expected.
    expected : dict or tuple or list
        The correct gradients: a dict ``name -> array`` or, with ``names``,
        a tuple/list of arrays. Each array has the shape of its parameter.
    rtol, atol : float, optional
        Tolerances used for every gradient (see :func:`check_array`).
    names : sequence of str, optional
        Names of the gradients, e.g. ``("dx", "dw", "db")``. Required when
        ``expected`` is a tuple/list; when ``expected`` is a dict it gives
        the order used to read a tuple/list ``got`` (default: the dict's
        key order).
    hint : str, optional
        Appended to the failure message as ``"Hint: ..."``.

    Returns
    -------
    None
        One line per gradient is printed to stdout (see :func:`check_array`
        for why nothing is returned).

    Raises
    ------
    CheckFailure
        Listing missing and unexpected gradients and the gradients that do
        not match, followed by the detailed diagnosis of the first mismatch.
    TypeError, ValueError
        If ``expected`` or ``names`` are invalid.
    """
    _check_hint(hint)
    rtol, atol = _check_tol(rtol, atol)
    if names is not None:
        if _type(names) not in (_tuple, _list):
            raise _TypeError(f"names must be a tuple or list of str, got {_type_name(names)}")
        names = _list(names)
        for n in names:
            _check_name(n, "each entry of names")
    if _issubclass(_type(expected), _dict):
        exp = {}
        for key, value in _list(_dict_items(expected)):
            _check_name(key, "each key of expected")
            exp[key] = _expected_array(value, f"expected[{key!r}]")
        if names is None:
            names = _list(exp)
        elif _sorted(names) != _sorted(exp):
            raise _ValueError(
                f"names {names} do not match the keys of expected {_list(exp)}"
            )
    elif _type(expected) in (_tuple, _list):
        if names is None:
            raise _TypeError("names is required when expected is a tuple or list")
        if _len(names) != _len(expected):
            raise _ValueError(
                f"names has {_len(names)} entries but expected has {_len(expected)}"
            )
        exp = {}
        for key, value in _zip(names, expected):
            exp[key] = _expected_array(value, f"expected {key}")
    else:
        raise _TypeError(
            f"expected must be a dict or a tuple/list of arrays, got {_type_name(expected)}"
        )

    listing = _str_join(", ", names)
    n_exp = _len(names)
    plural = "gradient" if n_exp == 1 else "gradients"
    t = _type(got)
    if got is None:
        raise CheckFailure(
            _with_hint(
                f"The gradients are None — did you forget to return them? "
                f"Expected {n_exp} {plural} ({listing}).",
                hint,
            )
        )
    if _is_torch_tensor(got):
        raise CheckFailure(
            _with_hint(
                "The gradients are a torch.Tensor; this exercise expects NumPy "
                "arrays (use .detach().cpu().numpy()).",
                hint,
            )
        )
    if _issubclass(t, _dict):
        got_items = _list(_dict_items(got))
    elif _issubclass(t, _tuple) or _issubclass(t, _list):
        items = (
            _list(_tuple_getitem(got, _slice(None)))
            if _issubclass(t, _tuple)
            else _list_copy(got)
        )
        if _len(items) != n_exp:
            raise CheckFailure(
                _with_hint(
                    f"Expected {n_exp} {plural} ({listing}), got {_len(items)}.",
                    hint,
                )
            )
        got_items = _list(_zip(names, items))
    elif _issubclass(t, _ndarray):
        if n_exp != 1:
            raise CheckFailure(
                _with_hint(
                    f"Got a single array, but expected {n_exp} {plural} ({listing}); "
                    "return them together as a tuple.",
                    hint,
                )
            )
        got_items = [(names[0], got)]
    else:
        raise CheckFailure(
            _with_hint(
                f"The gradients are a {_type_name(got)}; expected {n_exp} {plural} "
                f"({listing}) as a dict or tuple of NumPy arrays.",
                hint,
            )
        )

    got_map = {}
    extra = []
    for key, value in got_items:
        if _type(key) is _str and key in exp:
            got_map[key] = value
        else:
            extra.append(_key_text(key))
    missing = [n for n in names if n not in got_map]

    lines = []
    if missing:
        lines.append(f"Missing gradients: {_str_join(', ', missing)} (expected: {listing}).")
    if extra:
        lines.append(f"Unexpected gradients: {_str_join(', ', extra)} (not parameters).")
        for m in missing:
            if "d" + m in extra:
                lines.append(
                    f"Note: keys must be the parameter names exactly: use {m!r}, not {'d' + m!r}."
                )
            elif m.startswith("d") and m[1:] in extra:
                lines.append(f"Note: keys must be exactly {m!r}, not {m[1:]!r}.")

    results = {}
    failures = []
    first_detail = None
    for n in names:
        if n not in got_map:
            continue
        ok, rel, summary, message = _compare(n, got_map[n], exp[n], rtol, atol)
        results[n] = rel
        if not ok:
            failures.append(f"{n} ({summary})")
            if first_detail is None:
                first_detail = (n, message)
    if failures:
        lines.append("Gradient mismatch in: " + _str_join(", ", failures))
    if lines:
        if first_detail is not None:
            lines.append("")
            lines.append(f"Details for {first_detail[0]}:")
            lines += ["  " + line for line in first_detail[1].split("\n")]
        raise CheckFailure(_with_hint("\n".join(lines), hint))
    for n in names:
        _print(f"✓ {n}: matches (max rel. error {results[n]:.1e})")


def check_true(condition, message):
    """Fail with ``message`` unless ``condition`` is True.

    Parameters
    ----------
    condition : bool
        Must be a real ``bool``, a ``np.bool_``, or a plain ``np.ndarray``
        of dtype bool with exactly one entry. Other objects are rejected,
        so that an object with a custom ``__bool__`` cannot pass the check.
    message : str
        The diagnosis shown when the condition is false.

    Raises
    ------
    CheckFailure
        If ``condition`` is False.
    TypeError
        If ``message`` is not a str or ``condition`` is not a boolean.
    """
    if _type(message) is not _str:
        raise _TypeError(f"message must be a str, got {_type_name(message)}")
    t = _type(condition)
    if t is _builtins.bool:
        value = condition
    elif t is _np_bool:
        value = _bool(_np_array(condition, dtype=_builtins.bool))
    elif t is _ndarray and condition.dtype.kind == "b" and condition.size == 1:
        value = _bool(condition.reshape(-1)[0])
    else:
        extra = ""
        if t is _ndarray:
            extra = " — use np.all(...) or np.any(...) to reduce an array to one bool"
        raise _TypeError(
            f"check_true needs a condition that is True or False, got a "
            f"{_type_name(condition)}{extra}"
        )
    if not value:
        raise CheckFailure(message)


# ---------------------------------------------------------------------------
# Structure: vectorised code and pure functions
# ---------------------------------------------------------------------------
_settrace = _sys.settrace
_gettrace = _sys.gettrace
_isinstance = _builtins.isinstance
_id = _builtins.id
_SMALL_CALL_BUDGET = 200_000  # Python lines a small input may execute before the check gives up


class _LineBudget(BaseException):
    """Raised inside the traced call when it has executed more lines than the check needs to see."""


def _count_python_lines(fn, args, kwargs, budget):
    """Run ``fn(*args, **kwargs)`` and count the line events of every Python frame it enters.

    Returns ``(count, exceeded, tracer_intact)``; stops the call (``exceeded``) once ``budget``
    lines have run. Exceptions raised by ``fn`` itself propagate.
    """
    state = [0, False]

    def local(frame, event, arg):
        if event == "line":
            state[0] += 1
            if state[0] > budget:
                state[1] = True
                raise _LineBudget()
        return local

    def global_(frame, event, arg):
        return local

    previous = _gettrace()
    _settrace(global_)
    intact = True
    try:
        fn(*args, **kwargs)
    except _LineBudget:
        pass
    finally:
        # a trace function that raises is unset by Python itself
        intact = state[1] or _gettrace() is global_
        _settrace(previous)
    return state[0], state[1], intact


def _describe_sizes(small_args, large_args):
    """``x (2, 3, 8, 8) -> (64, 3, 8, 8)`` for the positional arguments whose shape changes."""
    parts = []
    for i, (a, b) in _enumerate(_zip(small_args, large_args)):
        sa, sb = getattr(a, "shape", None), getattr(b, "shape", None)
        if sa is not None and sb is not None and _tuple(sa) != _tuple(sb):
            parts.append(f"argument {i}: {_fmt_shape(_tuple(sa))} -> {_fmt_shape(_tuple(sb))}")
    return _str_join(", ", parts) if parts else "a larger input"


def check_vectorized(name, fn, small_args, large_args, *, small_kwargs=None, large_kwargs=None,
                     max_extra_lines=None):
    """Fail if ``fn`` runs a Python-level loop whose length grows with its input.

    ``fn`` is called on a small and on a larger input while every line of
    Python it executes is counted, in every frame: its own body, helper
    functions it calls (a loop-based sibling), comprehensions and the Python
    functions that ``np.vectorize`` or ``map`` call per element. Vectorised
    code executes the same number of lines whatever the size of the arrays;
    a loop over samples or entries executes more lines on the larger input.
    Loops whose length does not depend on the scaled dimensions (over the
    offsets of a fixed-size kernel, say) are allowed. The check counts lines,
    not seconds, so it gives the same verdict on a busy machine.

    Parameters
    ----------
    name : str
        The function's name, for the message.
    fn : callable
        The function to check. It is called three times: once on the small
        input to warm up (lazy imports and caches), then once on each input
        while counting. Its results are discarded.
    small_args, large_args : tuple
        Positional arguments of the two calls. Choose them so that a loop
        over the scaled dimension would execute at least about 100 more lines.
    small_kwargs, large_kwargs : dict, optional
        Keyword arguments of the two calls.
    max_extra_lines : int, optional
        How many more lines the large call may execute than the small one.
        Default: 25 plus 10% of the small call's count.

    Raises
    ------
    CheckFailure
        If the larger input executes more lines than allowed, or ``fn``
        replaced the tracing hook while it ran.
    """
    _check_name(name)
    if not callable(fn):
        raise _TypeError(f"fn must be callable, got {_type_name(fn)}")
    small_kwargs = {} if small_kwargs is None else small_kwargs
    large_kwargs = {} if large_kwargs is None else large_kwargs
    small_args, large_args = _tuple(small_args), _tuple(large_args)
    fn(*small_args, **small_kwargs)  # warm-up: lazy imports and caches are not counted
    small, exceeded, intact = _count_python_lines(fn, small_args, small_kwargs, _SMALL_CALL_BUDGET)
    if not intact:
        raise CheckFailure(f"{name} changed Python's tracing hook (sys.settrace) while it ran; "
                           "a graded function must leave it alone.")
    if exceeded:
        raise CheckFailure(
            f"{name} executed more than {_SMALL_CALL_BUDGET} lines of Python on a small input: "
            "it is not vectorised. Express the computation with whole-array operations "
            "(broadcasting, matrix products, fancy indexing) instead of Python loops.")
    allowed = (25 + small // 10) if max_extra_lines is None else _int(max_extra_lines)
    large, exceeded, intact = _count_python_lines(fn, large_args, large_kwargs, small + allowed)
    if not intact:
        raise CheckFailure(f"{name} changed Python's tracing hook (sys.settrace) while it ran; "
                           "a graded function must leave it alone.")
    if exceeded:
        raise CheckFailure(
            f"{name} is not vectorised: it executed {small} lines of Python on the small input "
            f"but more than {small + allowed} on the larger one ({_describe_sizes(small_args, large_args)}). "
            "Some Python-level loop (a for/while loop, a comprehension, np.vectorize, or a call to "
            "a loop-based function) runs once per sample or entry. Replace it with whole-array "
            "operations: broadcasting, matrix products, fancy indexing, np.add.at.")
    _print(f"✓ {name}: vectorised ({small} lines of Python on the small input, {large} on the larger one)")


def _fmt_entry(value):
    if value.dtype.kind in "fc":
        return _fmt_num(_float(value.real))
    return _repr(value.item())


def _modified_entries(before, after, path):
    """A description of how ``after`` differs from ``before``, or None if it does not."""
    if _type(before) is _ndarray:
        if _type(after) is not _ndarray:
            return f"{path} was replaced by a {_type_name(after)}"
        after = _view(after, _ndarray)
        if _tuple(after.shape) != _tuple(before.shape):
            return f"{path} changed shape from {_fmt_shape(before.shape)} to {_fmt_shape(after.shape)}"
        if after.dtype != before.dtype:
            return f"{path} changed dtype from {before.dtype} to {after.dtype}"
        b = _np_array(before, copy=True)
        a = _np_array(after, copy=True)
        if a.dtype.kind in "fc":
            same = _logical_or(_equal(a, b), _logical_and(_isnan(a), _isnan(b)))
        else:
            same = _equal(a, b)
        changed = _logical_not(same).reshape(-1)
        n_changed = _int(changed.sum())
        if n_changed == 0:
            return None
        first = _int(changed.nonzero()[0][0])
        where = _fmt_index(first, b.shape) if b.ndim else ""
        return (f"{path} was modified in place: {n_changed} of {b.size} entries changed "
                f"(e.g. {path}{where}: {_fmt_entry(b.reshape(-1)[first])} before the call, "
                f"{_fmt_entry(a.reshape(-1)[first])} after)")
    if _is_torch_tensor(before):
        if not _is_torch_tensor(after):
            return f"{path} was replaced by a {_type_name(after)}"
        b, _ = _tensor_to_float_array(before, path)
        a, _ = _tensor_to_float_array(after, path)
        return _modified_entries(b, a, path)
    if _type(before) in (_tuple, _list):
        if _type(after) is not _type(before) or _len(after) != _len(before):
            return f"{path} changed from a {_type_name(before)} of {_len(before)} items"
        for i in _range(_len(before)):
            found = _modified_entries(before[i], after[i], f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if _type(before) is _dict:
        if _type(after) is not _dict or _sorted(map(_repr, before)) != _sorted(map(_repr, after)):
            return f"{path} had keys added or removed"
        for key in before:
            found = _modified_entries(before[key], after[key], f"{path}[{key!r}]")
            if found is not None:
                return found
        return None
    if _type(before) in _PY_NUMBER_TYPES or _type(before) in _NP_SCALAR_TYPES or before is None \
            or _type(before) is _str:
        if _type(after) is not _type(before) or not (before == after or (before != before and after != after)):
            return f"{path} changed from {before!r} to {after!r}"
        return None
    raise _TypeError(f"check_unmodified cannot compare a {_type_name(before)} (at {path})")


def check_unmodified(name, before, after):
    """Fail if a function modified an argument it must leave alone.

    Take a deep copy of the argument (``copy.deepcopy``) before calling the
    function, pass the original, and give both to this check afterwards.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    before : ndarray, torch.Tensor, number, str, None, or a tuple/list/dict of these
        The copy taken before the call.
    after : same structure as ``before``
        The object that was passed to the function.

    Raises
    ------
    CheckFailure
        If any entry, shape, dtype or key differs.
    """
    _check_name(name)
    found = _modified_entries(before, after, name)
    if found is not None:
        raise CheckFailure(
            f"{found}. This function must leave its inputs unchanged: compute the result in "
            "new arrays (an in-place operation such as `+=`, `*=`, `[...] =` or `.clip(out=...)` "
            "on an argument changes the caller's data).")
    _print(f"✓ {name}: left unchanged")
