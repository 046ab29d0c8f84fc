"""The counterfactual replay: agents answer as an agent model says (`kefu replay --agents model`)."""

from __future__ import annotations

import json
import re
import math
import shutil
from pathlib import Path

import pytest

from cli_helpers import kefu
from engine.events import Event, ReadStats, read_events
from engine.loader import Loader
from engine.runtime import Engine
from engine.whatif.actor import ModelActor, bucket_of, conversations, draw, inverse, tail_excess, _at, _points, _Run
from engine.whatif.model import (QUANTILES, AgentModel, DelaysByLoad, Patience, Pool, SessionEnds, Settings, ShopEntry,
                                 Source, quantile_key, save_model)

ROOT = Path(__file__).resolve().parent.parent
T0 = "2026-11-11T09:"


def _const(seconds: float | None) -> Pool:
    """A distribution whose every quantile is `seconds` (None: empty)."""
    if seconds is None:
        return Pool(n=0)
    return Pool(n=100, quantiles={quantile_key(q): seconds for q in QUANTILES})


def _model(first: float, follow: float, patience: float | None = None, by_hand: float = 0.0,
           hand_delay: float = 0.0) -> AgentModel:
    """A one-shop model with constant delays (every load), patience, and share of hand ends."""
    buckets = ("1", "2-3", "4-6", "7+")
    delays = DelaysByLoad(first_reply={b: _const(first) for b in buckets}, follow_up={b: _const(follow) for b in buckets},
                          first_reply_all_loads=_const(first), follow_up_all_loads=_const(follow))
    quantiles = {quantile_key(q): patience for q in QUANTILES}
    shop = ShopEntry(shop="s", consumers=1, replies=1, delays=delays,
                     session_end=SessionEnds(sessions=1, by_hand=by_hand, auto=1 - by_hand, by_hand_delay=_const(hand_delay)),
                     patience=Patience(waits=1, left=1, censored=0, quantiles=quantiles, survival={}),
                     groups=[], agents=[])
    return AgentModel(source=Source(log="x", events_read=0, events_accepted=0, events_rejected=0),
                      settings=Settings(load_buckets=list(buckets), min_observations=30, idle_gap_s=3600,
                                        max_wait_s=86400, timezone="Asia/Shanghai"),
                      shops=[shop])


def _events(rows: list[dict]) -> list[Event]:
    data = "".join(json.dumps({"shop": "s", **r}) + "\n" for r in rows).encode()
    import io
    return list(read_events(io.BytesIO(data), stats=ReadStats()))


def _policy(tmp_path: Path, body: str = "") -> object:
    path = tmp_path / "s.kefu"
    path.write_text(f'shop "s" on taobao\n\ngroup g {{ agents a; max_sessions 1 }}\n{body}', encoding="utf-8")
    result = Loader().load(path)
    assert result.policy is not None, result.diagnostics
    return result.policy


def _play(policy, model: AgentModel, rows: list[dict], seed: int = 0) -> tuple[list[Event], list]:
    """What the model fed the engine, and the decisions."""
    engine = Engine(policy, seed=seed)
    fed: list[Event] = []

    def feed(event: Event):
        fed.append(event)
        return engine.feed(event)

    decisions = [d for step in ModelActor(model, seed).play(engine, _events(rows), feed) for d in step]
    return fed, decisions + engine.finish()


ONLINE = {"ts": T0 + "00:00+08:00", "type": "agent_status", "agent": "a", "status": "online"}


def _msg(ts: str, sender: str, consumer: str = "c1", **more) -> dict:
    row = {"ts": T0 + ts + "+08:00", "type": "message", "sender": sender, "consumer": consumer, **more}
    if sender == "agent":
        row["agent"] = "a"
    return row


# ---- the pieces ---------------------------------------------------------------------------------

def test_a_distribution_is_read_between_its_quantiles():
    quantiles = {quantile_key(q): q * 1000 for q in QUANTILES}   # p05 = 50, p10 = 100, ..., p99 = 990
    assert inverse(quantiles, 0.5) == pytest.approx(500)
    assert inverse(quantiles, 0.025) == pytest.approx(25)        # from 0 at u = 0 to p05
    assert inverse(quantiles, 0.995) == pytest.approx(990)       # p99 above it
    assert inverse({**quantiles, "p99": None}, 0.995) is None    # never: the curve ends before
    assert inverse(None, 0.5) is None
    assert [bucket_of(n) for n in (1, 2, 3, 4, 6, 7, 40)] == ["1", "2-3", "2-3", "4-6", "4-6", "7+", "7+"]
    assert draw(1, "s", "c1", 1, 0, "reply") == draw(1, "s", "c1", 1, 0, "reply")
    assert draw(1, "s", "c1", 1, 0, "reply") != draw(2, "s", "c1", 1, 0, "reply")
    assert 0 <= draw(7, "x") < 1


def test_a_draw_is_the_hash_of_its_keys_text_and_the_hot_paths_text_is_the_same():
    import hashlib
    from engine.whatif.actor import _rest, conversation_hasher, drawn_after
    # the documented number: the first 8 bytes of blake2b over the key's repr, big-endian, over 2**64
    digest = hashlib.blake2b(b"(3, 's', 'c1', 2, 0, 'reply')", digest_size=8).digest()
    assert draw(3, "s", "c1", 2, 0, "reply") == int(digest.hex(), 16) / 2 ** 64
    # the replay hashes a conversation's key text from a hasher fed its prefix: the same text for ids that repr
    # quotes or escapes, and for a burst past the precomputed ends (64)
    for shop, consumer in (("s", "c1"), ("it's", 'say "hi"'), ("a\\b", "line\nbreak"), ("店铺", "顾客\t1")):
        hasher = conversation_hasher(7, shop, consumer, 12)
        for burst in (0, 3, 70):
            assert drawn_after(hasher, _rest(burst, "reply")) == draw(7, shop, consumer, 12, burst, "reply")
        assert drawn_after(hasher, _rest("end delay")) == draw(7, shop, consumer, 12, "end delay")


def test_a_log_is_cut_into_conversations_and_bursts():
    events = _events([ONLINE, _msg("00:00", "consumer"), _msg("00:20", "consumer"), _msg("01:00", "agent"),
                      _msg("01:30", "robot"), _msg("02:00", "consumer"), _msg("03:00", "agent"),
                      {"ts": T0 + "04:00+08:00", "type": "session_end", "consumer": "c1"},
                      _msg("05:00", "consumer"),
                      _msg("05:10", "consumer", "c2")])
    convs, kept = conversations(events)
    assert kept == [events[0]]
    assert [(c.consumer, c.index, len(c.bursts)) for c in convs] == [("c1", 1, 2), ("c1", 2, 1), ("c2", 1, 1)]
    first = convs[0].bursts
    # burst 0: 09:00:00 and 09:00:20 (offsets 0, 20); burst 1 came 60 s after the agent's 09:01:00 answer
    # (the robot's 09:01:30 message is the log's automation, not an answer)
    assert [t - first[0].start for t in first[0].times] == [0, 20] and first[0].gap is None
    assert first[1].gap == 60 and [t - first[1].start for t in first[1].times] == [0]
    assert [e.ts for e in first[0].messages] == first[0].times   # the log's messages, not played yet


# ---- the replay -----------------------------------------------------------------------------------

def test_the_agent_answers_when_the_model_says_and_follow_ups_keep_their_gaps(tmp_path):
    rows = [ONLINE, _msg("00:00", "consumer"), _msg("00:20", "consumer"), _msg("05:00", "agent"),
            _msg("05:30", "consumer"), _msg("09:00", "agent")]
    fed, decisions = _play(_policy(tmp_path), _model(first=100, follow=50), rows)
    times = [(e.sender or e.type, e.ts - fed[0].ts) for e in fed]
    # first reply 100 s after 09:00:00; the follow-up 30 s after that answer (as 30 s after the log's);
    # its answer 50 s later. The log's agent messages are not fed.
    assert times == [("agent_status", 0), ("consumer", 0), ("consumer", 20), ("agent", 100), ("consumer", 130),
                     ("agent", 180)]
    assert [(d.action, d.agent) for d in decisions if d.action == "assign"] == [("assign", "a")]


def test_an_answer_is_never_before_the_bursts_last_message(tmp_path):
    rows = [ONLINE, _msg("00:00", "consumer"), _msg("01:00", "consumer"), _msg("02:00", "agent")]
    fed, _ = _play(_policy(tmp_path), _model(first=10, follow=10), rows)
    assert [(e.sender, e.ts - fed[0].ts) for e in fed[1:]] == [("consumer", 0), ("consumer", 60), ("agent", 61)]


def test_a_queued_consumer_leaves_when_patience_runs_out(tmp_path):
    # cap 1: c2 queues behind c1, whose session the agent holds; patience 60 s
    rows = [ONLINE, _msg("00:00", "consumer"), _msg("00:10", "consumer", "c2"), _msg("09:00", "agent"),
            _msg("09:30", "agent", "c2")]
    fed, decisions = _play(_policy(tmp_path), _model(first=100, follow=50, patience=60), rows)
    left = [d for d in decisions if d.action == "leave_queue"]
    assert [(d.consumer, d.reason, d.ts) for d in left] == [("c2", "by_hand", "2026-11-11T09:01:10+08:00")]
    assert [e.type for e in fed if e.consumer == "c2"] == ["message", "session_end"]


def test_a_caller_hangs_up_while_unanswered_only_where_the_model_says_so(tmp_path):
    # c1 is assigned at once; the first reply takes 100 s, patience is 60 s
    rows = [ONLINE, _msg("00:00", "consumer"), _msg("05:00", "agent")]
    model = _model(first=100, follow=50, patience=60)
    fed, stays = _play(_policy(tmp_path), model, rows)   # leaves: queued (chat): assigned, the consumer stays
    assert [(e.sender or e.type, e.ts - fed[0].ts) for e in fed] == [("agent_status", 0), ("consumer", 0), ("agent", 100)]
    model.shops[0].patience.leaves = "unanswered"   # phone: the caller hangs up at 60 s, before the answer
    fed, gone = _play(_policy(tmp_path), model, rows)
    assert [(e.sender or e.type, e.ts - fed[0].ts) for e in fed] == [("agent_status", 0), ("consumer", 0),
                                                                    ("session_end", 60)]
    assert [(d.action, d.ts) for d in gone if d.action in ("assign", "close_session")] == [
        ("assign", "2026-11-11T09:00:00+08:00"), ("close_session", "2026-11-11T09:01:00+08:00")]
    # answered within the patience: no hang-up, and the answer ends the wait (no departure after it)
    fast = _model(first=30, follow=50, patience=60)
    fast.shops[0].patience.leaves = "unanswered"
    fed, _ = _play(_policy(tmp_path), fast, rows)
    assert [(e.sender or e.type, e.ts - fed[0].ts) for e in fed] == [("agent_status", 0), ("consumer", 0), ("agent", 30)]


def test_draws_above_p99_keep_the_distributions_mean():
    # every quantile 10 s, mean 20 s: below p99 the quantiles give 0.99 * 10 less the ramp from 0 to p05
    # (0.05 * 10 / 2 = 0.25): 9.65 s; the top 1 % must bring 20 - 9.65 = 10.35, i.e. 1035 s on average,
    # an exponential excess of 1035 - 10 = 1025 s over p99
    points = _points({quantile_key(q): 10.0 for q in QUANTILES})
    assert tail_excess(points, 20.0) == pytest.approx(1025)
    assert tail_excess(points, None) == 0 and tail_excess(points, 5.0) == 0   # no mean, or one the body exceeds
    u = 1 - 0.01 / math.e   # ln(0.01 / (1 - u)) = 1: p99 plus one mean excess
    assert _at(points, u, 1025) == pytest.approx(1035)
    assert _at(points, u, 0.0) == 10   # without: p99 above it
    n = 200_000
    assert math.fsum(_at(points, (i + 0.5) / n, 1025) for i in range(n)) / n == pytest.approx(20, rel=0.01)


def test_sessions_end_by_hand_as_often_as_the_model_says(tmp_path):
    rows = [ONLINE, _msg("00:00", "consumer"), _msg("02:00", "agent")]
    _, by_hand = _play(_policy(tmp_path), _model(first=100, follow=50, by_hand=1.0, hand_delay=30), rows)
    closed = [d for d in by_hand if d.action == "close_session"]
    assert [(d.reason, d.ts) for d in closed] == [("by_hand", "2026-11-11T09:02:10+08:00")]
    _, auto = _play(_policy(tmp_path), _model(first=100, follow=50, by_hand=0.0), rows)
    assert [d.reason for d in auto if d.action == "close_session"] == ["auto_end"]


# ---- the command ------------------------------------------------------------------------------------

def test_replay_with_model_agents_is_deterministic_and_refuses_a_missing_model(tmp_path):
    policy, log = ROOT / "rulesets/examples/taobao-apparel.kefu", ROOT / "samples/taobao-apparel.jsonl"
    model = tmp_path / "agents.yaml"
    assert kefu("calibrate", log, "--out", model).exit_code == 0
    runs = [kefu("replay", policy, "--events", log, "--agents", "model", "--model", model, "--format", "json",
                 "--decisions", tmp_path / f"d{i}.jsonl") for i in range(2)]
    assert runs[0].exit_code == 0 and runs[0].stdout == runs[1].stdout
    assert (tmp_path / "d0.jsonl").read_bytes() == (tmp_path / "d1.jsonl").read_bytes()
    report = json.loads(runs[0].stdout)
    # the model's agents answer whom the policy gave them: nothing is compared with the log, no transfer
    assert report["assignment"] == {"compared": 0, "agreed": 0, "differs": 0, "agreement": None}
    assert "transfer" not in report["decisions"] and "differs" not in report["decisions"]
    assert kefu("replay", policy, "--events", log, "--agents", "model").exit_code == 2
    assert kefu("replay", policy, "--events", log, "--model", model).exit_code == 2
    (tmp_path / "bad.yaml").write_text("version: 7\n", encoding="utf-8")
    bad = kefu("replay", policy, "--events", log, "--agents", "model", "--model", tmp_path / "bad.yaml")
    assert bad.exit_code == 2 and "version 7" in bad.output


def test_raising_the_cap_while_consumers_queue_takes_fewer_into_the_queue(tmp_path):
    # c1 at 09:00, c2 at 09:01; the agent answers 300 s after a burst starts and ends the session by hand
    # at once. Cap 1: c2 queues until c1's session ends at 09:05:00 (waited 240 s), answered at 09:06:00.
    # Cap 2: c2 is assigned at 09:01:00 and nobody queues.
    rows = [ONLINE, _msg("00:00", "consumer"), _msg("01:00", "consumer", "c2"), _msg("30:00", "agent"),
            _msg("31:00", "agent", "c2")]
    model = _model(first=300, follow=60, by_hand=1.0, hand_delay=0)
    fed, one = _play(_policy(tmp_path), model, rows)
    assert [(d.action, d.ts[11:19], getattr(d, "waited", None)) for d in one if d.consumer == "c2" and d.action in ("enqueue", "assign")] \
        == [("enqueue", "09:01:00", None), ("assign", "09:05:00", 240)]
    assert [e.ts - fed[0].ts for e in fed if e.consumer == "c2" and e.sender == "agent"] == [360]
    path = tmp_path / "two.kefu"
    path.write_text('shop "s" on taobao\n\ngroup g { agents a; max_sessions 2 }\n', encoding="utf-8")
    _, two = _play(Loader().load(path).policy, model, rows)
    assert [(d.action, d.ts[11:19]) for d in two if d.consumer == "c2" and d.action in ("enqueue", "assign")] \
        == [("assign", "09:01:00")]


def test_removing_the_pinduoduo_welcome_lowers_the_one_hour_rate(tmp_path):
    # agents who take two hours to answer: only the welcome (an effective reply on Pinduoduo) answers
    # within the hour, so each consumer-day is met with it and missed without it
    rows = [ONLINE, _msg("00:00", "consumer"), _msg("10:00", "consumer", "c2"), _msg("59:00", "agent"),
            _msg("59:30", "agent", "c2")]
    model = _model(first=7200, follow=60)
    rates = {}
    for name, body in (("with", 'reply welcome once per day "欢迎光临"\n'), ("without", "")):
        path = tmp_path / f"{name}.kefu"
        path.write_text(f'shop "s" on pinduoduo\n\ngroup g {{ agents a; max_sessions 5 }}\n{body}', encoding="utf-8")
        engine = Engine(Loader().load(path).policy, seed=0)
        for _ in ModelActor(model, 0).play(engine, _events(rows)):
            pass
        engine.finish()
        (row,) = [r for r in engine.metric_rows() if r.metric == "effective_reply_1h"]
        rates[name] = (row.met, row.eligible)
    assert rates == {"with": (2, 2), "without": (0, 2)}


# ---- --runs ------------------------------------------------------------------------------------------

def test_the_interval_is_students_t_over_the_runs():
    from engine.whatif.runs import summarise, t_interval as interval, t_quantile as t975
    assert t975(1) == pytest.approx(12.706, abs=0.001) and t975(9) == pytest.approx(2.262, abs=0.001)
    assert t975(100) == pytest.approx(1.984, abs=0.001)   # textbook t(0.975, 100)
    mean, low, high = interval([0.5, 0.7])
    # s = 0.1414…, half-width 12.706 * s / sqrt(2) = 1.2706
    assert (mean, low, high) == (pytest.approx(0.6), pytest.approx(-0.6706, abs=1e-4), pytest.approx(1.8706, abs=1e-4))
    reports = [{"metrics": [{"shop": "s", "date": "d", "metric": "m", "rate": r}]} for r in (0.5, 0.7, None)]
    (row,) = summarise(reports, [3, 4, 5])["metrics"]
    assert (row["runs"], row["mean"], row["rates"]) == (2, 0.6, [0.5, 0.7, None])


def _busy_day(agents: int) -> list[dict]:
    """40 consumers two minutes apart from 09:00, `agents` agents online; each answered in the log."""
    rows = [{**ONLINE, "agent": f"a{i}"} for i in range(agents)]
    for n in range(40):
        minute = 2 * n
        rows.append({"ts": f"2026-11-11T{9 + minute // 60:02d}:{minute % 60:02d}:00+08:00", "type": "message",
                     "sender": "consumer", "consumer": f"c{n}"})
    return sorted(rows, key=lambda r: r["ts"])


def test_more_agents_online_never_lowers_the_expected_rate_beyond_its_interval(tmp_path):
    from engine.whatif.runs import t_interval as interval
    path = tmp_path / "s.kefu"
    path.write_text('shop "s" on taobao\n\ngroup g { agents a0, a1, a2; max_sessions 2 }\n', encoding="utf-8")
    policy = Loader().load(path).policy
    spread = {quantile_key(q): 30 + q * 400 for q in QUANTILES}   # 50 s at p05 … 426 s at p99: the 3-minute line cuts it
    model = _model(first=0, follow=0, patience=None)
    for pools in (model.shops[0].delays.first_reply, model.shops[0].delays.follow_up):
        for pool in pools.values():
            pool.quantiles = dict(spread)
    rates = {}
    for agents in (1, 3):
        per_run = []
        for seed in range(8):
            engine = Engine(policy, seed=seed)
            for _ in ModelActor(model, seed).play(engine, _events(_busy_day(agents))):
                pass
            engine.finish()
            (row,) = [r for r in engine.metric_rows() if r.metric == "response_rate_3min"]
            per_run.append(row.met / row.eligible)
        rates[agents] = interval(per_run)
    one, three = rates[1], rates[3]
    assert three[0] >= one[1]           # the mean with three agents is not below the interval of one
    assert three[0] > one[0]            # and here it is higher: one agent at cap 2 queues consumers


def test_runs_report_each_metric_across_seeds_the_same_in_one_process_or_several(tmp_path):
    policy, log = ROOT / "rulesets/examples/taobao-apparel.kefu", ROOT / "samples/taobao-apparel.jsonl"
    model = tmp_path / "agents.yaml"
    assert kefu("calibrate", log, "--out", model).exit_code == 0
    outs = [kefu("replay", policy, "--events", log, "--agents", "model", "--model", model, "--runs", "3",
                 "--jobs", jobs, "--format", "json") for jobs in ("1", "2")]
    assert outs[0].exit_code == 0 and outs[0].stdout == outs[1].stdout
    report = json.loads(outs[0].stdout)
    runs = report["runs"]
    assert runs["seeds"] == [0, 1, 2]
    single = json.loads(kefu("replay", policy, "--events", log, "--agents", "model", "--model", model, "--seed", "2",
                             "--format", "json").stdout)
    first = [r for r in runs["metrics"] if r["rates"][0] is not None][0]
    rate_of = {(m["shop"], m["date"], m["metric"]): m["rate"] for m in single["metrics"]}
    assert first["rates"][2] == rate_of[(first["shop"], first["date"], first["metric"])]   # run 3 is seed 2's replay
    assert kefu("replay", policy, "--events", "-", "--runs", "2", input=log.read_bytes()).exit_code == 2


# ---- --staff ----------------------------------------------------------------------------------------

def _plan(tmp_path: Path, text: str):
    from engine.whatif.staff import load_plan
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return load_plan(path)


def test_a_plan_puts_its_agents_online_for_each_shift_of_each_day(tmp_path):
    from zoneinfo import ZoneInfo
    from engine.whatif.staff import presence_events
    plan = _plan(tmp_path, "shifts:\n"
                           "  - agents: [lin]\n    hours: '09:00-12:00'\n"
                           "  - agents: [lin]\n    hours: '11:00-13:00'\n"           # overlaps: one span 09-13
                           "  - group: presale\n    count: 2\n    hours: '22:00-02:00'\n"
                           "    days: [2026-11-11]\n    max_sessions: 20\n")
    zone = ZoneInfo("Asia/Shanghai")
    first = 1794358800.0   # 2026-11-11T09:00:00+08:00
    events = presence_events(plan, None, first, first + 86400, zone)   # two local days: the 11th and the 12th
    hour = 3600
    got = [(e.agent, e.status, (e.ts - first) / hour, e.group, e.max_sessions) for e in events]
    assert got == [
        ("lin", "online", 0, None, None), ("lin", "offline", 4, None, None),                       # 11th 09-13
        ("presale+1", "online", 13, "presale", 20), ("presale+2", "online", 13, "presale", 20),     # 11th 22:00
        ("presale+1", "offline", 17, None, None), ("presale+2", "offline", 17, None, None),         # 12th 02:00
        ("lin", "online", 24, None, None), ("lin", "offline", 28, None, None)]                     # 12th 09-13


def test_a_plan_is_merged_into_the_log_as_it_is_read_as_if_the_log_were_read_whole(tmp_path):
    import heapq
    from zoneinfo import ZoneInfo
    from engine.whatif.staff import presence_events, with_plan
    zone = ZoneInfo("Asia/Shanghai")
    shifts = ("shifts:\n"
              "  - agents: [lin]\n    hours: '22:00-06:00'\n"                     # over midnight, every day
              "  - agents: [lin]\n    hours: '06:00-08:00'\n"                     # touching it: one span 22-08
              "  - group: presale\n    count: 2\n    hours: '00:00-24:00'\n    days: [2026-11-12]\n"
              "  - agents: [amy]\n    hours: '08:00-09:00'\n")                    # at the log's own status times
    first = 1794358800.0   # 2026-11-11T09:00:00+08:00
    rows = []
    for hour in range(0, 150, 5):   # six local days (past the plan's look-back), the log's status and messages
        ts = first + hour * 3600
        rows.append(Event(hour, ts, "agent_status", agent="amy", status="online" if hour % 10 == 0 else "offline"))
        rows.append(Event(hour, ts + 1, "message", sender="consumer", consumer=f"c{hour}"))
    rows.append(Event(99, first + 23 * 3600, "message", sender="consumer", consumer="c99"))   # 08:00 on the 12th
    rows.sort(key=lambda e: e.ts)
    for presence in ("plan", "log+plan"):
        plan = _plan(tmp_path, f"presence: {presence}\n" + shifts)
        whole = presence_events(plan, None, rows[0].ts, rows[-1].ts, zone)   # what play() did: the log read whole
        log = rows if presence == "log+plan" else [e for e in rows if e.type != "agent_status"]
        expected = list(heapq.merge(log, whole, key=lambda e: e.ts))
        assert list(with_plan(plan, iter(rows), zone)) == expected
        assert any(e.agent == "presale+1" for e in expected) and len(expected) > len(log)
    assert list(with_plan(plan, iter([]), zone)) == []


@pytest.mark.parametrize("text, message", [
    ("shifts:\n  - agents: [a]\n    hours: '9-18'\n", "hours must be HH:MM-HH:MM"),
    ("shifts:\n  - agents: [a]\n    count: 2\n    group: g\n    hours: '09:00-18:00'\n", "one of them"),
    ("shifts:\n  - count: 2\n    hours: '09:00-18:00'\n", "needs the group"),
    ("shifts:\n  - agents: [a]\n    hours: '09:00-09:00'\n", "two different times"),
    ("shifts:\n  - agents: [a]\n    hours: '24:00-00:00'\n", "two different times"),   # midnight to midnight: empty
    ("shifts: [\n", "plan.yaml:2:1: not YAML"),
    ("version: 2\nshifts: []\n", "version"),
])
def test_a_bad_plan_says_what_and_where(tmp_path, text, message):
    from engine.whatif.staff import StaffError
    with pytest.raises(StaffError, match=message.replace("(", r"\(")):
        _plan(tmp_path, text)


def test_more_agents_by_the_plan_never_lower_the_expected_rate(tmp_path):
    from engine.whatif.actor import ModelActor
    from engine.whatif.runs import t_interval as interval
    path = tmp_path / "s.kefu"
    path.write_text('shop "s" on taobao\n\ngroup g { agents a0; max_sessions 2 }\n', encoding="utf-8")
    policy = Loader().load(path).policy
    model = _model(first=0, follow=0)
    spread = {quantile_key(q): 30 + q * 400 for q in QUANTILES}
    for pools in (model.shops[0].delays.first_reply, model.shops[0].delays.follow_up):
        for pool in pools.values():
            pool.quantiles = dict(spread)
    means = {}
    for extra in (0, 2):
        shifts = "  - agents: [a0]\n    hours: '08:00-12:00'\n"
        if extra:
            shifts += f"  - group: g\n    count: {extra}\n    hours: '08:00-12:00'\n"
        plan = _plan(tmp_path, "shifts:\n" + shifts)
        per_run = []
        for seed in range(6):
            engine = Engine(policy, seed=seed)
            for _ in ModelActor(model, seed, plan).play(engine, _events(_busy_day(0))):
                pass
            engine.finish()
            (row,) = [r for r in engine.metric_rows() if r.metric == "response_rate_3min"]
            per_run.append(row.met / row.eligible)
        means[extra] = interval(per_run)
    assert means[2][0] >= means[0][1] and means[2][0] > means[0][0]


def test_staff_needs_model_agents(tmp_path):
    policy, log = ROOT / "rulesets/examples/taobao-apparel.kefu", ROOT / "samples/taobao-apparel.jsonl"
    (tmp_path / "plan.yaml").write_text("shifts:\n  - agents: [lin]\n    hours: '09:00-18:00'\n", encoding="utf-8")
    result = kefu("replay", policy, "--events", log, "--staff", tmp_path / "plan.yaml")
    assert result.exit_code == 2 and "--staff is for --agents model" in result.output


def test_a_longer_repeat_entry_window_sends_more_consumers_back_to_their_agent(tmp_path):
    # three consumers write at 09:00, 09:01, 09:02 and again 40 minutes later; the model's agent answers in
    # 60 s and ends the session at once. Round robin over a0, a1 gives c0 a0, c1 a1, c2 a0, then c0 a1,
    # c1 a0, c2 a1: nobody returns to their agent unless repeat entry (within 2h) sends them back.
    rows = [{**ONLINE, "agent": "a0"}, {**ONLINE, "agent": "a1"}]
    for i in range(3):
        for minute in (i, 40 + i):   # in the log each is answered at :30 and ended a few minutes later
            rows += [_msg(f"{minute:02d}:00", "consumer", f"c{i}"), {**_msg(f"{minute:02d}:30", "agent", f"c{i}")},
                     {"ts": f"{T0}{minute + 5:02d}:00+08:00", "type": "session_end", "consumer": f"c{i}"}]
    rows.sort(key=lambda r: r["ts"])
    model = _model(first=60, follow=60, by_hand=1.0, hand_delay=0)
    back = {}
    for window in ("10m", "2h"):
        path = tmp_path / f"{window}.kefu"
        path.write_text('shop "s" on taobao\n\ngroup g { agents a0, a1; max_sessions 5 }\nassign by round_robin\n'
                        f"return to previous agent within {window}\n", encoding="utf-8")
        _, decisions = _play(Loader().load(path).policy, model, rows)
        first: dict[str, str] = {}
        returned = 0
        for d in decisions:
            if d.action == "assign":
                if d.consumer in first:
                    returned += d.agent == first[d.consumer]
                else:
                    first[d.consumer] = d.agent
        back[window] = returned
    assert back == {"10m": 0, "2h": 3}


def _desk(tmp_path: Path, allow: str, policy_lines: str):
    """A call-centre desk: a platform file of its own (no automatic session end) and a one-agent shop on it."""
    platforms = tmp_path / "platforms"
    platforms.mkdir()
    (platforms / "desk.kefu").write_text(
        'platform desk "a desk"\n\ntimezone Asia/Shanghai\n\npages PS "PS"\n\nsenders agent "agent"\n\n'
        'metric answered_60s "60 s" {\n  unit question\n  window 00:00-24:00\n  deadline 1m\n'
        f'  clock starts at question\n  effective agent\n}}\n\n{allow}\n', encoding="utf-8")
    path = tmp_path / "s.kefu"
    path.write_text(f'shop "s" on desk\n\ngroup g {{ agents a; max_sessions 1 }}\n{policy_lines}', encoding="utf-8")
    result = Loader([platforms]).load(path)
    assert result.policy is not None, result.diagnostics
    return result


def test_where_the_platform_ends_no_session_every_session_ends_by_hand(tmp_path):
    # a desk whose platform has no automatic end (a call centre): a model whose sessions all ended
    # "by the platform" would leave every agent holding its first call for ever
    result = _desk(tmp_path, "allow queue", "")
    rows = [ONLINE, _msg("00:00", "consumer"), _msg("01:00", "agent")]
    _, decisions = _play(result.policy, _model(first=10, follow=10, by_hand=0.0, hand_delay=50), rows)
    # answered at 09:00:10, ended by hand 50 s later
    assert [(d.reason, d.ts[11:19]) for d in decisions if d.action == "close_session"] == [("by_hand", "09:01:00")]


def test_the_worked_example_of_the_docs_is_what_kefu_prints(tmp_path, monkeypatch):
    doc = (ROOT / "docs" / "whatif.md").read_text(encoding="utf-8")
    example = doc.split("## A worked example", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("\n", 1)[1] for block in example.split("```")[1::2]]
    shown_compare, shown_before, shown_after = blocks[1], blocks[3], blocks[4]
    shutil_tree = ROOT / "rulesets" / "examples"
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "courtesy.kefu").write_bytes((shutil_tree / "common" / "courtesy.kefu").read_bytes())
    policy = (shutil_tree / "douyin-flagship.kefu").read_text(encoding="utf-8")
    (tmp_path / "douyin-flagship.kefu").write_text(policy, encoding="utf-8")
    (tmp_path / "douyin-flagship-b.kefu").write_text(policy.replace("\n  max_sessions 12\n", "\n  max_sessions 16\n"),
                                                      encoding="utf-8")
    (tmp_path / "douyin-flagship.jsonl").write_bytes((ROOT / "samples" / "douyin-flagship.jsonl").read_bytes())
    (tmp_path / "evening.yaml").write_text('version: 1\npresence: log+plan\nshifts:\n  - group: presale\n    count: 2\n'
                                           '    hours: "19:00-23:00"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert kefu("calibrate", "douyin-flagship.jsonl", "--out", "agents.yaml").exit_code == 0
    compared = kefu("compare", "douyin-flagship.kefu", "douyin-flagship-b.kefu", "--events", "douyin-flagship.jsonl",
                    "--model", "agents.yaml", "--runs", "5")
    assert compared.stdout.startswith(shown_compare)
    # what the prose under it says of the change
    told = " ".join(example.split())
    assert "44 consumers queued under A, 43 under B (1 fewer); 196 consumers routed to another agent" in told
    assert "one more offline reply sent (65 against 64) and one fewer status reply (6 against 7)" in told
    assert "another agent 202 (196 consumers routed elsewhere)" in compared.stdout
    assert re.search(r"consumers queued +44 +43 +-1\n", compared.stdout)
    assert re.search(r"auto reply offline: sent +64 +65 +\+1\n", compared.stdout)
    assert re.search(r"auto reply status: sent +7 +6 +-1\n", compared.stdout)
    others = re.findall(r"auto reply (?!offline: sent|status: sent)[^:]+: \w+ +(\d+) +(\d+)", compared.stdout)
    assert others and all(a == b for a, b in others)   # the other automatic replies the same
    common = ("replay", "douyin-flagship.kefu", "--events", "douyin-flagship.jsonl", "--agents", "model", "--model",
              "agents.yaml", "--runs", "5")
    for shown, extra in ((shown_before, ()), (shown_after, ("--staff", "evening.yaml"))):
        out = kefu(*common, *extra).stdout
        assert shown.strip() in out


def test_a_model_without_the_logs_shop_is_a_usage_error_not_a_traceback(tmp_path):
    policy, log = ROOT / "rulesets/examples/taobao-apparel.kefu", ROOT / "samples/taobao-apparel.jsonl"
    model = _model(first=10, follow=10)
    model.shops.append(model.shops[0].model_copy(update={"shop": "t"}))   # two shops, neither the sample's
    path = tmp_path / "two.yaml"
    save_model(model, path)
    for args in (("replay", policy, "--events", log, "--agents", "model", "--model", path),
                 ("replay", "--platform", "taobao", "--events", log, "--agents", "model", "--model", path, "--jobs", "2"),
                 ("compare", policy, policy, "--events", log, "--model", path)):
        result = kefu(*args)
        assert result.exit_code == 2 and "the agent model has no shop 'yishang-apparel' (it has s, t)" in result.output


def test_a_head_count_for_a_group_the_policy_lacks_is_refused(tmp_path):
    policy, log = ROOT / "rulesets/examples/douyin-flagship.kefu", ROOT / "samples/douyin-flagship.jsonl"
    model = tmp_path / "agents.yaml"
    assert kefu("calibrate", log, "--out", model).exit_code == 0
    plan = tmp_path / "plan.yaml"
    plan.write_text("shifts:\n  - group: presal\n    count: 2\n    hours: '19:00-23:00'\n", encoding="utf-8")
    for command in (("replay", policy), ("compare", policy, policy)):
        result = kefu(*command, "--events", log, "--agents", "model", "--model", model, "--staff", plan)
        assert result.exit_code == 2 and "group 'presal' is not a group of the policy (did you mean 'presale'?)" in result.output


def test_the_model_keeps_each_consumers_priority(tmp_path):
    # one agent at cap 1; c2 (priority 0) and c3 (priority 2) queue behind c1: under order priority the
    # model's replay serves c3 first, as the log's demand said
    result = _desk(tmp_path, "allow queue, queue_order", "queue { order priority }\n")
    rows = [ONLINE, _msg("00:00", "consumer"), _msg("00:10", "consumer", "c2"),
            _msg("00:20", "consumer", "c3", priority=2), _msg("09:00", "agent")]
    _, decisions = _play(result.policy, _model(first=60, follow=60, by_hand=1.0, hand_delay=0), rows)
    assert [d.consumer for d in decisions if d.action == "assign"] == ["c1", "c3", "c2"]


def test_reading_the_log_a_day_ahead_gives_what_reading_it_whole_gives(tmp_path, monkeypatch):
    import io
    from engine.replay import replay
    from engine.whatif import actor as actor_module
    from engine.whatif.calibrate import calibrate_events
    policy_path = ROOT / "rulesets/examples/taobao-apparel.kefu"
    log = tmp_path / "three-days.jsonl"
    assert kefu("generate", policy_path, "--days", "4", "--consumers", "150", "--seed", "3", "--out", log).exit_code == 0
    policy = Loader().load(policy_path).policy
    with open(log, "rb") as f:
        model, _ = calibrate_events(read_events(f, stats=ReadStats()), log_name="x", timezone="Asia/Shanghai",
                                    stats=ReadStats())

    class Sink:
        def __init__(self):
            self.data = io.BytesIO()

        def write(self, data: bytes) -> int:
            return self.data.write(data)

    def decisions() -> bytes:
        sink = Sink()
        with open(log, "rb") as f:
            replay(policy, f, seed=2, decisions_out=sink, actor=ModelActor(model, 2))
        return sink.data.getvalue()

    ahead = decisions()
    monkeypatch.setattr(actor_module, "LOOK_AHEAD", float("inf"))   # the whole log read before the first step
    assert ahead == decisions() and ahead.count(b"\n") > 1000


def test_a_plan_or_model_that_is_not_utf8_or_holds_an_impossible_date_is_a_message(tmp_path):
    from engine.whatif.model import ModelError, load_model
    from engine.whatif.staff import StaffError, load_plan
    binary, date = tmp_path / "binary.yaml", tmp_path / "date.yaml"
    binary.write_bytes(b"\xff\xfe")
    date.write_text("shifts:\n  - agents: [a]\n    hours: '09:00-10:00'\n    days: [2026-13-45]\n", encoding="utf-8")
    for load, error in ((load_plan, StaffError), (load_model, ModelError)):
        with pytest.raises(error, match="binary.yaml: not UTF-8 text"):
            load(binary)
        with pytest.raises(error, match="date.yaml: a value YAML cannot read: month must be in 1..12"):
            load(date)


def test_the_taobao_figures_of_the_docs_are_what_kefu_prints(tmp_path):
    # docs/whatif.md quotes the Taobao sample under a model calibrated on it: the replay, 5 runs, a plan
    doc = (ROOT / "docs" / "whatif.md").read_text(encoding="utf-8")
    policy, log = ROOT / "rulesets/examples/taobao-apparel.kefu", ROOT / "samples/taobao-apparel.jsonl"
    model, plan = tmp_path / "agents.yaml", tmp_path / "plan.yaml"
    assert kefu("calibrate", log, "--out", model).exit_code == 0
    plan.write_text('version: 1\npresence: log+plan\nshifts:\n  - group: presale\n    count: 3\n'
                    '    hours: "08:00-23:00"\n', encoding="utf-8")

    def rate(*extra: str) -> str:
        out = json.loads(kefu("replay", policy, "--events", log, *extra, "--format", "json").stdout)
        if "runs" in out:   # the mean and 95 % interval of the day's rate
            (day,) = [r for r in out["runs"]["metrics"] if r["mean"] is not None]
            return f"{day['mean'] * 100:.1f} % ({day['low'] * 100:.1f}–{day['high'] * 100:.1f})"
        (row,) = [r for r in out["metrics"] if r["eligible"]]
        return f"{row['rate'] * 100:.1f} % ({row['met']}/{row['eligible']})"

    model_args = ("--agents", "model", "--model", str(model))
    assert f"the counterfactual gives a 3-minute rate of {rate(*model_args)}" in doc.replace("\n", " ")
    assert f"where the log replay gives {rate()}" in doc.replace("\n", " ")
    five = rate(*model_args, "--runs", "5", "--jobs", "1")
    staffed = rate(*model_args, "--runs", "5", "--jobs", "1", "--staff", str(plan))
    assert f"from {five} to {staffed}" in doc.replace("\n", " ")


def test_a_model_key_mistyped_is_an_error_not_ignored(tmp_path):
    from engine.whatif.model import ModelError, dump_model, load_model
    good = dump_model(_model(first=10, follow=10)).decode("utf-8")
    for right, wrong, what in (("p05:", "p5:", "'p5' is not a quantile"), ("2-3:", "2-4:", "'2-4' is not a load bucket")):
        path = tmp_path / "model.yaml"
        path.write_text(good.replace(right, wrong, 1), encoding="utf-8")
        with pytest.raises(ModelError, match=what):
            load_model(path)


def test_a_model_value_out_of_range_is_an_error_not_a_traceback(tmp_path):
    from engine.whatif.model import ModelError, dump_model, load_model
    good = dump_model(_model(first=10, follow=10)).decode("utf-8")
    path = tmp_path / "model.yaml"
    for right, wrong, what in (("p50: 10.0", "p50: .nan", "p50: Input should be a finite number"),
                               ("p99: 10.0", "p99: 1e308", "p99: Input should be less than or equal to 2592000"),
                               ("p05: 10.0", "p05: -3", "p05: Input should be greater than or equal to 0"),
                               ("by_hand: 0.0", "by_hand: 7", "by_hand: Input should be less than or equal to 1")):
        assert right in good
        path.write_text(good.replace(right, wrong, 1), encoding="utf-8")
        with pytest.raises(ModelError, match=what):
            load_model(path)


def test_the_progress_of_a_model_replay_counts_the_logs_lines_not_its_steps(tmp_path, monkeypatch):
    import io
    from engine import replay as replay_module
    monkeypatch.setattr(replay_module, "PROGRESS_EVERY", 0)   # told at every step
    rows = [ONLINE, _msg("00:00", "consumer"), _msg("00:20", "consumer"), _msg("05:00", "agent"),
            _msg("05:30", "consumer"), _msg("09:00", "agent")]
    data = "".join(json.dumps({"shop": "s", **r}) + "\n" for r in rows).encode()
    told: list[int] = []
    replay_module.replay(_policy(tmp_path), io.BytesIO(data), actor=ModelActor(_model(first=100, follow=50)),
                         progress=told.append)
    # the six lines are read a day ahead, before the first step: every count is 6 (steps would be 1, 2, 3 …)
    assert told and set(told) == {6}
    told.clear()
    replay_module.replay(_policy(tmp_path), io.BytesIO(data), progress=told.append)   # the log's people: events
    assert told == [1, 2, 3, 4, 5, 6]


def test_no_output_replaces_the_agent_model_or_the_staffing_plan(tmp_path):
    policy, log = ROOT / "rulesets/examples/taobao-apparel.kefu", ROOT / "samples/taobao-apparel.jsonl"
    model, plan = tmp_path / "agents.yaml", tmp_path / "plan.yaml"
    assert kefu("calibrate", log, "--out", model).exit_code == 0
    plan.write_text('version: 1\npresence: log+plan\nshifts:\n  - group: presale\n    count: 1\n    hours: "09:00-10:00"\n',
                    encoding="utf-8")
    kept = model.read_bytes(), plan.read_bytes()
    what = ("--agents", "model", "--model", model, "--staff", plan)
    for args, message in (
            (("replay", policy, "--events", log, *what, "--report", model),
             f"error: --report {model} is the agent model: writing it would erase the agent model"),
            (("replay", "--platform", "taobao", "--events", log, *what, "--decisions", plan),
             f"error: --decisions {plan} is the staffing plan: writing it would erase the staffing plan"),
            (("compare", policy, policy, "--events", log, *what, "--report", plan),
             f"error: --report {plan} is the staffing plan: writing it would erase the staffing plan")):
        result = kefu(*args)
        assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert (model.read_bytes(), plan.read_bytes()) == kept


def test_several_logs_name_each_decisions_file_with_model_agents_too(tmp_path):
    """The log split in two files replays as the one file does: the same decisions, each of a log event naming
    its file and its line there; those of the model's own events (line 0) and of timers name none."""
    policy, log = ROOT / "rulesets/examples/taobao-apparel.kefu", ROOT / "samples/taobao-apparel.jsonl"
    model = tmp_path / "agents.yaml"
    assert kefu("calibrate", log, "--out", model).exit_code == 0
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = 1000
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("".join(lines[:cut]), encoding="utf-8")
    second.write_text("".join(lines[cut:]), encoding="utf-8")
    offset = {str(first): 0, str(second): cut}
    for where in ((policy,), ("--platform", "taobao", "--jobs", "1")):
        outs = []
        for events in ((log,), (first, second)):
            out = tmp_path / f"d{len(events)}.jsonl"
            args = [a for e in events for a in ("--events", e)]
            assert kefu("replay", *where, *args, "--agents", "model", "--model", model, "--decisions", out).exit_code == 0
            outs.append([json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()])
        whole, split = outs
        assert len(whole) == len(split) > 600
        named = 0
        for d in split:
            file = d.pop("file", None)
            assert (file is not None) == bool(d["line"]), d   # a log line names its file; line 0 and timers none
            if file is not None:
                d["line"] += offset[file]   # its line in the whole log
                named += 1
        assert split == whole and named > 300


def test_a_model_of_another_shop_answers_for_it_and_kefu_says_so(tmp_path):
    """A model of one shop answers for any shop (its agents' delays, ends and patience), and every path says so
    on stderr when the shop is not the model's own; a model of the shop says nothing."""
    policy, log = ROOT / "rulesets/examples/douyin-flagship.kefu", ROOT / "samples/douyin-flagship.jsonl"
    own, other = tmp_path / "own.yaml", tmp_path / "other.yaml"
    assert kefu("calibrate", log, "--out", own).exit_code == 0
    assert kefu("calibrate", ROOT / "samples/taobao-apparel.jsonl", "--out", other).exit_code == 0
    note = (f'note: --model {other} has no shop "mi-flagship": its one shop "yishang-apparel" answered for it '
            "(to give a shop its own: kefu calibrate LOG --shop ID --out FILE)")
    for args in (("replay", policy, "--events", log, "--agents", "model"),
                 ("replay", "--platform", "douyin", "--events", log, "--agents", "model"),
                 ("compare", policy, policy, "--events", log)):
        said = kefu(*args, "--model", other)
        assert said.exit_code == 0 and note in said.stderr.splitlines()
        assert "note:" not in kefu(*args, "--model", own).stderr


def test_a_plan_naming_an_agent_the_policy_lacks_is_noted_with_the_likely_name(tmp_path):
    policy, log = ROOT / "rulesets/examples/douyin-flagship.kefu", ROOT / "samples/douyin-flagship.jsonl"
    model, plan = tmp_path / "agents.yaml", tmp_path / "plan.yaml"
    assert kefu("calibrate", log, "--out", model).exit_code == 0
    plan.write_text("presence: log+plan\nshifts:\n  - agents: [amy, bbo]\n    hours: '09:00-18:00'\n", encoding="utf-8")
    note = (f"note: --staff {plan}: agent 'bbo' is not an agent of the policy (did you mean 'bob'?); present as "
            "the plan says, it takes consumers as an agent of the log the policy does not name does")
    out = tmp_path / "d.jsonl"
    result = kefu("replay", policy, "--events", log, "--agents", "model", "--model", model, "--staff", plan,
                  "--decisions", out)
    assert result.exit_code == 0 and result.stderr.splitlines().count(note) == 1   # amy is the policy's: no note
    assert any(json.loads(x).get("agent") == "bbo" for x in out.read_text(encoding="utf-8").splitlines())   # it acts
    policies = tmp_path / "policies"
    policies.mkdir()
    shutil.copytree(ROOT / "rulesets/examples/common", policies / "common")
    shutil.copy(policy, policies)
    many = kefu("replay", "--policies", policies, "--events", log, "--agents", "model", "--model", model, "--staff", plan)
    assert many.exit_code == 0 and note in many.stderr.splitlines()


def test_the_conversation_counts_forget_a_consumer_not_met_for_two_generations(monkeypatch):
    """Counts turn every FORGET_AFTER (100 s here): c1 is met in each of the first three generations and keeps
    counting; after a generation without it (400-599 s) it is forgotten at the turn of 600 s and counts from 1."""
    import engine.whatif.actor as actor
    monkeypatch.setattr(actor, "FORGET_AFTER", 100.0)
    rows, t = [], 1794358800   # 2026-11-11T09:00:00+08:00

    def say(at: int, consumer: str) -> None:
        rows.append({"ts": t + at, "type": "message", "sender": "consumer", "consumer": consumer})
        rows.append({"ts": t + at + 5, "type": "session_end", "consumer": consumer})   # each a conversation

    for at, consumer in ((0, "c1"), (20, "c1"), (150, "c2"), (160, "c1"), (400, "c3"), (600, "c1")):
        say(at, consumer)
    events = [Event(line, float(r["ts"]), r["type"], "s", r.get("sender"), r["consumer"])
              for line, r in enumerate(rows, 1)]
    cutter = actor.Cutter()
    cutter.read(events)
    cutter.finish()
    started = [(c.consumer, c.index) for c in cutter.started if isinstance(c, actor.Conversation)]
    # turns at 150 (gen 2: c2, c1), 400 (gen 3: c3) and 600: c1, last met in gen 2, is gone by then
    assert started == [("c1", 1), ("c1", 2), ("c2", 1), ("c1", 3), ("c3", 1), ("c1", 1)]
    assert (cutter.counts, cutter.older) == ({"c1": 1}, {"c3": 1})
