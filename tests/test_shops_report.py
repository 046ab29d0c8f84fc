"""A report of several shops opens with the shops side by side, most at risk first."""

from __future__ import annotations

import json

import jsonschema

from cli_helpers import kefu
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _log(tmp_path):
    # three shops on Pinduoduo, two consumers each at 09:00 and 09:01; the agent answers 30 s later
    # s1 both, s3 the first only, s2 neither
    events = []
    for shop, answered in (("s1", 2), ("s2", 0), ("s3", 1)):
        events.append({"ts": "2026-11-11T08:59:00+08:00", "type": "agent_status", "shop": shop, "agent": "a",
                       "status": "online"})
        for i in range(2):
            events.append({"ts": f"2026-11-11T09:0{i}:00+08:00", "type": "message", "shop": shop, "sender": "consumer",
                           "consumer": f"c{i}"})
            if i < answered:
                events.append({"ts": f"2026-11-11T09:0{i}:30+08:00", "type": "message", "shop": shop,
                               "sender": "agent", "agent": "a", "consumer": f"c{i}"})
    events.sort(key=lambda e: e["ts"])
    log = tmp_path / "shops.jsonl"
    log.write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")
    return log


def test_the_shops_side_by_side_most_at_risk_first(tmp_path):
    report = json.loads(kefu("replay", "--platform", "pinduoduo", "--events", _log(tmp_path), "--format", "json").stdout)
    jsonschema.validate(report, json.loads((ROOT / "docs" / "report.schema.json").read_text(encoding="utf-8")))
    # 1-hour rate (>= 50 %) and 5-minute rate (> 50 %): s1 2/2 both; s3 1/2 passes the first, fails the
    # second (50 % is not above 50 %); s2 0/2 fails both. No penalty (fewer than 100 consumers).
    # Order: penalties (none), days failed (s2 1, s3 1, s1 0), then the lowest rate (s2 0 % before s3 50 %)
    assert [(s["shop"], s["days"], s["days_failed"], s["penalty"]) for s in report["shops"]] == [
        ("s2", 1, 1, 0), ("s3", 1, 1, 0), ("s1", 1, 0, 0)]
    s3 = report["shops"][1]["metrics"]
    assert (s3["effective_reply_1h"]["met"], s3["effective_reply_1h"]["days_failed"]) == (1, 0)
    assert (s3["response_rate_5min"]["rate"], s3["response_rate_5min"]["days_failed"]) == (0.5, 1)


def test_the_text_report_opens_with_the_shops_table(tmp_path):
    text = kefu("replay", "--platform", "pinduoduo", "--events", _log(tmp_path)).stdout
    assert (
        "== shops, most at risk first ==\n"
        "  shop  days  effective_reply_1h >= 50%  response_rate_5min > 50%  days failed  penalty\n"
        "  s2       1                 0.0% (0/2)                0.0% (0/2)            1        0\n"
        "  s3       1                50.0% (1/2)               50.0% (1/2)            1        0\n"
        "  s1       1               100.0% (2/2)              100.0% (2/2)            0        0\n"
    ) in text
    assert text.index("== shops") < text.index("== s1 · 2026-11-11 ==")


def test_one_shop_has_no_shops_table(tmp_path):
    report = json.loads(kefu("replay", "--platform", "pinduoduo", "--events", _log(tmp_path), "--shop", "s1",
                             "--format", "json").stdout)
    assert "shops" not in report
