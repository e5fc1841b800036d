"""Kept mutants and alternative solutions, and the harness that grades them.

Each ``aNN_topic.py`` here defines ``MUTANTS`` (plausible student bugs, as
:class:`~autograder.assignments.Bug` find/replace edits of a solution cell: each must lose exactly
its exercise's points) and ``ALTERNATIVES`` (other correct answers, as whole answer cells: they must
get full marks). They live under ``tests/``, not ``autograder/``, because alternatives are solutions
and ``autograder`` is part of the installed package.

:func:`grade_program` grades one submission on the scoring path of ``cvcourse grade`` without
nbgrader and the sandbox: the answer cells (edited) and the instructor's test cells (hidden tests
included, as nbgrader's autograde puts them back) run in order in a fresh namespace with the
grader's cases file, every ``CHECK`` call goes through the real :class:`course_utils.Checker`
(``run_case``, records encoded as the kernel sends them), and the records are decoded and scored by
:func:`autograder.scoring.score_assignment` against the committed references; forbidden calls are
looked for by :func:`autograder.integrity.forbidden_uses`. What it leaves out (cell execution by a
kernel, the sandbox, the gradebook) is proved by the pipeline tests on the sample submissions.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import assignments as specs
from autograder.course import SOLUTIONS, hidden_reference_file, visible_reference_file
from autograder.integrity import forbidden_uses
from autograder.reference_outputs import grader_cases
from autograder.samples import _solution_sources
from autograder.scoring import ExerciseScore, _decode, score_assignment
from course_utils import Checker, store
from course_utils.grading import CASES_ENV, encode_record

_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS", "### BEGIN SOLUTION", "### END SOLUTION")


@dataclass(frozen=True)
class Alternative:
    """Another correct answer: ``source`` replaces the whole answer cell of ``exercise``."""

    exercise: str
    source: str
    why: str


class _RecordingChecker(Checker):
    """The real Checker; its records go through the same encoding as a kernel's display output."""

    def __init__(self, assignment: str, sink: list):
        super().__init__(assignment)
        self._sink = sink

    def _record(self, name: str, which: str, results: list[dict]) -> None:  # type: ignore[override]
        self._sink.append(encode_record(name, which, results))


_PLAIN = (ast.Constant, ast.Name, ast.Attribute, ast.Tuple, ast.List, ast.Dict, ast.Set)


def _defines_only(source: str) -> bool:
    """Whether a cell only imports and defines (functions, classes, constants): no demo work."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return bool(body) and all(isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)) or
                              (isinstance(node, (ast.Assign, ast.AnnAssign)) and
                               all(isinstance(n, _PLAIN) for n in ast.walk(node.value) if isinstance(n, ast.expr)
                                   and n is node.value))
                              for node in body)


def _cells(name: str) -> list[tuple[str, str]]:
    """(grade id or "", source) of the setup, answer and test cells of the instructor notebook, and of
    the cells that only define helpers the answers or tests use."""
    nb = nbformat.read(SOLUTIONS / name / f"{name}.ipynb", as_version=4)
    wanted = {ex.name for ex in specs.exercises(name)}
    cells = []
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if cell.cell_type != "code":
            continue
        source = "\n".join(ln for ln in cell.source.splitlines()
                           if ln.strip() not in _MARKERS and not ln.lstrip().startswith("%"))
        if gid == "setup" or gid in wanted or gid[5:] in wanted or _defines_only(source):
            cells.append((gid, source))
    return cells


def grade_program(name: str, bugs: list[specs.Bug] = (), alternatives: list[Alternative] = ()) \
        -> tuple[dict[str, ExerciseScore], str]:
    """Scores of one submission of ``name`` (solution with ``bugs`` and ``alternatives``), and what its
    test cells printed."""
    answers = _solution_sources(name)
    for bug in bugs:
        assert answers[bug.exercise].count(bug.find) == 1, f"{bug.exercise}: {bug.find!r} must occur once"
        answers[bug.exercise] = answers[bug.exercise].replace(bug.find, bug.replace)
    for alt in alternatives:
        answers[alt.exercise] = alt.source
    exercises = specs.exercises(name)
    visible, hidden = store.load(visible_reference_file(name)), store.load(hidden_reference_file(name))
    sent: list = []
    printed = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        cases = store.save(Path(tmp) / "cases.pt", grader_cases(name, visible, hidden))
        old = os.environ.get(CASES_ENV)
        os.environ[CASES_ENV] = str(cases)
        namespace: dict = {"__name__": "__main__"}
        try:
            for gid, source in _cells(name):
                source = answers.get(gid, source)
                with contextlib.redirect_stdout(printed):
                    try:
                        exec(compile(source, f"<cell {gid}>", "exec"), namespace)  # noqa: S102 - our own code
                    except Exception as exc:  # noqa: BLE001 - a failing cell stops, the next one runs
                        print(f"[cell {gid} raised {type(exc).__name__}: {exc}]")
                if gid == "setup":
                    namespace["CHECK"] = _RecordingChecker(name, sent)
        finally:
            if old is None:
                os.environ.pop(CASES_ENV, None)
            else:
                os.environ[CASES_ENV] = old
    records: dict = {}
    for payload in sent:
        decoded = _decode(payload)
        if decoded:
            records.setdefault(decoded[0], {}).setdefault(decoded[1], decoded[2])
    scores = score_assignment(records, visible, hidden, exercises)
    for ex in exercises:
        if ex.forbids:
            others = [src for gid, src in answers.items() if gid != ex.name]
            scores[ex.name].forbidden = [u.message() for u in forbidden_uses(answers[ex.name], ex.forbids, others)]
    return scores, printed.getvalue()


def lost(scores: dict[str, ExerciseScore]) -> set[str]:
    """The exercises that earned nothing."""
    return {name for name, s in scores.items() if not s.ok}
