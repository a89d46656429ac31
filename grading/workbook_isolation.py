"""What the grading kernel leaves behind never reaches a score, a copy or another submission.

nbgrader preprocessors (wired in ``grading/nbgrader_config.py``), all run by the grader, outside
the student's kernel:

* :class:`SanitizeMetadata` (first step of sanitizing) keeps nbgrader's metadata only on the
  course's own cells: an added cell that claims a grade id the course does not have, or whose
  metadata nbgrader cannot read (``{"nbgrader": {}}`` made nbgrader abort the whole run), becomes
  an ordinary student cell; a course cell whose metadata was damaged gets the source's back, and
  every course cell gets the source's tags (a test cell tagged ``skip-execution`` is not run by
  nbclient, and nbgrader scores a test cell without an error as full marks).
* :class:`SnapshotKernelFolder` (before ``Execute``) records the folder the kernel will run in and
  the processes the grader already has.
* :class:`RemoveKernelLeftovers` (right after ``Execute``, before anything is read or written)
  stops and kills every process the kernel left (a daemon that would rewrite the executed notebook
  later; the grader is made their "subreaper" in ``nbgrader_config.py`` so that even processes that
  detached themselves are found), then removes from the kernel's folder everything the kernel
  created or changed (links, files, folders; never following a link), and empties the kernels'
  private folders.  What nbgrader then writes, chmods, copies into ``autograded/`` and
  ``feedback/`` is only the executed notebook and the files the submission came with.
* :class:`ResilientExecute` (in place of ``Execute``) restarts a kernel that will not give up a
  timed-out cell, replays the earlier cells and goes on, so that the cell, not the submission,
  scores 0.
* :class:`NoScoreFromOutput` (before ``SaveAutoGrades``) turns each test cell's
  ``execute_result`` outputs into ``display_data``: nbgrader scores a cell from the first
  ``execute_result`` it finds (a number is a partial score, anything else full marks) before it
  looks at errors, and the course's checks signal failure only by raising, so a value a test cell
  displays (one the student's code can make IPython's display hook emit) is never a score.
"""
from __future__ import annotations

import copy
import os
import shutil
import signal
import stat
import time

from queue import Empty

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbconvert.preprocessors import Preprocessor
from nbgrader.preprocessors import Execute
from traitlets import Bool, Unicode

PR_SET_CHILD_SUBREAPER = 36


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


class _On(Preprocessor):
    # nbconvert's preprocessors are off unless enabled; these are part of grading, always on.
    enabled = Bool(True).tag(config=True)


# ----------------------------------------------------------------------------- metadata
class SanitizeMetadata(_On):
    """nbgrader metadata only on the course's cells, and always in a form nbgrader can read."""

    source_directory = Unicode("", help="the folder holding <assignment>/<notebook>.ipynb sources").tag(config=True)

    def preprocess(self, nb, resources):
        from nbgrader.nbgraderformat import MetadataValidator
        from workbook_integrity import source_notebook_for

        source = source_notebook_for(self.source_directory, resources)
        if source is None:
            return nb, resources
        known = {_meta(c)["grade_id"]: c for c in source.cells if _meta(c).get("grade_id")}
        validator = MetadataValidator()
        stripped, repaired, retagged = [], [], []
        for i, cell in enumerate(nb.cells):
            if "nbgrader" not in cell.get("metadata", {}):
                continue
            raw = cell.metadata["nbgrader"]
            grade_id = raw.get("grade_id") if isinstance(raw, dict) else None
            if grade_id not in known or known[grade_id].cell_type != cell.cell_type:
                del cell.metadata["nbgrader"]
                stripped.append(f"cell {i + 1}" + (f" ({grade_id!r})" if isinstance(grade_id, str) else ""))
                continue
            try:
                validator.validate_cell(copy.deepcopy(cell))
            except Exception:  # nbgrader's own error would abort the run for every student
                cell.metadata["nbgrader"] = copy.deepcopy(known[grade_id].metadata["nbgrader"])
                repaired.append(grade_id)
            # the course's tags, not the student's: nbclient skips a cell tagged "skip-execution",
            # and a test cell that does not run has no error, which nbgrader scores as full marks
            tags = known[grade_id].metadata.get("tags")
            if cell.metadata.get("tags") != tags:
                retagged.append(grade_id)
                if tags is None:
                    del cell.metadata["tags"]
                else:
                    cell.metadata["tags"] = list(tags)
        if stripped:
            self.log.warning("Ignored the nbgrader metadata of %d cell(s) the course does not have: %s",
                             len(stripped), ", ".join(stripped))
        if repaired:
            self.log.warning("Restored the damaged nbgrader metadata of: %s", ", ".join(repaired))
        if retagged:
            self.log.warning("Gave the course's tags back to: %s", ", ".join(retagged))
        return nb, resources


# ----------------------------------------------------------------------------- processes
def make_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux), so none can hide from the cleanup."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process this user can see (empty without /proc)."""
    out = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                text = f.read().decode("ascii", "replace")
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses
            out[int(name)] = int(text[text.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return out


def descendants(pid: int | None = None) -> set[int]:
    pid = os.getpid() if pid is None else pid
    parents = _parents()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p not in found}
        found |= frontier
    return found


def kill_new_descendants(before: set[int], rounds: int = 20) -> list[int]:
    """Stop, then kill, every descendant of this process that did not exist in ``before``."""
    killed: set[int] = set()
    for _ in range(rounds):
        new = descendants() - before - killed
        if not new:
            break
        for pid in new:  # freeze first, so that none can fork while the others are killed
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                pass
        for pid in new | (descendants() - before - killed):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
        time.sleep(0.05)
    for pid in killed:  # reap the ones that became our children
        try:
            os.waitpid(pid, os.WNOHANG)
        except OSError:
            pass
    return sorted(killed)


# ----------------------------------------------------------------------------- the folder
def _entry_key(st) -> tuple:
    return stat.S_IFMT(st.st_mode), st.st_ino, st.st_size, st.st_mtime_ns


def snapshot_folder(path: str) -> dict[str, tuple]:
    """relative path -> (type, inode, size, mtime) of everything under ``path``, links not followed."""
    snap: dict[str, tuple] = {}

    def walk(folder, rel):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for entry in entries:
            r = os.path.join(rel, entry.name)
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            snap[r] = _entry_key(st)
            if stat.S_ISDIR(st.st_mode):
                walk(entry.path, r)

    walk(path, "")
    return snap


def _remove(path: str, st) -> None:
    if stat.S_ISDIR(st.st_mode):
        # a real folder (not a link): make it traversable, then remove without following links
        for folder, dirs, _files in os.walk(path, followlinks=False):
            for d in dirs:
                p = os.path.join(folder, d)
                if not os.path.islink(p):
                    try:
                        os.chmod(p, 0o700)
                    except OSError:
                        pass
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.unlink(path)


def clean_folder(path: str, before: dict[str, tuple]) -> list[str]:
    """Remove everything under ``path`` that is not as it was in ``before``; returns what went."""
    removed: list[str] = []

    def walk(folder, rel):
        try:
            os.chmod(folder, 0o755)  # the kernel may have locked its own folder
        except OSError:
            pass
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for entry in entries:
            r = os.path.join(rel, entry.name)
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            old = before.get(r)
            if stat.S_ISDIR(st.st_mode) and old is not None and old[:2] == _entry_key(st)[:2]:
                walk(entry.path, r)  # the same folder (its size and time change with its contents)
            elif old != _entry_key(st):
                try:
                    _remove(entry.path, st)
                    removed.append(r + ("/" if stat.S_ISDIR(st.st_mode) else ""))
                except OSError:
                    pass

    if os.path.isdir(path) and not os.path.islink(path):
        walk(path, "")
    return removed


class SnapshotKernelFolder(_On):
    """Before execution: the kernel's folder and the grader's processes, for the cleanup."""

    def preprocess(self, nb, resources):
        path = resources.get("metadata", {}).get("path") or os.getcwd()
        resources["workbook_before"] = {"path": path, "files": snapshot_folder(path),
                                        "processes": descendants()}
        return nb, resources


class RemoveKernelLeftovers(_On):
    """After execution: kill what the kernel started, remove what it wrote."""

    def preprocess(self, nb, resources):
        before = resources.pop("workbook_before", None)
        if before is None:
            return nb, resources
        killed = kill_new_descendants(before["processes"])
        if killed:
            self.log.warning("Killed %d process(es) the grading kernel left running", len(killed))
        removed = clean_folder(before["path"], before["files"])
        if removed:
            shown = ", ".join(removed[:10]) + (" ..." if len(removed) > 10 else "")
            self.log.warning("Removed %d file(s) the grading kernel left in its folder: %s", len(removed), shown)
        private = os.environ.get("WORKBOOK_KERNEL_TMP")
        if private and os.path.isdir(private):
            for entry in os.scandir(private):
                try:
                    _remove(entry.path, entry.stat(follow_symlinks=False))
                except OSError:
                    pass
        return nb, resources


# ----------------------------------------------------------------------------- scores
class NoScoreFromOutput(_On):
    """A test cell's displayed value is output, never a score (see the module docstring)."""

    def preprocess_cell(self, cell, resources, index):
        meta = _meta(cell)
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "execute_result":
                    out["output_type"] = "display_data"
                    out.pop("execution_count", None)
        return cell, resources


class ResilientExecute(Execute):
    """nbgrader's ``Execute``, except that a cell the kernel will not give up costs only that cell.

    At the cell timeout nbgrader interrupts the kernel.  A cell whose code swallows the interrupt
    (``except BaseException`` around a loop, or a ``gc`` callback that is running when the
    ``KeyboardInterrupt`` arrives) keeps the kernel busy, and nbgrader then abandoned the whole
    submission.  Here the kernel is restarted instead, every earlier cell but the abandoned ones is
    run again without keeping its output (the state the later cells expect; the earlier cells'
    outputs and verdicts stay as they were), the cell gets a ``CellTimeoutError`` (0 points if it is
    a test cell) and the notebook goes on.  If the replay itself does not finish, the submission is
    abandoned as before.
    """

    restart_timeout_message = Unicode(
        "The cell did not finish within {timeout} s and the kernel did not respond to the interrupt; "
        "the grader restarted the kernel, ran the earlier cells again and went on without this cell.",
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._abandoned: set[int] = set()

    def preprocess(self, nb, resources=None, km=None):
        self._abandoned = set()  # one instance grades every notebook of a run
        return super().preprocess(nb, resources, km=km)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except CellTimeoutError:
            if cell_index in self._abandoned:
                raise
            self._abandoned.add(cell_index)
            timeout = self._get_timeout(cell)
            self.log.warning("cell %d kept the kernel busy past the interrupt: restarting the kernel "
                             "and running the %d earlier cells again", cell_index, cell_index)
            await ensure_async(self.km.restart_kernel(now=True))
            await ensure_async(self.kc.wait_for_ready(timeout=self.startup_timeout))
            for i, earlier in enumerate(self.nb.cells[:cell_index]):
                if i not in self._abandoned and earlier.cell_type == "code" and earlier.source.strip():
                    await self._run_quietly(earlier)
            message = self.restart_timeout_message.format(timeout=timeout)
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename="CellTimeoutError", evalue=message, traceback=["CellTimeoutError: " + message]))
            return cell

    execute_cell = run_sync(async_execute_cell)  # nbclient binds the synchronous name to its own

    async def _run_quietly(self, cell) -> None:
        """Run one earlier cell again in the new kernel; its output is not kept."""
        msg_id = await ensure_async(self.kc.execute(cell.source, store_history=False, allow_stdin=False))
        timeout = self._get_timeout(cell)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise CellTimeoutError.error_from_timeout_and_cell(
                    "Cell execution timed out while the grader replayed the notebook", timeout, cell)
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=left if left is not None else 5))
            except Empty:
                if not await ensure_async(self.kc.is_alive()):
                    raise DeadKernelError("Kernel died while the grader replayed the notebook") from None
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return
