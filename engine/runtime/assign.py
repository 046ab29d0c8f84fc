"""Assignment strategies: the engine primitives `assign by NAME ties NAME` refers to."""

from __future__ import annotations

import random
from typing import Callable

from .state import AgentState, ShopState

DEFAULT_CAP = 10


def cap_of(agent: AgentState) -> int:
    """The agent's reception cap (接待上限)."""
    return agent.cap if agent.cap is not None else DEFAULT_CAP


def idle_rate(agent: AgentState) -> float:
    """(max − current) / max, Douyin's idle rate."""
    cap = cap_of(agent)
    return (cap - agent.load()) / cap


# Each strategy scores agents; the highest score wins, ties go to the tie-break.
SCORES: dict[str, Callable[[AgentState], float]] = {
    "idle_rate": idle_rate,
    "least_loaded": lambda a: -a.load(),
    "longest_idle": lambda a: -a.idle_since,
    "round_robin": lambda a: 0.0,
    "random": lambda a: 0.0,
}


def _round_robin(tied: list[AgentState], shop: ShopState) -> AgentState:
    ordered = sorted(tied, key=lambda a: a.order)
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
        return rng.choice(sorted(tied, key=lambda a: a.order))
    if ties == "round_robin":
        return _round_robin(tied, shop)
    if ties == "longest_idle":
        return min(tied, key=lambda a: (a.idle_since, a.order))
    return min(tied, key=lambda a: a.order)


def choose(agents: list[AgentState], strategy: str, ties: str, shop: ShopState, rng: random.Random) -> AgentState:
    """Pick one agent from a non-empty list by strategy, then tie-break."""
    if strategy == "round_robin":
        return _round_robin(agents, shop)
    if strategy == "random":
        return break_tie(agents, "random", shop, rng)
    score = SCORES[strategy]
    best = max(score(a) for a in agents)
    tied = [a for a in agents if score(a) == best]
    return break_tie(tied, ties, shop, rng)
