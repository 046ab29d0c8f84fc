"""`kefu explain`: the engine's own account of a decision, for one event line or one consumer."""

from __future__ import annotations

import json

from cli_helpers import kefu

POLICY = """shop "s" on taobao
group g { agents a, b; max_sessions 2 }
assign by least_loaded, ties first
return to previous agent within 30m else same_group
"""

LOG = [
    ("08:59:00", {"type": "agent_status", "agent": "a", "status": "online"}),
    ("08:59:10", {"type": "agent_status", "agent": "b", "status": "online"}),
    ("09:00:00", {"type": "message", "sender": "consumer", "consumer": "c1", "text": "在吗"}),
    ("09:01:00", {"type": "message", "sender": "agent", "agent": "a", "consumer": "c1", "text": "在的"}),
    ("09:02:00", {"type": "message", "sender": "consumer", "consumer": "c2", "text": "发货了吗"}),
    ("09:03:00", {"type": "message", "sender": "consumer", "consumer": "c3", "text": "有货吗"}),
    ("09:05:00", {"type": "session_end", "consumer": "c1", "agent": "a"}),
    ("09:20:00", {"type": "message", "sender": "consumer", "consumer": "c1", "text": "还有个问题"}),
    ("11:00:00", {"type": "agent_status", "agent": "a", "status": "busy"}),
    ("11:00:10", {"type": "agent_status", "agent": "b", "status": "busy"}),
    ("11:05:00", {"type": "message", "sender": "consumer", "consumer": "c5", "text": "在吗\x1b[2J"}),
]


def _files(tmp_path):
    (tmp_path / "s.kefu").write_text(POLICY, encoding="utf-8")
    lines = [json.dumps({"ts": f"2026-11-11T{t}+08:00", **fields}, ensure_ascii=False) for t, fields in LOG]
    (tmp_path / "log.jsonl").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    return tmp_path / "s.kefu", tmp_path / "log.jsonl"


def test_one_line_the_rules_in_order_and_the_decision(tmp_path):
    policy, log = _files(tmp_path)
    result = kefu("explain", policy, "--events", log, "--line", 6)
    assert result.exit_code == 0, result.output
    # 09:03 c3: a holds c1, b holds c2 (both 1 of 2): least loaded ties, the first declared, a
    assert result.stdout == (
        "line 6 · 2026-11-11T09:03:00+08:00 · consumer message · c3: '有货吗'\n"
        "  state: agents present: a online 1/2, b online 1/2 · queue 0\n"
        "  · repeat entry: no earlier session of this consumer: routed afresh  [s.kefu:4]\n"
        "  · offline: not every agent is offline (2 present): no offline routing\n"
        "  · routing: with no page: no route applies, any agent of the shop\n"
        "  · eligible: may take the consumer: a online 1/2, b online 1/2\n"
        "  · pick: assign by least_loaded, ties first, among a 1/2, b 1/2 (load/cap) → a  [s.kefu:3]\n"
        "  → assign c3 to a (new; load 2/2)  [s.kefu:3]\n\n")


def test_a_returning_consumer_goes_back_to_its_agent_even_at_its_cap(tmp_path):
    policy, log = _files(tmp_path)
    text = kefu("explain", policy, "--events", log, "--line", 8).stdout
    # c1's session with a ended at 09:05; back at 09:20 (15 min, inside 30 min): to a, who holds c3 (1/2)
    assert "  · repeat entry: back within the window (last session with a ended 15 min ago): to a, even at its cap (1/2)  [s.kefu:4]\n" in text
    assert text.endswith("  → assign c1 to a (repeat_entry; load 2/2)  [s.kefu:4]\n\n")
    assert "· routing" not in text   # repeat entry decided: no routing was looked at


def test_a_consumers_story_to_the_end_of_the_log(tmp_path):
    policy, log = _files(tmp_path)
    text = kefu("explain", policy, "--events", log, "--consumer", "c5").stdout
    # both agents busy at 11:05: c5 queues; still queued at midnight, it leaves the queue then
    assert "  · eligible: may take the consumer: none; may not: a busy 2/2 — busy, b busy 1/2 — busy\n" in text
    assert "  → enqueue c5 at position 1 of 1 (all_busy)  [taobao.kefu:36]\n" in text
    assert text.endswith("end of the log: the timers still pending fire\n  → c5 leaves the queue (day_end)  [taobao.kefu:36]\n\n")
    assert "\x1b" not in text and "在吗\\x1b[2J" in text   # the log's text cannot drive the terminal


def test_the_same_engine_as_the_replay(tmp_path):
    policy, log = _files(tmp_path)
    replayed = kefu("replay", policy, "--events", log, "--decisions", tmp_path / "d.jsonl")
    assert replayed.exit_code == 0
    records = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text(encoding="utf-8").splitlines()]
    story = json.loads(kefu("explain", policy, "--events", log, "--consumer", "c1", "--format", "json").stdout)
    explained = [d for event in story["events"] for d in event["decisions"] if d["consumer"] == "c1"]
    assert explained and explained == [d for d in records if d["consumer"] == "c1"]


def test_json_names_each_step_and_its_rule(tmp_path):
    policy, log = _files(tmp_path)
    data = json.loads(kefu("explain", policy, "--events", log, "--line", 6, "--format", "json").stdout)
    (event,) = data["events"]
    assert (data["format"], event["line"], event["consumer"]) == (1, 6, "c3")
    assert [s["what"] for s in event["steps"]] == ["repeat_entry", "offline", "routing", "eligible", "pick"]
    assert event["steps"][-1]["rule"] == {"file": "s.kefu", "line": 3}
    assert {a["agent"]: (a["load"], a["cap"], a["idle_rate"]) for a in event["state"]["agents"]} == \
        {"a": (1, 2, 0.5), "b": (1, 2, 0.5)}


def test_a_line_or_consumer_not_in_the_log(tmp_path):
    policy, log = _files(tmp_path)
    blank = kefu("explain", policy, "--events", log, "--line", 12)
    assert blank.exit_code == 1 and "line 12 of" in blank.stderr and "blank, or past the end" in blank.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(log.read_text(encoding="utf-8") + "not json\n", encoding="utf-8")
    rejected = kefu("explain", policy, "--events", bad, "--line", 13)
    assert rejected.exit_code == 1 and "it was rejected: not JSON" in rejected.stderr
    missing = kefu("explain", policy, "--events", log, "--consumer", "nobody")
    assert missing.exit_code == 1 and "consumer 'nobody' does not appear" in missing.stderr
    assert kefu("explain", policy, "--events", log).exit_code == 2
    assert kefu("explain", policy, "--events", log, "--line", 6, "--consumer", "c1").exit_code == 2


def test_the_tracer_is_off_in_a_replay(tmp_path):
    from engine.loader import Loader
    from engine.runtime import Engine

    policy, _ = _files(tmp_path)
    assert Engine(Loader().load(policy).policy).tracer is None


def test_json_state_of_a_consumer_with_automatic_replies_is_plain_data():
    from datetime import datetime
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    data = json.loads(kefu("explain", root / "rulesets/examples/taobao-apparel.kefu", "--events",
                           root / "samples/taobao-apparel.jsonl", "--line", 22, "--format", "json").stdout)
    (event,) = data["events"]
    # line 21, 07:22:05: c00012 got the welcome and the offline notice; at line 22 (16 s later) the
    # offline notice is held back by the loop guard
    sent_at = datetime.fromisoformat("2026-11-11T07:22:05+08:00").timestamp()
    assert event["state"]["consumer"]["auto_replies_sent"] == [sent_at, sent_at]
    assert [s["text"] for s in event["steps"] if s["what"] == "auto_reply" and "held back" in s["text"]] == [
        "offline: its trigger holds, held back (the loop guard: sent within the last 600 s)"]
