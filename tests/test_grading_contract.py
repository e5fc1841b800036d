"""The notebook side (Checker) and the trusted side (scoring) of the grading contract, on a toy
exercise whose right answer is known: ``double(x) = 2 * x``. The grader-mode test runs a real kernel
in the sandbox, as ``cvcourse grade`` does."""

from __future__ import annotations

import base64
import io
import re
import resource
import zipfile

import nbformat
import numpy as np
import pytest
import torch
from toy_exercise import DOUBLE, HIDDEN, HIDDEN_X, VISIBLE, X
from toy_exercise import code_cell as _cell
from toy_exercise import spec as _spec

from autograder import scoring
from autograder.assignments import Exercise
from autograder.execute import execute
from autograder.sandbox import Limits
from autograder.scoring import records_from_notebook, score_assignment, score_exercise
from course_utils import Checker, store
from course_utils.grading import (
    CASES_ENV,
    HIDDEN_ENV,
    RECORD_MIME,
    encode_record,
    judge,
    run_case,
)


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

    cases = [{"args": [x.copy()]} for x in X]  # run_case passes numpy inputs as they are: in_place changes them
    hints = {}
    for fn in (_bad, in_place, lambda x: (2 * x).astype(np.float32)):
        results = [run_case(fn, case, True, torch.device("cpu")) for case in cases]
        ex = Exercise("double", 1, [None] * 2, [], hint="multiply by two")
        score = score_exercise(ex, {"visible": results, "hidden": []},
                               [dict(c, expected=2 * x) for c, x in zip(cases, X)], [])
        hints[fn] = score.hint
        assert f"Hint: {score.hint}" in score.report()
    assert list(hints.values()) == ["multiply by two", KIND_HINTS["changed"], KIND_HINTS["dtype"]]


# -- forged records (red team round 2, F3): a patched ``encode_record`` sends whatever it likes ---------

DOUBLE2 = Exercise("double2", 2, [], [])
BOTH_VISIBLE = {"meta": {}, "exercises": {"double": VISIBLE["exercises"]["double"],
                                          "double2": VISIBLE["exercises"]["double"]}}
BOTH_HIDDEN = {"meta": {}, "exercises": {"double": HIDDEN["exercises"]["double"],
                                         "double2": HIDDEN["exercises"]["double"]}}


def _raw_record(exercise: str, which: str, results: list) -> dict:
    """The payload of a patched ``encode_record`` that skips ``store.to_storable``: ``results`` saved as they
    are (a stride-0 view stays one, a set stays a set)."""
    buffer = io.BytesIO()
    torch.save(results, buffer)
    return {"exercise": exercise, "which": which, "results": base64.b64encode(buffer.getvalue()).decode("ascii")}


def _deep_error_record(exercise: str, which: str, n: int, depth: int = 100_000) -> dict:
    """A record of ``n`` results ``{"error": [[[...]]]}`` nested ``depth`` deep. No pickler writes that (it
    recurses), so the pickle is written by hand into torch.save's zip, as the red team's patched
    ``encode_record`` did (/tmp/redteam2/build/batch2.py, u01); unpickling it does not recurse."""
    pickled = (b"\x80\x02](}X\x05\x00\x00\x00error" + b"]" * depth + b"a" * (depth - 1) + b"sq\x01"
               + b"h\x01" * (n - 1) + b"e.")
    buffer = io.BytesIO()
    torch.save([{"error": "x"}], buffer)
    original, out = zipfile.ZipFile(io.BytesIO(buffer.getvalue())), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as forged:
        for item in original.infolist():
            forged.writestr(item, pickled if item.filename.endswith("data.pkl") else original.read(item.filename))
    return {"exercise": exercise, "which": which, "results": base64.b64encode(out.getvalue()).decode("ascii")}


def _graded_notebook(payloads: dict[str, list[dict]]) -> nbformat.NotebookNode:
    """An executed notebook whose test cell of each exercise holds ``payloads[exercise]`` as record outputs."""
    cells = []
    for name, outputs in payloads.items():
        cell = _cell("", f"test_{name}")
        cell.outputs = [{"output_type": "display_data", "metadata": {}, "data": {RECORD_MIME: p}} for p in outputs]
        cells.append(cell)
    return nbformat.v4.new_notebook(cells=cells)


def _honest(exercise: str) -> list[dict]:
    return [encode_record(exercise, which, [run_case(_good, {"args": [x]}, True, torch.device("cpu")) for x in xs])
            for which, xs in (("visible", X), ("hidden", HIDDEN_X))]


#: One storage of 2**18 elements, which 2,000 views share: 2**29 elements claimed, more than a record may hold.
SHARED = torch.zeros(1 << 18, dtype=torch.float32)


def _each_case(make):
    """A forged record of every case of ``double`` made by ``make(x)``, as a patched encode_record sends it."""
    return lambda encode: [encode("double", which, [make(x) for x in xs])
                           for which, xs in (("visible", X), ("hidden", HIDDEN_X))]


FORGED = {
    # F3 (a): 1 element claiming 2**48 (1 PiB as float32): before, as_numpy's x.float() tried to allocate it
    "bfloat16 stride 0, 2**48 elements": (_raw_record, _each_case(
        lambda x: {"output": torch.zeros(1, dtype=torch.bfloat16).expand(2 ** 48)})),
    "float64 stride 0, 2**40 elements": (_raw_record, _each_case(
        lambda x: {"output": torch.zeros(1, dtype=torch.float64).expand(2 ** 20, 2 ** 20)})),
    # F3 (b): str() of the error recursed without end
    "error nested 100,000 deep": (None, lambda _: [_deep_error_record("double", "visible", len(X)),
                                                   _deep_error_record("double", "hidden", len(HIDDEN_X))]),
    # a dtype numpy lacks: before, .numpy() raised TypeError
    "float8 output": (encode_record, _each_case(lambda x: {"output": torch.zeros(x.shape).to(torch.float8_e4m3fn)})),
    "complex32 output": (encode_record, _each_case(lambda x: {"output": torch.zeros(x.shape, dtype=torch.complex32)})),
    # a Python int that float() cannot take
    "int of 400 digits": (encode_record, _each_case(lambda x: {"output": [10 ** 400] * len(x)})),
    # views of one storage that together claim more than a record may hold
    "2,000 views of one storage": (_raw_record, _each_case(lambda x: {"output": [SHARED[:]] * 2000})),
    # fields of the wrong type or size
    "error that is not text": (encode_record, _each_case(lambda x: {"error": {"a": [1]}, "error_types": "ValueError"})),
    "own calls that are not counts": (encode_record, _each_case(lambda x: {"output": 2 * x, "own": {"f": "many"}})),
    "a name of 10 million characters": (encode_record, _each_case(lambda x: {"output": 2 * x, "changed": ["a" * 10 ** 7]})),
    "a set": (_raw_record, _each_case(lambda x: {"output": {1, 2}})),
    "a dict keyed by numbers": (_raw_record, _each_case(lambda x: {"output": torch.as_tensor(2 * x), "own": {1: 2}})),
    "lists 40 deep": (encode_record, _each_case(lambda x: {"output": 2 * x, "replay": {"f": _nested(40)}})),
}


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("forgery", list(FORGED))
def test_a_forged_record_costs_its_own_exercise_only(forgery):
    """Nothing in a record makes scoring raise, recurse or allocate: the forged exercise scores 0, saying its
    record could not be read, and the honest one beside it earns its points."""
    encode, make = FORGED[forgery]
    nb = _graded_notebook({"double": make(encode), "double2": _honest("double2")})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scores = score_assignment(records_from_notebook(nb, ["double", "double2"]), BOTH_VISIBLE, BOTH_HIDDEN,
                              [DOUBLE, DOUBLE2])
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 256, grown_mib  # nothing the size of the claim was allocated
    assert scores["double"].earned == 0 and not scores["double"].ok
    report = scores["double"].report()
    assert "hidden case 1: FAIL (its record could not be read)" in report, report
    assert "case 1: FAIL its record could not be read" in report, report
    assert scores["double2"].ok and scores["double2"].earned == 2, scores["double2"].report()


def test_a_record_that_cannot_be_judged_scores_zero_without_saying_why(monkeypatch):
    """The last line of defence: whatever judging one exercise's record raises, that exercise scores 0 with
    "its record could not be judged" (not the exception's text), and the others are scored as usual."""
    real_judge, calls = scoring.judge, []

    def judge(result, expected, rules):  # the last hidden case of the first exercise scored (double) fails
        calls.append(1)
        if len(calls) == 4:
            raise RecursionError("SECRET-TEXT of the exception")
        return real_judge(result, expected, rules)

    monkeypatch.setattr(scoring, "judge", judge)
    nb = _graded_notebook({"double": _honest("double"), "double2": _honest("double2")})
    records = records_from_notebook(nb, ["double", "double2"])
    scores = score_assignment(records, BOTH_VISIBLE, BOTH_HIDDEN, [DOUBLE, DOUBLE2])
    double = scores["double"]
    assert double.earned == 0 and double.problems == ["its record could not be judged"]
    assert double.total == {"visible": 2, "hidden": 2} and double.passed == {"visible": 0, "hidden": 0}
    assert "SECRET" not in double.report() and "Recursion" not in double.report()
    assert scores["double2"].ok and scores["double2"].earned == 2


def test_odd_but_honest_outputs_are_judged_as_before():
    """The limits refuse nothing an honest kernel sends: NaN and infinities, complex and bfloat16 outputs,
    an exception with a long message are judged (and fail) as they always were."""
    def record(make):
        return {w: [run_case(make, {"args": [x]}, True, torch.device("cpu")) for x in xs]
                for w, xs in (("visible", X), ("hidden", HIDDEN_X))}

    def long_error(x):
        raise ValueError("v" * 50_000)

    kinds = {
        "NaN": (lambda x: np.where(x > 0, np.nan, 2 * x), "NaN where the reference has none", "values differ"),
        "inf": (lambda x: np.full_like(x, np.inf), "values differ at", "values differ"),
        "complex": (lambda x: (2 * x).astype(np.complex128), "returned complex128, expected float64", "wrong dtype"),
        "bfloat16": (lambda x: torch.from_numpy(2 * x).to(torch.bfloat16),
                     "returned torch tensors, expected numpy arrays", "wrong type"),
        "long message": (long_error, "raised ValueError: " + "v" * 281, "raised ValueError"),
    }
    for name, (make, visible_text, hidden_text) in kinds.items():
        payloads = [encode_record("double", w, rs) for w, rs in record(make).items()]
        nb = _graded_notebook({"double": payloads})
        score = score_assignment(records_from_notebook(nb, ["double"]), VISIBLE, HIDDEN, [DOUBLE])["double"]
        report = score.report()
        assert score.earned == 0 and visible_text in report and f"FAIL ({hidden_text}" in report, (name, report)
        assert "could not be" not in report, (name, report)
    assert score_assignment(records_from_notebook(_graded_notebook({"double": _honest("double")}), ["double"]),
                            VISIBLE, HIDDEN, [DOUBLE])["double"].earned == 3


def test_the_record_limits_leave_a_wide_margin_over_the_references():
    """The course's largest outputs (and sealed replays) sit far inside the limits of a record."""
    import glob

    from autograder.course import REPO

    biggest_tensor = biggest_record = 0
    for path in glob.glob(str(REPO / "autograder/references/*/hidden.pt")) + \
            glob.glob(str(REPO / "solutions/*/visible_references.pt")):
        for spec in store.load(path)["exercises"].values():
            budget = scoring._Budget()  # one record: every case of an exercise, as the solution sends them
            for case in spec["cases"]:
                result = {"output": case["expected"], "replay": case.get("replay") or {}}
                assert scoring._read_result(result, budget) is not scoring.UNREADABLE_RESULT, path
                biggest_tensor = max([biggest_tensor] + [t.numel() for t in _tensors(result)])
            biggest_record = max(biggest_record, scoring.MAX_RECORD_ELEMENTS - budget.elements)
    assert biggest_tensor * 50 < scoring.MAX_TENSOR_ELEMENTS and biggest_record * 20 < scoring.MAX_RECORD_ELEMENTS


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)
