"""Live state of one shop during a replay: agents, sessions, consumers, the queue.

The records made per consumer or per session (Session, QueueEntry, ConsumerState)
are msgspec Structs: built in C, about three times faster than a dataclass, with
attribute access as fast. They hold only strings, numbers, dates and one another,
never a reference back, so they cannot form a reference cycle and are left out of
the garbage collector (gc=False).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import msgspec

DEFAULT_CAP = 10
"""Reception cap of an agent neither the policy nor the log gives one."""


@dataclass(slots=True, eq=False)
class AgentState:
    """An agent (sub-account) as the replay sees it."""

    name: str
    order: int
    status: str = "offline"
    cap: int = DEFAULT_CAP        # reception cap (接待上限): the policy's, else the log's, else DEFAULT_CAP
    group: str | None = None
    im: bool = True
    sessions: set = field(default_factory=set)
    idle_since: float = 0.0
    index: Any = None             # the shop's AgentIndex, on a large desk (assign.py)
    entry: tuple | None = None    # its sort key in that index while eligible

    def load(self) -> int:
        """Consumers currently served."""
        return len(self.sessions)


class Session(msgspec.Struct, eq=False, gc=False):
    """A consumer's open session with an agent, as the policy assigned it."""

    consumer: str
    agent: str
    start: float
    waiting: bool = True          # the consumer is the one waiting for an answer
    version: int = 0              # invalidates stale auto-end timers
    compared: bool = False        # whether the log's answering agent was compared yet


class QueueEntry(msgspec.Struct, eq=False, gc=False):
    """A consumer waiting for an agent."""

    consumer: str
    since: float
    candidates: frozenset | None
    seq: int
    reason: str
    pooled: bool = False          # in the offline pool (kept past the day's end), not the queue
    priority: int = 0             # the message's `priority` (queue order `priority`: higher first)


def _group_of(entry: QueueEntry) -> Any:
    """An entry's group in the waiting line: its routing, and its priority when it has one (a key of
    priority 0 stays the routing alone, as before priorities)."""
    return entry.candidates if not entry.priority else (entry.candidates, entry.priority)


class WaitingLine:
    """The queue (排队): entries grouped by the agents they may go to; O(1) join and leave.

    Within a group, entries keep their joining order, so the head of each group is
    its oldest (FIFO) or newest (LIFO) entry and a drain looks at one entry per group.
    """

    __slots__ = ("groups", "size")

    def __init__(self) -> None:
        self.groups: dict[Any, dict[str, QueueEntry]] = {}   # by _group_of: routing, or (routing, priority)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def join(self, entry: QueueEntry) -> None:
        """Add an entry at the back of its group (entries of one priority and one routing)."""
        key = _group_of(entry)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = {}
        group[entry.consumer] = entry
        self.size += 1

    def leave(self, entry: QueueEntry) -> None:
        """Remove an entry wherever it is."""
        del self.groups[_group_of(entry)][entry.consumer]
        self.size -= 1

    def ahead_of(self, priority: int) -> int:
        """Entries of this priority or higher (under queue order `priority`, those served before a new one)."""
        return sum(len(entries) for key, entries in self.groups.items()
                   if (key[1] if type(key) is tuple else 0) >= priority)

    def heads(self, lifo: bool) -> list[QueueEntry]:
        """The first entry to serve of every non-empty group."""
        if lifo:
            return [next(reversed(entries.values())) for entries in self.groups.values() if entries]
        return [next(iter(entries.values())) for entries in self.groups.values() if entries]


class ConsumerState(msgspec.Struct, eq=False, gc=False):
    """What the replay remembers about one consumer of one shop."""

    session: Session | None = None
    queued: QueueEntry | None = None
    last_agent: str | None = None
    last_end: float | None = None
    welcome_day: date | None = None
    last_auto: float | None = None   # the latest automatic reply the loop guard saw sent
    faq_day: date | None = None
    auto_sent: dict[int, float] | None = None   # the loop guard: when each reply (Chosen.guard) was last sent
    # when the last session ended, until the consumer writes again: an agent's message meanwhile is to that
    # session's history (`history D`)
    history_end: float | None = None


@dataclass
class ShopState:
    """All live state of one shop."""

    agents: dict[str, AgentState] = field(default_factory=dict)
    consumers: dict[str, ConsumerState] = field(default_factory=dict)
    queue: WaitingLine = field(default_factory=WaitingLine)
    present: int = 0              # agents not offline
    today: date | None = None     # local date of the latest consumer message
    day_start: float = math.inf
    day_end: float = -math.inf
    fresh: set = field(default_factory=set)      # consumers created since the last daily sweep
    kept: set = field(default_factory=set)       # consumers a sweep found still live
    handled: deque = field(default_factory=lambda: deque(maxlen=20))
    rr_next: int = 0
    queue_seq: int = 0
    index: Any = None             # the AgentIndex of a large desk (assign.py), else None: choices scan
    routes: dict = field(default_factory=dict)   # page → its candidates and rule, until the roster changes
    # consumers forgotten by a daily sweep (memory) whose last session ended within `history` and who have not
    # written since → when it ended: an agent's message to one is still an answer from history
    history_ends: dict[str, float] = field(default_factory=dict)

    def consumer(self, cid: str) -> ConsumerState:
        """The state of a consumer, created on first sight."""
        state = self.consumers.get(cid)
        if state is None:
            state = self.consumers[cid] = ConsumerState()
            self.fresh.add(cid)
        return state
