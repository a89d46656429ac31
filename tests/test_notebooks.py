"""Every source notebook executes top to bottom, headless and offline, without errors.

The source notebooks carry the reference solutions and the hidden tests, so a
clean run also proves that every check passes on the reference and that graded
test cells stay silent on stderr (nbgrader scores a cell 0 if it writes there).
"""
from __future__ import annotations

import os
import time

import nbclient
import pytest

from grading_support import REPO, assignments, nbgrader_meta, source_notebook

pytestmark = pytest.mark.notebooks

ASSIGNMENTS = assignments()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_executes_cleanly(assignment, monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_NO_PROGRESS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    path, nb = source_notebook(assignment)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, \
                f"{path.name} must be committed with outputs cleared"
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    elapsed = time.perf_counter() - start
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        noisy = [o.get("text", "") for o in cell.outputs
                 if o.get("output_type") == "stream" and o.get("name") == "stderr"]
        assert not noisy, f"graded cell {meta['grade_id']} writes to stderr: {noisy}"
    print(f"{assignment}: executed in {elapsed:.1f} s")
