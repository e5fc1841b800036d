"""Where things are, and an nbgrader course folder built from ``solutions/``."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
from pathlib import Path

from traitlets.config import Config

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
NOTEBOOKS = REPO / "notebooks"
REFERENCES = Path(__file__).resolve().parent / "references"
#: Templates that shadow parts of nbgrader's (``feedback/mathjax.html.j2``: MathJax without a network).
TEMPLATES = Path(__file__).resolve().parent / "templates"
COURSE_ID = "cvcourse"
#: Files in a solution folder that never travel to students or into the course folder.
IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*", "figures", "*.egg-info"]

#: Keep the kernel's own start-up chatter (not cell output) off the grader's terminal.
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]

_ASSIGNMENT = re.compile(r"^\d\d_[a-z0-9_]+$")


def assignments(names: list[str] | None = None) -> list[str]:
    """Assignment ids found in ``solutions/`` (``NN_topic`` folders holding ``NN_topic.ipynb``).

    Raises:
        ValueError: if a requested name is not one of them.
    """
    found = sorted(p.name for p in SOLUTIONS.iterdir()
                   if p.is_dir() and _ASSIGNMENT.match(p.name) and (p / f"{p.name}.ipynb").exists())
    if not names:
        return found
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValueError(f"unknown assignment(s) {', '.join(unknown)}; found: {', '.join(found)}")
    return list(names)


def hidden_reference_file(assignment: str) -> Path:
    return REFERENCES / assignment / "hidden.pt"


def visible_reference_file(assignment: str) -> Path:
    from course_utils.store import VISIBLE_FILE

    return SOLUTIONS / assignment / VISIBLE_FILE


def with_driver(db_url: str) -> str:
    """``db_url`` with the PostgreSQL driver the course installs (psycopg 3) named, when it names none."""
    return "postgresql+psycopg://" + db_url[len("postgresql://"):] if db_url.startswith("postgresql://") else db_url


def nbgrader_config(root: Path, db_url: str | None = None) -> Config:
    """The course's nbgrader configuration for a course folder at ``root``, its gradebook at ``db_url``
    (default: nbgrader's sqlite file ``gradebook.db`` in ``root``; or ``postgresql://user@host/db``)."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, GetGrades,
                                        SaveAutoGrades)

    from .feedback import CourseSanitizeHTML
    from .jobs import ExecuteLater

    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.ignore = IGNORE
    if db_url:
        c.CourseDirectory.db_url = with_driver(db_url)
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    # a test cell the student deleted is put back from the source
    c.OverwriteCells.add_missing_cells = True
    # student code runs later as a job, in the sandbox (autograder.jobs), never in a kernel nbgrader starts;
    # the job's outputs then go through LimitOutput (autograder.grade)
    c.Autograde.autograde_preprocessors = [ExecuteLater, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    # the grader writes the job's outputs and the feedback's markings into the autograded notebook afterwards
    # (nbgrader leaves it read-only, 444, which only root could write through)
    c.Autograde.permissions = 644
    # Feedback is rendered from the autograded notebook, which holds the restored hidden tests.
    c.GenerateFeedback.preprocessors = [ClearHiddenTests, GetGrades, CourseSanitizeHTML,
                                     CSSHTMLHeaderPreprocessor]
    c.ClearHiddenTests.enforce_metadata = False
    # nbgrader's feedback template, with MathJax loaded from beside the feedback files (no network)
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(_nbgrader_templates())]
    return c


def _nbgrader_templates() -> Path:
    """The folder of nbgrader's own templates (``feedback``, ``formgrade``)."""
    import nbgrader

    return Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"


def student_config(exchange: Path, cache: Path | None = None) -> Config:
    """nbgrader's configuration on the student's side: JupyterLab's Assignment list and Validate button.

    Args:
        exchange: nbgrader's exchange folder (it must exist).
        cache: where nbgrader keeps the student's record of submissions (default: nbgrader's own, in
            each person's home).
    """
    from .sandbox import Limits

    c = Config()
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.ignore = IGNORE
    c.Exchange.root = str(exchange)
    if cache is not None:
        c.Exchange.cache = str(cache)
    # Validate runs the notebook as the grader does; a cell gets the grader's time limit
    c.Execute.timeout = Limits.from_env().cell_timeout
    return c


def write_config(path: Path, config: Config, writer: str) -> None:
    """Write ``config`` as the ``nbgrader_config.py`` at ``path``; ``writer`` names what wrote it."""
    lines = [f"# Written by {writer}: edit the code, not this file.",
             "c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file"]
    lines += [f"c.{section}.{key} = {value!r}" for section, values in config.items() for key, value in values.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def api(root: Path, db_url: str | None = None):
    """An ``NbGraderAPI`` on the course folder at ``root`` (quiet unless something goes wrong)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    # nbgrader runs the ``alembic`` executable of its environment to open the gradebook
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")

    config = nbgrader_config(root, db_url)
    coursedir = CourseDirectory(config=config)
    nb_api = NbGraderAPI(coursedir=coursedir, config=config)
    nb_api.log.setLevel(logging.ERROR)
    return nb_api


#: Lab's Run All, like nbclient, goes on past an error in a cell with this tag.
RUN_ALL_TAG = "raises-exception"


def _prepare_source(path: Path, name: str) -> None:
    """Set up a course source notebook from its solution.

    Each test cell gets the points of its exercise spec (the one place a point value is written), and
    every code cell after the first (the setup cell) is tagged :data:`RUN_ALL_TAG`, so that Run All
    in a student's notebook reaches every exercise's check even when an earlier answer fails.
    """
    import nbformat

    from . import assignments as specs

    points = {f"test_{ex.name}": ex.points for ex in specs.exercises(name)}
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for cell in code[1:]:
        tags = cell.metadata.setdefault("tags", [])
        if RUN_ALL_TAG not in tags:
            tags.append(RUN_ALL_TAG)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id") in points:
            meta["points"] = points[meta["grade_id"]]
    nbformat.write(nb, path)


def prepare_course(root: Path, names: list[str], db_url: str | None = None, keep: bool = False):
    """A course folder at ``root`` with ``source/`` from ``solutions/`` and the student versions generated
    (which also fills the gradebook). Returns the ``NbGraderAPI``.

    With ``keep``, an existing course folder and its gradebook (submissions, manual grades) are kept: only
    assignments that are new, or whose solution changed since, are set up again. Otherwise the folder is
    made afresh. ``nbgrader_config.py`` in the folder names the gradebook, so that formgrader, opened there,
    grades by hand in the same one.
    """
    if root.exists() and not keep:
        shutil.rmtree(root)
    (root / "source").mkdir(parents=True, exist_ok=True)
    stamps = root / "sources.json"
    known = json.loads(stamps.read_text()) if keep and stamps.exists() else {}
    changed = []
    for name in names:
        stamp = _solution_stamp(name)
        if known.get(name) != stamp or not (root / "source" / name).exists():
            shutil.rmtree(root / "source" / name, ignore_errors=True)
            shutil.copytree(SOLUTIONS / name, root / "source" / name, ignore=shutil.ignore_patterns(*IGNORE))
            _prepare_source(root / "source" / name / f"{name}.ipynb", name)
            changed.append(name)
            known[name] = stamp
    (root / "nbgrader_config.py").write_text(_config_file(db_url))
    nb_api = api(root, db_url)
    for name in changed:
        result = nb_api.generate_assignment(name, force=True)
        if not result["success"]:
            raise RuntimeError(f"nbgrader could not generate {name}:\n{result['error']}\n{result['log']}")
    stamps.write_text(json.dumps(known, indent=1))
    return nb_api


def _solution_stamp(name: str) -> str:
    """A digest of what the course folder is made from for ``name``: its solution folder and its spec."""
    import fnmatch
    import hashlib

    digest = hashlib.sha256()
    files = [p for p in sorted((SOLUTIONS / name).rglob("*")) if p.is_file() and not any(
        fnmatch.fnmatch(part, pattern) for part in p.relative_to(SOLUTIONS).parts for pattern in IGNORE)]
    for path in [*files, Path(__file__).parent / "assignments" / f"a{name}.py"]:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _config_file(db_url: str | None) -> str:
    """``nbgrader_config.py`` of a course folder: formgrader (``jupyter lab`` there) reads it."""
    lines = ["c = get_config()  # noqa: F821 - nbgrader's configuration loader provides it",
             f"c.CourseDirectory.course_id = {COURSE_ID!r}"]
    if db_url:
        lines.append(f"c.CourseDirectory.db_url = {with_driver(db_url)!r}")
    return "\n".join(lines) + "\n"
