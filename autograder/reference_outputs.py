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
from course_utils.grading import CASES_ENV

from . import assignments as specs
from .course import SOLUTIONS, hidden_reference_file, visible_reference_file
from .notebook_run import execute_copy
from .scoring import records_from_notebook


def grader_cases(name: str, visible: dict | None = None) -> dict[str, Any]:
    """The cases file a graded kernel reads: every input, and the expected outputs of the visible
    cases only (taken from ``visible`` references when given). Hidden expected values never enter it."""
    exercises = {}
    for ex in specs.exercises(name):
        entry = {**ex.rules(),
                 "visible": [specs.case_to_dict(c) for c in ex.visible],
                 "hidden": [specs.case_to_dict(c) for c in ex.hidden]}
        if visible is not None:
            for case, ref in zip(entry["visible"], visible["exercises"][ex.name]["cases"]):
                case["expected"] = ref["expected"]
        exercises[ex.name] = entry
    return {"meta": {"assignment": name}, "exercises": exercises}


def run_solution(name: str, device: str, workdir: Path) -> dict[str, Any]:
    """Execute the solution notebook on every case; returns ``{exercise: {"visible"|"hidden": [...]}}``."""
    cases_file = store.save(workdir / "cases.pt", grader_cases(name))
    nb, _ = execute_copy(SOLUTIONS / name, f"{name}.ipynb", workdir / "run", **{
        CASES_ENV: str(cases_file), "COURSE_DEVICE": device,
        "NBGRADER_EXECUTION": "autograde", "COURSE_FIGURE_DIR": str(workdir / "figures")})
    records = records_from_notebook(nb, [ex.name for ex in specs.exercises(name)])
    for ex in specs.exercises(name):
        for which in ("visible", "hidden"):
            results = records.get(ex.name, {}).get(which)
            if results is None:
                raise RuntimeError(f"{name}: the solution notebook never ran CHECK.{which}({ex.name!r}, ...)")
            errors = [r["error"] for r in results if "error" in r]
            if errors:
                raise RuntimeError(f"{name}: the solution of {ex.name} raised on a {which} case: {errors[0]}")
    return records


def build(name: str, device: str = "cpu") -> tuple[dict, dict]:
    """Fresh (visible, hidden) reference dicts for assignment ``name``."""
    with tempfile.TemporaryDirectory() as tmp:
        records = run_solution(name, device, Path(tmp))
    meta = store.metadata(name, device, seed=f"fixed per case in autograder/assignments/a{name}.py")
    files = []
    for which in ("visible", "hidden"):
        exercises = {}
        for ex in specs.exercises(name):
            cases = getattr(ex, which)
            exercises[ex.name] = {
                **ex.rules(),
                "cases": [dict(specs.case_to_dict(c), expected=r["output"])
                          for c, r in zip(cases, records[ex.name][which])],
            }
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
