"""Decoding floor of event logs: what reading a log costs before any replay work.

Generates a synthetic log of --count events (default 1,000,000) with engine.synth into a
temporary file, or takes an existing one with --events FILE, then times over the same file:

  (a) orjson.loads + ts parse per line      the floor with orjson
  (b) json.loads   + ts parse per line      the same with the standard library
  (a2) orjson.loads + datetime.fromisoformat(ts).timestamp()   the ts parse without the cache
  (c) read_events, full validation          what `kefu replay` pays (reorder buffer, Event objects)

The ts parse in (a) and (b) is engine.events.parse_ts with its minute/hour cache, so (a)/(b)
isolates the JSON library, and (a2)/(a) the ts cache. Each pass is timed `--repeat` times and the
best is kept; the runs go round the passes in turn, so a slow spell of the machine does not fall on
one pass only.

    python benchmarks/bench_decode.py                  # generate 1M events, time them
    python benchmarks/bench_decode.py --events log.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections import deque
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402
import orjson  # noqa: E402

from engine.events import ReadStats, parse_ts, read_events  # noqa: E402
from engine.loader import Loader  # noqa: E402
from engine.synth import generate_log  # noqa: E402


class _FirstLines:
    """A binary writer that keeps only the first `limit` lines."""

    def __init__(self, out, limit: int):
        self.out, self.left = out, limit

    def write(self, data: bytes) -> int:
        if self.left <= 0:
            return len(data)
        lines = data.count(b"\n")
        if lines <= self.left:
            self.out.write(data)
            self.left -= lines
        else:
            cut = 0
            for _ in range(self.left):
                cut = data.index(b"\n", cut) + 1
            self.out.write(data[:cut])
            self.left = 0
        return len(data)


def make_log(path: Path, count: int, policy_path: Path, seed: int) -> float:
    """Write exactly `count` synthetic events to path; returns the seconds it took."""
    policy = Loader().load(policy_path).policy
    if policy is None:
        raise SystemExit(f"{policy_path}: policy does not load")
    consumers = 2000
    start = time.perf_counter()

    class _Count:
        n = 0

        def write(self, data: bytes) -> int:
            self.n += data.count(b"\n")
            return len(data)

    trial = _Count()
    generate_log(policy, day=date(2026, 11, 11), consumers=consumers, seed=seed, out=trial)
    days = max(1, math.ceil(count / max(1, trial.n) * 1.05))
    with open(path, "wb") as out:
        sink = _FirstLines(out, count)
        generate_log(policy, day=date(2026, 11, 11), days=days, consumers=consumers, seed=seed, out=sink)
    return time.perf_counter() - start


def _pass_decode(path: Path, loads) -> int:
    """Decode every line with loads and parse its ts as the reader does; returns the lines read."""
    cache: dict = {}
    n = 0
    with open(path, "rb") as f:
        for raw in f:
            parse_ts(loads(raw)["ts"], cache)
            n += 1
    return n


def pass_orjson(path: Path) -> int:
    return _pass_decode(path, orjson.loads)


def pass_orjson_fromisoformat(path: Path) -> int:
    loads, parse, n = orjson.loads, datetime.fromisoformat, 0
    with open(path, "rb") as f:
        for raw in f:
            ts = loads(raw)["ts"]
            parse(ts).timestamp() if type(ts) is str else float(ts)
            n += 1
    return n


def pass_json(path: Path) -> int:
    return _pass_decode(path, json.loads)


def pass_read_events(path: Path) -> int:
    stats = ReadStats()
    with open(path, "rb") as f:
        deque(read_events(f, stats=stats), maxlen=0)
    if stats.rejected:
        raise SystemExit(f"{path}: {stats.rejected} lines rejected; the benchmark needs a clean log")
    return stats.accepted


def best_of(passes: list, path: Path, repeat: int) -> list[tuple[float, int]]:
    """(best seconds, events) of each pass, timing them in turn `repeat` times."""
    best, counts = [math.inf] * len(passes), [0] * len(passes)
    for _ in range(repeat):
        for i, fn in enumerate(passes):
            start = time.perf_counter()
            counts[i] = fn(path)
            best[i] = min(best[i], time.perf_counter() - start)
    return list(zip(best, counts))


def add_log_options(ap: argparse.ArgumentParser) -> None:
    """The options that choose the log a benchmark reads (and how often it times each pass)."""
    ap.add_argument("--events", type=Path, help="an existing event log (JSONL) instead of a generated one")
    ap.add_argument("--count", type=int, default=1_000_000, help="events to generate (default 1,000,000)")
    ap.add_argument("--policy", type=Path, default=ROOT / "rulesets/examples/douyin-flagship.kefu")
    ap.add_argument("--seed", type=int, default=1, help="seed of the generated log")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per pass; the best is kept")


def log_to_read(args: argparse.Namespace, tmp: Path) -> Path:
    """--events, or a log of --count events generated into tmp from --policy."""
    if args.events is not None:
        return args.events
    path = tmp / "events.jsonl"
    took = make_log(path, args.count, args.policy, args.seed)
    print(f"generated {args.count:,} events with engine.synth in {took:.1f} s")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_log_options(ap)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = log_to_read(args, Path(tmp))
        size = os.path.getsize(path)
        pass_orjson(path)  # warm the page cache
        passes = [("(a) orjson.loads + parse_ts", pass_orjson),
                  ("(b) json.loads + parse_ts", pass_json),
                  ("(a2) orjson.loads + fromisoformat", pass_orjson_fromisoformat),
                  ("(c) read_events (full validation)", pass_read_events)]
        rows = list(zip([label for label, _ in passes], best_of([fn for _, fn in passes], path, args.repeat)))

    n = rows[0][1][1]
    print(f"log: {n:,} events, {size / 1e6:.1f} MB; Python {platform.python_version()}, orjson {orjson.__version__}, "
          f"msgspec {msgspec.__version__}; best of {args.repeat}")
    print(f"{'pass':<36}{'events/s':>12}{'µs/event':>10}{'seconds':>9}")
    for label, (seconds, count) in rows:
        print(f"{label:<36}{count / seconds:>12,.0f}{seconds / count * 1e6:>10.2f}{seconds:>9.2f}")
    a, b, a2, c = (r[1][0] for r in rows)
    print(f"orjson vs json (b/a): {b / a:.2f}x faster; cached ts parse vs fromisoformat (a2/a): {a2 / a:.2f}x faster")
    print(f"full validation vs the orjson floor (c/a): {c / a:.2f}x the time; "
          f"read_events vs a json.loads floor (b/c): {b / c:.2f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
