"""The engine: feed events one at a time, get the policy's decisions back.

A replay is a loop over this API; a live desk can embed it the same way. Timers
(automatic session end, the queue's end of day at local midnight) fire at their due
time, in order with the events.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import Counter, deque
from datetime import date, datetime, time, timedelta
from typing import Callable

from .. import ir, registry
from ..events import Event
from .assign import INDEX_FROM, AgentIndex, Pool, Ranker, choose, everyone
from .clock import LocalClock, policy_timezone
from .compare import LogComparison
from .decisions import AutoReplied, Decision, LeftQueue, Queued, RuleFiles, RuleRef, Stamper
from .hours import WorkingHours
from .metrics import MetricRow
from .observers import MetricHub
from .replies import COOLDOWN, AutoReplier
from . import trace as trace_text
from .trace import Trace
from .sessions import Sessions
from .state import DEFAULT_CAP, AgentState, ConsumerState, QueueEntry, Session, ShopState

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
        self.replier = AutoReplier(shop.replies if self.automation else [], WorkingHours(shop, LocalClock(tz)))
        self.auto_replies = self.replier.any   # whether consumer messages may get an automatic reply
        self.observers = MetricHub(policy.platform.metrics, tz)   # the metric trackers observe through it
        self.metrics = self.observers.trackers
        # the hot observations, bound once (a consumer's message, a reply, an assignment)
        self._observe_message = self.observers.consumer_message
        self._observe_replies = self.observers.replies
        self._observe_auto_replies = self.observers.auto_replies
        self.default_shop = shop.name
        self.shops: dict[str, ShopState] = {}
        # the next local midnight, when consumers still queued leave the queue (-inf: no event yet)
        self._midnight = -math.inf
        # the shop's working hours, for the wait of a consumer who queues while no agent is online
        self.hours = WorkingHours(shop, LocalClock(tz)) if shop.hours or shop.holidays else None
        self._stamp = Stamper(self.clock.iso).text   # a decision's ts text
        # counters, as plain dicts (the properties below give copies): decisions by (shop, local
        # date, action); first answers [compared, agreed] by (shop, local date); replies by kind
        self._day_counts: dict[tuple[str, str, str], int] = {}
        self._auto_reply_kinds: dict[str, int] = {}
        self.suppressed = 0   # automatic replies whose trigger held but that were not sent, and by (kind, reason)
        self._suppressed_by: dict[tuple[str, str], int] = {}
        self._days: set[tuple[str, date]] = set()
        self.rule_ref = RuleFiles(policy)   # decisions name a rule's file as a user opens it
        self._configure(settings, shop)
        self.sessions = Sessions(self._stamp, self.observers, self.end_after, self.end_rule, self._drain)
        self.timers = self.sessions.timers   # the automatic session ends pending, in due order
        self._assign = self.sessions.open
        self._answered = self.sessions.answered
        self._close = self.sessions.close
        self._fire_timers = self.sessions.fire
        self.comparison = LogComparison(self.clock, self._stamp, self.sessions.open)   # the first answers vs the log
        self.tracer: Trace | None = None   # kefu explain's hook (runtime/trace.py); None: every hook is one test
        self._handlers: dict[str, Callable[[str, ShopState, Event, Out], None]] = {
            "agent_status": self._agent_status, "transfer": self._transfer, "session_end": self._session_end}

    # ---- configuration -------------------------------------------------------
    def _configure(self, settings: ir.Settings, shop: ir.Shop) -> None:
        rule_ref = self.rule_ref
        assign = settings.assign
        # the behaviours of the names the policy gives, read once (registry.py)
        self.strategy_name = assign.strategy.name if assign else registry.DEFAULT_STRATEGY
        self.ties_name = assign.ties.name if assign and assign.ties else registry.DEFAULT_TIES
        self.strategy = registry.STRATEGIES.behaviour(self.strategy_name)
        self.ties = registry.TIE_BREAKS.behaviour(self.ties_name)
        self.ranker = Ranker(self.strategy, self.ties)
        self.assign_rule = rule_ref(assign.span) if assign else None
        self.repeat = settings.repeat_entry if settings.repeat_entry and settings.repeat_entry.within > 0 else None
        steps = tuple(r.name for r in self.repeat.fallback) or registry.DEFAULT_FALLBACK if self.repeat else ()
        self.fallback = tuple((name, registry.FALLBACKS.behaviour(name)) for name in steps)
        self.repeat_rule = rule_ref(self.repeat.span) if self.repeat else None
        queue = settings.queue
        self.queue_enabled = queue is not None
        self.queue_rule = rule_ref(queue.span) if queue else None
        self.lifo = bool(queue and queue.order and registry.QUEUE_ORDERS.behaviour(queue.order.name).lifo)
        scope = queue.scope if queue else None
        self.queue_groups = {g.name for g in scope.groups} if scope and scope.kind == "groups" else None
        self.estimate_from = queue.estimate_from if queue else None
        end = settings.session_end
        self.end_after = end.after if end and end.after else None
        self.end_rule = rule_ref(end.span) if end else None
        self.cooldown = settings.cooldown.every if settings.cooldown and self.automation else 0
        self.pool = settings.offline_pool
        self.offline_route = shop.offline_route
        self.offline_rule = rule_ref(shop.offline_route.span) if shop.offline_route else None
        self.pool_rule = rule_ref(self.pool.span) if self.pool else None
        self.group_members: dict[str, list[str]] = {g.name: [r.name for r in g.agents] for g in shop.groups}
        # the agents of the groups the queue is scoped to (None: the queue takes every consumer)
        self.queue_members = (None if self.queue_groups is None else
                              frozenset(m for g in self.queue_groups for m in self.group_members.get(g, ())))
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
        routing = shop.routing
        self.page_routes: dict[str, tuple[tuple[str, ...], RuleRef | None]] = {}
        self.default_route = None
        self.route_scope = None
        if routing:
            for route in routing.pages:
                for page in route.pages:
                    self.page_routes.setdefault(page.name, (tuple(t.name for t in route.targets), rule_ref(route.span)))
            if routing.default:
                self.default_route = (tuple(t.name for t in routing.default), rule_ref(routing.default_span))
            if routing.scope and routing.scope.kind == "groups":
                self.route_scope = (tuple(g.name for g in routing.scope.groups), rule_ref(routing.scope.span))

    def _new_shop(self, sid: str) -> ShopState:
        shop = ShopState()
        if self.estimate_from:
            shop.handled = type(shop.handled)(maxlen=self.estimate_from)
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

    def trace(self, tracer: Trace) -> None:
        """Switch the tracer hook on (kefu explain). The entry points are wrapped here, on this engine
        only, so that an engine with no tracer runs no line of it; the routing and reply code test
        `self.tracer` where they decide."""
        self.tracer = tracer
        plain_feed = self.feed

        def feed(event: Event) -> list[Decision]:
            out = plain_feed(event)
            tracer.end(out)
            return out

        def begun(handler: Callable[[str, ShopState, Event, Out], None]) -> Callable[[str, ShopState, Event, Out], None]:
            def handle(sid: str, shop: ShopState, ev: Event, out: Out) -> None:
                tracer.begin(ev, shop)   # the state the event meets: after the timers due before it fired
                handler(sid, shop, ev, out)
            return handle

        plain_replies = self._auto_reply

        def replies(sid: str, shop: ShopState, cs: ConsumerState, cid: str, ev: Event, new_session: bool,
                    out: Out) -> None:
            start, held = len(out), dict(self._suppressed_by)
            plain_replies(sid, shop, cs, cid, ev, new_session, out)
            sent = [d for d in out[start:] if isinstance(d, AutoReplied)]
            held_now = {key: n - held.get(key, 0) for key, n in self._suppressed_by.items() if n > held.get(key, 0)}
            trace_text.replies(tracer, self.replier.kinds, sent, held_now, self.cooldown)

        plain_reply_message = self._reply_message

        def reply_message(sid: str, shop: ShopState, ev: Event, out: Out) -> None:
            seq = self.sessions.timer_seq
            plain_reply_message(sid, shop, ev, out)
            if self.sessions.timer_seq != seq:   # the agent's reply set the automatic session end
                due = next(t[0] for t in reversed(self.timers) if t[1] == self.sessions.timer_seq)
                tracer.step("timer", f"{ev.consumer}'s session ends at {self.clock.iso(due)[11:19]} unless "
                                     f"{ev.consumer} writes first", self.end_rule)

        self.feed = feed  # type: ignore[method-assign]
        self._auto_reply = replies  # type: ignore[method-assign]
        self._consumer_message = begun(self._consumer_message)  # type: ignore[method-assign,assignment]
        self._reply_message = begun(reply_message)  # type: ignore[method-assign,assignment]
        self._handlers = {kind: begun(handler) for kind, handler in self._handlers.items()}

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
            self._day_end(self._midnight, out)
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
    def auto_reply_kinds(self) -> Counter:
        """Automatic replies sent so far, by kind."""
        return Counter(self._auto_reply_kinds)

    @property
    def suppressed_by(self) -> Counter:
        """Automatic replies not sent so far, by (kind, reason)."""
        return Counter(self._suppressed_by)

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
        keep_for = max(self.repeat.within if self.repeat else 0, self.cooldown)
        consumers = shop.consumers
        kept = set()
        for cid in shop.fresh | shop.kept:
            cs = consumers.get(cid)
            if cs is None:
                continue
            if (cs.session is None and cs.queued is None and cs.welcome_day != today
                    and (cs.last_end is None or ts - cs.last_end > keep_for)
                    and (cs.last_auto is None or ts - cs.last_auto > keep_for)):
                del consumers[cid]
            else:
                kept.add(cid)
        shop.fresh, shop.kept = set(), kept

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
            self._route_new(sid, shop, cs, cid, ev, out)
            session = cs.session
        self._observe_message(sid, cid, ts, None if session is None else session.agent)
        if self.auto_replies:
            self._auto_reply(sid, shop, cs, cid, ev, new_session, out)

    def _route_new(self, sid: str, shop: ShopState, cs: ConsumerState, cid: str, ev: Event, out: Out) -> None:
        ts, line = ev.ts, ev.line
        repeat = self.repeat
        trace = self.tracer
        if repeat is not None and cs.last_agent and cs.last_end is not None and ts - cs.last_end <= repeat.within:
            if self._repeat_entry(sid, shop, cs, cid, ev, out):
                return
        elif trace is not None:
            trace.step("repeat_entry", trace_text.no_repeat_entry(repeat, cs, ts), self.repeat_rule)
        if not shop.present:
            if self._offline(sid, shop, cs, cid, ev, out):
                return
            if trace is not None:
                trace.step("offline", "every agent is offline, and the policy has neither offline routing nor an "
                                      "offline pool: routed as usual")
        elif trace is not None:
            trace.step("offline", f"not every agent is offline ({shop.present} present): no offline routing")
        candidates, rule = self._candidates(shop, ev.page)
        pool = self._pool(shop, candidates)
        if trace is not None:
            trace.step("routing", trace_text.routing(ev.page, candidates, rule), rule)
            trace.step("eligible", trace_text.eligible(shop, candidates), None)
        if pool:
            self._assign(sid, cs, cid, self._pick(shop, pool), ts, line, rule or self.assign_rule,
                         "routed" if rule else "new", out)
            return
        if self._may_queue(candidates):
            reason = self._why_no_agent(shop, candidates)
            if trace is not None:
                trace.step("queue", f"no eligible agent ({reason}): the consumer queues", self.queue_rule)
            self._enqueue(sid, shop, cs, cid, candidates, ts, line, self.queue_rule, reason, out)
            return
        if trace is not None:
            trace.step("queue", "no eligible agent, and the policy has no queue for this routing", self.queue_rule)
        agent = self._least_loaded_online(shop, candidates)
        if agent is not None:
            self._assign(sid, cs, cid, agent, ts, line, rule or self.assign_rule, "over_cap_no_queue", out)
        else:
            self._enqueue(sid, shop, cs, cid, candidates, ts, line, self.queue_rule, "no_agent", out)

    def _repeat_entry(self, sid: str, shop: ShopState, cs: ConsumerState, cid: str, ev: Event, out: Out) -> bool:
        rule = self.repeat_rule
        previous = shop.agents.get(cs.last_agent) if cs.last_agent is not None else None
        trace = self.tracer
        if previous is not None and previous.status != "offline" and previous.im:
            if trace is not None:
                trace.step("repeat_entry", trace_text.repeat_entry(cs, ev.ts, previous, True), rule)
            self._assign(sid, cs, cid, previous, ev.ts, ev.line, rule, "repeat_entry", out)
            return True
        if trace is not None:
            trace.step("repeat_entry", trace_text.repeat_entry(cs, ev.ts, previous, False), rule)
        for name, step in self.fallback:
            if step.queues:
                # 重新排队: the consumer joins the queue like any other, so a free agent of its
                # routing (outside the previous agent's group) takes it at once, in queue order
                candidates, _ = self._candidates(shop, ev.page)
                self._enqueue(sid, shop, cs, cid, candidates, ev.ts, ev.line, rule, "repeat_entry", out)
                self._drain(sid, shop, ev.ts, ev.line, out)
                return True
            pool = self._fallback_pool(step, shop, previous, ev.page)
            if pool:
                self._assign(sid, cs, cid, self._pick(shop, pool), ev.ts, ev.line, rule, f"repeat_entry_{name}", out)
                return True
        return False

    def _offline(self, sid: str, shop: ShopState, cs: ConsumerState, cid: str, ev: Event, out: Out) -> bool:
        """Every agent is offline: offline routing, else the offline pool."""
        if self.tracer is not None and (self.offline_route is not None or self.pool is not None):
            self.tracer.step("offline", "every agent is offline: "
                             + ("offline routing" if self.offline_route is not None else "the offline pool"),
                             self.offline_rule if self.offline_route is not None else self.pool_rule)
        if self.offline_route is not None:
            target = self._agent(shop, self.offline_route.targets[0].name)
            self._assign(sid, cs, cid, target, ev.ts, ev.line, self.offline_rule, "all_offline", out,
                         action="offline_route")
            return True
        if self.pool is not None:
            self._enqueue(sid, shop, cs, cid, None, ev.ts, ev.line, self.pool_rule, "all_offline", out,
                          action="offline_pool")
            return True
        return False

    def _candidates(self, shop: ShopState, page: str | None) -> tuple[frozenset[str] | None, RuleRef | None]:
        """The agents a consumer from this page may go to (None: any agent), and the routing rule."""
        found = shop.routes.get(page)
        if found is None:
            found = shop.routes[page] = self._route(shop, page)
        return found

    def _route(self, shop: ShopState, page: str | None) -> tuple[frozenset[str] | None, RuleRef | None]:
        route = self.page_routes.get(page) if page else None
        route = route or self.default_route or self.route_scope
        if route is None:
            return None, None
        targets, span = route
        names: set[str] = set()
        for target in targets:
            if target in self.group_members:
                names.update(self.group_members[target])
                names.update(a.name for a in shop.agents.values() if a.group == target)
            else:
                names.add(target)
        return frozenset(names), span

    def _pool(self, shop: ShopState, candidates: frozenset[str] | None) -> list:
        """The agents that may take a consumer now (see _eligible), or their index entries on a large desk."""
        index = shop.index
        if index is None:
            return self._eligible(shop, candidates)
        return self._indexed(index, candidates).entries

    @staticmethod
    def _indexed(index: AgentIndex, candidates: frozenset[str] | None) -> Pool:
        """The index's pool of these candidates (None: every agent)."""
        if candidates is None:
            return index.pool(None, everyone)
        return index.pool(candidates, lambda a: a.name in candidates)

    def _least_loaded_online(self, shop: ShopState, candidates: frozenset[str] | None) -> AgentState | None:
        """The online candidate with IM serving the fewest consumers (the first declared of those), if any."""
        index = shop.index
        if index is not None:
            if candidates is None:
                return index.least_loaded_online(None, everyone)
            return index.least_loaded_online(candidates, lambda a: a.name in candidates)
        online = [a for a in shop.agents.values()
                  if (candidates is None or a.name in candidates) and a.status == "online" and a.im]
        return min(online, key=lambda a: (a.load(), a.order)) if online else None

    @staticmethod
    def _eligible(shop: ShopState, candidates: frozenset[str] | None) -> list[AgentState]:
        """The agents that may take a consumer now: online, with IM, a free slot, among the candidates."""
        if candidates is None:
            return [a for a in shop.agents.values() if a.status == "online" and a.im and len(a.sessions) < a.cap]
        return [a for a in shop.agents.values()
                if a.status == "online" and a.im and len(a.sessions) < a.cap and a.name in candidates]

    def _may_queue(self, candidates: frozenset[str] | None) -> bool:
        if not self.queue_enabled:
            return False
        members = self.queue_members
        if members is None:
            return True
        if candidates is None:  # routed to every agent, so to the queued groups' agents too
            return bool(members)
        return not members.isdisjoint(candidates)

    def _why_no_agent(self, shop: ShopState, candidates: frozenset[str] | None) -> str:
        if not shop.present:
            return "all_offline"
        if shop.index is not None:
            pool = self._indexed(shop.index, candidates)
            return "at_cap" if pool.online else "all_busy" if pool.present else "all_offline"
        present = False
        for agent in shop.agents.values():
            if candidates is not None and agent.name not in candidates:
                continue
            if agent.status == "online":
                return "at_cap"
            present = present or agent.status != "offline"
        return "all_busy" if present else "all_offline"

    def _fallback_pool(self, step: registry.Fallback, shop: ShopState, previous: AgentState | None,
                       page: str | None) -> list:
        """Eligible agents (see _pool) for a repeat-entry fallback: `same_group` or `any_online`."""
        if step.same_group:
            if previous is None or not previous.group:
                return []
            group = previous.group
            if shop.index is not None:
                return shop.index.pool(("group", group), lambda a: a.group == group).entries
            return [a for a in self._eligible(shop, None) if a.group == group]
        return self._pool(shop, self._candidates(shop, page)[0])

    def _pick(self, shop: ShopState, pool: list) -> AgentState:
        """One agent of a non-empty pool (of _pool), by the assignment strategy and tie-break."""
        if shop.index is not None:
            chosen = self.ranker.pick(pool, shop, self.rng)
        else:
            chosen = choose(pool, self.strategy, self.ties, shop, self.rng)
        if self.tracer is not None:
            self.tracer.step("pick", trace_text.pick(self.strategy_name, self.ties_name, pool, chosen), self.assign_rule)
        return chosen

    def _enqueue(self, sid: str, shop: ShopState, cs: ConsumerState, cid: str, candidates: frozenset[str] | None,
                 ts: float, line: int | None, rule: RuleRef | None, reason: str, out: Out,
                 action: str = "enqueue") -> None:
        shop.queue_seq += 1
        entry = QueueEntry(cid, ts, candidates, shop.queue_seq, reason, action == "offline_pool")
        queue = shop.queue
        queue.join(entry)
        cs.queued = entry
        position = 1 if self.lifo else queue.size
        wait = self._estimate_wait(shop, position, candidates, ts) if self.estimate_from else None
        out.append(Queued(ts=self._stamp(ts), action=action, shop=sid, consumer=cid, agent=None, line=line, rule=rule,
                          reason=reason, position=position, queue_length=queue.size, estimated_wait=wait))

    def _estimate_wait(self, shop: ShopState, position: int, candidates: frozenset[str] | None,
                       ts: float) -> int | None:
        """预估接待时间: position × average handling time ÷ online agents in the routing.

        With no agent of the routing online, the wait starts when the shop's working hours
        next begin (the shop is closed now and declares hours); otherwise it is unknown (None).
        """
        if not self.estimate_from or not shop.handled:
            return None
        if shop.index is not None:
            online = self._indexed(shop.index, candidates).online
        else:
            online = sum(1 for a in shop.agents.values()
                         if a.status == "online" and (candidates is None or a.name in candidates))
        average = sum(shop.handled) / len(shop.handled)
        if online:
            return round(position * average / online)
        opening = self._next_opening(ts)
        return None if opening is None else round(opening - ts + position * average)

    def _next_opening(self, ts: float) -> float | None:
        """When the shop's working hours next begin, if it declares hours (or holidays) and is closed at ts."""
        hours = self.hours
        if hours is None or hours.open_at(ts):
            return None
        tz = self.clock.tz
        today = datetime.fromtimestamp(ts, tz).date()
        for ahead in range(367):   # a year of holidays at most
            day = today + timedelta(days=ahead)
            midnight = datetime.combine(day, time(0), tz)
            for start, _ in sorted(hours.ranges_on(day)):
                opening = (midnight + timedelta(minutes=start)).timestamp()
                if opening > ts:
                    return opening
        return None

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
                self._day_end(midnight, out)
                if not any(shop.queue.size for shop in self.shops.values()):
                    break   # nothing left to end (the offline pool is empty too): skip to until's day
                midnight = self.clock.day_bounds(midnight)[1]
        self._midnight = self.clock.day_bounds(until)[1]

    def _day_end(self, midnight: float, out: Out) -> None:
        """At local midnight a queued consumer leaves the queue (`day_end`); the offline pool keeps its
        consumers until `keep` has passed (`pool_expired`)."""
        keep = self.pool.keep if self.pool is not None else math.inf
        for sid, shop in self.shops.items():
            queue = shop.queue
            if not queue.size:
                continue
            entries = sorted((e for group in queue.groups.values() for e in group.values()), key=lambda e: e.seq)
            for entry in entries:
                if not entry.pooled:
                    reason, rule = "day_end", self.queue_rule
                elif entry.since + keep <= midnight:
                    reason, rule = "pool_expired", self.pool_rule
                else:
                    continue
                queue.leave(entry)
                cs = shop.consumers.get(entry.consumer)
                if cs is not None:
                    cs.queued = None
                out.append(LeftQueue(ts=self._stamp(midnight), action="leave_queue", shop=sid, consumer=entry.consumer,
                                     agent=None, line=None, rule=rule, reason=reason))

    def _drain(self, sid: str, shop: ShopState, ts: float, line: int | None, out: Out) -> None:
        """Assign queued consumers while agents have free slots, in queue order."""
        queue = shop.queue
        lifo = self.lifo
        while queue.size:
            best: QueueEntry | None = None
            best_pool: list = []
            for head in queue.heads(lifo):
                if best is not None and (head.seq < best.seq if lifo else head.seq > best.seq):
                    continue
                pool = self._pool(shop, head.candidates)
                if pool:
                    best, best_pool = head, pool
            if best is None:
                return
            queue.leave(best)
            cid = best.consumer
            if self.tracer is not None:
                self.tracer.step("dequeue", f"an agent of {cid}'s routing is free: {cid} leaves the queue "
                                            f"({'last queued, first served' if lifo else 'first queued, first served'})",
                                 self.queue_rule, consumer=cid)
            self._assign(sid, shop.consumer(cid), cid, self._pick(shop, best_pool), ts, line, self.queue_rule, "dequeue", out,
                         waited=round(ts - best.since))

    def _auto_reply(self, sid: str, shop: ShopState, cs: ConsumerState, cid: str, ev: Event, new_session: bool,
                    out: Out) -> None:
        """Send every automatic reply whose trigger holds, in the replier's order, through the loop guard."""
        picks = self.replier.choose(ev, cs, shop, new_session)
        if not picks:
            return
        ts = ev.ts
        cooldown = self.cooldown
        kinds = self._auto_reply_kinds
        for chosen, excluded in picks:
            if excluded is not None:
                self._suppress(chosen.kind, excluded)
                continue
            if not chosen.exempt:
                if cooldown:
                    sent = cs.auto_sent
                    if sent is None:
                        sent = cs.auto_sent = {}
                    elif ts - sent.get(chosen.guard, -math.inf) < cooldown:
                        self._suppress(chosen.kind, COOLDOWN)   # the loop guard: this reply went out lately
                        continue
                    sent[chosen.guard] = ts
                cs.last_auto = ts
            kind = chosen.kind
            questions = None
            if kind == "welcome":
                cs.welcome_day = shop.today
                if chosen.node.faq:
                    cs.faq_day = shop.today
                    questions = chosen.faq
            kinds[kind] = kinds.get(kind, 0) + 1
            out.append(AutoReplied(ts=self._stamp(ts), action="auto_reply", shop=sid, consumer=cid, agent=None,
                                   line=ev.line, rule=self.rule_ref.ref(chosen.rule), kind=kind, text=chosen.text,
                                   trigger=chosen.trigger, faq=questions))
            observe = self._observe_auto_replies[kind]
            if observe is not None:
                observe(sid, cid, ts, kind)

    def _suppress(self, kind: str, reason: str) -> None:
        """Count a reply whose trigger held but that was not sent, by kind and reason."""
        self.suppressed += 1
        key = (kind, reason)
        self._suppressed_by[key] = self._suppressed_by.get(key, 0) + 1

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
        observe = self._observe_replies[sender]
        if observe is not None:
            observe(sid, cid, ts, sender)

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
