"""The what-if replay's cost: `--agents model` against the plain replay, per event of the same log.

Over one generated log (engine.synth from the example policy, --count events), calibrated on itself with
`kefu calibrate`, it times in fresh processes (best of --repeat, CPU seconds of the child):

  plain   kefu replay POLICY --events LOG
  model   kefu replay POLICY --events LOG --agents model --model agents.yaml

and prints both, per event, and model/plain (the target is at most 1.5).

    python benchmarks/bench_whatif.py                  # 1,000,000 events
    python benchmarks/bench_whatif.py --count 200000 --repeat 1
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_decode import make_log  # noqa: E402

POLICY = ROOT / "rulesets" / "examples" / "douyin-flagship.kefu"


def cpu_seconds(*args: str) -> float:
    """CPU seconds (user + system) of one kefu command run to its end in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "engine.cli", *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000, help="events of the log (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs of each; the best is kept")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        log, model = Path(tmp) / "events.jsonl", Path(tmp) / "agents.yaml"
        make_log(log, args.count, POLICY, 1)
        cpu_seconds("calibrate", str(log), "--out", str(model))
        plain = min(cpu_seconds("replay", str(POLICY), "--events", str(log)) for _ in range(args.repeat))
        modelled = min(cpu_seconds("replay", str(POLICY), "--events", str(log), "--agents", "model", "--model", str(model))
                       for _ in range(args.repeat))
    print(f"{args.count:,} events (douyin-flagship, generated), CPU seconds of the whole command, best of {args.repeat}")
    print(f"plain replay        {plain:7.2f} s  {plain / args.count * 1e6:6.2f} us/event")
    print(f"--agents model      {modelled:7.2f} s  {modelled / args.count * 1e6:6.2f} us/event")
    print(f"model / plain: {modelled / plain:.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
