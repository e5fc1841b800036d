"""What the per-assignment oracle tests share: the committed reference cases, a float64 check, and the probe
networks of course_utils.models.tiny re-run stage by stage with functional ops."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.assignments import exercises
from autograder.course import hidden_reference_file, visible_reference_file
from course_utils import store
from course_utils.grading import RAISES
from course_utils.models.tiny import probe_model
from course_utils.probes import LEFT_BEHIND


#: What a clean call leaves behind, field by field (course_utils.probes.LEFT_BEHIND).
NOTHING_LEFT = [0] * (len(LEFT_BEHIND) - 1) + [False]


def reference_cases(assignment: str, name: str, which=("visible", "hidden")) -> list[dict]:
    """The committed cases (args, kwargs, expected) of exercise ``name``, visible ones first."""
    files = {"visible": visible_reference_file(assignment), "hidden": hidden_reference_file(assignment)}
    return [c for w in which for c in store.load(files[w])["exercises"][name]["cases"]]


def returning_cases(assignment: str, name: str, which=("visible", "hidden")) -> list[dict]:
    """The committed cases of exercise ``name`` that return (not those whose expected output is a raise)."""
    return [c for c in reference_cases(assignment, name, which)
            if not (isinstance(c["expected"], dict) and RAISES in c["expected"])]


def check_references_cover_the_spec(assignment: str) -> None:
    """Assert both reference files of ``assignment`` are float64 (tensors in them float64, or integer or boolean;
    float32 only where a float32 input asks for it, the dtype being part of the answer) and hold one case per
    case of the spec, a case that must raise recording exactly the exception the spec names."""
    for which, path in (("visible", visible_reference_file(assignment)), ("hidden", hidden_reference_file(assignment))):
        data = store.load(path)
        assert data["meta"]["assignment"] == assignment and data["meta"]["dtype"] == "float64"
        for ex in exercises(assignment):
            cases = data["exercises"][ex.name]["cases"]
            assert len(cases) == len(getattr(ex, which)), ex.name
            for case, spec in zip(cases, getattr(ex, which)):
                if spec.raises:
                    assert case["expected"] == {RAISES: spec.raises}, ex.name
                else:
                    out = case["expected"] if isinstance(case["expected"], (tuple, list)) else (case["expected"],)
                    assert not (isinstance(case["expected"], dict) and RAISES in case["expected"]), ex.name
                    inputs = [a for a in case["args"] if isinstance(a, torch.Tensor)]
                    floats = {torch.float32, torch.float64} if any(a.dtype == torch.float32 for a in inputs) \
                        else {torch.float64}
                    assert all(v.dtype in floats | {torch.int64, torch.bool} for v in out
                               if isinstance(v, torch.Tensor)), ex.name


def close(actual, expected, atol: float = 1e-10) -> None:
    """Assert two arrays agree in float64 to rtol 1e-9 and ``atol``."""
    torch.testing.assert_close(torch.as_tensor(actual, dtype=torch.float64),
                               torch.as_tensor(expected, dtype=torch.float64), rtol=1e-9, atol=atol)


def pair(v) -> tuple:
    """An int or a pair as a pair: ``3 -> (3, 3)``, ``(2, 3) -> (2, 3)``."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def probe_stages(kind, seed, relu=F.relu):
    """The probe network as (layer name, function) stages: its parameters, functional ops, ``relu`` for ReLU."""
    p = {name: v.detach() for name, v in probe_model(kind, seed).named_parameters()}
    if kind == "paper":
        return [("conv", lambda x: F.conv2d(x, p["conv.weight"])), ("relu", relu),
                ("gap", lambda x: x.mean(dim=(2, 3))), ("fc", lambda x: x @ p["fc.weight"].T)]
    return [("features.conv1", lambda x: F.conv2d(x, p["features.conv1.weight"], p["features.conv1.bias"], padding=1)),
            ("features.relu1", relu), ("features.pool1", lambda x: F.max_pool2d(x, 2)),
            ("features.conv2", lambda x: F.conv2d(x, p["features.conv2.weight"], p["features.conv2.bias"], padding=1)),
            ("features.relu2", relu), ("gap", lambda x: x.mean(dim=(2, 3))),
            ("fc", lambda x: x @ p["fc.weight"].T + p["fc.bias"])]


def run_stages(stages, x, start=None, stop=None):
    """``x`` through the stages after ``start`` up to and including ``stop`` (names; None: the ends)."""
    names = [name for name, _ in stages]
    for _, fn in stages[names.index(start) + 1 if start else 0:names.index(stop) + 1 if stop else None]:
        x = fn(x)
    return x
