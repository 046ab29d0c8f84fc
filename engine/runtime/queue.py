"""The queue and the offline pool: who joins, who leaves when a seat frees, the wait estimate, the day's end.

A shop's `WaitingLine` (state.py) holds the entries; `Waiting` applies the policy's queue to it:
whether a routing may queue, the place and estimated wait of a new entry, the order a freed
seat takes them in (first or last queued first), and the local midnight that ends the day for
queued consumers (the offline pool keeps its own until `keep` has passed).
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Callable

from .. import ir, registry
from .clock import LocalClock
from .decisions import Decision, LeftQueue, Queued, RuleFiles, RuleRef
from .hours import WorkingHours
from .routing import group_members, indexed_pool
from .state import AgentState, ConsumerState, QueueEntry, Session, ShopState
from .trace import Trace

if TYPE_CHECKING:
    from .routing import Router

Out = list[Decision]


class Waiting:
    """The policy's queue and offline pool over each shop's waiting line."""

    def __init__(self, settings: ir.Settings, shop: ir.Shop, rule_ref: RuleFiles, clock: LocalClock,
                 hours: WorkingHours | None, stamp: Callable[[float], str]):
        queue = settings.queue
        self.enabled = queue is not None
        self.rule = rule_ref(queue.span) if queue else None
        order = registry.QUEUE_ORDERS.behaviour(queue.order.name) if queue and queue.order else None
        self.lifo = bool(order and order.lifo)
        self.by_priority = bool(order and order.by_priority)
        scope = queue.scope if queue else None
        groups = {g.name for g in scope.groups} if scope and scope.kind == "groups" else None
        members = group_members(shop)
        # the agents of the groups the queue is scoped to (None: the queue takes every consumer)
        self.members = None if groups is None else frozenset(m for g in groups for m in members.get(g, ()))
        self.estimate_from = queue.estimate_from if queue else None
        self.offline_pool = settings.offline_pool
        self.pool_rule = rule_ref(self.offline_pool.span) if self.offline_pool else None
        self.hours = hours   # the shop's working hours, for the wait while no agent is online (None: none declared)
        self.clock = clock
        self._stamp = stamp
        self.tracer: Trace | None = None     # kefu explain's hook: set by TracedEngine

    def connect(self, router: Router, open_session: Callable[..., Session]) -> None:
        """The router's pool and pick, and Sessions.open, that a freed seat takes a queued consumer with."""
        self._pool: Callable[[ShopState, frozenset[str] | None], list] = router.pool
        self._pick: Callable[[ShopState, list], AgentState] = router.pick
        self._assign = open_session

    def may_queue(self, candidates: frozenset[str] | None) -> bool:
        """Whether a consumer routed to these candidates (None: any agent) may wait in the queue."""
        if not self.enabled:
            return False
        members = self.members
        if members is None:
            return True
        if candidates is None:  # routed to every agent, so to the queued groups' agents too
            return bool(members)
        return not members.isdisjoint(candidates)

    def enqueue(self, sid: str, shop: ShopState, cs: ConsumerState, cid: str, candidates: frozenset[str] | None,
                ts: float, line: int | None, rule: RuleRef | None, reason: str, out: Out,
                action: str = "enqueue", priority: int = 0) -> None:
        """The consumer joins the queue (or, as `offline_pool`, the offline pool), with its place and wait.
        priority: the message's (only queue order `priority` reads it)."""
        shop.queue_seq += 1
        entry = QueueEntry(cid, ts, candidates, shop.queue_seq, reason, action == "offline_pool",
                           priority if self.by_priority else 0)
        queue = shop.queue
        queue.join(entry)
        cs.queued = entry
        position = 1 if self.lifo else queue.ahead_of(entry.priority) if self.by_priority else queue.size
        wait = self.estimate_wait(shop, position, candidates, ts) if self.estimate_from else None
        out.append(Queued(ts=self._stamp(ts), action=action, shop=sid, consumer=cid, agent=None, line=line, rule=rule,
                          reason=reason, position=position, queue_length=queue.size, estimated_wait=wait))

    def estimate_wait(self, shop: ShopState, position: int, candidates: frozenset[str] | None,
                      ts: float) -> int | None:
        """预估接待时间: position × average handling time ÷ online agents in the routing.

        With no agent of the routing online, the wait starts when the shop's working hours
        next begin (the shop is closed now and declares hours); otherwise it is unknown (None).
        """
        if not self.estimate_from or not shop.handled:
            return None
        if shop.index is not None:
            online = indexed_pool(shop.index, candidates).online
        else:
            online = sum(1 for a in shop.agents.values()
                         if a.status == "online" and (candidates is None or a.name in candidates))
        average = sum(shop.handled) / len(shop.handled)
        if online:
            return round(position * average / online)
        opening = self.next_opening(ts)
        return None if opening is None else round(opening - ts + position * average)

    def next_opening(self, ts: float) -> float | None:
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

    def day_end(self, shops: dict[str, ShopState], midnight: float, out: Out) -> None:
        """At local midnight a queued consumer leaves the queue (`day_end`); the offline pool keeps its
        consumers until `keep` has passed (`pool_expired`)."""
        keep = self.offline_pool.keep if self.offline_pool is not None else math.inf
        for sid, shop in shops.items():
            queue = shop.queue
            if not queue.size:
                continue
            entries = sorted((e for group in queue.groups.values() for e in group.values()), key=lambda e: e.seq)
            for entry in entries:
                if not entry.pooled:
                    reason, rule = "day_end", self.rule
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

    def drain(self, sid: str, shop: ShopState, ts: float, line: int | None, out: Out) -> None:
        """Assign queued consumers while agents have free slots, in queue order."""
        queue = shop.queue
        lifo, by_priority = self.lifo, self.by_priority
        while queue.size:
            best: QueueEntry | None = None
            best_pool: list = []
            for head in queue.heads(lifo):
                if best is not None and (head.seq < best.seq if lifo else
                                         (head.priority, -head.seq) < (best.priority, -best.seq) if by_priority else
                                         head.seq > best.seq):
                    continue
                pool = self._pool(shop, head.candidates)
                if pool:
                    best, best_pool = head, pool
            if best is None:
                return
            queue.leave(best)
            cid = best.consumer
            if self.tracer is not None:
                how = ("last queued, first served" if lifo else
                       f"priority {best.priority}, the highest first, then first queued" if by_priority else
                       "first queued, first served")
                self.tracer.step("dequeue", f"an agent of {cid}'s routing is free: {cid} leaves the queue ({how})",
                                 self.rule, consumer=cid)
            self._assign(sid, shop.consumer(cid), cid, self._pick(shop, best_pool), ts, line, self.rule, "dequeue", out,
                         waited=round(ts - best.since))
