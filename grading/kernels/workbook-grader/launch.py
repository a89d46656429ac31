"""Start an IPython kernel for autograding inside an operating-system sandbox.

nbgrader starts this instead of the plain ``python3`` kernel when it executes a submission
(``Execute.kernel_name = "workbook-grader"`` in ``grading/nbgrader_config.py``).  Before any
student code exists in the process it

1. caps the kernel's memory (``RLIMIT_DATA``, default 4096 MB, ``WORKBOOK_KERNEL_MEMORY_MB``)
   and the size of any file it writes (``RLIMIT_FSIZE``, 64 MB), so a memory bomb ends in a
   ``MemoryError`` inside the cell instead of the machine's out-of-memory killer;
2. removes everything from the environment except what a kernel needs (no database URL,
   no tokens, no scheduler addresses);
3. gives the kernel a private temporary, IPython and Matplotlib folder (inside
   ``WORKBOOK_KERNEL_TMP`` when the grader sets it, so that the grader can remove them all);
4. on Linux with Landlock (5.13 and later), restricts the file system for the kernel and
   everything it starts: read-only access to the Python installation, the ``course_utils``
   package and ``data/``, of ``/proc`` only its own process and the CPU and memory facts;
   read-write access to the submission's own folder and the private folder; nothing else
   (not ``/dev/shm``, not another process's ``/proc`` entries), so the source notebooks
   (solutions, hidden tests), the release, other students' work, the gradebook and the
   grader's environment cannot be opened.  Where the running kernel supports it,
   outgoing TCP connections are refused (it may only bind its own five ports) and signals to
   processes outside the sandbox are blocked (the grader cannot be killed from a cell);
5. starts the IPython kernel in this process with the in-kernel guard (``course_utils.guard``)
   installed before the first cell runs.

``WORKBOOK_SANDBOX=off`` skips step 4 (for example on a system without Landlock, where it is
skipped anyway with a warning in the grader's log).  ``WORKBOOK_GUARD=off`` skips the guard of
step 5: only for checking that a grading difference comes from the guard (the integrity tests'
controls use it); never grade a class that way.  See grading/README.md for what each layer
does and does not defend.
"""
from __future__ import annotations

import atexit
import ctypes
import glob
import json
import os
import resource
import shutil
import struct
import sys
import tempfile

# ----------------------------------------------------------------------------- Landlock
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_PR_SET_NO_NEW_PRIVS = 38

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_REMOVE_DIR, _REMOVE_FILE, _MAKE_CHAR, _MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
_MAKE_REG, _MAKE_SOCK, _MAKE_FIFO, _MAKE_BLOCK, _MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
_REFER, _TRUNCATE = 1 << 13, 1 << 14
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

_READ = _EXECUTE | _READ_FILE | _READ_DIR
_FILE_READ = _EXECUTE | _READ_FILE
_WRITE = (_WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE_DIR | _MAKE_REG | _MAKE_SOCK
          | _MAKE_FIFO | _MAKE_SYM)


def _log(msg: str) -> None:
    # The kernel's stderr before ipykernel starts goes to the grader's log, not the notebook.
    print(f"[workbook sandbox] {msg}", file=sys.stderr, flush=True)


class Landlock:
    """The few Landlock system calls we need, through ctypes (no compiled extension)."""

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long
        abi = self.libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                                ctypes.c_uint32(_CREATE_RULESET_VERSION))
        self.abi = int(abi) if abi > 0 else 0

    def fs_rights(self) -> int:
        rights = _READ | _WRITE | _MAKE_CHAR | _MAKE_BLOCK
        if self.abi >= 2:
            rights |= _REFER
        if self.abi >= 3:
            rights |= _TRUNCATE
        return rights

    def restrict(self, read: list[str], write: list[str], files: list[str], ports: list[int]) -> list[str]:
        """Apply the rules to this process and its future children; returns what was enforced."""
        handled_fs = self.fs_rights()
        handled_net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if self.abi >= 4 else 0
        scoped = (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if self.abi >= 6 else 0
        if self.abi >= 6:
            attr = struct.pack("QQQ", handled_fs, handled_net, scoped)
        elif self.abi >= 4:
            attr = struct.pack("QQ", handled_fs, handled_net)
        else:
            attr = struct.pack("Q", handled_fs)
        buf = ctypes.create_string_buffer(attr, len(attr))
        fd = self.libc.syscall(_SYS_CREATE_RULESET, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
        if fd < 0:
            raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
        try:
            for paths, rights in ((read, _READ), (write, _READ | _WRITE | (handled_fs & (_REFER | _TRUNCATE)))):
                for path in paths:
                    self._add_path(fd, path, rights & handled_fs)
            for path in files:
                self._add_path(fd, path, _FILE_READ)
            for port in ports if handled_net else []:
                rule = struct.pack("=QQ", _NET_BIND_TCP, port)
                if self.libc.syscall(_SYS_ADD_RULE, ctypes.c_int(fd), ctypes.c_int(_RULE_NET_PORT),
                                     ctypes.create_string_buffer(rule, len(rule)), ctypes.c_uint32(0)):
                    raise OSError(ctypes.get_errno(), f"landlock: cannot allow port {port}")
            if self.libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
            if self.libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0)):
                raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
        finally:
            os.close(fd)
        enforced = ["file system"]
        if handled_net:
            enforced.append("network")
        if scoped:
            enforced.append("signals")
        return enforced

    def _add_path(self, fd: int, path: str, rights: int) -> None:
        try:
            pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return  # a path that does not exist on this system needs no rule
        try:
            if not os.path.isdir(path):
                rights &= _FILE_READ | _WRITE_FILE | (_TRUNCATE if self.abi >= 3 else 0)
            # struct landlock_path_beneath_attr { __u64 allowed_access; __s32 parent_fd; } (packed)
            rule = struct.pack("=Qi", rights, pfd)
            if self.libc.syscall(_SYS_ADD_RULE, ctypes.c_int(fd), ctypes.c_int(_RULE_PATH_BENEATH),
                                 ctypes.create_string_buffer(rule, len(rule)), ctypes.c_uint32(0)):
                raise OSError(ctypes.get_errno(), f"landlock: cannot add a rule for {path}")
        finally:
            os.close(pfd)


# ----------------------------------------------------------------------------- the launch
_KEEP_ENV = {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "MPLBACKEND", "NBGRADER_EXECUTION",
             "COURSE_UTILS_NO_PROGRESS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "PYTHONHASHSEED", "PYDEVD_DISABLE_FILE_VALIDATION", "JPY_PARENT_PID", "TERM"}


def _package_dirs() -> tuple[list[str], list[str]]:
    """Folders the kernel must read: the Python installation, installed packages, course_utils, data."""
    import importlib.util
    import site
    import sysconfig

    read = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
            os.path.dirname(os.path.realpath(sys.executable))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib", "data"):
        path = sysconfig.get_paths().get(key)
        if path:
            read.add(path)
    for path in list(site.getsitepackages()) + [site.getusersitepackages()]:
        read.add(path)
    data = []
    spec = importlib.util.find_spec("course_utils")
    if spec and spec.origin:
        pkg = os.path.dirname(os.path.realpath(spec.origin))
        read.add(pkg)
        data.append(os.path.join(os.path.dirname(pkg), "data"))
    return sorted(read), data


def _proc_paths() -> list[str]:
    """What the kernel may read of /proc: its own process and the machine-wide facts libraries ask
    for (CPUs, memory), never another process (the grader's environment holds its database URL)."""
    return [f"/proc/{os.getpid()}"] + [os.path.join("/proc", name) for name in (
        "cpuinfo", "meminfo", "stat", "loadavg", "uptime", "version", "filesystems", "sys")]


def main(argv: list[str]) -> None:
    if len(argv) != 3 or argv[1] != "-f":
        raise SystemExit("usage: launch.py -f CONNECTION_FILE")
    connection_file = os.path.realpath(argv[2])
    with open(connection_file) as f:
        ports = [int(v) for k, v in json.load(f).items() if k.endswith("_port")]
    locked = os.environ.pop("WORKBOOK_LOCKED_CELLS", "")
    sandbox = os.environ.get("WORKBOOK_SANDBOX", "on").lower() not in ("off", "0", "no", "false")
    guard = os.environ.get("WORKBOOK_GUARD", "on").lower() not in ("off", "0", "no", "false")
    memory_mb = int(os.environ.get("WORKBOOK_KERNEL_MEMORY_MB", "4096"))

    # 1. resource limits
    data_limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 2**20, 64 * 2**20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    # 2.-3. environment and private folders
    # Under the grader's own temporary folder when it names one (course.py removes that folder
    # when nbgrader is done: the sandbox cannot remove a folder it did not make), else in /tmp.
    base = os.environ.get("WORKBOOK_KERNEL_TMP")
    private = tempfile.mkdtemp(prefix="workbook-kernel-", dir=base if base and os.path.isdir(base) else None)
    atexit.register(shutil.rmtree, private, True)
    for sub in ("tmp", "ipython", "matplotlib"):
        os.makedirs(os.path.join(private, sub))
    for cache in glob.glob(os.path.expanduser("~/.cache/matplotlib/fontlist-*.json")):
        shutil.copy(cache, os.path.join(private, "matplotlib"))  # no font-cache rebuild per kernel
    env = {k: v for k, v in os.environ.items() if k in _KEEP_ENV}
    env.update(HOME=private, TMPDIR=os.path.join(private, "tmp"), IPYTHONDIR=os.path.join(private, "ipython"),
               MPLCONFIGDIR=os.path.join(private, "matplotlib"), JUPYTER_RUNTIME_DIR=os.path.join(private, "tmp"),
               PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("MPLBACKEND", "Agg")
    # no /dev/shm below, so no process-shared semaphores: joblib (scikit-learn) runs serially,
    # and says nothing about it
    env["JOBLIB_MULTIPROCESSING"] = "0"
    os.environ.clear()
    os.environ.update(env)

    # 4. file system, network and signal sandbox
    if sandbox:
        read, data = _package_dirs()
        read += data + ["/usr", "/lib", "/lib64", "/bin", "/etc", "/sys", "/dev"] + _proc_paths()
        # not /dev/shm: files there are RAM that outlives the kernel
        write = [os.getcwd(), private, "/dev/null"]
        ll = Landlock()
        if ll.abi < 1:
            _log("Landlock is not available on this system: the file system is NOT restricted")
        else:
            enforced = ll.restrict(read=read, write=write, files=[connection_file], ports=ports + [0])
            os.environ["WORKBOOK_SANDBOX_ENFORCED"] = ",".join(enforced)

    # 5. the kernel, with the guard installed before the first cell
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(["-f", connection_file])
    # The sandbox does not let the kernel list /proc, so ipykernel cannot look for its child
    # processes when it shuts down; the grader kills them (RemoveKernelLeftovers), so that search is
    # skipped instead of printing a traceback into every kernel's log.
    process_children = getattr(app.kernel, "_process_children", None)  # private in ipykernel

    def _process_children():
        try:
            return process_children()
        except PermissionError:
            return []

    if process_children is not None:
        app.kernel._process_children = _process_children
    if guard:
        import course_utils.guard

        course_utils.guard.install(app.shell, [h for h in locked.split(",") if h])
    else:
        _log("WORKBOOK_GUARD=off: the in-kernel guard is NOT installed")
    app.start()


if __name__ == "__main__":
    sys.path.pop(0)  # this folder; the kernel's import path is the usual one
    main(sys.argv)
