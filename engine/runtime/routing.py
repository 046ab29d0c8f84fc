"""Routing: who may take a new consumer, and which agent does.

The `Router` holds the policy's routes (page and group routes, the default, the scope), the
assignment strategy and tie-break, repeat entry and its fallbacks, offline routing and the
offline pool. `route_new` decides for a consumer with no session and not queued: repeat entry,
offline, the routed candidates, the eligible pool (the AgentIndex on a large desk, else a scan),
the pick; or the queue (runtime/queue.py) when no agent may take the consumer.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Callable

from .. import ir, registry
from ..events import Event
from . import trace as trace_text
from .assign import AgentIndex, Pool, Ranker, choose, everyone
from .decisions import Decision, RuleFiles, RuleRef
from .state import AgentState, ConsumerState, Session, ShopState
from .trace import Trace

if TYPE_CHECKING:
    from .queue import Waiting

Out = list[Decision]


def indexed_pool(index: AgentIndex, candidates: frozenset[str] | None) -> Pool:
    """The index's pool of these candidates (None: every agent)."""
    if candidates is None:
        return index.pool(None, everyone)
    return index.pool(candidates, lambda a: a.name in candidates)



class Router:
    """Routes a new consumer: repeat entry, offline, routed candidates, the pick, else the queue."""

    def __init__(self, settings: ir.Settings, shop: ir.Shop, rule_ref: RuleFiles, rng: random.Random,
                 agent: Callable[[ShopState, str], AgentState], open_session: Callable[..., Session],
                 waiting: Waiting):
        self.rng = rng
        self._agent = agent                  # the engine's agent of a shop by name, created on first sight
        self._assign = open_session          # Sessions.open
        self._enqueue = waiting.enqueue
        self._drain = waiting.drain
        self._may_queue = waiting.may_queue
        self.queue_rule = waiting.rule
        self.tracer: Trace | None = None     # kefu explain's hook: set by TracedEngine
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
        self.offline_pool = settings.offline_pool
        self.offline_route = shop.offline_route
        self.offline_rule = rule_ref(shop.offline_route.span) if shop.offline_route else None
        self.pool_rule = rule_ref(self.offline_pool.span) if self.offline_pool else None
        self.group_members = group_members(shop)
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

    def route_new(self, sid: str, shop: ShopState, cs: ConsumerState, cid: str, ev: Event, out: Out) -> None:
        """A consumer with no session and not queued wrote: assign, queue or pool them (the decisions to out)."""
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
        candidates, rule = self.candidates(shop, ev.page)
        pool = self.pool(shop, candidates)
        if trace is not None:
            trace.step("routing", trace_text.routing(ev.page, candidates, rule), rule)
            trace.step("eligible", trace_text.eligible(shop, candidates), None)
        if pool:
            self._assign(sid, cs, cid, self.pick(shop, pool), ts, line, rule or self.assign_rule,
                         "routed" if rule else "new", out)
            return
        if self._may_queue(candidates):
            reason = self.why_no_agent(shop, candidates)
            if trace is not None:
                trace.step("queue", f"no eligible agent ({reason}): the consumer queues", self.queue_rule)
            self._enqueue(sid, shop, cs, cid, candidates, ts, line, self.queue_rule, reason, out,
                          priority=ev.priority or 0)
            return
        if trace is not None:
            trace.step("queue", "no eligible agent, and the policy has no queue for this routing", self.queue_rule)
        agent = self.least_loaded_online(shop, candidates)
        if agent is not None:
            self._assign(sid, cs, cid, agent, ts, line, rule or self.assign_rule, "over_cap_no_queue", out)
        else:
            self._enqueue(sid, shop, cs, cid, candidates, ts, line, self.queue_rule, "no_agent", out,
                          priority=ev.priority or 0)

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
                candidates, _ = self.candidates(shop, ev.page)
                self._enqueue(sid, shop, cs, cid, candidates, ev.ts, ev.line, rule, "repeat_entry", out,
                              priority=ev.priority or 0)
                self._drain(sid, shop, ev.ts, ev.line, out)
                return True
            pool = self._fallback_pool(step, shop, previous, ev.page)
            if pool:
                self._assign(sid, cs, cid, self.pick(shop, pool), ev.ts, ev.line, rule, f"repeat_entry_{name}", out)
                return True
        return False

    def _offline(self, sid: str, shop: ShopState, cs: ConsumerState, cid: str, ev: Event, out: Out) -> bool:
        """Every agent is offline: offline routing, else the offline pool."""
        if self.tracer is not None and (self.offline_route is not None or self.offline_pool is not None):
            self.tracer.step("offline", "every agent is offline: "
                             + ("offline routing" if self.offline_route is not None else "the offline pool"),
                             self.offline_rule if self.offline_route is not None else self.pool_rule)
        if self.offline_route is not None:
            target = self._agent(shop, self.offline_route.targets[0].name)
            self._assign(sid, cs, cid, target, ev.ts, ev.line, self.offline_rule, "all_offline", out,
                         action="offline_route")
            return True
        if self.offline_pool is not None:
            self._enqueue(sid, shop, cs, cid, None, ev.ts, ev.line, self.pool_rule, "all_offline", out,
                          action="offline_pool", priority=ev.priority or 0)
            return True
        return False

    def candidates(self, shop: ShopState, page: str | None) -> tuple[frozenset[str] | None, RuleRef | None]:
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

    def pool(self, shop: ShopState, candidates: frozenset[str] | None) -> list:
        """The agents that may take a consumer now: online, with IM, a free slot, among the candidates
        (None: any agent); on a large desk, their AgentIndex entries."""
        index = shop.index
        if index is not None:
            return indexed_pool(index, candidates).entries
        if candidates is None:
            return [a for a in shop.agents.values() if a.status == "online" and a.im and len(a.sessions) < a.cap]
        return [a for a in shop.agents.values()
                if a.status == "online" and a.im and len(a.sessions) < a.cap and a.name in candidates]

    def least_loaded_online(self, shop: ShopState, candidates: frozenset[str] | None) -> AgentState | None:
        """The online candidate with IM serving the fewest consumers (the first declared of those), if any."""
        index = shop.index
        if index is not None:
            if candidates is None:
                return index.least_loaded_online(None, everyone)
            return index.least_loaded_online(candidates, lambda a: a.name in candidates)
        online = [a for a in shop.agents.values()
                  if (candidates is None or a.name in candidates) and a.status == "online" and a.im]
        return min(online, key=lambda a: (a.load(), a.order)) if online else None

    def why_no_agent(self, shop: ShopState, candidates: frozenset[str] | None) -> str:
        """Why no candidate may take a consumer: `at_cap`, `all_busy` or `all_offline`."""
        if not shop.present:
            return "all_offline"
        if shop.index is not None:
            pool = indexed_pool(shop.index, candidates)
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
        """Eligible agents (see pool) for a repeat-entry fallback: `same_group` or `any_online`."""
        if step.same_group:
            if previous is None or not previous.group:
                return []
            group = previous.group
            if shop.index is not None:
                return shop.index.pool(("group", group), lambda a: a.group == group).entries
            return [a for a in self.pool(shop, None) if a.group == group]   # no index: the eligible agents
        return self.pool(shop, self.candidates(shop, page)[0])

    def pick(self, shop: ShopState, pool: list) -> AgentState:
        """One agent of a non-empty pool (of pool), by the assignment strategy and tie-break."""
        if shop.index is not None:
            chosen = self.ranker.pick(pool, shop, self.rng)
        else:
            chosen = choose(pool, self.strategy, self.ties, shop, self.rng)
        if self.tracer is not None:
            self.tracer.step("pick", trace_text.pick(self.strategy_name, self.ties_name, pool, chosen), self.assign_rule)
        return chosen


def group_members(shop: ir.Shop) -> dict[str, list[str]]:
    """The agents the policy declares in each group, by group name."""
    return {g.name: [r.name for r in g.agents] for g in shop.groups}
