"""`history D`: an agent's message to a consumer whose session ended is an answer from history within D of the
end, and no answer past it (docs/replay.md, History)."""

from __future__ import annotations

import importlib.util
import json

import jsonschema

from cli_helpers import kefu

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Pinduoduo gives no `history` default: the shop's statement is the only one.
POLICY = 'shop "s" on pinduoduo\nagent A { max_sessions 5 }\nhistory 1h\n'


def _line(ts: str, **fields) -> str:
    return json.dumps({"ts": f"2026-11-11T{ts}+08:00", **fields}, ensure_ascii=False)


def _message(ts: str, consumer: str, agent: str | None = None) -> str:
    if agent is None:
        return _line(ts, type="message", sender="consumer", consumer=consumer)
    return _line(ts, type="message", sender="agent", agent=agent, consumer=consumer)


# A is online; c1 and c2 write at 10:00 and are given to A, who ends both sessions by hand at 10:00:30 without an
# answer; A writes to c1 at 10:30:30 (30 min after the end) and to c2 at 12:00:30 (2 h after).
LOG = [
    _line("09:00:00", type="agent_status", agent="A", status="online"),
    _message("10:00:00", "c1"),
    _message("10:00:00", "c2"),
    _line("10:00:30", type="session_end", consumer="c1", agent="A"),
    _line("10:00:30", type="session_end", consumer="c2", agent="A"),
    _message("10:30:30", "c1", "A"),
    _message("12:00:30", "c2", "A"),
]


def _replay(tmp_path, policy: str, log: list[str]) -> tuple[list[dict], dict, str]:
    (tmp_path / "s.kefu").write_text(policy, encoding="utf-8")
    (tmp_path / "log.jsonl").write_text("".join(line + "\n" for line in log), encoding="utf-8")
    decisions, report = tmp_path / "d.jsonl", tmp_path / "r.json"
    result = kefu("replay", tmp_path / "s.kefu", "--events", tmp_path / "log.jsonl", "--decisions", decisions,
                  "--report", report)
    assert result.exit_code == 0, result.output
    text = kefu("replay", tmp_path / "s.kefu", "--events", tmp_path / "log.jsonl")
    return ([json.loads(line) for line in decisions.read_text(encoding="utf-8").splitlines()],
            json.loads(report.read_text(encoding="utf-8")), text.stdout)


def _metric(report: dict, name: str) -> tuple[int, int]:
    (row,) = [r for r in report["metrics"] if r["metric"] == name]
    return row["eligible"], row["met"]


def test_an_answer_within_the_window_is_from_history_and_one_past_it_is_not_an_answer(tmp_path):
    decisions, report, text = _replay(tmp_path, POLICY, LOG)
    history = [d for d in decisions if d["action"].startswith("history")]
    rule = {"file": "s.kefu", "line": 3}   # the `history 1h` line
    assert history == [
        {"ts": "2026-11-11T10:30:30+08:00", "action": "history_answer", "shop": "s", "consumer": "c1", "agent": "A",
         "line": 6, "rule": rule, "since_end": 1800, "window": 3600},
        {"ts": "2026-11-11T12:00:30+08:00", "action": "history_expired", "shop": "s", "consumer": "c2", "agent": "A",
         "line": 7, "rule": rule, "since_end": 7200, "window": 3600}]
    # neither opens a session: two assignments and two ends, all at 10:00
    assert report["decisions"] == {"assign": 2, "close_session": 2, "history_answer": 1, "history_expired": 1}
    assert report["days"][0]["decisions"] == report["decisions"]
    # 1-hour effective reply (consumer-days from 10:00, due 11:00): c1 answered from history at 10:30:30, met;
    # c2's 12:00:30 message is no answer (and late anyway): missed. 5-minute rate: both questions missed.
    assert _metric(report, "effective_reply_1h") == (2, 1)
    assert _metric(report, "response_rate_5min") == (2, 0)
    assert "  decisions: assign 2, close_session 2, history_answer 1, history_expired 1\n" in text
    assert ("answers from history: 1 within the history window (answers), 1 past it "
            "(not answers: the metrics do not count them)\n") in text
    if importlib.util.find_spec("vl_convert") is not None:   # the HTML page says it too (kefu[html])
        page = tmp_path / "r.html"
        assert kefu("replay", tmp_path / "s.kefu", "--events", tmp_path / "log.jsonl", "--report", page).exit_code == 0
        assert ("<p>answers from history: 1 within the history window (answers), 1 past it "
                "(not answers: the metrics do not count them)</p>") in page.read_text(encoding="utf-8")
    explained = kefu("explain", tmp_path / "s.kefu", "--events", tmp_path / "log.jsonl", "--line", 7).stdout
    assert ("  → A writes to c2 7200 s after the session ended, past the history window (3600 s): not an answer  "
            "[s.kefu:3]\n") in explained
    jsonschema.validate(report, json.loads((ROOT / "docs" / "report.schema.json").read_text(encoding="utf-8")))
    schema = json.loads((ROOT / "docs" / "decision.schema.json").read_text(encoding="utf-8"))
    for record in history:
        jsonschema.validate(record, schema)


def test_a_message_past_the_window_does_not_answer_the_waiting_question(tmp_path):
    # c3 writes at 10:00; A ends the session by hand at 10:00:30 and writes at 10:20:30, 20 minutes later.
    log = [LOG[0], _message("10:00:00", "c3"), _line("10:00:30", type="session_end", consumer="c3", agent="A"),
           _message("10:20:30", "c3", "A")]
    # without `history` (Pinduoduo has no default) it answers, inside the 1-hour deadline: met
    decisions, report, _ = _replay(tmp_path, POLICY.replace("history 1h\n", ""), log)
    assert _metric(report, "effective_reply_1h") == (1, 1)
    assert not [d for d in decisions if d["action"].startswith("history")]
    # `history 10m`: 1,200 s after the end is past the 600 s window: no answer, the consumer-day is missed
    decisions, report, _ = _replay(tmp_path, POLICY.replace("history 1h", "history 10m"), log)
    assert _metric(report, "effective_reply_1h") == (1, 0)
    assert [(d["action"], d["since_end"], d["window"]) for d in decisions if d["action"].startswith("history")] == [
        ("history_expired", 1200, 600)]
    # `history 20m`: 1,200 s is within it (the window's last second counts): met, from history
    decisions, report, _ = _replay(tmp_path, POLICY.replace("history 1h", "history 20m"), log)
    assert _metric(report, "effective_reply_1h") == (1, 1)
    assert [d["action"] for d in decisions if d["action"].startswith("history")] == ["history_answer"]


def test_the_consumers_next_message_is_assigned_afresh_after_an_answer_from_history(tmp_path):
    log = [LOG[0], _message("10:00:00", "c1"), _line("10:00:30", type="session_end", consumer="c1", agent="A"),
           _message("10:30:30", "c1", "A"), _message("10:31:00", "c1"), _message("10:32:00", "c1", "A")]
    decisions, _, _ = _replay(tmp_path, POLICY, log)
    # line 6 answers the new session, which Pinduoduo's 30-minute timer ends at 11:02
    assert [(d["action"], d["line"], d["ts"][11:19]) for d in decisions] == [
        ("assign", 2, "10:00:00"), ("close_session", 3, "10:00:30"), ("history_answer", 4, "10:30:30"),
        ("assign", 5, "10:31:00"), ("close_session", None, "11:02:00")]


def test_a_consumer_who_wrote_after_the_end_is_not_in_history(tmp_path):
    # c1's session ends at 10:00:30; c1 writes again at 10:10, is queued behind c9 (A's cap is 1) and leaves the
    # queue at 10:12; A's message at 10:30 answers that 10:10 message, not the ended session: no history decision,
    # though it comes 29.5 minutes after the end with a 10-minute window
    log = [LOG[0], _message("10:00:00", "c1"), _line("10:00:30", type="session_end", consumer="c1", agent="A"),
           _message("10:05:00", "c9"), _message("10:10:00", "c1"),
           _line("10:12:00", type="session_end", consumer="c1"), _message("10:30:00", "c1", "A")]
    policy = POLICY.replace("max_sessions 5", "max_sessions 1").replace("history 1h", "history 10m")
    decisions, report, _ = _replay(tmp_path, policy, log)
    assert [(d["action"], d["consumer"], d["line"]) for d in decisions] == [
        ("assign", "c1", 2), ("close_session", "c1", 3), ("assign", "c9", 4), ("enqueue", "c1", 5),
        ("leave_queue", "c1", 6)]
    # 1-hour effective reply: c1's consumer-day (from 10:00) answered at 10:30, met; c9 never answered
    assert _metric(report, "effective_reply_1h") == (2, 1)


def test_douyins_72_hours_apply_without_a_statement_and_name_the_platform_line(tmp_path):
    # c1's session ends by hand at 10:00:30 on the 11th; others write every morning, so each new day's sweep of
    # idle consumers runs; A writes to c1 at 10:00:30 on the 14th (72 h: within) and at 10:00:31 (past it).
    def at(day: int, clock: str, **fields) -> str:
        return json.dumps({"ts": f"2026-11-{day}T{clock}+08:00", **fields})

    log = [at(11, "09:00:00", type="agent_status", agent="A", status="online"),
           at(11, "10:00:00", type="message", sender="consumer", consumer="c1"),
           at(11, "10:00:30", type="session_end", consumer="c1", agent="A")]
    for day in (12, 13, 14):
        log.append(at(day, "09:00:00", type="message", sender="consumer", consumer=f"d{day}"))
    log += [at(14, "10:00:30", type="message", sender="agent", agent="A", consumer="c1"),
            at(14, "10:00:31", type="message", sender="agent", agent="A", consumer="c1")]
    decisions, report, _ = _replay(tmp_path, 'shop "s" on douyin\nagent A { max_sessions 5 }\n', log)
    history = [(d["action"], d["since_end"], d["window"], d["rule"]) for d in decisions
               if d["action"].startswith("history")]
    rule = {"file": "douyin.kefu", "line": 42}   # `default history 72h`
    assert history == [("history_answer", 259200, 259200, rule), ("history_expired", 259201, 259200, rule)]
    assert (ROOT / "rulesets" / "platforms" / "douyin.kefu").read_text(encoding="utf-8").splitlines()[41] == \
        "default history 72h"


def test_a_forgotten_consumer_who_comes_back_leaves_the_history(tmp_path):
    # c1's session ends on the 11th; the 12th's sweep forgets c1 (nothing live), keeping the end for `history`;
    # c1 writes again on the 12th while A is offline (queued, then ended by hand), and the 13th's sweep forgets
    # c1 again: A's message on the 13th answers that queued message, not the session of the 11th
    def at(day: int, clock: str, **fields) -> str:
        return json.dumps({"ts": f"2026-11-{day}T{clock}+08:00", **fields})

    log = [at(11, "09:00:00", type="agent_status", agent="A", status="online"),
           at(11, "10:00:00", type="message", sender="consumer", consumer="c1"),
           at(11, "10:00:30", type="session_end", consumer="c1", agent="A"),
           at(12, "08:00:00", type="agent_status", agent="A", status="offline"),
           at(12, "09:00:00", type="message", sender="consumer", consumer="d12"),
           at(12, "09:10:00", type="message", sender="consumer", consumer="c1"),
           at(12, "09:20:00", type="session_end", consumer="c1"),
           at(13, "09:00:00", type="message", sender="consumer", consumer="d13"),
           at(13, "09:30:00", type="message", sender="agent", agent="A", consumer="c1")]
    decisions, _, _ = _replay(tmp_path, 'shop "s" on douyin\nagent A { max_sessions 5 }\n', log)
    assert [(d["action"], d["line"]) for d in decisions if d["consumer"] == "c1"] == [
        ("assign", 2), ("close_session", 3), ("enqueue", 6), ("leave_queue", 7)]
    # with c1 not back, the same message (1 day 23 h 29 min 30 s after the end) is an answer from history
    decisions, _, _ = _replay(tmp_path, 'shop "s" on douyin\nagent A { max_sessions 5 }\n', log[:5] + log[7:])
    assert [(d["action"], d.get("since_end")) for d in decisions if d["consumer"] == "c1"] == [
        ("assign", None), ("close_session", None), ("history_answer", 86400 + 23 * 3600 + 29 * 60 + 30)]


def test_a_policy_without_history_keeps_its_messages_as_they_were(tmp_path):
    # Taobao gives no default: A's message 2 h after the end is a plain agent message, recorded by nothing
    decisions, report, text = _replay(tmp_path, POLICY.replace("pinduoduo", "taobao").replace("history 1h\n", ""), LOG)
    assert not [d for d in decisions if d["action"].startswith("history")]
    assert "answers from history" not in text
