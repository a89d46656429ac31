"""Every source notebook executes top to bottom, headless and offline, without errors.

Each notebook is run exactly as an instructor or a self-study reader runs it headless:
``jupyter nbconvert --to notebook --execute`` in a subprocess, with none of the test
suite's variables (progress bars on, matplotlib's notebook backend, no grading flags)
and no cell timeout, so that a kernel that stops answering would hang a user's run.
A wall-clock limit turns such a hang into a failure.

The source notebooks carry the reference solutions and the hidden tests, so a
clean run also proves that every check passes on the reference and that graded
test cells stay silent on stderr (nbgrader scores a cell 0 if it writes there).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from grading_support import assignments, nbgrader_meta, source_notebook

pytestmark = pytest.mark.notebooks

ASSIGNMENTS = assignments()
# A notebook takes about a minute on two cores; a run ten times as long has hung.
WALL_LIMIT_S = 600
# Variables the test suite (or an instructor's shell) may set that a user's headless run has not.
NOT_A_USERS = ("COURSE_UTILS_NO_PROGRESS", "MPLBACKEND", "NBGRADER_EXECUTION", "WORKBOOK_COURSE_ROOT",
               "WORKBOOK_CELL_TIMEOUT", "WORKBOOK_GUARD", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER")


def users_environment() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in NOT_A_USERS}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def run_headless(path: Path, out: Path) -> tuple[subprocess.CompletedProcess | None, float]:
    """``jupyter nbconvert --to notebook --execute path``; (None, elapsed) if it outlives the limit."""
    cmd = [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
           "--output", str(out), str(path)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=users_environment(), cwd=out.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=WALL_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # nbconvert and its kernel
        proc.communicate()
        return None, time.perf_counter() - start
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), time.perf_counter() - start


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_executes_headless_as_a_user_runs_it(assignment, tmp_path):
    path, nb = source_notebook(assignment)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, \
                f"{path.name} must be committed with outputs cleared"
    out = tmp_path / path.name
    proc, elapsed = run_headless(path, out)
    if proc is None:
        raise AssertionError(f"jupyter nbconvert --execute {path.name} did not finish in {WALL_LIMIT_S} s "
                             "(a headless run that hangs)")
    assert proc.returncode == 0, f"{path.name} failed headless:\n{proc.stderr[-6000:]}"
    executed = nbformat.read(out, as_version=4)
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        assert not errors, f"{path.name}: cell {cell.get('id')} raised {errors[0].get('ename')}"
        meta = nbgrader_meta(cell)
        if not meta.get("grade"):
            continue
        noisy = [o.get("text", "") for o in cell.outputs
                 if o.get("output_type") == "stream" and o.get("name") == "stderr"]
        assert not noisy, f"graded cell {meta['grade_id']} writes to stderr: {noisy}"
    print(f"{assignment}: executed headless in {elapsed:.1f} s")



@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_explorers_do_not_make_headless_runs_hang(assignment):
    """``ipywidgets.interact`` makes a headless client answer on the kernel's shell channel while it
    waits there for the cell's reply: 01_backprop's and 07_svm's nbconvert runs hung at their
    ``interact`` cells (2 of 8 and 1 of 2 runs). ``course_utils.explore`` does the same job without it."""
    import re

    path, nb = source_notebook(assignment)
    offenders = [c.get("id") for c in nb.cells if c.cell_type == "code"
                 and re.search(r"\binteract(_manual)?\(|\binteractive\(", c.source)]
    assert not offenders, f"{path.name}: cells {offenders} use ipywidgets' interact; use course_utils.explore"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_course_cell_is_locked(assignment):
    """nbgrader restores only locked cells from the gradebook at grading (``OverwriteCells``); any
    other cell runs as the student left it.  A student who rewrote the unlocked import cell to bind
    ``unittest.mock.Mock`` to the check helpers' names passed every check with blank answers."""
    path, nb = source_notebook(assignment)
    unlocked, cells_of = [], {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if grade_id:
            cells_of.setdefault(grade_id, []).append(cell.get("id"))
        if meta.get("solution") and grade_id:
            continue  # an answer cell: the student's to write
        if not (meta.get("locked") and grade_id):
            unlocked.append(cell.get("id"))
    assert not unlocked, (
        f"{path.name}: cells {unlocked} are neither answer cells nor locked with a grade_id; an unlocked "
        "course cell can be rewritten by a student and runs as rewritten (nbgrader restores only locked "
        "cells). Give each nbgrader metadata {\"grade\": false, \"grade_id\": ..., \"locked\": true, "
        "\"schema_version\": 3, \"solution\": false, \"task\": false}.")
    duplicates = {g: ids for g, ids in cells_of.items() if len(ids) > 1}
    assert not duplicates, (f"{path.name}: grade_ids shared by several cells {duplicates}; nbgrader restores "
                            "(and RestoreMissingCells puts back) cells by grade_id, so each must be unique")
