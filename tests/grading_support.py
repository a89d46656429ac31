"""Build student submissions from a source notebook and grade them with the real nbgrader.

A *fixture submission* is the reference solution with one deliberate change:
``Mutation(cell, old, new)`` replaces text inside one answer cell (the way a
student's plausible mistake differs from the right answer), ``Replace(cell,
source)`` swaps the whole cell, ``Delete(cell)`` removes a cell.  Each
``Insert(after, source)`` adds a cell of the student's own.  Each
``Submission`` states which grade cells must score zero (``fails``); every
other autograded cell must keep full marks.  A submission marked ``correct``
is a legitimate alternative to the reference (another formulation, another
order of operations) and must keep every point.  The per-assignment lists live in
``tests/fixtures/<assignment>.py`` and are the template for new assignments.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "grading"))
from workbook_concepts import explanation_lines, parse_concept_cell  # noqa: E402  (the grader's own reader)
COURSE_CLI = REPO / "grading" / "course.py"
SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


# ---------------------------------------------------------------- notebook access
def assignments() -> list[str]:
    """The assignment folders under notebooks/, or only those named in ``WORKBOOK_ASSIGNMENTS``.

    ``WORKBOOK_ASSIGNMENTS=02_convolution,03_batchnorm pytest ...`` restricts the notebook and
    grading tests to those assignments while one is being written.
    """
    found = sorted(p.name for p in (REPO / "notebooks").iterdir() if p.is_dir())
    wanted = [a.strip() for a in os.environ.get("WORKBOOK_ASSIGNMENTS", "").split(",") if a.strip()]
    unknown = set(wanted) - set(found)
    if unknown:
        raise ValueError(f"WORKBOOK_ASSIGNMENTS names unknown assignments {sorted(unknown)}; have {found}")
    return [a for a in found if a in wanted] if wanted else found


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def source_notebook(assignment: str) -> tuple[Path, nbformat.NotebookNode]:
    paths = sorted((REPO / "notebooks" / assignment).glob("*.ipynb"))
    assert len(paths) == 1, f"expected one notebook in notebooks/{assignment}, found {paths}"
    return paths[0], nbformat.read(paths[0], as_version=4)


def autograded_cells(nb) -> dict[str, float]:
    """grade_id -> points of the autograded (code test) cells."""
    return {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0))
            for c in nb.cells
            if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")
            and c.cell_type == "code"}


def regions(source: str, begin: str, end: str) -> list[list[str]]:
    """The lines strictly inside each begin/end region of a cell."""
    out, current = [], None
    for line in source.splitlines():
        if line.strip() == begin:
            current = []
        elif line.strip() == end and current is not None:
            out.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return out


def strip_delimiters(source: str) -> str:
    """An answer cell as a student who solved it would leave it: no solution markers."""
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END))


# ---------------------------------------------------------------- fixture submissions
@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` by ``new`` in answer cell ``cell`` (``old`` must occur)."""
    cell: str
    old: str
    new: str
    count: int = 1  # how many occurrences to replace (0: all)


@dataclass(frozen=True)
class Replace:
    """Replace the whole source of cell ``cell``."""
    cell: str
    source: str


@dataclass(frozen=True)
class Delete:
    """Delete cell ``cell`` from the submission."""
    cell: str


@dataclass(frozen=True)
class Insert:
    """Insert a new code cell (no nbgrader metadata, as a student would add it) after cell ``after``;
    ``metadata``: the cell's metadata, for a student who edits it."""
    after: str
    source: str
    metadata: dict | None = None


@dataclass(frozen=True)
class Tag:
    """Set the tags of cell ``cell`` (a student can edit any cell's metadata)."""
    cell: str
    tags: tuple


@dataclass(frozen=True)
class Submission:
    name: str
    changes: tuple = ()
    fails: frozenset = field(default_factory=frozenset)
    why: str = ""
    blank: bool = False          # the untouched release
    crashes_kernel: bool = False  # nbgrader abandons the submission: every cell 0
    correct: bool = False        # a legitimate alternative: loses nothing (``fails`` empty)


def build_submission(release_nb, source_nb, sub: Submission):
    """The submitted notebook for ``sub``: the release with the reference answers filled in, then ``sub.changes``."""
    nb = nbformat.from_dict(release_nb)  # deep copy
    if sub.blank:
        return nb
    answers = {nbgrader_meta(c)["grade_id"]: c.source for c in source_nb.cells
               if nbgrader_meta(c).get("solution")}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            cell.source = strip_delimiters(answers[meta["grade_id"]])
    by_id = {nbgrader_meta(c).get("grade_id"): c for c in nb.cells if nbgrader_meta(c).get("grade_id")}
    for change in sub.changes:
        target = change.after if isinstance(change, Insert) else change.cell
        if target not in by_id:
            raise KeyError(f"fixture {sub.name}: no cell {target!r} in the notebook")
        cell = by_id[target]
        if isinstance(change, Mutation):
            if change.old not in cell.source:
                raise ValueError(f"fixture {sub.name}: {change.old!r} not found in cell {change.cell!r}; "
                                 "update the fixture to the current reference solution")
            cell.source = cell.source.replace(change.old, change.new, change.count or -1)
        elif isinstance(change, Replace):
            cell.source = change.source
        elif isinstance(change, Delete):
            nb.cells.remove(cell)
        elif isinstance(change, Tag):
            cell.metadata["tags"] = list(change.tags)
        elif isinstance(change, Insert):
            nb.cells.insert(nb.cells.index(cell) + 1,
                            nbformat.v4.new_code_cell(change.source, metadata=dict(change.metadata or {})))
        else:
            raise TypeError(change)
    return nb


# ---------------------------------------------------------------- the real pipeline
def course_env(root: Path, cell_timeout: int) -> dict:
    env = dict(os.environ)
    env["WORKBOOK_COURSE_ROOT"] = str(root)
    env["WORKBOOK_CELL_TIMEOUT"] = str(cell_timeout)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["COURSE_UTILS_NO_PROGRESS"] = "1"
    env["MPLBACKEND"] = "Agg"
    env.pop("WORKBOOK_DB_URL", None)
    return env


def course(root: Path, *args: str, cell_timeout: int = 60, check: bool = True,
           env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``grading/course.py ARGS`` against the course rooted at ``root`` (``env``: extra variables)."""
    proc = subprocess.run([sys.executable, str(COURSE_CLI), *args], env={**course_env(root, cell_timeout), **(env or {})},
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"course.py {' '.join(args)} exited {proc.returncode}\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def new_course_root(base: Path, assignment: str) -> Path:
    """A course root holding a copy of one source assignment."""
    root = base
    shutil.copytree(REPO / "notebooks" / assignment, root / "notebooks" / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root


def grade_submissions(tmp: Path, assignment: str, submissions: list[Submission], jobs: int = 2,
                      cell_timeout: int = 60) -> dict:
    """Release ``assignment``, submit every fixture and autograde them with ``course.py autograde --jobs``.

    Returns ``{"scores": {name: {cell: score}}, "release": notebook, "roots": [root], "logs": {...}}``.
    """
    import json

    _, source_nb = source_notebook(assignment)
    root = new_course_root(tmp / "course", assignment)
    course(root, "release", assignment, cell_timeout=cell_timeout)
    release_path = next((root / "grading" / "release" / assignment).glob("*.ipynb"))
    release_nb = nbformat.read(release_path, as_version=4)
    for sub in submissions:
        nb = build_submission(release_nb, source_nb, sub)
        path = tmp / "build" / sub.name / release_path.name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        course(root, "submit", sub.name, str(path), "--assignment", assignment)
    proc = course(root, "autograde", assignment, "--jobs", str(max(1, jobs)), cell_timeout=cell_timeout,
                  check=False)
    table = course(root, "scores", assignment, "--json").stdout
    out = {"scores": {}, "roots": [root], "logs": {str(root): proc.stdout + proc.stderr}, "release": release_nb}
    for student, notebooks in json.loads(table).items():
        (cells,) = notebooks.values()
        out["scores"][student] = {k: v["score"] for k, v in cells.items()}
    return out


def hidden_test_lines(source_nb, min_len: int = 12) -> list[str]:
    """Distinctive lines of hidden test code (long enough not to appear by chance)."""
    lines = []
    for cell in source_nb.cells:
        for region in regions(cell.source, HIDDEN_BEGIN, HIDDEN_END):
            lines += [ln.strip() for ln in region if len(ln.strip()) >= min_len
                      and not ln.strip().startswith("#")]
    return lines


def solution_lines(source_nb, min_len: int = 12) -> list[str]:
    """Distinctive lines of solution code."""
    lines = []
    for cell in source_nb.cells:
        if not nbgrader_meta(cell).get("solution"):
            continue
        for region in regions(cell.source, SOLUTION_BEGIN, SOLUTION_END):
            lines += [ln.strip() for ln in region if len(ln.strip()) >= min_len
                      and not ln.strip().startswith("#")]
    return lines


def html_text(path: Path) -> str:
    import html
    raw = path.read_text(encoding="utf-8")
    body = re.sub(r"<style.*?</style>|<script.*?</script>", "", raw, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


# ---------------------------------------------------------------- concept checks
def wrong_answer(info: dict):
    """A valid answer that is not the key (``info``: ``workbook_concepts.parse_concept_cell``)."""
    kind, key, options = info["kind"], info["key"], info.get("options") or ""
    if kind == "choice":
        return next(o for o in options if o != key.strip().upper())
    if kind == "choices":
        return set(frozenset(key) ^ {options[0]})  # one option toggled
    low, high = info.get("low"), info.get("high")
    step = max(1.0, 10 * float(info.get("tol") or 0), abs(float(key)) * 0.5)
    for candidate in (key + step, key - step, key + step / 4, key - step / 4, low, high):
        if candidate is None or abs(candidate - key) <= float(info.get("tol") or 0):
            continue
        if (low is None or candidate >= low) and (high is None or candidate <= high):
            return int(round(candidate)) if kind == "integer" else float(candidate)
    raise ValueError(f"no wrong answer in range for {info['name']}")


def bad_format_answer(info: dict):
    """An answer in the wrong format for the check (a number for letters, text for a number)."""
    return 7.5 if info["kind"] in ("choice", "choices") else "forty-two"


def concept_submissions(source_nb) -> list:
    """Two generic fixtures for a notebook with concept checks: every answer wrong (valid format),
    and every answer in the wrong format.  Each loses exactly the concept checks' points."""
    infos = [parse_concept_cell(c.source) for c in source_nb.cells
             if c.cell_type == "code" and nbgrader_meta(c).get("grade_id", "").startswith("concept_")]
    if not infos:
        return []
    cells = frozenset("concept_" + i["name"][len("answer_"):] for i in infos)
    wrong = tuple(Replace(i["name"], f"{i['name']} = {wrong_answer(i)!r}") for i in infos)
    bad = tuple(Replace(i["name"], f"{i['name']} = {bad_format_answer(i)!r}") for i in infos)
    return [Submission("concepts_all_wrong", wrong, cells, "every concept answer valid but wrong"),
            Submission("concepts_bad_format", bad, cells, "every concept answer in the wrong format")]
