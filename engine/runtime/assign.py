"""Choosing an agent: the behaviours (registry.Pick) of `assign by NAME ties NAME`."""

from __future__ import annotations

import random
from operator import attrgetter

from ..registry import Pick, idle_rate
from .state import DEFAULT_CAP, AgentState, ShopState

__all__ = ["DEFAULT_CAP", "break_tie", "choose", "idle_rate"]


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
