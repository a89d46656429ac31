"""The grading pipeline, end to end, through the real nbgrader commands.

For every assignment with a fixture set in ``tests/fixtures/<assignment>.py``:

* the release holds no solution code and no hidden-test code;
* the reference solution, submitted as a student, scores full marks;
* the untouched release scores zero on every autograded cell;
* each plausible buggy submission loses exactly the cells it names (those of
  the function it breaks) and keeps every other cell;
* each legitimate alternative (``correct=True``) keeps full marks;
* feedback shows results and messages but no hidden test code.

All submissions of an assignment are graded in one go with ``course.py autograde
--jobs 2`` (two isolated workers, one gradebook), then the tests read the gradebook.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from grading_support import (HIDDEN_BEGIN, HIDDEN_END, SOLUTION_BEGIN, SOLUTION_END, assignments,
                             Submission, autograded_cells, concept_submissions, course, explanation_lines,
                             grade_submissions, hidden_test_lines, html_text, nbgrader_meta,
                             parse_concept_cell, solution_lines, source_notebook)

pytestmark = pytest.mark.grading

FIXTURES = Path(__file__).parent / "fixtures"
ASSIGNMENTS = assignments()


def _fixture_module(assignment: str):
    path = FIXTURES / f"{assignment}.py"
    spec = importlib.util.spec_from_file_location(f"fixtures_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_fixtures(assignment: str) -> list[Submission]:
    return list(_fixture_module(assignment).SUBMISSIONS)


def graded_through(assignment: str) -> dict[str, set[str]]:
    """Functions without a test cell of their own, graded inside another function's cells.

    A fixture module declares them as ``GRADED_THROUGH = {"helper": {"test_user_cell"}}`` (07_svm's
    support-vector mask is graded where b is recovered from it); the notebook must say so too.
    """
    return {k: set(v) for k, v in getattr(_fixture_module(assignment), "GRADED_THROUGH", {}).items()}


def all_submissions(assignment: str) -> list[Submission]:
    _, source = source_notebook(assignment)
    return [Submission("reference"), Submission("blank", blank=True), *load_fixtures(assignment),
            *concept_submissions(source)]


CASES = [(a, s.name) for a in ASSIGNMENTS if (FIXTURES / f"{a}.py").exists()
         for s in load_fixtures(a)]


def test_every_assignment_has_a_fixture_set():
    missing = [a for a in ASSIGNMENTS if not (FIXTURES / f"{a}.py").exists()]
    assert not missing, f"assignments without tests/fixtures/<assignment>.py: {missing}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_fixture_set_covers_every_graded_function(assignment):
    _, nb = source_notebook(assignment)
    functions = [nbgrader_meta(c)["grade_id"] for c in nb.cells  # concept answers: concept_submissions
                 if nbgrader_meta(c).get("solution") and c.cell_type == "code"
                 and not nbgrader_meta(c)["grade_id"].startswith("answer_")]
    tests = autograded_cells(nb)
    subs = load_fixtures(assignment)
    through = graded_through(assignment)
    assert set(through) <= set(functions), f"GRADED_THROUGH names unknown functions {set(through) - set(functions)}"
    for fn in functions:
        own = {t for t in tests if t.startswith(f"test_{fn}_") or t == f"test_{fn}"} | through.get(fn, set())
        assert own, f"{fn} has no test cell named test_{fn}[_...]"
        assert own <= set(tests), f"{fn}: GRADED_THROUGH names unknown cells {own - set(tests)}"
        assert any(s.fails & own for s in subs if not s.crashes_kernel), \
            f"no buggy fixture submission breaks {fn}"
    for sub in subs:
        assert sub.fails <= set(tests), f"{sub.name} names unknown cells {set(sub.fails) - set(tests)}"
        if sub.crashes_kernel:
            continue
        targets = {c.cell for c in sub.changes}
        if sub.correct:
            assert not sub.fails and sub.why, f"{sub.name}: a correct alternative loses nothing and says why it is right"
            continue
        assert sub.fails, f"{sub.name} must lose some points"
        for cell in sub.fails:
            assert any(cell.startswith(f"test_{t}") or cell in through.get(t, ()) for t in targets), \
                f"{sub.name}: {cell} is not a test of the changed function(s) {targets}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade every fixture submission of every assignment once for the whole module."""
    results = {}
    jobs = int(os.environ.get("WORKBOOK_GRADING_JOBS", "2"))
    for assignment in ASSIGNMENTS:
        if not (FIXTURES / f"{assignment}.py").exists():
            continue
        tmp = tmp_path_factory.mktemp(assignment)
        results[assignment] = grade_submissions(tmp, assignment, all_submissions(assignment), jobs=jobs)
    return results


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_has_no_solutions_and_no_hidden_tests(graded, assignment):
    _, source = source_notebook(assignment)
    release = graded[assignment]["release"]
    text = "\n".join(c.source for c in release.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                   "Mark scheme"):
        assert marker not in text, f"release contains {marker!r}"
    public = "\n".join(c.source for c in release.cells)
    leaked = [ln for ln in solution_lines(source) + hidden_test_lines(source)
              if ln in public and not _also_public_in_source(source, ln)]
    assert not leaked, f"release leaks solution/hidden lines: {leaked[:5]}"
    # every answer cell is a stub, every written answer is blank
    for cell in release.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution") and meta["grade_id"].startswith("answer_"):  # a concept check's answer
            assert cell.source.strip().endswith(f"{meta['grade_id']} = None  # YOUR ANSWER HERE"), meta["grade_id"]
        elif meta.get("solution"):
            stub = "raise NotImplementedError" if cell.cell_type == "code" else "YOUR ANSWER HERE"
            assert stub in cell.source, f"answer cell {meta['grade_id']} is not a stub"
    for cell in release.cells:  # no concept key, explanation or grading call in the release
        assert "grade_answer(" not in cell.source.replace("check_answer_format, grade_answer", ""), cell.source[:200]


def _occurs_outside(source_nb, line: str, begins: tuple, ends: tuple) -> bool:
    """Whether ``line`` occurs in the source notebook outside every begin/end region given."""
    for cell in source_nb.cells:
        inside = False
        for ln in cell.source.splitlines():
            s = ln.strip()
            if s in begins:
                inside = True
            elif s in ends:
                inside = False
            elif not inside and s == line:
                return True
    return False


def _also_public_in_source(source_nb, line: str) -> bool:
    """A solution/hidden line that also appears in the public part of the notebook is no leak."""
    return _occurs_outside(source_nb, line, (SOLUTION_BEGIN, HIDDEN_BEGIN), (SOLUTION_END, HIDDEN_END))


def _outside_hidden_tests(source_nb, line: str) -> bool:
    """A hidden-test line that also occurs elsewhere (e.g. in the student's own answer) is no leak."""
    return _occurs_outside(source_nb, line, (HIDDEN_BEGIN,), (HIDDEN_END,))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_scores_full_marks(graded, assignment):
    _, source = source_notebook(assignment)
    expected = autograded_cells(source)
    got = graded[assignment]["scores"]["reference"]
    lost = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    assert not lost, f"reference solution lost points (got, max): {lost}\n{_log(graded, assignment)}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_scores_zero(graded, assignment):
    _, source = source_notebook(assignment)
    got = graded[assignment]["scores"]["blank"]
    earned = {k: got.get(k) for k in autograded_cells(source) if got.get(k)}
    assert not earned, f"the blank release earned points: {earned}"


@pytest.mark.parametrize("assignment,name", CASES)
def test_buggy_submission_loses_exactly_its_points(graded, assignment, name):
    _, source = source_notebook(assignment)
    sub = next(s for s in load_fixtures(assignment) if s.name == name)
    expected = autograded_cells(source)
    got = graded[assignment]["scores"][name]
    if sub.crashes_kernel:
        assert all(got.get(k, 0) == 0 for k in expected), f"{name}: {got}"
        return
    should_fail = {k: got.get(k) for k in sub.fails if got.get(k) != 0}
    should_pass = {k: got.get(k) for k, v in expected.items() if k not in sub.fails and got.get(k) != v}
    assert not should_fail, f"{name} ({sub.why}) kept points on {should_fail}"
    assert not should_pass, f"{name} ({sub.why}) lost points it should keep: {should_pass}"


def _explanations(source) -> set[str]:
    """The lines of the concept checks' explanations, which the feedback shows by design."""
    return set().union(*[explanation_lines(c.source) for c in source.cells if c.cell_type == "code"])


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_shows_results_but_no_hidden_tests(graded, assignment):
    _, source = source_notebook(assignment)
    hidden = [ln for ln in hidden_test_lines(source) if ln not in _explanations(source)]
    assert hidden, "the assignment has no hidden tests"
    root = graded[assignment]["roots"][0]
    course(root, "feedback", assignment)
    pages = sorted((root / "grading" / "feedback").rglob("*.html"))
    assert pages, "no feedback generated"
    for page in pages:
        text = html_text(page)
        assert "HIDDEN TESTS" not in text, page
        leaked = [ln for ln in hidden if ln in text and not _outside_hidden_tests(source, ln)]
        assert not leaked, f"{page.parent.parent.name}: feedback shows hidden lines {leaked[:3]}"
        assert "Score:" in text
    # a failing submission's feedback says what went wrong
    failing = [p for p in pages if p.parent.parent.name not in ("reference", "blank")]
    assert any("Error" in html_text(p) for p in failing)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_concept_feedback_explains_the_wrong_answers(graded, assignment):
    """All-wrong and badly formatted concept answers lose exactly the concept points, and the
    all-wrong submission's feedback names every concept check with its explanation."""
    _, source = source_notebook(assignment)
    subs = {s.name: s for s in concept_submissions(source)}
    if not subs:
        pytest.skip(f"{assignment} has no concept checks yet")
    expected = autograded_cells(source)
    for name, sub in subs.items():
        got = graded[assignment]["scores"][name]
        assert {k for k in expected if got.get(k) == 0} == set(sub.fails), (name, got)
    root = graded[assignment]["roots"][0]
    course(root, "feedback", assignment, "--student", "concepts_all_wrong")
    page = html_text(next((root / "grading" / "feedback" / "concepts_all_wrong").rglob("*.html")))
    infos = [parse_concept_cell(c.source) for c in source.cells if nbgrader_meta(c).get("grade_id", "").startswith("concept_")]
    assert f"Concept checks: 0 of {len(infos)} right" in page
    for info in infos:
        assert f"{info['name']} is not right" in page
        words = "".join(ch for ch in info["explanation"] if ch.isalnum())[:40]
        assert words in "".join(ch for ch in page if ch.isalnum()), f"{info['name']}: explanation not in feedback"


def _log(graded, assignment) -> str:
    return "\n".join(v[-4000:] for v in graded[assignment]["logs"].values())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_summary_agrees_with_the_gradebook(graded, assignment, tmp_path):
    """``course.py summary`` writes per-student/question scores and per-question statistics."""
    import csv

    root = graded[assignment]["roots"][0]
    scores = graded[assignment]["scores"]
    course(root, "summary", assignment, "--out", str(tmp_path))
    _, source = source_notebook(assignment)
    maxima = autograded_cells(source)
    with open(tmp_path / "scores.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    students = {r["student"] for r in rows}
    assert "reference" in students and len(students) >= 2
    for r in rows:  # every row is the gradebook's score
        assert float(r["score"]) == scores[r["student"]][r["question"]], r
    assert {r["question"] for r in rows if r["kind"] == "autograded"} == set(maxima)
    with open(tmp_path / "summary.csv", newline="") as fh:
        summary = {r["question"]: r for r in csv.DictReader(fh)}
    for cell, top in maxima.items():
        got = [scores[s][cell] for s in students]
        row = summary[cell]
        assert float(row["max_score"]) == top
        assert float(row["mean"]) == pytest.approx(sum(got) / len(got), abs=1e-4)
        assert int(row["full"]) == sum(g == top for g in got)
        assert int(row["zero"]) == sum(g == 0 for g in got)
        assert int(row["full"]) + int(row["partial"]) + int(row["zero"]) == len(students)
    written = [q for q, r in summary.items() if r["kind"] == "written"]
    blank = 1 if "blank" in students else 0  # nbgrader scores an untouched answer 0 by itself
    for q in written:  # nobody has graded the written answers: they are not counted as zeros
        assert int(summary[q]["needs_manual_grade"]) == len(students) - blank
        assert int(summary[q]["zero"]) == blank and int(summary[q]["full"]) == 0
        assert summary[q]["mean"] == ("0.0" if blank else "")
    png = (tmp_path / "summary.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
