"""The ``cvcourse`` command."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .course import NOTEBOOKS, REPO, assignments

DEFAULT_OUT = REPO / "work"


def _release(args) -> int:
    from .release import out_of_date, release

    names = assignments(args.assignments)
    if args.check:
        stale = out_of_date(names)
        if stale:
            print("notebooks/ is out of date with solutions/ (run `cvcourse release`):")
            print("\n".join(f"  {p}" for p in stale))
            return 1
        print(f"notebooks/ is up to date for {', '.join(names)}")
        return 0
    for folder in release(names):
        print(f"released {folder.relative_to(REPO)}")
    return 0


def _grade(args) -> int:
    from .grade import ERROR_LOG, grade
    from .report import summary, table
    from .sandbox import SandboxUnavailable

    names = assignments(args.assignment)
    start = time.perf_counter()
    try:
        results = grade(Path(args.submissions) if args.submissions else None, Path(args.out), names,
                        sandboxed=not args.no_sandbox, workers=args.workers, scheduler=args.scheduler,
                        db_url=args.db, students=args.student, fresh=args.fresh)
    except SandboxUnavailable as exc:
        print(f"cvcourse grade: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        # at once, without waiting for the kernels running now: each ends with this process (bubblewrap's
        # --die-with-parent, ipykernel's watch on its parent); what was graded is kept for the next run
        print("\ncvcourse grade: interrupted; run the same command again to go on where it stopped",
              file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(130)
    elapsed = time.perf_counter() - start
    print()
    print(table(results))
    out = Path(args.out).resolve()
    print(f"\nwrote {out / 'grades.csv'}, feedback in {out / 'feedback'}\n{summary(results)}, in {elapsed:.1f} s")
    unwritten = [r for r in results if r.feedback_failed]
    if unwritten:
        print(f"{len(unwritten)} feedback page(s) could not be written (their grades stand): see "
              f"{out / ERROR_LOG}", file=sys.stderr)
    errors = [r for r in results if r.infrastructure_error]
    if errors:
        print(f"{len(errors)} submission(s) could not be graded for a reason that is not the student's "
              f"(see the status column): grade them again", file=sys.stderr)
        return 1
    return 0


def _samples(args) -> int:
    from .samples import write_samples

    losses = write_samples(Path(args.dest), assignments(args.assignment))
    for student, lost in losses.items():
        print(f"{student}: expected to lose {', '.join(lost) if lost else 'nothing'}")
    print(f"wrote sample submissions to {Path(args.dest).resolve()}")
    return 0


def _references(args) -> int:
    from . import reference_outputs

    status = 0
    for name in assignments(args.assignment):
        if args.check:
            rows = reference_outputs.deviations(name, args.device)
            print(f"{name}: committed references vs a fresh run on {args.device}")
            for key, max_abs, max_rel, ok in rows:
                print(f"  {'ok  ' if ok else 'FAIL'} {key:<40} max abs {max_abs:.2e}  max rel {max_rel:.2e}")
                status |= not ok
        else:
            visible, hidden = reference_outputs.write(name, args.device)
            print(f"{name}: wrote {visible.relative_to(REPO)} and {hidden.relative_to(REPO)}")
    return int(status)


def _lab(args) -> int:
    from . import lab

    home = lab.prepare(args.home or lab.DEFAULT_HOME)
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    argv = lab.command(args.port, extra=extra)
    print(f"cvcourse lab: JupyterLab on {NOTEBOOKS} at {lab.LOOPBACK}; nbgrader's configuration and exchange "
          f"in {home.root}", flush=True)
    os.chdir(NOTEBOOKS)
    os.execve(argv[0], argv, lab.environment(home))
    return 0  # not reached


def _course(args) -> int:
    from .course import prepare_course

    names = assignments(args.assignment)
    root = (Path(args.out) / "course").resolve()
    prepare_course(root, names, args.db, keep=True)
    print(f"course folder {root} is ready for {', '.join(names)} (what `cvcourse grade --out {args.out}` uses)\n"
          f"  release through nbgrader's exchange:  cd {root} && nbgrader release_assignment NAME\n"
          f"  after the deadline:                   nbgrader collect NAME\n"
          f"                                        cvcourse grade {root / 'submitted'} --out {args.out}\n"
          f"  return the feedback:                  nbgrader release_feedback NAME")
    return 0


def _classroom(args) -> int:
    from .classroom import setup

    if hasattr(os, "geteuid") and os.geteuid() != 0:
        print("cvcourse classroom: not root; the exchange and the configuration will be yours only",
              file=sys.stderr)
    for path in setup(args.config, args.exchange):
        print(f"wrote {path}")
    return 0


def _doctor(args) -> int:
    from .doctor import report

    print(report())
    return 0


def _bench(args) -> int:
    from .bench import run

    return run(assignments(args.assignment), Path(args.out), grade_too=not args.no_grade, class_size=args.class_size,
               notebooks=not args.no_notebooks)


def _gpu_check(args) -> int:
    from .gpu_check import run

    return run(assignments(args.assignment), Path(args.out), args.device, tuple(args.skip or ()), args.test_timeout,
               args.cpu_too)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cvcourse", description="How convolutional networks see: course tools")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="regenerate notebooks/ from solutions/")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    p.add_argument("--check", action="store_true", help="exit 1 and name the files if notebooks/ is out of date")
    p.set_defaults(func=_release)

    p = sub.add_parser("grade", help="autograde submissions, write feedback and grades.csv")
    p.add_argument("submissions", nargs="?", help="folder <student>/<assignment>/*.ipynb or a zip of one "
                                                  "(default: the bundled sample submissions)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="working folder (default: work/)")
    p.add_argument("--assignment", action="append", help="grade only this assignment (repeatable)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run student kernels WITHOUT the sandbox (trusted submissions only; marked in the report)")
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), metavar="N",
                   help="submissions graded at once on this machine, each in its own sandbox (default: one per "
                        "core, here %(default)s)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the submissions on the workers of this Dask scheduler (tcp://host:8786)")
    p.add_argument("--db", metavar="URL", help="the gradebook's database (default: sqlite in OUT/course; "
                                               "e.g. postgresql://grader@localhost/cvcourse)")
    p.add_argument("--student", action="append", metavar="NAME",
                   help="grade only this student, again even if graded before (repeatable)")
    p.add_argument("--fresh", action="store_true",
                   help="grade everything again from a new course folder (default: resume, keeping what was "
                        "graded from the same notebooks)")
    p.set_defaults(func=_grade)

    p = sub.add_parser("samples", help="write the perfect, blank and partial sample submissions")
    p.add_argument("dest")
    p.add_argument("--assignment", action="append")
    p.set_defaults(func=_samples)

    p = sub.add_parser("references", help="regenerate (or --check) reference outputs from the solutions")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--check", action="store_true", help="compare the committed references with a fresh run")
    p.add_argument("--assignment", action="append")
    p.set_defaults(func=_references)

    p = sub.add_parser("lab", help="open JupyterLab on notebooks/ (nbgrader's Assignment list and Validate set up)")
    p.add_argument("--port", type=int, help="port on 127.0.0.1 (default: 8888 or the next free one)")
    p.add_argument("--home", type=Path,
                   help="folder for nbgrader's configuration, exchange and cache (default: work/lab/)")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="arguments passed to jupyter lab")
    p.set_defaults(func=_lab)

    p = sub.add_parser("course", help="make (or bring up to date) the course folder that releases assignments "
                                      "through nbgrader's exchange and that `cvcourse grade` grades in")
    p.add_argument("assignment", nargs="*", help="assignment ids (default: all)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="working folder, as for grade (default: work/)")
    p.add_argument("--db", metavar="URL", help="the gradebook's database, as for grade")
    p.set_defaults(func=_course)

    from .classroom import DEFAULT_CONFIG, DEFAULT_EXCHANGE

    p = sub.add_parser("classroom", help="set up nbgrader's exchange and its configuration on a JupyterHub "
                                         "machine (as root; see autograder/hub/jupyterhub_config.py)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                   help="the Jupyter configuration folder every account reads (default: %(default)s)")
    p.add_argument("--exchange", type=Path, default=DEFAULT_EXCHANGE,
                   help="nbgrader's exchange folder (default: %(default)s)")
    p.set_defaults(func=_classroom)

    p = sub.add_parser("doctor", help="report versions, device, cached weights and nbgrader extensions")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("bench", help="time every solution notebook and a full grading run")
    p.add_argument("--assignment", action="append")
    p.add_argument("--out", default=str(DEFAULT_OUT / "bench"))
    p.add_argument("--no-grade", action="store_true", help="time the notebooks only")
    p.add_argument("--no-notebooks", action="store_true", help="time grading only")
    p.add_argument("--class-size", type=int, default=0, metavar="N",
                   help="also grade a synthetic class of N students with 1 and 2 workers and a 2-worker Dask "
                        "cluster, and print submissions per minute (perfect, partial, blank, crasher, patcher)")
    p.set_defaults(func=_bench)

    from .gpu_check import STAGES

    p = sub.add_parser("gpu-check", help="references, solution notebooks, grading and tests on a GPU, with a report")
    p.add_argument("--device", default="cuda", help="cuda (default), or cpu to try the check without a GPU")
    p.add_argument("--assignment", action="append")
    p.add_argument("--out", default=str(DEFAULT_OUT / "gpu-check"))
    p.add_argument("--skip", action="append", choices=STAGES, help="leave out a stage (repeatable)")
    p.add_argument("--test-timeout", type=int, default=480, metavar="S", help="seconds for the test suite")
    p.add_argument("--cpu-too", action="store_true", help="time the solution notebooks on the CPU as well")
    p.set_defaults(func=_gpu_check)

    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:  # options for jupyter lab itself, e.g. --no-browser
        args.extra = [*unknown, *args.extra]
    try:
        return args.func(args)
    except ValueError as exc:
        parser.error(str(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
