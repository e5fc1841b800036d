"""Reference outputs on disk: named tensors with metadata, saved and loaded safely.

Everything is stored with ``torch.save`` as plain containers of tensors, numbers and strings, and
loaded with ``weights_only=True``: a file written by a student's kernel can never run code in the
grader's process. Numpy arrays become tensors on the way in.

File layout (visible references beside the student notebook, hidden ones in ``autograder/``)::

    {"meta": {"assignment", "torch", "numpy", "device", "dtype", "seed", "visibility"},
     "exercises": {name: {"numpy": bool, "rtol": float, "atol": float, "hint": str,
                          "cases": [{"args": [...], "kwargs": {...}, "expected": ...}]}}}
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

VISIBLE_FILE = "visible_references.pt"


def to_storable(x: Any) -> Any:
    """Convert numpy arrays/scalars to tensors/Python numbers, tensors to contiguous CPU copies."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu").contiguous().clone()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x).copy())
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (list, tuple)):
        return [to_storable(v) for v in x] if isinstance(x, list) else tuple(to_storable(v) for v in x)
    if isinstance(x, dict):
        return {str(k): to_storable(v) for k, v in x.items()}
    if x is None:
        return x
    for kind in (bool, int, float, str):  # plain types only (torch.__version__ is a str subclass)
        if isinstance(x, kind):
            return kind(x)
    return f"<unstorable {type(x).__name__}>"


def save(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` (made storable) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        torch.save(to_storable(obj), tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load(path: str | os.PathLike) -> Any:
    """Load a file written by :func:`save` without unpickling arbitrary objects."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def metadata(assignment: str, device: str, seed: int | str | None = None) -> dict[str, Any]:
    """The metadata recorded with every reference file."""
    return {
        "assignment": assignment,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": device,
        "dtype": "float64",
        "seed": seed,
    }
