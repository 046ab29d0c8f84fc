"""`--by agent` and `--by hour`: the report's breakdown tables, figures worked out by hand."""

from __future__ import annotations

import json

from cli_helpers import kefu

POLICY = """shop "s" on douyin
group g { agents a, b; max_sessions 2 }
assign by least_loaded, ties first
"""

# Douyin: the 3-minute clock starts at the assignment; sessions end 15 min after the agent's last reply.
#   09:00 c1 -> a (a 0, b 0: tie, first)      a answers 09:01: met; c1 ends 09:16
#   09:02 c2 -> b (a 1, b 0)                  b answers 09:10 (8 min): missed
#   09:03 c3 -> a (a 1, b 1: tie, first)      a holds 2 of its cap 2; answers 09:04: met
#   10:30 c4 -> a (both free again)           transferred to b 10:31, never answered: missed (still a's unit)
#   11:00 both busy: c5 and c6 queue (11:05, 11:06); never assigned, so never clocked: no unit; they
#         leave the queue at midnight (a leave_queue decision on the 12th, in no breakdown column)
LOG = [
    ("08:59:00", {"type": "agent_status", "agent": "a", "status": "online"}),
    ("08:59:10", {"type": "agent_status", "agent": "b", "status": "online"}),
    ("09:00:00", {"type": "message", "sender": "consumer", "consumer": "c1", "text": "在吗"}),
    ("09:01:00", {"type": "message", "sender": "agent", "agent": "a", "consumer": "c1", "text": "在的"}),
    ("09:02:00", {"type": "message", "sender": "consumer", "consumer": "c2", "text": "发货了吗"}),
    ("09:03:00", {"type": "message", "sender": "consumer", "consumer": "c3", "text": "有货吗"}),
    ("09:04:00", {"type": "message", "sender": "agent", "agent": "a", "consumer": "c3", "text": "有"}),
    ("09:10:00", {"type": "message", "sender": "agent", "agent": "b", "consumer": "c2", "text": "发了"}),
    ("10:30:00", {"type": "message", "sender": "consumer", "consumer": "c4", "text": "退款"}),
    ("10:31:00", {"type": "transfer", "consumer": "c4", "agent": "a", "to_agent": "b"}),
    ("11:00:00", {"type": "agent_status", "agent": "a", "status": "busy"}),
    ("11:00:10", {"type": "agent_status", "agent": "b", "status": "busy"}),
    ("11:05:00", {"type": "message", "sender": "consumer", "consumer": "c5", "text": "在吗"}),
    ("11:06:00", {"type": "message", "sender": "consumer", "consumer": "c6", "text": "在吗"}),
]
METRIC = "response_rate_3min"


def _files(tmp_path):
    (tmp_path / "s.kefu").write_text(POLICY, encoding="utf-8")
    lines = [json.dumps({"ts": f"2026-11-11T{t}+08:00", **fields}, ensure_ascii=False) for t, fields in LOG]
    (tmp_path / "log.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path / "s.kefu", tmp_path / "log.jsonl"


def _figures(eligible, met):
    return {METRIC: {"eligible": eligible, "met": met, "rate": round(met / eligible, 6) if eligible else None}}


def test_by_agent_and_by_hour_in_the_json_report(tmp_path):
    policy, log = _files(tmp_path)
    result = kefu("replay", policy, "--events", log, "--by", "agent", "--by", "hour", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["by_agent"] == [
        {"shop": "s", "agent": "a", "assigned": 3, "transfers_in": 0, "peak_load": 2, "cap": 2, "metrics": _figures(3, 2)},
        {"shop": "s", "agent": "b", "assigned": 1, "transfers_in": 1, "peak_load": 1, "cap": 2, "metrics": _figures(1, 0)},
    ]
    assert report["by_hour"] == [
        {"shop": "s", "hour": 9, "assigned": 3, "queued": 0, "peak_queue": 0, "metrics": _figures(3, 2)},
        {"shop": "s", "hour": 10, "assigned": 1, "queued": 0, "peak_queue": 0, "metrics": _figures(1, 0)},
        {"shop": "s", "hour": 11, "assigned": 0, "queued": 2, "peak_queue": 2, "metrics": _figures(0, 0)},
    ]
    # the tables break the day's figures down: their units add up to the metric row
    (row,) = report["metrics"]
    assert (row["eligible"], row["met"]) == (4, 2)


def test_by_agent_and_by_hour_in_the_text_report(tmp_path):
    policy, log = _files(tmp_path)
    text = kefu("replay", policy, "--events", log, "--by", "agent", "--by", "hour").stdout
    assert (
        "== by agent · s ==\n"
        "  agent  assigned  transfers_in  peak/cap  response_rate_3min\n"
        "  a             3             0       2/2         66.7% (2/3)\n"
        "  b             1             1       1/2          0.0% (0/1)\n"
    ) in text
    assert (
        "== by hour · s ==\n"
        "  hour   assigned  queued  peak_queue  response_rate_3min\n"
        "  09:00         3       0           0         66.7% (2/3)\n"
        "  10:00         1       0           0          0.0% (0/1)\n"
        "  11:00         0       2           2                   —\n"
    ) in text


def test_no_breakdown_unless_asked(tmp_path):
    policy, log = _files(tmp_path)
    report = json.loads(kefu("replay", policy, "--events", log, "--format", "json").stdout)
    assert "by_agent" not in report and "by_hour" not in report
    assert "== by" not in kefu("replay", policy, "--events", log).stdout


def test_unknown_breakdown_is_a_usage_error(tmp_path):
    policy, log = _files(tmp_path)
    assert kefu("replay", policy, "--events", log, "--by", "shop").exit_code == 2


def test_metric_table_shows_the_chinese_label_aligned(tmp_path):
    policy, log = _files(tmp_path)
    text = kefu("replay", policy, "--events", log).stdout
    header, row = [line for line in text.splitlines() if "eligible" in line or line.startswith("  response")]
    assert row.startswith("  response_rate_3min  3分钟回复率 ")
    # 3分钟回复率 is 6 characters but 11 terminal cells: the eligible column ends at the same cell
    from rich.cells import cell_len
    assert cell_len(header[:header.index("eligible") + len("eligible")]) == cell_len(row[:row.index(" 4 ") + 2])


def test_decision_counts_leave_agreement_figures_apart(tmp_path):
    # a policy agent differs from the log's answerer: `differs` is an agreement figure, not a decision line item
    policy, log = _files(tmp_path)
    text = log.read_text(encoding="utf-8").replace('"agent": "b", "consumer": "c2"', '"agent": "a", "consumer": "c2"')
    log.write_text(text, encoding="utf-8")
    out = kefu("replay", policy, "--events", log).stdout
    assert "  decisions: assign 4, close_session 3, enqueue 2, transfer 1\n" in out
    assert "  assignment vs log: 2/3 agree, 1 differ (66.7% agreement)\n" in out
    # c5 and c6, still queued, leave the queue at local midnight (reason day_end)
    assert "totals: assign 4, close_session 3, enqueue 2, leave_queue 2, transfer 1\n" in out


def test_breakdown_units_add_up_to_the_metric_rows_on_every_sample():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for name in ("douyin-flagship", "pinduoduo-fruit", "taobao-apparel"):
        result = kefu("replay", root / "rulesets" / "examples" / f"{name}.kefu", "--events",
                      root / "samples" / f"{name}.jsonl", "--by", "agent", "--by", "hour", "--format", "json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["metrics"], name
        for metric in {row["metric"] for row in report["metrics"]}:
            eligible = sum(r["eligible"] for r in report["metrics"] if r["metric"] == metric)
            met = sum(r["met"] for r in report["metrics"] if r["metric"] == metric)
            for table in ("by_agent", "by_hour"):
                rows = [r["metrics"][metric] for r in report[table]]
                assert (sum(f["eligible"] for f in rows), sum(f["met"] for f in rows)) == (eligible, met), (name, table)
        assigned = report["decisions"].get("assign", 0) + report["decisions"].get("offline_route", 0)
        assert sum(r["assigned"] for r in report["by_agent"]) == assigned
        assert sum(r["assigned"] for r in report["by_hour"]) == assigned
