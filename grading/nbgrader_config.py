"""nbgrader configuration for the workbook course.

nbgrader reads this file when it is started from the ``grading/`` folder (the
instructor CLI ``grading/course.py`` and the Makefile targets do that for you).

Layout, relative to the repository root:

* ``notebooks/<assignment>/``          source notebooks (solutions + hidden tests), in git
* ``grading/release/<assignment>/``    student versions, generated
* ``grading/submitted/<student>/<assignment>/``   collected submissions
* ``grading/downloaded/<assignment>/archive|extracted``   an LMS download being collected
* ``grading/autograded/...``, ``grading/feedback/...``   generated
* ``grading/gradebook.db``              the SQLite gradebook (set ``WORKBOOK_DB_URL`` to use another database)

Everything generated is git-ignored.  The environment variable
``WORKBOOK_COURSE_ROOT`` points the whole layout at another folder (the test
suite uses it to grade in a temporary directory).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # for the workbook's own feedback preprocessor

ROOT = os.path.abspath(os.environ.get("WORKBOOK_COURSE_ROOT", os.path.dirname(HERE)))

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "dl-workbook"
c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "notebooks"
c.CourseDirectory.release_directory = os.path.join("grading", "release")
c.CourseDirectory.submitted_directory = os.path.join("grading", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("grading", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("grading", "feedback")
c.CourseDirectory.db_url = os.environ.get(
    "WORKBOOK_DB_URL", "sqlite:///" + os.path.join(ROOT, "grading", "gradebook.db")
)
# Only notebooks are assignment material; data ships with the repo and
# course_utils is an installed package, so nothing else needs copying.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".DS_Store", "*.png", "*.npz",
]

# Collecting an LMS download (``nbgrader zip_collect``, wrapped by ``course.py collect``):
# files under grading/downloaded/<assignment>/archive, student ids from the file names.
c.ZipCollectApp.downloaded_directory = os.path.join("grading", "downloaded")
c.ZipCollectApp.collector_plugin = "workbook_collect.LmsCollector"

# nbgrader's exchange, for a course on one shared server (JupyterHub): the instructor releases
# into it and collects from it (``course.py release --exchange``, ``course.py collect A
# --exchange``); students fetch and submit with ``nbgrader fetch_assignment`` / ``nbgrader submit``
# or the Assignments tab of JupyterLab.  The folder must exist and be writable by everyone.
c.Exchange.root = os.environ.get("WORKBOOK_EXCHANGE", "/usr/local/share/nbgrader/exchange")

# Student stubs.  A concept check's answer cell (grade id ``answer_<name>``) gets
# ``answer_<name> = None  # YOUR ANSWER HERE`` instead, so an unanswered notebook still runs
# top to bottom (workbook_concepts.AnswerStubs; nbgrader's list otherwise unchanged).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.GenerateAssignment.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "workbook_concepts.AnswerStubs",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Autograding: each cell gets two minutes (the longest cell, training the
# network, takes a few seconds); a cell that exceeds it is interrupted and
# scores 0 while the remaining cells still run (a cell that swallows the
# interrupt too: workbook_isolation.ResilientExecute restarts the kernel, runs the
# earlier cells again and goes on).  One crashing cell never stops the others.  A submission that kills its kernel (a segfault, ``os._exit``)
# is abandoned by nbgrader: it keeps 0 points, its cells are marked for manual
# grading, and the other submissions are graded as usual.
c.Execute.timeout = int(os.environ.get("WORKBOOK_CELL_TIMEOUT", "120"))
c.Execute.interrupt_on_timeout = True
c.Execute.extra_arguments = []
# Headless execution: no progress bars on stderr, no interactive backend.
os.environ.setdefault("COURSE_UTILS_NO_PROGRESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

# Integrity (see grading/README.md and grading/workbook_integrity.py).
# Submissions run in the grading sandbox kernel (grading/kernels/workbook-grader): resource
# limits, a private environment, Landlock file-system/network/signal restrictions, and the
# in-kernel guard that restores patched libraries before the course's cells run.
# The grader adopts every process a kernel leaves, so that RemoveKernelLeftovers finds them all.
if sys.argv[1:2] == ["autograde"]:
    import workbook_isolation

    workbook_isolation.make_subreaper()
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    p for p in (HERE, os.environ.get("JUPYTER_PATH", "")) if p)
c.Execute.kernel_name = "workbook-grader"
c.RestoreMissingCells.source_directory = os.path.join(ROOT, "notebooks")
c.SanitizeMetadata.source_directory = os.path.join(ROOT, "notebooks")
c.Autograde.sanitize_preprocessors = [
    "workbook_isolation.SanitizeMetadata",        # nbgrader metadata only on the course's cells
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "workbook_integrity.RestoreMissingCells",   # deleted course cells come back, in place
    "nbgrader.preprocessors.OverwriteCells",      # edited locked cells are restored
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "workbook_integrity.LockedCellDigests",       # which cells are the course's, for the guard
    "workbook_isolation.SnapshotKernelFolder",
    "workbook_isolation.ResilientExecute",      # a cell that swallows the interrupt costs that cell only
    "workbook_isolation.RemoveKernelLeftovers",   # its processes killed, its files gone, before any read
    "workbook_integrity.StderrIsNotFailure",      # a warning never zeroes a passing test cell
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "workbook_integrity.LimitOutputSize",         # megabytes of output are cut, not stored
    "workbook_isolation.NoScoreFromOutput",       # a displayed value is never a score
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback: built from trusted parts only (the submitted notebook's own outputs, the grader's
# verdict per test cell, the gradebook's scores), never the hidden tests or what the graded run printed.
c.TrustedFeedback.submitted_directory = os.path.join(ROOT, "grading", "submitted")
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "workbook_feedback.TrustedFeedback",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
