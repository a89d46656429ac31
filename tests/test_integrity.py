"""Grading integrity: submissions that cheat, snoop or crash score what they must, through real nbgrader.

The attack submissions live in ``tests/fixtures/integrity_<assignment>.py`` (real assignments,
their real hidden tests): ``integrity_06_hmm.py`` patches NumPy and builtins, lies, tampers,
snoops and crashes; ``integrity_04_vae.py`` patches PyTorch and ``torch.Tensor`` itself.  Each
assignment's attacks (plus, for 06, one file that is not a notebook) are graded together with
``course.py autograde --jobs 2``; each must lose exactly its wrong function's cells, the others
(and the other students) keep full marks, and the out-of-kernel audit must flag the tampering.
Controls grade the same attacks with a defence switched off and check that they then gain
points, so that the zero is known to be that defence's doing.
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

from grading_support import (REPO, Submission, assignments, autograded_cells, build_submission, course,
                             new_course_root, source_notebook)

pytestmark = pytest.mark.grading
sys.path.insert(0, str(REPO / "grading"))
sys.path.insert(0, str(REPO / "grading" / "kernels" / "workbook-grader"))
FIXTURES = REPO / "tests" / "fixtures"


def _load(assignment: str):
    path = FIXTURES / f"integrity_{assignment}.py"
    spec = importlib.util.spec_from_file_location(f"integrity_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIX = {a: _load(a) for a in assignments() if (FIXTURES / f"integrity_{a}.py").is_file()}
CASES = [(a, s.name) for a, module in FIX.items() for s in module.SUBMISSIONS]
EXPECTED = {a: autograded_cells(source_notebook(a)[1]) for a in FIX}
HMM = "06_hmm"
needs_hmm = pytest.mark.skipif(HMM not in FIX, reason="06_hmm is not among WORKBOOK_ASSIGNMENTS")


def by_name(assignment: str) -> dict[str, Submission]:
    return {s.name: s for s in FIX[assignment].SUBMISSIONS}


def landlock_abi() -> int:
    from launch import Landlock

    return Landlock().abi


def grade(assignment: str, tmp: Path, submissions, *, corrupt: tuple[str, ...] = (), env: dict | None = None,
          jobs: int = 2):
    _, source_nb = source_notebook(assignment)
    root = new_course_root(tmp / "course", assignment)
    course(root, "release", assignment)
    release_path = next((root / "grading" / "release" / assignment).glob("*.ipynb"))
    release_nb = nbformat.read(release_path, as_version=4)
    for sub in submissions:
        path = tmp / "build" / sub.name / release_path.name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(build_submission(release_nb, source_nb, sub), path)
        if sub.name in corrupt:
            path.write_text('{"cells": [ this is not JSON')
        course(root, "submit", sub.name, str(path), "--assignment", assignment)
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        proc = course(root, "autograde", assignment, "--jobs", str(jobs), check=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    table = json.loads(course(root, "scores", assignment, "--json").stdout)
    scores = {sid: {k: v["score"] for k, v in next(iter(nbs.values())).items()} for sid, nbs in table.items()}
    return root, proc, scores


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """``graded(assignment)``: that assignment's attacks graded once per test module."""
    cache = {}

    def get(assignment: str):
        if assignment not in cache:
            subs = list(FIX[assignment].SUBMISSIONS)
            corrupt = ()
            if assignment == HMM:
                subs.append(Submission("not_a_notebook"))
                corrupt = ("not_a_notebook",)
            cache[assignment] = grade(assignment, tmp_path_factory.mktemp(f"integrity-{assignment}"), subs,
                                      corrupt=corrupt)
        return cache[assignment]

    return get


def lost(assignment: str, scores: dict) -> set[str]:
    return {cell for cell, points in EXPECTED[assignment].items() if scores.get(cell) != points}


@pytest.mark.parametrize("assignment,name", CASES)
def test_attack_scores_exactly_what_it_must(graded, assignment, name):
    _, proc, scores = graded(assignment)
    if name == "reads_secrets" and landlock_abi() < 1:
        pytest.skip("this kernel has no Landlock: the file system is not restricted (see grading/README.md)")
    sub = by_name(assignment)[name]
    assert name in scores, f"{name} was not recorded\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert lost(assignment, scores[name]) == set(sub.fails), (
        f"{assignment}/{name} ({sub.why}): lost {sorted(lost(assignment, scores[name]))}, "
        f"expected to lose {sorted(sub.fails)}")


@needs_hmm
def test_a_file_that_is_not_a_notebook_scores_zero_and_others_are_graded(graded):
    _, proc, scores = graded(HMM)
    assert sum(scores.get("not_a_notebook", {}).get(c, 0) for c in EXPECTED[HMM]) == 0
    assert lost(HMM, scores["reference"]) == set()
    assert len([s for s in scores if s != "not_a_notebook"]) == len(FIX[HMM].SUBMISSIONS)


@needs_hmm
def test_output_is_capped(graded):
    root, _, _ = graded(HMM)
    path = next((root / "grading" / "autograded" / "output_bomb" / HMM).glob("*.ipynb"))
    assert path.stat().st_size < 3_000_000, f"{path.stat().st_size:,} bytes"
    assert "output truncated by the grader" in path.read_text()


@needs_hmm
def test_warnings_stay_visible_but_cost_nothing(graded):
    root, _, scores = graded(HMM)
    path = next((root / "grading" / "autograded" / "correct_but_noisy" / HMM).glob("*.ipynb"))
    text = path.read_text()
    assert "[stderr]" in text and "this is only a warning" in text


@pytest.mark.parametrize("assignment", list(FIX))
def test_audit_flags_the_tampering_and_nothing_else(graded, assignment):
    root, _, _ = graded(assignment)
    rows = list(csv.DictReader(open(root / "grading" / "reports" / assignment / "integrity.csv")))
    rules: dict[str, set] = {}
    for row in rows:
        rules.setdefault(row["student"], set()).add(row["rule"])
    assert "reference" not in rules, rules.get("reference")
    for name, expected in FIX[assignment].AUDIT.items():
        assert expected <= rules.get(name, set()), f"{name}: flagged {rules.get(name)}, expected {expected}"
    if assignment == HMM:
        assert "unreadable-notebook" in rules.get("not_a_notebook", set())


@needs_hmm
def test_secret_probe_finds_the_files_without_the_sandbox(tmp_path):
    """The control for ``reads_secrets`` and ``reads_the_graders_environment``: with the sandbox off
    the same probes read the source notebook, the gradebook and the grader's environment (and so
    lose forward's points), so their full marks above are the sandbox's doing."""
    names = ("reads_secrets", "reads_the_graders_environment")
    _, _, scores = grade(HMM, tmp_path, [by_name(HMM)[n] for n in names], env={"WORKBOOK_SANDBOX": "off"}, jobs=1)
    for name in names:
        assert lost(HMM, scores[name]) == set(FIX[HMM].FORWARD), name


def _error_lines(root: Path) -> set[str]:
    """Every line of every error message the graded runs produced in test cells."""
    found = set()
    for path in (root / "grading" / "autograded").rglob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
                if out.get("output_type") == "error":
                    found |= {ln.strip() for ln in str(out.get("evalue", "")).splitlines() if len(ln.strip()) >= 20}
    return found


@needs_hmm
def test_feedback_holds_nothing_the_graded_run_wrote(graded):
    """Feedback is built from the submitted notebook, the gradebook and the grader's own verdicts:
    no hidden test line (``print(In)`` ran after every hidden test), no hidden input a graded
    function printed, no line of any error message the kernel produced (the hidden checks' say
    "expected ..."), and a failing check is still named as such."""
    from grading_support import hidden_test_lines, html_text

    root, _, _ = graded(HMM)
    course(root, "feedback", HMM)
    _, source = source_notebook(HMM)
    public = set()
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            inside = (inside or line.strip() == "### BEGIN HIDDEN TESTS") and line.strip() != "### END HIDDEN TESTS"
            public |= set() if inside else {line.strip()}
    hidden = [ln for ln in hidden_test_lines(source) if ln not in public]
    kernel_text = _error_lines(root)
    assert any("expected" in ln for ln in kernel_text), "the graded runs produced no failing hidden check"
    pages = {p.parent.parent.name: p for p in (root / "grading" / "feedback").rglob("*.html")}
    assert {s.name for s in FIX[HMM].SUBMISSIONS} <= set(pages), sorted(pages)
    for name, page in pages.items():
        text = html_text(page)
        submitted = root / "grading" / "submitted" / name / HMM / "hmm.ipynb"
        own = submitted.read_text(errors="replace") if submitted.is_file() else ""  # the student's own lines
        assert not [ln for ln in hidden if ln in text and ln not in own], f"{name}: hidden test lines in the feedback"
        assert "LEAKED-ARGUMENTS [" not in text, f"{name}: the graded run's prints are in the feedback"
        assert not [ln for ln in kernel_text if ln in text], f"{name}: the kernel's error text is in the feedback"
    verdicts = html_text(pages["wrong_forward_patches_numpy"])
    assert "A hidden test failed" in verdicts or "The check on line" in verdicts, "a failure is not named"


@needs_hmm
def test_the_kernel_leaves_nothing_behind(graded):
    """Links, files and processes a kernel leaves are gone before the grader reads, copies or chmods
    anything: no link and no leftover in autograded/ or feedback/, the links' targets untouched,
    nothing in /dev/shm, no process still running, and the link loop stopped no one."""
    root, proc, scores = graded(HMM)
    course(root, "feedback", HMM, check=False)
    for top in ("autograded", "feedback"):
        for path in (root / "grading" / top).rglob("*"):
            assert not path.is_symlink(), f"{path} is a link the kernel made"
            assert path.name not in ("junk.bin", "junkdir", "gradebook.db"), f"{path} was left by a kernel"
        for folder in (root / "grading" / top).glob("*/" + HMM):
            extra = {p.name for p in folder.iterdir()} - {"hmm.ipynb", "hmm.html", "timestamp.txt"}
            assert not extra, f"{folder}: {sorted(extra)}"
    source = root / "notebooks" / HMM / "hmm.ipynb"
    assert source.stat().st_mode & 0o777 == (REPO / "notebooks" / HMM / "hmm.ipynb").stat().st_mode & 0o777
    assert (root / "grading" / "gradebook.db").stat().st_mode & 0o200, "the gradebook was chmodded"
    assert not list(Path("/dev/shm").glob("workbook-leftover-*"))
    daemons = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"workbook-daemon-marker" in cmdline.read_bytes():
                daemons.append(cmdline.parent.name)
        except OSError:
            pass
    assert not daemons, f"processes a kernel started are still running: {daemons}"
    assert {"plants_links", "leaves_files", "reference"} <= set(scores)


@needs_hmm
def test_unreadable_cell_metadata_costs_nothing_and_stops_no_one(tmp_path):
    """An added cell whose metadata is ``{"nbgrader": {}}`` aborted a serial nbgrader run for every
    student after it; now it is an ordinary student cell and everyone is graded."""
    sub = FIX[HMM].BAD_METADATA
    _, proc, scores = grade(HMM, tmp_path, [sub, Submission("reference")], jobs=1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert lost(HMM, scores[sub.name]) == set() and lost(HMM, scores["reference"]) == set()


@needs_hmm
def test_attacks_on_the_guard_are_reported_by_the_audit():
    """The attacks that reach into the guard's own process (grading/README.md, not defended) are
    each reported by the audit, in an added cell of an otherwise correct submission."""
    from grading_support import Insert, build_submission
    from workbook_integrity import audit_notebook

    _, src = source_notebook(HMM)
    for name, (code, rules) in FIX[HMM].UNDEFENDED.items():
        nb = build_submission(src, src, Submission(name, (Insert("forward", code),)))
        got = {f.rule for f in audit_notebook(nb, src)}
        assert rules <= got, f"{name}: flagged {sorted(got)}, expected {sorted(rules)}"


@pytest.mark.parametrize("assignment", [a for a in FIX if getattr(FIX[a], "CONTROL", ())])
def test_patches_gain_points_without_the_guard(tmp_path, assignment):
    """The controls for the guard: graded with ``WORKBOOK_GUARD=off``, the CONTROL submissions keep
    some of the points they lose above, so their zero is the guard's doing."""
    names = FIX[assignment].CONTROL
    _, proc, scores = grade(assignment, tmp_path, [by_name(assignment)[n] for n in names],
                            env={"WORKBOOK_GUARD": "off"}, jobs=1)
    for name in names:
        fails = set(by_name(assignment)[name].fails)
        assert name in scores, proc.stdout[-3000:]
        assert lost(assignment, scores[name]) < fails, (
            f"{name} lost {sorted(lost(assignment, scores[name]))} even without the guard: the attack has no teeth")


def test_no_reference_answer_or_plain_mistake_is_flagged_by_the_audit():
    """The audit's false positives: every assignment's reference and buggy fixtures are clean."""
    from workbook_integrity import audit_notebook

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
