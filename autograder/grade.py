"""``cvcourse grade``: a grading run, as intake -> one job per submission -> report.

One job grades one submission: its notebook is normalised into the nbgrader course folder, nbgrader
autogrades it with the kernel in the sandbox (:mod:`autograder.execute`), the records are scored in
this process (:mod:`autograder.scoring`), forbidden calls are looked for in the answer cells
(:mod:`autograder.integrity`), the scores go into the gradebook (:mod:`autograder.gradebook`) and the
feedback is written (:mod:`autograder.feedback`). Jobs run one after another: sqlite takes one writer.
A job that fails costs its own submission only, with a reason; a failure of the machine (a kernel
that never starts) gets the job run again, up to :data:`JOB_ATTEMPTS` times, and is then reported
apart; the command exits non-zero.
"""

from __future__ import annotations

import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils import store

from . import assignments as specs
from . import feedback, gradebook, intake
from .course import COURSE_ID, hidden_reference_file, prepare_course, visible_reference_file
from .execute import Execution
from .integrity import forbidden_uses
from .reference_outputs import grader_cases
from .report import SubmissionResult, write_csv
from .samples import write_samples
from .scoring import records_from_notebook, score_assignment

#: Runs of one job whose kernel failed for a reason that is not the student's, before it is reported.
JOB_ATTEMPTS = 2


@dataclass
class Assignment:
    """What grading one assignment needs, loaded once per batch."""

    name: str
    exercises: list[specs.Exercise]
    visible: dict
    hidden: dict
    cases_file: Path

    @property
    def auto_max(self) -> float:
        return float(sum(ex.points for ex in self.exercises))


def load_assignment(name: str, folder: Path) -> Assignment:
    visible, hidden = store.load(visible_reference_file(name)), store.load(hidden_reference_file(name))
    cases_file = store.save(folder / "cases.pt", grader_cases(name, visible, hidden))
    return Assignment(name, specs.exercises(name), visible, hidden, cases_file)


def _answer_sources(nb, exercises: list[specs.Exercise]) -> tuple[dict[str, str], list[str]]:
    """Answer-cell source of each exercise, and the source of every code cell (for imports)."""
    answers, everything = {}, []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        everything.append(cell.source)
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in {ex.name for ex in exercises}:
            answers[grade_id] = cell.source
    return answers, everything


def _withhold_forbidden(nb, assignment: Assignment, scores: dict) -> None:
    answers, everything = _answer_sources(nb, assignment.exercises)
    for ex in assignment.exercises:
        if ex.forbids and ex.name in answers:
            others = [src for src in everything if src is not answers[ex.name]]
            scores[ex.name].forbidden = [u.message() for u in forbidden_uses(answers[ex.name], ex.forbids, others)]


def grade_submission(nb_api, assignment: Assignment, submission: intake.Submission, out: Path,
                     sandboxed: bool = True) -> SubmissionResult:
    """Grade one student's notebook for one assignment (one job)."""
    name, student, root = assignment.name, submission.student, Path(nb_api.coursedir.root)
    result = SubmissionResult(student, name, auto_max=assignment.auto_max, sandboxed=sandboxed)
    if submission.notebook is None:
        result.status = "missing"
        return result
    job = out / "jobs" / student / name
    shutil.rmtree(job, ignore_errors=True)
    job.mkdir(parents=True)
    submitted = root / "submitted" / student / name
    shutil.rmtree(submitted, ignore_errors=True)
    try:
        intake.normalise(submission.notebook, submitted / f"{name}.ipynb")
    except Exception as exc:  # noqa: BLE001 - whatever the file is, it is the student's
        result.status = "failed: " + _unreadable(exc)
        return result
    report = job / "execution.json"
    cfg = nb_api.config.SandboxedExecute
    cfg.scratch, cfg.cases, cfg.report, cfg.sandboxed = str(job / "scratch"), str(assignment.cases_file), \
        str(report), sandboxed
    for attempt in range(1, JOB_ATTEMPTS + 1):
        report.unlink(missing_ok=True)
        outcome = nb_api.autograde(name, student)
        run = Execution.load(report) if report.exists() else None
        if run is None or not run.infrastructure:
            break
    autograded = root / "autograded" / student / name / f"{name}.ipynb"
    if not outcome["success"] or not autograded.exists():
        result.status = "failed: " + _failure_reason(outcome)
        nb = None
    else:
        nb = nbformat.read(autograded, as_version=4)
    if run is not None and run.infrastructure:
        result.status = f"error: {run.status} ({attempt} attempts); grade this submission again"
    elif run is not None and run.status != "complete" and result.status == "graded":
        result.status = f"failed: {run.status}"
    records = records_from_notebook(nb, [ex.name for ex in assignment.exercises]) if nb is not None else {}
    result.exercises = score_assignment(records, assignment.visible, assignment.hidden, assignment.exercises)
    if nb is not None:
        _withhold_forbidden(nb, assignment, result.exercises)
    gradebook.write_scores(nb_api.coursedir.db_url, COURSE_ID, name, student, result.exercises)
    feedback.prepare(autograded, result.exercises)
    result.feedback = feedback.generate(nb_api, name, student, out / "feedback" / student / f"{name}.html")
    return result


def _unreadable(exc: Exception) -> str:
    kind = type(exc).__name__
    if kind == "NotJSONError" or "JSON" in kind:
        return "the notebook is not valid JSON"
    if "Validation" in kind:
        return "the notebook does not follow the notebook format"
    return f"the notebook could not be read ({str(exc)[:120] or kind})"


#: Log patterns of nbgrader failures, and what to tell the instructor.
_FAILURES = (("NotJSONError", "the notebook is not valid JSON"),
             ("ValidationError", "the notebook does not follow the notebook format"))


def _failure_reason(outcome: dict) -> str:
    text = f"{outcome.get('error') or ''}\n{outcome.get('log') or ''}"
    for pattern, reason in _FAILURES:
        if pattern in text:
            return reason
    errors = [ln.strip() for ln in text.splitlines() if "Error" in ln]
    return (errors[-1] if errors else "nbgrader could not grade it")[:160]


def grade(submissions: Path | None, out: Path, names: list[str], progress: Callable[[str], None] = print,
          sandboxed: bool = True) -> list[SubmissionResult]:
    """Grade ``submissions`` (folder or zip; default: freshly written sample submissions) into ``out``.

    Writes ``out/course`` (the nbgrader course folder and gradebook), ``out/feedback/<student>/
    <assignment>.html`` and ``out/grades.csv``.

    Raises:
        autograder.sandbox.SandboxUnavailable: ``sandboxed`` and the sandbox cannot start here.
    """
    import warnings

    from sqlalchemy.exc import SAWarning

    from .sandbox import probe

    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's own session chatter
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if sandboxed:
        probe(out / "jobs")
    if submissions is None:
        submissions = out / "samples"
        shutil.rmtree(submissions, ignore_errors=True)
        write_samples(submissions, names)
    folder = intake.unpack(Path(submissions), out)
    batch = intake.find(folder, names)
    nb_api = prepare_course(out / "course", names)
    loaded = {name: load_assignment(name, out / "cases" / name) for name in names}
    shutil.rmtree(out / "feedback", ignore_errors=True)

    results = []
    for submission in batch:
        start = time.perf_counter()
        try:
            result = grade_submission(nb_api, loaded[submission.assignment], submission, out, sandboxed)
        except Exception as exc:  # noqa: BLE001 - one job's failure must not end the batch
            result = SubmissionResult(submission.student, submission.assignment, sandboxed=sandboxed,
                                      auto_max=loaded[submission.assignment].auto_max,
                                      status=f"error: the grader failed ({type(exc).__name__}: {exc})"[:300])
            (out / "grader-errors.log").open("a").write(traceback.format_exc())
        results.append(result)
        progress(f"{result.student:>12} {result.assignment}: "
                 f"{sum(s.earned for s in result.exercises.values()):g}/{result.auto_max:g} automatic points"
                 + ("" if result.status == "graded" else f" ({result.status})")
                 + f" [{time.perf_counter() - start:.0f} s]")

    for result in results:
        test_ids = {f"test_{ex.name}" for ex in loaded[result.assignment].exercises}
        for key, value in gradebook.totals(nb_api.coursedir.db_url, COURSE_ID, result.assignment,
                                           result.student, test_ids).items():
            setattr(result, key, value)
    write_csv(out / "grades.csv", results)
    return results
