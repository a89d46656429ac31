"""Progress bars that look right in notebooks and stay quiet in tests.

Use progress bars only in *ungraded* cells: a plain-text tqdm bar writes to
standard error, and nbgrader gives a test cell zero points as soon as it
writes to standard error. In a notebook ``tqdm.auto`` shows a widget
instead, but graded cells should still not depend on it.

Setting the environment variable ``COURSE_UTILS_NO_PROGRESS`` (to anything
but ``""``, ``"0"``, ``"false"`` or ``"no"``) disables every bar created with
``disable=None``; the grading tests set it (the notebook tests run with
bars on, as users do). Bars are also off while nbgrader executes the
notebook (see :func:`autograding`).
"""

import os

__all__ = ["progress", "progress_disabled", "autograding"]

_ENV_VAR = "COURSE_UTILS_NO_PROGRESS"
_GRADER_VAR = "NBGRADER_EXECUTION"


def autograding():
    """True while nbgrader executes the notebook (``autograde`` or ``validate``).

    nbgrader sets the environment variable ``NBGRADER_EXECUTION`` to
    ``"autograde"`` or ``"validate"`` for the kernel it starts. Notebooks use
    this to shorten *ungraded* demonstrations (long training runs, animations)
    so that grading a class stays fast; graded cells must never depend on it.

    Returns
    -------
    bool
    """
    return os.environ.get(_GRADER_VAR, "").strip().lower() in ("autograde", "validate")


def progress_disabled():
    """True if ``COURSE_UTILS_NO_PROGRESS`` asks for no progress bars, or nbgrader is grading.

    Returns
    -------
    bool
    """
    value = os.environ.get(_ENV_VAR, "")
    return value.strip().lower() not in ("", "0", "false", "no") or autograding()


def progress(iterable=None, total=None, desc=None, disable=None, **kwargs):
    """A tqdm progress bar: a widget in notebooks, text in a terminal.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over; leave out to drive the bar with ``.update(n)``.
    total : int, optional
        Number of expected iterations (default ``len(iterable)`` if known).
    desc : str, optional
        Label shown before the bar.
    disable : bool or None, optional
        ``True`` hides the bar; ``None`` (default) hides it when the
        environment variable ``COURSE_UTILS_NO_PROGRESS`` is set.
    **kwargs
        Passed on to ``tqdm.auto.tqdm`` (e.g. ``leave=False``, ``unit="batch"``).

    Returns
    -------
    tqdm.auto.tqdm
        Iterate over it like over ``iterable``; call ``close()`` when driving
        it by hand.
    """
    from tqdm.auto import tqdm

    if disable is None:
        disable = progress_disabled()
    return tqdm(iterable, total=total, desc=desc, disable=bool(disable), **kwargs)
