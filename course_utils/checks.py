"""Compare an actual output with an expected one and say, in one line, how close they are.

Every test cell of the course goes through :func:`compare`. It accepts numpy arrays, torch tensors on
any device, Python numbers and (nested) tuples, lists and dicts of those. It never writes to stderr.

Two ways to compare:

* ``check_dtype=False`` (the default, for demo cells that compare a torch result with a numpy one):
  values only; numpy against torch and float32 against float64 are fine.
* ``check_dtype=True`` (every graded case): the type is part of the answer. Arrays must have the
  expected dtype exactly (``float32`` is not ``float64``, ``int64`` counts are not ``float64``).
  Python numbers compare by kind: ``int``, ``float`` and ``bool`` are three kinds (``True`` is no
  answer for a count, ``3.0`` is no answer for an ``int``); a numpy scalar counts as the Python number
  of its kind (``np.int64(3)`` is an ``int``), and a 0-d array is an array, not a number. Whether arrays
  are numpy or torch is checked by the grading side, which sees the object before it is stored.

A :class:`Comparison` carries a one-line ``message`` (no tolerance in it: a test cell states that
once), the kind of ``failure`` (``"type"``, ``"shape"``, ``"dtype"``, ``"values"``; empty when it
passed) for messages that may say no more than that, and ``details``: further lines for a person,
such as expected and actual side by side when the output is small.
"""

from __future__ import annotations

import math
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Outputs with at most this many elements are shown in full, expected beside actual, on failure.
SHOW_ELEMENTS = 16


_LIBRARY = str(Path(__file__).resolve().parent)


class CheckFailed(AssertionError):
    """A check that failed. In IPython its traceback starts at the student's cell and leaves out the
    frames of ``course_utils`` (IPython calls ``_render_traceback_`` to show an exception)."""

    def _render_traceback_(self) -> list[str]:
        frames = [f for f in traceback.extract_tb(self.__traceback__)
                  if not str(Path(f.filename).resolve()).startswith(_LIBRARY)]
        lines = "".join(traceback.format_list(frames)).rstrip("\n").splitlines()
        return ["Traceback (most recent call last):", *lines, f"AssertionError: {self}"]


@dataclass(frozen=True)
class Comparison:
    """Outcome of :func:`compare`.

    Attributes:
        ok: whether ``actual`` matches.
        message: one line: what was returned, and on failure how it differs.
        max_abs, max_rel: largest absolute and relative error over all compared elements.
        failure: ``""`` when ok, else the kind of check that failed: ``"type"``, ``"shape"``,
            ``"dtype"`` or ``"values"``; the only thing a hidden case may tell.
        details: more lines for a person (expected and actual side by side for small outputs).
    """

    ok: bool
    message: str
    max_abs: float = 0.0
    max_rel: float = 0.0
    failure: str = ""
    details: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.ok


def as_numpy(x: Any) -> np.ndarray:
    """A numpy copy of an array-like (torch tensor on any device, numpy array, number).

    A tensor of a dtype numpy lacks becomes float32 (``bfloat16``, ``float8_*``) or complex64
    (``complex32``); its own dtype is still the one :func:`compare` checks.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().resolve_conj().resolve_neg()
        try:
            return x.numpy()
        except TypeError:  # no numpy dtype for it
            return x.to(torch.complex64 if x.is_complex() else torch.float32).numpy()
    return np.asarray(x)


def _shape(x: Any) -> tuple[int, ...]:
    """The shape of an array-like, read without converting it (a tensor may claim more elements than it
    holds, a view with stride 0: converting it first could allocate all of them)."""
    return tuple(x.shape) if isinstance(x, (np.ndarray, torch.Tensor)) else np.shape(x)


def _is_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, torch.Tensor, np.generic, int, float, bool)) and not isinstance(x, str)


def number_kind(x: Any) -> str | None:
    """``"bool"``, ``"int"`` or ``"float"`` for a Python or numpy scalar; None for anything else."""
    if isinstance(x, (bool, np.bool_)):
        return "bool"
    if isinstance(x, (int, np.integer)):
        return "int"
    if isinstance(x, (float, np.floating)):
        return "float"
    return None


def _dtype_name(x: Any) -> str:
    return str(x.dtype).replace("torch.", "") if isinstance(x, (np.ndarray, torch.Tensor)) else str(as_numpy(x).dtype)


def _fail(message: str, failure: str, details: tuple[str, ...] = ()) -> Comparison:
    return Comparison(False, message, math.inf, math.inf, failure, details)


def _format(a: np.ndarray) -> list[str]:
    if a.ndim == 0:
        return [repr(a.item())]
    text = np.array2string(a, precision=6, suppress_small=False, separator=", ", max_line_width=60)
    return text.splitlines()


def side_by_side(actual: np.ndarray, expected: np.ndarray) -> tuple[str, ...]:
    """Lines showing ``returned`` and ``expected`` next to each other (for small arrays)."""
    left, right = ["returned"] + _format(actual), ["expected"] + _format(expected)
    width = max(len(s) for s in left) + 3
    rows = max(len(left), len(right))
    left += [""] * (rows - len(left))
    right += [""] * (rows - len(right))
    return tuple(f"{lt:<{width}}{rt}".rstrip() for lt, rt in zip(left, right))


def _compare_numbers(actual: Any, expected: Any, rtol: float, atol: float, check_dtype: bool) -> Comparison:
    """Both are Python or numpy scalars: "returned X, expected Y"."""
    a_kind, e_kind = number_kind(actual), number_kind(expected)
    a, e = actual.item() if isinstance(actual, np.generic) else actual, \
        expected.item() if isinstance(expected, np.generic) else expected
    if check_dtype and a_kind != e_kind:
        return _fail(f"returned {a_kind} {a!r}, expected {e_kind} {e!r}", "dtype")
    a64, e64 = float(a), float(e)
    if math.isnan(e64) or math.isnan(a64):
        ok = math.isnan(e64) and math.isnan(a64)
        err = 0.0 if ok else math.inf
    elif math.isinf(e64):
        ok, err = a64 == e64, (0.0 if a64 == e64 else math.inf)
    else:
        err = abs(a64 - e64)
        ok = err <= atol + rtol * abs(e64)
    rel = 0.0 if err == 0 else (err / abs(e64) if e64 not in (0.0,) and math.isfinite(e64) else math.inf)
    if ok:
        return Comparison(True, f"returned {a!r}", err, rel)
    extra = f" (abs err {err:.2e})" if e_kind == "float" and math.isfinite(err) else ""
    return Comparison(False, f"returned {a!r}, expected {e!r}{extra}", err, rel, "values")


def _compare_arrays(actual: Any, expected: Any, rtol: float, atol: float, check_dtype: bool) -> Comparison:
    if check_dtype:
        a_scalar, e_scalar = number_kind(actual) is not None, number_kind(expected) is not None
        if a_scalar and e_scalar:
            return _compare_numbers(actual, expected, rtol, atol, check_dtype)
        if a_scalar != e_scalar:
            got = f"{number_kind(actual)} {actual!r}" if a_scalar else \
                f"an array of shape {_shape(actual)} ({_dtype_name(actual)})"
            want = f"a Python {number_kind(expected)}" if e_scalar else f"an array of shape {_shape(expected)}"
            return _fail(f"returned {got}, expected {want}", "type")
    elif number_kind(actual) is not None and number_kind(expected) is not None:
        return _compare_numbers(actual, expected, rtol, atol, check_dtype)
    if _shape(actual) != _shape(expected):  # before any conversion: the expected output's size bounds it
        return _fail(f"returned shape {_shape(actual)}, expected {_shape(expected)}", "shape")
    a, e = as_numpy(actual), as_numpy(expected)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        return _fail(f"returned dtype {a.dtype}, which is not numeric (expected {e.dtype})", "dtype")
    if check_dtype and _dtype_name(actual) != _dtype_name(expected):
        return _fail(f"returned {_dtype_name(actual)}, expected {_dtype_name(expected)}", "dtype")
    described = f"shape {tuple(a.shape)} {_dtype_name(actual)}"
    if a.size == 0:
        return Comparison(True, f"{described} (empty)")
    a64, e64 = np.atleast_1d(a.astype(np.float64)), np.atleast_1d(e.astype(np.float64))
    small = side_by_side(a, e) if a.size <= SHOW_ELEMENTS else ()
    if not np.array_equal(np.isnan(a64), np.isnan(e64)):
        return _fail(f"{described}: NaN where the reference has none (or the reverse)", "values", small)
    with np.errstate(invalid="ignore", over="ignore"):
        # NaN where the reference has NaN, and infinities of the same sign, count as equal
        same = (np.isnan(a64) & np.isnan(e64)) | ((a64 == e64) & np.isinf(e64))
        diff = np.where(same, 0.0, np.abs(a64 - e64))
        scale = np.where(same | np.isinf(e64), 0.0, np.abs(e64))
        with np.errstate(divide="ignore"):  # a non-zero error against an exact 0 is infinitely relative
            rel = np.where(diff == 0, 0.0, diff / scale)
        max_abs, max_rel = float(np.nanmax(diff)), float(np.nanmax(rel))
        bad = ~(diff <= atol + rtol * scale)
    if not bad.any():
        exact = "" if max_abs == 0 else f", max abs err {max_abs:.1e}"
        return Comparison(True, f"{described}{exact}", max_abs, max_rel)
    where = np.argwhere(bad.reshape(a.shape) if a.ndim else bad)[0]
    index = tuple(int(i) for i in where)
    first = f" (first at index {index}: returned {a[index].item()!r}, expected {e[index].item()!r})" \
        if a.ndim else f" (returned {a.item()!r}, expected {e.item()!r})"
    # exact kinds (indices, counts, masks) differ or not: an error size says nothing about them
    errors = "" if e.dtype.kind in "iub" else f": max abs err {max_abs:.2e}, max rel err {max_rel:.2e}"
    msg = f"{described}: values differ at {int(bad.sum())} of {a.size} element(s){first}{errors}"
    return Comparison(False, msg, max_abs, max_rel, "values", small)


def compare(actual: Any, expected: Any, rtol: float = 1e-7, atol: float = 1e-9, check_dtype: bool = False,
            fields: tuple[str, ...] | list[str] | None = None) -> Comparison:
    """Compare ``actual`` with ``expected`` elementwise: ``|a - e| <= atol + rtol * |e|``.

    Args:
        actual: what the student's code returned.
        expected: the reference output; tuples/lists/dicts are compared item by item.
        rtol, atol: relative and absolute tolerance.
        check_dtype: the dtype (and number kind) must match too; see the module docstring.
        fields: names of the items of a tuple result (``("dx", "dw", "db")``), used in messages;
            by default items are named by position.

    Returns:
        A :class:`Comparison` whose message states what differs (shape, dtype, values, or for a
        number "returned X, expected Y").
    """
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)):
            return _fail(f"returned {type(actual).__name__}, expected a tuple of {len(expected)} items", "type")
        if len(actual) != len(expected):
            return _fail(f"returned {len(actual)} items, expected {len(expected)}", "type")
        labels = list(fields) if fields and len(fields) == len(expected) else [f"item {i}" for i in range(len(expected))]
        parts = [compare(a, e, rtol, atol, check_dtype) for a, e in zip(actual, expected)]
        if parts and not fields and all(p.ok for p in parts) and all(number_kind(a) for a in actual):
            plain = [a.item() if isinstance(a, np.generic) else a for a in actual]  # a tuple of numbers
            return Comparison(True, f"returned {tuple(plain)!r}", max(p.max_abs for p in parts),
                              max(p.max_rel for p in parts))
        return _combine(parts, labels)
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            got = f"keys {sorted(map(str, actual))}" if isinstance(actual, dict) else type(actual).__name__
            return _fail(f"returned {got}, expected keys {sorted(expected)}", "type")
        keys = sorted(expected)
        return _combine([compare(actual[k], expected[k], rtol, atol, check_dtype) for k in keys],
                        [f"[{k!r}]" for k in keys])
    if isinstance(expected, str) or expected is None:
        ok = actual is None if expected is None else actual == expected
        return Comparison(ok, f"returned {actual!r}" + ("" if ok else f", expected {expected!r}"),
                          failure="" if ok else "values")
    if actual is None or not _is_array(actual):
        return _fail(f"returned {type(actual).__name__}, expected an array or number", "type")
    return _compare_arrays(actual, expected, rtol, atol, check_dtype)


def _combine(parts: list[Comparison], labels: list[str]) -> Comparison:
    if not parts:
        return Comparison(True, "empty sequence")
    ok = all(p.ok for p in parts)
    shown = [(lab, p) for lab, p in zip(labels, parts) if not p.ok] or list(zip(labels, parts))
    details: list[str] = []
    for lab, p in shown:
        if p.details:
            details += [f"{lab}:"] + [f"  {line}" for line in p.details]
    failure = next((p.failure for p in parts if not p.ok), "")
    message = "; ".join(f"{lab}: {p.message}" for lab, p in shown)
    if ok and len(shown) > 3 and len(message) > 120:  # a passing line stays short: two items, then names
        rest = ", ".join(lab for lab, _ in shown[2:])
        rest = rest if len(rest) <= 70 else f"{len(shown) - 2} more items"
        message = "; ".join(f"{lab}: {p.message}" for lab, p in shown[:2]) + f"; {rest}: as expected"
    return Comparison(ok, message,
                      max(p.max_abs for p in parts), max(p.max_rel for p in parts), failure, tuple(details))


def assert_close(actual: Any, expected: Any, rtol: float = 1e-7, atol: float = 1e-9,
                 name: str = "output", hint: str = "", check_dtype: bool = False) -> Comparison:
    """Print the comparison line and raise ``AssertionError`` (with ``hint``) if it fails."""
    __tracebackhide__ = True  # IPython shows the caller's frame, not this one
    result = compare(actual, expected, rtol, atol, check_dtype)
    tolerance = f" (tolerance rtol={rtol:g}, atol={atol:g})"
    print(f"{'PASS' if result.ok else 'FAIL'} {name}: {result.message}{tolerance}")
    for line in result.details:
        print(f"    {line}")
    if not result.ok:
        raise CheckFailed(f"{name}: {result.message}" + (f"\nHint: {hint}" if hint else ""))
    return result
