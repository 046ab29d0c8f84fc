"""Automatic replies in the report: per kind sent and suppressed by reason, in JSON and text.

The decisions themselves are checked by the conformance cases (tests/conformance/*replies*,
*loop_guard*, *offline*); these tests look at what the report makes of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import orjson

from cli_helpers import kefu
from engine.loader import Loader
from engine.registry import AUTO_REPLY_KINDS
from engine.runtime import Engine
from engine.runtime.replies import SEND_ORDER

ROOT = Path(__file__).resolve().parent.parent

# Off work, the offline notice answers and the busy reply is held back (docs/replay.md):
#   22:58 c1, A busy, at work → busy reply sent
#   23:10 c1, after hours → offline sent; busy suppressed (offline)
#   23:12 c1 → offline 2 min after the last: suppressed (cooldown); busy suppressed (offline)
POLICY = """\
shop "s1" on pinduoduo
hours 08:00-23:00
agent A { max_sessions 10 }
reply offline -> "客服已下班,明早8点回复您"
reply status busy -> "客服忙碌中,请稍候"
"""
EVENTS = [
    ("22:00:00", {"type": "agent_status", "agent": "A", "status": "online"}),
    ("22:50:00", {"type": "message", "sender": "consumer", "consumer": "c1", "text": "在吗"}),
    ("22:55:00", {"type": "agent_status", "agent": "A", "status": "busy"}),
    ("22:58:00", {"type": "message", "sender": "consumer", "consumer": "c1", "text": "还在吗"}),
    ("23:10:00", {"type": "message", "sender": "consumer", "consumer": "c1", "text": "人呢"}),
    ("23:12:00", {"type": "message", "sender": "consumer", "consumer": "c1", "text": "有人吗"}),
]


def write_case(tmp_path: Path) -> tuple[Path, Path]:
    policy = tmp_path / "shop.kefu"
    policy.write_text(POLICY, encoding="utf-8")
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"".join(orjson.dumps({"ts": f"2026-11-11T{t}+08:00", "shop": "s1", **e}) + b"\n"
                             for t, e in EVENTS))
    return policy, log


def test_json_report_counts_each_kind_sent_and_suppressed_by_reason(tmp_path):
    policy, log = write_case(tmp_path)
    result = kefu("replay", policy, "--events", log, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["auto_replies_by_kind"] == {
        "offline": {"sent": 1, "suppressed": {"cooldown": 1}},
        "status": {"sent": 1, "suppressed": {"offline": 2}},
    }
    assert list(report["auto_replies_by_kind"]) == ["offline", "status"]   # the order replies are sent in
    assert report["auto_replies"] == {"offline": 1, "status": 1}
    assert report["suppressed_auto_replies"] == 3
    schema = json.loads((ROOT / "docs" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(report, schema)


def test_text_report_has_a_table_of_reply_kinds(tmp_path):
    policy, log = write_case(tmp_path)
    result = kefu("replay", policy, "--events", log)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = lines.index("automatic replies:")
    assert lines[start:start + 5] == [
        "automatic replies:",
        "  kind             sent suppressed  why",
        "  offline             1          1  cooldown 1",
        "  status              1          2  offline 2",
        "",
    ]
    assert lines[start + 5].startswith("totals: ")


def test_a_platform_replay_has_no_reply_table(tmp_path):
    _, log = write_case(tmp_path)
    result = kefu("replay", "--platform", "pinduoduo", "--events", log)
    assert result.exit_code == 0
    assert "automatic replies:" not in result.stdout
    report = json.loads(kefu("replay", "--platform", "pinduoduo", "--events", log, "--format", "json").stdout)
    assert report["auto_replies_by_kind"] == {} and report["suppressed_auto_replies"] == 0


def test_every_kind_a_policy_has_is_listed_in_send_order_even_unsent():
    # pinduoduo-fruit.kefu: welcome with FAQ, first message, status busy, product, order card,
    # keyword, menu, and (from common/courtesy.kefu) closing; no offline reply.
    policy = Loader().load(ROOT / "rulesets" / "examples" / "pinduoduo-fruit.kefu").policy
    engine = Engine(policy)
    assert engine.replier.kinds == ("welcome", "product", "order_card", "faq", "menu", "closing", "keyword",
                                    "status", "first_message")
    assert sorted(SEND_ORDER) == sorted(AUTO_REPLY_KINDS)   # every kind a metric may name has its place
