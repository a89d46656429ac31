"""course_utils.guard in a real IPython shell: what a student's cell patches is undone before the course's cells.

Each case runs in a fresh Python process (the guard is process-wide and cannot be uninstalled):
an IPython ``InteractiveShell`` with the guard installed, told which cells are the course's by
their SHA-256, runs student cells and locked cells in turn.  The grading-pipeline view of the
same defences is tests/test_integrity.py; these are the fast, direct checks.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")

HARNESS = r'''
import hashlib, json, sys
from IPython.core.interactiveshell import InteractiveShell
import course_utils.guard as guard

cells = json.loads(sys.argv[1])          # [[locked?, source], ...]
shell = InteractiveShell.instance()
guard.install(shell, [hashlib.sha256(src.encode()).hexdigest() for locked, src in cells if locked])
shell.user_ns["RESULT"] = RESULT = {}
for locked, src in cells:
    result = shell.run_cell(src)
    if locked and not result.success:
        RESULT.setdefault("errors", []).append(repr(result.error_in_exec or result.error_before_exec))
print("RESULT=" + json.dumps(RESULT))
'''

SETUP = (True, "import numpy as np\nimport torch\nimport torch.nn as nn\nfrom torch.distributions import Normal\n"
               "_ORIGINAL = dict(vars(torch.Tensor))\n")


def run(*cells) -> dict:
    proc = subprocess.run([sys.executable, "-c", HARNESS, json.dumps([SETUP, *cells])],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT="))
    out = json.loads(line[len("RESULT="):])
    assert "errors" not in out, out["errors"]
    return out


def student(src: str):
    return (False, textwrap.dedent(src))


def course(src: str):
    return (True, textwrap.dedent(src))


def test_patched_and_added_tensor_methods_are_undone_before_a_course_cell():
    out = run(
        student("""
            torch.Tensor.numpy = lambda self, *a, **k: np.zeros(tuple(self.shape))   # shadows the C method
            torch.Tensor.backward = lambda self, *a, **k: None                     # replaces a Python one
            nn.Module.__call__ = lambda self, *a, **k: 'fake'
            Normal.log_prob = lambda self, value: torch.zeros(())
            torch.allclose = lambda *a, **k: True
        """),
        course("""
            RESULT['numpy'] = 'numpy' not in vars(torch.Tensor)
            RESULT['values'] = torch.tensor([1.5, 2.5]).numpy().tolist()
            _x = torch.ones(2, requires_grad=True); (2 * _x).sum().backward()
            RESULT['backward'] = _x.grad.tolist()
            RESULT['module'] = type(nn.Linear(2, 1)(torch.ones(1, 2))).__name__
            RESULT['log_prob'] = round(float(Normal(0.0, 1.0).log_prob(torch.tensor(0.0))), 6)
            RESULT['allclose'] = torch.allclose(torch.zeros(1), torch.ones(1))
        """),
    )
    assert out == {"numpy": True, "values": [1.5, 2.5], "backward": [2.0, 2.0], "module": "Tensor",
                   "log_prob": -0.918939, "allclose": False}


def test_a_patch_made_inside_a_graded_call_is_undone_when_the_call_returns():
    out = run(
        student("""
            def answer(x):
                torch.Tensor.numpy = lambda self, *a, **k: np.zeros(tuple(self.shape))
                torch.Tensor.detach = lambda self: torch.zeros(())
                nn.Module.__call__ = lambda self, *a, **k: 'fake'
                return 2 * x
        """),
        course("""
            _y = answer(torch.tensor([1.0, 3.0]))
            RESULT['right_after'] = [k for k in ('numpy', 'detach') if vars(torch.Tensor).get(k) is not _ORIGINAL.get(k)]
            RESULT['values'] = _y.detach().numpy().tolist()
            RESULT['module'] = type(nn.Linear(2, 1)(torch.ones(1, 2))).__name__
        """),
    )
    assert out == {"right_after": [], "values": [2.0, 6.0], "module": "Tensor"}


def test_the_student_keeps_their_own_classes_and_the_library_keeps_its_caches():
    """What the guard must not undo: a student's nn.Module subclass, and attributes torch adds itself."""
    out = run(
        student("""
            import copy
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(2, 1)
                def forward(self, x):
                    return self.fc(x) * 0 + 7
            Net.extra = 'mine'
            _copy = copy.deepcopy(torch.ones(2))      # copyreg caches torch.Tensor.__slotnames__
        """),
        course("""
            RESULT['net'] = Net()(torch.ones(1, 2)).item()
            RESULT['extra'] = Net.extra
            _opt = torch.optim.SGD(Net().parameters(), lr=0.1)
            _opt.step()
            RESULT['optimizer'] = 'ok'
        """),
    )
    assert out == {"net": 7.0, "extra": "mine", "optimizer": "ok"}
