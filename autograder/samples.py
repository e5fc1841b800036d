"""``cvcourse samples``: sample submissions made from the release and the solutions.

* ``perfect``: every answer cell filled with the instructor's solution, as a student would submit it;
* ``blank``: the release, untouched;
* ``partial``: ``perfect`` with each assignment's :class:`~autograder.assignments.Bug` applied.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from . import assignments as specs
from .course import NOTEBOOKS, SOLUTIONS

SAMPLE_STUDENTS = ("perfect", "blank", "partial")
_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _solution_sources(name: str) -> dict[str, str]:
    """grade id -> source of each solution cell of the instructor notebook, markers removed."""
    nb = nbformat.read(SOLUTIONS / name / f"{name}.ipynb", as_version=4)
    sources = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            lines = [ln for ln in cell.source.splitlines() if ln.strip() not in _MARKERS]
            sources[meta["grade_id"]] = "\n".join(lines)
    return sources


def filled(name: str, bugs: list[specs.Bug] = ()) -> nbformat.NotebookNode:
    """The released notebook of ``name`` with every answer cell filled in (and ``bugs`` applied)."""
    nb = nbformat.read(NOTEBOOKS / name / f"{name}.ipynb", as_version=4)
    sources = _solution_sources(name)
    for bug in bugs:
        src = sources[bug.exercise]
        if src.count(bug.find) != 1:
            raise ValueError(f"bug for {bug.exercise}: {bug.find!r} occurs {src.count(bug.find)} times")
        sources[bug.exercise] = src.replace(bug.find, bug.replace)
    for cell in nb.cells:
        gid = _grade_id(cell)
        if gid in sources:
            cell.source = sources[gid]
    return nb


def write_samples(dest: Path, names: list[str]) -> dict[str, list[str]]:
    """Write ``dest/<student>/<assignment>/<assignment>.ipynb`` for the three sample students.

    Returns:
        student -> exercises expected to lose their points (all of them for ``blank``).
    """
    expected_losses = {s: [] for s in SAMPLE_STUDENTS}
    for name in names:
        notebooks = {
            "perfect": filled(name),
            "blank": nbformat.read(NOTEBOOKS / name / f"{name}.ipynb", as_version=4),
            "partial": filled(name, specs.bugs(name)),
        }
        expected_losses["blank"] += [ex.name for ex in specs.exercises(name)]
        expected_losses["partial"] += [bug.exercise for bug in specs.bugs(name)]
        for student, nb in notebooks.items():
            folder = dest / student / name
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / f"{name}.ipynb")
    return expected_losses


#: The kinds of student in a synthetic class (:func:`write_class`), in turn.
CLASS_KINDS = ("perfect", "partial", "blank", "crasher", "patcher")
#: What a ``patcher`` runs first: the in-kernel checks patched to pass (its answers carry the sample bugs).
_PATCH = ("import numpy, torch, course_utils.checks, course_utils.grading\n"
          "numpy.allclose = torch.allclose = lambda *a, **k: True\n"
          "course_utils.checks.compare = course_utils.grading.compare = "
          "lambda *a, **k: course_utils.checks.Comparison(True, 'ok')\n")


def write_class(dest: Path, names: list[str], size: int) -> list[str]:
    """Write a synthetic class of ``size`` students for ``names`` under ``dest`` (as :func:`write_samples`).

    Student ``k`` (``s01_perfect``, ``s02_partial``, ...) is of kind ``CLASS_KINDS[k % 5]``: the three
    samples, a ``crasher`` whose kernel exits half way (``os._exit`` in the middle answer cell), and a
    ``patcher`` whose buggy answers run after the checks were patched to pass (it earns nothing: a cell that
    changes ``course_utils`` withholds every point). Returns the student ids.
    """
    students = []
    for k in range(size):
        kind = CLASS_KINDS[k % len(CLASS_KINDS)]
        student = f"s{k + 1:02d}_{kind}"
        students.append(student)
        for name in names:
            if kind == "blank":
                nb = nbformat.read(NOTEBOOKS / name / f"{name}.ipynb", as_version=4)
            else:
                nb = filled(name, specs.bugs(name) if kind in ("partial", "patcher") else ())
            answers = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")
                       and c.cell_type == "code"]
            if kind == "crasher":
                middle = answers[len(answers) // 2]
                middle.source = "import os\nos._exit(1)\n" + middle.source
            if kind == "patcher":
                answers[0].source = _PATCH + answers[0].source
            folder = dest / student / name
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / f"{name}.ipynb")
    return students
