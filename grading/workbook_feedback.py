"""Feedback preprocessor: built only from parts the student's code could not write.

nbgrader's feedback HTML is rendered from the autograded notebook: the notebook as the grading
kernel left it, with the hidden tests put back.  Anything the kernel produced while the tests ran
can hold what the student must not see: a graded function can print the hidden inputs it is
called with, a cell can print ``In`` (the source of every cell run so far, hidden tests
included), an exception message can carry any text the student's code chose.  So
``TrustedFeedback`` rebuilds every cell from trusted parts:

* **text and code**: the cell's source from the graded notebook (the course's cells as restored
  from the gradebook, the student's cells as submitted), with every
  ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region replaced by a one-line marker;
* **outputs of the student's cells and the course's demonstrations**: the outputs of the same
  cell in the notebook the student *submitted* (the student's own work; nothing of the graded
  run), and only when the source is the same; otherwise none;
* **test cells**: no output of the graded run except the verdict.  A failing test cell shows one
  message written here, by the grader, from a fixed vocabulary: whether the failure was in a
  hidden test or in a visible check (then which line of the visible code, which the student has
  anyway), and the exception's type when it is one of the ordinary ones.  The score next to it
  comes from the gradebook.

* **concept checks** (test cells ``concept_<name>``, see ``workbook_concepts.py``): a right answer
  says so; a wrong one says so and shows the explanation written next to the key in the course's
  own source (the key's code is not shown); a missing or badly formatted answer is named with the
  format asked for.  A table at the top lists every concept check and whether it was right.

A failing visible check's full diagnosis is one run of that cell away in the student's own
notebook, where the check prints it; the feedback says so instead of copying the graded run's text.
"""
import copy
import os
import re

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

from course_utils.concepts import describe_format
from workbook_concepts import is_concept_cell, parse_concept_cell

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_FRAME = re.compile(r"(?:Cell In\s*\[\d*\]|<ipython-input-[^>]*>|Input In \[\d*\]),?\s*(?:line|in <cell line:)\s*(\d+)")
# exception names the feedback may repeat (the kernel reports the name; only these are shown)
_KNOWN_ERRORS = {
    "AssertionError", "NotImplementedError", "ValueError", "TypeError", "IndexError", "KeyError",
    "AttributeError", "NameError", "RuntimeError", "ZeroDivisionError", "FloatingPointError",
    "OverflowError", "MemoryError", "RecursionError", "KeyboardInterrupt", "LinAlgError",
    "UnboundLocalError", "ImportError", "ModuleNotFoundError", "SyntaxError", "IndentationError",
    "TimeoutError", "StopIteration", "SystemExit",
}


def _hidden_line_ranges(source, begin, end):
    """1-based (first, last) line numbers of each hidden region, delimiters included."""
    ranges, start = [], None
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == begin and start is None:
            start = number
        elif stripped == end and start is not None:
            ranges.append((start, number))
            start = None
    if start is not None:  # unterminated region: hide to the end of the cell
        ranges.append((start, len(source.splitlines())))
    return ranges


def _failing_cell_line(traceback):
    """Line number, within the cell, of the outermost frame of a traceback."""
    for entry in traceback:
        match = _CELL_FRAME.search(_ANSI.sub("", str(entry)))
        if match:
            return int(match.group(1))
    return None


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def verdict(source: str, error: dict, ranges) -> str:
    """The grader's message for a failing test cell (fixed vocabulary, public text only)."""
    name = str(error.get("ename", ""))
    if name == "CellTimeoutError":
        return ("This cell did not finish within the grader's time limit and was stopped (an endless "
                "or very slow loop?); the cells after it were still graded.")
    kind = f" ({name})" if name in _KNOWN_ERRORS else ""
    line = _failing_cell_line(error.get("traceback", []) or [])
    lines = source.splitlines()
    if line is not None and any(a <= line <= b for a, b in ranges):
        return f"A hidden test failed{kind}. Its code and data are not shown."
    if line is not None and 0 < line <= len(lines) and lines[line - 1].strip():
        code = lines[line - 1].strip()
        code = code if len(code) <= 160 else code[:157] + "..."
        return (f"The check on line {line} failed{kind}: {code}  -- run this cell in your "
                "notebook to see its full message.")
    if ranges:
        return f"A test in this cell failed{kind}."
    return f"This cell failed{kind} -- run it in your notebook to see its message."


def _concept_summary(results) -> str:
    right = sum(1 for _, verdict_ in results if verdict_ == "right")
    rows = "\n".join(f"| `{name}` | {verdict_} |" for name, verdict_ in results)
    return (f"**Concept checks: {right} of {len(results)} right.** A wrong answer's explanation is shown "
            f"under its check below.\n\n| concept check | your answer |\n|---|---|\n{rows}")


class TrustedFeedback(Preprocessor):
    """Rebuild each cell of the feedback from trusted parts (see the module docstring)."""

    enabled = Bool(True).tag(config=True)
    submitted_directory = Unicode("", help="the folder holding <student>/<assignment>/<notebook>.ipynb").tag(config=True)
    begin_test_delimeter = Unicode("### BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("### END HIDDEN TESTS").tag(config=True)
    marker = Unicode("# (hidden tests: their code is not shown in feedback)").tag(config=True)

    def _submitted(self, resources):
        info = resources.get("nbgrader", {})
        path = os.path.join(self.submitted_directory, info.get("student", ""), info.get("assignment", ""),
                            f"{info.get('notebook', '')}.ipynb")
        if not self.submitted_directory or not os.path.isfile(path) or os.path.islink(path):
            return []
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:
            return []
        return [c for c in nb.cells if c.get("cell_type") == "code"]

    def preprocess(self, nb, resources):
        from workbook_integrity import LimitOutputSize

        concept_results = []

        submitted = self._submitted(resources)
        used: set[int] = set()
        limit = LimitOutputSize(parent=self)

        def outputs_as_submitted(cell):
            grade_id, cell_id = _meta(cell).get("grade_id"), cell.get("id")
            candidates = ([i for i, c in enumerate(submitted) if grade_id and _meta(c).get("grade_id") == grade_id]
                          + [i for i, c in enumerate(submitted) if cell_id and c.get("id") == cell_id]
                          + list(range(len(submitted))))
            for i in candidates:
                if i not in used and submitted[i].source == cell.source:
                    used.add(i)
                    return submitted[i]
            return None

        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            meta = _meta(cell)
            if meta.get("grade") and not meta.get("solution"):
                if is_concept_cell(cell):
                    concept_results.append(self._concept_cell(cell))
                else:
                    self._test_cell(cell)
                continue
            match = outputs_as_submitted(cell)
            cell.outputs = copy.deepcopy(match.get("outputs", [])) if match is not None else []
            cell.execution_count = match.get("execution_count") if match is not None else None
            limit.preprocess_cell(cell, resources, index)
        if concept_results:
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(_concept_summary(concept_results)))
        return nb, resources

    def _concept_cell(self, cell):
        """A concept check's verdict: right, wrong (with the explanation), or not in the format asked for."""
        info = parse_concept_cell(cell.source) or {}
        name = info.get("name") if isinstance(info.get("name"), str) else _meta(cell).get("grade_id", "")
        ranges = _hidden_line_ranges(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        self._test_cell(cell)  # the code without the hidden part, and the generic verdict
        if not errors:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"✓ {name}: right.\n")]
            return name, "right"
        line = _failing_cell_line(errors[0].get("traceback", []) or [])
        in_hidden = line is not None and any(a <= line <= b for a, b in ranges)
        if in_hidden:
            explanation = info.get("explanation") or "(no explanation was written for this check)"
            message = f"{name} is not right. The explanation:"
            cell.outputs = [
                nbformat.v4.new_output("error", ename="WrongAnswer", evalue=message,
                                       traceback=[f"WrongAnswer: {message}"]),
                nbformat.v4.new_output("display_data", data={"text/markdown": explanation,
                                                             "text/plain": explanation}),
            ]
            return name, "wrong"
        try:
            fmt = describe_format(info.get("kind"), info.get("options"), info.get("low"), info.get("high"))
        except (TypeError, ValueError):
            fmt = "the format the question asks for"
        message = (f"{name} was not graded: the answer is missing or not {fmt}. Run this cell in your "
                   "notebook to see what to change.")
        cell.outputs = [nbformat.v4.new_output("error", ename="AnswerFormat", evalue=message,
                                               traceback=[f"AnswerFormat: {message}"])]
        return name, "missing or not in the format asked for"

    def _test_cell(self, cell):
        ranges = _hidden_line_ranges(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        cell.outputs = []
        if errors:
            message = verdict(cell.source, errors[0], ranges)
            name = str(errors[0].get("ename", ""))
            ename = name if name in _KNOWN_ERRORS else "Error"
            cell.outputs = [nbformat.v4.new_output("error", ename=ename, evalue=message,
                                                   traceback=[f"{ename}: {message}"])]
        if ranges:
            kept, inside = [], False
            for line in cell.source.splitlines():
                stripped = line.strip()
                if stripped == self.begin_test_delimeter and not inside:
                    inside = True
                    indent = line[: len(line) - len(line.lstrip())]
                    kept.append(indent + self.marker)
                elif stripped == self.end_test_delimeter and inside:
                    inside = False
                elif not inside:
                    kept.append(line)
            cell.source = "\n".join(kept)

