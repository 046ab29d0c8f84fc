"""The engine: feed events one at a time, get the policy's decisions back.

A replay is a loop over this API; a live desk can embed it the same way. Timers
(automatic session end, the queue's end of day at local midnight) fire at their due
time, in order with the events.

The Engine is the façade: it reads the policy, dispatches each event, counts decisions
and wires the tracer hook. The work is done behind narrow interfaces: `Router`
(routing.py: who takes a new consumer), `Waiting` (queue.py: the queue and offline
pool), `Sessions` (sessions.py: sessions and their end timers), `LogComparison`
(compare.py: first answers against the log), `MetricHub` (observers.py: what the
metric trackers observe), `AutoReplier` (replies.py: which automatic replies apply) and
`ReplySender` (sending.py: the loop guard, the auto_reply decisions and their counts).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import date
from typing import Callable

from .. import ir
from ..events import Event
from .assign import INDEX_FROM, AgentIndex
from .clock import LocalClock, policy_timezone
from .compare import LogComparison
from .decisions import AutoReplied, Decision, FromHistory, LeftQueue, RuleFiles, Stamper
from .hours import WorkingHours
from .metrics import MetricRow
from .observers import MetricHub
from .queue import Waiting
from .replies import AutoReplier
from .routing import Router
from . import trace as trace_text
from .trace import Trace
from .sending import ReplySender
from .sessions import Sessions
from .state import DEFAULT_CAP, AgentState, ConsumerState, ShopState

Out = list[Decision]


def platform_policy(platform: ir.Platform) -> ir.Policy:
    """A policy with no shop automation: the platform's measurement rules and defaults alone."""
    shop = ir.Shop(name="", platform=ir.Ref(name=platform.name))
    return ir.Policy(shop=shop, platform=platform, effective=platform.defaults)


class Engine:
    """Evaluates a resolved policy against events; deterministic for a seed."""

    index_from = INDEX_FROM   # agents in a shop from which its choices use an AgentIndex

    def __init__(self, policy: ir.Policy, *, seed: int = 0, automation: bool = True):
        self.policy = policy
        settings = policy.effective
        shop = policy.shop
        tz = policy_timezone(policy)
        self.clock = LocalClock(tz)
        self.rng = random.Random(seed)
        self.automation = automation and bool(shop.name)
        # the shop's working hours, read by the offline reply and the offline pool (None: always open)
        hours = WorkingHours(shop, LocalClock(tz)) if shop.hours or shop.holidays else None
        self.replier = AutoReplier(shop.replies if self.automation else [], hours)
        self.auto_replies = self.replier.any   # whether consumer messages may get an automatic reply
        self.observers = MetricHub(policy.platform.metrics, tz)   # the metric trackers observe through it
        self.metrics = self.observers.trackers
        # the hot observations, bound once (a consumer's message, a reply)
        self._observe_message = self.observers.consumer_message
        self._observe_replies = self.observers.replies
        self.default_shop = shop.name
        self.shops: dict[str, ShopState] = {}
        # the next local midnight, when consumers still queued leave the queue (-inf: no event yet)
        self._midnight = -math.inf
        self._stamp = Stamper(self.clock.iso).text   # a decision's ts text
        # decisions by (shop, local date, action), a plain dict (day_counts gives a copy)
        self._day_counts: dict[tuple[str, str, str], int] = {}
        self._days: set[tuple[str, date]] = set()
        self.rule_ref = RuleFiles(policy)   # decisions name a rule's file as a user opens it
        self._configure(settings, shop)
        self.sender = ReplySender(self.replier, self.cooldown, self._stamp, self.rule_ref, self.observers)
        self._auto_reply = self.sender.send
        self.waiting = Waiting(settings, shop, self.rule_ref, self.clock, hours, self._stamp)   # queue, offline pool
        self._drain = self.waiting.drain
        self.sessions = Sessions(self._stamp, self.observers, self.end_after, self.end_rule, self._drain)
        self.timers = self.sessions.timers   # the automatic session ends pending, in due order
        # the hot entry points of the parts, bound once
        self._answered = self.sessions.answered
        self._close = self.sessions.close
        self._fire_timers = self.sessions.fire
        self.comparison = LogComparison(self.clock, self._stamp, self.sessions.open)   # the first answers vs the log
        self.router = Router(settings, shop, self.rule_ref, self.rng, self._agent, self.sessions.open, self.waiting)
        self.waiting.connect(self.router, self.sessions.open)
        self.ranker = self.router.ranker
        self._route_new = self.router.route_new
        self.tracer: Trace | None = None   # kefu explain's hook (runtime/trace.py); None: every hook is one test
        self._handlers: dict[str, Callable[[str, ShopState, Event, Out], None]] = {
            "agent_status": self._agent_status, "transfer": self._transfer, "session_end": self._session_end}

    # ---- configuration -------------------------------------------------------
    def _configure(self, settings: ir.Settings, shop: ir.Shop) -> None:
        end = settings.session_end
        self.end_after = end.after if end and end.after else None
        self.end_rule = self.rule_ref(end.span) if end else None
        self.cooldown = settings.cooldown.every if settings.cooldown and self.automation else 0
        # `history D`: an ended session can be answered D seconds after its end (None: no statement, no default)
        history = settings.history
        self.history_keep = history.keep if history is not None else None
        self.history_rule = self.rule_ref(history.span) if history is not None else None
        self.agent_specs: dict[str, tuple[int | None, str | None, bool]] = {}
        group_cap = {g.name: g.max_sessions for g in shop.groups}
        declared = {a.name: a for a in shop.agents}
        for group in shop.groups:
            for ref in group.agents:
                spec = declared.get(ref.name)
                cap = spec.max_sessions if spec and spec.max_sessions is not None else group_cap[group.name]
                self.agent_specs.setdefault(ref.name, (cap, group.name, spec.im if spec else True))
        for agent in shop.agents:
            self.agent_specs.setdefault(agent.name, (agent.max_sessions, None, agent.im))

    def _new_shop(self, sid: str) -> ShopState:
        shop = ShopState()
        if self.waiting.estimate_from:
            shop.handled = type(shop.handled)(maxlen=self.waiting.estimate_from)
        for order, (name, (cap, group, im)) in enumerate(self.agent_specs.items()):
            shop.agents[name] = AgentState(name=name, order=order, cap=DEFAULT_CAP if cap is None else cap,
                                           group=group, im=im)
        if len(shop.agents) >= self.index_from:
            shop.index = AgentIndex(self.ranker, shop.agents.values())
        self.shops[sid] = shop
        return shop

    def _agent(self, shop: ShopState, name: str) -> AgentState:
        agent = shop.agents.get(name)
        if agent is None:
            agent = shop.agents[name] = AgentState(name=name, order=len(shop.agents))
            shop.routes.clear()   # a routed group may have gained an agent
            if shop.index is not None:
                shop.index.add(agent)
            elif len(shop.agents) >= self.index_from:
                shop.index = AgentIndex(self.ranker, shop.agents.values())
        return agent

    # ---- the API ---------------------------------------------------------------
    def feed(self, event: Event) -> list[Decision]:
        """Process one event (timers due by its time fire first); returns the decisions made."""
        out: Out = []
        sid = event.shop
        if sid is None:
            sid = self.default_shop
        shop = self.shops.get(sid) or self._new_shop(sid)
        timers = self.timers
        if event.ts >= self._midnight or timers and timers[0][0] <= event.ts:
            if event.ts >= self._midnight:
                self._end_days(event.ts, out)
            self._fire_timers(event.ts, self.shops, out)   # _fire_due, inlined
        if event.type == "message":
            if event.sender == "consumer":
                self._consumer_message(sid, shop, event, out)
            else:
                self._reply_message(sid, shop, event, out)
        else:
            self._handlers[event.type](sid, shop, event, out)
        if out:
            self._count(out)
        return out

    def next_due(self) -> float:
        """When the engine next acts on its own (a session's automatic end, a local midnight); inf for never."""
        timers, midnight = self.timers, self._midnight
        due = timers[0][0] if timers else math.inf
        return midnight if -math.inf < midnight < due else due   # min(due, midnight) once a midnight is set

    def advance(self, ts: float) -> list[Decision]:
        """Fire the timers due by ts (a live desk calls this on a clock tick)."""
        out: Out = []
        self._fire_due(ts, out)
        self._count(out)
        return out

    def finish(self) -> list[Decision]:
        """End of input: fire every remaining timer (the last day's end too) and settle the metrics."""
        out: Out = []
        if self._midnight > -math.inf:
            self._fire_timers(self._midnight, self.shops, out)
            self.waiting.day_end(self.shops, self._midnight, out)
        self._fire_timers(math.inf, self.shops, out)
        self._count(out)
        self.observers.finish()
        return out

    def metric_rows(self) -> list[MetricRow]:
        """Every metric per shop and local day, sorted."""
        return self.observers.rows()

    # ---- bookkeeping -----------------------------------------------------------
    @property
    def day_counts(self) -> Counter:
        """Decisions made so far by (shop, local date, action)."""
        return Counter(self._day_counts)

    @property
    def counts(self) -> Counter:
        """Decisions made so far, by action."""
        totals: Counter = Counter()
        for (_, _, action), n in self._day_counts.items():
            totals[action] += n
        return totals

    @property
    def agreement(self) -> dict[tuple[str, str], tuple[int, int]]:
        """By (shop, local date): sessions whose first answer was compared, and how many of those
        the agent the policy assigned answered."""
        return {key: (compared, agreed) for key, (compared, agreed) in self.comparison.agreement.items()}

    @property
    def suppressed(self) -> int:
        """Automatic replies whose trigger held but that were not sent, so far."""
        return sum(self.sender.suppressed_by.values())

    @property
    def auto_reply_kinds(self) -> Counter:
        """Automatic replies sent so far, by kind."""
        return Counter(self.sender.sent_by_kind)

    @property
    def suppressed_by(self) -> Counter:
        """Automatic replies not sent so far, by (kind, reason)."""
        return Counter(self.sender.suppressed_by)

    def _count(self, out: Out) -> None:
        day_counts = self._day_counts
        for d in out:
            key = (d.shop, d.ts[:10], d.action)   # ts is local RFC 3339: its first 10 characters, the date
            day_counts[key] = day_counts.get(key, 0) + 1

    def _see_day(self, sid: str, shop: ShopState, ts: float) -> None:
        day = self.clock.day(ts)
        earlier = shop.today
        shop.today = day
        shop.day_start, shop.day_end = self.clock.day_bounds(ts)
        if (sid, day) in self._days:
            return
        self._days.add((sid, day))
        self.observers.day_seen(sid, day)
        if earlier is not None:   # a new day of a shop already seen: sweep its consumers
            self._forget_idle_consumers(shop, ts, day)

    def _forget_idle_consumers(self, shop: ShopState, ts: float, today: date) -> None:
        """Drop consumers with nothing live, so memory follows live state, not log length.

        Only consumers created since the last sweep or kept by it are looked at.
        """
        repeat = self.router.repeat
        keep_for = max(repeat.within if repeat else 0, self.cooldown)
        history = self.history_keep
        ends = shop.history_ends
        open_since = ts - history if history is not None else 0.0   # an end since then is in its history window
        consumers = shop.consumers
        kept = set()
        for cid in shop.fresh | shop.kept:
            cs = consumers.get(cid)
            if cs is None:
                continue
            if (cs.session is None and cs.queued is None and cs.welcome_day != today
                    and (cs.last_end is None or ts - cs.last_end > keep_for)
                    and (cs.last_auto is None or ts - cs.last_auto > keep_for)):
                if history is not None:   # its session's end is kept while its history window is open
                    ended = cs.history_end
                    if ended is not None and ended >= open_since:
                        ends[cid] = ended
                    elif ends:
                        ends.pop(cid, None)   # it wrote since an end kept when it was last forgotten
                del consumers[cid]
            else:
                kept.add(cid)
        shop.fresh, shop.kept = set(), kept
        if ends:   # drop the ends whose history window has closed
            shop.history_ends = {cid: end for cid, end in ends.items() if end >= open_since}

    # ---- consumers -------------------------------------------------------------
    # Event declares every field but line, ts and type optional; the reader guarantees the ones each
    # type needs (engine/events.py: a message has a sender and a consumer, an agent message an agent,
    # ...). The handlers bind those as str, with `type: ignore[assignment]` saying so to mypy.
    def _consumer_message(self, sid: str, shop: ShopState, ev: Event, out: Out) -> None:
        ts = ev.ts
        cid: str = ev.consumer  # type: ignore[assignment]
        if not (shop.day_start <= ts < shop.day_end):
            self._see_day(sid, shop, ts)
        cs = shop.consumers.get(cid) or shop.consumer(cid)
        session = cs.session
        new_session = session is None and cs.queued is None
        if session is not None:
            session.waiting = True
            session.version += 1
        elif new_session:
            cs.history_end = None   # the consumer writes again: what follows is not an answer from history
            self._route_new(sid, shop, cs, cid, ev, out)
            session = cs.session
        self._observe_message(sid, cid, ts, None if session is None else session.agent)
        if self.auto_replies:
            self._auto_reply(sid, shop, cs, cid, ev, new_session, out)

    # ---- timers: session ends (Sessions) and local midnights (Waiting.day_end) ---------
    def _fire_due(self, until: float, out: Out) -> None:
        """Every timer due by until, the local midnights among them, in time order."""
        if until >= self._midnight:
            self._end_days(until, out)
        self._fire_timers(until, self.shops, out)

    def _end_days(self, until: float, out: Out) -> None:
        """Each local midnight up to until: timers due by then fire, then the day ends for the queues."""
        midnight = self._midnight
        if midnight > -math.inf:
            while midnight <= until:
                self._fire_timers(midnight, self.shops, out)
                self.waiting.day_end(self.shops, midnight, out)
                if not any(shop.queue.size for shop in self.shops.values()):
                    break   # nothing left to end (the offline pool is empty too): skip to until's day
                midnight = self.clock.day_bounds(midnight)[1]
        self._midnight = self.clock.day_bounds(until)[1]

    # ---- replies, agents, transfers, ends ---------------------------------------
    def _reply_message(self, sid: str, shop: ShopState, ev: Event, out: Out) -> None:
        ts = ev.ts
        cid: str = ev.consumer  # type: ignore[assignment]
        sender: str = ev.sender  # type: ignore[assignment]
        if sender == "agent":
            name: str = ev.agent  # type: ignore[assignment]
            agent = shop.agents.get(name) or self._agent(shop, name)
            cs = shop.consumers.get(cid)
            if cs is not None:
                if cs.queued is not None:
                    self.comparison.taken_by_agent(sid, shop, cs, cs.queued, cid, agent, ev, out)
                session = cs.session
                if session is not None:
                    if not session.compared:
                        self.comparison.first_answer(sid, session, name, ev, out)
                    self._answered(sid, cid, session, ts)
                elif cs.history_end is not None and self.history_keep is not None \
                        and not self._from_history(sid, cid, name, ts - cs.history_end, ev, out):
                    return   # past the history window: no answer, for the metrics either
            elif shop.history_ends:   # a consumer forgotten overnight whose session's history is still open
                ended = shop.history_ends.get(cid)
                if ended is not None and not self._from_history(sid, cid, name, ts - ended, ev, out):
                    return
        observe = self._observe_replies[sender]
        if observe is not None:
            observe(sid, cid, ts, sender)

    def _from_history(self, sid: str, cid: str, agent: str, since: float, ev: Event, out: Out) -> bool:
        """An agent writes to a consumer whose session ended `since` seconds ago (and who has not written since):
        an answer from history within the `history` window (True), else a message the platform would not deliver
        as one (False). Either is recorded; neither opens a session (the consumer's next message is assigned
        afresh)."""
        keep = self.history_keep or 0   # set: the caller checked
        answer = since <= keep
        out.append(FromHistory(ts=self._stamp(ev.ts), action="history_answer" if answer else "history_expired",
                               shop=sid, consumer=cid, agent=agent, line=ev.line, rule=self.history_rule,
                               since_end=round(since), window=keep))
        return answer

    def _agent_status(self, sid: str, shop: ShopState, ev: Event, out: Out) -> None:
        name: str = ev.agent  # type: ignore[assignment]
        status: str = ev.status  # type: ignore[assignment]
        agent = self._agent(shop, name)
        index = agent.index
        if index is not None:
            index.leave(agent)
        spec = self.agent_specs.get(name)
        if ev.max_sessions is not None and (spec is None or spec[0] is None):
            agent.cap = ev.max_sessions
        if ev.group and (spec is None or spec[1] is None) and agent.group != ev.group:
            agent.group = ev.group
            shop.routes.clear()   # a routed group may have gained or lost this agent
        if agent.status == "offline" and status != "offline" and not agent.sessions:
            agent.idle_since = ev.ts
        shop.present += (status != "offline") - (agent.status != "offline")
        agent.status = status
        if index is not None:
            index.join(agent)
        if status == "online" or ev.max_sessions is not None:
            self._drain(sid, shop, ev.ts, ev.line, out)

    def _transfer(self, sid: str, shop: ShopState, ev: Event, out: Out) -> None:
        cid: str = ev.consumer  # type: ignore[assignment]
        to_agent: str = ev.to_agent  # type: ignore[assignment]
        self.sessions.transfer(sid, shop, shop.consumer(cid), cid, self._agent(shop, to_agent), ev, out)

    def _session_end(self, sid: str, shop: ShopState, ev: Event, out: Out) -> None:
        cid: str = ev.consumer  # type: ignore[assignment]
        cs = shop.consumers.get(cid)
        if cs is None:
            return
        if cs.session is not None:
            self._close(sid, shop, cs, cs.session, cid, ev.ts, ev.line, "by_hand", None, out)
        elif cs.queued is not None:
            shop.queue.leave(cs.queued)
            cs.queued = None
            out.append(LeftQueue(ts=self._stamp(ev.ts), action="leave_queue", shop=sid, consumer=cid, agent=None,
                                 line=ev.line, rule=None, reason="by_hand"))


class TracedEngine(Engine):
    """An engine with its tracer hook on (`kefu explain`): the entry points (the feed, the message handlers,
    the automatic replies, the session-end timer) tell the tracer what the engine meets and does. The hook
    lives in this class, so that an Engine runs no line of it; the routing and the queue test `tracer` where
    they decide (set here)."""

    def __init__(self, policy: ir.Policy, tracer: Trace, *, seed: int = 0, automation: bool = True):
        super().__init__(policy, seed=seed, automation=automation)
        self.tracer = self.router.tracer = self.waiting.tracer = tracer
        self.hook: Trace = tracer   # the tracer, never None here
        plain_replies = self._auto_reply

        def replies(sid: str, shop: ShopState, cs: ConsumerState, cid: str, ev: Event, new_session: bool,
                    out: Out) -> None:
            start, held = len(out), dict(self.sender.suppressed_by)
            plain_replies(sid, shop, cs, cid, ev, new_session, out)
            sent = [d for d in out[start:] if isinstance(d, AutoReplied)]
            held_now = {key: n - held.get(key, 0) for key, n in self.sender.suppressed_by.items() if n > held.get(key, 0)}
            trace_text.replies(tracer, self.replier.kinds, sent, held_now, self.cooldown)

        self._auto_reply = replies
        self._handlers = {kind: self._begun(handler) for kind, handler in self._handlers.items()}

    def _begun(self, handler: Callable[[str, ShopState, Event, Out], None]) -> Callable[[str, ShopState, Event, Out], None]:
        """The handler, telling the tracer first what state the event meets (after the timers due before it)."""
        tracer = self.hook

        def handle(sid: str, shop: ShopState, ev: Event, out: Out) -> None:
            tracer.begin(ev, shop)
            handler(sid, shop, ev, out)
        return handle

    def feed(self, event: Event) -> list[Decision]:
        out = super().feed(event)
        self.hook.end(out)
        return out

    def _consumer_message(self, sid: str, shop: ShopState, ev: Event, out: Out) -> None:
        self.hook.begin(ev, shop)
        super()._consumer_message(sid, shop, ev, out)

    def _reply_message(self, sid: str, shop: ShopState, ev: Event, out: Out) -> None:
        self.hook.begin(ev, shop)
        seq = self.sessions.timer_seq
        super()._reply_message(sid, shop, ev, out)
        if self.sessions.timer_seq != seq:   # the agent's reply set the automatic session end
            due = next(t[0] for t in reversed(self.timers) if t[1] == self.sessions.timer_seq)
            self.hook.step("timer", f"{ev.consumer}'s session ends at {self.clock.iso(due)[11:19]} unless "
                                      f"{ev.consumer} writes first", self.end_rule)
