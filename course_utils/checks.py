"""Compare an actual output with an expected one and say, in one line, how close they are.

Every test cell of the course goes through :func:`compare`. It accepts numpy arrays, torch tensors on
any device, Python numbers and (nested) tuples, lists and dicts of those. It never writes to stderr.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Comparison:
    """Outcome of :func:`compare`: ``ok`` and a one-line, human-readable ``message``."""

    ok: bool
    message: str
    max_abs: float = 0.0
    max_rel: float = 0.0

    def __bool__(self) -> bool:
        return self.ok


def as_numpy(x: Any) -> np.ndarray:
    """A numpy copy of an array-like (torch tensor on any device, numpy array, number)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def _is_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, torch.Tensor, np.generic, int, float, bool)) and not isinstance(x, str)


def _describe(a: np.ndarray) -> str:
    return f"shape {tuple(a.shape)} {a.dtype}"


def _compare_arrays(actual: Any, expected: Any, rtol: float, atol: float) -> Comparison:
    a, e = as_numpy(actual), as_numpy(expected)
    if a.shape != e.shape:
        return Comparison(False, f"shape {tuple(a.shape)} but expected {tuple(e.shape)}", math.inf, math.inf)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        return Comparison(False, f"dtype {a.dtype} is not numeric (expected {e.dtype})", math.inf, math.inf)
    if a.size == 0:
        return Comparison(True, f"{_describe(a)} (empty) matches")
    a64, e64 = np.atleast_1d(a.astype(np.float64)), np.atleast_1d(e.astype(np.float64))
    if not np.array_equal(np.isnan(a64), np.isnan(e64)):
        return Comparison(False, f"{_describe(a)} has NaN where the reference has none (or the reverse)",
                          math.inf, math.inf)
    with np.errstate(invalid="ignore", over="ignore"):
        # NaN where the reference has NaN, and infinities of the same sign, count as equal
        same = (np.isnan(a64) & np.isnan(e64)) | ((a64 == e64) & np.isinf(e64))
        diff = np.where(same, 0.0, np.abs(a64 - e64))
        scale = np.where(same | np.isinf(e64), 0.0, np.abs(e64))
        with np.errstate(divide="ignore"):  # a non-zero error against an exact 0 is infinitely relative
            rel = np.where(diff == 0, 0.0, diff / scale)
        max_abs, max_rel = float(np.nanmax(diff)), float(np.nanmax(rel))
        ok = bool(np.all(diff <= atol + rtol * scale))
    verdict = "matches" if ok else "differs"
    msg = (f"{_describe(a)} {verdict}: max abs err {max_abs:.2e}, max rel err {max_rel:.2e} "
           f"(tolerance rtol={rtol:g}, atol={atol:g})")
    return Comparison(ok, msg, max_abs, max_rel)


def compare(actual: Any, expected: Any, rtol: float = 1e-7, atol: float = 1e-9) -> Comparison:
    """Compare ``actual`` with ``expected`` elementwise: ``|a - e| <= atol + rtol * |e|``.

    Args:
        actual: what the student's code returned.
        expected: the reference output; tuples/lists/dicts are compared item by item.
        rtol, atol: relative and absolute tolerance.

    Returns:
        A :class:`Comparison` whose message states shape, dtype, max abs and rel error and tolerance.
    """
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)):
            return Comparison(False, f"returned {type(actual).__name__} but expected a sequence of "
                                     f"{len(expected)} items", math.inf, math.inf)
        if len(actual) != len(expected):
            return Comparison(False, f"returned {len(actual)} items but expected {len(expected)}",
                              math.inf, math.inf)
        parts = [compare(a, e, rtol, atol) for a, e in zip(actual, expected)]
        return _combine(parts, [f"[{i}]" for i in range(len(parts))])
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            got = sorted(actual) if isinstance(actual, dict) else type(actual).__name__
            return Comparison(False, f"returned {got} but expected keys {sorted(expected)}", math.inf, math.inf)
        keys = sorted(expected)
        return _combine([compare(actual[k], expected[k], rtol, atol) for k in keys], [f"[{k!r}]" for k in keys])
    if isinstance(expected, str):
        ok = actual == expected
        return Comparison(ok, f"{actual!r} {'matches' if ok else 'but expected'} {expected!r}")
    if actual is None or not _is_array(actual):
        return Comparison(False, f"returned {type(actual).__name__}, expected an array or number", math.inf, math.inf)
    return _compare_arrays(actual, expected, rtol, atol)


def _combine(parts: list[Comparison], labels: list[str]) -> Comparison:
    if not parts:
        return Comparison(True, "empty sequence matches")
    ok = all(p.ok for p in parts)
    shown = [f"{lab} {p.message}" for lab, p in zip(labels, parts) if not p.ok] or \
            [f"{lab} {p.message}" for lab, p in zip(labels, parts)]
    return Comparison(ok, "; ".join(shown), max(p.max_abs for p in parts), max(p.max_rel for p in parts))


def assert_close(actual: Any, expected: Any, rtol: float = 1e-7, atol: float = 1e-9,
                 name: str = "output", hint: str = "") -> Comparison:
    """Print the comparison line and raise ``AssertionError`` (with ``hint``) if it fails."""
    result = compare(actual, expected, rtol, atol)
    print(f"{'PASS' if result.ok else 'FAIL'} {name}: {result.message}")
    if not result.ok:
        raise AssertionError(f"{name}: {result.message}" + (f"\nHint: {hint}" if hint else ""))
    return result
