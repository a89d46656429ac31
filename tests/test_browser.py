"""The student's view in a real browser: JupyterLab + headless Chromium, every released notebook.

A student workspace is made exactly as ``make lab`` makes it (``course.py student``), plus a
completed copy of each notebook (every answer filled in with the reference solution).
JupyterLab is started on 127.0.0.1 with a random token, and headless Chromium (the system's
package, driven by Playwright) opens each notebook and runs every cell, one at a time as a
student would (a stub's error does not stop the rest).  For each notebook it checks that

* the nbgrader extension's toolbar (the *Validate* button) is there,
* the widgets render (widget views appear, never "Error displaying widget"),
* as released, the only errors are the stubs' ``NotImplementedError`` and one ``CheckFailure``
  per unanswered concept check;
* completed, no cell errs, the plots appear (rendered images) and the widgets appear.

Screenshots (the top of each notebook and its first plot) are kept in
``$WORKBOOK_ARTIFACTS/browser`` (default ``test-artifacts/browser``).  Skipped when Chromium or
Playwright is not installed (``apt-get install chromium``; Playwright's own browser download is
not needed).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import nbformat

from grading_support import REPO, Submission, assignments, build_submission, course, course_env, source_notebook

pytest.importorskip("playwright")
CHROMIUM = next((p for p in (os.environ.get("WORKBOOK_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser"), "/usr/bin/chromium") if p and os.path.exists(p)), None)
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium)")]
ARTIFACTS = Path(os.environ.get("WORKBOOK_ARTIFACTS", REPO / "test-artifacts")) / "browser"

CELL_LIMIT_S = int(os.environ.get("WORKBOOK_BROWSER_CELL_LIMIT", "180"))  # seconds per cell
RUN_ALL_ONE_BY_ONE = """
async (path) => {
  const CELL_LIMIT_MS = CELL_LIMIT_S_PLACEHOLDER;
  const app = window.jupyterapp;
  const panel = Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === path);
  app.shell.activateById(panel.id);
  await panel.sessionContext.ready;
  const notebook = panel.content;
  const stuck = [], seconds = [];
  for (let i = 0; i < notebook.widgets.length; i++) {
    const started = Date.now();
    if (app.shell.currentWidget !== panel) app.shell.activateById(panel.id);
    notebook.activeCellIndex = i;
    const run = app.commands.execute('notebook:run-cell');
    const limit = new Promise(resolve => setTimeout(() => resolve('timeout'), CELL_LIMIT_MS));
    if (await Promise.race([run, limit]) === 'timeout') {
      stuck.push(i);
      await app.commands.execute('notebook:interrupt-kernel');
      await Promise.race([run, new Promise(resolve => setTimeout(resolve, 10000))]);
    }
    seconds.push((Date.now() - started) / 1000);
  }
  const errors = [];
  let images = 0, widgets = 0, code = 0, executed = 0;
  for (const cell of notebook.widgets) {
    if (cell.model.type !== 'code') continue;
    code += 1;
    if (cell.model.executionCount !== null) executed += 1;
    for (const out of cell.model.outputs.toJSON()) {
      if (out.output_type === 'error') errors.push(out.ename);
      const data = out.data || {};
      if (data['image/png'] || data['image/svg+xml']) images += 1;
      if (data['application/vnd.jupyter.widget-view+json']) widgets += 1;
    }
  }
  return {cells: notebook.widgets.length, code, executed, errors, images, widgets, stuck, seconds};
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    root = base / "course"
    for assignment in assignments():
        shutil.copytree(REPO / "notebooks" / assignment, root / "notebooks" / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    workspace = base / "workspace"
    course(root, "student", "--dest", str(workspace))
    for assignment in assignments():
        (release,) = sorted((workspace / assignment).glob("*.ipynb"))
        done = build_submission(nbformat.read(release, as_version=4), source_notebook(assignment)[1],
                                Submission("reference"))
        nbformat.write(done, release.with_name(f"completed-{release.name}"))
    port, token = _free_port(), secrets.token_hex(16)
    env = course_env(root, 120)
    for key in ("MPLBACKEND", "COURSE_UTILS_NO_PROGRESS", "WORKBOOK_COURSE_ROOT", "NBGRADER_EXECUTION"):
        env.pop(key, None)  # what a student's session has: inline plots, progress bars
    env["JUPYTER_RUNTIME_DIR"] = str(base / "runtime")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={workspace}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.open_browser=False", *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=open(base / "lab.log", "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not start:\n{(base / 'lab.log').read_text()[-3000:]}")
        yield url, token, workspace
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.mark.parametrize("variant", ["release", "completed"])
@pytest.mark.parametrize("assignment", assignments())
def test_student_runs_every_cell_in_jupyterlab(lab, browser, assignment, variant):
    """``release``: the notebook as a student first opens it (every answer a stub);
    ``completed``: the same notebook with every answer filled in (the reference solutions)."""
    url, token, workspace = lab
    notebook = next(p for p in sorted((workspace / assignment).glob("*.ipynb"))
                    if p.name.startswith("completed-") == (variant == "completed"))
    name = f"{assignment}-{variant}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    console = []
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    try:
        path = f"{assignment}/{notebook.name}"
        # a workspace of its own, reset: no notebook from an earlier page is restored next to it
        page.goto(f"{url}/lab/workspaces/{name}/tree/{path}?reset&token={token}", timeout=120_000)
        page.wait_for_function(
            "(path) => window.jupyterapp && Array.from(window.jupyterapp.shell.widgets('main')).some("
            "w => w.context && w.context.path === path && w.content.widgets.length > 0)", arg=path, timeout=120_000)
        page.wait_for_selector(".jp-NotebookPanel-toolbar .validate-button", timeout=60_000)
        page.set_default_timeout(600_000)
        result = page.evaluate(RUN_ALL_ONE_BY_ONE.replace("CELL_LIMIT_S_PLACEHOLDER", str(CELL_LIMIT_S * 1000)), path)
        page.wait_for_timeout(1500)  # let the last widget views and images attach
        page.screenshot(path=str(ARTIFACTS / f"{name}-end.png"))
        images = page.locator(".jp-OutputArea-output img")
        if images.count():
            images.first.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / f"{name}-first-plot.png"))
        broken = page.get_by_text("Error displaying widget").count()
        rendered_widgets = page.locator(".jupyter-widgets").count() + page.locator(".widget-output").count()
        rendered_images = images.count()
        toolbar = page.locator(".jp-NotebookPanel-toolbar .validate-button").count()
    finally:
        page.close()
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(
        {**result, "rendered_images": rendered_images, "rendered_widgets": rendered_widgets,
         "widget_errors": broken, "console_errors": console[:20]}, indent=2))

    assert toolbar >= 1, "the nbgrader Validate button is missing from the notebook toolbar"
    assert not result["stuck"], f"cells {result['stuck']} did not finish within {CELL_LIMIT_S} s"
    assert result["executed"] == result["code"], f"only {result['executed']} of {result['code']} code cells ran"
    assert broken == 0, f"{broken} widget(s) show 'Error displaying widget'"
    if result["widgets"]:
        assert rendered_widgets >= 1, f"{result['widgets']} widget outputs but no widget view rendered"
    if variant == "release":
        # the stubs raise NotImplementedError; an unanswered concept check says so with a CheckFailure
        _, source = source_notebook(assignment)
        concepts = sum(1 for c in source.cells
                       if c.get("metadata", {}).get("nbgrader", {}).get("grade_id", "").startswith("concept_"))
        assert "NotImplementedError" in result["errors"] and \
            set(result["errors"]) <= {"NotImplementedError", "CheckFailure"}, (
            f"errors other than the stubs' NotImplementedError: {result['errors']}")
        assert result["errors"].count("CheckFailure") == concepts, (
            f"{result['errors'].count('CheckFailure')} CheckFailures for {concepts} unanswered concept checks")
    else:
        assert result["errors"] == [], f"the completed notebook raised {result['errors']}"
        assert result["images"] >= 1 and rendered_images >= 1, (
            f"no plot appeared ({result['images']} image outputs, {rendered_images} rendered)")
        assert result["widgets"] >= 1 and rendered_widgets >= 1, "no widget appeared"
