"""Decision records: what the policy's automation decided, and which rule decided it."""

from __future__ import annotations

import msgspec

from ..ir import Span

DECISION_FORMAT_VERSION = 1

# Every action a decision can carry (documented in docs/replay.md).
ACTIONS = (
    "assign",          # a consumer is given to an agent
    "enqueue",         # a consumer waits in the queue
    "leave_queue",     # a queued consumer's session was ended before assignment
    "offline_route",   # all agents offline: the consumer goes to the offline account
    "offline_pool",    # all agents offline: the message waits in the offline pool
    "transfer",        # the log moved a consumer to another agent (a human act, recorded)
    "close_session",   # a session ends: by hand (log) or automatically (policy timer)
    "auto_reply",      # the policy sends an automatic reply
    "differs",         # the agent who answered in the log is not the one the policy assigned
)


class Decision(msgspec.Struct):
    """One decision; `line` is the event line that caused it (None for a timer).

    A msgspec Struct (built in C, one per decision); `extra` holds the action's own fields.
    """

    ts: float
    action: str
    shop: str
    consumer: str | None
    agent: str | None
    line: int | None
    rule: Span | None
    extra: dict = {}

    def to_dict(self, iso) -> dict:
        """The stable JSON shape of a decision; iso(ts) formats the timestamp."""
        rule = self.rule
        return {
            "ts": iso(self.ts),
            "action": self.action,
            "shop": self.shop,
            "consumer": self.consumer,
            "agent": self.agent,
            "line": self.line,
            "rule": _rule_ref(rule) if rule is not None else None,
            **self.extra,
        }


_RULE_REFS: dict[int, tuple[Span, dict]] = {}


def _rule_ref(span: Span) -> dict:
    """{"file", "line"} of a rule's span, built once per span (spans live as long as their policy)."""
    cached = _RULE_REFS.get(id(span))
    if cached is None or cached[0] is not span:
        cached = _RULE_REFS[id(span)] = (span, {"file": span.file, "line": span.line})
    return cached[1]
