"""Live state of one shop during a replay: agents, sessions, consumers, the queue."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class AgentState:
    """An agent (sub-account) as the replay sees it."""

    name: str
    order: int
    status: str = "offline"
    cap: int | None = None
    group: str | None = None
    im: bool = True
    sessions: set = field(default_factory=set)
    idle_since: float = 0.0

    def load(self) -> int:
        """Consumers currently served."""
        return len(self.sessions)


@dataclass(slots=True, eq=False)
class Session:
    """A consumer's open session with an agent, as the policy assigned it."""

    consumer: str
    agent: str
    start: float
    waiting: bool = True          # the consumer is the one waiting for an answer
    version: int = 0              # invalidates stale auto-end timers
    compared: bool = False        # whether the log's answering agent was compared yet


@dataclass(slots=True, eq=False)
class QueueEntry:
    """A consumer waiting for an agent."""

    consumer: str
    since: float
    candidates: frozenset | None
    seq: int
    reason: str


@dataclass(slots=True, eq=False)
class ConsumerState:
    """What the replay remembers about one consumer of one shop."""

    session: Session | None = None
    queued: QueueEntry | None = None
    last_agent: str | None = None
    last_end: float | None = None
    welcome_day: object = None
    last_auto: float | None = None
    faq_day: object = None


@dataclass
class ShopState:
    """All live state of one shop."""

    agents: dict[str, AgentState] = field(default_factory=dict)
    consumers: dict[str, ConsumerState] = field(default_factory=dict)
    queue: list[QueueEntry] = field(default_factory=list)
    handled: deque = field(default_factory=lambda: deque(maxlen=20))
    rr_next: int = 0
    queue_seq: int = 0

    def consumer(self, cid: str) -> ConsumerState:
        """The state of a consumer, created on first sight."""
        state = self.consumers.get(cid)
        if state is None:
            state = self.consumers[cid] = ConsumerState()
        return state
