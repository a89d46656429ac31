"""Integrity measures that run in the grader, outside the student's kernel.

nbgrader preprocessors (wired in ``grading/nbgrader_config.py``):

* :class:`RestoreMissingCells` puts back every course cell a student deleted (tests, locked
  text and code, answer cells as blank stubs) at its place, before nbgrader's ``OverwriteCells``
  restores the content of every locked cell from the gradebook.
* :class:`LockedCellDigests` tells the grading kernel which cells are the course's (SHA-256 of
  their restored source), so its guard can treat every other cell as student code.
* :class:`StderrIsNotFailure` keeps warnings a correct answer prints on standard error from
  costing points: nbgrader zeroes any test cell with stderr output, while the course's checks
  signal failure only by raising.  The text stays visible, relabelled.
* :class:`LimitOutputSize` caps what a cell can add to the graded notebook (megabytes of
  prints, huge images), after nbgrader's own line limit.

And the **audit**: :func:`audit_notebook` reads a submission's own code (answer cells and any
cells the student added) without running it and lists constructs that tamper with grading or
reach outside the notebook: patching library attributes, rebinding the course's helpers or
builtins, dunder and frame access, dynamic code, imports of the interpreter's internals or the
file system, classes that redefine comparison or conversion.  Each cell is audited as the kernel
runs it (IPython's own transform first), so magics and shell escapes are findings themselves and
hide nothing else in their cell; so are reads of the input/output history (``In``, ``_ih``, ...),
interpreter modules reached through another module's attributes (``warnings.sys``), and
file-system methods on any object (``Image.open``, ``Path.read_text``).  Findings do not change scores;
``course.py autograde`` writes them to ``grading/reports/<assignment>/integrity.csv`` for the
instructor to review (``course.py audit`` runs the audit alone).
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import os
import re
from dataclasses import dataclass

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Integer, Unicode

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_course_cell(cell) -> bool:
    """A cell the course owns: locked, or a test (grade without solution)."""
    meta = _meta(cell)
    return bool(meta.get("locked") or (meta.get("grade") and not meta.get("solution")))


def _stub(cell) -> str:
    """An answer cell as released: each solution region replaced by the stub."""
    if cell.cell_type != "code":
        return TEXT_STUB
    out, skipping = [], False
    for line in cell.source.splitlines():
        if line.strip() == BEGIN_SOLUTION:
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + stub_line for stub_line in CODE_STUB.splitlines()]
            skipping = True
        elif line.strip() == END_SOLUTION:
            skipping = False
        elif not skipping:
            out.append(line)
    return "\n".join(out) if BEGIN_SOLUTION in cell.source else CODE_STUB


# ----------------------------------------------------------------------------- preprocessors
class _On(Preprocessor):
    # nbconvert's preprocessors are off unless enabled; these are part of grading, always on.
    enabled = Bool(True).tag(config=True)


def source_notebook_for(source_directory: str, resources: dict):
    """The course's source notebook of the submission being graded, or None when there is none."""
    info = resources.get("nbgrader", {})
    path = os.path.join(source_directory, info.get("assignment", ""), f"{info.get('notebook', '')}.ipynb")
    if not source_directory or not os.path.isfile(path):
        return None
    return nbformat.read(path, as_version=4)


class RestoreMissingCells(_On):
    """Re-insert the course cells missing from a submission, in the source notebook's order."""

    source_directory = Unicode("", help="the folder holding <assignment>/<notebook>.ipynb sources").tag(config=True)

    def preprocess(self, nb, resources):
        source = source_notebook_for(self.source_directory, resources)
        if source is None:
            return nb, resources
        present = {_meta(c).get("grade_id") for c in nb.cells if _meta(c).get("grade_id")}
        order = [c for c in source.cells if _meta(c).get("grade_id")]
        restored = []
        for i, cell in enumerate(order):
            grade_id = _meta(cell)["grade_id"]
            if grade_id in present:
                continue
            new = nbformat.from_dict(cell)  # a copy
            if _meta(cell).get("solution"):
                new.source = _stub(cell)
            if new.cell_type == "code":
                new.outputs, new.execution_count = [], None
            # after the nearest earlier course cell the submission still has (or first)
            position = 0
            for earlier in reversed(order[:i]):
                eid = _meta(earlier)["grade_id"]
                idx = next((k for k, c in enumerate(nb.cells) if _meta(c).get("grade_id") == eid), None)
                if idx is not None:
                    position = idx + 1
                    break
            nb.cells.insert(position, new)
            present.add(grade_id)
            restored.append(grade_id)
        if restored:
            self.log.warning("Restored %d cell(s) missing from the submission: %s", len(restored), ", ".join(restored))
        return nb, resources


def locked_cell_digests(nb) -> list[str]:
    return [hashlib.sha256(c.source.encode("utf-8")).hexdigest()
            for c in nb.cells if c.cell_type == "code" and is_course_cell(c)]


class LockedCellDigests(_On):
    """Pass the digests of the course's code cells to the grading kernel (through its environment)."""

    def preprocess(self, nb, resources):
        os.environ["WORKBOOK_LOCKED_CELLS"] = ",".join(locked_cell_digests(nb))
        return nb, resources


class StderrIsNotFailure(_On):
    """Relabel standard-error text as output, so a warning does not zero a passing test cell."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    out["name"] = "stdout"
                    out["text"] = "[stderr] " + out.get("text", "")
        return cell, resources


class LimitOutputSize(_On):
    """Cap the text and the rich output one cell may leave in the graded notebook."""

    max_text = Integer(100_000, help="characters of stream text kept per cell").tag(config=True)
    max_data = Integer(2_000_000, help="bytes of rich output (images, HTML) kept per cell").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        kept, text_left, data_left = [], self.max_text, self.max_data
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream":
                text = out.get("text", "")
                if text_left <= 0:
                    continue
                if len(text) > text_left:
                    out["text"] = text[:text_left] + f"\n... output truncated by the grader ({len(text):,} characters) ...\n"
                text_left -= len(text)
            elif kind in ("display_data", "execute_result"):
                size = sum(len(str(v)) for v in out.get("data", {}).values())
                if size > data_left:
                    out = nbformat.v4.new_output("stream", name="stdout",
                                                 text=f"... a {size:,}-byte output was removed by the grader ...\n")
                else:
                    data_left -= size
            kept.append(out)
        cell.outputs = kept
        return cell, resources


# ----------------------------------------------------------------------------- the audit
@dataclass(frozen=True)
class Finding:
    cell: str
    line: int
    rule: str
    detail: str


_FORBIDDEN_IMPORTS = {
    "builtins", "sys", "gc", "ctypes", "inspect", "importlib", "IPython", "ipykernel", "jupyter_client",
    "zmq", "os", "pathlib", "shutil", "subprocess", "socket", "threading", "multiprocessing", "signal",
    "resource", "pickle", "marshal", "code", "codeop", "tempfile", "glob", "sqlite3", "nbformat",
    "nbgrader", "traceback", "atexit", "faulthandler", "io", "sysconfig", "site", "urllib", "http",
    "requests", "dill", "cloudpickle", "joblib", "psutil", "asyncio", "concurrent", "trace", "dis",
}
_FORBIDDEN_MODULES = {"course_utils.guard"}
# modules that numerical libraries happen to import and so expose as attributes (``warnings.sys``,
# ``np.os``): reaching one that way is an import of it.  Not the public submodules that numerical
# code uses for real (``scipy.signal``, ``np.linalg``, ``np.testing``, ``torch.random``, ...).
_REACHED_MODULES = {
    "sys", "os", "builtins", "gc", "ctypes", "inspect", "importlib", "subprocess", "shutil", "socket",
    "pathlib", "threading", "multiprocessing", "pickle", "marshal", "IPython", "ipykernel",
    "jupyter_client", "zmq", "nbformat", "nbgrader", "atexit", "faulthandler", "tempfile", "glob",
    "sqlite3", "resource", "posix", "nt", "_os", "_sys", "codeop", "sysconfig", "dill", "cloudpickle",
    "psutil", "_thread", "_posixsubprocess", "_ctypes", "_imp", "zipimport",
}
_DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__", "globals", "locals", "vars", "open",
                  "breakpoint", "setattr", "delattr", "memoryview"}
# file-system methods, whatever object they are called on (``Path(p).read_text()``, ``os.listdir``)
_FILE_METHODS = {"open", "read_text", "read_bytes", "write_text", "write_bytes", "listdir", "scandir",
                 "iterdir", "symlink", "symlink_to", "readlink", "mkfifo"}
_ESCAPE_ATTRS = {
    "__subclasses__", "__globals__", "__builtins__", "__dict__", "__code__", "__closure__", "__mro__",
    "__bases__", "__base__", "__getattribute__", "__setattr__", "__delattr__", "__import__", "__loader__",
    "__spec__", "__self__", "__func__", "__wrapped__", "__defaults__", "__kwdefaults__", "__reduce__",
    "__reduce_ex__", "__traceback__", "__class__", "__module__", "__qualname__",
    "tb_frame", "tb_next", "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "gi_frame",
    "cr_frame", "co_code", "co_consts", "func_globals",
}
_LYING_DUNDERS = {
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__bool__", "__float__",
    "__int__", "__index__", "__complex__", "__array__", "__array_ufunc__", "__array_function__",
    "__array_interface__", "__array_struct__", "__array_priority__", "__torch_function__",
    "__torch_dispatch__", "__getattr__", "__getattribute__", "__instancecheck__", "__subclasscheck__",
    "__abs__", "__round__", "__format__", "__repr__", "__str__", "__del__", "__set_name__",
    "__init_subclass__", "__class_getitem__",
}
_FILE_CALLS = {"load", "loadtxt", "genfromtxt", "fromfile", "memmap", "read_csv", "read_pickle"}
_BUILTIN_NAMES = {n for n in dir(builtins) if not n.startswith("_")}
# IPython's input/output history: ``In`` and ``_ih`` hold the source of every cell run so far,
# the hidden tests included.  Plain ``_`` is the usual throw-away name and is not among them.
_HISTORY_NAMES = {"In", "Out", "_ih", "_oh", "_dh", "_i", "_ii", "_iii", "__", "___"}
_HISTORY_NAME = re.compile(r"_i?\d+")
_HISTORY_ATTRS = {"history_manager", "user_ns", "user_ns_hidden"}
# magics whose argument (line magic) or body (cell magic) is Python that the kernel runs
_PYTHON_MAGICS = {"time", "timeit", "prun", "capture", "debug", "python", "python3"}


def _root_name(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _module_aliases(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name.split(".")[0]) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {(a.asname or a.name) for a in node.names}
    return names


_TRANSFORMER: list = []


def _transformer():
    """IPython's cell transformer (the one the kernel uses), or None without IPython."""
    if not _TRANSFORMER:
        try:
            from IPython.core.inputtransformer2 import TransformerManager
            _TRANSFORMER.append(TransformerManager())
        except ImportError:  # a rough stand-in in _to_python
            _TRANSFORMER.append(None)
    return _TRANSFORMER[0]


def _to_python(source: str) -> str:
    """The Python the kernel runs for a cell: IPython's own transform (magics and shell escapes
    become ``get_ipython()`` calls).  Without IPython, a rough stand-in that keeps magics visible."""
    manager = _transformer()
    if manager is not None:
        try:
            return manager.transform_cell(source)
        except Exception:  # noqa: BLE001 -- audit the text as it is
            return source
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        return "get_ipython()\n"
    return "\n".join("get_ipython()" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def _line_map(source: str, python: str) -> dict[int, int]:
    """Line of the transformed source -> line of the cell as written (both 1-based)."""
    import difflib

    a, b = source.splitlines(), python.splitlines()
    if len(a) == len(b):
        return {j: j for j in range(1, len(b) + 1)}
    out = {}
    for _, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        for j in range(j1, j2):
            if i2 > i1:
                i = i1 + min(j - j1, i2 - i1 - 1)
                while i < i2 - 1 and not a[i].strip():  # a cell magic after blank lines
                    i += 1
            else:
                i = min(i1, len(a) - 1)
            out[j + 1] = max(i, 0) + 1
    return out


def _parse_with_lines(source: str):
    """(tree, line map) of a cell as the kernel would run it; (None, {}) if it cannot run."""
    python = _to_python(source)
    try:
        tree = ast.parse(python)
    except (SyntaxError, ValueError):
        if python == source:
            return None, {}
        try:  # the transform failed somehow: audit the text as written, if it is Python
            python, tree = source, ast.parse(source)
        except (SyntaxError, ValueError):
            return None, {}
    return tree, _line_map(source, python)


def _parse(source: str):
    """The AST of a cell as the kernel runs it (IPython syntax transformed), or None."""
    return _parse_with_lines(source)[0]


def _magic_body(node: ast.Call):
    """(kind, name, code) for ``get_ipython().run_line_magic/run_cell_magic(...)`` with literal
    arguments, where ``code`` is the Python the magic runs in the kernel; else None."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr in ("run_line_magic", "run_cell_magic")
            and isinstance(func.value, ast.Call) and isinstance(func.value.func, ast.Name)
            and func.value.func.id == "get_ipython"):
        return None
    args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in node.args]
    if not args or args[0] not in _PYTHON_MAGICS:
        return None
    code = args[-1] if func.attr == "run_cell_magic" and len(args) == 3 else args[1] if len(args) > 1 else None
    if func.attr == "run_line_magic" and code:
        code = re.sub(r"^\s*(-[A-Za-z]+\s*\d*\s+)*", "", code)  # %timeit -n 3 expr
    return (func.attr, args[0], code) if code else None


def _history_name(name: str) -> bool:
    return name in _HISTORY_NAMES or bool(_HISTORY_NAME.fullmatch(name))


def audit_cell(source: str, cell: str, course_names: set[str], module_names: set[str]) -> list[Finding]:
    """Findings for one cell of student code.  ``course_names``: names the course's cells bind;
    ``module_names``: names bound to modules anywhere in the notebook.

    The cell is audited as the kernel runs it: IPython syntax is transformed first, and every
    magic or shell escape is itself a finding.  Code that cannot run (a syntax error) has none.
    """
    tree, line_map = _parse_with_lines(source)
    if tree is None:
        return []
    lines = source.splitlines()
    modules = module_names | _module_aliases(tree)
    found: list[Finding] = []

    def line_of(node) -> int:
        line = getattr(node, "lineno", 0) or 0
        return line_map.get(line, min(line, len(lines))) if line > 0 else 0

    def add(node, rule, detail=None):
        line = line_of(node)
        text = detail or (lines[line - 1].strip() if 0 < line <= len(lines) else "")
        found.append(Finding(cell, line, rule, text[:200]))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for mod in mods:
                if mod.split(".")[0] in _FORBIDDEN_IMPORTS or mod in _FORBIDDEN_MODULES:
                    add(node, "import-of-internals")
            if isinstance(node, ast.ImportFrom) and node.module == "course_utils" and any(
                    a.name == "guard" for a in node.names):
                add(node, "import-of-internals")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, (ast.Attribute, ast.Subscript)) and _root_name(sub) in modules:
                        add(node, "patches-a-library")
                        break
        elif isinstance(node, ast.Call):
            fname = node.func.id if isinstance(node.func, ast.Name) else None
            if fname in _DYNAMIC_CALLS:
                add(node, "dynamic-code-or-file-access")
            elif fname == "getattr" and len(node.args) >= 2 and not isinstance(node.args[1], ast.Constant):
                add(node, "dynamic-code-or-file-access")  # an attribute name built at run time
            if isinstance(node.func, ast.Attribute) and (
                    node.func.attr in _FILE_METHODS
                    or node.func.attr in _FILE_CALLS and _root_name(node.func) in modules):
                add(node, "dynamic-code-or-file-access")
            magic = _magic_body(node)
            if magic:  # the Python a magic runs (``%%capture`` cell, ``%time`` line) is audited too
                kind, _, code = magic
                base = line_of(node)
                for f in audit_cell(code, cell, course_names, modules):
                    line = base + f.line if kind == "run_cell_magic" else base
                    found.append(Finding(cell, line, f.rule, f.detail))
        elif isinstance(node, ast.Attribute):
            if node.attr in _ESCAPE_ATTRS:
                add(node, "introspection")
            if node.attr in _REACHED_MODULES:
                add(node, "import-of-internals", f"reaches {node.attr!r} through {ast.unparse(node.value)[:60]!r}")
            if node.attr in _HISTORY_ATTRS:
                add(node, "reads-the-history")
        elif isinstance(node, ast.Name):
            if node.id == "get_ipython":
                add(node, "ipython-magic-or-shell")
            elif _history_name(node.id):
                add(node, "reads-the-history")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if any(a in node.value for a in _ESCAPE_ATTRS if a.startswith("__")) or re.search(r"\bf_(back|globals|locals)\b", node.value):
                add(node, "introspection")
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in _LYING_DUNDERS:
                    add(item, "redefines-comparison-or-conversion", f"class {node.name} defines {item.name}")
                elif isinstance(item, ast.Assign):
                    for t in item.targets:
                        if isinstance(t, ast.Name) and t.id in _LYING_DUNDERS:
                            add(item, "redefines-comparison-or-conversion", f"class {node.name} sets {t.id}")
        elif isinstance(node, ast.Global):
            add(node, "introspection")

    # top-level bindings that shadow the course's names or builtins
    for node in tree.body:
        bound = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound = [(a.asname or a.name.split(".")[0]) for a in node.names if a.name != "*"]
            bound = [b for b in bound if b in course_names and b not in modules - course_names]
        for name in bound:
            if name in course_names and not isinstance(node, (ast.Import, ast.ImportFrom)):
                add(node, "rebinds-a-course-name", f"rebinds {name!r}, which the course's cells define")
            elif name in _BUILTIN_NAMES:
                add(node, "rebinds-a-builtin", f"rebinds the builtin {name!r}")
    return found


def _course_names(nb) -> tuple[set[str], set[str]]:
    """Names the course's cells import or define (the helpers the tests call), and module aliases.

    Every code cell of the source notebook except the answer cells is the course's; names that
    the answer cells define (the functions students write) are not course names.
    """
    names, modules, answers = set(), set(), set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = _parse(cell.source)
        if tree is None:
            continue
        modules |= _module_aliases(tree)
        if _meta(cell).get("solution"):
            answers |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name.split(".")[0]) for a in node.names if a.name != "*"}
    return {n for n in names - answers if not n.startswith("_")}, modules


def student_cells(submitted, source) -> list[tuple[str, str]]:
    """(label, source) of the code the student wrote or changed.

    Answer cells always; locked cells never (nbgrader restores them from the gradebook, so a
    student's edits to them never run); the course's unlocked cells (demonstrations) only when
    their text differs from the source notebook's; cells the student added always.
    """
    course_ids = {_meta(c)["grade_id"] for c in source.cells if _meta(c).get("grade_id") and is_course_cell(c)}
    plain = {c.get("id"): c.source for c in source.cells if c.cell_type == "code" and not _meta(c)}
    plain_sources = set(plain.values())
    out = []
    for i, cell in enumerate(submitted.cells):
        if cell.cell_type != "code":
            continue
        grade_id = _meta(cell).get("grade_id")
        if grade_id in course_ids:
            continue
        if not grade_id and (plain.get(cell.get("id")) == cell.source or cell.source in plain_sources):
            continue  # an untouched demonstration cell of the course
        out.append((grade_id or f"cell {i + 1}", cell.source))
    return out


def audit_notebook(submitted, source) -> list[Finding]:
    """Audit a submitted notebook against its source notebook (both ``nbformat`` nodes)."""
    course_names, modules = _course_names(source)
    found = []
    for label, code in student_cells(submitted, source):
        found += audit_cell(code, label, course_names, modules)
    return found
