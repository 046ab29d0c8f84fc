"""Many logs, many shops: --events of several files, --policies DIR, --jobs N and --dask give one replay."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from cli_helpers import kefu
from engine.fleet import plan, scan_file
from engine.logset import LogSpecError, expand

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "rulesets" / "examples" / "taobao-apparel.kefu"


def _write(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8")
    return path


def _day(shop: str, day: int, answer_after: int) -> list[dict]:
    """One shop's day on Pinduoduo: agent a online at 08:00, consumers c1 and c2 write at 09:00 and 09:10,
    a answers each answer_after seconds later, and ends both sessions at 10:00."""
    d = f"2026-11-{day:02d}"
    out = [{"ts": f"{d}T08:00:00+08:00", "type": "agent_status", "shop": shop, "agent": "a", "status": "online"}]
    for i, minute in ((1, 0), (2, 10)):
        out.append({"ts": f"{d}T09:{minute:02d}:00+08:00", "type": "message", "shop": shop, "sender": "consumer",
                    "consumer": f"c{i}", "text": "在吗"})
        t = minute * 60 + answer_after
        out.append({"ts": f"{d}T09:{t // 60:02d}:{t % 60:02d}+08:00", "type": "message", "shop": shop,
                    "sender": "agent", "agent": "a", "consumer": f"c{i}", "text": "在的"})
    out += [{"ts": f"{d}T10:00:00+08:00", "type": "session_end", "shop": shop, "consumer": f"c{i}", "agent": "a"}
            for i in (1, 2)]
    return out


def _shops_log(tmp_path: Path) -> tuple[Path, Path]:
    """Four shops over two days: one file per shop and day in a directory, and the same events as one file
    in time order. Shop sN answers after 90 * N seconds."""
    folder = tmp_path / "logs"
    folder.mkdir()
    every = []
    for n in range(1, 5):
        for day in (11, 12):
            events = _day(f"s{n}", day, 90 * n)
            _write(folder / f"s{n}-{day}.jsonl", events)
            every += events
    every.sort(key=lambda e: e["ts"])   # stable: at one instant, the shops in order
    return folder, _write(tmp_path / "all.jsonl", every)


# ---- which files --------------------------------------------------------------------------------

def test_a_directory_gives_its_logs_sorted_and_a_glob_expands_sorted(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("b/2.jsonl", "1.jsonl.gz", "a.txt", "3.jsonl"):
        (tmp_path / name).write_bytes(b"")
    assert expand([str(tmp_path)]) == [str(tmp_path / n) for n in ("1.jsonl.gz", "3.jsonl", "b/2.jsonl")]
    assert expand([str(tmp_path / "*.jsonl*")]) == [str(tmp_path / n) for n in ("1.jsonl.gz", "3.jsonl")]


def test_a_spec_naming_nothing_or_a_file_twice_is_refused(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"")
    with pytest.raises(LogSpecError, match="matches no file"):
        expand([str(tmp_path / "*.csv")])
    with pytest.raises(LogSpecError, match="given twice"):
        expand([str(tmp_path / "a.jsonl"), str(tmp_path)])
    empty = tmp_path / "empty"
    empty.mkdir()
    result = kefu("replay", "--platform", "pinduoduo", "--events", empty)
    assert result.exit_code == 2 and "no .jsonl or .jsonl.gz file under" in result.output
    unknown = kefu("replay", "--platform", "taobao", "--events", "nosuch://x/y.jsonl")   # was a ValueError traceback
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error: --events nosuch://x/y.jsonl: Protocol not known")


# ---- several files, one shop ---------------------------------------------------------------------

def test_a_month_as_a_file_a_day_replays_as_the_one_log(tmp_path):
    day1, day2 = _day("s1", 11, 60), _day("s1", 12, 240)
    one = _write(tmp_path / "one.jsonl", day1 + day2)
    _write(tmp_path / "d11.jsonl", day1)
    _write(tmp_path / "d12.jsonl", day2)
    policy = ROOT / "rulesets" / "examples" / "pinduoduo-fruit.kefu"
    whole = kefu("replay", "--platform", "pinduoduo", "--events", one, "--format", "json",
                 "--decisions", tmp_path / "one.out")
    split = kefu("replay", "--platform", "pinduoduo", "--events", tmp_path / "d1*.jsonl", "--format", "json",
                 "--decisions", tmp_path / "split.out")
    assert whole.exit_code == split.exit_code == 0, split.output
    a, b = json.loads(whole.stdout), json.loads(split.stdout)
    files = b["events"].pop("files")
    assert [(f["file"], f["read"]) for f in files] == [(str(tmp_path / "d11.jsonl"), 7), (str(tmp_path / "d12.jsonl"), 7)]
    assert a == b
    # the decisions are the same but for the file an event came from: line 2 of each day's file
    plain = [json.loads(x) for x in (tmp_path / "one.out").read_text().splitlines()]
    named = [json.loads(x) for x in (tmp_path / "split.out").read_text().splitlines()]
    assert [d.pop("file", None) for d in named] == [
        None if d["line"] is None else str(tmp_path / ("d11.jsonl" if d["ts"] < "2026-11-12" else "d12.jsonl"))
        for d in plain]
    assert [{**d, "line": d["line"]} for d in named] == [
        {**d, "line": None if d["line"] is None else (d["line"] - 7 if d["ts"] >= "2026-11-12" else d["line"])}
        for d in plain]
    # the shop policy reads several files too
    assert kefu("replay", policy, "--shop", "s1", "--events", tmp_path / "d11.jsonl",
                "--events", tmp_path / "d12.jsonl").exit_code == 0


def test_a_bad_line_is_named_by_its_file_and_line(tmp_path):
    _write(tmp_path / "a.jsonl", _day("s1", 11, 60))
    bad = tmp_path / "b.jsonl"
    bad.write_text(json.dumps(_day("s1", 12, 60)[0]) + "\n{not json\n", encoding="utf-8")
    result = kefu("replay", "--platform", "pinduoduo", "--events", tmp_path, "--format", "json")
    assert result.exit_code == 0
    assert f"{bad}:2: rejected:" in result.stderr
    report = json.loads(result.stdout)
    assert report["events"]["read"] == 9 and report["events"]["rejected"] == 1


# ---- many shops: one process, --jobs, Dask --------------------------------------------------------

def _replay(*args):
    result = kefu("replay", *args)
    assert result.exit_code == 0, result.output
    return result


def test_jobs_give_the_one_process_output_byte_for_byte(tmp_path):
    folder, whole = _shops_log(tmp_path)
    for events in (folder, whole):
        outputs = []
        for jobs in ("1", "2", "3"):
            out = tmp_path / f"d{jobs}.jsonl"
            run = _replay("--platform", "pinduoduo", "--events", events, "--jobs", jobs, "--decisions", out,
                          "--by", "agent", "--by", "hour")
            outputs.append((run.stdout, run.stderr, out.read_bytes()))
        assert outputs[0] == outputs[1] == outputs[2]
    report = json.loads(_replay("--platform", "pinduoduo", "--events", folder, "--jobs", "2", "--format", "json").stdout)
    # decisions come shop by shop: each shop's two days, the shops in id order
    decisions = [json.loads(x) for x in (tmp_path / "d1.jsonl").read_text().splitlines()]
    shops = [d["shop"] for d in decisions]
    assert shops == sorted(shops) and set(shops) == {"s1", "s2", "s3", "s4"}
    # Pinduoduo's 5-minute rate counts each question: s1-s3 answer within 300 s (90, 180, 270 s), s4 after
    # 360 s; two questions a day over two days. The 1-hour rate: every consumer-day is answered within it.
    met = {s["shop"]: (s["metrics"]["response_rate_5min"]["met"], s["metrics"]["response_rate_5min"]["eligible"],
                       s["metrics"]["effective_reply_1h"]["met"]) for s in report["shops"]}
    assert met == {"s1": (4, 4, 4), "s2": (4, 4, 4), "s3": (4, 4, 4), "s4": (0, 4, 4)}
    assert report["shops"][0]["shop"] == "s4"   # most at risk first: its rate fails the day after (> 50 %)
    jsonschema.validate(report, json.loads((ROOT / "docs" / "report.schema.json").read_text(encoding="utf-8")))


def test_more_logs_than_merge_at_once_are_planned_by_shop_with_the_same_output(tmp_path, monkeypatch):
    from engine import fleet
    folder, _ = _shops_log(tmp_path)
    (folder / "s9-bad.jsonl").write_text("not json\n", encoding="utf-8")   # a log with no event: its line still counted
    planned = []
    plan = fleet.plan
    monkeypatch.setattr(fleet, "plan", lambda files, scans, jobs: planned.append(len(files)) or plan(files, scans, jobs))
    outputs = []
    for at_once in (fleet.MERGE_AT_ONCE, 2):   # 9 logs: merged in one task, then scanned and planned by shop
        monkeypatch.setattr(fleet, "MERGE_AT_ONCE", at_once)
        out = tmp_path / f"d{at_once}.jsonl"
        run = kefu("replay", "--platform", "pinduoduo", "--events", folder, "--decisions", out, "--by", "hour",
                   "--format", "json")
        assert run.exit_code == 0, run.output
        outputs.append((run.stdout, run.stderr, out.read_bytes()))
    assert planned == [9] and outputs[0] == outputs[1]
    report = json.loads(outputs[1][0])
    assert [(f["file"].rsplit("/", 1)[-1], f["read"], f["rejected"]) for f in report["events"]["files"]][-2:] == \
        [("s4-12.jsonl", 7, 0), ("s9-bad.jsonl", 1, 1)]
    assert report["events"]["read"] == 57 and report["events"]["rejected"] == 1   # 4 shops x 2 days x 7, and the bad line


def _policy(folder: Path, shop: str, welcome: str) -> None:
    """A Pinduoduo shop policy whose welcome names the shop (every new consumer gets it)."""
    (folder / f"{shop}.kefu").write_text(
        f'shop "{shop}" on pinduoduo\n\nagent a max_sessions 10\n\nreply welcome once per day "{welcome}"\n', encoding="utf-8")


def test_each_shop_goes_through_its_own_policy_and_the_others_are_skipped_or_on_the_platform(tmp_path):
    folder, whole = _shops_log(tmp_path)
    policies = tmp_path / "policies"
    policies.mkdir()
    _policy(policies, "s1", "欢迎光临一号店")
    _policy(policies, "s3", "欢迎光临三号店")
    check = kefu("check", policies)
    assert check.exit_code == 0, check.output
    out = tmp_path / "d.jsonl"
    result = _replay("--policies", policies, "--events", whole, "--decisions", out, "--format", "json")
    report = json.loads(result.stdout)
    jsonschema.validate(report, json.loads((ROOT / "docs" / "report.schema.json").read_text(encoding="utf-8")))
    # s2 and s4 have no policy: their 14 events each (7 a day) are skipped and named, never dropped silently
    assert report["skipped_shops"] == [{"shop": "s2", "events": 14}, {"shop": "s4", "events": 14}]
    assert report["events"]["skipped"] == 28
    assert f'{whole}: 28 events of 2 shops with no policy skipped (shops "s2", "s4")' in result.stderr
    assert report["policies"] == [{"shop": "s1", "file": str(policies / "s1.kefu")},
                                  {"shop": "s3", "file": str(policies / "s3.kefu")}]
    # a welcome to each new consumer of a day: two a day over two days, in each shop's own words
    welcomes = Counter((d["shop"], d["text"]) for d in map(json.loads, out.read_text().splitlines())
                       if d["action"] == "auto_reply")
    assert welcomes == {("s1", "欢迎光临一号店"): 4, ("s3", "欢迎光临三号店"): 4}
    pytest.importorskip("vl_convert")
    page = tmp_path / "shops.html"
    _replay("--policies", policies, "--events", whole, "--report", page)
    html = page.read_text(encoding="utf-8")
    assert "2 shop policies" in html and "skipped shops: s2 (14 events), s4 (14 events)" in html
    # with --platform the others are replayed on the platform alone (no automation), in --jobs too
    both = [_replay("--policies", policies, "--platform", "pinduoduo", "--events", folder, "--jobs", j,
                    "--format", "json") for j in ("1", "2")]
    assert both[0].stdout == both[1].stdout
    report = json.loads(both[0].stdout)
    assert "skipped_shops" not in report and [s["shop"] for s in report["shops"]] == ["s4", "s1", "s2", "s3"]
    assert report["auto_replies"] == {"welcome": 8}


def test_two_policies_for_one_shop_or_none_at_all_are_refused(tmp_path):
    _, whole = _shops_log(tmp_path)
    policies = tmp_path / "policies"
    policies.mkdir()
    result = kefu("replay", "--policies", policies, "--events", whole)
    assert result.exit_code == 2 and "no shop policy" in result.output
    _policy(policies, "s1", "一")
    (policies / "again.kefu").write_text('shop "s1" on pinduoduo\n', encoding="utf-8")
    result = kefu("replay", "--policies", policies, "--events", whole)
    assert result.exit_code == 1 and "are both policies of shop 's1'" in result.output


def test_a_dask_local_cluster_gives_the_one_process_output(tmp_path):
    pytest.importorskip("distributed")
    folder, _ = _shops_log(tmp_path)
    runs = []
    for extra in ((), ("--dask", "local", "--jobs", "2")):
        out = tmp_path / f"d{len(extra)}.jsonl"
        run = _replay("--platform", "pinduoduo", "--events", folder, "--decisions", out, "--format", "json", *extra)
        runs.append((run.stdout, out.read_bytes()))
    assert runs[0] == runs[1]


# ---- planning ------------------------------------------------------------------------------------

def test_a_scan_counts_each_shops_lines(tmp_path):
    log = tmp_path / "a.jsonl.gz"
    lines = [{"shop": "x", "ts": 1}, {"shop": "y"}, {"ts": 2}, {"shop": "x"}]
    with gzip.open(log, "wt", encoding="utf-8") as out:
        out.write("\n".join(json.dumps(x) for x in lines) + "\n\n{broken\n[1]\n")
    # the object without a shop is the no-shop-id shop (""); the broken line and the array are nobody's
    assert scan_file(str(log)) == {"x": 2, "y": 1, "": 1}


def test_shops_sharing_a_file_go_together_and_the_largest_share_is_split_for_idle_workers():
    scans = [{"A": 10, "B": 5}, {"C": 7}, {"D": 1}, {}]
    tasks = plan(["f0", "f1", "f2", "f3"], scans, 2)
    # four shares (A+B share f0; the empty file f3 still has its lines counted), largest first
    assert [(sorted(t.shops or ()), t.files, sorted(t.owns)) for t in tasks] == [
        (["A", "B"], [0], [0]), (["C"], [1], [1]), (["D"], [2], [2]), ([], [3], [3])]
    tasks = plan(["f0", "f1", "f2"], scans[:3], 4)
    # three shares for four workers: A+B is split, both halves read f0, the first owns it
    assert [(sorted(t.shops or ()), t.files, sorted(t.owns)) for t in tasks] == [
        (["A"], [0], [0]), (["C"], [1], [1]), (["B"], [0], []), (["D"], [2], [2])]


def test_logs_at_a_url_are_listed_and_read_through_fsspec(tmp_path):
    pytest.importorskip("fsspec")
    folder, whole = _shops_log(tmp_path)
    with gzip.open(folder / "s1-11.jsonl.gz", "wb") as out:   # gzip is known by its first bytes
        out.write((folder / "s1-11.jsonl").read_bytes())
    (folder / "s1-11.jsonl").unlink()
    local = _replay("--platform", "pinduoduo", "--events", whole, "--format", "json")
    remote = _replay("--platform", "pinduoduo", "--events", f"file://{folder}/", "--jobs", "2", "--format", "json")
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    files = b["events"].pop("files")
    assert len(files) == 8 and files[0]["file"] == f"file://{folder}/s1-11.jsonl.gz" and files[0]["read"] == 7
    assert a == b


def test_a_missing_log_and_a_bad_line_under_strict_stop_the_run(tmp_path):
    folder, _ = _shops_log(tmp_path)
    result = kefu("replay", "--platform", "pinduoduo", "--events", folder, "--events", tmp_path / "nope.jsonl")
    assert result.exit_code == 2 and f"cannot read events {tmp_path / 'nope.jsonl'}" in result.output
    with open(folder / "s2-12.jsonl", "a", encoding="utf-8") as out:
        out.write('{"ts": "2026-11-12T11:00:00+08:00", "type": "message", "shop": "s2"}\n')
    for jobs in ("1", "2"):
        result = kefu("replay", "--platform", "pinduoduo", "--events", folder, "--strict", "--jobs", jobs)
        assert result.exit_code == 1
        assert f"stopped at the first bad line (--strict): {folder / 's2-12.jsonl'}:8: missing field" in result.stderr


def test_progress_counts_shops_done_of_all_and_their_events(tmp_path):
    from engine.fleet import Job, Policies, combine, run_processes
    from engine.loader import Loader
    from engine.runtime import platform_policy
    from engine import ir

    folder, _ = _shops_log(tmp_path)
    platform, _, _ = Loader().platform(ir.Ref(name="pinduoduo"))
    files = sorted(str(p) for p in folder.iterdir())
    job = Job(files, Policies({}, {}, fallback=platform_policy(platform), automation=False))
    seen: list[tuple[int, int, int]] = []
    outcome = combine(job, run_processes(job, 2, lambda *a: seen.append(a)))
    # four shops, each its own task (a file per shop and day): one call as each ends, 14 events a shop
    assert [(done, total) for done, total, _ in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [events for *_, events in seen] == [14, 28, 42, 56]
    assert [s.shop for s in outcome.replayed] == ["s1", "s2", "s3", "s4"]


def test_model_agents_replay_many_shops_each_with_its_model_the_same_in_any_split(tmp_path):
    folder, whole = _shops_log(tmp_path)
    model = tmp_path / "agents.yaml"
    assert kefu("calibrate", whole, "--out", model).exit_code == 0
    outs = [_replay("--platform", "pinduoduo", "--events", folder, "--agents", "model", "--model", model,
                    "--jobs", jobs, "--format", "json", "--decisions", tmp_path / f"m{jobs}.jsonl") for jobs in ("1", "2")]
    assert outs[0].stdout == outs[1].stdout
    assert (tmp_path / "m1.jsonl").read_bytes() == (tmp_path / "m2.jsonl").read_bytes()
    # the log's agents answer the shops 90, 180, 270 and 360 s after each burst; each shop's model has
    # that delay at every quantile, so the model's agents answer as the log's did: s4 alone misses 5 minutes
    report = json.loads(outs[0].stdout)
    met = {s["shop"]: s["metrics"]["response_rate_5min"]["met"] for s in report["shops"]}
    assert met == {"s1": 4, "s2": 4, "s3": 4, "s4": 0}
    assert kefu("replay", "--platform", "pinduoduo", "--events", folder, "--agents", "model", "--model", model,
                "--runs", "2").exit_code == 2


def test_a_dask_address_that_is_not_one_is_a_usage_error(tmp_path):
    pytest.importorskip("distributed")
    folder, _ = _shops_log(tmp_path)
    result = kefu("replay", "--platform", "pinduoduo", "--events", folder, "--dask", "nonsense")
    assert result.exit_code == 2 and "error: --dask: cannot reach the Dask scheduler nonsense" in result.output


def test_shops_on_two_platforms_break_down_with_a_dash_for_the_other_platforms_metrics(tmp_path):
    _, whole = _shops_log(tmp_path)
    policies = tmp_path / "policies"
    policies.mkdir()
    _policy(policies, "s1", "欢迎")   # Pinduoduo
    (policies / "s2.kefu").write_text('shop "s2" on douyin\n\nagent a max_sessions 10\n', encoding="utf-8")
    result = _replay("--policies", policies, "--events", whole, "--by", "agent", "--by", "hour")
    report = result.stdout
    assert "kefu replay · several platforms" in report
    # s2 is on Douyin: its rows have no Pinduoduo metric, so those cells are dashes (they once raised KeyError)
    (s2_agent,) = [line for line in report.split("== by agent · s2 ==")[1].splitlines()[2:3]]
    assert s2_agent.split()[:1] == ["a"] and s2_agent.split().count("—") == 2


def test_a_spool_file_that_cannot_be_written_is_a_write_error_not_a_read_error(tmp_path, monkeypatch):
    import builtins
    import errno
    from engine import fleet

    def full_disk(path, mode="r", *args, **kwargs):
        if mode == "ab":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(fleet, "open", full_disk, raising=False)   # the spool's appends, in this process (--jobs 1)
    folder, _ = _shops_log(tmp_path)
    out = tmp_path / "d.jsonl"
    result = kefu("replay", "--platform", "pinduoduo", "--events", folder, "--decisions", out)
    assert result.exit_code == 2
    assert f"error: cannot write decisions {out}: their spool file " in result.stderr
    assert result.stderr.rstrip().endswith(": No space left on device") and "cannot read events" not in result.stderr
    assert not out.exists()   # nothing committed


def test_model_agents_play_the_shops_in_step_holding_about_a_day_of_the_log(tmp_path, monkeypatch):
    """Four shops over twelve days in one file: the shops' model runs read the log as they need it, in step, so
    the queues hold about a day and an hour of it (each run reads LOOK_AHEAD + READ_MORE = 26 h ahead), not the
    whole log, and the output is what each shop played alone gives (the run with everything read first)."""
    from engine import fleet
    every = [e for n in range(1, 5) for day in range(11, 23) for e in _day(f"s{n}", day, 90 * n)]
    every.sort(key=lambda e: e["ts"])
    whole = _write(tmp_path / "all.jsonl", every)
    model = tmp_path / "agents.yaml"
    assert kefu("calibrate", whole, "--out", model).exit_code == 0
    most = [0]
    pull = fleet._Demux.pull

    def counted(self):
        more = pull(self)
        most[0] = max(most[0], sum(len(q) for q in self.queues.values()))
        return more

    monkeypatch.setattr(fleet._Demux, "pull", counted)
    streamed = _replay("--platform", "pinduoduo", "--events", whole, "--agents", "model", "--model", model,
                       "--format", "json", "--decisions", tmp_path / "streamed.jsonl")
    # a shop's day is 7 events from 08:00 to 10:00: 26 hours ahead of a run's clock reach two days of each
    # of the four shops at most (56 events), far fewer than the log's 336
    assert 0 < most[0] <= 2 * 7 * 4 < len(every)
    monkeypatch.setattr(fleet._Demux, "pull", pull)
    for n in range(1, 5):   # each shop alone: nothing of another shop to interleave with
        alone = _write(tmp_path / f"s{n}.jsonl", [e for e in every if e["shop"] == f"s{n}"])
        _replay("--platform", "pinduoduo", "--events", alone, "--agents", "model", "--model", model,
                "--decisions", tmp_path / f"s{n}.decisions.jsonl")
    assert [s["shop"] for s in json.loads(streamed.stdout)["shops"]] == ["s4", "s1", "s2", "s3"]   # s4 at risk

    def without_lines(path: Path) -> list[dict]:   # the log lines differ: one file against a file per shop
        return [{k: v for k, v in json.loads(x).items() if k != "line"} for x in path.read_text().splitlines()]

    alone = [d for n in range(1, 5) for d in without_lines(tmp_path / f"s{n}.decisions.jsonl")]
    assert without_lines(tmp_path / "streamed.jsonl") == alone
    assert len(alone) == 4 * 12 * 4   # each shop and day: two assignments, two sessions ended


def test_decisions_to_a_device_spool_in_the_temporary_directory_not_beside_it(tmp_path):
    from engine.fleetcli import _spool_parent
    assert _spool_parent(Path("/dev/null"), False) is None   # not /dev, where a user may not write
    assert _spool_parent(tmp_path / "d.jsonl", False) == str(tmp_path)
    folder, _ = _shops_log(tmp_path)
    assert _replay("--platform", "pinduoduo", "--events", folder, "--decisions", "/dev/null").exit_code == 0
    assert not [p for p in Path("/dev").iterdir() if p.name.startswith(".kefu-spool-")]


def test_a_shops_replay_with_shop_says_what_it_skipped_as_a_one_policy_replay_does(tmp_path):
    _, whole = _shops_log(tmp_path)
    said = []
    for args in (("--platform", "pinduoduo"), (ROOT / "rulesets" / "examples" / "pinduoduo-fruit.kefu",)):
        result = kefu("replay", *args, "--shop", "s1", "--events", whole)
        assert result.exit_code == 0, result.output
        said.append([line for line in result.stderr.splitlines() if "skipped" in line])
    # s2, s3 and s4: 14 events each (7 a day, two days)
    assert said[0] == said[1] == [f'{whole}: 42 events of other shops than "s1" skipped (shops "s2", "s3", "s4")']


def test_a_cut_gz_among_several_logs_is_named(tmp_path):
    import gzip
    folder, whole = _shops_log(tmp_path)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(whole.read_bytes())[:-12])   # the end-of-stream marker and more cut off
    for args in (("--platform", "pinduoduo"), ("--platform", "pinduoduo", "--jobs", "2"),
                 (ROOT / "rulesets" / "examples" / "pinduoduo-fruit.kefu", "--shop", "s1")):
        result = kefu("replay", *args, "--events", folder / "s1-11.jsonl", "--events", cut)
        assert result.exit_code == 2, result.output
        assert f"error: cannot read events {cut}: Compressed file ended" in result.stderr   # not "2 logs"
