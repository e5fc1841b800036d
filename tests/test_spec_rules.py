"""Every exercise lists the rules its docstring states, each beside the cases that check it (issue 11)."""

from __future__ import annotations

import re

import pytest

from autograder import assignments as specs

from conftest import ASSIGNMENTS

_LABEL = re.compile(r"(visible|hidden) (\d+)")


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_exercise_lists_its_rules_and_each_rule_names_real_cases(name):
    for ex in specs.exercises(name):
        assert ex.spec_rules, f"{name}/{ex.name} lists no rules"
        for rule in ex.spec_rules:
            where = rule.checked_by.split(": ", 1)[0]
            assert where == "every case" or _LABEL.search(where), (ex.name, rule)
            for which, index in _LABEL.findall(where):
                assert 1 <= int(index) <= len(getattr(ex, which)), (ex.name, rule.text, which, index)
        raising = {f"{w} {i}" for w in ("visible", "hidden") for i, c in enumerate(getattr(ex, w), 1) if c.raises}
        cited = {f"{w} {i}" for rule in ex.spec_rules for w, i in _LABEL.findall(rule.checked_by)}
        assert raising <= cited, f"{ex.name}: cases that must raise and no rule says why: {raising - cited}"
