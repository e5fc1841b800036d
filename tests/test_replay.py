"""Replayed answers (course_utils.replay): an exercise is checked with the reference's answers of what it
builds on, and learns nothing else from them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from course_utils import replay
from course_utils.checks import compare
from course_utils.grading import judge, run_case

CPU = torch.device("cpu")
RULES = {"numpy": True, "rtol": 1e-12, "atol": 0.0, "returns": "numpy"}

# an exercise `area` that builds on `side`; the reference's, a student's wrong side, and a student's area
# that calls side with other arguments than the reference does
REFERENCE = '''
import numpy as np
def side(x, scale=1.0):
    return np.abs(x) * scale
def area(x):
    return side(x) * side(x[::-1]).sum()
'''
WRONG_SIDE = REFERENCE.replace("np.abs(x) * scale", "x * scale")
OTHER_CALLS = WRONG_SIDE.replace("side(x) * side(x[::-1]).sum()", "side(2 * x) / 2 * side(x[::-1]).sum()")


def _namespace(source: str) -> dict:
    ns: dict = {}
    exec(source, ns)  # noqa: S102 - test code
    return ns


def _recorded(case: dict, source: str = REFERENCE, name: str = "area", builds_on=("side",)) -> dict:
    ns = _namespace(source)
    record = run_case(ns[name], case, True, CPU, builds_on=list(builds_on), record_replays=True)
    assert "output" in record, record
    return record


def test_a_right_answer_passes_whatever_the_student_dependency_does():
    case = {"args": [torch.tensor([-1.0, 2.0, -3.0], dtype=torch.float64)]}
    reference = _recorded(case)
    assert set(reference["replay"]) == {"side"} and len(reference["replay"]["side"]) == 2
    wrong = _namespace(WRONG_SIDE)
    alone = run_case(wrong["area"], case, True, CPU)  # no replay: the wrong side costs area too
    assert not judge(alone, reference["output"], RULES).ok
    replayed = run_case(wrong["area"], dict(case, replay=reference["replay"]), True, CPU, builds_on=["side"])
    assert judge(replayed, reference["output"], RULES).ok
    assert replayed["replayed"] == {"side": 2} and "own" not in replayed
    assert wrong["side"](np.array([-1.0]))[0] == -1.0  # the namespace is restored after the call


def test_calls_the_reference_never_makes_go_to_the_student_and_are_named():
    case = {"args": [torch.tensor([-1.0, 2.0, -3.0], dtype=torch.float64)]}
    reference = _recorded(case)
    other = _namespace(OTHER_CALLS)
    result = run_case(other["area"], dict(case, replay=reference["replay"]), True, CPU, builds_on=["side"])
    assert result["own"] == {"side": 1} and result["replayed"] == {"side": 1}
    verdict = judge(result, reference["output"], RULES)
    assert not verdict.ok and any("1 call(s) of side went to your own side" in d for d in verdict.details)


def test_module_classes_are_replayed_by_their_inputs_and_state():
    source = '''
import torch
from torch import nn
class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
    def forward(self, x):
        return torch.relu(self.conv(x))
def stage(x):
    torch.manual_seed(0)
    block = Block(x.shape[1]).double()
    with torch.no_grad():  # as the course's probes run modules (an output with a graph is not replayed)
        return block(x.flip(-1)) + 1
'''
    case = {"args": [torch.randn(1, 2, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))]}
    rules = dict(RULES, numpy=False, returns="torch")
    ns = _namespace(source)
    reference = run_case(ns["stage"], dict(case), False, CPU, builds_on=["Block"], record_replays=True)
    broken = _namespace(source.replace("torch.relu(self.conv(x))", "self.conv(x)"))  # forgot the ReLU
    assert not judge(run_case(broken["stage"], dict(case), False, CPU), reference["output"], rules).ok
    replayed = run_case(broken["stage"], dict(case, replay=reference["replay"]), False, CPU, builds_on=["Block"])
    assert judge(replayed, reference["output"], rules).ok and replayed["replayed"] == {"Block": 1}
    # other parameter values are another call: the student's own Block answers it
    seeded = _namespace(source.replace("torch.manual_seed(0)", "torch.manual_seed(5)"))
    other = run_case(seeded["stage"], dict(case, replay=reference["replay"]), False, CPU, builds_on=["Block"])
    assert other["own"] == {"Block": 1}


def test_a_sealed_answer_opens_only_with_the_exact_call():
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    secret = torch.tensor([123.25, -7.5], dtype=torch.float64)
    right = replay.fingerprint("side", [("x", x), ("scale", 1.0)])
    sealed = replay.seal(right, secret)
    assert secret.numpy().tobytes() not in sealed.numpy().tobytes()
    assert compare(replay.unseal(right, sealed, CPU), secret.numpy(), 0, 0).ok
    for wrong in (replay.fingerprint("side", [("x", x), ("scale", 1.0000001)]),
                  replay.fingerprint("side", [("x", x.float()), ("scale", 1.0)]),
                  replay.fingerprint("other", [("x", x), ("scale", 1.0)])):
        assert replay.key_of(wrong) != replay.key_of(right)
        with pytest.raises(Exception), warnings.catch_warnings():  # noqa: B017 - garbage fails somehow
            warnings.simplefilter("ignore")  # torch.load warns about the garbage's pickle protocol
            replay.unseal(wrong, sealed, CPU)


def test_arguments_that_cannot_be_keyed_are_not_replayed():
    with pytest.raises(replay.Unkeyable):
        replay.fingerprint("side", [("x", object())])
    source = "import numpy as np\ndef apply(x, f):\n    return f(x)\ndef half(x):\n    return apply(x, np.abs) / 2\n"
    case = {"args": [torch.tensor([-1.0, 2.0], dtype=torch.float64)]}
    reference = _recorded(case, source, "half", builds_on=["apply"])  # a ufunc argument has no key
    assert reference["replay"] == {} and replay.case_key(_namespace(source)["apply"], [1.0, np.abs], {}) is None
    result = run_case(_namespace(source)["half"], dict(case, replay=reference["replay"]), True, CPU,
                      builds_on=["apply"])
    assert result["own"] == {"apply": 1} and judge(result, reference["output"], RULES).ok


def test_a_case_that_must_raise():
    source = '''
def rule(name):
    if name not in ("a", "b"):
        raise ValueError(f"unknown {name}")
    return 1
def lax(name):
    return 1
def wrong_kind(name):
    raise KeyError(name)
'''
    ns = _namespace(source)
    expected = {"<raises>": "ValueError"}
    assert judge(run_case(ns["rule"], {"args": ["c"]}, True, CPU), expected, RULES).ok
    lax = judge(run_case(ns["lax"], {"args": ["c"]}, True, CPU), expected, RULES)
    assert not lax.ok and lax.failure == "raised no ValueError"
    kind = judge(run_case(ns["wrong_kind"], {"args": ["c"]}, True, CPU), expected, RULES)
    assert not kind.ok and kind.failure == "raised KeyError instead of ValueError"


def test_outputs_with_a_graph_or_of_unknown_kind_are_not_replayed():
    source = '''
import torch
def square(x):
    return x ** 2
def loss(x):
    y = x.detach().clone().requires_grad_(True)
    return square(y).sum()
def boxed(x):
    return {"v": square(x)}
'''
    case = {"args": [torch.tensor([1.0, -2.0], dtype=torch.float64)]}
    graph = run_case(_namespace(source)["loss"], dict(case), False, CPU, builds_on=["square"], record_replays=True)
    assert graph["replay"] == {}  # the answer carries a graph: a detached replay would cut it
    plain = run_case(_namespace(source)["boxed"], dict(case), False, CPU, builds_on=["square"], record_replays=True)
    assert len(plain["replay"]["square"]) == 1
    assert not replay.replayable(object()) and replay.replayable({"a": [1, 2.0, None, torch.zeros(2)]})


def test_calls_with_an_argument_that_requires_grad_are_neither_recorded_nor_replayed():
    # `fit` takes its targets from `features` on a detached input, then calls `features` again on an input
    # that requires grad and holds the same values: a replay of the first call would cut the graph
    source = '''
import torch
def features(x):
    return (x * 2).detach() if not x.requires_grad else x * 2
def fit(x):
    target = features(x) + 1
    y = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(((features(y) - target) ** 2).sum(), y)
    return grad
'''
    case = {"args": [torch.tensor([1.0, -2.0], dtype=torch.float64)]}
    reference = run_case(_namespace(source)["fit"], dict(case), False, CPU, builds_on=["features"],
                         record_replays=True)
    assert len(reference["replay"]["features"]) == 1  # only the call on the detached input
    again = run_case(_namespace(source)["fit"], dict(case, replay=reference["replay"]), False, CPU,
                     builds_on=["features"])
    assert judge(again, reference["output"], {**RULES, "numpy": False, "returns": "torch"}).ok
    assert again["replayed"] == {"features": 1}
    assert replay.wants_graph([("x", [torch.zeros(1, requires_grad=True)])])
    assert not replay.wants_graph([("x", {"a": torch.zeros(1)}), ("n", 3)])
