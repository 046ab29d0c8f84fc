"""Many shops: `kefu replay --jobs N` and `--dask local` against one process, and peak memory per process.

In one run, over one generated log of --shops shops of the same size (engine.synth from the example
policy, each shop a copy of one shop's log under its own id):

  layout  one file per shop (a directory), and the same events as one file in time order
  jobs    `kefu replay --platform douyin --events … --jobs N` for N in --jobs (1, 2, the core count),
          wall time of the whole command (start-up, scan, workers, merge), the best of --repeat
  dask    `--dask local --jobs 2` (a local cluster of 2 worker processes), if Dask is installed

and prints events per second and the speed-up over --jobs 1. With --memory it replays logs of
--memory-counts events for one shop and for --memory-shops shops and prints the largest peak RSS of
any process of the run (the kefu process or one of its workers).

With --parts it times, in this process and on the same two layouts, the two costs a many-shop run has
and a one-process run over one file has not (the best of --repeat, the three taken in turn):

  scan   engine.fleet.scan_file over every file of a file per shop (how `plan` learns their shops), per line
  merge  engine.logset.read_merged over the files of a file per shop (a heap of the files' next events),
         against engine.events.read_events over the one file of the same events, per event, and the difference

With --small it times the whole command's start-up on a small log (--small-count events, a file for each
of 4 shops): `--jobs 1`, `--jobs 2` and `--dask local --jobs 2` (if Dask is installed), in turn for
--small-rounds rounds, and prints each one's median and min-max wall seconds and the median of the rounds'
ratios and differences.

    python benchmarks/bench_scale.py                         # 8 shops, 800,000 events
    python benchmarks/bench_scale.py --shops 8 --count 200000 --repeat 1
    python benchmarks/bench_scale.py --no-speed --memory --memory-counts 1000000,10000000
    python benchmarks/bench_scale.py --no-speed --parts --shops 8 --count 4000000 --repeat 3
    python benchmarks/bench_scale.py --no-speed --small --small-count 8000 --small-rounds 7
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_decode import make_log  # noqa: E402

from engine.events import ReadStats, Vocabulary, open_log, read_events  # noqa: E402
from engine.fleet import scan_file  # noqa: E402
from engine.loader import Loader  # noqa: E402
from engine.logset import read_merged  # noqa: E402

POLICY = ROOT / "rulesets" / "examples" / "douyin-flagship.kefu"
SHOP = b'"shop":"mi-flagship"'
SMALL_SHOPS = 4


def shop_logs(one_shop: Path, shops: int, folder: Path, combined: Path | None) -> int:
    """One file per shop in folder (copies of one_shop under ids shop-000 …), and optionally all of them
    as one file in time order (the shops interleaved, as a platform's export would be)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = one_shop.read_bytes().splitlines(keepends=True)
    assert lines and SHOP in lines[0], "the generated log names its shop as expected"
    for n in range(shops):
        (folder / f"shop-{n:03d}.jsonl").write_bytes(b"".join(lines).replace(SHOP, _shop(n)))
    if combined is not None:
        with open(combined, "wb") as out:
            for line in lines:   # every shop's copy of each line at once: time order kept
                out.write(b"".join(line.replace(SHOP, _shop(n)) for n in range(shops)))
    return len(lines) * shops


def _shop(n: int) -> bytes:
    return b'"shop":"shop-%03d"' % n


def run(events: Path, *extra: str) -> tuple[float, float]:
    """Wall seconds of one `kefu replay --platform douyin` over events, and the largest peak RSS (MB) of
    any process it ran (RUSAGE_CHILDREN of a fresh runner process: its largest waited-for descendant)."""
    code = ("import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    cmd = [sys.executable, "-c", code, sys.executable, "-m", "engine.cli", "replay", "--platform", "douyin",
           "--events", str(events), *extra]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def best(events: Path, repeat: int, *extra: str) -> tuple[float, float]:
    """The best wall time of repeat runs, and the peak RSS of that run."""
    return min(run(events, *extra) for _ in range(repeat))


def layouts(args: argparse.Namespace, tmp: Path) -> tuple[int, Path, Path]:
    """The speed log generated once in its two layouts: its events, the folder of a file per shop, the one file."""
    one = tmp / "one.jsonl"
    took = make_log(one, args.count // args.shops, POLICY, 1)
    total = shop_logs(one, args.shops, tmp / "shops", tmp / "all.jsonl")
    print(f"generated {args.shops} shops x {args.count // args.shops:,} events = {total:,} in {took:.1f} s; "
          f"{os.cpu_count()} cores")
    return total, tmp / "shops", tmp / "all.jsonl"


def speed(args: argparse.Namespace, total: int, folder: Path, combined: Path) -> None:
    jobs = sorted({int(j) for j in args.jobs.split(",")} | {1})
    for layout, events in (("a file per shop", folder), ("one file", combined)):
        base = 0.0   # the first run's wall time (--jobs 1), once measured
        for n in jobs:
            wall, rss = best(events, args.repeat, "--jobs", str(n))
            base = base or wall
            print(f"{layout:<16} --jobs {n:<3} {wall:7.2f} s  {total / wall:>9,.0f} events/s  "
                  f"speed-up {base / wall:4.2f}x  peak RSS {rss:5.0f} MB")
        if args.dask and layout == "a file per shop":
            try:
                import distributed  # noqa: F401
            except ImportError:
                print("dask: not installed (pip install 'kefu[dask]')")
                continue
            wall, rss = best(events, args.repeat, "--dask", "local", "--jobs", "2")
            jobs2 = best(events, 1, "--jobs", "2")[0]   # again, right after: the two compared under one load
            print(f"{layout:<16} --dask local, 2 workers {wall:7.2f} s  {total / wall:>9,.0f} events/s  "
                  f"speed-up {base / wall:4.2f}x; against --jobs 2 ({jobs2:.2f} s): {jobs2 / wall:4.2f}x")


def timed(work: Callable[[], int], expected: int) -> float:
    """Seconds of one call of work, the collector paused as a replay's task pauses it; work returns what it
    counted, which must be the log's events (so the figures are per line and per event of the whole log)."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        counted = work()
        took = time.perf_counter() - start
    finally:
        gc.enable()
    assert counted == expected, f"counted {counted:,}, the log has {expected:,}"
    return took


def scan_lines(files: list[str]) -> int:
    """Scan every file as `plan` does; the lines of shops found."""
    return sum(sum(scan_file(path).values()) for path in files)


def exhaust(events: Iterable[object]) -> int:
    """Exhaust an iterator of events; how many."""
    n = 0
    for _ in events:
        n += 1
    return n


def read_one(path: Path, vocabulary: Vocabulary) -> int:
    """Read one file straight through (as a one-process run reads a single log); its events."""
    with open_log(str(path)) as stream:
        return exhaust(read_events(stream, stats=ReadStats(), vocabulary=vocabulary))


def parts(args: argparse.Namespace, total: int, folder: Path, combined: Path) -> None:
    """The scan per line and the merge per event, against reading one file (see the module doc)."""
    files = sorted(str(path) for path in folder.iterdir())
    policy = Loader().load(POLICY).policy
    assert policy is not None, "the example policy loads"
    vocabulary = Vocabulary.of_platform(policy.platform)   # the pages and senders of --platform douyin
    scan = merge = one = float("inf")
    for _ in range(args.repeat):   # the three in turn: a round's figures share the machine's speed of the moment
        scan = min(scan, timed(lambda: scan_lines(files), total))
        merge = min(merge, timed(lambda: exhaust(read_merged(files, vocabulary=vocabulary)[1]), total))
        one = min(one, timed(lambda: read_one(combined, vocabulary), total))
    us = 1e6 / total
    print(f"parts, in this process, best of {args.repeat}: {len(files)} files, {total:,} lines")
    for label, seconds, unit in ((f"scan      scan_file over the {len(files)} files", scan, "line"),
                                 (f"merge     read_merged over the {len(files)} files", merge, "event"),
                                 ("one file  read_events over the one file", one, "event")):
        print(f"{label:<44} {seconds:7.2f} s  {seconds * us:5.2f} us/{unit}")
    print(f"merge - one file: {merge * us - one * us:.2f} us/event ({merge - one:.2f} s over {total:,} events); "
          f"merge / one file: {merge / one:.2f}")


def small(args: argparse.Namespace, tmp: Path) -> None:
    """The whole command on a small log of a file per shop: what start-up, forking and a Dask cluster cost."""
    one = tmp / "small-one.jsonl"
    make_log(one, args.small_count // SMALL_SHOPS, POLICY, 1)
    folder = tmp / "small"
    total = shop_logs(one, SMALL_SHOPS, folder, None)
    runs = {"--jobs 1": ["--jobs", "1"], "--jobs 2": ["--jobs", "2"]}
    if args.dask:
        try:
            import distributed  # noqa: F401
            runs["--dask local --jobs 2"] = ["--dask", "local", "--jobs", "2"]
        except ImportError:
            print("dask: not installed (pip install 'kefu[dask]')")
    walls: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.small_rounds):   # in turn: a round's runs share the machine's speed of the moment
        for name, extra in runs.items():
            walls[name].append(run(folder, *extra)[0])
    print(f"small log: {SMALL_SHOPS} shops x {args.small_count // SMALL_SHOPS:,} events = {total:,}, a file per "
          f"shop; wall seconds of the whole command, {args.small_rounds} rounds: median (min-max)")
    against = {"--jobs 2": "--jobs 1", "--dask local --jobs 2": "--jobs 2"}
    for name, times in walls.items():
        line = f"{name:<22} {statistics.median(times):5.2f} s ({min(times):.2f}-{max(times):.2f})"
        if name in against:
            other = walls[against[name]]
            ratio = statistics.median(a / b for a, b in zip(times, other))
            added = statistics.median(a - b for a, b in zip(times, other))
            line += f"  against {against[name]}: {ratio:.2f}x, {added:+.2f} s (medians of the rounds')"
        print(line)


def memory(args: argparse.Namespace, tmp: Path) -> None:
    for count in (int(c) for c in args.memory_counts.split(",")):
        one = tmp / f"one-{count}.jsonl"
        make_log(one, count, POLICY, 1)
        wall, rss = run(one)
        print(f"memory: 1 shop, {count:,} events: peak RSS {rss:.0f} MB ({wall:.0f} s)")
        folder = tmp / f"many-{count}"
        per_shop = tmp / f"per-shop-{count}.jsonl"
        make_log(per_shop, count // args.memory_shops, POLICY, 1)
        shop_logs(per_shop, args.memory_shops, folder, None)
        for jobs in ("1", "2"):
            wall, rss = run(folder, "--jobs", jobs)
            print(f"memory: {args.memory_shops} shops, {count:,} events, --jobs {jobs}: largest peak RSS of a "
                  f"process {rss:.0f} MB ({wall:.0f} s)")
        for path in [one, per_shop, *folder.iterdir()]:
            path.unlink()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shops", type=int, default=8, help="shops of the speed log (default 8)")
    ap.add_argument("--count", type=int, default=800_000, help="events of the speed log, all shops (default 800,000)")
    ap.add_argument("--jobs", default=f"1,2,{os.cpu_count() or 1}", help="the --jobs values to time")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs of each; the best is kept")
    ap.add_argument("--no-dask", dest="dask", action="store_false", help="skip the Dask local cluster")
    ap.add_argument("--no-speed", dest="speed", action="store_false", help="skip the timings")
    ap.add_argument("--memory", action="store_true", help="also measure peak memory against log length")
    ap.add_argument("--memory-counts", default="1000000,10000000", help="log lengths for --memory")
    ap.add_argument("--memory-shops", type=int, default=100, help="shops of the many-shop memory logs")
    ap.add_argument("--parts", action="store_true", help="also time the scan and the merge in this process")
    ap.add_argument("--small", action="store_true", help="also time the whole command on a small log")
    ap.add_argument("--small-count", type=int, default=8000, help="events of the small log, 4 shops (default 8,000)")
    ap.add_argument("--small-rounds", type=int, default=5, help="rounds of the small log's runs (default 5)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.speed or args.parts:
            total, folder, combined = layouts(args, Path(tmp))
            if args.speed:
                speed(args, total, folder, combined)
            if args.parts:
                parts(args, total, folder, combined)
        if args.small:
            small(args, Path(tmp))
        if args.memory:
            memory(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
