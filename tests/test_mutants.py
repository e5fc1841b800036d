"""Kept mutants lose exactly their exercise's points; alternative correct answers get full marks.

The mutants (``tests/mutants/aNN_topic.py``) are plausible bugs of the classes the checks must see:
dtype slips, inputs changed in place, flipped kernels, off-by-one boundaries, wrong padding, ties,
another order of operations. Mutants of different exercises are graded together, one submission per
round, so a round's expected loss is exactly the set of its mutants' exercises. Grading goes through
the scoring path of ``cvcourse grade`` without nbgrader (see ``tests/mutants/__init__.py``): a few
seconds per submission instead of a sandboxed kernel each; the pipeline tests grade the sample
submissions through nbgrader and the sandbox.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from autograder import assignments as specs
from mutants import grade_program, lost

from conftest import ASSIGNMENTS as ALL

#: The assignments with kept mutants (tests/mutants/aNN_topic.py).
ASSIGNMENTS = tuple(n for n in ALL if (Path(__file__).parent / "mutants" / f"a{n}.py").exists())


def _kept(name: str):
    return importlib.import_module(f"mutants.a{name}")


def _rounds(mutants: list[specs.Bug]) -> list[list[specs.Bug]]:
    """Mutants in rounds with at most one mutant per exercise."""
    rounds: list[list[specs.Bug]] = []
    for m in mutants:
        free = next((r for r in rounds if all(o.exercise != m.exercise for o in r)), None)
        if free is None:
            rounds.append(free := [])
        free.append(m)
    return rounds


BATCHES = [(name, i, batch) for name in ASSIGNMENTS for i, batch in enumerate(_rounds(_kept(name).MUTANTS))]


def test_the_kept_sets_cover_what_they_claim():
    for name in ASSIGNMENTS:
        kept = _kept(name)
        exercises = {ex.name for ex in specs.exercises(name)}
        assert {m.exercise for m in kept.MUTANTS} <= exercises and len(kept.MUTANTS) >= 8
        assert {a.exercise for a in kept.ALTERNATIVES} <= exercises and len(kept.ALTERNATIVES) >= 6
        sample_bugs = {(b.exercise, b.find, b.replace) for b in specs.bugs(name)}
        assert not sample_bugs & {(m.exercise, m.find, m.replace) for m in kept.MUTANTS}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_solution_and_the_alternatives_get_full_marks(name):
    for alternatives in ([], _kept(name).ALTERNATIVES):
        scores, printed = grade_program(name, alternatives=alternatives)
        assert not lost(scores), "\n".join(scores[n].report() for n in lost(scores))
        assert all(s.passed == s.total for s in scores.values())


@pytest.mark.parametrize("name, round_, batch", BATCHES, ids=[f"{n}-round{i}" for n, i, _ in BATCHES])
def test_each_mutant_loses_exactly_its_exercise(name, round_, batch):
    scores, printed = grade_program(name, bugs=batch)
    assert lost(scores) == {m.exercise for m in batch}, [m.why for m in batch]
    for m in batch:  # a failing exercise says what failed (a case, or a forbidden call), never a blank line
        assert any("FAIL" in line or "points withheld" in line for line in scores[m.exercise].report().splitlines())
