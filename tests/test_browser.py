"""End to end in a real browser: Debian's chromium, driven by Playwright.

* Feedback: one submission of 01 is graded; its feedback page loads MathJax from the copy in the
  feedback folder (unit test), and opened from a copy of that folder with every network request
  refused, its math is typeset and no ``$$`` is left (browser).
* JupyterLab, started by the code ``cvcourse lab`` runs (:mod:`autograder.lab`) on a loopback port with
  its own settings and workspaces, on copies of notebooks 01 and 05 filled with the instructor's
  solutions: nbgrader's Assignment list shows the course's release with no error and submits it; 01
  runs top to bottom with every exercise's check printed and figures shown, and nbgrader's Validate
  button says it passes; in 05 the activation widget's channel slider changes the picture.

Screenshots go to ``$CVCOURSE_SCREENSHOTS`` (default ``work/screenshots/``); the test prints the folder.
The browser tests are skipped only when chromium is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from autograder import assignments as specs
from autograder import feedback, lab
from autograder.course import COURSE_ID, NOTEBOOKS, REPO
from autograder.samples import filled

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed "
                                    "(Debian package chromium: `apt-get install chromium`; .ci/run installs it)")

#: Generous waits: a loaded 2-core machine runs the browser, the server and the kernel at once.
SERVER_START_S = 120
KERNEL_S = 120
CELL_S = 120
VALIDATE_S = 240
MS = 1000

#: JupyterLab user settings for the test: every cell in the DOM (no virtual scrolling), no news requests.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


# -- shared fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def screenshots(request) -> Path:
    """The screenshot folder; its name is printed past pytest's capture, so a passing run shows it too."""
    folder = Path(os.environ.get("CVCOURSE_SCREENSHOTS", REPO / "work" / "screenshots")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("FAILED_*.png"):
        stale.unlink()
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print(f"\nbrowser test screenshots: {folder}", flush=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# -- feedback ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graded_feedback(tmp_path_factory) -> Path:
    """Grade one student's 01 (the instructor's answers) and return the feedback HTML file."""
    from autograder.grade import grade

    name = "01_conv_pool"
    base = tmp_path_factory.mktemp("feedback")
    notebook = base / "submissions" / "ada" / name / f"{name}.ipynb"
    notebook.parent.mkdir(parents=True)
    nbformat.write(filled(name), notebook)
    (result,) = grade(base / "submissions", base / "out", [name], progress=lambda _: None,
                      sandboxed=shutil.which("bwrap") is not None)
    assert result.status == "graded" and result.feedback is not None, result.status
    return result.feedback


def _script_sources(html: str) -> list[str]:
    return re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)


def test_feedback_loads_mathjax_from_the_feedback_folder(graded_feedback):
    html = graded_feedback.read_text()
    assert "$$" in html  # the notebook's display math is there, to be typeset in the browser
    (mathjax,) = [src for src in _script_sources(html) if "MathJax.js" in src]
    assert not re.match(r"^[a-z]+:|^/", mathjax), f"MathJax is loaded from {mathjax}, not by a relative path"
    target = (graded_feedback.parent / mathjax.split("?")[0]).resolve()
    assert target.is_file() and target.parent == graded_feedback.parent.parent / feedback.MATHJAX_FOLDER
    assert "MathJax.fileversion" in target.read_text()
    assert not re.search(r"https?://", " ".join(_script_sources(html)))
    # the output jax and web fonts the page asks for are in the copy
    assert (target.parent / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()
    assert any((target.parent / "fonts" / "HTML-CSS" / "STIX-Web" / "woff").glob("*.woff"))


@needs_chromium
def test_feedback_math_is_typeset_offline(graded_feedback, browser, screenshots, tmp_path):
    # a student's copy of the feedback folder, opened from disk with the network refused
    copy = tmp_path / "copy"
    shutil.copytree(graded_feedback.parent.parent, copy)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    remote: list[str] = []

    def refuse(route):
        remote.append(route.request.url)
        route.abort()
    page.route(re.compile(r"^(https?|wss?|ftp)://"), refuse)
    page.goto((copy / graded_feedback.parent.name / graded_feedback.name).as_uri())
    page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue && MathJax.Hub.queue.pending === 0"
                           " && document.querySelectorAll('.MathJax_Display').length > 0", timeout=60 * MS)
    typeset = page.evaluate("""() => ({
        inline: document.querySelectorAll('span.MathJax').length,
        display: document.querySelectorAll('div.MathJax_Display').length,
        tex: document.querySelectorAll('script[type^="math/tex"]').length,
        font: MathJax.OutputJax['HTML-CSS'].fontInUse,
        errors: document.querySelectorAll('.MathJax_Error, merror').length})""")
    text = page.inner_text("body")
    # the picture: a formula with "<" in it if there is one (markdown sanitising escapes it), else the first
    page.evaluate("""() => {
        const scripts = [...document.querySelectorAll('script[type="math/tex; mode=display"]')];
        const pick = scripts.find(s => /<|&lt;/.test(s.textContent)) || scripts[0];
        pick.previousElementSibling.scrollIntoView({block: 'center'});
    }""")
    page.screenshot(path=str(screenshots / "feedback_math.png"))
    page.close()
    assert remote == [], f"the feedback page asked the network for {remote}"
    assert typeset["display"] >= 1 and typeset["inline"] >= 10 and typeset["tex"] == typeset["inline"]
    assert typeset["font"] == "STIX-Web" and typeset["errors"] == 0
    assert "$$" not in text and "\\sum" not in text


# -- JupyterLab ----------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((lab.LOOPBACK, 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """JupyterLab as ``cvcourse lab`` starts it, on a folder with solution-filled 01 and 05."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    for name in ("01_conv_pool", "05_visualization"):
        shutil.copytree(NOTEBOOKS / name, root / name, ignore=shutil.ignore_patterns("figures", ".*"))
        nbformat.write(filled(name), root / name / f"{name}.ipynb")
    for rel, values in LAB_SETTINGS.items():
        (base / "settings" / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / "settings" / rel).write_text(json.dumps(values))
    home = lab.prepare(base / "home")
    # an instructor's release of 01 into the course's exchange, as `nbgrader release_assignment` leaves it
    released = home.exchange / COURSE_ID / "outbound" / "01_conv_pool"
    shutil.copytree(NOTEBOOKS / "01_conv_pool", released, ignore=shutil.ignore_patterns("figures", ".*"))
    (home.exchange / COURSE_ID / "inbound").mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    argv = lab.command(port, root=root, token=token, open_browser=False, settings_dir=base / "settings",
                       workspaces_dir=base / "workspaces")
    env = lab.environment(home)
    env.pop("MPLBACKEND", None)  # the kernel must show figures inline (conftest sets Agg for the tests)
    env.update(JUPYTER_RUNTIME_DIR=str(base / "runtime"), IPYTHONDIR=str(base / "ipython"))
    log = (base / "lab.log").open("w")
    server = subprocess.Popen(argv, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{lab.LOOPBACK}:{port}"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    deadline = time.monotonic() + SERVER_START_S
    while True:
        assert server.poll() is None, f"JupyterLab exited:\n{(base / 'lab.log').read_text()[-3000:]}"
        try:
            with direct.open(f"{url}/api/status?token={token}", timeout=5) as reply:
                if reply.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, f"JupyterLab did not answer:\n{(base / 'lab.log').read_text()[-3000:]}"
        time.sleep(0.5)
    yield {"url": url, "token": token, "root": root, "log": base / "lab.log", "home": home}
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    log.close()


@contextlib.contextmanager
def _notebook_page(browser, server, relpath: str, screenshots: Path):
    """A page with the notebook open and its kernel idle; a screenshot is saved if the test fails in it."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # a workspace of its own: the notebook opens alone (a shared one would bring back the last test's tabs)
        page.goto(f"{server['url']}/lab/workspaces/{Path(relpath).stem}/tree/{relpath}?token={server['token']}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=KERNEL_S * MS)
        page.wait_for_selector(".jp-NotebookPanel .jp-Spinner", state="detached", timeout=KERNEL_S * MS)
        _wait_idle(page)
        yield page
    except BaseException:
        page.screenshot(path=str(screenshots / f"FAILED_{Path(relpath).stem}.png"))
        raise
    finally:
        page.close()


def _wait_idle(page, timeout_s: float = KERNEL_S) -> None:
    """Until the notebook's kernel is connected and idle."""
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']",
                           state="attached", timeout=timeout_s * MS)


_PROMPTS = "() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim())"


def _code_cells(path: Path) -> int:
    return sum(c.cell_type == "code" and c.source.strip() != "" for c in nbformat.read(path, as_version=4).cells)


def _menu(page, *names: str) -> None:
    for name in names:
        page.get_by_role("menuitem", name=name, exact=True).click()


@needs_chromium
def test_assignment_list_shows_the_course_and_submits(lab_server, browser, screenshots):
    """nbgrader's Assignment list: the course's release of 01 shows as downloaded (its folder is there),
    with no error; Submit puts it into the course exchange and lists it as submitted."""
    page = browser.new_page(viewport={"width": 1400, "height": 800})
    try:
        page.goto(f"{lab_server['url']}/lab/workspaces/assignments?token={lab_server['token']}")
        page.wait_for_selector("#jp-main-dock-panel", timeout=KERNEL_S * MS)
        _menu(page, "Nbgrader", "Assignment List")
        downloaded = page.locator("#fetched_assignments_list")
        downloaded.get_by_text("01_conv_pool").first.wait_for(timeout=KERNEL_S * MS)
        page.screenshot(path=str(screenshots / "lab_assignment_list.png"))
        panel = page.locator("#nbgrader-assignment-list").inner_text()
        downloaded.get_by_role("button", name="Submit").click()
        page.locator("#submitted_assignments_list").get_by_text("01_conv_pool").first.wait_for(timeout=KERNEL_S * MS)
        page.screenshot(path=str(screenshots / "lab_assignment_submitted.png"))
        errors = [e.inner_text() for e in page.locator("[id$='_assignments_list_error']").all() if e.is_visible()]
    finally:
        page.close()
    assert errors == [] and "does not exist" not in panel and "rror" not in panel, panel
    assert COURSE_ID in panel
    inbound = list((lab_server["home"].exchange / COURSE_ID / "inbound").iterdir())
    assert len(inbound) == 1 and "01_conv_pool" in inbound[0].name
    assert (inbound[0] / "01_conv_pool.ipynb").is_file()


@needs_chromium
def test_notebook_01_runs_and_validates_in_jupyterlab(lab_server, browser, screenshots):
    name = "01_conv_pool"
    expected = _code_cells(lab_server["root"] / name / f"{name}.ipynb")
    with _notebook_page(browser, lab_server, f"{name}/{name}.ipynb", screenshots) as page:
        _menu(page, "Run", "Run All Cells")
        page.wait_for_function(f"""() => {{
            const prompts = ({_PROMPTS})();
            return prompts.filter(p => /^\\[\\d+\\]/.test(p)).length >= {expected} && !prompts.some(p => p.includes('*'));
        }}""", timeout=4 * CELL_S * MS, polling=500)
        _wait_idle(page)
        outputs = page.evaluate("() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]"
                                ".map(o => o.innerText)")
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
        figures = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                                ".filter(i => i.complete && i.naturalWidth > 100).length")
        page.locator(".jp-OutputArea-output img").first.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshots / "lab_01_figure.png"))
        page.locator(".jp-OutputArea-output", has_text="conv_forward_naive:").first.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshots / "lab_01_check.png"))

        assert errors.count() == 0, errors.first.inner_text()[:2000]
        assert figures >= 1
        text = "\n".join(outputs)
        for ex in specs.exercises(name):
            found = re.search(rf"^{ex.name}: (\d+) visible case\(s\)", text, re.M)
            assert found, f"no visible check of {ex.name} was printed"
            for case in range(1, int(found.group(1)) + 1):
                assert re.search(rf"^\s*case {case}: PASS", text[found.end():], re.M), f"{ex.name} case {case}"
        assert "FAIL" not in text

        page.locator(".validate-button").click()
        dialog = page.locator(".jp-Dialog")  # nbgrader opens it when the server has validated the saved notebook
        dialog.wait_for(timeout=VALIDATE_S * MS)
        page.screenshot(path=str(screenshots / "lab_01_validate.png"))
        verdict = dialog.inner_text()
        success = dialog.locator(".validation-success").count()
        dialog.locator(".jp-mod-accept").click()
        dialog.wait_for(state="detached")
    assert "Validation Results" in verdict and "Success! Your notebook passes all the tests." in verdict, verdict
    assert success == 1


#: The slider labelled "channel" (ipywidgets' DOM: .widget-slider holds a .widget-label and a noUiSlider).
_CHANNEL_SLIDER = """() => [...document.querySelectorAll('.jp-Notebook .widget-slider')].find(
    s => /channel/i.test((s.querySelector('.widget-label') || {}).textContent || ''))"""
#: The picture the widget's cell shows (the last image in the cell that holds the slider).
_WIDGET_IMAGE = f"""() => {{
    const slider = ({_CHANNEL_SLIDER})();
    if (!slider) return null;
    const images = [...slider.closest('.jp-Cell').querySelectorAll('.jp-OutputArea-output img')]
        .filter(i => i.complete && i.naturalWidth > 0);
    return images.length ? images[images.length - 1].src : null;
}}"""


def _run_until_channel_slider(page) -> None:
    """Run the notebook from the top, one cell at a time, until a slider labelled "channel" shows."""
    cells = page.locator(".jp-Notebook .jp-Cell")
    cells.first.click()  # selects it (the first cell is markdown; a single click does not edit it)
    for index in range(cells.count()):
        is_code = "jp-CodeCell" in (cells.nth(index).get_attribute("class") or "")
        page.keyboard.press("Shift+Enter")
        if is_code:
            page.wait_for_function("p => /^\\[\\d+\\]/.test(p.textContent.trim())",
                                   arg=cells.nth(index).locator(".jp-InputPrompt").element_handle(),
                                   timeout=CELL_S * MS, polling=250)
            errors = cells.nth(index).locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
            assert errors.count() == 0, f"cell {index} failed: {errors.first.inner_text()[:2000]}"
        if page.evaluate(f"() => !!({_CHANNEL_SLIDER})()"):
            return
    pytest.fail("no slider labelled 'channel' appeared in notebook 05")


@needs_chromium
def test_activation_widget_channel_changes_the_picture(lab_server, browser, screenshots):
    """05 runs until its activation widget shows; the channel slider moves one step (keyboard) and the
    widget's picture must change."""
    name = "05_visualization"
    with _notebook_page(browser, lab_server, f"{name}/{name}.ipynb", screenshots) as page:
        _run_until_channel_slider(page)
        page.wait_for_function(f"() => ({_WIDGET_IMAGE})() !== null", timeout=CELL_S * MS, polling=250)
        _wait_idle(page)
        widget_cell = page.locator(".jp-Notebook .jp-Cell", has=page.locator(".widget-slider")).last
        widget_cell.scroll_into_view_if_needed()
        widget_cell.screenshot(path=str(screenshots / "lab_05_widget_before.png"))
        before = page.evaluate(f"({_WIDGET_IMAGE})()")
        handle = page.evaluate_handle(f"() => ({_CHANNEL_SLIDER})().querySelector('.noUi-handle')").as_element()
        value_before = handle.get_attribute("aria-valuenow")
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"b => {{ const now = ({_WIDGET_IMAGE})(); return now !== null && now !== b; }}",
                               arg=before, timeout=CELL_S * MS, polling=250)
        _wait_idle(page)
        after = page.evaluate(f"({_WIDGET_IMAGE})()")
        value_after = handle.get_attribute("aria-valuenow")
        widget_cell.screenshot(path=str(screenshots / "lab_05_widget_after.png"))
    assert float(value_after) == float(value_before) + 1
    assert after != before and after.startswith("data:image/png")
