"""Choosing an agent: the behaviours (registry.Pick) of `assign by NAME ties NAME`.

`choose` scans a list of eligible agents; on desks of INDEX_FROM agents or more the engine keeps
them in an AgentIndex instead, sorted so that the same choice costs a bisection (Ranker.pick).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right, insort
from operator import attrgetter
from typing import Callable, Iterable

from ..registry import Pick
from .state import AgentState, ShopState

__all__ = ["INDEX_FROM", "AgentIndex", "Pool", "Ranker", "break_tie", "choose", "eligible", "everyone"]


_by_order = attrgetter("order")


def _round_robin(tied: list[AgentState], shop: ShopState) -> AgentState:
    ordered = sorted(tied, key=_by_order)
    for agent in ordered:
        if agent.order >= shop.rr_next:
            chosen = agent
            break
    else:
        chosen = ordered[0]
    shop.rr_next = chosen.order + 1
    return chosen


def break_tie(tied: list[AgentState], ties: Pick, shop: ShopState, rng: random.Random) -> AgentState:
    """Choose among equally ranked agents."""
    if len(tied) == 1:
        return tied[0]
    if ties.draws:
        return rng.choice(sorted(tied, key=_by_order))
    if ties.rotates:
        return _round_robin(tied, shop)
    rank = ties.rank
    if rank is not None:
        return min(tied, key=lambda a: (rank(a), a.order))
    return min(tied, key=_by_order)


def choose(agents: list[AgentState], strategy: Pick, ties: Pick, shop: ShopState, rng: random.Random) -> AgentState:
    """Pick one agent from a non-empty list by strategy, then tie-break."""
    if strategy.rotates:
        return _round_robin(agents, shop)
    if len(agents) == 1:  # no rank or tie-break to compute (round robin still moves on, above)
        return agents[0]
    rank = strategy.rank
    if rank is None:   # draws (a strategy with neither rank nor rotation nor draw is not registered)
        return break_tie(agents, strategy, shop, rng)
    ranks = [rank(a) for a in agents]
    best = min(ranks)
    tied = [a for a, r in zip(agents, ranks) if r == best]
    return break_tie(tied, ties, shop, rng)


# ---- the index: choices in O(log n) on large desks ------------------------------------------------------

INDEX_FROM = 64
"""Agents in a shop from which choices use the index (below, a scan of the agents is cheaper)."""

Entry = tuple   # an eligible agent's sort key, ending with (order, agent)
Member = Callable[[AgentState], bool]


def eligible(agent: AgentState) -> bool:
    """Whether the agent may take a consumer now: online, with IM, a free slot."""
    return agent.status == "online" and agent.im and len(agent.sessions) < agent.cap


def everyone(agent: AgentState) -> bool:
    """The pool of every agent of the shop."""
    return True


class _Agents:
    """The agents of the first n entries, as the sequence random.choice draws from."""

    __slots__ = ("entries", "n")

    def __init__(self, entries: list[Entry], n: int):
        self.entries = entries
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> AgentState:
        return self.entries[i][-1]


class Ranker:
    """One strategy and tie-break as a sort key of eligible agents, and the pick from a sorted pool.

    The key is (rank, [tie rank,] order, agent), or (order, agent) for a strategy with no rank: the
    agents `choose` would tie on are a run at the front, in declaration order, so the pick is the one
    `choose` makes (same rotation, same random draws) at the cost of a bisection.
    """

    def __init__(self, strategy: Pick, ties: Pick):
        self.strategy = strategy
        self.ties = ties
        rank, tie_rank = strategy.rank, ties.rank
        self.entry: Callable[[AgentState], Entry]
        if rank is None:
            self.entry = lambda a: (a.order, a)
        elif tie_rank is not None:
            self.entry = lambda a: (rank(a), tie_rank(a), a.order, a)
        else:
            self.entry = lambda a: (rank(a), a.order, a)

    def pick(self, entries: list[Entry], shop: ShopState, rng: random.Random) -> AgentState:
        """The agent `choose` would pick from these (non-empty, sorted) entries."""
        strategy = self.strategy
        if strategy.rotates:
            return _rotate(entries, (shop.rr_next,), 0, len(entries), shop)
        if len(entries) == 1:
            return entries[0][-1]
        if strategy.rank is None:   # draws
            return rng.choice(_Agents(entries, len(entries)))
        best = entries[0][0]
        tied = bisect_right(entries, (best, math.inf))
        if tied == 1:
            return entries[0][-1]
        ties = self.ties
        if ties.draws:
            return rng.choice(_Agents(entries, tied))
        if ties.rotates:
            return _rotate(entries, (best, shop.rr_next), 0, tied, shop)
        return entries[0][-1]   # first, or the lowest tie rank: next in the key


def _rotate(entries: list[Entry], turn: tuple, lo: int, hi: int, shop: ShopState) -> AgentState:
    """Round robin over entries[lo:hi]: the first at or after the turn, else the first."""
    i = bisect_left(entries, turn, lo, hi)
    chosen: AgentState = entries[i if i < hi else lo][-1]
    shop.rr_next = chosen.order + 1
    return chosen


class Pool:
    """One pool of a shop's agents (every agent, a candidate set, a group) as the index keeps it.

    entries: the eligible members, sorted by the Ranker's key; online and present: how many members
    are online, and not offline; spare: the online members with IM by (load, order), for a consumer
    sent over the cap (kept only once asked for: None before).
    """

    __slots__ = ("member", "entries", "online", "present", "spare")

    def __init__(self, member: Member, agents: list[AgentState]):
        self.member = member
        members = [a for a in agents if member(a)]
        self.entries: list[Entry] = sorted(a.entry for a in members if a.entry is not None)
        self.online = sum(a.status == "online" for a in members)
        self.present = sum(a.status != "offline" for a in members)
        self.spare: list[tuple] | None = None


def _spare(agent: AgentState) -> tuple | None:
    """The agent's key among those a consumer may be sent to over the cap (online, with IM)."""
    return (len(agent.sessions), agent.order, agent) if agent.status == "online" and agent.im else None


class AgentIndex:
    """A shop's agents, per pool, kept sorted for choices and counted by status (see Pool).

    Whatever changes an agent's load, status, cap, group or idle time calls leave() before and
    join() after. A pool is built the first time it is asked for, then kept up.
    """

    MAX_POOLS = 64   # past it (candidate sets of a roster that keeps changing), pools are rebuilt on demand

    def __init__(self, ranker: Ranker, agents: Iterable[AgentState]):
        self.ranker = ranker
        self.agents: list[AgentState] = []
        self.pools: dict[object, Pool] = {}
        for agent in agents:
            self.add(agent)

    def add(self, agent: AgentState) -> None:
        """A new agent of the shop."""
        self.agents.append(agent)
        agent.index = self
        self.join(agent)

    def leave(self, agent: AgentState) -> None:
        """The agent is about to change: out of every pool."""
        entry = agent.entry
        agent.entry = None
        online, present = agent.status == "online", agent.status != "offline"
        spare = None
        for pool in self.pools.values():
            if not pool.member(agent):
                continue
            if entry is not None:
                del pool.entries[bisect_left(pool.entries, entry)]
            pool.online -= online
            pool.present -= present
            if pool.spare is not None:
                spare = spare or _spare(agent)
                if spare is not None:
                    del pool.spare[bisect_left(pool.spare, spare)]

    def join(self, agent: AgentState) -> None:
        """The agent has changed: into every pool it belongs to."""
        entry = agent.entry = self.ranker.entry(agent) if eligible(agent) else None
        online, present = agent.status == "online", agent.status != "offline"
        spare = None
        for pool in self.pools.values():
            if not pool.member(agent):
                continue
            if entry is not None:
                insort(pool.entries, entry)
            pool.online += online
            pool.present += present
            if pool.spare is not None:
                spare = spare or _spare(agent)
                if spare is not None:
                    insort(pool.spare, spare)

    def pool(self, key: object, member: Member) -> Pool:
        """The pool of the agents `member` accepts (key names it)."""
        found = self.pools.get(key)
        if found is not None:
            return found
        if len(self.pools) >= self.MAX_POOLS:
            self.pools.clear()
        found = self.pools[key] = Pool(member, self.agents)
        return found

    def least_loaded_online(self, key: object, member: Member) -> AgentState | None:
        """The online member with IM serving the fewest consumers (the first declared of those), if any."""
        pool = self.pool(key, member)
        if pool.spare is None:
            pool.spare = sorted(s for s in map(_spare, self.agents) if s is not None and member(s[-1]))
        return pool.spare[0][-1] if pool.spare else None
