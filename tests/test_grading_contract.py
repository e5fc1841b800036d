"""The notebook side (Checker) and the trusted side (scoring) of the grading contract, on a toy
exercise whose right answer is known: ``double(x) = 2 * x``. The grader-mode test runs a real kernel
in the sandbox, as ``cvcourse grade`` does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nbformat

from autograder.assignments import Exercise
from autograder.execute import execute
from autograder.sandbox import Limits
from autograder.scoring import records_from_notebook, score_assignment, score_exercise
from course_utils import Checker, store
from course_utils.grading import CASES_ENV, HIDDEN_ENV, RECORD_MIME, encode_record


def _spec(cases):
    return {"numpy": True, "rtol": 1e-7, "atol": 1e-9, "hint": "multiply by two", "cases": cases}


X = [np.arange(3.0), np.ones((2, 2))]
VISIBLE = {"meta": {}, "exercises": {"double": _spec([{"args": [x], "kwargs": {}, "expected": 2 * x} for x in X])}}
HIDDEN_X = [np.full(4, 3.0), -np.eye(2)]
HIDDEN = {"meta": {}, "exercises": {"double": _spec([{"args": [x], "kwargs": {}, "expected": 2 * x}
                                                     for x in HIDDEN_X])}}


def _good(x):
    return 2 * x


def _bad(x):
    return x + 2


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.delenv(CASES_ENV, raising=False)
    monkeypatch.delenv(HIDDEN_ENV, raising=False)
    store.save(tmp_path / store.VISIBLE_FILE, VISIBLE)
    return tmp_path


def test_visible_check_passes_and_reports(folder, capsys):
    Checker("toy", folder).visible("double", _good)
    out = capsys.readouterr()
    assert "case 1: PASS shape (3,) float64 matches" in out.out and "all visible cases pass" in out.out
    assert out.err == ""


def test_visible_check_fails_with_hint_and_survives_exceptions(folder, capsys):
    with pytest.raises(AssertionError, match="failed 2 of 2 visible.*\n.*Hint: multiply by two"):
        Checker("toy", folder).visible("double", _bad)
    with pytest.raises(AssertionError):
        Checker("toy", folder).visible("double", lambda x: 1 / 0)
    out = capsys.readouterr()
    assert "max abs err 2.00e+00" in out.out and "raised ZeroDivisionError" in out.out and out.err == ""


def test_missing_visible_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(CASES_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="run this notebook from its own folder"):
        Checker("toy", tmp_path).visible("double", _good)


DOUBLE = Exercise("double", 3, [], [])


def _cell(source: str, grade_id: str | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "grade": True, "locked": True, "points": 3,
                                     "solution": False, "schema_version": 3}
    return cell


def test_grader_mode_records_outputs_and_hidden_expected_never_enter(tmp_path):
    cases = {"meta": {}, "exercises": {"double": {**_spec(None), "visible": VISIBLE["exercises"]["double"]["cases"],
                                                  "hidden": [{"args": [x], "kwargs": {}} for x in HIDDEN_X]}}}
    store.save(tmp_path / "scratch" / "cases.pt", cases)  # the kernel sees its scratch folder only
    nb = nbformat.v4.new_notebook(cells=[
        _cell("from course_utils import Checker\nCHECK = Checker('toy')\n"
              "def double(x):\n    print('secret', x)\n    return 2 * x"),
        _cell('CHECK.visible("double", double)\nCHECK.hidden("double", double)', "test_double"),
        # a record sent from any other cell is not the test cell's: it is ignored
        _cell('CHECK.hidden("double", lambda x: x)'),
    ])
    run = execute(nb, tmp_path / "scratch", Limits(), {CASES_ENV: str(tmp_path / "scratch" / "cases.pt")})
    assert run.status == "complete" and run.sandboxed, run
    text = str(nb.cells[1].outputs)
    assert "2 hidden case(s) recorded for the grader" in text and "secret" not in text.split("visible")[-1]
    records = records_from_notebook(nb, ["double"])
    assert set(records["double"]) == {"visible", "hidden"}
    scores = score_assignment(records, VISIBLE, HIDDEN, [DOUBLE])
    assert scores["double"].ok and scores["double"].earned == 3


def test_records_come_only_from_the_exercise_own_test_cell():
    good = [{"output": torch.as_tensor(2 * x)} for x in HIDDEN_X]
    forged = {"output_type": "display_data", "metadata": {},
              "data": {RECORD_MIME: encode_record("double", "hidden", good)}}
    other = nbformat.v4.new_code_cell("")
    other.outputs = [forged]
    wrong_cell = _cell("", "test_other")
    wrong_cell.outputs = [forged]
    own = _cell("", "test_double")
    own.outputs = [{"output_type": "display_data", "metadata": {},
                    "data": {RECORD_MIME: encode_record("other", "hidden", good)}}]
    nb = nbformat.v4.new_notebook(cells=[other, wrong_cell, own])
    assert records_from_notebook(nb, ["double", "other"]) == {}
    own.outputs = [forged]
    assert records_from_notebook(nb, ["double"])["double"]["hidden"][0]["output"].tolist() == [6.0] * 4


def test_scoring_is_all_or_nothing_and_names_no_hidden_values():
    out = lambda xs, f: [{"output": torch.as_tensor(f(x))} for x in xs]  # noqa: E731
    visible_ok = out(X, _good)
    score = score_exercise(DOUBLE, {"visible": visible_ok, "hidden": out(HIDDEN_X, _bad)},
                           VISIBLE["exercises"]["double"]["cases"], HIDDEN["exercises"]["double"]["cases"])
    assert not score.ok and score.earned == 0 and score.passed == {"visible": 2, "hidden": 0}
    report = score.report().split("->")[1]
    assert "hidden case 1: FAIL output differs" in report and "e+" not in report.split("hidden case 1")[1]


def test_hidden_failures_name_the_exception_type_only():
    leaky = [{"error": "ValueError: x was [3. 3. 3. 3.] (line 2 of double)"}] * 2
    score = score_exercise(DOUBLE, {"visible": [{"output": torch.as_tensor(2 * x)} for x in X], "hidden": leaky},
                           VISIBLE["exercises"]["double"]["cases"], HIDDEN["exercises"]["double"]["cases"])
    assert "hidden case 1: FAIL raised ValueError" in score.report() and "[3." not in score.report()


@pytest.mark.parametrize("records", [
    None, "forged", {"double": "all passed"}, {"double": {"visible": [], "hidden": []}},
    {"double": {"visible": [{"output": 1}] * 5, "hidden": [{"output": 1}] * 5}},
    {"double": {"visible": [{"error": "NotImplementedError"}] * 2, "hidden": [{"ok": True}] * 2}},
])
def test_malformed_or_forged_records_score_zero(records):
    scores = score_assignment(records, VISIBLE, HIDDEN, [DOUBLE])
    assert scores["double"].earned == 0 and scores["double"].problems
