"""Replay throughput against the decoding floor, and peak memory against log length.

In one run, over the same log (generated with engine.synth from the example
policy, or given with --events):

  floor   orjson.loads + timestamp parse per line (what merely decoding costs), the timestamp
          parsed as the reader does (a cache per minute); also printed against a plain decode,
          datetime.fromisoformat for every timestamp
  replay  the whole `kefu replay` loop: read_events (validation, reorder buffer),
          Engine.feed for every event, every decision encoded as JSON Lines

and prints both rates and replay/floor (the target is at least 1/3). Then it
replays the first quarter and the whole log in fresh processes and prints each
one's peak RSS, to show memory follows live state, not log length.

With --parts it also times the replay's parts, in µs per event: the reader
alone (read_events over the log), the engine alone (Engine.feed over events
read beforehand, the first --parts-events of the log, kept in memory) and the
encoding of the decisions it made (encode_lines + write, a batch at a time, as the replay does).
Run together the parts cost more than their sum (they share the CPU's caches).
It also counts the Python work the engine does per event (lines executed and calls made,
with sys.settrace over the first --work-events events), and from the measured engine time
the cost of one line, and so how many lines an event may cost for the replay to meet the
target with the reader and the encoding as they are.

    python benchmarks/bench_replay.py                 # 1,000,000 generated events
    python benchmarks/bench_replay.py --count 200000  # quicker
    python benchmarks/bench_replay.py --events log.jsonl --no-memory --parts
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_decode import (  # noqa: E402
    add_log_options, best_of, log_to_read, pass_orjson, pass_orjson_fromisoformat, pass_read_events,
)

from engine.events import ReadStats, read_events  # noqa: E402
from engine.loader import Loader  # noqa: E402
from engine.replay import WRITE_BATCH, replay  # noqa: E402
from engine.runtime import Engine  # noqa: E402
from engine.runtime.decisions import encode_lines  # noqa: E402


class _Null:
    """Counts bytes written and keeps none."""

    def __init__(self):
        self.n = 0

    def write(self, data) -> int:
        self.n += len(data)
        return len(data)


def pass_replay(policy_path: Path):
    policy = Loader().load(policy_path).policy

    def run(path: Path) -> int:
        with open(path, "rb") as stream:
            result = replay(policy, stream, seed=0, decisions_out=_Null())
        return result.stats.accepted

    return run


def time_parts(policy_path: Path, path: Path, repeat: int, limit: int) -> list[tuple[str, float]]:
    """(part, best µs/event) for the reader alone, the engine alone and the decisions' encoding."""
    policy = Loader().load(policy_path).policy
    with open(path, "rb") as stream:
        events = list(islice(read_events(stream, stats=ReadStats()), limit))

    def engine_alone() -> None:
        engine = Engine(policy, seed=0)
        feed = engine.feed
        for event in events:
            feed(event)
        engine.finish()

    engine = Engine(policy, seed=0)   # the decisions to encode, made once more (not timed)
    decisions = [decision for event in events for decision in engine.feed(event)] + engine.finish()

    def encode() -> None:
        write = _Null().write
        for start in range(0, len(decisions), WRITE_BATCH):
            write(encode_lines(decisions[start:start + WRITE_BATCH]))

    read = pass_read_events(path)  # events in the whole log
    reader = min(_seconds(lambda: pass_read_events(path), repeat)) / read
    feeding = min(_seconds(engine_alone, repeat)) / len(events)
    encoding = min(_seconds(encode, repeat)) / len(events)
    return [("reader: read_events alone", reader), ("engine: Engine.feed over read events", feeding),
            ("encode: encode_lines + write, in batches", encoding)]


def engine_work(policy_path: Path, path: Path, limit: int) -> tuple[float, float, list[tuple[str, float]]]:
    """Python lines executed and calls made per event by Engine.feed over the first `limit` events,
    and the functions that run the most lines (name, lines per event), most first."""
    policy = Loader().load(policy_path).policy
    with open(path, "rb") as stream:
        events = list(islice(read_events(stream, stats=ReadStats()), limit))
    engine = Engine(policy, seed=0)
    lines: Counter[str] = Counter()
    calls = 0

    def trace(frame, event, arg):
        nonlocal calls
        if event == "line":
            lines[frame.f_code.co_qualname] += 1
        elif event == "call":
            calls += 1
        return trace

    sys.settrace(trace)
    try:
        for event in events:
            engine.feed(event)
    finally:
        sys.settrace(None)
    n = len(events)
    return lines.total() / n, calls / n, [(name, count / n) for name, count in lines.most_common(5)]


def _seconds(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def peak_rss_mb(policy: Path, log: Path, lines: int | None, tmp: Path) -> float:
    """Peak RSS of a fresh `kefu replay` process over the first `lines` lines of log."""
    if lines is not None:
        part = tmp / f"first-{lines}.jsonl"
        with open(log, "rb") as src, open(part, "wb") as dst:
            for _, line in zip(range(lines), src):
                dst.write(line)
        log = part
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); sys.argv = ['kefu', 'replay', {str(policy)!r}, "
            f"'--events', {str(log)!r}, '--decisions', '/dev/null', '--report', '/dev/null']\n"
            "from engine.cli import app\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "print(peak_kib())")
    out = subprocess.run([sys.executable, "-c", _PEAK_KIB + code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


# The child's own peak: VmHWM, which a new program starts afresh. (ru_maxrss is kept across exec on
# Linux, so it would report this benchmark's own peak, events held by --parts included.)
_PEAK_KIB = (
    "def peak_kib():\n"
    "    try:\n"
    "        with open('/proc/self/status') as status:\n"
    "            return next(int(l.split()[1]) for l in status if l.startswith('VmHWM:'))\n"
    "    except (OSError, StopIteration):\n"
    "        import resource\n"
    "        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_log_options(ap)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    ap.add_argument("--parts", action="store_true", help="also time the reader, the engine and the encoding apart")
    ap.add_argument("--parts-events", type=int, default=200_000, help="events kept in memory for --parts")
    ap.add_argument("--work-events", type=int, default=50_000, help="events traced for the work count of --parts")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = log_to_read(args, Path(tmp))
        size = os.path.getsize(path)
        pass_orjson(path)
        (floor_s, n), (plain_s, _), (replay_s, accepted) = best_of(
            [pass_orjson, pass_orjson_fromisoformat, pass_replay(args.policy)], path, args.repeat)
        print(f"log: {n:,} events, {size / 1e6:.1f} MB; policy {args.policy.relative_to(ROOT)}; "
              f"Python {platform.python_version()}; best of {args.repeat}")
        print(f"{'pass':<44}{'events/s':>12}{'seconds':>9}")
        print(f"{'floor: orjson.loads + timestamp parse':<44}{n / floor_s:>12,.0f}{floor_s:>9.2f}")
        print(f"{'(plain: orjson.loads + fromisoformat)':<44}{n / plain_s:>12,.0f}{plain_s:>9.2f}")
        print(f"{'replay: read, validate, decide, write':<44}{accepted / replay_s:>12,.0f}{replay_s:>9.2f}")
        print(f"replay / floor throughput: {floor_s / replay_s:.2f} (target ≥ 0.33); "
              f"against the plain decode: {plain_s / replay_s:.2f}")
        if args.parts:
            print(f"{'part (best of ' + str(args.repeat) + ')':<44}{'µs/event':>12}")
            parts = time_parts(args.policy, path, args.repeat, args.parts_events)
            for label, seconds in parts:
                print(f"{label:<44}{seconds * 1e6:>12.2f}")
            print(f"{'replay (above)':<44}{replay_s / accepted * 1e6:>12.2f}")
            lines, calls, busiest = engine_work(args.policy, path, args.work_events)
            (_, reader), (_, feeding), (_, encoding) = parts
            per_line = feeding / lines
            budget = 3 * floor_s / n - reader - encoding   # engine time per event that would meet the target
            print(f"engine work: {lines:.1f} Python lines and {calls:.1f} calls per event, "
                  f"{per_line * 1e9:.0f} ns per line; the target leaves the engine {budget * 1e6:.2f} µs/event, "
                  f"{budget / per_line:.0f} lines at that cost")
            print("lines per event by function: " + ", ".join(
                f"{name} {count:.1f} ({count / lines:.0%})" for name, count in busiest))
        if not args.no_memory:
            quarter = peak_rss_mb(args.policy, path, n // 4, Path(tmp))
            whole = peak_rss_mb(args.policy, path, None, Path(tmp))
            print(f"peak RSS: {quarter:.0f} MB for {n // 4:,} events, {whole:.0f} MB for {n:,} events "
                  f"({whole / quarter:.2f}x for 4x the log)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
