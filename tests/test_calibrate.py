"""`kefu calibrate`: the agent model of the what-if engine (docs/whatif.md). Figures worked out by hand."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cli_helpers import kefu
from engine.events import ReadStats
from engine.whatif.calibrate import (
    IDLE_GAP, LATE_END, MAX_WAIT, bucket_of, calibrate_stream, kaplan_meier, quantiles_of, survival_at, survival_quantile,
)
from engine.whatif.model import ModelError, dump_model, load_model

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "taobao-apparel.jsonl"
SHANGHAI = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 11, 10, 0, tzinfo=SHANGHAI).timestamp()   # 10:00 local


def _msg(t: float, consumer: str, agent: str | None = None, **extra) -> dict:
    line = {"ts": T0 + t, "type": "message", "shop": "s", "consumer": consumer,
            "sender": "agent" if agent else "consumer", **extra}
    if agent:
        line["agent"] = agent
    return line


def _end(t: float, consumer: str, agent: str | None = None) -> dict:
    line = {"ts": T0 + t, "type": "session_end", "shop": "s", "consumer": consumer}
    if agent:
        line["agent"] = agent
    return line


def _status(t: float, agent: str, status: str, **extra) -> dict:
    return {"ts": T0 + t, "type": "agent_status", "shop": "s", "agent": agent, "status": status, **extra}


def _model(lines: list[dict]):
    ordered = sorted(lines, key=lambda line: line["ts"])   # stable: lines of one time keep their order
    data = b"".join(json.dumps(line).encode() + b"\n" for line in ordered)
    model, _ = calibrate_stream(io.BytesIO(data), log_name="t", timezone="Asia/Shanghai", stats=ReadStats())
    return model


def _agent(shop, name):
    (entry,) = [a for a in shop.agents if a.agent == name]
    return entry


# ---- statistics by hand ---------------------------------------------------------------------------

def test_quantiles_interpolate_between_order_statistics():
    q = quantiles_of([50, 10, 40, 20, 30])   # sorted 10..50, h = 4q
    assert (q["p05"], q["p25"], q["p50"], q["p90"], q["p99"]) == (12.0, 20.0, 30.0, 46.0, 49.6)
    assert set(quantiles_of([7]).values()) == {7.0}
    assert quantiles_of([]) is None


def test_kaplan_meier_with_censored_and_observed_waits():
    # (seconds, left): 10 left; 20 answered; 30 left and 30 answered; 40 left; 50 answered.
    steps = kaplan_meier([(10, True), (20, False), (30, True), (30, False), (40, True), (50, False)])
    # t=10: 6 at risk, 1 leaves: 5/6. t=30: 4 at risk (the one censored at 20 is gone; the one censored
    # at 30 still counts), 1 leaves: 5/6 * 3/4 = 0.625. t=40: 2 at risk, 1 leaves: 0.3125.
    assert steps == [(10, pytest.approx(5 / 6)), (30, pytest.approx(0.625)), (40, pytest.approx(0.3125))]
    assert [survival_quantile(steps, q) for q in (0.05, 0.15, 0.20, 0.35, 0.40, 0.65, 0.70)] == \
        [10, 10, 30, 30, 40, 40, None]
    assert (survival_at(steps, 9), survival_at(steps, 25), survival_at(steps, 40)) == \
        (1.0, pytest.approx(5 / 6), pytest.approx(0.3125))


def test_load_buckets():
    assert [bucket_of(n) for n in (1, 2, 3, 4, 6, 7, 40)] == ["1", "2-3", "2-3", "4-6", "4-6", "7+", "7+"]


# ---- a desk by hand: delays, loads, session ends, patience ----------------------------------------

DESK = [
    _msg(0, "c1"), _msg(5, "c2"),
    _msg(10, "c1", "d"),    # first reply to c1, waiting since 0: in hand c1 -> load 1, 10 s
    _msg(20, "c2", "d"),    # first reply to c2, since 5: c1 and c2 -> load 2, 15 s
    _msg(30, "c3"), _msg(40, "c1"),
    _msg(60, "c3", "d"),    # since 30: c1, c3 (c2 went quiet at 20) -> load 2, 30 s
    _msg(70, "c1", "d"),    # follow-up, since 40: c1, c3 -> load 2, 30 s
    _end(100, "c1", "d"),   # by hand, 30 s after the last exchange
    _msg(110, "c4"),
    _msg(115, "c4", "d"),   # since 110: c3 went quiet at 60 -> load 1, 5 s
    _msg(200, "c5"), _msg(260, "c5"), _end(500, "c5"),   # left unanswered after 300 s
    _msg(300, "c6"),                                     # never seen again: left, patience 0
    _msg(9990, "c7"), _msg(10000, "c7"),                 # the log ends 10 s into their wait: censored at 10
]


def test_reply_delays_by_load_and_kind():
    (shop,) = _model(DESK).shops
    d = _agent(shop, "d")
    first, follow = shop.delays.first_reply, shop.delays.follow_up
    assert (first["1"].n, first["2-3"].n, first["4-6"].n, follow["2-3"].n, follow["1"].n) == (2, 2, 0, 1, 0)
    assert first["1"].quantiles["p50"] == 7.5         # 5 and 10
    assert first["2-3"].quantiles["p50"] == 22.5      # 15 and 30
    assert follow["2-3"].quantiles["p05"] == 30.0
    # fewer than 30 everywhere: the shop's delays over all loads (4 first replies, 1 follow-up)
    assert (d.delays.first_reply["1"].pool, d.delays.first_reply["1"].own_n, d.delays.first_reply["1"].n) == \
        ("shop_all_loads", 2, 4)
    assert d.delays.first_reply["1"].quantiles["p50"] == 12.5   # 5, 10, 15, 30
    assert (d.delays.follow_up["7+"].pool, d.delays.follow_up["7+"].n) == ("shop_all_loads", 1)
    assert (shop.consumers, shop.replies, d.replies) == (7, 5, 5)


def test_session_ends_by_hand_and_auto():
    (shop,) = _model(DESK).shops
    ends = _agent(shop, "d").session_end
    # c1 ended by hand; c2, c3, c4 went quiet for more than IDLE_GAP before the log ends: auto.
    # c5, c6, c7 had no agent: not sessions with an agent.
    assert (ends.sessions, ends.by_hand, ends.auto) == (4, 0.25, 0.75)
    assert (ends.by_hand_delay.n, ends.by_hand_delay.quantiles["p50"]) == (1, 30.0)
    assert shop.session_end == ends


def test_a_session_end_after_a_long_silence_is_a_late_hand_end_not_an_auto_end():
    # a two-hour call: c1 answered at 10 s, its session_end 2 h later (more than IDLE_GAP of silence), nothing
    # between: ended by hand 7200 s after the last exchange, d holding c1 all along (c2's reply at 1 h sees
    # load 2). c2 went quiet, then wrote again before its stray session_end: an auto end, then a new
    # conversation with no agent. The means: c1's 7200 s alone by hand; replies 10 s (load 1) and 20 s (load 2).
    lines = [_msg(0, "c1"), _msg(10, "c1", "d"), _end(10 + 7200, "c1"),
             _msg(3600, "c2"), _msg(3620, "c2", "d"), _msg(3620 + IDLE_GAP + 60, "c2"), _end(3620 + IDLE_GAP + 90, "c2")]
    (shop,) = _model(lines).shops
    ends = shop.session_end
    assert (ends.sessions, ends.by_hand, ends.auto) == (2, 0.5, 0.5)
    assert (ends.by_hand_delay.n, ends.by_hand_delay.mean, ends.by_hand_delay.quantiles["p50"]) == (1, 7200.0, 7200.0)
    first = shop.delays.first_reply
    assert (first["1"].n, first["1"].mean, first["2-3"].n, first["2-3"].mean) == (1, 10.0, 1, 20.0)
    # a day and more later (LATE_END after the last event) the session_end is a stray event: an auto end
    late = [_msg(0, "c1"), _msg(10, "c1", "d"), _end(10 + LATE_END + 3600, "c1")]
    ends = _model(late).shops[0].session_end
    assert (ends.sessions, ends.by_hand, ends.auto) == (1, 0.0, 1.0)


def test_patience_is_kaplan_meier_over_first_waits():
    (shop,) = _model(DESK).shops
    p = shop.patience
    # waits: c6 0 left, c4 5, c1 10, c7 10, c2 15, c3 30 answered or open, c5 300 left.
    # t=0: 7 at risk, 1 leaves: S = 6/7; t=300: 1 at risk, 1 leaves: S = 0.
    assert (p.waits, p.left, p.censored) == (7, 2, 5)
    assert (p.quantiles["p05"], p.quantiles["p10"], p.quantiles["p15"], p.quantiles["p99"]) == (0.0, 0.0, 300, 300)
    assert p.survival == {"60s": round(6 / 7, 4), "180s": round(6 / 7, 4), "300s": 0.0, "600s": 0.0, "1800s": 0.0}


def test_conversation_boundaries_idle_gap_and_long_first_waits():
    lines = [
        _msg(0, "e1"), _msg(100, "e1", "a"),                              # first reply, 100 s
        _msg(100 + IDLE_GAP + 1, "e1"), _msg(110 + IDLE_GAP + 1, "e1", "a"),   # quiet for over IDLE_GAP: a new first reply, 10 s
        _msg(0, "e2"), _msg(50_000, "e2", "a"),                           # nobody answered yet: waits up to MAX_WAIT
        _msg(60_000, "e3"), _msg(60_000 + MAX_WAIT + 5, "e3", "a"),       # longer than MAX_WAIT: they left, a reply is no first reply
    ]
    (shop,) = _model(lines).shops
    assert shop.delays.first_reply_all_loads.n == 3
    assert (shop.delays.first_reply_all_loads.quantiles["p05"], shop.delays.first_reply_all_loads.quantiles["p50"]) == \
        (19.0, 100.0)   # 10, 100, 50000: h = 0.1 -> 10 + 0.1 * 90
    assert shop.delays.follow_up_all_loads.n == 0
    # e1's first conversation ended quietly (auto); e3's agent message opened a conversation of its own
    assert shop.patience.left == 1 and shop.patience.waits == 4   # e3: left at its only message


def test_transfers_and_a_reply_by_another_agent():
    lines = [
        _msg(0, "t1"), _msg(10, "t2"),
        {"ts": T0 + 30, "type": "transfer", "shop": "s", "consumer": "t1", "agent": "a", "to_agent": "b"},
        _msg(40, "t2", "a"),   # since 10: a had t1 (from 0 to the transfer at 30) and t2 -> load 2, 30 s
        _msg(50, "t1", "b"),   # b waited on from the transfer: 20 s, load 1; t1's wait (patience) 50 s
        _msg(60, "t1"),
        _msg(65, "t1", "a"),   # a's first reply to t1, no transfer: since 60, a has only t1 (t2 quiet since 40): 5 s
        _end(100, "t1"),       # by hand, for a (who has t1 now), 35 s after a's reply
        _status(100 + IDLE_GAP + 10, "z", "online"),   # the log goes on: t2's session ended quietly (auto)
    ]
    (shop,) = _model(lines).shops
    a, b = _agent(shop, "a"), _agent(shop, "b")
    assert (shop.delays.first_reply["1"].n, shop.delays.first_reply["2-3"].n, shop.delays.follow_up_all_loads.n) == (2, 1, 0)
    assert shop.delays.first_reply["2-3"].quantiles["p50"] == 30.0
    assert shop.delays.first_reply["1"].quantiles["p50"] == 12.5   # 5 and 20
    assert (a.session_end.sessions, a.session_end.by_hand, a.session_end.auto) == (2, 0.5, 0.5)
    assert a.session_end.by_hand_delay.quantiles["p50"] == 35.0
    assert (b.session_end.sessions, b.session_end.by_hand, b.session_end.auto) == (0, None, None)
    assert (shop.patience.waits, shop.patience.left, shop.patience.censored) == (2, 0, 2)
    assert (a.replies, b.replies, shop.replies) == (2, 1, 3)


def test_pooling_agent_group_shop_levels():
    lines = [_status(0, "a", "online", group="g", max_sessions=5), _status(0, "b", "online", group="g")]
    for i in range(1, 31):   # a answers 30 consumers one at a time, in 10 s, 20 s, …, 300 s
        lines += [_msg(1000 * i, f"a{i}"), _msg(1000 * i + 10 * i, f"a{i}", "a")]
    lines += [_msg(40_000, "b1"), _msg(40_007, "b1", "b"), _msg(45_000, "b2"), _msg(45_009, "b2", "b")]
    lines += [_msg(50_000, "c1"), _msg(50_005, "c1", "c")]
    # b: y1 waits from 60000 (alone: load 1), y2 from 60010 with y1 in hand (load 2); both answered in 20 s
    lines += [_msg(60_000, "y1"), _msg(60_010, "y2"), _msg(60_020, "y1", "b"), _msg(60_030, "y2", "b")]
    (shop,) = _model(lines).shops
    a, b, c = (_agent(shop, n) for n in "abc")
    assert (a.group, a.max_sessions, b.group, c.group) == ("g", 5, "g", None)
    one = a.delays.first_reply["1"]
    assert (one.pool, one.own_n, one.n) == ("agent", 30, 30)
    assert (one.quantiles["p05"], one.quantiles["p50"], one.quantiles["p99"]) == (24.5, 155.0, 297.1)
    # b has 3 in bucket 1 (7, 9, 20): the group's 33 (a's 30 + b's 3); sorted 7, 9, 10, 20, 20, 30, …: x16 = 140
    one = b.delays.first_reply["1"]
    assert (one.pool, one.own_n, one.n, one.quantiles["p50"]) == ("group", 3, 33, 140.0)
    # bucket 2-3 holds only y2, at every level: the shop over all loads, 35 first replies
    two = b.delays.first_reply["2-3"]
    assert (two.pool, two.own_n, two.n) == ("shop_all_loads", 1, 35)
    assert two.quantiles["p50"] == 130.0   # 5, 7, 9, 10, 20, 20, 20, 30, …: x17 = 130
    # c has no group: the shop's bucket 1 (34 first replies)
    one = c.delays.first_reply["1"]
    assert (one.pool, one.own_n, one.n) == ("shop", 1, 34)
    assert (a.delays.follow_up["1"].pool, a.delays.follow_up["1"].n, a.delays.follow_up["1"].quantiles) == ("none", 0, None)
    (group,) = shop.groups
    assert (group.group, group.agents, group.delays.first_reply["1"].n) == ("g", ["a", "b"], 33)


def test_presence_from_status_and_inferred_from_replies():
    lines = [
        _status(0, "p", "offline"), _status(1800, "p", "online"),     # 10:00 offline, 10:30 online
        _msg(300, "x"), _msg(600, "x", "r"), _msg(2100, "x"), _msg(2400, "x", "r"),   # r replies 10:10, 10:40
        _status(4500, "p", "busy"), _status(6300, "p", "offline"),    # 11:15 busy, 11:45 offline
        _msg(4740, "x"), _msg(4800, "x", "r"),                        # r replies 11:20 (once in that hour)
        _status(7200, "p", "offline"),                                # 12:00: the log ends
    ]
    (shop,) = _model(lines).shops
    p, r = _agent(shop, "p").presence, _agent(shop, "r").presence
    assert p.source == "status" and list(p.hours) == ["10", "11"]
    assert p.hours["10"].model_dump() == {"online": 0.5, "busy": 0.0, "offline": 0.5}
    assert p.hours["11"].model_dump() == {"online": 0.25, "busy": 0.5, "offline": 0.25}
    assert r.source == "inferred"
    assert r.hours["10"].model_dump() == {"online": 0.5, "busy": 0.0, "offline": 0.5}   # 10:10 to 10:40
    assert r.hours["11"].model_dump() == {"online": 0.0, "busy": 0.0, "offline": 1.0}


def test_shops_are_calibrated_apart():
    lines = [_msg(0, "c1"), _msg(10, "c1", "a"), {**_msg(20, "k1"), "shop": "t"}, {**_msg(25, "k1", "b"), "shop": "t"}]
    model = _model(lines)
    assert [(s.shop, [a.agent for a in s.agents]) for s in model.shops] == [("s", ["a"]), ("t", ["b"])]


# ---- the model file -------------------------------------------------------------------------------

def test_the_file_round_trips_and_checks_its_version(tmp_path):
    model = _model(DESK)
    data = dump_model(model)
    path = tmp_path / "agents.yaml"
    path.write_bytes(data)
    loaded = load_model(path)
    assert loaded == model and dump_model(loaded) == data
    path.write_text(data.decode().replace("version: 1", "version: 2"), encoding="utf-8")
    with pytest.raises(ModelError, match="version 2; this kefu reads version 1"):
        load_model(path)
    path.write_text(data.decode().replace("sessions: 4", "sessions: many"), encoding="utf-8")
    with pytest.raises(ModelError, match="session_end.sessions"):
        load_model(path)


# ---- recovering the generator's parameters ----------------------------------------------------------

def test_calibration_recovers_the_generators_reply_delay(monkeypatch):
    """engine/synth.py draws each reply's delay with _Generator.reply_delay (a mixture with median 48 s),
    counted from the consumer's *last* message of a burst, and delays a reply due while the agent is busy or
    offline until it is back. Those additions are tens of seconds: with the delay patched to a lognormal of
    median 300 s (sigma 0.5, independent of load) they are small beside it. Tolerances: the median of first
    replies and of follow-ups within 10 %, the first quartile (300 e^(-0.674 * 0.5) = 214 s) within 10 %, the
    third (420 s) within 15 % (late replies of agents gone offline add to the top), and the median of every
    load bucket with 50 or more replies within 15 % (the generator's delay does not depend on load)."""
    from engine import synth
    from engine.loader import Loader

    monkeypatch.setattr(synth._Generator, "reply_delay",
                        lambda self: max(1, round(self.rng.lognormvariate(math.log(300), 0.5))))
    policy = Loader().load(ROOT / "rulesets" / "examples" / "taobao-apparel.kefu").policy
    out = io.BytesIO()
    synth.generate_log(policy, day=date(2026, 11, 11), consumers=300, seed=1, out=out)
    out.seek(0)
    model, _ = calibrate_stream(out, log_name="generated", timezone="Asia/Shanghai", stats=ReadStats())
    (shop,) = model.shops
    first, follow = shop.delays.first_reply_all_loads, shop.delays.follow_up_all_loads
    assert first.n > 250 and follow.n > 200
    assert first.quantiles["p50"] == pytest.approx(300, rel=0.10)
    assert follow.quantiles["p50"] == pytest.approx(300, rel=0.10)
    assert first.quantiles["p25"] == pytest.approx(300 * math.exp(-0.6745 * 0.5), rel=0.10)
    assert first.quantiles["p75"] == pytest.approx(300 * math.exp(0.6745 * 0.5), rel=0.15)
    buckets = [pool for pool in shop.delays.first_reply.values() if pool.n >= 50]
    assert len(buckets) >= 2
    assert all(pool.quantiles["p50"] == pytest.approx(300, rel=0.15) for pool in buckets)


# ---- the command -------------------------------------------------------------------------------------

def test_cli_writes_the_model_deterministically(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    result = kefu("calibrate", SAMPLE, "--out", first)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == \
        f"{SAMPLE}: 1495 lines read = 1495 accepted + 0 rejected; 1 shop, 5 agents calibrated: wrote {first}"
    assert kefu("calibrate", SAMPLE, "--out", second).exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    model = load_model(first)
    assert [s.shop for s in model.shops] == ["yishang-apparel"]
    assert (model.source.events_read, model.settings.min_observations) == (1495, 30)


def test_cli_reports_bad_lines_and_goes_on(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_bytes(b'{"ts": 1, "type": "message"}\nnot json\n' + SAMPLE.read_bytes())
    out = tmp_path / "m.yaml"
    result = kefu("calibrate", log, "--out", out)
    assert result.exit_code == 0, result.output
    assert f'{log}:1: rejected: missing field "sender"' in result.stderr
    assert f"{log}:2: rejected: not JSON" in result.stderr
    assert "1497 lines read = 1495 accepted + 2 rejected" in result.stderr
    assert load_model(out).source.events_rejected == 2


def test_cli_exit_codes_and_outputs_left_alone(tmp_path):
    out = tmp_path / "m.yaml"
    out.write_text("old\n", encoding="utf-8")
    not_a_log = tmp_path / "x.csv"
    not_a_log.write_text("a,b\n1,2\n", encoding="utf-8")
    result = kefu("calibrate", not_a_log, "--out", out)
    assert result.exit_code == 1 and "does not look like a kefu event log" in result.stderr
    assert kefu("calibrate", tmp_path / "missing.jsonl", "--out", out).exit_code == 2
    assert kefu("calibrate", SAMPLE, "--out", out, "--platform", "taobaoo").exit_code == 2
    result = kefu("calibrate", SAMPLE, "--out", tmp_path / "no" / "m.yaml")
    assert result.exit_code == 2 and "cannot write model" in result.stderr
    assert out.read_text(encoding="utf-8") == "old\n"
    log = tmp_path / "log.jsonl"
    log.write_bytes(SAMPLE.read_bytes())
    result = kefu("calibrate", log, "--out", log)
    assert result.exit_code == 2 and "is the log: writing it would erase the log" in result.stderr
    assert log.read_bytes() == SAMPLE.read_bytes()


def test_cli_platform_shop_and_mapping(tmp_path):
    out = tmp_path / "m.yaml"
    result = kefu("calibrate", SAMPLE, "--out", out, "--platform", "taobao", "--shop", "other")
    assert result.exit_code == 0
    assert '1495 events of other shops than "other" skipped (shops "yishang-apparel")' in result.stderr
    assert load_model(out).shops == [] and load_model(out).source.platform == "taobao"
    mapping = ROOT / "rulesets" / "imports" / "qianniu.yaml"
    export = ROOT / "samples" / "qianniu-export.csv"
    result = kefu("calibrate", export, "--mapping", mapping, "--out", out)
    assert result.exit_code == 0, result.output
    assert "7 rows read = 6 imported + 1 skipped" in result.stderr
    assert load_model(out).source.events_accepted == 6
    assert kefu("calibrate", export, "--mapping", mapping, "--out", mapping).exit_code == 2


# ---- the real call-centre month (beside the repository when it is there; never committed) ----------

REAL = next((base / "shared" / "data" / "real" for base in (ROOT.parent, ROOT.parent.parent)
             if (base / "shared" / "data" / "real").is_dir()), ROOT.parent / "shared" / "data" / "real")


def _bank_calls(path: Path) -> tuple[int, int, int]:
    """Independent of kefu: queued calls answered with service starting at or after the queue entry, calls
    abandoned (no server) with a recorded queue exit, and queued calls with neither a service start nor an
    abandonment recorded (a service clock time over 12 h before the queue entry is on the next day)."""
    answered = abandoned = unrecorded = 0
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["q_start"] == "0:00:00":
                continue
            if row["server"] != "NO_SERVER" and row["ser_start"] != "0:00:00":
                asked = datetime.strptime(f"{row['date']} {row['q_start']}", "%Y-%m-%d %H:%M:%S")
                served = datetime.strptime(f"{row['date']} {row['ser_start']}", "%Y-%m-%d %H:%M:%S")
                if (asked - served).total_seconds() > 12 * 3600:
                    served += timedelta(days=1)
                answered += served >= asked
            elif row["server"] == "NO_SERVER" and row["q_exit"] != "0:00:00":
                abandoned += 1
            else:
                unrecorded += 1
    return answered, abandoned, unrecorded


def test_the_bank_month_calibrates_to_the_independent_count(tmp_path):
    month = REAL / "callcentre_anonbank_august.csv"
    if not month.exists():
        pytest.skip("the real data is not beside the repository")
    out = tmp_path / "bank.yaml"
    result = kefu("calibrate", month, "--mapping", ROOT / "rulesets" / "imports" / "anonbank.yaml", "--out", out)
    assert result.exit_code == 0, result.output
    (shop,) = load_model(out).shops
    answered, abandoned, unrecorded = _bank_calls(month)
    # a call is a consumer: each answered call is one first reply and a censored wait; an abandoned call is a
    # wait ended by session_end (left), a call with nothing recorded after the queue a wait left at once
    assert shop.delays.first_reply_all_loads.n == answered
    assert (shop.patience.censored, shop.patience.left) == (answered, abandoned + unrecorded)
    assert all(agent.presence.source == "inferred" for agent in shop.agents)


def test_the_docs_example_is_an_excerpt_of_the_real_output(tmp_path):
    """docs/whatif.md shows `kefu calibrate samples/taobao-apparel.jsonl --out agents.yaml` with lines left
    out (`# …`): the lines it shows are the output's, in its order."""
    import os
    import re

    text = (ROOT / "docs" / "whatif.md").read_text(encoding="utf-8")
    block = re.search(r"--out agents\.yaml` \(`# …` marks\s+lines left out\):\n\n```yaml\n(.*?)```", text, re.S)
    assert block, "the example is gone from docs/whatif.md"
    shown = [line for line in block.group(1).splitlines() if line.strip() != "# …"]
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = kefu("calibrate", "samples/taobao-apparel.jsonl", "--out", tmp_path / "agents.yaml")
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    real = iter((tmp_path / "agents.yaml").read_text(encoding="utf-8").splitlines())
    missing = [line for line in shown if not any(line == other for other in real)]
    assert missing == [], missing
    assert len(shown) > 60
