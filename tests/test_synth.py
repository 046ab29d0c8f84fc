"""engine.synth: synthetic event logs are deterministic, valid, ordered and shaped like a real day."""

from __future__ import annotations

import gzip
import io
import re
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cli_helpers import kefu

from engine.events import ReadStats, read_events
from engine.loader import Loader
from engine.synth import SAMPLES, generate_command, generate_log

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "rulesets" / "examples"
CST = timezone(timedelta(hours=8))
DAY = date(2026, 11, 11)
SHOPS = ["douyin-flagship", "pinduoduo-fruit", "taobao-apparel"]


@pytest.fixture(scope="module")
def policies():
    loaded = {}
    for name in SHOPS:
        result = Loader().load(EXAMPLES / f"{name}.kefu")
        assert result.policy is not None, name
        loaded[name] = result.policy
    return loaded


def generate(policy, **kw) -> bytes:
    out = io.BytesIO()
    args = {"day": DAY, "consumers": 120, "seed": 7} | kw
    n = generate_log(policy, out=out, **args)
    data = out.getvalue()
    assert data.count(b"\n") == n
    return data


def read_all(data: bytes, tolerance: float = 0.0):
    stats, rejected = ReadStats(), []
    got = list(read_events(io.BytesIO(data), stats=stats, on_reject=rejected.append, tolerance=tolerance))
    return got, rejected, stats


def policy_agents(policy) -> set[str]:
    return {a.name for a in policy.shop.agents} | {r.name for g in policy.shop.groups for r in g.agents}


def local_hour(ts: float) -> int:
    return datetime.fromtimestamp(ts, CST).hour


@pytest.mark.parametrize("name", SHOPS)
def test_same_seed_same_bytes_other_seed_other_bytes(policies, name):
    first = generate(policies[name])
    assert first == generate(policies[name])
    assert first != generate(policies[name], seed=8)


@pytest.mark.parametrize("name", SHOPS)
def test_every_line_is_a_valid_event_in_time_order(policies, name):
    data = generate(policies[name], consumers=300)
    got, rejected, stats = read_all(data, tolerance=0)   # no disorder at all
    assert rejected == []
    assert stats.read == stats.accepted == data.count(b"\n")
    assert [e.line for e in got] == list(range(1, len(got) + 1))   # file order is time order
    assert all(a.ts <= b.ts for a, b in zip(got, got[1:]))
    assert all(e.ts == int(e.ts) for e in got)
    assert all(line.startswith(b'{"ts":"2026-11-') and b'+08:00"' in line for line in data.splitlines())
    assert {e.shop for e in got} == {policies[name].shop.name}


@pytest.mark.parametrize("name", SHOPS)
def test_agents_are_the_policys_agents_with_their_caps(policies, name):
    policy = policies[name]
    got, _, _ = read_all(generate(policy, consumers=300))
    named = {e.agent for e in got if e.agent} | {e.to_agent for e in got if e.to_agent}
    assert named == policy_agents(policy)
    caps = {}
    for g in policy.shop.groups:
        for ref in g.agents:
            caps.setdefault(ref.name, g.max_sessions)
    caps |= {a.name: a.max_sessions for a in policy.shop.agents if a.max_sessions}
    first_online = {}
    for e in got:
        if e.type == "agent_status":
            first_online.setdefault(e.agent, e)
    assert {a: e.status for a, e in first_online.items()} == {a: "online" for a in policy_agents(policy)}
    assert {a: e.max_sessions for a, e in first_online.items()} == caps


def test_known_caps_of_the_douyin_example(policies):
    got, _, _ = read_all(generate(policies["douyin-flagship"]))
    caps = {e.agent: e.max_sessions for e in got if e.type == "agent_status" and e.max_sessions}
    # amy's own cap (20) beats her group's (12); dan and eve are after-sale (8)
    assert caps == {"amy": 20, "bob": 12, "cat": 12, "dan": 8, "eve": 8}


@pytest.mark.parametrize("name", SHOPS)
def test_arrivals_have_a_morning_peak_and_quiet_nights(policies, name):
    got, _, _ = read_all(generate(policies[name], consumers=400))
    opened = Counter(local_hour(e.ts) for e in got if e.sender == "consumer" and e.page is not None)
    assert opened[9] + opened[10] > 3 * (opened[3] + opened[4])
    assert opened[20] + opened[21] > 3 * (opened[3] + opened[4])
    assert sum(opened[h] for h in range(0, 7)) > 0          # a few at night, outside hours


def test_agents_follow_the_shop_hours(policies):
    # douyin-flagship: hours 08:00-12:00, 13:00-24:00 on weekdays (2026-11-11 is a Wednesday)
    got, _, _ = read_all(generate(policies["douyin-flagship"], consumers=200))
    online_at = {}
    status = {}
    for e in got:
        if e.type == "agent_status":
            status[e.agent] = e.status
        online_at[e.ts] = sum(s == "online" for s in status.values())
    def online(hhmm: str) -> int:
        t = datetime.fromisoformat(f"2026-11-11T{hhmm}:00+08:00").timestamp()
        return online_at[max(ts for ts in online_at if ts <= t)]
    assert online("05:00") == 0
    assert online("10:00") >= 2
    assert online("12:30") == 0      # the gap in the hours
    assert online("21:00") >= 1      # evening shift


def test_the_content_reflects_the_policy(policies):
    got, _, _ = read_all(generate(policies["pinduoduo-fruit"], consumers=400))
    consumer_msgs = [e for e in got if e.sender == "consumer"]
    products = {e.card_id for e in consumer_msgs if e.card_kind == "product"}
    assert {"6523001", "6523002", "6523003"} & products
    assert any(e.card_kind == "order" for e in consumer_msgs)
    assert any("退款" in (e.text or "") or "退货" in (e.text or "") for e in consumer_msgs)
    assert any(e.text in ("好的", "谢谢", "好的谢谢") for e in consumer_msgs)
    assert {e.page for e in consumer_msgs if e.page} == {"shop_home", "product_detail", "order_detail",
                                                         "refund_detail", "logistics_complaint"}
    kinds = Counter(e.type for e in got)
    assert kinds["transfer"] > 0 and kinds["session_end"] > 0
    assert {e.sender for e in got if e.type == "message"} >= {"consumer", "agent", "robot"}


def test_replies_are_mostly_fast_some_slow_some_never(policies):
    got, _, _ = read_all(generate(policies["taobao-apparel"], consumers=400))
    waiting, delays = {}, []
    for e in got:
        if e.sender == "consumer":
            waiting.setdefault(e.consumer, e.ts)
        elif e.sender == "agent" and e.consumer in waiting:
            delays.append(e.ts - waiting.pop(e.consumer))
    fast = sum(d <= 180 for d in delays) / len(delays)
    assert 0.6 < fast < 0.9
    assert any(d > 600 for d in delays)
    assert waiting   # some consumers never got an answer


def test_several_days(policies):
    data = generate(policies["taobao-apparel"], days=3, consumers=100)
    got, rejected, _ = read_all(data)
    assert rejected == []
    days = Counter(datetime.fromtimestamp(e.ts, CST).date() for e in got if e.sender == "consumer")
    assert {date(2026, 11, 11), date(2026, 11, 12), date(2026, 11, 13)} <= set(days)
    firsts = Counter(e.consumer for e in got if e.sender == "consumer" and e.page is not None)
    assert any(n > 1 for n in firsts.values())   # returning consumers


def test_a_minimal_policy_without_hours_or_groups(load_text):
    result = load_text('shop "tiny" on taobao\nagent solo { max_sessions 5 }\n')
    assert result.policy is not None, result.diagnostics
    got, rejected, _ = read_all(generate(result.policy, consumers=50))
    assert rejected == [] and {e.agent for e in got if e.agent} == {"solo"}
    assert [e.max_sessions for e in got if e.type == "agent_status" and e.max_sessions] == [5]
    assert not any(e.type == "transfer" for e in got)   # nobody to transfer to


@pytest.mark.parametrize("file, policy_file, first, consumers, seed", SAMPLES)
def test_shipped_samples_are_what_the_generator_writes(policies, file, policy_file, first, consumers, seed):
    shipped = (ROOT / "samples" / file).read_bytes()
    assert len(shipped) < 1_500_000
    assert shipped == generate(policies[policy_file.removesuffix(".kefu")], day=first, consumers=consumers, seed=seed), \
        "regenerate with `python -m engine.synth`"
    got, rejected, _ = read_all(shipped)
    assert rejected == []


def test_pinduoduo_sample_reaches_the_penalty_threshold():
    got, _, _ = read_all((ROOT / "samples" / "pinduoduo-fruit.jsonl").read_bytes())
    asking = {e.consumer for e in got if e.sender == "consumer" and 8 <= local_hour(e.ts) < 23}
    assert len(asking) >= 100


def test_generate_command(tmp_path, capsys):
    policy = EXAMPLES / "douyin-flagship.kefu"
    out = tmp_path / "log.jsonl"
    assert generate_command(policy, out, "2026-11-11", 1, 50, 3) == 0
    assert "events" in capsys.readouterr().err
    plain = out.read_bytes()
    buf = io.BytesIO()
    generate_log(Loader().load(policy).policy, day=DAY, consumers=50, seed=3, out=buf)
    assert plain == buf.getvalue()
    packed = tmp_path / "log.jsonl.gz"
    assert generate_command(policy, packed, date(2026, 11, 11), 1, 50, 3) == 0
    first_gz = packed.read_bytes()
    assert gzip.decompress(first_gz) == plain
    assert generate_command(policy, packed, date(2026, 11, 11), 1, 50, 3) == 0
    assert packed.read_bytes() == first_gz   # gzip header has no timestamp


def test_generate_command_errors(tmp_path, capsys):
    policy = EXAMPLES / "douyin-flagship.kefu"
    assert generate_command(tmp_path / "missing.kefu", tmp_path / "o.jsonl", "2026-11-11", 1, 10, 1) == 2
    assert generate_command(policy, tmp_path / "o.jsonl", "11/11/2026", 1, 10, 1) == 2
    assert generate_command(policy, tmp_path / "no-such-dir" / "o.jsonl", "2026-11-11", 1, 10, 1) == 2
    broken = tmp_path / "broken.kefu"
    broken.write_text('shop "x" on taobao\nassign by idle_rat\n', encoding="utf-8")
    assert generate_command(broken, tmp_path / "o.jsonl", "2026-11-11", 1, 10, 1) == 1
    assert "error" in capsys.readouterr().err


def test_generate_keeps_to_the_days_event_times_can_have(tmp_path, capsys):
    policy, out = EXAMPLES / "douyin-flagship.kefu", tmp_path / "o.jsonl"
    assert generate_command(policy, out, "9999-12-31", 1, 10, 1) == 2        # past 9990-01-01
    assert generate_command(policy, out, "2026-11-11", 3_000_000, 10, 1) == 2
    assert generate_command(policy, out, "0001-01-01", 1, 10, 1) == 2        # before 1970
    assert capsys.readouterr().err.count("a log covers 1970-01-02 to 9989-12-30 at most") == 3
    assert generate_command(policy, out, "9989-12-30", 1, 10, 1) == 0
    assert generate_command(tmp_path, out, "2026-11-11", 1, 10, 1) == 2      # a directory
    assert "is a directory" in capsys.readouterr().err


@pytest.mark.parametrize("policy, message, hint", [
    ('shop "s" on douyin\ngroup presale { agents amy, bob }\nagent amy im off\nagent bob { im off }\n',
     "every agent of shop 's' has IM off (`im off`), so none can take a consumer",
     "give at least one agent IM permission: remove its `im off` (`im on` is the default)"),
    ('shop "s" on douyin\n',
     "shop 's' has no agents, so none can take a consumer",
     "declare an agent: `agent NAME`, or list agents in a group: `group NAME { agents NAME, … }`"),
], ids=["all im off", "no agents"])
def test_generate_refuses_a_shop_where_no_agent_can_chat(tmp_path, capsys, policy, message, hint):
    path, out = tmp_path / "shop.kefu", tmp_path / "o.jsonl"
    path.write_text(policy, encoding="utf-8")
    out.write_bytes(b"an earlier log\n")
    assert generate_command(path, out, "2026-11-11", 1, 10, 1) == 1
    assert capsys.readouterr().err == f"error: {path}: {message}\n  = hint: {hint}\n"
    assert out.read_bytes() == b"an earlier log\n"   # refused before --out is opened
    cli = kefu("generate", path, "--out", out)
    assert (cli.exit_code, cli.stderr) == (1, f"error: {path}: {message}\n  = hint: {hint}\n")
    with pytest.raises(ValueError, match=re.escape(message)):
        generate_log(Loader().load(path).policy, day=DAY, consumers=10, seed=1, out=io.BytesIO())


def test_one_agent_with_im_on_is_enough(tmp_path, capsys):
    path = tmp_path / "shop.kefu"
    path.write_text('shop "s" on douyin\ngroup presale { agents amy, bob }\nagent amy im off\n', encoding="utf-8")
    assert generate_command(path, tmp_path / "o.jsonl", "2026-11-11", 1, 10, 1) == 0
    got, _, _ = read_all((tmp_path / "o.jsonl").read_bytes())
    assert {e.agent for e in got if e.agent} == {"bob"}


def test_generate_refuses_to_overwrite_its_policy_and_absurd_consumer_counts(tmp_path):
    from cli_helpers import kefu

    policy = tmp_path / "shop.kefu"
    policy.write_text('shop "s" on douyin\nagent amy\n', encoding="utf-8")
    result = kefu("generate", policy, "--out", policy)
    assert result.exit_code == 2 and policy.read_text(encoding="utf-8") == 'shop "s" on douyin\nagent amy\n'
    assert result.stderr == f"error: --out {policy} is the policy: writing it would erase the policy\n"
    result = kefu("generate", policy, "--out", tmp_path / "log.jsonl", "--consumers", "10" * 12)
    assert result.exit_code == 2 and "--consumers from 0 to 10,000,000" in result.stderr
    assert not (tmp_path / "log.jsonl").exists()


# ---- shifts over midnight ----------------------------------------------------------------------

def policy_of(tmp_path, text: str):
    path = tmp_path / "night.kefu"
    path.write_text(text, encoding="utf-8")
    result = Loader().load(path)
    assert result.diagnostics == [] and result.policy is not None
    return result.policy


NIGHT_DESK = 'shop "night" on douyin\n{hours}\ngroup presale {{ agents a1, a2 }}\ngroup aftersale {{ agents b1, b2 }}\n'


def empty_desk_minutes(data: bytes, start: str, end: str) -> list[str]:
    """Each minute (local HH:MM) from start to end (ISO, +08:00) at which no agent is online or busy,
    worked out from the log's agent_status events alone."""
    got, rejected, _ = read_all(data)
    assert rejected == []
    changes = sorted((e.ts, e.agent, e.status) for e in got if e.type == "agent_status")
    status: dict[str, str] = {}
    t, stop, i, empty = datetime.fromisoformat(start).timestamp(), datetime.fromisoformat(end).timestamp(), 0, []
    while t < stop:
        while i < len(changes) and changes[i][0] <= t:
            status[changes[i][1]] = changes[i][2]
            i += 1
        if not any(s in ("online", "busy") for s in status.values()):
            empty.append(datetime.fromtimestamp(t, CST).strftime("%H:%M"))
        t += 60
    return empty


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("hours", ["hours 07:00-01:00", "hours 07:00-24:00, 00:00-01:00"])
def test_a_desk_open_07_to_01_is_staffed_throughout(tmp_path, hours, seed):
    # 18 hours: two shifts of 9.5 hours (07:00-16:30 and 15:30-01:00), two agents each; the base
    # generator left 07:00-24:00 plus 00:00-01:00 with nobody from about 09:38 to 14:32, and any
    # desk empty while its agents were at lunch, late or gone a little early.
    data = generate(policy_of(tmp_path, NIGHT_DESK.format(hours=hours)), days=2, consumers=150, seed=seed)
    for day, following in (("11", "12"), ("12", "13")):
        assert empty_desk_minutes(data, f"2026-11-{day}T07:00:00+08:00", f"2026-11-{following}T01:00:00+08:00") == []
    # closed 01:00-07:00: the late shift has gone home by 01:30, the early one comes at 07:00 or a little before
    assert len(empty_desk_minutes(data, "2026-11-12T01:30:00+08:00", "2026-11-12T06:30:00+08:00")) == 300


def test_the_shifts_of_a_day_cover_its_hours_over_midnight(tmp_path):
    from engine.synth import _Generator, _shift_starts
    import random

    def staffed(hours: str, day: date) -> list[tuple[int, int]]:
        gen = _Generator(policy_of(tmp_path, NIGHT_DESK.format(hours=hours)), random.Random(1), CST)
        return gen.staffed_ranges(day)

    friday, saturday = date(2026, 11, 13), date(2026, 11, 14)
    assert staffed("hours 07:00-01:00", friday) == [(420, 1500)]                   # 07:00 to 01:00 the next day
    assert staffed("hours 07:00-24:00, 00:00-01:00", friday) == [(420, 1500)]      # the same shift, written in two
    assert staffed("hours 00:00-02:00, 20:00-24:00", friday) == [(1200, 1560)]     # a night desk, 20:00-02:00
    assert staffed("hours mon-fri 07:00-01:00", saturday) == []                    # Friday's tail is Friday's
    assert staffed("hours 00:00-24:00", friday) == [(0, 1440)]                     # round the clock: each day its own
    # 18 hours: 2 shifts of 570 minutes, 07:00-16:30 and 15:30-01:00 (an hour's handover)
    assert _shift_starts(420, 1500) == ([420, 930], 570)
    # 24 hours: 2 shifts would overlap by less than an hour (2 * 570 - 60 = 1080 < 1440): 3, 435 minutes apart
    assert _shift_starts(0, 1440) == ([0, 435, 870], 570)
    assert _shift_starts(480, 1440) == ([480, 870], 570)     # 08:00-24:00 (the samples): as before
    assert _shift_starts(480, 1080) == ([480], 600)          # 10 hours: one shift


def test_the_desk_is_never_empty_in_hours_but_too_few_agents_leave_a_shift_empty(tmp_path, policies):
    # pinduoduo-fruit, 08:00-23:00: two shifts, two agents each (the shipped sample had nobody 11:46-12:02,
    # both early agents at lunch, and 22:57-23:00, the late ones gone a little early)
    for seed in (1, 7):
        data = generate(policies["pinduoduo-fruit"], consumers=150, seed=seed)
        assert empty_desk_minutes(data, "2026-11-11T08:00:00+08:00", "2026-11-11T23:00:00+08:00") == []
    # one agent for 07:00-01:00 (two shifts): on day 0 it works the early shift, 07:00-16:30 give or
    # take a few minutes; nobody can cover the evening, which stays empty rather than a 18-hour day
    alone = policy_of(tmp_path, 'shop "s" on douyin\nhours 07:00-01:00\nagent solo {}\n')
    empty = empty_desk_minutes(generate(alone, consumers=50, seed=3), "2026-11-11T07:00:00+08:00", "2026-11-12T01:00:00+08:00")
    assert 480 <= len(empty) <= 540 and empty[-1] == "00:59"
