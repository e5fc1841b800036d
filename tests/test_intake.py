"""Taking in what nbgrader's exchange collected: the records beside each notebook, which the student's own
process wrote, and the copy of the course's ``submitted/`` folder that grading works from."""

from __future__ import annotations

import os
import re
import subprocess
import sys

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
    ("next Tuesday, honestly", "a1b2", "submission_secret.txt"),     # a timestamp that does not parse
    (STAMP, "x" * 300, "timestamp.txt"),                              # a secret too long to be nbgrader's
    (STAMP, "a1b2\x1b[2J", "timestamp.txt"),                          # terminal escapes in the secret
    (STAMP, "caf\u00e9", "timestamp.txt"),                            # not ASCII
])
def test_an_implausible_exchange_record_gets_a_stand_in(tmp_path, timestamp, secret, kept):
    """``nbgrader release_feedback`` needs both records of every feedback folder (below)."""
    source, dest = _handed_in(tmp_path / "in", timestamp, secret), tmp_path / "out"
    dest.mkdir()
    intake.take_exchange_records(source, dest)
    assert (dest / kept).read_text() == (source / kept).read_text()
    from nbgrader.utils import parse_utc

    if kept == "timestamp.txt":  # a fresh secret, of nbgrader's own kind
        assert re.fullmatch("[0-9a-f]{128}", (dest / "submission_secret.txt").read_text())
    else:  # when the notebook was written
        assert abs(parse_utc((dest / "timestamp.txt").read_text()).timestamp()
                   - (source / f"{NAME}.ipynb").stat().st_mtime) < 1e-3


def test_an_exchange_record_that_is_a_link_is_not_followed(tmp_path):
    source, dest = _handed_in(tmp_path / "in"), tmp_path / "out"
    dest.mkdir()
    secret = tmp_path / "instructor-only.txt"
    secret.write_text("the instructor's own file")
    (source / "submission_secret.txt").unlink()
    os.symlink(secret, source / "submission_secret.txt")
    intake.take_exchange_records(source, dest)
    assert (dest / "timestamp.txt").read_text() == STAMP
    assert "instructor" not in (dest / "submission_secret.txt").read_text()


def test_a_folder_that_did_not_come_through_the_exchange_gets_no_records(tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    source.mkdir(), dest.mkdir()
    nbformat.write(filled(NAME), source / f"{NAME}.ipynb")
    intake.take_exchange_records(source, dest)
    assert list(dest.iterdir()) == []


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
    _handed_in(out / "course" / "submitted" / "eve" / NAME, secret="caf\u00e9")  # eve's process wrote this
    results = grade(out / "course" / "submitted", out, [NAME], progress=lambda _: None, workers=2)
    assert [(r.status, r.auto_score) for r in results] == [("graded", results[0].auto_max)] * 2
    # every student's feedback goes back, eve's too (under a secret she does not know)
    from nbgrader.utils import notebook_hash

    exchange = tmp_path / "exchange"
    exchange.mkdir(mode=0o777)
    exchange.chmod(0o1777)  # as `cvcourse classroom` makes it
    released = subprocess.run([sys.executable, "-m", "nbgrader", "release_feedback", NAME, f"--Exchange.root={exchange}"],
                              cwd=out / "course", capture_output=True, text=True, timeout=300)
    assert released.returncode == 0, released.stderr[-2000:]
    returned = {p.name for p in (exchange / "cvcourse" / "feedback").iterdir()}
    assert len(returned) == 2 and f"{notebook_hash(secret='a1b2c3d4e5f6', notebook_id=NAME)}.html" in returned
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
    assert any(line.split()[:2] == ["ada", NAME + ":"] for line in said), said  # graded again
    assert (feedback / "timestamp.txt").read_text() == later


def test_a_zip_is_unpacked_within_limits(tmp_path, monkeypatch):
    """A member larger than a notebook may be is cut short (refused as too large, never written whole), and
    an archive that would unpack to more than a class hands in is refused before anything is written."""
    import zipfile

    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"ada/{NAME}/{NAME}.ipynb", nbformat.writes(filled(NAME)))
        zf.writestr(f"bob/{NAME}/{NAME}.ipynb", b"{" + b" " * (intake.MAX_NOTEBOOK_BYTES + 4096) + b"}")
    folder = intake.unpack(archive, tmp_path / "work")
    assert nbformat.read(folder / "ada" / NAME / f"{NAME}.ipynb", as_version=4).cells
    assert (folder / "bob" / NAME / f"{NAME}.ipynb").stat().st_size == intake.MAX_NOTEBOOK_BYTES + 1
    monkeypatch.setattr(intake, "MAX_ARCHIVE_BYTES", intake.MAX_NOTEBOOK_BYTES)
    with pytest.raises(ValueError, match="more than a class hands in"):
        intake.unpack(archive, tmp_path / "again")
    assert not (tmp_path / "again" / "unzipped" / "ada").exists()


def test_a_huge_notebook_fails_alone(tmp_path):
    """A 100 GiB notebook (sparse: it costs no disk) is refused unread, and the class is graded."""
    subs = tmp_path / "subs"
    _handed_in(subs / "ada" / NAME)
    (subs / "bob" / NAME).mkdir(parents=True)
    with open(subs / "bob" / NAME / f"{NAME}.ipynb", "wb") as f:
        f.truncate(100 << 30)
    # and a reason with terminal escapes in it, which would rewrite the line above it
    (subs / "eve" / NAME).mkdir(parents=True)
    (subs / "eve" / NAME / f"{NAME}.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat_minor": 5, "nbformat": "\\u001b[1A\\u001b[2K eve: 16/16"}')
    said = []
    results = {r.student: r for r in grade(subs, tmp_path / "out", [NAME], progress=said.append)}
    assert results["ada"].status == "graded" and results["ada"].auto_score == results["ada"].auto_max
    assert results["bob"].status == "failed: the notebook could not be read (the notebook is larger than 64 MiB)"
    assert results["eve"].status.startswith("failed: the notebook could not be read (Unsupported nbformat")
    csv_text = (tmp_path / "out" / "grades.csv").read_text()
    assert "\x1b" not in csv_text + "".join(said) and "?[1A?[2K eve: 16/16" in csv_text
