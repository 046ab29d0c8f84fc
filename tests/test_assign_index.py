"""The agent index (large desks) makes exactly the choices of the scan (small desks).

Every replay here runs twice: with Engine.index_from so high that choices scan the agents, and at 1,
so that every shop keeps an AgentIndex from its first agent. Decisions (same agents, same rotation,
same random draws) and metric rows must be byte-identical, and after every event the index must hold
exactly the eligible agents of each pool, in key order.
"""

from __future__ import annotations

import io
import random
from itertools import product
from pathlib import Path

import orjson
import pytest
from test_engine_invariants import load_policies, random_events

from engine import registry
from engine.events import Event
from engine.loader import Loader
from engine.replay import replay, report_dict
from engine.runtime import Engine
from engine.runtime.assign import eligible
from engine.runtime.decisions import encode_lines

ROOT = Path(__file__).resolve().parent.parent
SCAN, INDEXED = 10**9, 1


def outputs(policy, events: list[Event], index_from: int, check_index: bool = False) -> bytes:
    """Decisions and metric rows of a replay, the index checked after every event if asked."""
    engine = Engine(policy, seed=5)
    engine.index_from = index_from
    decisions = []
    for event in events:
        decisions += engine.feed(event)
        if check_index:
            assert_index_holds_the_eligible_agents(engine)
    decisions += engine.finish()
    rows = [row.to_dict() for row in engine.metric_rows()]
    return encode_lines(decisions) + orjson.dumps(rows)


def assert_index_holds_the_eligible_agents(engine: Engine) -> None:
    for shop in engine.shops.values():
        index = shop.index
        if index is None:
            continue
        assert index.agents == list(shop.agents.values())
        for pool in index.pools.values():
            members = [a for a in shop.agents.values() if pool.member(a)]
            assert pool.entries == sorted(engine.ranker.entry(a) for a in members if eligible(a))
            assert pool.online == sum(a.status == "online" for a in members)
            assert pool.present == sum(a.status != "offline" for a in members)
            if pool.spare is not None:
                assert pool.spare == sorted((a.load(), a.order, a) for a in members if a.status == "online" and a.im)


@pytest.mark.parametrize("seed", range(4))
def test_shipped_and_extra_policies_choose_the_same_with_the_index(tmp_path, seed):
    for name, policy in load_policies(tmp_path):
        events = random_events(random.Random(seed), 500, "s1")
        assert outputs(policy, events, INDEXED, check_index=True) == outputs(policy, events, SCAN), name


# Every strategy with every tie-break, on a Taobao shop with groups, page routing to a group, a repeat
# entry falling back to the same group, and a queue.
COMBINED = """\
shop "s1" on taobao
group pre {{ agents amy, bob, cat, dan; max_sessions 2 }}
group post {{ agents eve, lin }}
route {{ scope groups pre, post }}
assign by {strategy}, ties {ties}
return to previous agent within 10m else same_group, any_online, queue
queue {{ scope shop; end session after 5m }}
"""


@pytest.mark.parametrize("strategy,ties", list(product(registry.STRATEGIES, registry.TIE_BREAKS)))
def test_every_strategy_and_tie_break_choose_the_same_with_the_index(tmp_path, strategy, ties):
    path = tmp_path / "shop.kefu"
    path.write_text(COMBINED.format(strategy=strategy, ties=ties), encoding="utf-8")
    result = Loader().load(path)
    assert result.ok and result.policy is not None, [d.message for d in result.diagnostics]
    for seed in range(2):
        events = random_events(random.Random(seed), 500, "s1")
        assert outputs(result.policy, events, INDEXED, check_index=True) == outputs(result.policy, events, SCAN)


# Page routing to groups with the queue scoped to one group: consumers routed to the other group go over
# the cap (over_cap_no_queue) when nobody is free; the wait estimate counts the online agents.
OVER_CAP = """\
shop "s1" on pinduoduo
group front {{ agents amy, bob; max_sessions 1 }}
group back {{ agents cat, dan; max_sessions 1 }}
route {{
  page order_detail -> back
  default -> front
}}
assign by {strategy}, ties round_robin
queue {{ scope groups back; end session after 3m }}
"""


@pytest.mark.parametrize("strategy", list(registry.STRATEGIES))
def test_over_the_cap_and_queue_reasons_are_the_same_with_the_index(tmp_path, strategy):
    path = tmp_path / "shop.kefu"
    path.write_text(OVER_CAP.format(strategy=strategy), encoding="utf-8")
    result = Loader().load(path)
    assert result.ok and result.policy is not None, [d.message for d in result.diagnostics]
    for seed in range(3):
        events = random_events(random.Random(seed), 600, "s1")
        scanned = outputs(result.policy, events, SCAN)
        assert b"over_cap_no_queue" in scanned and b"at_cap" in scanned   # the paths are reached
        assert outputs(result.policy, events, INDEXED, check_index=True) == scanned


@pytest.mark.parametrize("sample", ["douyin-flagship", "pinduoduo-fruit", "taobao-apparel"])
def test_the_samples_replay_byte_identically_with_the_index(monkeypatch, sample):
    result = Loader().load(ROOT / "rulesets" / "examples" / f"{sample}.kefu")
    log = (ROOT / "samples" / f"{sample}.jsonl").read_bytes()
    runs = []
    for index_from in (SCAN, INDEXED):
        monkeypatch.setattr(Engine, "index_from", index_from)
        out = io.BytesIO()
        report = report_dict(replay(result.policy, io.BytesIO(log), seed=0, decisions_out=out))
        runs.append(out.getvalue() + orjson.dumps(report))
    assert runs[0] == runs[1]


def test_a_choice_on_a_large_desk_does_not_look_at_every_agent(tmp_path):
    # 2,000 agents online: each is ranked once as it joins the index. Then a consumer costs one rank
    # call, for the chosen agent joining again with its new session (leaving uses the stored key),
    # never one per agent as the scan does.
    calls = []
    rank = registry.STRATEGIES["least_loaded"].behaviour.rank   # type: ignore[union-attr]

    def counting_rank(agent):
        calls.append(agent.name)
        return rank(agent)

    path = tmp_path / "shop.kefu"
    path.write_text('shop "s1" on douyin\nassign by least_loaded ties first\n', encoding="utf-8")
    engine = Engine(Loader().load(path).policy)
    engine.ranker.entry = lambda a: (counting_rank(a), a.order, a)
    for i in range(2000):
        engine.feed(Event(line=i, ts=1_794_355_200.0, type="agent_status", shop="s1", agent=f"a{i}", status="online"))
    engine.feed(Event(line=2000, ts=1_794_355_201.0, type="message", shop="s1", sender="consumer", consumer="c1"))
    before = len(calls)
    (assigned,) = engine.feed(Event(line=2001, ts=1_794_355_202.0, type="message", shop="s1", sender="consumer",
                                    consumer="c2"))
    # c1 went to a0 (all idle, the first declared); c2 to a1 (a0 serves one)
    assert assigned.agent == "a1" and calls[before:] == ["a1"]
