"""Calibrate the agent model on an event log (`kefu calibrate`; the rules are in docs/whatif.md).

The log is read with `engine.events.read_events`, the reader the replay uses, and followed consumer by
consumer. A consumer's **conversation** holds what the log says of them: the agent who has them, who
has replied, and whether they are **waiting** (they wrote and no agent has answered since). From it:

- **Reply delays**: a consumer message that starts a wait, to the next agent reply. It is a *first
  reply* when that agent had not replied in the conversation yet (a new consumer for the agent), else
  a *follow-up*. A consumer transferred to an agent waits on that agent from the transfer.
- **In hand**: an agent has a consumer from the start of the wait its first reply answers (the
  consumer is taken to be assigned when they write; from the transfer for a transferred consumer) to
  the end of the conversation (or a transfer away). An agent's **load** when a wait starts is the
  number of consumers it has in hand then, the one waiting included.
- **Conversations end** by a session_end event (by hand), or by the log going quiet (the platform's
  auto-end): IDLE_GAP after the consumer's last event once an agent has replied, MAX_WAIT after the
  first message when none has; a conversation still open at the end of the log ends there. A session_end
  that is the consumer's next event after such a silence, within LATE_END of their last event, ended that
  conversation by hand after all (a long phone call; an agent who ended it late).
- **Patience**: each wait for a conversation's first reply is a patience observation: censored at the
  reply (the consumer waited at least that long), observed when the consumer went unanswered (at the
  session_end, else at their last message), censored at the end of the log when their last event is
  less than IDLE_GAP before it (they may still be waiting).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import BinaryIO, Callable, Iterable, Iterator, Optional
from zoneinfo import ZoneInfo

from ..replay import of_shop   # the other shops' events skipped with --shop, as the replay skips them
from ..events import CONSUMER, Event, ReadStats, Rejected, Vocabulary, read_events
from .model import (
    LOAD_BUCKETS, MIN_OBSERVATIONS, QUANTILES, SURVIVAL_AT, AgentEntry, AgentModel, DelaysByLoad, GroupEntry,
    HourPresence, Patience, Pool, Pooled, PooledDelays, PoolLevel, Presence, SessionEnds, Settings, ShopEntry, Source,
    BUCKET_NAMES, quantile_key,
)

__all__ = ["IDLE_GAP", "LATE_END", "MAX_WAIT", "Calibration", "calibrate", "calibrate_events", "calibrate_stream", "mean_of", "quantiles_of",
           "kaplan_meier", "bucket_of", "survival_quantile", "survival_at"]

IDLE_GAP = 3600
"""Seconds without an event of a consumer, once an agent has replied, after which the conversation has
ended without a session_end (the platform's auto-end)."""

MAX_WAIT = 24 * 3600
"""Seconds a consumer no agent has answered yet is taken to wait at most (the offline pool answers the
next shift); with no reply by then they left unanswered."""

LATE_END = 24 * 3600
"""Seconds after a conversation's last event within which a session_end (the consumer's next event) still
ends it by hand, though the log's silence had closed it; a later one is a stray event."""

SWEEP_EVERY = 3600
"""Seconds of log between two sweeps of the open conversations for those that have ended."""

KINDS = ("first_reply", "follow_up")
_EPSILON = 1e-9


def bucket_of(load: int) -> str:
    """The name of the load bucket a number of consumers in hand falls in."""
    for (low, high), name in zip(LOAD_BUCKETS, BUCKET_NAMES):
        if low <= load and (high is None or load <= high):
            return name
    return BUCKET_NAMES[0]


# ---- statistics --------------------------------------------------------------------------------

def quantiles_of(values: list[float]) -> Optional[dict[str, float]]:
    """The QUANTILES of values by linear interpolation between order statistics (h = (n-1)q), in
    seconds rounded to 0.1; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    last = len(ordered) - 1
    out = {}
    for q in QUANTILES:
        h = last * q
        low = math.floor(h)
        high = min(low + 1, last)
        out[quantile_key(q)] = round(ordered[low] + (h - low) * (ordered[high] - ordered[low]), 1)
    return out


def pool_of(values: list[float]) -> Pool:
    """The Pool (count and quantiles) of some delays."""
    return Pool(n=len(values), mean=mean_of(values), quantiles=quantiles_of(values))


def mean_of(values: list[float]) -> Optional[float]:
    """The mean of values in seconds rounded to 0.1; None for no values."""
    return round(math.fsum(values) / len(values), 1) if values else None


def kaplan_meier(durations: Iterable[tuple[float, bool]]) -> list[tuple[float, float]]:
    """The Kaplan–Meier survival curve of (duration, observed) pairs: (t, S(t)) at each t an observed end
    happens. At a t with both, the censored ones are still at risk at t (the usual convention)."""
    ordered = sorted(durations)
    at_risk, survival, steps = len(ordered), 1.0, []
    i = 0
    while i < len(ordered):
        t, ended, censored = ordered[i][0], 0, 0
        while i < len(ordered) and ordered[i][0] == t:
            ended += ordered[i][1]
            censored += not ordered[i][1]
            i += 1
        if ended:
            survival *= 1 - ended / at_risk
            steps.append((t, survival))
        at_risk -= ended + censored
    return steps


def survival_quantile(steps: list[tuple[float, float]], q: float) -> Optional[float]:
    """The first time at which a share q of consumers has left (S(t) <= 1 - q), None if the curve never gets there."""
    for t, s in steps:
        if s <= 1 - q + _EPSILON:
            return t
    return None


def survival_at(steps: list[tuple[float, float]], t: float) -> float:
    """S(t): the share of consumers still waiting after t seconds."""
    index = bisect_right([x for x, _ in steps], t)
    return steps[index - 1][1] if index else 1.0


def _share(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 4) if whole else None


# ---- following the log ---------------------------------------------------------------------------

@dataclass(slots=True)
class Reply:
    """An agent's reply to a waiting consumer: the wait's start (for that agent), its delay, its kind."""

    agent: str
    kind: str
    since: float
    delay: float


@dataclass(slots=True)
class Stint:
    """A consumer in an agent's hand from start to end."""

    agent: str
    start: float
    end: float


@dataclass(slots=True)
class Ending:
    """How a conversation an agent had ended: by hand (with the seconds after the last exchange) or not."""

    agent: str
    by_hand: bool
    delay: float = 0.0


@dataclass(slots=True)
class QuietEnd:
    """A conversation an agent had, ended by the log's silence; kept until the consumer's next event (its late
    session_end makes it a hand end after all: ShopLog._ended_late) or LATE_END after its last event."""

    ending: int               # its Ending's index in ShopLog.endings
    last_exchange: float
    stints: list[int]         # its Stints' indexes in ShopLog.stints
    last_ts: float            # its last event


@dataclass(slots=True)
class Conversation:
    """What the log has said so far of one consumer's current conversation."""

    agent: Optional[str] = None                  # the agent who has the consumer
    replied: set[str] = field(default_factory=set)
    started: dict[str, float] = field(default_factory=dict)    # agent -> when the consumer came in its hand
    assigned: dict[str, float] = field(default_factory=dict)   # agent -> when it got the consumer by transfer
    waiting_since: Optional[float] = None
    last_ts: float = 0.0            # the consumer's last event of any kind
    last_consumer_ts: float = 0.0   # their last message
    last_message_ts: float = 0.0    # the last message by anyone (the last exchange)


@dataclass
class ShopLog:
    """Everything one shop's events say, gathered while the log is read."""

    replies: list[Reply] = field(default_factory=list)
    stints: list[Stint] = field(default_factory=list)
    endings: list[Ending] = field(default_factory=list)
    waits: list[tuple[float, bool]] = field(default_factory=list)   # (seconds, left unanswered)
    statuses: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    group_of: dict[str, str] = field(default_factory=dict)
    cap_of: dict[str, int] = field(default_factory=dict)
    reply_times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    agents: set[str] = field(default_factory=set)
    consumers: set[str] = field(default_factory=set)
    open: dict[str, Conversation] = field(default_factory=dict)
    quiet: dict[str, QuietEnd] = field(default_factory=dict)   # consumer -> their conversation ended by silence
    first_ts: float = math.inf
    last_ts: float = -math.inf
    next_sweep: float = -math.inf

    def feed(self, ev: Event) -> None:
        """Take one event of the shop (in time order)."""
        self.first_ts = min(self.first_ts, ev.ts)
        self.last_ts = max(self.last_ts, ev.ts)
        if ev.ts >= self.next_sweep:
            self._sweep(ev.ts)
        if ev.type == "agent_status":
            self._status(ev)
            return
        consumer = ev.consumer
        assert consumer is not None   # every other event type names its consumer (events.py)
        self.consumers.add(consumer)
        conv = self.open.get(consumer)
        if conv is not None and self._expired(conv, ev.ts):
            self._close_quiet(consumer)
            conv = None
        late = self.quiet.pop(consumer, None)
        if late is not None and conv is None and ev.type == "session_end" and ev.ts - late.last_ts <= LATE_END:
            self._ended_late(late, ev.ts, ev.agent)
            return
        if conv is None:
            conv = self.open[consumer] = Conversation()
        conv.last_ts = ev.ts
        if ev.type == "message":
            self._message(conv, ev)
        elif ev.type == "transfer":
            assert ev.agent is not None and ev.to_agent is not None
            self._transfer(conv, ev.agent, ev.to_agent, ev.ts)
        elif ev.type == "session_end":
            self._close(self.open.pop(consumer), "by_hand", ev.ts, ev.agent)

    def _status(self, ev: Event) -> None:
        assert ev.agent is not None and ev.status is not None
        self.agents.add(ev.agent)
        self.statuses.setdefault(ev.agent, []).append((ev.ts, ev.status))
        if ev.group is not None:
            self.group_of[ev.agent] = ev.group
        if ev.max_sessions is not None:
            self.cap_of[ev.agent] = ev.max_sessions

    @staticmethod
    def _expired(conv: Conversation, ts: float) -> bool:
        """Whether the log went quiet long enough since the conversation's last event that it ended."""
        if not conv.replied and conv.waiting_since is not None:
            return ts - conv.waiting_since > MAX_WAIT
        return ts - conv.last_ts > IDLE_GAP

    def _message(self, conv: Conversation, ev: Event) -> None:
        if ev.sender == CONSUMER:
            if conv.waiting_since is None:
                conv.waiting_since = ev.ts
            conv.last_consumer_ts = conv.last_message_ts = ev.ts
        elif ev.sender == "agent":
            assert ev.agent is not None
            self._reply(conv, ev.agent, ev.ts)
            conv.last_message_ts = ev.ts
        else:   # the shop robot, a system message, the desk assistant: not an agent's reply
            conv.last_message_ts = ev.ts

    def _reply(self, conv: Conversation, agent: str, ts: float) -> None:
        self.agents.add(agent)
        self.reply_times[agent].append(ts)
        if conv.agent is not None and conv.agent != agent:   # another agent took over without a transfer
            self._end_stint(conv, conv.agent, ts)
        if agent not in conv.started:
            conv.started[agent] = conv.waiting_since if conv.waiting_since is not None else ts
        if conv.waiting_since is not None:
            since = max(conv.waiting_since, conv.assigned.get(agent, -math.inf))
            kind = "follow_up" if agent in conv.replied else "first_reply"
            self.replies.append(Reply(agent, kind, since, ts - since))
            if not conv.replied:   # the wait for the conversation's first reply: patience, censored
                self.waits.append((ts - conv.waiting_since, False))
            conv.waiting_since = None
        conv.replied.add(agent)
        conv.agent = agent

    def _transfer(self, conv: Conversation, agent: str, to_agent: str, ts: float) -> None:
        self.agents.update((agent, to_agent))
        if agent not in conv.started:   # transferred before it replied: it had the consumer since the wait began
            conv.started[agent] = conv.waiting_since if conv.waiting_since is not None else ts
        self._end_stint(conv, agent, ts)
        conv.started[to_agent] = conv.assigned[to_agent] = ts
        conv.agent = to_agent

    def _end_stint(self, conv: Conversation, agent: str, ts: float) -> None:
        start = conv.started.pop(agent, None)
        if start is not None:
            self.stints.append(Stint(agent, start, ts))

    def _close(self, conv: Conversation, how: str, at: float, by: Optional[str] = None) -> None:
        """End a conversation: how is by_hand (a session_end at `at`), auto (quiet since `at`) or open (the log
        ended at `at`)."""
        if conv.waiting_since is not None and not conv.replied:
            self._unanswered(conv, how, at)
        if conv.agent is not None and (how != "open" or at - conv.last_ts > IDLE_GAP):
            hand = how == "by_hand"
            self.agents.add(by or conv.agent)
            self.endings.append(Ending(by or conv.agent, hand, at - conv.last_message_ts if hand else 0.0))
        end = at if how == "by_hand" else conv.last_ts
        for agent in list(conv.started):
            self._end_stint(conv, agent, end)

    def _close_quiet(self, consumer: str) -> None:
        """Close a conversation the log has gone quiet on (the platform's auto-end, unless its session_end
        comes later: see _ended_late)."""
        conv = self.open.pop(consumer)
        endings, stints = len(self.endings), len(self.stints)
        self._close(conv, "auto", conv.last_ts)
        if len(self.endings) > endings:
            self.quiet[consumer] = QuietEnd(endings, conv.last_message_ts, list(range(stints, len(self.stints))),
                                            conv.last_ts)

    def _ended_late(self, late: QuietEnd, ts: float, by: Optional[str]) -> None:
        """A session_end after more than IDLE_GAP of silence (and within LATE_END), the consumer's next event:
        the conversation was ended by hand then (a long phone call, an agent who ended it late), not by the
        platform."""
        agent = by or self.endings[late.ending].agent
        self.agents.add(agent)
        self.endings[late.ending] = Ending(agent, True, ts - late.last_exchange)
        for i in late.stints:
            stint = self.stints[i]
            self.stints[i] = Stint(stint.agent, stint.start, ts)

    def _unanswered(self, conv: Conversation, how: str, at: float) -> None:
        """The patience of a consumer whose wait for a first reply ended without one."""
        assert conv.waiting_since is not None
        if how == "by_hand":
            self.waits.append((at - conv.waiting_since, True))
        elif how == "open" and at - conv.last_ts <= IDLE_GAP:
            self.waits.append((at - conv.waiting_since, False))   # may still be waiting when the log ends
        else:
            self.waits.append((conv.last_consumer_ts - conv.waiting_since, True))

    def _sweep(self, now: float) -> None:
        """Close the conversations that have ended by now (the log went quiet), so that memory holds only the
        recent ones; the next event of their consumers would have closed them the same way."""
        for consumer in [c for c, conv in self.open.items() if self._expired(conv, now)]:
            self._close_quiet(consumer)
        for consumer in [c for c, late in self.quiet.items() if now - late.last_ts > LATE_END]:
            del self.quiet[consumer]   # too late to be this conversation's end: a stray session_end, as before
        self.next_sweep = now + SWEEP_EVERY

    def finish(self, log_end: float) -> None:
        """Close the conversations still open when the log ends: those the log has gone quiet on as it does
        mid-log, the others as open at the end."""
        self._sweep(log_end)
        for consumer in sorted(self.open):
            self._close(self.open[consumer], "open", log_end)
        self.open.clear()


# ---- from the gathered log to the model ----------------------------------------------------------

class _Loads:
    """Consumers in each agent's hand at a time, from the stints: starts at or before t, less ends before t."""

    def __init__(self, stints: list[Stint]):
        starts: dict[str, list[float]] = defaultdict(list)
        ends: dict[str, list[float]] = defaultdict(list)
        for stint in stints:
            starts[stint.agent].append(stint.start)
            ends[stint.agent].append(stint.end)
        self.starts = {a: sorted(v) for a, v in starts.items()}
        self.ends = {a: sorted(v) for a, v in ends.items()}

    def at(self, agent: str, t: float) -> int:
        """The agent's consumers in hand at t (at least 1: the one it answers)."""
        started = bisect_right(self.starts.get(agent, []), t)
        ended = bisect_left(self.ends.get(agent, []), t)
        return max(1, started - ended)


Observations = dict[str, dict[str, list[float]]]   # kind -> bucket -> delays


def _empty_observations() -> Observations:
    return {kind: {name: [] for name in BUCKET_NAMES} for kind in KINDS}


def _by_agent(log: ShopLog) -> dict[str, Observations]:
    """Each agent's reply delays by kind and load bucket."""
    loads = _Loads(log.stints)
    out: dict[str, Observations] = {}
    for reply in log.replies:
        observed = out.setdefault(reply.agent, _empty_observations())
        observed[reply.kind][bucket_of(loads.at(reply.agent, reply.since))].append(reply.delay)
    return out


def _merged(parts: Iterable[Observations]) -> Observations:
    merged = _empty_observations()
    for part in parts:
        for kind in KINDS:
            for name in BUCKET_NAMES:
                merged[kind][name].extend(part[kind][name])
    return merged


def _delays(observed: Observations) -> DelaysByLoad:
    """A pool's delays by bucket and over all loads."""
    return DelaysByLoad(
        first_reply={name: pool_of(observed["first_reply"][name]) for name in BUCKET_NAMES},
        follow_up={name: pool_of(observed["follow_up"][name]) for name in BUCKET_NAMES},
        first_reply_all_loads=pool_of([d for name in BUCKET_NAMES for d in observed["first_reply"][name]]),
        follow_up_all_loads=pool_of([d for name in BUCKET_NAMES for d in observed["follow_up"][name]]),
    )


def _pooled(own: list[float], group: Optional[DelaysByLoad], shop: DelaysByLoad, kind: str, name: str) -> Pooled:
    """The pooling rule: the agent's own delays when it has MIN_OBSERVATIONS, else its group's, else the shop's
    (in this load bucket), else the shop's over all loads, else none."""
    if len(own) >= MIN_OBSERVATIONS:
        return Pooled(pool="agent", own_n=len(own), n=len(own), mean=mean_of(own), quantiles=quantiles_of(own))
    levels: list[tuple[PoolLevel, Optional[Pool]]] = [
        ("group", getattr(group, kind)[name] if group is not None else None),
        ("shop", getattr(shop, kind)[name]),
    ]
    for level, pool in levels:
        if pool is not None and pool.n >= MIN_OBSERVATIONS:
            return Pooled(pool=level, own_n=len(own), n=pool.n, mean=pool.mean, quantiles=pool.quantiles)
    everything: Pool = getattr(shop, f"{kind}_all_loads")
    if everything.n:
        return Pooled(pool="shop_all_loads", own_n=len(own), n=everything.n, mean=everything.mean,
                      quantiles=everything.quantiles)
    return Pooled(pool="none", own_n=len(own), n=0)


def _session_ends(endings: list[Ending]) -> SessionEnds:
    hand = [e.delay for e in endings if e.by_hand]
    return SessionEnds(sessions=len(endings), by_hand=_share(len(hand), len(endings)),
                       auto=_share(len(endings) - len(hand), len(endings)), by_hand_delay=pool_of(hand))


def _patience(waits: list[tuple[float, bool]]) -> Patience:
    steps = kaplan_meier(waits)
    left = sum(1 for _, gone in waits if gone)
    return Patience(
        waits=len(waits), left=left, censored=len(waits) - left,
        quantiles={quantile_key(q): survival_quantile(steps, q) for q in QUANTILES},
        survival={f"{t}s": round(survival_at(steps, t), 4) for t in SURVIVAL_AT},
    )


def hour_slices(start: float, end: float, zone: ZoneInfo) -> Iterator[tuple[int, float]]:
    """(local hour of day, seconds) of each piece of [start, end) cut at the local hours' boundaries."""
    t = start
    while t < end:
        local = datetime.fromtimestamp(t, zone)
        boundary = (local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).timestamp()
        if boundary <= t:   # a wall-clock hour that a DST change skipped
            boundary = t + 3600
        upto = min(end, boundary)
        yield local.hour, upto - t
        t = upto


def _covered(start: float, end: float, zone: ZoneInfo) -> list[float]:
    """Seconds of each hour of day (0-23) within [start, end]."""
    seconds = [0.0] * 24
    for hour, length in hour_slices(start, end, zone):
        seconds[hour] += length
    return seconds


def _presence_from_status(changes: list[tuple[float, str]], start: float, end: float, zone: ZoneInfo,
                          covered: list[float]) -> Presence:
    """Shares of each hour of day in each status; before its first status event an agent is offline."""
    spent = {status: [0.0] * 24 for status in ("online", "busy", "offline")}
    timeline = [(start, "offline")] + [(ts, s) for ts, s in changes if ts >= start]
    for (at, status), (until, _) in zip(timeline, timeline[1:] + [(end, "")]):
        for hour, length in hour_slices(at, until, zone):
            spent[status][hour] += length
    return Presence(source="status", hours=_hours(spent, covered))


def _presence_inferred(replies: list[float], zone: ZoneInfo, covered: list[float]) -> Presence:
    """Online from the first to the last reply in each hour of the log (the rest offline), summed by hour of day."""
    span: dict[tuple[str, int], list[float]] = {}
    for ts in replies:
        local = datetime.fromtimestamp(ts, zone)
        first_last = span.setdefault((local.date().isoformat(), local.hour), [ts, ts])
        first_last[0], first_last[1] = min(first_last[0], ts), max(first_last[1], ts)
    online = [0.0] * 24
    for (_, hour), (first, last) in span.items():
        online[hour] += last - first
    offline = [max(0.0, c - o) for c, o in zip(covered, online)]
    return Presence(source="inferred", hours=_hours({"online": online, "busy": [0.0] * 24, "offline": offline}, covered))


def _hours(spent: dict[str, list[float]], covered: list[float]) -> dict[str, HourPresence]:
    """Each hour of day the log covers, with its shares (rounded to 0.0001)."""
    return {f"{hour:02d}": HourPresence(**{status: round(spent[status][hour] / covered[hour], 4) for status in spent})
            for hour in range(24) if covered[hour] > 0}


def _agent(name: str, log: ShopLog, observed: Observations, endings: list[Ending], groups: dict[str, DelaysByLoad],
           shop: DelaysByLoad, zone: ZoneInfo, covered: list[float]) -> AgentEntry:
    group = log.group_of.get(name)
    pooled = {kind: {bucket: _pooled(observed[kind][bucket], groups.get(group) if group else None, shop, kind, bucket)
                     for bucket in BUCKET_NAMES} for kind in KINDS}
    changes = log.statuses.get(name)
    presence = (_presence_from_status(changes, log.first_ts, log.last_ts, zone, covered) if changes
                else _presence_inferred(log.reply_times.get(name, []), zone, covered))
    return AgentEntry(
        agent=name, group=group, max_sessions=log.cap_of.get(name), replies=len(log.reply_times.get(name, [])),
        delays=PooledDelays(first_reply=pooled["first_reply"], follow_up=pooled["follow_up"]),
        session_end=_session_ends(endings), presence=presence,
    )


def shop_entry(shop: Optional[str], log: ShopLog, zone: ZoneInfo) -> ShopEntry:
    """The model of one shop from what its events said."""
    per_agent = _by_agent(log)
    names = sorted(log.agents)
    empty = _empty_observations()
    members: dict[str, list[str]] = defaultdict(list)
    for name in names:
        if name in log.group_of:
            members[log.group_of[name]].append(name)
    groups = {group: _delays(_merged(per_agent.get(a, empty) for a in agents)) for group, agents in members.items()}
    shop_delays = _delays(_merged(per_agent.values()))
    covered = _covered(log.first_ts, log.last_ts, zone)
    endings_of: dict[str, list[Ending]] = defaultdict(list)
    for ending in log.endings:
        endings_of[ending.agent].append(ending)
    return ShopEntry(
        shop=shop, consumers=len(log.consumers), replies=sum(len(times) for times in log.reply_times.values()),
        delays=shop_delays,
        session_end=_session_ends(log.endings), patience=_patience(log.waits),
        groups=[GroupEntry(group=g, agents=members[g], delays=groups[g]) for g in sorted(groups)],
        agents=[_agent(name, log, per_agent.get(name, empty), endings_of.get(name, []), groups, shop_delays, zone, covered)
                for name in names],
    )


# ---- the whole run --------------------------------------------------------------------------------

@dataclass
class Calibration:
    """The shops of a log, gathered; skipped: events of other shops than the one asked for."""

    shops: dict[Optional[str], ShopLog] = field(default_factory=dict)
    skipped: int = 0
    other_shops: dict[str, None] = field(default_factory=dict)   # the first SHOPS_NAMED + 1 met, in order
    first_ts: Optional[float] = None
    last_ts: Optional[float] = None


def calibrate(events: Iterable[Event], *, shop: Optional[str] = None) -> Calibration:
    """Gather a log's events by shop (only `shop`'s, and those naming none, when it is given)."""
    found = Calibration()
    skipped = [0]
    if shop is not None:
        events = of_shop(events, shop, shop, None, found.other_shops, skipped)
    for ev in events:
        name = ev.shop if shop is None else shop
        log = found.shops.get(name)
        if log is None:
            log = found.shops[name] = ShopLog()
        log.feed(ev)
        found.first_ts = ev.ts if found.first_ts is None else found.first_ts
        found.last_ts = ev.ts
    found.skipped = skipped[0]
    for log in found.shops.values():
        log.finish(found.last_ts if found.last_ts is not None else 0.0)
    return found


def _iso(ts: Optional[float], zone: ZoneInfo) -> Optional[str]:
    return None if ts is None else datetime.fromtimestamp(ts, zone).isoformat()


def calibrate_stream(stream: BinaryIO, *, log_name: str, timezone: str, stats: ReadStats,
                     on_reject: Optional[Callable[[Rejected], None]] = None, vocabulary: Optional[Vocabulary] = None,
                     platform: Optional[str] = None, shop: Optional[str] = None) -> tuple[AgentModel, Calibration]:
    """Read a log (as the replay does) and build its agent model; the Calibration tells what was skipped."""
    events = read_events(stream, stats=stats, on_reject=on_reject, vocabulary=vocabulary)
    return calibrate_events(events, log_name=log_name, timezone=timezone, stats=stats, platform=platform, shop=shop)


def calibrate_events(events: Iterable[Event], *, log_name: str, timezone: str, stats: ReadStats,
                     platform: Optional[str] = None, shop: Optional[str] = None) -> tuple[AgentModel, Calibration]:
    """The agent model of events already read (stats: the read's counts, complete once they are consumed)."""
    zone = ZoneInfo(timezone)
    found = calibrate(events, shop=shop)
    shops = sorted(found.shops.items(), key=lambda item: (item[0] is not None, item[0] or ""))
    model = AgentModel(
        source=Source(log=log_name, platform=platform, shop=shop, events_read=stats.read,
                      events_accepted=stats.accepted, events_rejected=stats.rejected,
                      first_ts=_iso(found.first_ts, zone), last_ts=_iso(found.last_ts, zone)),
        settings=Settings(load_buckets=list(BUCKET_NAMES), min_observations=MIN_OBSERVATIONS, idle_gap_s=IDLE_GAP,
                          max_wait_s=MAX_WAIT, timezone=timezone),
        shops=[shop_entry(name, log, zone) for name, log in shops],
    )
    return model, found
