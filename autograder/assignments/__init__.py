"""What the autograder knows about each assignment: its graded cases and its sample bugs.

Each assignment ``NN_topic`` has a module ``aNN_topic`` here that defines

* ``EXERCISES``: a list of :class:`Exercise`, one per autograded test cell. The test cell's grade id is
  ``test_<name>`` and the solution cell's grade id is ``<name>``;
* ``BUGS``: a list of :class:`Bug`, plausible student mistakes used to build the ``partial`` sample.

Inputs are generated here from fixed seeds; expected outputs are *not*: ``cvcourse references``
produces them by running the instructor's solution notebook on these inputs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Case:
    """One call of an exercise: ``fn(*args, **kwargs)``. Arrays may be numpy or torch.

    ``raises``: the name of the exception the call must raise (a subclass counts); empty: it returns.
    """

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    raises: str = ""


@dataclass(frozen=True)
class Rule:
    """One rule that an exercise's docstring states, beside what checks it.

    ``checked_by`` is ``"every case"`` (a check the grader applies to every case: dtype, inputs left
    unchanged, the kind of arrays), or case labels such as ``"visible 1, hidden 3"`` (1-based),
    optionally followed by ``": "`` and what those cases hold.
    """

    text: str
    checked_by: str


def on_cases(visible=(), hidden=(), what: str = "") -> str:
    """``checked_by`` of a :class:`Rule`: ``"visible 1, hidden 2: what"`` from case numbers (1-based)."""
    labels = ", ".join([f"visible {i}" for i in visible] + [f"hidden {i}" for i in hidden])
    return f"{labels}: {what}" if what else labels


#: The rule of every exercise that takes arrays or tensors, besides its own.
UNCHANGED = Rule("The input arrays are left unchanged (the rule every check states).",
                 "every case: each array argument is compared with a pristine copy after the call")


def forbids_rule(calls: str) -> Rule:
    """The rule of an exercise that forbids ``calls`` (the grader finds them in the answer cell)."""
    return Rule(f"Do not use {calls}; the grader withholds the points of an answer that does.",
                "every case: the grader finds such calls in the answer cell (forbids) and withholds the points")


@dataclass(frozen=True)
class Exercise:
    """An autograded exercise.

    Attributes:
        name: the function (or class) the student writes; also the solution cell's grade id.
        points: points of its test cell.
        visible: cases whose inputs and expected outputs ship with the student notebook.
        hidden: cases whose expected outputs stay in ``autograder/references``.
        numpy: call the student's function with numpy arrays (else torch tensors on the course device).
        rtol, atol: tolerance of the comparison with the reference output.
        hint: one sentence shown when a visible check fails.
        forbids: dotted names the answer cell may not use (``"torch.nn.functional.conv2d"``; a module
            forbids everything in it). The grader withholds the points and says why.
        fields: names of the items of a tuple result (``("dx", "dw", "db")``), used in messages;
            empty: items are named by position.
        returns: ``"numpy"`` or ``"torch"``, the kind of arrays the exercise returns; empty: the kind
            it is called with (``numpy``). Python numbers are judged by kind (see course_utils.checks).
        copies: the spec promises a new array: an output sharing memory with an input fails.
        builds_on: names (functions, module classes) in the student's namespace that the answer is
            meant to call, each another exercise: on every case their calls get the reference's
            answers (:mod:`course_utils.replay`), so a bug in one of them costs only its own exercise.
        spec_rules: every rule the docstring states, each with the cases that check it.
    """

    name: str
    points: int
    visible: list[Case]
    hidden: list[Case]
    numpy: bool = True
    rtol: float = 1e-7
    atol: float = 1e-9
    hint: str = ""
    forbids: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    returns: str = ""
    copies: bool = False
    builds_on: tuple[str, ...] = ()
    spec_rules: tuple[Rule, ...] = ()

    def rules(self) -> dict[str, Any]:
        """What the notebook side and the scorer need to know of the exercise besides its cases: the
        rules :func:`course_utils.grading.judge` applies to each case, the hint and the forbidden calls."""
        return {"numpy": self.numpy, "rtol": self.rtol, "atol": self.atol, "fields": list(self.fields),
                "returns": self.returns, "copies": self.copies, "hint": self.hint, "forbids": list(self.forbids),
                "builds_on": list(self.builds_on)}


@dataclass(frozen=True)
class Bug:
    """A plausible student mistake: replace ``find`` by ``replace`` in the solution cell ``exercise``.

    The ``partial`` sample applies every bug of an assignment; each must lose exactly the points of
    ``exercise`` and nothing else.
    """

    exercise: str
    find: str
    replace: str
    why: str


def randn(*shape: int, seed: int) -> np.ndarray:
    """Standard normal float64 array of the given shape from its own seeded generator."""
    return np.random.default_rng(seed).standard_normal(shape)


def tensor64(values) -> torch.Tensor:
    """A float64 tensor of nested lists of numbers (a worked example typed in by hand)."""
    return torch.tensor(values, dtype=torch.float64)


def normal(shape: tuple, seed: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    """Tensor of the given shape, float64, ``scale * N(0, 1) + shift`` from its own seeded generator."""
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape) * scale + shift)


def uniform_image(seed: int, size: tuple = (10, 10), channels: int = 3) -> torch.Tensor:
    """A batch of one float64 image Tensor[1, channels, H, W] with values uniform in [-1, 1] (seeded)."""
    return torch.from_numpy(np.random.default_rng(seed).uniform(-1.0, 1.0, (1, channels, *size)))


def module(assignment: str) -> ModuleType:
    """The spec module of ``assignment`` (e.g. ``"01_conv_pool"`` -> ``aNN`` module)."""
    return importlib.import_module(f"{__name__}.a{assignment}")


def exercises(assignment: str) -> list[Exercise]:
    return list(module(assignment).EXERCISES)


def bugs(assignment: str) -> list[Bug]:
    return list(getattr(module(assignment), "BUGS", []))


def case_to_dict(case: Case) -> dict[str, Any]:
    return {"args": list(case.args), "kwargs": dict(case.kwargs)}
