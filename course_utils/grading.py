"""The notebook side of the grading contract.

A test cell calls ``CHECK.visible(name, fn)`` and, inside its hidden-tests block,
``CHECK.hidden(name, fn)``. What happens depends on who runs the notebook:

* a student (no environment set): visible cases come from ``visible_references.pt`` beside the
  notebook; each case prints one line and a failure raises ``AssertionError`` with a hint.
* the grader (``CVCOURSE_CASES`` and ``CVCOURSE_RECORD`` set by ``cvcourse grade``): the inputs of
  every case come from the grader's file, the student's outputs are *recorded* to the grader's file,
  and hidden expected values never enter this kernel. The grade is decided later, in the grader's
  own process, so patching anything in this kernel changes no score.
* the instructor (solution notebook, ``autograder`` importable): hidden cases are checked directly
  against ``autograder/references``.
* ``cvcourse references``: same as the grader, but the cases carry no expected values; the recorded
  outputs of the solution become the references.
"""

from __future__ import annotations

import os
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import store
from .checks import compare
from .device import deterministic, get_device

CASES_ENV = "CVCOURSE_CASES"
RECORD_ENV = "CVCOURSE_RECORD"


def prepare_args(value: Any, numpy: bool, device: torch.device) -> Any:
    """Fresh copies of stored inputs: numpy arrays if ``numpy`` else tensors on ``device``."""
    if isinstance(value, torch.Tensor):
        return value.numpy().copy() if numpy else value.clone().to(device)
    if isinstance(value, (list, tuple)):
        return type(value)(prepare_args(v, numpy, device) for v in value)
    if isinstance(value, dict):
        return {k: prepare_args(v, numpy, device) for k, v in value.items()}
    return value


def run_case(fn: Callable, case: dict, numpy: bool, device: torch.device) -> dict[str, Any]:
    """Call ``fn`` on one case. Returns ``{"output": ...}`` or ``{"error": "Type: message"}``."""
    args = prepare_args(list(case.get("args", [])), numpy, device)
    kwargs = prepare_args(dict(case.get("kwargs", {})), numpy, device)
    try:
        with deterministic(), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = fn(*args, **kwargs)
        return {"output": store.to_storable(out)}
    except Exception as exc:  # the student's code may raise anything; KeyboardInterrupt still stops
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return {"error": f"{type(exc).__name__}: {exc} (line {frame.lineno} of {frame.name})"}


def _hidden_reference_file(assignment: str) -> Path | None:
    """The instructor's hidden references, if the autograder package is importable here."""
    try:
        import autograder
    except ImportError:
        return None
    path = Path(list(autograder.__path__)[0]) / "references" / assignment / "hidden.pt"
    return path if path.exists() else None


class Checker:
    """Runs the visible and hidden cases of one assignment's exercises (see module docstring).

    Args:
        assignment: assignment id, e.g. ``"01_conv_pool"``.
        folder: where ``visible_references.pt`` lies; default the current directory.
    """

    def __init__(self, assignment: str, folder: str | os.PathLike | None = None):
        self.assignment = assignment
        self.folder = Path(folder) if folder is not None else Path.cwd()
        self._files: dict[str, Any] = {}

    # -- where cases come from -------------------------------------------------------------
    def _load(self, key: str, path: Path) -> dict:
        if key not in self._files:
            self._files[key] = store.load(path)
        return self._files[key]

    def _spec(self, name: str, which: str) -> tuple[dict, list[dict]] | None:
        cases_file = os.environ.get(CASES_ENV)
        if cases_file:
            spec = self._load("grader", Path(cases_file))["exercises"].get(name)
            return None if spec is None else (spec, spec[which])
        if which == "visible":
            path = self.folder / store.VISIBLE_FILE
            if not path.exists():
                raise FileNotFoundError(f"{path} is missing: run this notebook from its own folder "
                                        f"(the file ships beside it)")
        else:
            path = _hidden_reference_file(self.assignment)
            if path is None:
                return None
        spec = self._load(which, path)["exercises"].get(name)
        return None if spec is None else (spec, spec["cases"])

    # -- recording for the grader ------------------------------------------------------------
    def _record(self, name: str, which: str, results: list[dict]) -> None:
        record_file = os.environ.get(RECORD_ENV)
        if not record_file:
            return
        path = Path(record_file)
        records = store.load(path) if path.exists() else {}
        records.setdefault(name, {})[which] = results
        store.save(path, records)

    # -- the two calls a test cell makes --------------------------------------------------------
    def visible(self, name: str, fn: Callable) -> None:
        """Check ``fn`` on the visible cases of exercise ``name``; raise AssertionError on failure."""
        self._run(name, fn, "visible")

    def hidden(self, name: str, fn: Callable) -> None:
        """Run the hidden cases: recorded for the grader, or checked when the instructor runs them."""
        self._run(name, fn, "hidden")

    def _run(self, name: str, fn: Callable, which: str) -> None:
        found = self._spec(name, which)
        if found is None:
            print(f"{name}: no {which} cases here (hidden tests run when the assignment is graded)")
            return
        spec, cases = found
        device = get_device()
        results = [run_case(fn, case, spec["numpy"], device) for case in cases]
        self._record(name, which, results)
        if not all("expected" in case for case in cases):
            print(f"{name}: {len(cases)} {which} case(s) recorded for the grader")
            return
        failures = 0
        print(f"{name}: {len(cases)} {which} case(s), tolerance rtol={spec['rtol']:g} atol={spec['atol']:g}")
        for i, (case, result) in enumerate(zip(cases, results), 1):
            if "error" in result:
                ok, message = False, f"raised {result['error']}"
            else:
                verdict = compare(result["output"], case["expected"], spec["rtol"], spec["atol"])
                ok, message = verdict.ok, verdict.message
            failures += not ok
            print(f"  case {i}: {'PASS' if ok else 'FAIL'} {message}")
        if failures:
            hint = f"\nHint: {spec['hint']}" if spec.get("hint") else ""
            raise AssertionError(f"{name} failed {failures} of {len(cases)} {which} case(s).{hint}")
        print(f"{name}: all {which} cases pass")
