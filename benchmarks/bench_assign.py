"""Choosing an agent: the cost per routed consumer on desks of 10, 1,000 and 100,000 agents.

Every agent comes online with a reception cap of 10; then consumers arrive one a second, each is
assigned by the policy's strategy, and the session of the consumer routed `--keep` arrivals earlier
ends (so the desk stays at a steady load and loads differ between agents). The time of a routed
consumer is that of its message and of one session end, through Engine.feed, in CPU time. Run:

    python benchmarks/bench_assign.py
    python benchmarks/bench_assign.py --agents 10 1000 100000 --consumers 2000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.events import Event  # noqa: E402
from engine.loader import Loader  # noqa: E402
from engine.runtime import Engine  # noqa: E402

ASSIGNMENTS = ("least_loaded ties first", "least_loaded ties round_robin", "idle_rate ties random",
               "longest_idle ties first", "round_robin ties first", "random ties first")
START = 1_794_355_200.0   # 2026-11-11 08:00 in Shanghai


def engine_for(assign: str) -> Engine:
    """An engine for a Douyin shop (no queue, no automation) assigning by `assign`."""
    with tempfile.TemporaryDirectory() as tmp:
        shop = Path(tmp) / "shop.kefu"
        shop.write_text(f'shop "s" on douyin\nassign by {assign}\n', encoding="utf-8")
        result = Loader().load(shop)
    assert result.policy is not None, [d.message for d in result.diagnostics]
    return Engine(result.policy, seed=1)


def routed_cost(assign: str, agents: int, consumers: int, keep: int) -> tuple[float, str]:
    """Seconds per routed consumer, and the last agent chosen (the same before and after a change)."""
    engine = engine_for(assign)
    for i in range(agents):
        engine.feed(Event(line=i, ts=START, type="agent_status", shop="s", agent=f"a{i}", status="online",
                          max_sessions=10))
    steady = min(keep, agents * 5)   # half the desk's slots
    arrivals = [Event(line=i, ts=START + 1 + i, type="message", shop="s", sender="consumer", consumer=f"c{i}")
                for i in range(steady + consumers)]
    ends = [Event(line=i, ts=START + 1 + i, type="session_end", shop="s", consumer=f"c{i - steady}")
            for i in range(steady + consumers)]
    for event in arrivals[:steady]:   # fill the desk (not timed)
        engine.feed(event)
    last = ""
    start = time.process_time()   # CPU time: the machine may be shared
    for arrival, end in zip(arrivals[steady:], ends[steady:]):
        out = engine.feed(arrival)
        engine.feed(end)
        last = out[0].agent or ""
    return (time.process_time() - start) / consumers, last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[10, 1000, 100_000])
    parser.add_argument("--consumers", type=int, default=2000, help="consumers timed per desk (default 2000)")
    parser.add_argument("--keep", type=int, default=20_000, help="open sessions kept (at most half the slots)")
    parser.add_argument("--assign", nargs="+", default=list(ASSIGNMENTS), help="strategies, e.g. 'idle_rate ties random'")
    args = parser.parse_args(argv)
    print(f"{'assign by':<32} {'agents':>8} {'µs / routed consumer':>21}  last chosen")
    for assign in args.assign:
        for agents in args.agents:
            cost, last = routed_cost(assign, agents, args.consumers, args.keep)
            print(f"{assign:<32} {agents:>8,} {cost * 1e6:>21.1f}  {last}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
