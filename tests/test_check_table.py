"""The table of broken policies: each yields its expected code at its line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

CASES = YAML(typ="safe").load((Path(__file__).parent / "cases" / "broken_policies.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_broken_policy_reports_located_code(case, load_text):
    result = load_text(case["policy"])
    got = [[d.code, d.span.line, d.span.column] for d in result.diagnostics if d.span]
    for expected in case["expect"]:
        assert expected in got, f"expected {expected}, got {got}"
    assert not result.ok
