"""The report of a grading run: one result per student and assignment, the CSV and the text table."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .scoring import ExerciseScore


@dataclass
class SubmissionResult:
    """The outcome for one student and one assignment.

    ``status`` is ``graded``, ``missing``, ``failed: <reason>`` (the submission's own fault: it scores
    what it earned before the failure) or ``error: <reason>`` (the machine's fault: grade it again).
    """

    student: str
    assignment: str
    status: str = "graded"
    auto_score: float = 0.0
    auto_max: float = 0.0
    manual_score: float = 0.0
    manual_max: float = 0.0
    manual_pending: int = 0
    sandboxed: bool = True
    exercises: dict[str, ExerciseScore] = field(default_factory=dict)
    feedback: Path | None = None
    #: nbgrader could not render the feedback page of a graded notebook (the grade stands; logged)
    feedback_failed: bool = False

    @property
    def infrastructure_error(self) -> bool:
        return self.status.startswith("error:")

    @property
    def withheld(self) -> list[str]:
        """Exercises whose points were withheld for a forbidden call."""
        return [name for name, s in self.exercises.items() if s.forbidden]


def printable(text: str) -> str:
    """``text`` with every control or otherwise unprintable character shown as ``?``: a reason quoted from
    a student's file must not move a terminal's cursor or recolour it, nor break a CSV reader."""
    return "".join(c if c.isprintable() else "?" for c in text)


CSV_COLUMNS = ["student", "assignment", "status", "auto_score", "auto_max", "manual_score",
               "manual_max", "manual_pending", "forbidden_calls", "sandboxed", "feedback"]


def write_csv(path: Path, results: list[SubmissionResult]) -> Path:
    """One row per student and assignment; every text field quoted."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(CSV_COLUMNS)
        for r in results:
            writer.writerow([r.student, r.assignment, printable(r.status), float(r.auto_score), float(r.auto_max),
                             float(r.manual_score), float(r.manual_max), int(r.manual_pending),
                             " ".join(r.withheld), "yes" if r.sandboxed else "NO", str(r.feedback or "")])
    return path


def table(results: list[SubmissionResult]) -> str:
    """The gradebook as text: one row per student, one column per assignment (automatic points)."""
    students = sorted({r.student for r in results})
    names = sorted({r.assignment for r in results})
    cell = {(r.student, r.assignment): r for r in results}
    width = max([len(s) for s in students] + [7])
    cols = [max(12, len(n)) for n in names]
    head = f"{'student':<{width}}  " + "  ".join(f"{n:>{c}}" for n, c in zip(names, cols)) + \
        f"  {'total':>12}  manual to grade"
    lines = [head, "-" * len(head)]
    for s in students:
        row = [cell[s, n] for n in names]
        marks = [f"{r.auto_score:g} / {r.auto_max:g}" + ("!" if r.status != "graded" else "") for r in row]
        total = f"{sum(r.auto_score for r in row):g} / {sum(r.auto_max for r in row):g}"
        pending = sum(r.manual_pending for r in row)
        lines.append(f"{s:<{width}}  " + "  ".join(f"{m:>{c}}" for m, c in zip(marks, cols)) +
                     f"  {total:>12}  {pending} cell(s)")
    notes = [f"! {r.student} {r.assignment}: {printable(r.status)}" for r in results if r.status != "graded"]
    notes += [f"  {r.student} {r.assignment}: points withheld for forbidden calls in {', '.join(r.withheld)}"
              for r in results if r.withheld]
    if any(not r.sandboxed for r in results):
        notes.append("WARNING: graded WITHOUT the sandbox (--no-sandbox): submissions ran with the grader's rights")
    return "\n".join(lines + notes)


def summary(results: list[SubmissionResult]) -> str:
    """What a grading run did, counted by outcome, e.g. ``84 submission(s) graded: 80 in full, 3 failed
    part way, 1 not graded (the machine's fault: grade again); 316 pairs missing``. Missing
    (student, assignment) pairs are not counted as graded."""
    failed = sum(r.status.startswith("failed") for r in results)
    errors = sum(r.infrastructure_error for r in results)
    missing = sum(r.status == "missing" for r in results)
    graded = len(results) - errors - missing
    return (f"{graded} submission(s) graded: {graded - failed} in full, {failed} failed part way, {errors} not "
            f"graded (the machine's fault: grade again); {missing} pair(s) missing")
