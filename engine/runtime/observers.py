"""The one interface through which the metric trackers observe what the engine does.

The engine tells a `MetricHub` each thing a metric may count (a consumer's message, an
assignment, a reply by kind, a transfer, a day the shop was active, the end of input);
the hub passes it to the trackers that can be changed by it. A new observer of the
engine's doings (a trace, a what-if model) hooks in here rather than in the engine.

The observations of every event are callables made once: with one interested tracker,
the tracker's own method (no call added per event); with none, nothing (replies: None).
"""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Any, Callable, Iterable, Sequence

from .. import ir
from .clock import LocalClock
from .metrics import MetricRow, MetricTracker
from .replies import SEND_ORDER

Observe = Callable[..., None]
Outcome = Callable[[str, str | None, float, bool | None], None]


def fan_out(methods: Sequence[Observe]) -> Observe | None:
    """One callable that calls each of methods in order: the method itself if it is the only one, None if none."""
    if not methods:
        return None
    if len(methods) == 1:
        return methods[0]

    def each(*args: Any) -> None:
        for method in methods:
            method(*args)
    return each


def _nothing(*args: Any) -> None:
    """An observation no tracker wants."""


class _ReplyObservers(dict):
    """A human sender kind → the observation of its replies (None: no tracker cares), made on first sight."""

    def __init__(self, trackers: Sequence[MetricTracker]):
        super().__init__()
        self.trackers = trackers

    def __missing__(self, sender: str) -> Observe | None:
        observe = self[sender] = fan_out([t.reply for t in self.trackers if t.cares_about(sender, False)])
        return observe


class MetricHub:
    """The platform's metric trackers, told what happens through one observation per kind of happening.

    consumer_message(shop, consumer, ts, agent): a consumer wrote, in a session with agent (None: none).
    assigned(shop, consumer, ts, agent): the consumer was given to the agent.
    transferred(shop, consumer, ts, from_agent, to_agent): the log moved the consumer.
    replies[sender](shop, consumer, ts, sender): a person of this sender kind replied (None: no tracker cares).
    auto_replies[kind](shop, consumer, ts, kind): the policy sent an automatic reply (None: no tracker cares).
    The units each metric counts are told to an observer set with watch_outcomes.
    """

    def __init__(self, metrics: Iterable[ir.Metric], tz: str):
        self.trackers = [MetricTracker(m, LocalClock(tz)) for m in metrics]
        trackers = self.trackers
        self.consumer_message: Observe = fan_out([t.consumer_message for t in trackers]) or _nothing
        self.assigned: Observe = fan_out([t.assigned for t in trackers]) or _nothing
        self.transferred: Observe = fan_out([t.transferred for t in trackers]) or _nothing
        self.replies: dict[str, Observe | None] = _ReplyObservers(trackers)
        # the first effective automatic reply answers, the rest find no question waiting
        self.auto_replies = {kind: fan_out([partial(t.reply, automatic=True) for t in trackers
                                            if t.cares_about(kind, True)]) for kind in SEND_ORDER}

    def watch_outcomes(self, observer_of: Callable[[str], Outcome]) -> None:
        """Tell observer_of(metric name) every unit that metric counts: (shop, agent, start, met), met None
        when a unit counted met turns missed (a report breakdown; engine/breakdown.py)."""
        for tracker in self.trackers:
            tracker.on_outcome = observer_of(tracker.metric.name)

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
