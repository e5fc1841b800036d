"""The gradebook: the only writer of scores, in the grader's process, after the kernel is gone.

nbgrader's autograde fills the gradebook with scores derived from errors in the test cells; the
trusted scores of :mod:`autograder.scoring` replace them here. Manual grades are never touched.
"""

from __future__ import annotations

from .scoring import ExerciseScore


def _submission(gb, assignment: str, student: str):
    """The student's submission in the gradebook, or None if nbgrader never recorded it."""
    from nbgrader.api import MissingEntry

    try:
        return gb.find_submission(assignment, student)
    except MissingEntry:
        return None


def write_scores(db_url: str, course_id: str, assignment: str, student: str,
                 scores: dict[str, ExerciseScore]) -> bool:
    """Replace the automatic scores of the test cells; False if nbgrader never recorded the submission."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        submission = _submission(gb, assignment, student)
        if submission is None:
            return False
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.name.startswith("test_") and grade.name[5:] in scores:
                    grade.auto_score = scores[grade.name[5:]].earned
                    grade.needs_manual_grade = False
        gb.db.commit()
    return True


def totals(db_url: str, course_id: str, assignment: str, student: str, test_ids: set[str]) -> dict[str, float]:
    """Automatic and manual scores, their maxima and the manual cells still to grade."""
    from nbgrader.api import Gradebook

    out = {"auto_score": 0.0, "manual_score": 0.0, "manual_max": 0.0, "manual_pending": 0}
    with Gradebook(db_url, course_id) as gb:
        for nb in gb.find_assignment(assignment).notebooks:
            out["manual_max"] += sum(c.max_score for c in nb.grade_cells if c.name not in test_ids)
        submission = _submission(gb, assignment, student)
        if submission is None:
            return out
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.name in test_ids:
                    out["auto_score"] += grade.score
                else:
                    out["manual_score"] += grade.score
                    out["manual_pending"] += bool(grade.needs_manual_grade)
    return out

