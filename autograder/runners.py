"""Where jobs run: on threads of the grader (``cvcourse grade --workers N``) or on a Dask cluster
(``--scheduler ADDRESS``).

A job is mostly waiting: its kernel is a separate, sandboxed process, and the grader's side only passes
messages. So N threads of the grader run N submissions at once on one machine. Beyond one machine, Dask
distributed runs the same :func:`autograder.jobs.run_job` on its workers; each worker needs the course's
environment (the same ``pip install``) and bubblewrap, and nothing else of the grader's.

Both runners return futures with ``add_done_callback``; :meth:`outcome` turns a finished future into an
:class:`~autograder.jobs.Outcome`, also when the worker running it died.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .execute import Execution
from .jobs import Job, Outcome, run_job

#: Status of a submission whose Dask worker died while running it (it is not run again).
WORKER_DIED = "its grading worker died while running it"


class ThreadRunner:
    """``workers`` jobs at a time on threads of this process."""

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ValueError(f"--workers must be at least 1, not {workers}")
        self.workers = workers
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade-job")

    def describe(self) -> str:
        return f"{self.workers} worker thread(s)"

    def slots(self) -> int:
        """Jobs that can run at once."""
        return self.workers

    def submit(self, job: Job) -> concurrent.futures.Future:
        return self._pool.submit(run_job, job)

    def outcome(self, future, job: Job) -> Outcome:
        try:
            return future.result()
        except Exception as exc:  # noqa: BLE001 - run_job catches the kernel's failures; this is the grader's
            return _failed(job, f"the job failed in the grader ({type(exc).__name__}: {exc})", infrastructure=True)

    def close(self, wait: bool = True) -> None:
        """Cancel the jobs not started; with ``wait``, wait for the running ones to end."""
        self._pool.shutdown(wait=wait, cancel_futures=True)


class DaskRunner:
    """Jobs on the workers of the Dask scheduler at ``address`` (``tcp://host:8786``).

    A job whose worker dies is not given to another worker (the scheduler's ``allowed_failures`` is set to
    0 for this): a submission that kills its worker would otherwise take the next one down too. It scores
    zero with the reason, and the other jobs go on. So that no other job counts as having been on that
    worker, each worker is given only as many jobs as it has threads (the scheduler's worker saturation is
    set to 1) and the grader hands out no more jobs than there are threads (:meth:`slots`).
    """

    def __init__(self, address: str, timeout: float = 30):
        from distributed import Client

        self.address = address
        self.client = Client(address, timeout=timeout, set_as_default=False)
        self.client.run_on_scheduler(_no_retries)

    def _workers(self) -> dict:
        return self.client.scheduler_info(n_workers=-1).get("workers", {})

    def describe(self) -> str:
        workers = self._workers()
        return f"Dask scheduler {self.address}: {len(workers)} worker(s), {self.slots()} thread(s)"

    def slots(self) -> int:
        """Threads of the cluster's workers now (at least 1: jobs wait for a worker to come)."""
        return max(1, sum(w.get("nthreads", 0) for w in self._workers().values()))

    def submit(self, job: Job) -> Any:
        return self.client.submit(run_job, job, pure=False, retries=0, key=f"grade-{job.student}-{job.assignment}-"
                                  + _unique())

    def outcome(self, future, job: Job) -> Outcome:
        from distributed import KilledWorker

        try:
            return future.result()
        except KilledWorker as exc:
            worker = getattr(exc.args[1], "address", "") if len(exc.args) > 1 else ""
            return _failed(job, f"{WORKER_DIED} ({worker or 'worker lost'})", infrastructure=False)
        except Exception as exc:  # noqa: BLE001 - the cluster's failure, not the student's
            return _failed(job, f"the cluster could not run it ({type(exc).__name__}: {exc})"[:300],
                           infrastructure=True)

    def close(self, wait: bool = True) -> None:
        """Leave the cluster (jobs running on its workers go on there, their outcomes unread)."""
        self.client.close()


def _no_retries(dask_scheduler) -> None:
    dask_scheduler.allowed_failures = 0
    dask_scheduler.WORKER_SATURATION = 1.0


def _unique() -> str:
    import uuid

    return uuid.uuid4().hex[:12]


def _failed(job: Job, status: str, infrastructure: bool) -> Outcome:
    """The job's notebook without outputs, and why it has none."""
    return Outcome(job.notebook, Execution(status=status, infrastructure=infrastructure, sandboxed=job.sandboxed))


def runner(workers: int = 1, scheduler: str | None = None) -> ThreadRunner | DaskRunner:
    """The runner a grading run asked for: a Dask cluster when ``scheduler`` is given, else threads."""
    return DaskRunner(scheduler) if scheduler else ThreadRunner(workers)


@contextlib.contextmanager
def loopback_cluster(workers: int = 2, folder: Path | None = None) -> Iterator[str]:
    """A Dask scheduler and ``workers`` one-thread workers (each under a nanny that restarts it), started as
    separate processes on 127.0.0.1 as an instructor would start them (``dask scheduler``, ``dask worker``);
    yields the scheduler's address and stops them all at the end.
    """
    from distributed import Client

    folder = Path(tempfile.mkdtemp(prefix="cvdask-")) if folder is None else folder
    file = folder / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--dashboard-address", ":0", "--scheduler-file", str(file)], **quiet)]
    try:
        deadline = time.monotonic() + 120
        while not (file.exists() and file.read_text().strip()):
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise RuntimeError("the Dask scheduler did not start")
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        for i in range(workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--nworkers", "1",
                 "--host", "127.0.0.1", "--dashboard-address", ":0", "--name", f"grader-{i}"], **quiet))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=300)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
