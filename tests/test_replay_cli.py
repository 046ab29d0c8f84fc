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
    ("0", 0),
    ("-9223372036854775808", 2),         # random.Random(-n) is random.Random(n): a negative seed is refused
    ("-5", 2),
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


# ---- outputs: never over an input, whole or not at all, opened before the replay (docs/replay.md) ----------

def test_negative_seeds_are_refused_for_generate_too(files, tmp_path):
    policy, _ = files
    result = run("generate", policy, "--out", tmp_path / "g.jsonl", "--seed", "-1")
    assert result.exit_code == 2 and "--seed" in result.output and not (tmp_path / "g.jsonl").exists()


def _kefu_process(*args, stdin):
    """`kefu` in a process of its own, its standard input redirected from a file (as `< log.jsonl` does)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)], stdin=stdin, capture_output=True,
                          text=True, cwd=root)


@pytest.mark.parametrize("option", ["--decisions", "--report"])
def test_an_output_naming_the_file_on_standard_input_is_refused(files, tmp_path, option):
    policy, log = files
    before = log.read_bytes()
    link = tmp_path / "link.jsonl"
    link.symlink_to(log)
    for target in (log, link):
        other = ("--report", tmp_path / "r.txt") if option == "--decisions" else ()
        with log.open("rb") as stdin:
            result = _kefu_process("replay", policy, "--events", "-", option, target, *other, stdin=stdin)
        assert (result.returncode, result.stderr) == (2, f"error: {option} {target} is the log: "
                                                         "writing it would erase the log\n")
        assert log.read_bytes() == before and not (tmp_path / "r.txt").exists()
    with log.open("rb") as stdin:   # another file is fine: the log on stdin is replayed
        result = _kefu_process("replay", policy, "--events", "-", "--report", tmp_path / "r.json", stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["events"]["read"] == 6


def test_an_output_naming_an_included_snippet_or_the_platform_file_is_refused(files, tmp_path):
    _, log = files
    shop = tmp_path / "shop"
    (shop / "parts").mkdir(parents=True)
    (shop / "parts" / "staff.kefu").write_text("agent amy role admin\n", encoding="utf-8")
    (shop / "p.kefu").write_text('shop "s1" on pinduoduo\ninclude "parts/staff.kefu"\n', encoding="utf-8")
    platforms = tmp_path / "platforms"
    platforms.mkdir()
    shipped = Path(__file__).resolve().parent.parent / "rulesets" / "platforms" / "pinduoduo.kefu"
    (platforms / "pinduoduo.kefu").write_bytes(shipped.read_bytes())
    kept = {path: path.read_bytes() for path in (shop / "parts" / "staff.kefu", platforms / "pinduoduo.kefu")}
    snippet, platform_file = shop / "parts" / "staff.kefu", platforms / "pinduoduo.kefu"
    for args, message in [
        (("--report", snippet), f"--report {snippet} is an included snippet: writing it would erase an included snippet"),
        (("--decisions", platform_file), f"--decisions {platform_file} is the platform file: "
                                         "writing it would erase the platform file"),
    ]:
        result = run("replay", shop / "p.kefu", "--events", log, "--platform-dir", platforms, *args)
        assert (result.exit_code, result.stderr) == (2, f"error: {message}\n")
    result = run("replay", "--platform", "pinduoduo", "--events", log, "--platform-dir", platforms,
                 "--report", platform_file)
    assert result.exit_code == 2 and "is the platform file" in result.stderr
    result = run("generate", shop / "p.kefu", "--out", snippet)
    assert (result.exit_code, result.stderr) == (2, f"error: --out {snippet} is an included snippet: "
                                                    "writing it would erase an included snippet\n")
    assert {path: path.read_bytes() for path in kept} == kept


def test_the_loader_names_every_file_it_read(tmp_path):
    from engine.loader import Loader
    from engine.resources import platforms_dir

    (tmp_path / "a.kefu").write_text('include "b.kefu"\n', encoding="utf-8")
    (tmp_path / "b.kefu").write_text("agent amy role admin\n", encoding="utf-8")
    (tmp_path / "p.kefu").write_text('shop "s" on douyin\ninclude "a.kefu"\n', encoding="utf-8")
    loader = Loader()
    for _ in range(2):   # the platform file is read once, and named for every policy loaded after
        result = loader.load(tmp_path / "p.kefu")
        assert result.policy is not None
        assert result.inputs == [("the policy", tmp_path / "p.kefu"),
                                 ("an included snippet", tmp_path / "a.kefu"),
                                 ("an included snippet", tmp_path / "b.kefu"),
                                 ("the platform file", platforms_dir() / "douyin.kefu")]


def test_two_outputs_may_both_be_dev_null(files):
    policy, log = files   # as the memory benchmark runs it: nothing is erased by writing a device
    result = run("replay", policy, "--events", log, "--decisions", "/dev/null", "--report", "/dev/null")
    assert result.exit_code == 0, result.output


def _outputs_before(tmp_path):
    decisions, report = tmp_path / "d.jsonl", tmp_path / "r.json"
    decisions.write_bytes(b'{"an": "earlier run"}\n')
    report.write_bytes(b'{"earlier": true}\n')
    return decisions, report, {p.name: p.read_bytes() for p in tmp_path.iterdir()}


def test_a_failed_run_leaves_the_previous_outputs_whole(files, tmp_path):
    policy, log = files
    out = tmp_path / "out"
    out.mkdir()
    decisions, report, before = _outputs_before(out)
    # --strict stops at line 3, after decisions were written for the lines before it
    result = run("replay", policy, "--events", log, "--strict", "--decisions", decisions, "--report", report)
    assert result.exit_code == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before   # no temporary file left either
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(log.read_bytes() * 50)[:300])
    result = run("replay", policy, "--events", cut, "--decisions", decisions, "--report", report)
    assert result.exit_code == 2 and f"error: cannot read events {cut}: " in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    result = run("replay", policy, "--events", log, "--decisions", decisions, "--report", report)
    assert result.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["d.jsonl", "r.json"]
    assert json.loads(report.read_text(encoding="utf-8"))["events"]["read"] == 6
    assert len(decisions.read_bytes().splitlines()) == 5


def test_an_interrupted_run_leaves_the_previous_outputs_whole(files, tmp_path, monkeypatch):
    import engine.replay

    policy, log = files
    decisions, report, before = _outputs_before(tmp_path)

    def interrupted(policy, stream, *, decisions_out, **kw):
        decisions_out.write(b"half a line")
        raise KeyboardInterrupt

    monkeypatch.setattr(engine.replay, "replay", interrupted)
    result = run("replay", policy, "--events", log, "--decisions", decisions, "--report", report)
    assert result.exit_code == 130   # Ctrl-C
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("where", ["missing", "file", "directory"])
def test_an_output_that_cannot_be_written_is_refused_before_the_log_is_read(files, tmp_path, monkeypatch, where):
    import engine.replay

    policy, log = files
    monkeypatch.setattr(engine.replay, "replay", lambda *a, **kw: pytest.fail("the replay started"))
    (tmp_path / "plain").write_text("x", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    target, reason = {"missing": (tmp_path / "no" / "r.txt", "No such file or directory"),
                      "file": (tmp_path / "plain" / "r.txt", "Not a directory"),
                      "directory": (tmp_path / "folder", "Is a directory")}[where]
    for option in ("--decisions", "--report"):
        what = option.lstrip("-")
        result = run("replay", policy, "--events", "-", option, target, input=log.read_bytes())
        assert (result.exit_code, result.stderr) == (2, f"error: cannot write {what} {target}: {reason}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "folder", "plain", "shop.kefu"]


def test_generate_writes_its_log_whole_or_not_at_all(files, tmp_path, monkeypatch):
    import engine.synth

    policy, _ = files
    out = tmp_path / "g.jsonl.gz"
    out.write_bytes(b"an earlier log")

    def failing(*args, out, **kw):
        out.write(b'{"ts": 1}\n')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine.synth, "generate_log", failing)
    result = run("generate", policy, "--out", out)
    assert (result.exit_code, result.stderr) == (2, f"error: {out}: No space left on device\n")
    assert out.read_bytes() == b"an earlier log" and sorted(p.name for p in tmp_path.iterdir()) == [
        "events.jsonl", "g.jsonl.gz", "shop.kefu"]
    monkeypatch.undo()
    assert run("generate", policy, "--out", out, "--consumers", "3").exit_code == 0
    assert gzip.decompress(out.read_bytes()).count(b"\n") > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "g.jsonl.gz", "shop.kefu"]


def test_an_output_through_a_symbolic_link_replaces_the_file_it_points_to(files, tmp_path):
    import os
    import stat

    policy, log = files
    real = tmp_path / "real.txt"
    real.write_bytes(b"old")
    real.chmod(0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    assert run("replay", policy, "--events", log, "--report", link).exit_code == 0
    assert link.is_symlink() and real.read_text(encoding="utf-8").startswith("kefu replay · platform pinduoduo")
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o640   # the file keeps its permissions


# ---- the report's format, a log that is not an event log -----------------------------------------------------

@pytest.mark.parametrize("name, args, as_json", [
    ("r.json", (), True),
    ("R.JSON", (), True),
    ("r.txt", (), False),
    ("report", (), False),
    ("r.json", ("--format", "text"), False),
    ("r.txt", ("--format", "json"), True),
])
def test_the_report_format_follows_the_extension_unless_given(files, tmp_path, name, args, as_json):
    policy, log = files
    assert run("replay", policy, "--events", log, "--report", tmp_path / name, *args).exit_code == 0
    text = (tmp_path / name).read_text(encoding="utf-8")
    assert text.startswith("{") == as_json and text.startswith("kefu replay · ") == (not as_json)


def test_a_log_of_which_no_line_is_an_event_exits_1(files, tmp_path):
    policy, _ = files
    csv = tmp_path / "orders.csv"
    csv.write_text("ts,type,consumer\n2026-11-11 09:00,message,c1\n\n2026-11-11 09:01,message,c2\n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    decisions, report, before = _outputs_before(tmp_path / "out")
    result = run("replay", policy, "--events", csv, "--decisions", decisions, "--report", report)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (f"error: {csv} does not look like a kefu event log (0 of 3 lines "
                                              "accepted; first rejection: line 1: not JSON: invalid literal, expected 'true' at column 1)")
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    result = run("replay", policy, "--events", "-", input=csv.read_bytes())
    assert result.exit_code == 1 and result.stdout == ""
    assert "error: standard input does not look like a kefu event log (0 of 3" in result.stderr


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_an_empty_log_is_replayed_with_a_note(files, tmp_path, content):
    policy, _ = files
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(content)
    result = run("replay", policy, "--events", empty, "--format", "json")
    assert result.exit_code == 0
    assert result.stderr == f"note: {empty} has no event lines: nothing was replayed\n"
    assert json.loads(result.stdout)["events"] == {"read": 0, "accepted": 0, "rejected": 0, "skipped": 0}


# ---- nothing from a path, policy or log reaches the terminal raw -------------------------------------------

# a C1 control (CSI, which starts an escape sequence), the bidi override and isolate, the line separator, a mark
ACTING = "\x9b\u202e\u2066\u2028\u200f"


def test_rejection_reasons_and_paths_are_shown_with_stand_ins(files, tmp_path):
    policy, _ = files
    log = tmp_path / f"log{ACTING}.jsonl"
    log.write_text(json.dumps({"ts": "2026-11-11T09:00:00+08:00", "type": "message", "sender": "consumer",
                               "consumer": "c1"}) + "\n"
                   + json.dumps({"ts": "2026-11-11T09:00:01+08:00", "type": f"mess{ACTING}age"}, ensure_ascii=False)
                   + "\n", encoding="utf-8")
    result = run("replay", policy, "--events", log, "--report", tmp_path / "r.txt")
    assert result.exit_code == 0
    shown = "\ufffd" * len(ACTING)
    assert result.stderr.startswith(f"{tmp_path}/log{shown}.jsonl:2: rejected: unknown type \"mess{shown}age\"")
    assert not any(ch in result.stderr for ch in ACTING)
    for args in (("--events", tmp_path / f"missing{ACTING}"), ("--events", log, "--report", tmp_path / ACTING / "r")):
        result = run("replay", policy, *args)
        assert result.exit_code == 2 and "\ufffd" * len(ACTING) in result.stderr
        assert not any(ch in result.stderr for ch in ACTING)


@pytest.mark.parametrize("code", [*range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                  0x2028, 0x2029, 0x200E, 0x200F, 0x061C])
def test_visible_replaces_every_character_a_terminal_acts_on(code):
    from engine.diagnostics import visible

    assert visible(f"a{chr(code)}b") == "a\ufffdb"


def test_the_progress_line_shows_a_path_as_text_on_a_terminal():
    import io

    from rich.console import Console

    from engine.cli import _progress

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=200)
    with _progress(f"logs/[/]a[bold]{ACTING}.jsonl", console=console) as tick:   # `[/]` ended in a MarkupError
        tick(16384)
    drawn = screen.getvalue()
    assert f"replaying logs/[/]a[bold]{chr(0xFFFD) * len(ACTING)}.jsonl: 16,384 events" in drawn
    assert not any(ch in drawn for ch in ACTING)


def test_the_progress_line_is_drawn_on_a_real_terminal(files, tmp_path):
    import os
    import pty
    import subprocess
    import sys

    policy, log = files
    (tmp_path / "a[").mkdir()
    odd = tmp_path / "a[/]b.jsonl"   # markup: `[/]` closes a tag no one opened
    odd.write_bytes(log.read_bytes())
    main, secondary = pty.openpty()
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-m", "engine.cli", "replay", str(policy), "--events", str(odd),
                                "--report", str(tmp_path / "r.txt")], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=secondary, cwd=root)
    os.close(secondary)
    drawn = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:   # the process closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(main)
    assert process.wait() == 0, drawn
    assert b"Traceback" not in drawn and b"replaying " in drawn and b"a[/]b.jsonl" in drawn


def test_an_output_that_cannot_be_finished_leaves_every_output_as_it_was(files, tmp_path):
    policy, log = files
    decisions, _, before = _outputs_before(tmp_path)
    # the report is written at the end; /dev/full takes it into its buffer and fails when it is flushed
    result = run("replay", policy, "--events", log, "--decisions", decisions, "--report", "/dev/full")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "error: cannot write report /dev/full: No space left on device"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("signum, code", [(2, 130), (15, 143)], ids=["SIGINT (Ctrl-C)", "SIGTERM"])
def test_a_signal_mid_replay_leaves_the_previous_outputs_whole(files, tmp_path, signum, code):
    import signal
    import subprocess
    import sys
    import time

    policy, log = files
    out = tmp_path / "out"
    out.mkdir()
    decisions, report, before = _outputs_before(out)
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-m", "engine.cli", "replay", str(policy), "--events", "-",
                                "--decisions", str(decisions), "--report", str(report)],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=root)
    assert process.stdin is not None
    process.stdin.write(log.read_bytes())   # the log goes on: the replay waits for more
    process.stdin.flush()
    while len(list(out.iterdir())) < 4:   # both temporary files are there: the replay has started
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.01)
    process.send_signal(signal.Signals(signum))
    assert process.wait() == code
    process.stdin.close()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert process.stderr is not None and b"Traceback" not in process.stderr.read()
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


def test_other_shops_are_named_to_ten_and_an_ellipsis_says_there_were_more(files, tmp_path):
    policy, _ = files
    base = dict(EVENTS[-1])   # at the log's last time: in order
    for count, ellipsis in ((10, False), (11, True)):
        log = tmp_path / f"shops{count}.jsonl"
        others = [dict(base, shop=f"o{i:02d}") for i in range(count)]
        log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in [*EVENTS, *others]))
        result = run("replay", policy, "--events", log, "--shop", "s1")
        assert result.exit_code == 0, result.output
        named = ", ".join(f'"o{i:02d}"' for i in range(10))
        assert f"skipped (shops {named}{', …' if ellipsis else ''})" in result.stderr
