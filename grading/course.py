"""Instructor and student commands for the workbook course: a thin layer over nbgrader.

Run from anywhere with the project's Python (``.venv/bin/python`` after ``make env``)::

    python grading/course.py list                         # assignments and their points
    python grading/course.py release [ASSIGNMENT ...] [--exchange]   # student versions -> grading/release/
                                                          # (--exchange: also into nbgrader's exchange)
    python grading/course.py student [--dest workspace]   # release + copy to a workspace, never overwriting work
    python grading/course.py submit STUDENT FILE.ipynb [--assignment A]   # place a file as a submission
    python grading/course.py collect ASSIGNMENT FOLDER [--student-regexp R]  # an LMS download of notebooks/zips
    python grading/course.py collect ASSIGNMENT --exchange                 # what students submitted to the exchange
    python grading/course.py autograde ASSIGNMENT [--student S] [--jobs N] [--scheduler tcp://host:8786]
    python grading/course.py audit ASSIGNMENT [--student S]              # integrity findings (also after autograde)
    python grading/course.py scores ASSIGNMENT [--student S] [--json]     # per-cell scores from the gradebook
    python grading/course.py feedback ASSIGNMENT [--student S]           # HTML, hidden tests removed
    python grading/course.py export [--to grading/grades.csv]
    python grading/course.py summary ASSIGNMENT [--out DIR]            # per-question statistics, CSV + plot

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
import tempfile
import time
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


def nbgrader(*args: str, check: bool = True, quiet: bool = False,
             root: Path | None = None, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` with the course configuration; raise on a non-zero exit.

    ``root`` runs it on another course folder (a grading worker's own copy, with its own SQLite
    gradebook) instead of ``course_root()``; ``env_extra`` adds environment variables.
    """
    env = {**os.environ, **(env_extra or {})}
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("COURSE_UTILS_NO_PROGRESS", "1")
    env.setdefault("MPLBACKEND", "Agg")
    if root is not None:
        env["WORKBOOK_COURSE_ROOT"] = str(root)
        env.pop("WORKBOOK_DB_URL", None)
    ((root or course_root()) / "grading").mkdir(parents=True, exist_ok=True)  # where the gradebook lives
    cmd = [sys.executable, "-m", "nbgrader", *args]
    # the grading kernels make their private folders in here; removed with everything in it
    with tempfile.TemporaryDirectory(prefix="workbook-kernels-") as kernel_tmp:
        env["WORKBOOK_KERNEL_TMP"] = kernel_tmp
        proc = subprocess.run(cmd, cwd=GRADING, env=env, text=True,
                              capture_output=quiet)
    if check and proc.returncode != 0:
        detail = (proc.stderr or "")[-4000:] if quiet else ""
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {proc.returncode})\n{detail}")
    return proc


def exchange_root() -> Path:
    """nbgrader's exchange folder (``WORKBOOK_EXCHANGE``, default ``/usr/local/share/nbgrader/exchange``)."""
    return Path(os.environ.get("WORKBOOK_EXCHANGE", "/usr/local/share/nbgrader/exchange"))


def _check_exchange() -> Path:
    root = exchange_root()
    if not root.is_dir():
        raise SystemExit(
            f"nbgrader's exchange folder {root} does not exist. Create it once, writable by every user "
            f"of the server (sudo mkdir -p {root} && sudo chmod 777 {root}), or point WORKBOOK_EXCHANGE "
            "at another shared folder.")
    return root


def release(names: list[str], quiet: bool = False, exchange: bool = False) -> list[Path]:
    """Generate the student version of each assignment into ``grading/release/``.

    With ``exchange``, also publish it in nbgrader's exchange (``nbgrader release_assignment``),
    where students fetch it with ``nbgrader fetch_assignment ASSIGNMENT --course dl-workbook``.
    """
    if exchange:
        _check_exchange()
    out = []
    for name in names or assignments():
        _check_assignment(name)
        nbgrader("generate_assignment", name, "--force", "--create", quiet=quiet)
        if exchange:
            nbgrader("release_assignment", name, "--force", quiet=quiet)
        out.append(course_root() / "grading" / "release" / name)
    return out


def collect_exchange(assignment: str, quiet: bool = False) -> dict:
    """Collect what students submitted to nbgrader's exchange (``nbgrader collect --update``).

    Each student's latest submission is filed as ``grading/submitted/<student>/<assignment>/``
    (an older copy is replaced only by a newer one).  Returns ``{student: submitted folder}``
    for every student with a submission of ``assignment`` in the exchange.
    """
    _check_assignment(assignment)
    root = _check_exchange()
    nbgrader("collect", assignment, "--update", quiet=quiet)
    inbound = root / "dl-workbook" / "inbound"
    students = sorted({p.name.split("+")[0] for p in inbound.glob(f"*+{assignment}+*") if p.is_dir()})
    return {sid: course_root() / "grading" / "submitted" / sid / assignment for sid in students}


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


def collect(assignment: str, folder: Path, student_regexp: str | None = None, quiet: bool = False) -> dict:
    """Collect an LMS "download all submissions" folder (notebooks and/or zips) with nbgrader's zip_collect.

    The folder's files are copied to ``grading/downloaded/<assignment>/archive``; zips are
    extracted; each student's notebook is filed as ``grading/submitted/<student>/<assignment>/``
    under the assignment's notebook name (see ``grading/workbook_collect.py`` for how the student
    id is read from a file name).  Re-collecting replaces earlier copies of the same files.

    Returns ``{student: path of the submitted notebook}`` for the students found in ``folder``.
    """
    _check_assignment(assignment)
    folder = Path(folder)
    if not folder.is_dir():
        raise SystemExit(f"no such folder: {folder}")
    if not any(p.is_file() for p in folder.rglob("*")):
        raise SystemExit(f"{folder} holds no files to collect")
    names = sorted(p.stem for p in (course_root() / "notebooks" / assignment).glob("*.ipynb"))
    download = course_root() / "grading" / "downloaded" / assignment
    shutil.rmtree(download, ignore_errors=True)
    shutil.copytree(folder, download / "archive")
    args = ["zip_collect", assignment, "--force"]
    if len(names) == 1:
        args.append(f"--LmsCollector.notebook={names[0]}")
    if student_regexp:
        if "(?P<student_id>" not in student_regexp:
            raise SystemExit("--student-regexp needs a group (?P<student_id>...)")
        args.append(f"--LmsCollector.student_regexp={student_regexp}")
    nbgrader(*args, quiet=quiet)
    # Report what was collected: the same plugin, asked about every extracted file.
    sys.path.insert(0, str(GRADING))
    from workbook_collect import LmsCollector

    options = {"notebook": names[0]} if len(names) == 1 else {}
    if student_regexp:
        options["student_regexp"] = student_regexp
    collector = LmsCollector(**options)
    found = {}
    for path in sorted((download / "extracted").rglob("*")):
        info = collector.collect(str(path)) if path.is_file() else None
        if info:
            target = course_root() / "grading" / "submitted" / info["student_id"] / assignment / info["file_id"]
            if target.is_file():
                found[info["student_id"]] = target
    return found


def autograde(assignment: str, student_id: str | None = None, quiet: bool = False, jobs: int = 1,
              scheduler: str | None = None) -> bool:
    """Autograde every (or one student's) submission; False if any submission could not be graded.

    nbgrader grades each submission in its own kernel.  A submission whose
    kernel dies is abandoned (0 points, cells marked for manual grading) and the
    others are still graded; nbgrader then exits non-zero, reported here as False.

    With ``jobs > 1`` the submissions are executed by that many isolated workers at once
    (see :func:`autograde_parallel`); the gradebook ends up exactly as after a serial run.
    With a Dask ``scheduler`` address the workers are tasks on that cluster instead.
    """
    _check_assignment(assignment)
    if jobs < 1:
        raise SystemExit("--jobs must be at least 1")
    if scheduler and not student_id:
        if jobs == 1:
            jobs = _cluster_threads(scheduler)
        return autograde_parallel(assignment, jobs, quiet=quiet, scheduler=scheduler)
    if jobs > 1 and not student_id:
        return autograde_parallel(assignment, jobs, quiet=quiet)
    args = ["autograde", assignment, "--force", "--create"]
    if student_id:
        return nbgrader(*args, "--student", student_id, quiet=quiet, check=False).returncode == 0
    started = time.time()
    ok = nbgrader(*args, quiet=quiet, check=False).returncode == 0
    # nbgrader stops at an error it does not expect from a submission (and then never records
    # the students after it): each student it did not grade gets a run of their own
    for sid in not_graded(assignment, started):
        if not quiet:
            print(f"grading {sid} on its own (not graded in the run above)", file=sys.stderr)
        nbgrader(*args, "--student", sid, quiet=quiet, check=False)
    return ok and not not_graded(assignment, started)


def not_graded(assignment: str, since: float, students: list[str] | None = None) -> list[str]:
    """Submitted students with no executed notebook written by a grading run since ``since``.

    nbgrader removes a submission's ``autograded`` folder when it cannot grade it (its kernel
    died, a notebook could not be read), so a missing or older notebook means: not graded.
    """
    names = [p.name for p in (course_root() / "notebooks" / assignment).glob("*.ipynb")]
    out = []
    for sid in students if students is not None else submitted_students(assignment):
        folder = course_root() / "grading" / "autograded" / sid / assignment
        paths = [folder / name for name in names]
        if not all(p.is_file() and not p.is_symlink() and p.stat().st_mtime >= since - 1 for p in paths):
            out.append(sid)
    return out


def _cluster_threads(scheduler: str) -> int:
    """How many tasks a Dask cluster runs at once (its workers' threads in total)."""
    try:
        from distributed import Client
    except ImportError:
        raise SystemExit("--scheduler needs Dask's distributed package (pip install distributed)")
    with Client(scheduler, timeout="30s") as client:
        workers = client.scheduler_info().get("workers", {}).values()
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers))


def submitted_students(assignment: str) -> list[str]:
    """Students with a submission of ``assignment`` under ``grading/submitted``."""
    folder = course_root() / "grading" / "submitted"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir())


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_env(threads: int) -> dict:
    """Environment that gives a grading kernel ``threads`` math-library threads (unless already set).

    NumPy's BLAS starts a thread per core in every kernel; kernels graded at once then compete
    for the same cores, so each worker's kernels get their share of the cores instead.
    """
    return {name: os.environ.get(name, str(max(1, threads))) for name in _THREAD_VARIABLES}


def grade_in_worker(assignment: str, students: list[str], worker_root: Path,
                    root: Path | None = None, threads: int | None = None) -> tuple[Path, int, str]:
    """Execute and grade some students' submissions in a private course folder.

    The worker folder gets a copy of the assignment's source and of those students'
    submissions only, builds its own SQLite gradebook from the source, and runs nbgrader's
    autograde there, so workers share no files and no database.  ``root`` is the course
    (default :func:`course_root`; a Dask worker is told it explicitly).  Returns
    ``(worker_root, exit code, log)``; the executed notebooks are in
    ``worker_root/grading/autograded``.  ``threads``: math-library threads per kernel (the
    worker's share of the cores; default: the libraries' own choice).
    """
    root = Path(root) if root else course_root()
    worker_root = Path(worker_root)
    shutil.copytree(root / "notebooks" / assignment, worker_root / "notebooks" / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for sid in students:
        shutil.copytree(root / "grading" / "submitted" / sid / assignment,
                        worker_root / "grading" / "submitted" / sid / assignment)
    nbgrader("generate_assignment", assignment, "--force", "--create", quiet=True, root=worker_root)
    proc = nbgrader("autograde", assignment, "--force", "--create", quiet=True, check=False, root=worker_root,
                    env_extra=thread_env(threads) if threads else None)
    return worker_root, proc.returncode, (proc.stdout or "") + (proc.stderr or "")


def _run_workers(assignment: str, groups: list[list[str]], base: Path, scheduler: str | None,
                 quiet: bool) -> list[tuple[Path, int, str]]:
    """Run :func:`grade_in_worker` for each group: local threads, or tasks on a Dask cluster."""
    if not scheduler:
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(len(groups)) as pool:
            futures = [pool.submit(grade_in_worker, assignment, group, base / f"worker{i}", None,
                                   max(1, (os.cpu_count() or 1) // len(groups)))
                       for i, group in enumerate(groups)]
            return [f.result() for f in futures]
    try:
        from distributed import Client
    except ImportError:
        raise SystemExit("--scheduler needs Dask's distributed package (pip install distributed)")
    with Client(scheduler, timeout="30s") as client:
        if not quiet:
            n = len(client.scheduler_info().get("workers", {}))
            print(f"Dask scheduler {scheduler}: {n} worker(s), {len(groups)} task(s)")
        # one kernel per Dask worker thread, and (as the README asks) one worker thread per core
        futures = [client.submit(grade_in_worker, assignment, group, base / f"worker{i}", course_root(), 1,
                                 pure=False, key=f"autograde-{assignment}-{base.name}-{i}")
                   for i, group in enumerate(groups)]
        return client.gather(futures)


def autograde_parallel(assignment: str, jobs: int, quiet: bool = False, scheduler: str | None = None) -> bool:
    """Autograde all submissions of ``assignment`` with ``jobs`` isolated workers, then record them once.

    1. The students are dealt round-robin to ``jobs`` workers; each executes its share in a
       private course folder (:func:`grade_in_worker`), in parallel processes.  With a Dask
       ``scheduler`` address each worker is a task on that cluster (``jobs`` defaults to the
       cluster's thread count); the course folder must then be on a file system every Dask
       worker sees at the same path (the private folders are made under ``grading/workers``).
    2. The executed notebooks are put together and recorded in *this* course's gradebook by one
       ordinary ``nbgrader autograde`` run with execution switched off (``Execute`` and
       ``ClearOutput`` disabled): nbgrader itself restores the locked cells, reads each check's
       outcome from the outputs and writes the scores, exactly as in a serial run.  Each student
       is recorded once; re-running replaces the earlier rows (``--force``).
    3. A submission a worker could not grade (its kernel died) is graded again here, serially,
       so that nbgrader records it as it always does (0 points, needs manual grading).
    """
    import tempfile

    students = submitted_students(assignment)
    if not students:
        print(f"no submissions of {assignment} in {course_root() / 'grading' / 'submitted'}", file=sys.stderr)
        return True
    jobs = min(jobs, len(students))
    groups = [students[i::jobs] for i in range(jobs)]
    nb_names = {p.name for p in (course_root() / "notebooks" / assignment).glob("*.ipynb")}
    where = None
    if scheduler:  # the private folders must be visible to every Dask worker
        where = course_root() / "grading" / "workers"
        where.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="workbook-autograde-", dir=where) as tmp:
        tmp = Path(tmp)
        results = _run_workers(assignment, groups, tmp, scheduler, quiet)
        executed = tmp / "executed"
        done = []
        for worker_root, code, log in results:
            if not quiet and code:
                print(f"worker {worker_root.name} reported problems:\n{log[-2000:]}", file=sys.stderr)
            elif not quiet:
                print(f"worker {worker_root.name}: graded its share")
            for sid in students:
                out = worker_root / "grading" / "autograded" / sid / assignment
                if not out.is_dir() or not {p.name for p in out.glob("*.ipynb")} >= nb_names:
                    continue
                dest = executed / sid / assignment
                try:  # the executed notebooks only, never through a link
                    dest.mkdir(parents=True)
                    for name in sorted(nb_names):
                        if (out / name).is_symlink() or not (out / name).is_file():
                            raise OSError(f"{out / name} is not a regular file")
                        shutil.copyfile(out / name, dest / name, follow_symlinks=False)
                    stamp = course_root() / "grading" / "submitted" / sid / assignment / "timestamp.txt"
                    if stamp.is_file():
                        shutil.copy2(stamp, dest / "timestamp.txt")
                except OSError as exc:
                    print(f"{sid}: the worker's result could not be taken over ({exc}); graded again",
                          file=sys.stderr)
                    shutil.rmtree(dest, ignore_errors=True)
                    continue
                done.append(sid)
        ok = True
        if done:
            record = nbgrader("autograde", assignment, "--force", "--create",
                              f"--CourseDirectory.submitted_directory={executed}",
                              "--Execute.enabled=False", "--ClearOutput.enabled=False",
                              quiet=quiet, check=False)
            ok = record.returncode == 0
    for sid in sorted(set(students) - set(done)):
        ok = autograde(assignment, sid, quiet=quiet) and ok
    return ok


def audit(assignment: str, student_id: str | None = None, out: Path | None = None) -> dict:
    """Audit the submitted code of ``assignment`` without running it (see ``grading/workbook_integrity.py``).

    Writes ``integrity.csv`` (student, notebook, cell, line, rule, detail) into ``out`` (default
    ``grading/reports/<assignment>/``) and returns ``{student: [Finding, ...]}`` for the students
    with findings.  Findings never change a score; they are for the instructor to review.
    """
    import csv

    import nbformat

    sys.path.insert(0, str(GRADING))
    from workbook_integrity import Finding, audit_notebook

    _check_assignment(assignment)
    sources = {p.name: nbformat.read(p, as_version=4)
               for p in (course_root() / "notebooks" / assignment).glob("*.ipynb")}
    flagged: dict[str, list] = {}
    rows = []
    for sid in [student_id] if student_id else submitted_students(assignment):
        folder = course_root() / "grading" / "submitted" / sid / assignment
        for name, source in sources.items():
            path = folder / name
            if not path.is_file():
                continue
            try:
                submitted = nbformat.read(path, as_version=4)
            except Exception as exc:  # not a notebook: nbgrader reports it when grading
                findings = [Finding("(file)", 0, "unreadable-notebook", f"{type(exc).__name__}: {exc}"[:200])]
            else:
                findings = audit_notebook(submitted, source)
            if findings:
                flagged.setdefault(sid, []).extend(findings)
            rows += [(sid, name, f.cell, f.line, f.rule, f.detail) for f in findings]
    out = Path(out) if out else course_root() / "grading" / "reports" / assignment
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "integrity.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "notebook", "cell", "line", "rule", "detail"])
        writer.writerows(rows)
    return flagged


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


def summary(assignment: str, out: Path | None = None) -> dict:
    """Per-student and per-question grades of one assignment, with statistics and a plot.

    Writes into ``out`` (default ``grading/reports/<assignment>/``):

    * ``scores.csv``: one row per student and question (student, question, kind, score, max_score,
      needs_manual_grade);
    * ``summary.csv``: one row per question: max score, mean, mean as a fraction of the maximum,
      how many students scored full marks, partial credit and zero, and how many answers still
      need a manual grade (those are left out of the statistics; the mean is empty until one is
      graded);
    * ``summary.png``: the mean fraction per question (bars) and the distribution of the students'
      total autograded scores (histogram).

    Returns ``{"students": n, "questions": [row, ...], "files": [paths]}``.
    """
    import csv

    table = scores(assignment)
    out = Path(out) if out else course_root() / "grading" / "reports" / assignment
    out.mkdir(parents=True, exist_ok=True)
    rows, order, totals = [], [], {}
    for sid, notebooks in sorted(table.items()):
        for cells in notebooks.values():
            for name, v in cells.items():
                if name not in order:
                    order.append(name)
                kind = "autograded" if v["cell_type"] == "code" else "written"
                rows.append({"student": sid, "question": name, "kind": kind, "score": v["score"],
                             "max_score": v["max_score"], "needs_manual_grade": bool(v["needs_manual_grade"])})
                if kind == "autograded":
                    totals[sid] = totals.get(sid, 0.0) + v["score"]
    with open(out / "scores.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["student", "question", "kind", "score", "max_score",
                                                "needs_manual_grade"])
        writer.writeheader()
        writer.writerows(rows)
    questions = []
    for name in order:
        mine = [r for r in rows if r["question"] == name]
        graded = [r for r in mine if not r["needs_manual_grade"]]  # answers still to be graded do not count
        top = mine[0]["max_score"]
        mean = sum(r["score"] for r in graded) / len(graded) if graded else None
        questions.append({
            "question": name, "kind": mine[0]["kind"], "max_score": top, "students": len(mine),
            "mean": None if mean is None else round(mean, 4),
            "mean_fraction": None if mean is None else (round(mean / top, 4) if top else 0.0),
            "full": sum(r["score"] >= top for r in graded),
            "partial": sum(0 < r["score"] < top for r in graded),
            "zero": sum(r["score"] <= 0 for r in graded),
            "needs_manual_grade": len(mine) - len(graded),
        })
    with open(out / "summary.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(questions[0]) if questions else ["question"])
        writer.writeheader()
        writer.writerows(questions)
    files = [out / "scores.csv", out / "summary.csv"]
    if questions:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, max(4, 0.28 * len(questions))),
                                       gridspec_kw={"width_ratios": [2, 1]})
        names = [q["question"] + (" (to grade)" if q["mean"] is None else "") for q in questions]
        ax1.barh(range(len(names)), [q["mean_fraction"] or 0.0 for q in questions],
                 color=["tab:blue" if q["kind"] == "autograded" else "tab:orange" for q in questions])
        ax1.set_yticks(range(len(names)), names, fontsize=8)
        ax1.invert_yaxis()
        ax1.set_xlim(0, 1)
        ax1.set_xlabel("mean score / max (blue: autograded, orange: written)")
        ax1.set_title(f"{assignment}: {len(table)} students")
        auto_max = sum(q["max_score"] for q in questions if q["kind"] == "autograded")
        ax2.hist(list(totals.values()), bins=min(20, max(5, len(totals))), range=(0, auto_max or 1),
                 color="tab:blue")
        ax2.set_xlabel(f"total autograded score (of {auto_max:g})")
        ax2.set_ylabel("students")
        fig.tight_layout()
        fig.savefig(out / "summary.png", dpi=100)
        plt.close(fig)
        files.append(out / "summary.png")
    return {"students": len(table), "questions": questions, "files": [str(f) for f in files]}


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
    p.add_argument("--exchange", action="store_true",
                   help="also release into nbgrader's exchange ($WORKBOOK_EXCHANGE, default /usr/local/share/nbgrader/exchange)")
    p = sub.add_parser("student", help="release and copy into a workspace without overwriting")
    p.add_argument("--dest", default=str(REPO / "workspace"))
    p = sub.add_parser("submit", help="place a notebook as a student's submission")
    p.add_argument("student")
    p.add_argument("notebook")
    p.add_argument("--assignment")
    p = sub.add_parser("collect", help="collect an LMS download folder of notebooks and/or zips, "
                                       "or the submissions in nbgrader's exchange")
    p.add_argument("assignment")
    p.add_argument("folder", nargs="?")
    p.add_argument("--exchange", action="store_true",
                   help="collect from nbgrader's exchange instead of a folder")
    p.add_argument("--student-regexp",
                   help="regular expression with a group (?P<student_id>...) matched at the start of each "
                        "file name (default: the part before the first underscore)")
    p = sub.add_parser("autograde", help="autograde submissions")
    p.add_argument("assignment")
    p.add_argument("--student")
    p.add_argument("--jobs", type=int, default=1,
                   help="grade with N isolated workers at once (default 1: serial)")
    p.add_argument("--scheduler", default=os.environ.get("WORKBOOK_DASK_SCHEDULER"),
                   help="address of a Dask distributed scheduler (tcp://host:8786): the workers run as "
                        "tasks on that cluster; the course folder must be on a file system all its "
                        "workers share (default: $WORKBOOK_DASK_SCHEDULER)")
    p = sub.add_parser("audit", help="list submitted code that tampers with grading (never changes scores)")
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
    p = sub.add_parser("summary", help="per-question statistics: CSV files and a plot")
    p.add_argument("assignment")
    p.add_argument("--out", help="folder for the files (default grading/reports/ASSIGNMENT)")
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
        for path in release(args.assignment, exchange=args.exchange):
            print(f"released {path}" + (f" (and into the exchange {exchange_root()})" if args.exchange else ""))
    elif args.command == "student":
        print(f"student workspace ready: {student(Path(args.dest))}")
    elif args.command == "submit":
        print(f"submitted {submit(args.student, Path(args.notebook), args.assignment)}")
    elif args.command == "collect":
        if args.exchange == bool(args.folder):
            parser.error("collect needs either a FOLDER (an LMS download) or --exchange")
        if args.exchange:
            if args.student_regexp:
                parser.error("--student-regexp applies to a FOLDER, not to --exchange")
            found = collect_exchange(args.assignment)
        else:
            found = collect(args.assignment, Path(args.folder), args.student_regexp)
        for sid, path in found.items():
            print(f"collected {sid}: {path}")
        print(f"{len(found)} submissions collected for {args.assignment}")
    elif args.command == "autograde":
        started = time.time()
        ok = autograde(args.assignment, args.student, jobs=args.jobs, scheduler=args.scheduler)
        failed = not_graded(args.assignment, started, [args.student] if args.student else None)
        flagged = audit(args.assignment, args.student)
        if flagged:
            print(f"integrity audit: {len(flagged)} submission(s) to review ({', '.join(sorted(flagged))}); "
                  f"details in {course_root() / 'grading' / 'reports' / args.assignment / 'integrity.csv'}")
        if failed:
            everyone = [args.student] if args.student else submitted_students(args.assignment)
            print(f"{len(failed)} of {len(everyone)} submission(s) could not be graded: {', '.join(failed)} "
                  "(see the errors above; they have no autograded score and their cells need manual "
                  f"grading). The other {len(everyone) - len(failed)} were graded.", file=sys.stderr)
            return 1
        if not ok:
            print("nbgrader reported errors (see above), but every submission was graded.", file=sys.stderr)
            return 1
    elif args.command == "audit":
        flagged = audit(args.assignment, args.student)
        for sid, findings in sorted(flagged.items()):
            for f in findings:
                print(f"{sid}: {f.cell} line {f.line}: {f.rule}: {f.detail}")
        print(f"{len(flagged)} submission(s) to review; written "
              f"{course_root() / 'grading' / 'reports' / args.assignment / 'integrity.csv'}")
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
    elif args.command == "summary":
        _check_assignment(args.assignment)
        result = summary(args.assignment, Path(args.out) if args.out else None)
        print(f"{args.assignment}: {result['students']} students")
        print(f"{'question':<40} {'kind':<11} {'max':>4} {'mean':>6} {'full':>5} {'partial':>7} {'zero':>5}")
        for q in result["questions"]:
            mean = "-" if q["mean"] is None else f"{q['mean']:.2f}"
            todo = f"  ({q['needs_manual_grade']} to grade)" if q["needs_manual_grade"] else ""
            print(f"{q['question']:<40} {q['kind']:<11} {q['max_score']:>4g} {mean:>6} "
                  f"{q['full']:>5} {q['partial']:>7} {q['zero']:>5}{todo}")
        print("written: " + ", ".join(result["files"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
