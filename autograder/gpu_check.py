"""``cvcourse gpu-check``: everything the course promises about a GPU, checked in one run on one machine.

1. **references**: each assignment's reference outputs made afresh on the device and compared with the
   committed ones (made on the CPU), exercise by exercise: the largest deviation against the tolerance;
2. **notebooks**: every solution notebook run top to bottom on the device (and, with ``cpu_too``, on the
   CPU of the same machine), with their times;
3. **grade**: the sample submissions graded with kernels on the device (``CVCOURSE_DEVICE``; perfect full
   marks, blank none, partial exactly the points of its bugs lost);
4. **tests**: the test suite with the device chosen (``COURSE_DEVICE``), in as many processes as there
   are cores when pytest-xdist is there.

Each stage is timed and may be skipped; the report goes to ``OUT/gpu-check.md`` and ``OUT/gpu-check.json``
as it is made, so a stage that outruns its time leaves the ones before it. The command exits 1 if any
check failed. On a machine without the device it stops at once and says so.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .course import REPO, SOLUTIONS

STAGES = ("references", "notebooks", "grade", "tests")


class Report:
    """The check's findings, written out whole after every addition."""

    def __init__(self, out: Path):
        self.out, self.data, self.lines, self.failed = out, {}, [], False
        out.mkdir(parents=True, exist_ok=True)

    def add(self, stage: str, data, lines: list[str], ok: bool = True) -> None:
        self.data[stage] = data
        self.lines += [f"## {stage}", "", *lines, ""]
        self.failed |= not ok
        (self.out / "gpu-check.json").write_text(json.dumps(self.data, indent=1, default=str))
        (self.out / "gpu-check.md").write_text("\n".join(["# cvcourse gpu-check", "", *self.lines]))
        print("\n".join(lines), flush=True)


def _machine(device: str) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cores": os.cpu_count(),
            "device": device}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def check_references(names: list[str], device: str) -> tuple[dict, list[str], bool]:
    """Fresh references on ``device`` against the committed ones: per exercise, the largest deviation."""
    from . import reference_outputs

    data, lines, ok = {}, ["| exercise | max abs | max rel | within tolerance |", "|---|---|---|---|"], True
    for name in names:
        start = time.perf_counter()
        try:
            rows = reference_outputs.deviations(name, device)
        except Exception as exc:  # noqa: BLE001 - reported, and the other assignments still checked
            data[name] = f"failed: {type(exc).__name__}: {str(exc)[-300:]}"
            lines.append(f"| {name} | - | - | FAILED: {type(exc).__name__}: {str(exc)[-200:]} |")
            ok = False
            continue
        data[name] = {"seconds": round(time.perf_counter() - start, 1),
                      "exercises": {key: {"max_abs": a, "max_rel": r, "ok": good} for key, a, r, good in rows}}
        lines += [f"| {name} {key} | {a:.2e} | {r:.2e} | {'yes' if good else 'NO'} |" for key, a, r, good in rows]
        ok &= all(good for *_, good in rows)
    return data, lines, ok


def time_notebooks(names: list[str], device: str, out: Path, cpu_too: bool) -> tuple[dict, list[str], bool]:
    """Every solution notebook top to bottom on ``device`` (and on the CPU too): seconds, or the error."""
    from .notebook_run import execute_copy

    places = list(dict.fromkeys((device, "cpu") if cpu_too else (device,)))
    data, ok = {}, True
    lines = ["| notebook | " + " | ".join(f"{where} (s)" for where in places) + " |", "|---" * (len(places) + 1) + "|"]
    for name in names:
        data[name] = {}
        for where in places:
            try:
                _, seconds = execute_copy(SOLUTIONS / name, f"{name}.ipynb", out / where / name, timeout=900,
                                          COURSE_DEVICE=where, COURSE_FIGURE_DIR=str(out / where / name / "figures"))
                data[name][where] = round(seconds, 1)
            except Exception as exc:  # noqa: BLE001 - reported, and the check fails
                data[name][where] = f"failed: {type(exc).__name__}: {str(exc)[-300:]}"
                ok = False
        lines.append(f"| {name} | " + " | ".join(str(data[name][where]) for where in places) + " |")
    return data, lines, ok


def grade_samples(names: list[str], device: str, out: Path) -> tuple[dict, list[str], bool]:
    """The sample submissions graded with kernels on ``device``; each scores exactly as predicted."""
    from . import assignments as specs
    from .grade import grade
    from .notebook_run import environment
    from .sandbox import SandboxUnavailable

    workers = max(1, min(8, len(os.sched_getaffinity(0))))
    start = time.perf_counter()
    with environment(CVCOURSE_DEVICE=device):  # the device of every graded kernel (Limits.device)
        try:
            results, unsandboxed = grade(None, out, names, progress=lambda _: None, workers=workers, fresh=True), None
        except SandboxUnavailable as exc:  # bubblewrap missing or refused there: the samples are trusted
            unsandboxed = str(exc).splitlines()[0]  # why
            results = grade(None, out, names, progress=lambda _: None, workers=workers, fresh=True,
                            sandboxed=False)
    seconds = time.perf_counter() - start
    data, lines, ok = {"seconds": round(seconds, 1), "sandboxed": unsandboxed is None,
                                 "unsandboxed_because": unsandboxed}, [
        f"{len(results)} submissions in {seconds:.1f} s, {workers} at a time, "
        "in the sandbox" if unsandboxed is None else f"WITHOUT the sandbox ({unsandboxed})",
        "", "| student | assignment | score | expected |", "|---|---|---|---|"], True
    for r in results:
        points = {ex.name: ex.points for ex in specs.exercises(r.assignment)}
        lost = sum(points[b.exercise] for b in specs.bugs(r.assignment))
        expected = {"perfect": sum(points.values()), "blank": 0, "partial": sum(points.values()) - lost}[r.student]
        data[f"{r.student} {r.assignment}"] = {"score": r.auto_score, "expected": expected, "status": r.status}
        lines.append(f"| {r.student} | {r.assignment} | {r.auto_score:g} | {expected:g} |")
        ok &= r.auto_score == expected and r.status == "graded"
    return data, lines, ok


def run_tests(device: str, out: Path, timeout: int) -> tuple[dict, list[str], bool]:
    """The test suite with ``COURSE_DEVICE=device``, in parallel when pytest-xdist is installed."""
    import importlib.util

    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml", str(out / "tests.xml")]
    if importlib.util.find_spec("xdist") is not None:
        argv += ["-n", str(min(16, os.cpu_count() or 1))]
    start = time.perf_counter()
    log = (out / "tests.log").open("w")
    # a session of its own: at the time limit, pytest goes with every kernel and worker it started
    suite = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             env=dict(os.environ, COURSE_DEVICE=device))
    try:
        ok = suite.wait(timeout) == 0
        lines = (out / "tests.log").read_text(errors="replace").strip().splitlines()
        tail = [next((ln for ln in reversed(lines) if " in " in ln and ("passed" in ln or "failed" in ln)),
                     lines[-1] if lines else "(no output)")]
    except subprocess.TimeoutExpired:
        os.killpg(suite.pid, signal.SIGKILL)
        suite.wait()
        tail, ok = [f"stopped after {timeout} s"], False
    log.close()
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 1), "summary": tail[0]}, [f"{tail[0]} ({seconds:.0f} s)"], ok


def run(names: list[str], out: Path, device: str = "cuda", skip: tuple[str, ...] = (),
        test_timeout: int = 480, cpu_too: bool = False) -> int:
    """Run the stages not in ``skip`` for ``names`` into ``out``; 0 if every check passed, 1 if not, 2 if
    ``device`` is not there."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        print("cvcourse gpu-check: no CUDA device here (torch.cuda.is_available() is False); "
              "`--device cpu` runs the same checks on the CPU", file=sys.stderr)
        return 2
    report, machine = Report(out), _machine(device)
    report.add("machine", machine, [f"- {k}: {v}" for k, v in machine.items()])
    stages: dict[str, Callable[[], tuple[dict, list[str], bool]]] = {
        "references": lambda: check_references(names, device),
        "notebooks": lambda: time_notebooks(names, device, out / "notebooks", cpu_too),
        "grade": lambda: grade_samples(names, device, out / "grade"),
        "tests": lambda: run_tests(device, out, test_timeout),
    }
    for stage in STAGES:
        if stage in skip:
            continue
        start = time.perf_counter()
        data, lines, ok = stages[stage]()
        report.add(stage, data, lines + [f"({stage}: {time.perf_counter() - start:.0f} s)"], ok)
    print(f"report: {out / 'gpu-check.md'}; {'every check passed' if not report.failed else 'SOME CHECKS FAILED'}")
    return int(report.failed)
