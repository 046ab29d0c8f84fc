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
  agent has taken them by then; the rest of that conversation is not sent. With the model's
  `patience.leaves: unanswered` (a phone) they also leave while assigned and not yet answered.
- **Draws** between a distribution's quantiles are linear; above p99, p99 plus an exponential excess that
  keeps the distribution's `mean` (tail_excess).
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
import itertools
import math
from collections import deque
from typing import Any, Callable, Iterable, Iterator, Mapping, TypeAlias

from ..events import Event
from ..runtime import Engine
from ..runtime.decisions import Assigned, Decision, LeftQueue, Queued
from .calibrate import IDLE_GAP, MAX_WAIT, bucket_of
from .staff import MODEL_LINE, StaffPlan, with_plan
from .model import QUANTILES, AgentEntry, AgentModel, Pool, Pooled, ShopEntry, entry_for, quantile_key


class Burst:
    """A consumer's messages between two answers of the log (its events, each re-timed when it is played), their
    log times (a message's offset from the first is its time less `start`), and the gap from the log's answer
    before it (None for a conversation's first burst, which keeps its time)."""

    __slots__ = ("start", "messages", "times", "gap")

    def __init__(self, start: float, gap: float | None = None) -> None:
        self.start = start
        self.messages: list[Event] = []
        self.times: list[float] = []
        self.gap = gap


class Conversation:
    """One conversation of one consumer, as the log had it."""

    __slots__ = ("consumer", "index", "bursts", "last_seen", "complete", "watched")

    def __init__(self, consumer: str, index: int) -> None:
        self.consumer = consumer
        self.index = index
        self.bursts: list[Burst] = []
        self.last_seen = 0.0      # the log's last event of the conversation so far
        self.complete = False     # no more of it is in the log (a session_end, or IDLE_GAP passed)
        self.watched = False      # the cutter watches it for silence


FORGET_AFTER = 30 * 86400.0
"""A consumer not met for this long (up to twice it) may be forgotten by the cutter's conversation counts
(Cutter._count); its next conversation is then numbered 1 again and draws as its first did."""


class Cutter:
    """A shop's log cut into conversations as it is read (see the module doc): `read` the events in time
    order, a batch at a time; what they start is collected in `started` (each new conversation, and each
    agent status kept as it is), the conversations given a new burst in `grown`, and those found complete
    in `completed`, each in the order met (the reader clears them when it has looked)."""

    def __init__(self) -> None:
        self.open: dict[str, Conversation] = {}
        self.last_answer: dict[str, float] = {}
        self.counts: dict[str, int] = {}   # a consumer's conversations so far (part of its draws' keys) ...
        self.older: dict[str, int] = {}    # ... and those of the consumers not met since the last turn
        self.turn_at = math.inf            # when counts becomes older (FORGET_AFTER after the last turn)
        self.expiring: list[tuple[float, int, Conversation]] = []   # (last_seen + IDLE_GAP, seq, conversation)
        self.seq = 0
        self.started: list[Conversation | Event] = []
        self.grown: list[Conversation] = []
        self.completed: list[Conversation] = []

    def read(self, events: Iterable[Event], until: float = math.inf) -> Event | None:
        """Read events up to `until` (every one at or before it); the first past it is returned, not read
        (None: the events ran out). `expire` says which conversations went silent, once a batch is read."""
        open_, last_answer, started, grown = self.open, self.last_answer, self.started, self.grown
        idle_gap = IDLE_GAP
        for ev in events:
            ts = ev.ts
            if ts > until:
                return ev
            kind = ev.type
            if kind != "message":
                if kind == "agent_status":
                    started.append(ev)
                elif kind == "session_end" and ev.consumer is not None:
                    ended = open_.pop(ev.consumer, None)
                    if ended is not None:
                        self._close(ended)
                continue   # a transfer is the log's people's act
            cid = ev.consumer
            if cid is None:
                continue
            conv = open_.get(cid)
            if conv is not None and ts - conv.last_seen > idle_gap:
                self._close(open_.pop(cid))
                conv = None
            sender = ev.sender
            if sender != "consumer":
                if conv is not None:
                    conv.last_seen = ts
                    if not conv.watched:
                        self._expiry(conv)
                    if sender == "agent":   # the log's robot and system messages are its automation's
                        last_answer[cid] = ts
                continue
            if conv is None:   # a new conversation: its first burst keeps its time
                index = self._count(cid, ts)
                conv = open_[cid] = Conversation(cid, index)
                last_answer.pop(cid, None)
                conv.last_seen = ts
                self._expiry(conv)
                burst = Burst(ts)
                conv.bursts.append(burst)
                burst.messages.append(ev)
                burst.times.append(ts)
                started.append(conv)
                continue
            conv.last_seen = ts
            if not conv.watched:
                self._expiry(conv)
            answered = last_answer.pop(cid, None)
            if answered is not None:   # the log answered since: a new burst, the log's gap after that answer
                burst = Burst(ts, ts - answered)
                conv.bursts.append(burst)
                grown.append(conv)
            else:
                burst = conv.bursts[-1]
            burst.messages.append(ev)
            burst.times.append(ts)
        return None

    def _count(self, cid: str, ts: float) -> int:
        """The consumer's conversation starting at ts: its number among the consumer's (1 for its first).

        The counts are kept in two generations that turn every FORGET_AFTER of the log, so a consumer not met
        for that long (between FORGET_AFTER and twice it) is forgotten and counts from 1 again: memory holds
        the consumers of the last two generations, not of the whole log, and a log shorter than twice
        FORGET_AFTER forgets no one."""
        if ts >= self.turn_at:
            self.older, self.counts = self.counts, {}
            self.turn_at = ts + FORGET_AFTER
        elif self.turn_at == math.inf:   # the log's first conversation
            self.turn_at = ts + FORGET_AFTER
        counts = self.counts
        index = counts.get(cid)
        if index is None:
            index = self.older.pop(cid, 0)
        index = counts[cid] = index + 1
        return index

    def finish(self) -> None:
        """The end of the log: every conversation still open is complete."""
        for conv in self.open.values():
            self._close(conv)
        self.open.clear()

    def _expiry(self, conv: Conversation) -> None:
        """Watch a conversation for silence (one not watched yet): one entry each, moved on when `expire`
        finds the conversation went on."""
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
    cutter.read(events)
    cutter.finish()
    return ([c for c in cutter.started if isinstance(c, Conversation)],
            [e for e in cutter.started if not isinstance(e, Conversation)])


def _shop_of(conv: Conversation, engine: Engine) -> str:
    """The engine's id of a conversation's shop (an event naming none is the engine's default shop's)."""
    shop = conv.bursts[0].messages[0].shop
    return shop if shop is not None else engine.default_shop


def draw(seed: int, *key: object) -> float:
    """A uniform number in [0, 1) from the seed and a key (the same key, the same number)."""
    return drawn_after(_BLAKE2B, repr((seed, *key)).encode("utf-8"))


_BLAKE2B = hashlib.blake2b(digest_size=8)   # copied for each hash: cheaper than a new one (parameters not parsed)


def conversation_hasher(seed: int, shop: str, consumer: str, index: int) -> Any:
    """A hasher fed a conversation's draw key text up to what is drawn: draw(seed, shop, consumer, index, *rest)
    is drawn_after(it, the rest of the key's repr: each of rest's items, followed by ", ", the last by ")")."""
    hasher = _BLAKE2B.copy()
    hasher.update(f"({seed!r}, {shop!r}, {consumer!r}, {index!r}, ".encode("utf-8"))
    return hasher


def drawn_after(hasher: Any, rest: bytes) -> float:
    """The number of the key whose text is the hasher's, then rest (see conversation_hasher)."""
    hasher = hasher.copy()
    hasher.update(rest)
    return int.from_bytes(hasher.digest(), "big") / 2.0 ** 64


def _rest(*items: object) -> bytes:
    """The end of a key's text after a conversation's prefix: the items' reprs, as draw writes them."""
    return (", ".join(repr(item) for item in items) + ")").encode("utf-8")


_REPLY = [_rest(burst, "reply") for burst in range(64)]        # by burst: the key's end for its answer's delay
_PATIENCE = [_rest(burst, "patience") for burst in range(64)]  # and for the consumer's patience in a queue
_END, _END_DELAY = _rest("end"), _rest("end delay")


def _key_end(made: list[bytes], burst: int, what: str) -> bytes:
    """The end of a burst's key for what is drawn, from the ones made beforehand (_REPLY, _PATIENCE) while it can."""
    return made[burst] if burst < len(made) else _rest(burst, what)


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


class _Tail:
    """Above p99: p99 plus an exponential excess of the given mean (u < 1, so the value is finite)."""

    __slots__ = ("top", "excess")

    def __init__(self, top: float, excess: float) -> None:
        self.top, self.excess = top, excess

    def at(self, u: float) -> float:
        return self.top + self.excess * math.log(_TOP / (1.0 - u))


def _at(points: tuple[float | None, ...] | None, u: float, excess: float = 0.0) -> float | None:
    """The value at probability u of a distribution given by its points (_points) and tail (tail_excess)."""
    return _at_segment(_segments(points, excess), u)


_Segment: TypeAlias = "tuple[float, float, float, float] | _Tail | float | None"


def _segments(points: tuple[float | None, ...] | None, excess: float = 0.0) -> list[_Segment] | None:
    """_at(points, u, excess) for each place of u among _PROBABILITIES (bisect_left), worked out as far as it
    can be before u is known: a value, (lo, hi - lo, q0, q1 - q0) to interpolate (_at_segment: the same sums),
    or the tail above p99."""
    if points is None:
        return None
    out: list[_Segment] = []
    for i in range(len(_PROBABILITIES) + 1):
        if i >= len(points):
            top = points[-1]
            out.append(_Tail(top, excess) if excess and top is not None else top)
        elif i == 0:
            out.append(points[0])
        else:
            lo, hi = points[i - 1], points[i]
            if lo is None or hi is None:
                out.append(None)
            else:
                q0, q1 = _PROBABILITIES[i - 1], _PROBABILITIES[i]
                out.append((lo, hi - lo, q0, q1 - q0))
    return out


def _at_segment(segments: list[_Segment] | None, u: float) -> float | None:
    """_at(points, u), from _segments(points)."""
    if segments is None:
        return None
    segment = segments[bisect.bisect_left(_PROBABILITIES, u)]
    if type(segment) is tuple:
        lo, span, q0, width = segment
        return lo + span * (u - q0) / width
    if type(segment) is _Tail:
        return segment.at(u)
    return segment   # type: ignore[return-value]


class ShopAgents:
    """A shop's model: each agent's delays by load, the shop's pooled ones for an agent it does not know,
    the shop's session ends and patience."""

    def __init__(self, entry: ShopEntry):
        self.entry = entry
        self.agents: dict[str, AgentEntry] = {a.agent: a for a in entry.agents}
        self._compiled: dict[int, list[_Segment] | None] = {}   # id of a distribution -> its segments
        self._patience = _segments(_points(entry.patience.quantiles))
        self.leaves_unanswered = entry.patience.leaves == "unanswered"
        self._delays: dict[tuple[str, bool, int], list[_Segment] | None] = {}   # (agent, first, load) -> segments

    def _value(self, pool: Pool | Pooled, u: float) -> float | None:
        """The pool's value at probability u: linear between its quantiles, the tail above p99 keeping its mean."""
        return _at_segment(self._compile(pool), u)

    def _compile(self, pool: Pool | Pooled) -> list[_Segment] | None:
        """A distribution's segments, worked out once."""
        key = id(pool)
        segments = self._compiled.get(key, False)
        if segments is False:
            points = _points(pool.quantiles)
            segments = self._compiled[key] = _segments(points, tail_excess(points, pool.mean))
        return segments   # type: ignore[return-value]

    def delay(self, agent: str, first: bool, load: int, u: float) -> float:
        """Seconds to answer a burst (first reply or follow-up) at this load."""
        key = (agent, first, load)
        points = self._delays.get(key, False)
        if points is False:
            points = self._delays[key] = self._delay_points(agent, first, load)
        value = _at_segment(points, u)   # type: ignore[arg-type]
        return 60.0 if value is None else value   # a model with no delay at all: a minute (docs/whatif.md)

    def _delay_points(self, agent: str, first: bool, load: int) -> list[_Segment] | None:
        """The points of the delays an agent answers with at a load: its own, else the shop's for the load,
        else the shop's over all loads."""
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
        return self._compile(pool)

    def ends_by_hand(self, u_share: float, platform_ends: bool = True) -> bool:
        """Whether the agent ends the session by hand (then hand_end_delay draws when; else the platform's auto end)."""
        by_hand = self.entry.session_end.by_hand
        return not (platform_ends and (by_hand is None or u_share >= by_hand))

    def hand_end_delay(self, u_delay: float) -> float:
        """Seconds after the last answer a session ended by hand ends."""
        value = self._value(self.entry.session_end.by_hand_delay, u_delay)
        return 0.0 if value is None else value

    def patience(self, u: float) -> float:
        """Seconds a consumer waits before leaving, from its burst's first message (inf: stays): in a queue or the
        offline pool, and with `patience.leaves: unanswered` also while assigned and not yet answered."""
        value = _at_segment(self._patience, u)
        return math.inf if value is None else value


class _Live:
    """A conversation as the model plays it."""

    __slots__ = ("conv", "sid", "key", "shop", "consumer", "hasher", "burst", "current", "burst_start",
                 "sent", "agent", "reply_at", "patience_at", "gone")

    def __init__(self, conv: Conversation, sid: str, seed: int) -> None:
        first = conv.bursts[0].messages[0]
        self.conv = conv
        self.sid = sid                       # the engine's id of the consumer's shop
        self.key = (sid, conv.consumer)      # its key in the run's live conversations (the engine's decisions')
        self.shop = first.shop               # the shop the log's events name (None: the engine's default)
        self.consumer = conv.consumer
        self.hasher = conversation_hasher(seed, sid, conv.consumer, conv.index)   # of its draws
        self.burst = 0
        self.current = conv.bursts[0]   # the burst played (conv.bursts[burst])
        self.burst_start = 0.0
        self.sent = 0                        # messages of the burst sent so far
        self.agent: str | None = None        # the agent answering the burst, once one is
        self.reply_at: float | None = None
        self.patience_at: float | None = None
        self.gone = False


class ModelActor:
    """Feeds an engine the log's demand with answers, ends and departures drawn from an agent model."""

    def __init__(self, model: AgentModel, seed: int = 0, staff: StaffPlan | None = None):
        self.model = model
        self.seed = seed
        self.staff = staff   # who is present, by shift, instead of or besides the log's agents (staff.py)

    def shop(self, shop: str | None) -> ShopAgents:
        """The model of a shop (a model of one shop serves any shop id: model.entry_for)."""
        return ShopAgents(entry_for(self.model, shop))

    def play(self, engine: Engine, events: Iterable[Event],
             feed: Callable[[Event], list[Decision]] | None = None) -> Iterator[list[Decision]]:
        """Run the counterfactual: the engine's decisions as they are made, event by event."""
        yield from self.runner(engine, events, feed).run()

    def runner(self, engine: Engine, events: Iterable[Event],
               feed: Callable[[Event], list[Decision]] | None = None) -> "_Run":
        """The counterfactual's run: run() yields the engine's decisions as they are made; after each yield its
        `now` is the replay's clock (a many-shop replay plays its shops' runs in step by it, engine/fleet.py).
        feed: how an event is fed to the engine (default engine.feed; a replay of several logs names each
        decision's file with it)."""
        engine.comparison.tally_nothing()   # who answered is the model's: nothing to compare with the log
        if self.staff is not None:   # the plan's presence merged in as the log is read
            events = with_plan(self.staff, events, engine.clock.tz)
        return _Run(self, engine, iter(events), feed)


READ_MORE = 3600.0
"""When the log must be read further, it is read this much further than it must."""
LOOK_AHEAD = MAX_WAIT + IDLE_GAP
"""How far ahead of the replay's clock the log is read: a burst's place needs the log's answer before it and
the consumer's silence after the last one, which come later in the log (an answer up to MAX_WAIT late)."""


class _Run:
    """One counterfactual replay of one log: the log read LOOK_AHEAD ahead of the clock and cut into
    conversations as it goes (so memory holds a day or so of it, not the whole log), and a heap of the
    events still to feed, in time order.

    The heap, and the deque of what the log starts (kept in order), hold tuples whose leading fields order them
    (a time, for a start its kind, then the order pushed) and whose last two are the step to take then and what it
    takes: `step(ts, item)` returns the engine's decisions."""

    def __init__(self, actor: ModelActor, engine: Engine, events: Iterator[Event],
                 feed: Callable[[Event], list[Decision]] | None = None):
        self.actor, self.engine, self.seed = actor, engine, actor.seed
        self.feed = feed if feed is not None else engine.feed
        self.shops = engine.shops
        self.heap: list[tuple[float, int, _Step, _Live]] = []
        self.order = itertools.count(1)   # the order of pushes, both heaps': a tie of times keeps it
        self.live: dict[tuple[str, str], _Live] = {}
        self.models: dict[str | None, ShopAgents] = {}
        self.events = events
        self.ahead: Event | None = next(events, None)   # the next event of the log, not read yet
        self.cutter = Cutter()
        # what the log starts (agent status, then each conversation, at one instant), ahead of the heap's own:
        # in order (the log is read in time order: an entry goes at the end, but for a status at a time read)
        self.starts: deque[tuple[float, int, int, _Step, object]] = deque()
        self.awaiting: dict[int, _Live] = {}   # id of a conversation -> its live run, answered, waiting for more
        self.now = -math.inf
        # the steps, bound once
        self.start_burst, self.message, self.reply, self.end, self.patience_over = (
            self._start_burst, self._message, self._reply, self._end, self._patience_over)

    def _read(self, until: float) -> None:
        """Read the log up to `until` (every event at or before it): what it starts, what it adds."""
        cutter, starts, order = self.cutter, self.starts, self.order
        ahead = self.ahead   # not None: the run reads while the log has more
        self.ahead = cutter.read(itertools.chain((ahead,), self.events), until)   # type: ignore[arg-type]
        entry: tuple[float, int, int, _Step, object]
        for started in cutter.started:
            if isinstance(started, Conversation):   # played from its first burst's time (its live run made then)
                entry = (started.bursts[0].start, 1, next(order), self._first_burst, started)
            else:
                entry = (started.ts, 0, next(order), self._kept, started)
            if not starts or entry > starts[-1]:
                starts.append(entry)
            else:
                bisect.insort(starts, entry)
        cutter.started.clear()
        if self.awaiting:   # a new burst of a conversation the model answered to its end so far
            for conv in cutter.grown:
                self._grown(conv)
        cutter.grown.clear()
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

    def _push(self, ts: float, step: _Step, live: _Live) -> None:
        heapq.heappush(self.heap, (ts, next(self.order), step, live))

    def _model(self, shop: str) -> ShopAgents:
        model = self.models.get(shop)
        if model is None:
            model = self.models[shop] = self.actor.shop(shop)
        return model

    def run(self) -> Iterator[list[Decision]]:
        """Feed the engine in time order: the log's starts, the model's answers and ends, the engine's timers."""
        engine, heap, starts, inf = self.engine, self.heap, self.starts, math.inf
        advance, follow, pop, popleft = engine.advance, self._follow, heapq.heappop, starts.popleft
        next_due = engine.next_due
        next_read = -inf   # the clock at which the log must be read further (its next event less LOOK_AHEAD)
        start_ts = inf     # the time of the first of starts (kept as starts change: only here)
        now = -inf   # the time of the last step or timer (kept in self.now for what the read finds)
        while True:
            first = heap[0][0] if heap else inf
            clock = start_ts if start_ts < first else first
            if clock >= next_read:
                if self.ahead is not None:   # read a while beyond, not an event at a time
                    self.now = now
                    self._read((clock if clock != inf else self.ahead.ts) + LOOK_AHEAD + READ_MORE)
                    next_read = self.ahead.ts - LOOK_AHEAD if self.ahead is not None else inf
                    start_ts = starts[0][0] if starts else inf
                    continue
                if clock == inf:
                    return
            due = next_due()   # the next timer, or a midnight before it
            if due <= clock:   # the engine acts first (an automatic end, a midnight)
                now = due
                out = advance(due)
                if out:
                    follow(out, due)
                    self.now = now
                    yield out
                if next_due() > due:
                    continue
            if start_ts <= first:
                ts, _, _, step, item = popleft()
                start_ts = starts[0][0] if starts else inf
            else:
                ts, _, step, item = pop(heap)
            now = ts
            out = step(ts, item)
            if out:
                follow(out, ts)
                self.now = now
                yield out

    # ---- the steps: each returns the engine's decisions -------------------------------------------------
    def _kept(self, ts: float, event: Event) -> list[Decision]:
        """An event of the log kept as it is (an agent's status)."""
        return self.feed(event)

    def _end(self, ts: float, live: _Live) -> list[Decision]:
        """The agent ends the session by hand."""
        if live.gone:
            return []
        self._forget(live)
        return self.feed(Event(MODEL_LINE, ts, "session_end", shop=live.shop, consumer=live.consumer))

    def _forget(self, live: _Live) -> None:
        """A conversation played to its end leaves the run's memory."""
        if self.live.get(live.key) is live:
            del self.live[live.key]

    def _first_burst(self, ts: float, conv: Conversation) -> list[Decision]:
        """A conversation's first burst: its live run starts (made only now, not when the log was read a day
        ahead: what a run holds stays out of memory, and out of the caches, until it plays)."""
        return self._start_burst(ts, _Live(conv, _shop_of(conv, self.engine), self.seed))

    def _start_burst(self, ts: float, live: _Live) -> list[Decision]:
        if live.gone:
            return []
        live.burst_start, live.sent, live.agent, live.reply_at, live.patience_at = ts, 0, None, None, None
        key = live.key
        earlier = self.live.get(key)
        if earlier is not None and earlier is not live:
            earlier.gone = True   # the consumer's next conversation (its log time came): the rest of this one is dropped
        self.live[key] = live
        if live.burst == 0 and self._model(live.sid).leaves_unanswered:
            self._be_patient(ts, live)   # a caller may hang up before the answer, queued or not
        return self._message(ts, live)   # the burst's first message

    def _message(self, ts: float, live: _Live) -> list[Decision]:
        if live.gone:
            return []
        current = live.current
        messages = current.messages
        sent = live.sent
        original = messages[sent]
        live.sent = sent = sent + 1
        if sent < len(messages):
            heapq.heappush(self.heap, (live.burst_start + (current.times[sent] - current.start), next(self.order),
                                       self.message, live))
        original.ts = ts   # the log's message, re-timed (the log's time is not read again: offsets are kept)
        out = self.feed(original)
        if live.agent is None:
            session = self._session(live)
            if session is not None:   # a follow-up burst: the agent in the session answers it
                self._schedule(ts, live, session)
        return out

    def _session(self, live: _Live) -> str | None:
        """The agent of the consumer's open session, if any."""
        shop = self.shops.get(live.sid)
        cs = shop.consumers.get(live.consumer) if shop is not None else None
        if cs is None:
            return None
        session = cs.session
        return session.agent if session is not None else None

    def _schedule(self, now: float, live: _Live, agent: str) -> None:
        """The agent answers the burst when the model says (see the module doc)."""
        sid = live.sid
        state = self.shops[sid].agents.get(agent)
        load = state.load() if state is not None else 1
        burst = live.burst
        # draw(seed, sid, consumer, index, burst, "reply")
        u = drawn_after(live.hasher, _key_end(_REPLY, burst, "reply"))
        delay = (self.models.get(sid) or self._model(sid)).delay(agent, burst == 0, load if load > 1 else 1, u)
        start = live.burst_start
        current = live.current
        last = start + (current.times[-1] - current.start)   # the burst's last message
        at = start + delay   # max(start + delay, last + 1.0, now + 1.0)
        if last + 1.0 > at:
            at = last + 1.0
        if now + 1.0 > at:
            at = now + 1.0
        live.agent, live.reply_at = agent, at
        heapq.heappush(self.heap, (at, next(self.order), self.reply, live))

    def _reply(self, ts: float, live: _Live) -> list[Decision]:
        if live.gone or self._session(live) != live.agent or live.reply_at != ts:
            return []   # the session ended (or moved) before the answer: the next burst, if any, routes again
        out = self.feed(Event(MODEL_LINE, ts, "message", live.shop, "agent", live.consumer, live.agent))
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
        bursts = live.conv.bursts
        if live.burst + 1 < len(bursts):
            live.burst += 1
            nxt = bursts[live.burst]
            live.current = nxt
            self._push(max(answered + (nxt.gap or 0.0), now), self.start_burst, live)
            return
        model = self._model(live.sid)
        # draw(seed, sid, consumer, index, "end"), then (only for an end by hand) draw(..., "end delay")
        if model.ends_by_hand(drawn_after(live.hasher, _END), platform_ends=self.engine.sessions.end_after is not None):
            after = model.hand_end_delay(drawn_after(live.hasher, _END_DELAY))
            self._push(max(answered + after, now), self.end, live)
        else:
            self._forget(live)   # the platform ends it: nothing more of it is the model's

    def _patience_over(self, ts: float, live: _Live) -> list[Decision]:
        if live.gone or live.patience_at != ts:
            return []
        if (live.agent is not None or self._session(live) is not None) and not self._model(live.sid).leaves_unanswered:
            return []   # taken by an agent: only a caller (patience.leaves: unanswered) still leaves
        live.gone = True
        self._forget(live)
        return self.feed(Event(MODEL_LINE, ts, "session_end", shop=live.shop, consumer=live.consumer))

    def _follow(self, out: list[Decision], now: float) -> None:
        """Answers for consumers the policy has just given to an agent; patience for those it queued."""
        lives = self.live
        for d in out:
            kind = type(d)
            if kind is not Assigned and kind is not Queued and kind is not LeftQueue:
                continue   # most are automatic replies and ends: nothing to follow
            live = lives.get((d.shop, d.consumer)) if d.consumer is not None else None
            if live is None or live.gone:
                continue
            if kind is Assigned:
                if d.agent is not None and live.agent is None and live.sent:   # assign or offline_route
                    self._schedule(now, live, d.agent)
            elif kind is LeftQueue:
                if live.agent is None and live.sent == len(live.current.messages):
                    live.gone = True   # left unserved with nothing more to say: nothing of it can come again
                    self._forget(live)
            elif live.patience_at is None or not self._model(live.sid).leaves_unanswered:   # Queued
                self._be_patient(now, live)   # (unanswered: the clock already runs from the burst's start)

    def _be_patient(self, now: float, live: _Live) -> None:
        """The consumer leaves once the patience drawn for this burst has passed since its first message."""
        burst = live.burst
        wait = self._model(live.sid).patience(
            drawn_after(live.hasher, _key_end(_PATIENCE, burst, "patience")))
        if wait < math.inf:
            live.patience_at = max(live.burst_start + wait, now)
            self._push(live.patience_at, self.patience_over, live)


_Step = Callable[[float, Any], "list[Decision]"]
"""A step of the run: at a time, with what it takes (a live conversation, or a kept event)."""
