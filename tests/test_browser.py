"""The student's view, in a real browser: JupyterLab + headless Chromium (Debian's package)
driven by Playwright. Screenshots go to test-artifacts/.

Under CI=true a missing browser is a failure; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import nbformat
import pytest

from autograder.course import Course
from tests.conftest import IN_CI, REPO
from tests.lab_server import running_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.backprop]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _short_runtime_dir() -> tempfile.TemporaryDirectory:
    """A runtime folder for the kernels' Unix sockets: a socket's path has at most ~100 bytes,
    less than pytest's deep tmp_path leaves for Jupyter's kernel-<uuid>-ipc-<n> names."""
    return tempfile.TemporaryDirectory(prefix="gf-rt-")


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        reason = (
            "Debian's chromium (apt-get install chromium) and the playwright package are needed"
        )
        if IN_CI:
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of notebooks/ plus a filled-in copy of lesson 1."""
    chromium = _chromium()
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    shutil.copy(Course().master("01_backprop"), root / "notebooks" / "01_backprop_solution.ipynb")
    nbformat.write(_widgets_notebook(), root / "notebooks" / "widgets.ipynb")
    # Render every cell: JupyterLab 4 virtualises long notebooks (off-screen cells leave the DOM).
    settings = root / "settings"
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}'
    )
    with (
        _short_runtime_dir() as runtime,
        running_lab(
            root,
            ["--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings}"],
            log=root / "lab.log",
            env={"JUPYTER_RUNTIME_DIR": runtime},
        ) as server,
    ):
        yield {
            "base": server.base,
            "token": server.token,
            "chromium": chromium,
            "root": root,
            "log": root / "lab.log",
        }


def _widgets_notebook() -> nbformat.NotebookNode:
    """Lesson code that draws progress bars (fit), widgets (lesson 02's explorer) and the
    glossary that ends each lesson."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from coursekit import data, models, train, widgets\n"
            "for depth in (1, 2):\n"
            "    train.fit(models.mlp(64, 8, depth, 10), data.digits(), epochs=3)"
        ),
        nbformat.v4.new_code_cell("widgets.gradient_explorer()"),
        nbformat.v4.new_code_cell(
            'from coursekit import glossary\nglossary.show("02_vanishing_gradients")'
        ),
    ]
    return nb


def _run_all(lab, notebook: str, screenshot: str, timeout: float = 240, save: bool = False):
    """Open a notebook, run all cells, wait until nothing runs (then save it, if asked);
    return the page's facts."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=lab["chromium"], args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        workspace = notebook.replace(".", "-")  # a fresh workspace: no tabs restored
        page.goto(
            f"{lab['base']}/lab/workspaces/{workspace}/tree/notebooks/{notebook}"
            f"?token={lab['token']}&reset"
        )
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=90_000)
        page.wait_for_function(
            "() => { const s = document.querySelector('.jp-Notebook-ExecutionIndicator');"
            " return s && s.getAttribute('data-status') === 'idle'; }",
            timeout=90_000,
        )
        started = (  # some prompt shows a number or a star
            "() => [...document.querySelectorAll('.jp-InputPrompt')]"
            ".some(p => /\\[(\\d+|\\*)\\]/.test(p.textContent))"
        )
        first_prompt = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt"
        for attempt in range(3):  # a cold kernel may miss the first request: ask again
            page.locator(first_prompt).first.click()
            page.keyboard.press("Escape")
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            try:
                page.wait_for_function(started, timeout=30_000)
                break
            except Exception:
                if attempt == 2:
                    page.screenshot(path=str(ARTIFACTS / screenshot))
                    raise
        deadline = time.time() + timeout
        quiet_since = None
        while time.time() < deadline:  # done when no cell is queued or running for 3 s
            busy = page.evaluate(
                "() => [...document.querySelectorAll('.jp-InputPrompt')]"
                ".some(p => p.textContent.includes('*'))"
            )
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.time()
            elif time.time() - quiet_since > 3:
                break
            time.sleep(0.5)
        else:
            page.screenshot(path=str(ARTIFACTS / screenshot), full_page=False)
            pytest.fail(f"{notebook} did not finish running in {timeout} s")
        facts = page.evaluate(
            """() => ({
                cells: document.querySelectorAll('.jp-Notebook .jp-Cell').length,
                outputs: [...document.querySelectorAll('.jp-OutputArea-output')]
                    .map(o => o.innerText),
                images: document.querySelectorAll('.jp-OutputArea-output img').length,
                errors: [...document.querySelectorAll('.jp-OutputArea-output')].filter(o =>
                    o.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr').length,
                executed: [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                    .filter(p => /\\[\\d+\\]/.test(p.textContent)).length,
                code_cells: document.querySelectorAll('.jp-CodeCell').length,
                news: document.body.innerText.includes('official Jupyter news'),
                courses_error: document.body.innerText.includes('Error fetching courses'),
            })"""
        )
        page.screenshot(path=str(ARTIFACTS / screenshot), full_page=False)
        if save:
            path = lab["root"] / "notebooks" / notebook
            before = path.stat().st_mtime_ns
            page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
            deadline = time.time() + 30
            while path.stat().st_mtime_ns == before and time.time() < deadline:
                time.sleep(0.2)
            assert path.stat().st_mtime_ns != before, f"{notebook} was not saved"
        browser.close()
    return facts


def test_student_sees_lesson_1_run_and_its_first_exercise_not_implemented(lab):
    facts = _run_all(lab, "01_backprop.ipynb", "browser-01_backprop-student.png")
    assert facts["cells"] > 20, "the notebook did not render"
    assert facts["images"] >= 1, "no figure appeared before the first exercise"
    assert facts["executed"] >= 3, "the kernel did not run the cells"
    assert any("not implemented yet" in text for text in facts["outputs"]), facts["outputs"][:10]
    # a student's Lab: no news pop-up over the lesson, no assignment list that cannot work
    assert not facts["news"] and not facts["courses_error"], facts
    # kernels talk to the server over Unix sockets: no plain-TCP warning at their start
    log = lab["log"].read_text()
    assert "Kernel started" in log, log[-2000:]
    assert "without encryption" not in log, log[-2000:]


def test_the_solution_runs_to_the_end_without_an_error(lab):
    facts = _run_all(lab, "01_backprop_solution.ipynb", "browser-01_backprop-solution.png")
    assert facts["executed"] == facts["code_cells"], facts
    assert facts["errors"] == 0
    assert not any(
        "Traceback" in text or "Error" in text.split("\n")[0] for text in facts["outputs"]
    )
    assert facts["images"] >= 4


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def test_a_saved_notebook_reopens_without_a_broken_widget(lab):
    """Progress bars and the explorer, run, saved and reopened (a copy: a kernel with none of
    the widgets' models) show no "Error displaying widget: model not found"."""
    facts = _run_all(lab, "widgets.ipynb", "browser-widgets-run.png", save=True)
    assert facts["errors"] == 0 and facts["executed"] == facts["code_cells"] == 3, facts
    saved = lab["root"] / "notebooks" / "widgets.ipynb"
    nb = json.loads(saved.read_text())
    views = [
        o["data"][WIDGET_VIEW]["model_id"]
        for cell in nb["cells"]
        for o in cell.get("outputs", [])
        if WIDGET_VIEW in o.get("data", {})
    ]
    bars = [o for o in nb["cells"][0]["outputs"] if "data" in o]
    assert bars and all(set(o["data"]) == {"text/plain"} for o in bars), "fit's bars are text"
    assert views, "the explorer is a widget in a live Lab"
    state = nb["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    assert set(views) <= set(state), "a widget output whose model the notebook did not save"
    shutil.copy(saved, saved.with_name("reopened.ipynb"))

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=lab["chromium"], args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(
            f"{lab['base']}/lab/workspaces/reopened/tree/notebooks/reopened.ipynb"
            f"?token={lab['token']}&reset"
        )
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=90_000)
        page.wait_for_function(
            "() => { const s = document.querySelector('.jp-Notebook-ExecutionIndicator');"
            " return s && s.getAttribute('data-status') === 'idle'; }",
            timeout=90_000,
        )
        page.wait_for_selector(".jp-OutputArea-output .widget-slider", timeout=30_000)
        text = page.evaluate("() => document.body.innerText")
        figures = page.locator(".jp-OutputArea-output .jupyter-widgets img").count()
        glossary = page.evaluate(  # the glossary table, as the browser lays it out
            """() => [...document.querySelectorAll('table.coursekit-glossary td')].map(td =>
                [td.lang, getComputedStyle(td).direction, td.innerText])"""
        )
        page.screenshot(path=str(ARTIFACTS / "browser-widgets-reopened.png"))
        browser.close()
    assert "Error displaying widget" not in text and "model not found" not in text
    assert figures == 1, "the explorer's saved figure did not come back"
    from coursekit import glossary as terms

    rows = terms.terms("02_vanishing_gradients")
    assert glossary == [
        [code, "rtl" if code in ("ar", "fa") else "ltr", row[code]]
        for row in rows
        for code in ("en", "ar", "tr", "fa")
    ], glossary


def _kernel_idle(lab_url: str) -> bool:
    """Whether the server behind ``lab_url`` (with its token) has a kernel, all idle."""
    base, token = lab_url.split("/lab/")[0], lab_url.split("token=")[1]
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=5) as answer:
        kernels = json.load(answer)
    return bool(kernels) and all(k["execution_state"] == "idle" for k in kernels)


def test_make_lab_prints_and_opens_the_lesson_itself(tmp_path):
    """`make lab LESSON=…` prints a URL that opens that lesson (not the Launcher), hands the
    same page to the browser, and its kernel starts without the plain-TCP warning."""
    chromium = _chromium()
    runtime = _short_runtime_dir()
    lesson = "03_exploding_gradients"
    notebook = REPO / "notebooks" / f"{lesson}.ipynb"
    original = notebook.read_bytes()
    opened = tmp_path / "opened"
    recorder = tmp_path / "browser.sh"
    recorder.write_text(f'#!/bin/sh\necho "$1" >> "{opened}"\n')
    recorder.chmod(0o755)
    env = {
        **os.environ,
        "BROWSER": f"{recorder} %s",  # Python's webbrowser runs this: it records the page
        "JUPYTER_RUNTIME_DIR": runtime.name,
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    log = tmp_path / "make-lab.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["make", "-s", "-o", "setup", "lab", f"LESSON={lesson}"],  # set-up is done already
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url_re = re.compile(r"http://127\.0\.0\.1:\d+/\S+")
        deadline = time.time() + 120
        while not (found := url_re.search(log.read_text())) and time.time() < deadline:
            assert proc.poll() is None, log.read_text()[-2000:]
            time.sleep(0.5)
        assert found, f"make lab printed no URL:\n{log.read_text()[-2000:]}"
        url = found.group(0)
        assert f"/lab/tree/notebooks/{lesson}.ipynb?token=" in url, url

        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=90_000)
            page.wait_for_function(
                "() => { const s = document.querySelector('.jp-Notebook-ExecutionIndicator');"
                " return s && s.getAttribute('data-status') === 'idle'; }",
                timeout=90_000,
            )
            current = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current").inner_text()
            launcher = page.locator(".jp-Launcher:visible").count()
            page.screenshot(path=str(ARTIFACTS / "browser-make-lab.png"))
            deadline = time.time() + 120  # the page starts the lesson's kernel: wait for it
            while time.time() < deadline and not _kernel_idle(url):
                time.sleep(0.5)
            browser.close()
        assert current.strip() == f"{lesson}.ipynb", current
        assert launcher == 0, "the Launcher is showing"
        deadline = time.time() + 10
        while not opened.exists() and time.time() < deadline:
            time.sleep(0.2)
        target = opened.read_text().split()[0] if opened.exists() else ""
        page_opened = target.removeprefix("file://")
        shown = open(page_opened).read() if page_opened.startswith("/") else target
        assert f"lab/tree/notebooks/{lesson}.ipynb" in shown, shown
        text = log.read_text()
        assert "Kernel started" in text and "without encryption" not in text, text[-2000:]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        runtime.cleanup()
        if notebook.read_bytes() != original:
            notebook.write_bytes(original)
            pytest.fail(f"the Lab changed {notebook}")
