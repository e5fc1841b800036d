"""``cvcourse bench``: execution time of every solution notebook (as a student runs it, on this
machine's device), alone and beside a busy neighbour; a whole ``cvcourse grade`` run on the sample
submissions; and the grader's throughput on a synthetic class with one worker, two workers and a
two-worker Dask cluster on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .course import SOLUTIONS
from .notebook_run import execute_copy

#: Time budget of each notebook on a 2-core CPU (s), from the issues.
BUDGETS = {"01_conv_pool": 60, "02_transposed_conv": 120, "03_unet": 120, "04_rcnn": 180,
           "05_visualization": 180, "06_deepdream": 180, "07_style_transfer": 180, "08_adversarial": 180}


@contextlib.contextmanager
def busy_neighbour() -> Iterator[list[subprocess.Popen]]:
    """Within the block, one process per core this process may use spins at full speed.

    Yields:
        The spinning processes (still running at the end of the block, unless something killed them).
    """
    spin = "while True:\n    pass\n"
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in os.sched_getaffinity(0)]
    try:
        yield spinners
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()


def shapes_rate(n: int = 2000, size: int = 64) -> float:
    """Scenes per second that the shapes generator makes at ``size``."""
    from course_utils.data import make_scenes

    start = time.perf_counter()
    make_scenes(n, size, seed=0)
    return n / (time.perf_counter() - start)


def sandbox_overhead(name: str, out: Path) -> dict[str, float]:
    """Seconds per submission grading ``name``'s samples with and without the sandbox."""
    from .grade import grade

    per = {}
    for sandboxed in (False, True):
        start = time.perf_counter()
        results = grade(None, out / str(sandboxed), [name], progress=lambda _: None, sandboxed=sandboxed, fresh=True)
        per[sandboxed] = (time.perf_counter() - start) / len(results)
    print(f"sandbox overhead on {name}: {per[True]:.1f} s per submission sandboxed, {per[False]:.1f} s without "
          f"(+{per[True] - per[False]:.1f} s)")
    return {"seconds per submission, sandboxed": round(per[True], 2),
            "seconds per submission, no sandbox": round(per[False], 2)}


def _notebook_seconds(name: str, out: Path) -> float:
    _, seconds = execute_copy(SOLUTIONS / name, f"{name}.ipynb", out / name,
                              COURSE_FIGURE_DIR=str(out / name / "figures"))
    return seconds


def throughput(names: list[str], out: Path, size: int) -> dict[str, float]:
    """Submissions per minute grading a synthetic class of ``size`` students (:func:`autograder.samples.
    write_class`) on ``names``: with 1 worker, 2 workers, and a 2-worker Dask cluster on loopback."""
    from .grade import grade
    from .runners import loopback_cluster
    from .samples import write_class

    subs = out / "class"
    shutil.rmtree(subs, ignore_errors=True)
    write_class(subs, names, size)
    figures, scores, serial = {}, {}, None
    print(f"{'grading a class of ' + str(size) + ' students':<34}{'jobs':>6}{'seconds':>10}{'per minute':>12}"
          f"{'speed-up':>10}")
    runs = [("1 worker", {"workers": 1}), ("2 workers", {"workers": 2}), ("Dask, 2 workers on loopback", None)]
    for label, options in runs:
        with contextlib.ExitStack() as stack:
            if options is None:
                options = {"scheduler": stack.enter_context(loopback_cluster(2))}
            start = time.perf_counter()
            results = grade(subs, out / label.split(",")[0].replace(" ", "-"), names, progress=lambda _: None,
                            fresh=True, **options)
            seconds = time.perf_counter() - start
        rate = len(results) * 60 / seconds
        serial = serial or rate
        scores[label] = sorted((r.student, r.assignment, r.status, r.auto_score) for r in results)
        figures[f"class of {size}: {label}, submissions per minute"] = round(rate, 2)
        print(f"{label:<34}{len(results):>6}{seconds:>10.1f}{rate:>12.2f}{rate / serial:>9.2f}x")
    same = all(s == scores["1 worker"] for s in scores.values())
    print(f"same statuses and scores in every run: {'yes' if same else 'NO'}")
    figures["class: same results in every run"] = same
    return figures


def run(names: list[str], out: Path, grade_too: bool = True, class_size: int = 0, notebooks: bool = True) -> int:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    figures = {}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}")
    rate = shapes_rate()
    figures["shapes scenes per second (64x64)"] = round(rate)
    print(f"shapes generator: {rate:.0f} scenes/s at 64x64 (2000 scenes)")
    if notebooks:
        print(f"{'notebook':<24}{'alone (s)':>10}{'busy (s)':>10}{'budget':>8}   busy: another process on every core")
    for name in names if notebooks else []:
        alone = _notebook_seconds(name, out / "run")
        with busy_neighbour():
            busy = _notebook_seconds(name, out / "run-busy")
        figures[name] = round(alone, 1)
        figures[f"{name} beside a busy neighbour"] = round(busy, 1)
        budget = BUDGETS.get(name)
        print(f"{name:<24}{alone:>10.1f}{busy:>10.1f}{(f'{budget}s' if budget else '-'):>8}")
    if grade_too:
        from .grade import grade

        workers = len(os.sched_getaffinity(0))  # as `cvcourse grade` does by default
        start = time.perf_counter()
        results = grade(None, out / "grade", names, progress=lambda _: None, fresh=True, workers=workers)
        seconds = time.perf_counter() - start
        figures["cvcourse grade"] = round(seconds, 1)
        print(f"{'cvcourse grade':<24}{seconds:>10.1f}   ({len(results)} submissions, {workers} at a time)")
        figures.update(sandbox_overhead(names[0], out / "overhead"))
    if class_size:
        figures.update(throughput(names, out / "throughput", class_size))
    (out / "bench.json").write_text(json.dumps(figures, indent=2))
    return 0
