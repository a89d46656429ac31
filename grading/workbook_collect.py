"""Collector plugin for ``nbgrader zip_collect``: submissions downloaded from a learning-management system.

An LMS "download all submissions" gives one file per student, named after the
student, either the notebook itself or a zip holding it, e.g.::

    jdoe_4711_attempt_backprop.ipynb      (Moodle/Canvas style: id, then anything, then the file)
    asmith_4712_backprop.zip              (a zip with backprop.ipynb somewhere inside)
    bwong.ipynb                           (just the student id)

nbgrader's ``zip_collect`` unzips the archives (each into a folder named after
the zip) and asks a collector plugin which student and which notebook every
extracted file belongs to.  ``LmsCollector`` answers from the first path
component below the extracted folder:

* the student id is the part of that name before the first ``_`` (or the part
  matched by the group ``student_id`` of ``--student-regexp``);
* the notebook is the assignment's notebook: an assignment of this course has
  exactly one, so a file the LMS renamed (``backprop (1).ipynb``,
  ``jdoe_4711_backprop.ipynb``) is still collected under its real name.

Files that are not notebooks (and notebooks inside ``__MACOSX`` folders or
hidden checkpoints) are skipped.  Two notebooks for one student is an error
nbgrader reports, unless their names carry timestamps.
"""
import os
import re

from nbgrader.plugins.zipcollect import FileNameCollectorPlugin
from traitlets import Unicode


class LmsCollector(FileNameCollectorPlugin):
    """Student id from the downloaded file's name; the notebook is the assignment's one notebook."""

    student_regexp = Unicode(
        r"(?P<student_id>[^_]+)",
        help="Regular expression matched at the start of each downloaded file's name (without "
             "extension); its group 'student_id' is the student id.",
    ).tag(config=True)

    notebook = Unicode(
        "",
        help="Name (without .ipynb) under which every collected notebook is filed: the "
             "assignment's notebook.",
    ).tag(config=True)

    extracted_marker = Unicode(
        "extracted",
        help="Name of the folder zip_collect extracts into (ZipCollectApp.extracted_directory).",
    ).tag(config=True)

    def collect(self, submitted_file):
        parts = os.path.normpath(submitted_file).split(os.sep)
        if not submitted_file.endswith(".ipynb"):
            self.log.info("Skipping %s: not a notebook", submitted_file)
            return None
        if self.extracted_marker not in parts:
            self.log.warning("Skipping %s: not below the %r folder", submitted_file, self.extracted_marker)
            return None
        below = parts[len(parts) - parts[::-1].index(self.extracted_marker):]
        if any(p.startswith(".") or p == "__MACOSX" for p in below):
            self.log.info("Skipping %s: hidden or resource-fork file", submitted_file)
            return None
        top = os.path.splitext(below[0])[0]
        match = re.match(self.student_regexp, top)
        if not match or not match.groupdict().get("student_id"):
            self.log.warning("Skipping %s: %r does not start with a student id (regexp %r)",
                             submitted_file, top, self.student_regexp)
            return None
        student = match.group("student_id").strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.@+-]*", student):
            self.log.warning("Skipping %s: %r is not a usable student id", submitted_file, student)
            return None
        notebook = self.notebook or os.path.splitext(below[-1])[0]
        return {"student_id": student, "file_id": notebook + ".ipynb"}
