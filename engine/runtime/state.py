"""Live state of one shop during a replay: agents, sessions, consumers, the queue."""

from __future__ import annotations

import math
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


class WaitingLine:
    """The queue (排队): entries grouped by the agents they may go to; O(1) join and leave.

    Within a group, entries keep their joining order, so the head of each group is
    its oldest (FIFO) or newest (LIFO) entry and a drain looks at one entry per group.
    """

    __slots__ = ("groups", "size")

    def __init__(self):
        self.groups: dict[frozenset | None, dict[str, QueueEntry]] = {}
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def join(self, entry: QueueEntry) -> None:
        """Add an entry at the back of its group."""
        self.groups.setdefault(entry.candidates, {})[entry.consumer] = entry
        self.size += 1

    def leave(self, entry: QueueEntry) -> None:
        """Remove an entry wherever it is."""
        del self.groups[entry.candidates][entry.consumer]
        self.size -= 1

    def heads(self, lifo: bool):
        """(candidates, first entry to serve) for every non-empty group."""
        for candidates, entries in self.groups.items():
            if entries:
                yield candidates, next(reversed(entries.values())) if lifo else next(iter(entries.values()))


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
    queue: WaitingLine = field(default_factory=WaitingLine)
    present: int = 0              # agents not offline
    today: object = None          # local date of the latest consumer message
    day_start: float = math.inf
    day_end: float = -math.inf
    fresh: set = field(default_factory=set)      # consumers created since the last daily sweep
    kept: set = field(default_factory=set)       # consumers a sweep found still live
    handled: deque = field(default_factory=lambda: deque(maxlen=20))
    rr_next: int = 0
    queue_seq: int = 0

    def consumer(self, cid: str) -> ConsumerState:
        """The state of a consumer, created on first sight."""
        state = self.consumers.get(cid)
        if state is None:
            state = self.consumers[cid] = ConsumerState()
            self.fresh.add(cid)
        return state
