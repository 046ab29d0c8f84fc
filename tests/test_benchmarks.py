"""The benchmarks run (on tiny inputs): a benchmark that no longer imports or crashes is caught here.

They print timings, which are never asserted (docs/benchmarks.md holds the measured figures).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def load(name: str):
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    return load


def events_per_s(out: str, label: str) -> int:
    line = next(line for line in out.splitlines() if line.startswith(label))
    return int(line[44:56].replace(",", ""))


def test_bench_replay_prints_the_ratio_parts_and_memory(bench, capsys):
    assert bench("bench_replay").main(["--count", "3000", "--repeat", "1", "--parts", "--parts-events", "1000",
                                       "--work-events", "500"]) == 0
    out = capsys.readouterr().out
    assert "engine: Engine.feed" in out and "peak RSS:" in out and "Python lines and" in out
    # the ratio printed is replay's throughput over the floor's, both printed above it
    ratio = float(re.search(r"replay / floor throughput: ([0-9.]+)", out).group(1))
    expected = events_per_s(out, "replay:") / events_per_s(out, "floor:")
    assert 0 < ratio < 1 and abs(ratio - expected) <= 0.006


def test_bench_decode_prints_every_pass(bench, capsys):
    assert bench("bench_decode").main(["--count", "3000", "--repeat", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if re.match(r"\((a|b|a2|c)\) ", line)]
    assert len(rows) == 4 and all(int(row[36:48].replace(",", "")) > 0 for row in rows)   # events/s of each pass


def test_bench_assign_prints_a_cost_per_desk_size(bench, capsys):
    assert bench("bench_assign").main(["--agents", "10", "100", "--consumers", "20",
                                       "--assign", "idle_rate ties random", "round_robin ties first"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [(row[-3], float(row[-2]) > 0) for row in rows] == [("10", True), ("100", True)] * 2
    # round robin over 100 agents at half load: the 20 timed consumers after 500 kept ones end on a19
    assert rows[-1][-1] == "a19"


def test_bench_check_times_a_generated_policy(bench, capsys):
    assert bench("bench_check").main(["40"]) == 0
    assert "exit 0" in capsys.readouterr().out


def test_real_data_script_without_its_data_says_so(bench, tmp_path, capsys):
    assert bench("real_data").main(["--data", str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bench_keywords_prints_a_row_per_size(bench, capsys):
    bench("bench_keywords").main()   # it also checks that both matchers agree on every message
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [int(row[0]) for row in rows] == [5, 20, 100, 1000, 10000]


def test_bench_authoring_times_test_and_fmt(bench, capsys):
    assert bench("bench_authoring").main(["--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"kefu test, \d+ cases .*work: [0-9.]+ s", out) and "kefu fmt --check, " in out


def test_bench_import_prints_the_ratio(bench, capsys):
    assert bench("bench_import").main(["--count", "3000", "--repeat", "1"]) == 0
    assert "import / replay throughput: " in capsys.readouterr().out


def test_bench_scale_prints_speed_ups_and_memory(bench, capsys):
    assert bench("bench_scale").main(["--shops", "2", "--count", "2000", "--jobs", "1,2", "--repeat", "1", "--no-dask",
                                      "--memory", "--memory-counts", "1000", "--memory-shops", "2"]) == 0
    out = capsys.readouterr().out
    # each layout at --jobs 1 and 2, the speed-up of 1 being 1.00x by definition
    rows = [line for line in out.splitlines() if "--jobs" in line and "speed-up" in line]
    assert len(rows) == 4 and all(" 1.00x" in row for row in rows[::2])
    assert out.count("memory:") == 3


def test_bench_scale_times_the_scan_the_merge_and_a_small_log(bench, capsys):
    assert bench("bench_scale").main(["--no-speed", "--parts", "--shops", "2", "--count", "2000", "--repeat", "1",
                                      "--small", "--small-count", "400", "--small-rounds", "1", "--no-dask"]) == 0
    out = capsys.readouterr().out
    # every line of both shops' files is scanned, and both layouts hold the 2 x 1,000 events
    assert "2 files, 2,000 lines" in out and "over 2,000 events" in out
    scan, merge, one = (float(re.search(rf"{label}.* s\s+([0-9.]+) us/", out).group(1))
                        for label in ("scan_file", "read_merged", "read_events"))
    assert scan > 0 and merge > 0 and one > 0
    difference, ratio = (float(x) for x in re.search(r"merge - one file: (-?[0-9.]+) us/event .*"
                                                      r"merge / one file: ([0-9.]+)", out).groups())
    # the difference and the ratio are those of the two figures printed, up to their rounding to 0.01
    assert abs(difference - (merge - one)) <= 0.015 and _within_rounding(ratio, merge, one)
    # the small log: 4 shops of 100 events, --jobs 1 and 2 (no Dask asked); one round, so the median ratio is
    # that round's, the two seconds printed
    assert "4 shops x 100 events = 400" in out and "--dask" not in out
    jobs1, jobs2 = (float(re.search(rf"^--jobs {n}\s+([0-9.]+) s", out, re.M).group(1)) for n in (1, 2))
    small = float(re.search(r"against --jobs 1: ([0-9.]+)x", out).group(1))
    assert jobs1 > 0 and jobs2 > 0 and _within_rounding(small, jobs2, jobs1)


def _within_rounding(ratio: float, a: float, b: float) -> bool:
    """The seconds are printed to 0.01 s: the ratio a / b lies between what their roundings allow."""
    return (a - 0.005) / (b + 0.005) - 0.005 <= ratio <= (a + 0.005) / (b - 0.005) + 0.005


def test_bench_whatif_prints_the_ratio(bench, capsys):
    assert bench("bench_whatif").main(["--count", "2000", "--repeat", "1", "--pure-only"]) == 0
    out = capsys.readouterr().out
    plain, model = (float(re.search(rf"{label}\s+([0-9.]+) s", out).group(1)) for label in ("plain replay", "--agents model"))
    # one round: its ratio is the two runs' (the best of one)
    assert _within_rounding(float(re.search(r"model / plain: ([0-9.]+) \(median of 1 rounds", out).group(1)), model, plain)
    assert "compiled" not in out


def test_bench_whatif_takes_the_median_of_paired_ratios(bench):
    paired = bench("bench_whatif").paired
    # rounds at three machine speeds say 1.5, 2.0 and 1.6: the median is 1.6 (the best of each: 2.0 / 1.0)
    assert paired([3.0, 2.0, 8.0], [2.0, 1.0, 5.0]) == pytest.approx(1.6) and paired([3.0], [2.0]) == 1.5


@pytest.mark.skipif(importlib.util.find_spec("mypyc") is None or importlib.util.find_spec("hatchling") is None,
                    reason="the compiled actor's build needs mypy and hatchling (the test extras)")
def test_bench_whatif_times_the_compiled_actor_and_checks_it_decides_alike(bench, capsys):
    from test_compiled_actor import _missing
    if _missing():
        pytest.skip(_missing())
    assert bench("bench_whatif").main(["--count", "2000", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    plain, compiled = (float(re.search(rf"{label}\s+([0-9.]+) s", out).group(1)) for label in ("plain replay", "compiled actor"))
    ratio = float(re.search(r"model / plain with the compiled actor: ([0-9.]+);", out).group(1))
    assert _within_rounding(ratio, compiled, plain)
    assert "decisions byte-identical to the pure actor's" in out


def test_backtest_bank_counts_the_observed_shares_and_the_pickup_by_hand(bench, tmp_path):
    from zoneinfo import ZoneInfo
    backtest = bench("backtest_bank")
    head = "vru+line,call_id,customer_id,priority,type,date,vru_entry,vru_exit,vru_time,q_start,q_exit,q_time,outcome,ser_start,ser_exit,ser_time,server\n"
    rows = [  # queued at 10:00:00; served after 30 s, 120 s, 400 s; one abandons; one never queued
        "A,1,0,0,PS,2010-08-01,9:59:50,10:00:00,10,10:00:00,10:00:30,30,AGENT,10:00:30,10:05:00,270,X",
        "A,2,0,0,PS,2010-08-01,9:59:50,10:00:00,10,10:00:00,10:02:00,120,AGENT,10:02:00,10:04:00,120,Y",
        "A,3,0,0,NW,2010-08-01,9:59:50,10:00:00,10,10:00:00,10:06:40,400,AGENT,10:06:40,10:08:00,80,X",
        "A,4,0,0,NW,2010-08-01,9:59:50,10:00:00,10,10:00:00,10:01:00,60,HANG,0:00:00,0:00:00,0,NO_SERVER",
        "A,5,0,0,PS,2010-08-01,9:59:50,10:00:05,15,0:00:00,0:00:00,0,HANG,0:00:00,0:00:00,0,NO_SERVER",
    ]
    data = tmp_path / "calls.csv"
    data.write_text(head + "\n".join(rows) + "\n", encoding="utf-8")
    calls = backtest.calls(data, ZoneInfo(backtest.ZONE))
    assert len(calls) == 4   # the call that never queued is not a call of the queue
    # within 60 s: call 1 of 4; within 180 s: calls 1 and 2
    assert backtest.observed(calls) == {"2010-08-01": (0.25, 0.5, 4)}
    # every call queued at 10:00:00, before any agent was free: no pick-up observed, so 1 s
    assert set(backtest.pickup(calls).values()) == {1.0}
    # Y, free since 10:04:00, takes a call queued at 10:10:00 after 20 s: the pick-up is 20 s
    later = dict(calls[1], q_start=calls[1]["q_start"] + 600, ser_start=calls[1]["q_start"] + 620,
                 ser_exit=calls[1]["q_start"] + 700)
    assert set(backtest.pickup(calls + [later]).values()) == {20.0}
    events = backtest.presence(calls, "day")
    assert [(agent, status) for _, agent, status in events] == [("X", "online"), ("Y", "online"), ("Y", "offline"),
                                                                ("X", "offline")]
    # --presence waiting: X, free from 10:05:00 to 10:06:40 while call 3 (NW, one of its two types) waited,
    # let it wait 100 s: with --away 60 it was away from 10:05:00 to its next call; with --away 120 it was there
    at = calls[0]["q_start"]   # 10:00:00
    away60 = backtest.presence(calls, "waiting", away=60)
    assert [(t - at, agent, status) for t, agent, status in away60] == [
        (29, "X", "online"), (119, "Y", "online"), (240, "Y", "offline"), (300, "X", "offline"),
        (399, "X", "online"), (480, "X", "offline")]
    away120 = backtest.presence(calls, "waiting", away=120)
    assert [(t - at, agent, status) for t, agent, status in away120 if agent == "X"] == [(29, "X", "online"),
                                                                                        (480, "X", "offline")]
    # the pick-up of a present agent: X took call 3 100 s after it was free with the call waiting
    assert set(backtest.pickup_present(calls, 120).values()) == {100.0}
    assert set(backtest.pickup_present(calls, 60).values()) == {1.0}   # longer than --away: it was away


def test_backtest_generated_recovers_the_generators_delays(bench, capsys):
    backtest = bench("backtest_bank")
    assert backtest.main(["--generated"]) == 0
    out = capsys.readouterr().out
    # the lognormal's true quantiles by hand: 300 e^(z 0.5), z = -0.6745, 0, 0.6745, 1.2816 -> 214, 300, 420, 570 s
    rows = {line.split()[4]: line.split() for line in out.splitlines() if line.startswith("lognormal, median")}
    assert [rows[q][5] for q in ("p25", "p50", "p75", "p90")] == ["214s", "300s", "419s", "570s"]
    assert "all within tolerance" in out
    doc = (BENCHMARKS.parent / "docs" / "whatif.md").read_text(encoding="utf-8")
    assert f"```\n{out.strip()}\n```" in doc   # docs/whatif.md shows this output
