"""Sessions: a consumer given to an agent, moved by the log, closed; and the session-end timers.

Every change of an agent's load goes through `take_seat` / `free_seat`, which keep a large
desk's AgentIndex in step (the agent leaves the index before the change and joins after).
"""

from __future__ import annotations

import bisect
from collections import deque
from typing import Callable

from ..events import Event
from .decisions import Assigned, Closed, Decision, RuleRef, Transferred
from .observers import MetricHub
from .state import AgentState, ConsumerState, Session, ShopState

# A pending automatic session end: (due, sequence number, shop, consumer, session, session version).
Timer = tuple[float, int, str, str, Session, int]
Out = list[Decision]


def take_seat(agent: AgentState, cid: str) -> None:
    """The agent starts serving the consumer."""
    index = agent.index
    if index is None:
        agent.sessions.add(cid)
        return
    index.leave(agent)
    agent.sessions.add(cid)
    index.join(agent)


def free_seat(agent: AgentState, cid: str, ts: float) -> None:
    """The agent stops serving the consumer at ts (idle from then if it serves no one)."""
    index = agent.index
    if index is not None:
        index.leave(agent)
    agent.sessions.discard(cid)
    if not agent.sessions:
        agent.idle_since = ts
    if index is not None:
        index.join(agent)


class Sessions:
    """Opens, moves and closes sessions, and fires the automatic session ends in due order."""

    def __init__(self, stamp: Callable[[float], str], observers: MetricHub, end_after: float | None,
                 end_rule: RuleRef | None, drain: Callable[[str, ShopState, float, int | None, Out], None]):
        self._stamp = stamp
        self._observe_assigned = observers.assigned
        self._observe_transfer = observers.transferred
        self.end_after = end_after
        self.end_rule = end_rule
        self._drain = drain   # called when an agent frees a seat: the queue may move
        # in (due, sequence) order; as every timer is due a fixed time after it is set, events in
        # time order set them in due order and a timer is appended (see answered)
        self.timers: deque[Timer] = deque()
        self.timer_seq = 0

    def open(self, sid: str, cs: ConsumerState, cid: str, agent: AgentState, ts: float, line: int | None,
             rule: RuleRef | None, reason: str, out: Out, action: str = "assign",
             waited: int | None = None) -> Session:
        """Give the consumer to the agent; returns the new session."""
        name = agent.name
        take_seat(agent, cid)
        cs.session = session = Session(cid, name, ts)
        cs.queued = None
        out.append(Assigned(ts=self._stamp(ts), action=action, shop=sid, consumer=cid, agent=name, line=line,
                            rule=rule, reason=reason, load=len(agent.sessions), cap=agent.cap, waited=waited))
        self._observe_assigned(sid, cid, ts, name)
        return session

    def close(self, sid: str, shop: ShopState, cs: ConsumerState, session: Session, cid: str, ts: float,
              line: int | None, reason: str, rule: RuleRef | None, out: Out) -> None:
        """End the session (by hand or by its timer); the freed seat may take a queued consumer."""
        free_seat(shop.agents[session.agent], cid, ts)
        cs.session = None
        cs.last_agent = session.agent
        cs.last_end = cs.history_end = ts
        shop.handled.append(ts - session.start)
        out.append(Closed(ts=self._stamp(ts), action="close_session", shop=sid, consumer=cid, agent=session.agent,
                          line=line, rule=rule, reason=reason, duration=round(ts - session.start)))
        self._drain(sid, shop, ts, line, out)

    def transfer(self, sid: str, shop: ShopState, cs: ConsumerState, cid: str, target: AgentState, ev: Event,
                 out: Out) -> None:
        """The log moves the consumer to the target agent (from a session, the queue, or nowhere)."""
        ts = ev.ts
        freed = cs.session is not None
        if cs.session is not None:
            free_seat(shop.agents[cs.session.agent], cid, ts)
            cs.session.agent = target.name
        else:
            if cs.queued is not None:
                shop.queue.leave(cs.queued)
                cs.queued = None
            cs.session = Session(cid, target.name, ts, compared=True)
        take_seat(target, cid)
        out.append(Transferred(ts=self._stamp(ts), action="transfer", shop=sid, consumer=cid, agent=target.name,
                               line=ev.line, rule=None, reason="log", from_agent=ev.agent))
        self._observe_transfer(sid, cid, ts, ev.agent, target.name)
        if freed:
            self._drain(sid, shop, ts, ev.line, out)

    def answered(self, sid: str, cid: str, session: Session, ts: float) -> None:
        """An agent answered: the consumer no longer waits, and the automatic end (if any) restarts."""
        session.waiting = False
        if self.end_after:
            session.version += 1
            self.timer_seq += 1
            # the timer names its session: a stale timer of an ended session must not
            # close the consumer's next one (whose version counts from 0 again)
            timer = (ts + self.end_after, self.timer_seq, sid, cid, session, session.version)
            timers = self.timers
            if not timers or timers[-1][0] <= timer[0]:
                timers.append(timer)  # its sequence number is the highest: it goes last
            else:
                bisect.insort(timers, timer)  # events fed out of time order

    def fire(self, until: float, shops: dict[str, ShopState], out: Out) -> None:
        """Close every session whose automatic end is due by until and still stands."""
        timers = self.timers
        while timers and timers[0][0] <= until:
            due, _, sid, cid, owner, version = timers.popleft()
            shop = shops[sid]
            cs = shop.consumers.get(cid)
            if cs is None or cs.session is not owner or owner.version != version or owner.waiting:
                continue
            self.close(sid, shop, cs, owner, cid, due, None, "auto_end", self.end_rule, out)
