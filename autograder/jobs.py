"""A submission's execution as a job any process can run: on a thread of the grader, or on a Dask worker.

nbgrader prepares the notebook in the grader's process (locked cells restored from the gradebook) and
:class:`ExecuteLater`, its execute step, writes it out as a :class:`Job` instead of running it. The job
carries everything the run needs as plain data (the notebook, the assignment's files, the batch's cases,
the limits), so the machine that runs it needs the course's environment and nothing of the grader's
folders. What comes back, an :class:`Outcome`, is the executed notebook and how the run went; scoring,
the gradebook and the feedback stay in the grader's process.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from course_utils.grading import CASES_ENV

from .execute import Execution, execute
from .sandbox import Limits

#: What :class:`ExecuteLater` writes into a job's folder.
JOB_NOTEBOOK, JOB_FILES = "notebook.ipynb", "files.tar"


@dataclass
class Job:
    """What running one submission needs.

    Attributes:
        student, assignment: whose notebook it is (for messages and task names).
        notebook: the notebook as nbgrader prepared it, nbformat JSON.
        files: a tar of the assignment's files the kernel may read (no notebooks).
        cases: the batch's cases file of the assignment (inputs and visible expected values only).
        sandboxed: run the kernel in the sandbox.
        limits: what the submission may use (the grader's, wherever the job runs).
    """

    student: str
    assignment: str
    notebook: str
    files: bytes
    cases: bytes
    sandboxed: bool = True
    limits: Limits = field(default_factory=Limits.from_env)

    @property
    def key(self) -> str:
        return f"{self.student}/{self.assignment}"


@dataclass
class Outcome:
    """What a job gives back: the executed notebook (nbformat JSON) and how the run went."""

    notebook: str
    execution: Execution


def tar_folder(folder: Path) -> bytes:
    """The files under ``folder`` (notebooks left out) as an uncompressed tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.suffix != ".ipynb":
                tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


def untar_files(data: bytes, dest: Path) -> None:
    """Write the files of a :func:`tar_folder` tar under ``dest``; anything else in it is refused.

    Raises:
        ValueError: an entry that is not a plain file, or whose path leads out of ``dest``.
    """
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if not member.isfile() or not target.is_relative_to(dest.resolve()):
                raise ValueError(f"not a plain file of the assignment's folder: {member.name!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())


def run_job(job: Job) -> Outcome:
    """Execute the job's notebook in a fresh scratch folder holding the assignment's files and cases.

    Never raises for anything the notebook does. Once its kernel runs, whatever the kernel does (dies,
    hangs, sends messages the grader cannot read) is judged by :func:`autograder.execute.execute` as the
    student's: the run stops with a status and the outputs kept so far. An exception that reaches here
    is the executor's own failure (the sandbox or the assignment's files unusable): it comes back as an
    :class:`Execution` marked ``infrastructure`` (the machine's fault, to be run again).
    """
    nb = nbformat.reads(job.notebook, as_version=4)
    work = Path(tempfile.mkdtemp(prefix="cvjob-"))
    scratch = work / "scratch"
    try:
        scratch.mkdir()
        untar_files(job.files, scratch)
        (scratch / "cases.pt").write_bytes(job.cases)
        env = {CASES_ENV: str(scratch / "cases.pt"), "NBGRADER_EXECUTION": "autograde"}
        run = execute(nb, scratch, job.limits, env, sandboxed=job.sandboxed)
    except Exception as exc:  # noqa: BLE001 - the grader's own failure: reported, never the student's
        run = Execution(status=f"the executor failed ({type(exc).__name__}: {exc})"[:300], infrastructure=True,
                        sandboxed=job.sandboxed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Outcome(nbformat.writes(nb), run)


class ExecuteLater(NbGraderPreprocessor):
    """nbgrader's autograde step that would execute the notebook: it writes out what the job will run.

    Into the folder ``job`` go ``notebook.ipynb`` (the notebook as nbgrader prepared it) and ``files.tar``
    (the assignment's files). The notebook goes on through nbgrader's later steps without outputs; the
    grader runs the job, puts its outputs into the autograded notebook and scores them
    (:mod:`autograder.grade`).
    """

    job = Unicode("", help="folder the job's notebook and files are written to").tag(config=True)

    def preprocess(self, nb, resources):
        folder = Path(self.job)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / JOB_NOTEBOOK).write_text(nbformat.writes(nb), encoding="utf-8")
        (folder / JOB_FILES).write_bytes(tar_folder(Path(resources["metadata"]["path"])))
        return nb, resources
