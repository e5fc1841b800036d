"""The trusted half of grading: read what a student's kernel recorded, compare it with the references.

This runs in the grader's own process. Records are taken only from the outputs of each exercise's own
test cell, which the grader collected while that cell ran; tolerances and points come from the
exercise specs (``autograder/assignments``), expected values from the reference files. Everything
the kernel sent is treated as hostile data: decoded with size limits and loaded without unpickling
code, and checked against the limits below before anything else reads it (:func:`_read_result`): nothing
in a record can make scoring raise, hang or allocate much. Should judging one exercise's record still
fail, that exercise scores 0 ("its record could not be judged") and the others are scored as usual.
"""

from __future__ import annotations

import base64
import io
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from course_utils.grading import (
    FAILURE_WORDS,
    RECORD_MIME,
    Verdict,
    case_lines,
    choose_hint,
    judge,
    rules_text,
)

from .assignments import Exercise

#: Largest record payload taken from one output (base64 characters).
MAX_RECORD_CHARS = 64 << 20
WHICH = ("visible", "hidden")

# What one record (the results of one exercise's visible or hidden cases) may hold. A case whose result
# breaks a limit fails ("its record could not be read"). The course's outputs are small: in the reference
# files (expected outputs and sealed replays, autograder/references/*/hidden.pt and
# solutions/*/visible_references.pt) the largest tensor has 126,057 elements, the largest record 1.3
# million elements in all and 424 items, nothing is nested more than 3 deep below a case, and no string
# is longer than 64 characters; the limits leave a margin of 50 or more.
#: Elements of one tensor (16.8 million: 130 times the largest reference tensor; compared in float64,
#: 128 MiB).
MAX_TENSOR_ELEMENTS = 1 << 24
#: Elements of all tensors of one record together (67 million, 50 times the largest reference record):
#: tensors that share storage cannot claim more than this, however many there are.
MAX_RECORD_ELEMENTS = 1 << 26
#: Items (lists, tuples, dicts, numbers, strings, tensors, None) in one record (65,536: 150 times).
MAX_RECORD_ITEMS = 1 << 16
#: Lists, tuples and dicts within one another, below a case's result.
MAX_DEPTH = 32
#: Characters of a string or a dict key; a result's ``error`` is cut to its first, its ``traceback`` to
#: its last this many (the feedback shows 300 and 3,000 of them).
MAX_STRING = 10_000
#: Python ints: |n| below this (a 64-bit integer, signed or not).
MAX_INT = 1 << 64
#: Dimensions of a tensor.
MAX_DIMS = 32
#: The dtypes a tensor in a record may have: numbers and booleans that numpy holds too (bfloat16 is
#: compared as float32), as :func:`course_utils.store.to_storable` sends them.
DTYPES = frozenset({torch.bool, torch.uint8, torch.uint16, torch.uint32, torch.uint64, torch.int8, torch.int16,
                    torch.int32, torch.int64, torch.float16, torch.bfloat16, torch.float32, torch.float64,
                    torch.complex64, torch.complex128})
#: What a person is told about a case whose result broke a limit, and about an exercise whose record
#: could not be judged at all (never the exception's text).
UNREADABLE = FAILURE_WORDS["unreadable"]
UNJUDGED = "its record could not be judged"

_log = logging.getLogger(__name__)


@dataclass
class ExerciseScore:
    """Result of one exercise: full points only if every visible and hidden case matches and the
    answer cell calls nothing the exercise forbids.

    ``visible_lines`` are shown to the student; ``problems`` name no hidden input, output or message.
    """

    name: str
    points: float
    passed: dict[str, int] = field(default_factory=lambda: {w: 0 for w in WHICH})
    total: dict[str, int] = field(default_factory=lambda: {w: 0 for w in WHICH})
    problems: list[str] = field(default_factory=list)
    visible_lines: list[str] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)
    hint: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.forbidden and all(self.passed[w] == self.total[w] for w in WHICH)

    @property
    def earned(self) -> float:
        return self.points if self.ok else 0.0

    def report(self) -> str:
        """The grader's paragraph for the student's feedback."""
        counts = ", ".join(f"{self.passed[w]}/{self.total[w]} {w}" for w in WHICH)
        lines = [f"Grader: {self.name}: {counts} case(s) match the reference "
                 f"-> {self.earned:g} of {self.points:g} point(s)."]
        lines += [f"  {line}" for line in self.visible_lines]
        lines += [f"  Hint: {self.hint}"] if self.hint and not self.ok else []
        lines += [f"  - points withheld: {f}" for f in self.forbidden]
        lines += [f"  - {p}" for p in self.problems[:8]]
        return "\n".join(lines)


class _Unreadable(Exception):
    """A result breaks a limit on what a record may hold."""


class _UnreadableResult:
    """Stands in a record for a case's result that broke a limit (:func:`_read_result`); such a case fails."""

    def __repr__(self) -> str:
        return "<a result that could not be read>"


#: The one stand-in for every result that could not be read (compared by identity: no record can forge it).
UNREADABLE_RESULT = _UnreadableResult()


class _Budget:
    """What is left of one record's :data:`MAX_RECORD_ITEMS` and :data:`MAX_RECORD_ELEMENTS`."""

    def __init__(self) -> None:
        self.items = MAX_RECORD_ITEMS
        self.elements = MAX_RECORD_ELEMENTS


def _check_tensor(t: torch.Tensor, budget: _Budget) -> None:
    """Raise :class:`_Unreadable` unless ``t`` is a plain CPU tensor of a :data:`DTYPES` dtype, within
    :data:`MAX_TENSOR_ELEMENTS` and the record's budget, and its storage holds every element it claims:
    a view that repeats elements (stride 0, overlapping strides) to claim more than it has is refused,
    so no later copy or conversion allocates more than the record's own bytes."""
    if (t.layout != torch.strided or t.device.type != "cpu" or t.dtype not in DTYPES or t.is_quantized
            or t.is_nested or t.is_conj() or t.is_neg() or t.ndim > MAX_DIMS):
        raise _Unreadable
    n = math.prod(t.shape)
    if n > MAX_TENSOR_ELEMENTS or n > budget.elements:
        raise _Unreadable
    budget.elements -= n
    if n:
        size, nbytes = t.element_size(), t.untyped_storage().nbytes()
        last = t.storage_offset() + sum((k - 1) * abs(st) for k, st in zip(t.shape, t.stride()))
        if min(t.stride(), default=0) < 0 or n * size > nbytes or (last + 1) * size > nbytes:
            raise _Unreadable


def _walk(x: Any, depth: int, budget: _Budget) -> None:
    """Raise :class:`_Unreadable` unless ``x`` is made of None, bools, ints within :data:`MAX_INT`, floats
    (NaN and infinities too), strings within :data:`MAX_STRING`, :func:`_check_tensor` tensors, and lists,
    tuples and dicts with string keys of those, at most :data:`MAX_DEPTH` deep, within the budget."""
    budget.items -= 1
    if budget.items < 0 or depth > MAX_DEPTH:
        raise _Unreadable
    if x is None or isinstance(x, (bool, float)):
        return
    if isinstance(x, int):
        if not -MAX_INT < x < MAX_INT:
            raise _Unreadable
    elif isinstance(x, str):
        if len(x) > MAX_STRING:
            raise _Unreadable
    elif isinstance(x, torch.Tensor):
        _check_tensor(x, budget)
    elif isinstance(x, (list, tuple)):
        if len(x) > budget.items:
            raise _Unreadable
        for v in x:
            _walk(v, depth + 1, budget)
    elif isinstance(x, dict):
        if len(x) > budget.items:
            raise _Unreadable
        for k, v in x.items():
            if not isinstance(k, str) or len(k) > MAX_STRING:
                raise _Unreadable
            _walk(v, depth + 1, budget)
    else:
        raise _Unreadable


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _counts(value: Any) -> bool:
    return isinstance(value, dict) and all(type(v) is int for v in value.values())


#: The fields of a result (see :func:`course_utils.grading.run_case`) that the grader reads, and the test
#: each must pass when present.
FIELDS = {"error": lambda v: isinstance(v, str), "traceback": lambda v: isinstance(v, str),
          "error_types": _texts, "names": _texts, "changed": _texts, "aliases": _texts,
          "own": _counts, "replayed": _counts, "arrays": lambda v: v is None or isinstance(v, str),
          "key": lambda v: isinstance(v, str)}


def _read_result(result: Any, budget: _Budget) -> Any:
    """One case's result as the kernel sent it, its ``error`` and ``traceback`` cut to :data:`MAX_STRING`;
    :data:`UNREADABLE_RESULT` if it breaks a limit (:func:`_walk`) or a field of :data:`FIELDS` has the
    wrong type."""
    try:
        if isinstance(result, dict):
            result = dict(result)
            for key, keep in (("error", slice(None, MAX_STRING)), ("traceback", slice(-MAX_STRING, None))):
                if isinstance(result.get(key), str):
                    result[key] = result[key][keep]
        _walk(result, 0, budget)
        if isinstance(result, dict) and not all(test(result[key]) for key, test in FIELDS.items() if key in result):
            raise _Unreadable
    except _Unreadable:
        return UNREADABLE_RESULT
    return result


def _decode(payload: Any) -> tuple[str, str, Any] | None:
    """``(exercise, which, results)`` from a record payload, or None when it is not one: ``results`` is a
    list with one result per case, each :func:`_read_result` (within the limits, or
    :data:`UNREADABLE_RESULT`)."""
    if not isinstance(payload, dict):
        return None
    exercise, which, data = payload.get("exercise"), payload.get("which"), payload.get("results")
    if not (isinstance(exercise, str) and which in WHICH and isinstance(data, str)) or len(data) > MAX_RECORD_CHARS:
        return None
    try:
        results = torch.load(io.BytesIO(base64.b64decode(data, validate=True)), map_location="cpu",
                             weights_only=True)
    except Exception:  # noqa: BLE001 - hostile bytes: whatever fails to decode is no record
        return None
    if not isinstance(results, list) or len(results) > MAX_RECORD_ITEMS:
        return None
    budget = _Budget()
    return exercise, which, [_read_result(r, budget) for r in results]


def records_from_notebook(nb, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The records of each exercise, taken from the outputs of its own test cell (``test_<name>``).

    A record about another exercise, or in any other cell, is ignored; the first record of each kind
    in the test cell counts, as the grader collected it while that cell ran (:mod:`autograder.execute`
    ignores display updates).
    """
    wanted = set(names)
    records: dict[str, dict[str, Any]] = {}
    for cell in nb.cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = nbgrader.get("grade_id", "") if isinstance(nbgrader, dict) else ""
        if cell.get("cell_type") != "code" or not isinstance(grade_id, str) or not grade_id.startswith("test_") \
                or grade_id[5:] not in wanted:
            continue
        for output in cell.get("outputs", []):
            data = output.get("data") if isinstance(output, dict) else None
            decoded = _decode(data.get(RECORD_MIME)) if isinstance(data, dict) and output.get("output_type") in (
                "display_data", "execute_result") else None
            if decoded and decoded[0] == grade_id[5:]:
                records.setdefault(decoded[0], {}).setdefault(decoded[1], decoded[2])
    return records


def _check(which: str, index: int, result: Any, case: dict, rules: dict) -> tuple[bool, list[str], str]:
    """Whether one recorded result matches its case under the exercise's ``rules``, the lines the student
    may see about it (for a hidden case: pass or fail and the kind of check that failed, no value), and
    that kind."""
    if result is UNREADABLE_RESULT:
        verdict = Verdict(False, UNREADABLE, "unreadable")
    else:
        verdict = judge(result, case["expected"], rules)
    return verdict.ok, case_lines(which, index, case, result, verdict), verdict.failure


def score_exercise(ex: Exercise, recorded: Any, visible_cases: list[dict], hidden_cases: list[dict]) -> ExerciseScore:
    """Score one exercise from its records against the reference cases (each with ``expected``).

    Should judging its record raise anything at all, the exercise scores 0 with the problem
    :data:`UNJUDGED` (the exception is logged, not shown): a record costs its own exercise only.
    """
    rules = ex.rules()
    try:
        return _score(ex, rules, recorded, visible_cases, hidden_cases)
    except Exception:  # noqa: BLE001 - the last line of defence against a hostile record
        _log.warning("the record of %s could not be judged", ex.name, exc_info=True)
        score = ExerciseScore(ex.name, ex.points, problems=[UNJUDGED])
        score.total = {"visible": len(visible_cases), "hidden": len(hidden_cases)}
        return score


def _score(ex: Exercise, rules: dict, recorded: Any, visible_cases: list[dict], hidden_cases: list[dict]) -> ExerciseScore:
    score = ExerciseScore(ex.name, ex.points)
    failures: list[str] = []
    for which, cases in (("visible", visible_cases), ("hidden", hidden_cases)):
        score.total[which] = len(cases)
        results = recorded.get(which) if isinstance(recorded, dict) else None
        if not isinstance(results, list) or len(results) != len(cases):
            if which == "hidden" and isinstance(recorded, dict) and isinstance(recorded.get("visible"), list):
                score.problems.append("hidden cases did not run: the visible check failed first")
            else:
                score.problems.append(f"no {which} results were recorded (did the test cell run to the end?)")
            continue
        if which == "visible" and cases:
            score.visible_lines.append(rules_text(rules))
        for i, (result, case) in enumerate(zip(results, cases), 1):
            ok, lines, failure = _check(which, i, result, case, rules)
            score.passed[which] += ok
            if not ok:
                failures.append(failure)
            if which == "visible":
                score.visible_lines += lines
            elif not ok:
                score.problems += lines
    if failures:
        score.hint = choose_hint(rules, failures)
    return score


def score_assignment(records: Any, visible: dict, hidden: dict, exercises: Iterable[Exercise]) -> dict[str, ExerciseScore]:
    """Scores of every exercise from a notebook's records and the (visible, hidden) reference files."""
    records = records if isinstance(records, dict) else {}
    return {ex.name: score_exercise(ex, records.get(ex.name), visible["exercises"][ex.name]["cases"],
                                    hidden["exercises"][ex.name]["cases"])
            for ex in exercises}
