"""Every shipped ruleset checks clean, and its IR round-trips through JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import ir
from engine.loader import Loader

ROOT = Path(__file__).resolve().parent.parent
POLICIES = sorted((ROOT / "rulesets").rglob("*.kefu"))
SHOPS = sorted((ROOT / "rulesets" / "examples").glob("*.kefu"))


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_ruleset_checks_clean(path):
    result = Loader().load(path)
    assert result.diagnostics == []


@pytest.mark.parametrize("path", SHOPS, ids=lambda p: p.name)
def test_policy_ir_round_trips_through_json(path):
    policy = Loader().load(path).policy
    assert policy is not None
    again = ir.Policy.model_validate_json(policy.model_dump_json())
    assert again == policy


def test_every_platform_is_shipped():
    names = {p.stem for p in (ROOT / "rulesets" / "platforms").glob("*.kefu")}
    assert names == {"taobao", "pinduoduo", "douyin"}


def test_ir_nodes_keep_their_source_lines():
    policy = Loader().load(ROOT / "rulesets" / "examples" / "pinduoduo-fruit.kefu").policy
    offline = policy.shop.offline_route
    assert offline.span.line == 19 and offline.targets[0].name == "zhao"
    closing = next(r for r in policy.shop.replies if r.kind == "closing")
    assert closing.span.file.endswith("common/courtesy.kefu") and closing.span.line == 2
