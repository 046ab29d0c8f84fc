"""How long `kefu test` on the shipped scenarios and `kefu fmt --check` on the shipped rulesets work,
beyond start-up.

Each is timed in-process (the same functions the commands call, imports and the grammar already
loaded: that is start-up), best of --repeat runs, and printed in seconds; then one whole process of
each command is timed, start-up included, for comparison.

    python benchmarks/bench_authoring.py              # best of 5
    python benchmarks/bench_authoring.py --repeat 1
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.fmt import format_text  # noqa: E402
from engine.loader import Loader  # noqa: E402
from engine.testrun import run_paths  # noqa: E402

SCENARIOS = [ROOT / "rulesets" / "examples", ROOT / "tests" / "conformance"]
RULESETS = sorted((ROOT / "rulesets").rglob("*.kefu"))


def best(work, repeat: int) -> float:
    """The best wall time of repeat runs of work()."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def run_tests() -> None:
    outcome = run_paths(SCENARIOS, loader=Loader())
    assert outcome.results and outcome.failed == 0 and not outcome.errors


def check_layout() -> None:
    for path in RULESETS:
        format_text(path.read_text(encoding="utf-8"), path.as_posix())


def process(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, capture_output=True, check=False)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    run_tests()     # warm: imports, the grammar, the platform files
    check_layout()
    cases = len(run_paths(SCENARIOS, loader=Loader()).results)
    print(f"kefu test, {cases} cases (examples + conformance), work: {best(run_tests, args.repeat):.3f} s")
    print(f"kefu fmt --check, {len(RULESETS)} files (rulesets), work: {best(check_layout, args.repeat):.3f} s")
    print(f"whole process, start-up included: kefu test {process('test', *map(str, SCENARIOS)):.3f} s, "
          f"kefu fmt --check {process('fmt', '--check', str(ROOT / 'rulesets')):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
