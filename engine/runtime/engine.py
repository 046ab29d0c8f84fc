"""The engine: feed events one at a time, get the policy's decisions back.

A replay is a loop over this API; a live desk can embed it the same way. Timers
(automatic session end) fire at their due time, in order with the events.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from typing import Iterable

from .. import ir
from .assign import cap_of, choose
from .clock import LocalClock
from .decisions import Decision
from .metrics import MetricRow, MetricTracker
from .replies import AutoReplier, Context
from .state import AgentState, ConsumerState, QueueEntry, Session, ShopState

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_FALLBACK = ("same_group", "queue")


def platform_policy(platform: ir.Platform) -> ir.Policy:
    """A policy with no shop automation: the platform's measurement rules and defaults alone."""
    shop = ir.Shop(name="", platform=ir.Ref(name=platform.name))
    return ir.Policy(shop=shop, platform=platform, effective=platform.defaults)


class Engine:
    """Evaluates a resolved policy against events; deterministic for a seed."""

    def __init__(self, policy: ir.Policy, *, seed: int = 0, automation: bool = True):
        self.policy = policy
        settings = policy.effective
        shop = policy.shop
        tz = settings.timezone.name if settings.timezone else DEFAULT_TIMEZONE
        self.clock = LocalClock(tz)
        self.rng = random.Random(seed)
        self.automation = automation and bool(shop.name)
        self.replier = AutoReplier(shop.replies if self.automation else [])
        self.metrics = [MetricTracker(m, LocalClock(tz)) for m in policy.platform.metrics]
        self.default_shop = shop.name
        self.shops: dict[str, ShopState] = {}
        self.timers: list = []
        self._timer_seq = 0
        self.day_counts: Counter = Counter()
        self.auto_reply_kinds: Counter = Counter()
        self.suppressed = 0
        self._days: set = set()
        self._shop_day: dict[str, object] = {}
        self._configure(settings, shop)
        self._handlers = {"agent_status": self._agent_status, "transfer": self._transfer,
                          "session_end": self._session_end}

    # ---- configuration -------------------------------------------------------
    def _configure(self, settings: ir.Settings, shop: ir.Shop) -> None:
        assign = settings.assign
        self.strategy = assign.strategy.name if assign else "least_loaded"
        self.ties = assign.ties.name if assign and assign.ties else "first"
        self.assign_rule = assign.span if assign else None
        self.repeat = settings.repeat_entry if settings.repeat_entry and settings.repeat_entry.within > 0 else None
        self.fallback = tuple(r.name for r in self.repeat.fallback) or DEFAULT_FALLBACK if self.repeat else ()
        queue = settings.queue
        self.queue_enabled = queue is not None
        self.queue_rule = queue.span if queue else None
        self.lifo = bool(queue and queue.order and queue.order.name == "lifo")
        scope = queue.scope if queue else None
        self.queue_groups = {g.name for g in scope.groups} if scope and scope.kind == "groups" else None
        self.estimate_from = queue.estimate_from if queue else None
        end = settings.session_end
        self.end_after = end.after if end and end.after else None
        self.end_rule = end.span if end else None
        self.cooldown = settings.cooldown.every if settings.cooldown and self.automation else 0
        self.cooldown_rule = settings.cooldown.span if settings.cooldown else None
        self.pool = settings.offline_pool
        self.offline_route = shop.offline_route
        self.group_members: dict[str, list[str]] = {g.name: [r.name for r in g.agents] for g in shop.groups}
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
        self.page_routes: dict[str, tuple[tuple[str, ...], ir.Span | None]] = {}
        self.default_route = None
        self.route_scope = None
        if routing:
            for route in routing.pages:
                for page in route.pages:
                    self.page_routes.setdefault(page.name, (tuple(t.name for t in route.targets), route.span))
            if routing.default:
                self.default_route = (tuple(t.name for t in routing.default), routing.span)
            if routing.scope and routing.scope.kind == "groups":
                self.route_scope = (tuple(g.name for g in routing.scope.groups), routing.scope.span)

    def _new_shop(self, sid: str) -> ShopState:
        shop = ShopState()
        if self.estimate_from:
            shop.handled = type(shop.handled)(maxlen=self.estimate_from)
        for order, (name, (cap, group, im)) in enumerate(self.agent_specs.items()):
            shop.agents[name] = AgentState(name=name, order=order, cap=cap, group=group, im=im)
        self.shops[sid] = shop
        return shop

    def _agent(self, shop: ShopState, name: str) -> AgentState:
        agent = shop.agents.get(name)
        if agent is None:
            agent = shop.agents[name] = AgentState(name=name, order=len(shop.agents))
        return agent

    # ---- the API ---------------------------------------------------------------
    def feed(self, event) -> list[Decision]:
        """Process one event (timers due by its time fire first); returns the decisions made."""
        out: list[Decision] = []
        if self.timers and self.timers[0][0] <= event.ts:
            self._fire(event.ts, out)
        sid = event.shop if event.shop is not None else self.default_shop
        shop = self.shops.get(sid) or self._new_shop(sid)
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

    def advance(self, ts: float) -> list[Decision]:
        """Fire the timers due by ts (a live desk calls this on a clock tick)."""
        out: list[Decision] = []
        self._fire(ts, out)
        self._count(out)
        return out

    def finish(self) -> list[Decision]:
        """End of input: fire every remaining timer and settle the metrics."""
        out: list[Decision] = []
        self._fire(math.inf, out)
        self._count(out)
        for tracker in self.metrics:
            tracker.finish()
        return out

    def metric_rows(self) -> list[MetricRow]:
        """Every metric per shop and local day, sorted."""
        rows = [row for tracker in self.metrics for row in tracker.rows()]
        return sorted(rows, key=lambda r: (r.shop, r.date, r.metric))

    def iso(self, ts: float) -> str:
        """A timestamp as local RFC 3339 text."""
        return self.clock.iso(ts)

    # ---- bookkeeping -----------------------------------------------------------
    @property
    def counts(self) -> Counter:
        """Decisions made so far, by action."""
        totals: Counter = Counter()
        for (_, _, action), n in self.day_counts.items():
            if action not in ("compared", "agreed"):
                totals[action] += n
        return totals

    def _count(self, out: list[Decision]) -> None:
        day_text = self.clock.day_text
        for d in out:
            self.day_counts[(d.shop, day_text(d.ts), d.action)] += 1

    def _see_day(self, sid: str, shop: ShopState, ts: float) -> None:
        day = self.clock.day(ts)
        shop.today = day
        shop.day_start, shop.day_end = self.clock.day_bounds(ts)
        if (sid, day) in self._days:
            return
        self._days.add((sid, day))
        for tracker in self.metrics:
            tracker.mark_day(sid, day)
        if self._shop_day.get(sid) is not None:
            self._forget_idle_consumers(shop, ts)
        self._shop_day[sid] = day

    def _forget_idle_consumers(self, shop: ShopState, ts: float) -> None:
        """Drop consumers with nothing live, so memory follows live state, not log length.

        Only consumers created since the last sweep or kept by it are looked at.
        """
        keep_for = max(self.repeat.within if self.repeat else 0, self.cooldown)
        today = self.clock.day(ts)
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
    def _consumer_message(self, sid: str, shop: ShopState, ev, out: list[Decision]) -> None:
        ts, cid = ev.ts, ev.consumer
        if not (shop.day_start <= ts < shop.day_end):
            self._see_day(sid, shop, ts)
        cs = shop.consumers.get(cid) or shop.consumer(cid)
        new_session = cs.session is None and cs.queued is None
        if cs.session is not None:
            cs.session.waiting = True
            cs.session.version += 1
        elif new_session:
            self._route_new(sid, shop, cs, ev, out)
        agent = cs.session.agent if cs.session else None
        for tracker in self.metrics:
            tracker.consumer_message(sid, cid, ts, agent, cs.session is not None)
        if self.automation:
            self._auto_reply(sid, shop, cs, ev, new_session, out)

    def _route_new(self, sid: str, shop: ShopState, cs: ConsumerState, ev, out: list[Decision]) -> None:
        ts = ev.ts
        if self.repeat and cs.last_agent and cs.last_end is not None and ts - cs.last_end <= self.repeat.within:
            if self._repeat_entry(sid, shop, cs, ev, out):
                return
        if not shop.present:
            if self._offline(sid, shop, cs, ev, out):
                return
        candidates, rule = self._candidates(shop, ev.page)
        pool = self._eligible(shop, candidates)
        if pool:
            agent = choose(pool, self.strategy, self.ties, shop, self.rng)
            self._assign(sid, shop, cs, ev.consumer, agent, ts, ev.line, rule or self.assign_rule,
                         "routed" if rule else "new", out)
            return
        if self._may_queue(candidates):
            reason = self._why_no_agent(shop, candidates)
            self._enqueue(sid, shop, cs, ev.consumer, candidates, ts, ev.line, self.queue_rule, reason, out)
            return
        online = [a for a in shop.agents.values()
                  if (candidates is None or a.name in candidates) and a.status == "online" and a.im]
        if online:
            agent = min(online, key=lambda a: (a.load(), a.order))
            self._assign(sid, shop, cs, ev.consumer, agent, ts, ev.line, rule or self.assign_rule, "over_cap_no_queue", out)
        else:
            self._enqueue(sid, shop, cs, ev.consumer, candidates, ts, ev.line, self.queue_rule, "no_agent", out)

    def _repeat_entry(self, sid: str, shop: ShopState, cs: ConsumerState, ev, out: list[Decision]) -> bool:
        rule = self.repeat.span
        previous = shop.agents.get(cs.last_agent)
        if previous is not None and previous.status != "offline" and previous.im:
            self._assign(sid, shop, cs, ev.consumer, previous, ev.ts, ev.line, rule, "repeat_entry", out)
            return True
        for step in self.fallback:
            if step == "same_group" and previous is not None and previous.group:
                pool = [a for a in self._eligible(shop, None) if a.group == previous.group]
                if pool:
                    agent = choose(pool, self.strategy, self.ties, shop, self.rng)
                    self._assign(sid, shop, cs, ev.consumer, agent, ev.ts, ev.line, rule, "repeat_entry_same_group", out)
                    return True
            elif step == "any_online":
                candidates, _ = self._candidates(shop, ev.page)
                pool = self._eligible(shop, candidates)
                if pool:
                    agent = choose(pool, self.strategy, self.ties, shop, self.rng)
                    self._assign(sid, shop, cs, ev.consumer, agent, ev.ts, ev.line, rule, "repeat_entry_any_online", out)
                    return True
            elif step == "queue":
                # 重新排队: the consumer joins the queue like any other, so a free agent of its
                # routing (outside the previous agent's group) takes it at once, in queue order
                candidates, _ = self._candidates(shop, ev.page)
                self._enqueue(sid, shop, cs, ev.consumer, candidates, ev.ts, ev.line, rule, "repeat_entry", out)
                self._drain(sid, shop, ev.ts, ev.line, out)
                return True
        return False

    def _offline(self, sid: str, shop: ShopState, cs: ConsumerState, ev, out: list[Decision]) -> bool:
        """Every agent is offline: offline routing, else the offline pool."""
        if self.offline_route is not None:
            target = self._agent(shop, self.offline_route.targets[0].name)
            self._assign(sid, shop, cs, ev.consumer, target, ev.ts, ev.line, self.offline_route.span,
                         "all_offline", out, action="offline_route")
            return True
        if self.pool is not None:
            self._enqueue(sid, shop, cs, ev.consumer, None, ev.ts, ev.line, self.pool.span, "all_offline", out,
                          action="offline_pool")
            return True
        return False

    def _candidates(self, shop: ShopState, page: str | None) -> tuple[frozenset | None, ir.Span | None]:
        """The agents a consumer from this page may go to (None: any agent), and the routing rule."""
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

    @staticmethod
    def _eligible(shop: ShopState, candidates: frozenset | None) -> list[AgentState]:
        return [a for a in shop.agents.values()
                if a.status == "online" and a.im and (candidates is None or a.name in candidates)
                and len(a.sessions) < cap_of(a)]

    def _may_queue(self, candidates: frozenset | None) -> bool:
        if not self.queue_enabled:
            return False
        if self.queue_groups is None:
            return True
        members = {m for g in self.queue_groups for m in self.group_members.get(g, ())}
        if candidates is None:  # routed to every agent, so to the queued groups' agents too
            return bool(members)
        return bool(candidates & members)

    @staticmethod
    def _why_no_agent(shop: ShopState, candidates: frozenset | None) -> str:
        if not shop.present:
            return "all_offline"
        present = False
        for agent in shop.agents.values():
            if candidates is not None and agent.name not in candidates:
                continue
            if agent.status == "online":
                return "at_cap"
            present = present or agent.status != "offline"
        return "all_busy" if present else "all_offline"

    def _assign(self, sid, shop, cs, cid, agent, ts, line, rule, reason, out, action="assign", extra=None) -> None:
        agent.sessions.add(cid)
        cs.session = Session(consumer=cid, agent=agent.name, start=ts)
        cs.queued = None
        record = {"reason": reason, "load": len(agent.sessions), "cap": cap_of(agent)}
        if extra:
            record.update(extra)
        out.append(Decision(ts, action, sid, cid, agent.name, line, rule, record))
        for tracker in self.metrics:
            tracker.assigned(sid, cid, ts, agent.name)

    def _enqueue(self, sid, shop, cs, cid, candidates, ts, line, rule, reason, out, action="enqueue") -> None:
        shop.queue_seq += 1
        entry = QueueEntry(consumer=cid, since=ts, candidates=candidates, seq=shop.queue_seq, reason=reason)
        shop.queue.join(entry)
        cs.queued = entry
        position = 1 if self.lifo else len(shop.queue)
        out.append(Decision(ts, action, sid, cid, None, line, rule, {
            "reason": reason, "position": position, "queue_length": len(shop.queue),
            "estimated_wait": self._estimate_wait(shop, position, candidates),
        }))

    def _estimate_wait(self, shop: ShopState, position: int, candidates: frozenset | None) -> int | None:
        """预估接待时间: position × average handling time ÷ online agents in the routing."""
        if not self.estimate_from or not shop.handled:
            return None
        online = sum(1 for a in shop.agents.values()
                     if a.status == "online" and (candidates is None or a.name in candidates))
        average = sum(shop.handled) / len(shop.handled)
        return round(position * average / max(online, 1))

    def _drain(self, sid: str, shop: ShopState, ts: float, line: int | None, out: list[Decision]) -> None:
        """Assign queued consumers while agents have free slots, in queue order."""
        queue = shop.queue
        lifo = self.lifo
        while queue.size:
            best = best_pool = None
            for candidates, head in queue.heads(lifo):
                if best is not None and (head.seq < best.seq if lifo else head.seq > best.seq):
                    continue
                pool = self._eligible(shop, candidates)
                if pool:
                    best, best_pool = head, pool
            if best is None:
                return
            queue.leave(best)
            agent = choose(best_pool, self.strategy, self.ties, shop, self.rng)
            cs = shop.consumer(best.consumer)
            self._assign(sid, shop, cs, best.consumer, agent, ts, line, self.queue_rule, "dequeue", out,
                         extra={"waited": round(ts - best.since)})

    def _auto_reply(self, sid: str, shop: ShopState, cs: ConsumerState, ev, new_session: bool, out) -> None:
        replier = self.replier
        if not replier.any:
            return
        ts = ev.ts
        chosen = replier.choose(self._context(shop, cs, ev, new_session))
        if chosen is None:
            return
        if not chosen.exempt and self.cooldown and cs.last_auto is not None and ts - cs.last_auto < self.cooldown:
            self.suppressed += 1
            return
        today = shop.today
        welcome = replier.welcome
        if not chosen.exempt:
            cs.last_auto = ts
        if chosen.kind == "welcome":
            cs.welcome_day = today
            if welcome.faq:
                cs.faq_day = today
        self.auto_reply_kinds[chosen.kind] += 1
        extra = {"kind": chosen.kind, "text": chosen.text}
        if chosen.trigger is not None:
            extra["trigger"] = chosen.trigger
        if chosen.kind == "welcome" and welcome.faq:
            extra["faq"] = [item.question for item in welcome.faq if item.enabled]
        out.append(Decision(ts, "auto_reply", sid, ev.consumer, None, ev.line, chosen.node.span, extra))
        for tracker in self.metrics:
            tracker.reply(sid, ev.consumer, ts, chosen.kind, automatic=True)

    def _context(self, shop: ShopState, cs: ConsumerState, ev, new_session: bool) -> Context:
        """What the replier needs to know about this consumer message."""
        today = shop.today
        welcome = self.replier.welcome
        agent = shop.agents.get(cs.session.agent) if cs.session else None
        return Context(
            text=ev.text or "", card_kind=ev.card_kind, card_id=ev.card_id, new_session=new_session,
            # once per day: the consumer's first message of each local day, even in a session left
            # open since yesterday; otherwise every new session (entering the chat).
            welcome_due=bool(welcome and (cs.welcome_day != today if welcome.once_per_day else new_session)),
            faq_shown_today=cs.faq_day == today, all_offline=not shop.present,
            agent_busy=agent is not None and agent.status == "busy",
        )

    # ---- replies, agents, transfers, ends ---------------------------------------
    def _reply_message(self, sid: str, shop: ShopState, ev, out: list[Decision]) -> None:
        cid, ts = ev.consumer, ev.ts
        if ev.sender == "agent":
            agent = self._agent(shop, ev.agent)
            cs = shop.consumers.get(cid)
            if cs is not None and cs.queued is not None:
                self._taken_from_queue(sid, shop, cs, cid, agent, ev, out)
            session = cs.session if cs else None
            if session is not None:
                session.waiting = False
                if not session.compared:
                    session.compared = True
                    agreed = session.agent == ev.agent
                    self.day_counts[(sid, self.clock.day_text(ts), "compared")] += 1
                    self.day_counts[(sid, self.clock.day_text(ts), "agreed")] += int(agreed)
                    if not agreed:
                        out.append(Decision(ts, "differs", sid, cid, session.agent, ev.line, None,
                                            {"actual_agent": ev.agent}))
                if self.end_after:
                    session.version += 1
                    self._timer_seq += 1
                    # the timer names its session: a stale timer of an ended session must not
                    # close the consumer's next one (whose version counts from 0 again)
                    heapq.heappush(self.timers, (ts + self.end_after, self._timer_seq, sid, cid, session,
                                                 session.version))
        for tracker in self.metrics:
            tracker.reply(sid, cid, ts, ev.sender)

    def _taken_from_queue(self, sid, shop, cs, cid, agent, ev, out) -> None:
        """The log shows an agent answering a consumer the policy still has queued.

        People act on the desk (an agent picks a consumer up, as with a transfer):
        the state follows the log, so the consumer leaves the queue with a session
        with that agent. Recorded as `assign` with reason `taken_by_agent`, no rule.
        """
        shop.queue.leave(cs.queued)
        waited = round(ev.ts - cs.queued.since)
        self._assign(sid, shop, cs, cid, agent, ev.ts, ev.line, None, "taken_by_agent", out,
                     extra={"waited": waited})
        cs.session.compared = True

    def _fire(self, until: float, out: list[Decision]) -> None:
        timers = self.timers
        while timers and timers[0][0] <= until:
            due, _, sid, cid, owner, version = heapq.heappop(timers)
            shop = self.shops[sid]
            cs = shop.consumers.get(cid)
            session = cs.session if cs else None
            if session is not owner or session.version != version or session.waiting:
                continue
            self._close(sid, shop, cs, cid, due, None, "auto_end", self.end_rule, out)

    def _close(self, sid, shop, cs, cid, ts, line, reason, rule, out) -> None:
        session = cs.session
        agent = shop.agents[session.agent]
        agent.sessions.discard(cid)
        if not agent.sessions:
            agent.idle_since = ts
        cs.session = None
        cs.last_agent = session.agent
        cs.last_end = ts
        shop.handled.append(ts - session.start)
        out.append(Decision(ts, "close_session", sid, cid, session.agent, line, rule,
                            {"reason": reason, "duration": round(ts - session.start)}))
        self._drain(sid, shop, ts, line, out)

    def _agent_status(self, sid: str, shop: ShopState, ev, out: list[Decision]) -> None:
        agent = self._agent(shop, ev.agent)
        spec = self.agent_specs.get(ev.agent)
        if ev.max_sessions is not None and (spec is None or spec[0] is None):
            agent.cap = ev.max_sessions
        if ev.group and (spec is None or spec[1] is None):
            agent.group = ev.group
        if agent.status == "offline" and ev.status != "offline" and not agent.sessions:
            agent.idle_since = ev.ts
        shop.present += (ev.status != "offline") - (agent.status != "offline")
        agent.status = ev.status
        if ev.status == "online" or ev.max_sessions is not None:
            self._drain(sid, shop, ev.ts, ev.line, out)

    def _transfer(self, sid: str, shop: ShopState, ev, out: list[Decision]) -> None:
        cid, ts = ev.consumer, ev.ts
        cs = shop.consumer(cid)
        target = self._agent(shop, ev.to_agent)
        previous = None
        if cs.session is not None:
            previous = shop.agents[cs.session.agent]
            previous.sessions.discard(cid)
            if not previous.sessions:
                previous.idle_since = ts
            cs.session.agent = target.name
        else:
            if cs.queued is not None:
                shop.queue.leave(cs.queued)
                cs.queued = None
            cs.session = Session(consumer=cid, agent=target.name, start=ts, compared=True)
        target.sessions.add(cid)
        out.append(Decision(ts, "transfer", sid, cid, target.name, ev.line, None,
                            {"reason": "log", "from_agent": ev.agent}))
        for tracker in self.metrics:
            tracker.transferred(sid, cid, ts, ev.agent, target.name)
        if previous is not None:
            self._drain(sid, shop, ts, ev.line, out)

    def _session_end(self, sid: str, shop: ShopState, ev, out: list[Decision]) -> None:
        cs = shop.consumers.get(ev.consumer)
        if cs is None:
            return
        if cs.session is not None:
            self._close(sid, shop, cs, ev.consumer, ev.ts, ev.line, "by_hand", None, out)
        elif cs.queued is not None:
            shop.queue.leave(cs.queued)
            cs.queued = None
            out.append(Decision(ev.ts, "leave_queue", sid, ev.consumer, None, ev.line, None, {"reason": "by_hand"}))


def run(engine: Engine, events: Iterable) -> Iterable[Decision]:
    """Feed every event, then finish; yields decisions in order."""
    for event in events:
        yield from engine.feed(event)
    yield from engine.finish()
