"""Grading integrity: submissions that cheat, snoop or crash score what they must, through real nbgrader.

The attack submissions live in tests/fixtures/integrity_06_hmm.py (a real assignment, its real
hidden tests).  All of them, plus one file that is not a notebook, are graded together with
``course.py autograde --jobs 2``; each must lose exactly its wrong function's cells, the others
(and the other students) keep full marks, and the out-of-kernel audit must flag the tampering.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

from grading_support import (REPO, Submission, autograded_cells, build_submission, course,
                             new_course_root, source_notebook)

pytestmark = pytest.mark.grading
ASSIGNMENT = "06_hmm"
sys.path.insert(0, str(REPO / "grading"))
sys.path.insert(0, str(REPO / "grading" / "kernels" / "workbook-grader"))


def _fixtures():
    spec = importlib.util.spec_from_file_location("integrity_06_hmm", REPO / "tests" / "fixtures" / "integrity_06_hmm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIX = _fixtures()
BY_NAME = {s.name: s for s in FIX.SUBMISSIONS}


def landlock_abi() -> int:
    from launch import Landlock

    return Landlock().abi


def grade(tmp: Path, submissions, *, corrupt: tuple[str, ...] = (), env: dict | None = None, jobs: int = 2):
    _, source_nb = source_notebook(ASSIGNMENT)
    root = new_course_root(tmp / "course", ASSIGNMENT)
    course(root, "release", ASSIGNMENT)
    release_path = next((root / "grading" / "release" / ASSIGNMENT).glob("*.ipynb"))
    release_nb = nbformat.read(release_path, as_version=4)
    for sub in submissions:
        path = tmp / "build" / sub.name / release_path.name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(build_submission(release_nb, source_nb, sub), path)
        if sub.name in corrupt:
            path.write_text('{"cells": [ this is not JSON')
        course(root, "submit", sub.name, str(path), "--assignment", ASSIGNMENT)
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        proc = course(root, "autograde", ASSIGNMENT, "--jobs", str(jobs), check=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    table = json.loads(course(root, "scores", ASSIGNMENT, "--json").stdout)
    scores = {sid: {k: v["score"] for k, v in next(iter(nbs.values())).items()} for sid, nbs in table.items()}
    return root, proc, scores


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs = list(FIX.SUBMISSIONS) + [Submission("not_a_notebook")]
    return grade(tmp_path_factory.mktemp("integrity"), subs, corrupt=("not_a_notebook",))


EXPECTED = autograded_cells(source_notebook(ASSIGNMENT)[1])


def lost(scores: dict) -> set[str]:
    return {cell for cell, points in EXPECTED.items() if scores.get(cell) != points}


@pytest.mark.parametrize("name", [s.name for s in FIX.SUBMISSIONS])
def test_attack_scores_exactly_what_it_must(graded, name):
    _, proc, scores = graded
    if name == "reads_secrets" and landlock_abi() < 1:
        pytest.skip("this kernel has no Landlock: the file system is not restricted (see grading/README.md)")
    sub = BY_NAME[name]
    assert name in scores, f"{name} was not recorded\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert lost(scores[name]) == set(sub.fails), (
        f"{name} ({sub.why}): lost {sorted(lost(scores[name]))}, expected to lose {sorted(sub.fails)}")


def test_a_file_that_is_not_a_notebook_scores_zero_and_others_are_graded(graded):
    _, proc, scores = graded
    assert sum(scores.get("not_a_notebook", {}).get(c, 0) for c in EXPECTED) == 0
    assert lost(scores["reference"]) == set()
    assert len([s for s in scores if s != "not_a_notebook"]) == len(FIX.SUBMISSIONS)


def test_output_is_capped(graded):
    root, _, _ = graded
    path = next((root / "grading" / "autograded" / "output_bomb" / ASSIGNMENT).glob("*.ipynb"))
    assert path.stat().st_size < 3_000_000, f"{path.stat().st_size:,} bytes"
    assert "output truncated by the grader" in path.read_text()


def test_warnings_stay_visible_but_cost_nothing(graded):
    root, _, scores = graded
    path = next((root / "grading" / "autograded" / "correct_but_noisy" / ASSIGNMENT).glob("*.ipynb"))
    text = path.read_text()
    assert "[stderr]" in text and "this is only a warning" in text


def test_audit_flags_the_tampering_and_nothing_else(graded):
    root, _, _ = graded
    rows = list(csv.DictReader(open(root / "grading" / "reports" / ASSIGNMENT / "integrity.csv")))
    rules: dict[str, set] = {}
    for row in rows:
        rules.setdefault(row["student"], set()).add(row["rule"])
    assert "reference" not in rules, rules.get("reference")
    for name, expected in FIX.AUDIT.items():
        assert expected <= rules.get(name, set()), f"{name}: flagged {rules.get(name)}, expected {expected}"
    assert "unreadable-notebook" in rules.get("not_a_notebook", set())


def test_secret_probe_finds_the_files_without_the_sandbox(tmp_path):
    """The control for ``reads_secrets``: with the file-system sandbox off the same probe reads the
    source notebook and the gradebook (and so loses forward's points), so its full marks above
    are the sandbox's doing."""
    _, _, scores = grade(tmp_path, [BY_NAME["reads_secrets"]], env={"WORKBOOK_SANDBOX": "off"}, jobs=1)
    assert lost(scores["reads_secrets"]) == set(FIX.FORWARD)


def test_no_reference_answer_or_plain_mistake_is_flagged_by_the_audit():
    """The audit's false positives: every assignment's reference and buggy fixtures are clean."""
    from workbook_integrity import audit_notebook

    from grading_support import assignments

    for assignment in assignments():
        _, src = source_notebook(assignment)
        spec = importlib.util.spec_from_file_location(f"fx_{assignment}", REPO / "tests" / "fixtures" / f"{assignment}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for sub in [Submission("reference")] + list(module.SUBMISSIONS):
            if sub.blank or "patches" in sub.name:
                continue
            findings = audit_notebook(build_submission(src, src, sub), src)
            assert not findings, f"{assignment}/{sub.name}: {findings}"
