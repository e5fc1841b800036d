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
  outputs of the solution become the references, and the calls it makes to what each exercise builds
  on are recorded as sealed replays (:mod:`course_utils.replay`), which every later run of that
  exercise's cases gets.
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import io
import os
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import replay, store
from .checks import CheckFailed, compare
from .device import check_device, deterministic
from .probes import SIDE_EFFECT_FIELDS

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


def _argument_names(fn: Callable, n_args: int) -> list[str]:
    """Parameter names of the first ``n_args`` positional arguments of ``fn`` (``argument i`` if unknown)."""
    names: list[str] = []
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            names += [f"{p.name}[{i}]" for i in range(n_args - len(names))]
    names += [f"argument {i + 1}" for i in range(len(names), n_args)]
    return names[:n_args]


def _arrays(value: Any, label: str):
    """``(label, array)`` for every numpy array and tensor in ``value`` (lists, tuples, dicts walked)."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        yield label, value
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _arrays(v, f"{label}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _arrays(v, f"{label}[{k!r}]")


def _copy(a: Any) -> Any:
    return a.copy() if isinstance(a, np.ndarray) else a.detach().clone()


def _unchanged(a: Any, kept: Any) -> bool:
    if isinstance(a, np.ndarray):
        return a.shape == kept.shape and a.dtype == kept.dtype and \
            np.array_equal(a, kept, equal_nan=a.dtype.kind in "fc")
    if a.shape != kept.shape or a.dtype != kept.dtype:
        return False
    if torch.equal(a.detach(), kept):
        return True
    return a.is_floating_point() and torch.equal(torch.isnan(a.detach()), torch.isnan(kept)) and \
        torch.equal(a.detach().nan_to_num(0.0, 0.0, 0.0), kept.nan_to_num(0.0, 0.0, 0.0))


def _shares_memory(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.may_share_memory(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr() and a.numel() > 0
    return False


def array_library(value: Any) -> str | None:
    """``"numpy"``, ``"torch"`` or ``"mixed"``: which kind of arrays ``value`` holds (None: no arrays)."""
    kinds = {"numpy" if isinstance(a, np.ndarray) else "torch" for _, a in _arrays(value, "")}
    return None if not kinds else kinds.pop() if len(kinds) == 1 else "mixed"


def _student_traceback(exc: BaseException) -> str:
    """The traceback of an exception raised by the student's function, from its first frame on."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # skip run_case's frame
    lines = traceback.format_list(traceback.extract_tb(tb)[-6:])
    text = "".join(lines) + "".join(traceback.format_exception_only(type(exc), exc))
    return text[-3000:]


def run_case(fn: Callable, case: dict, numpy: bool, device: torch.device, trace: bool = True,
             builds_on: list[str] = (), record_replays: bool = False) -> dict[str, Any]:
    """Call ``fn`` on one case and record what happened.

    Returns a dict with ``output`` (made storable) or ``error`` (``"Type: message"``, and
    ``error_types``: the names of its class and base classes), and the facts the grader judges besides
    the values: ``names`` (the parameter names of the positional arguments), ``arrays`` (``"numpy"``,
    ``"torch"``, ``"mixed"`` or None: the kind of arrays returned), ``changed`` (the arguments whose
    arrays the call changed in place), ``aliases`` (the arguments whose memory the output shares) and,
    with ``trace``, ``traceback`` (starting in ``fn``). Every array argument is kept in a pristine copy
    and compared after the call.

    ``builds_on`` names what ``fn`` builds on (see :mod:`course_utils.replay`): with
    ``record_replays`` (``cvcourse references``) their calls are recorded (``replay``, and ``key``,
    the replay key of this case itself); otherwise the case's ``replay`` answers them, and
    ``replayed`` and ``own`` count the calls answered by the reference and by the student's own code.
    """
    args = prepare_args(list(case.get("args", [])), numpy, device)
    kwargs = prepare_args(dict(case.get("kwargs", {})), numpy, device)
    names = _argument_names(fn, len(args))
    inputs = [(name, a) for name, value in zip(names, args) for name, a in _arrays(value, name)]
    inputs += [(name, a) for key, value in kwargs.items() for name, a in _arrays(value, str(key))]
    kept = [(name, a, _copy(a)) for name, a in inputs]
    record: dict[str, Any] = {"names": names}
    calls = replay.Recorder() if record_replays else replay.Replayer(dict(case.get("replay") or {}), device)
    if record_replays:
        record["key"] = replay.case_key(fn, args, kwargs)
    try:
        with deterministic(), warnings.catch_warnings(), np.errstate(all="ignore"), \
                calls.patched(replay.namespace_of(fn), list(builds_on)):
            warnings.simplefilter("ignore")
            out = fn(*args, **kwargs)
        record.update(output=store.to_storable(out), arrays=array_library(out))
        aliases = sorted({name for name, a, _ in kept for _, o in _arrays(out, "") if _shares_memory(o, a)})
        if aliases:
            record["aliases"] = aliases
    except Exception as exc:  # the student's code may raise anything; KeyboardInterrupt still stops
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        record["error"] = f"{type(exc).__name__}: {exc} (line {frame.lineno} of {frame.name})"
        record["error_types"] = [c.__name__ for c in type(exc).__mro__ if c not in (object, BaseException)]
        if trace:
            record["traceback"] = _student_traceback(exc)
    if record_replays:
        record["replay"] = calls.calls
    else:
        record.update({k: dict(v) for k, v in (("replayed", calls.hits), ("own", calls.misses)) if v})
    changed = [name for name, a, copy in kept if not _unchanged(a, copy)]
    if changed:
        record["changed"] = changed
    return record


#: The one thing a hidden case may say about each kind of failure.
FAILURE_WORDS = {"type": "wrong type", "shape": "wrong shape", "dtype": "wrong dtype",
                 "values": "values differ from the reference", "no output": "no usable output was recorded",
                 "unreadable": "its record could not be read"}


@dataclass(frozen=True)
class Verdict:
    """How one recorded case fares: ``failure`` names the kind of check that failed (safe to show for a
    hidden case), ``message`` and ``details`` say more and are for visible cases only."""

    ok: bool
    message: str
    failure: str = ""
    details: tuple[str, ...] = ()


def _clean(name: Any) -> str:
    """A name the student's kernel sent, if it looks like one (it is hostile data), else ``an input``."""
    ok = isinstance(name, str) and 0 < len(name) <= 40 and all(ch.isalnum() or ch in "_[]' " for ch in name)
    return name if ok else "an input"


def _returns(rules: dict[str, Any]) -> str:
    """The kind of arrays an exercise returns: its ``returns`` rule, else the kind it is called with."""
    return rules.get("returns") or ("numpy" if rules.get("numpy", True) else "torch")


#: The expected output of a case that must raise: ``{RAISES: "ValueError"}`` (a subclass counts too).
RAISES = "<raises>"


def _own_calls(result: dict) -> tuple[str, ...]:
    """Lines naming the calls of what the exercise builds on that its own code answered (no replay)."""
    own = result.get("own") if isinstance(result.get("own"), dict) else {}
    return tuple(f"{n} call(s) of {_clean(name)} went to your own {_clean(name)}: their arguments were not "
                 f"the reference's, bit for bit (the reference's answers are used only for those)"
                 for name, n in list(own.items())[:4] if isinstance(n, int))


def _text(value: Any) -> str:
    """A string the kernel sent (``error``, ``traceback``), or ``""`` for anything else: hostile data is
    never turned into text here (``str`` of a deeply nested list recurses without end)."""
    return value if isinstance(value, str) else ""


def _error_kind(result: dict) -> str:
    kind = _text(result["error"]).split(":", 1)[0].strip()
    return kind if kind.isidentifier() else "an exception"


def _judge_raise(result: dict, want: str) -> Verdict:
    """A case that must raise ``want``."""
    if "error" not in result:
        return Verdict(False, f"returned without raising; the spec asks for {want}", f"raised no {want}")
    types = result.get("error_types") if isinstance(result.get("error_types"), list) else []
    kind = _error_kind(result)
    if want in types:
        return Verdict(True, f"raised {kind} as the spec asks")
    trace = _text(result.get("traceback"))[-3000:]
    return Verdict(False, f"raised {(_text(result['error']) or kind)[:300]}; the spec asks for {want}",
                   f"raised {kind} instead of {want}", tuple(trace.rstrip().splitlines()))


def judge(result: Any, expected: Any, rules: dict[str, Any]) -> Verdict:
    """Judge one recorded result (see :func:`run_case`) against its expected output.

    ``rules`` holds the exercise's ``numpy``, ``rtol``, ``atol`` and optionally ``fields`` (names of
    a tuple result's items), ``returns`` (``"numpy"`` or ``"torch"``: the arrays it returns; default
    those it is called with) and ``copies`` (the output may not share memory with an input). The
    checks, in order: it left its inputs unchanged; for a case whose expected output is
    ``{RAISES: name}``, that it raised that exception; else that it returned, no aliasing where a copy
    is promised, the kind of arrays, then :func:`compare` with the dtype (shape, dtype, values). A
    failure also names the calls of what the exercise builds on that the student's own code answered.
    """
    if not isinstance(result, dict) or not ({"output"} <= set(result) or {"error"} <= set(result)):
        return Verdict(False, "no usable output was recorded", "no output")
    changed = result.get("changed") if isinstance(result.get("changed"), list) else []
    changed_text = ", ".join(sorted({_clean(n) for n in changed[:8]}))
    if changed:
        return Verdict(False, f"changed its input {changed_text} in place (copy it before you modify it)",
                       f"changed its input {changed_text} in place")
    if isinstance(expected, dict) and set(expected) == {RAISES}:
        return _judge_raise(result, str(expected[RAISES]))
    verdict = _judge_output(result, expected, rules)
    return verdict if verdict.ok else Verdict(False, verdict.message, verdict.failure,
                                              verdict.details + _own_calls(result))


def _judge_output(result: dict, expected: Any, rules: dict[str, Any]) -> Verdict:
    if "error" in result:
        kind = _error_kind(result)
        trace = _text(result.get("traceback"))[-3000:]
        return Verdict(False, f"raised {(_text(result['error']) or kind)[:300]}", f"raised {kind}",
                       tuple(trace.rstrip().splitlines()))
    aliases = result.get("aliases") if isinstance(result.get("aliases"), list) else []
    if rules.get("copies") and aliases:
        names = ", ".join(sorted({_clean(n) for n in aliases[:8]}))
        return Verdict(False, f"returned (a view of) its input {names}; a new array is promised",
                       f"returned its input {names} instead of a copy")
    want = _returns(rules)
    got = result.get("arrays")
    if got in ("numpy", "torch", "mixed") and got != want:
        words = {"numpy": "numpy arrays", "torch": "torch tensors", "mixed": "numpy arrays and torch tensors"}
        return Verdict(False, f"returned {words[got]}, expected {words[want]}", "type")
    verdict = compare(result["output"], expected, rules["rtol"], rules["atol"], check_dtype=True,
                      fields=rules.get("fields") or None)
    field = verdict.message.split(":", 1)[0]
    failure = f"side effect ({field})" if not verdict.ok and field in SIDE_EFFECT_FIELDS else verdict.failure
    return Verdict(verdict.ok, verdict.message, failure, verdict.details)


def describe_value(value: Any) -> str:
    """An input as a student reads it: numbers and short lists by value, arrays by shape and dtype."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        dtype = str(value.dtype).replace("torch.", "")
        return f"{tuple(value.shape)} {dtype}" if value.ndim else f"{value.item()!r}"
    if isinstance(value, (list, tuple)) and len(value) <= 8 and all(not isinstance(v, (list, tuple, dict))
                                                                   for v in value):
        inner = ", ".join(describe_value(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, (list, tuple, dict)):
        return f"{type(value).__name__} of {len(value)}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe_inputs(case: dict, names: Any = None) -> str:
    """``x (1, 2, 7, 7) float64, stride=2`` for one case (positional names from the record if sane)."""
    args = list(case.get("args", []))
    names = names if isinstance(names, list) and len(names) == len(args) else [None] * len(args)
    parts = [f"{_clean(n) if n is not None else f'argument {i + 1}'}={describe_value(v)}"
             for i, (n, v) in enumerate(zip(names, args))]
    parts += [f"{k}={describe_value(v)}" for k, v in dict(case.get("kwargs", {})).items()]
    return ", ".join(parts) or "no arguments"


def case_lines(which: str, index: int, case: dict, result: Any, verdict: Verdict) -> list[str]:
    """What a person is told about one case: one short line when it passes; for a failing visible case
    also its inputs and the details (expected and actual side by side, or the traceback); a hidden
    case says only PASS or FAIL and the kind of check that failed."""
    if which == "hidden":
        if verdict.ok:
            return [f"hidden case {index}: PASS"]
        return [f"hidden case {index}: FAIL ({FAILURE_WORDS.get(verdict.failure, verdict.failure)})"]
    if verdict.ok:
        return [f"case {index}: PASS {verdict.message}"]
    names = result.get("names") if isinstance(result, dict) else None
    return [f"case {index}: FAIL {verdict.message}", f"    inputs: {describe_inputs(case, names)}"] + \
        [f"    {line}" for line in verdict.details]


#: Hints for failures that mean the same in every exercise (keyed by the first word of the failure
#: kind); a wrong shape or wrong values get the exercise's own hint.
KIND_HINTS = {
    "dtype": "Give the output the dtype the docstring names: create arrays with an explicit dtype (or keep "
             "the input's), and return Python int or float where it asks for a number.",
    "type": "Return the kind of arrays the docstring names: numpy arrays for numpy inputs, torch tensors for "
            "tensors (np.asarray / torch.as_tensor at the end if you computed with the other library).",
    "changed": "Your function modified one of its inputs in place: copy it first (x.copy() in numpy, "
               "x.clone() in torch), or use operations that return new arrays instead of +=, [...] = or out=.",
    "returned": "The docstring promises a new array: return a copy (.copy() / .clone()), not the input or a "
                "view of it.",
    "side": "Leave the model as you found it: remove every hook you register (in a finally block), take "
            "gradients with torch.autograd.grad rather than .backward(), keep train/eval mode and parameters "
            "as they were, and work on a detached copy of the image.",
}


def choose_hint(rules: dict[str, Any], failures: list[str]) -> str:
    """The hint for a failed check: by the kind of the first failure that has one (a raised exception,
    a changed input, a dtype...), else the exercise's own ``hint``."""
    for failure in failures:
        word = failure.split(" ", 1)[0] if failure else ""
        if word == "raised" and rules.get("hint"):
            continue  # the traceback says where; the exercise's hint says what to compute
        if word in KIND_HINTS:
            return KIND_HINTS[word]
    return str(rules.get("hint") or "")


def rules_text(rules: dict[str, Any]) -> str:
    """The rules of an exercise's cases, stated once above them."""
    want = _returns(rules)
    exact = rules["rtol"] == 0 and rules["atol"] == 0
    tolerance = "exactly" if exact else f"to rtol={rules['rtol']:g}, atol={rules['atol']:g}"
    return f"outputs must match the reference {tolerance}, in the reference's dtype ({want} for arrays), " \
           f"without changing the inputs"


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

    def _recording(self) -> bool:
        """Whether ``cvcourse references`` runs this kernel (its cases file asks for the replays)."""
        cases_file = os.environ.get(CASES_ENV)
        return bool(cases_file) and bool(self._load("grader", Path(cases_file))["meta"].get("record_replays"))

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
        device = check_device()
        quiet = which == "hidden" and bool(os.environ.get(CASES_ENV))
        with contextlib.ExitStack() as stack:
            if quiet:  # what the function prints on hidden inputs stays out of the notebook
                stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
                stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
            results = [run_case(fn, case, spec["numpy"], device, trace=not quiet,
                                builds_on=spec.get("builds_on", []), record_replays=self._recording())
                       for case in cases]
        self._record(name, which, results)
        if not all("expected" in case for case in cases):
            print(f"{name}: {len(cases)} {which} case(s) recorded for the grader")
            return
        print(f"{name}: {len(cases)} {which} case(s); {rules_text(spec)}")
        if spec.get("forbids"):
            named = [{"for": "for loops or comprehensions", "while": "while loops"}.get(f, f) for f in spec["forbids"]]
            print(f"  rule: the answer may not use {', '.join(named)}, nor code the grader cannot read (eval, exec,"
                  " globals(), __dict__, __code__): the grader withholds the points (changing course_utils costs"
                  " every point)")
        failed = []
        for i, (case, result) in enumerate(zip(cases, results), 1):
            verdict = judge(result, case["expected"], spec)
            if not verdict.ok:
                failed.append(verdict.failure)
            for line in case_lines("visible", i, case, result, verdict):
                print(f"  {line}")
        if failed:
            hint = choose_hint(spec, failed)
            hint = f"\nHint: {hint}" if hint else ""
            raise CheckFailed(f"{name} failed {len(failed)} of {len(cases)} {which} case(s).{hint}")
        print(f"{name}: all {which} cases pass")
