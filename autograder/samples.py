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
