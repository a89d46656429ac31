"""The exercise pattern (README, "Adding an assignment"), checked on the source notebooks without running them.

A notebook declares that it follows the pattern with ``"workbook": {"exercise_pattern": 2}`` in
its metadata; every assignment is moved to it (an assignment that has not been yet is listed by
``test_pattern_status``).  For each notebook that declares it:

* at least six concept checks (test cells ``concept_<name>``), each with its answer cell
  ``answer_<name>`` before it, a key that is valid in the format the visible check asks for, an
  explanation for the feedback, a question that states how it is graded (all-or-nothing for a
  set of letters, the tolerance of a number), and a visible output that is the same for the key
  and for a wrong answer (while the hidden part accepts the key and rejects the wrong answer);
* at least one graded derivation (a written answer ``derivation_<name>`` with a mark scheme);
* no code line of a graded function's answer in the prose, in any hint but the last hint of a
  cell, or in a string of a visible check (a failure message that prints the answer);
* each graded function's exercise has collapsed hints (``<details>``);
* long plotting cells are collapsed (``source_hidden``), so the page reads like a text.
"""
from __future__ import annotations

import ast
import contextlib
import io
import re
import textwrap

import pytest

from course_utils import CheckFailure
from course_utils.concepts import check_answer_format, grade_answer, normalize_answer
from grading_support import (HIDDEN_BEGIN, HIDDEN_END, REPO, SOLUTION_BEGIN, SOLUTION_END, assignments,
                             bad_format_answer, nbgrader_meta, parse_concept_cell, regions, source_notebook,
                             wrong_answer)


MIN_CONCEPTS = 6
PLOT_LINES = 20  # a plotting cell longer than this is collapsed
# calls that state a convention of the contract rather than a step of the answer
CONVENTIONS = ("check_", "print(", "progress(", "np.random.default_rng(", "torch.Generator(", "make_rng(")


def _pattern(assignment: str) -> int:
    return source_notebook(assignment)[1].metadata.get("workbook", {}).get("exercise_pattern", 1)


ALL = assignments()
V2 = [a for a in ALL if _pattern(a) >= 2]
v2 = pytest.mark.parametrize("assignment", V2 or [pytest.param(None, marks=pytest.mark.skip(
    reason="no assignment declares exercise_pattern 2 yet"))])


def test_pattern_status():
    """Which assignments follow the pattern (informational: the list is printed with -rA)."""
    pending = [a for a in ALL if a not in V2]
    print(f"exercise pattern 2: {V2}; not yet: {pending}")


def _grade_id(cell) -> str:
    return nbgrader_meta(cell).get("grade_id", "")


def _concepts(nb):
    return [c for c in nb.cells if c.cell_type == "code" and _grade_id(c).startswith("concept_")]


def _visible(source: str) -> str:
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == HIDDEN_BEGIN:
            inside = True
        elif line.strip() == HIDDEN_END:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def _hidden(source: str) -> str:
    return "\n".join("\n".join(r) for r in regions(source, HIDDEN_BEGIN, HIDDEN_END))


def _run(code: str, namespace: dict) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, "<check>", "exec"), namespace)
    return buf.getvalue()


@v2
def test_concept_checks_are_well_formed(assignment):
    _, nb = source_notebook(assignment)
    concepts = _concepts(nb)
    assert len(concepts) >= MIN_CONCEPTS, f"{len(concepts)} concept checks, need {MIN_CONCEPTS}"
    ids = [_grade_id(c) for c in nb.cells]
    for cell in concepts:
        cid = _grade_id(cell)
        name = cid[len("concept_"):]
        meta = nbgrader_meta(cell)
        assert meta.get("grade") and meta.get("locked") and float(meta.get("points", 0)) > 0, cid
        assert f"answer_{name}" in ids[:ids.index(cid)], f"{cid}: no answer cell answer_{name} before it"
        answer = nb.cells[ids.index(f"answer_{name}")]
        assert nbgrader_meta(answer).get("solution") and not nbgrader_meta(answer).get("grade"), answer
        solved = "\n".join("\n".join(r) for r in regions(answer.source, SOLUTION_BEGIN, SOLUTION_END))
        assert re.search(rf"^answer_{name}\s*=", solved, re.M), f"answer_{name}: no assignment in its solution"
        info = parse_concept_cell(cell.source)
        assert info and info["name"] == f"answer_{name}", f"{cid}: visible check must be check_answer_format('answer_{name}', ...)"
        assert info["key"] is not None and info["explanation"] and len(info["explanation"]) >= 40, \
            f"{cid}: grade_answer needs a literal key and an explanation of a sentence or more"
        normalize_answer(info["key"], info["kind"], info["options"], info["low"], info["high"])
        question = next(c.source for c in reversed(nb.cells[:ids.index(f"answer_{name}")]) if c.cell_type == "markdown")
        if info["kind"] == "choices":
            assert "all-or-nothing" in question.lower(), f"{cid}: the question must say it is graded all-or-nothing"
        if info["kind"] in ("number", "integer"):
            assert info["tol"] is not None, f"{cid}: a numeric key needs tol"
            if info["tol"] > 0:
                assert f"{info['tol']:g}" in question, f"{cid}: the question must state the tolerance {info['tol']:g}"


@v2
def test_concept_output_is_the_same_for_right_and_wrong(assignment):
    _, nb = source_notebook(assignment)
    for cell in _concepts(nb):
        info = parse_concept_cell(cell.source)
        name = info["name"]
        visible, hidden = _visible(cell.source), _hidden(cell.source)
        base = {"check_answer_format": check_answer_format, "grade_answer": grade_answer}
        right = _run(visible, {**base, name: info["key"]})
        bad = wrong_answer(info)
        assert _run(visible, {**base, name: bad}) == right, f"{name}: the visible check tells right from wrong"
        _run(hidden, {**base, name: info["key"]})
        with pytest.raises(CheckFailure):
            _run(hidden, {**base, name: bad})
        with pytest.raises(CheckFailure):
            _run(visible, {**base, name: bad_format_answer(info)})


@v2
def test_graded_derivation(assignment):
    _, nb = source_notebook(assignment)
    derivations = [c for c in nb.cells if _grade_id(c).startswith("derivation_")]
    assert derivations, "no graded derivation (a written answer derivation_<name>)"
    for cell in derivations:
        meta = nbgrader_meta(cell)
        assert cell.cell_type == "markdown" and meta.get("solution") and meta.get("grade") \
            and float(meta.get("points", 0)) > 0, _grade_id(cell)
        assert "Mark scheme" in cell.source, f"{_grade_id(cell)} has no mark scheme"


_DETAILS = re.compile(r"<details>.*?</details>", re.S)


def _without_last_hint(markdown: str) -> str:
    blocks = list(_DETAILS.finditer(markdown))
    if not blocks:
        return markdown
    last = blocks[-1]
    return markdown[:last.start()] + markdown[last.end():]


def _norm(code: str) -> str:
    return re.sub(r"\s+", "", code)


def _answer_lines(nb) -> dict[str, list[str]]:
    """grade id -> the distinctive code of each graded function's solution: its lines, and the
    operations and calls inside them (so that ``dout @ w.T`` in a hint is found inside
    ``dx = np.reshape(dout @ w.T, x.shape)``)."""
    out = {}
    for cell in nb.cells:
        gid = _grade_id(cell)
        if cell.cell_type != "code" or not nbgrader_meta(cell).get("solution") or gid.startswith("answer_"):
            continue
        pieces = set()
        for region in regions(cell.source, SOLUTION_BEGIN, SOLUTION_END):
            for line in region:
                s = line.strip().split("  #")[0].strip()
                if (len(_norm(s)) < 12 or s.startswith(("#", "return ", "def ", "class ", '"""', "'''", "raise "))
                        or re.fullmatch(r"[\w\s,()]+=\s*cache", s) or re.fullmatch(r"cache\s*=\s*\(?[\w\s,]+\)?", s)):
                    continue
                pieces.add(s)
            try:
                tree = ast.parse(textwrap.dedent("\n".join(region)))
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.BinOp) or (isinstance(node, ast.Call) and (node.args or node.keywords)):
                    text = ast.unparse(node)
                    if len(_norm(text)) >= 10 and not text.startswith(CONVENTIONS):
                        pieces.add(text)
        out[gid] = sorted(pieces)
    return out


def _strings(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


@v2
def test_no_answer_code_outside_the_last_hint(assignment):
    _, nb = source_notebook(assignment)
    answers = _answer_lines(nb)
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and not nbgrader_meta(cell).get("solution"):
            texts = [_without_last_hint(cell.source)]
        elif cell.cell_type == "code" and nbgrader_meta(cell).get("grade") and not nbgrader_meta(cell).get("solution"):
            texts = _strings(_visible(cell.source))  # the messages of the visible checks
        else:
            continue
        flat = _norm(" ".join(texts)).replace("`", "")
        bare = flat.replace("(", "").replace(")", "")
        for fn, lines in answers.items():
            found += [(fn, _grade_id(cell) or cell.get("id"), ln) for ln in lines
                      if _norm(ln) in flat or _norm(ln).replace("(", "").replace(")", "") in bare]
    assert not found, "answer code outside the last hint (function, cell, line):\n" + \
        "\n".join(map(str, found[:20]))


@v2
def test_every_graded_function_has_hints(assignment):
    _, nb = source_notebook(assignment)
    missing, hints = [], 0
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "markdown":
            hints += len(_DETAILS.findall(cell.source))
        elif meta.get("solution") and not _grade_id(cell).startswith("answer_"):
            if hints == 0:
                missing.append(_grade_id(cell))
            hints = 0
    assert not missing, f"graded functions without a collapsed hint (<details>) before them: {missing}"


@v2
def test_long_plotting_cells_are_collapsed(assignment):
    _, nb = source_notebook(assignment)
    open_cells = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or meta.get("solution") or meta.get("grade"):
            continue
        plots = re.search(r"\bplt\.|\bax\w*\.|\bfig\w*\.|\.plot\(|\.imshow\(", cell.source)
        if plots and len(cell.source.splitlines()) > PLOT_LINES \
                and not cell.metadata.get("jupyter", {}).get("source_hidden"):
            open_cells.append(_grade_id(cell) or cell.get("id"))
    assert not open_cells, f"plotting cells longer than {PLOT_LINES} lines shown in full: {open_cells}"


# ---------------------------------------------------------------- the question sheet's coverage table
COVERAGE = REPO / "notebooks" / "QUESTION_SHEET_COVERAGE.md"
SHEET_QUESTIONS = 285


def _coverage_rows():
    rows = {}
    for line in COVERAGE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].isdigit():
            n = int(cells[0])
            assert n not in rows, f"question {n} listed twice"
            rows[n] = cells
    return rows


def test_coverage_table_maps_every_question():
    """Every question of the sheet is covered by a named cell of an assignment, or is out of scope
    (or waits for a planned assignment) with the reason given."""
    rows = _coverage_rows()
    assert sorted(rows) == list(range(1, SHEET_QUESTIONS + 1)), "the table must list questions 1..285 once each"
    folders = sorted(p.name for p in (REPO / "notebooks").iterdir() if p.is_dir())  # all, whatever is selected
    ids = {a: {_grade_id(c) for c in source_notebook(a)[1].cells} for a in folders}
    bad = []
    for n, (_, _, question, covered, note) in rows.items():
        assert question, f"question {n} has no text"
        if covered.startswith(("out of scope", "planned")):
            if not note:
                bad.append((n, "no reason given"))
            continue
        for ref in [r.strip().strip("`") for r in covered.split(",") if r.strip()]:
            assignment, _, cell = ref.partition(":")
            if assignment not in ids:
                bad.append((n, f"unknown assignment in {ref!r}"))
            elif cell not in ids[assignment]:
                bad.append((n, f"no cell {cell!r} in {assignment}"))
    assert not bad, f"coverage rows that do not hold: {bad[:20]}"


def test_coverage_table_is_current():
    """A row waits (``planned: <assignment>``) only for an assignment that does not exist yet, and the
    summary table counts the rows as they are (by the first assignment a row names)."""
    rows = _coverage_rows()
    folders = {p.name for p in (REPO / "notebooks").iterdir() if p.is_dir()}
    stale = [n for n, cells in rows.items()
             if cells[3].startswith("planned") and cells[3].partition(":")[2].strip() in folders]
    assert not stale, f"rows still planned for an assignment that exists: {stale}"
    counted = {}
    for cells in rows.values():
        covered = cells[3]
        if covered.startswith("out of scope"):
            key = "out of scope"
        elif covered.startswith("planned"):
            key = "planned " + covered.partition(":")[2].strip()
        else:
            key = covered.split(",")[0].strip().strip("`").partition(":")[0]
        counted[key] = counted.get(key, 0) + 1
    summary = {}
    for line in COVERAGE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[1].isdigit():
            summary[cells[0]] = int(cells[1])
    assert summary == counted, f"summary table {summary} does not match the rows {counted}"
