"""The table of broken policies: each yields its expected code at its line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import EMITTED_CODE
from ruamel.yaml import YAML

CASES = YAML(typ="safe").load((Path(__file__).parent / "cases" / "broken_policies.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_broken_policy_reports_located_code(case, load_text):
    result = load_text(case["policy"])
    got = [[d.code, d.span.line, d.span.column] for d in result.diagnostics if d.span]
    for expected in case["expect"]:
        assert expected in got, f"expected {expected}, got {got}"
    assert not result.ok


def test_every_emitted_code_is_documented():
    import re

    root = Path(__file__).resolve().parent.parent
    emitted = set()
    for path in (root / "engine").rglob("*.py"):
        emitted |= set(EMITTED_CODE.findall(path.read_text(encoding="utf-8")))
    documented = set(re.findall(r"^## ([EW]\d{3}) ", (root / "docs" / "diagnostics.md").read_text(encoding="utf-8"), re.M))
    assert emitted and not emitted - documented, f"undocumented codes: {sorted(emitted - documented)}"


def test_the_table_of_codes_lists_every_documented_code_with_its_title():
    import re

    page = (Path(__file__).resolve().parent.parent / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## ([EW]\d{3}) — (.+)$", page, re.M))
    table = dict(re.findall(r"^\| \[([EW]\d{3})\]\(#[^)]*\) \| (?:error|warning) \| (.+?) \|$", page, re.M))
    assert sections and table == sections
    ranges = re.findall(r"^\| ([EW]\d{3})–([EW]\d{3})(?:, ([EW]\d{3})–([EW]\d{3}))? \|", page, re.M)
    covered = [(lo, hi) for r in ranges for lo, hi in (r[:2], r[2:]) if lo]
    for code in sections:
        assert any(lo[0] == code[0] and lo <= code <= hi for lo, hi in covered), f"{code} is in no range of the table"
