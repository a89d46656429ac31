"""Grading at class scale: how long autograding a whole class takes, serially and in parallel.

    python grading/benchmark.py [ASSIGNMENT ...] [--students 100] [--modes serial,jobs2]
                                [--json grading/reports/benchmark.json]

For each assignment (all by default) it synthesises a class of ``--students`` submissions from
the test fixtures (``tests/fixtures/<assignment>.py``: the reference solution, the untouched
release and every plausible wrong answer, dealt out in turn), then, for each mode, builds a
fresh course, submits the class and times ``course.py autograde`` (``serial``: one nbgrader
process; ``jobsN``: ``--jobs N`` workers).  Reported per assignment and mode:

* wall time, and per submission (wall / students);
* peak memory: the largest total resident memory of the grading process tree, sampled every
  0.2 s (nbgrader, its kernels and the workers);
* a check that every student was recorded and every reference copy scored full marks;
* the projected wall time for 300 students: the measured cost per submission times 300 (the
  start-up of nbgrader and of each worker is spread over the class, so this errs on the high side).

Results are written to the JSON file after every measurement, so a long run can be stopped and
still report what it finished.  Timings belong here, not in the tests.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

GRADING = Path(__file__).resolve().parent
REPO = GRADING.parent
sys.path.insert(0, str(REPO / "tests"))

from grading_support import (Submission, autograded_cells, build_submission, course,  # noqa: E402
                             course_env, new_course_root, source_notebook)


def fixtures(assignment: str) -> list[Submission]:
    import importlib.util

    path = REPO / "tests" / "fixtures" / f"{assignment}.py"
    spec = importlib.util.spec_from_file_location(f"fixtures_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.SUBMISSIONS)


def synthesise_class(assignment: str, n: int) -> list[tuple[str, Submission]]:
    """``n`` (student id, submission) pairs: reference, blank and each fixture, dealt out in turn."""
    pool = [Submission("reference")] + [s for s in fixtures(assignment) if s.name != "reference"]
    if not any(s.blank for s in pool):
        pool.insert(1, Submission("blank", blank=True))
    return [(f"s{i + 1:03d}", pool[i % len(pool)]) for i in range(n)]


class PeakMemory:
    """Samples the total resident memory of a process and all its descendants."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _children() -> dict[int, list[int]]:
        kids: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(entry))
        return kids

    def _tree_rss(self) -> int:
        kids, total, todo = self._children(), 0, [self.pid]
        page = os.sysconf("SC_PAGE_SIZE")
        while todo:
            pid = todo.pop()
            todo += kids.get(pid, [])
            try:
                with open(f"/proc/{pid}/statm") as f:
                    total += int(f.read().split()[1]) * page
            except (OSError, IndexError, ValueError):
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def measure(assignment: str, students: list[tuple[str, Submission]], jobs: int, tmp: Path) -> dict:
    _, source_nb = source_notebook(assignment)
    root = new_course_root(tmp / "course", assignment)
    course(root, "release", assignment)
    release_path = next((root / "grading" / "release" / assignment).glob("*.ipynb"))
    release_nb = nbformat.read(release_path, as_version=4)
    built: dict[str, Path] = {}
    for sid, sub in students:
        if sub.name not in built:
            path = tmp / "build" / sub.name / release_path.name
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(build_submission(release_nb, source_nb, sub), path)
            built[sub.name] = path
        course(root, "submit", sid, str(built[sub.name]), "--assignment", assignment)

    cmd = [sys.executable, str(GRADING / "course.py"), "autograde", assignment, "--jobs", str(jobs)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=course_env(root, 120), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    with PeakMemory(proc.pid) as mem:
        log, _ = proc.communicate()
    wall = time.perf_counter() - start

    scores = json.loads(course(root, "scores", assignment, "--json").stdout)
    auto = autograded_cells(source_nb)
    full = sum(auto.values())
    kinds = dict(students)
    recorded = {sid: sum(c["score"] for name, c in next(iter(nbs.values())).items() if name in auto)
                for sid, nbs in scores.items()}
    references = [sid for sid, sub in students if sub.name == "reference"]
    return {
        "students": len(students),
        "jobs": jobs,
        "wall_s": round(wall, 1),
        "per_submission_s": round(wall / len(students), 2),
        "peak_memory_mb": round(mem.peak / 2**20),
        "exit_code": proc.returncode,
        "recorded": len(recorded),
        "references_full_marks": all(recorded.get(sid) == full for sid in references),
        "distinct_submissions": len({kinds[sid].name for sid in kinds}),
        "log_tail": log[-1500:] if proc.returncode else "",
    }


def project(rows: dict, n_target: int = 300) -> dict:
    """Linear projection from the measured cost per submission."""
    out = {}
    for mode, row in rows.items():
        out[mode] = round(row["wall_s"] / row["students"] * n_target)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--modes", default="serial,jobs2",
                        help="comma-separated: serial, jobs2, jobs4, ... (default: serial,jobs2)")
    parser.add_argument("--json", type=Path, default=GRADING / "reports" / "benchmark.json")
    args = parser.parse_args(argv)
    if args.students < 1:
        parser.error("--students must be at least 1")
    modes = {}
    for mode in args.modes.split(","):
        mode = mode.strip()
        if mode == "serial":
            modes[mode] = 1
        elif mode.startswith("jobs") and mode[4:].isdigit() and int(mode[4:]) >= 1:
            modes[mode] = int(mode[4:])
        else:
            parser.error(f"unknown mode {mode!r}; use serial or jobsN")
    names = args.assignments or sorted(p.name for p in (REPO / "notebooks").iterdir() if p.is_dir())

    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    results.setdefault("machine", {"cpus": os.cpu_count(), "python": sys.version.split()[0]})
    args.json.parent.mkdir(parents=True, exist_ok=True)
    for assignment in names:
        students = synthesise_class(assignment, args.students)
        for mode, jobs in modes.items():
            print(f"{assignment}: {len(students)} students, {mode} ...", flush=True)
            with tempfile.TemporaryDirectory(prefix="workbook-bench-") as tmp:
                row = measure(assignment, students, jobs, Path(tmp))
            row["load_average_after"] = round(os.getloadavg()[0], 2)
            results.setdefault(assignment, {})[mode] = row
            print(f"  wall {row['wall_s']} s, {row['per_submission_s']} s/submission, "
                  f"peak {row['peak_memory_mb']} MB, recorded {row['recorded']}, "
                  f"references full marks: {row['references_full_marks']}", flush=True)
            results[assignment]["projected_300_s"] = project(
                {m: r for m, r in results[assignment].items() if isinstance(r, dict) and "wall_s" in r})
            args.json.write_text(json.dumps(results, indent=2))

    print()
    print(f"{'assignment':16} " + " ".join(f"{m + ' wall':>12} {m + ' /sub':>10} {m + ' MB':>9}" for m in modes))
    totals = {m: 0.0 for m in modes}
    for assignment in names:
        rows = results.get(assignment, {})
        cells = []
        for m in modes:
            r = rows.get(m)
            if r:
                totals[m] += r["wall_s"]
                cells.append(f"{r['wall_s']:>12} {r['per_submission_s']:>10} {r['peak_memory_mb']:>9}")
            else:
                cells.append(f"{'-':>12} {'-':>10} {'-':>9}")
        print(f"{assignment:16} " + " ".join(cells))
    print("total wall: " + ", ".join(f"{m} {totals[m]:.0f} s" for m in modes))
    print(f"results in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
