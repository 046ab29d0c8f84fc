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


def test_an_unanswered_question_ends_with_its_day(tmp_path):
    # c3's question of the 11th (10:00, never answered) is missed when the 12th begins, and it
    # takes no message of a later day: c3's 11:00 message on the 13th is a new question, answered
    # at 11:01 (1 min): met. c2 on the 13th: asked 10:00:01, answered 10:00:30: met.
    assert overdue_then_asks_again(tmp_path, 13) == [
        ("2026-11-11", 1, 0), ("2026-11-12", 1, 1), ("2026-11-13", 2, 2)]


ALL_DAY_NATURAL = """\
platform allday "answered the same calendar day"
senders agent
metric reply_3min {
  unit question
  window 00:00-24:00
  deadline 3m
  natural day
  effective agent
}
allow queue
default assign by least_loaded
"""


def test_a_question_at_2358_does_not_take_the_0001_message(tmp_path):
    # Natural day: c1 asks 23:58 on the 11th, nobody answers before 24:00: missed on the 11th.
    # c1 writes at 00:01 on the 12th: a new question (the old one ended with its day), answered
    # at 00:02 (1 min): met on the 12th. Before, the 00:01 message joined the missed question and
    # the 12th counted nothing.
    (tmp_path / "allday.kefu").write_text(ALL_DAY_NATURAL, encoding="utf-8")
    shop = tmp_path / "shop.kefu"
    shop.write_text('shop "s1" on allday\ntimezone Asia/Shanghai\n', encoding="utf-8")
    engine = Engine(Loader([tmp_path]).load(shop).policy)
    lines = [
        (at(11, "23:00:00"), dict(type="agent_status", agent="A", status="online")),
        (at(11, "23:58:00"), dict(type="message", sender="consumer", consumer="c1")),
        (at(12, "00:01:00"), dict(type="message", sender="consumer", consumer="c1")),
        (at(12, "00:02:00"), dict(type="message", sender="agent", agent="A", consumer="c1")),
    ]
    for line, (when, fields) in enumerate(lines, 1):
        engine.feed(Event(line=line, ts=when, shop="s1", **fields))
    engine.finish()
    assert [(row.date, row.eligible, row.met) for row in engine.metric_rows()] == [
        ("2026-11-11", 1, 0), ("2026-11-12", 1, 1)]


def test_pending_questions_never_outlive_their_day(tmp_path):
    # 30 consumers a day ask and are never answered, for 10 days: each day's roll closes the
    # previous day's 30 questions, so no more than 30 are ever pending (bounded memory).
    (tmp_path / "plain.kefu").write_text(PLAIN, encoding="utf-8")
    shop = tmp_path / "shop.kefu"
    shop.write_text('shop "s1" on plain\ntimezone Asia/Shanghai\n', encoding="utf-8")
    engine = Engine(Loader([tmp_path]).load(shop).policy)
    (tracker,) = engine.metrics
    line = 0
    most = 0
    for day in range(11, 21):
        for n in range(30):
            line += 1
            engine.feed(Event(line=line, ts=at(day, f"10:{n:02d}:00"), type="message", shop="s1", sender="consumer",
                              consumer=f"c{day}-{n}"))
            most = max(most, len(tracker.pending) + len(tracker.carried))
    engine.finish()
    assert most == 30
    assert [(row.eligible, row.met) for row in engine.metric_rows()] == [(30, 0)] * 10


def test_a_question_carried_past_midnight_is_met_by_a_reply_inside_its_deadline(tmp_path):
    # Douyin (no natural-day cut): c1 asks 23:59 and is assigned at once, deadline 00:02. c2's
    # 00:00:30 message starts the 12th; A answers c1 at 00:01, inside the deadline: met on the 11th.
    # c2 is never answered: missed on the 12th.
    shop = tmp_path / "shop.kefu"
    shop.write_text('shop "s1" on douyin\n', encoding="utf-8")
    engine = Engine(Loader().load(shop).policy)
    lines = [
        (at(11, "23:00:00"), dict(type="agent_status", agent="A", status="online")),
        (at(11, "23:59:00"), dict(type="message", sender="consumer", consumer="c1")),
        (at(12, "00:00:30"), dict(type="message", sender="consumer", consumer="c2")),
        (at(12, "00:01:00"), dict(type="message", sender="agent", agent="A", consumer="c1")),
    ]
    for line, (when, fields) in enumerate(lines, 1):
        engine.feed(Event(line=line, ts=when, shop="s1", **fields))
    (tracker,) = engine.metrics
    assert list(tracker.carried) == []   # answered: no longer carried
    engine.finish()
    assert [(row.date, row.eligible, row.met) for row in engine.metric_rows()] == [
        ("2026-11-11", 1, 1), ("2026-11-12", 1, 0)]
