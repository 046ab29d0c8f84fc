"""Replay throughput against the decoding floor, and peak memory against log length.

In one run, over the same log (generated with engine.synth from the example
policy, or given with --events):

  floor   orjson.loads + timestamp parse per line (what merely decoding costs)
  replay  the whole `kefu replay` loop: read_events (validation, reorder buffer),
          Engine.feed for every event, every decision encoded as JSON Lines

and prints both rates and replay/floor (the target is at least 1/3). Then it
replays the first quarter and the whole log in fresh processes and prints each
one's peak RSS, to show memory follows live state, not log length.

    python benchmarks/bench_replay.py                 # 1,000,000 generated events
    python benchmarks/bench_replay.py --count 200000  # quicker
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_decode import best_of, make_log, pass_orjson  # noqa: E402

from engine.loader import Loader  # noqa: E402
from engine.replay import replay  # noqa: E402


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


def peak_rss_mb(policy: Path, log: Path, lines: int | None, tmp: Path) -> float:
    """Peak RSS of a fresh `kefu replay` process over the first `lines` lines of log."""
    if lines is not None:
        part = tmp / f"first-{lines}.jsonl"
        with open(log, "rb") as src, open(part, "wb") as dst:
            for _, line in zip(range(lines), src):
                dst.write(line)
        log = part
    code = (f"import resource, sys; sys.path.insert(0, {str(ROOT)!r}); sys.argv = ['kefu', 'replay', {str(policy)!r}, "
            f"'--events', {str(log)!r}, '--decisions', '/dev/null', '--report', '/dev/null']\n"
            "from engine.cli import app\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=Path)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--policy", type=Path, default=ROOT / "rulesets/examples/douyin-flagship.kefu")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.events
        if path is None:
            path = Path(tmp) / "events.jsonl"
            took = make_log(path, args.count, args.policy, 1)
            print(f"generated {args.count:,} events in {took:.1f} s")
        size = os.path.getsize(path)
        pass_orjson(path)
        (floor_s, n), (replay_s, accepted) = best_of([pass_orjson, pass_replay(args.policy)], path, args.repeat)
        print(f"log: {n:,} events, {size / 1e6:.1f} MB; policy {args.policy.relative_to(ROOT)}; "
              f"Python {platform.python_version()}; best of {args.repeat}")
        print(f"{'pass':<44}{'events/s':>12}{'seconds':>9}")
        print(f"{'floor: orjson.loads + timestamp parse':<44}{n / floor_s:>12,.0f}{floor_s:>9.2f}")
        print(f"{'replay: read, validate, decide, write':<44}{accepted / replay_s:>12,.0f}{replay_s:>9.2f}")
        print(f"replay / floor throughput: {floor_s / replay_s:.2f} (target ≥ 0.33)")
        if not args.no_memory:
            quarter = peak_rss_mb(args.policy, path, n // 4, Path(tmp))
            whole = peak_rss_mb(args.policy, path, None, Path(tmp))
            print(f"peak RSS: {quarter:.0f} MB for {n // 4:,} events, {whole:.0f} MB for {n:,} events "
                  f"({whole / quarter:.2f}x for 4x the log)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
