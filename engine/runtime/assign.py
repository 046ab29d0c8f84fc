"""Assignment strategies: the engine primitives `assign by NAME ties NAME` refers to."""

from __future__ import annotations

import random
from operator import attrgetter
from typing import Callable

from .state import DEFAULT_CAP, AgentState, ShopState

__all__ = ["DEFAULT_CAP", "SCORES", "break_tie", "choose", "idle_rate"]


def idle_rate(agent: AgentState) -> float:
    """(max − current) / max, Douyin's idle rate."""
    cap = agent.cap
    return (cap - len(agent.sessions)) / cap


# Each scoring strategy scores agents; the highest score wins, ties go to the tie-break.
# (round_robin and random pick without scores: see choose.)
SCORES: dict[str, Callable[[AgentState], float]] = {
    "idle_rate": idle_rate,
    "least_loaded": lambda a: -len(a.sessions),
    "longest_idle": lambda a: -a.idle_since,
}


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


def break_tie(tied: list[AgentState], ties: str, shop: ShopState, rng: random.Random) -> AgentState:
    """Choose among equally scored agents."""
    if len(tied) == 1:
        return tied[0]
    if ties == "random":
        return rng.choice(sorted(tied, key=_by_order))
    if ties == "round_robin":
        return _round_robin(tied, shop)
    if ties == "longest_idle":
        return min(tied, key=lambda a: (a.idle_since, a.order))
    return min(tied, key=lambda a: a.order)


def choose(agents: list[AgentState], strategy: str, ties: str, shop: ShopState, rng: random.Random) -> AgentState:
    """Pick one agent from a non-empty list by strategy, then tie-break."""
    if strategy == "round_robin":
        return _round_robin(agents, shop)
    if len(agents) == 1:  # no score or tie-break to compute (round robin still moves on, above)
        return agents[0]
    if strategy == "random":
        return break_tie(agents, "random", shop, rng)
    score = SCORES[strategy]
    scores = [score(a) for a in agents]
    best = max(scores)
    tied = [a for a, s in zip(agents, scores) if s == best]
    return break_tie(tied, ties, shop, rng)
