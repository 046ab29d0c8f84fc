"""The what-if replay's cost: `--agents model` against the plain replay, per event of the same log.

Over one generated log (engine.synth from the example policy, --count events), calibrated on itself with
`kefu calibrate`, it times in fresh processes (CPU seconds of the child), in --repeat rounds that run each of
these once, back to back:

  plain      kefu replay POLICY --events LOG
  model      kefu replay POLICY --events LOG --agents model --model agents.yaml
  compiled   the same, with the actor compiled by mypyc as a wheel build compiles it (hatch_build.py)

and prints the best of each, per event, and model/plain as the median of the rounds' own ratios (the target is
at most 1.5): a round's runs share the machine's speed of the moment, which drifts on a shared machine. The compiled actor is built into a
copy of the tree in a temporary directory (it needs mypy, setuptools and hatchling, as the test extras
install, and a C compiler; --pure-only skips it). Its output is checked byte-identical to the pure one's.

    python benchmarks/bench_whatif.py                  # 1,000,000 events
    python benchmarks/bench_whatif.py --count 200000 --repeat 1
"""

from __future__ import annotations

import argparse
import filecmp
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from bench_decode import make_log  # noqa: E402

POLICY = ROOT / "rulesets" / "examples" / "douyin-flagship.kefu"


def cpu_seconds(tree: Path, *args: str) -> float:
    """CPU seconds (user + system) of one kefu command, run from a tree's source, to its end in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "engine.cli", *args], check=True, cwd=tree, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def compiled_tree(where: Path) -> Path:
    """A copy of the tree whose actor is compiled as a wheel build compiles it."""
    from hatch_build import COMPILED, compile_modules

    tree = where / "tree"
    for part in ("engine", "grammar", "rulesets"):
        shutil.copytree(ROOT / part, tree / part, ignore=shutil.ignore_patterns("__pycache__"))
    out = where / "build"
    for rel in compile_modules(tree, out, COMPILED):
        shutil.copy2(out / "lib" / rel, tree / rel)
    return tree


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000, help="events of the log (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds: timed runs of each")
    ap.add_argument("--pure-only", action="store_true", help="time the pure-Python actor only")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        log, model = Path(tmp) / "events.jsonl", Path(tmp) / "agents.yaml"
        make_log(log, args.count, POLICY, 1)
        cpu_seconds(ROOT, "calibrate", str(log), "--out", str(model))
        trees = {"plain": ROOT, "model": ROOT}
        if not args.pure_only:
            trees["compiled"] = compiled_tree(Path(tmp))
        runs: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.repeat):
            for name, tree in trees.items():
                extra = [] if name == "plain" else ["--agents", "model", "--model", str(model)]
                runs[name].append(cpu_seconds(tree, "replay", str(POLICY), "--events", str(log), *extra))
        if "compiled" in trees:
            same = [_decisions(tree, log, model, Path(tmp) / f"{name}.jsonl") for name, tree in trees.items()
                    if name != "plain"]
            identical = filecmp.cmp(same[0], same[1], shallow=False)
    best = {name: min(times) for name, times in runs.items()}
    print(f"{args.count:,} events (douyin-flagship, generated), CPU seconds of the whole command, best of {args.repeat}")
    labels = {"plain": "plain replay", "model": "--agents model", "compiled": "  compiled actor"}
    for name, seconds in best.items():
        print(f"{labels[name]:<20}{seconds:7.2f} s  {seconds / args.count * 1e6:6.2f} us/event")
    print(f"model / plain: {paired(runs['model'], runs['plain']):.2f} (median of {args.repeat} rounds; target <= 1.5)")
    if "compiled" in runs:
        print(f"model / plain with the compiled actor: {paired(runs['compiled'], runs['plain']):.2f}; "
              f"decisions {'byte-identical' if identical else 'DIFFERENT'} to the pure actor's")
    return 0


def paired(a: list[float], b: list[float]) -> float:
    """The median of the rounds' ratios a / b."""
    return statistics.median(x / y for x, y in zip(a, b))


def _decisions(tree: Path, log: Path, model: Path, out: Path) -> Path:
    """The model replay's decisions, from a tree's source."""
    subprocess.run([sys.executable, "-m", "engine.cli", "replay", str(POLICY), "--events", str(log), "--agents", "model",
                    "--model", str(model), "--decisions", str(out)], check=True, cwd=tree, stdout=subprocess.DEVNULL)
    return out


if __name__ == "__main__":
    sys.exit(main())
