"""The trusted half of grading: compare what a student's kernel recorded with the references.

This runs in the grader's own process. The kernel only ever wrote its outputs; tolerances, expected
values and points all come from files the student never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from course_utils.checks import compare


@dataclass
class ExerciseScore:
    """Result of one exercise: full points only if every visible and hidden case matches."""

    name: str
    points: float
    passed: dict[str, int] = field(default_factory=lambda: {"visible": 0, "hidden": 0})
    total: dict[str, int] = field(default_factory=lambda: {"visible": 0, "hidden": 0})
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(self.passed[w] == self.total[w] for w in self.total)

    @property
    def earned(self) -> float:
        return self.points if self.ok else 0.0

    def report(self) -> str:
        """One paragraph for the student's feedback; names no hidden input or expected value."""
        counts = ", ".join(f"{self.passed[w]}/{self.total[w]} {w}" for w in ("visible", "hidden"))
        lines = [f"Grader: {self.name}: {counts} case(s) match the reference "
                 f"-> {self.earned:g} of {self.points:g} point(s)."]
        lines += [f"  - {p}" for p in self.problems[:5]]
        return "\n".join(lines)


def _result_problem(which: str, index: int, result: Any, case: dict, spec: dict) -> str | None:
    if not isinstance(result, dict) or not ({"output"} <= set(result) or {"error"} <= set(result)):
        return f"{which} case {index}: no usable output was recorded"
    if "error" in result:
        return f"{which} case {index}: raised {str(result['error'])[:200]}"
    verdict = compare(result["output"], case["expected"], spec["rtol"], spec["atol"])
    if verdict.ok:
        return None
    if which == "hidden":  # say how it failed, never what was expected
        return f"hidden case {index}: output differs from the reference (max abs err {verdict.max_abs:.2e})"
    return f"visible case {index}: {verdict.message}"


def score_exercise(name: str, points: float, recorded: Any, visible_spec: dict, hidden_spec: dict) -> ExerciseScore:
    """Score one exercise from its recorded results against the visible and hidden references."""
    score = ExerciseScore(name, points)
    for which, spec in (("visible", visible_spec), ("hidden", hidden_spec)):
        cases = spec["cases"]
        score.total[which] = len(cases)
        results = recorded.get(which) if isinstance(recorded, dict) else None
        if not isinstance(results, list) or len(results) != len(cases):
            if which == "hidden" and isinstance(recorded, dict) and isinstance(recorded.get("visible"), list):
                score.problems.append("hidden cases did not run: the visible check failed first")
            else:
                score.problems.append(f"no {which} results were recorded (did the test cell run to the end?)")
            continue
        for i, (result, case) in enumerate(zip(results, cases), 1):
            problem = _result_problem(which, i, result, case, spec)
            if problem is None:
                score.passed[which] += 1
            else:
                score.problems.append(problem)
    return score


def score_assignment(records: Any, visible: dict, hidden: dict, points: dict[str, float]) -> dict[str, ExerciseScore]:
    """Scores of every exercise in ``points`` (name -> max points) from a kernel's record dict."""
    records = records if isinstance(records, dict) else {}
    return {name: score_exercise(name, pts, records.get(name), visible["exercises"][name],
                                 hidden["exercises"][name])
            for name, pts in points.items()}
