"""Sending automatic replies: the loop guard, the decisions, the counts by kind and by reason held.

`AutoReplier` (replies.py) says which replies' triggers hold for a consumer's message;
`ReplySender` sends them in its order, each through the loop guard (`auto reply at most
once per ... per consumer`), records the `auto_reply` decision, tells the metric hub, and
counts what was sent by kind and what was held by (kind, reason).
"""

from __future__ import annotations

import math
from typing import Callable

from ..events import Event
from .decisions import AutoReplied, Decision, RuleFiles
from .observers import MetricHub
from .replies import COOLDOWN, AutoReplier
from .state import ConsumerState, ShopState

Out = list[Decision]


class ReplySender:
    """Sends the automatic replies whose triggers hold, through the loop guard, and counts them."""

    def __init__(self, replier: AutoReplier, cooldown: float, stamp: Callable[[float], str], rule_ref: RuleFiles,
                 observers: MetricHub):
        self.replier = replier
        self.cooldown = cooldown            # the loop guard's window in seconds (0: none)
        self._stamp = stamp
        self._rule_ref = rule_ref
        self._observe = observers.auto_replies
        self.sent_by_kind: dict[str, int] = {}
        self.suppressed_by: dict[tuple[str, str], int] = {}   # replies whose trigger held but that were not sent

    def send(self, sid: str, shop: ShopState, cs: ConsumerState, cid: str, ev: Event, new_session: bool,
             out: Out) -> None:
        """Send every automatic reply whose trigger holds, in the replier's order, through the loop guard."""
        picks = self.replier.choose(ev, cs, shop, new_session)
        if not picks:
            return
        ts = ev.ts
        cooldown = self.cooldown
        kinds = self.sent_by_kind
        for chosen, excluded in picks:
            if excluded is not None:
                self._suppress(chosen.kind, excluded)
                continue
            if not chosen.exempt:
                if cooldown:
                    sent = cs.auto_sent
                    if sent is None:
                        sent = cs.auto_sent = {}
                    elif ts - sent.get(chosen.guard, -math.inf) < cooldown:
                        self._suppress(chosen.kind, COOLDOWN)   # the loop guard: this reply went out lately
                        continue
                    sent[chosen.guard] = ts
                cs.last_auto = ts
            kind = chosen.kind
            questions = None
            if chosen.welcome:   # the day's welcome (and its FAQ list) went out
                cs.welcome_day = shop.today
                if chosen.node.faq:
                    cs.faq_day = shop.today
                    questions = chosen.faq
            kinds[kind] = kinds.get(kind, 0) + 1
            out.append(AutoReplied(ts=self._stamp(ts), action="auto_reply", shop=sid, consumer=cid, agent=None,
                                   line=ev.line, rule=self._rule_ref.ref(chosen.rule), kind=kind, text=chosen.text,
                                   trigger=chosen.trigger, faq=questions))
            observe = self._observe[kind]
            if observe is not None:
                observe(sid, cid, ts, kind)

    def _suppress(self, kind: str, reason: str) -> None:
        """Count a reply whose trigger held but that was not sent, by kind and reason."""
        key = (kind, reason)
        self.suppressed_by[key] = self.suppressed_by.get(key, 0) + 1
