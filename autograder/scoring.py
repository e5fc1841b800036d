"""The trusted half of grading: read what a student's kernel recorded, compare it with the references.

This runs in the grader's own process. Records are taken only from the outputs of each exercise's own
test cell, which the grader collected while that cell ran; tolerances and points come from the
exercise specs (``autograder/assignments``), expected values from the reference files. Everything
the kernel sent is treated as hostile data: decoded with size limits and loaded without unpickling
code.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from course_utils.grading import RECORD_MIME, case_lines, choose_hint, judge, rules_text

from .assignments import Exercise

#: Largest record payload taken from one output (base64 characters).
MAX_RECORD_CHARS = 64 << 20
WHICH = ("visible", "hidden")


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


def _decode(payload: Any) -> tuple[str, str, Any] | None:
    """``(exercise, which, results)`` from a record payload, or None when it is not one."""
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
    return exercise, which, results


def records_from_notebook(nb, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The records of each exercise, taken from the outputs of its own test cell (``test_<name>``).

    A record about another exercise, or in any other cell, is ignored; the first record of each kind
    in the test cell counts, as the grader collected it while that cell ran (:mod:`autograder.execute`
    ignores display updates).
    """
    wanted = set(names)
    records: dict[str, dict[str, Any]] = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if cell.get("cell_type") != "code" or not grade_id.startswith("test_") or grade_id[5:] not in wanted:
            continue
        for output in cell.get("outputs", []):
            decoded = _decode(output.get("data", {}).get(RECORD_MIME)) if output.get("output_type") in (
                "display_data", "execute_result") else None
            if decoded and decoded[0] == grade_id[5:]:
                records.setdefault(decoded[0], {}).setdefault(decoded[1], decoded[2])
    return records


def _check(which: str, index: int, result: Any, case: dict, rules: dict) -> tuple[bool, list[str], str]:
    """Whether one recorded result matches its case under the exercise's ``rules``, the lines the student
    may see about it (for a hidden case: pass or fail and the kind of check that failed, no value), and
    that kind."""
    verdict = judge(result, case["expected"], rules)
    return verdict.ok, case_lines(which, index, case, result, verdict), verdict.failure


def score_exercise(ex: Exercise, recorded: Any, visible_cases: list[dict], hidden_cases: list[dict]) -> ExerciseScore:
    """Score one exercise from its records against the reference cases (each with ``expected``)."""
    score = ExerciseScore(ex.name, ex.points)
    rules = ex.rules()
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
