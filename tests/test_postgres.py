"""The gradebook on PostgreSQL: grading writes the same grades there as in sqlite, and nbgrader's own
API, which formgrader uses, reads them from a course folder's ``nbgrader_config.py``.

Needs a PostgreSQL server: ``$CVCOURSE_TEST_POSTGRES`` is the URL of a database whose user may create
databases (``.ci/run`` starts Debian's PostgreSQL on loopback and sets it; without it these tests skip).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from autograder.grade import grade

NAME = "01_conv_pool"
SERVER = os.environ.get("CVCOURSE_TEST_POSTGRES")

pytestmark = pytest.mark.skipif(not SERVER, reason="no PostgreSQL server: set CVCOURSE_TEST_POSTGRES "
                                                   "(.ci/run starts one)")


@pytest.fixture
def database():
    """A new, empty database on the server (dropped afterwards); its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"cvcourse_test_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(SERVER, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        from sqlalchemy import create_engine

        create_engine(make_url(SERVER).set(database=name)).dispose()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_grades_go_to_postgresql_as_to_sqlite_and_formgrader_reads_them(graded_samples, database, tmp_path):
    out = tmp_path / "out"
    results = grade(None, out, [NAME], progress=lambda _: None, db_url=database, workers=2)
    serial = {(s, a): r for (s, a), r in graded_samples["results"].items() if a == NAME}
    assert {(r.student, r.assignment): (r.auto_score, r.manual_max, r.status) for r in results} == \
        {k: (r.auto_score, r.manual_max, r.status) for k, r in serial.items()}
    assert not (out / "course" / "gradebook.db").exists()

    # what formgrader does when opened in the course folder: nbgrader's API with the folder's config
    script = ("import json\nfrom nbgrader.apps import NbGraderAPI\nfrom nbgrader.coursedir import CourseDirectory\n"
              "from traitlets.config.loader import PyFileConfigLoader\n"
              "config = PyFileConfigLoader('nbgrader_config.py', path='.').load_config()\n"
              "api = NbGraderAPI(CourseDirectory(config=config, root='.'), config=config)\n"
              f"print(json.dumps({{s['student']: s['score'] for s in api.get_submissions({NAME!r})}}))\n")
    shown = subprocess.run([sys.executable, "-c", script], cwd=out / "course", capture_output=True, text=True,
                           timeout=300, check=True)
    scores = json.loads(shown.stdout.strip().splitlines()[-1])
    assert scores == {r.student: r.auto_score + r.manual_score for r in results}
