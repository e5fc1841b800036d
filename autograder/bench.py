"""``cvcourse bench``: execution time of every solution notebook (as a student runs it, on this
machine's device), alone and beside a busy neighbour, and of a whole ``cvcourse grade`` run on the
sample submissions."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .course import SOLUTIONS
from .notebook_run import execute_copy

#: Time budget of each notebook on a 2-core CPU (s), from the issues.
BUDGETS = {"01_conv_pool": 60, "02_transposed_conv": 120, "03_unet": 120, "04_rcnn": 180,
           "05_visualization": 180, "06_deepdream": 180, "07_style_transfer": 180}


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
        results = grade(None, out / str(sandboxed), [name], progress=lambda _: None, sandboxed=sandboxed)
        per[sandboxed] = (time.perf_counter() - start) / len(results)
    print(f"sandbox overhead on {name}: {per[True]:.1f} s per submission sandboxed, {per[False]:.1f} s without "
          f"(+{per[True] - per[False]:.1f} s)")
    return {"seconds per submission, sandboxed": round(per[True], 2),
            "seconds per submission, no sandbox": round(per[False], 2)}


def _notebook_seconds(name: str, out: Path) -> float:
    _, seconds = execute_copy(SOLUTIONS / name, f"{name}.ipynb", out / name,
                              COURSE_FIGURE_DIR=str(out / name / "figures"))
    return seconds


def run(names: list[str], out: Path, grade_too: bool = True) -> int:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    figures = {}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}")
    rate = shapes_rate()
    figures["shapes scenes per second (64x64)"] = round(rate)
    print(f"shapes generator: {rate:.0f} scenes/s at 64x64 (2000 scenes)")
    print(f"{'notebook':<24}{'alone (s)':>10}{'busy (s)':>10}{'budget':>8}   busy: another process on every core")
    for name in names:
        alone = _notebook_seconds(name, out / "run")
        with busy_neighbour():
            busy = _notebook_seconds(name, out / "run-busy")
        figures[name] = round(alone, 1)
        figures[f"{name} beside a busy neighbour"] = round(busy, 1)
        budget = BUDGETS.get(name)
        print(f"{name:<24}{alone:>10.1f}{busy:>10.1f}{(f'{budget}s' if budget else '-'):>8}")
    if grade_too:
        from .grade import grade

        start = time.perf_counter()
        results = grade(None, out / "grade", names, progress=lambda _: None)
        seconds = time.perf_counter() - start
        figures["cvcourse grade"] = round(seconds, 1)
        print(f"{'cvcourse grade':<24}{seconds:>10.1f}   ({len(results)} submissions)")
        figures.update(sandbox_overhead(names[0], out / "overhead"))
    (out / "bench.json").write_text(json.dumps(figures, indent=2))
    return 0
