"""The grading pipeline, proved on every assignment found in solutions/.

Metadata lint, notebooks/ in sync and free of solutions and hidden material, the three sample
students scored exactly as their bugs predict, feedback without hidden tests, and a grading batch
that survives broken, looping, crashing and cheating submissions.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch

from autograder import assignments as specs
from autograder.course import NOTEBOOKS, SOLUTIONS, assignments, hidden_reference_file
from autograder.grade import grade
from autograder.report import SubmissionResult, write_csv
from autograder.samples import filled
from course_utils import store
from course_utils.store import VISIBLE_FILE

from conftest import ASSIGNMENTS
from submissions import nbgrader_meta, prepend, released

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def _source(name: str) -> nbformat.NotebookNode:
    return nbformat.read(SOLUTIONS / name / f"{name}.ipynb", as_version=4)


def test_there_is_at_least_one_assignment():
    assert "01_conv_pool" in assignments()


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_metadata_lint(name):
    nb = _source(name)
    nbformat.validate(nb)
    meta = [nbgrader_meta(c) for c in nb.cells if nbgrader_meta(c)]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    assert all(m.get("schema_version") == 3 for m in meta)
    for m in meta:
        if m.get("grade"):
            assert m.get("points", 0) > 0, f"{m['grade_id']}: a graded cell needs points"
        if m.get("grade") and not m.get("solution"):
            assert m.get("locked"), f"{m['grade_id']}: test cells must be locked"
    tests = {m["grade_id"]: m for m in meta if m.get("grade") and not m.get("solution")}
    exercises = specs.exercises(name)
    assert set(tests) == {f"test_{ex.name}" for ex in exercises}, "one test cell per exercise"
    cells = {nbgrader_meta(c).get("grade_id"): c for c in nb.cells}
    for ex in exercises:
        assert tests[f"test_{ex.name}"]["points"] == ex.points
        src = cells[f"test_{ex.name}"].source
        assert f'CHECK.visible("{ex.name}"' in src
        hidden = src[src.index("### BEGIN HIDDEN TESTS"):src.index("### END HIDDEN TESTS")]
        assert f'CHECK.hidden("{ex.name}"' in hidden
        assert ex.name in cells and nbgrader_meta(cells[ex.name]).get("solution"), f"no solution cell {ex.name}"
        assert ex.visible and ex.hidden


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_notebooks_are_in_sync_with_solutions(name):
    from autograder.release import out_of_date

    assert out_of_date([name]) == []


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_holds_no_solution_or_hidden_material(name):
    folder = NOTEBOOKS / name
    text = (folder / f"{name}.ipynb").read_text()
    for marker in MARKERS:
        assert marker not in text
    assert "CHECK.hidden" not in text
    answers = {nbgrader_meta(c)["grade_id"]: c.source for c in released(name).cells
               if nbgrader_meta(c).get("solution")}
    for cell in _source(name).cells:
        if nbgrader_meta(cell).get("solution") and cell.cell_type == "code":
            body = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
            stub_cell = answers[nbgrader_meta(cell)["grade_id"]]
            assert "raise NotImplementedError()" in stub_cell
            stub = {ln.strip() for ln in stub_cell.splitlines()}
            leaked = [ln.strip() for ln in body.splitlines() if ln.strip() and ln.strip() in stub]
            assert not leaked, f"solution lines in the released answer cell: {leaked}"
    assert not [p for p in folder.rglob("*") if "hidden" in p.name.lower()]
    shipped_refs = store.load(folder / VISIBLE_FILE)
    hidden = store.load(hidden_reference_file(name))
    for ex, spec in hidden["exercises"].items():
        shipped = shipped_refs["exercises"][ex]["cases"]
        assert len(shipped) == len(next(e for e in specs.exercises(name) if e.name == ex).visible)
        for case in spec["cases"]:
            for vis in shipped:
                exp, got = case["expected"], vis["expected"]
                if isinstance(exp, torch.Tensor) and isinstance(got, torch.Tensor) and exp.numel() > 4:
                    assert not (exp.shape == got.shape and torch.equal(exp, got)), "hidden reference shipped"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_samples_score_exactly_as_predicted(graded_samples, name):
    results = graded_samples["results"]
    points = {ex.name: ex.points for ex in specs.exercises(name)}
    perfect, blank, partial = (results[s, name] for s in ("perfect", "blank", "partial"))
    assert perfect.status == "graded" and perfect.auto_score == perfect.auto_max == sum(points.values())
    assert blank.auto_score == 0
    lost = {b.exercise for b in specs.bugs(name)}
    assert lost, "the partial sample needs at least one bug"
    assert {n for n, s in partial.exercises.items() if not s.ok} == lost
    assert partial.auto_score == sum(points.values()) - sum(points[n] for n in lost)
    for bug in specs.bugs(name):  # each bug is caught by the visible checks and by the hidden tests
        s = partial.exercises[bug.exercise]
        assert s.passed["visible"] < s.total["visible"] and s.passed["hidden"] < s.total["hidden"]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_feedback_and_csv(graded_samples, name):
    out = graded_samples["out"]
    for student in ("perfect", "blank", "partial"):
        html = (out / "feedback" / student / f"{name}.html").read_text()
        assert "CHECK.hidden" not in html and "BEGIN HIDDEN TESTS" not in html
        assert "Grader:" in html
        # the course's own markdown is shown as written: its tables' <br> are line breaks, not text
        assert "&lt;br&gt;" not in html and "&amp;lt;" not in html
    rows = list(csv.DictReader(open(out / "grades.csv")))
    perfect = next(r for r in rows if r["student"] == "perfect" and r["assignment"] == name)
    assert float(perfect["auto_score"]) == float(perfect["auto_max"]) > 0


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_graded_test_cells_write_nothing_to_stderr(graded_samples, name):
    path = graded_samples["out"] / "course" / "autograded" / "perfect" / name / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade") and cell.cell_type == "code":
            kinds = [(o.output_type, o.get("name")) for o in cell.outputs]
            assert ("stream", "stderr") not in kinds and not any(k == "error" for k, _ in kinds), cell.source


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solution_notebook_runs_top_to_bottom_on_cpu(name, tmp_path):
    from autograder.notebook_run import execute_copy

    nb, seconds = execute_copy(SOLUTIONS / name, f"{name}.ipynb", tmp_path / "run", COURSE_DEVICE="cpu",
                               COURSE_FIGURE_DIR=str(tmp_path / "figures"), NBGRADER_EXECUTION=None)
    for cell in nb.cells:
        if cell.cell_type == "code":  # cells tagged for Run All do not stop nbclient: look at each
            assert not any(o.output_type == "error" for o in cell.outputs), cell.source
        if cell.cell_type == "code" and nbgrader_meta(cell).get("grade"):
            assert not any(o.get("name") == "stderr" for o in cell.outputs), cell.source
    assert list((tmp_path / "figures").glob("*.png")), "the notebook saves its figures"
    print(f"{name}: executed in {seconds:.1f} s")


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_run_all_reaches_every_check_of_a_blank_notebook(name, tmp_path):
    """nbclient, like Lab's Run All, stops at the first error unless the cell is tagged for Run All."""
    from autograder.notebook_run import execute_copy

    nb, _ = execute_copy(NOTEBOOKS / name, f"{name}.ipynb", tmp_path / "run", COURSE_DEVICE="cpu",
                         COURSE_FIGURE_DIR=str(tmp_path / "figures"), NBGRADER_EXECUTION="validate")
    checks = [c for c in nb.cells if nbgrader_meta(c).get("grade_id", "").startswith("test_")]
    assert len(checks) == len(specs.exercises(name))
    for cell in checks:  # every check ran, and failed: nothing is implemented
        assert [o.ename for o in cell.outputs if o.output_type == "error"], cell.source


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_committed_references_match_a_fresh_run(name):
    from autograder.reference_outputs import deviations

    bad = [row for row in deviations(name) if not row[3]]
    assert not bad


def test_hostile_batch_is_graded_without_losing_anyone(tmp_path, monkeypatch):
    """Broken JSON, a missing notebook, a crashed kernel and cheaters get zero (with a reason), an
    endless loop costs only its own exercise, and the honest student in the same batch (sent as a
    zip) gets full marks."""
    monkeypatch.setenv("CVCOURSE_CELL_TIMEOUT", "10")
    name = "01_conv_pool"  # its first sample bug's exercise is called by no other exercise
    subs = tmp_path / "subs"

    def put(student, nb=None, text=None):
        folder = subs / student / name
        folder.mkdir(parents=True)
        if nb is not None:
            nbformat.write(nb, folder / f"{name} (1).ipynb")
        if text is not None:
            (folder / f"{name}.ipynb").write_text(text)

    put("honest", filled(name))
    put("broken", text='{"cells": [ this is not json')
    put("absent")
    looped = specs.bugs(name)[0].exercise  # no other exercise calls it
    put("looper", prepend(filled(name), "while True:\n    pass", looped))
    put("crasher", prepend(released(name), "import os\nos._exit(1)"))
    cheat = (
        "import numpy, torch, course_utils, course_utils.checks, course_utils.grading\n"
        "numpy.allclose = lambda *a, **k: True\n"
        "torch.allclose = lambda *a, **k: True\n"
        "course_utils.checks.compare = lambda *a, **k: course_utils.checks.Comparison(True, 'ok')\n"
        "course_utils.grading.compare = course_utils.checks.compare\n"
        "course_utils.Checker.visible = lambda self, *a, **k: print('all visible cases pass')\n"
        "course_utils.Checker.hidden = lambda self, *a, **k: None\n"
    )
    put("cheater", prepend(released(name), cheat))
    # buggy answers whose in-kernel checks are patched to pass
    patch_compare = "\n".join(cheat.splitlines()[:5])
    put("patcher", prepend(filled(name, specs.bugs(name)), patch_compare))
    archive = tmp_path / "subs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in subs.rglob("*"):
            zf.write(p, Path("batch") / p.relative_to(subs))

    results = {r.student: r for r in grade(archive, tmp_path / "out", [name], progress=lambda _: None)}
    assert set(results) == {"honest", "broken", "absent", "looper", "crasher", "cheater", "patcher"}
    assert results["honest"].auto_score == results["honest"].auto_max > 0
    looper = results["looper"]
    assert {n for n, s in looper.exercises.items() if not s.ok} == {looped}
    assert looper.auto_score == looper.auto_max - next(e.points for e in specs.exercises(name) if e.name == looped)
    for student in ("broken", "absent", "crasher", "cheater"):
        assert results[student].auto_score == 0, student
    assert results["absent"].status == "missing"
    assert results["broken"].status == "failed: the notebook is not valid JSON"
    assert results["crasher"].status.startswith("failed: the kernel died in code cell")
    assert results["cheater"].status == "graded"
    # the grader still sees the bugs (their cases fail, the others pass), and the changed checks cost every point
    patcher = results["patcher"]
    failing = {n for n, s in patcher.exercises.items() if any(s.passed[w] < s.total[w] for w in ("visible", "hidden"))}
    assert failing == {b.exercise for b in specs.bugs(name)} and patcher.auto_score == 0
    assert all(any("changes the course's checking code" in f for f in s.forbidden) for s in patcher.exercises.values())
    autograded = tmp_path / "out" / "course" / "autograded" / "patcher" / name / f"{name}.ipynb"
    # what the patched kernel printed ("all visible cases pass") is replaced by the grader's verdict
    shown = nbformat.read(autograded, as_version=4)
    verdicts = {nbgrader_meta(c)["grade_id"]: "".join(o.get("text", "") for o in c.outputs)
                for c in shown.cells if nbgrader_meta(c).get("grade_id", "").startswith("test_")}
    for bug in specs.bugs(name):
        assert "-> 0 of" in verdicts[f"test_{bug.exercise}"] and ": FAIL" in verdicts[f"test_{bug.exercise}"]
        assert "all visible cases pass" not in verdicts[f"test_{bug.exercise}"]
    rows = list(csv.DictReader(open(tmp_path / "out" / "grades.csv")))
    assert len(rows) == 7


def test_csv_quotes_awkward_names(tmp_path):
    r = SubmissionResult('o"brien, jr', "01_conv_pool", status="failed: a, b", auto_score=1, auto_max=2)
    path = write_csv(tmp_path / "g.csv", [r])
    row = next(csv.DictReader(open(path)))
    assert row["student"] == 'o"brien, jr' and row["status"] == "failed: a, b"
