"""Instructor and student commands for the workbook course: a thin layer over nbgrader.

Run from anywhere with the project's Python (``.venv/bin/python`` after ``make env``)::

    python grading/course.py list                         # assignments and their points
    python grading/course.py release [ASSIGNMENT ...]     # student versions -> grading/release/
    python grading/course.py student [--dest workspace]   # release + copy to a workspace, never overwriting work
    python grading/course.py submit STUDENT FILE.ipynb [--assignment A]   # place a file as a submission
    python grading/course.py autograde ASSIGNMENT [--student S]
    python grading/course.py scores ASSIGNMENT [--student S] [--json]     # per-cell scores from the gradebook
    python grading/course.py feedback ASSIGNMENT [--student S]           # HTML, hidden tests removed
    python grading/course.py export [--to grading/grades.csv]

Every command runs nbgrader from the ``grading/`` folder so that
``grading/nbgrader_config.py`` applies, with this Python's ``bin`` directory
first on ``PATH`` (nbgrader shells out to ``alembic``).  ``--force`` is always
passed where nbgrader would otherwise skip silently, so re-running a step
redoes it.  ``nbgrader`` itself exits 0 even when tests fail; use ``scores``
to read the results.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

GRADING = Path(__file__).resolve().parent
REPO = GRADING.parent


def course_root() -> Path:
    """The folder holding ``notebooks/`` and ``grading/`` (``WORKBOOK_COURSE_ROOT`` overrides it)."""
    return Path(os.environ.get("WORKBOOK_COURSE_ROOT", REPO)).resolve()


def assignments() -> list[str]:
    """Assignment ids: the folders of ``notebooks/`` that hold a notebook, sorted."""
    source = course_root() / "notebooks"
    return sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def _check_assignment(name: str) -> str:
    known = assignments()
    if name not in known:
        raise SystemExit(f"unknown assignment {name!r}; choose from: {', '.join(known) or '(none)'}")
    return name


def nbgrader(*args: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` with the course configuration; raise on a non-zero exit."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("COURSE_UTILS_NO_PROGRESS", "1")
    env.setdefault("MPLBACKEND", "Agg")
    (course_root() / "grading").mkdir(parents=True, exist_ok=True)  # where the gradebook lives
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.run(cmd, cwd=GRADING, env=env, text=True,
                          capture_output=quiet)
    if check and proc.returncode != 0:
        detail = (proc.stderr or "")[-4000:] if quiet else ""
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {proc.returncode})\n{detail}")
    return proc


def release(names: list[str], quiet: bool = False) -> list[Path]:
    """Generate the student version of each assignment into ``grading/release/``."""
    out = []
    for name in names or assignments():
        _check_assignment(name)
        nbgrader("generate_assignment", name, "--force", "--create", quiet=quiet)
        out.append(course_root() / "grading" / "release" / name)
    return out


def student(dest: Path, quiet: bool = False) -> Path:
    """Release every assignment and copy each into ``dest`` unless already there.

    A student's workspace is never overwritten: notebooks that exist are left
    alone, so ``make lab`` can be run again without losing work.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for folder in release([], quiet=quiet):
        target = dest / folder.name
        for path in folder.rglob("*"):
            if path.is_dir():
                continue
            copy = target / path.relative_to(folder)
            if copy.exists():
                continue
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
    return dest


def submit(student_id: str, notebook: Path, assignment: str | None = None) -> Path:
    """Place a notebook as ``student_id``'s submission (the layout nbgrader collects into)."""
    notebook = Path(notebook)
    if not notebook.is_file():
        raise SystemExit(f"no such notebook: {notebook}")
    if assignment is None:
        matches = [a for a in assignments()
                   if (course_root() / "notebooks" / a / notebook.name).exists()]
        if len(matches) != 1:
            raise SystemExit(f"cannot tell which assignment {notebook.name} belongs to; pass --assignment")
        assignment = matches[0]
    _check_assignment(assignment)
    names = sorted(p.name for p in (course_root() / "notebooks" / assignment).glob("*.ipynb"))
    name = notebook.name
    if name not in names:
        if len(names) != 1:
            raise SystemExit(f"{name} is not a notebook of {assignment} ({', '.join(names)})")
        name = names[0]  # an LMS download renamed the file; grade it under its real name
    target = course_root() / "grading" / "submitted" / student_id / assignment
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(notebook, target / name)
    return target / name


def autograde(assignment: str, student_id: str | None = None, quiet: bool = False) -> bool:
    """Autograde every (or one student's) submission; False if any submission could not be graded.

    nbgrader grades each submission in its own kernel.  A submission whose
    kernel dies is abandoned (0 points, cells marked for manual grading) and the
    others are still graded; nbgrader then exits non-zero, reported here as False.
    """
    _check_assignment(assignment)
    args = ["autograde", assignment, "--force", "--create"]
    if student_id:
        args += ["--student", student_id]
    return nbgrader(*args, quiet=quiet, check=False).returncode == 0


def feedback(assignment: str, student_id: str | None = None, quiet: bool = False) -> None:
    _check_assignment(assignment)
    args = ["generate_feedback", assignment, "--force"]
    if student_id:
        args += ["--student", student_id]
    nbgrader(*args, quiet=quiet)


def export(to: Path, quiet: bool = False) -> Path:
    nbgrader("export", "--to", str(Path(to).resolve()), quiet=quiet)
    return Path(to)


def _db_url() -> str:
    return os.environ.get(
        "WORKBOOK_DB_URL", "sqlite:///" + str(course_root() / "grading" / "gradebook.db"))


def scores(assignment: str, student_id: str | None = None) -> dict:
    """Per-student, per-cell scores from the gradebook.

    Returns ``{student: {notebook: {cell: {"score", "max_score", "auto_score", "needs_manual_grade", "cell_type"}}}}``.
    """
    from nbgrader.api import Gradebook, MissingEntry

    result: dict = {}
    with Gradebook(_db_url(), "dl-workbook") as gb:
        try:
            assignment_row = gb.find_assignment(assignment)
        except MissingEntry:
            raise SystemExit(f"assignment {assignment!r} is not in the gradebook; release it first")
        notebooks = [nb.name for nb in assignment_row.notebooks]
        students = [student_id] if student_id else [s.id for s in gb.students]
        for sid in students:
            for nb_name in notebooks:
                try:
                    sub = gb.find_submission_notebook(nb_name, assignment, sid)
                except MissingEntry:
                    continue
                cells = {}
                for grade in sub.grades:
                    d = grade.to_dict()
                    cells[d["name"]] = {k: d[k] for k in
                                        ("max_score", "auto_score", "needs_manual_grade", "cell_type")}
                    cells[d["name"]]["score"] = float(grade.score or 0.0)
                result.setdefault(sid, {})[nb_name] = cells
    return result


def _print_scores(table: dict) -> None:
    for sid, nbs in sorted(table.items()):
        for nb_name, cells in nbs.items():
            auto = {k: v for k, v in cells.items() if v["cell_type"] == "code"}
            got = sum(v["score"] for v in auto.values())
            total = sum(v["max_score"] for v in auto.values())
            print(f"{sid} / {nb_name}: autograded {got:g} / {total:g}")
            for name, v in cells.items():
                flag = " (needs manual grading)" if v["needs_manual_grade"] else ""
                print(f"    {name:<40} {v['score']:>5g} / {v['max_score']:g}{flag}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list assignments")
    p = sub.add_parser("release", help="generate student versions")
    p.add_argument("assignment", nargs="*")
    p = sub.add_parser("student", help="release and copy into a workspace without overwriting")
    p.add_argument("--dest", default=str(REPO / "workspace"))
    p = sub.add_parser("submit", help="place a notebook as a student's submission")
    p.add_argument("student")
    p.add_argument("notebook")
    p.add_argument("--assignment")
    p = sub.add_parser("autograde", help="autograde submissions")
    p.add_argument("assignment")
    p.add_argument("--student")
    p = sub.add_parser("scores", help="print per-cell scores from the gradebook")
    p.add_argument("assignment")
    p.add_argument("--student")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("feedback", help="generate feedback HTML (hidden tests removed)")
    p.add_argument("assignment")
    p.add_argument("--student")
    p = sub.add_parser("export", help="export grades to CSV")
    p.add_argument("--to", default=str(GRADING / "grades.csv"))
    args = parser.parse_args(argv)

    if args.command == "list":
        import nbformat
        for name in assignments():
            for path in sorted((course_root() / "notebooks" / name).glob("*.ipynb")):
                nb = nbformat.read(path, as_version=4)
                meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
                auto = sum(m.get("points", 0) for m in meta if m.get("grade") and not m.get("solution"))
                manual = sum(m.get("points", 0) for m in meta if m.get("grade") and m.get("solution"))
                print(f"{name:<20} {path.name:<24} autograded {auto:g} pts, written {manual:g} pts")
    elif args.command == "release":
        for path in release(args.assignment):
            print(f"released {path}")
    elif args.command == "student":
        print(f"student workspace ready: {student(Path(args.dest))}")
    elif args.command == "submit":
        print(f"submitted {submit(args.student, Path(args.notebook), args.assignment)}")
    elif args.command == "autograde":
        if not autograde(args.assignment, args.student):
            print("Some submissions could not be graded (see the errors above); they score 0 and "
                  "are marked for manual grading. All other submissions were graded.", file=sys.stderr)
            return 1
    elif args.command == "scores":
        table = scores(args.assignment, args.student)
        print(json.dumps(table, indent=2) if args.json else "", end="")
        if not args.json:
            _print_scores(table)
    elif args.command == "feedback":
        feedback(args.assignment, args.student)
        print(f"feedback in {course_root() / 'grading' / 'feedback'}")
    elif args.command == "export":
        print(f"grades written to {export(Path(args.to))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
