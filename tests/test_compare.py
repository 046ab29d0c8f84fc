"""`kefu compare A B --events LOG`: one log through two policies of a shop, and the difference.

The hand-built log (LOG below) is one day of a Pinduoduo shop; amy is the only agent of the presale group,
bob of the aftersale group; the base policy (A) routes the refund page to aftersale, every other page to
presale. Consumers (platform rules: rulesets/platforms/pinduoduo.kefu):

    c1 09:00 product_detail   amy answers 09:10, session ended 09:20
    c2 10:00 refund_detail    bob answers 11:30, session ended 11:40
    c3 12:00 refund_detail    nobody answers, session ended 12:30
    c5 13:00 refund_detail    bob answers 13:04, session ended 13:10
    c5 14:00 refund_detail    bob answers 14:02, session ended 14:10   (a second session of c5)
    c6 15:00 product_detail   nobody answers, never ended
    c4 23:30 shop_home        amy answers 23:35; Pinduoduo ends a session 30 min after the agent's reply: 00:05

effective_reply_1h (a consumer-day, first question of the day in 08:00-23:00 answered within 1 h, >= 50%):
c1 met (10 min), c2 missed (90 min), c3 missed, c5 met (4 min), c6 missed; c4 asks after 23:00: not eligible.
A: 2 of 5 = 40 %, FAIL. B with a welcome reply (an effective sender, sent at once on every new session):
every eligible consumer-day is answered at its first message: 5 of 5 = 100 %, pass. B − A = +60.0 points.

response_rate_5min (every question in 08:00-23:00 answered within 5 min, > 50 %): c1 (10 min) missed, c2
missed, c3 missed, c5 13:00 met, c5 14:00 met, c6 missed: A 2 of 6 = 33.3 %; B (the welcome answers each
session's first message at once) 6 of 6 = 100 %: B − A = +66.666667 points.

The routing change (B sends the refund page to presale): c2, c3 and both sessions of c5 go to amy instead
of bob: 4 sessions routed to another agent, 3 consumers. The log's people answer as they did, so no rate moves.

Occupancy (share of the replayed time an agent holds at least one session). The decisions run from c1's
assign at 09:00 to c4's automatic end at 00:05: 15 h 05 min = 54,300 s. Under A amy holds c1 09:00-09:20
(1,200 s) and c6 from 15:00 to the end (c4 joins at 23:30): 32,700 s; 33,900 s in all. bob holds c2 (6,000 s),
c3 (1,800 s), c5 twice (600 s each): 9,000 s. Under the routing change amy holds all of them: 42,900 s, bob none.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import jsonschema
import pytest

from cli_helpers import kefu
from engine.loader import Loader
from engine.replay import replay, report_dict
from engine.runtime.decisions import Closed, Decision, encode_lines
from engine.whatif.compare import BREAKDOWNS, percentile
from engine.whatif.runs import t_interval, t_quantile
from test_html_report import browser, drawn, needs_chromium  # noqa: F401  (the headless-Chromium fixture)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = [(ROOT / "rulesets" / "examples" / f"{name}.kefu", ROOT / "samples" / f"{name}.jsonl")
           for name in ("taobao-apparel", "pinduoduo-fruit", "douyin-flagship")]
SCHEMA = json.loads((ROOT / "docs" / "compare.schema.json").read_text(encoding="utf-8"))

BASE = """shop "hand-fruit" on pinduoduo

group presale "售前" { agents amy }
group aftersale "售后" { agents bob }
agent amy { role admin }
editor amy

route {
  page refund_detail -> aftersale
  default -> presale
}
"""
WELCOME = BASE.replace("editor amy\n", 'editor amy\nreply welcome "亲,欢迎光临!"\n')
ROUTING = BASE.replace("page refund_detail -> aftersale", "page refund_detail -> presale")


def _event(ts: str, kind: str, **fields: str) -> dict:
    day = "2026-11-12" if ts < "08:00:00" else "2026-11-11"
    return {"ts": f"{day}T{ts}+08:00", "type": kind, "shop": "hand-fruit", **fields}


def _ask(ts: str, consumer: str, page: str) -> dict:
    return _event(ts, "message", sender="consumer", consumer=consumer, text="在吗", page=page)


def _answer(ts: str, agent: str, consumer: str) -> dict:
    return _event(ts, "message", sender="agent", agent=agent, consumer=consumer, text="您好")


def _end(ts: str, consumer: str) -> dict:
    return _event(ts, "session_end", consumer=consumer)


LOG = [
    _event("08:00:00", "agent_status", agent="amy", status="online"),
    _event("08:00:00", "agent_status", agent="bob", status="online"),
    _ask("09:00:00", "c1", "product_detail"), _answer("09:10:00", "amy", "c1"), _end("09:20:00", "c1"),
    _ask("10:00:00", "c2", "refund_detail"), _answer("11:30:00", "bob", "c2"), _end("11:40:00", "c2"),
    _ask("12:00:00", "c3", "refund_detail"), _end("12:30:00", "c3"),
    _ask("13:00:00", "c5", "refund_detail"), _answer("13:04:00", "bob", "c5"), _end("13:10:00", "c5"),
    _ask("14:00:00", "c5", "refund_detail"), _answer("14:02:00", "bob", "c5"), _end("14:10:00", "c5"),
    _ask("15:00:00", "c6", "product_detail"),
    _ask("23:30:00", "c4", "shop_home"), _answer("23:35:00", "amy", "c4"),
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hand(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hand")
    _write(folder / "a.kefu", BASE)
    _write(folder / "welcome.kefu", WELCOME)
    _write(folder / "routing.kefu", ROUTING)
    _write(folder / "log.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in LOG))
    return folder


def compare_log(*args, **kw):
    """kefu compare with the log's agents (what these figures were worked out for), unless --agents is given."""
    agents = () if "--agents" in [str(a) for a in args] else ("--agents", "log")
    return kefu("compare", *args, *agents, **kw)


def _compare_json(*args) -> dict:
    result = compare_log(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    jsonschema.validate(data, SCHEMA)
    return data


def _metric(data: dict, name: str) -> dict:
    [row] = [r for r in data["metrics"] if r["metric"] == name]
    return row


# ---- A against A: no difference anywhere ------------------------------------------------------------------------

@pytest.mark.parametrize("agents", ["log", "model"])
@pytest.mark.parametrize("policy,log", SAMPLES, ids=lambda p: p.stem)
def test_a_policy_against_itself_differs_in_nothing(policy: Path, log: Path, agents: str):
    # with model agents the runs differ from each other, but A and B draw the same numbers in each run
    data = _compare_json(policy, policy, "--events", log, "--by", "agent", "--by", "hour", "--runs", "2",
                         "--agents", agents)
    assert data["metrics"] and data["by_hour"] and data["by_agent"]
    for row in data["metrics"]:
        assert row["a"] == row["b"]
        assert row["difference"]["points"] in (0.0, None)
        if row["a"]["rate"] is not None:   # two identical runs: mean 0, an interval of no width
            assert row["difference"] == {"points": 0.0, "mean": 0.0, "low": 0.0, "high": 0.0}
    for total in data["totals"]:
        assert total["a"] == total["b"] and total["difference"]["points"] == 0.0
    for hour in data["by_hour"]:
        for figures in hour["metrics"].values():
            assert figures["a"] == figures["b"] and figures["difference"]["points"] in (0.0, None)
    for agent in data["by_agent"]:
        assert agent["a"] == agent["b"]
    changes = data["changes"]
    sessions = changes["sessions"]
    assert sessions["other_agent"] == changes["routed_elsewhere"] == 0
    assert sessions["only_in_a"] == sessions["only_in_b"] == sessions["served_in_a_only"] == sessions["served_in_b_only"] == 0
    assert changes["queued"]["a"] == changes["queued"]["b"] and changes["queued"]["a_only"] == changes["queued"]["b_only"] == 0
    assert changes["waits"]["a"] == changes["waits"]["b"]
    assert all(n["difference"] == 0 for n in changes["decisions"].values())
    assert all(n["sent_difference"] == 0 and n["a"] == n["b"] for n in changes["auto_replies"].values())


# ---- a welcome reply on Pinduoduo ------------------------------------------------------------------------------

def test_a_welcome_reply_makes_every_consumer_day_met(hand: Path):
    data = _compare_json(hand / "a.kefu", hand / "welcome.kefu", "--events", hand / "log.jsonl")
    hour = _metric(data, "effective_reply_1h")
    assert hour["date"] == "2026-11-11"
    assert hour["a"] == {"eligible": 5, "met": 2, "rate": 0.4, "passed": False, "penalty": 0}
    assert hour["b"] == {"eligible": 5, "met": 5, "rate": 1.0, "passed": True, "penalty": 0}
    assert hour["difference"] == {"points": 60.0, "mean": 60.0, "low": None, "high": None}
    five = _metric(data, "response_rate_5min")
    assert (five["a"]["eligible"], five["a"]["met"], five["b"]["met"]) == (6, 2, 6)
    assert five["difference"]["points"] == pytest.approx(200 / 3, abs=1e-6)
    # the welcome is sent on each of the 7 new sessions (c4's after hours too: the shop declares no hours)
    welcome = data["changes"]["auto_replies"]["welcome"]
    assert (welcome["a"]["sent"], welcome["b"]["sent"], welcome["sent_difference"]) == (0, 7, 7)
    assert data["changes"]["decisions"]["auto_reply"] == {"a": 0, "b": 7, "difference": 7}
    assert data["changes"]["routed_elsewhere"] == 0


def test_a_routing_change_moves_consumers_and_not_the_rates(hand: Path):
    data = _compare_json(hand / "a.kefu", hand / "routing.kefu", "--events", hand / "log.jsonl", "--by", "agent")
    changes = data["changes"]
    assert changes["sessions"] == {"matched": 7, "same_agent": 3, "other_agent": 4, "served_in_a_only": 0,
                                   "served_in_b_only": 0, "only_in_a": 0, "only_in_b": 0}
    assert changes["routed_elsewhere"] == 3
    # the log's bob still answers c2 and c5, whom B gives to amy: 3 first answers by another agent (c3 none)
    assert changes["decisions"]["differs"] == {"a": 0, "b": 3, "difference": 3}
    for row in data["metrics"]:
        assert row["a"] == row["b"] and row["difference"]["points"] == 0.0
    agents = {row["agent"]: row for row in data["by_agent"]}
    assert data["replayed"] == {"start": "2026-11-11T09:00:00+08:00", "end": "2026-11-12T00:05:00+08:00",
                                "seconds": 54300}
    assert (agents["amy"]["a"]["assigned"], agents["amy"]["b"]["assigned"]) == (3, 7)
    assert (agents["bob"]["a"]["assigned"], agents["bob"]["b"]["assigned"]) == (4, 0)
    assert agents["amy"]["a"]["occupancy"] == round(33900 / 54300, 6)
    assert agents["bob"]["a"]["occupancy"] == round(9000 / 54300, 6)
    assert agents["amy"]["b"]["occupancy"] == round(42900 / 54300, 6)
    assert agents["bob"]["b"]["occupancy"] == 0.0
    assert (agents["amy"]["a"]["peak_load"], agents["amy"]["b"]["peak_load"]) == (2, 2)


def test_several_logs_merged_compare_as_one(hand: Path, tmp_path: Path):
    """The log split in two files (sessions are then keyed by file and line): the same figures as one file."""
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    _write(first, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in LOG[:8]))
    _write(second, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in LOG[8:]))
    merged = _compare_json(hand / "a.kefu", hand / "routing.kefu", "--events", first, "--events", second)
    whole = _compare_json(hand / "a.kefu", hand / "routing.kefu", "--events", hand / "log.jsonl")
    assert merged["changes"] == whole["changes"] and merged["metrics"] == whole["metrics"]
    assert merged["changes"]["sessions"]["other_agent"] == 4


def test_the_replay_hands_its_observer_the_decisions_it_writes(hand: Path, tmp_path: Path):
    """compare reads its facts from the replay's on_decisions observer: it gets the very decisions the replay
    writes, in order, each naming its file, and engine.finish()'s last. The base policy has no reply, and the
    log's agents answer whom it assigns: 7 assigns (c1, c2, c3, c5 twice, c6, c4), 5 sessions ended by hand
    and c4's automatic end at 00:05, when nothing follows (Pinduoduo: 30 min after amy's answer at 23:35)."""
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    _write(first, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in LOG[:8]))   # the statuses, c1, c2
    _write(second, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in LOG[8:]))
    policy = Loader().load(hand / "a.kefu").policy
    assert policy is not None
    seen: list[Decision] = []
    told: list[bytes] = []   # each list encoded as it was when told (a `file` set later would not show)

    def observe(decisions: list[Decision]) -> None:
        seen.extend(decisions)
        told.append(encode_lines(decisions))

    written = io.BytesIO()
    result = replay(policy, [str(first), str(second)], decisions_out=written, on_decisions=observe, by=BREAKDOWNS)
    assert b"".join(told) == written.getvalue() == encode_lines(seen)
    assert [d.action for d in seen].count("assign") == 7 and [d.action for d in seen].count("close_session") == 6
    assert len(seen) == 13 == written.getvalue().count(b"\n")
    c1, c4 = seen[0], next(d for d in seen if d.consumer == "c4")
    assert (c1.action, c1.consumer, c1.line, c1.file) == ("assign", "c1", 3, str(first))
    assert (c4.action, c4.line, c4.file) == ("assign", 10, str(second))   # 10th line of the second file
    last = seen[-1]
    assert isinstance(last, Closed)
    assert (last.consumer, last.reason, last.line, last.file) == ("c4", "auto_end", None, None)   # a timer's
    assert last.ts == "2026-11-12T00:05:00+08:00"
    assigned = {row["agent"]: row["assigned"] for row in report_dict(result)["by_agent"]}   # --by agent still told
    assert (assigned["amy"], assigned["bob"]) == (3, 4)   # amy c1, c6, c4; bob c2, c3, c5 twice


def test_a_bad_line_is_reported_once_and_counted(hand: Path, tmp_path: Path):
    lines = (hand / "log.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    bad = _write(tmp_path / "bad.jsonl", "".join(lines[:3]) + "{not json\n" + "".join(lines[3:]))
    result = compare_log(hand / "a.kefu", hand / "welcome.kefu", "--events", bad, "--format", "json",
                  "--runs", "2")
    assert result.exit_code == 0
    assert result.output.count(f"{bad}:4: rejected") == 1   # two runs of two policies read it: told once
    assert '"rejected": 1' in result.output
    nothing = _write(tmp_path / "nothing.jsonl", "a,b,c\n1,2,3\n")
    assert compare_log(hand / "a.kefu", hand / "a.kefu", "--events", nothing).exit_code == 1


def test_a_report_that_cannot_be_written_is_refused_before_any_run(hand: Path, tmp_path: Path, monkeypatch):
    import engine.whatif.compare as compare_module

    def no_run(*args, **kwargs):
        raise AssertionError("compare ran with a report it cannot write")

    monkeypatch.setattr(compare_module, "compare", no_run)
    (tmp_path / "file").write_text("x", encoding="utf-8")
    report = tmp_path / "file" / "report.json"   # its folder is a file: fails for root too
    result = kefu("compare", hand / "a.kefu", hand / "a.kefu", "--events", hand / "log.jsonl", "--report", report,
                  "--runs", "20")
    assert result.exit_code == 2 and f"cannot write report {report}" in result.stderr, result.stderr


def test_a_log_with_no_event_is_refused_before_any_run(hand: Path, tmp_path: Path, monkeypatch):
    import engine.whatif.compare as compare_module

    def no_run(*args, **kwargs):
        raise AssertionError("compare ran on a log with no event")

    monkeypatch.setattr(compare_module, "compare", no_run)
    nothing = _write(tmp_path / "nothing.jsonl", "a,b,c\n1,2,3\n")
    for agents in ("log", "model"):
        result = kefu("compare", hand / "a.kefu", hand / "a.kefu", "--events", nothing, "--agents", agents,
                      "--runs", "20")
        assert result.exit_code == 1
        assert "does not look like a kefu event log (0 of 2 lines accepted; first rejection: line 1:" in result.stderr


# ---- queue and waits -------------------------------------------------------------------------------------------

def test_a_cap_of_one_queues_a_consumer_and_times_the_wait(hand: Path, tmp_path: Path):
    """Under the routing change amy takes every consumer. With a cap of 1 and a queue, each consumer up to c6
    finds her free (c1 09:00-09:20, c2 10:00-11:40, c3 12:00-12:30, c5 13:00-13:10 and 14:00-14:10); c6 (15:00)
    holds her to the end, so c4 (23:30) queues, and amy's answer at 23:35 takes c4 out of the queue
    (taken_by_agent): one consumer queued, served after 300 s."""
    capped = _write(tmp_path / "capped.kefu", ROUTING.replace("agent amy { role admin }",
                                                              "agent amy { role admin; max_sessions 1 }")
                    + "queue { scope shop }\n")
    data = _compare_json(hand / "routing.kefu", capped, "--events", hand / "log.jsonl", "--by", "agent")
    changes = data["changes"]
    assert changes["queued"] == {"a": 0, "b": 1, "a_only": 0, "b_only": 1}
    assert changes["decisions"]["enqueue"] == {"a": 0, "b": 1, "difference": 1}
    assert changes["waits"] == {"a": {"served": 0, "mean": None, "p90": None},
                                "b": {"served": 1, "mean": 300.0, "p90": 300}}
    assert changes["sessions"]["same_agent"] == 7 and changes["routed_elsewhere"] == 0
    [amy] = [row for row in data["by_agent"] if row["agent"] == "amy"]
    assert (amy["a"]["cap"], amy["b"]["peak_load"], amy["b"]["cap"]) == (10, 2, 1)   # over the cap: taken by hand


def test_dequeue_waits_match_the_replays_decisions(tmp_path: Path):
    """The waits of the douyin sample: counted again from `kefu replay --decisions` (mean, nearest-rank p90)."""
    policy, log = SAMPLES[2]
    decisions = tmp_path / "decisions.jsonl"
    assert kefu("replay", policy, "--events", log, "--decisions", decisions, "--report", tmp_path / "r.json").exit_code == 0
    records = [json.loads(line) for line in decisions.read_text(encoding="utf-8").splitlines()]
    waits = sorted(r["waited"] for r in records if r["action"] == "assign" and "waited" in r)
    queued = {r["consumer"] for r in records if r["action"] == "enqueue"}
    data = _compare_json(policy, policy, "--events", log)
    assert data["changes"]["waits"]["a"] == {"served": len(waits), "mean": round(sum(waits) / len(waits), 6),
                                             "p90": waits[-(-9 * len(waits) // 10) - 1]}
    assert data["changes"]["queued"]["a"] == len(queued) > 0


# ---- the interval ----------------------------------------------------------------------------------------------

def test_the_t_interval_by_hand():
    # differences 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302653, half width 4.302653 / sqrt(3) = 2.484138
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and low == pytest.approx(2 - 2.484138, abs=1e-6) and high == pytest.approx(2 + 2.484138, abs=1e-6)
    assert t_interval([5.0]) == (5.0, None, None)
    assert t_interval([0.0, 0.0, 0.0]) == (0.0, 0.0, 0.0)
    assert t_quantile(1) == 12.706205 and t_quantile(120) == pytest.approx(1.979930, abs=1e-4)
    assert t_quantile(31) == pytest.approx(2.0395, abs=1e-4)   # textbook t(0.975, 31): the series past the table


def test_the_nearest_rank_percentile():
    assert percentile([], 0.9) is None
    assert percentile([7], 0.9) == 7
    assert percentile(list(range(1, 11)), 0.9) == 9   # 9 of 10 values are at or below 9
    assert percentile(list(range(1, 12)), 0.9) == 10  # ceil(9.9) = 10th value


# ---- output ----------------------------------------------------------------------------------------------------

def test_the_text_shows_the_difference_tables(hand: Path):
    result = compare_log(hand / "a.kefu", hand / "welcome.kefu", "--events", hand / "log.jsonl", "--by", "hour")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "== difference of rate, B − A in points, whole log ==" in text
    lines = text.splitlines()
    assert any(line.split() == ["effective_reply_1h", ">=", "50%", "40.0%", "(2/5)", "100.0%", "(5/5)", "+60.0"]
               for line in lines)
    assert any(line.split() == ["B", "5", "5", "100.0%", ">=", "50%", "pass", "0", "+60.0"] for line in lines)
    assert any(line.split() == ["auto", "reply", "welcome:", "sent", "0", "7", "+7"] for line in lines)
    assert "== by hour · hand-fruit ==" in text and "== by agent" not in text
    assert "the log's people answer as they did" in text


def test_the_same_inputs_give_the_same_bytes(hand: Path, tmp_path: Path):
    for fmt in ("text", "json"):
        outputs = []
        for i in range(2):
            out = tmp_path / f"{fmt}{i}"
            result = compare_log(hand / "a.kefu", hand / "routing.kefu", "--events", hand / "log.jsonl",
                          "--by", "agent", "--by", "hour", "--format", fmt, "--report", out, "--runs", "2")
            assert result.exit_code == 0, result.output
            outputs.append(out.read_bytes())
        assert outputs[0] == outputs[1] and outputs[0]


def test_the_schema_command_prints_the_shipped_schema():
    result = kefu("schema", "compare")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == SCHEMA


# ---- exit codes ------------------------------------------------------------------------------------------------

def test_policies_of_two_shops_are_refused(hand: Path, tmp_path: Path):
    other = _write(tmp_path / "other.kefu", BASE.replace('"hand-fruit"', '"other-shop"'))
    result = compare_log(hand / "a.kefu", other, "--events", hand / "log.jsonl")
    assert result.exit_code == 2
    assert 'A is shop "hand-fruit" on pinduoduo' in result.output and 'B is shop "other-shop"' in result.output


def test_policies_of_two_platforms_are_refused(hand: Path, tmp_path: Path):
    taobao = _write(tmp_path / "taobao.kefu", 'shop "hand-fruit" on taobao\n')
    assert compare_log(hand / "a.kefu", taobao, "--events", hand / "log.jsonl").exit_code == 2


def test_a_policy_with_errors_exits_1(hand: Path, tmp_path: Path):
    broken = _write(tmp_path / "broken.kefu", BASE + "assign by idle_rat\n")
    result = compare_log(hand / "a.kefu", broken, "--events", hand / "log.jsonl")
    assert result.exit_code == 1
    assert "E103" in result.output
    platform = compare_log(ROOT / "rulesets" / "platforms" / "pinduoduo.kefu", hand / "a.kefu",
                    "--events", hand / "log.jsonl")
    assert platform.exit_code == 1 and "E030" in platform.output and "not a shop policy" in platform.output


def test_standard_input_and_unknown_agents_are_usage_errors(hand: Path):
    assert compare_log(hand / "a.kefu", hand / "a.kefu", "--events", "-", input="").exit_code == 2
    result = compare_log(hand / "a.kefu", hand / "a.kefu", "--events", hand / "log.jsonl", "--agents", "robots")
    assert result.exit_code == 2
    assert "'robots' is not one of 'log', 'model'" in " ".join(result.output.replace("│", " ").split())
    result = compare_log(hand / "a.kefu", hand / "a.kefu", "--events", hand / "log.jsonl", "--model", hand / "a.kefu")
    assert result.exit_code == 2 and "--model is for --agents model" in result.output


def test_model_agents_are_the_default_and_see_a_welcome(hand: Path):
    # the default: agents answer as a model calibrated on the log itself (said on stderr)
    welcome = kefu("compare", hand / "a.kefu", hand / "welcome.kefu", "--events", hand / "log.jsonl", "--format", "json")
    assert welcome.exit_code == 0 and "no --model" in welcome.stderr
    data = json.loads(welcome.stdout)
    jsonschema.validate(data, SCHEMA)
    assert data["agents"] == "model"
    replies = data["changes"]["auto_replies"]["welcome"]
    assert replies["a"]["sent"] == 0 and replies["b"]["sent"] == 7   # the seven consumer-days, as with the log's agents
    # the welcome answers each consumer-day at once, whoever the agents are: all five are met under B
    one_hour = _metric(data, "effective_reply_1h")["b"]
    assert (one_hour["met"], one_hour["eligible"]) == (5, 5)


def test_another_shops_event_needs_shop(hand: Path, tmp_path: Path):
    mixed = _write(tmp_path / "mixed.jsonl", (hand / "log.jsonl").read_text(encoding="utf-8") + json.dumps(
        {"ts": "2026-11-12T01:00:00+08:00", "type": "message", "shop": "x", "sender": "consumer", "consumer": "z"}) + "\n")
    assert compare_log(hand / "a.kefu", hand / "a.kefu", "--events", mixed).exit_code == 2
    data = _compare_json(hand / "a.kefu", hand / "a.kefu", "--events", mixed, "--shop", "hand-fruit")
    assert data["events"]["skipped"] == 1


# ---- HTML ------------------------------------------------------------------------------------------------------

SHOP = "<script>alert(1)</script>"
AGENT = "</script><script>alert(2)</script>"


@pytest.fixture(scope="module")
def compare_page(tmp_path_factory) -> Path:
    """A page comparing a policy with no reply to one with a welcome: c1 asks at 09:00 and nobody answers, so
    under A the hour's consumer-day is missed (0 of 1), under B the welcome answers it (1 of 1)."""
    pytest.importorskip("vl_convert")
    folder = tmp_path_factory.mktemp("page")
    policy = _write(folder / "p.kefu", f'shop "{SHOP}" on pinduoduo\n')
    changed = _write(folder / "q.kefu", f'shop "{SHOP}" on pinduoduo\nagent x {{ role admin }}\neditor x\n'
                                        'reply welcome "<script>alert(3)</script>"\n')
    log = _write(folder / "log.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in [
        {"ts": "2026-11-11T08:59:00+08:00", "type": "agent_status", "shop": SHOP, "agent": AGENT, "status": "online"},
        {"ts": "2026-11-11T09:00:00+08:00", "type": "message", "shop": SHOP, "sender": "consumer", "consumer": "c1",
         "text": "在吗"},
    ]))
    out = folder / "compare.html"
    result = compare_log(policy, changed, "--events", log, "--report", out)
    assert result.exit_code == 0, result.output
    return out


def test_the_page_charts_both_policies_and_escapes_the_ids(compare_page: Path):
    text = compare_page.read_text(encoding="utf-8")
    assert SHOP not in text and AGENT not in text and "alert(3)" not in text
    assert text.count("<script") == 4   # the problem watcher, the Vega bundle, the charts' data, the drawing code
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<td>&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;</td>" in text
    assert text.count('class="chart"') == 2   # a chart per Pinduoduo metric
    assert "Content-Security-Policy" in text
    data = json.loads(text.split('id="kefu-charts">')[1].split("</script>")[0].replace("\\u003c", "<")
                      .replace("\\u003e", ">"))
    values = data[0][1]["layer"][0]["data"]["values"]
    assert [(v["policy"], v["hour"], v["rate"]) for v in values] == [("A", "09:00", 0.0), ("B", "09:00", 1.0)]


@needs_chromium
def test_the_browser_draws_the_page_from_the_file_alone(compare_page: Path, browser):
    dom, charts = drawn(browser, compare_page)
    assert len(charts) == 2 and all('data-drawn="yes"' in chart.partition(">")[0] for chart in charts)
    bars = re.findall(r'<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="bar"', dom)
    assert any(label.startswith("local hour: 09:00; rate: 100%; policy: B;") for label in bars), bars
    assert dom.count("<script") == 4


# ---- docs ------------------------------------------------------------------------------------------------------

def test_the_docs_example_is_real_output(tmp_path: Path, monkeypatch):
    """docs/compare.md's example: the Douyin sample with the presale cap raised, made by the doc's own sed line."""
    doc = (ROOT / "docs" / "compare.md").read_text(encoding="utf-8")
    example = doc.split("## Example", 1)[1]
    commands, shown = [block.split("\n", 1)[1] for block in example.split("```")[1:4:2]]
    sed, compare = commands.strip().splitlines()
    assert sed == ("sed 's/^  max_sessions 12$/  max_sessions 16/' rulesets/examples/douyin-flagship.kefu "
                   "> rulesets/examples/douyin-flagship-b.kefu")
    examples = tmp_path / "rulesets" / "examples"
    (examples / "common").mkdir(parents=True)
    (tmp_path / "samples").mkdir()
    for name in ("douyin-flagship.kefu", "common/courtesy.kefu"):
        (examples / name).write_bytes((ROOT / "rulesets" / "examples" / name).read_bytes())
    (tmp_path / "samples" / "douyin-flagship.jsonl").write_bytes((ROOT / "samples" / "douyin-flagship.jsonl").read_bytes())
    policy = (examples / "douyin-flagship.kefu").read_text(encoding="utf-8")
    assert policy.count("\n  max_sessions 12\n") == 1
    (examples / "douyin-flagship-b.kefu").write_text(policy.replace("\n  max_sessions 12\n", "\n  max_sessions 16\n"),
                                                     encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = kefu(*compare.split()[1:])
    assert result.exit_code == 0, result.output
    assert result.stdout == shown
