"""Metric rules that no shipped platform uses, checked through a platform file made here."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine.events import Event
from engine.loader import Loader
from engine.runtime import Engine

CST = timezone(timedelta(hours=8))
PLATFORM = """\
platform timer "a session timer {restart}"
senders agent, robot
metric first_reply_3min {{
  unit question
  deadline 3m
  clock starts at assignment
  {clause}
  effective agent
}}
allow queue
default assign by least_loaded
default queue {{ scope shop; order fifo }}
"""


def ts(clock: str) -> float:
    return datetime.fromisoformat(f"2026-11-11T{clock}").replace(tzinfo=CST).timestamp()


def replay(tmp_path, clause: str):
    (tmp_path / "timer.kefu").write_text(PLATFORM.format(restart=clause or "without restart", clause=clause),
                                         encoding="utf-8")
    shop = tmp_path / "shop.kefu"
    shop.write_text('shop "s1" on timer\ntimezone Asia/Shanghai\n', encoding="utf-8")
    policy = Loader([tmp_path]).load(shop).policy
    assert policy is not None
    engine = Engine(policy)
    events = [
        Event(line=1, ts=ts("09:00:00"), type="agent_status", shop="s1", agent="A", status="online"),
        Event(line=2, ts=ts("09:01:00"), type="message", shop="s1", sender="consumer", consumer="c1"),
        Event(line=3, ts=ts("09:02:00"), type="message", shop="s1", sender="agent", agent="A", consumer="c1"),
        Event(line=4, ts=ts("09:10:00"), type="message", shop="s1", sender="consumer", consumer="c1"),
        Event(line=5, ts=ts("09:20:00"), type="message", shop="s1", sender="agent", agent="A", consumer="c1"),
    ]
    for event in events:
        engine.feed(event)
    engine.finish()
    (row,) = engine.metric_rows()
    return row.eligible, row.met


def test_without_restart_only_the_first_question_after_assignment_counts(tmp_path):
    # c1 is assigned at 09:01 and answered at 09:02 (met); the 09:10 question is in the
    # same session and the timer does not restart: not measured. 1 of 1.
    assert replay(tmp_path, "") == (1, 1)


def test_with_restart_every_question_counts(tmp_path):
    # The timer restarts with the 09:10 message; answered 09:20 (10 min): missed. 1 of 2.
    assert replay(tmp_path, "clock restarts on consumer message") == (2, 1)


def test_advance_fires_due_timers_between_events(tmp_path):
    # Douyin ends a session 15 min after the agent's last reply. A live desk calls
    # advance() on its clock: at 09:16 nothing is due, at 09:17 the 09:02 reply's
    # timer fires, with no event line.
    shop = tmp_path / "shop.kefu"
    shop.write_text('shop "s1" on douyin\n', encoding="utf-8")
    engine = Engine(Loader().load(shop).policy)
    engine.feed(Event(line=1, ts=ts("09:00:00"), type="agent_status", shop="s1", agent="A", status="online"))
    engine.feed(Event(line=2, ts=ts("09:01:00"), type="message", shop="s1", sender="consumer", consumer="c1"))
    engine.feed(Event(line=3, ts=ts("09:02:00"), type="message", shop="s1", sender="agent", agent="A", consumer="c1"))
    assert engine.advance(ts("09:16:59")) == []
    (closed,) = engine.advance(ts("09:17:00"))
    # a Decision reads as its JSON record: ts in local time, the rule as {file, line}
    assert (closed.action, closed.consumer, closed.ts, closed.line) == (
        "close_session", "c1", "2026-11-11T09:17:00+08:00", None)
    assert closed.to_dict() == {
        "ts": "2026-11-11T09:17:00+08:00", "action": "close_session", "shop": "s1", "consumer": "c1", "agent": "A",
        "line": None, "rule": {"file": closed.rule.file, "line": 41}, "reason": "auto_end",
        "duration": 16 * 60}   # assigned at 09:01 (the first message), closed at 09:17
    # the rule: douyin.kefu line 41, `default end session after 15m, not while consumer waiting`
    assert closed.rule.file == "douyin.kefu"   # the shipped platform file, by name (docs/replay.md)
    assert engine.finish() == []


PLAIN = """\
platform plain "replies timed from the question"
senders agent
metric reply_3min {
  unit question
  deadline 3m
  effective agent
}
allow queue
default assign by least_loaded
"""


def at(day: int, clock: str) -> float:
    return datetime.fromisoformat(f"2026-11-{day:02d}T{clock}").replace(tzinfo=CST).timestamp()


def overdue_then_asks_again(tmp_path, day: int) -> list[tuple[str, int, int]]:
    """c3 asks on the 11th and gets no answer; c2 writes on the 12th and on `day`; c3 asks again that day."""
    (tmp_path / "plain.kefu").write_text(PLAIN, encoding="utf-8")
    shop = tmp_path / "shop.kefu"
    shop.write_text('shop "s1" on plain\ntimezone Asia/Shanghai\n', encoding="utf-8")
    engine = Engine(Loader([tmp_path]).load(shop).policy)
    lines = [
        (at(11, "09:00:00"), dict(type="agent_status", agent="A", status="online")),
        (at(11, "10:00:00"), dict(type="message", sender="consumer", consumer="c3")),
        (at(12, "10:00:00"), dict(type="message", sender="consumer", consumer="c2")),
        (at(12, "10:01:00"), dict(type="message", sender="agent", agent="A", consumer="c2")),
        (at(day, "10:00:01"), dict(type="message", sender="consumer", consumer="c2")),
        (at(day, "10:00:30"), dict(type="message", sender="agent", agent="A", consumer="c2")),
        (at(day, "11:00:00"), dict(type="message", sender="consumer", consumer="c3")),
        (at(day, "11:01:00"), dict(type="message", sender="agent", agent="A", consumer="c3")),
    ]
    for line, (when, fields) in enumerate(lines, 1):
        engine.feed(Event(line=line, ts=when, shop="s1", **fields))
    engine.finish()
    return [(row.date, row.eligible, row.met) for row in engine.metric_rows()]


def test_an_overdue_question_stays_open_for_seven_days(tmp_path):
    # c3's question of the 11th is counted missed when the 12th begins (10:00) and stays open:
    # on the 18th (6 days on) c3's message joins it, and the answer counts for nothing new.
    assert overdue_then_asks_again(tmp_path, 18) == [
        ("2026-11-11", 1, 0), ("2026-11-12", 1, 1), ("2026-11-18", 1, 1)]


def test_an_overdue_question_is_forgotten_after_seven_days(tmp_path):
    # On the 19th at 10:00:01, 7 days and 1 s after it was counted, c3's question is forgotten:
    # c3's 11:00 message is a new question, answered in a minute: met.
    assert overdue_then_asks_again(tmp_path, 19) == [
        ("2026-11-11", 1, 0), ("2026-11-12", 1, 1), ("2026-11-19", 2, 2)]
