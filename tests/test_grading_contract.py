"""The notebook side (Checker) and the trusted side (scoring) of the grading contract, on a toy
exercise whose right answer is known: ``double(x) = 2 * x``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder.scoring import score_assignment, score_exercise
from course_utils import Checker, store
from course_utils.grading import CASES_ENV, RECORD_ENV


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
    monkeypatch.delenv(RECORD_ENV, raising=False)
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


def test_grader_mode_records_outputs_and_hidden_expected_never_enter(folder, monkeypatch, capsys):
    cases = {"meta": {}, "exercises": {"double": {**_spec(None), "visible": VISIBLE["exercises"]["double"]["cases"],
                                                  "hidden": [{"args": [x], "kwargs": {}} for x in HIDDEN_X]}}}
    monkeypatch.setenv(CASES_ENV, str(store.save(folder / "cases.pt", cases)))
    monkeypatch.setenv(RECORD_ENV, str(folder / "record.pt"))
    checker = Checker("toy", folder)
    checker.visible("double", _good)
    checker.hidden("double", _good)
    assert "2 hidden case(s) recorded for the grader" in capsys.readouterr().out
    records = store.load(folder / "record.pt")
    assert set(records["double"]) == {"visible", "hidden"}
    scores = score_assignment(records, VISIBLE, HIDDEN, {"double": 3})
    assert scores["double"].ok and scores["double"].earned == 3


def test_scoring_is_all_or_nothing_and_names_no_hidden_values():
    out = lambda xs, f: [{"output": torch.as_tensor(f(x))} for x in xs]  # noqa: E731
    visible_ok = out(X, _good)
    score = score_exercise("double", 2, {"visible": visible_ok, "hidden": out(HIDDEN_X, _bad)},
                           VISIBLE["exercises"]["double"], HIDDEN["exercises"]["double"])
    assert not score.ok and score.earned == 0 and score.passed == {"visible": 2, "hidden": 0}
    assert "hidden case 1: output differs" in score.report() and "8" not in score.report().split("->")[1]


@pytest.mark.parametrize("records", [
    None, "forged", {"double": "all passed"}, {"double": {"visible": [], "hidden": []}},
    {"double": {"visible": [{"output": 1}] * 5, "hidden": [{"output": 1}] * 5}},
    {"double": {"visible": [{"error": "NotImplementedError"}] * 2, "hidden": [{"ok": True}] * 2}},
])
def test_malformed_or_forged_records_score_zero(records):
    scores = score_assignment(records, VISIBLE, HIDDEN, {"double": 2})
    assert scores["double"].earned == 0 and scores["double"].problems
