"""Grading a class in parallel: worker threads and a Dask cluster give the same results as one at a time,
a submission whose worker dies scores zero with the reason while the others finish, a fork bomb cannot
starve the kernel next to it, an interrupted batch resumes without grading anything twice, and grading
again never loses a manual grade.

The reference run is the session's grading of the samples, two at a time (``graded_samples``). The Dask cluster is a
scheduler and two workers started as separate processes on loopback, as an instructor would start them
(``dask scheduler``, ``dask worker``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder.grade import grade
from autograder.runners import WORKER_DIED, loopback_cluster
from autograder.samples import filled, write_samples

from submissions import prepend

NAME = "01_conv_pool"
SAMPLES = ("blank", "partial", "perfect")


def _scores(results) -> dict:
    """What must not depend on how a batch was run: status, points and every case's verdict."""
    return {(r.student, r.assignment): (r.status, r.auto_score, r.auto_max, {
        n: (s.passed, s.total, s.earned, s.problems, s.forbidden) for n, s in r.exercises.items()})
        for r in results}


def _two_at_a_time(graded_samples) -> dict:
    return _scores(r for (s, a), r in graded_samples["results"].items() if a == NAME)


def test_one_worker_grades_as_two_do(graded_samples, tmp_path):
    lines = []
    results = grade(None, tmp_path / "out", [NAME], progress=lines.append, workers=1)
    assert "on 1 worker thread(s)" in lines[0]
    assert _scores(results) == _two_at_a_time(graded_samples)


def test_an_interrupted_batch_resumes_and_a_regrade_keeps_manual_grades(graded_samples, tmp_path):
    out = tmp_path / "out"

    def stop_after_two(line: str) -> None:
        graded.append(line)
        if len(graded) == 3:  # the header, then two submissions
            raise KeyboardInterrupt

    graded: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        grade(None, out, [NAME], progress=stop_after_two)
    first = [line.split()[0] for line in graded[1:]]

    lines: list[str] = []
    results = grade(None, out, [NAME], progress=lines.append)
    assert lines[0] == "2 submission(s) kept from before, 1 to grade"
    again = [line.split()[0] for line in lines[2:]]
    assert len(again) == 1 and again[0] not in first
    assert _scores(results) == _two_at_a_time(graded_samples)

    from nbgrader.api import Gradebook

    db = f"sqlite:///{out / 'course' / 'gradebook.db'}"
    with Gradebook(db, "cvcourse") as gb:
        manual = next(g for nb in gb.find_submission(NAME, "perfect").notebooks for g in nb.grades
                      if not g.name.startswith("test_"))
        manual.manual_score = manual.max_score
        gb.db.commit()
        name = manual.name
    lines = []
    (perfect,) = grade(None, out, [NAME], progress=lines.append, students=["perfect"])
    assert lines[0].startswith("grading 1 submission(s)")
    with Gradebook(db, "cvcourse") as gb:
        kept = next(g for nb in gb.find_submission(NAME, "perfect").notebooks for g in nb.grades if g.name == name)
        assert kept.manual_score == kept.max_score
    assert perfect.manual_score >= kept.max_score and perfect.auto_score == perfect.auto_max
    rows = (out / "grades.csv").read_text().splitlines()
    assert len(rows) == 1 + len(SAMPLES)  # every student of the class, not only the one graded again


def _processes_mentioning(text: str) -> list[int]:
    """Pids of the processes whose command line or working folder mentions ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(proc / "cwd") if proc.name.isdigit() else ""
        except OSError:
            continue
        if proc.name.isdigit() and int(proc.name) != os.getpid() and (text in cmdline or text in cwd):
            found.append(int(proc.name))
    return found


def test_ctrl_c_stops_a_batch_at_once_and_the_next_run_goes_on(tmp_path):
    """Ctrl-C while a kernel sleeps: `cvcourse grade` exits at once (not when the cell ends) with no kernel
    left behind, and the same command then grades what was not finished."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_samples(subs, [NAME])
    slow = subs / "perfect" / NAME / f"{NAME}.ipynb"
    nbformat.write(prepend(filled(NAME), "import time\ntime.sleep(40)"), slow)
    command = [sys.executable, "-m", "autograder.cli", "grade", str(subs), "--out", str(out), "--assignment", NAME,
               "--workers", "2"]
    grader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in grader.stdout:  # blank and partial take a few seconds; perfect sleeps 40 s in its kernel
        lines.append(line)
        if "partial" in line and "automatic points" in line:
            break
    time.sleep(2)
    stopped = time.monotonic()
    grader.send_signal(signal.SIGINT)
    stdout, stderr = grader.communicate(timeout=60)
    assert grader.returncode == 130 and time.monotonic() - stopped < 15, (lines, stdout, stderr)
    assert "run the same command again" in stderr
    time.sleep(2)
    assert _processes_mentioning(str(out)) == []  # no kernel, no sandbox left
    nbformat.write(filled(NAME), slow)  # handed in again without the nap
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "2 submission(s) kept from before, 1 to grade" in again.stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Dask scheduler and two one-thread workers, separate processes on loopback."""
    with loopback_cluster(2, tmp_path_factory.mktemp("dask")) as address:
        yield address


def _kill_worker_running(address: str, student: str, killed: list) -> None:
    """Kill (SIGKILL) the Dask worker process that runs ``student``'s job, once it runs."""
    from distributed import Client

    with Client(address, timeout=60) as client:
        for _ in range(3000):
            for worker, keys in client.processing().items():
                if any(str(k).startswith(f"grade-{student}-") for k in keys):
                    time.sleep(3)  # its kernel is starting or running
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(worker)
                    return
            time.sleep(0.1)


def test_a_dask_cluster_grades_as_one_machine_does_and_survives_a_dead_worker(cluster, graded_samples, tmp_path):
    subs = tmp_path / "subs"
    write_samples(subs, [NAME])
    sleeper = prepend(filled(NAME), "import time\ntime.sleep(50)")
    crasher = prepend(filled(NAME), "import os\nos._exit(1)", "conv_forward_naive")
    for student, nb in (("sleeper", sleeper), ("crasher", crasher)):
        (subs / student / NAME).mkdir(parents=True)
        nbformat.write(nb, subs / student / NAME / f"{NAME}.ipynb")

    killed: list[str] = []
    killer = threading.Thread(target=_kill_worker_running, args=(cluster, "sleeper", killed), daemon=True)
    killer.start()
    lines: list[str] = []
    results = {r.student: r for r in grade(subs, tmp_path / "out", [NAME], progress=lines.append,
                                           scheduler=cluster)}
    killer.join(timeout=60)
    assert "Dask scheduler" in lines[0] and "2 worker(s)" in lines[0]
    assert killed, "the sleeper's worker was never found running it"
    sleeper = results["sleeper"]
    assert sleeper.status.startswith(f"failed: {WORKER_DIED}") and sleeper.auto_score == 0
    crasher = results["crasher"]
    assert crasher.status.startswith("failed: the kernel died") and 0 < crasher.auto_score < crasher.auto_max
    assert _scores(results[s] for s in SAMPLES) == _two_at_a_time(graded_samples)

    from distributed import Client

    with Client(cluster, timeout=60) as client:
        client.wait_for_workers(2, timeout=120)  # the nanny started a new worker in place of the dead one



FORK_BOMB = """import os, time
count = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        count += 1
except OSError as exc:
    print('FORKED', count, 'then', type(exc).__name__, flush=True)
time.sleep(20)
"""
NEIGHBOUR = """import os
pids = []
try:
    for _ in range(8):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        pids.append(pid)
    print('NEIGHBOUR FORKED', len(pids))
except OSError as exc:
    print('NEIGHBOUR BLOCKED', type(exc).__name__)
for pid in pids:
    os.waitpid(pid, 0)
"""


def _sandboxed(code: str, uid: int, limits) -> subprocess.Popen:
    from autograder import sandbox

    scratch = sandbox.prepare_writable(Path(tempfile.mkdtemp(prefix="cvtest-")), uid)
    argv = sandbox.command([sys.executable, "-c", code], [scratch], scratch, sandbox.environment(scratch, {}),
                           limits, uid)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes change uid only when the grader is root")
def test_a_fork_bomb_next_door_cannot_stop_a_kernel_from_starting_processes():
    """The process limit counts every process of a uid on the machine. A sandbox that forks until its limit
    stops it leaves a neighbour with the same uid unable to fork (the attack, shown first); a neighbour
    holding another uid slot, as every job does, is not affected."""
    from autograder import sandbox

    limits = sandbox.Limits(processes=64)
    for same_uid in (True, False):
        with sandbox.uid_slot() as uid:
            bomb = _sandboxed(FORK_BOMB, uid, limits)
            assert "FORKED" in bomb.stdout.readline()  # the bomb holds its processes now
            if same_uid:
                neighbour = _sandboxed(NEIGHBOUR, uid, limits)
                expected = "NEIGHBOUR BLOCKED"
            else:
                with sandbox.uid_slot() as other:
                    assert other != uid
                    neighbour = _sandboxed(NEIGHBOUR, other, limits)
                    expected = "NEIGHBOUR FORKED 8"
            said = neighbour.communicate(timeout=120)[0]
            bomb.kill()
            bomb.communicate()
            assert expected in said, said
