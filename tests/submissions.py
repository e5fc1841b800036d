"""Submissions the tests make from the released notebooks: what a student hands in, honest or not."""

from __future__ import annotations

import nbformat

from autograder.course import NOTEBOOKS


def nbgrader_meta(cell) -> dict:
    """The cell's nbgrader metadata ({} for a cell nbgrader does not know)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def released(name: str) -> nbformat.NotebookNode:
    """The student notebook of ``name`` as released (every answer still to write)."""
    return nbformat.read(NOTEBOOKS / name / f"{name}.ipynb", as_version=4)


def prepend(nb: nbformat.NotebookNode, code: str, grade_id: str | None = None) -> nbformat.NotebookNode:
    """Put ``code`` at the top of answer cell ``grade_id`` (default: the first answer cell)."""
    cell = next(c for c in nb.cells if nbgrader_meta(c).get("solution") and c.cell_type == "code"
                and grade_id in (None, nbgrader_meta(c)["grade_id"]))
    cell.source = code + "\n" + cell.source
    return nb
