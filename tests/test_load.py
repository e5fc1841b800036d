"""Nothing under load changes a score.

The perfect sample of every assignment is graded while other processes keep every core busy, and
gets full marks. A kernel that will not start is the machine's failure, not the student's: the job
is run again, and when it keeps failing it is reported apart from a student's failure, with no points
recorded against the student.
"""

from __future__ import annotations

import csv

import nbformat

import autograder.execute as execute
from autograder.bench import busy_neighbour
from autograder.grade import JOB_ATTEMPTS, grade
from autograder.samples import filled

from conftest import ASSIGNMENTS


def _perfect(dest, names):
    """Write ``dest/perfect/<name>/<name>.ipynb`` for each assignment; returns ``dest``."""
    for name in names:
        folder = dest / "perfect" / name
        folder.mkdir(parents=True)
        nbformat.write(filled(name), folder / f"{name}.ipynb")
    return dest


def _earned(result) -> float:
    return sum(score.earned for score in result.exercises.values())


def test_perfect_samples_keep_full_marks_while_every_core_is_busy(tmp_path):
    with busy_neighbour() as spinners:
        results = grade(_perfect(tmp_path / "subs", ASSIGNMENTS), tmp_path / "out", ASSIGNMENTS,
                        progress=lambda _: None)
        assert all(proc.poll() is None for proc in spinners), "the load lasted the whole batch"
    assert [r.assignment for r in results] == ASSIGNMENTS
    for result in results:
        assert result.status == "graded", (result.assignment, result.status)
        lost = {name: s.report() for name, s in result.exercises.items() if not s.ok}
        assert not lost, (result.assignment, lost)
        assert _earned(result) == result.auto_score == result.auto_max  # computed, and in the gradebook


def _failing_starts(monkeypatch, failures: int) -> list[int]:
    """Make the first ``failures`` kernel starts fail as a machine would; returns the call counter."""
    real, calls = execute._start, []

    async def start(*args, **kwargs):
        calls.append(1)
        if len(calls) <= failures:
            return RuntimeError("no kernel came up (simulated)")
        return await real(*args, **kwargs)

    monkeypatch.setattr(execute, "_start", start)
    return calls


NAME = ASSIGNMENTS[0]


def test_a_kernel_that_fails_to_start_once_is_started_again(monkeypatch, tmp_path):
    calls = _failing_starts(monkeypatch, failures=1)
    [result] = grade(_perfect(tmp_path / "subs", [NAME]), tmp_path / "out", [NAME], progress=lambda _: None)
    assert len(calls) == 2
    assert result.status == "graded" and not result.infrastructure_error
    assert _earned(result) == result.auto_score == result.auto_max


def test_a_kernel_that_never_starts_is_the_machines_failure_not_the_students(monkeypatch, tmp_path):
    calls = _failing_starts(monkeypatch, failures=JOB_ATTEMPTS)
    [result] = grade(_perfect(tmp_path / "subs", [NAME]), tmp_path / "out", [NAME], progress=lambda _: None)
    assert len(calls) == JOB_ATTEMPTS
    assert result.infrastructure_error
    assert result.status.startswith("error: the kernel did not start")
    assert f"{JOB_ATTEMPTS} attempts" in result.status and "grade this submission again" in result.status
    with (tmp_path / "out" / "grades.csv").open() as f:
        [row] = csv.DictReader(f)
    assert row["student"] == "perfect" and row["status"] == result.status
