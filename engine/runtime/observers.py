"""The one interface through which the metric trackers observe what the engine does.

The engine tells a `MetricHub` each thing a metric may count (a consumer's message, an
assignment, a reply by kind, a transfer, a day the shop was active, the end of input);
the hub passes it to the trackers that can be changed by it. A new observer of the
engine's doings (a trace, a what-if model) hooks in here rather than in the engine.
"""

from __future__ import annotations

from datetime import date
from typing import Iterable

from .. import ir
from .clock import LocalClock
from .metrics import MetricRow, MetricTracker
from .replies import SEND_ORDER


class MetricHub:
    """The platform's metric trackers, told what happens through one method per observation."""

    def __init__(self, metrics: Iterable[ir.Metric], tz: str):
        self.trackers = [MetricTracker(m, LocalClock(tz)) for m in metrics]
        # the trackers a reply of a kind can change: human senders filled as seen, automatic kinds here
        self._human: dict[str, tuple[MetricTracker, ...]] = {}
        self._automatic = {kind: tuple(t for t in self.trackers if t.cares_about(kind, True)) for kind in SEND_ORDER}

    def consumer_message(self, shop: str, consumer: str, ts: float, agent: str | None) -> None:
        """A consumer wrote, in a session with agent (None: not assigned, queued or pooled)."""
        assigned = agent is not None
        for tracker in self.trackers:
            tracker.consumer_message(shop, consumer, ts, agent, assigned)

    def assigned(self, shop: str, consumer: str, ts: float, agent: str) -> None:
        """The consumer was given to the agent (by the policy, the log, or a dequeue)."""
        for tracker in self.trackers:
            tracker.assigned(shop, consumer, ts, agent)

    def reply(self, shop: str, consumer: str, ts: float, sender: str) -> None:
        """A person (agent, assistant, ...) of this sender kind replied in the log."""
        trackers = self._human.get(sender)
        if trackers is None:
            trackers = self._human[sender] = tuple(t for t in self.trackers if t.cares_about(sender, False))
        for tracker in trackers:
            tracker.reply(shop, consumer, ts, sender)

    def auto_reply(self, shop: str, consumer: str, ts: float, kind: str) -> None:
        """The policy sent an automatic reply of this kind (the first effective one answers)."""
        for tracker in self._automatic[kind]:
            tracker.reply(shop, consumer, ts, kind, True)

    def transferred(self, shop: str, consumer: str, ts: float, from_agent: str | None, to_agent: str) -> None:
        """The log moved the consumer from one agent to another."""
        for tracker in self.trackers:
            tracker.transferred(shop, consumer, ts, from_agent, to_agent)

    def day_seen(self, shop: str, day: date) -> None:
        """The shop was active on this local day (the report lists it even with nothing counted)."""
        for tracker in self.trackers:
            tracker.mark_day(shop, day)

    def finish(self) -> None:
        """End of input: every question still waiting is settled."""
        for tracker in self.trackers:
            tracker.finish()

    def rows(self) -> list[MetricRow]:
        """Every metric per shop and local day, sorted."""
        rows = [row for tracker in self.trackers for row in tracker.rows()]
        return sorted(rows, key=lambda r: (r.shop, r.date, r.metric))
