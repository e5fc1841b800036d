"""What the per-assignment oracle tests share: the committed reference cases, and a float64 check."""

from __future__ import annotations

import torch

from autograder.course import hidden_reference_file, visible_reference_file
from course_utils import store


def reference_cases(assignment: str, name: str, which=("visible", "hidden")) -> list[dict]:
    """The committed cases (args, kwargs, expected) of exercise ``name``, visible ones first."""
    files = {"visible": visible_reference_file(assignment), "hidden": hidden_reference_file(assignment)}
    return [c for w in which for c in store.load(files[w])["exercises"][name]["cases"]]


def close(actual, expected, atol: float = 1e-10) -> None:
    """Assert two arrays agree in float64 to rtol 1e-9 and ``atol``."""
    torch.testing.assert_close(torch.as_tensor(actual, dtype=torch.float64),
                               torch.as_tensor(expected, dtype=torch.float64), rtol=1e-9, atol=atol)


def pair(v) -> tuple:
    """An int or a pair as a pair: ``3 -> (3, 3)``, ``(2, 3) -> (2, 3)``."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)
