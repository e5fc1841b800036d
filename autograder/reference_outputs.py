"""``cvcourse references``: make the reference outputs by running the instructor's solutions.

Inputs come from ``autograder/assignments/aNN_topic.py``; the solution notebook runs with those
inputs in the grader's recording mode, and what it returns becomes the expected output. Visible
references are written beside the solution notebook (and so released to students), hidden ones to
``autograder/references/NN_topic/hidden.pt``.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from course_utils import store
from course_utils.checks import compare
from course_utils.grading import CASES_ENV, RAISES

from . import assignments as specs
from .course import SOLUTIONS, hidden_reference_file, visible_reference_file
from .notebook_run import execute_copy
from .scoring import records_from_notebook


def grader_cases(name: str, visible: dict | None = None, hidden: dict | None = None,
                 record_replays: bool = False) -> dict[str, Any]:
    """The cases file a graded kernel reads: every input, the replays of what each exercise builds on
    (sealed, from the ``visible`` and ``hidden`` references when given), and the expected outputs of the
    visible cases only. Hidden expected values never enter it. ``record_replays``: the file for
    ``cvcourse references``, whose kernel records the replays."""
    exercises = {}
    for ex in specs.exercises(name):
        entry = {**ex.rules(),
                 "visible": [specs.case_to_dict(c) for c in ex.visible],
                 "hidden": [specs.case_to_dict(c) for c in ex.hidden]}
        for which, refs in (("visible", visible), ("hidden", hidden)):
            if refs is None:
                continue
            for case, ref in zip(entry[which], refs["exercises"][ex.name]["cases"]):
                if which == "visible":
                    case["expected"] = ref["expected"]
                if ref.get("replay"):
                    case["replay"] = ref["replay"]
        exercises[ex.name] = entry
    return {"meta": {"assignment": name, "record_replays": record_replays}, "exercises": exercises}


def _raised(record: dict, case: specs.Case) -> str | None:
    """What is wrong with the solution's record of ``case`` (None: nothing): it must raise exactly when
    the case says so, and then the exception the case names."""
    if case.raises:
        if case.raises not in record.get("error_types", []):
            return f"should raise {case.raises} but " + (f"raised {record['error']}" if "error" in record
                                                          else "returned")
        return None
    return f"raised {record['error']}" if "error" in record else None


def run_solution(name: str, device: str, workdir: Path) -> dict[str, Any]:
    """Execute the solution notebook on every case; returns ``{exercise: {"visible"|"hidden": [...]}}``."""
    cases_file = store.save(workdir / "cases.pt", grader_cases(name, record_replays=True))
    nb, _ = execute_copy(SOLUTIONS / name, f"{name}.ipynb", workdir / "run", **{
        CASES_ENV: str(cases_file), "COURSE_DEVICE": device,
        "NBGRADER_EXECUTION": "autograde", "COURSE_FIGURE_DIR": str(workdir / "figures")})
    records = records_from_notebook(nb, [ex.name for ex in specs.exercises(name)])
    for ex in specs.exercises(name):
        for which in ("visible", "hidden"):
            results = records.get(ex.name, {}).get(which)
            if results is None:
                raise RuntimeError(f"{name}: the solution notebook never ran CHECK.{which}({ex.name!r}, ...)")
            for case, record in zip(getattr(ex, which), results):
                wrong = _raised(record, case)
                if wrong:
                    raise RuntimeError(f"{name}: the solution of {ex.name} {wrong} on a {which} case")
    _check_replays(name, records)
    return records


def _check_replays(name: str, records: dict[str, Any]) -> None:
    """Every exercise that builds on others replays some of their calls, and no replay answers a hidden
    case of another exercise (its key would be that case's key; visible answers are public anyway)."""
    case_keys = {r.get("key"): ex for ex, rec in records.items() for r in rec["hidden"] if r.get("key")}
    for ex in specs.exercises(name):
        replayed = set()
        for which in ("visible", "hidden"):
            for record in records[ex.name][which]:
                for dep, entries in (record.get("replay") or {}).items():
                    replayed.add(dep)
                    for entry in entries:
                        other = case_keys.get(entry["key"])
                        if other is not None and other != ex.name:
                            raise RuntimeError(f"{name}: a replay of {dep} inside {ex.name} would answer a "
                                               f"hidden case of {other}: change the inputs of one of them")
        missing = set(ex.builds_on) - replayed
        if missing:
            raise RuntimeError(f"{name}: the solution of {ex.name} never calls {', '.join(sorted(missing))}, "
                               f"which its spec says it builds on")


def build(name: str, device: str = "cpu") -> tuple[dict, dict]:
    """Fresh (visible, hidden) reference dicts for assignment ``name``."""
    with tempfile.TemporaryDirectory() as tmp:
        records = run_solution(name, device, Path(tmp))
    meta = store.metadata(name, device, seed=f"fixed per case in autograder/assignments/a{name}.py")
    files = []
    for which in ("visible", "hidden"):
        exercises = {}
        for ex in specs.exercises(name):
            cases = []
            for c, r in zip(getattr(ex, which), records[ex.name][which]):
                case = dict(specs.case_to_dict(c), expected={RAISES: c.raises} if c.raises else r["output"])
                if r.get("replay"):
                    case["replay"] = r["replay"]
                cases.append(case)
            exercises[ex.name] = {**ex.rules(), "cases": cases}
        files.append({"meta": dict(meta, visibility=which), "exercises": exercises})
    return files[0], files[1]


def write(name: str, device: str = "cpu") -> tuple[Path, Path]:
    visible, hidden = build(name, device)
    return store.save(visible_reference_file(name), visible), store.save(hidden_reference_file(name), hidden)


def deviations(name: str, device: str = "cpu") -> list[tuple[str, float, float, bool]]:
    """Compare committed references with a fresh run: ``(key, max abs, max rel, ok)`` for each exercise
    and visibility; ok means same inputs, same rules (tolerance, hint, forbidden calls) and outputs
    within tolerance."""
    fresh = dict(zip(("visible", "hidden"), build(name, device)))
    committed = {"visible": store.load(visible_reference_file(name)),
                 "hidden": store.load(hidden_reference_file(name))}
    rows = []
    for which in ("visible", "hidden"):
        for ex_name, spec in fresh[which]["exercises"].items():
            old = committed[which]["exercises"].get(ex_name)
            if old is None or len(old["cases"]) != len(spec["cases"]):
                rows.append((f"{which}/{ex_name}", math.inf, math.inf, False))
                continue
            results = [compare(new["expected"], ref["expected"], spec["rtol"], spec["atol"])
                       for new, ref in zip(spec["cases"], old["cases"])]
            inputs_same = all(compare(new["args"], ref["args"], 0, 0).ok and
                              compare(new["kwargs"], ref["kwargs"], 0, 0).ok
                              for new, ref in zip(spec["cases"], old["cases"]))
            rules_same = all(old.get(key) == value for key, value in spec.items() if key != "cases")
            rows.append((f"{which}/{ex_name}", max(r.max_abs for r in results), max(r.max_rel for r in results),
                         inputs_same and rules_same and all(r.ok for r in results)))
    return rows
