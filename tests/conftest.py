"""Shared fixtures: the assignments found in solutions/ and one grading run of the samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from autograder.course import assignments  # noqa: E402

#: Every assignment, or only those named in CVCOURSE_TEST_ASSIGNMENTS (comma-separated), to test one while
#: it is being written; CI sets nothing and tests them all.
ASSIGNMENTS = assignments([n for n in os.environ.get("CVCOURSE_TEST_ASSIGNMENTS", "").split(",") if n])


@pytest.fixture(scope="session")
def graded_samples(tmp_path_factory) -> dict:
    """Grade the bundled samples once for the whole session, two at a time (tests/test_parallel.py shows
    that one at a time gives the same): (student, assignment) -> result."""
    from autograder.grade import grade

    out = tmp_path_factory.mktemp("grade")
    results = grade(None, out, ASSIGNMENTS, progress=lambda _: None, workers=2)
    return {"out": out, "results": {(r.student, r.assignment): r for r in results}}


def pytest_report_header(config):
    return f"assignments: {', '.join(ASSIGNMENTS) or 'none'}"


REPO = Path(__file__).resolve().parents[1]
