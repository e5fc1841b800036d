"""The notebook side of the grading contract.

A test cell calls ``CHECK.visible(name, fn)`` and, inside its hidden-tests block,
``CHECK.hidden(name, fn)``. What happens depends on who runs the notebook:

* a student (no environment set): visible cases come from ``visible_references.pt`` beside the
  notebook; each case prints one line and a failure raises ``AssertionError`` with a hint.
* the grader (``CVCOURSE_CASES`` set by ``cvcourse grade`` in the sandboxed kernel): the inputs of
  every case come from the grader's file, and the student's outputs are sent back as a *record*, an
  output of the test cell itself (MIME type :data:`RECORD_MIME`). The grader, which runs the cells,
  keeps each record with the cell it came from; hidden expected values never enter this kernel, and
  the grade is decided later in the grader's own process, so patching anything here changes no score.
  What the student's function prints on hidden cases is not shown.
* the instructor (``CVCOURSE_HIDDEN_REFERENCES`` names the hidden reference file): hidden cases are
  checked directly against it.
* ``cvcourse references``: same as the grader, but the cases carry no expected values; the recorded
  outputs of the solution become the references.
"""

from __future__ import annotations

import base64
import contextlib
import io
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
HIDDEN_ENV = "CVCOURSE_HIDDEN_REFERENCES"
#: MIME type of the display output that carries a test cell's record to the grader.
RECORD_MIME = "application/vnd.cvcourse.record+json"


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


def encode_record(exercise: str, which: str, results: list[dict]) -> dict[str, str]:
    """The JSON payload of a record output: the results saved with :func:`store.save`, in base64."""
    buffer = io.BytesIO()
    torch.save(store.to_storable(results), buffer)
    return {"exercise": exercise, "which": which, "results": base64.b64encode(buffer.getvalue()).decode("ascii")}


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
            path = Path(os.environ.get(HIDDEN_ENV, ""))
            if not path.is_file():
                return None
        spec = self._load(which, path)["exercises"].get(name)
        return None if spec is None else (spec, spec["cases"])

    # -- recording for the grader ------------------------------------------------------------
    @staticmethod
    def _record(name: str, which: str, results: list[dict]) -> None:
        """Send the results to the grader as an output of the running (test) cell."""
        if not os.environ.get(CASES_ENV):
            return
        from IPython.display import display

        display({RECORD_MIME: encode_record(name, which, results),
                 "text/plain": f"<{len(results)} {which} result(s) of {name} for the grader>"}, raw=True)

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
        quiet = which == "hidden" and bool(os.environ.get(CASES_ENV))
        with contextlib.ExitStack() as stack:
            if quiet:  # what the function prints on hidden inputs stays out of the notebook
                stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
                stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
            results = [run_case(fn, case, spec["numpy"], device) for case in cases]
        self._record(name, which, results)
        if not all("expected" in case for case in cases):
            print(f"{name}: {len(cases)} {which} case(s) recorded for the grader")
            return
        failures = 0
        print(f"{name}: {len(cases)} {which} case(s), tolerance rtol={spec['rtol']:g} atol={spec['atol']:g}")
        if spec.get("forbids"):
            print(f"  rule: the answer may not use {', '.join(spec['forbids'])} (the grader withholds the points)")
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
