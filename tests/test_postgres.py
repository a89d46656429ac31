"""The gradebook on PostgreSQL, with several graders writing to it at once.

A throw-away PostgreSQL server is started in a temporary folder (skipped when the server's
binaries or psycopg are not installed).  Two graders autograde disjoint halves of the toy class
at the same time through ``WORKBOOK_DB_URL``; then the whole class is re-graded with
``--jobs 2``.  Every student must be recorded once with the right scores, and re-grading must
neither add nor lose rows.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grading_support import COURSE_CLI, build_submission, course, course_env
from test_grading_tools import SUBMISSIONS, toy_notebook

pytest.importorskip("psycopg")
BINDIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
INITDB = shutil.which("initdb") or next((os.path.join(d, "initdb") for d in BINDIRS
                                         if os.path.exists(os.path.join(d, "initdb"))), None)
pytestmark = [pytest.mark.grading,
              pytest.mark.skipif(INITDB is None, reason="PostgreSQL server binaries (initdb, pg_ctl) not installed")]

# graded here: everyone except the kernel killer (its abandonment is the toy course's own test)
CLASS = [s for s in SUBMISSIONS if not s.crashes_kernel]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]  # the server refuses to run as root


@pytest.fixture(scope="module")
def postgres():
    import tempfile

    bindir = os.path.dirname(INITDB)
    # not under pytest's private (0700) folder: the server runs as its own user when we are root
    holder = Path(tempfile.mkdtemp(prefix="workbook-pg-"))
    holder.chmod(0o755)
    data = holder / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(_as_server_user([INITDB, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
                   check=True, capture_output=True)
    port = _free_port()
    log = data / "server.log"
    subprocess.run(_as_server_user([os.path.join(bindir, "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                                    "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"]),
                   check=True, capture_output=True)
    try:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             autocommit=True) as admin:
            admin.execute("CREATE DATABASE gradebook")
        yield f"postgresql://postgres@127.0.0.1:{port}/gradebook"
    finally:
        subprocess.run(_as_server_user([os.path.join(bindir, "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                       capture_output=True)
        shutil.rmtree(holder, ignore_errors=True)


def _rows(url: str) -> dict:
    import psycopg

    with psycopg.connect(url) as db, db.cursor() as cur:
        out = {}
        for table in ("student", "submitted_assignment", "submitted_notebook", "grade", "comment"):
            cur.execute(f"select count(*) from {table}")
            out[table] = cur.fetchone()[0]
        return out


def _scores(root: Path, url: str) -> dict:
    proc = subprocess.run([sys.executable, str(COURSE_CLI), "scores", "00_toy", "--json"],
                          env={**course_env(root, 5), "WORKBOOK_DB_URL": url}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {s: {k: v["score"] for k, v in next(iter(nbs.values())).items()}
            for s, nbs in json.loads(proc.stdout).items()}


def test_two_graders_at_once_then_a_parallel_regrade(postgres, tmp_path):
    root = tmp_path / "course"
    src = root / "notebooks" / "00_toy" / "toy.ipynb"
    src.parent.mkdir(parents=True)
    nbformat.write(toy_notebook(), src)
    env = {**course_env(root, 5), "WORKBOOK_DB_URL": postgres}
    proc = subprocess.run([sys.executable, str(COURSE_CLI), "release", "00_toy"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    release = nbformat.read(root / "grading" / "release" / "00_toy" / "toy.ipynb", as_version=4)
    for sub in CLASS:
        path = root / "incoming" / sub.name / "toy.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(build_submission(release, toy_notebook(), sub), path)
        course(root, "submit", sub.name, str(path), "--assignment", "00_toy")

    # two graders, each taking every other student, running at the same time
    halves = [CLASS[0::2], CLASS[1::2]]
    graders = []
    for half in halves:
        script = " && ".join(f"{sys.executable} {COURSE_CLI} autograde 00_toy --student {s.name}" for s in half)
        graders.append(subprocess.Popen(["bash", "-c", script], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True))
    outputs = [g.communicate()[0] for g in graders]
    assert all(g.returncode == 0 for g in graders), "\n".join(o[-3000:] for o in outputs)

    first = _scores(root, postgres)
    assert sorted(first) == sorted(s.name for s in CLASS)
    for sub in CLASS:
        for cell, points in {"test_double": 2.0, "test_square": 1.0}.items():
            want = 0.0 if sub.blank or cell in sub.fails else points
            assert first[sub.name][cell] == want, (sub.name, first[sub.name])
    rows = _rows(postgres)
    assert rows["student"] == rows["submitted_assignment"] == len(CLASS), rows

    # the whole class again, with two workers recording into the same PostgreSQL gradebook
    proc = subprocess.run([sys.executable, str(COURSE_CLI), "autograde", "00_toy", "--jobs", "2"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _scores(root, postgres) == first
    assert _rows(postgres) == rows, "re-grading added or lost gradebook rows"
