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
from ..runtime.decisions import Assigned, Decision, Queued
from .calibrate import IDLE_GAP
from .staff import StaffPlan, presence_events
from .model import (LOAD_BUCKETS, QUANTILES, AgentEntry, AgentModel, ModelMismatch, Pool, Pooled, ShopEntry,
                    quantile_key)

BUCKET_NAMES = tuple(f"{lo}" if lo == hi else (f"{lo}+" if hi is None else f"{lo}-{hi}") for lo, hi in LOAD_BUCKETS)
MODEL_LINE = 0
"""The line of an event the model made."""


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


def conversations(events: Iterable[Event]) -> tuple[list[Conversation], list[Event]]:
    """A shop's log cut into conversations, and the events kept as they are (agent status)."""
    open_: dict[str, Conversation] = {}
    last_seen: dict[str, float] = {}
    last_answer: dict[str, float] = {}
    counts: dict[str, int] = {}
    out: list[Conversation] = []
    kept: list[Event] = []
    for ev in events:
        if ev.type == "agent_status":
            kept.append(ev)
            continue
        cid = ev.consumer
        if cid is None:
            continue
        if ev.type == "session_end":
            open_.pop(cid, None)
            continue
        if ev.type != "message":
            continue   # a transfer is the log's people's act
        conv = open_.get(cid)
        if conv is not None and ev.ts - last_seen[cid] > IDLE_GAP:
            conv = open_.pop(cid)
            conv = None
        last_seen[cid] = ev.ts
        if ev.sender != "consumer":
            if conv is not None and ev.sender == "agent":   # the log's robot and system messages are its automation's
                last_answer[cid] = ev.ts
            continue
        if conv is None:
            counts[cid] = counts.get(cid, 0) + 1
            conv = open_[cid] = Conversation(cid, counts[cid])
            out.append(conv)
            last_answer.pop(cid, None)
        answered = last_answer.pop(cid, None)
        if not conv.bursts or answered is not None:
            conv.bursts.append(Burst(ev.ts, gap=None if not conv.bursts else ev.ts - answered))  # type: ignore[operator]
        burst = conv.bursts[-1]
        burst.messages.append((ev.ts - burst.start, ev))
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


def _at(points: tuple[float | None, ...] | None, u: float) -> float | None:
    if points is None:
        return None
    i = bisect.bisect_left(_PROBABILITIES, u)
    if i >= len(points):
        return points[-1]
    if i == 0:
        return points[0]
    lo, hi = points[i - 1], points[i]
    if lo is None or hi is None:
        return None
    q0, q1 = _PROBABILITIES[i - 1], _PROBABILITIES[i]
    return lo + (hi - lo) * (u - q0) / (q1 - q0)


def bucket_of(load: int) -> str:
    """The load bucket's name (1, 2-3, 4-6, 7+) of a load."""
    for name, (lo, hi) in zip(BUCKET_NAMES, LOAD_BUCKETS):
        if load >= lo and (hi is None or load <= hi):
            return name
    return BUCKET_NAMES[0]


class ShopAgents:
    """A shop's model: each agent's delays by load, the shop's pooled ones for an agent it does not know,
    the shop's session ends and patience."""

    def __init__(self, entry: ShopEntry):
        self.entry = entry
        self.agents: dict[str, AgentEntry] = {a.agent: a for a in entry.agents}
        self._compiled: dict[int, tuple[float | None, ...] | None] = {}   # id of a quantiles dict -> its points
        self._patience = _points(entry.patience.quantiles)

    def _value(self, quantiles: Mapping[str, float | None] | None, u: float) -> float | None:
        """inverse(quantiles, u), each distribution's points worked out once."""
        key = id(quantiles)
        points = self._compiled.get(key, False)
        if points is False:
            points = self._compiled[key] = _points(quantiles)
        return _at(points, u)   # type: ignore[arg-type]

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
        value = self._value(pool.quantiles, u)
        return 60.0 if value is None else value   # a model with no delay at all: a minute (docs/whatif.md)

    def hand_end(self, u_share: float, u_delay: float, platform_ends: bool = True) -> float | None:
        """Seconds after the last answer the agent ends the session by hand, or None: the platform's auto end.
        On a platform (or policy) with no automatic end every session ends by hand: nothing else would end it."""
        ends = self.entry.session_end
        if platform_ends and (ends.by_hand is None or u_share >= ends.by_hand):
            return None
        value = self._value(ends.by_hand_delay.quantiles, u_delay)
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
        events = list(events)
        convs, kept = conversations(events)
        if self.staff is not None and events:
            planned = presence_events(self.staff, None, events[0].ts, events[-1].ts, engine.clock.tz)
            kept = sorted((kept if self.staff.presence == "log+plan" else []) + planned, key=lambda e: e.ts)
        runner = _Run(self, engine, convs, kept)
        yield from runner.run()


class _Run:
    """One counterfactual replay of one log: a heap of the events still to feed, in time order."""

    def __init__(self, actor: ModelActor, engine: Engine, convs: list[Conversation], kept: list[Event]):
        self.actor, self.engine, self.seed = actor, engine, actor.seed
        self.heap: list[tuple[float, int, str, object]] = []
        self.seq = 0
        self.live: dict[tuple[str, str], _Live] = {}
        self.models: dict[str | None, ShopAgents] = {}
        # what the log starts (agent status, each conversation), in time order: merged with the heap as the
        # run goes (ahead of the heap's own at the same instant), so the heap holds only what is under way
        starts: list[tuple[float, int, int, str, object]] = [(ev.ts, 0, i, "event", ev) for i, ev in enumerate(kept)]
        starts += [(conv.bursts[0].start, 1, i, "burst", _Live(conv, sid=_shop_of(conv, engine)))
                   for i, conv in enumerate(convs)]
        starts.sort(key=lambda start: start[:3])
        self.starts = [(ts, kind, item) for ts, _, _, kind, item in starts]

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
        engine, heap, starts = self.engine, self.heap, self.starts
        next_start, inf = 0, math.inf
        while heap or next_start < len(starts):
            start_ts = starts[next_start][0] if next_start < len(starts) else inf
            first = heap[0][0] if heap else inf
            due = engine.next_due()
            if due <= first and due <= start_ts:   # the engine acts first (an automatic end, a midnight)
                out = engine.advance(due)
                if out:
                    self._follow(out, due)
                    yield out
                if engine.next_due() > due:
                    continue
            if start_ts <= first:
                ts, kind, item = starts[next_start]
                next_start += 1
            else:
                ts, _, kind, item = heapq.heappop(heap)
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
            return self._feed(ts, live, "session_end")
        return self._patience_over(ts, live)

    def _start_burst(self, ts: float, live: _Live) -> list[Decision]:
        live.burst_start, live.sent, live.agent, live.reply_at, live.patience_at = ts, 0, None, None, None
        key = (self._shop_id(live), live.conv.consumer)
        earlier = self.live.get(key)
        if earlier is not None and earlier is not live:
            earlier.gone = True   # the consumer's next conversation (its log time came): the rest of this one is dropped
        self.live[key] = live
        return self._message(ts, live)

    def _message(self, ts: float, live: _Live) -> list[Decision]:
        burst = live.conv.bursts[live.burst]
        offset, original = burst.messages[live.sent]
        live.sent += 1
        live.last_message = ts
        if live.sent < len(burst.messages):
            self._push(live.burst_start + burst.messages[live.sent][0], "message", live)
        event = Event(original.line, ts, "message", shop=original.shop, sender="consumer", consumer=original.consumer,
                      text=original.text, page=original.page, card_kind=original.card_kind, card_id=original.card_id,
                      priority=original.priority)
        out = self.engine.feed(event)
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
        conv = live.conv
        if live.burst + 1 < len(conv.bursts):
            live.burst += 1
            nxt = conv.bursts[live.burst]
            self._push(ts + (nxt.gap or 0.0), "burst", live)
        else:
            sid = self._shop_id(live)
            model = self._model(sid)
            after = model.hand_end(draw(self.seed, sid, conv.consumer, conv.index, "end"),
                                   draw(self.seed, sid, conv.consumer, conv.index, "end delay"),
                                   platform_ends=self.engine.sessions.end_after is not None)
            if after is not None:
                self._push(ts + after, "end", live)
        return out

    def _feed(self, ts: float, live: _Live, kind: str) -> list[Decision]:
        first = live.conv.bursts[0].messages[0][1]
        if kind == "message":
            event = Event(MODEL_LINE, ts, "message", shop=first.shop, sender="agent", consumer=first.consumer,
                          agent=live.agent)
        else:
            event = Event(MODEL_LINE, ts, "session_end", shop=first.shop, consumer=first.consumer)
        return self.engine.feed(event)

    def _patience_over(self, ts: float, live: _Live) -> list[Decision]:
        if live.patience_at != ts or live.agent is not None or self._session(live) is not None:
            return []
        live.gone = True
        return self._feed(ts, live, "session_end")

    def _follow(self, out: list[Decision], now: float) -> None:
        """Answers for consumers the policy has just given to an agent; patience for those it queued."""
        for d in out:
            live = self.live.get((d.shop, d.consumer)) if d.consumer is not None else None
            if live is None or live.gone:
                continue
            if isinstance(d, Assigned) and d.agent is not None and live.agent is None \
                    and live.sent and d.action in ("assign", "offline_route"):
                self._schedule(now, live, d.agent)
            elif isinstance(d, Queued):
                sid = self._shop_id(live)
                conv = live.conv
                wait = self._model(sid).patience(draw(self.seed, sid, conv.consumer, conv.index, live.burst, "patience"))
                if wait < math.inf:
                    live.patience_at = max(live.burst_start + wait, now)
                    self._push(live.patience_at, "patience", live)
