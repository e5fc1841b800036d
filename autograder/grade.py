"""``cvcourse grade``: a grading run, as intake -> prepare, run, finish each submission -> report.

Each submission goes through three stages. *Prepare*, in this process: its notebook is normalised into
the nbgrader course folder and nbgrader autogrades it up to execution, where :class:`~autograder.jobs.
ExecuteLater` writes the notebook out as a job. *Run*, anywhere: the job executes the notebook with its
kernel in the sandbox, on a thread of this process or on a Dask worker (:mod:`autograder.runners`),
several at once. *Finish*, in this process again: the outputs go into the autograded notebook, the records
are scored (:mod:`autograder.scoring`), forbidden calls are looked for in the answer cells
(:mod:`autograder.integrity`), the scores go into the gradebook (:mod:`autograder.gradebook`), the
feedback is written (:mod:`autograder.feedback`) and the result is kept in the job's folder. Only this
process touches the gradebook, one submission at a time, so results do not depend on the number of
workers.

A job that fails costs its own submission only, with a reason; a failure of the machine (a kernel that
never starts) gets the job run again, up to :data:`JOB_ATTEMPTS` times, and is then reported apart; the
command exits non-zero. A batch that stopped (Ctrl-C, a machine gone) resumes: a submission whose result
is kept, for the same notebook and the same assignment, is not graded again unless asked.
"""

from __future__ import annotations

import hashlib
import json
import queue
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from course_utils import store

from . import assignments as specs
from . import feedback, gradebook, intake
from .course import COURSE_ID, NOTEBOOKS, SOLUTIONS, hidden_reference_file, prepare_course, visible_reference_file
from .integrity import forbidden_uses, reaching_cells, tampering
from .jobs import JOB_FILES, JOB_NOTEBOOK, Job, Outcome
from .reference_outputs import grader_cases
from .report import SubmissionResult, printable, write_csv
from .runners import runner
from .samples import write_samples
from .sandbox import Limits
from .scoring import ExerciseScore, records_from_notebook, score_assignment

#: Runs of one job whose kernel failed for a reason that is not the student's, before it is reported.
JOB_ATTEMPTS = 2
#: Where the grader's own failures go, with their tracebacks (in the output folder).
ERROR_LOG = "grader-errors.log"


@dataclass
class Assignment:
    """What grading one assignment needs, loaded once per batch."""

    name: str
    exercises: list[specs.Exercise]
    visible: dict
    hidden: dict
    cases_file: Path
    #: digest of what a grade of this assignment depends on (references, solution, spec)
    stamp: str = ""
    #: sources of the code cells of the released notebook (a cell still one of them is not the student's)
    course_code: frozenset[str] = frozenset()

    @property
    def auto_max(self) -> float:
        return float(sum(ex.points for ex in self.exercises))


def load_assignment(name: str, folder: Path) -> Assignment:
    visible, hidden = store.load(visible_reference_file(name)), store.load(hidden_reference_file(name))
    cases_file = store.save(folder / "cases.pt", grader_cases(name, visible, hidden))
    digest = hashlib.sha256()
    for path in (visible_reference_file(name), hidden_reference_file(name), SOLUTIONS / name / f"{name}.ipynb",
                 Path(specs.__file__).parent / f"a{name}.py"):
        digest.update(path.read_bytes())
    released = nbformat.read(NOTEBOOKS / name / f"{name}.ipynb", as_version=4)
    course_code = frozenset(c.source for c in released.cells if c.cell_type == "code")
    return Assignment(name, specs.exercises(name), visible, hidden, cases_file, digest.hexdigest(), course_code)


def _withhold_forbidden(nb, assignment: Assignment, scores: dict) -> None:
    """Withhold the points of each exercise whose code uses a call it forbids: in its answer cell, or in
    any cell the student wrote or changed whose code its function may run (:func:`reaching_cells`); and
    of every exercise when such a cell changes the course's checking code (:func:`tampering`)."""
    cells = [(i, c) for i, c in enumerate(nb.cells, 1) if c.cell_type == "code"]
    sources = [c.source for _, c in cells]
    meta = [m if isinstance(m := c.get("metadata", {}).get("nbgrader"), dict) else {} for _, c in cells]
    own = {k for k, m in enumerate(meta)  # not the course's own code, nor a test cell (restored by nbgrader)
           if sources[k] not in assignment.course_code and not (m.get("grade") and not m.get("solution"))}
    tampered = [f"cell {cells[k][0]}: {u.message()}" for k in sorted(own)
                for u in tampering(sources[k], sources[:k] + sources[k + 1:])]
    for ex in assignment.exercises:
        answer = next((k for k, m in enumerate(meta) if m.get("grade_id") == ex.name), None)
        found = list(tampered)
        for k in reaching_cells(sources, answer, ex.name, own) if ex.forbids else []:
            where = "" if k == answer else f"cell {cells[k][0]} (outside the answer cell): "
            context = sources[:k] + sources[k + 1:]
            found += [where + u.message() for u in forbidden_uses(sources[k], ex.forbids, context)]
        scores[ex.name].forbidden = found


@dataclass
class _Pending:
    """A submission between its stages: its result so far, its job, and the seconds its stages took
    (preparing, running and finishing it; not the time it waited for a worker)."""

    result: SubmissionResult
    job: Job | None = None
    attempts: int = 0
    seconds: float = 0.0


def _job_folder(out: Path, student: str, name: str) -> Path:
    return out / "jobs" / student / name


def prepare(nb_api, assignment: Assignment, submission: intake.Submission, out: Path, sandboxed: bool,
            limits: Limits) -> _Pending:
    """Take the notebook in and let nbgrader autograde it up to execution; the job to run, unless the
    submission is missing or could not be read (then its result is final)."""
    name, student, root = assignment.name, submission.student, Path(nb_api.coursedir.root)
    pending = _Pending(SubmissionResult(student, name, auto_max=assignment.auto_max, sandboxed=sandboxed))
    if submission.notebook is None:
        pending.result.status = "missing"
        return pending
    folder = _job_folder(out, student, name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    submitted = root / "submitted" / student / name
    shutil.rmtree(submitted, ignore_errors=True)
    shutil.rmtree(root / "autograded" / student / name, ignore_errors=True)
    try:
        intake.normalise(submission.notebook, submitted / f"{name}.ipynb")
        intake.take_exchange_records(submission.notebook.parent, submitted)
    except Exception as exc:  # noqa: BLE001 - whatever the file is, it is the student's
        pending.result.status = "failed: " + _unreadable(exc)
        return pending
    nb_api.config.ExecuteLater.job = str(folder)
    outcome = nb_api.autograde(name, student)
    if not outcome["success"] or not (folder / JOB_NOTEBOOK).exists():
        pending.result.status = "failed: " + _failure_reason(outcome)
        return pending
    # no points until the job's records are scored (an interrupted batch leaves no unearned points)
    gradebook.write_scores(nb_api.coursedir.db_url, COURSE_ID, name, student,
                           {ex.name: ExerciseScore(ex.name, 0) for ex in assignment.exercises})
    pending.job = Job(student, name, (folder / JOB_NOTEBOOK).read_text(encoding="utf-8"),
                      (folder / JOB_FILES).read_bytes(), assignment.cases_file.read_bytes(), sandboxed, limits)
    (folder / JOB_FILES).unlink()  # the notebook stays, to see what ran
    return pending


def _with_outputs(autograded: Path, executed: str) -> nbformat.NotebookNode:
    """nbgrader's autograded notebook with the outputs of the job's run, cell by cell.

    Raises:
        ValueError: the two do not hold the same cells (the grader's fault, never the student's).
    """
    from nbgrader.preprocessors import LimitOutput

    nb, run = nbformat.read(autograded, as_version=4), nbformat.reads(executed, as_version=4)
    if len(nb.cells) != len(run.cells) or any(a.source != b.source for a, b in zip(nb.cells, run.cells)):
        raise ValueError("the autograded notebook and its job's notebook differ")
    for cell, done in zip(nb.cells, run.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = done.outputs, done.execution_count
    nb, _ = LimitOutput().preprocess(nb, {})
    return nb


def finish(nb_api, assignment: Assignment, pending: _Pending, outcome: Outcome | None, out: Path) -> SubmissionResult:
    """Score what the job's kernel recorded, write the gradebook and the feedback, keep the result."""
    result, name, student = pending.result, assignment.name, pending.result.student
    autograded = Path(nb_api.coursedir.root) / "autograded" / student / name / f"{name}.ipynb"
    nb, run = None, None if outcome is None else outcome.execution
    if outcome is not None and autograded.exists():
        nb = _with_outputs(autograded, outcome.notebook)
        nbformat.write(nb, autograded)
    if run is not None and run.infrastructure:
        result.status = f"error: {run.status} ({pending.attempts} attempts); grade this submission again"
    elif run is not None and run.status != "complete" and result.status == "graded":
        result.status = f"failed: {run.status}"
    records = records_from_notebook(nb, [ex.name for ex in assignment.exercises]) if nb is not None else {}
    result.exercises = score_assignment(records, assignment.visible, assignment.hidden, assignment.exercises)
    if nb is not None:
        _withhold_forbidden(nb, assignment, result.exercises)
    if result.status != "missing":
        gradebook.write_scores(nb_api.coursedir.db_url, COURSE_ID, name, student, result.exercises)
        feedback.prepare(autograded, result.exercises)
        if autograded.exists():
            try:
                result.feedback = feedback.generate(nb_api, name, student, out / "feedback" / student / f"{name}.html")
            except RuntimeError as exc:  # the grade stands; `cvcourse grade` tells the instructor where to look
                result.feedback_failed = True
                _log_error(out, student, name, str(exc))
    return result


def _log_error(out: Path, student: str, name: str, text: str) -> None:
    """Add what went wrong in the grader with ``student``'s ``name`` to :data:`ERROR_LOG` in ``out``."""
    with (out / ERROR_LOG).open("a") as log:
        log.write(f"{student} {name}\n{text}\n")


def _submission_stamp(assignment: Assignment, submission: intake.Submission, sandboxed: bool) -> str:
    """What a kept result was graded from: the notebook's bytes (and the exchange's records beside it: a
    notebook handed in again unchanged gets its feedback under its new secret), the assignment's stamp, the
    sandbox."""
    digest = hashlib.sha256(f"{assignment.stamp}|{sandboxed}|".encode())
    try:
        size = submission.notebook.stat().st_size if submission.notebook is not None else -1
        digest.update(b"<missing>" if size < 0 else f"<{size} bytes>".encode() if size > intake.MAX_NOTEBOOK_BYTES
                      else submission.notebook.read_bytes())  # too large: refused by intake.normalise, unread
    except OSError as exc:
        digest.update(f"<unreadable: {exc}>".encode())
    records = intake.exchange_records(submission.notebook.parent) if submission.notebook is not None else {}
    for name, data in records.items():
        digest.update(f"|{name}|".encode() + data)
    return digest.hexdigest()


def _keep(out: Path, result: SubmissionResult, stamp: str) -> None:
    data = {**asdict(result), "feedback": str(result.feedback) if result.feedback else None, "stamp": stamp}
    path = _job_folder(out, result.student, result.assignment) / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def _kept(out: Path, student: str, name: str, stamp: str | None = None) -> SubmissionResult | None:
    """The result kept for ``student``'s ``name`` (only if it was graded from ``stamp``, when given)."""
    path = _job_folder(out, student, name) / "result.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if stamp is not None and (data.pop("stamp", None) != stamp or data["status"].startswith("error:")):
        return None  # graded from something else, or not graded for the machine's fault: grade it
    data.pop("stamp", None)
    data["exercises"] = {n: ExerciseScore(**s) for n, s in data["exercises"].items()}
    data["feedback"] = Path(data["feedback"]) if data["feedback"] else None
    return SubmissionResult(**data)


def _unreadable(exc: Exception) -> str:
    kind = type(exc).__name__
    if kind == "NotJSONError" or "JSON" in kind:
        return "the notebook is not valid JSON"
    if "Validation" in kind:
        return "the notebook does not follow the notebook format"
    return f"the notebook could not be read ({printable(str(exc))[:120] or kind})"


#: Log patterns of nbgrader failures, and what to tell the instructor.
_FAILURES = (("NotJSONError", "the notebook is not valid JSON"),
             ("ValidationError", "the notebook does not follow the notebook format"))


def _failure_reason(outcome: dict) -> str:
    text = f"{outcome.get('error') or ''}\n{outcome.get('log') or ''}"
    for pattern, reason in _FAILURES:
        if pattern in text:
            return reason
    errors = [ln.strip() for ln in text.splitlines() if "Error" in ln]
    return printable(errors[-1] if errors else "nbgrader could not grade it")[:160]


class _Batch:
    """The submissions of one grading run that are graded now: each is prepared here, run as a job by
    ``jobs`` (at most ``jobs.slots()`` at once) and finished here, one at a time, as its job ends."""

    def __init__(self, nb_api, loaded: dict[str, Assignment], out: Path, sandboxed: bool,
                 progress: Callable[[str], None]):
        self.nb_api, self.loaded, self.out, self.sandboxed, self.progress = nb_api, loaded, out, sandboxed, progress
        #: batch index -> result, for those graded now and those kept from before
        self.results: dict[int, SubmissionResult] = {}
        self.finished: queue.Queue = queue.Queue()  # batch indices of the jobs that ended
        self.running: dict[int, tuple] = {}  # batch index -> (submission, stamp, pending, future)
        self.jobs = None  # the runner, while :meth:`run` runs

    def run(self, todo: list[tuple[int, intake.Submission, str]], jobs, limits: Limits) -> None:
        """Grade each ``(batch index, submission, stamp)`` of ``todo``; Ctrl-C stops at once, not waiting
        for the kernels that run (``cvcourse grade`` exits)."""
        self.jobs = jobs
        try:
            self.progress(f"grading {len(todo)} submission(s) on {jobs.describe()}")
            for index, submission, stamp in todo:
                # prepared while the workers are busy, handed out when one is free
                started = time.perf_counter()
                assignment = self.loaded[submission.assignment]
                try:
                    pending = prepare(self.nb_api, assignment, submission, self.out, self.sandboxed, limits)
                except Exception as exc:  # noqa: BLE001 - one submission's failure must not end the batch
                    self._done(index, stamp, self._failed(submission, exc), time.perf_counter() - started)
                    continue
                pending.seconds = time.perf_counter() - started
                if pending.job is None:  # missing or unreadable: nothing to run
                    self._finish(index, submission, stamp, pending, None)
                    continue
                self._collect(block=False)
                while len(self.running) >= jobs.slots():
                    self._collect(block=True)
                self._submit(index, submission, stamp, pending)
            while self.running:
                self._collect(block=True)
        except BaseException:
            jobs.close(wait=False)
            raise
        jobs.close()

    def _submit(self, index: int, submission: intake.Submission, stamp: str, pending: _Pending) -> None:
        pending.attempts += 1
        future = self.jobs.submit(pending.job)
        self.running[index] = (submission, stamp, pending, future)
        future.add_done_callback(lambda _f, i=index: self.finished.put(i))

    def _collect(self, block: bool) -> None:
        """Finish every job that is done (if ``block``, waiting a few seconds for one)."""
        while self.running:
            try:
                index = self.finished.get(block=block, timeout=5 if block else None)
            except queue.Empty:
                return
            block = False
            submission, stamp, pending, future = self.running.pop(index)
            outcome = self.jobs.outcome(future, pending.job)
            if outcome.execution.infrastructure and pending.attempts < JOB_ATTEMPTS:
                self._submit(index, submission, stamp, pending)
                continue
            self._finish(index, submission, stamp, pending, outcome)

    def _finish(self, index: int, submission: intake.Submission, stamp: str, pending: _Pending,
                outcome: Outcome | None) -> None:
        started = time.perf_counter()
        try:
            result = finish(self.nb_api, self.loaded[submission.assignment], pending, outcome, self.out)
        except Exception as exc:  # noqa: BLE001 - one job's failure must not end the batch
            result = self._failed(submission, exc)
        run_seconds = outcome.execution.seconds if outcome is not None else 0.0
        self._done(index, stamp, result, pending.seconds + run_seconds + time.perf_counter() - started)

    def _failed(self, submission: intake.Submission, exc: Exception) -> SubmissionResult:
        """The result of a submission whose grading failed in the grader itself (logged)."""
        _log_error(self.out, submission.student, submission.assignment, traceback.format_exc())
        return SubmissionResult(submission.student, submission.assignment, sandboxed=self.sandboxed,
                                auto_max=self.loaded[submission.assignment].auto_max,
                                status=f"error: the grader failed ({type(exc).__name__}: {exc})"[:300])

    def _done(self, index: int, stamp: str, result: SubmissionResult, seconds: float) -> None:
        self.results[index] = result
        _keep(self.out, result, stamp)
        self.progress(f"{result.student:>12} {result.assignment}: "
                      f"{sum(s.earned for s in result.exercises.values()):g}/{result.auto_max:g} automatic points"
                      + ("" if result.status == "graded" else f" ({printable(result.status)})")
                      + f" [{seconds:.0f} s]")


def grade(submissions: Path | None, out: Path, names: list[str], progress: Callable[[str], None] = print,
          sandboxed: bool = True, workers: int = 1, scheduler: str | None = None, db_url: str | None = None,
          students: list[str] | None = None, fresh: bool = False) -> list[SubmissionResult]:
    """Grade ``submissions`` (folder or zip; default: freshly written sample submissions) into ``out``.

    ``submissions`` may be the course folder's own ``out/course/submitted``, where ``nbgrader collect`` run
    there puts what came through the exchange: it is copied to ``out/collected`` first, and nbgrader's
    records (when handed in, the feedback's secret) go with each notebook, so that ``nbgrader
    release_feedback`` returns the feedback to each student.

    Writes ``out/course`` (the nbgrader course folder; its gradebook too unless ``db_url`` names one),
    ``out/jobs/<student>/<assignment>/`` (each job and its kept result), ``out/feedback/<student>/
    <assignment>.html`` and ``out/grades.csv``.

    Args:
        workers: jobs run at once on this machine (threads; each job's kernel is its own process).
        scheduler: address of a Dask scheduler whose workers run the jobs instead.
        db_url: the gradebook's database URL (e.g. ``postgresql://grader@localhost/cvcourse``).
        students: grade only these students, again even if their results are kept.
        fresh: grade everything again, and start the course folder and its gradebook afresh.

    Returns:
        The results of every (student, assignment) pair of the batch that has one, in batch order (with
        ``students``, only theirs), whether graded now or kept from before. ``grades.csv`` lists every
        kept result in ``out`` for ``names``.

    Raises:
        autograder.sandbox.SandboxUnavailable: ``sandboxed`` and the sandbox cannot start here.
    """
    import warnings

    from sqlalchemy.exc import SAWarning

    from .sandbox import probe

    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's own session chatter
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if sandboxed and scheduler is None:
        probe(out / "jobs")
    if submissions is None:
        submissions = out / "samples"
        shutil.rmtree(submissions, ignore_errors=True)
        write_samples(submissions, names)
    folder = intake.unpack(Path(submissions), out)
    if folder.resolve().is_relative_to((out / "course").resolve()):  # `nbgrader collect` in the course folder
        folder = intake.take_collected(folder, out / "collected")
    batch = intake.find(folder, names)
    if students:
        unknown = sorted(set(students) - {s.student for s in batch})
        if unknown:
            raise ValueError(f"no submissions of {', '.join(unknown)} in {submissions}")
        batch = [s for s in batch if s.student in students]
    if fresh:
        shutil.rmtree(out / "jobs", ignore_errors=True)
        shutil.rmtree(out / "feedback", ignore_errors=True)
    nb_api = prepare_course(out / "course", names, db_url, keep=not fresh)
    loaded = {name: load_assignment(name, out / "cases" / name) for name in names}
    batch_run = _Batch(nb_api, loaded, out, sandboxed, progress)
    todo = []
    for index, submission in enumerate(batch):
        stamp = _submission_stamp(loaded[submission.assignment], submission, sandboxed)
        kept = None if students else _kept(out, submission.student, submission.assignment, stamp)
        if kept is not None:
            batch_run.results[index] = kept
        else:
            todo.append((index, submission, stamp))
    if len(todo) < len(batch):
        progress(f"{len(batch) - len(todo)} submission(s) kept from before, {len(todo)} to grade")
    batch_run.run(todo, runner(workers, scheduler), Limits.from_env())

    listed = [batch_run.results[i] for i in sorted(batch_run.results)]
    rows = _class_results(out, names, {(r.student, r.assignment): r for r in listed})
    for result in rows:
        test_ids = {f"test_{ex.name}" for ex in loaded[result.assignment].exercises}
        for key, value in gradebook.totals(nb_api.coursedir.db_url, COURSE_ID, result.assignment,
                                           result.student, test_ids).items():
            setattr(result, key, value)
    write_csv(out / "grades.csv", rows)
    return listed


def _class_results(out: Path, names: list[str], now: dict[tuple[str, str], SubmissionResult]) -> list[SubmissionResult]:
    """Every result kept in ``out`` for the assignments ``names`` (those of this run as they are now)."""
    rows = []
    for path in sorted((out / "jobs").glob("*/*/result.json")):
        student, name = path.parent.parent.name, path.parent.name
        result = now.get((student, name)) or (_kept(out, student, name) if name in names else None)
        if result is not None:
            rows.append(result)
    return rows
