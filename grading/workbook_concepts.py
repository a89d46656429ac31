"""Concept checks on the grading side: student stubs, and reading a check's key and explanation.

A concept check (see ``course_utils/concepts.py``) is an answer cell ``answer_<name>`` and a
locked test cell ``concept_<name>``::

    check_answer_format("answer_<name>", answer_<name>, kind="choice", options="ABCD")
    ### BEGIN HIDDEN TESTS
    grade_answer("answer_<name>", answer_<name>, "C", explanation=\"\"\"...\"\"\")
    ### END HIDDEN TESTS

* ``AnswerStubs`` replaces nbgrader's ``ClearSolutions`` when the student version is generated:
  an answer cell's solution region becomes ``answer_<name> = None  # YOUR ANSWER HERE`` instead
  of ``raise NotImplementedError()``, so an unanswered notebook still runs top to bottom and
  the release holds neither the key nor anything derived from it.
* ``parse_concept_cell`` reads a test cell's source (from the course's own notebook, never from
  what a kernel printed) without running it: the format of the visible check, and the key, the
  tolerance and the explanation of the hidden one.  The feedback shows the explanation of each
  concept check a student got wrong (``workbook_feedback.TrustedFeedback``); the tests use it to
  build right, wrong and badly formatted answers.
"""
from __future__ import annotations

import ast
import textwrap

from nbgrader.preprocessors import ClearSolutions

ANSWER_PREFIX = "answer_"
CONCEPT_PREFIX = "concept_"
STUB = "{name} = None  # YOUR ANSWER HERE"


def _grade_id(cell) -> str:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = meta.get("grade_id", "") if isinstance(meta, dict) else ""
    return grade_id if isinstance(grade_id, str) else ""


def is_answer_cell(cell) -> bool:
    return cell.get("cell_type") == "code" and _grade_id(cell).startswith(ANSWER_PREFIX)


def is_concept_cell(cell) -> bool:
    return cell.get("cell_type") == "code" and _grade_id(cell).startswith(CONCEPT_PREFIX)


class AnswerStubs(ClearSolutions):
    """``ClearSolutions``, with ``answer_<name> = None`` as the stub of concept answer cells."""

    def preprocess_cell(self, cell, resources, cell_index):
        if not is_answer_cell(cell):
            return super().preprocess_cell(cell, resources, cell_index)
        language = resources["language"]
        saved = self.code_stub
        self.code_stub = {**saved, language: STUB.format(name=_grade_id(cell))}
        try:
            return super().preprocess_cell(cell, resources, cell_index)
        finally:
            self.code_stub = saved


def _literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _calls(tree, name):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
            yield node


def _tree(source: str):
    """The whole cell parsed (the hidden-test delimiters are comments); None if it is not Python."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def parse_concept_cell(source: str) -> dict | None:
    """What a concept test cell's source says, read without running it; None if it is not one.

    Returns ``{"name", "kind", "options", "low", "high", "key", "tol", "explanation"}``; ``key``
    is a ``str``, a ``frozenset`` or a number.  Only literals are read (``ast.literal_eval``).
    """
    tree = _tree(source)
    if tree is None:
        return None
    fmt = next(_calls(tree, "check_answer_format"), None)
    grade = next(_calls(tree, "grade_answer"), None)
    if fmt is None:
        return None
    info = {"name": _literal(fmt.args[0]) if fmt.args else None,
            "kind": None, "options": None, "low": None, "high": None,
            "key": None, "tol": None, "explanation": None}
    for kw in fmt.keywords:
        if kw.arg in ("kind", "options", "low", "high"):
            info[kw.arg] = _literal(kw.value)
    if grade is not None:
        if len(grade.args) >= 3:
            key = _literal(grade.args[2])
            info["key"] = frozenset(key) if isinstance(key, (set, frozenset)) else key
        for kw in grade.keywords:
            if kw.arg == "explanation":
                text = _literal(kw.value)
                if isinstance(text, str):
                    info["explanation"] = textwrap.dedent(text).strip()
            elif kw.arg == "tol":
                info["tol"] = _literal(kw.value)
    return info


def explanation_lines(source: str) -> set[str]:
    """The stripped lines of a concept cell's explanation text (shown in feedback by design)."""
    info = parse_concept_cell(source)
    if not info or not info.get("explanation"):
        return set()
    return {ln.strip() for ln in info["explanation"].splitlines()} - {""}
