"""course_utils.probes: what a call left behind on a model, and how the grader names it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.grading import KIND_HINTS, choose_hint, judge
from course_utils.probes import LEFT_BEHIND, SideEffectsAfterError, side_effects


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).eval()


def test_a_clean_call_leaves_nothing():
    model, x = _model(), torch.randn(1, 3)
    result, left = side_effects(model, lambda: torch.autograd.grad(model(x).sum(), model[0].weight)[0], x)
    assert result.shape == (4, 3) and left == (0, 0, 0, 0, False)


@pytest.mark.parametrize("mess, expected", [
    (lambda m, x: m[1].register_forward_hook(lambda *a: None), (1, 0, 0, 0, False)),
    (lambda m, x: m(x).sum().backward(), (0, 2 + 2, 0, 0, False)),
    (lambda m, x: m.train(), (0, 0, 4, 0, False)),
    (lambda m, x: m[0].bias.data.add_(1.0), (0, 0, 0, 1, False)),
    (lambda m, x: [p.requires_grad_(False) for p in m.parameters()], (0, 0, 0, 4, False)),
    (lambda m, x: x.requires_grad_(True), (0, 0, 0, 0, True)),
])
def test_each_kind_of_side_effect_is_counted(mess, expected):
    model, x = _model(), torch.randn(1, 3)
    _, left = side_effects(model, lambda: mess(model, x), x)
    assert dict(zip(LEFT_BEHIND, left)) == dict(zip(LEFT_BEHIND, expected))


def test_an_error_goes_on_unless_something_was_left_behind():
    model = _model()

    def fails():
        raise KeyError("x")

    with pytest.raises(KeyError):
        side_effects(model, fails)

    def fails_with_a_hook():
        model.register_forward_pre_hook(lambda *a: None)
        raise KeyError("x")

    with pytest.raises(SideEffectsAfterError, match="hooks left 1"):
        side_effects(model, fails_with_a_hook)


def test_a_side_effect_field_names_its_failure_and_hint():
    rules = {"numpy": False, "rtol": 0.0, "atol": 0.0, "returns": "torch", "hint": "average the gradients",
             "fields": ["map", *LEFT_BEHIND[:4]]}
    result = {"output": (torch.zeros(2), 1, 0, 0, 0), "arrays": "torch"}
    verdict = judge(result, (torch.zeros(2), 0, 0, 0, 0), rules)
    assert not verdict.ok and verdict.failure == "side effect (hooks left)"
    assert verdict.message == "hooks left: returned 1, expected 0"
    assert choose_hint(rules, [verdict.failure]) == KIND_HINTS["side"]
    wrong_map = judge({"output": (torch.ones(2), 0, 0, 0, 0), "arrays": "torch"}, (torch.zeros(2), 0, 0, 0, 0), rules)
    assert wrong_map.failure == "values" and choose_hint(rules, [wrong_map.failure]) == "average the gradients"
