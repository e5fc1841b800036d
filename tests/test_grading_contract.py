"""The notebook side (Checker) and the trusted side (scoring) of the grading contract, on a toy
exercise whose right answer is known: ``double(x) = 2 * x``. The grader-mode test runs a real kernel
in the sandbox, as ``cvcourse grade`` does."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import nbformat

from autograder.assignments import Exercise
from autograder.execute import execute
from autograder.sandbox import Limits
from autograder.scoring import records_from_notebook, score_assignment, score_exercise
from course_utils import Checker, store
from course_utils.grading import CASES_ENV, HIDDEN_ENV, RECORD_MIME, encode_record, judge, run_case


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
    assert "case 1: PASS shape (3,) float64\n" in out.out and "all visible cases pass" in out.out
    assert out.out.count("rtol=1e-07") == 1  # the tolerance is stated once, not on every case
    assert out.err == ""


def test_visible_check_fails_with_hint_and_survives_exceptions(folder, capsys):
    with pytest.raises(AssertionError, match="failed 2 of 2 visible.*\n.*Hint: multiply by two"):
        Checker("toy", folder).visible("double", _bad)
    with pytest.raises(AssertionError):
        Checker("toy", folder).visible("double", lambda x: 1 / 0)
    out = capsys.readouterr()
    assert "max abs err 2.00e+00" in out.out and "raised ZeroDivisionError" in out.out and out.err == ""
    assert "inputs: x=(3,) float64" in out.out  # a failing case shows its inputs
    assert re.search(r"^\s+returned\s+expected$", out.out, re.M)  # side by side
    assert "[2., 3., 4.]" in out.out and "[0., 2., 4.]" in out.out
    assert "in <lambda>" in out.out and "grading.py" not in out.out  # the traceback starts in the function


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
    assert "hidden case 1: FAIL (values differ from the reference)" in report
    assert "e+" not in report.split("hidden case 1")[1]


def test_hidden_failures_name_the_exception_type_only():
    leaky = [{"error": "ValueError: x was [3. 3. 3. 3.] (line 2 of double)"}] * 2
    score = score_exercise(DOUBLE, {"visible": [{"output": torch.as_tensor(2 * x)} for x in X], "hidden": leaky},
                           VISIBLE["exercises"]["double"]["cases"], HIDDEN["exercises"]["double"]["cases"])
    assert "hidden case 1: FAIL (raised ValueError)" in score.report() and "[3." not in score.report()


@pytest.mark.parametrize("records", [
    None, "forged", {"double": "all passed"}, {"double": {"visible": [], "hidden": []}},
    {"double": {"visible": [{"output": 1}] * 5, "hidden": [{"output": 1}] * 5}},
    {"double": {"visible": [{"error": "NotImplementedError"}] * 2, "hidden": [{"ok": True}] * 2}},
])
def test_malformed_or_forged_records_score_zero(records):
    scores = score_assignment(records, VISIBLE, HIDDEN, [DOUBLE])
    assert scores["double"].earned == 0 and scores["double"].problems


# -- every rule a spec states is a check: dtype, array kind, inputs unchanged, no aliasing -------------

def _record(fn, *args, numpy=True, **kwargs):
    return run_case(fn, {"args": list(args), "kwargs": kwargs}, numpy, torch.device("cpu"))


def _judge(fn, expected, *args, rules=None, **kwargs):
    return judge(_record(fn, *args, **kwargs), expected, {"numpy": True, "rtol": 1e-7, "atol": 1e-9, **(rules or {})})


def _scale_in_place(x, factor=2.0):
    x *= factor
    return x.copy()


def test_an_input_changed_in_place_fails_and_is_named():
    x = torch.arange(3.0, dtype=torch.float64)
    record = _record(_scale_in_place, x, factor=2.0)
    assert record["changed"] == ["x"] and x.tolist() == [0.0, 1.0, 2.0]  # the case's own input is a copy
    verdict = judge(record, torch.tensor([0.0, 2.0, 4.0], dtype=torch.float64), {"numpy": True, "rtol": 0, "atol": 0})
    assert not verdict.ok and verdict.failure == "changed its input x in place"
    assert _judge(lambda x, factor=2.0: x * factor, np.array([0.0, 2.0, 4.0]), x).ok
    # nested inputs and tensors (torch side) too, and NaN left alone is no change
    nested = _record(lambda pair: pair[1].add_(1), [torch.ones(2), torch.ones(2)], numpy=False)
    assert nested["changed"] == ["pair[1]"]
    assert "changed" not in _record(lambda x: x + 1, torch.tensor([float("nan"), 1.0]), numpy=False)


def test_a_returned_input_fails_only_where_a_copy_is_promised():
    x = torch.arange(4.0, dtype=torch.float64)
    identity = lambda x, factor=1: x  # noqa: E731
    assert _judge(identity, x, x, factor=1).ok
    verdict = _judge(identity, x, x, rules={"copies": True}, factor=1)
    assert not verdict.ok and verdict.failure == "returned its input x instead of a copy"
    assert _judge(lambda x, factor=1: x.copy(), x, x, rules={"copies": True}, factor=1).ok


def test_dtype_and_array_kind_are_part_of_the_answer():
    x = torch.arange(3.0, dtype=torch.float64)
    float32 = _judge(lambda x: (2 * x).astype(np.float32), 2 * x, x)
    assert not float32.ok and float32.message == "returned float32, expected float64" and float32.failure == "dtype"
    tensor = _judge(lambda x: torch.from_numpy(2 * x), 2 * x, x)
    assert not tensor.ok and tensor.message == "returned torch tensors, expected numpy arrays"
    assert _judge(lambda x: torch.from_numpy(2 * x), 2 * x, x, rules={"returns": "torch"}).ok
    count = _judge(lambda x: float(len(x)), 3, x)
    assert not count.ok and count.message == "returned float 3.0, expected int 3"
    assert _judge(lambda x: np.int64(len(x)), 3, x).ok


def test_hidden_lines_say_pass_or_fail_and_the_kind_only():
    """A hidden case never shows a value: for a number, an error size would give the answer away."""
    ex = Exercise("count", 1, [], [])
    case = {"args": [torch.tensor([3.0, 1.0, 2.0, 0.0, 4.0])], "kwargs": {}, "expected": 5}
    for fn, kind in [(lambda x: 4, "values differ from the reference"), (lambda x: 5.0, "wrong dtype"),
                     (lambda x: x.sort() or 5, "changed its input x in place"), (lambda x: [5, 5], "wrong type")]:
        record = _record(fn, case["args"][0])
        score = score_exercise(ex, {"visible": [], "hidden": [record]}, [], [case])
        (line,) = score.problems
        assert line == f"hidden case 1: FAIL ({kind})", line
        assert not any(ch.isdigit() for ch in line.replace("case 1", ""))


def test_visible_feedback_names_tuple_fields_and_shows_numbers_plainly():
    ex = Exercise("grads", 1, [], [], fields=("dx", "db"), rtol=0, atol=0)
    case = {"args": [np.ones(2)], "kwargs": {}, "expected": (torch.ones(2, dtype=torch.float64), 2)}
    record = _record(lambda x: (x.copy(), 3), case["args"][0])
    score = score_exercise(ex, {"visible": [record], "hidden": []}, [case], [])
    text = score.report()
    assert "case 1: FAIL db: returned 3, expected 2" in text and "inputs: x=(2,) float64" in text
    assert "outputs must match the reference exactly" in text


def test_traceback_starts_at_the_student_cell_in_an_ipython_kernel(tmp_path):
    """IPython hides the frames of course_utils (``__tracebackhide__``): the failing check's traceback
    shows the test cell and the AssertionError, not ~15 lines of grading.py."""
    cases = {"meta": {}, "exercises": {"double": {**_spec(None), "visible": VISIBLE["exercises"]["double"]["cases"],
                                                  "hidden": []}}}
    store.save(tmp_path / "scratch" / "cases.pt", cases)
    nb = nbformat.v4.new_notebook(cells=[
        _cell("from course_utils import Checker\nCHECK = Checker('toy')\ndef double(x):\n    return x + 2"),
        _cell('CHECK.visible("double", double)', "test_double"),
    ])
    execute(nb, tmp_path / "scratch", Limits(), {CASES_ENV: str(tmp_path / "scratch" / "cases.pt")})
    (error,) = [o for o in nb.cells[1].outputs if o["output_type"] == "error"]
    trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))
    assert "failed 2 of 2 visible" in error["evalue"] and "AssertionError: double failed" in trace
    assert 'CHECK.visible("double", double)' in trace
    assert "grading.py" not in trace and "_run(" not in trace, trace


def test_the_run_summary_counts_what_was_graded():
    from autograder.report import SubmissionResult, summary

    statuses = ["graded"] * 3 + ["failed: the notebook is not valid JSON", "error: kernel died (2 attempts)"] + \
        ["missing"] * 4
    line = summary([SubmissionResult(f"s{i}", "01_conv_pool", status=s) for i, s in enumerate(statuses)])
    assert line == ("4 submission(s) graded: 3 in full, 1 failed part way, 1 not graded (the machine's fault: "
                    "grade again); 4 pair(s) missing")


def test_the_hint_follows_what_failed():
    from course_utils.grading import KIND_HINTS

    def in_place(x):
        x *= 2
        return x

    cases = [{"args": [x]} for x in X]
    hints = {}
    for fn in (_bad, in_place, lambda x: (2 * x).astype(np.float32)):
        results = [run_case(fn, case, True, torch.device("cpu")) for case in cases]
        ex = Exercise("double", 1, [None] * 2, [], hint="multiply by two")
        score = score_exercise(ex, {"visible": results, "hidden": []},
                               [dict(c, expected=2 * x) for c, x in zip(cases, X)], [])
        hints[fn] = score.hint
        assert f"Hint: {score.hint}" in score.report()
    assert list(hints.values()) == ["multiply by two", KIND_HINTS["changed"], KIND_HINTS["dtype"]]
