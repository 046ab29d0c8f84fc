"""Comparison with the log: the first answer of each session against the agent the policy assigned.

The log records what people did; where they answered a consumer the policy still has queued,
the state follows the log (`taken_by_agent`).
"""

from __future__ import annotations

from typing import Callable

from ..events import Event
from .clock import LocalClock
from .decisions import Decision, Differs
from .state import AgentState, ConsumerState, QueueEntry, Session, ShopState

Out = list[Decision]


class LogComparison:
    """Tallies, by (shop, local date), first answers compared and agreed; records each that differs."""

    def __init__(self, clock: LocalClock, stamp: Callable[[float], str], open_session: Callable[..., Session]):
        self.clock = clock
        self._stamp = stamp
        self._open = open_session   # Sessions.open
        self.agreement: dict[tuple[str, str], list[int]] = {}   # (shop, day) -> [compared, agreed]
        self.tallying = True

    def tally_nothing(self) -> None:
        """Stop comparing: the answers are not the log's (model agents answer whom the policy assigned, so
        agreement would be complete by construction and say nothing)."""
        self.tallying = False

    def first_answer(self, sid: str, session: Session, answered_by: str, ev: Event, out: Out) -> None:
        """The first answer of a session: did the policy assign the agent who answered in the log?"""
        session.compared = True
        if not self.tallying:
            return
        agreed = session.agent == answered_by
        day = self.clock.day_text(ev.ts)
        tally = self.agreement.get((sid, day))
        if tally is None:
            tally = self.agreement[(sid, day)] = [0, 0]
        tally[0] += 1
        tally[1] += agreed
        if not agreed:
            out.append(Differs(ts=self._stamp(ev.ts), action="differs", shop=sid, consumer=ev.consumer,
                               agent=session.agent, line=ev.line, rule=None, actual_agent=answered_by))

    def taken_by_agent(self, sid: str, shop: ShopState, cs: ConsumerState, entry: QueueEntry, cid: str,
                       agent: AgentState, ev: Event, out: Out) -> None:
        """The log shows an agent answering a consumer the policy still has queued.

        People act on the desk (an agent picks a consumer up, as with a transfer):
        the state follows the log, so the consumer leaves the queue with a session
        with that agent. Recorded as `assign` with reason `taken_by_agent`, no rule.
        """
        shop.queue.leave(entry)
        session = self._open(sid, cs, cid, agent, ev.ts, ev.line, None, "taken_by_agent", out,
                             waited=round(ev.ts - entry.since))
        session.compared = True
