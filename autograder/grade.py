"""``cvcourse grade``: autograde every submission, score it in this (trusted) process, write
feedback and a CSV, and return one row per student and assignment.

nbgrader executes each submitted notebook (restoring locked and hidden-test cells from the
gradebook); the test cells record the student's outputs. The scores nbgrader derives from errors
in those cells are then replaced by :mod:`autograder.scoring`'s verdicts. Submissions are graded
one at a time (sqlite does not take concurrent writers), and a submission that cannot be graded
gets zero and a reason without stopping the batch.
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_utils import store
from course_utils.grading import CASES_ENV, RECORD_ENV

from . import assignments as specs
from .course import COURSE_ID, hidden_reference_file, prepare_course, visible_reference_file
from .notebook_run import environment
from .reference_outputs import grader_cases
from .samples import write_samples
from .scoring import ExerciseScore, score_assignment


@dataclass
class SubmissionResult:
    """The outcome for one student and one assignment."""

    student: str
    assignment: str
    status: str = "graded"
    auto_score: float = 0.0
    auto_max: float = 0.0
    manual_score: float = 0.0
    manual_max: float = 0.0
    manual_pending: int = 0
    exercises: dict[str, ExerciseScore] = field(default_factory=dict)
    feedback: Path | None = None


def unpack(submissions: Path, workdir: Path) -> Path:
    """A folder of ``<student>/<assignment>/*.ipynb``: ``submissions`` itself, or a zip extracted."""
    if submissions.is_dir():
        return submissions
    if not zipfile.is_zipfile(submissions):
        raise ValueError(f"{submissions} is neither a folder nor a zip file")
    dest = workdir / "unzipped"
    shutil.rmtree(dest, ignore_errors=True)
    with zipfile.ZipFile(submissions) as zf:
        for member in zf.namelist():
            target = (dest / member).resolve()
            if not target.is_relative_to(dest.resolve()):
                raise ValueError(f"{submissions}: unsafe path in archive: {member}")
        zf.extractall(dest)
    # a zip of one folder that holds the student folders: descend into it
    entries = [p for p in dest.iterdir() if not p.name.startswith(("_", "."))]
    if len(entries) == 1 and entries[0].is_dir() and not _is_student(entries[0]):
        return entries[0]
    return dest


def _is_student(folder: Path) -> bool:
    """A student folder holds assignment folders (``NN_topic``)."""
    return any(p.is_dir() and p.name[:2].isdigit() for p in folder.iterdir())


def _copy_submission(src: Path, dest: Path, assignment: str) -> bool:
    """Copy a student's notebooks for one assignment into the course folder. A lone notebook under
    another name (``01_conv_pool (1).ipynb``) is taken as the assignment's notebook."""
    notebooks = sorted(src.glob("*.ipynb")) if src.is_dir() else []
    if not notebooks:
        return False
    dest.mkdir(parents=True, exist_ok=True)
    expected = f"{assignment}.ipynb"
    for nb in notebooks:
        name = expected if len(notebooks) == 1 else nb.name
        shutil.copy2(nb, dest / name)
    return True


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _hidden_lines(source: str) -> set[str]:
    """The stripped, non-empty lines of a cell's hidden-tests regions, markers included."""
    lines, inside = set(), False
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        if inside and line.strip():
            lines.add(line.strip())
        if "END HIDDEN TESTS" in line:
            inside = False
    return lines


def _scrub(text: str, hidden: set[str]) -> str:
    """Drop the lines of a traceback frame that quote hidden-test code."""
    return "\n".join(ln for ln in text.split("\n")
                     if not any(h in _ANSI.sub("", ln) for h in hidden))


def _prepare_feedback(autograded: Path, scores: dict[str, ExerciseScore]) -> None:
    """Make the autograded notebook fit for feedback: append the grader's verdict to each test cell
    and remove hidden-test code quoted in tracebacks (nbgrader only clears it from cell sources)."""
    if not autograded.exists():
        return
    nb = nbformat.read(autograded, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        hidden = _hidden_lines(cell.source)
        for output in cell.outputs:
            if output.output_type == "error" and hidden:
                output.traceback = [_scrub(frame, hidden) for frame in output.traceback]
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if gid.startswith("test_") and gid[5:] in scores:
            cell.outputs.append(nbformat.v4.new_output("stream", name="stdout",
                                                       text=scores[gid[5:]].report() + "\n"))
    nbformat.write(nb, autograded)


def _write_scores(gradebook, assignment: str, student: str, scores: dict[str, ExerciseScore]) -> None:
    """Replace nbgrader's error-based scores of the test cells by the trusted ones."""
    submission = gradebook.find_submission(assignment, student)
    for notebook in submission.notebooks:
        for grade in notebook.grades:
            if grade.name.startswith("test_") and grade.name[5:] in scores:
                grade.auto_score = scores[grade.name[5:]].earned
                grade.needs_manual_grade = False
    gradebook.db.commit()


def _totals(gradebook, result: SubmissionResult, test_ids: set[str]) -> None:
    from nbgrader.api import MissingEntry

    try:
        submission = gradebook.find_submission(result.assignment, result.student)
    except MissingEntry:  # never autograded: nothing in the gradebook
        return
    for notebook in submission.notebooks:
        for grade in notebook.grades:
            if grade.name in test_ids:
                result.auto_score += grade.score
            else:
                result.manual_score += grade.score
                result.manual_pending += bool(grade.needs_manual_grade)


#: Log patterns of nbgrader failures, and what to tell the instructor.
_FAILURES = (("DeadKernelError", "the kernel died (a cell crashed Python)"),
             ("NotJSONError", "the notebook is not valid JSON"),
             ("NotebookValidationError", "the notebook does not follow the notebook format"),
             ("ValidationError", "the notebook does not follow the notebook format"))


def _failure_reason(outcome: dict) -> str:
    text = f"{outcome.get('error') or ''}\n{outcome.get('log') or ''}"
    for pattern, reason in _FAILURES:
        if pattern in text:
            return reason
    errors = [ln.strip() for ln in text.splitlines() if "Error" in ln]
    return (errors[-1] if errors else "nbgrader could not grade it")[:160]


@dataclass
class _Assignment:
    """What grading one assignment needs, loaded once per batch."""

    name: str
    visible: dict
    hidden: dict
    points: dict[str, float]
    cases_file: Path


def _load_assignment(gradebook, name: str, folder: Path) -> _Assignment:
    visible, hidden = store.load(visible_reference_file(name)), store.load(hidden_reference_file(name))
    cells = {c.name: c.max_score for nb in gradebook.find_assignment(name).notebooks for c in nb.grade_cells}
    points = {ex.name: cells[f"test_{ex.name}"] for ex in specs.exercises(name)}
    cases_file = store.save(folder / "cases.pt", grader_cases(name, visible))
    return _Assignment(name, visible, hidden, points, cases_file)


def _grade_submission(nb_api, assignment: _Assignment, student: str, src: Path, out: Path) -> SubmissionResult:
    """Autograde one student's notebook, score it, write the scores and the feedback."""
    from nbgrader.api import Gradebook, MissingEntry

    name, root = assignment.name, Path(nb_api.coursedir.root)
    result = SubmissionResult(student, name, auto_max=sum(assignment.points.values()))
    if not _copy_submission(src, root / "submitted" / student / name, name):
        result.status = "missing"
        return result
    record = out / "grading" / student / name / "record.pt"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.unlink(missing_ok=True)
    with environment(**{CASES_ENV: str(assignment.cases_file), RECORD_ENV: str(record),
                        "COURSE_FIGURE_DIR": str(record.parent / "figures")}):
        outcome = nb_api.autograde(name, student)
    records = {}
    if not outcome["success"]:  # nothing of this run reached the gradebook: score it all zero
        result.status = "failed: " + _failure_reason(outcome)
    elif record.exists():
        try:
            records = store.load(record)
        except Exception as exc:  # written by the student's kernel: anything may be in it
            result.status = f"failed: unreadable record ({type(exc).__name__})"
    result.exercises = score_assignment(records, assignment.visible, assignment.hidden, assignment.points)
    with Gradebook(nb_api.coursedir.db_url, COURSE_ID) as gb:
        try:
            _write_scores(gb, name, student, result.exercises)
        except MissingEntry:  # nbgrader never got as far as the gradebook
            pass
    _prepare_feedback(root / "autograded" / student / name / f"{name}.ipynb", result.exercises)
    html = root / "feedback" / student / name / f"{name}.html"
    if nb_api.generate_feedback(name, student)["success"] and html.exists():
        result.feedback = out / "feedback" / student / f"{name}.html"
        result.feedback.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(html, result.feedback)
    return result


def grade(submissions: Path | None, out: Path, names: list[str],
          progress: Callable[[str], None] = print) -> list[SubmissionResult]:
    """Grade ``submissions`` (folder or zip; default: freshly written sample submissions) into ``out``.

    Writes ``out/course`` (the nbgrader course folder and gradebook), ``out/feedback/<student>/
    <assignment>.html`` and ``out/grades.csv``.
    """
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's own session chatter
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if submissions is None:
        submissions = out / "samples"
        shutil.rmtree(submissions, ignore_errors=True)
        write_samples(submissions, names)
    folder = unpack(Path(submissions), out)
    nb_api = prepare_course(out / "course", names)
    with Gradebook(nb_api.coursedir.db_url, COURSE_ID) as gb:
        loaded = {name: _load_assignment(gb, name, out / "grading" / name) for name in names}

    shutil.rmtree(out / "feedback", ignore_errors=True)
    students = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    results = []
    for student in students:
        for name in names:
            result = _grade_submission(nb_api, loaded[name], student, folder / student / name, out)
            results.append(result)
            earned = sum(s.earned for s in result.exercises.values())
            progress(f"{student:>12} {name}: {earned:g}/{result.auto_max:g} automatic points"
                     + ("" if result.status == "graded" else f" ({result.status})"))

    with Gradebook(nb_api.coursedir.db_url, COURSE_ID) as gb:
        for result in results:
            test_ids = {f"test_{n}" for n in loaded[result.assignment].points}
            _totals(gb, result, test_ids)
            for nb in gb.find_assignment(result.assignment).notebooks:
                result.manual_max = sum(c.max_score for c in nb.grade_cells if c.name not in test_ids)
    write_csv(out / "grades.csv", results)
    return results


CSV_COLUMNS = ["student", "assignment", "status", "auto_score", "auto_max", "manual_score",
               "manual_max", "manual_pending", "feedback"]


def write_csv(path: Path, results: list[SubmissionResult]) -> Path:
    """One row per student and assignment; every text field quoted."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(CSV_COLUMNS)
        for r in results:
            writer.writerow([r.student, r.assignment, r.status, float(r.auto_score), float(r.auto_max),
                             float(r.manual_score), float(r.manual_max), int(r.manual_pending),
                             str(r.feedback or "")])
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
    notes = [f"! {r.student} {r.assignment}: {r.status}" for r in results if r.status != "graded"]
    return "\n".join(lines + notes)
