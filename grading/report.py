"""Runtime and quality report: how long each notebook and its autograding take on this machine.

    python grading/report.py [ASSIGNMENT ...] [--json report.json]

For each assignment (all by default) it

1. executes the source notebook headless and times it (the self-study path),
   collecting every line the notebook prints that mentions an accuracy;
2. in a temporary course, releases the assignment, submits the reference
   solution as a student, and times ``autograde`` for that one submission
   (nbgrader start-up included), then reads the score from the gradebook.

Timings belong here, not in the tests: the tests assert behaviour only.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat

GRADING = Path(__file__).resolve().parent
REPO = GRADING.parent
sys.path.insert(0, str(GRADING))

import course  # noqa: E402  (grading/course.py)


def execute_notebook(path: Path) -> tuple[float, list[str]]:
    import nbclient

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    lines = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                lines += [ln.strip() for ln in out["text"].splitlines()
                          if (re.search(r"accuracy", ln, re.I) or ln.strip().startswith("Result:"))
                          and not ln.strip().startswith("✓")]
    return elapsed, lines


def autograde_reference(assignment: str) -> dict:
    """Release, submit the source notebook as student 'reference', autograde it, read the score."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = REPO / "notebooks" / assignment
        (root / "notebooks").mkdir()
        os.symlink(src, root / "notebooks" / assignment)
        old = os.environ.get("WORKBOOK_COURSE_ROOT")
        os.environ["WORKBOOK_COURSE_ROOT"] = str(root)
        try:
            course.release([assignment], quiet=True)
            for nb_path in sorted(src.glob("*.ipynb")):
                course.submit("reference", nb_path, assignment)
            start = time.perf_counter()
            ok = course.autograde(assignment, "reference", quiet=True)
            elapsed = time.perf_counter() - start
            table = course.scores(assignment, "reference")["reference"]
        finally:
            if old is None:
                os.environ.pop("WORKBOOK_COURSE_ROOT", None)
            else:
                os.environ["WORKBOOK_COURSE_ROOT"] = old
    got = sum(v["score"] for cells in table.values() for v in cells.values() if v["cell_type"] == "code")
    total = sum(v["max_score"] for cells in table.values() for v in cells.values() if v["cell_type"] == "code")
    return {"autograde_seconds": round(elapsed, 1), "graded_ok": ok, "reference_score": got,
            "autograded_points": total}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Time every notebook and its autograding.")
    parser.add_argument("assignment", nargs="*")
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("COURSE_UTILS_NO_PROGRESS", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    report = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "assignments": {}}
    for name in args.assignment or course.assignments():
        entry = {}
        for path in sorted((REPO / "notebooks" / name).glob("*.ipynb")):
            seconds, lines = execute_notebook(path)
            entry[path.name] = {"execute_seconds": round(seconds, 1), "accuracy_lines": lines}
        entry.update(autograde_reference(name))
        report["assignments"][name] = entry
        print(f"{name}:")
        for key, value in entry.items():
            print(f"  {key}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
