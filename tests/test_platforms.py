"""A platform is one file: a made-up fourth platform is checked, replayed and generated for with no Python.

The figures are worked out by hand from the log below (see each comment), not copied from output.
"""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest

from cli_helpers import kefu
from engine import ir
from engine.events import ReadStats, Rejected, Vocabulary, parse_line, read_events, shipped_vocabulary
from engine.loader import Loader
from engine.synth import generate_log

ROOT = Path(__file__).resolve().parent.parent

LANMAO = """\
# A made-up fourth platform: its own pages, senders, a 30-second metric, other caps.
platform lanmao "蓝猫商城"

timezone Asia/Shanghai

pages home "首页", live_room "直播间", after_sale "售后页"
senders agent "人工客服", bot "智能助手"

metric reply_30s "30秒回复率" {
  unit question
  window 00:00-24:00
  deadline 30s
  clock starts at question
  effective agent, bot
  threshold >= 80%
}

allow page_routing, queue, session_end, transfer
limit max_sessions 1..5

default assign by least_loaded ties round_robin
default end session after 20m
generate { hand_end 50% }
"""

SHOP = """\
shop "blue-cat" on lanmao

group live "直播客服" { agents ann, ben; max_sessions 5 }
group service "售后" { agents cid; max_sessions 3 }
route {
  page live_room -> live
  page after_sale -> service
  default -> live
}
"""


def _message(ts: str, sender: str, consumer: str, **fields) -> dict:
    return {"ts": f"2026-11-11T{ts}+08:00", "type": "message", "sender": sender, "consumer": consumer, **fields}


LOG = [
    {"ts": "2026-11-11T10:00:00+08:00", "type": "agent_status", "agent": "ann", "status": "online"},
    {"ts": "2026-11-11T10:00:00+08:00", "type": "agent_status", "agent": "cid", "status": "online"},
    _message("10:00:10", "consumer", "c1", page="live_room", text="有货吗"),      # 3: question 1 (c1)
    _message("10:00:30", "agent", "c1", agent="ann", text="有的"),               # 4: 20 s: met
    _message("10:01:00", "consumer", "c2", page="after_sale", text="我要退款"),  # 5: question 2 (c2)
    _message("10:01:25", "bot", "c2", text="已为您转人工"),                        # 6: 25 s, bot is effective: met
    _message("10:01:26", "robot", "c2", text="您好"),                            # 7: no sender robot on lanmao
    _message("10:02:00", "consumer", "c1", text="什么时候发货"),                  # 8: question 3 (c1)
    _message("10:02:40", "agent", "c1", agent="ann", text="今天"),               # 9: 40 s: missed
    _message("10:03:00", "consumer", "c3", page="home", text="在吗"),            # 10: question 4 (c3)
    _message("10:03:10", "consumer", "c3", text="亲?"),                          # 11: same question
    _message("10:03:29", "agent", "c3", agent="ann", text="在的"),               # 12: 29 s from 10:03:00: met
    _message("10:04:00", "consumer", "c4", page="shop_home", text="你好"),       # 13: a Taobao page
    _message("10:05:00", "consumer", "c5", page="live_room", text="能便宜点吗"),  # 14: question 5, never answered
]


@pytest.fixture
def lanmao(tmp_path, monkeypatch):
    """The fourth platform in plat/, a shop on it and its log, in the current directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plat").mkdir()
    (tmp_path / "plat" / "lanmao.kefu").write_text(LANMAO, encoding="utf-8")
    (tmp_path / "shop.kefu").write_text(SHOP, encoding="utf-8")
    (tmp_path / "day.jsonl").write_bytes(b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in LOG))
    return tmp_path


def test_a_fourth_platform_checks_clean(lanmao):
    result = kefu("check", "--platform-dir", "plat", "shop.kefu")
    assert result.exit_code == 0, result.output


def test_the_fourth_platforms_caps_are_its_own(lanmao):
    # lanmao allows 1..5 sessions per agent: a group of 6 is E200 (taobao would allow it)
    (lanmao / "shop.kefu").write_text(SHOP.replace("max_sessions 5", "max_sessions 6"), encoding="utf-8")
    result = kefu("check", "-f", "json", "--platform-dir", "plat", "shop.kefu")
    assert result.exit_code == 1
    assert [d["code"] for d in json.loads(result.output)["diagnostics"]] == ["E200"]


def test_a_log_on_the_fourth_platform_replays_with_its_pages_senders_and_metric(lanmao):
    result = kefu("replay", "--platform-dir", "plat", "shop.kefu", "-e", "day.jsonl", "-f", "json",
                  "--report", "report.json", "--decisions", "decisions.jsonl")
    assert result.exit_code == 0, result.output
    # the two lines that name what lanmao does not have are rejected, located and counted; nothing else
    assert 'day.jsonl:7: rejected: unknown sender "robot" for platform lanmao (did you mean "bot"?)' in result.output
    assert 'day.jsonl:13: rejected: unknown page "shop_home" for platform lanmao (did you mean "home"?)' in result.output
    assert result.output.count("rejected:") == 2
    report = json.loads((lanmao / "report.json").read_text(encoding="utf-8"))
    assert report["platform"] == "lanmao"
    assert report["events"] == {"read": 14, "accepted": 12, "rejected": 2, "skipped": 0}
    # questions: c1 20 s met, c2 25 s (bot) met, c1 40 s missed, c3 29 s met, c5 never answered: 3 of 5
    [row] = report["metrics"]
    assert (row["metric"], row["eligible"], row["met"], row["missed"], row["rate"], row["passed"]) == \
        ("reply_30s", 5, 3, 2, 0.6, False)
    decisions = [json.loads(line) for line in (lanmao / "decisions.jsonl").read_text(encoding="utf-8").splitlines()]
    # c1 and c5 from live_room and c3 from home (the default route) go to live (ann: ben is offline),
    # c2 from after_sale to service (cid); c4's line was rejected, so c4 is never assigned
    assigned = [(d["consumer"], d["agent"]) for d in decisions if d["action"] == "assign"]
    assert assigned == [("c1", "ann"), ("c2", "cid"), ("c3", "ann"), ("c5", "ann")]


def _generated(lanmao, hand_end: str) -> list:
    """The events `generate_log` writes for the shop on lanmao with this hand_end rate, all accepted."""
    (lanmao / "plat" / "lanmao.kefu").write_text(LANMAO.replace("hand_end 50%", f"hand_end {hand_end}"), encoding="utf-8")
    result = Loader([lanmao / "plat"]).load(lanmao / "shop.kefu")
    assert result.policy is not None, result.diagnostics
    out = io.BytesIO()
    generate_log(result.policy, day=date(2026, 11, 11), consumers=60, seed=3, out=out)
    stats, rejected = ReadStats(), []
    events = list(read_events(io.BytesIO(out.getvalue()), stats=stats, on_reject=rejected.append,
                              vocabulary=Vocabulary.of_platform(result.policy.platform)))
    assert rejected == [] and stats.accepted == len(events) > 0
    return events


def test_the_generator_writes_the_fourth_platforms_pages_and_senders(lanmao):
    events = _generated(lanmao, "50%")
    # lanmao declares no robot, system or assistant: the generator writes none of their messages
    assert {e.sender for e in events if e.type == "message"} == {"consumer", "agent"}
    assert {e.page for e in events if e.page is not None} == {"home", "live_room", "after_sale"}


def test_the_generator_takes_its_hand_end_rate_from_the_platform_file(lanmao):
    # an agent ends a served conversation by hand when the consumer wrote last, else at the hand_end rate
    def by_hand(rate: str) -> int:
        return sum(1 for e in _generated(lanmao, rate) if e.type == "session_end" and e.agent is not None)

    assert by_hand("0%") < by_hand("100%")


def test_without_a_platform_the_reader_takes_the_shipped_platforms_names():
    shipped = shipped_vocabulary()
    loader = Loader()
    for name, path in loader.available_platforms().items():
        platform = loader.load_platform_file(path, name).platform
        assert platform is not None
        assert {p.name for p in platform.pages} <= set(shipped.pages)
        assert {s.name for s in platform.senders} <= set(shipped.senders)
    assert "consumer" in shipped.all_senders() and "consumer" not in shipped.senders


def test_a_platforms_vocabulary_decides_a_line_and_names_its_senders():
    platform = ir.Platform(name="lanmao", pages=[ir.Labelled(name="home")],
                           senders=[ir.Labelled(name="agent"), ir.Labelled(name="bot")])
    vocabulary = Vocabulary.of_platform(platform)
    line = b'{"ts": 1, "type": "message", "sender": "zzz", "consumer": "c"}'
    assert parse_line(line, 1, vocabulary=vocabulary) == \
        Rejected(1, 'unknown sender "zzz" for platform lanmao (its senders: consumer, agent, bot)')
    # the same line read by read_events (the fast path declines it, the original path says why)
    stats, rejected = ReadStats(), []
    assert list(read_events(io.BytesIO(line + b"\n"), stats=stats, on_reject=rejected.append, vocabulary=vocabulary)) == []
    assert rejected == [parse_line(line, 1, vocabulary=vocabulary)] and stats.rejected == 1
    # a bot message is an event on lanmao, and not on the shipped platforms
    bot = b'{"ts": 1, "type": "message", "sender": "bot", "consumer": "c"}'
    assert [e.sender for e in read_events(io.BytesIO(bot), stats=ReadStats(), vocabulary=vocabulary)] == ["bot"]
    assert parse_line(bot, 1) == Rejected(1, 'unknown sender "bot" (did you mean "robot"?)')


@pytest.mark.parametrize("senders, generate, code", [
    ("consumer, agent", "", "E034"),
    ("agent, robot", "generate { robots 10% }", "E035"),
    ("agent, robot", "generate { robot 120% }", "E036"),
    ("agent", "generate { robot 10%; hand_end 30% }", "E037"),
    ("agent", "generate { robot 0%; system 0%; assistant 0%; hand_end 100% }", None),
    ("robot", "", "E038"),
])
def test_senders_and_generate_rates_are_checked(tmp_path, senders, generate, code):
    (tmp_path / "acme.kefu").write_text(f"platform acme\nsenders {senders}\n{generate}\n", encoding="utf-8")
    result = Loader().load(tmp_path / "acme.kefu", display="acme.kefu")
    assert [d.code for d in result.diagnostics] == ([code] if code else [])


def test_a_shop_cannot_set_generate_rates(load_text):
    result = load_text('shop "s" on taobao\ngenerate { robot 10% }\n')
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("E032", 2)]


def test_the_shipped_rates_are_the_platform_files(tmp_path):
    # the rates the samples were generated with (engine/synth.py before they became data)
    loader = Loader()
    rates = {}
    for name in ("taobao", "pinduoduo", "douyin"):
        platform, _, _ = loader.platform(ir.Ref(name=name))
        assert platform is not None
        rates[name] = {r.name.name: r.value for r in platform.generate}
    assert rates == {
        "taobao": {"robot": 0.18, "system": 0.04, "assistant": 0.05, "hand_end": 0.15},
        "pinduoduo": {"robot": 0.25, "system": 0.04, "assistant": 0.01, "hand_end": 0.2},
        "douyin": {"robot": 0.06, "system": 0.04, "assistant": 0.01, "hand_end": 0.6},
    }


# ---- rule.file: a path a user can open ---------------------------------------------------------------

def test_platform_rules_name_the_platform_file_as_given(lanmao):
    result = kefu("replay", "--platform-dir", "plat", "shop.kefu", "-e", "day.jsonl", "--decisions", "decisions.jsonl")
    assert result.exit_code == 0, result.output
    decisions = [json.loads(line) for line in (lanmao / "decisions.jsonl").read_text(encoding="utf-8").splitlines()]
    # assignments follow the shop's routes (lines 6, 7, and line 8 for the `default ->` route);
    # the sessions of c1 and c3 end 20 minutes after ann's last reply: `default end session after 20m`, line 22
    assert [(d["action"], d["rule"]) for d in decisions] == [
        ("assign", {"file": "shop.kefu", "line": 6}), ("assign", {"file": "shop.kefu", "line": 7}),
        ("assign", {"file": "shop.kefu", "line": 8}), ("assign", {"file": "shop.kefu", "line": 6}),
        ("close_session", {"file": "plat/lanmao.kefu", "line": 22}),
        ("close_session", {"file": "plat/lanmao.kefu", "line": 22})]


def test_shop_rules_are_relative_to_the_policy_and_shipped_platform_rules_are_the_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shops" / "common").mkdir(parents=True)
    (tmp_path / "shops" / "common" / "words.kefu").write_text('reply keyword "发票" -> "支持电子发票"\n', encoding="utf-8")
    (tmp_path / "shops" / "s.kefu").write_text('shop "s" on douyin\ninclude "common/words.kefu"\nagent amy { max_sessions 5 }\n',
                                               encoding="utf-8")
    log = [{"ts": "2026-11-11T09:00:00+08:00", "type": "agent_status", "agent": "amy", "status": "online"},
           _message("09:01:00", "consumer", "c1", text="能开发票吗")]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in log), encoding="utf-8")
    result = kefu("replay", "shops/s.kefu", "-e", "log.jsonl", "--decisions", "decisions.jsonl")
    assert result.exit_code == 0, result.output
    decisions = [json.loads(line) for line in (tmp_path / "decisions.jsonl").read_text(encoding="utf-8").splitlines()]
    # Douyin's default assignment (the line of `default assign …`, counted in the shipped file) and the
    # include's keyword reply (its line 1, the include's path relative to shops/)
    douyin = (ROOT / "rulesets" / "platforms" / "douyin.kefu").read_text(encoding="utf-8").splitlines()
    assign_line = next(i for i, line in enumerate(douyin, 1) if line.startswith("default assign"))
    assert {(d["action"], d["rule"]["file"], d["rule"]["line"]) for d in decisions if d["rule"]} >= {
        ("assign", "douyin.kefu", assign_line), ("auto_reply", "common/words.kefu", 1)}
    assert not [d for d in decisions if d["rule"] and d["rule"]["file"].startswith(("shops/", "rulesets/"))]


def test_kefu_generate_writes_a_log_of_the_fourth_platform_that_replays_clean(lanmao):
    result = kefu("generate", "--platform-dir", "plat", "shop.kefu", "--out", "gen.jsonl", "--consumers", "30")
    assert result.exit_code == 0, result.output
    result = kefu("replay", "--platform-dir", "plat", "shop.kefu", "-e", "gen.jsonl", "-f", "json", "--report", "r.json")
    assert result.exit_code == 0, result.output
    events = json.loads((lanmao / "r.json").read_text(encoding="utf-8"))["events"]
    assert events["rejected"] == 0 and events["accepted"] == events["read"] > 0
    assert kefu("generate", "--platform-dir", "nowhere", "shop.kefu").exit_code == 2
