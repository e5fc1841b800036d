"""Feedback pages: the course's own markdown is shown as written, anything a student wrote is sanitised."""

from __future__ import annotations

import re

import nbformat
from nbconvert import HTMLExporter

from autograder.course import NOTEBOOKS
from autograder.feedback import CourseSanitizeHTML, course_markdown

NAME = "01_conv_pool"


def _render(nb) -> str:
    nb, _ = CourseSanitizeHTML().preprocess(nb, {})
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return html


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
    assert "&lt;script&gt;alert" in html and "&lt;br&gt;" in html  # shown as text, the table's too
