"""Model agents: the counterfactual replay's actor (`kefu replay --agents model`, docs/whatif.md).

The log gives the demand; the agent model (`kefu calibrate`) says how agents answer. The engine is the
replay's own: the actor only decides which events it is fed, and when.

- **Conversations.** A consumer's messages are cut into conversations as calibrate cuts them (a new one
  after `IDLE_GAP` of silence, or after a `session_end`), and each conversation into *bursts*: the
  consumer's messages between two answers of the log. Burst 0 keeps its log time (the real demand). A
  later burst starts the log's gap after the answer it followed, counted from the answer the model
  gave; the messages of a burst keep their offsets from its first message.
- **Answers.** When the policy has given a waiting consumer to an agent, that agent answers the burst
  after a delay drawn from its first-reply delays (burst 0) or follow-up delays (later bursts) for its
  load at that moment, counted from the burst's first message; never before the burst's last message
  (then 1 s after it) nor before the assignment (then 1 s after it).
- **Ends.** After the conversation's last burst is answered, the session ends by hand with the shop's
  share of hand ends (after a delay drawn from its hand-end delays), else it is left to the platform's
  automatic end (the policy's timer); where there is none, every session ends by hand.
- **Patience.** A consumer who joins the queue or the offline pool leaves it (a `session_end`) once the
  patience drawn from the shop's Kaplan–Meier curve has passed since the burst's first message, if no
  agent has taken them by then; the rest of that conversation is not sent.
- **Presence.** Agents come and go as the log's `agent_status` events say, or as a staffing plan says
  (`--staff`, staff.py); the log's agent messages, transfers and session ends are the log's people,
  replaced by the model's.
- **Random numbers.** Every draw is a hash of (seed, shop, consumer, conversation, burst, what is drawn):
  the same consumer's same answer uses the same number under two policies (common random numbers), and
  the same seed gives the same output.

Events the model makes carry line 0 (their decisions name no log line).
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import math
import struct
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping

from ..events import Event
from ..runtime import Engine
from ..runtime.decisions import Assigned, Decision, LeftQueue, Queued
from .calibrate import IDLE_GAP, MAX_WAIT, bucket_of
from .staff import MODEL_LINE, StaffPlan, presence_events
from .model import QUANTILES, AgentEntry, AgentModel, ModelMismatch, Pool, Pooled, ShopEntry, quantile_key


@dataclass
class Burst:
    """A consumer's messages between two answers of the log: their offsets from the first, and the gap from
    the log's answer before it (None for a conversation's first burst, which keeps its time)."""

    start: float
    messages: list[tuple[float, Event]] = field(default_factory=list)
    gap: float | None = None


@dataclass
class Conversation:
    """One conversation of one consumer, as the log had it."""

    consumer: str
    index: int
    bursts: list[Burst] = field(default_factory=list)
    last_seen: float = 0.0            # the log's last event of the conversation so far
    complete: bool = False            # no more of it is in the log (a session_end, or IDLE_GAP passed)
    watched: bool = False             # the cutter watches it for silence


class Cutter:
    """A shop's log cut into conversations as it is read (see the module doc): `take` each event in time
    order; it returns what the event starts (a conversation, or an agent status kept as it is)."""

    def __init__(self) -> None:
        self.open: dict[str, Conversation] = {}
        self.last_answer: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.expiring: list[tuple[float, int, Conversation]] = []   # (last_seen + IDLE_GAP, seq, conversation)
        self.seq = 0
        self.completed: list[Conversation] = []   # conversations found complete since the last look

    def take(self, ev: Event) -> Conversation | Event | None:
        """Read one event: a new conversation or a kept event, or None (it went into a conversation, or is
        the log's people's act). `expire` says which conversations went silent, once a batch is read."""
        if ev.type == "agent_status":
            return ev
        cid = ev.consumer
        if cid is None:
            return None
        if ev.type == "session_end":
            conv = self.open.pop(cid, None)
            if conv is not None:
                self._close(conv)
            return None
        if ev.type != "message":
            return None   # a transfer is the log's people's act
        conv = self.open.get(cid)
        if conv is not None and ev.ts - conv.last_seen > IDLE_GAP:
            self._close(self.open.pop(cid))
            conv = None
        started = None
        if ev.sender != "consumer":
            if conv is not None:
                conv.last_seen = ev.ts
                self._expiry(conv)
                if ev.sender == "agent":   # the log's robot and system messages are its automation's
                    self.last_answer[cid] = ev.ts
            return None
        if conv is None:
            self.counts[cid] = self.counts.get(cid, 0) + 1
            conv = started = self.open[cid] = Conversation(cid, self.counts[cid])
            self.last_answer.pop(cid, None)
        conv.last_seen = ev.ts
        self._expiry(conv)
        answered = self.last_answer.pop(cid, None)
        if not conv.bursts or answered is not None:
            conv.bursts.append(Burst(ev.ts, gap=None if not conv.bursts else ev.ts - answered))  # type: ignore[operator]
        burst = conv.bursts[-1]
        burst.messages.append((ev.ts - burst.start, ev))
        return started

    def finish(self) -> None:
        """The end of the log: every conversation still open is complete."""
        for conv in self.open.values():
            self._close(conv)
        self.open.clear()

    def _expiry(self, conv: Conversation) -> None:
        """Watch a conversation for silence: one entry each, moved on when it finds the conversation went on."""
        if conv.watched:
            return
        conv.watched = True
        self.seq += 1
        heapq.heappush(self.expiring, (conv.last_seen + IDLE_GAP, self.seq, conv))

    def expire(self, now: float) -> None:
        """Conversations whose consumer has been silent for more than IDLE_GAP by now (the time of the next
        event, all before it read) are complete."""
        expiring = self.expiring
        while expiring and expiring[0][0] < now:
            _, _, conv = heapq.heappop(expiring)
            if conv.complete or self.open.get(conv.consumer) is not conv:
                continue
            deadline = conv.last_seen + IDLE_GAP
            if deadline >= now:   # it went on since: watch it to its new deadline
                self.seq += 1
                heapq.heappush(expiring, (deadline, self.seq, conv))
                continue
            del self.open[conv.consumer]
            self.last_answer.pop(conv.consumer, None)
            self._close(conv)

    def _close(self, conv: Conversation) -> None:
        conv.complete = True
        self.completed.append(conv)


def conversations(events: Iterable[Event]) -> tuple[list[Conversation], list[Event]]:
    """A shop's log cut into conversations, and the events kept as they are (agent status)."""
    cutter = Cutter()
    out: list[Conversation] = []
    kept: list[Event] = []
    for ev in events:
        started = cutter.take(ev)
        if isinstance(started, Conversation):
            out.append(started)
        elif started is not None:
            kept.append(started)
    cutter.finish()
    return out, kept


def _shop_of(conv: Conversation, engine: Engine) -> str:
    """The engine's id of a conversation's shop (an event naming none is the engine's default shop's)."""
    shop = conv.bursts[0].messages[0][1].shop
    return shop if shop is not None else engine.default_shop


def draw(seed: int, *key: object) -> float:
    """A uniform number in [0, 1) from the seed and a key (the same key, the same number)."""
    digest = hashlib.blake2b(repr((seed, *key)).encode("utf-8"), digest_size=8).digest()
    return struct.unpack(">Q", digest)[0] / 2.0 ** 64


def inverse(quantiles: Mapping[str, float | None] | None, u: float) -> float | None:
    """The value at probability u of a distribution given by its quantiles (linear between them, from 0 at
    u = 0 to p05; p99 above it); None when the distribution is empty or ends before u (never)."""
    return _at(_points(quantiles), u)


def _points(quantiles: Mapping[str, float | None] | None) -> tuple[float | None, ...] | None:
    """The quantiles' values in QUANTILES order, 0 first (u = 0); None for an empty distribution."""
    if not quantiles:
        return None
    return (0.0, *(quantiles.get(quantile_key(q)) for q in QUANTILES))


_PROBABILITIES = (0.0, *QUANTILES)
_TOP = 1.0 - QUANTILES[-1]   # the share above the last quantile (p99): 0.01


def tail_excess(points: tuple[float | None, ...] | None, mean: float | None) -> float:
    """The mean of the exponential excess over p99 that gives the distribution this mean (0: none, draws above
    p99 are p99): the mean less what the quantiles below p99 account for (linear between them), over the top 1 %."""
    if points is None or mean is None or any(v is None for v in points):
        return 0.0
    values: tuple[float, ...] = points   # type: ignore[assignment]   # no None, checked above
    body = math.fsum((q1 - q0) * (v0 + v1) / 2 for q0, q1, v0, v1
                     in zip(_PROBABILITIES, _PROBABILITIES[1:], values, values[1:]))
    return max(0.0, (mean - body) / _TOP - values[-1])


def _at(points: tuple[float | None, ...] | None, u: float, excess: float = 0.0) -> float | None:
    if points is None:
        return None
    i = bisect.bisect_left(_PROBABILITIES, u)
    if i >= len(points):
        top = points[-1]
        if excess and top is not None:   # above p99: p99 plus an exponential excess (u < 1, so finite)
            return top + excess * math.log(_TOP / (1.0 - u))
        return top
    if i == 0:
        return points[0]
    lo, hi = points[i - 1], points[i]
    if lo is None or hi is None:
        return None
    q0, q1 = _PROBABILITIES[i - 1], _PROBABILITIES[i]
    return lo + (hi - lo) * (u - q0) / (q1 - q0)


class ShopAgents:
    """A shop's model: each agent's delays by load, the shop's pooled ones for an agent it does not know,
    the shop's session ends and patience."""

    def __init__(self, entry: ShopEntry):
        self.entry = entry
        self.agents: dict[str, AgentEntry] = {a.agent: a for a in entry.agents}
        # id of a distribution -> its points and its tail's excess over p99 (worked out once)
        self._compiled: dict[int, tuple[tuple[float | None, ...] | None, float]] = {}
        self._patience = _points(entry.patience.quantiles)
        self.leaves_unanswered = entry.patience.leaves == "unanswered"

    def _value(self, pool: Pool | Pooled, u: float) -> float | None:
        """The pool's value at probability u: linear between its quantiles, the tail above p99 keeping its mean."""
        compiled = self._compiled.get(id(pool))
        if compiled is None:
            points = _points(pool.quantiles)
            compiled = self._compiled[id(pool)] = (points, tail_excess(points, pool.mean))
        return _at(compiled[0], u, compiled[1])

    def delay(self, agent: str, first: bool, load: int, u: float) -> float:
        """Seconds to answer a burst (first reply or follow-up) at this load."""
        bucket = bucket_of(load)
        known = self.agents.get(agent)
        pool: Pool | Pooled | None = None
        if known is not None:
            pool = (known.delays.first_reply if first else known.delays.follow_up).get(bucket)
        if pool is None or not pool.quantiles:
            delays = self.entry.delays
            pool = (delays.first_reply if first else delays.follow_up).get(bucket)
            if pool is None or not pool.quantiles:
                pool = delays.first_reply_all_loads if first else delays.follow_up_all_loads
        value = self._value(pool, u)
        return 60.0 if value is None else value   # a model with no delay at all: a minute (docs/whatif.md)

    def hand_end(self, u_share: float, u_delay: float, platform_ends: bool = True) -> float | None:
        """Seconds after the last answer the agent ends the session by hand, or None: the platform's auto end.
        On a platform (or policy) with no automatic end every session ends by hand: nothing else would end it."""
        ends = self.entry.session_end
        if platform_ends and (ends.by_hand is None or u_share >= ends.by_hand):
            return None
        value = self._value(ends.by_hand_delay, u_delay)
        return 0.0 if value is None else value

    def patience(self, u: float) -> float:
        """Seconds a consumer waits in a queue before leaving (inf: stays)."""
        value = _at(self._patience, u)
        return math.inf if value is None else value


@dataclass
class _Live:
    """A conversation as the model plays it."""

    conv: Conversation
    sid: str = ""                    # the engine's id of the consumer's shop
    burst: int = 0
    burst_start: float = 0.0
    last_message: float = 0.0
    sent: int = 0                    # messages of the burst sent so far
    agent: str | None = None         # the agent answering the burst, once one is
    reply_at: float | None = None
    patience_at: float | None = None
    gone: bool = False


_FOLLOWED = frozenset({Assigned, Queued, LeftQueue})
"""The decisions the actor follows (an assignment to answer, a queue to leave)."""


class ModelActor:
    """Feeds an engine the log's demand with answers, ends and departures drawn from an agent model."""

    def __init__(self, model: AgentModel, seed: int = 0, staff: StaffPlan | None = None):
        self.model = model
        self.seed = seed
        self.staff = staff   # who is present, by shift, instead of or besides the log's agents (staff.py)

    def shop(self, shop: str | None) -> ShopAgents:
        """The model of a shop (a model of one shop serves any shop id)."""
        entries = self.model.shops
        for entry in entries:
            if entry.shop == shop:
                return ShopAgents(entry)
        if len(entries) == 1:
            return ShopAgents(entries[0])
        raise ModelMismatch(f"the agent model has no shop {shop!r} (it has {', '.join(str(e.shop) for e in entries)})")

    def play(self, engine: Engine, events: Iterable[Event]) -> Iterator[list[Decision]]:
        """Run the counterfactual: the engine's decisions as they are made, event by event."""
        engine.comparison.tally_nothing()   # who answered is the model's: nothing to compare with the log
        if self.staff is not None:   # the plan's days run from the log's first day to its last: read it whole
            events = list(events)
            if events:
                planned = presence_events(self.staff, None, events[0].ts, events[-1].ts, engine.clock.tz)
                log = events if self.staff.presence == "log+plan" else [e for e in events if e.type != "agent_status"]
                events = list(heapq.merge(log, planned, key=lambda e: e.ts))   # at one instant, the log's first
        runner = _Run(self, engine, iter(events))
        yield from runner.run()


READ_MORE = 3600.0
"""When the log must be read further, it is read this much further than it must."""
LOOK_AHEAD = MAX_WAIT + IDLE_GAP
"""How far ahead of the replay's clock the log is read: a burst's place needs the log's answer before it and
the consumer's silence after the last one, which come later in the log (an answer up to MAX_WAIT late)."""


class _Run:
    """One counterfactual replay of one log: the log read LOOK_AHEAD ahead of the clock and cut into
    conversations as it goes (so memory holds a day or so of it, not the whole log), and a heap of the
    events still to feed, in time order."""

    def __init__(self, actor: ModelActor, engine: Engine, events: Iterator[Event]):
        self.actor, self.engine, self.seed = actor, engine, actor.seed
        self.heap: list[tuple[float, int, str, object]] = []
        self.seq = 0
        self.live: dict[tuple[str, str], _Live] = {}
        self.models: dict[str | None, ShopAgents] = {}
        self.events = events
        self.ahead: Event | None = next(events, None)   # the next event of the log, not read yet
        self.cutter = Cutter()
        # what the log starts (agent status, then each conversation, at one instant), ahead of the heap's own
        self.starts: list[tuple[float, int, int, str, object]] = []
        self.awaiting: dict[int, _Live] = {}   # id of a conversation -> its live run, answered, waiting for more

    def _read(self, until: float) -> None:
        """Read the log up to `until` (every event at or before it): what it starts, what it adds."""
        cutter = self.cutter
        while self.ahead is not None and self.ahead.ts <= until:
            ev, self.ahead = self.ahead, next(self.events, None)
            started = cutter.take(ev)
            self.seq += 1
            if isinstance(started, Conversation):
                live = _Live(started, sid=_shop_of(started, self.engine))
                heapq.heappush(self.starts, (started.bursts[0].start, 1, self.seq, "burst", live))
            elif started is not None:
                heapq.heappush(self.starts, (ev.ts, 0, self.seq, "event", started))
            elif self.awaiting and ev.type == "message" and ev.sender == "consumer" and ev.consumer is not None:
                self._grown(cutter.open.get(ev.consumer))
        if self.ahead is None:
            cutter.finish()
        else:
            cutter.expire(self.ahead.ts)   # every event before the next one is read: silence up to it is known
        for conv in cutter.completed:
            self._grown(conv)
        cutter.completed.clear()

    def _grown(self, conv: Conversation | None) -> None:
        """A conversation the model answered to its end so far has a new burst, or is complete."""
        live = self.awaiting.get(id(conv)) if conv is not None else None
        if live is None or live.gone:
            return
        assert conv is not None   # found above
        if live.burst + 1 < len(conv.bursts) or conv.complete:
            del self.awaiting[id(conv)]
            self._after_answer(live, live.reply_at or 0.0, self.now)

    def _push(self, ts: float, kind: str, item: object) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (ts, self.seq, kind, item))

    def _model(self, shop: str | None) -> ShopAgents:
        model = self.models.get(shop)
        if model is None:
            model = self.models[shop] = self.actor.shop(shop)
        return model

    def run(self) -> Iterator[list[Decision]]:
        """Feed the engine in time order: the log's starts, the model's answers and ends, the engine's timers."""
        engine, heap, starts, inf = self.engine, self.heap, self.starts, math.inf
        self.now = -inf
        next_read = -inf   # the clock at which the log must be read further (its next event less LOOK_AHEAD)
        while True:
            start_ts = starts[0][0] if starts else inf
            first = heap[0][0] if heap else inf
            clock = start_ts if start_ts < first else first
            if clock >= next_read and self.ahead is not None:   # read a while beyond, not an event at a time
                self._read((clock if clock != inf else self.ahead.ts) + LOOK_AHEAD + READ_MORE)
                next_read = self.ahead.ts - LOOK_AHEAD if self.ahead is not None else inf
                continue
            if clock == inf:
                return
            due = engine.next_due()
            if due <= first and due <= start_ts:   # the engine acts first (an automatic end, a midnight)
                self.now = due
                out = engine.advance(due)
                if out:
                    self._follow(out, due)
                    yield out
                if engine.next_due() > due:
                    continue
            if start_ts <= first:
                ts, _, _, kind, item = heapq.heappop(starts)
            else:
                ts, _, kind, item = heapq.heappop(heap)
            self.now = ts
            out = self._step(ts, kind, item)
            if out:
                self._follow(out, ts)
                yield out

    def _step(self, ts: float, kind: str, item: object) -> list[Decision]:
        if kind == "event":
            return self.engine.feed(item)   # type: ignore[arg-type]
        live: _Live = item   # type: ignore[assignment]
        if live.gone:
            return []
        if kind == "burst":
            return self._start_burst(ts, live)
        if kind == "message":
            return self._message(ts, live)
        if kind == "reply":
            return self._reply(ts, live)
        if kind == "end":
            self._forget(live)
            return self._feed(ts, live, "session_end")
        return self._patience_over(ts, live)

    def _forget(self, live: _Live) -> None:
        """A conversation played to its end leaves the run's memory."""
        key = (live.sid, live.conv.consumer)
        if self.live.get(key) is live:
            del self.live[key]

    def _start_burst(self, ts: float, live: _Live) -> list[Decision]:
        live.burst_start, live.sent, live.agent, live.reply_at, live.patience_at = ts, 0, None, None, None
        key = (self._shop_id(live), live.conv.consumer)
        earlier = self.live.get(key)
        if earlier is not None and earlier is not live:
            earlier.gone = True   # the consumer's next conversation (its log time came): the rest of this one is dropped
        self.live[key] = live
        if live.burst == 0 and self._model(live.sid).leaves_unanswered:
            self._be_patient(ts, live)
        return self._message(ts, live)

    def _message(self, ts: float, live: _Live) -> list[Decision]:
        burst = live.conv.bursts[live.burst]
        offset, original = burst.messages[live.sent]
        live.sent += 1
        live.last_message = ts
        if live.sent < len(burst.messages):
            self._push(live.burst_start + burst.messages[live.sent][0], "message", live)
        original.ts = ts   # the log's message, re-timed (the log's time is not read again: offsets are kept)
        out = self.engine.feed(original)
        if live.agent is None:
            session = self._session(live)
            if session is not None:   # a follow-up burst: the agent in the session answers it
                self._schedule(ts, live, session)
        return out

    def _session(self, live: _Live) -> str | None:
        shop = self.engine.shops.get(self._shop_id(live))
        cs = shop.consumers.get(live.conv.consumer) if shop is not None else None
        return cs.session.agent if cs is not None and cs.session is not None else None

    def _shop_id(self, live: _Live) -> str:
        return live.sid

    def _schedule(self, now: float, live: _Live, agent: str) -> None:
        """The agent answers the burst when the model says (see the module doc)."""
        sid = self._shop_id(live)
        state = self.engine.shops[sid].agents.get(agent)
        load = state.load() if state is not None else 1
        conv = live.conv
        u = draw(self.seed, sid, conv.consumer, conv.index, live.burst, "reply")
        delay = self._model(sid).delay(agent, live.burst == 0, max(load, 1), u)
        burst = conv.bursts[live.burst]
        last = live.burst_start + burst.messages[-1][0]
        at = max(live.burst_start + delay, last + 1.0, now + 1.0)
        live.agent, live.reply_at = agent, at
        self._push(at, "reply", live)

    def _reply(self, ts: float, live: _Live) -> list[Decision]:
        if self._session(live) != live.agent or live.reply_at != ts:
            return []   # the session ended (or moved) before the answer: the next burst, if any, routes again
        out = self._feed(ts, live, "message")
        live.patience_at = None   # answered: the consumer no longer waits
        conv = live.conv
        if live.burst + 1 < len(conv.bursts) or conv.complete:
            self._after_answer(live, ts, ts)
        else:   # the log has not said yet whether the consumer writes again (it is read LOOK_AHEAD ahead)
            self.awaiting[id(conv)] = live
        return out

    def _after_answer(self, live: _Live, answered: float, now: float) -> None:
        """After the model's answer to a burst: the next burst the log's gap later, or the end of the session.
        (now: when this is known; later than the answer only past the look-ahead, then the times are clamped.)"""
        conv = live.conv
        if live.burst + 1 < len(conv.bursts):
            live.burst += 1
            nxt = conv.bursts[live.burst]
            self._push(max(answered + (nxt.gap or 0.0), now), "burst", live)
            return
        sid = self._shop_id(live)
        model = self._model(sid)
        after = model.hand_end(draw(self.seed, sid, conv.consumer, conv.index, "end"),
                               draw(self.seed, sid, conv.consumer, conv.index, "end delay"),
                               platform_ends=self.engine.sessions.end_after is not None)
        if after is not None:
            self._push(max(answered + after, now), "end", live)
        else:
            self._forget(live)   # the platform ends it: nothing more of it is the model's

    def _feed(self, ts: float, live: _Live, kind: str) -> list[Decision]:
        first = live.conv.bursts[0].messages[0][1]
        if kind == "message":
            event = Event(MODEL_LINE, ts, "message", shop=first.shop, sender="agent", consumer=first.consumer,
                          agent=live.agent)
        else:
            event = Event(MODEL_LINE, ts, "session_end", shop=first.shop, consumer=first.consumer)
        return self.engine.feed(event)

    def _patience_over(self, ts: float, live: _Live) -> list[Decision]:
        if live.patience_at != ts:
            return []
        if not self._model(live.sid).leaves_unanswered and (live.agent is not None or self._session(live) is not None):
            return []
        live.gone = True
        self._forget(live)
        return self._feed(ts, live, "session_end")

    def _follow(self, out: list[Decision], now: float) -> None:
        """Answers for consumers the policy has just given to an agent; patience for those it queued."""
        followed = _FOLLOWED
        for d in out:
            if type(d) not in followed:   # most are automatic replies and ends: nothing to follow
                continue
            live = self.live.get((d.shop, d.consumer)) if d.consumer is not None else None
            if live is None or live.gone:
                continue
            if isinstance(d, Assigned) and d.agent is not None and live.agent is None \
                    and live.sent and d.action in ("assign", "offline_route"):
                self._schedule(now, live, d.agent)
            elif isinstance(d, LeftQueue):
                if live.agent is None and live.sent == len(live.conv.bursts[live.burst].messages):
                    live.gone = True   # left unserved with nothing more to say: nothing of it can come again
                    self._forget(live)
            elif isinstance(d, Queued):
                if live.patience_at is None or not self._model(live.sid).leaves_unanswered:
                    self._be_patient(now, live)   # (unanswered: the clock already runs from the burst's start)

    def _be_patient(self, now: float, live: _Live) -> None:
        """The consumer leaves once the patience drawn for this burst has passed since its first message."""
        sid = self._shop_id(live)
        conv = live.conv
        wait = self._model(sid).patience(draw(self.seed, sid, conv.consumer, conv.index, live.burst, "patience"))
        if wait < math.inf:
            live.patience_at = max(live.burst_start + wait, now)
            self._push(live.patience_at, "patience", live)
