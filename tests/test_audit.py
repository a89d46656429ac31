"""The static audit (``grading/workbook_integrity.py``) on single cells and on the attack fixtures.

Fast: no nbgrader, no kernel.  Each rule has cells it must report and honest cells it must not;
the attack submissions of ``tests/fixtures/integrity_*.py`` must still raise their ``AUDIT``
rules (the slow end-to-end version is ``test_integrity.py::test_audit_flags_the_tampering_and_nothing_else``).
"""
from __future__ import annotations

import importlib.util
import sys

import nbformat
import pytest

from grading_support import REPO, assignments, build_submission, source_notebook

sys.path.insert(0, str(REPO / "grading"))
from workbook_integrity import _course_names, _parse, audit_cell, audit_notebook  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures"
COURSE = {"check_close"}
MODULES = {"np", "warnings"}


def rules(source: str) -> set[str]:
    return {f.rule for f in audit_cell(source, "cell", COURSE, MODULES)}


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- magics and shell
@pytest.mark.parametrize("source, expected", [
    ("_ = %pwd\ncheck_close.__code__ = (lambda *a: None).__code__",
     {"ipython-magic-or-shell", "introspection", "rebinds-a-course-name"}),
    ("%%bash\nln -s / loop", {"ipython-magic-or-shell"}),
    ("!ls", {"ipython-magic-or-shell"}),
    ("files = !ls -a", {"ipython-magic-or-shell"}),
    ("%matplotlib inline", {"ipython-magic-or-shell"}),
    ("np?", {"ipython-magic-or-shell"}),
    ("ip = get_ipython()", {"ipython-magic-or-shell"}),
    # the Python a magic runs is audited as well
    ("%%capture\nx = 1\ncheck_close.__code__ = None", {"ipython-magic-or-shell", "introspection",
                                                       "rebinds-a-course-name"}),
    ("%time import os", {"ipython-magic-or-shell", "import-of-internals"}),
    ("%timeit -n 3 -r2 open('f')", {"ipython-magic-or-shell", "dynamic-code-or-file-access"}),
])
def test_magics_and_shell_escapes_are_reported(source, expected):
    assert rules(source) == expected


@pytest.mark.parametrize("source", [
    "x = 5 % 3",
    "s = 'not a %magic'\nprint('!ls')",
    "y = x if x != 0 else 1",
    "print('%d items' % 3)",
])
def test_percent_and_bang_in_plain_python_are_not_magics(source):
    assert rules(source) == set()


def test_findings_keep_the_lines_of_the_cell_as_written():
    found = audit_cell("_ = %pwd\ncheck_close.__code__ = None", "cell", COURSE, MODULES)
    by_rule = {f.rule: f for f in found}
    assert (by_rule["ipython-magic-or-shell"].line, by_rule["ipython-magic-or-shell"].detail) == (1, "_ = %pwd")
    assert by_rule["introspection"].line == 2

    magic = audit_cell("%%bash\nln -s / loop\necho hi", "cell", COURSE, MODULES)
    assert [(f.line, f.rule, f.detail) for f in magic] == [(1, "ipython-magic-or-shell", "%%bash")]

    # a cell magic after blank lines, its body's findings on the body's own lines
    found = audit_cell("\n\n%%capture\nx = 1\nimport os", "cell", COURSE, MODULES)
    assert {(f.line, f.rule) for f in found} == {(3, "ipython-magic-or-shell"), (5, "import-of-internals")}

    # a line continuation that the transform joins: lines after it still map to themselves
    found = audit_cell("%time \\\n  x = 1\nimport sys", "cell", COURSE, MODULES)
    assert {(f.line, f.rule) for f in found} == {(1, "ipython-magic-or-shell"), (3, "import-of-internals")}
    for f in found:
        assert f.detail


@pytest.mark.parametrize("source", ["def f(:\n    pass", "x = (1,\n%pwd)", "return = 3", "x = '''\n%pwd", "  \n"])
def test_code_that_cannot_run_has_no_findings_and_does_not_crash(source):
    assert audit_cell(source, "cell", COURSE, MODULES) == []


def test_an_empty_cell_has_no_findings():
    assert audit_cell("", "cell", COURSE, MODULES) == []


# ----------------------------------------------------------------------------- the history
@pytest.mark.parametrize("source", [
    "print(In)", "x = _ih[-1]", "Out[3]", "_i7", "print(_oh)", "_dh", "_i + _ii + _iii", "_12 * 2", "__", "___",
    "hm = shell.history_manager", "ns = kernel.shell.user_ns", "ip.user_ns_hidden",
    "for cell in In:\n    print(cell)",
])
def test_reading_the_history_is_reported(source):
    assert rules(source) == {"reads-the-history"}


@pytest.mark.parametrize("source", [
    "_ = plt.plot([1])", "for _ in range(3): pass", "x, _ = divmod(7, 2)", "_x = 1\n_x_1 = _x",
    "Index = 3\nOutput = Index", "inputs = x.In_features", "__all__ = ['f']", "print(__name__)",
])
def test_throw_away_names_are_not_the_history(source):
    assert rules(source) == set()


# ----------------------------------------------------------------------------- modules reached through others
@pytest.mark.parametrize("source", [
    "warnings.sys.modules['x'] = 1",
    "np.os.system('ls')",
    "torch.sys.modules",
    "x = anything.builtins",
    "np.core.ctypes",
    "f = scipy.linalg.inspect.stack",
    "pd.io.common.pickle",
])
def test_modules_reached_through_attributes_are_reported(source):
    assert "import-of-internals" in rules(source)


def test_reaching_a_module_names_the_route():
    found = audit_cell("y = warnings.sys.modules", "cell", COURSE, MODULES)
    assert [(f.rule, f.detail) for f in found] == [("import-of-internals", "reaches 'sys' through 'warnings'")]


@pytest.mark.parametrize("source", [
    "scipy.signal.correlate2d(a, b)",
    "np.linalg.norm(x)",
    "np.testing.assert_allclose(a, b)",
    "torch.random.manual_seed(0)",
    "np.random.default_rng(0).normal(size=3)",
    "x = np.core.multiarray",
    "np.fft.fft(x)",
    "torch.nn.functional.conv2d(x, w)",
])
def test_public_submodules_of_numerical_libraries_are_not_reported(source):
    assert rules(source) == set()


# ----------------------------------------------------------------------------- file access through methods
@pytest.mark.parametrize("source", [
    "Image.open('x.png')", "Path('x').read_text()", "io.open('f')", "os.open('f', 0)", "gzip.open('f.gz')",
    "Path(p).open()", "tarfile.open('a.tar')", "webbrowser.open('http://x')", "p.read_bytes()",
    "p.write_text('x')", "p.write_bytes(b'')", "d.iterdir()", "p.symlink_to('/')", "q.readlink()",
    "fs.listdir('.')", "fs.scandir('.')", "fs.symlink('/', 'x')", "fs.mkfifo('p')",
])
def test_file_methods_are_reported(source):
    assert rules(source) == {"dynamic-code-or-file-access"}


@pytest.mark.parametrize("source", [
    "xs.remove(1)", "model.load_state_dict(s)", "xs.pop()", "d.copy()", "list(d.items())", "xs.append(3)",
    "opened = True", "x.opening", "s.readline", "text.split()",
])
def test_container_methods_are_not_file_access(source):
    assert rules(source) == set()


# ----------------------------------------------------------------------------- whole notebooks
def test_every_course_cell_parses():
    """``_course_names`` reads the course's own cells: each of them (magics included) must parse."""
    for notebook in sorted((REPO / "notebooks").glob("*/*.ipynb")):
        nb = nbformat.read(notebook, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                assert _parse(cell.source) is not None, f"{notebook.name} cell {i + 1} does not parse"
        names, modules = _course_names(nb)
        assert names and modules, notebook.name


INTEGRITY = sorted(FIXTURES.glob("integrity_*.py"))


@pytest.mark.parametrize("path", INTEGRITY, ids=[p.stem for p in INTEGRITY])
def test_attack_fixtures_raise_their_audit_rules(path):
    """The ``AUDIT`` rules of the attack fixtures, without grading them."""
    assignment = path.stem[len("integrity_"):]
    if assignment not in assignments():
        pytest.skip(f"{assignment} is not among WORKBOOK_ASSIGNMENTS")
    module = _load(path)
    _, src = source_notebook(assignment)
    by_name = {s.name: s for s in module.SUBMISSIONS}
    assert set(module.AUDIT) <= set(by_name)
    for name, expected in module.AUDIT.items():
        flagged = {f.rule for f in audit_notebook(build_submission(src, src, by_name[name]), src)}
        assert expected <= flagged, f"{name}: flagged {flagged}, expected {expected}"
