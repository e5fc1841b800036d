"""Feedback: the autograded notebook made fit to show, then rendered to HTML for the student.

Every test cell's outputs are replaced by the grader's verdict (visible cases in full; hidden cases
pass or fail and the exception type only: never their inputs, what the code printed, or messages);
records are removed; other outputs are capped in size; HTML and markdown are sanitised, so that
neither the instructor's formgrader nor the student's browser runs anything a submission wrote. A
markdown cell whose text is word for word the course's own (from a solution or released notebook) is
left as the instructor wrote it (its ``<br>`` in tables, its ``<`` in code); any other markdown cell
is sanitised (:class:`CourseSanitizeHTML`).

Math is typeset by a copy of MathJax in the feedback folder (:data:`MATHJAX_FOLDER`, beside the
students' folders, written once per batch), which the pages load by a relative path
(``autograder/templates/feedback/mathjax.html.j2``): the folder, or a copy of it, shows its math offline.
"""

from __future__ import annotations

import functools
import re
import shutil
from pathlib import Path

import nbformat
from nbconvert.preprocessors.sanitize import SanitizeHTML

from course_utils.grading import RECORD_MIME

from .course import NOTEBOOKS, SOLUTIONS
from .scoring import ExerciseScore

#: Characters of text kept per output, and bytes of an image, in feedback.
MAX_TEXT = 20_000
MAX_IMAGE = 2 << 20
#: The folder beside the students' feedback folders that holds MathJax (a student id cannot start with "_").
MATHJAX_FOLDER = "_mathjax"
#: A link target that runs code: ``[x](javascript:...)``, ``<javascript:...>``, ``[x]: javascript:...``.
_UNSAFE_URL = re.compile(r"(?im)(\]\(\s*<?|<|^\s*\[[^\]]*\]:\s*)(javascript|vbscript|data)\s*:")


@functools.cache
def course_markdown() -> frozenset[str]:
    """The text of every markdown cell of the course's solution and released notebooks."""
    texts = set()
    for path in [*SOLUTIONS.glob("*/*.ipynb"), *NOTEBOOKS.glob("*/*.ipynb")]:
        texts.update(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    return frozenset(texts)


class CourseSanitizeHTML(SanitizeHTML):
    """nbconvert's sanitiser, except for markdown cells that are the course's own text, word for word.

    Sanitising markdown as HTML escapes every ``<`` and ``>`` outside the tags it allows, which shows
    ``<br>`` in a table, ``&lt;`` inside inline code and a ``>`` quote as text. The instructor's cells
    need no sanitising; a cell a student wrote or changed by a single character is sanitised in full.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "markdown" and cell.source in course_markdown():
            return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)


def _cap(output) -> bool:
    """Shorten one output in place; False if it should be dropped."""
    if output.get("output_type") == "stream":
        text = output.get("text", "")
        if len(text) > MAX_TEXT:
            output["text"] = text[:MAX_TEXT] + "\n[... output shortened by the grader]\n"
        return True
    if output.get("output_type") == "error":
        output["traceback"] = [t[:MAX_TEXT] for t in output.get("traceback", [])[-20:]]
        output["evalue"] = str(output.get("evalue", ""))[:MAX_TEXT]
        return True
    data = output.get("data", {})
    data.pop(RECORD_MIME, None)
    for key in list(data):
        value = data[key]
        size = len(value) if isinstance(value, str) else len(str(value))
        if size > (MAX_IMAGE if key.startswith("image/") else MAX_TEXT):
            del data[key]
    return bool(data)


def prepare(path: Path, scores: dict[str, ExerciseScore]) -> None:
    """Rewrite the autograded notebook at ``path`` for formgrader and feedback (see module docstring)."""
    if not path.exists():
        return
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _UNSAFE_URL.sub(r"\1unsafe-\2:", cell.source)
            cell.pop("attachments", None)
        if cell.cell_type != "code":
            continue
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if grade_id.startswith("test_") and grade_id[5:] in scores:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                   text=scores[grade_id[5:]].report() + "\n")]
        else:
            cell.outputs = [o for o in cell.outputs if _cap(o)]
    nb, _ = CourseSanitizeHTML().preprocess(nb, {})
    nbformat.write(nb, path)


def install_mathjax(folder: Path) -> Path:
    """Copy MathJax (2.7, from the ``jupyter_server_mathjax`` package) into ``folder/_mathjax`` unless it is
    there already; returns that folder."""
    from jupyter_server_mathjax.app import STATIC_ASSETS_PATH

    target = folder / MATHJAX_FOLDER
    if not (target / "MathJax.js").exists():
        shutil.copytree(STATIC_ASSETS_PATH, target, dirs_exist_ok=True)
    return target


def generate(nb_api, assignment: str, student: str, dest: Path) -> Path:
    """Render the student's feedback HTML with nbgrader and copy it to ``dest``; return ``dest``.

    ``dest`` is ``<feedback folder>/<student>/<assignment>.html``; MathJax goes into the feedback folder.

    Raises:
        RuntimeError: nbgrader wrote no page (with the end of its log).
    """
    root = Path(nb_api.coursedir.root)
    html = root / "feedback" / student / assignment / f"{assignment}.html"
    outcome = nb_api.generate_feedback(assignment, student)
    if not (outcome["success"] and html.exists()):
        raise RuntimeError(f"nbgrader wrote no feedback page for {student} {assignment}:\n"
                           f"{(outcome.get('error') or '')[-2000:]}\n{(outcome.get('log') or '')[-2000:]}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(html, dest)
    install_mathjax(dest.parent.parent)
    return dest
