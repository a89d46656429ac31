"""Concept checks: short numeric or multiple-choice questions graded after submission.

A concept check has three cells in a notebook:

* a markdown cell with the question, its options ``(A)``, ``(B)``, ... or the number asked for,
  and how it is graded (one letter; a set of letters, all-or-nothing; a number within a stated
  tolerance);
* an answer cell (nbgrader grade id ``answer_<name>``) in which the student assigns the answer to
  the variable ``answer_<name>``;
* a locked test cell (grade id ``concept_<name>``) whose visible part calls
  :func:`check_answer_format` and whose hidden part calls :func:`grade_answer` with the key and
  an explanation.

:func:`check_answer_format` only validates the *format*: its output is the same for a right and a
wrong answer, so running the check cell says nothing about correctness and cannot be used as an
oracle. The key lives only in the hidden tests; the feedback after grading says which concept
checks were wrong and shows the explanation written next to the key.

Formats (``kind``):

``"choice"``
    one letter among ``options`` (a string such as ``"ABCD"``), e.g. ``"B"``; case and
    surrounding spaces are ignored.
``"choices"``
    a set of letters among ``options``, e.g. ``{"A", "C"}`` (a list, tuple or a string
    ``"AC"`` is accepted too); the empty set ``set()`` is a valid answer ("none of them").
``"number"``
    a real number (``int`` or ``float``, NumPy scalars included), finite, within
    ``[low, high]`` when those are given.
``"integer"``
    a whole number (an ``int``, or a float with no fractional part) within ``[low, high]``.
"""

import builtins as _builtins
import math as _math

import numpy as np

from .checks import CheckFailure

__all__ = ["check_answer_format", "grade_answer", "describe_format", "normalize_answer"]

_type = _builtins.type
_str = _builtins.str
_float = _builtins.float
_int = _builtins.int
_bool = _builtins.bool
_len = _builtins.len
_print = _builtins.print
_frozenset = _builtins.frozenset
_isfinite = _math.isfinite
_KINDS = ("choice", "choices", "number", "integer")
_NP_NUMBER_TYPES = _frozenset(t for t in np.sctypeDict.values()
                              if _builtins.issubclass(t, (np.integer, np.floating)))
_MAX_ECHO = 40  # longest text of a student's value repeated in a format message


def _check_spec(kind, options, low, high):
    """Errors of the *author* of a check (not of the student) raise ValueError/TypeError."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if kind in ("choice", "choices"):
        if _type(options) is not _str or not options or not options.isalpha() or not options.isupper() \
                or _len(set(options)) != _len(options):
            raise ValueError(f"options must be distinct upper-case letters such as 'ABCD', got {options!r}")
    elif options is not None:
        raise ValueError("options are only for kind='choice' or 'choices'")
    for bound in (low, high):
        if bound is not None and _type(bound) not in (_int, _float):
            raise TypeError("low and high must be numbers or None")
    if low is not None and high is not None and low > high:
        raise ValueError("low must not exceed high")


def describe_format(kind, options=None, low=None, high=None):
    """The format in words, e.g. ``'one letter from A, B, C, D'``."""
    _check_spec(kind, options, low, high)
    if kind == "choice":
        return "one letter from " + ", ".join(options) + ' (a string such as "' + options[0] + '")'
    if kind == "choices":
        return ("a set of letters from " + ", ".join(options) + ' (such as {"' + options[0] + '"}; '
                "set() for none)")
    what = "a number" if kind == "number" else "a whole number"
    if low is not None and high is not None:
        return f"{what} between {low:g} and {high:g}"
    if low is not None:
        return f"{what} of at least {low:g}"
    if high is not None:
        return f"{what} of at most {high:g}"
    return what


def _echo(value):
    """A short, safe rendering of a student's value for a format message (builtin types only)."""
    t = _type(value)
    if t in (_str, _int, _float, _bool) or value is None:
        text = _builtins.repr(value)
        return text if _len(text) <= _MAX_ECHO else text[: _MAX_ECHO - 3] + "..."
    return "a value of type " + _builtins.repr(t.__name__)[:_MAX_ECHO]


def _letter(item, options):
    if _type(item) is not _str:
        return None
    letter = item.strip().upper()
    if _len(letter) != 1 or letter not in options:
        return None
    return letter


def normalize_answer(value, kind, options=None, low=None, high=None):
    """The answer as a plain Python value (``str``, ``frozenset`` of ``str``, or ``float``).

    Raises :class:`CheckFailure` with a message saying what is wrong when the format is not
    the one asked for. Only exact builtin or NumPy types are accepted, so an object with a
    custom ``__eq__`` or ``__hash__`` cannot stand in for an answer.
    """
    _check_spec(kind, options, low, high)
    fmt = describe_format(kind, options, low, high)
    if value is None:
        raise CheckFailure(f"not answered yet: replace None by your answer, {fmt}.")
    t = _type(value)
    if kind == "choice":
        letter = _letter(value, options)
        if letter is None:
            raise CheckFailure(f"the answer must be {fmt}; got {_echo(value)}.")
        return letter
    if kind == "choices":
        if t is _str:
            items = [c for c in value if not c.isspace() and c != ","]
        elif t in (set, _frozenset, _builtins.list, _builtins.tuple):
            items = _builtins.list(value)
        else:
            raise CheckFailure(f"the answer must be {fmt}; got {_echo(value)}.")
        letters = set()
        for item in items:
            letter = _letter(item, options)
            if letter is None:
                raise CheckFailure(f"the answer must be {fmt}; {_echo(item)} is not one of the letters.")
            letters.add(letter)
        return _frozenset(letters)
    # numbers
    if t is _bool or t is np.bool_:
        raise CheckFailure(f"the answer must be {fmt}; got a bool ({value!r}).")
    if t not in (_int, _float) and t not in _NP_NUMBER_TYPES:
        raise CheckFailure(f"the answer must be {fmt}; got {_echo(value)}.")
    number = _float(value)
    if not _isfinite(number):
        raise CheckFailure(f"the answer must be {fmt}; got {number!r}.")
    if kind == "integer" and number != _math.floor(number):
        raise CheckFailure(f"the answer must be {fmt}; got {number!r}.")
    if (low is not None and number < low) or (high is not None and number > high):
        raise CheckFailure(f"the answer must be {fmt}; {number:g} is out of that range.")
    return number


def check_answer_format(name, value, *, kind, options=None, low=None, high=None):
    """Check that a concept-check answer has the right *format* (never whether it is right).

    Prints the same line for every valid answer, right or wrong; raises :class:`CheckFailure`
    saying what to change when the answer is missing (``None``) or not in the format asked for.
    """
    if _type(name) is not _str:
        raise TypeError("name must be a str")
    try:
        normalize_answer(value, kind, options, low, high)
    except CheckFailure as failure:
        raise CheckFailure(f"{name}: {failure}") from None
    _print(f"✓ {name}: answer recorded ({describe_format(kind, options, low, high)}). "
           "It is graded after you submit; the feedback says whether it is right and explains it.")


def _kind_of_key(key):
    t = _type(key)
    if t is _str:
        return "choice"
    if t in (set, _frozenset):
        return "choices"
    if t in (_int, _float):
        return "number"
    raise TypeError("key must be a letter (str), a set of letters, or a number")


def grade_answer(name, value, key, *, explanation, tol=None):
    """Hidden part of a concept check: raise :class:`CheckFailure` unless ``value`` matches ``key``.

    ``key`` is a letter (one-choice question), a set of letters (multiple choice, graded
    all-or-nothing), or a number (then ``tol``, the absolute tolerance the question states, is
    required; use 0 for an exact whole number). ``explanation`` is shown in the feedback of a
    student whose answer was wrong; it is not used here beyond being required. The failure
    message never contains the key.
    """
    if _type(explanation) is not _str or not explanation.strip():
        raise ValueError("every concept check needs an explanation for the feedback")
    kind = _kind_of_key(key)
    if kind == "number":
        if tol is None or _type(tol) not in (_int, _float) or tol < 0:
            raise ValueError("a numeric key needs tol >= 0 (the tolerance the question states)")
        got = normalize_answer(value, "number")
        if _builtins.abs(got - _float(key)) > tol:
            raise CheckFailure(f"{name} is not right.")
        return
    if tol is not None:
        raise ValueError("tol is only for numeric keys")
    options = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    got = normalize_answer(value, kind, options)
    want = _letter(key, options) if kind == "choice" else _frozenset(_letter(k, options) for k in key)
    if got != want:
        raise CheckFailure(f"{name} is not right.")
