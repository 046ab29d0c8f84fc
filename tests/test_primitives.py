"""Every primitive the language names changes the replay: one small log per primitive, built to show it.

Each case replays the same log under each name of one kind (strategies, tie-breaks, fallbacks,
queue orders, units, clock starts, counting rules, evaluation days, metric figures) and compares
with figures worked out by hand in the comments. A name of a kind with behaviour that no case
covers fails test_every_primitive_has_a_case.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine import ir, registry
from engine.events import Event
from engine.loader import Loader
from engine.runtime import Engine

CST = timezone(timedelta(hours=8))
ROOT = Path(__file__).resolve().parent.parent

PLATFORM = """\
platform lab "a platform made for these tests"
senders agent, robot, system, assistant
allow group_routing, repeat_entry, queue, queue_order, session_end, transfer,
      welcome, faq, first_message_reply, keyword_reply, closing_reply, status_reply,
      product_reply, order_card_reply, offline_reply, menu
default assign by least_loaded ties first
{metric}
"""
# A metric with every clause the cases change.
METRIC = """\
metric m {{
  unit {unit}
  window 08:00-24:00
  deadline {deadline}
  clock starts at {start}
  effective {effective}
  {count}
  {penalty}
  evaluated on {evaluation}
}}"""
METRIC_DEFAULTS = {"effective": "agent", "unit": "question", "deadline": "5m", "start": "question", "count": "", "penalty": "",
                   "evaluation": "same_day"}


def at(clock: str) -> float:
    return datetime.fromisoformat(f"2026-11-11T{clock}").replace(tzinfo=CST).timestamp()


def online(line: int, clock: str, agent: str) -> Event:
    return Event(line=line, ts=at(clock), type="agent_status", shop="s", agent=agent, status="online")


def offline(line: int, clock: str, agent: str) -> Event:
    return Event(line=line, ts=at(clock), type="agent_status", shop="s", agent=agent, status="offline")


def asks(line: int, clock: str, consumer: str, text: str | None = None, card: tuple | None = None,
         priority: int | None = None) -> Event:
    return Event(line=line, ts=at(clock), type="message", shop="s", sender="consumer", consumer=consumer, text=text,
                 card_kind=card and card[0], card_id=card and card[1], priority=priority)


def answers(line: int, clock: str, consumer: str, agent: str = "A", sender: str = "agent") -> Event:
    return Event(line=line, ts=at(clock), type="message", shop="s", sender=sender, consumer=consumer,
                 agent=agent if sender == "agent" else None)


def ends(line: int, clock: str, consumer: str) -> Event:
    return Event(line=line, ts=at(clock), type="session_end", shop="s", consumer=consumer)


def transfers(line: int, clock: str, consumer: str, source: str, target: str) -> Event:
    return Event(line=line, ts=at(clock), type="transfer", shop="s", consumer=consumer, agent=source, to_agent=target)


def engine_for(tmp_path, shop_lines: str, **metric: str) -> Engine:
    """An engine for a shop on the lab platform; the metric's clauses default to METRIC_DEFAULTS."""
    clauses = {**METRIC_DEFAULTS, **metric}
    (tmp_path / "lab.kefu").write_text(PLATFORM.format(metric=METRIC.format(**clauses)), encoding="utf-8")
    shop = tmp_path / "shop.kefu"
    shop.write_text(f'shop "s" on lab\ntimezone Asia/Shanghai\n{shop_lines}', encoding="utf-8")
    result = Loader([tmp_path]).load(shop)
    assert result.policy is not None and result.ok, [d.message for d in result.diagnostics]
    return Engine(result.policy, seed=7)


def replay_decisions(tmp_path, shop_lines: str, events: list[Event]) -> list[tuple]:
    """(action, consumer, agent, reason) of every decision."""
    engine = engine_for(tmp_path, shop_lines)
    out = [d for event in events for d in engine.feed(event)] + engine.finish()
    return [(d.action, d.consumer, d.agent, d.reason) for d in out]


def figures(tmp_path, events: list[Event], shop_lines: str = "", **metric: str) -> tuple:
    """(eligible, met, penalty, evaluated_on) of the metric's one row."""
    engine = engine_for(tmp_path, shop_lines, **metric)
    for event in events:
        engine.feed(event)
    engine.finish()
    (row,) = engine.metric_rows()
    return row.eligible, row.met, row.penalty, row.evaluated_on


# ---- assignment: strategies and tie-breaks ---------------------------------------------------------
# A (cap 2), B and C (cap 10), declared in that order; online C 08:58, B 08:59, A 09:00 (so C has been
# idle longest, then B, then A); four consumers 09:01-09:04 who keep their sessions.
DESK = "agent A { max_sessions 2 }\nagent B { max_sessions 10 }\nagent C { max_sessions 10 }\n"
ARRIVALS = [online(1, "08:58:00", "C"), online(2, "08:59:00", "B"), online(3, "09:00:00", "A"),
            asks(4, "09:01:00", "c1"), asks(5, "09:02:00", "c2"), asks(6, "09:03:00", "c3"), asks(7, "09:04:00", "c4")]
CAPS = {"A": 2, "B": 10, "C": 10}


def random_choices(ties_only: bool) -> list[str]:
    """The agents a seeded random pick gives (seed 7, as run() uses), drawn here step by step.

    ties_only: least_loaded first, a draw only among the least loaded (and only when several are)."""
    rng = random.Random(7)
    load = {"A": 0, "B": 0, "C": 0}
    chosen = []
    for _ in range(4):
        pool = [a for a in "ABC" if load[a] < CAPS[a]]
        if ties_only:
            pool = [a for a in pool if load[a] == min(load[b] for b in pool)]
        pick = pool[0] if len(pool) == 1 else rng.choice(pool)
        load[pick] += 1
        chosen.append(pick)
    return chosen


STRATEGY_CASES = {
    # all idle at first: the first declared, A; then B and C (load 0); c4: A 1 of 2 (idle 50 %), B and C
    # 1 of 10 (90 %): B
    "idle_rate": ["A", "B", "C", "B"],
    # c4: A, B and C serve one each: the first declared, A
    "least_loaded": ["A", "B", "C", "A"],
    # each in turn: A, B, C, then A again (1 of 2, still free)
    "round_robin": ["A", "B", "C", "A"],
    # idle_since changes only when an agent's last session ends: C (idle since 08:58) takes everyone
    "longest_idle": ["C", "C", "C", "C"],
    "random": random_choices(ties_only=False),
}
TIE_CASES = {  # under least_loaded
    "first": ["A", "B", "C", "A"],
    # c1: A (turn 0); c2: B or C tied, B (after A); c3: C alone (no tie, the turn stays); c4: all tied, C
    "round_robin": ["A", "B", "C", "C"],
    # c1: C (08:58); c2: A or B, B (08:59); c3: A; c4: all tied, C
    "longest_idle": ["C", "B", "A", "C"],
    "random": random_choices(ties_only=True),
}


def assigned_agents(tmp_path, assign: str) -> list[str]:
    decisions = replay_decisions(tmp_path, DESK + assign + "\n", ARRIVALS)
    return [agent for action, _, agent, _ in decisions if action == "assign"]


@pytest.mark.parametrize("name", list(STRATEGY_CASES))
def test_each_strategy_chooses_its_own_agents(tmp_path, name):
    assert assigned_agents(tmp_path, f"assign by {name} ties first") == STRATEGY_CASES[name]


@pytest.mark.parametrize("name", list(TIE_CASES))
def test_each_tie_break_chooses_its_own_agents(tmp_path, name):
    assert assigned_agents(tmp_path, f"assign by least_loaded ties {name}") == TIE_CASES[name]


def test_the_random_cases_differ_from_every_other_name():
    # otherwise the random rows would not show that the name matters
    assert STRATEGY_CASES["random"] not in [v for k, v in STRATEGY_CASES.items() if k != "random"]
    assert TIE_CASES["random"] not in [v for k, v in TIE_CASES.items() if k != "random"]


# ---- repeat-entry fallbacks and queue order ----------------------------------------------------------
# Groups g1 {A, B} and g2 {C}. c1 goes to A and c2 to B; c1's session ends; A goes offline; c1 is back
# within the window: A is offline, so the fallback decides.
GROUPS = "group g1 { agents A, B }\ngroup g2 { agents C }\nassign by least_loaded ties first\nqueue { scope shop }\n"
RETURN = [online(1, "09:00:00", "A"), online(2, "09:00:00", "B"), online(3, "09:00:00", "C"),
          asks(4, "09:01:00", "c1"), asks(5, "09:02:00", "c2"), ends(6, "09:03:00", "c1"),
          offline(7, "09:04:00", "A"), asks(8, "09:05:00", "c1")]
FALLBACK_CASES = {
    # B, the other online agent of A's group (though it serves c2 and C serves nobody)
    "same_group": [("assign", "c1", "B", "repeat_entry_same_group")],
    # any agent of the routing, least loaded: C (B serves c2)
    "any_online": [("assign", "c1", "C", "repeat_entry_any_online")],
    # the queue, which a free agent drains at once: C
    "queue": [("enqueue", "c1", None, "repeat_entry"), ("assign", "c1", "C", "dequeue")],
}


@pytest.mark.parametrize("name", list(FALLBACK_CASES))
def test_each_fallback_sends_a_returning_consumer_its_own_way(tmp_path, name):
    shop = GROUPS + f"return to previous agent within 30m else {name}\n"
    decisions = replay_decisions(tmp_path, shop, RETURN)
    assert decisions[3:] == FALLBACK_CASES[name]   # after c1 → A, c2 → B and c1's session end


# One agent with a cap of 1: c1 takes it, c2, c3 (priority 2) and c4 queue; c1's session ends: the order picks.
QUEUE_CASES = {"fifo": "c2", "lifo": "c4", "priority": "c3"}


@pytest.mark.parametrize("name", list(QUEUE_CASES))
def test_each_queue_order_serves_its_own_consumer(tmp_path, name):
    shop = f"agent A {{ max_sessions 1 }}\nqueue {{ scope shop; order {name} }}\n"
    events = [online(1, "09:00:00", "A"), asks(2, "09:01:00", "c1"), asks(3, "09:02:00", "c2"),
              asks(4, "09:03:00", "c3", priority=2), asks(5, "09:03:30", "c4"), ends(6, "09:04:00", "c1")]
    decisions = replay_decisions(tmp_path, shop, events)
    # the one dequeued; the others stay queued until they leave the queue at midnight (day_end)
    assert [d for d in decisions if d[-1] == "dequeue"] == [("assign", QUEUE_CASES[name], "A", "dequeue")]


# ---- metric units and clock starts -------------------------------------------------------------------
# c1 asks at 09:00, answered at 09:01 (1 min); asks again at 09:10, answered at 09:30 (20 min). 5 minutes.
TWO_QUESTIONS = [online(1, "08:00:00", "A"), asks(2, "09:00:00", "c1"), answers(3, "09:01:00", "c1"),
                 asks(4, "09:10:00", "c1"), answers(5, "09:30:00", "c1")]
UNIT_CASES = {  # (unit, clock start) → (eligible, met)
    "question": (("question", "question"), (2, 1)),           # two questions, the second late
    "consumer_day": (("consumer_day", "question"), (1, 0)),   # one consumer-day, not all its questions in time
}
# The consumer-day under each clock start (E141 forbids first_question with unit question).
CLOCK_CASES = {
    "question": (("consumer_day", "question", TWO_QUESTIONS), (1, 0)),       # every question timed: 20 min late
    "first_question": (("consumer_day", "first_question", TWO_QUESTIONS), (1, 1)),  # only the 09:00 one
    # queued at 09:00 (no agent online), A comes online at 09:10 and takes c1, answers at 09:12: timed
    # from the question 12 min (missed), from the assignment 2 min (met)
    "assignment": (("question", "assignment", [asks(1, "09:00:00", "c1"), online(2, "09:10:00", "A"),
                                               answers(3, "09:12:00", "c1")]), (1, 1)),
}


@pytest.mark.parametrize("name", list(UNIT_CASES))
def test_each_unit_counts_its_own_figures(tmp_path, name):
    (unit, start), expected = UNIT_CASES[name]
    assert figures(tmp_path, TWO_QUESTIONS, unit=unit, start=start)[:2] == expected


@pytest.mark.parametrize("name", list(CLOCK_CASES))
def test_each_clock_start_times_its_own_way(tmp_path, name):
    (unit, start, events), expected = CLOCK_CASES[name]
    assert figures(tmp_path, events, unit=unit, start=start)[:2] == expected


def test_the_assignment_clock_case_differs_under_the_question_clock(tmp_path):
    (unit, _, events), _ = CLOCK_CASES["assignment"]
    assert figures(tmp_path, events, unit=unit, start="question")[:2] == (1, 0)   # 12 minutes: missed


def test_a_consumer_day_with_every_question_in_time_is_met(tmp_path):
    # the second question answered at 09:12 (2 min): both in time, the day is met
    events = TWO_QUESTIONS[:4] + [answers(5, "09:12:00", "c1")]
    assert figures(tmp_path, events, unit="consumer_day", start="question")[:2] == (1, 1)


def test_a_consumer_day_missed_late_in_the_day_is_missed_once(tmp_path):
    # three questions: in time, late, late: still one consumer-day, missed (not a negative met)
    events = TWO_QUESTIONS + [asks(6, "09:40:00", "c1"), answers(7, "10:00:00", "c1")]
    assert figures(tmp_path, events, unit="consumer_day", start="question")[:2] == (1, 0)


# ---- counting rules ------------------------------------------------------------------------------------
COUNT_CASES = {  # name → (events, figures without the rule, figures with it)
    # c1 asks twice, A answers both in time: two questions, or one reception of A
    "dedup_per_agent": (TWO_QUESTIONS[:4] + [answers(5, "09:11:00", "c1")], (2, 2), (1, 1)),
    # c1 goes to A, who transfers to B at 09:01 without answering; B answers at 09:02. With the rule A's
    # reception is missed and B's, timed from the transfer, met
    "transfer_without_reply_ineffective": (
        [online(1, "08:00:00", "A"), asks(2, "09:00:00", "c1"), transfers(3, "09:01:00", "c1", "A", "B"),
         answers(4, "09:02:00", "c1", "B")], (1, 1), (2, 1)),
    # the assistant writes to c1 at 09:00:30, A answers at 09:01: the assistant's reception is one more
    # consultation, answered (the assistant replied)
    "assistant_as_account": (
        [online(1, "08:00:00", "A"), asks(2, "09:00:00", "c1"), answers(3, "09:00:30", "c1", sender="assistant"),
         answers(4, "09:01:00", "c1")], (1, 1), (2, 2)),
}


@pytest.mark.parametrize("name", list(COUNT_CASES))
def test_each_counting_rule_changes_the_figures(tmp_path, name):
    events, without, with_rule = COUNT_CASES[name]
    assert figures(tmp_path, events)[:2] == without
    assert figures(tmp_path, events, count=f"count {name}")[:2] == with_rule


def test_an_assistant_answer_counted_ineffective_leaves_its_reception_missed(tmp_path):
    # as assistant_as_account's case, with the assistant's answer an ineffective reply: 2 receptions, 1 met
    events = COUNT_CASES["assistant_as_account"][0]
    count = "count assistant_as_account, assistant_unanswered_ineffective"
    assert figures(tmp_path, events, count=count)[:2] == (2, 1)


# ---- effective senders: every automatic-reply kind ----------------------------------------------------
# For each kind: a shop with a reply of that kind and a log whose consumer message at 09:00 triggers it
# (no agent ever answers). The question is met when the kind is an effective sender, missed when another
# kind is.
BUSY_AGENT = [online(1, "08:00:00", "A"), asks(2, "09:00:00", "c1"),
              Event(line=3, ts=at("09:00:10"), type="agent_status", shop="s", agent="A", status="busy"),
              asks(4, "09:00:20", "c1")]
REPLY_CASES = {  # kind → (shop lines, events)
    "welcome": ('reply welcome "hi"\n', [asks(1, "09:00:00", "c1")]),
    # the welcome at 09:00 lists the FAQ; the consumer clicks a question at 09:01 (the same question)
    "faq": ('reply welcome "hi" faq { "运费" -> "包邮" }\n', [asks(1, "09:00:00", "c1"), asks(2, "09:01:00", "c1", "运费")]),
    "first_message": ('reply first message -> "hello"\n', [online(1, "08:00:00", "A"), asks(2, "09:00:00", "c1")]),
    "keyword": ('reply keyword "发票" -> "ok"\n', [asks(1, "09:00:00", "c1", "能开发票吗")]),
    "closing": ('reply closing "好的" -> "bye"\n', [asks(1, "09:00:00", "c1", "好的")]),
    # A takes c1 at 09:00, turns busy; c1's next message gets the status reply
    "status": ('reply status busy -> "busy"\n', BUSY_AGENT),
    "product": ('reply product 6523001 -> "fresh"\n', [asks(1, "09:00:00", "c1", card=("product", "6523001"))]),
    "order_card": ('reply order card -> "checking"\n', [asks(1, "09:00:00", "c1", card=("order", "88"))]),
    "offline": ('reply offline -> "closed"\n', [asks(1, "09:00:00", "c1")]),   # no agent online
    "menu": ('reply menu { "查订单" -> order_lookup }\n', [asks(1, "09:00:00", "c1", "查订单")]),
}


@pytest.mark.parametrize("kind", list(REPLY_CASES))
def test_each_automatic_reply_kind_is_an_effective_sender_of_its_own(tmp_path, kind):
    shop, events = REPLY_CASES[kind]
    other = "keyword" if kind != "keyword" else "closing"
    assert figures(tmp_path, events, shop, effective=kind)[:2] == (1, 1)
    # auto_reply: every kind counts; in the faq case the welcome answers the 09:00 question and the click
    # is a second question, which the FAQ answer answers
    assert figures(tmp_path, events, shop, effective="auto_reply")[:2] == ((2, 2) if kind == "faq" else (1, 1))
    assert figures(tmp_path, events, shop, effective=other)[:2] == (1, 0)


def test_the_status_reply_answers_only_while_the_agent_has_that_status(tmp_path):
    # BUSY_AGENT: A takes c1 at 09:00, turns busy at 09:00:10; c1 writes again at 09:00:20: the busy reply.
    # With A still online at 09:00:20, no status reply goes out.
    def status_replies(events: list[Event]) -> int:
        engine = engine_for(tmp_path, 'reply status busy -> "busy"\n')
        out = [d for event in events for d in engine.feed(event)] + engine.finish()
        return sum(d.action == "auto_reply" and d.kind == "status" for d in out)

    online_only = [e for e in BUSY_AGENT if not (e.type == "agent_status" and e.status == "busy")]
    assert (status_replies(BUSY_AGENT), status_replies(online_only)) == (1, 0)


@pytest.mark.parametrize("sender", ["robot", "system", "assistant"])
def test_a_declared_sender_answers_only_when_named_effective(tmp_path, sender):
    # c1 asks at 09:00; only the sender writes back, at 09:01
    events = [asks(1, "09:00:00", "c1"), answers(2, "09:01:00", "c1", sender=sender)]
    assert figures(tmp_path, events, effective=f"agent, {sender}")[:2] == (1, 1)
    assert figures(tmp_path, events, effective="agent")[:2] == (1, 0)


def test_every_automatic_reply_kind_has_a_case():
    assert set(REPLY_CASES) == set(registry.AUTO_REPLY_KINDS)


# ---- evaluation days and metric figures --------------------------------------------------------------
def test_each_evaluation_day_labels_the_rows(tmp_path):
    # the figures are the measured day's; the row says which day they are used for
    for name in registry.METRIC_EVALUATION:
        assert figures(tmp_path, TWO_QUESTIONS, evaluation=name) == (2, 1, 0, name)


# Three questions, one in time: eligible 3, met 1, missed 2, rate 1/3. A penalty due `when FIGURE >= 3`,
# `>= 2` and `< 1`: eligible (3) passes the first two, missed (2) only the second, rate (0.33) only the
# third, met (1) none.
THREE_QUESTIONS = TWO_QUESTIONS + [asks(6, "09:40:00", "c1"), answers(7, "10:00:00", "c1")]
FIGURE_CASES = {"eligible": (100, 100, 0), "met": (0, 0, 0), "missed": (0, 100, 0), "rate": (0, 0, 100)}


@pytest.mark.parametrize("name", list(FIGURE_CASES))
def test_each_metric_figure_decides_the_penalty(tmp_path, name):
    due = tuple(figures(tmp_path, THREE_QUESTIONS, penalty=f"penalty 100 yuan when {name} {bound}")[2]
                for bound in (">= 3", ">= 2", "< 1"))
    assert due == FIGURE_CASES[name]


# ---- the generator's rates (`generate { … }` of a platform file) ---------------------------------------
# Each rate set to 0 and then to 100 % on the Taobao platform (which declares robot, system and
# assistant), 60 consumers of one day: what it sets appears with it and not without it.
GENERATE_CASES = {
    "robot": lambda events: sum(e["type"] == "message" and e.get("sender") == "robot" for e in events),
    "system": lambda events: sum(e["type"] == "message" and e.get("sender") == "system" for e in events),
    "assistant": lambda events: sum(e["type"] == "message" and e.get("sender") == "assistant" for e in events),
    "hand_end": lambda events: sum(e["type"] == "session_end" for e in events),
}


@pytest.mark.parametrize("name", list(GENERATE_CASES))
def test_each_generate_rate_decides_what_the_generator_writes(name):
    import io
    from datetime import date

    import orjson

    from engine.loader import Loader
    from engine.synth import generate_log

    base = Loader().load(ROOT / "rulesets" / "examples" / "taobao-apparel.kefu").policy
    assert base is not None
    counts = []
    for value in (0.0, 1.0):
        others = [r for r in base.platform.generate if r.name.name != name]
        rate = ir.Rate(name=ir.Ref(name=name), value=value)
        policy = base.model_copy(update={"platform": base.platform.model_copy(update={"generate": [*others, rate]})})
        out = io.BytesIO()
        generate_log(policy, day=date(2026, 11, 11), consumers=60, seed=3, out=out)
        counts.append(GENERATE_CASES[name]([orjson.loads(line) for line in out.getvalue().splitlines()]))
    assert counts[0] < counts[1] and (name == "hand_end" or counts[0] == 0), counts


# ---- completeness ------------------------------------------------------------------------------------
COVERED = {
    "STRATEGIES": STRATEGY_CASES, "TIE_BREAKS": TIE_CASES, "FALLBACKS": FALLBACK_CASES,
    "QUEUE_ORDERS": QUEUE_CASES, "METRIC_UNITS": UNIT_CASES, "CLOCK_STARTS": CLOCK_CASES,
    "METRIC_COUNTS": {**COUNT_CASES, "assistant_unanswered_ineffective": None},
    # written out, so that a new evaluation in the registry fails this test until it is covered
    "METRIC_EVALUATION": {"same_day": None, "previous_day": None}, "CONDITION_VARIABLES": FIGURE_CASES,
    "GENERATE_RATES": GENERATE_CASES, "REPLY_STATUSES": {"busy": BUSY_AGENT},
}


def test_every_primitive_has_a_behaviour_and_a_case():
    kinds = {name: table for name, table in vars(registry).items()
             if isinstance(table, registry.Registry) and any(e.behaviour is not None for e in table.values())}
    assert set(kinds) == set(COVERED)
    for kind, table in kinds.items():
        assert all(entry.behaviour is not None for entry in table.values()), kind
        assert set(table) == set(COVERED[kind]), kind



def test_a_priority_queue_places_a_consumer_behind_those_of_its_priority_or_higher(tmp_path):
    # c2 (priority 0) queues first, then c3 (priority 2): c3 is first in line; c4 (priority 0) is third
    shop = "agent A { max_sessions 1 }\nqueue { scope shop; order priority }\n"
    events = [online(1, "09:00:00", "A"), asks(2, "09:01:00", "c1"), asks(3, "09:02:00", "c2"),
              asks(4, "09:03:00", "c3", priority=2), asks(5, "09:03:30", "c4")]
    engine = engine_for(tmp_path, shop)
    queued = [d for ev in events for d in engine.feed(ev) if d.action == "enqueue"]
    assert [(d.consumer, d.position, d.queue_length) for d in queued] == [("c2", 1, 1), ("c3", 1, 2), ("c4", 3, 3)]
