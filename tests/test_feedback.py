"""Feedback pages: the course's own markdown is shown as written, anything a student wrote is sanitised,
the student's page shows nothing the kernel wrote, and formgrader's notebook runs nothing a submission wrote.

The attacks are crafted autograded notebooks put through :func:`feedback.prepare` (formgrader's notebook)
and the preprocessors and template of nbgrader's feedback (the student's page), without a kernel; a page
is then judged by the links, attributes and scripts it holds (:func:`_active`), and in chromium (no
dialog opens, before or after clicking every link).
"""

from __future__ import annotations

import html as html_lib
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbgrader.preprocessors import GetGrades

from autograder import feedback
from autograder.course import NOTEBOOKS, nbgrader_config
from autograder.feedback import CourseSanitizeHTML, course_markdown

NAME = "01_conv_pool"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4//8/AAX+Av6n1qRQAAAAAElFTkSuQmCC"
#: What a kernel could know and no student's page may show (a hidden test's input).
SECRET = "HIDDEN-INPUT 7731"
#: Links that run code, in the spellings that got past a pattern on markdown source (red team, s06).
EVIL_LINKS = ("[m1](javascript:alert(1)) [m2](jav&#x61;script:alert(2)) [m3](JaVaScRiPt:alert(3)) "
              "[m8](&#106;avascript:alert(8)) [m9](javascript&colon;alert(9)) [m10](javascript&#58;alert(10)) "
              "[m11](<java\tscript:alert(11)>) [m12]( javascript:alert(12)) "
              "[m13](data:text/html;base64,PHNjcmlwdD5hbGVydCgxMyk8L3NjcmlwdD4=) <javascript:alert(14)>\n\n"
              "[m15][r15] [m16][r16]\n\n[r15]: javascript:alert(15)\n\n- [r16]: jav&#x61;script:alert(16)\n\n"
              "<a href=\"javascript&colon;alert(17)\">a17</a> <img src=x onerror=alert(18)> "
              "![m19](x\" onerror=\"alert(19))\n\n<script>alert(20)</script>\n")


def _render(nb) -> str:
    nb, _ = CourseSanitizeHTML().preprocess(nb, {})
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return html


def _autograded(tmp_path: Path, cells: list, **metadata) -> Path:
    """An autograded notebook of ``cells`` (and notebook ``metadata``) written to ``tmp_path``."""
    path = tmp_path / f"{NAME}.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=metadata), path)
    return path


def _code(source: str, *outputs, grade_id: str | None = None, count: int | None = 3):
    """A code cell with ``outputs`` (dicts); a test cell of nbgrader's when ``grade_id`` is given."""
    cell = nbformat.v4.new_code_cell(source, execution_count=count,
                                     outputs=[nbformat.from_dict(o) for o in outputs])
    if grade_id:
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True, "points": 1,
                                     "schema_version": 3, "solution": False, "task": False}
    return cell


def _display(data: dict, metadata: dict | None = None) -> dict:
    return {"output_type": "display_data", "data": data, "metadata": metadata or {}}


def _formgrader_page(path: Path) -> str:
    """The autograded notebook at ``path`` as nbgrader's formgrader shows it to the instructor."""
    from nbgrader.server_extensions.formgrader import handlers

    exporter = HTMLExporter(template_name="formgrade", extra_template_basedirs=[handlers.template_path])
    resources = {"assignment_id": NAME, "notebook_id": NAME, "submission_id": "x", "index": 0, "total": 1,
                 "base_url": "/", "student": "s", "last_name": None, "first_name": None, "notebook_path": "/x"}
    return exporter.from_filename(str(path), resources=resources)[0]


def _feedback_page(path: Path) -> str:
    """The student's page of the autograded notebook at ``path``, made as nbgrader's GenerateFeedback makes
    it with the course's configuration: its preprocessors registered as nbgrader registers them (GetGrades,
    which reads the gradebook, stood in for), its template."""
    config = nbgrader_config(path.parent)
    config.HTMLExporter.template_name = "feedback"
    config.Exporter.default_preprocessors = []
    bootstrap = Path(nbgrader_config.__globals__["_nbgrader_templates"]()).parent / "static" / "node_modules"
    config.HTMLExporter.extra_template_paths = [str(bootstrap / "bootstrap" / "dist" / "css")]
    exporter = HTMLExporter(config=config)
    for preprocessor in config.GenerateFeedback.preprocessors:
        exporter.register_preprocessor(_grades if preprocessor is GetGrades else preprocessor)
    resources = {"nbgrader": {"notebook": NAME, "score": 1.0, "max_score": 2.0, "late_penalty": 0.0},
                 "config_dir": str(path.parent)}
    return exporter.from_filename(str(path), resources=resources)[0]


def _grades(nb, resources):
    """GetGrades' part: each grade cell's score, from the gradebook."""
    for cell in nb.cells:
        cell.metadata.get("nbgrader", {}).setdefault("score", 0.0)
    return nb, resources


class _Elements(HTMLParser):
    """Every start tag of a page: ``(tag, {attribute: value})``, values as the browser decodes them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict]] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        if self.lasttag == "script":
            self.scripts.append(data)


def _parsed(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    return parser


def _active(page: str) -> list[str]:
    """What in ``page`` runs a submission's code (each attack calls ``alert``): event handlers and scripts
    that alert, links and sources with a scheme but http(s) and mailto (data: images aside), frames."""
    parser = _parsed(page)
    found = []
    for tag, attrs in parser.found:
        for name, value in attrs.items():
            url = re.sub(r"[\x00-\x20]", "", value).lower()
            if name.startswith("on") and "alert" in value:
                found.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction", "xlink:href", "srcdoc") and not (
                    re.match(r"(https?:|mailto:|#|[^:]*$)", url) or re.match(r"data:image/(png|jpeg);", url)):
                found.append(f"<{tag} {name}={value!r}>")
        if tag in ("iframe", "object", "embed"):
            found.append(f"<{tag}>")
    return found + [s for s in parser.scripts if "alert" in s]


# -- the course's text, a student's text --------------------------------------------------------------
def test_the_course_text_keeps_its_tables_and_code():
    nb = nbformat.read(NOTEBOOKS / NAME / f"{NAME}.ipynb", as_version=4)
    table = next(c for c in nb.cells if c.cell_type == "markdown" and "<br>" in c.source)
    assert table.source in course_markdown()
    html = _render(nbformat.v4.new_notebook(cells=[table]))
    assert html.count("<br/>") >= table.source.count("<br>") and "&lt;br&gt;" not in html


def test_a_cell_the_student_changed_is_sanitised_in_full():
    nb = nbformat.read(NOTEBOOKS / NAME / f"{NAME}.ipynb", as_version=4)
    table = next(c for c in nb.cells if c.cell_type == "markdown" and "<br>" in c.source)
    forged = nbformat.v4.new_markdown_cell(table.source + "\n<script>alert('x')</script>"
                                           "<img src=x onerror=alert(1)>")
    html = _render(nbformat.v4.new_notebook(cells=[forged]))
    assert "<script>alert" not in html and not re.search(r"<img[^>]*onerror", html)
    assert "&lt;script&gt;alert" in html  # shown as text
    assert html.count("<br/>") >= table.source.count("<br>")  # the table's line breaks are safe HTML


def test_sanitised_markdown_renders_to_itself_and_keeps_math_and_code():
    source = ("A $a<b$ and\n\n$$x > y$$\n\n```\nif a < b:\n\n    [q](javascript:alert(1))\n```\n\n"
              "| a | b |\n|---|---|\n| 1 | 2 |")
    once = feedback.sanitise_markdown(source)
    assert feedback.sanitise_markdown(once) == once and "\n" not in once
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    assert markdown2html_mistune(once).strip() == once  # formgrader's renderer leaves it as it is
    assert "$a&lt;b$" in once and "$$x &gt; y$$" in once and "<table>" in once
    assert "if a &lt; b:&#10;&#10;    [q](javascript:alert(1))" in once and "href" not in once


@pytest.mark.parametrize("url", ["javascript:x", "JaVaScRiPt:x", "jav&#x61;script:x", "&#106;avascript:x",
                                 "javascript&colon;x", "javascript&#58;x", "&amp;#106;avascript:x",
                                 " java\tscript:x", "java\x00script:x", "data:text/html,x", "vbscript:x"])
def test_a_url_that_runs_code_is_unsafe_however_spelt(url):
    assert not feedback.safe_url(url)


@pytest.mark.parametrize("url", ["https://example.org/a?b=1&c=2", "http://x", "mailto:a@b.c", "#top", "page.html",
                                 "a/b:c", "//example.org"])
def test_web_links_and_relative_ones_are_safe(url):
    assert feedback.safe_url(url)


#: Image sources that load from another host, however spelt (red team round 2, u02: formgrader, which has
#: no Content-Security-Policy of ours, fetched them when the instructor opened the submission).
EXTERNAL_IMAGES = ["https://tracker.example/a.png", "http://tracker.example/a.png", "HTTPS://tracker.example/a",
                   "//tracker.example/a.png", "/\\tracker.example/a.png", "\\\\tracker.example/a.png",
                   " //tracker.example/a", "/\t/tracker.example/a", "https&#58;//tracker.example/a",
                   "&#47;&#47;tracker.example/a", "data:image/png;base64,AAAA", "ftp://tracker.example/a"]


@pytest.mark.parametrize("url", EXTERNAL_IMAGES)
def test_an_image_from_another_host_is_not_local(url):
    assert not feedback.local_url(url)


@pytest.mark.parametrize("url", ["figure.png", "figs/a.png", "./a.png", "../a.png", "/files/a.png", "a.png?x=1#y"])
def test_an_image_beside_the_page_is_local(url):
    assert feedback.local_url(url)


def test_no_image_from_another_host_survives_in_markdown_or_an_output(tmp_path):
    """u02: ``<img src="https://...">`` and ``![x](https://...)`` in a markdown cell or an output would make
    formgrader's page (and, but for its CSP, the student's) fetch them on opening: a tracker learns that and
    when the instructor looked. Their ``src`` is dropped; a relative image and web links stay."""
    tags = " ".join(f'<img src="{url}" alt="i{i}">' for i, url in enumerate(EXTERNAL_IMAGES))
    source = (f"Notes {tags} ![m1](https://tracker.example/md.png) ![m2](//tracker.example/md2.png)\n\n"
              "![local](figure.png) [a link](https://example.org/page)\n")
    cells = [nbformat.v4.new_markdown_cell(source),
             _code("display(HTML(...))", _display({"text/html": f"<p>out {tags}</p><img src='figure.png'>"}),
                   _display({"text/markdown": source, "text/plain": "<Markdown>"}))]
    path = _autograded(tmp_path, cells, kernelspec={"name": "python3", "display_name": "Python 3"})
    feedback.prepare(path, {})
    for page in (_formgrader_page(path), _feedback_page(path)):
        sources = [a["src"] for tag, a in _parsed(page).found if "src" in a and tag == "img"]
        assert not [s for s in sources if "tracker" in s or s.startswith("data:image/png;base64,AAAA")], sources
    nb = nbformat.read(path, as_version=4)
    prepared = nb.cells[0].source + str(nb.cells[1].outputs)
    assert "tracker.example" not in prepared and 'alt="i0"' in prepared  # the alt text kept, not the source
    assert 'src="figure.png"' in nb.cells[0].source and 'href="https://example.org/page"' in nb.cells[0].source
    assert "<img src=\"figure.png\"" in nb.cells[1].outputs[0].data["text/html"]
    assert _active(_formgrader_page(path)) == []


# -- the red team's attacks (/tmp/redteam: s07_img_attr, s02_leak_inputs, s06_active_content) ------------
def _attacks(tmp_path: Path) -> tuple[Path, dict]:
    """A prepared autograded notebook holding every attack, and the scores it was prepared with."""
    cells = [
        nbformat.v4.new_markdown_cell(EVIL_LINKS),
        _code("def f(x): ...", grade_id="f"),
        _code("demo()  # prints what the kernel read, shows it in a figure, raises with it",
              {"output_type": "stream", "name": "stdout", "text": f"{SECRET} printed\n"},
              _display({"image/png": PNG, "text/plain": f"<Figure {SECRET}>"}),
              {"output_type": "error", "ename": "ValueError", "evalue": SECRET, "traceback": [SECRET]}),
        _code("show()",  # s07: attributes through an image's size, and every other metadata nbconvert reads
              _display({"image/png": PNG}, {"image/png": {"width": "1 onload=alert(31)",
                                                          "alt": "a\" onerror=\"alert(32)"},
                                            "height": "2 onload=alert(33)"}),
              _display({"image/jpeg": "bm90IGEganBlZw=="}, {"image/jpeg": {"height": "2 onerror=alert(34)",
                                                                           "unconfined": True},
                                                            "filenames": {"image/jpeg": "javascript:alert(35)"}}),
              _display({"text/html": "<iframe srcdoc='<script>alert(36)</script>'></iframe>"},
                       {"text/html": {"isolated": True}}),
              _display({"image/png": PNG}, {"image/png": {"width": 640, "height": "480"}})),
        _code("display(Markdown(...))", _display({"text/markdown": EVIL_LINKS, "text/plain": "<Markdown>"}),
              _display({"text/html": "<a href='javascript&colon;alert(40)'>h</a> <a href='java&#9;script:alert(41)'>"
                                     "t</a><img src=x onerror=alert(42)>"})),
        _code("check_f()", {"output_type": "stream", "name": "stdout", "text": "all visible cases pass\n"},
              grade_id="test_f"),
        nbformat.v4.new_raw_cell("<script>alert(50)</script>", metadata={"raw_mimetype": "text/html"}),
    ]
    path = _autograded(tmp_path, cells, kernelspec={"name": "python3", "display_name": "Python 3"},
                       widgets={"application/vnd.jupyter.widget-state+json": {"state": {}}}, title="t")
    feedback.prepare(path, {"f": SimpleNamespace(report=lambda: "Grader: f: 1/1 visible, 0/2 hidden -> 0 of 1")})
    return path, nbformat.read(path, as_version=4)


def test_output_metadata_adds_no_attribute_to_an_image(tmp_path):
    """s07: nbconvert writes an image's width and height unquoted, ``width=1 onload=...``."""
    path, nb = _attacks(tmp_path)
    shown = [o.metadata for c in nb.cells if c.cell_type == "code" for o in c.outputs if "metadata" in o]
    assert {"image/png": {"width": 640, "height": 480}} in shown
    assert all(set(m) <= {"image/png", "image/jpeg"} and all(set(v) <= {"width", "height"} for v in m.values())
               for m in shown), shown
    assert set(nb.metadata) == {"kernelspec"}  # no widgets (scripts from a CDN), no title
    page = _formgrader_page(path)
    assert _active(page) == []
    assert any(a.get("width") == "640" and a.get("height") == "480" for _, a in _parsed(page).found)


def test_the_students_page_shows_nothing_the_kernel_wrote(tmp_path):
    """s02: any cell can print, draw or raise what the kernel read (the hidden inputs); the page shows the
    grader's verdict under each test cell and a note in place of every other cell's outputs."""
    path, nb = _attacks(tmp_path)
    page = _feedback_page(path)
    assert SECRET not in page and "all visible cases pass" not in page and "data:image" not in page
    assert "Grader: f: 1/1 visible, 0/2 hidden -&gt; 0 of 1" in page
    assert page.count(html_lib.escape(feedback.OUTPUTS_NOTE.strip())) == 4  # each code cell but the test
    assert "In&nbsp;[3]" not in page  # execution counts: a kernel sets its own
    # formgrader's notebook keeps the outputs for the instructor (the figures to grade by hand)
    assert SECRET in _formgrader_page(path) and f"{SECRET} printed" in nb.cells[2].outputs[0].text


def test_no_link_in_markdown_or_an_output_runs_code(tmp_path):
    """s06: javascript: links in markdown cells and outputs, however spelt; scripts in raw cells."""
    path, nb = _attacks(tmp_path)
    for page in (_formgrader_page(path), _feedback_page(path)):
        assert _active(page) == []
        assert ">m1</a>" in page and "&lt;script&gt;alert(20)" in page  # the text is kept, as text
    assert "m16" in nb.cells[0].source and "javascript" not in re.sub(r"<[^>]*>", "", nb.cells[0].source
                                                                      ).replace("javascript:alert(14)", "")


def test_a_prepared_notebook_prepared_again_is_unchanged(tmp_path):
    path, nb = _attacks(tmp_path)
    feedback.prepare(path, {"f": SimpleNamespace(report=lambda: "Grader: f: 1/1 visible, 0/2 hidden -> 0 of 1")})
    assert nbformat.read(path, as_version=4) == nb


def test_the_feedback_page_lets_run_only_the_scripts_of_its_head(tmp_path):
    """Defence in depth: a Content-Security-Policy allows the template's scripts (in <head>) by hash."""
    path, _ = _attacks(tmp_path)
    page = feedback.with_csp(_feedback_page(path) + UNSANITISED)
    (policy,) = re.findall(r'<head>\s*<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    hashes = re.findall(r"'sha256-([^']*)'", policy)
    assert len(hashes) == 3  # MathJax's configuration, the loader's fallback, and its onerror
    assert "'unsafe-inline'" not in policy.split("style-src")[0] and "default-src 'none'" in policy


#: What a page would hold if sanitising missed something (for the Content-Security-Policy to stop).
UNSANITISED = ('<img src="x" onerror="alert(90)"><a id="evil" href="javascript:alert(91)">x</a>'
               '<script>alert(92)</script>')


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="chromium is not installed")
def test_no_attack_runs_in_chromium(tmp_path):
    """Both pages in chromium, offline: no dialog opens, and every link is one to the web, mail or a file
    (as chromium parses it: entities decoded, tabs removed); what sanitising would miss, the feedback page's
    Content-Security-Policy stops (no dialog, on load or on clicking the link)."""
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS

    path, _ = _attacks(tmp_path)
    pages = {"formgrader": _formgrader_page(path), "feedback": _feedback_page(path),
             "missed": feedback.with_csp(_feedback_page(path).replace("</body>", UNSANITISED + "</body>"))}
    seen: dict[str, tuple[list[str], set[str]]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        for name, text in pages.items():
            (tmp_path / f"{name}.html").write_text(text)
            page = browser.new_page()
            page.route(re.compile(r"^(https?|wss?|ftp)://"), lambda route: route.abort())
            dialogs: list[str] = []
            page.on("dialog", lambda d, dialogs=dialogs: (dialogs.append(d.message), d.dismiss()))
            page.goto((tmp_path / f"{name}.html").as_uri())
            page.wait_for_timeout(1500)
            links = page.evaluate("() => [...document.querySelectorAll('a[href], area[href]')].map(a => a.protocol)")
            if name == "missed":
                page.click("#evil")
                page.wait_for_timeout(500)
            seen[name] = (dialogs, set(links))
            page.close()
        browser.close()
    assert seen["missed"] == ([], seen["missed"][1]) and "javascript:" in seen["missed"][1]
    for name in ("formgrader", "feedback"):
        dialogs, protocols = seen[name]
        assert dialogs == [] and protocols <= {"http:", "https:", "mailto:", "file:"}, (name, dialogs, protocols)
