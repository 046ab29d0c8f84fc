"""The engine's tracer hook: what the engine looked at and decided, step by step, for `kefu explain`.

An Engine has `tracer = None`; then every hook is one attribute test and costs nothing more.
`kefu explain` sets a Trace: for each event the engine processes it calls `begin`, the routing and
reply code call `step` at each rule it considers (saying which fired, and for each that did not,
the condition that failed), and `end` takes the decisions. The steps are written where the engine
decides, from the values it decides on: the trace is the engine's own account, not a second model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..events import Event
from ..registry import idle_rate
from .decisions import Decision, RuleRef

if TYPE_CHECKING:
    from .state import AgentState, ShopState


@dataclass
class Step:
    """One thing the engine considered: what (`repeat_entry`, `routing`, `pick` …), the outcome, the rule."""

    what: str
    text: str
    rule: RuleRef | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class TracedEvent:
    """An event as the engine processed it: the state before, its steps, its decisions.

    event is None for the end of the log (the timers still pending fire then).
    """

    event: Event | None
    state: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


def agent_line(agent: AgentState) -> str:
    """An agent's state in a few words: status, load/cap, and why it cannot take a consumer."""
    load, cap = len(agent.sessions), agent.cap
    why = ""
    if agent.status != "online":
        why = f" — {agent.status}"
    elif not agent.im:
        why = " — no IM permission"
    elif load >= cap:
        why = " — at its cap"
    return f"{agent.name} {agent.status} {load}/{cap}{why}"


def shop_state(shop: ShopState, consumer: str | None) -> dict[str, Any]:
    """What mattered at an event: every agent's status, load, cap and idle rate; the queue; the consumer's state."""
    agents = [{"agent": a.name, "status": a.status, "load": len(a.sessions), "cap": a.cap, "group": a.group,
               "idle_rate": round(idle_rate(a), 4) if a.cap else None, "im": a.im}
              for a in shop.agents.values()]
    state: dict[str, Any] = {"agents": agents, "queue_length": shop.queue.size}
    cs = shop.consumers.get(consumer) if consumer else None
    if cs is not None:
        state["consumer"] = {
            "session_agent": cs.session.agent if cs.session else None,
            "queued_since": cs.queued.since if cs.queued else None,
            "last_agent": cs.last_agent, "last_end": cs.last_end,
            # when each reply statement was last sent to the consumer (the loop guard's memory), in order
            "auto_replies_sent": sorted((cs.auto_sent or {}).values()),
        }
    return state


class Trace:
    """Records, for the events `keep` selects, the state before, the engine's steps and the decisions.

    keep(event, decisions) is asked after each event: an event is kept when it is one asked about,
    or when one of its decisions is (a consumer dequeued when an agent comes online, say).
    """

    def __init__(self, keep: Callable[[Event | None, list[Decision]], bool], consumer: str | None = None):
        self.keep = keep
        self.consumer = consumer
        self.current: TracedEvent | None = None
        self.events: list[TracedEvent] = []

    def begin(self, event: Event, shop: ShopState) -> None:
        """The engine starts on an event (state as it is before it)."""
        self.current = TracedEvent(event, shop_state(shop, event.consumer or self.consumer))

    def step(self, what: str, text: str, rule: RuleRef | None = None, **data: Any) -> None:
        """The engine considered something (a rule, a condition) and says what came of it."""
        if self.current is not None:
            self.current.steps.append(Step(what, text, rule, data))

    def end(self, decisions: list[Decision]) -> None:
        """The event's decisions; the event is kept when asked about."""
        current = self.current
        self.current = None
        if current is not None and self.keep(current.event, decisions):
            current.decisions = list(decisions)
            self.events.append(current)

    def finished(self, decisions: list[Decision]) -> None:
        """The end of the log: the decisions of the timers that fired then, kept when asked about."""
        if self.keep(None, decisions):
            self.events.append(TracedEvent(None, {}, [], list(decisions)))


# ---- the words of each step (called by the engine where it decides, with the values it decides on) ----
def _ago(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def no_repeat_entry(repeat: Any, consumer: Any, ts: float) -> str:
    """Why repeat entry did not apply (the engine's first failed condition)."""
    if repeat is None:
        return "not in the policy (or its window is 0): routed afresh"
    if not consumer.last_agent or consumer.last_end is None:
        return "no earlier session of this consumer: routed afresh"
    return (f"the last session (with {consumer.last_agent}) ended {_ago(ts - consumer.last_end)} ago, over the "
            f"{_ago(repeat.within)} window: routed afresh")


def repeat_entry(consumer: Any, ts: float, previous: AgentState | None, taken: bool) -> str:
    """Repeat entry within the window: back to the previous agent, or why not (then the fallbacks)."""
    ago = _ago(ts - consumer.last_end)
    if taken and previous is not None:
        return (f"back within the window (last session with {previous.name} ended {ago} ago): to {previous.name}, "
                f"even at its cap ({len(previous.sessions)}/{previous.cap})")
    why = "is not known" if previous is None else ("is offline" if previous.status == "offline" else "has no IM")
    return f"back within the window ({ago}), but {consumer.last_agent} {why}: the fallbacks, in order"


def routing(page: str | None, candidates: frozenset[str] | None, rule: RuleRef | None) -> str:
    """Which route the consumer's page took, and the agents it allows."""
    where = f"from page {page}" if page else "with no page"
    if candidates is None:
        return f"{where}: no route applies, any agent of the shop"
    return f"{where}: to {', '.join(sorted(candidates)) or 'nobody'}"


def eligible(shop: ShopState, candidates: frozenset[str] | None) -> str:
    """Every candidate agent, and whether it may take the consumer now (the engine's own test, assign.eligible)."""
    from .assign import eligible as may_take

    shown = [a for a in shop.agents.values() if candidates is None or a.name in candidates]
    if not shown:
        return "no agent of the routing is known yet"
    ok = [agent_line(a) for a in shown if may_take(a)]
    not_ok = [agent_line(a) for a in shown if not may_take(a)]
    text = "may take the consumer: " + (", ".join(ok) if ok else "none")
    return text + (f"; may not: {', '.join(not_ok)}" if not_ok else "")


def pick(strategy: str, ties: str, pool: Any, chosen: AgentState) -> str:
    """The strategy and tie-break over the eligible agents, and the one chosen."""
    if isinstance(pool, list) and len(pool) > 1:
        among = ", ".join(f"{a.name} {len(a.sessions)}/{a.cap}" for a in pool)
        return f"assign by {strategy}, ties {ties}, among {among} (load/cap) → {chosen.name}"
    return f"assign by {strategy}, ties {ties} → {chosen.name}"


def replies(tracer: Trace, kinds: tuple[str, ...], sent: list, held: dict[tuple[str, str], int], cooldown: int) -> None:
    """The automatic replies of a message, from what the engine did: each sent, each held back and why,
    and (a quiet step) the shop's reply kinds whose trigger did not hold."""
    triggered = {d.kind for d in sent} | {kind for kind, _ in held}
    idle = [kind for kind in kinds if kind not in triggered]
    if not kinds:
        tracer.step("auto_reply", "the policy has no automatic reply")
    elif idle:
        tracer.step("auto_reply", "no trigger: " + ", ".join(idle))
    for (kind, reason), n in held.items():
        why = f"the loop guard: sent within the last {cooldown} s" if reason == "cooldown" else reason
        tracer.step("auto_reply", f"{kind}: its trigger holds, held back ({why})" + (f" ×{n}" if n > 1 else ""))
    for d in sent:
        tracer.step("auto_reply", f"{d.kind}: sent" + (f" (trigger {d.trigger})" if d.trigger else ""), d.rule)
