"""The instructor tooling on a tiny assignment: course.py, robustness of autograding, the feedback filter.

A two-function toy assignment is enough to show that a submission that loops
forever, crashes its kernel, raises, or deletes cells never stops the grading
of other cells or other students, and that feedback hides hidden tests.
"""
from __future__ import annotations

import nbformat
import pytest

from grading_support import (Delete, Mutation, Replace, Submission, Tag, build_submission, course,
                             html_text)

pytestmark = pytest.mark.grading


def _meta(**kw):
    meta = {"grade": False, "locked": False, "schema_version": 3, "solution": False, "task": False}
    meta.update(kw)
    return {"nbgrader": meta}


def toy_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Toy assignment"),
        nbformat.v4.new_code_cell("import numpy as np\nfrom course_utils import check_array"),
        nbformat.v4.new_code_cell(
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * np.asarray(x, dtype=float)\n"
            "    ### END SOLUTION", metadata=_meta(grade_id="double", solution=True)),
        nbformat.v4.new_code_cell(
            "check_array('double', double([1.0, 2.0]), np.array([2.0, 4.0]))\n"
            "### BEGIN HIDDEN TESTS\n"
            "secret_input_vector = np.array([3.0, -7.5, 11.25])\n"
            "check_array('double', double(secret_input_vector), secret_input_vector * 2)\n"
            "### END HIDDEN TESTS",
            metadata=_meta(grade_id="test_double", grade=True, locked=True, points=2)),
        nbformat.v4.new_code_cell(
            "def square(x):\n    ### BEGIN SOLUTION\n    return np.asarray(x, dtype=float) ** 2\n"
            "    ### END SOLUTION", metadata=_meta(grade_id="square", solution=True)),
        nbformat.v4.new_code_cell(
            "check_array('square', square([3.0]), np.array([9.0]))",
            metadata=_meta(grade_id="test_square", grade=True, locked=True, points=1)),
        nbformat.v4.new_markdown_cell("Why?"),
        nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                                      metadata=_meta(grade_id="q_why", grade=True, solution=True, points=1)),
    ]
    return nb


SUBMISSIONS = [
    Submission("reference"),
    Submission("blank", blank=True),
    Submission("hidden_bug", (Mutation("double", "return 2 * np.asarray(x, dtype=float)",
                                       "x = np.asarray(x, dtype=float)\n    return 2 * x if x.size < 3 else x"),),
               fails=frozenset({"test_double"})),
    Submission("loops_forever", (Replace("double", "def double(x):\n    while True:\n        pass"),),
               fails=frozenset({"test_double"})),
    # a loop that swallows the interrupt: the kernel is restarted and the earlier cells run again,
    # so only that cell scores 0 (nbgrader alone abandoned the whole submission)
    Submission("swallows_interrupt", (Replace("double", "def double(x):\n    while True:\n        try:\n"
                                               "            while True:\n                pass\n"
                                               "        except BaseException:\n            pass"),),
               fails=frozenset({"test_double"})),
    Submission("ignores_interrupt", (Replace("double", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                              "def double(x):\n    while True:\n        pass"),),
               fails=frozenset({"test_double"})),
    # nbclient skips cells tagged skip-execution: on the test cells of a blank submission that was
    # full marks; the course's cells get their own tags back
    Submission("tags_tests_skip_execution", (Replace("double", "def double(x):\n    raise NotImplementedError"),
                                             Tag("test_double", ("skip-execution",)),
                                             Tag("test_square", ("skip-execution", "raises-exception"))),
               fails=frozenset({"test_double"})),
    Submission("raises", (Replace("square", "def square(x):\n    raise RuntimeError('oops')"),),
               fails=frozenset({"test_square"})),
    # the grader puts a deleted test cell back (and runs it): a correct answer keeps its points
    Submission("deletes_test_cell", (Delete("test_square"),), fails=frozenset()),
    Submission("deletes_answer_and_test", (Delete("square"), Delete("test_square")),
               fails=frozenset({"test_square"})),
    Submission("kills_kernel", (Replace("square", "import os\nos._exit(1)"),), crashes_kernel=True),
]


@pytest.fixture(scope="module", params=[1, 2, "dask"], ids=["serial", "jobs2", "dask"])
def toy_course(tmp_path_factory, request):
    """The toy course with every submission graded: serially, with two parallel workers, and as
    tasks on a local Dask cluster of two worker processes (``--scheduler``)."""
    root = tmp_path_factory.mktemp(f"toycourse{request.param}")
    src = root / "notebooks" / "00_toy" / "toy.ipynb"
    src.parent.mkdir(parents=True)
    nbformat.write(toy_notebook(), src)
    course(root, "release", "00_toy")
    release = nbformat.read(root / "grading" / "release" / "00_toy" / "toy.ipynb", as_version=4)
    for sub in SUBMISSIONS:
        path = root / "incoming" / f"{sub.name}-download.ipynb"  # LMS-style renamed file
        path.parent.mkdir(exist_ok=True)
        nbformat.write(build_submission(release, toy_notebook(), sub), path)
        course(root, "submit", sub.name, str(path), "--assignment", "00_toy")
    if request.param == "dask":
        distributed = pytest.importorskip("distributed")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster:
            proc = course(root, "autograde", "00_toy", "--scheduler", cluster.scheduler_address,
                          cell_timeout=5, check=False)
            # the keys of every task the scheduler saw, to show the workers ran there
            proc.cluster_tasks = sorted({str(entry[0]) for entry in cluster.scheduler.transition_log})
    else:
        proc = course(root, "autograde", "00_toy", "--jobs", str(request.param), cell_timeout=5, check=False)
    import json
    scores = json.loads(course(root, "scores", "00_toy", "--json").stdout)
    return root, proc, {s: next(iter(nbs.values())) for s, nbs in scores.items()}


def test_release_strips_solutions_and_hidden_tests(toy_course):
    root, _, _ = toy_course
    text = (root / "grading" / "release" / "00_toy" / "toy.ipynb").read_text()
    assert "secret_input_vector" not in text and "2 * np.asarray" not in text
    assert "raise NotImplementedError" in text and "YOUR ANSWER HERE" in text


def test_submit_stores_under_the_assignment_notebook_name(toy_course):
    root, _, _ = toy_course
    assert (root / "grading" / "submitted" / "hidden_bug" / "00_toy" / "toy.ipynb").exists()


@pytest.mark.parametrize("sub", SUBMISSIONS, ids=lambda s: s.name)
def test_each_submission_scores_as_expected(toy_course, sub):
    _, proc, scores = toy_course
    got = {k: v["score"] for k, v in scores[sub.name].items() if v["cell_type"] == "code"}
    full = {"test_double": 2.0, "test_square": 1.0}
    if sub.blank or sub.crashes_kernel:
        assert got == {k: 0.0 for k in full}, got
        return
    for cell, points in full.items():
        assert got[cell] == (0.0 if cell in sub.fails else points), (sub.name, got)


def test_a_dead_kernel_is_reported_but_others_are_graded(toy_course):
    _, proc, scores = toy_course
    assert proc.returncode == 1 and "could not be graded" in proc.stderr
    assert scores["kills_kernel"]["test_double"]["needs_manual_grade"]
    assert scores["reference"]["test_double"]["score"] == 2.0


def test_dask_runs_the_workers_as_cluster_tasks(toy_course):
    root, proc, scores = toy_course
    if not hasattr(proc, "cluster_tasks"):
        pytest.skip("serial and --jobs runs do not use Dask")
    assert "autograde-00_toy" in " ".join(proc.cluster_tasks), proc.cluster_tasks
    assert "2 worker(s), 2 task(s)" in proc.stdout
    assert not list((root / "grading" / "workers").iterdir()), "private worker folders were left behind"


def _gradebook_rows(root):
    import sqlite3
    with sqlite3.connect(root / "grading" / "gradebook.db") as db:
        return {t: db.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")}


def test_regrading_is_idempotent(toy_course):
    import json
    root, _, scores = toy_course
    if not root.name.startswith("toycourse1"):
        pytest.skip("regrading (with --jobs 2) is tested once, over the serially built gradebook")
    before = _gradebook_rows(root)
    assert before["submitted_assignment"] == len(SUBMISSIONS) == before["student"]
    course(root, "autograde", "00_toy", "--jobs", "2", cell_timeout=5, check=False)
    again = json.loads(course(root, "scores", "00_toy", "--json").stdout)
    assert {s: next(iter(nbs.values())) for s, nbs in again.items()} == scores
    assert _gradebook_rows(root) == before, "re-grading added or lost gradebook rows"


def test_a_cell_that_swallows_the_interrupt_costs_only_that_cell(toy_course):
    root, proc, scores = toy_course
    for name in ("swallows_interrupt", "ignores_interrupt"):
        assert not any(v["needs_manual_grade"] for v in scores[name].values() if v["cell_type"] == "code"), \
            (name, scores[name], proc.stderr[-6000:])
        assert name not in proc.stderr.split("could not be graded")[-1], proc.stderr[-2000:]
    course(root, "feedback", "00_toy", "--student", "swallows_interrupt")
    text = html_text(root / "grading" / "feedback" / "swallows_interrupt" / "00_toy" / "toy.html")
    assert "did not finish within the grader's time limit" in text


def test_feedback_hides_hidden_code_but_reports_the_failure(toy_course):
    root, _, _ = toy_course
    course(root, "feedback", "00_toy", "--student", "hidden_bug")
    text = html_text(root / "grading" / "feedback" / "hidden_bug" / "00_toy" / "toy.html")
    assert "secret_input_vector" not in text and "HIDDEN TESTS" not in text
    assert "A hidden test failed" in text and "double" in text
    assert "11.25" not in text and "22.5" not in text, "hidden inputs or expected values leaked"


def test_student_workspace_is_never_overwritten(tmp_path):
    root = tmp_path
    src = root / "notebooks" / "00_toy" / "toy.ipynb"
    src.parent.mkdir(parents=True)
    nbformat.write(toy_notebook(), src)
    dest = root / "workspace"
    course(root, "student", "--dest", str(dest))
    mine = dest / "00_toy" / "toy.ipynb"
    assert "raise NotImplementedError" in mine.read_text()
    mine.write_text(mine.read_text().replace("raise NotImplementedError()", "return 42"))
    course(root, "student", "--dest", str(dest))
    assert "return 42" in mine.read_text()


def test_unknown_assignment_is_a_clear_error(tmp_path):
    (tmp_path / "notebooks" / "00_toy").mkdir(parents=True)
    nbformat.write(toy_notebook(), tmp_path / "notebooks" / "00_toy" / "toy.ipynb")
    proc = course(tmp_path, "autograde", "99_nothing", check=False)
    assert proc.returncode != 0 and "unknown assignment '99_nothing'" in proc.stderr


def test_collect_an_lms_download_of_notebooks_and_zips(tmp_path):
    """``course.py collect`` files an LMS download (plain notebooks, zips, renamed files) per student."""
    import json
    import zipfile

    root = tmp_path / "course"
    src = root / "notebooks" / "00_toy" / "toy.ipynb"
    src.parent.mkdir(parents=True)
    nbformat.write(toy_notebook(), src)
    course(root, "release", "00_toy")
    release = nbformat.read(root / "grading" / "release" / "00_toy" / "toy.ipynb", as_version=4)
    solved = nbformat.writes(build_submission(release, toy_notebook(), Submission("reference")))
    buggy = nbformat.writes(build_submission(release, toy_notebook(), SUBMISSIONS[2]))  # hidden_bug
    lms = tmp_path / "download"
    lms.mkdir()
    (lms / "jdoe_4711_attempt_toy.ipynb").write_text(solved)
    with zipfile.ZipFile(lms / "asmith_4712_toy.zip", "w") as zf:
        zf.writestr("homework/toy (1).ipynb", buggy)  # renamed by the student's browser
        zf.writestr("__MACOSX/homework/._toy (1).ipynb", "resource fork, not a notebook")
    (lms / "bwong.ipynb").write_text(solved)
    (lms / "index.txt").write_text("LMS manifest, not a submission")

    out = course(root, "collect", "00_toy", str(lms)).stdout
    assert "3 submissions collected" in out, out
    submitted = root / "grading" / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == ["asmith", "bwong", "jdoe"]
    for student, text in (("jdoe", solved), ("asmith", buggy), ("bwong", solved)):
        files = list((submitted / student / "00_toy").iterdir())
        assert [f.name for f in files] == ["toy.ipynb"], files
        assert files[0].read_text() == text

    # collecting again is idempotent
    out = course(root, "collect", "00_toy", str(lms)).stdout
    assert "3 submissions collected" in out
    assert sorted(p.name for p in submitted.iterdir()) == ["asmith", "bwong", "jdoe"]

    # the collected notebooks grade like any submission
    course(root, "autograde", "00_toy", cell_timeout=20)
    scores = json.loads(course(root, "scores", "00_toy", "--json").stdout)
    double = {s: next(iter(nbs.values()))["test_double"]["score"] for s, nbs in scores.items()}
    assert double == {"jdoe": 2.0, "asmith": 0.0, "bwong": 2.0}

    # another naming scheme: the numeric LMS id after the first underscore
    other = tmp_path / "course2"
    (other / "notebooks" / "00_toy").mkdir(parents=True)
    nbformat.write(toy_notebook(), other / "notebooks" / "00_toy" / "toy.ipynb")
    course(other, "release", "00_toy")
    out = course(other, "collect", "00_toy", str(lms), "--student-regexp",
                 r"[^_]+_(?P<student_id>\d+)").stdout
    assert "2 submissions collected" in out, out  # bwong.ipynb has no number: skipped
    assert sorted(p.name for p in (other / "grading" / "submitted").iterdir()) == ["4711", "4712"]

    bad = course(other, "collect", "00_toy", str(lms), "--student-regexp", r"\w+", check=False)
    assert bad.returncode != 0 and "(?P<student_id>" in bad.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = course(other, "collect", "00_toy", str(empty), check=False)
    assert nothing.returncode != 0 and "no files" in nothing.stderr


def test_release_and_collect_through_nbgrader_exchange(tmp_path):
    """The shared-server workflow: release into nbgrader's exchange, students fetch and submit with
    nbgrader's own commands (one submits twice: the newer copy counts), collect, autograde."""
    import json
    import os
    import subprocess
    import sys
    import time

    root = tmp_path / "course"
    src = root / "notebooks" / "00_toy" / "toy.ipynb"
    src.parent.mkdir(parents=True)
    nbformat.write(toy_notebook(), src)
    exchange = tmp_path / "exchange"
    env = {"WORKBOOK_EXCHANGE": str(exchange)}
    missing = course(root, "release", "00_toy", "--exchange", env=env, check=False)
    assert missing.returncode != 0 and "does not exist" in missing.stderr + missing.stdout
    exchange.mkdir()
    course(root, "release", "00_toy", "--exchange", env=env)
    assert (exchange / "dl-workbook" / "outbound" / "00_toy" / "toy.ipynb").is_file()

    def student_nbgrader(home, *args):
        cmd = [sys.executable, "-m", "nbgrader", *args, "--course=dl-workbook", f"--Exchange.root={exchange}"]
        proc = subprocess.run(cmd, cwd=home, capture_output=True, text=True,
                              env={**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"})
        assert proc.returncode == 0, proc.stderr[-3000:]

    release = None
    for sid, versions in (("alice", [SUBMISSIONS[2], SUBMISSIONS[0]]), ("bob", [SUBMISSIONS[2]])):
        home = tmp_path / f"home-{sid}"
        home.mkdir()
        student_nbgrader(home, "fetch_assignment", "00_toy")
        fetched = home / "00_toy" / "toy.ipynb"
        release = release or nbformat.read(fetched, as_version=4)
        for sub in versions:
            nbformat.write(build_submission(release, toy_notebook(), sub), fetched)
            student_nbgrader(home, "submit", "00_toy", f"--student={sid}")
            time.sleep(1.1)  # submissions are told apart by their timestamps
    out = course(root, "collect", "00_toy", "--exchange", env=env).stdout
    assert "2 submissions collected" in out, out
    course(root, "autograde", "00_toy", cell_timeout=10)
    scores = json.loads(course(root, "scores", "00_toy", "--json").stdout)
    got = {sid: {cell: v["score"] for cell, v in next(iter(nbs.values())).items()} for sid, nbs in scores.items()}
    assert got["alice"]["test_double"] == 2 and got["alice"]["test_square"] == 1  # her second, correct copy
    assert got["bob"]["test_double"] == 0 and got["bob"]["test_square"] == 1

    usage = course(root, "collect", "00_toy", env=env, check=False)
    assert usage.returncode == 2 and "FOLDER" in usage.stderr
