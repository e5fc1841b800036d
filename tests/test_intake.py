"""Taking in what nbgrader's exchange collected: the records beside each notebook, which the student's own
process wrote, and the copy of the course's ``submitted/`` folder that grading works from."""

from __future__ import annotations

import os

import nbformat
import pytest

from autograder import intake
from autograder.grade import grade
from autograder.samples import filled

NAME = "01_conv_pool"
STAMP = "2026-12-02 12:36:35.817557 UTC"


def _handed_in(folder, timestamp=STAMP, secret="a1b2c3d4e5f6"):
    folder.mkdir(parents=True)
    nbformat.write(filled(NAME), folder / f"{NAME}.ipynb")
    (folder / "timestamp.txt").write_text(timestamp)
    (folder / "submission_secret.txt").write_text(secret)
    return folder


def test_exchange_records_are_taken_in_when_plausible(tmp_path):
    source, dest = _handed_in(tmp_path / "in"), tmp_path / "out"
    dest.mkdir()
    intake.take_exchange_records(source, dest)
    assert (dest / "timestamp.txt").read_text() == STAMP
    assert (dest / "submission_secret.txt").read_text() == "a1b2c3d4e5f6"


@pytest.mark.parametrize("timestamp, secret, kept", [
    ("next Tuesday, honestly", "a1b2", {"submission_secret.txt"}),     # a timestamp that does not parse
    (STAMP, "x" * 300, {"timestamp.txt"}),                              # a secret too long to be nbgrader's
    (STAMP, "a1b2\x1b[2J", {"timestamp.txt"}),                          # terminal escapes in the secret
    (STAMP, "caf\u00e9", {"timestamp.txt"}),                            # not ASCII
])
def test_implausible_exchange_records_are_left_out(tmp_path, timestamp, secret, kept):
    source, dest = _handed_in(tmp_path / "in", timestamp, secret), tmp_path / "out"
    dest.mkdir()
    intake.take_exchange_records(source, dest)
    assert {p.name for p in dest.iterdir()} == kept


def test_an_exchange_record_that_is_a_link_is_not_followed(tmp_path):
    source, dest = _handed_in(tmp_path / "in"), tmp_path / "out"
    dest.mkdir()
    secret = tmp_path / "instructor-only.txt"
    secret.write_text("the instructor's own file")
    (source / "submission_secret.txt").unlink()
    os.symlink(secret, source / "submission_secret.txt")
    intake.take_exchange_records(source, dest)
    assert {p.name for p in dest.iterdir()} == {"timestamp.txt"}


def test_collected_submissions_are_copied_links_and_all(tmp_path):
    submitted = tmp_path / "course" / "submitted"
    _handed_in(submitted / "ada" / NAME)
    (submitted / "eve" / NAME).mkdir(parents=True)
    os.symlink("/etc/passwd", submitted / "eve" / NAME / f"{NAME}.ipynb")
    copy = intake.take_collected(submitted, tmp_path / "collected")
    assert (copy / "eve" / NAME / f"{NAME}.ipynb").is_symlink()  # copied as a link, then not taken in
    found = {s.student: s.notebook for s in intake.find(copy, [NAME])}
    assert found["eve"] is None and found["ada"] == copy / "ada" / NAME / f"{NAME}.ipynb"
    # collected again later: the newer hand-in replaces the copy
    (submitted / "ada" / NAME / "timestamp.txt").write_text("2026-12-03 09:00:00.000000 UTC")
    intake.take_collected(submitted, copy)
    assert (copy / "ada" / NAME / "timestamp.txt").read_text().startswith("2026-12-03")


def test_grading_the_course_folders_own_submissions_keeps_what_release_feedback_needs(tmp_path):
    """`nbgrader collect` in the course folder, then `cvcourse grade OUT/course/submitted --out OUT`."""
    out = tmp_path / "out"
    _handed_in(out / "course" / "submitted" / "ada" / NAME)
    (result,) = grade(out / "course" / "submitted", out, [NAME], progress=lambda _: None)
    assert result.status == "graded" and result.auto_score == result.auto_max
    assert (out / "collected" / "ada" / NAME / f"{NAME}.ipynb").exists()
    feedback = out / "course" / "feedback" / "ada" / NAME
    assert (feedback / f"{NAME}.html").exists()
    assert (feedback / "timestamp.txt").read_text() == STAMP
    assert (feedback / "submission_secret.txt").read_text() == "a1b2c3d4e5f6"
    # handed in again unchanged, and collected again: graded again, for the feedback under its new secret
    later = "2026-12-03 09:00:00.000000 UTC"
    (out / "course" / "submitted" / "ada" / NAME / "timestamp.txt").write_text(later)
    said = []
    grade(out / "course" / "submitted", out, [NAME], progress=said.append)
    assert not any("kept from before" in line for line in said), said
    assert (feedback / "timestamp.txt").read_text() == later
