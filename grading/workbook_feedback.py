"""Feedback preprocessor: results and messages for the student, never the hidden tests.

nbgrader's feedback HTML is rendered from the autograded notebook, in which the
hidden tests have been put back.  ``HideHiddenTests`` runs before rendering and

* removes every ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region
  from the grade cells, leaving a one-line marker in its place;
* replaces each error traceback in a grade cell by the exception's message
  alone, because a traceback quotes the source lines around the failure;
* when the failure happened *inside* a hidden region, keeps only the first
  line of the message (the summary: which output is wrong and by how much) and
  drops the detail lines, which could show hidden inputs or expected values.

The visible checks' full diagnosis is kept: the student has that code anyway.
"""
import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_FRAME = re.compile(r"(?:Cell In\s*\[\d*\]|<ipython-input-[^>]*>|Input In \[\d*\]),?\s*(?:line|in <cell line:)\s*(\d+)")


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
        match = _CELL_FRAME.search(_ANSI.sub("", entry))
        if match:
            return int(match.group(1))
    return None


class HideHiddenTests(Preprocessor):
    """Strip hidden tests and hidden-test details from grade cells before feedback."""

    enabled = Bool(True).tag(config=True)
    begin_test_delimeter = Unicode("### BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("### END HIDDEN TESTS").tag(config=True)
    marker = Unicode("# (hidden tests: their code is not shown in feedback)").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade", False):
            return cell, resources
        ranges = _hidden_line_ranges(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            line = _failing_cell_line(output.get("traceback", []))
            message = str(output.get("evalue", ""))
            if ranges and (line is None or any(a <= line <= b for a, b in ranges)):
                # Keep the summary line only; say it was hidden when we know it was.
                message = message.strip().splitlines()[0] if message.strip() else ""
                if line is not None:
                    message = f"A hidden test failed. {message}".strip()
            output["evalue"] = message
            output["traceback"] = [f"{output.get('ename', 'Error')}: {message}"]
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
        return cell, resources
