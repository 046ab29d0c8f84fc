"""`kefu replay` through the CLI: outputs, bad lines, determinism, exit codes, the fixed interface."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pytest

from cli_helpers import kefu
from engine.interface import DecisionRecord, Report

POLICY = """\
shop "s1" on pinduoduo
group presale { agents amy, bob; max_sessions 2 }
agent amy role admin
offline -> amy
reply keyword "发票" -> "支持电子发票"
"""

EVENTS = [
    {"ts": "2026-11-11T08:59:00+08:00", "type": "agent_status", "shop": "s1", "agent": "bob", "status": "online"},
    {"ts": "2026-11-11T09:00:00+08:00", "type": "message", "shop": "s1", "sender": "consumer", "consumer": "c1", "text": "能开发票吗"},
    {"ts": "2026-11-11T09:00:30+08:00", "type": "message", "shop": "s1", "sender": "agent", "agent": "amy", "consumer": "c1", "text": "可以"},
    {"ts": "2026-11-11T09:05:00+08:00", "type": "message", "shop": "s1", "sender": "consumer", "consumer": "c2", "text": "在吗"},
]


@pytest.fixture
def files(tmp_path):
    policy = tmp_path / "shop.kefu"
    policy.write_text(POLICY, encoding="utf-8")
    log = tmp_path / "events.jsonl"
    lines = [orjson.dumps(e) for e in EVENTS]
    lines.insert(2, b'{"ts": "2026-11-11T09:00:10+08:00", "type": "message", "sender": "consumer"}')
    lines.insert(3, b"this is not json")
    log.write_bytes(b"\n".join(lines) + b"\n")
    return policy, log


def run(*args, input=None):
    return kefu(*args, input=input)


def test_replay_writes_report_and_decisions(files, tmp_path):
    policy, log = files
    decisions, report = tmp_path / "d.jsonl", tmp_path / "r.json"
    result = run("replay", policy, "--events", log, "--decisions", decisions, "--report", report, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text(encoding="utf-8"))
    Report.model_validate(data)
    assert data["events"] == {"read": 6, "accepted": 4, "rejected": 2, "skipped": 0}
    records = [json.loads(line) for line in decisions.read_text(encoding="utf-8").splitlines()]
    for record in records:
        DecisionRecord.model_validate(record)
    # c1 → bob (the only online agent), keyword reply; amy answered in the log (differs);
    # c2 → bob too (cap 2); Pinduoduo's default auto-end closes c1 30 min after amy's 09:00:30 reply.
    assert [(r["action"], r["consumer"], r["agent"]) for r in records] == [
        ("assign", "c1", "bob"), ("auto_reply", "c1", None), ("differs", "c1", "bob"), ("assign", "c2", "bob"),
        ("close_session", "c1", "bob"),
    ]
    assert records[-1]["ts"] == "2026-11-11T09:30:30+08:00" and records[-1]["line"] is None
    assert records[1]["rule"]["line"] == 5 and records[1]["rule"]["file"].endswith("shop.kefu")
    assert records[2]["actual_agent"] == "amy"
    # effective_reply_1h: c1 answered at once by the keyword reply, c2 never: 1 of 2.
    row = next(r for r in data["metrics"] if r["metric"] == "effective_reply_1h")
    assert (row["eligible"], row["met"], row["rate"], row["passed"], row["penalty"]) == (2, 1, 0.5, True, 0)
    assert data["assignment"] == {"compared": 1, "agreed": 0, "differs": 1, "agreement": 0.0}


def test_bad_lines_are_reported_with_line_numbers(files):
    policy, log = files
    result = run("replay", policy, "--events", log)
    assert result.exit_code == 0
    assert f"{log}:3: rejected: " in result.output and 'missing field "consumer"' in result.output
    assert f"{log}:4: rejected: not JSON" in result.output
    assert "Traceback" not in result.output


def test_strict_stops_at_first_bad_line(files):
    policy, log = files
    result = run("replay", policy, "--events", log, "--strict")
    assert result.exit_code == 1
    assert ":3:" in result.output


def test_replay_is_deterministic_for_a_seed(tmp_path):
    # The Douyin sample's policy breaks ties at random (`assign by idle_rate, ties random`), so the
    # seed decides: the same seed gives the same bytes, another seed other assignments.
    root = Path(__file__).resolve().parent.parent
    policy, log = root / "rulesets/examples/douyin-flagship.kefu", root / "samples/douyin-flagship.jsonl"
    outputs = []
    for n, seed in enumerate((7, 7, 8)):
        d, r = tmp_path / f"d{n}.jsonl", tmp_path / f"r{n}.json"
        assert run("replay", policy, "--events", log, "--decisions", d, "--report", r, "--format", "json",
                   "--seed", seed).exit_code == 0
        outputs.append((d.read_bytes(), r.read_bytes()))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] != outputs[2][0]


def test_gzip_and_stdin(files, tmp_path):
    policy, log = files
    gz = tmp_path / "events.jsonl.gz"
    gz.write_bytes(gzip.compress(log.read_bytes()))
    a = run("replay", policy, "--events", gz, "--format", "json")
    b = run("replay", policy, "--events", "-", "--format", "json", input=log.read_bytes())
    assert a.exit_code == 0 and b.exit_code == 0
    report_a = json.loads(a.stdout)
    report_b = json.loads(b.stdout)
    assert report_a["metrics"] == report_b["metrics"] and report_a["events"] == report_b["events"]


def test_platform_alone_sends_no_auto_replies(files):
    _, log = files
    result = run("replay", "--platform", "pinduoduo", "--events", log, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["policy"] is None and "auto_reply" not in data["decisions"]
    # without the keyword reply nobody answers c1 within the hour from a counted sender … except amy at 09:00:30
    row = next(r for r in data["metrics"] if r["metric"] == "effective_reply_1h")
    assert (row["eligible"], row["met"]) == (2, 1)


@pytest.mark.parametrize("args, code", [
    (["--events", "missing.jsonl"], 2),
    ([], 2),
])
def test_usage_and_io_errors(files, args, code):
    policy, _ = files
    result = run("replay", policy, *args)
    assert result.exit_code == code
    assert "Traceback" not in result.output


def test_both_policy_and_platform_is_a_usage_error(files):
    policy, log = files
    result = run("replay", policy, "--platform", "douyin", "--events", log)
    assert result.exit_code == 2


def test_unknown_platform_suggests(files):
    _, log = files
    result = run("replay", "--platform", "douyn", "--events", log)
    assert result.exit_code == 2 and "douyin" in result.output


def test_broken_policy_exits_1_with_diagnostics(tmp_path, files):
    _, log = files
    bad = tmp_path / "bad.kefu"
    bad.write_text('shop "s" on douyin\nassign by idle_rat\n', encoding="utf-8")
    result = run("replay", bad, "--events", log)
    assert result.exit_code == 1 and "E103" in result.output


@pytest.mark.parametrize("name", ["report", "decision"])
def test_exported_interface_schemas_are_current(name):
    from pathlib import Path

    shipped = Path(__file__).resolve().parent.parent / "docs" / f"{name}.schema.json"
    result = run("schema", name)
    assert result.exit_code == 0
    assert json.loads(shipped.read_text(encoding="utf-8")) == json.loads(result.stdout)


def test_replay_pauses_the_collector_and_restores_it(tmp_path):
    import gc
    import io

    from engine.loader import Loader
    from engine.replay import replay

    (tmp_path / "s.kefu").write_text('shop "s" on douyin\n', encoding="utf-8")
    policy = Loader().load(tmp_path / "s.kefu").policy
    log = b'{"ts": 1794358805, "type": "message", "sender": "consumer", "consumer": "c1"}\n'
    during = []   # the collector's state while the replay runs, seen from its reject callback
    result = replay(policy, io.BytesIO(b"not json\n" + log), on_reject=lambda r: during.append(gc.isenabled()))
    assert result.stats.accepted == 1 and during == [False]
    assert gc.isenabled()
    gc.disable()
    try:
        replay(policy, io.BytesIO(log))
        assert not gc.isenabled()   # left as the caller had it
    finally:
        gc.enable()


def test_a_ten_year_timer_on_the_last_day_accepted_still_falls_on_a_date(tmp_path):
    # Taobao lets a shop set its session end; the longest is 3650d. Answered on 9989-12-31 12:00
    # (+08:00), the session ends 3650 days later: 9999-12-29 12:00.
    policy, log, decisions = tmp_path / "late.kefu", tmp_path / "late.jsonl", tmp_path / "d.jsonl"
    policy.write_text('shop "s" on taobao\nagent A { max_sessions 5 }\nend session after 3650d\n', encoding="utf-8")
    ts = "9989-12-31T12:00:00+08:00"
    log.write_text(
        f'{{"ts": "{ts}", "type": "agent_status", "agent": "A", "status": "online"}}\n'
        f'{{"ts": "{ts}", "type": "message", "sender": "consumer", "consumer": "c1"}}\n'
        f'{{"ts": "{ts}", "type": "message", "sender": "agent", "agent": "A", "consumer": "c1"}}\n', encoding="utf-8")
    assert run("replay", policy, "--events", log, "--decisions", decisions, "--report", tmp_path / "r.txt").exit_code == 0
    closed = [json.loads(line) for line in decisions.read_text(encoding="utf-8").splitlines()][-1]
    assert (closed["action"], closed["ts"]) == ("close_session", "9999-12-29T12:00:00+08:00")


def test_decisions_to_standard_output_need_a_report_file(files, tmp_path):
    policy, log = files
    assert run("replay", policy, "--events", log, "--decisions", "-").exit_code == 2
    result = run("replay", policy, "--events", log, "--decisions", "-", "--report", tmp_path / "r.txt")
    assert result.exit_code == 0
    assert [json.loads(line)["action"] for line in result.stdout.splitlines()][:1] == ["assign"]


def test_decisions_may_not_overwrite_the_log(files):
    policy, log = files
    before = log.read_bytes()
    result = run("replay", policy, "--events", log, "--decisions", log)
    assert result.exit_code == 2 and "would erase the log" in result.stderr
    assert log.read_bytes() == before


def test_a_decisions_file_that_cannot_be_written_is_named(files, tmp_path):
    policy, log = files
    result = run("replay", policy, "--events", log, "--decisions", "/dev/full")
    assert result.exit_code == 2
    assert "error: cannot write decisions /dev/full: No space left on device" in result.stderr


@pytest.mark.parametrize("seed, code", [
    ("100000000000000000000000", 2),     # used to end in a traceback: orjson writes integers up to 64 bits
    ("-9223372036854775809", 2),
    ("18446744073709551615", 0),
    ("-9223372036854775808", 0),
])
def test_a_seed_that_does_not_fit_the_report_is_a_usage_error(files, seed, code):
    policy, log = files
    result = run("replay", policy, "--events", log, "--format", "json", "--seed", seed)
    assert result.exit_code == code, result.output
    if code == 0:
        assert json.loads(result.stdout)["seed"] == int(seed)
    else:
        assert "--seed" in result.output


def test_text_report_escapes_control_characters_of_a_shop_id(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_bytes(b'{"ts":"2026-11-11T09:00:00+08:00","type":"message","sender":"consumer","consumer":"c1",'
                    b'"shop":"evil\\u001b[2J\\nshop\\u0000\xe5\xba\x97"}\n')
    result = kefu("replay", "--platform", "douyin", "--events", str(log))
    assert result.exit_code == 0
    assert "== evil␛[2J␊shop␀店 · 2026-11-11 ==" in result.stdout   # CJK kept, controls shown as in diagnostics
    assert "\x1b" not in result.stdout and "\x00" not in result.stdout
    as_json = kefu("replay", "--platform", "douyin", "--events", str(log), "--format", "json")
    assert json.loads(as_json.stdout)["metrics"][0]["shop"] == "evil\x1b[2J\nshop\x00店"   # JSON keeps the id


def test_no_output_may_overwrite_an_input_or_another_output(files, tmp_path):
    policy, log = files
    kept = {path: path.read_bytes() for path in (policy, log)}
    for args, message in [
        (("--report", log), f"error: --report {log} is the log: writing it would erase the log"),
        (("--decisions", policy, "--report", tmp_path / "r.txt"),
         f"error: --decisions {policy} is the policy: writing it would erase the policy"),
        (("--decisions", tmp_path / "same", "--report", tmp_path / "same"),
         f"error: --report {tmp_path / 'same'} is --decisions too: give each its own file"),
    ]:
        result = run("replay", policy, "--events", log, *args)
        assert (result.exit_code, result.stderr.strip()) == (2, message)
    assert {path: path.read_bytes() for path in kept} == kept
    assert not (tmp_path / "same").exists()


def two_shops_log(tmp_path) -> Path:
    """The fixture's s1 events with s2's interleaved: s2's c9 writes at 09:01 and 09:06 (two lines)."""
    events = list(EVENTS)
    events.insert(2, {"ts": "2026-11-11T09:01:00+08:00", "type": "message", "shop": "s2", "sender": "consumer",
                      "consumer": "c9", "text": "在吗"})
    events.append({"ts": "2026-11-11T09:06:00+08:00", "type": "message", "shop": "s2", "sender": "consumer",
                   "consumer": "c9", "text": "人呢"})
    log = tmp_path / "two.jsonl"
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return log


def test_a_shop_policy_refuses_another_shops_event(files, tmp_path):
    policy, _ = files
    log = two_shops_log(tmp_path)
    report = tmp_path / "r.json"
    result = run("replay", policy, "--events", log, "--report", report)
    assert result.exit_code == 2
    assert (f'error: {log}:3: an event of shop "s2", but the policy is for shop "s1": the log holds other shops\' '
            "events; replay one shop with --shop ID (the others are skipped)") in result.stderr
    assert not report.exists()   # no report scored from part of the log


def test_shop_selects_one_shops_events_and_counts_the_rest(files, tmp_path):
    policy, _ = files
    log = two_shops_log(tmp_path)
    s1_only = tmp_path / "s1.jsonl"
    s1_only.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in EVENTS))
    result = run("replay", policy, "--events", log, "--shop", "s1", "--format", "json")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("skipped") == 1
    assert f'{log}: 2 events of other shops than "s1" skipped (shops "s2")' in result.stderr
    data = json.loads(result.stdout)
    assert data["events"] == {"read": 6, "accepted": 6, "rejected": 0, "skipped": 2}
    # scored exactly as the log holding s1's four events alone
    alone = json.loads(run("replay", policy, "--events", s1_only, "--format", "json").stdout)
    assert alone["events"] == {"read": 4, "accepted": 4, "rejected": 0, "skipped": 0}
    assert {r["shop"] for r in data["metrics"]} == {"s1"}
    assert (data["metrics"], data["decisions"], data["days"]) == (alone["metrics"], alone["decisions"], alone["days"])
    text = run("replay", policy, "--events", log, "--shop", "s1").stdout
    assert "events: 6 read, 6 accepted, 0 rejected, 2 skipped (other shops)" in text


def test_a_platform_replay_scores_every_shop_on_its_own(tmp_path):
    result = run("replay", "--platform", "pinduoduo", "--events", two_shops_log(tmp_path), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["events"]["skipped"] == 0
    # s1: c1 (answered by amy at 09:00:30) and c2 (never): 1 of 2; s2: c9 at 09:01, never answered: 0 of 1
    rows = {r["shop"]: (r["eligible"], r["met"]) for r in data["metrics"] if r["metric"] == "effective_reply_1h"}
    assert rows == {"s1": (2, 1), "s2": (1, 0)}


def test_shop_narrows_a_platform_replay_to_one_shop(tmp_path):
    result = run("replay", "--platform", "pinduoduo", "--events", two_shops_log(tmp_path), "--shop", "s2",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["events"] == {"read": 6, "accepted": 6, "rejected": 0, "skipped": 4}
    assert {(r["shop"], r["eligible"], r["met"]) for r in data["metrics"]} == {("s2", 1, 0)}
