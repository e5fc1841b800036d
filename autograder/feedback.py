"""Feedback: the autograded notebook made fit to show, then rendered to HTML for the student.

:func:`prepare` rewrites the autograded notebook, which the instructor's formgrader shows: every test
cell's outputs are replaced by the grader's verdict (visible cases in full; hidden cases pass or fail
and the exception type only: never their inputs, what the code printed, or messages); records are
removed; other outputs are capped in size and keep, of their metadata, an image's width and height
only (nbconvert writes output metadata into ``<img>`` unquoted); the notebook keeps only its kernel's
metadata; HTML and markdown are sanitised (:class:`CourseSanitizeHTML`), so that neither the
instructor's formgrader nor the student's browser runs anything a submission wrote.

The student's page (:func:`generate`, nbgrader's ``GenerateFeedback`` on a copy of that notebook) shows
nothing the kernel produced: any output, a figure of an instructor's demo cell too, can carry what the
kernel could read (the hidden inputs among it). Test cells show the grader's verdict; every other code
cell shows :data:`OUTPUTS_NOTE` in place of its outputs, whatever they were, and no execution counts.
The page carries a Content-Security-Policy (:func:`with_csp`): should sanitising miss something, no
event handler, ``javascript:`` link or script in the notebook runs.

A markdown cell whose text is word for word the course's own (from a solution or released notebook) is
left as the instructor wrote it (its ``<br>`` in tables, its ``<`` in code); any other markdown cell,
and any markdown output, is rendered to HTML and sanitised as HTML (:func:`sanitise_markdown`). Links may lead to http, https and mailto URLs; an image
only to a relative one (:func:`local_url`): opening a page loads no image from elsewhere.

Math is typeset by a copy of MathJax in the feedback folder (:data:`MATHJAX_FOLDER`, beside the
students' folders, written once per batch), which the pages load by a relative path
(``autograder/templates/feedback/mathjax.html.j2``): the folder, or a copy of it, shows its math offline.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import re
import shutil
from pathlib import Path

import bleach
import nbformat
from bleach.css_sanitizer import CSSSanitizer
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors.sanitize import SanitizeHTML
from traitlets import Bool

from course_utils.grading import RECORD_MIME

from .course import NOTEBOOKS, SOLUTIONS
from .scoring import ExerciseScore

#: Characters of text kept per output, and bytes of an image, in feedback.
MAX_TEXT = 20_000
MAX_IMAGE = 2 << 20
#: The folder beside the students' feedback folders that holds MathJax (a student id cannot start with "_").
MATHJAX_FOLDER = "_mathjax"
#: What the student's feedback shows in place of the outputs of a code cell other than a test cell.
OUTPUTS_NOTE = "[Outputs are not shown in the feedback: run your notebook to see them.]\n"
#: The feedback page's Content-Security-Policy (:func:`with_csp`); ``{hashes}``: those of its <head>'s scripts.
#: MathJax 2 runs its configuration block with eval, and styles what it typesets inline.
CSP = ("default-src 'none'; script-src 'self' 'unsafe-eval' 'unsafe-hashes' {hashes}; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'")
#: Notebook metadata kept (nbconvert's pages render others: ``widgets`` loads scripts, ``title``).
NOTEBOOK_METADATA = ("kernelspec", "language_info")
#: Output metadata kept: the size of an image of these types, ``{type: {"width" | "height": pixels}}``.
IMAGE_TYPES = ("image/png", "image/jpeg")
MAX_PIXELS = 100_000
#: HTML kept in sanitised markdown, raw cells and HTML outputs: what markdown writes, without ids or classes.
TAGS = ["a", "abbr", "acronym", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table",
        "tbody", "td", "th", "thead", "tr", "ul"]
#: The attributes kept, by tag; ``href`` only with a :func:`safe_url`, ``src`` only with a :func:`local_url`.
ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "acronym": {"title"}, "img": {"src", "alt", "title"},
              "ol": {"start"}, "td": {"align", "style"}, "th": {"align", "style"}}
#: The schemes a URL may have (else it is relative: a path or a ``#fragment``).
URL_SCHEMES = frozenset({"http", "https", "mailto"})
#: Characters a browser ignores in a URL (tabs, newlines), or that hide its scheme: removed before judging it.
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\xa0\s\u200b-\u200f\u2028\u2029\ufeff]+")
#: A URL's scheme: what comes before its first ``:``, when no ``/``, ``?`` or ``#`` comes first.
_SCHEME = re.compile(r"([^/?#]*?):")


def safe_url(url: str) -> bool:
    """Whether ``url`` (an attribute's value) is an http, https or mailto URL, or a relative one.

    It is judged after decoding HTML entities until none is left (``jav&#x61;script:``,
    ``javascript&colon;``) and removing whitespace and control characters (``java<TAB>script:``).
    """
    scheme = _SCHEME.match(_as_read(url))
    return scheme is None or scheme[1].lower() in URL_SCHEMES


def _as_read(url: str) -> str:
    """``url`` as a browser reads it: HTML entities decoded until none is left, whitespace and control
    characters removed."""
    while (decoded := html.unescape(url)) != url:
        url = decoded
    return _INVISIBLE.sub("", url)


def local_url(url: str) -> bool:
    """Whether ``url`` (an image's ``src``) is relative and names no host: no scheme, and not
    ``//host/...`` (nor ``/\\host``, ``\\\\host``: a browser reads a backslash as a slash), judged as
    :func:`safe_url` judges. An image loads when the page opens, with no click: formgrader's page, which has
    no Content-Security-Policy of ours, would fetch an external one and tell its server that (and when) the
    instructor opened the submission. A link (``href``) may lead elsewhere: it is followed only when clicked.
    """
    url = _as_read(url)
    return _SCHEME.match(url) is None and not re.match(r"[/\\]{2}", url)


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    """bleach's test of one attribute: in :data:`ATTRIBUTES`, a :func:`safe_url` where it is a link and a
    :func:`local_url` where it is an image's source."""
    if name not in ATTRIBUTES.get(tag, ()):
        return False
    return safe_url(value) if name == "href" else local_url(value) if name == "src" else True


@functools.cache
def course_markdown() -> frozenset[str]:
    """The text of every markdown cell of the course's solution and released notebooks."""
    texts = set()
    for path in [*SOLUTIONS.glob("*/*.ipynb"), *NOTEBOOKS.glob("*/*.ipynb")]:
        texts.update(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    return frozenset(texts)


def _exercise(cell) -> str:
    """The exercise whose test cell ``cell`` is (its nbgrader id is ``test_<exercise>``), else ``""``."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
    return grade_id[5:] if cell.cell_type == "code" and grade_id.startswith("test_") else ""


def sanitise_html(text: str) -> str:
    """``text`` as HTML with :data:`TAGS`, :data:`ATTRIBUTES` and a ``text-align`` style only; any other tag
    is shown as text, any other attribute dropped."""
    return bleach.clean(text, tags=TAGS, attributes=_allowed_attribute, protocols=URL_SCHEMES,
                        css_sanitizer=CSSSanitizer(allowed_css_properties=["text-align"]))


def sanitise_markdown(source: str) -> str:
    """Markdown ``source`` as :func:`sanitise_html` HTML on one line that starts with ``<div>``.

    ``source`` is rendered as nbconvert renders markdown (math left to MathJax), then sanitised: links
    are judged as the browser will follow them, whatever their markdown spelling (entities, reference
    definitions in lists, autolinks, raw ``<a>``). Line breaks are written ``&#10;`` in ``<pre>``, as
    spaces elsewhere: a markdown renderer (formgrader's, the feedback's) passes a line that starts with
    ``<div>`` through as it is, up to the next blank line, so the result renders to itself, and
    sanitising it again changes nothing.
    """
    renderer = IPythonRenderer(escape=False, exclude_anchor_links=True)
    clean = re.sub(r"\r\n?", "\n", sanitise_html(MarkdownWithMath(renderer=renderer).render(source)).strip())
    clean = re.sub(r"<pre>.*?</pre>", lambda pre: pre[0].replace("\n", "&#10;"), clean, flags=re.DOTALL)
    clean = clean.replace("\n", " ")
    return clean if clean.startswith("<div>") else f"<div>{clean}</div>"


class CourseSanitizeHTML(SanitizeHTML):
    """nbconvert's sanitiser, stricter on HTML and links, with markdown sanitised as the HTML it renders
    to; as configured, what the student's feedback shows.

    * A markdown cell that is the course's own text word for word is left as written: the instructor's
      cells need no sanitising (sanitising markdown source as HTML would show ``<br>`` in a table as
      text). Any other markdown cell, a cell a student changed by a single character too, and any
      ``text/markdown`` output are :func:`sanitise_markdown`; raw cells and ``text/html`` outputs are
      :func:`sanitise_html`.
    * Unless ``keep_outputs`` (formgrader's notebook, :func:`prepare`), every code cell but a test cell
      (whose outputs are the grader's verdict, written by :func:`prepare`) shows :data:`OUTPUTS_NOTE` in
      place of its outputs, and no code cell an execution count: the student's feedback shows nothing
      the kernel wrote.
    """

    #: nbconvert's preprocessors are off unless enabled; nbgrader registers GenerateFeedback's as they are
    enabled = Bool(True).tag(config=True)
    keep_outputs = Bool(False, help="Keep the kernel's outputs, sanitised (the instructor's notebook, "
                                    "not the student's feedback).").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "markdown":
            if cell.source not in course_markdown():
                cell.source = sanitise_markdown(cell.source)
            return cell, resources
        if cell.cell_type == "code" and not self.keep_outputs:
            cell.execution_count = None
            if not _exercise(cell):
                note = nbformat.v4.new_output("stream", name="stdout", text=OUTPUTS_NOTE)
                cell.outputs = [note] if cell.source.strip() else []
        return super().preprocess_cell(cell, resources, cell_index)

    def sanitize_code_outputs(self, outputs):
        """nbconvert's sanitising of ``outputs``, a ``text/markdown`` one by :func:`sanitise_markdown`."""
        markdown = [o.get("data", {}).pop("text/markdown", None) for o in outputs]
        outputs = super().sanitize_code_outputs(outputs)
        for output, text in zip(outputs, markdown):
            if isinstance(text, str):
                output.data["text/markdown"] = sanitise_markdown(text)
        return outputs

    def sanitize_html_tags(self, html_str):
        return sanitise_html(html_str)


def _image_sizes(metadata: dict) -> dict:
    """Of an output's ``metadata``, the width and height of :data:`IMAGE_TYPES` that are whole numbers of
    pixels (an int, or a string of digits), as ints; nothing else (nbconvert writes them unquoted)."""
    kept = {}
    for mimetype in IMAGE_TYPES:
        given = metadata.get(mimetype)
        for key in ("width", "height"):
            value = given.get(key) if isinstance(given, dict) else None
            if isinstance(value, str) and re.fullmatch(r"[0-9]{1,6}", value):
                value = int(value)
            if type(value) is int and 0 < value <= MAX_PIXELS:
                kept.setdefault(mimetype, {})[key] = value
    return kept


def _fit(output) -> bool:
    """Make one output fit to show, in place: its size capped, its metadata :func:`_image_sizes`, no
    records; False if it should be dropped."""
    if output.get("output_type") == "stream":
        text = output.get("text", "")
        if len(text) > MAX_TEXT:
            output["text"] = text[:MAX_TEXT] + "\n[... output shortened by the grader]\n"
        return True
    if output.get("output_type") == "error":
        output["traceback"] = [t[:MAX_TEXT] for t in output.get("traceback", [])[-20:]]
        output["evalue"] = str(output.get("evalue", ""))[:MAX_TEXT]
        return True
    output["metadata"] = _image_sizes(output.get("metadata", {}))
    data = output.get("data", {})
    data.pop(RECORD_MIME, None)
    for key in list(data):
        value = data[key]
        if not isinstance(value, str) or len(value) > (MAX_IMAGE if key.startswith("image/") else MAX_TEXT):
            del data[key]
    return bool(data)


def prepare(path: Path, scores: dict[str, ExerciseScore]) -> None:
    """Rewrite the autograded notebook at ``path`` for formgrader and feedback (see module docstring).

    ``scores`` holds each exercise's score by name; a test cell of an exercise not in it is left with no
    outputs (the student's feedback shows a test cell's outputs: only the grader's may be there).
    """
    if not path.exists():
        return
    nb = nbformat.read(path, as_version=4)
    nb.metadata = nbformat.NotebookNode({k: nb.metadata[k] for k in NOTEBOOK_METADATA if k in nb.metadata})
    for cell in nb.cells:
        cell.pop("attachments", None)
        if cell.cell_type != "code":
            continue
        if type(cell.execution_count) is not int:
            cell.execution_count = None
        if exercise := _exercise(cell):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=scores[exercise].report() + "\n")
                            ] if exercise in scores else []
        else:
            cell.outputs = [o for o in cell.outputs if _fit(o)]
    nb, _ = CourseSanitizeHTML(keep_outputs=True).preprocess(nb, {})
    nbformat.write(nb, path)


def install_mathjax(folder: Path) -> Path:
    """Copy MathJax (2.7, from the ``jupyter_server_mathjax`` package) into ``folder/_mathjax`` unless it is
    there already; returns that folder."""
    from jupyter_server_mathjax.app import STATIC_ASSETS_PATH

    target = folder / MATHJAX_FOLDER
    if not (target / "MathJax.js").exists():
        shutil.copytree(STATIC_ASSETS_PATH, target, dirs_exist_ok=True)
    return target


def with_csp(page: str) -> str:
    """``page``, a feedback page's HTML, with :data:`CSP` in a ``<meta>`` first in its ``<head>``.

    Defence in depth: scripts run only from files beside the page or on its server (MathJax), or inline
    in its ``<head>``, which is the template's alone (MathJax's configuration, its loader and the loader's
    ``onerror``), each allowed by its hash; no event handler or ``javascript:`` link in the notebook runs.
    """
    head = page[:page.index("</head>")]
    inline = (re.findall(r"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", head, flags=re.DOTALL)
              + re.findall(r'\son\w+="([^"]*)"', head))
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{CSP.format(hashes=hashes)}">'
    return page.replace("<head>", f"<head>\n{meta}", 1)


def generate(nb_api, assignment: str, student: str, dest: Path) -> Path:
    """Render the student's feedback HTML with nbgrader, :func:`with_csp`, and copy it to ``dest``; return
    ``dest``.

    ``dest`` is ``<feedback folder>/<student>/<assignment>.html``; MathJax goes into the feedback folder.

    Raises:
        RuntimeError: nbgrader wrote no page (with the end of its log).
    """
    root = Path(nb_api.coursedir.root)
    page = root / "feedback" / student / assignment / f"{assignment}.html"
    outcome = nb_api.generate_feedback(assignment, student)
    if not (outcome["success"] and page.exists()):
        raise RuntimeError(f"nbgrader wrote no feedback page for {student} {assignment}:\n"
                           f"{(outcome.get('error') or '')[-2000:]}\n{(outcome.get('log') or '')[-2000:]}")
    page.write_text(with_csp(page.read_text()))  # the page nbgrader's release_feedback returns too
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(page, dest)
    install_mathjax(dest.parent.parent)
    return dest
