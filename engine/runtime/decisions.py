"""Decision records: what the policy's automation decided, and which rule decided it."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(slots=True)
class Decision:
    """One decision; `line` is the event line that caused it (None for a timer)."""

    ts: float
    action: str
    shop: str
    consumer: str | None
    agent: str | None
    line: int | None
    rule: Span | None
    extra: dict = field(default_factory=dict)

    def to_dict(self, iso) -> dict:
        """The stable JSON shape of a decision; iso(ts) formats the timestamp."""
        record = {
            "ts": iso(self.ts),
            "action": self.action,
            "shop": self.shop,
            "consumer": self.consumer,
            "agent": self.agent,
            "line": self.line,
            "rule": {"file": self.rule.file, "line": self.rule.line} if self.rule else None,
        }
        record.update(self.extra)
        return record
