"""Replayed answers: an exercise that builds on another is checked with the reference's answers of
what it builds on, so that a bug costs only the exercise it is in.

When ``cvcourse references`` runs the instructor's solution of an exercise ``A`` whose spec names
``builds_on = ("B",)``, every call ``A`` makes to ``B`` (a function, or a module class whose
``forward`` is called) is recorded as a pair (key, sealed output):

* the *key* is a digest of the call: ``B``'s name and its bound arguments (defaults applied; arrays by
  dtype, shape and bytes; modules by class, mode and every parameter and buffer);
* the *sealed output* is ``B``'s output, encrypted with a key stream derived from the call itself.

When a student's ``A`` runs on that case, the name ``B`` in its namespace is replaced, for the call
only, by a stand-in: a call with the same key gets the reference's output, any other call goes to the
student's own ``B``. So a right ``A`` passes whatever the student's ``B`` does, and a failing ``A``
is told when its calls of ``B`` were not the reference's (its own ``B`` answered them).

What the kernel can learn from a replay: ``B``'s output on an input it can construct exactly, which
for a dependency inside ``A`` means doing ``A``'s own work up to that call. ``cvcourse references``
refuses a replay whose key is the key of one of ``B``'s own hidden cases, so a replay never answers
a hidden case. Keys are bit-exact: a student ``A`` that computes the arguments of ``B`` in another
order of floating-point operations, or a run on another device than the references', gets no replay
and uses the student's ``B`` (which is the old behaviour, never a false failure of a right answer).
A call that passes a tensor requiring grad is neither recorded nor replayed (:func:`wants_graph`): its
caller may backpropagate through the answer, and a replay is detached.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from . import store

_KEY = b"cvcourse replay key\0"
_SEAL = b"cvcourse replay seal\0"


class Unkeyable(Exception):
    """A call whose arguments cannot be fingerprinted (an object of unknown kind): it is not replayed."""


def _feed(h: Any, value: Any) -> None:
    """Feed a canonical encoding of ``value`` into the hash ``h`` (see module docstring)."""
    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        h.update(f"A{a.dtype.str}{a.shape}|".encode())
        h.update(a.tobytes())
    elif isinstance(value, nn.Module):
        h.update(f"M{type(value).__qualname__}:{value.training}|".encode())
        for name, tensor in value.state_dict(keep_vars=False).items():
            h.update(f"{name}=".encode())
            _feed(h, tensor)
    elif isinstance(value, np.generic):
        _feed(h, value.item())
    elif value is None or isinstance(value, (bool, int, float, complex, str)):
        h.update(f"P{type(value).__name__}:{value!r}|".encode())
    elif isinstance(value, (list, tuple)):
        h.update(f"S{len(value)}[".encode())
        for v in value:
            _feed(h, v)
        h.update(b"]")
    elif isinstance(value, dict):
        h.update(f"D{len(value)}{{".encode())
        for k in sorted(value, key=str):
            h.update(f"{k!s}:".encode())
            _feed(h, value[k])
        h.update(b"}")
    else:
        raise Unkeyable(type(value).__name__)


def fingerprint(name: str, bound: list[tuple[str, Any]]) -> bytes:
    """The digest of a call of ``name`` with bound arguments ``[(parameter, value), ...]``."""
    h = hashlib.sha256()
    _feed(h, [name, [list(p) for p in bound]])
    return h.digest()


def key_of(print_: bytes) -> str:
    """The key under which a call's output is stored (reveals nothing about the call's output)."""
    return hashlib.sha256(_KEY + print_).hexdigest()


def _stream(print_: bytes, n: int) -> np.ndarray:
    blocks = (n + 31) // 32
    raw = b"".join(hashlib.sha256(_SEAL + print_ + i.to_bytes(8, "little")).digest() for i in range(blocks))
    return np.frombuffer(raw[:n], dtype=np.uint8)


def seal(print_: bytes, output: Any) -> torch.Tensor:
    """``output`` saved and encrypted with the key stream of the call (a uint8 tensor)."""
    from .grading import array_library

    buffer = io.BytesIO()
    torch.save({"output": store.to_storable(output), "library": array_library(output)}, buffer)
    data = np.frombuffer(buffer.getvalue(), dtype=np.uint8)
    return torch.from_numpy(data ^ _stream(print_, data.size))


def unseal(print_: bytes, sealed: torch.Tensor, device: torch.device) -> Any:
    """The output a call sealed with :func:`seal`, as the kind of arrays it was (numpy or on ``device``)."""
    from .grading import prepare_args

    data = sealed.numpy() ^ _stream(print_, sealed.numel())
    saved = torch.load(io.BytesIO(data.tobytes()), map_location="cpu", weights_only=True)
    return prepare_args(saved["output"], saved["library"] == "numpy", device)


def _bound(signature: inspect.Signature, args: tuple, kwargs: dict, skip_first: bool = False) \
        -> list[tuple[str, Any]] | None:
    """The arguments of a call by parameter name, defaults applied; None if they do not bind."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    items = list(bound.arguments.items())
    return items[1:] if skip_first else items


def _signature(fn: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def namespace_of(fn: Any) -> dict | None:
    """The global namespace in which ``fn`` looks up the names it builds on (a notebook's ``__main__``)."""
    ns = getattr(fn, "__globals__", None)
    if ns is None:
        module = sys.modules.get(getattr(fn, "__module__", "") or "")
        ns = vars(module) if module is not None else None
    return ns


class _Calls:
    """A stand-in factory: wraps a function or module class so that each call goes through ``on_call``
    (``on_call(name, bound_args, call_original)`` returns the call's result)."""

    def __init__(self, on_call: Callable[[str, list, Callable[[], Any], Any], Any]):
        self.on_call = on_call

    def wrap(self, name: str, original: Any) -> Any:
        on_call = self.on_call
        if isinstance(original, type) and issubclass(original, nn.Module):
            signature = _signature(original.forward)

            def forward(self, *args, **kwargs):
                bound = _bound(signature, (self, *args), kwargs, skip_first=True) if signature else None
                state = [("<module>", self)]
                call = lambda: original.forward(self, *args, **kwargs)  # noqa: E731
                return call() if bound is None else on_call(name, state + bound, call, self)

            return type(original.__name__, (original,), {"forward": forward, "__module__": original.__module__,
                                                         "__qualname__": original.__qualname__})
        if callable(original) and not isinstance(original, type):
            signature = _signature(original)

            def stand_in(*args, **kwargs):
                bound = _bound(signature, args, kwargs) if signature else None
                call = lambda: original(*args, **kwargs)  # noqa: E731
                return call() if bound is None else on_call(name, bound, call, None)

            stand_in.__name__ = getattr(original, "__name__", name)
            stand_in.__doc__ = getattr(original, "__doc__", None)
            stand_in.__wrapped__ = original
            return stand_in
        return original

    @contextlib.contextmanager
    def patched(self, namespace: dict | None, names: list[str]) -> Iterator[None]:
        """Within the block, each of ``names`` in ``namespace`` is its stand-in (names absent are left)."""
        saved = {n: namespace[n] for n in names if namespace is not None and n in namespace}
        try:
            for n, original in saved.items():
                namespace[n] = self.wrap(n, original)
            yield
        finally:
            for n, original in saved.items():
                namespace[n] = original


def wants_graph(bound: list[tuple[str, Any]]) -> bool:
    """Whether a call passes a tensor that requires grad (directly or in a list, tuple or dict): its caller
    may backpropagate through the output, which a detached replay would cut, so such a call is neither
    recorded nor replayed (the same function called on a detached copy of the same values is)."""
    def needs(value: Any) -> bool:
        if isinstance(value, torch.Tensor):
            return value.requires_grad
        if isinstance(value, (list, tuple)):
            return any(needs(v) for v in value)
        if isinstance(value, dict):
            return any(needs(v) for v in value.values())
        return False

    return any(needs(v) for _, v in bound)


def replayable(value: Any) -> bool:
    """Whether an output can be replayed as it was: arrays, numbers, strings and None in lists, tuples
    and dicts, and no tensor that carries a graph (a replay is a detached copy)."""
    if isinstance(value, torch.Tensor):
        return not value.requires_grad
    if isinstance(value, (list, tuple)):
        return all(replayable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and replayable(v) for k, v in value.items())
    return value is None or isinstance(value, (np.ndarray, np.generic, bool, int, float, str))


class Recorder(_Calls):
    """Records the key and sealed output of every call (``calls``: name -> list of entries); a call
    whose output is not :func:`replayable` is not recorded, so the student's own code answers it."""

    def __init__(self):
        super().__init__(self._record)
        self.calls: dict[str, list[dict[str, Any]]] = {}

    def _record(self, name, bound, call, _module):
        out = call()
        if not replayable(out) or wants_graph(bound):
            return out
        try:
            print_ = fingerprint(name, bound)
        except Unkeyable:
            return out
        entries = self.calls.setdefault(name, [])
        key = key_of(print_)
        if all(e["key"] != key for e in entries):
            entries.append({"key": key, "sealed": seal(print_, out)})
        return out


class Replayer(_Calls):
    """Answers the recorded calls from their sealed outputs; counts ``hits`` and ``misses`` per name."""

    def __init__(self, replay: dict[str, list[dict[str, Any]]], device: torch.device):
        super().__init__(self._replay)
        self.table = {name: {e["key"]: e["sealed"] for e in entries if isinstance(e, dict)}
                      for name, entries in replay.items() if isinstance(entries, list)}
        self.device = device
        self.hits: Counter = Counter()
        self.misses: Counter = Counter()

    def _replay(self, name, bound, call, _module):
        try:
            print_ = None if wants_graph(bound) else fingerprint(name, bound)
        except Unkeyable:
            print_ = None
        sealed = self.table.get(name, {}).get(key_of(print_)) if print_ is not None else None
        if sealed is None:
            self.misses[name] += 1
            return call()
        self.hits[name] += 1
        return unseal(print_, sealed, self.device)


def case_key(fn: Callable, args: list, kwargs: dict) -> str | None:
    """The key a replay of ``fn`` on these arguments would have (None if they do not bind or key)."""
    signature = _signature(fn)
    bound = _bound(signature, tuple(args), kwargs) if signature else None
    if bound is None:
        return None
    try:
        return key_of(fingerprint(getattr(fn, "__name__", ""), bound))
    except Unkeyable:
        return None
