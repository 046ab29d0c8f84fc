"""The report's `--by agent` and `--by hour` tables: decisions and metric outcomes broken down.

A `Breakdown` observes a replay from outside the engine: it reads the decisions the
engine returns, and each metric tracker tells it every unit it counts (a question or a
consumer-day: met or missed, with the agent the unit was with and when it started). So
the engine does no extra work unless a breakdown is asked for.

What the tables count (docs/replay.md, "Breakdowns"):

- **by agent**, per shop over the whole log: `assigned` (the agent's `assign` and
  `offline_route` decisions, dequeues and `taken_by_agent` included), `transfers_in`
  (the log's transfers to the agent), `peak_load` (the most consumers the agent held at
  once, read from those decisions) and `cap` (the agent's reception cap at that
  moment), and per metric the units attributed to the agent: eligible, met, rate. A unit
  is attributed to the agent the consumer was assigned to when it started (or first
  assigned after); a unit never assigned to anyone is the `(none)` row.
- **by hour**, per shop and local hour of the day (0–23) summed over every day of the
  log: `assigned`, `queued` (`enqueue` and `offline_pool` decisions), `peak_queue` (the
  longest queue a decision of that hour saw), and per metric the units that started in
  that hour: eligible, met, rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .runtime.clock import LocalClock
from .runtime.decisions import Assigned, Decision, Queued, Transferred

if TYPE_CHECKING:
    from .runtime import Engine

KINDS = ("agent", "hour")
NO_AGENT = "(none)"
"""The by-agent row of units never assigned to an agent."""


class _Row:
    """One row's counts: decisions, and [eligible, met] per metric."""

    __slots__ = ("assigned", "transfers_in", "peak_load", "cap", "queued", "peak_queue", "metrics")

    def __init__(self) -> None:
        self.assigned = 0
        self.transfers_in = 0
        self.peak_load = 0
        self.cap: int | None = None
        self.queued = 0
        self.peak_queue = 0
        self.metrics: dict[str, list[int]] = {}


class Breakdown:
    """Counts a replay's decisions and metric outcomes by agent and by local hour."""

    def __init__(self, engine: Engine, kinds: Iterable[str]):
        kinds = set(kinds)
        unknown = kinds - set(KINDS)
        if unknown:
            raise ValueError(f"unknown breakdown {sorted(unknown)[0]!r} (known: {', '.join(KINDS)})")
        self.kinds = tuple(k for k in KINDS if k in kinds)
        self.clock = LocalClock(engine.clock.tz.key)
        self.metric_names = [tracker.metric.name for tracker in engine.metrics]
        self.by_agent: dict[tuple[str, str], _Row] = {}
        self.by_hour: dict[tuple[str, int], _Row] = {}
        engine.observers.watch_outcomes(self._outcome_of)

    def _agent_row(self, shop: str, agent: str) -> _Row:
        row = self.by_agent.get((shop, agent))
        if row is None:
            row = self.by_agent[(shop, agent)] = _Row()
        return row

    def _hour_row(self, shop: str, hour: int) -> _Row:
        row = self.by_hour.get((shop, hour))
        if row is None:
            row = self.by_hour[(shop, hour)] = _Row()
        return row

    def observe(self, decisions: Iterable[Decision]) -> None:
        """Count decisions the engine returned."""
        for d in decisions:
            if isinstance(d, Assigned):
                hour = int(d.ts[11:13])   # ts is local RFC 3339 text
                self._hour_row(d.shop, hour).assigned += 1
                row = self._agent_row(d.shop, d.agent or NO_AGENT)
                row.assigned += 1
                if d.load >= row.peak_load:
                    row.peak_load, row.cap = d.load, d.cap
            elif isinstance(d, Queued):
                row = self._hour_row(d.shop, int(d.ts[11:13]))
                row.queued += 1
                row.peak_queue = max(row.peak_queue, d.queue_length)
            elif isinstance(d, Transferred):
                self._agent_row(d.shop, d.agent or NO_AGENT).transfers_in += 1

    def _outcome_of(self, metric: str):
        def outcome(shop: str, agent: str | None, start: float, met: bool | None) -> None:
            hour = int(self.clock.iso(start)[11:13])   # the wall-clock hour, also on a day with a DST change
            for row in (self._agent_row(shop, agent or NO_AGENT), self._hour_row(shop, hour)):
                tally = row.metrics.get(metric)
                if tally is None:
                    tally = row.metrics[metric] = [0, 0]
                if met is None:   # a unit counted met turned missed
                    tally[1] -= 1
                else:
                    tally[0] += 1
                    tally[1] += met
        return outcome

    def to_dict(self) -> dict[str, list[dict]]:
        """The tables in the report's JSON shape, sorted by shop, then agent or hour."""
        out: dict[str, list[dict]] = {}
        if "agent" in self.kinds:
            out["by_agent"] = [
                {"shop": shop, "agent": agent, "assigned": row.assigned, "transfers_in": row.transfers_in,
                 "peak_load": row.peak_load, "cap": row.cap, "metrics": self._metrics(row)}
                for (shop, agent), row in sorted(self.by_agent.items())]
        if "hour" in self.kinds:
            out["by_hour"] = [
                {"shop": shop, "hour": hour, "assigned": row.assigned, "queued": row.queued,
                 "peak_queue": row.peak_queue, "metrics": self._metrics(row)}
                for (shop, hour), row in sorted(self.by_hour.items())]
        return out

    def _metrics(self, row: _Row) -> dict[str, dict]:
        figures = {}
        for name in self.metric_names:
            eligible, met = row.metrics.get(name, (0, 0))
            figures[name] = {"eligible": eligible, "met": met,
                             "rate": round(met / eligible, 6) if eligible else None}
        return figures
