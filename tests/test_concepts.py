"""Concept checks: the format helper, and a toy course graded through the real nbgrader.

* ``check_answer_format`` accepts each documented format, rejects the rest with a message saying
  what to change, and prints exactly the same line for a right and a wrong answer;
* ``grade_answer`` compares with the key (letters, sets all-or-nothing, numbers within ``tol``)
  and never puts the key in its message;
* on a toy course: an answer cell that rebinds ``grade_answer`` or answers with an object equal to
  everything loses the point; the release holds neither a key nor anything computed from one (the stubs are
  ``answer_<name> = None``, the checksums are those of the visible cells), an unanswered notebook
  runs top to bottom, the reference scores full marks, all-wrong and badly formatted answers lose
  exactly the concept points, and the feedback names the wrong checks with their explanations
  and the badly formatted ones with the format asked for, never the hidden code.
"""
from __future__ import annotations

import contextlib
import io
import json

import nbformat
import pytest

from course_utils import CheckFailure
from course_utils.concepts import check_answer_format, describe_format, grade_answer, normalize_answer
from grading_support import (Replace, Submission, build_submission, course, explanation_lines, html_text,
                             parse_concept_cell)



def _out(fn, *args, **kwargs) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn(*args, **kwargs)
    return buf.getvalue()


# ---------------------------------------------------------------- the helper
@pytest.mark.parametrize("kind,options,low,high,right,wrong", [
    ("choice", "ABCD", None, None, "C", "a"),
    ("choices", "ABCDE", None, None, {"A", "D"}, {"A"}),
    ("choices", "ABCDE", None, None, set(), {"E"}),
    ("number", None, 0, 10, 2.302585, 2.0),
    ("integer", None, 0, None, 1792, 1728),
])
def test_format_output_is_the_same_for_right_and_wrong(kind, options, low, high, right, wrong):
    a = _out(check_answer_format, "answer_q", right, kind=kind, options=options, low=low, high=high)
    b = _out(check_answer_format, "answer_q", wrong, kind=kind, options=options, low=low, high=high)
    assert a == b and a.startswith("✓ answer_q")


@pytest.mark.parametrize("kind,options,value,expected", [
    ("choice", "ABCD", " b ", "B"),
    ("choices", "ABCD", ["a", "C"], frozenset("AC")),
    ("choices", "ABCD", "A, C", frozenset("AC")),
    ("choices", "ABCD", (), frozenset()),
    ("number", None, 3, 3.0),
    ("integer", None, 4.0, 4.0),
])
def test_accepted_formats(kind, options, value, expected):
    assert normalize_answer(value, kind, options) == expected


@pytest.mark.parametrize("kind,options,low,high,value,says", [
    ("choice", "ABCD", None, None, None, "not answered yet"),
    ("choice", "ABCD", None, None, "E", "one letter from A, B, C, D"),
    ("choice", "ABCD", None, None, "AB", "one letter"),
    ("choice", "ABCD", None, None, 2, "one letter"),
    ("choices", "ABC", None, None, {"A", "Z"}, "'Z' is not one of the letters"),
    ("choices", "ABC", None, None, 1.0, "a set of letters"),
    ("number", None, 0, 1, 1.5, "out of that range"),
    ("number", None, None, None, float("nan"), "a number"),
    ("number", None, None, None, True, "a bool"),
    ("number", None, None, None, "2.3", "a number"),
    ("integer", None, None, None, 2.5, "a whole number"),
])
def test_rejected_formats_say_what_to_change(kind, options, low, high, value, says):
    with pytest.raises(CheckFailure) as info:
        check_answer_format("answer_q", value, kind=kind, options=options, low=low, high=high)
    assert says in str(info.value) and str(info.value).startswith("answer_q")


def test_objects_that_pretend_are_rejected():
    class Liar(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    with pytest.raises(CheckFailure):
        check_answer_format("answer_q", Liar("A"), kind="choice", options="ABCD")
    with pytest.raises(CheckFailure):
        grade_answer("answer_q", Liar("A"), "B", explanation="x")


def test_author_mistakes_are_not_student_failures():
    with pytest.raises(ValueError):
        check_answer_format("answer_q", "A", kind="letter", options="ABCD")
    with pytest.raises(ValueError):
        check_answer_format("answer_q", "A", kind="choice", options="abcd")
    with pytest.raises(ValueError):
        grade_answer("answer_q", 1.0, 1.0, explanation="x")  # a number needs its tolerance
    with pytest.raises(ValueError):
        grade_answer("answer_q", "A", "A", explanation=" ")


def test_grade_answer():
    grade_answer("answer_q", " c", "C", explanation="x")
    grade_answer("answer_q", ["D", "a"], {"A", "D"}, explanation="x")
    grade_answer("answer_q", 2.3, 2.302585, tol=0.01, explanation="x")
    for value, key, tol in (("B", "C", None), ({"A"}, {"A", "D"}, None), ({"A", "D", "E"}, {"A", "D"}, None),
                            (2.32, 2.302585, 0.01), (set(), {"A"}, None)):
        with pytest.raises(CheckFailure) as info:
            grade_answer("answer_q", value, key, tol=tol, explanation="x")
        assert str(info.value) == "answer_q is not right."


def test_describe_format():
    assert describe_format("number", low=0, high=5) == "a number between 0 and 5"
    assert "set() for none" in describe_format("choices", "AB")


# ---------------------------------------------------------------- a toy course through nbgrader
def _meta(**kw):
    meta = {"grade": False, "locked": True, "schema_version": 3, "solution": False, "task": False}
    meta.update(kw)
    return {"nbgrader": meta}


CONCEPTS = {
    # name: (format kwargs as source, key as source, tolerance, explanation, wrong, badly formatted)
    "activation": ('kind="choice", options="ABCD"', '"C"', None,
                   "ReLU keeps a derivative of exactly 1 on its active side (**C**).", '"A"', '"E"'),
    "normalised_axes": ('kind="choices", options="ABCDE"', '{"B", "D"}', None,
                        "Layer normalisation averages over the features of one example (B and D).",
                        '{"B"}', "3"),
    "initial_loss": ('kind="number", low=0, high=20', "2.302585", 0.01,
                     "With ten equal scores every class has probability 1/10, so the loss is log 10.",
                     "1.0", '"log 10"'),
}


def toy_concept_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [nbformat.v4.new_markdown_cell("# Toy concept checks", metadata=_meta(grade_id="md_title")),
             nbformat.v4.new_code_cell("import numpy as np\nfrom course_utils import check_answer_format, grade_answer",
                                       metadata=_meta(grade_id="setup"))]
    for name, (fmt, key, tol, explanation, _, _) in CONCEPTS.items():
        tol_arg = f", tol={tol}" if tol is not None else ""
        cells += [
            nbformat.v4.new_markdown_cell(f"Question {name}.", metadata=_meta(grade_id=f"md_{name}")),
            nbformat.v4.new_code_cell(
                f"### BEGIN SOLUTION\nanswer_{name} = {key}\n### END SOLUTION",
                metadata=_meta(grade_id=f"answer_{name}", solution=True, locked=False)),
            nbformat.v4.new_code_cell(
                f'check_answer_format("answer_{name}", answer_{name}, {fmt})\n'
                "### BEGIN HIDDEN TESTS\n"
                f'grade_answer("answer_{name}", answer_{name}, {key}{tol_arg}, explanation="""\n{explanation}\n""")\n'
                "### END HIDDEN TESTS",
                metadata=_meta(grade_id=f"concept_{name}", grade=True, points=1)),
        ]
    cells += [nbformat.v4.new_code_cell(
        "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * np.asarray(x, dtype=float)\n    ### END SOLUTION",
        metadata=_meta(grade_id="double", solution=True, locked=False)),
        nbformat.v4.new_code_cell("assert double(2.0) == 4.0", metadata=_meta(grade_id="test_double", grade=True,
                                                                               points=1))]
    nb.cells = cells
    return nb


TOY_SUBMISSIONS = [
    Submission("reference"),
    Submission("blank", blank=True),
    Submission("all_wrong", tuple(Replace(f"answer_{n}", f"answer_{n} = {v[4]}") for n, v in CONCEPTS.items()),
               frozenset(f"concept_{n}" for n in CONCEPTS)),
    Submission("bad_format", tuple(Replace(f"answer_{n}", f"answer_{n} = {v[5]}") for n, v in CONCEPTS.items()),
               frozenset(f"concept_{n}" for n in CONCEPTS)),
    # the grader's guard puts back the names the course's cells bound, so a no-op grade_answer
    # bound in an answer cell never runs in the check cell
    Submission("rebinds_grade_answer", (Replace("answer_activation", "grade_answer = lambda *a, **k: None\n"
                                                "answer_activation = 'A'"),),
               frozenset({"concept_activation"})),
    # an answer that claims to equal everything is not an answer of the format asked for
    Submission("answer_equal_to_everything", (Replace("answer_activation", "class Every(str):\n"
                                                      "    def __eq__(self, other):\n        return True\n"
                                                      "    __hash__ = str.__hash__\n"
                                                      "answer_activation = Every('A')"),),
               frozenset({"concept_activation"})),
]


@pytest.fixture(scope="module")
def toy_concept_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("conceptcourse")
    src = root / "notebooks" / "00_concepts" / "concepts.ipynb"
    src.parent.mkdir(parents=True)
    nbformat.write(toy_concept_notebook(), src)
    course(root, "release", "00_concepts")
    release_path = root / "grading" / "release" / "00_concepts" / "concepts.ipynb"
    release = nbformat.read(release_path, as_version=4)
    for sub in TOY_SUBMISSIONS:
        path = root / "incoming" / sub.name / "concepts.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(build_submission(release, toy_concept_notebook(), sub), path)
        course(root, "submit", sub.name, str(path), "--assignment", "00_concepts")
    course(root, "autograde", "00_concepts", cell_timeout=30)
    scores = json.loads(course(root, "scores", "00_concepts", "--json").stdout)
    course(root, "feedback", "00_concepts")
    return root, release_path, {s: next(iter(nbs.values())) for s, nbs in scores.items()}


@pytest.mark.grading
def test_release_has_stubs_and_no_key(toy_concept_course):
    from nbgrader.utils import compute_checksum

    _, release_path, _ = toy_concept_course
    text = release_path.read_text()
    release = nbformat.read(release_path, as_version=4)
    for name, (_, key, _, explanation, _, _) in CONCEPTS.items():
        answer = next(c for c in release.cells if c.metadata["nbgrader"]["grade_id"] == f"answer_{name}")
        assert answer.source.strip() == f"answer_{name} = None  # YOUR ANSWER HERE"
        assert explanation not in text and "grade_answer(" not in text.replace("import check_answer_format, grade_answer", "")
    for cell in release.cells:  # every checksum is that of the released (visible) cell, not of the key
        meta = cell.metadata["nbgrader"]
        if "checksum" in meta:
            assert meta["checksum"] == compute_checksum(cell), meta["grade_id"]


@pytest.mark.grading
def test_unanswered_release_runs_top_to_bottom(toy_concept_course):
    from nbclient import NotebookClient

    _, release_path, _ = toy_concept_course
    nb = nbformat.read(release_path, as_version=4)
    nb.cells = [c for c in nb.cells if not c.metadata["nbgrader"]["grade_id"].startswith(("concept_", "test_"))]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()


@pytest.mark.grading
@pytest.mark.parametrize("sub", TOY_SUBMISSIONS, ids=lambda s: s.name)
def test_concept_scores(toy_concept_course, sub):
    _, _, scores = toy_concept_course
    got = {k: v["score"] for k, v in scores[sub.name].items() if v["cell_type"] == "code"}
    cells = [f"concept_{n}" for n in CONCEPTS]
    if sub.blank:
        assert got == {**{c: 0.0 for c in cells}, "test_double": 0.0}
        return
    assert got == {**{c: (0.0 if c in sub.fails else 1.0) for c in cells}, "test_double": 1.0}, got


@pytest.mark.grading
def test_feedback_explains_wrong_answers_only(toy_concept_course):
    root, _, _ = toy_concept_course
    pages = {p.parent.parent.name: html_text(p) for p in (root / "grading" / "feedback").rglob("*.html")}
    explanations = [v[3] for v in CONCEPTS.values()]
    wrong = pages["all_wrong"]
    assert "Concept checks: 0 of 3 right" in wrong
    for name, text in zip(CONCEPTS, explanations):
        assert f"answer_{name} is not right" in wrong
        assert text.replace("**", "") in wrong or text in wrong, name
    assert "Concept checks: 3 of 3 right" in pages["reference"]
    assert not any(t.replace("**", "") in pages["reference"] for t in explanations)
    bad = pages["bad_format"]
    assert "was not graded: the answer is missing or not one letter from A, B, C, D" in bad
    assert "not a number between 0 and 20" in bad
    assert not any(t.replace("**", "") in bad for t in explanations)
    for page in pages.values():  # the key's code never reaches the feedback
        assert "grade_answer(" not in page.replace("import check_answer_format, grade_answer", "")


def test_parse_concept_cell_reads_key_and_explanation():
    cell = toy_concept_notebook().cells[-3]
    info = parse_concept_cell(cell.source)
    assert info["name"] == "answer_initial_loss" and info["key"] == 2.302585 and info["tol"] == 0.01
    assert info["kind"] == "number" and info["low"] == 0 and info["high"] == 20
    assert explanation_lines(cell.source) == {CONCEPTS["initial_loss"][3]}
