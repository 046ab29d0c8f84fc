"""The queue's end of day and the offline pool's keep: timers at local midnight, in time order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine.events import Event
from engine.loader import Loader
from engine.runtime import Engine

CST = timezone(timedelta(hours=8))


def at(day: int, clock: str) -> float:
    return datetime.fromisoformat(f"2026-11-{day:02d}T{clock}").replace(tzinfo=CST).timestamp()


def engine_for(tmp_path, text: str) -> Engine:
    path = tmp_path / "shop.kefu"
    path.write_text(text, encoding="utf-8")
    policy = Loader().load(path).policy
    assert policy is not None
    return Engine(policy)


def one_queued(engine: Engine) -> None:
    """A (cap 1) serves c1 from 22:00; c2 queues at 22:10."""
    engine.feed(Event(line=1, ts=at(11, "21:59:00"), type="agent_status", shop="s1", agent="A", status="online",
                      max_sessions=1))
    engine.feed(Event(line=2, ts=at(11, "22:00:00"), type="message", shop="s1", sender="consumer", consumer="c1"))
    (queued,) = engine.feed(Event(line=3, ts=at(11, "22:10:00"), type="message", shop="s1", sender="consumer",
                                  consumer="c2"))
    assert (queued.action, queued.consumer) == ("enqueue", "c2")


def test_the_last_days_midnight_fires_at_the_end_of_the_log(tmp_path):
    engine = engine_for(tmp_path, 'shop "s1" on douyin\n')
    one_queued(engine)
    (left,) = engine.finish()
    assert (left.action, left.consumer, left.ts, left.line, left.reason) == (
        "leave_queue", "c2", "2026-11-12T00:00:00+08:00", None, "day_end")
    assert engine.shops["s1"].queue.size == 0


def test_a_live_desk_sees_the_day_end_on_its_clock_tick(tmp_path):
    engine = engine_for(tmp_path, 'shop "s1" on douyin\n')
    one_queued(engine)
    assert engine.advance(at(11, "23:59:59")) == []
    (left,) = engine.advance(at(12, "00:00:00"))
    assert (left.action, left.consumer, left.reason) == ("leave_queue", "c2", "day_end")
    assert engine.finish() == []


def test_a_pooled_consumer_leaves_at_the_midnight_after_its_keep_across_a_jump(tmp_path):
    # c1 is pooled at 22:00 on the 11th, kept 3 days: until 22:00 on the 14th, so it leaves at
    # 00:00 on the 15th, though the log's next line is on the 20th; c2 then takes position 1.
    engine = engine_for(tmp_path, 'shop "s1" on taobao\noffline pool keep 3d\n')
    engine.feed(Event(line=1, ts=at(11, "21:00:00"), type="agent_status", shop="s1", agent="A", status="offline"))
    (pooled,) = engine.feed(Event(line=2, ts=at(11, "22:00:00"), type="message", shop="s1", sender="consumer",
                                  consumer="c1"))
    assert pooled.action == "offline_pool"
    left, pooled = engine.feed(Event(line=3, ts=at(20, "10:00:00"), type="message", shop="s1", sender="consumer",
                                     consumer="c2"))
    assert (left.action, left.consumer, left.ts, left.reason) == (
        "leave_queue", "c1", "2026-11-15T00:00:00+08:00", "pool_expired")
    assert (pooled.action, pooled.consumer, pooled.position) == ("offline_pool", "c2", 1)
    assert engine.finish() == []   # c2 is still kept when the log ends: it stays in the pool
