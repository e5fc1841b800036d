"""The toy exercise of the grading-contract tests, whose right answer is known: ``double(x) = 2 * x``
(3 points), with its visible and hidden cases and reference files as the grader holds them."""

from __future__ import annotations

import nbformat
import numpy as np

from autograder.assignments import Exercise


def spec(cases):
    """The exercise's rules, with ``cases``."""
    return {"numpy": True, "rtol": 1e-7, "atol": 1e-9, "hint": "multiply by two", "cases": cases}


X = [np.arange(3.0), np.ones((2, 2))]
HIDDEN_X = [np.full(4, 3.0), -np.eye(2)]
#: the reference files: visible and hidden cases with their expected outputs
VISIBLE = {"meta": {}, "exercises": {"double": spec([{"args": [x], "kwargs": {}, "expected": 2 * x} for x in X])}}
HIDDEN = {"meta": {}, "exercises": {"double": spec([{"args": [x], "kwargs": {}, "expected": 2 * x}
                                                    for x in HIDDEN_X])}}
#: the grader's cases file, as the kernel gets it: no hidden expected values
CASES = {"meta": {}, "exercises": {"double": {**spec(None), "visible": VISIBLE["exercises"]["double"]["cases"],
                                              "hidden": [{"args": [x], "kwargs": {}} for x in HIDDEN_X]}}}
DOUBLE = Exercise("double", 3, [], [])


def code_cell(source: str, grade_id: str | None = None) -> nbformat.NotebookNode:
    """A code cell; with ``grade_id``, a locked test cell of 3 points."""
    cell = nbformat.v4.new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "grade": True, "locked": True, "points": 3,
                                     "solution": False, "schema_version": 3}
    return cell
