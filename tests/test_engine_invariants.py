"""The engine's state stays consistent under random event streams (seeded, so every run is the same).

Scenario tests check figures worked out by hand; these check what must hold after every
event of any stream, whatever the policy decides: a session is known to both its consumer
and its agent, a consumer is never both served and queued, the queue's size is the number
of entries in it, timers stay in due order, and every metric row has 0 <= met <= eligible.
Streams mix every event type, unknown agents, day changes and quiet gaps.
"""

from __future__ import annotations

import io
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from engine.events import Event
from engine.interface import DecisionRecord
from engine.loader import Loader
from engine.replay import replay, report_dict
from engine.runtime import Engine
from engine.runtime.decisions import encode_lines

from cli_helpers import shipped_policies

START = 1_794_355_200.0   # 2026-11-11T00:00:00+08:00

# Shop policies that reach the paths the examples don't: offline routing, round robin,
# random ties, a FIFO queue scoped to one group, a repeat entry that falls back to any agent.
EXTRA_POLICIES = {
    "offline_route.kefu": """\
shop "s1" on pinduoduo
group front { agents amy, bob; max_sessions 2 }
group back { agents cat }
agent zed { role admin; im off }
offline -> zed
route {
  page order_detail -> back
  default -> front
}
assign by least_loaded, ties round_robin
queue { end session after 3m }
reply keyword "price" -> "see the page"
reply first message -> "hello"
auto reply at most once per 2m per consumer
""",
    "scoped_fifo.kefu": """\
shop "s1" on taobao
group pre { agents amy, bob; max_sessions 1 }
group post { agents cat }
route { scope groups pre }
assign by least_loaded, ties longest_idle
return to previous agent within 10m else any_online, queue
offline pool keep 1d
queue { scope groups pre; end session after 5m; estimate wait from last 3 handled }
reply offline -> "closed"
reply status busy -> "busy now"
""",
}

AGENT_NAMES = ["amy", "bob", "cat", "dan", "eve", "lin", "chen", "wu", "he", "sun", "zed", "stranger"]
TEXTS = ["在吗", "price", "发票", "尺码", "谢谢", "好的", "查订单", "", "多大"]
PAGES = [None, "shop_home", "product_detail", "order_detail", "refund_detail"]


def load_policies(tmp_path: Path) -> list[tuple[str, object]]:
    """Every example policy, the extra ones above and each platform alone."""
    policies = [(name, policy) for name, policy, _ in shipped_policies()]
    for name, text in EXTRA_POLICIES.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        result = Loader().load(path)
        assert result.ok, [d.message for d in result.diagnostics]
        policies.append((name, result.policy))
    return policies


def random_events(rng: random.Random, count: int, shop: str | None) -> list[Event]:
    """A stream of every event type over a few consumers and agents, in time order."""
    events, ts = [], START
    consumers = [f"c{i}" for i in range(12)]
    for line in range(1, count + 1):
        ts += rng.choice([0, 0, 1, 5, 30, 90, 240, 700]) + (rng.random() < 0.01) * 86400 * rng.randint(1, 3)
        kind = rng.random()
        consumer = rng.choice(consumers)
        agent = rng.choice(AGENT_NAMES)
        if kind < 0.40:
            card = rng.choice([None, None, ("product", "p1001"), ("order", "123")])
            events.append(Event(line=line, ts=ts, type="message", shop=shop, sender="consumer", consumer=consumer,
                                text=rng.choice(TEXTS), page=rng.choice(PAGES),
                                card_kind=card and card[0], card_id=card and card[1]))
        elif kind < 0.70:
            sender = rng.choice(["agent", "agent", "agent", "robot", "system", "assistant"])
            events.append(Event(line=line, ts=ts, type="message", shop=shop, sender=sender, consumer=consumer,
                                agent=agent if sender == "agent" else None, text="ok"))
        elif kind < 0.82:
            events.append(Event(line=line, ts=ts, type="session_end", shop=shop, consumer=consumer))
        elif kind < 0.88:
            events.append(Event(line=line, ts=ts, type="transfer", shop=shop, consumer=consumer, agent=agent,
                                to_agent=rng.choice([a for a in AGENT_NAMES if a != agent])))
        else:
            events.append(Event(line=line, ts=ts, type="agent_status", shop=shop, agent=agent,
                                status=rng.choice(["online", "online", "busy", "offline"]),
                                max_sessions=rng.choice([None, None, 1, 3]),
                                group=rng.choice([None, None, "pre", "post", "presale"])))
    return events


def assert_consistent(engine: Engine) -> None:
    """Sessions, queue and presence agree with one another; timers are in due order."""
    for shop in engine.shops.values():
        for name, agent in shop.agents.items():
            for cid in agent.sessions:
                session = shop.consumers[cid].session
                assert session is not None and session.agent == name, (name, cid)
        queued = 0
        for cid, cs in shop.consumers.items():
            assert cs.session is None or cs.queued is None, cid
            if cs.session is not None:
                assert cid in shop.agents[cs.session.agent].sessions, cid
            if cs.queued is not None:
                queued += 1
                assert shop.queue.groups[cs.queued.candidates][cid] is cs.queued
        assert shop.queue.size == queued == sum(len(g) for g in shop.queue.groups.values())
        assert shop.present == sum(a.status != "offline" for a in shop.agents.values())
    due = [(t[0], t[1]) for t in engine.timers]
    assert due == sorted(due)


@pytest.mark.parametrize("seed", range(6))
def test_state_stays_consistent_after_every_event(tmp_path, seed):
    rng = random.Random(seed)
    seen = set()
    for name, policy in load_policies(tmp_path):
        shop = rng.choice([None, "s1", "other-shop"])
        engine = Engine(policy, seed=seed)
        for event in random_events(rng, 400, shop):
            for decision in engine.feed(event):
                seen.add(decision.action)
                assert decision.line in (None, event.line), (name, decision)
                assert decision.rule is None or decision.rule.line >= 1, (name, decision)
                if decision.action in ("assign", "offline_route"):
                    assert decision.agent is not None and decision.load >= 1, (name, decision)
            assert_consistent(engine)
        engine.finish()
        assert not engine.timers
        for row in engine.metric_rows():
            assert 0 <= row.met <= row.eligible, (name, row)
            assert row.rate is None or 0.0 <= row.rate <= 1.0
    # the streams are not vacuous: they reach every kind of decision
    assert {"assign", "enqueue", "close_session", "auto_reply", "transfer", "differs", "leave_queue"} <= seen


def test_a_random_log_replays_the_same_twice_and_counts_every_line(tmp_path):
    rng = random.Random(99)
    events = random_events(rng, 600, "s1")
    lines = [orjson.dumps({"ts": _rfc3339(e.ts), "type": e.type, **{
        k: v for k, v in (("shop", e.shop), ("sender", e.sender), ("consumer", e.consumer), ("agent", e.agent),
                          ("text", e.text), ("page", e.page), ("status", e.status),
                          ("max_sessions", e.max_sessions), ("group", e.group), ("to_agent", e.to_agent))
        if v is not None}}) for e in events]
    log = b"\n".join(lines) + b"\n"
    for name, policy in load_policies(tmp_path):
        outputs = []
        for _ in range(2):
            out = io.BytesIO()
            # the log is shop s1's, the example policies name their own shops: select s1 (a shop policy
            # refuses another shop's events without --shop)
            result = replay(policy, io.BytesIO(log), seed=3, decisions_out=out, shop="s1")
            report = report_dict(result)
            assert report["events"] == {"read": 600, "accepted": 600, "rejected": 0, "skipped": 0}, name
            assert sum(report["decisions"].values()) == len(out.getvalue().splitlines()), name
            outputs.append(out.getvalue() + orjson.dumps(report))
        assert outputs[0] == outputs[1], name


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone(timedelta(hours=8))).isoformat()


def test_decisions_of_random_streams_follow_the_decision_schema(tmp_path):
    rng = random.Random(7)
    for name, policy in load_policies(tmp_path):
        engine = Engine(policy, seed=1)
        decisions = [d for e in random_events(rng, 300, None) for d in engine.feed(e)] + engine.finish()
        records = [orjson.loads(line) for line in encode_lines(decisions).splitlines()] if decisions else []
        assert len(records) == len(decisions) > 0, name
        for record in records:   # every record as the documented decision schema has it
            DecisionRecord.model_validate(record)
