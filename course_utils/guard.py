"""The grading kernel's guard: undo tampering with the libraries before the course's own cells run.

Installed by the grading sandbox (``grading/kernels/workbook-grader/launch.py``) before the
first cell of a submission runs; never active while a student works in JupyterLab.  The grader
tells it which cells are the course's locked cells (by the SHA-256 of their source); every other
cell is the student's.

What it does:

* **Snapshots** the attributes of the libraries the tests rely on (``builtins``, ``math``,
  NumPy and its testing/linalg/random modules, PyTorch and ``torch.nn.functional``/``testing``/
  ``linalg``, scikit-learn's SVM module, cvxopt, ``course_utils``) as soon as each is imported,
  the attributes of the classes whose methods the tests call (``torch.Tensor``, ``nn.Module``
  and a few layers, ``torch.distributions``' Gaussians), and the ``sys`` hooks and IPython's
  error reporting.
* **Before every cell**, puts back any of those attributes that a cell replaced or deleted
  (``np.allclose = lambda *a, **k: True``, ``builtins.abs = ...``, ``torch.allclose = ...``,
  ``torch.Tensor.numpy = ...``,
  ``sys.modules['numpy'] = fake``, ``get_ipython().showtraceback = ...``).
* **Before a locked cell**, also puts back the names the course's cells bound to library objects
  (``check_array``, ``np``, ``torch``, ...) if a student cell rebound them, hides student
  variables that shadow a builtin (``max = ...``) until the locked cell is done, and wraps every
  function and method the student defined so that the libraries are restored as soon as the
  student's code returns: a patch made *inside* a graded function cannot reach the reference
  computation or the comparison that follows the call.

This is defence in depth inside one Python process, not a sandbox: code that sets out to find
and disable the guard itself can.  The grader's out-of-kernel audit (``grading/workbook_integrity.py``)
flags such code for the instructor, and the operating-system sandbox (Landlock, resource limits)
holds whatever happens in the process.  See grading/README.md.
"""
from __future__ import annotations

import builtins
import functools
import hashlib
import importlib.abc
import sys
import types

__all__ = ["install", "installed", "restore"]

# Libraries whose module attributes are snapshotted when imported and restored before each cell.
_PROTECTED = {
    "builtins", "math", "operator", "functools",
    "numpy", "numpy.testing", "numpy.linalg", "numpy.random", "numpy.fft",
    "numpy._core.numeric", "numpy._core.fromnumeric", "numpy._core._methods", "numpy._core.umath",
    "numpy.core.numeric", "numpy.core.fromnumeric",
    "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.testing", "torch.linalg",
    "torch.autograd", "torch.distributions",
    "sklearn.svm", "cvxopt", "cvxopt.solvers",
}
_PROTECTED_PREFIXES = ("course_utils",)
# Classes whose own attributes are restored as well, by the module that defines them: the checks
# and the reference computations call methods on tensors, modules and distributions, so
# ``torch.Tensor.numpy = ...`` or ``nn.Module.__call__ = ...`` must not outlive the student's cell.
# (NumPy's classes are immutable C types; torch's optimizers rewrap their own ``step`` at run time
# and are left alone.)
_PROTECTED_CLASSES = {
    "torch": ("Tensor",),
    "torch.nn": ("Module", "Parameter", "Linear", "Sequential", "ReLU", "Conv2d", "BatchNorm1d", "BatchNorm2d"),
    "torch.distributions": ("Distribution", "Normal", "MultivariateNormal", "Bernoulli", "Categorical"),
}
_HOT_CLASSES = ("torch.Tensor", "torch.nn.Module")
# Attributes a library itself adds to a protected class at run time (copyreg caches __slotnames__).
_CLASS_ADDITIONS_ALLOWED = {"__slotnames__"}
# Restored also after each call of a student's function (kept small: it runs per call).
_HOT = ("builtins", "math", "numpy", "numpy.testing", "numpy.linalg", "numpy._core.numeric",
        "numpy._core.fromnumeric", "torch", "torch.nn.functional", "torch.testing", "torch.linalg",
        "course_utils.checks", "course_utils.gradcheck")
# Builtins that IPython itself swaps in and out around each cell.
_VOLATILE_BUILTINS = {"_", "__", "___", "exit", "quit", "get_ipython", "display", "__IPYTHON__",
                      "__builtins__", "__name__", "__doc__", "__package__", "__loader__", "__spec__"}
_SYS_HOOKS = ("displayhook", "excepthook", "stdout", "stderr", "meta_path", "settrace", "setprofile")
_MISSING = object()


class _State:
    def __init__(self):
        self.shell = None
        self.locked: set[str] = set()
        self.snapshots: dict[str, tuple[types.ModuleType, dict]] = {}
        self.classes: dict[str, tuple[type, dict]] = {}
        self.sys_hooks: dict[str, object] = {}
        self.shell_classes: list[tuple[type, dict]] = []
        self.shell_instances: list[tuple[object, set]] = []
        self.bound: dict[str, object] = {}   # names locked cells bound to library objects
        self.stash: dict[str, object] = {}   # student names hidden during a locked cell
        self.in_locked = False
        self.depth = 0
        self.finder = None


_state = _State()


def installed() -> bool:
    """True once :func:`install` ran in this process (only in the grading kernel)."""
    return _state.shell is not None


def _protected(name: str) -> bool:
    return name in _PROTECTED or name.startswith(_PROTECTED_PREFIXES)


def _snapshot(name: str, module) -> None:
    if name not in _state.snapshots and isinstance(module, types.ModuleType):
        _state.snapshots[name] = (module, dict(vars(module)))
        for cls_name in _PROTECTED_CLASSES.get(name, ()):
            cls = vars(module).get(cls_name)
            if isinstance(cls, type):
                _state.classes.setdefault(f"{name}.{cls_name}", (cls, dict(vars(cls))))


def _snapshot_loaded() -> None:
    for name, module in list(sys.modules.items()):
        if _protected(name):
            _snapshot(name, module)


class _SnapshotOnImport(importlib.abc.MetaPathFinder):
    """Snapshots a protected module the moment its import finishes, before anyone can patch it."""

    def find_spec(self, fullname, path, target=None):
        if not _protected(fullname) or fullname in _state.snapshots:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _SnapshotLoader(spec.loader, fullname)
        return spec


class _SnapshotLoader(importlib.abc.Loader):
    def __init__(self, loader, name):
        self._loader, self._name = loader, name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _snapshot(self._name, module)

    def __getattr__(self, attr):  # resource readers, get_source, is_package, ...
        return getattr(self._loader, attr)


def _restore_modules(names=None) -> None:
    items = _state.snapshots.items() if names is None else (
        (n, _state.snapshots[n]) for n in names if n in _state.snapshots)
    for name, (module, snap) in items:
        current = vars(module)
        for key, value in snap.items():
            if name == "builtins" and key in _VOLATILE_BUILTINS:
                continue
            if current.get(key, _MISSING) is not value:
                try:
                    current[key] = value
                except TypeError:  # a read-only namespace
                    pass
        if sys.modules.get(name, module) is not module:
            sys.modules[name] = module


def _restore_class_dict(cls: type, snap: dict, allowed_additions=frozenset()) -> None:
    """Put ``cls``'s attributes back as in ``snap``: replaced ones restored, added ones removed
    (an added attribute can shadow a base class's: ``torch.Tensor.numpy = ...``)."""
    current = cls.__dict__
    for key, value in snap.items():
        if current.get(key, _MISSING) is not value:
            try:
                setattr(cls, key, value)
            except (AttributeError, TypeError):
                pass
    for key in [k for k in current if k not in snap and k not in allowed_additions]:
        try:
            delattr(cls, key)
        except (AttributeError, TypeError):
            pass


def _restore_classes(names=None) -> None:
    items = _state.classes.items() if names is None else (
        (n, _state.classes[n]) for n in names if n in _state.classes)
    for _, (cls, snap) in items:
        _restore_class_dict(cls, snap, _CLASS_ADDITIONS_ALLOWED)


def _restore_sys_and_shell() -> None:
    for key, value in _state.sys_hooks.items():
        if key in ("settrace", "setprofile"):
            continue
        if getattr(sys, key, _MISSING) is not value:
            setattr(sys, key, value)
    finder = _state.finder
    if finder is not None and finder not in sys.meta_path:
        sys.meta_path.insert(0, finder)
    sys.settrace(None)
    sys.setprofile(None)
    for cls, snap in _state.shell_classes:
        _restore_class_dict(cls, snap)
    for obj, keys in _state.shell_instances:
        for key in [k for k in vars(obj) if k not in keys and callable(getattr(type(obj), k, None))]:
            try:
                delattr(obj, key)  # an instance attribute hiding a method (showtraceback = ...)
            except AttributeError:
                pass
    shell = _state.shell
    if shell is not None:
        callbacks = shell.events.callbacks
        if _pre_run_cell not in callbacks.get("pre_run_cell", []):
            shell.events.register("pre_run_cell", _pre_run_cell)
        if _post_run_cell not in callbacks.get("post_run_cell", []):
            shell.events.register("post_run_cell", _post_run_cell)


def restore(full: bool = True) -> None:
    """Put the protected libraries back as they were when imported (all of them, or the hot few)."""
    if full:
        _snapshot_loaded()
    _restore_modules(None if full else _HOT)
    _restore_classes(None if full else _HOT_CLASSES)
    _restore_sys_and_shell()


# ----------------------------------------------------------------------------- student code
def _guarded(func):
    if getattr(func, "__workbook_guarded__", False):
        return func

    @functools.wraps(func)
    def guarded(*args, **kwargs):
        # A trace function active when a locked cell calls the student (course_utils'
        # check_vectorized counting lines) was installed by the course: put it back after the
        # restore below, which removes any tracer the student's code may have set.
        trace = sys.gettrace() if _state.depth == 0 else None
        _state.depth += 1
        try:
            return func(*args, **kwargs)
        finally:
            _state.depth -= 1
            if _state.depth == 0:
                # untraced: the restore's own lines must not count as the student's
                sys.settrace(None)
                restore(full=False)
                if trace is not None:
                    sys.settrace(trace)

    guarded.__workbook_guarded__ = True
    return guarded


def _is_student(obj) -> bool:
    return getattr(obj, "__module__", None) == "__main__"


def _wrap_student_code(ns: dict) -> None:
    for name, value in list(ns.items()):
        if name.startswith("__"):
            continue
        if isinstance(value, types.FunctionType) and _is_student(value):
            ns[name] = _guarded(value)
        elif isinstance(value, type) and _is_student(value):
            for attr, member in list(vars(value).items()):
                if isinstance(member, types.FunctionType) and (
                        not attr.startswith("__") or attr in ("__init__", "__call__")):
                    try:
                        setattr(value, attr, _guarded(member))
                    except (AttributeError, TypeError):
                        pass


def _is_library_object(value) -> bool:
    if isinstance(value, types.ModuleType):
        return True
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type)):
        return not _is_student(value)
    return False


# ----------------------------------------------------------------------------- cell events
def _digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _pre_run_cell(info) -> None:
    locked = _digest(getattr(info, "raw_cell", "") or "") in _state.locked
    restore(full=True)
    if not locked:
        return
    ns = _state.shell.user_ns
    for name, value in _state.bound.items():
        if ns.get(name, _MISSING) is not value:
            ns[name] = value
    real = _state.snapshots.get("builtins", (None, {}))[1]
    for name in [n for n in ns if n in real and not n.startswith("_") and n not in _VOLATILE_BUILTINS]:
        if name not in _state.bound and ns[name] is not real[name]:
            _state.stash[name] = ns.pop(name)
    _wrap_student_code(ns)
    _state.in_locked = True


def _post_run_cell(result) -> None:
    # first, before IPython and the kernel's threads go on with a patched builtins module
    restore(full=True)
    if not _state.in_locked:
        return
    _state.in_locked = False
    ns = _state.shell.user_ns
    for name, value in _state.stash.items():
        ns.setdefault(name, value)
    _state.stash.clear()
    for name, value in list(ns.items()):
        if not name.startswith("_") and _is_library_object(value):
            _state.bound[name] = value
    _snapshot_loaded()


def install(shell, locked_cells) -> None:
    """Start guarding ``shell`` (an IPython shell); ``locked_cells`` are SHA-256 digests of the course's cells."""
    if _state.shell is not None:
        return
    _state.shell = shell
    _state.locked = set(locked_cells)
    _snapshot_loaded()
    _state.sys_hooks = {key: getattr(sys, key) for key in _SYS_HOOKS if hasattr(sys, key)}
    _state.sys_hooks["meta_path"] = sys.meta_path
    for obj in (shell, getattr(shell, "displayhook", None), getattr(shell, "display_pub", None)):
        if obj is None:
            continue
        _state.shell_instances.append((obj, set(vars(obj))))
        for cls in type(obj).__mro__:
            if cls is object or not (cls.__module__ or "").startswith(("IPython", "ipykernel")):
                continue
            _state.shell_classes.append((cls, dict(cls.__dict__)))
    _state.finder = _SnapshotOnImport()
    sys.meta_path.insert(0, _state.finder)
    shell.events.register("pre_run_cell", _pre_run_cell)
    shell.events.register("post_run_cell", _post_run_cell)
